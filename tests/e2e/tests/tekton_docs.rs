//! The Task reference (`tekton/tasks/README.md`) is generated from the Tasks themselves, so it cannot
//! drift from them: this test renders it and fails when the file differs. Run it with
//! `UPDATE_TEKTON_DOCS=1` to rewrite the file. Every Task also has a sample TaskRun under
//! `tekton/runs/taskruns/` that gives each of its required params and nothing it does not declare.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::Path;

use e2e::manifests::{Manifests, ParamSpec, ParamValue, Task};
use serde_json::Value;
use test_services::workspace_root;

const REFERENCE: &str = "tekton/tasks/README.md";

#[test]
fn the_task_reference_is_generated_from_the_tasks() {
    let root = workspace_root();
    let tasks = Manifests::load(&root.join("tekton/tasks")).unwrap().tasks;
    assert!(!tasks.is_empty());
    let rendered = render(tasks.values());
    let path = root.join(REFERENCE);
    if std::env::var_os("UPDATE_TEKTON_DOCS").is_some() {
        std::fs::write(&path, &rendered).unwrap();
        return;
    }
    let current = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        current == rendered,
        "{REFERENCE} is not the reference of the Tasks under tekton/tasks; regenerate it with \
         UPDATE_TEKTON_DOCS=1 cargo test -p e2e --test scenarios tekton_docs::"
    );
}

#[test]
fn every_task_has_a_sample_task_run_giving_its_required_params() {
    let root = workspace_root();
    let tasks = Manifests::load(&root.join("tekton/tasks")).unwrap().tasks;
    let runs = Manifests::load(&root.join("tekton/runs/taskruns")).unwrap();
    let task_runs: Vec<&Value> = runs
        .others
        .iter()
        .filter(|(_, raw)| raw["kind"] == "TaskRun")
        .map(|(_, raw)| raw)
        .collect();
    for (name, task) in &tasks {
        let run = task_runs
            .iter()
            .find(|run| run.pointer("/spec/taskRef/name").and_then(Value::as_str) == Some(name))
            .unwrap_or_else(|| panic!("no sample TaskRun of {name} under tekton/runs/taskruns/"));
        let given: BTreeSet<&str> = run
            .pointer("/spec/params")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|p| p["name"].as_str())
            .collect();
        for param in task.spec.params.iter().filter(|p| p.is_required()) {
            assert!(
                given.contains(param.name.as_str()),
                "the sample TaskRun of {name} lacks the required param {}",
                param.name
            );
        }
        for param in &given {
            assert!(
                task.spec.param(param).is_some(),
                "the sample TaskRun of {name} gives {param}, which the Task does not declare"
            );
        }
    }
}

fn render<'a>(tasks: impl Iterator<Item = &'a Task>) -> String {
    let mut out = String::from(
        "# Task reference\n\n\
         Generated from the Tasks in this folder by `tests/e2e/tests/tekton_docs.rs`\n\
         (`UPDATE_TEKTON_DOCS=1 cargo test -p e2e --test scenarios tekton_docs::`); do not edit by hand.\n\
         A sample TaskRun of each Task is in `../runs/taskruns/`.\n",
    );
    for task in tasks {
        let name = task.metadata.name.as_deref().unwrap_or("?");
        let file = Path::new(&task.path)
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default();
        let _ = write!(out, "\n## {name}\n\n");
        if let Some(title) = task.metadata.annotations.get("tekton.dev/displayName") {
            let _ = writeln!(out, "**{title}** ([{file}]({file}))\n");
        }
        if let Some(description) = &task.spec.description {
            let _ = writeln!(out, "{}\n", one_line(description));
        }
        out.push_str("| param | type | default | description |\n| --- | --- | --- | --- |\n");
        for param in &task.spec.params {
            let _ = writeln!(
                out,
                "| `{}` | {} | {} | {} |",
                param.name,
                param.type_name(),
                default_of(param),
                cell(param.description.as_deref())
            );
        }
        if !task.spec.results.is_empty() {
            out.push_str("\n| result | description |\n| --- | --- |\n");
            for result in &task.spec.results {
                let _ = writeln!(
                    out,
                    "| `{}` | {} |",
                    result.name,
                    cell(result.description.as_deref())
                );
            }
        }
        if !task.spec.workspaces.is_empty() {
            out.push_str("\n| workspace | optional | description |\n| --- | --- | --- |\n");
            for workspace in &task.spec.workspaces {
                let _ = writeln!(
                    out,
                    "| `{}` | {} | {} |",
                    workspace.name,
                    if workspace.optional { "yes" } else { "no" },
                    cell(workspace.description.as_deref())
                );
            }
        }
    }
    out
}

fn default_of(param: &ParamSpec) -> String {
    match &param.default {
        None => "*required*".into(),
        Some(ParamValue::String(s)) if s.is_empty() => "`\"\"`".into(),
        Some(ParamValue::String(s)) => format!("`{}`", s.replace('|', "\\|")),
        Some(ParamValue::Array(items)) if items.is_empty() => "`[]`".into(),
        Some(ParamValue::Array(items)) => format!("`{}`", items.join(" ").replace('|', "\\|")),
        Some(ParamValue::Object(_)) => "(object)".into(),
    }
}

/// Folded to one line, with `<placeholders>` kept visible in rendered markdown.
fn one_line(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace('<', "&lt;")
}

fn cell(text: Option<&str>) -> String {
    one_line(text.unwrap_or("")).replace('|', "\\|")
}
