//! pr-create end to end against a real Gitea (the version `scripts/go-servers` pins): the GitOps
//! repository lives in Gitea, seeded through its API and its own git over HTTP, which pr-create clones
//! and pushes; pull requests, labels, reviewers and assignees through the REST API as pr-create uses
//! it; merges through Gitea's own merge API. Each test has a Gitea of its own.

mod access;
mod lifecycle;
mod merges;
mod registry;
mod rollback;
mod rules;

use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use test_services::{Gitea, workspace_bin};

const REPO_NAME: &str = "mlops-gitops";
const PROD: &str = "model-deployments/prod/jukebox/config.yaml";
const BRANCH: &str = "promote/prod/jukebox";
const IMAGE: &str = "registry.example/team/jukebox@sha256:4d3c2b1a00000000000000000000000000000000000000000000000000000000";
const COMMIT_URL: &str = "https://git.example/team/jukebox/commit/a1b2c3d";
const REVIEWER: &str = "reviewer-ann";
const ASSIGNEE: &str = "owner-bob";

fn config(version: &str) -> String {
    format!(
        "chart_path: charts/model-serving\nname: jukebox\nversion: \"{version}\"  # set by promotion\nimage_repository: registry.example\nimage_namespace: team-prod\n"
    )
}

/// A Gitea with the GitOps repository (prod at `main_version` on `main`), the labels `promotion`
/// and `prod`, and two more users, all made through its API and git.
struct World {
    gitea: Gitea,
}

/// One pr-create run, through the shared harness.
type Run = e2e::tool_run::Outcome;

/// The pull request a run reports.
trait PullNumber {
    fn number(&self) -> u64;
}

impl PullNumber for Run {
    fn number(&self) -> u64 {
        self.result("NUMBER").parse().expect("NUMBER is a number")
    }
}

impl World {
    fn new(main_version: &str) -> World {
        let started = Instant::now();
        let gitea = Gitea::start();
        gitea.create_repo(REPO_NAME);
        gitea.push_files(
            REPO_NAME,
            "main",
            &[(PROD, config(main_version).as_bytes())],
            "Seed the GitOps repository",
        );
        let world = World { gitea };
        for (name, color) in [("promotion", "#00aabb"), ("prod", "#aa0000")] {
            world
                .gitea
                .api(
                    "POST",
                    &world.repo_path("/labels"),
                    Some(&json!({"name": name, "color": color})),
                )
                .expect_success("create a label");
        }
        for user in [REVIEWER, ASSIGNEE] {
            world
                .gitea
                .api(
                    "POST",
                    "/admin/users",
                    Some(&json!({
                        "username": user,
                        "email": format!("{user}@example.invalid"),
                        "password": "Passw0rd-of-a-user",
                        "must_change_password": false,
                    })),
                )
                .expect_success("create a user");
        }
        eprintln!(
            "Gitea and its repository ready after {:?}",
            started.elapsed()
        );
        world
    }

    /// `owner/name` of the GitOps repository.
    fn repo(&self) -> String {
        format!("{}/{REPO_NAME}", self.gitea.admin_user())
    }

    /// An API path below the repository, e.g. `/pulls`.
    fn repo_path(&self, rest: &str) -> String {
        format!("/repos/{}{rest}", self.repo())
    }

    /// pr-create as a pipeline step calls it: the forge token also pushes (the clone URL comes from
    /// the API URL and the repository), plain HTTP allowed for Gitea's host only.
    fn command(&self, version: &str, args: &[&str]) -> Command {
        let mut command = self.command_without_version(&[]);
        command
            .args(["--model-version", version])
            .args(["--image", IMAGE, "--source-commit-url", COMMIT_URL])
            .args(args);
        command
    }

    /// pr-create for this repository, with `args` and no version (a rollback finds it). Run it
    /// with [`Run::of`], which gives it a results folder.
    fn command_without_version(&self, args: &[&str]) -> Command {
        let mut command = Command::new(workspace_bin("pr-create"));
        for var in [
            "FORGE_TOKEN_FILE",
            "MODELCAR_GIT_TOKEN",
            "GIT_TOKEN_FILE",
            "REPO_URL",
            "BODY_TEMPLATE",
            "LABELS",
            "REVIEWERS",
            "ASSIGNEES",
            "SET",
            "PLAIN_HTTP_HOSTS",
            "REGISTRY_URL",
            "REGISTRY_API_URL",
            "MODELCAR_REGISTRY_TOKEN",
            "REGISTRY_TOKEN_FILE",
        ] {
            command.env_remove(var);
        }
        command
            .env("MODELCAR_FORGE_TOKEN", self.gitea.token())
            .env("MODELCAR_FORGE_REPO", self.repo())
            .env("RUST_LOG", "info")
            .args(["--forge", "gitea", "--forge-api-url", &self.gitea.api_url()])
            .args(["--git-username", self.gitea.admin_user()])
            .args(["--plain-http", &self.gitea.host()])
            .args(["--log-format", "text", "--model", "jukebox"])
            .args(args);
        command
    }

    fn run(&self, version: &str, args: &[&str]) -> Run {
        Run::of(self.command(version, args))
    }

    fn run_with_env(&self, version: &str, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut command = self.command(version, args);
        for (key, value) in env {
            command.env(key, value);
        }
        Run::of(command)
    }

    /// Pull requests in `state` (open, closed, all), newest first.
    fn pulls(&self, state: &str) -> Vec<Value> {
        let list = self
            .gitea
            .api(
                "GET",
                &self.repo_path(&format!("/pulls?state={state}&limit=50")),
                None,
            )
            .expect_success("list pull requests");
        list.as_array().cloned().unwrap_or_default()
    }

    fn open_pulls(&self) -> Vec<Value> {
        self.pulls("open")
    }

    fn pull(&self, number: u64) -> Value {
        self.gitea
            .api("GET", &self.repo_path(&format!("/pulls/{number}")), None)
            .expect_success("read a pull request")
    }

    fn comments(&self, number: u64) -> Vec<String> {
        let list = self
            .gitea
            .api(
                "GET",
                &self.repo_path(&format!("/issues/{number}/comments")),
                None,
            )
            .expect_success("list comments");
        list.as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| c["body"].as_str().map(str::to_owned))
            .collect()
    }

    /// The commit a branch points at, as Gitea's API shows it.
    fn branch_tip(&self, branch: &str) -> Option<String> {
        let answer = self
            .gitea
            .api("GET", &self.repo_path(&format!("/branches/{branch}")), None);
        match answer.status {
            404 => None,
            _ => Some(
                answer.expect_success("read a branch")["commit"]["id"]
                    .as_str()
                    .expect("a commit id")
                    .to_owned(),
            ),
        }
    }

    /// Names of every branch of the repository.
    fn branches(&self) -> Vec<String> {
        let list = self
            .gitea
            .api("GET", &self.repo_path("/branches?limit=50"), None)
            .expect_success("list branches");
        let mut names: Vec<String> = list
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|b| b["name"].as_str().map(str::to_owned))
            .collect();
        names.sort();
        names
    }

    /// The prod config on `reference` (a branch or a commit), through Gitea's raw file API.
    fn prod_config(&self, reference: &str) -> Option<String> {
        let answer = self.gitea.api(
            "GET",
            &self.repo_path(&format!("/raw/{PROD}?ref={reference}")),
            None,
        );
        match answer.status {
            404 => None,
            200 => Some(answer.body.as_str().expect("a YAML file").to_owned()),
            _ => panic!("read {PROD} at {reference}: {answer:?}"),
        }
    }

    /// Waits until Gitea shows the pull request's head at `commit` (it follows a push in the
    /// background).
    fn wait_for_head(&self, number: u64, commit: &str) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let pull = self.pull(number);
            if pull["head"]["sha"] == commit {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "pull request #{number} still shows head {} instead of {commit}",
                pull["head"]["sha"]
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Merges through Gitea's merge API (`Do`: `merge`, `squash`, ...), waiting out the moments when
    /// Gitea is still checking whether the pull request can be merged (405).
    fn merge(&self, number: u64, style: &str) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let merged = self.gitea.api(
                "POST",
                &self.repo_path(&format!("/pulls/{number}/merge")),
                Some(&json!({"Do": style, "delete_branch_after_merge": false})),
            );
            if merged.status == 200 {
                return;
            }
            assert!(
                Instant::now() < deadline && merged.status == 405,
                "merging #{number} by {style}: {merged:?}\n{}",
                self.gitea.log()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// The parents of a commit, through the git data API.
    fn parents(&self, commit: &str) -> Vec<String> {
        let found = self
            .gitea
            .api(
                "GET",
                &self.repo_path(&format!("/git/commits/{commit}")),
                None,
            )
            .expect_success("read a commit");
        found["parents"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| p["sha"].as_str().map(str::to_owned))
            .collect()
    }
}

/// The names in a list of Gitea users or labels, sorted.
fn names(list: &Value, field: &str) -> Vec<String> {
    let mut names: Vec<String> = list
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|item| item[field].as_str().map(str::to_owned))
        .collect();
    names.sort();
    names
}
