//! Walking a Pipeline as Tekton would: task order, each task's params from the Pipeline's params and
//! earlier tasks' results, and each step's command line. Running the steps is left to the caller.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::manifests::{ParamSpec, ParamValue, PipelineSpec, PipelineTask, Step, TaskSpec};
use crate::refs::{self, RunIdentity, Selector, StepContext, Target, Unresolved};

/// `given` over the `declared` defaults; every declared param without a default must be given, and
/// nothing undeclared may be.
pub fn bind_params(
    declared: &[ParamSpec],
    given: &BTreeMap<String, ParamValue>,
) -> Result<BTreeMap<String, ParamValue>, String> {
    if let Some(unknown) = given
        .keys()
        .find(|name| !declared.iter().any(|p| &p.name == *name))
    {
        return Err(format!("param {unknown} is not declared"));
    }
    declared
        .iter()
        .map(|spec| match (given.get(&spec.name), &spec.default) {
            (Some(value), _) if value.type_name() != spec.type_name() => Err(format!(
                "param {} is a {}, given a {}",
                spec.name,
                spec.type_name(),
                value.type_name()
            )),
            (Some(value), _) => Ok((spec.name.clone(), value.clone())),
            (None, Some(default)) => Ok((spec.name.clone(), default.clone())),
            (None, None) => Err(format!("required param {} is not given", spec.name)),
        })
        .collect()
}

/// The `$(params.NAME)` references in a default, and whether every `$(params...)` in it is one.
fn default_references(text: &str) -> (Vec<String>, bool) {
    let mut names = Vec::new();
    let mut plain = true;
    for reference in refs::references(text) {
        match reference.target {
            Target::Param {
                name,
                selector: Selector::Whole,
            } => names.push(name),
            Target::Param { .. } => plain = false,
            _ => {}
        }
    }
    (names, plain)
}

/// A Task's params as its TaskRun's steps see them. A string default that refers to another param
/// gets that param's own default, not the value given to it (Tekton's TaskRun reconciler,
/// `replacementsFromDefaultParams`); defaults it cannot resolve that way are refused.
fn bind_task_params(
    declared: &[ParamSpec],
    given: &BTreeMap<String, ParamValue>,
) -> Result<BTreeMap<String, ParamValue>, String> {
    let mut params = bind_params(declared, given)?;
    let plain_default = |name: &str| match declared.iter().find(|p| p.name == name)?.default {
        Some(ParamValue::String(ref s)) if !s.contains("$(params.") => Some(s.clone()),
        _ => None,
    };
    for spec in declared.iter().filter(|p| !given.contains_key(&p.name)) {
        let Some(ParamValue::String(text)) = &spec.default else {
            continue;
        };
        if !text.contains("$(params.") {
            continue;
        }
        let (names, plain) = default_references(text);
        let distinct: BTreeSet<&String> = names.iter().collect();
        let [only] = distinct.into_iter().collect::<Vec<_>>()[..] else {
            return Err(format!(
                "param {}: a default that refers to several params is not resolved locally",
                spec.name
            ));
        };
        let value = plain_default(only).filter(|_| plain).ok_or_else(|| {
            format!(
                "param {}: its default refers to $(params.{only}), which has no plain default",
                spec.name
            )
        })?;
        let resolved = text.replace(&format!("$(params.{only})"), &value);
        params.insert(spec.name.clone(), ParamValue::String(resolved));
    }
    Ok(params)
}

/// A Pipeline's params as its tasks see them. The default of a param not given may refer to other
/// params (`$(params.NAME)`), given or defaulted, through any number of steps: Tekton's PipelineRun
/// reconciler (`ApplyParameters`) resolves them; a cycle or an unknown param is an error. Given
/// values are taken as they are.
fn bind_pipeline_params(
    declared: &[ParamSpec],
    given: &BTreeMap<String, ParamValue>,
) -> Result<BTreeMap<String, ParamValue>, String> {
    fn resolve(
        name: &str,
        params: &mut BTreeMap<String, ParamValue>,
        pending: &mut BTreeSet<String>,
        visiting: &mut Vec<String>,
    ) -> Result<(), String> {
        if !pending.contains(name) {
            return Ok(());
        }
        if visiting.iter().any(|v| v == name) {
            return Err(format!(
                "param {name}: circular reference ({} -> {name})",
                visiting.join(" -> ")
            ));
        }
        visiting.push(name.to_string());
        let Some(ParamValue::String(text)) = params.get(name).cloned() else {
            unreachable!("only string defaults are pending")
        };
        let (names, plain) = default_references(&text);
        if !plain {
            return Err(format!(
                "param {name}: only $(params.NAME) references in a default are resolved locally"
            ));
        }
        for other in &names {
            match params.get(other) {
                Some(ParamValue::String(_)) => resolve(other, params, pending, visiting)?,
                _ => return Err(format!("param {name} refers to undefined param {other}")),
            }
        }
        let resolved = refs::substitute(&text, |reference| match &reference.target {
            Target::Param {
                name,
                selector: Selector::Whole,
            } => match params.get(name) {
                Some(ParamValue::String(value)) => Ok(value.clone()),
                _ => unreachable!("checked above"),
            },
            _ => Ok(text[reference.start..reference.end].to_string()),
        })
        .map_err(|e| e.to_string())?;
        params.insert(name.to_string(), ParamValue::String(resolved));
        pending.remove(name);
        visiting.pop();
        Ok(())
    }

    let mut params = bind_params(declared, given)?;
    let mut pending: BTreeSet<String> = declared
        .iter()
        .filter(|p| !given.contains_key(&p.name))
        .filter(|p| matches!(&p.default, Some(ParamValue::String(s)) if s.contains("$(")))
        .map(|p| p.name.clone())
        .collect();
    for name in pending.clone() {
        resolve(&name, &mut params, &mut pending, &mut Vec::new())?;
    }
    // Array and object defaults get the string params in their items.
    let strings: BTreeMap<String, String> = params
        .iter()
        .filter_map(|(k, v)| match v {
            ParamValue::String(s) => Some((k.clone(), s.clone())),
            _ => None,
        })
        .collect();
    let fill = |text: &String| {
        refs::substitute(text, |reference| match &reference.target {
            Target::Param {
                name,
                selector: Selector::Whole,
            } if strings.contains_key(name) => Ok(strings[name].clone()),
            _ => Ok(text[reference.start..reference.end].to_string()),
        })
        .expect("the lookup never fails")
    };
    for spec in declared.iter().filter(|p| !given.contains_key(&p.name)) {
        let value = match params.get(&spec.name) {
            Some(ParamValue::Array(items)) => ParamValue::Array(items.iter().map(fill).collect()),
            Some(ParamValue::Object(map)) => {
                ParamValue::Object(map.iter().map(|(k, v)| (k.clone(), fill(v))).collect())
            }
            _ => continue,
        };
        params.insert(spec.name.clone(), value);
    }
    Ok(params)
}

/// What a step of a Task sees, for given params, bound workspaces and results folder.
pub fn step_context(
    task: &TaskSpec,
    given: &BTreeMap<String, ParamValue>,
    workspaces: BTreeMap<String, PathBuf>,
    results_dir: &Path,
) -> Result<StepContext, String> {
    Ok(StepContext {
        params: bind_task_params(&task.params, given)?,
        workspaces,
        results_dir: results_dir.to_path_buf(),
        context: BTreeMap::new(),
    })
}

/// A step's program and arguments, references replaced.
pub fn command_line(step: &Step, context: &StepContext) -> Result<Vec<String>, Unresolved> {
    let mut line = step
        .command
        .iter()
        .map(|c| context.substitute(c))
        .collect::<Result<Vec<_>, _>>()?;
    line.extend(context.expand_args(&step.args)?);
    Ok(line)
}

/// A PipelineRun in progress: the Pipeline's params, the results of the tasks done so far, and the
/// run's `$(context.…)` variables (none until [`PipelineContext::with_run`]: the references are then
/// refused).
#[derive(Debug, Clone, Default)]
pub struct PipelineContext {
    pub params: BTreeMap<String, ParamValue>,
    /// (task, result) -> value.
    pub results: BTreeMap<(String, String), String>,
    /// `pipelineRun.name`, ... -> value.
    pub context: BTreeMap<String, String>,
}

impl PipelineContext {
    pub fn new(
        pipeline: &PipelineSpec,
        given: &BTreeMap<String, ParamValue>,
    ) -> Result<Self, String> {
        Ok(PipelineContext {
            params: bind_pipeline_params(&pipeline.params, given)?,
            results: BTreeMap::new(),
            context: BTreeMap::new(),
        })
    }

    /// The context of a PipelineRun `run` of the Pipeline `pipeline_name`, as Tekton's PipelineRun
    /// reconciler gives it (`GetContextReplacements`): `pipelineRun.name`, `pipelineRun.namespace`,
    /// `pipelineRun.uid` and `pipeline.name`; each task also gets `pipelineTask.retries`.
    pub fn with_run(mut self, pipeline_name: &str, run: &RunIdentity) -> Self {
        self.context = BTreeMap::from([
            ("pipelineRun.name".to_string(), run.name.clone()),
            ("pipelineRun.namespace".to_string(), run.namespace.clone()),
            ("pipelineRun.uid".to_string(), run.uid.clone()),
            ("pipeline.name".to_string(), pipeline_name.to_string()),
        ]);
        self
    }

    /// The name Tekton gives the TaskRun of a pipeline task: `<PipelineRun>-<task>`.
    pub fn task_run(&self, task: &PipelineTask) -> RunIdentity {
        RunIdentity {
            name: format!(
                "{}-{}",
                self.context
                    .get("pipelineRun.name")
                    .map(String::as_str)
                    .unwrap_or_default(),
                task.name
            ),
            namespace: self
                .context
                .get("pipelineRun.namespace")
                .cloned()
                .unwrap_or_default(),
            uid: String::new(),
        }
    }

    /// `text` with the Pipeline's params, the recorded results and the run's context replaced.
    pub fn substitute(&self, text: &str) -> Result<String, Unresolved> {
        self.substitute_in(text, None)
    }

    /// [`PipelineContext::substitute`] inside a pipeline task, which also has `pipelineTask.*`.
    fn substitute_in(&self, text: &str, task: Option<&PipelineTask>) -> Result<String, Unresolved> {
        refs::substitute(text, |reference| {
            let missing = |reason: &str| Unresolved {
                expression: reference.expression.clone(),
                reason: reason.to_string(),
            };
            match &reference.target {
                Target::Param {
                    name,
                    selector: Selector::Whole,
                } => match self.params.get(name) {
                    Some(ParamValue::String(value)) => Ok(value.clone()),
                    Some(_) => Err(missing("not a string param")),
                    None => Err(missing("no such Pipeline param")),
                },
                Target::TaskResult {
                    task,
                    result,
                    selector: Selector::Whole,
                } => self
                    .results
                    .get(&(task.clone(), result.clone()))
                    .cloned()
                    .ok_or_else(|| missing("that task has not produced this result")),
                Target::Context(path) if !self.context.is_empty() => match (path.as_str(), task) {
                    ("pipelineTask.retries", Some(task)) => Ok(task.retries.to_string()),
                    _ => self
                        .context
                        .get(path)
                        .cloned()
                        .ok_or_else(|| missing("not a PipelineRun context variable")),
                },
                _ => Err(missing("not resolvable in a Pipeline task's params")),
            }
        })
    }

    /// The items of an array param, for a value that is exactly `$(params.X[*])`.
    fn whole_array(&self, text: &str) -> Option<Vec<String>> {
        let [only] = <[_; 1]>::try_from(refs::references(text)).ok()?;
        match &only.target {
            Target::Param {
                name,
                selector: Selector::Star,
            } if only.start == 0 && only.end == text.len() => match self.params.get(name)? {
                ParamValue::Array(items) => Some(items.clone()),
                _ => None,
            },
            _ => None,
        }
    }

    /// The params a Pipeline task passes to its Task, references replaced; a value that is exactly
    /// `$(params.X[*])` passes the array.
    pub fn task_params(
        &self,
        task: &PipelineTask,
    ) -> Result<BTreeMap<String, ParamValue>, Unresolved> {
        task.params
            .iter()
            .map(|param| {
                let substitute = |text: &str| self.substitute_in(text, Some(task));
                let value = match &param.value {
                    ParamValue::String(s) => match self.whole_array(s) {
                        Some(items) => ParamValue::Array(items),
                        None => ParamValue::String(substitute(s)?),
                    },
                    ParamValue::Array(items) => ParamValue::Array(
                        items
                            .iter()
                            .map(|i| substitute(i))
                            .collect::<Result<_, _>>()?,
                    ),
                    ParamValue::Object(map) => ParamValue::Object(
                        map.iter()
                            .map(|(k, v)| Ok((k.clone(), substitute(v)?)))
                            .collect::<Result<_, Unresolved>>()?,
                    ),
                };
                Ok((param.name.clone(), value))
            })
            .collect()
    }

    /// Records a finished task's results: one file per result in `results_dir`, as Tekton reads them.
    pub fn record_results(&mut self, task: &str, results_dir: &Path) -> std::io::Result<()> {
        for entry in std::fs::read_dir(results_dir)? {
            let entry = entry?;
            let value = std::fs::read_to_string(entry.path())?;
            let name = entry.file_name().to_string_lossy().into_owned();
            self.results.insert((task.to_string(), name), value);
        }
        Ok(())
    }
}

/// The Pipeline's tasks in an order Tekton may run them: each after its runAfter tasks and the
/// tasks whose results it uses (ties broken by the order of the YAML).
pub fn task_order(pipeline: &PipelineSpec) -> Result<Vec<&PipelineTask>, String> {
    let needs = crate::checks::dependencies(pipeline);
    let mut done: BTreeSet<String> = BTreeSet::new();
    let mut order = Vec::new();
    while order.len() < pipeline.tasks.len() {
        let next = pipeline
            .tasks
            .iter()
            .find(|t| !done.contains(&t.name) && needs[&t.name].iter().all(|n| done.contains(n)))
            .ok_or("the Pipeline's tasks depend on each other in a cycle or on a missing task")?;
        done.insert(next.name.clone());
        order.push(next);
    }
    Ok(order)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(name: &str, default: Option<ParamValue>) -> ParamSpec {
        ParamSpec {
            name: name.into(),
            kind: None,
            description: None,
            default,
        }
    }

    fn string(s: &str) -> ParamValue {
        ParamValue::String(s.into())
    }

    #[test]
    fn pipeline_defaults_refer_to_params_given_or_defaulted() {
        let declared = [
            spec("P", None),
            spec("Q", Some(string("q-$(params.P)"))),
            spec(
                "R",
                Some(string(
                    "$(params.Q)/$(params.P)/$(context.pipelineRun.name)",
                )),
            ),
            spec(
                "L",
                Some(ParamValue::Array(vec!["$(params.R)".into(), "l".into()])),
            ),
        ];
        let given = BTreeMap::from([("P".to_string(), string("p $(params.Q)"))]);
        let params = bind_pipeline_params(&declared, &given).unwrap();
        assert_eq!(
            params["Q"],
            string("q-p $(params.Q)"),
            "given values are kept as given"
        );
        assert_eq!(
            params["R"],
            string("q-p $(params.Q)/p $(params.Q)/$(context.pipelineRun.name)")
        );
        assert_eq!(
            params["L"],
            ParamValue::Array(vec![
                "q-p $(params.Q)/p $(params.Q)/$(context.pipelineRun.name)".into(),
                "l".into()
            ])
        );
        let cycle = [
            spec("A", Some(string("$(params.B)"))),
            spec("B", Some(string("x$(params.A)"))),
        ];
        let error = bind_pipeline_params(&cycle, &BTreeMap::new()).unwrap_err();
        assert!(error.contains("circular"), "{error}");
        let unknown = [spec("A", Some(string("$(params.NOPE)")))];
        let error = bind_pipeline_params(&unknown, &BTreeMap::new()).unwrap_err();
        assert!(error.contains("undefined param NOPE"), "{error}");
    }

    #[test]
    fn task_defaults_refer_to_the_other_params_defaults() {
        let declared = [
            spec("S", Some(string("s"))),
            spec("D", Some(string("d-$(params.S)-$(params.S)"))),
            spec("T", None),
        ];
        let given = BTreeMap::from([
            ("S".to_string(), string("given")),
            ("T".to_string(), string("t")),
        ]);
        let params = bind_task_params(&declared, &given).unwrap();
        assert_eq!(params["S"], string("given"));
        assert_eq!(
            params["D"],
            string("d-s-s"),
            "the default of S, not its value"
        );
        let two = [
            spec("S", Some(string("s"))),
            spec("U", Some(string("u"))),
            spec("D", Some(string("$(params.S)$(params.U)"))),
        ];
        assert!(bind_task_params(&two, &BTreeMap::new()).is_err());
        let required = [spec("T", None), spec("D", Some(string("$(params.T)")))];
        let given = BTreeMap::from([("T".to_string(), string("t"))]);
        assert!(bind_task_params(&required, &given).is_err());
    }
}
