//! Running a Pipeline's steps as local processes, as a cluster would run them in pods: params and
//! earlier results substituted, workspaces mapped to folders, `/tekton/results` and the Task's
//! `emptyDir` mounts mapped to per-step folders, env from values and from Secrets, and each step's
//! results read back from its results folder.
//!
//! A PipelineRun gets a name from its Pipeline's as `generateName` would (`<pipeline>-xxxxx`), a
//! namespace and a uid, and each task's TaskRun is `<PipelineRun>-<task>`: the `$(context.…)`
//! variables Tekton substitutes.
//!
//! What a cluster adds and this does not: images (each step's `command[0]`, `/usr/local/bin/<tool>`,
//! runs the workspace's binary `<tool>`), `when` expressions and `finally` tasks (the Pipelines here
//! have none; a Pipeline with them is refused rather than run differently), and parallelism (tasks run
//! one at a time in an order Tekton may use).

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};
use std::time::Duration;

use crate::manifests::{
    Manifests, ParamValue, PipelineRunSpec, PipelineSpec, RunWorkspaceBinding, Step, Task, TaskSpec,
};
use crate::refs::RunIdentity;
use crate::run::{PipelineContext, command_line, step_context, task_order};

pub use crate::process::{ProcessRun, indent, run_with_timeout, shell_words};

/// Where Tekton mounts the results folder of a step.
pub const TEKTON_RESULTS: &str = "/tekton/results";

/// The tool a step runs: `/usr/local/bin/<tool>` (the path the task images put it at).
pub fn tool_of(program: &str) -> Option<&str> {
    program
        .strip_prefix("/usr/local/bin/")
        .filter(|t| !t.is_empty() && !t.contains('/'))
}

/// Called as a task starts: (the pipeline task's name, the Task's name).
pub type OnTask = Box<dyn Fn(&str, &str)>;

/// What the cluster gives every step besides the YAML: Secrets, the pod template's env, and the
/// binaries standing in for the images.
pub struct LocalCluster {
    /// Secret name -> key -> value.
    pub secrets: BTreeMap<String, BTreeMap<String, String>>,
    /// ConfigMap name -> key -> value.
    pub config_maps: BTreeMap<String, BTreeMap<String, String>>,
    /// PersistentVolumeClaim name -> the local folder holding its files.
    pub claims: BTreeMap<String, PathBuf>,
    /// Env set on every step before the step's own (a PipelineRun's `podTemplate.env`).
    pub pod_env: BTreeMap<String, String>,
    /// The local program for a tool name (e.g. `test_services::workspace_bin`).
    pub program: Box<dyn Fn(&str) -> PathBuf>,
    /// Folder for each step's results, volumes, output and logs.
    pub scratch: PathBuf,
    /// How long a step may run before it is killed and the run fails.
    pub step_timeout: Duration,
    /// The namespace runs are created in.
    pub namespace: String,
    /// Called as each task of a Pipeline starts (the pipeline task's name, the Task's name), e.g.
    /// to show progress.
    pub on_task: Option<OnTask>,
}

/// One step as it ran.
#[derive(Debug, Clone)]
pub struct StepRun {
    pub task: String,
    pub step: String,
    /// The program and its arguments, as passed to the process.
    pub command_line: Vec<String>,
    /// Names of the env vars set (values are not kept: some are tokens).
    pub env_names: Vec<String>,
    pub status: Option<ExitStatus>,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl fmt::Display for StepRun {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let status = match self.status {
            Some(status) => status.to_string(),
            None => format!("killed after {:?}", self.elapsed),
        };
        write!(
            f,
            "task {}, step {} ({status}, {:.1?}):\n  $ {}\n  env: {}\n  stderr:\n{}",
            self.task,
            self.step,
            self.elapsed,
            shell_words(&self.command_line),
            self.env_names.join(" "),
            indent(&self.stderr),
        )
    }
}

/// Why a run stopped.
#[derive(Debug)]
pub enum RunError {
    /// The YAML could not be turned into a command (unresolved reference, missing Secret, ...).
    Setup { task: String, message: String },
    /// A step exited non-zero or timed out; Tekton fails the TaskRun and the PipelineRun.
    StepFailed(Box<StepRun>),
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RunError::Setup { task, message } => write!(f, "task {task}: {message}"),
            RunError::StepFailed(step) => write!(f, "step failed: {step}"),
        }
    }
}

impl std::error::Error for RunError {}

/// A finished PipelineRun.
#[derive(Debug, Clone, Default)]
pub struct PipelineRunOutcome {
    /// The PipelineRun: its generated name, namespace and uid.
    pub run: RunIdentity,
    /// (task, result) -> value.
    pub task_results: BTreeMap<(String, String), String>,
    /// The Pipeline's own results.
    pub results: BTreeMap<String, String>,
    pub steps: Vec<StepRun>,
}

impl PipelineRunOutcome {
    pub fn task_result(&self, task: &str, result: &str) -> &str {
        self.task_results
            .get(&(task.to_string(), result.to_string()))
            .map(String::as_str)
            .unwrap_or_else(|| panic!("task {task} gave no result {result}"))
    }
}

/// A step's env and its values, `valueFrom.secretKeyRef` resolved against `secrets`. A missing
/// optional Secret (or key) leaves the variable unset; a missing required one is an error, as
/// Tekton's pod then never starts (CreateContainerConfigError).
pub fn step_env(
    step: &Step,
    context: &crate::refs::StepContext,
    secrets: &BTreeMap<String, BTreeMap<String, String>>,
) -> Result<Vec<(String, String)>, String> {
    let mut env = Vec::new();
    for var in &step.env {
        if let Some(value) = &var.value {
            let value = context.substitute(value).map_err(|e| e.to_string())?;
            env.push((var.name.clone(), value));
            continue;
        }
        let Some(source) = &var.value_from else {
            env.push((var.name.clone(), String::new()));
            continue;
        };
        let Some(secret) = &source.secret_key_ref else {
            return Err(format!("env {}: only secretKeyRef is supported", var.name));
        };
        let name = context
            .substitute(&secret.name)
            .map_err(|e| e.to_string())?;
        let key = context.substitute(&secret.key).map_err(|e| e.to_string())?;
        match secrets.get(&name).and_then(|s| s.get(&key)) {
            Some(value) => env.push((var.name.clone(), value.clone())),
            None if secret.optional => {}
            None => {
                return Err(format!(
                    "env {}: Secret {name} (key {key}) does not exist and is not optional",
                    var.name
                ));
            }
        }
    }
    Ok(env)
}

/// Replaces a container path (`mount`) by a local folder (`local`) in a value that is the path,
/// starts with it, or is a `--flag=` whose value does.
pub fn map_path(value: &str, mount: &str, local: &Path) -> String {
    let local = local.display().to_string();
    let map = |v: &str| -> Option<String> {
        if v == mount {
            Some(local.clone())
        } else {
            v.strip_prefix(mount)
                .filter(|rest| rest.starts_with('/'))
                .map(|rest| format!("{local}{rest}"))
        }
    };
    if let Some(mapped) = map(value) {
        return mapped;
    }
    if let Some((flag, rest)) = value.split_once('=')
        && flag.starts_with("--")
        && let Some(mapped) = map(rest)
    {
        return format!("{flag}={mapped}");
    }
    value.to_string()
}

/// `step` with each container path of `mounts` (mount path, local folder) replaced in its args and
/// env values.
pub fn with_mounts(step: &Step, mounts: &[(String, PathBuf)]) -> Step {
    // The first mount that matches: a mapped path must not be mapped again by a shorter mount.
    let map_all = |value: &str| {
        mounts
            .iter()
            .map(|(mount, local)| map_path(value, mount, local))
            .find(|mapped| mapped != value)
            .unwrap_or_else(|| value.to_string())
    };
    let mut step = step.clone();
    step.args = step.args.iter().map(|a| map_all(a)).collect();
    for var in &mut step.env {
        if let Some(value) = &var.value {
            var.value = Some(map_all(value));
        }
    }
    step
}

impl LocalCluster {
    /// A cluster with no Secrets, running the workspace binaries next to the test executable.
    pub fn new(scratch: &Path) -> LocalCluster {
        LocalCluster {
            secrets: BTreeMap::new(),
            config_maps: BTreeMap::new(),
            claims: BTreeMap::new(),
            pod_env: BTreeMap::new(),
            program: Box::new(test_services::workspace_bin),
            scratch: scratch.to_path_buf(),
            step_timeout: Duration::from_secs(300),
            namespace: "default".to_string(),
            on_task: None,
        }
    }

    /// A new run of `prefix` in the cluster's namespace: the name as `generateName: <prefix>-` gives
    /// it (five characters of `[a-z0-9]`), and a uid.
    pub fn new_run(&self, prefix: &str) -> RunIdentity {
        use sha2::{Digest, Sha256};
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        let seed = Sha256::digest(format!("{prefix} {nanos} {}", std::process::id()));
        const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
        let suffix: String = seed[..5]
            .iter()
            .map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char)
            .collect();
        let hex = hex::encode(&seed[5..21]);
        RunIdentity {
            name: format!("{prefix}-{suffix}"),
            namespace: self.namespace.clone(),
            uid: format!(
                "{}-{}-4{}-a{}-{}",
                &hex[..8],
                &hex[8..12],
                &hex[13..16],
                &hex[17..20],
                &hex[20..32]
            ),
        }
    }

    pub fn add_secret(&mut self, name: &str, key: &str, value: &str) {
        self.secrets
            .entry(name.to_string())
            .or_default()
            .insert(key.to_string(), value.to_string());
    }

    pub fn add_config_map(&mut self, name: &str, key: &str, value: &str) {
        self.config_maps
            .entry(name.to_string())
            .or_default()
            .insert(key.to_string(), value.to_string());
    }

    /// The local folder of a PipelineRun's workspace binding, as the pod would mount it: a
    /// PersistentVolumeClaim's folder ([`LocalCluster::claims`]), or a Secret's or ConfigMap's keys
    /// written as files (one folder per object under the scratch folder), or a fresh `emptyDir`.
    pub fn workspace_folder(&self, binding: &RunWorkspaceBinding) -> Result<PathBuf, String> {
        let name_of = |source: &serde_json::Value, field: &str| -> Result<String, String> {
            source[field]
                .as_str()
                .map(str::to_string)
                .ok_or_else(|| format!("workspace {}: no {field}", binding.name))
        };
        let files = |kind: &str,
                     name: &str,
                     objects: &BTreeMap<String, BTreeMap<String, String>>|
         -> Result<PathBuf, String> {
            let data = objects
                .get(name)
                .ok_or_else(|| format!("workspace {}: no {kind} {name}", binding.name))?;
            let dir = self.scratch.join("volumes").join(format!("{kind}-{name}"));
            std::fs::create_dir_all(&dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
            for (key, value) in data {
                let path = dir.join(key);
                std::fs::write(&path, value)
                    .map_err(|e| format!("write {}: {e}", path.display()))?;
            }
            Ok(dir)
        };
        if let Some(claim) = &binding.persistent_volume_claim {
            let name = name_of(claim, "claimName")?;
            return self.claims.get(&name).cloned().ok_or_else(|| {
                format!(
                    "workspace {}: no PersistentVolumeClaim {name}",
                    binding.name
                )
            });
        }
        if let Some(secret) = &binding.secret {
            return files("secret", &name_of(secret, "secretName")?, &self.secrets);
        }
        if let Some(config_map) = &binding.config_map {
            return files(
                "configmap",
                &name_of(config_map, "name")?,
                &self.config_maps,
            );
        }
        if binding.empty_dir.is_some() {
            let dir = self
                .scratch
                .join("volumes")
                .join(format!("emptydir-{}", binding.name));
            std::fs::create_dir_all(&dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
            return Ok(dir);
        }
        Err(format!(
            "workspace {}: only persistentVolumeClaim, secret, configMap and emptyDir are bound \
             locally",
            binding.name
        ))
    }

    /// Runs a PipelineRun as created (by `kubectl create` or a Trigger's template): its Pipeline
    /// from `manifests`, its params and its workspaces bound to local folders
    /// ([`LocalCluster::workspace_folder`]).
    pub fn run_pipeline_run(
        &self,
        manifests: &Manifests,
        run: &PipelineRunSpec,
    ) -> Result<PipelineRunOutcome, RunError> {
        let setup = |message: String| RunError::Setup {
            task: "PipelineRun".to_string(),
            message,
        };
        let name = run
            .pipeline_ref
            .as_ref()
            .and_then(|p| p.name.as_deref())
            .ok_or_else(|| setup("no pipelineRef.name".into()))?;
        let pipeline = manifests
            .pipelines
            .get(name)
            .ok_or_else(|| setup(format!("no Pipeline {name}")))?;
        let params = run
            .params
            .iter()
            .map(|p| (p.name.clone(), p.value.clone()))
            .collect();
        let mut workspaces = BTreeMap::new();
        for binding in &run.workspaces {
            workspaces.insert(
                binding.name.clone(),
                self.workspace_folder(binding).map_err(setup)?,
            );
        }
        self.run_pipeline(name, &pipeline.spec, &manifests.tasks, &params, &workspaces)
    }

    /// Runs every step of one Task (`task_name`) as the TaskRun `run`, with these params and
    /// workspaces (absent optional workspaces are unbound); returns the steps and the results they
    /// wrote.
    pub fn run_task(
        &self,
        run: &RunIdentity,
        task_name: &str,
        task: &TaskSpec,
        params: &BTreeMap<String, ParamValue>,
        workspaces: BTreeMap<String, PathBuf>,
    ) -> Result<(Vec<StepRun>, BTreeMap<String, String>), RunError> {
        let run_name = run.name.as_str();
        let setup = |message: String| RunError::Setup {
            task: run_name.to_string(),
            message,
        };
        for declared in task.workspaces.iter().filter(|w| !w.optional) {
            if !workspaces.contains_key(&declared.name) {
                return Err(setup(format!(
                    "required workspace {} is not bound",
                    declared.name
                )));
            }
        }
        // A fresh folder per TaskRun, so that a re-run never reads an earlier run's results.
        let dir = (1..)
            .map(|n| match n {
                1 => self.scratch.join(run_name),
                n => self.scratch.join(format!("{run_name}-{n}")),
            })
            .find(|dir| !dir.exists())
            .expect("a free folder name");
        let results_dir = dir.join("results");
        std::fs::create_dir_all(&results_dir)
            .map_err(|e| setup(format!("create {}: {e}", results_dir.display())))?;
        // The Task's volumes live as long as the TaskRun: one folder each, shared by its steps.
        let mut volumes = BTreeMap::new();
        for volume in &task.volumes {
            let name = volume.get("name").and_then(|n| n.as_str()).unwrap_or("");
            if volume.get("emptyDir").is_none() {
                return Err(setup(format!("volume {name}: only emptyDir is supported")));
            }
            let path = dir.join("volumes").join(name);
            std::fs::create_dir_all(&path)
                .map_err(|e| setup(format!("create {}: {e}", path.display())))?;
            volumes.insert(name.to_string(), path);
        }
        let context = step_context(task, params, workspaces, &results_dir)
            .map_err(setup)?
            .with_run(task_name, run);
        let mut steps = Vec::new();
        for step in &task.steps {
            if step.script.is_some() {
                return Err(setup(format!("step {} runs a script", step.name)));
            }
            let mut mounts = vec![(TEKTON_RESULTS.to_string(), results_dir.clone())];
            for mount in &step.volume_mounts {
                let name = mount.get("name").and_then(|n| n.as_str()).unwrap_or("");
                let path = mount
                    .get("mountPath")
                    .and_then(|p| p.as_str())
                    .unwrap_or("");
                let local = volumes
                    .get(name)
                    .ok_or_else(|| setup(format!("step {}: no volume {name}", step.name)))?;
                mounts.push((path.to_string(), local.clone()));
            }
            // Container paths are mapped in the YAML's own text, before workspace paths (which
            // are local folders already) are substituted into it.
            let step = with_mounts(step, &mounts);
            let line = command_line(&step, &context)
                .map_err(|e| setup(format!("step {}: {e}", step.name)))?;
            let (program, args) = line
                .split_first()
                .ok_or_else(|| setup(format!("step {} has no command", step.name)))?;
            let tool = tool_of(program).ok_or_else(|| {
                setup(format!(
                    "step {}: {program} is not /usr/local/bin/<tool>",
                    step.name
                ))
            })?;
            let args = args.to_vec();
            let mut env: Vec<(String, String)> = self.pod_env.clone().into_iter().collect();
            env.extend(
                step_env(&step, &context, &self.secrets)
                    .map_err(|e| setup(format!("step {}: {e}", step.name)))?,
            );
            let mut command = Command::new((self.program)(tool));
            command
                .args(&args)
                .env_clear()
                .env("PATH", std::env::var_os("PATH").unwrap_or_default())
                .envs(env.iter().map(|(k, v)| (k, v)));
            let mut shown = vec![program.clone()];
            shown.extend(args);
            let run = run_with_timeout(
                command,
                &dir.join(format!("step-{}", step.name)),
                self.step_timeout,
            )
            .map_err(|e| setup(format!("step {}: {e}", step.name)))?;
            let step_run = StepRun {
                task: run_name.to_string(),
                step: step.name.clone(),
                command_line: shown,
                env_names: env.iter().map(|(k, _)| k.clone()).collect(),
                status: run.status,
                stdout: run.stdout,
                stderr: run.stderr,
                elapsed: run.elapsed,
            };
            let ok = step_run.status.is_some_and(|s| s.success());
            steps.push(step_run.clone());
            if !ok {
                return Err(RunError::StepFailed(Box::new(step_run)));
            }
        }
        let mut results = BTreeMap::new();
        for result in &task.results {
            if let Ok(value) = std::fs::read_to_string(results_dir.join(&result.name)) {
                results.insert(result.name.clone(), value);
            }
        }
        Ok((steps, results))
    }

    /// Runs the Pipeline `pipeline_name` as a new PipelineRun: its tasks in order, each with its
    /// params (Pipeline params, earlier results and the run's context substituted) and workspaces
    /// (`bound`: the PipelineRun's workspaces, by Pipeline workspace name; an optional one left out
    /// is unbound).
    pub fn run_pipeline(
        &self,
        pipeline_name: &str,
        pipeline: &PipelineSpec,
        tasks: &BTreeMap<String, Task>,
        params: &BTreeMap<String, ParamValue>,
        bound: &BTreeMap<String, PathBuf>,
    ) -> Result<PipelineRunOutcome, RunError> {
        let setup = |task: &str, message: String| RunError::Setup {
            task: task.to_string(),
            message,
        };
        let run = self.new_run(pipeline_name);
        let run_name = run.name.as_str();
        if !pipeline.finally.is_empty() || pipeline.tasks.iter().any(|t| !t.when.is_empty()) {
            return Err(setup(
                run_name,
                "finally tasks and when expressions are not run locally".into(),
            ));
        }
        for declared in pipeline.workspaces.iter().filter(|w| !w.optional) {
            if !bound.contains_key(&declared.name) {
                return Err(setup(
                    run_name,
                    format!("required workspace {} is not bound", declared.name),
                ));
            }
        }
        let mut context = PipelineContext::new(pipeline, params)
            .map_err(|e| setup(run_name, e))?
            .with_run(pipeline_name, &run);
        let mut outcome = PipelineRunOutcome {
            run: run.clone(),
            ..PipelineRunOutcome::default()
        };
        for task in task_order(pipeline).map_err(|e| setup(run_name, e))? {
            let task_name = task.task_name().unwrap_or("");
            let spec = &tasks
                .get(task_name)
                .ok_or_else(|| setup(&task.name, format!("no Task {task_name}")))?
                .spec;
            if let Some(on_task) = &self.on_task {
                on_task(&task.name, task_name);
            }
            let task_params = context
                .task_params(task)
                .map_err(|e| setup(&task.name, e.to_string()))?;
            let workspaces = task
                .workspaces
                .iter()
                .filter_map(|binding| {
                    let source = binding.workspace.as_deref().unwrap_or(&binding.name);
                    let path = bound.get(source)?;
                    let path = match &binding.sub_path {
                        Some(sub) => path.join(sub),
                        None => path.clone(),
                    };
                    Some((binding.name.clone(), path))
                })
                .collect();
            let result = self.run_task(
                &context.task_run(task),
                task_name,
                spec,
                &task_params,
                workspaces,
            );
            let (steps, results) = match result {
                Ok(done) => done,
                Err(RunError::StepFailed(step)) => {
                    let mut step = *step;
                    step.task = task.name.clone();
                    return Err(RunError::StepFailed(Box::new(step)));
                }
                Err(RunError::Setup { message, .. }) => return Err(setup(&task.name, message)),
            };
            for (name, value) in results {
                context
                    .results
                    .insert((task.name.clone(), name.clone()), value.clone());
                outcome
                    .task_results
                    .insert((task.name.clone(), name), value);
            }
            outcome.steps.extend(steps.into_iter().map(|mut s| {
                s.task = task.name.clone();
                s
            }));
        }
        for result in &pipeline.results {
            if let Some(ParamValue::String(text)) = &result.value {
                let value = context
                    .substitute(text)
                    .map_err(|e| setup(run_name, format!("result {}: {e}", result.name)))?;
                outcome.results.insert(result.name.clone(), value);
            }
        }
        Ok(outcome)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_container_paths_in_values_and_flags() {
        let local = Path::new("/scratch/r");
        assert_eq!(
            map_path("--results-dir=/tekton/results", TEKTON_RESULTS, local),
            "--results-dir=/scratch/r"
        );
        assert_eq!(
            map_path("/tekton/results/X", TEKTON_RESULTS, local),
            "/scratch/r/X"
        );
        assert_eq!(
            map_path("/tekton/resultsX", TEKTON_RESULTS, local),
            "/tekton/resultsX"
        );
        assert_eq!(map_path("--tag=/tmp", "/tmp", local), "--tag=/scratch/r");
        assert_eq!(map_path("--tag=v1", "/tmp", local), "--tag=v1");
    }

    /// A Task whose one step runs `/usr/local/bin/fake`, here a shell script that writes its second
    /// argument and its TOKEN env to results.
    #[test]
    fn runs_a_task_with_results_volumes_and_secrets() {
        use std::os::unix::fs::PermissionsExt;
        let task: TaskSpec = serde_json::from_value(serde_json::json!({
            "params": [{"name": "WORD"}, {"name": "SECRET", "default": "tokens"}],
            "results": [{"name": "OUT"}, {"name": "TOKEN"}],
            "workspaces": [{"name": "ca", "optional": true}],
            "volumes": [{"name": "tmp", "emptyDir": {}}],
            "steps": [{
                "name": "write",
                "command": ["/usr/local/bin/fake"],
                "args": ["--results-dir=/tekton/results", "$(params.WORD)", "--ca=$(workspaces.ca.path)"],
                "env": [
                    {"name": "HOME", "value": "/tmp"},
                    {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "$(params.SECRET)", "key": "t"}}},
                    {"name": "OPTIONAL", "valueFrom": {"secretKeyRef": {"name": "none", "key": "t", "optional": true}}}
                ],
                "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}]
            }]
        }))
        .unwrap();
        let scratch = tempfile::tempdir().unwrap();
        let script = scratch.path().join("fake");
        std::fs::write(
            &script,
            "#!/bin/sh\nset -e\nr=\"${1#--results-dir=}\"\nprintf %s \"$2\" > \"$r/OUT\"\n\
             printf %s \"$TOKEN${OPTIONAL-unset}$3\" > \"$r/TOKEN\"\ntouch \"$HOME/written\"\n",
        )
        .unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        let mut cluster = LocalCluster::new(&scratch.path().join("runs"));
        let program = script.clone();
        cluster.program = Box::new(move |tool| {
            assert_eq!(tool, "fake");
            program.clone()
        });
        cluster.add_secret("tokens", "t", "s3cret");
        let params = [("WORD".to_string(), ParamValue::String("hello".into()))].into();
        let run = RunIdentity {
            name: "run".into(),
            ..RunIdentity::default()
        };
        let (steps, results) = cluster
            .run_task(&run, "fake-task", &task, &params, BTreeMap::new())
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(results["OUT"], "hello");
        assert_eq!(results["TOKEN"], "s3cretunset--ca=");
        assert_eq!(steps[0].env_names, ["HOME", "TOKEN"]);
        assert!(scratch.path().join("runs/run/volumes/tmp/written").exists());
        // A second run gets fresh folders; a required Secret that is missing stops it.
        cluster.secrets.clear();
        let error = cluster
            .run_task(&run, "fake-task", &task, &params, BTreeMap::new())
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("Secret tokens (key t) does not exist"),
            "{error}"
        );
    }
}
