//! Either backend behind one value, chosen at run time by [`RegistryKind`], as the command lines
//! need it; and the token a registry is called with, found the same way for every tool.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use common::Secret;
use common::http::HttpClient;
use url::Url;

use crate::kubeflow::{KubeflowOptions, KubeflowRegistry};
use crate::mlflow::{MlflowOptions, MlflowRegistry};
use crate::{
    ModelArtifact, ModelRegistry, ModelVersion, RegisteredModel, RegistryError, VersionChange,
    kube::SERVICE_ACCOUNT_DIR,
};

/// Which Model Registry speaks at the URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RegistryKind {
    /// The Kubeflow Model Registry (OpenShift AI's).
    #[default]
    Kubeflow,
    Mlflow,
}

impl RegistryKind {
    pub const NAMES: [&str; 2] = ["kubeflow", "mlflow"];

    pub fn name(self) -> &'static str {
        match self {
            Self::Kubeflow => "kubeflow",
            Self::Mlflow => "mlflow",
        }
    }
}

impl std::fmt::Display for RegistryKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for RegistryKind {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text.trim().to_ascii_lowercase().as_str() {
            "kubeflow" => Ok(Self::Kubeflow),
            "mlflow" => Ok(Self::Mlflow),
            other => Err(format!(
                "{other:?} is not a Model Registry kind; use one of {}",
                Self::NAMES.join(", ")
            )),
        }
    }
}

/// The registry's token and where it came from (for messages; never the token itself).
#[derive(Debug, Default)]
pub struct RegistryToken {
    pub token: Option<Secret>,
    pub origin: String,
}

/// The token for a registry of `kind`: the file given, else the environment variable `env_name`,
/// else, for Kubeflow in a pod, the pod's service-account token (what OpenShift AI's registry
/// proxy accepts). `file_origin` names the file's setting in messages.
pub fn registry_token(
    kind: RegistryKind,
    file: Option<&Path>,
    env_name: &str,
) -> Result<RegistryToken, RegistryError> {
    registry_token_in(kind, file, env_name, Path::new(SERVICE_ACCOUNT_DIR))
}

fn registry_token_in(
    kind: RegistryKind,
    file: Option<&Path>,
    env_name: &str,
    service_account_dir: &Path,
) -> Result<RegistryToken, RegistryError> {
    let read = |path: &Path| {
        Secret::from_file(path).map_err(|e| RegistryError::Token {
            path: PathBuf::from(path),
            message: e.to_string(),
        })
    };
    if let Some(path) = file {
        return Ok(RegistryToken {
            token: Some(read(path)?),
            origin: format!("the file {}", path.display()),
        });
    }
    if let Some(token) = Secret::from_env(env_name) {
        return Ok(RegistryToken {
            token: Some(token),
            origin: env_name.to_owned(),
        });
    }
    let pod_token = service_account_dir.join("token");
    if kind == RegistryKind::Kubeflow && pod_token.is_file() {
        return Ok(RegistryToken {
            token: Some(read(&pod_token)?),
            origin: format!("the service-account token {}", pod_token.display()),
        });
    }
    Ok(RegistryToken {
        token: None,
        origin: "no token".into(),
    })
}

/// How to reach a registry of either kind; the backend-specific settings apply to theirs only.
#[derive(Debug, Clone)]
pub struct RegistryConfig {
    pub kind: RegistryKind,
    pub url: Url,
    pub token: Option<Secret>,
    pub token_origin: String,
    /// Kubeflow: `v1` or `v1alpha3` (`None`: the first served).
    pub api_version: Option<String>,
    /// Kubeflow: the registry's name, for the role `registry-user-<name>` in messages.
    pub registry_name: Option<String>,
    /// MLflow: the version tag that carries a version's name (`None`: the backend's default).
    pub version_tag: Option<String>,
}

impl RegistryConfig {
    pub fn new(kind: RegistryKind, url: Url, token: RegistryToken) -> Self {
        Self {
            kind,
            url,
            token: token.token,
            token_origin: token.origin,
            api_version: None,
            registry_name: None,
            version_tag: None,
        }
    }
}

/// A registry of either kind.
pub enum AnyRegistry {
    Kubeflow(KubeflowRegistry),
    Mlflow(MlflowRegistry),
}

impl AnyRegistry {
    pub fn connect(config: RegistryConfig, http: HttpClient) -> Self {
        match config.kind {
            RegistryKind::Kubeflow => {
                let mut options = KubeflowOptions::new(config.url);
                options.api_version = config.api_version;
                options.registry_name = config.registry_name;
                options.token = config.token;
                options.token_origin = config.token_origin;
                Self::Kubeflow(KubeflowRegistry::new(options, http))
            }
            RegistryKind::Mlflow => {
                let mut options = MlflowOptions::new(config.url);
                if let Some(tag) = config.version_tag {
                    options.version_tag = tag;
                }
                options.token = config.token;
                Self::Mlflow(MlflowRegistry::new(options, http))
            }
        }
    }

    pub fn kind(&self) -> RegistryKind {
        match self {
            Self::Kubeflow(_) => RegistryKind::Kubeflow,
            Self::Mlflow(_) => RegistryKind::Mlflow,
        }
    }
}

/// Calls the same method on whichever backend this is.
macro_rules! delegate {
    ($self:ident, $registry:ident => $call:expr) => {
        match $self {
            AnyRegistry::Kubeflow($registry) => $call,
            AnyRegistry::Mlflow($registry) => $call,
        }
    };
}

impl ModelRegistry for AnyRegistry {
    fn describe(&self) -> String {
        delegate!(self, r => r.describe())
    }

    fn check_environment(&self, env: &str) -> Result<(), RegistryError> {
        delegate!(self, r => r.check_environment(env))
    }

    async fn find_model(&self, name: &str) -> Result<Option<RegisteredModel>, RegistryError> {
        delegate!(self, r => r.find_model(name).await)
    }

    async fn model_names(&self) -> Result<Vec<String>, RegistryError> {
        delegate!(self, r => r.model_names().await)
    }

    async fn list_versions(
        &self,
        model: &RegisteredModel,
    ) -> Result<Vec<ModelVersion>, RegistryError> {
        delegate!(self, r => r.list_versions(model).await)
    }

    async fn find_version(
        &self,
        model: &RegisteredModel,
        name: &str,
    ) -> Result<Option<ModelVersion>, RegistryError> {
        delegate!(self, r => r.find_version(model, name).await)
    }

    async fn run_metrics(
        &self,
        model: &RegisteredModel,
        version: &ModelVersion,
    ) -> Result<BTreeMap<String, f64>, RegistryError> {
        delegate!(self, r => r.run_metrics(model, version).await)
    }

    async fn update_version(
        &self,
        model: &RegisteredModel,
        version: &ModelVersion,
        change: &VersionChange,
    ) -> Result<ModelVersion, RegistryError> {
        delegate!(self, r => r.update_version(model, version, change).await)
    }

    async fn record_artifact(
        &self,
        model: &RegisteredModel,
        version: &ModelVersion,
        artifact: &ModelArtifact,
        dry_run: bool,
    ) -> Result<bool, RegistryError> {
        delegate!(self, r => r.record_artifact(model, version, artifact, dry_run).await)
    }

    async fn model_artifact(
        &self,
        model: &RegisteredModel,
        version: &ModelVersion,
    ) -> Result<Option<ModelArtifact>, RegistryError> {
        delegate!(self, r => r.model_artifact(model, version).await)
    }

    async fn create_model(&self, name: &str) -> Result<RegisteredModel, RegistryError> {
        delegate!(self, r => r.create_model(name).await)
    }

    async fn create_version(
        &self,
        model: &RegisteredModel,
        name: &str,
        artifact: &ModelArtifact,
    ) -> Result<ModelVersion, RegistryError> {
        delegate!(self, r => r.create_version(model, name, artifact).await)
    }

    async fn discard_version(
        &self,
        model: &RegisteredModel,
        version: &ModelVersion,
    ) -> Result<String, RegistryError> {
        delegate!(self, r => r.discard_version(model, version).await)
    }

    async fn discard_model(&self, model: &RegisteredModel) -> Result<String, RegistryError> {
        delegate!(self, r => r.discard_model(model).await)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_parse_and_print() {
        assert_eq!("MLflow".parse::<RegistryKind>(), Ok(RegistryKind::Mlflow));
        assert_eq!(RegistryKind::Kubeflow.to_string(), "kubeflow");
        let err = "vertex".parse::<RegistryKind>().unwrap_err();
        assert!(err.contains("kubeflow, mlflow"), "{err}");
    }

    #[test]
    fn the_token_comes_from_the_file_then_the_environment_then_the_pod() {
        let dir = tempfile::tempdir().unwrap();
        let pod = dir.path().join("sa");
        std::fs::create_dir(&pod).unwrap();
        std::fs::write(pod.join("token"), "pod-token\n").unwrap();
        let given = dir.path().join("given");
        std::fs::write(&given, "given-token\n").unwrap();
        let env = "MODEL_REGISTRY_TEST_TOKEN_UNSET";

        let from_file = registry_token_in(RegistryKind::Mlflow, Some(&given), env, &pod).unwrap();
        assert_eq!(from_file.token.unwrap().expose(), "given-token");
        assert!(from_file.origin.contains("given"), "{}", from_file.origin);

        let from_pod = registry_token_in(RegistryKind::Kubeflow, None, env, &pod).unwrap();
        assert_eq!(from_pod.token.unwrap().expose(), "pod-token");
        assert!(from_pod.origin.contains("service-account"));

        // MLflow is not behind the cluster's proxy: the pod's token is not its credential.
        let none = registry_token_in(RegistryKind::Mlflow, None, env, &pod).unwrap();
        assert!(none.token.is_none());

        let missing = dir.path().join("missing");
        let err = registry_token_in(RegistryKind::Mlflow, Some(&missing), env, &pod).unwrap_err();
        assert!(err.to_string().contains("missing"), "{err}");
    }
}
