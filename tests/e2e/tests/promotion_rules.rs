//! Only better models are promoted: pr-create's --require rules over the Model Registry's properties,
//! the candidate against the version now in prod. A failing rule opens nothing and pushes nothing,
//! and says which rule failed with both values; with --on-rule-failure draft it opens the pull
//! request as a draft listing the rules instead, with a failing commit status on its head, which
//! turns ready with a passing status once the rules hold. On the fake Gitea, GitHub and GitLab.

use e2e::tool_run::*;
use serde_json::json;
use test_fakes::forge_support::{DEFAULT_TOKEN, FakeForge, FakePull, FakeStatus};
use test_fakes::gitea::FakeGitea;
use test_fakes::github::FakeGitHub;
use test_fakes::gitlab::FakeGitLab;
use test_fakes::kubeflow::FakeKubeflow;
use test_services::GitServer;

const REPO: &str = "team/gitops";
const PROD: &str = "model-deployments/prod/jukebox/config.yaml";

const CONTEXT: &str = "modelcar-gitops/promotion-rules";

#[derive(Clone, Copy, Debug, PartialEq)]
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

impl std::ops::Deref for Fake {
    type Target = FakeForge;
    fn deref(&self) -> &FakeForge {
        match self {
            Fake::Gitea(f) => f,
            Fake::GitHub(f) => f,
            Fake::GitLab(f) => f,
        }
    }
}

struct World {
    kind: Kind,
    git: GitServer,
    gitea: Fake,
    registry: FakeKubeflow,
    _token_dir: tempfile::TempDir,
    token: std::path::PathBuf,
}

fn double(value: f64) -> serde_json::Value {
    json!({"metadataType": "MetadataDoubleValue", "double_value": value})
}

impl World {
    fn new() -> World {
        World::on(Kind::Gitea)
    }

    fn on(kind: Kind) -> World {
        let git = GitServer::start(GIT_USER, GIT_PASSWORD);
        git.create_repo(REPO);
        git.seed(REPO, &[(PROD, b"name: jukebox\nversion: a1\n")], "Seed");
        let gitea = match kind {
            Kind::Gitea => Fake::Gitea(FakeGitea::start()),
            Kind::GitHub => Fake::GitHub(FakeGitHub::start()),
            Kind::GitLab => Fake::GitLab(FakeGitLab::start()),
        };
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
            kind,
            git,
            gitea,
            registry,
            _token_dir: token_dir,
            token,
        }
    }

    fn promote(&self, version: &str, rules: &[&str]) -> Outcome {
        self.promote_with(version, rules, &[])
    }

    fn promote_with(&self, version: &str, rules: &[&str], more: &[&str]) -> Outcome {
        let forge = match self.kind {
            Kind::Gitea => "gitea",
            Kind::GitHub => "github",
            Kind::GitLab => "gitlab",
        };
        let mut args = vec![
            "--forge".to_owned(),
            forge.into(),
            "--forge-api-url".into(),
            self.gitea.url(),
            "--forge-repo".into(),
            REPO.into(),
            "--repo-url".into(),
            self.git.repo_url(REPO),
            "--model".into(),
            "jukebox".into(),
            "--model-version".into(),
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
        args.extend(more.iter().map(|a| a.to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run(
            "pr-create",
            &args,
            &[
                ("MODELCAR_FORGE_TOKEN", DEFAULT_TOKEN),
                ("MODELCAR_GIT_TOKEN", GIT_PASSWORD),
            ],
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
        assert!(
            self.gitea.statuses(REPO).is_empty(),
            "a commit status was set"
        );
    }

    /// The one open promotion pull request.
    fn open_pull(&self) -> FakePull {
        let open = self.gitea.open_pulls(REPO);
        assert_eq!(open.len(), 1, "{open:?}");
        open.into_iter().next().unwrap()
    }

    /// The statuses set on the promotion branch's head commit, oldest first.
    fn head_statuses(&self) -> Vec<FakeStatus> {
        let head = self
            .git
            .head(REPO, "promote/prod/jukebox")
            .expect("the promotion branch");
        self.gitea
            .statuses(REPO)
            .into_iter()
            .filter(|s| s.sha == head)
            .collect()
    }

    /// The forge's own word for a failing status.
    fn failure(&self) -> &'static str {
        if self.kind == Kind::GitLab {
            "failed"
        } else {
            "failure"
        }
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
    assert_eq!(outcome.result("STATUS"), "blocked");
    assert_eq!(outcome.result("RULES"), "failed");
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
    assert!(!open[0].draft);
    assert!(
        open[0]
            .body
            .contains("| `accuracy >= prod - 0.05` | holds: "),
        "{}",
        open[0].body
    );
    let statuses = world.head_statuses();
    assert_eq!(statuses.len(), 1, "{statuses:?}");
    assert_eq!(
        (statuses[0].state.as_str(), statuses[0].context.as_str()),
        ("success", CONTEXT)
    );
    assert_eq!(
        statuses[0].description,
        "jukebox b2: 3 promotion rules hold"
    );
}

/// --on-rule-failure draft: the pull request is opened as a draft with the rules in its body and
/// a failing status on its head; once the candidate's values pass, the same pull request turns
/// ready with a passing status on the same commit; a further run changes nothing.
fn a_failing_candidate_is_proposed_as_a_draft(kind: Kind) {
    let world = World::on(kind);
    let rules = ["accuracy >= prod", "latency_p95_ms <= 1.1 * prod"];
    let draft = ["--on-rule-failure", "draft"];
    let outcome = world.promote_with("b2", &rules, &draft);
    let outcome = outcome.ok();
    assert_eq!(outcome.result("STATUS"), "created");
    assert_eq!(outcome.result("RULES"), "failed");
    let pull = world.open_pull();
    assert!(pull.draft, "{pull:?}");
    let title = match kind {
        Kind::Gitea => "WIP: Promote jukebox b2 to prod",
        Kind::GitLab => "Draft: Promote jukebox b2 to prod",
        Kind::GitHub => "Promote jukebox b2 to prod",
    };
    assert_eq!(pull.title, title);
    for needle in [
        "### Promotion rules",
        "**Draft: 1 of 2 rules fail.**",
        "| `accuracy >= prod` | **fails**: accuracy of b2 is 0.91, but needs >= 0.93 (accuracy of a1 is 0.93) |",
        "| `latency_p95_ms <= 1.1 * prod` | holds: ",
    ] {
        assert!(
            pull.body.contains(needle),
            "{needle:?} missing from:\n{}",
            pull.body
        );
    }
    let statuses = world.head_statuses();
    assert_eq!(statuses.len(), 1, "{statuses:?}");
    assert_eq!(
        (statuses[0].state.as_str(), statuses[0].context.as_str()),
        (world.failure(), CONTEXT)
    );
    assert!(
        statuses[0]
            .description
            .starts_with("1 of 2 rules fail: accuracy >= prod: accuracy of b2 is 0.91"),
        "{}",
        statuses[0].description
    );
    assert!(statuses[0].description.chars().count() <= 140);
    assert_eq!(statuses[0].target_url, format!("{}/", world.registry.url()));

    // The same run again changes nothing.
    let again = world.promote_with("b2", &rules, &draft);
    let again = again.ok();
    assert_eq!(again.result("STATUS"), "unchanged");
    assert_eq!(world.head_statuses().len(), 1);

    // The candidate is re-evaluated, better: ready for review, passing status, same commit.
    let head = world.git.head(REPO, "promote/prod/jukebox").unwrap();
    world
        .registry
        .set_property("jukebox", "b2", "accuracy", double(0.95));
    let ready = world.promote_with("b2", &rules, &draft);
    let ready = ready.ok();
    assert_eq!(ready.result("STATUS"), "updated");
    assert_eq!(ready.result("RULES"), "passed");
    let pull = world.open_pull();
    assert!(!pull.draft, "{pull:?}");
    assert_eq!(pull.title, "Promote jukebox b2 to prod");
    assert!(!pull.body.contains("**Draft"), "{}", pull.body);
    assert_eq!(world.git.head(REPO, "promote/prod/jukebox").unwrap(), head);
    let statuses = world.head_statuses();
    assert_eq!(statuses.len(), 2, "{statuses:?}");
    assert_eq!(statuses[1].state, "success");
    let unchanged = world.promote_with("b2", &rules, &draft);
    let unchanged = unchanged.ok();
    assert_eq!(unchanged.result("STATUS"), "unchanged");
    assert_eq!(world.head_statuses().len(), 2);
}

mod gitea {
    #[test]
    fn a_failing_candidate_is_proposed_as_a_draft() {
        super::a_failing_candidate_is_proposed_as_a_draft(super::Kind::Gitea);
    }
}

mod github {
    #[test]
    fn a_failing_candidate_is_proposed_as_a_draft() {
        super::a_failing_candidate_is_proposed_as_a_draft(super::Kind::GitHub);
    }
}

mod gitlab {
    #[test]
    fn a_failing_candidate_is_proposed_as_a_draft() {
        super::a_failing_candidate_is_proposed_as_a_draft(super::Kind::GitLab);
    }
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
