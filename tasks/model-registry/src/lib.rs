//! The Model Registry as the record of which model version runs in which environment.
//!
//! One trait, [`ModelRegistry`], with two backends behind it:
//! - [`kubeflow::KubeflowRegistry`]: the Kubeflow Model Registry REST API as shipped in OpenShift AI. An
//!   environment is a dashboard *label*: a `customProperties` entry whose value is an empty string.
//! - [`mlflow::MlflowRegistry`]: the MLflow model registry. An environment is a registered-model *alias*
//!   (which moves by itself); version tags carry the details.
//!
//! [`label()`] and [`unlabel()`] are the operations the post-deployment step needs, written once for both:
//! the environment's label goes on exactly one version of a model, every other property stays, and a
//! re-run changes nothing. [`kube`] waits for the KServe InferenceService to serve the version first;
//! [`deployments`] turns a GitOps push into the list of labels to set and remove.

mod any;
pub mod deployments;
mod error;
pub mod kube;
pub mod kubeflow;
mod label;
pub mod mlflow;
pub mod promotion;
mod property;
mod rest;

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;

pub use any::{AnyRegistry, RegistryConfig, RegistryKind, RegistryToken, registry_token};
pub use error::{Input, RegistryError, validate_environment};
pub use label::{
    LabelOutcome, LabelRequest, PropertyKeys, VersionRef, label, now_rfc3339, property_keys,
    unlabel,
};
pub use property::{DEFAULT_SIGNIFICANT, PropertyValue, compact_number, distinguishing_digits};

/// A registered model: the backend's id for it and its name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisteredModel {
    pub id: String,
    pub name: String,
}

/// One version of a registered model: the environments it runs in and its properties.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelVersion {
    /// The backend's id (Kubeflow: a numeric string; MLflow: the version number).
    pub id: String,
    /// The name users know the version by (Kubeflow: the version's name; MLflow: its version tag, or the
    /// number when it has none).
    pub name: String,
    /// Environments this version carries.
    pub labels: BTreeSet<String>,
    /// Every other property, typed (Kubeflow: custom properties that are not labels; MLflow: version
    /// tags, all strings).
    pub properties: BTreeMap<String, PropertyValue>,
}

impl ModelVersion {
    /// The text of the string property `key`.
    pub fn string_property(&self, key: &str) -> Option<&str> {
        self.properties.get(key).and_then(PropertyValue::as_str)
    }
}

/// A change to one version. Anything it does not name stays as it was. It writes and removes string
/// properties only: a property of another type (a metric, a struct) is never rewritten.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VersionChange {
    pub add_labels: BTreeSet<String>,
    pub remove_labels: BTreeSet<String>,
    pub set_properties: BTreeMap<String, String>,
    pub remove_properties: BTreeSet<String>,
}

impl VersionChange {
    pub fn is_empty(&self) -> bool {
        self.add_labels.is_empty()
            && self.remove_labels.is_empty()
            && self.set_properties.is_empty()
            && self.remove_properties.is_empty()
    }

    /// Whether `version` already looks the way this change wants it.
    pub fn satisfied_by(&self, version: &ModelVersion) -> bool {
        self.add_labels.iter().all(|l| version.labels.contains(l))
            && self
                .remove_labels
                .iter()
                .all(|l| !version.labels.contains(l))
            && self
                .set_properties
                .iter()
                .all(|(k, v)| version.string_property(k) == Some(v.as_str()))
            && self
                .remove_properties
                .iter()
                .all(|k| version.string_property(k).is_none())
    }
}

/// The ModelCar a version is served from, recorded as the version's model artifact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelArtifact {
    /// `oci://<registry>/<repository>@sha256:<digest>`: the URI OpenShift AI's "Deploy" puts into the
    /// InferenceService's `storageUri`.
    pub uri: String,
    /// e.g. `onnx`, `vLLM`; `None` leaves the artifact's format as it is.
    pub format_name: Option<String>,
    pub format_version: Option<String>,
}

impl ModelArtifact {
    /// The artifact of the image `registry/repo[:tag]@sha256:<hex>` (an `oci://` prefix is allowed): `None`
    /// when the reference names no digest, as a tag can move.
    pub fn from_image(
        image: &str,
        format_name: Option<String>,
        format_version: Option<String>,
    ) -> Option<ModelArtifact> {
        let image = image.trim();
        let image = image.strip_prefix("oci://").unwrap_or(image);
        let (name, digest) = image.split_once('@')?;
        let hex = digest.strip_prefix("sha256:")?;
        if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) || name.is_empty() {
            return None;
        }
        // A tag beside the digest says nothing more: drop it (a ':' after the last '/' is a tag).
        let last_slash = name.rfind('/').map_or(0, |i| i + 1);
        let repo = match name[last_slash..].find(':') {
            Some(colon) => &name[..last_slash + colon],
            None => name,
        };
        Some(ModelArtifact {
            uri: format!("oci://{repo}@{digest}"),
            format_name: format_name.filter(|f| !f.is_empty()),
            format_version: format_version.filter(|f| !f.is_empty()),
        })
    }
}

/// A model registry that can record environments on model versions.
///
/// Implementations retry what is safe to retry and turn refusals into errors that say what to fix.
pub trait ModelRegistry: Sync {
    /// Names the registry in messages, e.g. `Kubeflow Model Registry at https://…`.
    fn describe(&self) -> String;

    /// Rules for environment names beyond [`validate_environment`] (e.g. MLflow's reserved aliases).
    fn check_environment(&self, env: &str) -> Result<(), RegistryError> {
        validate_environment(env)
    }

    /// The registered model called `name`, if there is one.
    fn find_model(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<Option<RegisteredModel>, RegistryError>> + Send;

    /// Names of registered models (for messages about a model that does not exist); may be partial.
    fn model_names(&self) -> impl Future<Output = Result<Vec<String>, RegistryError>> + Send;

    /// Every version of `model`, following the backend's pagination to the end.
    fn list_versions(
        &self,
        model: &RegisteredModel,
    ) -> impl Future<Output = Result<Vec<ModelVersion>, RegistryError>> + Send;

    /// The version of `model` called `name`, if there is one.
    fn find_version(
        &self,
        model: &RegisteredModel,
        name: &str,
    ) -> impl Future<Output = Result<Option<ModelVersion>, RegistryError>> + Send;

    /// Measurements of the run that produced `version` that are not among its properties (MLflow: the
    /// run's latest metrics, when the version names a run). Empty when the backend keeps none.
    fn run_metrics(
        &self,
        model: &RegisteredModel,
        version: &ModelVersion,
    ) -> impl Future<Output = Result<BTreeMap<String, f64>, RegistryError>> + Send {
        let _ = (model, version);
        async { Ok(BTreeMap::new()) }
    }

    /// Applies `change` to `version` without touching anything else, and returns the version as the
    /// registry holds it afterwards. Applying a change that is already satisfied writes nothing.
    fn update_version(
        &self,
        model: &RegisteredModel,
        version: &ModelVersion,
        change: &VersionChange,
    ) -> impl Future<Output = Result<ModelVersion, RegistryError>> + Send;

    /// Records `artifact` as the version's model artifact. Returns whether it wrote (or, with
    /// `dry_run`, would write): an artifact already recorded as asked is left alone.
    fn record_artifact(
        &self,
        model: &RegisteredModel,
        version: &ModelVersion,
        artifact: &ModelArtifact,
        dry_run: bool,
    ) -> impl Future<Output = Result<bool, RegistryError>> + Send {
        let _ = (model, version, artifact, dry_run);
        async { Ok(false) }
    }

    /// The version's model artifact as the registry records it (`None`: none recorded).
    fn model_artifact(
        &self,
        model: &RegisteredModel,
        version: &ModelVersion,
    ) -> impl Future<Output = Result<Option<ModelArtifact>, RegistryError>> + Send {
        let _ = (model, version);
        async { Ok(None) }
    }

    /// Registers a model called `name`.
    fn create_model(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<RegisteredModel, RegistryError>> + Send {
        let _ = name;
        let error = RegistryError::Unsupported {
            what: "registering a model",
            registry: self.describe(),
        };
        async { Err(error) }
    }

    /// Registers version `name` of `model` with `artifact` as its model artifact. A backend that can
    /// create both in one call does (MLflow); the others create the version only, and the caller
    /// records the artifact next (Kubeflow).
    fn create_version(
        &self,
        model: &RegisteredModel,
        name: &str,
        artifact: &ModelArtifact,
    ) -> impl Future<Output = Result<ModelVersion, RegistryError>> + Send {
        let _ = (model, name, artifact);
        let error = RegistryError::Unsupported {
            what: "registering a version",
            registry: self.describe(),
        };
        async { Err(error) }
    }

    /// Undoes [`ModelRegistry::create_version`] of this run after a later step failed, as far as the
    /// API allows. Returns what was done, for messages.
    fn discard_version(
        &self,
        model: &RegisteredModel,
        version: &ModelVersion,
    ) -> impl Future<Output = Result<String, RegistryError>> + Send {
        let _ = (model, version);
        let error = RegistryError::Unsupported {
            what: "removing a version",
            registry: self.describe(),
        };
        async { Err(error) }
    }

    /// Undoes [`ModelRegistry::create_model`] of this run, as far as the API allows.
    fn discard_model(
        &self,
        model: &RegisteredModel,
    ) -> impl Future<Output = Result<String, RegistryError>> + Send {
        let _ = model;
        let error = RegistryError::Unsupported {
            what: "removing a model",
            registry: self.describe(),
        };
        async { Err(error) }
    }
}
