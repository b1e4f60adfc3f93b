use common::HttpError;
use common::retry::{Transient, Verdict};

/// What went wrong talking to a model registry. Every message says what was being done, to what, and
/// what to try.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error(transparent)]
    Http(#[from] HttpError),

    #[error("reading the registry token from {}: {message}; check that the file is mounted and readable", path.display())]
    Token {
        path: std::path::PathBuf,
        message: String,
    },

    #[error(
        "{action}: {registry} refused the request ({status}{}); {}",
        if detail.is_empty() { String::new() } else { format!(": {detail}") },
        if *status == 401 {
            format!("the token in {token_origin} was not accepted (missing, expired, or not a token of this \
                     cluster); use the service account's token, and give the account the role {role}")
        } else {
            format!("the service account lacks the role {role}: grant it, e.g. `oc adm policy \
                     add-role-to-user {role} -z <service-account> -n <namespace>`")
        }
    )]
    Unauthorized {
        action: String,
        registry: String,
        status: u16,
        role: String,
        token_origin: String,
        detail: String,
    },

    #[error(
        "{action}: {registry} refused the request ({status}{}); check the token (--token-file or \
         REGISTRY_TOKEN) and that it may use the registry",
        if detail.is_empty() { String::new() } else { format!(": {detail}") }
    )]
    Refused {
        action: String,
        registry: String,
        status: u16,
        detail: String,
    },

    #[error(
        "registered model {model:?} not found in {registry}; check --model (names are case-sensitive){}",
        if existing.is_empty() { String::new() } else { format!("; models that exist: {}", existing.join(", ")) }
    )]
    ModelNotFound {
        model: String,
        registry: String,
        existing: Vec<String>,
    },

    #[error(
        "version {version:?} of model {model:?} not found in {registry}; {}",
        if existing.is_empty() { "the model has no versions yet: register the version first".to_owned() }
        else { format!("versions that exist: {}; check --version", existing.join(", ")) }
    )]
    VersionNotFound {
        model: String,
        version: String,
        registry: String,
        existing: Vec<String>,
    },

    #[error(
        "no Model Registry REST API at {url} (tried {tried}); check --registry-url, or set --api-version"
    )]
    NoApi { url: String, tried: String },

    #[error(
        "{action}: other writers kept changing version {version:?} of model {model:?} ({attempts} \
         attempts); nothing was lost, run the step again"
    )]
    Contended {
        action: String,
        model: String,
        version: String,
        attempts: u32,
    },

    #[error("{action}: unexpected answer from {url}: {detail}; is this the right --backend?")]
    Decode {
        action: String,
        url: String,
        detail: String,
    },

    #[error(
        "{action}: its property {key:?} is a {kind}, and writing the string the change needs would replace \
         it; nothing was changed. Rename that property in the registry, or pick another environment name"
    )]
    NotAString {
        action: String,
        key: String,
        kind: String,
    },

    #[error("{registry} does not support {what}")]
    Unsupported {
        what: &'static str,
        registry: String,
    },

    #[error("{error}; {undone}")]
    RolledBack {
        error: Box<RegistryError>,
        /// What was undone of this run's registration, or what is left over.
        undone: String,
    },

    #[error("invalid environment name {env:?}: {reason}")]
    InvalidEnvironment { env: String, reason: String },

    #[error("invalid {what} {value:?}: {reason}")]
    InvalidInput {
        what: &'static str,
        value: String,
        reason: String,
    },
}

impl Transient for RegistryError {
    fn verdict(&self) -> Verdict {
        match self {
            Self::Http(error) => error.verdict(),
            _ => Verdict::Permanent,
        }
    }
}

/// The environment names every backend accepts: letters, digits, `_` and `-` (MLflow's alias rule, which
/// also keeps Kubeflow labels readable in the dashboard).
pub fn validate_environment(env: &str) -> Result<(), RegistryError> {
    let invalid = |reason: &str| RegistryError::InvalidEnvironment {
        env: env.to_owned(),
        reason: reason.to_owned(),
    };
    if env.is_empty() {
        return Err(invalid("it is empty"));
    }
    if env.len() > 63 {
        return Err(invalid("it is longer than 63 characters"));
    }
    if !env
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return Err(invalid("use only letters, digits, '_' and '-'"));
    }
    Ok(())
}
