//! The wiring of the checked-in Tekton YAML that schemas cannot check: every `$(...)` reference
//! resolves, every Pipeline task passes params its Task declares (and all it requires), workspaces
//! line up, example runs match their Pipelines, every step follows the task conventions (args not
//! scripts, non-root, no privilege escalation, resource requests), and the Pipelines resolve to
//! concrete command lines. The triggers' wiring is in tekton_trigger_wiring.rs.

use std::collections::BTreeSet;

use e2e::checks::{
    assert_no_problems as assert_none, check_given_params, check_pipeline_reference,
    check_pipeline_run, dependencies, depends_on, selector_fits,
};
use e2e::manifests::{Manifests, ParamValue, Task, TaskSpec};
use e2e::refs::{Reference, Target, references};
use serde_json::Value;

fn manifests() -> Manifests {
    Manifests::load(&e2e::tekton_dir()).unwrap_or_else(|e| panic!("{e}"))
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

/// A Pipeline that takes a setting passes it to every task whose Task takes the same setting: a task
/// left on its Task's default would silently speak to another kind of server (as the promotion once
/// read an MLflow registry as Kubeflow). A Task param and a Pipeline param are the same setting when
/// their names match.
#[test]
fn pipeline_settings_reach_every_task_that_takes_them() {
    let manifests = manifests();
    let mut problems = Vec::new();
    for (name, pipeline) in &manifests.pipelines {
        let spec = &pipeline.spec;
        for task in spec.tasks.iter().chain(&spec.finally) {
            let Some(referenced) = task.task_name().and_then(|t| manifests.tasks.get(t)) else {
                continue;
            };
            for task_param in &referenced.spec.params {
                let same_setting = spec.params.iter().find(|p| p.name == task_param.name);
                let Some(pipeline_param) = same_setting else {
                    continue;
                };
                if !task.params.iter().any(|p| p.name == task_param.name) {
                    problems.push(format!(
                        "Pipeline {name}, task {}: the Pipeline takes {} but does not pass it to the \
                         Task's param of that name (which falls back to its default)",
                        task.name, pipeline_param.name
                    ));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
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
    assert!(uses("label-test", "$(tasks.deploy-test.results.COMMIT)"));
    assert!(uses(
        "promote-prod",
        "$(tasks.build-modelcar.results.IMAGE_DIGEST)"
    ));
    assert!(uses("label-test", "$(context.pipelineRun.name)"));
    // The tasks that write the digest into Git report it back.
    for (task, tool) in [
        ("deploy-test", "gitops-bump"),
        ("promote-prod", "pr-create"),
    ] {
        assert_eq!(task_of(task), tool);
        assert!(
            manifests.tasks[tool]
                .spec
                .results
                .iter()
                .any(|r| r.name == "IMAGE_DIGEST"),
            "Task {tool} declares no IMAGE_DIGEST result"
        );
    }
    // post-deploy labels what the push deployed, then traces exactly that.
    let post_deploy = &manifests.pipelines["post-deploy"].spec;
    let tasks: Vec<Option<&str>> = post_deploy.tasks.iter().map(|t| t.task_name()).collect();
    assert_eq!(
        tasks,
        [Some("registry-label-from-gitops"), Some("model-trace")]
    );
    assert!(
        post_deploy.tasks[1]
            .params
            .iter()
            .any(|p| p.name == "DEPLOYMENTS"
                && p.value.strings() == ["$(tasks.label-deployed.results.LABELLED)"]),
        "trace-deployed traces what label-deployed labelled"
    );
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

/// Walks model-release and post-deploy as Tekton would, with made-up results, and checks that every
/// step's command line comes out with no reference left and with the values that flowed in.
#[test]
fn the_pipelines_resolve_to_concrete_command_lines() {
    use e2e::refs::RunIdentity;
    use e2e::run::{PipelineContext, command_line, step_context, task_order};
    use std::path::PathBuf;

    let manifests = manifests();
    let string = |s: &str| ParamValue::String(s.to_string());
    let run = |name: &str, given: &[(&str, &str)]| -> Vec<(String, Vec<String>)> {
        let pipeline = &manifests.pipelines[name].spec;
        let given = given
            .iter()
            .map(|(k, v)| (k.to_string(), string(v)))
            .collect();
        let identity = RunIdentity {
            name: format!("{name}-x7k2p"),
            namespace: "team".into(),
            uid: "5d0c7e3a-1b2f-4c6d-8e9f-0a1b2c3d4e5f".into(),
        };
        let mut context = PipelineContext::new(pipeline, &given)
            .unwrap()
            .with_run(name, &identity);
        let mut lines = Vec::new();
        for task in task_order(pipeline).unwrap() {
            let spec = &manifests.tasks[task.task_name().unwrap()].spec;
            let params = context
                .task_params(task)
                .unwrap_or_else(|e| panic!("{}: {e}", task.name));
            let workspaces = task
                .workspaces
                .iter()
                .filter(|w| spec.workspace(&w.name).is_some_and(|d| !d.optional))
                .map(|w| {
                    (
                        w.name.clone(),
                        PathBuf::from(format!("/workspace/{}", w.name)),
                    )
                })
                .collect();
            let step_context =
                step_context(spec, &params, workspaces, &PathBuf::from("/tekton/results"))
                    .unwrap_or_else(|e| panic!("{}: {e}", task.name))
                    .with_run(task.task_name().unwrap(), &context.task_run(task));
            for step in &spec.steps {
                let line = command_line(step, &step_context)
                    .unwrap_or_else(|e| panic!("{}: {e}", task.name));
                assert!(
                    !line.iter().any(|a| a.contains("$(")),
                    "{}: {line:?}",
                    task.name
                );
                lines.push((task.name.clone(), line));
            }
            for result in &spec.results {
                let value = format!("{}-{}", task.name, result.name);
                context
                    .results
                    .insert((task.name.clone(), result.name.clone()), value);
            }
        }
        lines
    };
    let has = |lines: &[(String, Vec<String>)], task: &str, arg: &str| {
        lines
            .iter()
            .any(|(t, line)| t == task && line.iter().any(|a| a == arg))
    };

    let release = run(
        "model-release",
        &[
            ("MODEL_NAME", "jukebox"),
            ("VERSION", "3f9d2c7"),
            ("IMAGE", "quay.io/alice/jukebox"),
            (
                "GITOPS_REPO_URL",
                "https://git.example.org/alice/mlops-gitops.git",
            ),
            ("FORGE_REPO", "alice/mlops-gitops"),
            ("REGISTRY_URL", "https://registry.example.org"),
        ],
    );
    let order: Vec<&str> = release.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(
        order,
        [
            "build-modelcar",
            "deploy-test",
            "label-test",
            "promote-prod"
        ]
    );
    assert_eq!(release[0].1[0], "/usr/local/bin/modelcar-build");
    assert!(has(
        &release,
        "build-modelcar",
        "--model-dir=/workspace/source/."
    ));
    assert!(has(&release, "build-modelcar", "--tag=3f9d2c7"));
    assert!(
        has(&release, "build-modelcar", "--docker-config="),
        "an unbound workspace gives an empty path"
    );
    assert!(has(&release, "deploy-test", "--model-version=3f9d2c7"));
    assert!(has(&release, "deploy-test", "--env=test"));
    assert!(has(
        &release,
        "label-test",
        "--image=build-modelcar-IMAGE_URL@build-modelcar-IMAGE_DIGEST"
    ));
    assert!(has(
        &release,
        "label-test",
        "--gitops-commit=deploy-test-COMMIT"
    ));
    assert!(has(&release, "promote-prod", "--env=prod"));
    // The run that built and deployed the version is recorded with it; the digest is reported.
    assert!(has(
        &release,
        "label-test",
        "--pipeline-run=model-release-x7k2p"
    ));
    assert!(has(&release, "promote-prod", "--tag-check=fail"));
    assert!(has(&release, "promote-prod", "--on-rule-failure=block"));
    assert!(has(
        &release,
        "promote-prod",
        "--forge-repo=alice/mlops-gitops"
    ));

    let post_deploy = run(
        "post-deploy",
        &[
            (
                "GITOPS_REPO_URL",
                "https://git.example.org/alice/mlops-gitops.git",
            ),
            ("BEFORE", "9a8b7c6"),
            ("AFTER", "e5f6a7b"),
            ("REGISTRY_URL", "https://registry.example.org"),
        ],
    );
    assert!(has(&post_deploy, "label-deployed", "--commit=e5f6a7b"));
    assert!(has(&post_deploy, "label-deployed", "--before=9a8b7c6"));
    assert!(has(&post_deploy, "label-deployed", "--only-env=prod"));
    assert!(has(
        &post_deploy,
        "label-deployed",
        "--pipeline-run=post-deploy-x7k2p"
    ));
    assert!(has(
        &post_deploy,
        "label-deployed",
        "--repo-url=https://git.example.org/alice/mlops-gitops.git"
    ));
}

/// Each Task runs a tool the Containerfile builds an image for, at the path it puts it, and its
/// default image carries the workspace's version.
#[test]
fn tasks_run_the_images_the_containerfile_builds() {
    let root = e2e::repo_root();
    let containerfile = std::fs::read_to_string(root.join("Containerfile")).expect("Containerfile");
    let cargo = std::fs::read_to_string(root.join("Cargo.toml")).expect("Cargo.toml");
    let version = cargo
        .lines()
        .skip_while(|l| l.trim() != "[workspace.package]")
        .find_map(|l| l.trim().strip_prefix("version = "))
        .map(|v| v.trim_matches('"').to_string())
        .expect("workspace version");
    let manifests = manifests();
    let mut problems = Vec::new();
    for (name, task) in &manifests.tasks {
        for step in &task.spec.steps {
            let program = step.command.first().map(String::as_str).unwrap_or("");
            let tool = program.strip_prefix("/usr/local/bin/").unwrap_or("");
            if !containerfile.contains(&format!("FROM runtime AS {tool}\n"))
                || !containerfile.contains(&format!("COPY --from=builder /out/{tool} {program}\n"))
            {
                problems.push(format!(
                    "Task {name}: the Containerfile builds no image with {program}"
                ));
            }
            let image = match task
                .spec
                .param("TASK_IMAGE")
                .and_then(|p| p.default.clone())
            {
                Some(ParamValue::String(image)) => image,
                _ => String::new(),
            };
            if !image.ends_with(&format!("/{tool}:{version}")) {
                problems.push(format!(
                    "Task {name}: TASK_IMAGE {image} is not <registry>/{tool}:{version}"
                ));
            }
        }
    }
    assert_none("Tasks and images disagree", problems);
}
