//! Typed views of the Tekton and Tekton Triggers objects under `tekton/`, read from YAML.
//!
//! Only the fields the checks and the local pipeline runner need are modelled; everything else is
//! left to the schema validation (`validate-manifests`). Every object also keeps its raw form.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;

/// Why a manifest could not be read.
#[derive(Debug)]
pub struct ManifestError {
    pub path: PathBuf,
    pub message: String,
}

impl fmt::Display for ManifestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "reading {}: {}", self.path.display(), self.message)
    }
}

impl std::error::Error for ManifestError {}

fn error(path: &Path, message: impl Into<String>) -> ManifestError {
    ManifestError {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

/// The value of a param: Tekton params are strings, arrays of strings or objects of strings.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum ParamValue {
    String(String),
    Array(Vec<String>),
    Object(BTreeMap<String, String>),
}

impl ParamValue {
    pub fn type_name(&self) -> &'static str {
        match self {
            ParamValue::String(_) => "string",
            ParamValue::Array(_) => "array",
            ParamValue::Object(_) => "object",
        }
    }

    /// Every string in the value, for reference scanning.
    pub fn strings(&self) -> Vec<&str> {
        match self {
            ParamValue::String(s) => vec![s.as_str()],
            ParamValue::Array(items) => items.iter().map(String::as_str).collect(),
            ParamValue::Object(map) => map.values().map(String::as_str).collect(),
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Metadata {
    pub name: Option<String>,
    pub generate_name: Option<String>,
    pub namespace: Option<String>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ParamSpec {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub description: Option<String>,
    pub default: Option<ParamValue>,
}

impl ParamSpec {
    /// The declared type; Tekton's default is `string`.
    pub fn type_name(&self) -> &str {
        self.kind.as_deref().unwrap_or("string")
    }

    pub fn is_required(&self) -> bool {
        self.default.is_none()
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResultSpec {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub description: Option<String>,
    pub value: Option<ParamValue>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkspaceDeclaration {
    pub name: String,
    pub description: Option<String>,
    #[serde(default)]
    pub optional: bool,
    #[serde(default)]
    pub read_only: bool,
    pub mount_path: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EnvVar {
    pub name: String,
    pub value: Option<String>,
    pub value_from: Option<EnvVarSource>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EnvVarSource {
    pub secret_key_ref: Option<SecretKeyRef>,
    pub config_map_key_ref: Option<SecretKeyRef>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SecretKeyRef {
    pub name: String,
    pub key: String,
    #[serde(default)]
    pub optional: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Step {
    pub name: String,
    pub image: Option<String>,
    #[serde(default)]
    pub command: Vec<String>,
    #[serde(default)]
    pub args: Vec<String>,
    pub script: Option<String>,
    #[serde(default)]
    pub env: Vec<EnvVar>,
    pub working_dir: Option<String>,
    pub security_context: Option<Value>,
    pub compute_resources: Option<Value>,
    #[serde(default)]
    pub volume_mounts: Vec<Value>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskSpec {
    pub description: Option<String>,
    #[serde(default)]
    pub params: Vec<ParamSpec>,
    #[serde(default)]
    pub results: Vec<ResultSpec>,
    #[serde(default)]
    pub workspaces: Vec<WorkspaceDeclaration>,
    #[serde(default)]
    pub steps: Vec<Step>,
    #[serde(default)]
    pub volumes: Vec<Value>,
}

impl TaskSpec {
    pub fn param(&self, name: &str) -> Option<&ParamSpec> {
        self.params.iter().find(|p| p.name == name)
    }

    pub fn result(&self, name: &str) -> Option<&ResultSpec> {
        self.results.iter().find(|r| r.name == name)
    }

    pub fn workspace(&self, name: &str) -> Option<&WorkspaceDeclaration> {
        self.workspaces.iter().find(|w| w.name == name)
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Param {
    pub name: String,
    pub value: ParamValue,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskRef {
    pub name: Option<String>,
    pub kind: Option<String>,
    pub resolver: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkspaceBinding {
    pub name: String,
    pub workspace: Option<String>,
    pub sub_path: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PipelineTask {
    pub name: String,
    pub task_ref: Option<TaskRef>,
    #[serde(default)]
    pub params: Vec<Param>,
    #[serde(default)]
    pub workspaces: Vec<WorkspaceBinding>,
    #[serde(default)]
    pub run_after: Vec<String>,
    #[serde(default)]
    pub when: Vec<Value>,
    #[serde(default)]
    pub retries: u32,
}

impl PipelineTask {
    /// Name of the referenced Task (a plain, in-namespace `taskRef`).
    pub fn task_name(&self) -> Option<&str> {
        self.task_ref.as_ref()?.name.as_deref()
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PipelineSpec {
    pub description: Option<String>,
    #[serde(default)]
    pub params: Vec<ParamSpec>,
    #[serde(default)]
    pub workspaces: Vec<WorkspaceDeclaration>,
    #[serde(default)]
    pub tasks: Vec<PipelineTask>,
    #[serde(default)]
    pub finally: Vec<PipelineTask>,
    #[serde(default)]
    pub results: Vec<ResultSpec>,
}

impl PipelineSpec {
    pub fn param(&self, name: &str) -> Option<&ParamSpec> {
        self.params.iter().find(|p| p.name == name)
    }

    pub fn task(&self, name: &str) -> Option<&PipelineTask> {
        self.tasks
            .iter()
            .chain(&self.finally)
            .find(|t| t.name == name)
    }

    pub fn workspace(&self, name: &str) -> Option<&WorkspaceDeclaration> {
        self.workspaces.iter().find(|w| w.name == name)
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PipelineRef {
    pub name: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunWorkspaceBinding {
    pub name: String,
    pub persistent_volume_claim: Option<Value>,
    pub secret: Option<Value>,
    pub config_map: Option<Value>,
    pub empty_dir: Option<Value>,
    pub volume_claim_template: Option<Value>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskRunTemplate {
    pub service_account_name: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PipelineRunSpec {
    pub pipeline_ref: Option<PipelineRef>,
    #[serde(default)]
    pub params: Vec<Param>,
    #[serde(default)]
    pub workspaces: Vec<RunWorkspaceBinding>,
    pub task_run_template: Option<TaskRunTemplate>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TemplateParamSpec {
    pub name: String,
    pub description: Option<String>,
    pub default: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct TriggerTemplateSpec {
    #[serde(default)]
    pub params: Vec<TemplateParamSpec>,
    #[serde(default)]
    pub resourcetemplates: Vec<Value>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct BindingParam {
    pub name: String,
    pub value: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct TriggerBindingSpec {
    #[serde(default)]
    pub params: Vec<BindingParam>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct InterceptorRef {
    pub name: String,
    pub kind: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct InterceptorParam {
    pub name: String,
    pub value: Value,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Interceptor {
    pub name: Option<String>,
    #[serde(rename = "ref")]
    pub reference: InterceptorRef,
    #[serde(default)]
    pub params: Vec<InterceptorParam>,
}

impl Interceptor {
    pub fn param(&self, name: &str) -> Option<&Value> {
        self.params
            .iter()
            .find(|p| p.name == name)
            .map(|p| &p.value)
    }
}

/// A binding of a Trigger: a reference to a TriggerBinding, or an inline name/value.
#[derive(Debug, Clone, Deserialize)]
pub struct TriggerSpecBinding {
    #[serde(rename = "ref")]
    pub reference: Option<String>,
    pub name: Option<String>,
    pub value: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct TriggerSpecTemplate {
    #[serde(rename = "ref")]
    pub reference: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TriggerSpec {
    #[serde(default)]
    pub interceptors: Vec<Interceptor>,
    #[serde(default)]
    pub bindings: Vec<TriggerSpecBinding>,
    pub template: TriggerSpecTemplate,
    pub service_account_name: Option<String>,
}

impl TriggerSpec {
    /// The interceptors whose reference has this name (e.g. `cel`, `github`).
    pub fn interceptors_named<'a>(
        &'a self,
        name: &'a str,
    ) -> impl Iterator<Item = &'a Interceptor> {
        self.interceptors
            .iter()
            .filter(move |i| i.reference.name == name)
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventListenerTrigger {
    pub trigger_ref: Option<String>,
    pub name: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventListenerSpec {
    pub service_account_name: Option<String>,
    #[serde(default)]
    pub triggers: Vec<EventListenerTrigger>,
}

/// One Kubernetes object of kind `K`, with the file it came from and its raw form.
#[derive(Debug, Clone)]
pub struct Object<S> {
    pub path: PathBuf,
    pub kind: String,
    pub metadata: Metadata,
    pub spec: S,
    pub raw: Value,
}

impl<S> Object<S> {
    /// `metadata.name`, or `generateName` for objects made with `kubectl create`.
    pub fn name(&self) -> &str {
        self.metadata
            .name
            .as_deref()
            .or(self.metadata.generate_name.as_deref())
            .unwrap_or("")
    }
}

pub type Task = Object<TaskSpec>;
pub type Pipeline = Object<PipelineSpec>;
pub type PipelineRun = Object<PipelineRunSpec>;
pub type TriggerTemplate = Object<TriggerTemplateSpec>;
pub type TriggerBinding = Object<TriggerBindingSpec>;
pub type Trigger = Object<TriggerSpec>;
pub type EventListener = Object<EventListenerSpec>;

/// Everything found under a folder, by kind and name.
#[derive(Debug, Default)]
pub struct Manifests {
    pub tasks: BTreeMap<String, Task>,
    pub pipelines: BTreeMap<String, Pipeline>,
    pub pipeline_runs: Vec<PipelineRun>,
    pub trigger_templates: BTreeMap<String, TriggerTemplate>,
    pub trigger_bindings: BTreeMap<String, TriggerBinding>,
    pub triggers: BTreeMap<String, Trigger>,
    pub event_listeners: BTreeMap<String, EventListener>,
    /// Objects of other kinds (RBAC, Routes, ConfigMaps, ...), raw.
    pub others: Vec<(PathBuf, Value)>,
}

impl Manifests {
    /// Reads every `*.yaml`/`*.yml` file below `dir` (sorted, recursively).
    pub fn load(dir: &Path) -> Result<Self, ManifestError> {
        let mut manifests = Manifests::default();
        for path in yaml_files(dir)? {
            for document in load_documents(&path)? {
                manifests.add(&path, document)?;
            }
        }
        Ok(manifests)
    }

    fn add(&mut self, path: &Path, raw: Value) -> Result<(), ManifestError> {
        let kind = raw
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        fn typed<S: for<'de> Deserialize<'de>>(
            path: &Path,
            kind: &str,
            raw: Value,
        ) -> Result<Object<S>, ManifestError> {
            let metadata: Metadata =
                serde_json::from_value(raw.get("metadata").cloned().unwrap_or(Value::Null))
                    .map_err(|e| error(path, format!("{kind} metadata: {e}")))?;
            let spec: S =
                serde_json::from_value(raw.get("spec").cloned().unwrap_or(Value::Null))
                    .map_err(|e| error(path, format!("{kind} {:?} spec: {e}", metadata.name)))?;
            Ok(Object {
                path: path.to_path_buf(),
                kind: kind.to_string(),
                metadata,
                spec,
                raw,
            })
        }
        fn insert<S>(
            map: &mut BTreeMap<String, Object<S>>,
            path: &Path,
            object: Object<S>,
        ) -> Result<(), ManifestError> {
            let name = object.name().to_string();
            if map.contains_key(&name) {
                return Err(error(
                    path,
                    format!("{} {name} is defined twice", object.kind),
                ));
            }
            map.insert(name, object);
            Ok(())
        }
        match kind.as_str() {
            "Task" => insert(&mut self.tasks, path, typed(path, &kind, raw)?),
            "Pipeline" => insert(&mut self.pipelines, path, typed(path, &kind, raw)?),
            "PipelineRun" => {
                self.pipeline_runs.push(typed(path, &kind, raw)?);
                Ok(())
            }
            "TriggerTemplate" => {
                insert(&mut self.trigger_templates, path, typed(path, &kind, raw)?)
            }
            "TriggerBinding" => insert(&mut self.trigger_bindings, path, typed(path, &kind, raw)?),
            "Trigger" => insert(&mut self.triggers, path, typed(path, &kind, raw)?),
            "EventListener" => insert(&mut self.event_listeners, path, typed(path, &kind, raw)?),
            _ => {
                self.others.push((path.to_path_buf(), raw));
                Ok(())
            }
        }
    }

    /// Raw objects of another kind, e.g. `ServiceAccount`.
    pub fn others_of_kind<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = &'a Value> {
        self.others
            .iter()
            .map(|(_, raw)| raw)
            .filter(move |raw| raw.get("kind").and_then(Value::as_str) == Some(kind))
    }

    /// Names of the objects of another kind.
    pub fn names_of_kind(&self, kind: &str) -> Vec<String> {
        self.others_of_kind(kind)
            .filter_map(|raw| raw.pointer("/metadata/name").and_then(Value::as_str))
            .map(str::to_string)
            .collect()
    }
}

/// The Tasks under `dir`, by name.
pub fn load_tasks(dir: &Path) -> Result<BTreeMap<String, Task>, ManifestError> {
    Ok(Manifests::load(dir)?.tasks)
}

/// The one Pipeline in the file at `path`.
pub fn load_pipeline(path: &Path) -> Result<Pipeline, ManifestError> {
    let mut manifests = Manifests::default();
    for document in load_documents(path)? {
        manifests.add(path, document)?;
    }
    let mut pipelines = manifests.pipelines.into_values();
    match (pipelines.next(), pipelines.next()) {
        (Some(pipeline), None) => Ok(pipeline),
        (None, _) => Err(error(path, "holds no Pipeline")),
        (Some(_), Some(_)) => Err(error(path, "holds more than one Pipeline")),
    }
}

/// The non-empty YAML documents of one file, as JSON values.
pub fn load_documents(path: &Path) -> Result<Vec<Value>, ManifestError> {
    let text = std::fs::read_to_string(path).map_err(|e| error(path, e.to_string()))?;
    let documents: Vec<Option<Value>> = serde_saphyr::from_multiple(&text)
        .map_err(|e| error(path, format!("not valid YAML: {e}")))?;
    Ok(documents
        .into_iter()
        .flatten()
        .filter(|d| !d.is_null())
        .collect())
}

fn yaml_files(dir: &Path) -> Result<Vec<PathBuf>, ManifestError> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(current) = pending.pop() {
        let entries = std::fs::read_dir(&current).map_err(|e| error(&current, e.to_string()))?;
        for entry in entries {
            let path = entry.map_err(|e| error(&current, e.to_string()))?.path();
            if path.is_dir() {
                pending.push(path);
            } else if matches!(
                path.extension().and_then(|e| e.to_str()),
                Some("yaml" | "yml")
            ) && !path
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('.'))
            {
                files.push(path);
            }
        }
    }
    files.sort();
    Ok(files)
}
