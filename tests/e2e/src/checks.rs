//! Checks of the Tekton objects' wiring that schemas cannot make, shared by the tests: each returns
//! the problems it finds, as sentences naming the object and the reference.

use std::collections::{BTreeMap, BTreeSet};

use crate::manifests::{Manifests, ParamSpec, ParamValue, PipelineRunSpec, PipelineSpec};
use crate::refs::{Reference, Selector, Target, references};

/// Fails the test with every problem listed.
pub fn assert_no_problems(what: &str, problems: Vec<String>) {
    assert!(problems.is_empty(), "{what}:\n  {}", problems.join("\n  "));
}

/// Whether `selector` is a valid way to use a param of this declared type.
pub fn selector_fits(
    spec: &ParamSpec,
    selector: &Selector,
    whole_argument: bool,
) -> Result<(), String> {
    match (spec.type_name(), selector) {
        ("string", Selector::Whole) => Ok(()),
        ("array", Selector::Star) if whole_argument => Ok(()),
        ("array", Selector::Star) => Err("an array param expands only as a whole argument".into()),
        ("array", Selector::Index(_)) => Ok(()),
        ("object", Selector::Key(key)) => match &spec.default {
            Some(ParamValue::Object(map)) if !map.contains_key(key) => {
                Err(format!("object has no key {key}"))
            }
            _ => Ok(()),
        },
        (kind, selector) => Err(format!("a {kind} param used as {selector:?}")),
    }
}

/// Checks the params given to something that declares `declared` (a Task or a Pipeline).
pub fn check_given_params(
    at: &str,
    declared: &[ParamSpec],
    given: &[(String, ParamValue)],
    problems: &mut Vec<String>,
) {
    let mut seen = BTreeSet::new();
    for (name, value) in given {
        if !seen.insert(name.clone()) {
            problems.push(format!("{at}: param {name} is given twice"));
        }
        match declared.iter().find(|p| &p.name == name) {
            None => problems.push(format!("{at}: param {name} is not declared")),
            Some(spec) if spec.type_name() != value.type_name() => problems.push(format!(
                "{at}: param {name} is declared {} but given a {}",
                spec.type_name(),
                value.type_name()
            )),
            Some(_) => {}
        }
    }
    for spec in declared.iter().filter(|p| p.is_required()) {
        if !seen.contains(&spec.name) {
            problems.push(format!("{at}: required param {} is not given", spec.name));
        }
    }
}

/// Checks a reference made inside a Pipeline (task params, results, when).
pub fn check_pipeline_reference(
    manifests: &Manifests,
    pipeline: &PipelineSpec,
    from_task: Option<&str>,
    reference: &Reference,
) -> Result<(), String> {
    match &reference.target {
        Target::Param { name, selector } => {
            let spec = pipeline.param(name).ok_or("no such Pipeline param")?;
            selector_fits(spec, selector, true)
        }
        Target::TaskResult { task, result, .. } => {
            if Some(task.as_str()) == from_task {
                return Err("a task cannot use its own result".into());
            }
            let pipeline_task = pipeline.task(task).ok_or("no such Pipeline task")?;
            let task_name = pipeline_task
                .task_name()
                .ok_or("task has no taskRef name")?;
            let referenced = manifests
                .tasks
                .get(task_name)
                .ok_or("its Task is not defined")?;
            referenced
                .spec
                .result(result)
                .map(|_| ())
                .ok_or_else(|| format!("Task {task_name} has no result {result}"))
        }
        Target::TaskStatus { task } => pipeline
            .task(task)
            .map(|_| ())
            .ok_or_else(|| "no such Pipeline task".into()),
        Target::Workspace { name, field } if field == "bound" => pipeline
            .workspace(name)
            .map(|_| ())
            .ok_or_else(|| "no such Pipeline workspace".into()),
        Target::Context(path) if path.starts_with("pipeline") => Ok(()),
        _ => Err("not available in a Pipeline".into()),
    }
}

/// Pipeline task name -> the names it depends on (runAfter and results it uses).
pub fn dependencies(pipeline: &PipelineSpec) -> BTreeMap<String, BTreeSet<String>> {
    let mut graph = BTreeMap::new();
    for task in &pipeline.tasks {
        let mut after: BTreeSet<String> = task.run_after.iter().cloned().collect();
        for param in &task.params {
            for text in param.value.strings() {
                for reference in references(text) {
                    if let Target::TaskResult { task, .. } = reference.target {
                        after.insert(task);
                    }
                }
            }
        }
        graph.insert(task.name.clone(), after);
    }
    graph
}

/// Whether `task` runs after `on`, directly or through other tasks.
pub fn depends_on(graph: &BTreeMap<String, BTreeSet<String>>, task: &str, on: &str) -> bool {
    let mut pending = vec![task.to_string()];
    let mut seen = BTreeSet::new();
    while let Some(current) = pending.pop() {
        for next in graph.get(&current).into_iter().flatten() {
            if next == on {
                return true;
            }
            if seen.insert(next.clone()) {
                pending.push(next.clone());
            }
        }
    }
    false
}

/// Checks a PipelineRun (example run or trigger template) against its Pipeline.
pub fn check_pipeline_run(
    manifests: &Manifests,
    at: &str,
    run: &PipelineRunSpec,
    problems: &mut Vec<String>,
) {
    let Some(pipeline) = run
        .pipeline_ref
        .as_ref()
        .and_then(|r| r.name.as_ref())
        .and_then(|n| manifests.pipelines.get(n))
    else {
        problems.push(format!("{at}: pipelineRef names no Pipeline under tekton/"));
        return;
    };
    let given: Vec<(String, ParamValue)> = run
        .params
        .iter()
        .map(|p| (p.name.clone(), p.value.clone()))
        .collect();
    check_given_params(at, &pipeline.spec.params, &given, problems);
    for binding in &run.workspaces {
        if pipeline.spec.workspace(&binding.name).is_none() {
            problems.push(format!("{at}: Pipeline has no workspace {}", binding.name));
        }
    }
    for declared in pipeline.spec.workspaces.iter().filter(|w| !w.optional) {
        if !run.workspaces.iter().any(|b| b.name == declared.name) {
            problems.push(format!(
                "{at}: required workspace {} is not bound",
                declared.name
            ));
        }
    }
    let accounts = manifests.names_of_kind("ServiceAccount");
    match run
        .task_run_template
        .as_ref()
        .and_then(|t| t.service_account_name.as_ref())
    {
        Some(account) if accounts.contains(account) => {}
        other => problems.push(format!(
            "{at}: ServiceAccount {other:?} is not one of tekton/rbac's {accounts:?}"
        )),
    }
}
