//! The wiring of the checked-in Tekton YAML that schemas cannot check: every `$(...)` reference
//! resolves, every Pipeline task passes params its Task declares (and all it requires), workspaces
//! line up, trigger bindings, templates and Pipelines agree, and every step follows the task
//! conventions (args not scripts, non-root, no privilege escalation, resource requests).

use std::collections::{BTreeMap, BTreeSet};

use e2e::manifests::{
    Manifests, ParamSpec, ParamValue, PipelineRunSpec, PipelineSpec, Task, TaskSpec,
};
use e2e::refs::{Reference, Selector, Target, references};
use serde_json::Value;

fn manifests() -> Manifests {
    let dir = e2e::tekton_dir();
    Manifests::load(&dir).unwrap_or_else(|e| panic!("{e}"))
}

fn assert_none(what: &str, problems: Vec<String>) {
    assert!(problems.is_empty(), "{what}:\n  {}", problems.join("\n  "));
}

/// Whether `selector` is a valid way to use a param of this declared type.
fn selector_fits(
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

/// Checks one reference made inside a Task's steps.
fn check_step_reference(
    task: &TaskSpec,
    reference: &Reference,
    whole_argument: bool,
) -> Result<(), String> {
    match &reference.target {
        Target::Param { name, selector } => {
            let spec = task.param(name).ok_or("no such param")?;
            selector_fits(spec, selector, whole_argument)
        }
        Target::Workspace { name, field } => {
            let workspace = task.workspace(name).ok_or("no such workspace")?;
            match field.as_str() {
                "path" | "bound" => Ok(()),
                "claim" | "volume" if !workspace.optional => Ok(()),
                other => Err(format!("workspace field {other} is not usable here")),
            }
        }
        Target::ResultPath { name } => task
            .result(name)
            .map(|_| ())
            .ok_or_else(|| "no such result".into()),
        Target::Context(path) if path.starts_with("task") => Ok(()),
        _ => Err("not available inside a Task".into()),
    }
}

fn step_strings(task: &Task) -> Vec<(String, String, bool)> {
    // (where, text, whether it is a whole argument)
    let mut strings = Vec::new();
    for step in &task.spec.steps {
        let at = |field: &str| format!("step {} {field}", step.name);
        if let Some(image) = &step.image {
            strings.push((at("image"), image.clone(), false));
        }
        for (i, c) in step.command.iter().enumerate() {
            strings.push((at(&format!("command[{i}]")), c.clone(), false));
        }
        for (i, a) in step.args.iter().enumerate() {
            strings.push((at(&format!("args[{i}]")), a.clone(), true));
        }
        if let Some(dir) = &step.working_dir {
            strings.push((at("workingDir"), dir.clone(), false));
        }
        for env in &step.env {
            if let Some(value) = &env.value {
                strings.push((at(&format!("env {}", env.name)), value.clone(), false));
            }
            if let Some(secret) = env
                .value_from
                .as_ref()
                .and_then(|v| v.secret_key_ref.as_ref())
            {
                strings.push((
                    at(&format!("env {} secret name", env.name)),
                    secret.name.clone(),
                    false,
                ));
                strings.push((
                    at(&format!("env {} secret key", env.name)),
                    secret.key.clone(),
                    false,
                ));
            }
        }
    }
    strings
}

#[test]
fn every_reference_in_a_task_resolves_and_every_param_is_used() {
    let manifests = manifests();
    assert!(
        manifests.tasks.len() >= 4,
        "expected the Tasks of the four tools under tekton/tasks"
    );
    let mut problems = Vec::new();
    for (name, task) in &manifests.tasks {
        let mut used = BTreeSet::new();
        for (at, text, whole) in step_strings(task) {
            for reference in references(&text) {
                let whole_argument = whole && reference.start == 0 && reference.end == text.len();
                if let Err(why) = check_step_reference(&task.spec, &reference, whole_argument) {
                    problems.push(format!(
                        "Task {name}, {at}: $({}): {why}",
                        reference.expression
                    ));
                }
                if let Target::Param { name, .. } = &reference.target {
                    used.insert(name.clone());
                }
            }
        }
        for param in &task.spec.params {
            if !used.contains(&param.name) {
                problems.push(format!("Task {name}: param {} is never used", param.name));
            }
        }
    }
    assert_none("unresolved or unused references in Tasks", problems);
}

#[test]
fn every_task_follows_the_step_conventions() {
    let manifests = manifests();
    let mut problems = Vec::new();
    for (name, task) in &manifests.tasks {
        let spec = &task.spec;
        let mut problem = |what: String| problems.push(format!("Task {name}: {what}"));
        if spec.description.as_deref().unwrap_or("").is_empty() {
            problem("no description".into());
        }
        for param in &spec.params {
            if param.description.as_deref().unwrap_or("").is_empty() {
                problem(format!("param {} has no description", param.name));
            }
        }
        for result in &spec.results {
            if result.description.as_deref().unwrap_or("").is_empty() {
                problem(format!("result {} has no description", result.name));
            }
        }
        for workspace in &spec.workspaces {
            if workspace.description.as_deref().unwrap_or("").is_empty() {
                problem(format!("workspace {} has no description", workspace.name));
            }
        }
        match spec.param("TASK_IMAGE") {
            Some(p) if matches!(&p.default, Some(ParamValue::String(image)) if image.contains(':')) =>
                {}
            _ => problem("no TASK_IMAGE param with a tagged default image".into()),
        }
        for step in &spec.steps {
            let mut problem =
                |what: &str| problems.push(format!("Task {name}, step {}: {what}", step.name));
            if step.script.is_some() {
                problem("runs a script; steps run the tool with args");
            }
            if step.image.as_deref() != Some("$(params.TASK_IMAGE)") {
                problem("image is not $(params.TASK_IMAGE)");
            }
            if step.command.is_empty() || step.args.is_empty() {
                problem("needs an explicit command and args");
            }
            if !step
                .args
                .iter()
                .any(|a| a == "--results-dir=/tekton/results")
                && !spec.results.is_empty()
            {
                problem("does not write its results to /tekton/results");
            }
            let security = step.security_context.clone().unwrap_or(Value::Null);
            let expect = |pointer: &str, value: Value| security.pointer(pointer) == Some(&value);
            if !expect("/runAsNonRoot", Value::Bool(true)) {
                problem("securityContext.runAsNonRoot is not true");
            }
            if !expect("/allowPrivilegeEscalation", Value::Bool(false)) {
                problem("securityContext.allowPrivilegeEscalation is not false");
            }
            if !expect("/capabilities/drop", serde_json::json!(["ALL"])) {
                problem("securityContext.capabilities.drop is not [ALL]");
            }
            if !expect(
                "/seccompProfile/type",
                Value::String("RuntimeDefault".into()),
            ) {
                problem("securityContext.seccompProfile is not RuntimeDefault");
            }
            let requests = step
                .compute_resources
                .as_ref()
                .and_then(|r| r.get("requests"));
            if !requests.is_some_and(|r| r.get("cpu").is_some() && r.get("memory").is_some()) {
                problem("no cpu and memory requests");
            }
            for env in &step.env {
                if let Some(secret) = env
                    .value_from
                    .as_ref()
                    .and_then(|v| v.secret_key_ref.as_ref())
                    && !secret.name.starts_with("$(params.")
                {
                    problem(&format!(
                        "env {} reads a Secret not named by a param",
                        env.name
                    ));
                }
            }
            // Secrets travel as env or files, never as an argument value.
            for arg in &step.args {
                let flag = arg.split('=').next().unwrap_or("");
                if flag.contains("token") && !flag.ends_with("-file") {
                    problem(&format!("argument {arg} would put a secret in argv"));
                }
            }
        }
    }
    assert_none("Task convention violations", problems);
}

/// Checks the params given to something that declares `declared` (a Task or a Pipeline).
fn check_given_params(
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
fn check_pipeline_reference(
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
fn dependencies(pipeline: &PipelineSpec) -> BTreeMap<String, BTreeSet<String>> {
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

fn depends_on(graph: &BTreeMap<String, BTreeSet<String>>, task: &str, on: &str) -> bool {
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

#[test]
fn every_pipeline_task_matches_its_task() {
    let manifests = manifests();
    assert!(
        manifests.pipelines.contains_key("model-release")
            && manifests.pipelines.contains_key("post-deploy")
    );
    let mut problems = Vec::new();
    for (name, pipeline) in &manifests.pipelines {
        let spec = &pipeline.spec;
        let mut used_params = BTreeSet::new();
        let mut used_workspaces = BTreeSet::new();
        for task in spec.tasks.iter().chain(&spec.finally) {
            let at = format!("Pipeline {name}, task {}", task.name);
            let Some(referenced) = task.task_name().and_then(|t| manifests.tasks.get(t)) else {
                problems.push(format!(
                    "{at}: taskRef {:?} names no Task under tekton/",
                    task.task_name()
                ));
                continue;
            };
            let given: Vec<(String, ParamValue)> = task
                .params
                .iter()
                .map(|p| (p.name.clone(), p.value.clone()))
                .collect();
            check_given_params(&at, &referenced.spec.params, &given, &mut problems);
            for param in &task.params {
                for text in param.value.strings() {
                    for reference in references(text) {
                        if let Err(why) =
                            check_pipeline_reference(&manifests, spec, Some(&task.name), &reference)
                        {
                            problems.push(format!(
                                "{at}, param {}: $({}): {why}",
                                param.name, reference.expression
                            ));
                        }
                        if let Target::Param { name, .. } = &reference.target {
                            used_params.insert(name.clone());
                        }
                    }
                }
            }
            for binding in &task.workspaces {
                let Some(declared) = referenced.spec.workspace(&binding.name) else {
                    problems.push(format!("{at}: Task has no workspace {}", binding.name));
                    continue;
                };
                let source = binding.workspace.as_deref().unwrap_or(&binding.name);
                used_workspaces.insert(source.to_string());
                match spec.workspace(source) {
                    None => problems.push(format!("{at}: Pipeline has no workspace {source}")),
                    Some(pipeline_ws) if pipeline_ws.optional && !declared.optional => problems.push(format!(
                        "{at}: optional Pipeline workspace {source} bound to required Task workspace {}",
                        binding.name
                    )),
                    Some(_) => {}
                }
            }
            for declared in referenced.spec.workspaces.iter().filter(|w| !w.optional) {
                if !task.workspaces.iter().any(|b| b.name == declared.name) {
                    problems.push(format!(
                        "{at}: required workspace {} is not bound",
                        declared.name
                    ));
                }
            }
            for after in &task.run_after {
                if spec.task(after).is_none() {
                    problems.push(format!("{at}: runAfter {after} is no task of the Pipeline"));
                }
            }
        }
        for result in &spec.results {
            for text in result.value.iter().flat_map(|v| v.strings()) {
                for reference in references(text) {
                    if let Err(why) = check_pipeline_reference(&manifests, spec, None, &reference) {
                        problems.push(format!(
                            "Pipeline {name}, result {}: $({}): {why}",
                            result.name, reference.expression
                        ));
                    }
                }
            }
        }
        for param in &spec.params {
            if !used_params.contains(&param.name) {
                problems.push(format!(
                    "Pipeline {name}: param {} is never used",
                    param.name
                ));
            }
            if param.description.as_deref().unwrap_or("").is_empty() {
                problems.push(format!(
                    "Pipeline {name}: param {} has no description",
                    param.name
                ));
            }
        }
        for workspace in &spec.workspaces {
            if !used_workspaces.contains(&workspace.name) {
                problems.push(format!(
                    "Pipeline {name}: workspace {} is never used",
                    workspace.name
                ));
            }
        }
        let graph = dependencies(spec);
        for task in graph.keys() {
            if depends_on(&graph, task, task) {
                problems.push(format!("Pipeline {name}: task {task} depends on itself"));
            }
        }
    }
    assert_none("Pipeline wiring problems", problems);
}

#[test]
fn model_release_runs_build_then_test_then_label_then_promotion() {
    let manifests = manifests();
    let pipeline = &manifests.pipelines["model-release"].spec;
    let graph = dependencies(pipeline);
    let task_of = |task: &str| {
        pipeline
            .task(task)
            .and_then(|t| t.task_name())
            .unwrap_or("")
            .to_string()
    };
    assert_eq!(
        [
            "build-modelcar",
            "deploy-test",
            "label-test",
            "promote-prod"
        ]
        .map(task_of),
        [
            "modelcar-build",
            "gitops-bump",
            "registry-label",
            "pr-create"
        ]
    );
    assert!(depends_on(&graph, "deploy-test", "build-modelcar"));
    assert!(depends_on(&graph, "label-test", "deploy-test"));
    assert!(depends_on(&graph, "promote-prod", "label-test"));
    // The digest travels from the build to what records and promotes the version.
    let uses = |task: &str, text: &str| {
        pipeline
            .task(task)
            .unwrap()
            .params
            .iter()
            .any(|p| p.value.strings().iter().any(|s| s.contains(text)))
    };
    assert!(uses(
        "label-test",
        "$(tasks.build-modelcar.results.IMAGE_DIGEST)"
    ));
    assert!(uses("label-test", "$(tasks.deploy-test.results.commit)"));
    assert!(uses(
        "promote-prod",
        "$(tasks.build-modelcar.results.IMAGE_DIGEST)"
    ));
    let post_deploy = &manifests.pipelines["post-deploy"].spec;
    assert_eq!(post_deploy.tasks.len(), 1);
    assert_eq!(
        post_deploy.tasks[0].task_name(),
        Some("registry-label-from-gitops")
    );
}

/// Checks a PipelineRun (example run or trigger template) against its Pipeline.
fn check_pipeline_run(
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

#[test]
fn example_runs_match_their_pipelines() {
    let manifests = manifests();
    assert!(
        manifests.pipeline_runs.len() >= 2,
        "expected example PipelineRuns under tekton/runs"
    );
    let mut problems = Vec::new();
    for run in &manifests.pipeline_runs {
        let at = format!("PipelineRun in {}", run.path.display());
        check_pipeline_run(&manifests, &at, &run.spec, &mut problems);
    }
    assert_none("example PipelineRun problems", problems);
}

#[test]
fn trigger_templates_bindings_and_pipelines_agree() {
    let manifests = manifests();
    let mut problems = Vec::new();
    for (name, template) in &manifests.trigger_templates {
        let declared: BTreeSet<&str> = template
            .spec
            .params
            .iter()
            .map(|p| p.name.as_str())
            .collect();
        let mut used = BTreeSet::new();
        let rendered = serde_json::to_string(&template.spec.resourcetemplates).unwrap();
        for reference in references(&rendered) {
            match &reference.target {
                Target::TriggerTemplateParam(param) if declared.contains(param.as_str()) => {
                    used.insert(param.clone());
                }
                Target::TriggerTemplateParam(param) => problems.push(format!(
                    "TriggerTemplate {name}: $(tt.params.{param}) is not declared"
                )),
                _ => problems.push(format!(
                    "TriggerTemplate {name}: $({}) is not a template param",
                    reference.expression
                )),
            }
        }
        for param in &declared {
            if !used.contains(*param) {
                problems.push(format!(
                    "TriggerTemplate {name}: param {param} is never used"
                ));
            }
        }
        for resource in &template.spec.resourcetemplates {
            if resource.get("kind").and_then(Value::as_str) != Some("PipelineRun") {
                continue;
            }
            match serde_json::from_value::<PipelineRunSpec>(resource["spec"].clone()) {
                Ok(run) => check_pipeline_run(
                    &manifests,
                    &format!("TriggerTemplate {name}"),
                    &run,
                    &mut problems,
                ),
                Err(e) => problems.push(format!("TriggerTemplate {name}: PipelineRun spec: {e}")),
            }
        }
    }
    for (name, trigger) in &manifests.triggers {
        let at = format!("Trigger {name}");
        let Some(template) = trigger
            .spec
            .template
            .reference
            .as_ref()
            .and_then(|t| manifests.trigger_templates.get(t))
        else {
            problems.push(format!("{at}: template names no TriggerTemplate"));
            continue;
        };
        let overlay_keys: BTreeSet<String> = trigger
            .spec
            .interceptors_named("cel")
            .flat_map(e2e::triggers::cel_overlays)
            .map(|(key, _)| key)
            .collect();
        let mut bound = BTreeMap::new();
        for binding in &trigger.spec.bindings {
            if let Some(reference) = &binding.reference {
                match manifests.trigger_bindings.get(reference) {
                    Some(found) => bound.extend(
                        found
                            .spec
                            .params
                            .iter()
                            .map(|p| (p.name.clone(), p.value.clone())),
                    ),
                    None => {
                        problems.push(format!("{at}: TriggerBinding {reference} does not exist"))
                    }
                }
            } else if let (Some(n), Some(v)) = (&binding.name, &binding.value) {
                bound.insert(n.clone(), v.clone());
            }
        }
        for (param, value) in &bound {
            if !template.spec.params.iter().any(|p| &p.name == param) {
                problems.push(format!(
                    "{at}: binds {param}, which TriggerTemplate {} does not declare",
                    template.name()
                ));
            }
            for reference in references(value) {
                match &reference.target {
                    Target::Body(_) | Target::Header(_) => {}
                    Target::Extensions(key) if overlay_keys.contains(key) => {}
                    _ => problems.push(format!(
                        "{at}: binding {param}: $({}) has no source",
                        reference.expression
                    )),
                }
            }
        }
        for param in template.spec.params.iter().filter(|p| p.default.is_none()) {
            if !bound.contains_key(&param.name) {
                problems.push(format!(
                    "{at}: TriggerTemplate param {} is never bound",
                    param.name
                ));
            }
        }
        // Deliveries are verified before anything else reads them.
        match trigger.spec.interceptors.first() {
            Some(first) if first.reference.name == "github" => {
                let secret = first.param("secretRef");
                if secret.and_then(|s| s.get("secretName")).is_none()
                    || secret.and_then(|s| s.get("secretKey")).is_none()
                {
                    problems.push(format!(
                        "{at}: github interceptor without secretRef.secretName/secretKey"
                    ));
                }
                if first.param("eventTypes") != Some(&serde_json::json!(["push"])) {
                    problems.push(format!(
                        "{at}: github interceptor should accept push events only"
                    ));
                }
            }
            _ => problems.push(format!(
                "{at}: the first interceptor should verify the signature (github)"
            )),
        }
        for interceptor in trigger.spec.interceptors_named("cel") {
            let expressions = e2e::triggers::cel_filter(interceptor)
                .into_iter()
                .map(str::to_string)
                .chain(
                    e2e::triggers::cel_overlays(interceptor)
                        .into_iter()
                        .map(|(_, e)| e),
                );
            for expression in expressions {
                if expression.contains('[') {
                    problems.push(format!("{at}: CEL indexes into a list: {expression}"));
                }
            }
        }
    }
    let mut listened = BTreeSet::new();
    let accounts = manifests.names_of_kind("ServiceAccount");
    for (name, listener) in &manifests.event_listeners {
        for trigger in &listener.spec.triggers {
            match trigger.trigger_ref.as_ref() {
                Some(reference) if manifests.triggers.contains_key(reference) => {
                    listened.insert(reference.clone());
                }
                other => problems.push(format!(
                    "EventListener {name}: trigger {other:?} does not exist"
                )),
            }
        }
        match &listener.spec.service_account_name {
            Some(account) if accounts.contains(account) => {}
            other => problems.push(format!(
                "EventListener {name}: ServiceAccount {other:?} is not defined"
            )),
        }
    }
    for name in manifests.triggers.keys() {
        if !listened.contains(name) {
            problems.push(format!("Trigger {name} is in no EventListener"));
        }
    }
    assert_none("trigger wiring problems", problems);
}

#[test]
fn the_listener_may_create_pipeline_runs_and_nothing_more() {
    let manifests = manifests();
    let role = manifests
        .others_of_kind("Role")
        .find(|r| {
            r.pointer("/metadata/name").and_then(Value::as_str) == Some("modelcar-gitops-listener")
        })
        .expect("Role modelcar-gitops-listener in tekton/rbac");
    let rules = role["rules"].as_array().unwrap();
    let mut writes = Vec::new();
    for rule in rules {
        let verbs: Vec<&str> = rule["verbs"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .collect();
        let resources: Vec<&str> = rule["resources"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert!(
            !verbs.contains(&"*") && !resources.contains(&"*"),
            "no wildcards: {rule}"
        );
        assert!(
            !resources.contains(&"secrets"),
            "the listener reads no Secrets: {rule}"
        );
        for verb in verbs
            .iter()
            .filter(|v| !matches!(**v, "get" | "list" | "watch"))
        {
            writes.extend(resources.iter().map(|r| format!("{verb} {r}")));
        }
    }
    writes.sort();
    assert_eq!(
        writes,
        ["create events", "create pipelineruns", "patch events"]
    );
}
