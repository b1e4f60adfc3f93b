//! gitops-bump end to end: the real binary against a real git server (lighttpd + `git http-backend`
//! with basic auth, and sshd for the ssh path).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use test_services::{
    Certs, GitServer, ServerProcess, SshGitServer, free_port, require_tool, workspace_bin,
};

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
        let output = Command::new("git")
            .arg("--git-dir")
            .arg(self.server.repo_dir(self.name))
            .args(args)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .output()
            .expect("run git");
        assert!(output.status.success(), "git {args:?}: {}", stderr(&output));
        String::from_utf8_lossy(&output.stdout).into_owned()
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
            .arg("--username")
            .arg(USER)
            .env("GIT_TOKEN", PASSWORD);
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
        .env("LOG_FORMAT", "text");
    command
}

struct Run {
    output: Output,
    results: tempfile::TempDir,
    elapsed: Duration,
}

impl Run {
    fn of(mut command: Command) -> Run {
        let results = tempfile::tempdir().unwrap();
        command.arg("--results-dir").arg(results.path());
        let started = Instant::now();
        let output = command.output().expect("run gitops-bump");
        Run {
            output,
            results,
            elapsed: started.elapsed(),
        }
    }

    fn code(&self) -> i32 {
        self.output.status.code().unwrap_or(-1)
    }

    fn stderr(&self) -> String {
        stderr(&self.output)
    }

    fn result(&self, name: &str) -> String {
        std::fs::read_to_string(self.results.path().join(name))
            .unwrap_or_else(|e| panic!("result {name}: {e}; stderr:\n{}", self.stderr()))
    }

    fn assert_ok(&self) -> &Run {
        assert_eq!(self.code(), 0, "gitops-bump failed:\n{}", self.stderr());
        self
    }

    fn assert_fails(&self, code: i32, needles: &[&str]) -> &Run {
        assert_eq!(
            self.code(),
            code,
            "expected exit code {code}; stderr:\n{}",
            self.stderr()
        );
        for needle in needles {
            assert!(
                self.stderr().contains(needle),
                "stderr lacks {needle:?}:\n{}",
                self.stderr()
            );
        }
        self
    }
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn jukebox_repo(name: &'static str) -> Repo {
    Repo::new(name, &[(JUKEBOX, CONFIG.as_bytes())])
}

#[test]
fn happy_path_changes_only_the_values() {
    let repo = jukebox_repo("happy");
    let seed = repo.head();
    let tmp = tempfile::tempdir().unwrap();
    let mut command = repo.command();
    command.env("TMPDIR", tmp.path()).args([
        "--model",
        "jukebox",
        "--env",
        "test",
        "--set",
        "version=1234567",
        "--set",
        "image_namespace=team-test-2",
        "--source-commit",
        "0a1b2c3d",
        "--author-name",
        "Tekton 🐈",
        "--author-email",
        "tekton@mlops.example",
    ]);
    let run = Run::of(command);
    run.assert_ok();
    assert_eq!(
        std::fs::read_dir(tmp.path()).unwrap().count(),
        0,
        "the work directory is removed"
    );
    let head = repo.head();
    assert_ne!(head, seed);
    assert_eq!(run.result("commit"), head);
    assert_eq!(run.result("changed"), "true");
    assert_eq!(run.result("file"), JUKEBOX);

    let expected = CONFIG
        .replace("version: \"v0.9\"", "version: \"1234567\"")
        .replace(
            "image_namespace: team-test\n",
            "image_namespace: team-test-2\n",
        );
    assert_eq!(repo.file("main", JUKEBOX).unwrap(), expected);

    // One commit on top of the seed, by the configured author, with a message that explains it.
    assert_eq!(repo.git(&["rev-parse", "main~1"]).trim(), seed);
    let log = repo.git(&["log", "-1", "--format=%an <%ae>%n%cn%n%B", "main"]);
    assert!(
        log.starts_with("Tekton 🐈 <tekton@mlops.example>\nTekton 🐈\n"),
        "{log}"
    );
    assert!(
        log.contains("Deploy jukebox 1234567 to test (was v0.9)"),
        "{log}"
    );
    assert!(log.contains("Source-Commit: 0a1b2c3d"), "{log}");
    assert!(
        log.contains("image_namespace: team-test -> team-test-2"),
        "{log}"
    );
    // The diff is in the log, and no secret anywhere in the output.
    assert!(
        run.stderr().contains("+version: \"1234567\""),
        "{}",
        run.stderr()
    );
    assert!(!run.stderr().contains(PASSWORD));
    assert!(!String::from_utf8_lossy(&run.output.stdout).contains(PASSWORD));
}

#[test]
fn crlf_and_nested_keys_stay_exact() {
    let crlf = "# values\r\nimage:\r\n  repository: quay.io/team/jukebox\r\n  tag: '1.0' # pinned\r\nreplicas: 2\r\n";
    let repo = Repo::new("crlf", &[("apps/jukebox/values.yaml", crlf.as_bytes())]);
    repo.bump(&[
        "--file",
        "apps/jukebox/values.yaml",
        "--set",
        "image.tag=2.0",
        "--set",
        "image.digest=sha256:abc",
    ])
    .assert_ok();
    let text = repo.file("main", "apps/jukebox/values.yaml").unwrap();
    assert_eq!(
        text,
        "# values\r\nimage:\r\n  repository: quay.io/team/jukebox\r\n  tag: '2.0' # pinned\r\n  digest: sha256:abc\r\nreplicas: 2\r\n"
    );
}

#[test]
fn values_always_read_back_as_strings() {
    let repo = jukebox_repo("strings");
    let values = [
        "1234567",
        "1e3",
        "0x1F",
        "true",
        "null",
        "012",
        "~",
        "2024-01-01",
        "yes",
    ];
    let mut args = vec!["--model", "jukebox", "--env", "test"];
    let sets: Vec<String> = values
        .iter()
        .enumerate()
        .map(|(i, v)| format!("labels.v{i}={v}"))
        .collect();
    for set in &sets {
        args.extend(["--set", set.as_str()]);
    }
    repo.bump(&args).assert_ok();
    let text = repo.file("main", JUKEBOX).unwrap();
    assert!(text.starts_with(CONFIG), "appended only:\n{text}");
    let parsed: serde_json::Value = serde_saphyr::from_str(&text).unwrap();
    for (i, value) in values.iter().enumerate() {
        assert_eq!(parsed["labels"][format!("v{i}")], *value, "{text}");
    }
}

#[test]
fn unchanged_values_make_no_commit() {
    let repo = jukebox_repo("unchanged");
    repo.bump(&[
        "--model",
        "jukebox",
        "--env",
        "test",
        "--set",
        "version=1.2.3",
    ])
    .assert_ok();
    let head = repo.head();
    let count = repo.commit_count();
    let again = repo.bump(&[
        "--model",
        "jukebox",
        "--env",
        "test",
        "--set",
        "version=1.2.3",
    ]);
    again.assert_ok();
    assert_eq!(again.result("changed"), "false");
    assert_eq!(again.result("commit"), head);
    assert_eq!(repo.head(), head);
    assert_eq!(repo.commit_count(), count);
    // Values that are already there from the start: no commit either.
    let untouched = repo.bump(&[
        "--model",
        "jukebox",
        "--env",
        "test",
        "--set",
        "name=jukebox",
    ]);
    untouched.assert_ok();
    assert_eq!(untouched.result("changed"), "false");
    assert_eq!(repo.commit_count(), count);
}

#[test]
fn create_is_explicit() {
    let repo = Repo::new(
        "create",
        &[
            (JUKEBOX, CONFIG.as_bytes()),
            ("model-deployments/prod/jukebox/config.yaml", b"---\n"),
        ],
    );
    let seed = repo.head();
    let new_file = "model-deployments/test/whisper/config.yaml";
    repo.bump(&[
        "--model",
        "whisper",
        "--env",
        "test",
        "--set",
        "version=1.0",
    ])
    .assert_fails(2, &[new_file, "does not exist", "--create"]);
    repo.bump(&[
        "--model",
        "jukebox",
        "--env",
        "prod",
        "--set",
        "version=1.0",
    ])
    .assert_fails(
        2,
        &[
            "model-deployments/prod/jukebox/config.yaml",
            "holds no YAML document",
            "--create",
        ],
    );
    assert_eq!(repo.head(), seed);

    let args = |model: &str, env: &str| {
        vec![
            "--model".to_owned(),
            model.to_owned(),
            "--env".to_owned(),
            env.to_owned(),
            "--create".to_owned(),
            "--set".to_owned(),
            "chart_path=charts/model-serving".to_owned(),
            "--set".to_owned(),
            format!("name={model}"),
            "--set".to_owned(),
            "version=0123".to_owned(),
        ]
    };
    let run = repo.bump(
        &args("whisper", "test")
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    );
    run.assert_ok();
    assert_eq!(run.result("changed"), "true");
    let created = repo.file("main", new_file).unwrap();
    let value: serde_json::Value = serde_saphyr::from_str(&created).unwrap();
    assert_eq!(value["version"], "0123", "{created}");
    assert_eq!(value["name"], "whisper");
    assert_eq!(value["chart_path"], "charts/model-serving");

    repo.bump(
        &args("jukebox", "prod")
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    )
    .assert_ok();
    let filled = repo
        .file("main", "model-deployments/prod/jukebox/config.yaml")
        .unwrap();
    assert!(filled.starts_with("---\n"), "{filled}");
    let value: serde_json::Value = serde_saphyr::from_str(&filled).unwrap();
    assert_eq!(value["version"], "0123", "{filled}");
}

#[test]
fn bad_inputs_are_clear_and_commit_nothing() {
    let files: &[(&str, &str)] = &[
        ("bad/malformed.yaml", "name: jukebox\nversion: [1.0\n"),
        ("bad/block.yaml", "version: |\n  1.0\n"),
        ("bad/alias.yaml", "base: &v 1.0\nversion: *v\n"),
        ("bad/multi.yaml", "version: 1.0\n---\nversion: 2.0\n"),
        ("bad/duplicate.yaml", "version: 1.0\nversion: 2.0\n"),
        ("bad/sequence.yaml", "version:\n  - 1.0\n"),
        ("bad/mapping.yaml", "version:\n  major: 1\n"),
    ];
    let seeded: Vec<(&str, &[u8])> = files.iter().map(|(p, c)| (*p, c.as_bytes())).collect();
    let repo = Repo::new("bad", &seeded);
    let seed = repo.head();
    let cases: &[(&str, &[&str])] = &[
        (
            "bad/malformed.yaml",
            &["bad/malformed.yaml", "line 2", "nothing was committed"],
        ),
        (
            "bad/block.yaml",
            &["bad/block.yaml", "block scalar", "column"],
        ),
        ("bad/alias.yaml", &["bad/alias.yaml", "alias", "line 2"]),
        (
            "bad/multi.yaml",
            &["bad/multi.yaml", "more than one YAML document", "line 2"],
        ),
        (
            "bad/duplicate.yaml",
            &["bad/duplicate.yaml", "defined twice", "line 2"],
        ),
        (
            "bad/sequence.yaml",
            &["bad/sequence.yaml", "sequence", "line 2"],
        ),
        (
            "bad/mapping.yaml",
            &["bad/mapping.yaml", "mapping", "line 2"],
        ),
    ];
    for (file, needles) in cases {
        repo.bump(&["--file", file, "--set", "version=2.0"])
            .assert_fails(2, needles);
    }
    // Bad flags: no KEY=VALUE, an escaping path, a bad branch, a missing branch, nothing to locate the file.
    repo.bump(&["--file", "bad/block.yaml", "--set", "version"])
        .assert_fails(2, &["not KEY=VALUE"]);
    repo.bump(&["--file", "../etc/passwd", "--set", "version=1"])
        .assert_fails(2, &["must be relative"]);
    repo.bump(&["--model", "jukebox", "--set", "version=1"])
        .assert_fails(2, &["--model and --env"]);
    repo.bump(&[
        "--file",
        "bad/block.yaml",
        "--branch",
        "no..pe",
        "--set",
        "version=1",
    ])
    .assert_fails(2, &["not a valid branch name"]);
    repo.bump(&[
        "--file",
        "bad/block.yaml",
        "--branch",
        "release",
        "--set",
        "version=1",
    ])
    .assert_fails(1, &["branch release not found"]);
    assert_eq!(repo.head(), seed, "a failed bump must not push anything");
}

#[test]
fn wrong_or_missing_credentials_fail_within_seconds() {
    let repo = jukebox_repo("auth");
    let url = repo.url();
    let mut wrong = repo.command();
    wrong.env("GIT_TOKEN", "not-the-password").args([
        "--model",
        "jukebox",
        "--env",
        "test",
        "--set",
        "version=2",
    ]);
    let run = Run::of(wrong);
    run.assert_fails(1, &[&format!("authentication failed for {url}")]);
    assert!(
        run.elapsed < Duration::from_secs(10),
        "took {:?}",
        run.elapsed
    );
    assert!(!run.stderr().contains("not-the-password"));

    // Token from a file (a mounted Secret) works, and so does a basic-auth workspace.
    let secrets = tempfile::tempdir().unwrap();
    let token_file = secrets.path().join("token");
    std::fs::write(&token_file, format!("{PASSWORD}\n")).unwrap();
    let mut from_file = repo.command();
    from_file
        .env_remove("GIT_TOKEN")
        .arg("--token-file")
        .arg(&token_file)
        .args(["--model", "jukebox", "--env", "test", "--set", "version=2"]);
    Run::of(from_file).assert_ok();
    let workspace = secrets.path().join("basic-auth");
    std::fs::create_dir(&workspace).unwrap();
    std::fs::write(
        workspace.join(".git-credentials"),
        format!("http://{USER}:{PASSWORD}@{}\n", repo.host_port()),
    )
    .unwrap();
    std::fs::write(
        workspace.join(".gitconfig"),
        "[credential]\n\thelper = store\n",
    )
    .unwrap();
    let mut workspace_run = bump_command();
    workspace_run
        .args(["--repo-url", &url, "--plain-http", &repo.host_port()])
        .arg("--basic-auth-dir")
        .arg(&workspace)
        .args(["--model", "jukebox", "--env", "test", "--set", "version=3"]);
    Run::of(workspace_run).assert_ok();
    assert!(
        repo.file("main", JUKEBOX)
            .unwrap()
            .contains("version: \"3\"")
    );

    // No credentials at all: a clear request for them.
    let mut anonymous = bump_command();
    anonymous
        .args(["--repo-url", &url, "--plain-http", &repo.host_port()])
        .args(["--model", "jukebox", "--env", "test", "--set", "version=4"]);
    let run = Run::of(anonymous);
    run.assert_fails(1, &["authentication failed", "--token-file"]);
    assert!(
        run.elapsed < Duration::from_secs(10),
        "took {:?}",
        run.elapsed
    );

    // Plain HTTP only when asked for.
    let mut no_opt_in = bump_command();
    no_opt_in
        .args(["--repo-url", &url, "--username", USER])
        .env("GIT_TOKEN", PASSWORD)
        .args(["--model", "jukebox", "--env", "test", "--set", "version=5"]);
    Run::of(no_opt_in).assert_fails(2, &["plain HTTP", "--plain-http"]);
    // A password in the URL is refused without echoing it.
    let with_password = url.replacen("http://", &format!("http://{USER}:{PASSWORD}@"), 1);
    let mut in_url = bump_command();
    in_url
        .args([
            "--repo-url",
            &with_password,
            "--plain-http",
            &repo.host_port(),
        ])
        .args(["--model", "jukebox", "--env", "test", "--set", "version=5"]);
    let run = Run::of(in_url);
    run.assert_fails(2, &["carries a password"]);
}

#[test]
fn declined_push_reports_the_servers_message() {
    let repo = jukebox_repo("hooked");
    let seed = repo.head();
    repo.server.install_pre_receive_hook(
        repo.name,
        "echo 'main is protected: open a pull request instead' >&2\nexit 1\n",
    );
    let run = repo.bump(&[
        "--model",
        "jukebox",
        "--env",
        "test",
        "--set",
        "version=2.0",
    ]);
    run.assert_fails(
        1,
        &[
            "rejected the push",
            "main is protected: open a pull request instead",
        ],
    );
    assert_eq!(repo.head(), seed);
}

#[test]
fn eight_models_at_once_all_land() {
    let models: Vec<String> = (1..=8).map(|i| format!("model-{i}")).collect();
    let files: Vec<(String, String)> = models
        .iter()
        .map(|m| {
            (
                format!("model-deployments/test/{m}/config.yaml"),
                format!("# {m}\nname: {m}\nversion: \"0.1\"\n"),
            )
        })
        .collect();
    let seeded: Vec<(&str, &[u8])> = files
        .iter()
        .map(|(p, c)| (p.as_str(), c.as_bytes()))
        .collect();
    let repo = Repo::new("parallel", &seeded);
    let before = repo.commit_count();
    let children: Vec<_> = models
        .iter()
        .map(|m| {
            let results = tempfile::tempdir().unwrap();
            let mut command = repo.command();
            command
                .args(["--model", m, "--env", "test", "--set", "version=1.0.0"])
                .arg("--results-dir")
                .arg(results.path())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped());
            (command.spawn().unwrap(), results)
        })
        .collect();
    for (child, _results) in children {
        let output = child.wait_with_output().unwrap();
        assert!(
            output.status.success(),
            "a bump failed:\n{}",
            stderr(&output)
        );
    }
    assert_eq!(
        repo.commit_count(),
        before + 8,
        "one commit per model, none lost"
    );
    for m in &models {
        let text = repo
            .file("main", &format!("model-deployments/test/{m}/config.yaml"))
            .unwrap();
        assert_eq!(text, format!("# {m}\nname: {m}\nversion: \"1.0.0\"\n"));
    }
    // Each new commit touches exactly one file, and each file is touched by one commit.
    let log = repo.git(&["log", "--format=@%H", "--name-only", "main~8..main"]);
    let mut files_per_commit = Vec::new();
    for line in log.lines().filter(|l| !l.is_empty()) {
        if line.starts_with('@') {
            files_per_commit.push(Vec::new());
        } else {
            files_per_commit.last_mut().unwrap().push(line.to_owned());
        }
    }
    assert_eq!(files_per_commit.len(), 8, "{log}");
    assert!(
        files_per_commit.iter().all(|files| files.len() == 1),
        "{log}"
    );
    let mut touched: Vec<&String> = files_per_commit.iter().flatten().collect();
    touched.sort();
    touched.dedup();
    assert_eq!(touched.len(), 8, "{log}");
}

#[test]
fn two_versions_of_one_file_at_once_both_land_in_history() {
    let repo = jukebox_repo("same-file");
    let before = repo.commit_count();
    let children: Vec<_> = ["2.0.0", "3.0.0"]
        .iter()
        .map(|version| {
            let mut command = repo.command();
            command
                .args(["--model", "jukebox", "--env", "test", "--set"])
                .arg(format!("version={version}"))
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped());
            command.spawn().unwrap()
        })
        .collect();
    for child in children {
        let output = child.wait_with_output().unwrap();
        assert!(
            output.status.success(),
            "a bump failed:\n{}",
            stderr(&output)
        );
    }
    assert_eq!(repo.commit_count(), before + 2);
    let history = repo.git(&["log", "-p", "main", "--", JUKEBOX]);
    assert!(history.contains("+version: \"2.0.0\""), "{history}");
    assert!(history.contains("+version: \"3.0.0\""), "{history}");
    let last = repo.file("main", JUKEBOX).unwrap();
    assert!(last.contains("version: \"2.0.0\"") || last.contains("version: \"3.0.0\""));
}

#[test]
fn push_branch_is_reset_onto_base_and_reused() {
    let repo = jukebox_repo("promote");
    let base = repo.head();
    let args = [
        "--model",
        "jukebox",
        "--env",
        "test",
        "--set",
        "version=4.0",
        "--push-branch",
        "promote/test/jukebox",
    ];
    let first = repo.bump(&args);
    first.assert_ok();
    let branch = repo
        .server
        .head(repo.name, "promote/test/jukebox")
        .expect("branch pushed");
    assert_eq!(first.result("commit"), branch);
    assert_eq!(repo.head(), base, "the base branch is untouched");
    assert_eq!(
        repo.git(&["rev-parse", &format!("{branch}~1")]).trim(),
        base
    );
    // A re-run finds the same change on the branch and leaves it alone.
    let again = repo.bump(&args);
    again.assert_ok();
    assert_eq!(again.result("commit"), branch);
    assert_eq!(
        repo.server.head(repo.name, "promote/test/jukebox").unwrap(),
        branch
    );
    // The push branch may never be the base branch.
    repo.bump(&[
        "--model",
        "jukebox",
        "--env",
        "test",
        "--set",
        "version=5",
        "--push-branch",
        "main",
    ])
    .assert_fails(2, &["must be a branch this tool owns"]);
}

#[test]
fn ssh_with_a_tekton_ssh_directory() {
    let repo = jukebox_repo("over-ssh");
    let ssh = SshGitServer::start(&repo.server);
    let url = ssh.url(repo.name);
    let run = |ssh_dir: &Path, version: &str| {
        let mut command = bump_command();
        command
            .args(["--repo-url", &url])
            .arg("--ssh-dir")
            .arg(ssh_dir)
            .args(["--model", "jukebox", "--env", "test", "--set"])
            .arg(format!("version={version}"));
        Run::of(command)
    };
    let done = run(&ssh.ssh_directory(), "7.0");
    done.assert_ok();
    assert_eq!(done.result("commit"), repo.head());
    assert!(
        repo.file("main", JUKEBOX)
            .unwrap()
            .contains("version: \"7.0\"")
    );

    // An unknown host key is refused, naming the host.
    let stranger = copy_ssh_directory(&ssh.ssh_directory());
    std::fs::write(stranger.path().join("known_hosts"), "").unwrap();
    run(stranger.path(), "8.0").assert_fails(
        1,
        &[
            "refusing ssh connection",
            &format!("[127.0.0.1]:{}", ssh.port()),
        ],
    );
    // A different key for the same host is a mismatch.
    let mismatch = copy_ssh_directory(&ssh.ssh_directory());
    let other_key = "AAAAC3NzaC1lZDI1NTE5AAAAIHc0T6Lk2I0pyHrbLpd1CoZ6BY/Lzh9A5cK0ewHvXkyE";
    std::fs::write(
        mismatch.path().join("known_hosts"),
        format!("[127.0.0.1]:{} ssh-ed25519 {other_key}\n", ssh.port()),
    )
    .unwrap();
    run(mismatch.path(), "8.0").assert_fails(1, &["HOST KEY MISMATCH"]);
    // A key the server does not know fails fast.
    let unknown_key = copy_ssh_directory(&ssh.ssh_directory());
    for name in ["id_ed25519", "id_ed25519.pub"] {
        std::fs::remove_file(unknown_key.path().join(name)).ok();
    }
    let keygen = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(unknown_key.path().join("id_ed25519"))
        .output()
        .expect("run ssh-keygen: apt-get install -y openssh-client");
    assert!(keygen.status.success(), "{}", stderr(&keygen));
    let refused = run(unknown_key.path(), "8.0");
    refused.assert_fails(1, &["authentication failed for"]);
    assert!(
        refused.elapsed < Duration::from_secs(10),
        "took {:?}",
        refused.elapsed
    );
    assert!(
        repo.file("main", JUKEBOX)
            .unwrap()
            .contains("version: \"7.0\"")
    );
}

fn copy_ssh_directory(from: &Path) -> tempfile::TempDir {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let to: PathBuf = dir.path().join(entry.file_name());
        std::fs::copy(entry.path(), &to).unwrap();
        std::fs::set_permissions(&to, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    dir
}

/// lighttpd terminating TLS in front of the git server, with a certificate from a private CA.
struct TlsProxy {
    _process: ServerProcess,
    port: u16,
    certs: Certs,
    _dir: tempfile::TempDir,
}

impl TlsProxy {
    fn start(backend_host_port: &str) -> TlsProxy {
        let lighttpd = require_tool("lighttpd", "lighttpd");
        let certs = Certs::generate(&[]);
        let dir = tempfile::tempdir().unwrap();
        let pem = dir.path().join("server.pem");
        let mut both = std::fs::read(&certs.cert_pem).unwrap();
        both.extend(std::fs::read(&certs.key_pem).unwrap());
        std::fs::write(&pem, both).unwrap();
        let (backend_host, backend_port) = backend_host_port.split_once(':').unwrap();
        let port = free_port();
        let config = dir.path().join("lighttpd.conf");
        std::fs::write(
            &config,
            format!(
                "server.modules = (\"mod_openssl\", \"mod_proxy\")\n\
                 server.bind = \"127.0.0.1\"\nserver.port = {port}\n\
                 server.document-root = \"{www}\"\n\
                 ssl.engine = \"enable\"\nssl.pemfile = \"{pem}\"\n\
                 proxy.server = (\"\" => ((\"host\" => \"{backend_host}\", \"port\" => {backend_port})))\n",
                www = dir.path().display(),
                pem = pem.display(),
            ),
        )
        .unwrap();
        let process = ServerProcess::spawn(
            "lighttpd (TLS proxy)",
            &lighttpd,
            [Path::new("-D"), Path::new("-f"), &config],
            dir.path(),
            &[],
            &dir.path().join("log"),
        );
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "the TLS proxy did not start (lighttpd's mod_openssl: apt-get install -y lighttpd-mod-openssl): {}",
                process.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        TlsProxy {
            _process: process,
            port,
            certs,
            _dir: dir,
        }
    }
}

#[test]
fn https_with_a_private_ca() {
    let repo = jukebox_repo("tls");
    let proxy = TlsProxy::start(&repo.host_port());
    let url = format!("https://127.0.0.1:{}/git/{}.git", proxy.port, repo.name);
    let command = |extra: &[&str]| {
        let mut command = bump_command();
        command
            .args(["--repo-url", &url, "--username", USER])
            .env("GIT_TOKEN", PASSWORD)
            .args(extra)
            .args([
                "--model",
                "jukebox",
                "--env",
                "test",
                "--set",
                "version=9.0",
            ]);
        command
    };
    // Not trusted without the CA: a prompt, clear failure.
    let untrusted = Run::of(command(&[]));
    untrusted.assert_fails(1, &[&url, "certificate", "--ca-cert"]);
    assert!(
        untrusted.elapsed < Duration::from_secs(10),
        "took {:?}",
        untrusted.elapsed
    );
    assert!(!repo.file("main", JUKEBOX).unwrap().contains("9.0"));
    // With the CA (as a Tekton ssl-ca-directory would give it): the bump lands.
    let trusted = Run::of(command(&[
        "--ca-cert",
        proxy.certs.ca_pem.to_str().unwrap(),
    ]));
    trusted.assert_ok();
    assert_eq!(trusted.result("commit"), repo.head());
    assert!(
        repo.file("main", JUKEBOX)
            .unwrap()
            .contains("version: \"9.0\"")
    );
}
