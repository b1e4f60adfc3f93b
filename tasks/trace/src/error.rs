//! Typed errors: each says what was being read, from where, and what to try. None carries a secret.

#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    /// The GitOps repository could not be read.
    #[error("reading the history of {file} on branch {branch} of {url}: {source}")]
    Gitops {
        file: String,
        branch: String,
        url: String,
        #[source]
        source: Box<gitops::GitopsError>,
    },

    /// The environment has no config for the model: nothing is deployed there.
    #[error(
        "{file} does not exist on branch {branch} of {url}{}; check the model and environment names and \
         the config path pattern",
        removed.as_deref().map(|c| format!(" (commit {c} removed it)")).unwrap_or_default()
    )]
    NoConfig {
        file: String,
        branch: String,
        url: String,
        removed: Option<String>,
    },

    /// The config names no version.
    #[error(
        "{file} on branch {branch} of {url} has no `version`; it is not a deployment config, or the \
         version is missing"
    )]
    NoVersion {
        file: String,
        branch: String,
        url: String,
    },

    /// An image reference or digest that cannot be used.
    #[error("{what}: {detail}")]
    InvalidImage { what: String, detail: String },

    /// The image registry failed or refused.
    #[error("{action}: {source}")]
    Image {
        action: String,
        #[source]
        source: Box<oci::RegistryError>,
    },

    /// The Model Registry failed or refused.
    #[error("{action} in {registry}: {source}")]
    Registry {
        action: String,
        registry: String,
        #[source]
        source: Box<model_registry::RegistryError>,
    },

    /// The forge failed or refused.
    #[error("{action}: {source}")]
    Forge {
        action: String,
        #[source]
        source: Box<forge::ForgeError>,
    },

    /// The Kubernetes API failed or refused.
    #[error("{action}: {source}")]
    Cluster {
        action: String,
        #[source]
        source: Box<model_registry::kube::KubeError>,
    },

    /// A blocking step ended without an answer (it panicked or was cancelled).
    #[error("{action}: the step stopped without an answer ({detail})")]
    Stopped { action: String, detail: String },
}

impl TraceError {
    /// True when the fix is in what was asked for (a model or environment without a config, bad
    /// credentials files, a malformed branch name): exit code 2 territory.
    pub fn is_usage(&self) -> bool {
        match self {
            Self::NoConfig { .. } | Self::NoVersion { .. } | Self::InvalidImage { .. } => true,
            Self::Gitops { source, .. } => source.is_usage(),
            _ => false,
        }
    }
}

impl common::UsageFault for TraceError {
    fn is_usage(&self) -> bool {
        TraceError::is_usage(self)
    }
}
