//! Walking a Pipeline as Tekton would: task order, each task's params from the Pipeline's params and
//! earlier tasks' results, and each step's command line. Running the steps is left to the caller.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::manifests::{ParamSpec, ParamValue, PipelineSpec, PipelineTask, Step, TaskSpec};
use crate::refs::{self, Selector, StepContext, Target, Unresolved};

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

/// What a step of a Task sees, for given params, bound workspaces and results folder.
pub fn step_context(
    task: &TaskSpec,
    given: &BTreeMap<String, ParamValue>,
    workspaces: BTreeMap<String, PathBuf>,
    results_dir: &Path,
) -> Result<StepContext, String> {
    Ok(StepContext {
        params: bind_params(&task.params, given)?,
        workspaces,
        results_dir: results_dir.to_path_buf(),
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

/// A PipelineRun in progress: the Pipeline's params and the results of the tasks done so far.
#[derive(Debug, Clone, Default)]
pub struct PipelineContext {
    pub params: BTreeMap<String, ParamValue>,
    /// (task, result) -> value.
    pub results: BTreeMap<(String, String), String>,
}

impl PipelineContext {
    pub fn new(
        pipeline: &PipelineSpec,
        given: &BTreeMap<String, ParamValue>,
    ) -> Result<Self, String> {
        Ok(PipelineContext {
            params: bind_params(&pipeline.params, given)?,
            results: BTreeMap::new(),
        })
    }

    /// `text` with the Pipeline's params and the recorded results replaced.
    pub fn substitute(&self, text: &str) -> Result<String, Unresolved> {
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
                _ => Err(missing("not resolvable in a Pipeline task's params")),
            }
        })
    }

    /// The params a Pipeline task passes to its Task, references replaced.
    pub fn task_params(
        &self,
        task: &PipelineTask,
    ) -> Result<BTreeMap<String, ParamValue>, Unresolved> {
        task.params
            .iter()
            .map(|param| {
                let value = match &param.value {
                    ParamValue::String(s) => ParamValue::String(self.substitute(s)?),
                    ParamValue::Array(items) => ParamValue::Array(
                        items
                            .iter()
                            .map(|i| self.substitute(i))
                            .collect::<Result<_, _>>()?,
                    ),
                    ParamValue::Object(map) => ParamValue::Object(
                        map.iter()
                            .map(|(k, v)| Ok((k.clone(), self.substitute(v)?)))
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
