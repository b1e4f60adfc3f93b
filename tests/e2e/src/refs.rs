//! Tekton's `$(...)` variable references: finding them, classifying them, substituting them.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use crate::manifests::ParamValue;

/// How a param reference selects from its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selector {
    /// `$(params.X)`: the whole string value.
    Whole,
    /// `$(params.X[*])`: every item of an array, as separate arguments.
    Star,
    /// `$(params.X[2])`.
    Index(usize),
    /// `$(params.X.key)`: one key of an object.
    Key(String),
}

/// What a `$(...)` reference points at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Param {
        name: String,
        selector: Selector,
    },
    TaskResult {
        task: String,
        result: String,
        selector: Selector,
    },
    TaskStatus {
        task: String,
    },
    Workspace {
        name: String,
        field: String,
    },
    ResultPath {
        name: String,
    },
    Context(String),
    TriggerTemplateParam(String),
    Body(String),
    Header(String),
    Extensions(String),
    Other(String),
}

/// One `$(...)` in a string: where it is, what it says, what it points at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// Byte offsets of `$(` and one past `)`.
    pub start: usize,
    pub end: usize,
    /// The text between the parentheses.
    pub expression: String,
    pub target: Target,
}

/// Every reference in `text`, in order.
pub fn references(text: &str) -> Vec<Reference> {
    let mut found = Vec::new();
    let mut offset = 0;
    while let Some(open) = text[offset..].find("$(") {
        let start = offset + open;
        let Some(close) = text[start + 2..].find(')') else {
            break;
        };
        let end = start + 2 + close + 1;
        let expression = text[start + 2..end - 1].to_string();
        let target = classify(&expression);
        found.push(Reference {
            start,
            end,
            expression,
            target,
        });
        offset = end;
    }
    found
}

fn split_selector(name: &str) -> (String, Selector) {
    if let Some(base) = name.strip_suffix("[*]") {
        return (base.to_string(), Selector::Star);
    }
    if let Some((base, rest)) = name.split_once('[')
        && let Some(index) = rest.strip_suffix(']').and_then(|i| i.parse().ok())
    {
        return (base.to_string(), Selector::Index(index));
    }
    if let Some((base, key)) = name.split_once('.') {
        return (base.to_string(), Selector::Key(key.to_string()));
    }
    (name.to_string(), Selector::Whole)
}

fn classify(expression: &str) -> Target {
    let parts: Vec<&str> = expression.splitn(2, '.').collect();
    let rest = parts.get(1).copied().unwrap_or("");
    match parts[0] {
        "params" => {
            let (name, selector) = split_selector(rest);
            Target::Param { name, selector }
        }
        "tasks" => {
            let pieces: Vec<&str> = rest.splitn(3, '.').collect();
            match pieces.as_slice() {
                [task, "results", result] => {
                    let (result, selector) = split_selector(result);
                    Target::TaskResult {
                        task: task.to_string(),
                        result,
                        selector,
                    }
                }
                [task, "status"] => Target::TaskStatus {
                    task: task.to_string(),
                },
                _ => Target::Other(expression.to_string()),
            }
        }
        "workspaces" => match rest.rsplit_once('.') {
            Some((name, field)) => Target::Workspace {
                name: name.to_string(),
                field: field.to_string(),
            },
            None => Target::Other(expression.to_string()),
        },
        "results" => match rest.rsplit_once('.') {
            Some((name, "path")) => Target::ResultPath {
                name: name.to_string(),
            },
            _ => Target::Other(expression.to_string()),
        },
        "context" => Target::Context(rest.to_string()),
        "tt" => match rest.strip_prefix("params.") {
            Some(name) => Target::TriggerTemplateParam(name.to_string()),
            None => Target::Other(expression.to_string()),
        },
        "body" => Target::Body(rest.to_string()),
        "header" => Target::Header(rest.to_string()),
        "extensions" => Target::Extensions(rest.to_string()),
        _ => Target::Other(expression.to_string()),
    }
}

/// A reference that has no value where it is used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unresolved {
    pub expression: String,
    pub reason: String,
}

impl fmt::Display for Unresolved {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "$({}): {}", self.expression, self.reason)
    }
}

impl std::error::Error for Unresolved {}

/// Who a PipelineRun or TaskRun is, as Tekton's `$(context.…)` variables tell it: the object's
/// name, namespace and uid (Tekton gives `""` for what the object does not have).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunIdentity {
    pub name: String,
    pub namespace: String,
    pub uid: String,
}

/// The values a Task's step sees: its params (defaults applied), the bound workspaces, the
/// folder for results, and the TaskRun's `$(context.…)` variables (none until
/// [`StepContext::with_run`]: the references are then refused).
#[derive(Debug, Clone, Default)]
pub struct StepContext {
    pub params: BTreeMap<String, ParamValue>,
    /// Bound workspaces; a declared but absent optional workspace has path "" and bound "false".
    pub workspaces: BTreeMap<String, PathBuf>,
    pub results_dir: PathBuf,
    /// `taskRun.name`, ... -> value.
    pub context: BTreeMap<String, String>,
}

impl StepContext {
    /// The context of a TaskRun `run` of the Task `task_name`, as Tekton's TaskRun reconciler gives
    /// it (`getContextReplacements`): `taskRun.name`, `taskRun.namespace`, `taskRun.uid`,
    /// `task.name`, and `task.retry-count` (0: no retries here).
    pub fn with_run(mut self, task_name: &str, run: &RunIdentity) -> Self {
        self.context = BTreeMap::from([
            ("taskRun.name".to_string(), run.name.clone()),
            ("taskRun.namespace".to_string(), run.namespace.clone()),
            ("taskRun.uid".to_string(), run.uid.clone()),
            ("task.name".to_string(), task_name.to_string()),
            ("task.retry-count".to_string(), "0".to_string()),
        ]);
        self
    }

    fn lookup(&self, reference: &Reference) -> Result<String, Unresolved> {
        let unresolved = |reason: &str| Unresolved {
            expression: reference.expression.clone(),
            reason: reason.to_string(),
        };
        match &reference.target {
            Target::Param { name, selector } => {
                let value = self
                    .params
                    .get(name)
                    .ok_or_else(|| unresolved("no such param"))?;
                match (value, selector) {
                    (ParamValue::String(s), Selector::Whole) => Ok(s.clone()),
                    (ParamValue::Array(items), Selector::Index(i)) => items
                        .get(*i)
                        .cloned()
                        .ok_or_else(|| unresolved("index out of range")),
                    (ParamValue::Object(map), Selector::Key(key)) => map
                        .get(key)
                        .cloned()
                        .ok_or_else(|| unresolved("no such key")),
                    (ParamValue::Array(_), Selector::Star) => {
                        Err(unresolved("an array expands only as a whole argument"))
                    }
                    (value, _) => Err(unresolved(&format!(
                        "a {} param used that way",
                        value.type_name()
                    ))),
                }
            }
            Target::Workspace { name, field } => {
                match (self.workspaces.get(name), field.as_str()) {
                    (Some(path), "path") => Ok(path.display().to_string()),
                    (Some(_), "bound") => Ok("true".into()),
                    (None, "path") => Ok(String::new()),
                    (None, "bound") => Ok("false".into()),
                    _ => Err(unresolved("unsupported workspace field")),
                }
            }
            Target::ResultPath { name } => Ok(self.results_dir.join(name).display().to_string()),
            Target::Context(path) => self
                .context
                .get(path)
                .cloned()
                .ok_or_else(|| unresolved("not a TaskRun context variable given to this step")),
            _ => Err(unresolved("not available to a step")),
        }
    }

    /// `text` with every reference replaced.
    pub fn substitute(&self, text: &str) -> Result<String, Unresolved> {
        substitute(text, |reference| self.lookup(reference))
    }

    /// A step's args with references replaced; an argument that is exactly `$(params.X[*])`
    /// becomes the array's items.
    pub fn expand_args(&self, args: &[String]) -> Result<Vec<String>, Unresolved> {
        let mut expanded = Vec::new();
        for arg in args {
            if let [only] = references(arg).as_slice()
                && only.start == 0
                && only.end == arg.len()
                && let Target::Param {
                    name,
                    selector: Selector::Star,
                } = &only.target
            {
                match self.params.get(name) {
                    Some(ParamValue::Array(items)) => {
                        expanded.extend(items.iter().cloned());
                        continue;
                    }
                    _ => {
                        return Err(Unresolved {
                            expression: only.expression.clone(),
                            reason: "not an array param".into(),
                        });
                    }
                }
            }
            expanded.push(self.substitute(arg)?);
        }
        Ok(expanded)
    }
}

/// Replaces every `$(...)` in `text` with what `lookup` gives for it.
pub fn substitute(
    text: &str,
    mut lookup: impl FnMut(&Reference) -> Result<String, Unresolved>,
) -> Result<String, Unresolved> {
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for reference in references(text) {
        out.push_str(&text[last..reference.start]);
        out.push_str(&lookup(&reference)?);
        last = reference.end;
    }
    out.push_str(&text[last..]);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_the_reference_forms() {
        let text = "$(params.A) $(params.B[*]) $(tasks.t.results.R) $(workspaces.w.path) \
                    $(results.IMAGE_URL.path) $(tt.params.x) $(body.repository.name) $(extensions.k)";
        let targets: Vec<Target> = references(text).into_iter().map(|r| r.target).collect();
        assert_eq!(
            targets,
            vec![
                Target::Param {
                    name: "A".into(),
                    selector: Selector::Whole
                },
                Target::Param {
                    name: "B".into(),
                    selector: Selector::Star
                },
                Target::TaskResult {
                    task: "t".into(),
                    result: "R".into(),
                    selector: Selector::Whole
                },
                Target::Workspace {
                    name: "w".into(),
                    field: "path".into()
                },
                Target::ResultPath {
                    name: "IMAGE_URL".into()
                },
                Target::TriggerTemplateParam("x".into()),
                Target::Body("repository.name".into()),
                Target::Extensions("k".into()),
            ]
        );
    }

    #[test]
    fn expands_args_and_unbound_workspaces() {
        let mut context = StepContext::default();
        context
            .params
            .insert("IMAGE".into(), ParamValue::String("quay.io/u/m".into()));
        context.params.insert(
            "EXTRA".into(),
            ParamValue::Array(vec!["--a".into(), "--b=1".into()]),
        );
        context
            .workspaces
            .insert("source".into(), PathBuf::from("/w/source"));
        let args = [
            "--image=$(params.IMAGE)".to_string(),
            "--dir=$(workspaces.source.path)/m".to_string(),
            "--ca=$(workspaces.ca.path)".to_string(),
            "$(params.EXTRA[*])".to_string(),
        ];
        assert_eq!(
            context.expand_args(&args).unwrap(),
            vec![
                "--image=quay.io/u/m",
                "--dir=/w/source/m",
                "--ca=",
                "--a",
                "--b=1"
            ]
        );
        let error = context
            .expand_args(&["--x=$(params.MISSING)".to_string()])
            .unwrap_err();
        assert_eq!(error.reason, "no such param");
    }
}
