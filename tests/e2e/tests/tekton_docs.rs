//! The Task reference (`tekton/tasks/README.md`) is generated from the Tasks themselves, so it cannot
//! drift from them: this test renders it and fails when the file differs. Run it with
//! `UPDATE_TEKTON_DOCS=1` to rewrite the file. Every Task also has a sample TaskRun under
//! `tekton/runs/taskruns/` that gives each of its required params and nothing it does not declare,
//! and every `tkn task|pipeline start` command in the READMEs names only params and workspaces the
//! Task or Pipeline declares, and all that it requires.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::Path;

use e2e::manifests::{Manifests, ParamSpec, ParamValue, Task, WorkspaceDeclaration};
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

const DOCS_WITH_TKN: [&str; 2] = ["README.md", "tekton/README.md"];

#[test]
fn the_readmes_tkn_commands_give_what_the_tasks_and_pipelines_declare() {
    let root = workspace_root();
    let manifests = Manifests::load(&root.join("tekton")).unwrap();
    let mut checked = 0;
    let mut wrong = Vec::new();
    for doc in DOCS_WITH_TKN {
        let text = std::fs::read_to_string(root.join(doc)).unwrap();
        for command in tkn_commands(&text) {
            let words = shell_split(&command);
            let (kind, name) = match words.as_slice() {
                [tkn, kind, start, name, ..] if tkn == "tkn" && start == "start" => {
                    (kind.as_str(), name.as_str())
                }
                _ => continue,
            };
            let (params, workspaces) = match kind {
                "task" => match manifests.tasks.get(name) {
                    Some(task) => (&task.spec.params, &task.spec.workspaces),
                    None => {
                        wrong.push(format!("{doc}: no Task {name}"));
                        continue;
                    }
                },
                "pipeline" => match manifests.pipelines.get(name) {
                    Some(pipeline) => (&pipeline.spec.params, &pipeline.spec.workspaces),
                    None => {
                        wrong.push(format!("{doc}: no Pipeline {name}"));
                        continue;
                    }
                },
                _ => continue,
            };
            checked += 1;
            wrong.extend(
                check_start(&words[4..], params, workspaces)
                    .into_iter()
                    .map(|w| format!("{doc}: tkn {kind} start {name}: {w}")),
            );
        }
    }
    assert!(checked >= 4, "found only {checked} tkn start commands");
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// What a `tkn ... start` command's flags get wrong against the declared params and workspaces
/// (it runs with --use-param-defaults, so every param without a default must be given).
fn check_start(
    flags: &[String],
    params: &[ParamSpec],
    workspaces: &[WorkspaceDeclaration],
) -> Vec<String> {
    let mut given_params = BTreeSet::new();
    let mut given_workspaces = BTreeSet::new();
    let mut words = flags.iter();
    while let Some(flag) = words.next() {
        match flag.as_str() {
            "-p" | "--param" => {
                let value = words.next().map(String::as_str).unwrap_or_default();
                given_params.insert(value.split('=').next().unwrap_or_default().to_owned());
            }
            "-w" | "--workspace" => {
                let value = words.next().map(String::as_str).unwrap_or_default();
                let name = value
                    .split(',')
                    .find_map(|part| part.strip_prefix("name="))
                    .unwrap_or_default();
                given_workspaces.insert(name.to_owned());
            }
            _ => {}
        }
    }
    let mut wrong = Vec::new();
    for param in &given_params {
        if !params.iter().any(|p| p.name == *param) {
            wrong.push(format!("-p {param} is not a declared param"));
        }
    }
    for param in params.iter().filter(|p| p.default.is_none()) {
        if !given_params.contains(&param.name) {
            wrong.push(format!("the required param {} is not given", param.name));
        }
    }
    for workspace in &given_workspaces {
        if !workspaces.iter().any(|w| w.name == *workspace) {
            wrong.push(format!("-w name={workspace} is not a declared workspace"));
        }
    }
    for workspace in workspaces.iter().filter(|w| !w.optional) {
        if !given_workspaces.contains(&workspace.name) {
            wrong.push(format!(
                "the required workspace {} is not bound",
                workspace.name
            ));
        }
    }
    wrong
}

/// The `tkn` commands of the shell blocks in `markdown`, continuation lines joined.
fn tkn_commands(markdown: &str) -> Vec<String> {
    let mut commands = Vec::new();
    let mut current: Option<String> = None;
    for line in markdown.lines() {
        let line = line.trim();
        if let Some(command) = current.as_mut() {
            command.push(' ');
            command.push_str(line.trim_end_matches('\\'));
        } else if line.starts_with("tkn ") {
            current = Some(line.trim_end_matches('\\').to_owned());
        }
        if !line.ends_with('\\') {
            commands.extend(current.take());
        }
    }
    commands
}

/// Words as the shell splits them, for the quoting the READMEs use ("...", '...', $(...)).
fn shell_split(command: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut quote = None;
    let mut depth = 0usize;
    for c in command.chars() {
        match (quote, c) {
            (Some(q), c) if c == q && depth == 0 => quote = None,
            (None, '"' | '\'') => quote = Some(c),
            (_, '(') => {
                depth += 1;
                word.push(c);
            }
            (_, ')') => {
                depth = depth.saturating_sub(1);
                word.push(c);
            }
            (None, ' ') if depth == 0 => {
                if !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
            }
            _ => word.push(c),
        }
    }
    if !word.is_empty() {
        words.push(word);
    }
    words
}

#[test]
fn tkn_commands_are_read_as_the_shell_reads_them() {
    let markdown = "```sh\ntkn task start t -n ns \\\n  -p A=\"x y\" -p B=\"$(git -C j rev-parse HEAD)\" \\\n  -w name=w,config=c --showlog\n```\n";
    let commands = tkn_commands(markdown);
    assert_eq!(commands.len(), 1, "{commands:?}");
    assert_eq!(
        shell_split(&commands[0]),
        [
            "tkn",
            "task",
            "start",
            "t",
            "-n",
            "ns",
            "-p",
            "A=x y",
            "-p",
            "B=$(git -C j rev-parse HEAD)",
            "-w",
            "name=w,config=c",
            "--showlog"
        ]
    );
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
