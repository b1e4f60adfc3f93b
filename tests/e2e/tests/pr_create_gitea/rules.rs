//! Promotion rules on the real Gitea: with --on-rule-failure draft, a candidate that fails a rule is
//! proposed as a draft (Gitea's `WIP:` title prefix, which its API shows as `draft`) with the rules
//! in the body and a failing commit status on the head, read back through Gitea's own status API;
//! when the candidate's values pass, the same pull request turns ready with a passing status. A
//! failing rule in block mode leaves branch, pull request and statuses as they are.

use serde_json::{Value, json};
use test_fakes::kubeflow::FakeKubeflow;

use super::{BRANCH, PullNumber, World};

const CONTEXT: &str = "modelcar-gitops/promotion-rules";

fn double(value: f64) -> Value {
    json!({"metadataType": "MetadataDoubleValue", "double_value": value})
}

impl World {
    /// Every status Gitea has for `sha`, newest first.
    fn statuses(&self, sha: &str) -> Vec<Value> {
        self.gitea
            .api("GET", &self.repo_path(&format!("/statuses/{sha}")), None)
            .expect_success("list the commit's statuses")
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// Gitea's combined status of `sha`: the latest status of each context.
    fn combined(&self, sha: &str) -> Value {
        self.gitea
            .api(
                "GET",
                &self.repo_path(&format!("/commits/{sha}/status")),
                None,
            )
            .expect_success("read the combined status")
    }
}

#[test]
fn a_failing_candidate_becomes_a_draft_with_a_failing_status() {
    let registry = FakeKubeflow::start();
    let model = registry.add_model("jukebox");
    let label = json!({"metadataType": "MetadataStringValue", "string_value": ""});
    registry.add_version(
        &model,
        "v1",
        json!({"prod": label, "accuracy": double(0.93)}),
    );
    registry.add_version(&model, "v2", json!({"accuracy": double(0.91)}));
    registry.add_version(&model, "v3", json!({"accuracy": double(0.5)}));
    let token_dir = tempfile::tempdir().unwrap();
    let token = token_dir.path().join("token");
    std::fs::write(&token, registry.token()).unwrap();

    let world = World::new("v1");
    let plain = format!("--plain-http={}", e2e::tool_run::host_of(&registry.url()));
    let args = |mode: &'static str| -> Vec<String> {
        [
            "--registry-url",
            &registry.url(),
            "--registry-token-file",
            token.to_str().unwrap(),
            &plain,
            "--require",
            "accuracy >= prod",
            "--on-rule-failure",
            mode,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    };
    let run = |version: &str, mode: &'static str| {
        let args = args(mode);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        world.run(version, &args)
    };

    let first = run("v2", "draft");
    first.assert_ok();
    assert_eq!(first.result("STATUS"), "created");
    assert_eq!(first.result("RULES"), "failed");
    let number = first.number();
    let pull = world.pull(number);
    assert_eq!(pull["draft"], true, "{pull}");
    assert_eq!(pull["title"], "WIP: Promote jukebox v2 to prod");
    let body = pull["body"].as_str().unwrap();
    for needle in [
        "**Draft: 1 of 1 rules fail.**",
        "| `accuracy >= prod` | **fails**: accuracy of v2 is 0.91, but needs >= 0.93 (accuracy of v1 is 0.93) |",
    ] {
        assert!(body.contains(needle), "{needle:?} missing from:\n{body}");
    }
    let head = world.branch_tip(BRANCH).expect("the promotion branch");
    world.wait_for_head(number, &head);
    let combined = world.combined(&head);
    assert_eq!(combined["state"], "failure", "{combined}");
    let status = &combined["statuses"][0];
    assert_eq!(
        (&status["status"], &status["context"]),
        (&json!("failure"), &json!(CONTEXT)),
        "{combined}"
    );
    assert!(
        status["description"]
            .as_str()
            .unwrap()
            .starts_with("1 of 1 rules fail: accuracy >= prod: accuracy of v2 is 0.91"),
        "{status}"
    );
    assert_eq!(status["target_url"], format!("{}/", registry.url()));

    // A re-run changes nothing, on the pull request or the commit.
    let again = run("v2", "draft");
    again.assert_ok();
    assert_eq!(again.result("STATUS"), "unchanged");
    assert_eq!(world.statuses(&head).len(), 1);

    // Block mode for a worse candidate: nothing pushed, opened or set.
    run("v3", "block").assert_fails(1, &["jukebox v3 is not promoted to prod"]);
    assert_eq!(world.branch_tip(BRANCH).as_deref(), Some(head.as_str()));
    assert_eq!(world.open_pulls().len(), 1);
    assert_eq!(world.statuses(&head).len(), 1);

    // The candidate is better after all: the pull request turns ready, the status passes.
    registry.set_property("jukebox", "v2", "accuracy", double(0.95));
    let ready = run("v2", "draft");
    ready.assert_ok();
    assert_eq!(ready.result("STATUS"), "updated");
    assert_eq!(ready.result("RULES"), "passed");
    let pull = world.pull(number);
    assert_eq!(pull["draft"], false, "{pull}");
    assert_eq!(pull["title"], "Promote jukebox v2 to prod");
    assert_eq!(world.branch_tip(BRANCH).as_deref(), Some(head.as_str()));
    let combined = world.combined(&head);
    assert_eq!(combined["state"], "success", "{combined}");
    assert_eq!(combined["statuses"][0]["status"], "success");
    assert_eq!(world.statuses(&head).len(), 2);
    let unchanged = run("v2", "draft");
    unchanged.assert_ok();
    assert_eq!(unchanged.result("STATUS"), "unchanged");
    assert_eq!(world.statuses(&head).len(), 2);
}
