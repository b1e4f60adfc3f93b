//! The local Tekton stand-ins checked against Tekton's own Go code (tests/tekton-harness, built by
//! `scripts/go-servers build tekton-harness`):
//!
//! - every object under tekton/ (and examples/) is admitted by the Pipelines and Triggers webhooks'
//!   SetDefaults and Validate;
//! - every step command line, image and env the local runner (e2e::run, e2e::refs,
//!   e2e::local_run) builds equals the one Tekton's substitution builds: each Task alone and each
//!   Pipeline's tasks with the results of the tasks before them, params at their defaults and all
//!   given, optional workspaces bound and unbound;
//! - the Gitea push deliveries of tekton_cel.rs fire the same Triggers, with the same params and
//!   PipelineRuns, through Triggers' `github` and `cel` interceptors, bindings and templates as
//!   through the local CEL implementation (e2e::triggers); and only signed ones get through.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use e2e::local_run::step_env;
use e2e::manifests::{Manifests, ParamValue, TaskSpec};
use e2e::refs::RunIdentity;
use e2e::run::{PipelineContext, command_line, step_context, task_order};
use e2e::tekton_harness::{Harness, ResolvedStep, hub_signature_256, webhook_secrets};
use e2e::triggers::{self, Event};
use serde_json::{Value, json};

fn manifests() -> Manifests {
    Manifests::load(&e2e::tekton_dir()).unwrap_or_else(|e| panic!("{e}"))
}

fn tekton_files() -> Vec<String> {
    vec![e2e::tekton_dir().display().to_string()]
}

const RESULTS_DIR: &str = "/tekton/results";

#[test]
fn every_object_is_admitted_by_tektons_webhooks() {
    let harness = Harness::get();
    let examples = e2e::repo_root().join("examples");
    let report = harness
        .validate(&[&e2e::tekton_dir(), &examples])
        .unwrap_or_else(|e| panic!("{e}"));
    let manifests = manifests();
    let mut expected: BTreeSet<(String, String)> = BTreeSet::new();
    let mut add = |kind: &str, name: &str| expected.insert((kind.to_string(), name.to_string()));
    for name in manifests.tasks.keys() {
        add("tekton.dev/v1/Task", name);
    }
    for name in manifests.pipelines.keys() {
        add("tekton.dev/v1/Pipeline", name);
    }
    for run in &manifests.pipeline_runs {
        add("tekton.dev/v1/PipelineRun", run.name());
    }
    for (_, raw) in manifests
        .others
        .iter()
        .filter(|(_, raw)| raw["kind"] == "TaskRun")
    {
        add(
            "tekton.dev/v1/TaskRun",
            raw.pointer("/metadata/generateName")
                .and_then(serde_json::Value::as_str)
                .unwrap_or_default(),
        );
    }
    for name in manifests.triggers.keys() {
        add("triggers.tekton.dev/v1beta1/Trigger", name);
    }
    for name in manifests.trigger_bindings.keys() {
        add("triggers.tekton.dev/v1beta1/TriggerBinding", name);
    }
    for name in manifests.trigger_templates.keys() {
        add("triggers.tekton.dev/v1beta1/TriggerTemplate", name);
    }
    for name in manifests.event_listeners.keys() {
        add("triggers.tekton.dev/v1beta1/EventListener", name);
    }
    let checked: BTreeSet<(String, String)> = report
        .objects
        .iter()
        .filter(|o| o.checked)
        .map(|o| (o.kind.clone(), o.name.clone()))
        .collect();
    assert_eq!(checked, expected, "the objects Tekton's webhooks admit");
    let warned: Vec<String> = report
        .objects
        .iter()
        .filter(|o| !o.warnings.is_empty())
        .map(|o| format!("{} {}: {}", o.kind, o.name, o.warnings.join("; ")))
        .collect();
    assert!(warned.is_empty(), "warnings:\n{}", warned.join("\n"));
    // The webhooks' configuration is upstream's default: beta API fields.
    assert_eq!(
        report.pipeline_config["FeatureFlags"]["enableAPIFields"],
        "beta"
    );
}

#[test]
fn the_webhooks_refuse_what_tekton_refuses() {
    let harness = Harness::get();
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    };
    let unknown_field = write(
        "unknown-field.yaml",
        "apiVersion: tekton.dev/v1\nkind: Task\nmetadata: {name: t}\nspec:\n  steps:\n    \
         - {name: s, image: busybox, command: [echo], argz: [x]}\n",
    );
    let undeclared = write(
        "undeclared.yaml",
        "apiVersion: tekton.dev/v1\nkind: Task\nmetadata: {name: t}\nspec:\n  steps:\n    \
         - {name: s, image: busybox, command: [echo], args: [\"$(params.NOPE)\"]}\n",
    );
    for (path, expected) in [
        (&unknown_field, "unknown field"),
        (&undeclared, "non-existent variable"),
    ] {
        let error = harness.validate(&[path]).unwrap_err();
        assert!(error.contains(expected), "{}: {error}", path.display());
        assert!(error.contains("1 object(s) refused"), "{error}");
    }
}

/// The env of a step as (name, value); a value from a Secret as `<secret NAME/KEY>`.
fn tekton_env(step: &ResolvedStep) -> Vec<(String, String)> {
    step.env
        .iter()
        .map(|var| {
            let value = match (&var.value, &var.value_from) {
                (Some(value), _) => value.clone(),
                (None, Some(from)) => {
                    let secret = from.secret_key_ref.as_ref().expect("a secretKeyRef");
                    format!("<secret {}/{}>", secret.name, secret.key)
                }
                (None, None) => String::new(),
            };
            (var.name.clone(), value)
        })
        .collect()
}

/// A step as built by the local runner, shaped like Tekton's for comparison.
#[derive(Debug, PartialEq)]
struct Built {
    name: String,
    image: String,
    command_line: Vec<String>,
    env: Vec<(String, String)>,
}

fn tekton_built(steps: &[ResolvedStep]) -> Vec<Built> {
    steps
        .iter()
        .map(|s| Built {
            name: s.name.clone(),
            image: s.image.clone(),
            command_line: s.command_line(),
            env: tekton_env(s),
        })
        .collect()
}

/// The identity the harness gives a run it makes up: `NAME-run` in namespace `default`, no uid.
fn harness_run(name: &str) -> RunIdentity {
    RunIdentity {
        name: format!("{name}-run"),
        namespace: "default".into(),
        uid: String::new(),
    }
}

/// The local runner's steps for the Task `task_name` run as `run` with these params and
/// workspaces, each built or refused; the Secrets hold `<secret NAME/KEY>` under every name and key
/// Tekton's env refers to.
fn local_built(
    (task_name, run): (&str, &RunIdentity),
    task: &TaskSpec,
    params: &BTreeMap<String, ParamValue>,
    workspaces: BTreeMap<String, PathBuf>,
    tekton: &[ResolvedStep],
) -> Result<Vec<Result<Built, String>>, String> {
    let mut secrets: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for var in tekton.iter().flat_map(|s| &s.env) {
        if let Some(secret) = var
            .value_from
            .as_ref()
            .and_then(|f| f.secret_key_ref.as_ref())
        {
            secrets.entry(secret.name.clone()).or_default().insert(
                secret.key.clone(),
                format!("<secret {}/{}>", secret.name, secret.key),
            );
        }
    }
    let context = step_context(task, params, workspaces, &PathBuf::from(RESULTS_DIR))?
        .with_run(task_name, run);
    Ok(task
        .steps
        .iter()
        .map(|step| {
            Ok(Built {
                name: step.name.clone(),
                image: context
                    .substitute(step.image.as_deref().unwrap_or(""))
                    .map_err(|e| e.to_string())?,
                command_line: command_line(step, &context).map_err(|e| e.to_string())?,
                env: step_env(step, &context, &secrets)?,
            })
        })
        .collect())
}

/// Where Tekton and the local runner differ, step by step; the steps named in `refused` must be
/// refused by the local runner, every other one built as Tekton builds it.
fn differences(
    at: &str,
    tekton: &[Built],
    local: Result<Vec<Result<Built, String>>, String>,
    refused: &[&str],
) -> Vec<String> {
    let local = match local {
        Ok(local) => local,
        Err(e) => return vec![format!("{at}: the local runner refuses the task: {e}")],
    };
    if tekton.len() != local.len() {
        return vec![format!(
            "{at}: Tekton has {} steps, the local runner {}",
            tekton.len(),
            local.len()
        )];
    }
    let mut differ = Vec::new();
    for (theirs, ours) in tekton.iter().zip(local) {
        let expect_refusal = refused.contains(&theirs.name.as_str());
        match ours {
            Ok(ours) if expect_refusal => differ.push(format!(
                "{at}, step {}: the local runner builds {ours:?} where it should refuse",
                theirs.name
            )),
            Ok(ours) if &ours != theirs => differ.push(format!(
                "{at}, step {}:\n  Tekton: {theirs:?}\n  local:  {ours:?}",
                theirs.name
            )),
            Err(e) if !expect_refusal => differ.push(format!(
                "{at}, step {}: the local runner refuses it ({e}); Tekton builds {theirs:?}",
                theirs.name
            )),
            _ => {}
        }
    }
    differ
}

/// Required params only, or every param given (strings with spaces and quotes; arrays of two).
fn sample_params(specs: &[e2e::manifests::ParamSpec], all: bool) -> BTreeMap<String, ParamValue> {
    specs
        .iter()
        .filter(|p| all || p.is_required())
        .map(|p| {
            let value = match p.type_name() {
                "array" => ParamValue::Array(vec!["--extra=1".into(), "two words".into()]),
                _ => ParamValue::String(format!("{} 'sample' value", p.name)),
            };
            (p.name.clone(), value)
        })
        .collect()
}

/// The workspaces bound in a case: the required ones, or all; each at /workspace/NAME.
fn sample_workspaces<'a>(
    declared: impl Iterator<Item = (&'a String, bool)>,
    all: bool,
) -> BTreeMap<String, PathBuf> {
    declared
        .filter(|(_, optional)| all || !optional)
        .map(|(name, _)| (name.clone(), PathBuf::from(format!("/workspace/{name}"))))
        .collect()
}

const CASES: [(bool, bool, &str); 4] = [
    (false, false, "required params, required workspaces"),
    (false, true, "required params, every workspace"),
    (true, false, "every param, required workspaces"),
    (true, true, "every param, every workspace"),
];

#[test]
fn every_task_step_resolves_as_tekton_resolves_it() {
    let harness = Harness::get();
    let manifests = manifests();
    let mut differ = Vec::new();
    let mut compared = 0;
    for (name, task) in &manifests.tasks {
        let spec = &task.spec;
        for (all_params, all_workspaces, case) in CASES {
            let at = format!("Task {name} ({case})");
            let params = sample_params(&spec.params, all_params);
            let workspaces = sample_workspaces(
                spec.workspaces.iter().map(|w| (&w.name, w.optional)),
                all_workspaces,
            );
            let resolved = harness
                .resolve(&json!({
                    "files": tekton_files(),
                    "task": name,
                    "params": params_json(&params),
                    "workspaces": workspaces,
                }))
                .unwrap_or_else(|e| panic!("{at}: {e}"));
            assert_eq!(resolved.len(), 1, "{at}");
            let tekton = tekton_built(&resolved[0].steps);
            let local = local_built(
                (name, &harness_run(name)),
                spec,
                &params,
                workspaces,
                &resolved[0].steps,
            );
            differ.extend(differences(&at, &tekton, local, &[]));
            compared += tekton.len();
        }
    }
    assert!(compared >= 20, "only {compared} steps compared");
    assert!(
        differ.is_empty(),
        "the local runner and Tekton disagree:\n{}",
        differ.join("\n")
    );
}

/// Tekton's own path for a workspace bound without one given: `/workspace/<Task's name for it>`.
#[test]
fn an_unnamed_workspace_path_is_tektons_default() {
    let harness = Harness::get();
    let resolved = harness
        .resolve(&json!({
            "files": tekton_files(),
            "task": "modelcar-build",
            "params": {"IMAGE": "registry/team/m", "TAG": "v1"},
            "workspaces": {"source": "", "dockerconfig": "/mnt/docker"},
        }))
        .unwrap_or_else(|e| panic!("{e}"));
    let line = resolved[0].steps[0].command_line();
    for expected in [
        "--model-dir=/workspace/source/.",
        "--docker-config=/mnt/docker",
        "--ca-cert=",
        "--results-dir=/tekton/results",
    ] {
        assert!(line.iter().any(|a| a == expected), "{expected}: {line:?}");
    }
    // A required param not given is refused, as the TaskRun reconciler refuses it.
    let error = harness
        .resolve(&json!({"files": tekton_files(), "task": "modelcar-build", "params": {}}))
        .unwrap_err();
    assert!(error.contains("missing values"), "{error}");
}

fn params_json(params: &BTreeMap<String, ParamValue>) -> Value {
    params
        .iter()
        .map(|(k, v)| {
            let value = match v {
                ParamValue::String(s) => json!(s),
                ParamValue::Array(items) => json!(items),
                ParamValue::Object(map) => json!(map),
            };
            (k.clone(), value)
        })
        .collect::<serde_json::Map<_, _>>()
        .into()
}

#[test]
fn every_pipeline_task_resolves_as_tekton_resolves_it() {
    let harness = Harness::get();
    let manifests = manifests();
    let mut differ = Vec::new();
    let mut compared = 0;
    for (name, pipeline) in &manifests.pipelines {
        let spec = &pipeline.spec;
        // What each task's results are, for the tasks after it.
        let mut results: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        for task in &spec.tasks {
            let task_spec = &manifests.tasks[task.task_name().unwrap()].spec;
            for result in &task_spec.results {
                results.entry(task.name.clone()).or_default().insert(
                    result.name.clone(),
                    format!("{} {} result", task.name, result.name),
                );
            }
        }
        for (all_params, all_workspaces, case) in CASES {
            let at = format!("Pipeline {name} ({case})");
            let params = sample_params(&spec.params, all_params);
            let bound = sample_workspaces(
                spec.workspaces.iter().map(|w| (&w.name, w.optional)),
                all_workspaces,
            );
            let resolved = harness
                .resolve(&json!({
                    "files": tekton_files(),
                    "pipeline": name,
                    "params": params_json(&params),
                    "workspaces": bound,
                    "results": results,
                }))
                .unwrap_or_else(|e| panic!("{at}: {e}"));
            let tekton: BTreeMap<&str, _> = resolved
                .iter()
                .map(|t| (t.pipeline_task.as_str(), t))
                .collect();
            let mut context = PipelineContext::new(spec, &params)
                .unwrap_or_else(|e| panic!("{at}: {e}"))
                .with_run(name, &harness_run(name));
            for task in task_order(spec).unwrap_or_else(|e| panic!("{at}: {e}")) {
                let at = format!("{at}, task {}", task.name);
                let Some(theirs) = tekton.get(task.name.as_str()) else {
                    differ.push(format!("{at}: Tekton resolved no such task"));
                    continue;
                };
                let task_spec = &manifests.tasks[task.task_name().unwrap()].spec;
                let ours = context
                    .task_params(task)
                    .unwrap_or_else(|e| panic!("{at}: {e}"));
                let their_params: BTreeMap<String, ParamValue> = theirs
                    .params
                    .iter()
                    .map(|p| (p.name.clone(), p.value.clone()))
                    .collect();
                if their_params != ours {
                    differ.push(format!(
                        "{at}: params\n  Tekton: {their_params:?}\n  local:  {ours:?}"
                    ));
                }
                let workspaces = task
                    .workspaces
                    .iter()
                    .filter_map(|b| {
                        let source = b.workspace.as_deref().unwrap_or(&b.name);
                        let path = bound.get(source)?;
                        Some((
                            b.name.clone(),
                            match &b.sub_path {
                                Some(sub) => path.join(sub),
                                None => path.clone(),
                            },
                        ))
                    })
                    .collect();
                let tekton_steps = tekton_built(&theirs.steps);
                let local = local_built(
                    (task.task_name().unwrap(), &context.task_run(task)),
                    task_spec,
                    &ours,
                    workspaces,
                    &theirs.steps,
                );
                differ.extend(differences(&at, &tekton_steps, local, &[]));
                compared += tekton_steps.len();
                for (result, value) in results.get(&task.name).into_iter().flatten() {
                    context
                        .results
                        .insert((task.name.clone(), result.clone()), value.clone());
                }
            }
            assert_eq!(
                tekton.len(),
                spec.tasks.len(),
                "{at}: Tekton resolved {:?}",
                tekton.keys()
            );
        }
    }
    assert!(compared >= 20, "only {compared} steps compared");
    assert!(
        differ.is_empty(),
        "the local runner and Tekton disagree:\n{}",
        differ.join("\n")
    );
}

/// The `$(...)` forms of tests/e2e/fixtures/tekton-forms: what the YAML under tekton/ does not use
/// yet must still come out as Tekton has it, or be refused by the local runner, never differ.
#[test]
fn every_substitution_form_comes_out_as_tektons_or_is_refused() {
    let harness = Harness::get();
    let dir = e2e::fixtures_dir().join("tekton-forms");
    harness.validate(&[&dir]).unwrap_or_else(|e| panic!("{e}"));
    let manifests = Manifests::load(&dir).unwrap_or_else(|e| panic!("{e}"));
    let files = [dir.display().to_string()];
    let refused = ["brackets", "claim"];
    let task = &manifests.tasks["forms"].spec;
    let mut differ = Vec::new();

    let string = |s: &str| ParamValue::String(s.into());
    for (case, params) in [
        ("defaults", BTreeMap::new()),
        (
            "given",
            BTreeMap::from([
                ("S".to_string(), string("given s")),
                ("E".to_string(), string("e")),
                ("D".to_string(), string("given d")),
                (
                    "A".to_string(),
                    ParamValue::Array(vec!["x".into(), "y z".into(), "".into()]),
                ),
            ]),
        ),
    ] {
        for workspaces in [
            BTreeMap::from([("w".to_string(), PathBuf::from("/ws/w"))]),
            BTreeMap::from([
                ("w".to_string(), PathBuf::from("/ws/w")),
                ("opt".to_string(), PathBuf::from("/ws/opt")),
            ]),
        ] {
            let at = format!("Task forms ({case}, {:?})", workspaces.keys());
            let resolved = harness
                .resolve(&json!({
                    "files": files,
                    "task": "forms",
                    "params": params_json(&params),
                    "workspaces": workspaces,
                }))
                .unwrap_or_else(|e| panic!("{at}: {e}"));
            let tekton = tekton_built(&resolved[0].steps);
            let local = local_built(
                ("forms", &harness_run("forms")),
                task,
                &params,
                workspaces,
                &resolved[0].steps,
            );
            differ.extend(differences(&at, &tekton, local, &refused));
        }
    }

    let pipeline = &manifests.pipelines["forms"].spec;
    let results = json!({"first": {"R": "first's R"}});
    let bound = BTreeMap::from([("shared".to_string(), PathBuf::from("/ws/shared"))]);
    for given in [
        BTreeMap::from([("P".to_string(), string("p"))]),
        BTreeMap::from([
            ("P".to_string(), string("p")),
            ("Q".to_string(), string("given q")),
        ]),
    ] {
        let at = format!("Pipeline forms ({:?})", given.keys());
        let resolved = harness
            .resolve(&json!({
                "files": files,
                "pipeline": "forms",
                "params": params_json(&given),
                "workspaces": bound,
                "results": results,
            }))
            .unwrap_or_else(|e| panic!("{at}: {e}"));
        let mut context = PipelineContext::new(pipeline, &given)
            .unwrap_or_else(|e| panic!("{e}"))
            .with_run("forms", &harness_run("forms"));
        context
            .results
            .insert(("first".into(), "R".into()), "first's R".into());
        for theirs in &resolved {
            let at = format!("{at}, task {}", theirs.pipeline_task);
            let task = pipeline.task(&theirs.pipeline_task).unwrap();
            let ours = match context.task_params(task) {
                Ok(ours) => ours,
                Err(e) => {
                    differ.push(format!("{at}: the local runner refuses its params: {e}"));
                    continue;
                }
            };
            let their_params: BTreeMap<String, ParamValue> = theirs
                .params
                .iter()
                .map(|p| (p.name.clone(), p.value.clone()))
                .collect();
            if their_params != ours {
                differ.push(format!(
                    "{at}: params\n  Tekton: {their_params:?}\n  local:  {ours:?}"
                ));
            }
            let workspaces = task
                .workspaces
                .iter()
                .map(|b| {
                    let path = &bound[b.workspace.as_deref().unwrap_or(&b.name)];
                    let path = b.sub_path.as_ref().map_or(path.clone(), |s| path.join(s));
                    (b.name.clone(), path)
                })
                .collect();
            let tekton = tekton_built(&theirs.steps);
            let local = local_built(
                ("forms", &context.task_run(task)),
                &manifests.tasks["forms"].spec,
                &ours,
                workspaces,
                &theirs.steps,
            );
            differ.extend(differences(&at, &tekton, local, &refused));
        }
        assert_eq!(resolved.len(), 3, "{at}");
    }
    assert!(
        differ.is_empty(),
        "the local runner and Tekton disagree:\n{}",
        differ.join("\n")
    );
}

// --- Triggers ------------------------------------------------------------------------------------

const WEBHOOK_SECRET: &str = "webhook-S3cret-for-the-listener";

fn fixture_text(name: &str) -> String {
    let path = e2e::fixtures_dir().join("gitea").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

fn push(body_file: &str) -> Event {
    Event {
        headers: serde_json::from_str(&fixture_text("headers-push.json")).unwrap(),
        body: serde_json::from_str(&fixture_text(body_file)).unwrap(),
    }
}

/// The delivery of `event` to an EventListener, the body as `raw` and signed with `key`.
fn deliver(
    harness: &Harness,
    manifests: &Manifests,
    listener: &str,
    event: &Event,
    raw: &str,
    key: Option<&str>,
) -> Vec<e2e::tekton_harness::Fired> {
    let mut headers = event.headers.clone();
    headers.remove("X-Hub-Signature-256");
    if let Some(key) = key {
        headers.insert(
            "X-Hub-Signature-256".into(),
            hub_signature_256(key, raw.as_bytes()),
        );
    }
    harness
        .trigger(&json!({
            "files": tekton_files(),
            "eventListener": listener,
            "headers": headers,
            "body": raw,
            "secrets": webhook_secrets(manifests, WEBHOOK_SECRET),
        }))
        .unwrap_or_else(|e| panic!("{listener}: {e}"))
}

/// What the local implementation makes of an event with the named Trigger.
fn fire_locally(
    manifests: &Manifests,
    trigger: &str,
    event: &Event,
) -> Option<(BTreeMap<String, String>, Vec<Value>)> {
    let trigger = &manifests.triggers[trigger];
    let extensions = triggers::intercept(trigger, event).unwrap_or_else(|e| panic!("{e}"))?;
    let params =
        triggers::bind(manifests, trigger, event, &extensions).unwrap_or_else(|e| panic!("{e}"));
    let template =
        &manifests.trigger_templates[trigger.spec.template.reference.as_deref().unwrap()];
    Some((
        params.clone(),
        triggers::render(template, &params).unwrap_or_else(|e| panic!("{e}")),
    ))
}

/// Delivers a correctly signed `event` to `listener` through Tekton and locally; they must agree
/// on which Triggers fire, their params and their resources. Returns what fired.
fn same_outcome(
    harness: &Harness,
    manifests: &Manifests,
    listener: &str,
    what: &str,
    event: &Event,
) -> Vec<(String, BTreeMap<String, String>, Vec<Value>)> {
    let raw = serde_json::to_string(&event.body).unwrap();
    let tekton = deliver(
        harness,
        manifests,
        listener,
        event,
        &raw,
        Some(WEBHOOK_SECRET),
    );
    let listed: Vec<String> = manifests.event_listeners[listener]
        .spec
        .triggers
        .iter()
        .filter_map(|t| t.trigger_ref.clone())
        .collect();
    assert_eq!(
        tekton.iter().map(|f| f.trigger.clone()).collect::<Vec<_>>(),
        listed,
        "{what}: the listener's Triggers"
    );
    let mut fired = Vec::new();
    for outcome in tekton {
        let local = fire_locally(manifests, &outcome.trigger, event);
        let at = format!("{what}, Trigger {}", outcome.trigger);
        match local {
            None => assert!(
                !outcome.passed,
                "{at}: the local CEL filters it out, Tekton lets it through"
            ),
            Some((params, resources)) => {
                assert!(
                    outcome.passed,
                    "{at}: the local CEL lets it through, Tekton stops it: {}",
                    outcome.reason
                );
                assert_eq!(outcome.params(), params, "{at}: the bindings' params");
                assert_eq!(
                    outcome.resources, resources,
                    "{at}: the TriggerTemplate's resources"
                );
                fired.push((outcome.trigger.clone(), params, resources));
            }
        }
    }
    fired
}

const SOURCE: &str = "model-source";
const GITOPS: &str = "gitops";

#[test]
fn deliveries_fire_the_same_triggers_through_tekton_as_locally() {
    let harness = Harness::get();
    let manifests = manifests();
    let check = |listener: &str, what: &str, event: &Event, fires: bool| {
        let fired = same_outcome(&harness, &manifests, listener, what, event);
        assert_eq!(!fired.is_empty(), fires, "{what} to {listener}");
        fired
    };

    let fired = check(
        SOURCE,
        "a push to main",
        &push("push-source-main.json"),
        true,
    );
    let run = &fired[0].2[0];
    assert_eq!(run["kind"], "PipelineRun");
    assert_eq!(run["spec"]["pipelineRef"]["name"], "model-release");
    check(
        SOURCE,
        "a feature branch",
        &push("push-source-feature-branch.json"),
        false,
    );
    check(SOURCE, "a tag", &push("push-source-tag.json"), false);

    let mut deletion = push("push-source-main.json");
    deletion.body["after"] = Value::String("0".repeat(40));
    deletion.body["commits"] = Value::Array(vec![]);
    check(SOURCE, "a branch deletion", &deletion, false);

    let mut master = push("push-source-main.json");
    master.body["repository"]["default_branch"] = Value::String("master".into());
    check(SOURCE, "main, default branch master", &master, false);
    master.body["ref"] = Value::String("refs/heads/master".into());
    check(SOURCE, "master, default branch master", &master, true);

    for (listener, body) in [
        (SOURCE, "push-source-main.json"),
        (GITOPS, "push-gitops-squash-merge.json"),
    ] {
        let mut event = push(body);
        event
            .headers
            .insert("X-GitHub-Event".into(), "pull_request".into());
        check(
            listener,
            &format!("a pull_request event ({body})"),
            &event,
            false,
        );
    }

    let fired = check(
        GITOPS,
        "a merge commit",
        &push("push-gitops-merge-commit.json"),
        true,
    );
    assert_eq!(fired[0].2[0]["spec"]["pipelineRef"]["name"], "post-deploy");
    check(
        GITOPS,
        "a squash merge",
        &push("push-gitops-squash-merge.json"),
        true,
    );
    check(
        GITOPS,
        "the promotion branch",
        &push("push-gitops-pr-branch.json"),
        false,
    );
    check(
        GITOPS,
        "a test-only change",
        &push("push-gitops-test-only.json"),
        false,
    );
    check(
        GITOPS,
        "a source push",
        &push("push-source-main.json"),
        false,
    );

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
        let path = "model-deployments/prod/fraud-detection/config.yaml";
        check(
            GITOPS,
            &format!("{field} {path}"),
            &with_change(field, path),
            true,
        );
    }
    for path in [
        "model-deployments/production.md",
        "docs/model-deployments/prod/notes.md",
        "model-deployments/test/jukebox/config.yaml",
    ] {
        check(
            GITOPS,
            &format!("modified {path}"),
            &with_change("modified", path),
            false,
        );
    }
}

#[test]
fn only_deliveries_signed_with_the_webhook_secret_get_through() {
    let harness = Harness::get();
    let manifests = manifests();
    for (listener, body_file) in [
        (SOURCE, "push-source-main.json"),
        (GITOPS, "push-gitops-merge-commit.json"),
    ] {
        // The body exactly as the fixture has it, as a forge sends and signs it.
        let raw = fixture_text(body_file);
        let event = push(body_file);
        let outcome = |raw: &str, key: Option<&str>| {
            let fired = deliver(&harness, &manifests, listener, &event, raw, key);
            assert_eq!(fired.len(), 1, "{listener}");
            fired.into_iter().next().unwrap()
        };
        let signed = outcome(&raw, Some(WEBHOOK_SECRET));
        assert!(signed.passed, "{listener}, signed: {}", signed.reason);
        let local = fire_locally(&manifests, &signed.trigger, &event).expect("fires locally");
        assert_eq!(signed.params(), local.0, "{listener}");

        let wrong = outcome(&raw, Some("not-the-webhook-secret"));
        assert!(!wrong.passed, "{listener}: a wrong signature gets through");
        assert!(
            wrong.reason.contains("payload signature check failed"),
            "{listener}: {}",
            wrong.reason
        );
        let unsigned = outcome(&raw, None);
        assert!(
            !unsigned.passed,
            "{listener}: an unsigned delivery gets through"
        );
        assert!(
            unsigned
                .reason
                .contains("no X-Hub-Signature-256 header set"),
            "{listener}: {}",
            unsigned.reason
        );
        // Signed, then altered on the way.
        let tampered = raw.replacen("jukebox", "jukebux", 1);
        assert_ne!(tampered, raw);
        let mut header = event.clone();
        header.headers.insert(
            "X-Hub-Signature-256".into(),
            hub_signature_256(WEBHOOK_SECRET, raw.as_bytes()),
        );
        let fired = harness
            .trigger(&json!({
                "files": tekton_files(),
                "eventListener": listener,
                "headers": header.headers,
                "body": tampered,
                "secrets": webhook_secrets(&manifests, WEBHOOK_SECRET),
            }))
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(!fired[0].passed, "{listener}: a tampered body gets through");
    }
}
