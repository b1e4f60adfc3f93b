use common::HttpError;
use common::retry::{Transient, Verdict};

/// The part of a call to the registry an error blames: what a binary maps to its own flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input {
    /// The registry's URL (or, for Kubeflow, the API version asked for).
    Url,
    /// Which registry it is (Kubeflow or MLflow).
    Kind,
    /// The registry's token.
    Token,
    /// The model's name.
    Model,
    /// The version's name.
    Version,
    /// The environment's name.
    Env,
    /// The image recorded as the version's model artifact.
    Image,
}

/// What went wrong talking to a model registry. Every message says what was being done, to what, and
/// what to try, in the registry's words: [`RegistryError::input`] tells a binary which part of the
/// call is at fault, for it to name its own flag.
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
        "{action}: {registry} refused the request ({status}{}); check the registry token and that it \
         may use the registry",
        if detail.is_empty() { String::new() } else { format!(": {detail}") }
    )]
    Refused {
        action: String,
        registry: String,
        status: u16,
        detail: String,
    },

    #[error(
        "registered model {model:?} not found in {registry}; check the model's name (names are case-sensitive){}",
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
        else { format!("versions that exist: {}; check the version's name", existing.join(", ")) }
    )]
    VersionNotFound {
        model: String,
        version: String,
        registry: String,
        existing: Vec<String>,
    },

    #[error(
        "no Model Registry REST API at {url} (tried {tried}); check the registry's URL, or name the API version it serves"
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

    #[error(
        "{action}: unexpected answer from {url}: {detail}; the registry's kind may be wrong (Kubeflow or MLflow)"
    )]
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
        input: Input,
    },
}

impl RegistryError {
    /// The part of the call the error blames, if one is.
    pub fn input(&self) -> Option<Input> {
        match self {
            Self::Token { .. } | Self::Unauthorized { .. } | Self::Refused { .. } => {
                Some(Input::Token)
            }
            Self::ModelNotFound { .. } => Some(Input::Model),
            Self::VersionNotFound { .. } => Some(Input::Version),
            Self::NoApi { .. } => Some(Input::Url),
            Self::Decode { .. } | Self::Unsupported { .. } => Some(Input::Kind),
            Self::NotAString { .. } | Self::InvalidEnvironment { .. } => Some(Input::Env),
            Self::InvalidInput { input, .. } => Some(*input),
            Self::RolledBack { error, .. } => error.input(),
            Self::Http(_) | Self::Contended { .. } => None,
        }
    }

    /// Whether the fix is in what was asked for (a model, version or environment that is not
    /// there or not allowed, a token file that cannot be read), not in the registry.
    pub fn is_usage(&self) -> bool {
        match self {
            Self::Http(e) => e.is_usage(),
            Self::RolledBack { error, .. } => error.is_usage(),
            other => matches!(
                other,
                Self::Token { .. }
                    | Self::ModelNotFound { .. }
                    | Self::VersionNotFound { .. }
                    | Self::InvalidEnvironment { .. }
                    | Self::InvalidInput { .. }
            ),
        }
    }
}

impl common::UsageFault for RegistryError {
    fn is_usage(&self) -> bool {
        RegistryError::is_usage(self)
    }
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
