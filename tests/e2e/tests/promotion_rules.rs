//! Only better models are promoted: pr-create's --require rules over the Model Registry's properties,
//! the candidate against the version now in prod. A failing rule opens nothing and pushes nothing,
//! and says which rule failed with both values.

use e2e::tool_run::*;
use serde_json::json;
use test_fakes::forge_support::DEFAULT_TOKEN;
use test_fakes::gitea::FakeGitea;
use test_fakes::kubeflow::FakeKubeflow;
use test_services::GitServer;

const REPO: &str = "team/gitops";
const PROD: &str = "model-deployments/prod/jukebox/config.yaml";

struct World {
    git: GitServer,
    gitea: FakeGitea,
    registry: FakeKubeflow,
    _token_dir: tempfile::TempDir,
    token: std::path::PathBuf,
}

fn double(value: f64) -> serde_json::Value {
    json!({"metadataType": "MetadataDoubleValue", "double_value": value})
}

impl World {
    fn new() -> World {
        let git = GitServer::start(GIT_USER, GIT_PASSWORD);
        git.create_repo(REPO);
        git.seed(REPO, &[(PROD, b"name: jukebox\nversion: a1\n")], "Seed");
        let gitea = FakeGitea::start();
        gitea.add_repo(REPO, git.repo_dir(REPO));
        let registry = FakeKubeflow::start();
        let model = registry.add_model("jukebox");
        let label = json!({"metadataType": "MetadataStringValue", "string_value": ""});
        registry.add_version(
            &model,
            "a1",
            json!({"prod": label, "accuracy": double(0.93), "latency_p95_ms": double(100.0)}),
        );
        registry.add_version(
            &model,
            "b2",
            json!({"accuracy": double(0.91), "latency_p95_ms": double(104.0)}),
        );
        let (token_dir, token) = file_with(registry.token());
        World {
            git,
            gitea,
            registry,
            _token_dir: token_dir,
            token,
        }
    }

    fn promote(&self, version: &str, rules: &[&str]) -> Outcome {
        let mut args = vec![
            "--forge".to_owned(),
            "gitea".into(),
            "--api-url".into(),
            self.gitea.url(),
            "--repo".into(),
            REPO.into(),
            "--repo-url".into(),
            self.git.repo_url(REPO),
            "--model".into(),
            "jukebox".into(),
            "--version".into(),
            version.into(),
            "--git-username".into(),
            GIT_USER.into(),
            "--registry-url".into(),
            self.registry.url(),
            "--registry-token-file".into(),
            path_str(&self.token).into(),
            "--plain-http".into(),
            "127.0.0.1".into(),
        ];
        for rule in rules {
            args.extend(["--require".to_owned(), (*rule).to_owned()]);
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run(
            "pr-create",
            &args,
            &[("FORGE_TOKEN", DEFAULT_TOKEN), ("GIT_TOKEN", GIT_PASSWORD)],
        )
    }

    fn nothing_promoted(&self) {
        assert!(
            self.gitea.pulls(REPO).is_empty(),
            "a pull request was opened"
        );
        assert!(
            self.git.head(REPO, "promote/prod/jukebox").is_none(),
            "the promotion branch was pushed"
        );
    }
}

#[test]
fn a_worse_candidate_is_not_promoted_and_the_failing_rule_is_named() {
    let world = World::new();
    let outcome = world.promote("b2", &["accuracy >= prod", "latency_p95_ms <= 1.1 * prod"]);
    let outcome = outcome.failed(
        1,
        &[
            "jukebox b2 is not promoted to prod",
            "\"accuracy >= prod\": accuracy of b2 is 0.91, but needs >= 0.93 (accuracy of a1 is 0.93)",
        ],
    );
    assert!(
        !outcome
            .run
            .stderr
            .contains("\"latency_p95_ms <= 1.1 * prod\":"),
        "a rule that holds is not listed as failing:\n{}",
        outcome.run.stderr
    );
    assert_eq!(outcome.result("status"), "blocked");
    world.nothing_promoted();
}

#[test]
fn a_candidate_within_the_rules_is_promoted() {
    let world = World::new();
    world
        .promote(
            "b2",
            &[
                "accuracy >= prod - 0.05",
                "latency_p95_ms <= 1.1 * prod",
                "accuracy >= 0.9",
            ],
        )
        .ok();
    let open = world.gitea.open_pulls(REPO);
    assert_eq!(open.len(), 1, "{open:?}");
    assert!(open[0].body.contains("accuracy"), "{}", open[0].body);
}

#[test]
fn rules_that_cannot_be_judged_are_usage_errors() {
    let world = World::new();
    world.promote("b2", &["recall >= prod"]).failed(
        2,
        &[
            "no property or run metric \"recall\"",
            "accuracy, latency_p95_ms",
        ],
    );
    world.promote("b2", &["accuracy >= staging"]).failed(
        2,
        &["--require", "\"staging\" is neither a number nor \"prod\""],
    );
    world.nothing_promoted();
    assert_eq!(
        world.registry.count("PATCH"),
        0,
        "the registry is only read"
    );
}
