//! gitops-bump end to end: the real binary against a real git server (lighttpd + `git http-backend`
//! with basic auth, sshd for the ssh path, a TLS proxy for https).

mod access;
mod edits;
mod races;
mod rollback;

use std::process::{Command, Output};
use std::time::{Duration, Instant};

use test_services::{GitServer, workspace_bin};

const USER: &str = "pipeline";
const PASSWORD: &str = "s3cret-Token-9f2c";
const JUKEBOX: &str = "model-deployments/test/jukebox/config.yaml";

/// A config in the workshop's shape, with everything a careless rewrite would lose: comments, blank
/// lines, emoji, quote styles, a flow map, an anchor elsewhere, and the `---` marker.
const CONFIG: &str = "---\n\
# 🎵 Jukebox model: deployed by Argo CD from this file\n\
chart_path: charts/model-serving   # the Helm chart\n\
chart_name: 'model-serving'\n\
\n\
name: jukebox\n\
version: \"v0.9\"  # bumped by the pipeline\n\
image_repository: image-registry.openshift-image-registry.svc:5000\n\
image_namespace: team-test\n\
resources: {cpu: '1', memory: 2Gi}\n\
defaults: &defaults\n\
  replicas: 1\n\
serving:\n\
  <<: *defaults\n\
  runtime:   kserve   # ünïcode comment\n";

struct Repo {
    server: GitServer,
    name: &'static str,
}

impl Repo {
    fn new(name: &'static str, files: &[(&str, &[u8])]) -> Repo {
        let server = GitServer::start(USER, PASSWORD);
        server.create_repo(name);
        server.seed(name, files, "Seed the GitOps repository");
        Repo { server, name }
    }

    fn url(&self) -> String {
        self.server.repo_url(self.name)
    }

    fn host_port(&self) -> String {
        let url = self.url();
        let rest = url.trim_start_matches("http://");
        rest.split('/').next().unwrap().to_owned()
    }

    fn head(&self) -> String {
        self.server.head(self.name, "main").expect("main exists")
    }

    fn file(&self, rev: &str, path: &str) -> Option<String> {
        self.server
            .file_at(self.name, rev, path)
            .map(|b| String::from_utf8(b).expect("UTF-8"))
    }

    fn git(&self, args: &[&str]) -> String {
        test_services::git(&self.server.repo_dir(self.name), args)
    }

    fn commit_count(&self) -> usize {
        self.git(&["rev-list", "--count", "main"])
            .trim()
            .parse()
            .unwrap()
    }

    /// gitops-bump against this repository with the right credentials, over plain HTTP (opted in).
    fn bump(&self, args: &[&str]) -> Run {
        let mut command = self.command();
        command.args(args);
        Run::of(command)
    }

    fn command(&self) -> Command {
        let mut command = bump_command();
        command
            .arg("--repo-url")
            .arg(self.url())
            .arg("--plain-http")
            .arg(self.host_port())
            .arg("--git-username")
            .arg(USER)
            .env("MODELCAR_GIT_TOKEN", PASSWORD);
        command
    }
}

/// The binary with a clean environment: no inherited variables that its flags read.
fn bump_command() -> Command {
    let mut command = Command::new(workspace_bin("gitops-bump"));
    command
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", std::env::temp_dir())
        .env("MODELCAR_LOG_FORMAT", "text");
    command
}

/// A finished run of gitops-bump: the shared harness's.
type Run = e2e::tool_run::Outcome;

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn jukebox_repo(name: &'static str) -> Repo {
    Repo::new(name, &[(JUKEBOX, CONFIG.as_bytes())])
}
