use common::{HttpError, Transient, Verdict};

use crate::model::ForgeKind;

/// Everything that can go wrong talking to a forge or preparing the promotion. Every message says
/// what was being done, to what, and what to try. No message ever contains the token.
#[derive(Debug, thiserror::Error)]
pub enum ForgeError {
    #[error(
        "{forge}: repository {repo} not found at {api}; check --repo and --api-url, and that the token's user can see it"
    )]
    RepoNotFound {
        forge: ForgeKind,
        repo: String,
        api: String,
    },
    #[error("{forge}: branch {branch:?} not found in {repo}; check --base (the branch must exist)")]
    BranchNotFound {
        forge: ForgeKind,
        repo: String,
        branch: String,
    },
    #[error(
        "{forge}: label {label:?} does not exist in {repo}; create it there or drop --label {label:?}"
    )]
    LabelNotFound {
        forge: ForgeKind,
        repo: String,
        label: String,
    },
    #[error(
        "{forge}: {role} {user:?} is not a user who can be a {role} in {repo}; check --{role} (the user must exist and have access)"
    )]
    UserNotFound {
        forge: ForgeKind,
        repo: String,
        role: &'static str,
        user: String,
    },
    #[error(
        "{forge}: {action}: the token was refused ({status}): it is missing, wrong or expired; give {needs} with --token-file or FORGE_TOKEN"
    )]
    Unauthorized {
        forge: ForgeKind,
        action: String,
        status: u16,
        needs: &'static str,
    },
    #[error("{forge}: {action}: the token lacks a permission ({status}{}); it needs {needs}", if message.is_empty() { String::new() } else { format!(": {message}") })]
    Forbidden {
        forge: ForgeKind,
        action: String,
        status: u16,
        message: String,
        needs: &'static str,
    },
    #[error("{forge}: {action}: {message}")]
    Rejected {
        forge: ForgeKind,
        action: String,
        message: String,
    },
    #[error(
        "{action}: unexpected answer from {url}: {message}; check that --api-url is the {forge} API"
    )]
    Decode {
        forge: ForgeKind,
        action: String,
        url: String,
        message: String,
    },
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Http(#[from] HttpError),
    #[error("preparing the promotion branch {branch}: {message}")]
    Git {
        branch: String,
        message: String,
        /// The git side blamed the input (unknown file, branch, bad key).
        usage: bool,
    },
}

impl ForgeError {
    /// The HTTP status the forge answered, for errors that carry one.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Http(e) => e.status(),
            Self::Unauthorized { status, .. } | Self::Forbidden { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The forge's own message of an HTTP error (the start of the response body).
    pub(crate) fn server_message(&self) -> Option<&str> {
        match self {
            Self::Http(HttpError::Status { message, .. }) => Some(message),
            _ => None,
        }
    }

    /// Errors that come from how the command was called (exit code 2 at the binary).
    pub fn is_usage(&self) -> bool {
        match self {
            Self::Http(e) => e.is_usage(),
            other => matches!(
                other,
                Self::RepoNotFound { .. }
                    | Self::BranchNotFound { .. }
                    | Self::LabelNotFound { .. }
                    | Self::UserNotFound { .. }
                    | Self::Usage(_)
                    | Self::Git { usage: true, .. }
            ),
        }
    }
}

impl Transient for ForgeError {
    fn verdict(&self) -> Verdict {
        match self {
            Self::Http(e) => e.verdict(),
            _ => Verdict::Permanent,
        }
    }
}
