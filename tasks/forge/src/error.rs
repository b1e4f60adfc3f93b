use common::{HttpError, Transient, Verdict};

use crate::model::{ForgeKind, UserRole};
use crate::template::Template;

/// Everything that can go wrong talking to a forge or preparing the promotion. Every message says
/// what was being done, to what, and what to try, in the forge's words: which flag sets the
/// repository, the token or a template is the binary's to add. No message ever contains the token.
#[derive(Debug, thiserror::Error)]
pub enum ForgeError {
    #[error(
        "{forge}: repository {repo} not found at {api}; check the repository's name and the forge's URL, and that the token's user can see it"
    )]
    RepoNotFound {
        forge: ForgeKind,
        repo: String,
        api: String,
    },
    #[error(
        "{forge}: branch {branch:?} not found in {repo}; check the base branch's name (the branch must exist)"
    )]
    BranchNotFound {
        forge: ForgeKind,
        repo: String,
        branch: String,
    },
    #[error(
        "{forge}: label {label:?} does not exist in {repo}; create it there or drop the label {label:?}"
    )]
    LabelNotFound {
        forge: ForgeKind,
        repo: String,
        label: String,
    },
    #[error(
        "{forge}: {role} {user:?} is not a user who can be a {role} in {repo}; check the {role}s' names (the user must exist and have access)"
    )]
    UserNotFound {
        forge: ForgeKind,
        repo: String,
        role: UserRole,
        user: String,
    },
    #[error(
        "{forge}: {action}: the token was refused ({status}): it is missing, wrong or expired; give {needs}"
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
        "{action}: unexpected answer from {url}: {message}; check that the forge's URL is the {forge} API, and the forge's kind"
    )]
    Decode {
        forge: ForgeKind,
        action: String,
        url: String,
        message: String,
    },
    /// The forge's URL cannot be used.
    #[error("{0}")]
    ApiUrl(String),
    /// The repository's name is not of the form the forge uses.
    #[error("{0}")]
    RepoName(String),
    /// The token cannot be sent.
    #[error("{0}")]
    Token(String),
    /// A template is wrong, or renders something that cannot be used.
    #[error("{template}: {message}")]
    Template { template: Template, message: String },
    /// Anything else the caller asked for that cannot be done.
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
                    | Self::ApiUrl(_)
                    | Self::RepoName(_)
                    | Self::Token(_)
                    | Self::Template { .. }
                    | Self::Usage(_)
                    | Self::Git { usage: true, .. }
            ),
        }
    }
}

impl common::UsageFault for ForgeError {
    fn is_usage(&self) -> bool {
        ForgeError::is_usage(self)
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
