//! pr-create end to end: the real binary, a real git server (lighttpd + `git http-backend` with basic
//! auth) holding the GitOps repository, and a fake Gitea, GitHub Enterprise or GitLab API that reads
//! its branches from that repository. Every scenario runs against all three forges.

use std::process::Command;

use test_fakes::forge_support::{DEFAULT_TOKEN, FakeForge, FakePull, PullState};
use test_fakes::gitea::FakeGitea;
use test_fakes::github::FakeGitHub;
use test_fakes::gitlab::FakeGitLab;
use test_services::{GitServer, Mlflow, workspace_bin};

const GIT_USER: &str = "pipeline";
const GIT_PASSWORD: &str = "git-Secret-7c1e";
const REPO: &str = "team/mlops-gitops";
const PROD: &str = "model-deployments/prod/jukebox/config.yaml";
const BRANCH: &str = "promote/prod/jukebox";
const IMAGE: &str = "registry.example/team/jukebox@sha256:4d3c2b1a00000000000000000000000000000000000000000000000000000000";
const COMMIT_URL: &str = "https://git.example/team/jukebox/commit/a1b2c3d";

fn config(version: &str) -> String {
    format!(
        "chart_path: charts/model-serving\nname: jukebox\nversion: \"{version}\"  # set by promotion\nimage_repository: registry.example\nimage_namespace: team-prod\n"
    )
}

#[derive(Clone, Copy, Debug)]
enum Kind {
    Gitea,
    GitHub,
    GitLab,
}

enum Fake {
    Gitea(FakeGitea),
    GitHub(FakeGitHub),
    GitLab(FakeGitLab),
}

struct World {
    kind: Kind,
    git: GitServer,
    fake: Fake,
}

/// One pr-create run, through the shared harness.
type Run = e2e::tool_run::Outcome;

impl World {
    fn new(kind: Kind, main_version: &str) -> World {
        let git = GitServer::start(GIT_USER, GIT_PASSWORD);
        git.create_repo(REPO);
        git.seed(
            REPO,
            &[(PROD, config(main_version).as_bytes())],
            "Seed the GitOps repository",
        );
        let fake = match kind {
            Kind::Gitea => Fake::Gitea(FakeGitea::start()),
            Kind::GitHub => Fake::GitHub(FakeGitHub::start()),
            Kind::GitLab => Fake::GitLab(FakeGitLab::start()),
        };
        let world = World { kind, git, fake };
        world.forge().add_repo(REPO, world.git.repo_dir(REPO));
        world.forge().add_label(REPO, "promotion");
        world.forge().add_label(REPO, "prod");
        world.forge().add_user("reviewer-ann");
        world.forge().add_user("owner-bob");
        world
    }

    fn forge(&self) -> &FakeForge {
        match &self.fake {
            Fake::Gitea(f) => f,
            Fake::GitHub(f) => f,
            Fake::GitLab(f) => f,
        }
    }

    /// pr-create against this world; run it with [`Run::of`], which gives it a results folder.
    fn command(&self, version: &str, args: &[&str]) -> Command {
        let mut command = Command::new(workspace_bin("pr-create"));
        for var in [
            "FORGE_TOKEN_FILE",
            "GIT_TOKEN_FILE",
            "BODY_TEMPLATE",
            "LABELS",
            "SET",
        ] {
            command.env_remove(var);
        }
        command
            .env("MODELCAR_FORGE", format!("{:?}", self.kind).to_lowercase())
            .env("MODELCAR_FORGE_API_URL", self.forge().url())
            .env("MODELCAR_FORGE_REPO", REPO)
            .env("MODELCAR_REPO_URL", self.git.repo_url(REPO))
            .env("MODELCAR_FORGE_TOKEN", DEFAULT_TOKEN)
            .env("MODELCAR_GIT_USERNAME", GIT_USER)
            .env("MODELCAR_GIT_TOKEN", GIT_PASSWORD)
            .env("MODELCAR_PLAIN_HTTP", "127.0.0.1")
            .env("MODELCAR_LOG_FORMAT", "text")
            .env("MODELCAR_MODEL", "jukebox")
            .env("MODELCAR_MODEL_VERSION", version)
            .args(["--image", IMAGE, "--source-commit-url", COMMIT_URL])
            .args(args);
        command
    }

    fn run(&self, version: &str, args: &[&str]) -> Run {
        Run::of(self.command(version, args))
    }

    fn open_pulls(&self) -> Vec<FakePull> {
        self.forge().open_pulls(REPO)
    }

    fn branch_file(&self, branch: &str) -> Option<String> {
        self.git
            .file_at(REPO, branch, PROD)
            .map(|b| String::from_utf8(b).expect("UTF-8"))
    }
}

/// Creates the pull request with everything a reviewer needs; a re-run leaves it as it is. A closed
/// pull request from the same branch (Gitea's by-branch lookup returns it) is not mistaken for it.
fn creates_then_leaves_unchanged(kind: Kind) {
    let world = World::new(kind, "v1");
    world.git.seed_branch(
        REPO,
        BRANCH,
        &[(PROD, config("v0").as_bytes())],
        "an old promotion",
    );
    let old = world.forge().insert_pull(
        REPO,
        FakePull::open(BRANCH, "main", "Promote jukebox v0 to prod", "old"),
    );
    world.forge().set_state(REPO, old, PullState::Merged);

    let args = [
        "--label",
        "promotion,prod",
        "--reviewer",
        "reviewer-ann",
        "--assignee",
        "owner-bob",
    ];
    let first = world.run("v2", &args);
    first.assert_ok();
    assert_eq!(first.result("STATUS"), "created");
    assert_eq!(first.result("BRANCH"), BRANCH);
    let number: u64 = first.result("NUMBER").parse().expect("NUMBER is a number");
    assert_ne!(number, old);
    assert!(
        first.result("URL").ends_with(&number.to_string()),
        "{}",
        first.result("URL")
    );

    let open = world.open_pulls();
    assert_eq!(open.len(), 1, "{open:#?}");
    let pr = &open[0];
    assert_eq!(
        (pr.number, pr.head.as_str(), pr.base.as_str()),
        (number, BRANCH, "main")
    );
    assert_eq!(pr.title, "Promote jukebox v2 to prod");
    for needle in [
        "`v1` → `v2`",
        IMAGE,
        COMMIT_URL,
        "-version: \"v1\"",
        "+version: \"v2\"",
        PROD,
    ] {
        assert!(
            pr.body.contains(needle),
            "{needle:?} missing from the body:\n{}",
            pr.body
        );
    }
    let mut labels = pr.labels.clone();
    labels.sort();
    assert_eq!(labels, ["prod", "promotion"]);
    assert_eq!(pr.reviewers, ["reviewer-ann"]);
    assert_eq!(pr.assignees, ["owner-bob"]);
    assert!(
        world
            .branch_file(BRANCH)
            .unwrap()
            .contains("version: \"v2\"  # set by promotion")
    );
    assert!(
        world
            .branch_file("main")
            .unwrap()
            .contains("version: \"v1\""),
        "main is untouched"
    );
    let branch_tip = world.git.head(REPO, BRANCH);

    let again = world.run("v2", &args);
    again.assert_ok();
    assert_eq!(again.result("STATUS"), "unchanged");
    assert_eq!(again.result("NUMBER"), number.to_string());
    assert_eq!(world.open_pulls(), open, "the pull request is as it was");
    assert_eq!(
        world.git.head(REPO, BRANCH),
        branch_tip,
        "the branch is as it was"
    );
}

/// A new version updates the pull request of the branch; with a versioned branch template each
/// version has its own pull request and the older ones are closed with a link to the new one.
fn new_versions_update_and_supersede(kind: Kind) {
    let world = World::new(kind, "v1");
    let first = world.run("v2", &[]);
    first.assert_ok();
    assert_eq!(first.result("STATUS"), "created");

    let second = world.run("v3", &[]);
    second.assert_ok();
    assert_eq!(second.result("STATUS"), "updated");
    assert_eq!(second.result("NUMBER"), first.result("NUMBER"));
    let open = world.open_pulls();
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].title, "Promote jukebox v3 to prod");
    assert!(open[0].body.contains("`v1` → `v3`"), "{}", open[0].body);
    assert!(
        world
            .branch_file(BRANCH)
            .unwrap()
            .contains("version: \"v3\"")
    );

    let versioned = ["--branch-template", "promote/{env}/{model}-{version}"];
    let third = world.run("v4", &versioned);
    third.assert_ok();
    assert_eq!(third.result("STATUS"), "created");
    assert_eq!(third.result("BRANCH"), "promote/prod/jukebox-v4");
    let fourth = world.run("v5", &versioned);
    fourth.assert_ok();
    assert_eq!(fourth.result("STATUS"), "created");

    let open = world.open_pulls();
    assert_eq!(open.len(), 1, "{open:#?}");
    assert_eq!(open[0].head, "promote/prod/jukebox-v5");
    let pulls = world.forge().pulls(REPO);
    let by_number = |n: &str| pulls.iter().find(|p| p.number.to_string() == n).unwrap();
    let (p1, p3) = (
        by_number(&first.result("NUMBER")),
        by_number(&third.result("NUMBER")),
    );
    assert_eq!(
        p1.state,
        PullState::Closed,
        "the pull request on the old branch name is superseded"
    );
    assert_eq!(p3.state, PullState::Closed);
    assert!(
        p1.comments.iter().any(|c| c.contains(&third.result("URL"))),
        "{:?}",
        p1.comments
    );
    assert!(
        p3.comments
            .iter()
            .any(|c| c.contains(&fourth.result("URL"))),
        "{:?}",
        p3.comments
    );
}

/// Two runs at once end with exactly one open pull request, and both succeed. Gitea may open two (it
/// checks for an open one and inserts without a lock): the later one is closed as a duplicate.
fn concurrent_runs_make_one_pull_request(kind: Kind) {
    let world = World::new(kind, "v1");
    let (a, b) = (world.command("v2", &[]), world.command("v2", &[]));
    let runs: [Run; 2] = std::thread::scope(|scope| {
        let a = scope.spawn(|| Run::of(a));
        let b = scope.spawn(|| Run::of(b));
        [a.join().unwrap(), b.join().unwrap()]
    });
    for run in &runs {
        run.assert_ok();
    }
    let open = world.open_pulls();
    assert_eq!(open.len(), 1, "{open:#?}");
    for other in world.forge().pulls(REPO) {
        if other.number != open[0].number {
            assert_eq!(other.state, PullState::Closed, "{other:#?}");
            assert!(other.number > open[0].number, "{other:#?}");
            assert!(
                other.comments.iter().any(|c| c.starts_with("Duplicate of")),
                "{other:#?}"
            );
        }
    }
    for run in &runs {
        assert_eq!(run.result("NUMBER"), open[0].number.to_string());
    }
    let statuses: Vec<String> = runs.iter().map(|r| r.result("STATUS")).collect();
    let mut statuses: Vec<&str> = statuses.iter().map(String::as_str).collect();
    statuses.sort();
    assert!(
        statuses == ["created", "unchanged"] || statuses == ["created", "updated"],
        "{statuses:?}"
    );
}

/// When the base already has the version: no branch, no pull request. (Called as a Tekton step
/// calls it, with empty values for unset optional params and unbound workspaces.)
fn up_to_date_does_nothing(kind: Kind) {
    let world = World::new(kind, "v2");
    let tekton_empties = [
        "--forge-api-url",
        &world.forge().url(),
        "--registry-url=",
        "--basic-auth-dir=",
        "--ssh-dir=",
        "--ca-cert=",
        "--source-commit=",
        "--git-username=",
    ];
    let run = world.run("v2", &tekton_empties);
    run.assert_ok();
    assert_eq!(run.result("STATUS"), "up-to-date");
    assert_eq!(run.result("NUMBER"), "");
    assert_eq!(run.result("BRANCH"), "");
    assert_eq!(world.git.head(REPO, BRANCH), None, "no promotion branch");
    assert!(world.forge().pulls(REPO).is_empty());
}

/// Each bad input fails before anything is written, names what is wrong, and never shows the token.
fn bad_input_is_named_and_changes_nothing(kind: Kind) {
    let world = World::new(kind, "v1");
    world
        .run("v2", &["--forge-repo", "team/no-such-repo"])
        .assert_fails(2, &["team/no-such-repo", "not found", "--forge-repo"]);
    world
        .run("v2", &["--branch", "no-such-base"])
        .assert_fails(2, &["\"no-such-base\"", "(--branch)"]);
    world
        .run("v2", &["--label", "no-such-label"])
        .assert_fails(2, &["\"no-such-label\"", "--label"]);
    world
        .run("v2", &["--reviewer", "nobody-here"])
        .assert_fails(2, &["\"nobody-here\"", "--reviewer"]);
    world
        .run("v2", &["--title-template", "{modle} {new_version}"])
        .assert_fails(2, &["{modle}", "{model}", "--title-template"]);

    let needs = match kind {
        Kind::Gitea => "write:repository",
        Kind::GitHub => "pull_requests: write",
        Kind::GitLab => "api scope",
    };
    let mut command = world.command("v2", &[]);
    let wrong = "wrong-token-5ec2e7";
    command.env("MODELCAR_FORGE_TOKEN", wrong);
    let run = Run::of(command);
    run.assert_fails(
        1,
        &["401", needs, "--forge-token-file or MODELCAR_FORGE_TOKEN"],
    );
    assert!(
        !run.stderr().contains(wrong),
        "the token leaked:\n{}",
        run.stderr()
    );

    let read_only = "read-only-token-91ab";
    world.forge().add_read_only_token(read_only);
    let mut command = world.command("v2", &[]);
    command.env("MODELCAR_FORGE_TOKEN", read_only);
    let run = Run::of(command);
    run.assert_fails(1, &["403", needs]);
    assert!(!run.stderr().contains(read_only));

    let mut command = world.command("v2", &[]);
    command.env_remove("MODELCAR_PLAIN_HTTP");
    Run::of(command).assert_fails(2, &["plain HTTP", "--plain-http"]);

    assert_eq!(world.git.head(REPO, BRANCH), None, "nothing was pushed");
    assert!(world.forge().pulls(REPO).is_empty(), "nothing was opened");
    assert_eq!(world.forge().labels(REPO).len(), 2, "no label was made up");
}

/// 503s are retried: lookups as they are, the create after looking the pull request up again.
fn unavailable_then_success(kind: Kind) {
    let world = World::new(kind, "v1");
    world.forge().fail_next(2);
    // The most verbose logs, HTTP and git internals included, still never show a secret.
    let mut command = world.command("v2", &[]);
    command.env("RUST_LOG", "trace");
    let run = Run::of(command);
    run.assert_ok();
    assert_eq!(run.result("STATUS"), "created");
    assert_eq!(world.open_pulls().len(), 1);
    assert!(run.stderr().contains("retrying"), "{}", run.stderr());
    let printed = format!("{}{}", run.stderr(), run.stdout());
    for secret in [DEFAULT_TOKEN, GIT_PASSWORD] {
        assert!(!printed.contains(secret), "{secret} printed in:\n{printed}");
    }

    let before = world.forge().requests().len();
    // Gitea's first writes are the two edits of nothing that check the token's scopes; a 503 there
    // is left for the real requests to meet.
    let scope_probes = match kind {
        Kind::Gitea => 2,
        Kind::GitHub | Kind::GitLab => 0,
    };
    world.forge().fail_next_writes(1 + scope_probes);
    let run = world.run(
        "v3",
        &["--branch-template", "promote/{env}/{model}-{version}"],
    );
    run.assert_ok();
    assert_eq!(run.result("STATUS"), "created");
    let open = world.open_pulls();
    assert_eq!(
        open.len(),
        1,
        "the new one is open once, the old one closed: {open:#?}"
    );
    assert_eq!(open[0].head, "promote/prod/jukebox-v3");
    let requests = world.forge().requests().split_off(before);
    let creates = requests
        .iter()
        .filter(|r| {
            r.starts_with("POST") && (r.ends_with("/pulls") || r.ends_with("/merge_requests"))
        })
        .count();
    assert_eq!(creates, 2, "one refused create, one retried: {requests:#?}");
}

/// With --registry-url the body shows the candidate beside the version now labelled with the
/// environment, read from the Model Registry: one row per property whatever its type (numbers compact,
/// with the change), labels as environments; an unreachable registry is noted, not fatal.
#[test]
fn registry_section_in_the_body() {
    let world = World::new(Kind::Gitea, "v1");
    let registry = test_fakes::kubeflow::FakeKubeflow::start();
    let text =
        |s: &str| serde_json::json!({ "metadataType": "MetadataStringValue", "string_value": s });
    let model = registry.add_model("jukebox");
    let double =
        |x: f64| serde_json::json!({ "metadataType": "MetadataDoubleValue", "double_value": x });
    let int = |n: &str| serde_json::json!({ "metadataType": "MetadataIntValue", "int_value": n });
    let layers = serde_json::json!({ "metadataType": "MetadataStructValue", "struct_value": "eyJsYXllcnMiOjN9" });
    registry.add_version(
        &model,
        "v1",
        serde_json::json!({
            "prod": text(""), "test": text(""), "source_commit": text("0ld"),
            "accuracy": double(0.9412), "epochs": int("10"), "layers": layers,
        }),
    );
    registry.add_version(
        &model,
        "v2",
        serde_json::json!({
            "source_commit": text("a1b2c3d"), "dataset": text("songs-2026"),
            "accuracy": double(0.973_123_4), "epochs": int("12"), "layers": layers,
        }),
    );

    let dashboard = "https://dashboard.example/modelRegistry/team-prod-registry";
    let api = registry.url();
    let mut command = world.command(
        "v2",
        &["--registry-url", &api, "--registry-web-url", dashboard],
    );
    command.env("MODELCAR_REGISTRY_TOKEN", registry.token());
    let run = Run::of(command);
    run.assert_ok();
    let body = &world.open_pulls()[0].body;
    for needle in [
        "### Model Registry",
        "(https://dashboard.example/modelRegistry/team-prod-registry)",
        "| | candidate `v2` | now in `prod`: `v1` |",
        "| *environments* | — | `prod`, `test` |",
        "| accuracy | **0.9731** (+0.03192) | 0.9412 |",
        "| dataset | **songs-2026** | — |",
        "| epochs | **12** (+2) | 10 |",
        r#"| layers | {"metadataType":"MetadataStructValue","struct_value":"{\"layers\":3}"} | {"metadataType":"MetadataStructValue","struct_value":"{\"layers\":3}"} |"#,
        "| source_commit | **a1b2c3d** | 0ld |",
    ] {
        assert!(body.contains(needle), "{needle:?} missing from:\n{body}");
    }
    assert_eq!(body.matches("### Model Registry").count(), 1, "{body}");

    let mut command = world.command("v3", &["--registry-url", &registry.url()]);
    command.env("MODELCAR_REGISTRY_TOKEN", "wrong");
    let run = Run::of(command);
    run.assert_ok();
    assert_eq!(run.result("STATUS"), "updated");
    let body = &world.open_pulls()[0].body;
    assert!(body.contains("could not be read"), "{body}");
}

/// With an MLflow registry the table holds the tags of both versions and the metrics of the runs they
/// were registered from (the real MLflow server of the test-support crate).
#[test]
fn mlflow_run_metrics_in_the_body() {
    let api = format!("{}/api/2.0/mlflow", Mlflow::shared().url());
    let model = format!("jukebox-pr-{}", std::process::id());
    let post = |path: &str, body: serde_json::Value| mlflow_post(&format!("{api}/{path}"), body);
    post(
        "registered-models/create",
        serde_json::json!({"name": model}),
    );
    for (version, accuracy) in [("v1", 0.9412), ("v2", 0.973_123_4)] {
        let run = post("runs/create", serde_json::json!({"experiment_id": "0"}));
        let run_id = run["run"]["info"]["run_id"].as_str().unwrap().to_owned();
        let metric = serde_json::json!({"key": "accuracy", "value": accuracy, "timestamp": 1_768_212_900_000u64, "step": 0});
        post(
            "runs/log-batch",
            serde_json::json!({"run_id": run_id, "metrics": [metric]}),
        );
        post(
            "model-versions/create",
            serde_json::json!({"name": model, "source": format!("runs:/{run_id}/model"), "run_id": run_id,
                               "tags": [{"key": "version", "value": version}]}),
        );
    }
    post(
        "registered-models/alias",
        serde_json::json!({"name": model, "alias": "prod", "version": "1"}),
    );

    let world = World::new(Kind::Gitea, "v1");
    let url = Mlflow::shared().url();
    world
        .run(
            "v2",
            &[
                "--registry-url",
                &url,
                "--registry-kind",
                "mlflow",
                "--registry-model",
                &model,
            ],
        )
        .assert_ok();
    let body = &world.open_pulls()[0].body;
    for needle in [
        "| | candidate `v2` | now in `prod`: `v1` |",
        "| *environments* | — | `prod` |",
        "| accuracy | **0.9731** (+0.03192) | 0.9412 |",
        "| version | **v2** | v1 |",
    ] {
        assert!(body.contains(needle), "{needle:?} missing from:\n{body}");
    }
}

/// A minimal HTTP/1.0 JSON POST for seeding MLflow (loopback only).
fn mlflow_post(url: &str, body: serde_json::Value) -> serde_json::Value {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://").expect("an http URL");
    let (host, path) = rest.split_once('/').expect("a path");
    let body = body.to_string();
    let mut stream = std::net::TcpStream::connect(host).expect("connect to MLflow");
    write!(
        stream,
        "POST /{path} HTTP/1.0\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, payload) = response.split_once("\r\n\r\n").expect("an HTTP response");
    assert!(head.contains(" 200 "), "POST {path}: {response}");
    serde_json::from_str(payload).unwrap_or_else(|e| panic!("{path}: {e}: {payload}"))
}

macro_rules! for_each_forge {
    ($($scenario:ident),* $(,)?) => {
        mod gitea {
            $(#[test] fn $scenario() { super::$scenario(super::Kind::Gitea) })*
        }
        mod github {
            $(#[test] fn $scenario() { super::$scenario(super::Kind::GitHub) })*
        }
        mod gitlab {
            $(#[test] fn $scenario() { super::$scenario(super::Kind::GitLab) })*
        }
    };
}

for_each_forge!(
    creates_then_leaves_unchanged,
    new_versions_update_and_supersede,
    concurrent_runs_make_one_pull_request,
    up_to_date_does_nothing,
    bad_input_is_named_and_changes_nothing,
    unavailable_then_success,
);
