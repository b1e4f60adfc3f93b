//! The Triggers' CEL filters and overlays, evaluated against push deliveries in the shape Gitea
//! sends them, through to the PipelineRun each trigger template would create.

use std::collections::BTreeMap;

use cel_interpreter::Program;
use e2e::manifests::Manifests;
use e2e::triggers::{self, Event};
use serde_json::Value;

fn manifests() -> Manifests {
    Manifests::load(&e2e::tekton_dir()).unwrap_or_else(|e| panic!("{e}"))
}

fn fixture(name: &str) -> Value {
    let path = e2e::fixtures_dir().join("gitea").join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn push(body_file: &str) -> Event {
    let headers: BTreeMap<String, String> =
        serde_json::from_value(fixture("headers-push.json")).unwrap();
    Event {
        headers,
        body: fixture(body_file),
    }
}

/// What the named Trigger makes of an event: `None` when filtered out, else the params its bindings
/// give and the resources its template creates.
fn fire(
    manifests: &Manifests,
    trigger: &str,
    event: &Event,
) -> Option<(BTreeMap<String, String>, Vec<Value>)> {
    let trigger = manifests
        .triggers
        .get(trigger)
        .unwrap_or_else(|| panic!("no Trigger {trigger} under tekton/"));
    let extensions = triggers::intercept(trigger, event).unwrap_or_else(|e| panic!("{e}"))?;
    let params =
        triggers::bind(manifests, trigger, event, &extensions).unwrap_or_else(|e| panic!("{e}"));
    let template = trigger
        .spec
        .template
        .reference
        .as_deref()
        .expect("template ref");
    let template = &manifests.trigger_templates[template];
    let resources = triggers::render(template, &params).unwrap_or_else(|e| panic!("{e}"));
    Some((params, resources))
}

/// A PipelineRun's params, by name.
fn run_params(run: &Value) -> BTreeMap<String, String> {
    run["spec"]["params"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap().to_string(),
                p["value"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

fn only_pipeline_run(resources: &[Value], pipeline: &str) -> Value {
    assert_eq!(resources.len(), 1, "one resource per event: {resources:?}");
    let run = resources[0].clone();
    assert_eq!(run["kind"], "PipelineRun");
    assert_eq!(run["spec"]["pipelineRef"]["name"], pipeline);
    run
}

const SOURCE: &str = "model-source-push";
const GITOPS: &str = "gitops-prod-push";

#[test]
fn a_push_to_the_source_main_branch_releases_the_pushed_commit() {
    let manifests = manifests();
    let event = push("push-source-main.json");
    let after = event.body["after"].as_str().unwrap().to_string();
    let (params, resources) =
        fire(&manifests, SOURCE, &event).expect("the push releases the model");
    assert_eq!(params["model-name"], "jukebox");
    assert_eq!(params["revision"], after);
    assert_eq!(
        params["source-repo-url"],
        "https://git.example.org/alice/jukebox.git"
    );
    assert_eq!(
        params["source-commit-url"],
        format!("https://git.example.org/alice/jukebox/commit/{after}")
    );

    let run = only_pipeline_run(&resources, "model-release");
    let run_params = run_params(&run);
    assert_eq!(run_params["MODEL_NAME"], "jukebox");
    assert_eq!(run_params["VERSION"], after, "the commit id is the version");
    assert_eq!(run_params["SOURCE_REVISION"], after);
    assert!(
        run_params["IMAGE"].ends_with("/jukebox"),
        "{}",
        run_params["IMAGE"]
    );
    let model = run["spec"]["workspaces"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["name"] == "model")
        .unwrap();
    assert_eq!(model["persistentVolumeClaim"]["claimName"], "jukebox-model");
    assert!(
        !serde_json::to_string(&run).unwrap().contains("$(tt."),
        "every template param is replaced"
    );
}

#[test]
fn other_branches_tags_and_deletions_release_nothing() {
    let manifests = manifests();
    assert!(fire(&manifests, SOURCE, &push("push-source-feature-branch.json")).is_none());
    assert!(fire(&manifests, SOURCE, &push("push-source-tag.json")).is_none());

    let mut deletion = push("push-source-main.json");
    deletion.body["after"] = Value::String("0".repeat(40));
    deletion.body["commits"] = Value::Array(vec![]);
    assert!(fire(&manifests, SOURCE, &deletion).is_none());

    // A repository whose default branch is not main releases from its own default branch.
    let mut master = push("push-source-main.json");
    assert!(fire(&manifests, SOURCE, &master).is_some());
    master.body["repository"]["default_branch"] = Value::String("master".into());
    assert!(fire(&manifests, SOURCE, &master).is_none());
    master.body["ref"] = Value::String("refs/heads/master".into());
    assert!(fire(&manifests, SOURCE, &master).is_some());
}

#[test]
fn only_push_events_get_through() {
    let manifests = manifests();
    for trigger in [SOURCE, GITOPS] {
        let mut event = push(if trigger == SOURCE {
            "push-source-main.json"
        } else {
            "push-gitops-squash-merge.json"
        });
        assert!(fire(&manifests, trigger, &event).is_some(), "{trigger}");
        event
            .headers
            .insert("X-GitHub-Event".into(), "pull_request".into());
        assert!(
            fire(&manifests, trigger, &event).is_none(),
            "{trigger} ignores pull_request events"
        );
    }
}

fn assert_post_deploy(event: &Event) {
    let manifests = manifests();
    let (params, resources) = fire(&manifests, GITOPS, event).expect("the merge runs post-deploy");
    let before = event.body["before"].as_str().unwrap();
    let after = event.body["after"].as_str().unwrap();
    assert_eq!(
        params,
        BTreeMap::from([
            ("after".to_string(), after.to_string()),
            ("before".to_string(), before.to_string())
        ]),
        "post-deploy gets the push's before and after only"
    );
    let run = only_pipeline_run(&resources, "post-deploy");
    let run_params = run_params(&run);
    assert_eq!(run_params["BEFORE"], before);
    assert_eq!(run_params["AFTER"], after);
    assert_eq!(run_params["ENVIRONMENT"], "prod");
}

#[test]
fn merging_the_promotion_with_a_merge_commit_runs_post_deploy() {
    let event = push("push-gitops-merge-commit.json");
    assert_eq!(
        event.body["commits"].as_array().unwrap().len(),
        2,
        "merge commit and the branch's commit"
    );
    assert_post_deploy(&event);
}

#[test]
fn merging_the_promotion_squashed_runs_post_deploy() {
    let event = push("push-gitops-squash-merge.json");
    assert_eq!(event.body["commits"].as_array().unwrap().len(), 1);
    assert_post_deploy(&event);
}

#[test]
fn pushing_the_promotion_branch_or_a_test_deployment_runs_nothing() {
    let manifests = manifests();
    assert!(fire(&manifests, GITOPS, &push("push-gitops-pr-branch.json")).is_none());
    assert!(fire(&manifests, GITOPS, &push("push-gitops-test-only.json")).is_none());
}

#[test]
fn adding_or_removing_a_prod_config_runs_post_deploy_but_lookalike_paths_do_not() {
    let manifests = manifests();
    let with_change = |field: &str, path: &str| {
        let mut event = push("push-gitops-squash-merge.json");
        let commit = &mut event.body["commits"][0];
        for list in ["added", "removed", "modified"] {
            commit[list] = Value::Array(vec![]);
        }
        commit[field] = Value::Array(vec![Value::String(path.into())]);
        event
    };
    for field in ["added", "removed", "modified"] {
        let event = with_change(field, "model-deployments/prod/fraud-detection/config.yaml");
        assert!(
            fire(&manifests, GITOPS, &event).is_some(),
            "a prod config {field}"
        );
    }
    for path in [
        "model-deployments/production.md",
        "docs/model-deployments/prod/notes.md",
        "model-deployments/test/jukebox/config.yaml",
    ] {
        assert!(
            fire(&manifests, GITOPS, &with_change("modified", path)).is_none(),
            "{path}"
        );
    }
}

#[test]
fn each_listener_hears_its_own_repository_kind() {
    let manifests = manifests();
    let triggers_of = |listener: &str| -> Vec<String> {
        manifests.event_listeners[listener]
            .spec
            .triggers
            .iter()
            .filter_map(|t| t.trigger_ref.clone())
            .collect()
    };
    assert_eq!(triggers_of("model-source"), [SOURCE]);
    assert_eq!(triggers_of("gitops"), [GITOPS]);
    // A source push never looks like a prod deployment.
    assert!(fire(&manifests, GITOPS, &push("push-source-main.json")).is_none());
}

/// The expressions stay within what both cel-go (as Tekton runs it) and this interpreter implement:
/// standard operators and macros, and the string functions startsWith/endsWith/contains.
#[test]
fn the_cel_expressions_use_only_portable_functions() {
    let manifests = manifests();
    let portable = [
        "exists",
        "all",
        "exists_one",
        "filter",
        "map",
        "startsWith",
        "endsWith",
        "contains",
        "size",
        "has",
        "_&&_",
        "_||_",
        "_==_",
        "_!=_",
        "_+_",
        "!_",
        "_?_:_",
        "@in",
        "_<_",
        "_>_",
        "_<=_",
        "_>=_",
        // How the parser expands the exists/all macros.
        "@not_strictly_false",
    ];
    let mut checked = 0;
    for (name, trigger) in &manifests.triggers {
        for interceptor in trigger.spec.interceptors_named("cel") {
            let expressions = triggers::cel_filter(interceptor)
                .map(str::to_string)
                .into_iter()
                .chain(
                    triggers::cel_overlays(interceptor)
                        .into_iter()
                        .map(|(_, e)| e),
                );
            for expression in expressions {
                let program =
                    Program::compile(&expression).unwrap_or_else(|e| panic!("Trigger {name}: {e}"));
                for function in program.references().functions() {
                    assert!(
                        portable.contains(&function),
                        "Trigger {name} uses {function}: {expression}"
                    );
                }
                checked += 1;
            }
        }
    }
    assert!(
        checked >= 3,
        "expected the filters and overlays of both triggers, found {checked}"
    );
}
