//! Typed errors: each says what was being done, to what, and what to try. None carries a secret.

use std::path::PathBuf;

use common::{Transient, Verdict};

#[derive(Debug, thiserror::Error)]
pub enum GitopsError {
    /// The request itself is wrong (a bad key, an unsafe path, a URL with a password in it).
    #[error("{0}")]
    InvalidRequest(String),

    /// The server refused the credentials (HTTP 401, or every ssh key offered was rejected).
    #[error("authentication failed for {url}: {detail}")]
    Authentication { url: String, detail: String },

    /// The server answered 403: the credentials are valid but not allowed to do this.
    #[error(
        "permission denied by {url} while {action}; check that the account may read and push to this repository"
    )]
    PermissionDenied { url: String, action: String },

    /// The ssh server's host key is unknown or does not match `known_hosts`.
    #[error("refusing ssh connection to {host}: {detail}")]
    HostKey { host: String, detail: String },

    /// Reaching the server failed; `transient` says whether retrying may help.
    #[error("{action} at {url}: {detail}")]
    Network {
        action: String,
        url: String,
        detail: String,
        transient: bool,
    },

    /// The repository or branch does not exist on the server.
    #[error("{what} not found at {url}; {hint}")]
    NotFound {
        what: String,
        url: String,
        hint: String,
    },

    /// The file to edit does not exist (or is empty) and creating it was not asked for.
    #[error(
        "{file} {state} on branch {branch} of {url}; pass --create to create it, or check the path"
    )]
    FileMissing {
        file: String,
        state: &'static str,
        branch: String,
        url: String,
    },

    /// The YAML file could not be read or edited; nothing was committed.
    #[error("editing {file}: {source}; nothing was committed")]
    Yaml {
        file: String,
        #[source]
        source: yaml_edit::EditError,
    },

    /// The file is not UTF-8 text.
    #[error("editing {file}: it is not UTF-8 text ({detail}); nothing was committed")]
    NotText { file: String, detail: String },

    /// The server refused the push (a pre-receive hook, a protected branch); `message` is its own words.
    #[error("{url} rejected the push to {reference}: {message}")]
    Rejected {
        url: String,
        reference: String,
        message: String,
    },

    /// Other pushes kept landing first; every attempt was rejected as not fast-forward.
    #[error(
        "pushing to {reference} at {url}: the branch moved under us {attempts} times in a row (other pipelines pushing); re-run the step"
    )]
    Contended {
        url: String,
        reference: String,
        attempts: u32,
    },

    /// A commit named by the caller is not in the branch's history.
    #[error(
        "commit {commit} not found on branch {branch} of {url}; check the commit ids (webhook before/after)"
    )]
    CommitNotFound {
        commit: String,
        branch: String,
        url: String,
    },

    /// A credentials workspace (basic-auth or ssh-directory) could not be used.
    #[error("reading credentials from {path}: {detail}")]
    Credentials { path: PathBuf, detail: String },

    /// A local I/O step failed (the temporary work directory).
    #[error("{action} {path}: {source}")]
    Io {
        action: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// libgit2 failed at a local step, or at a remote one without a more precise cause.
    #[error("{action}: {message}")]
    Git {
        action: String,
        message: String,
        transient: bool,
    },
}

impl GitopsError {
    pub(crate) fn git(action: impl Into<String>, error: &git2::Error) -> Self {
        let transient = matches!(
            error.class(),
            git2::ErrorClass::Net | git2::ErrorClass::Os | git2::ErrorClass::Ssh
        ) && error.code() != git2::ErrorCode::Auth
            && error.code() != git2::ErrorCode::Certificate;
        Self::Git {
            action: action.into(),
            message: error.message().trim_end_matches('.').to_owned(),
            transient,
        }
    }

    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Self::InvalidRequest(message.into())
    }

    /// True for errors the caller made (a bad file, bad YAML, a bad flag): exit code 2 territory.
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            Self::InvalidRequest(_)
                | Self::FileMissing { .. }
                | Self::Yaml { .. }
                | Self::NotText { .. }
                | Self::Credentials { .. }
        )
    }
}

impl Transient for GitopsError {
    fn verdict(&self) -> Verdict {
        match self {
            Self::Network {
                transient: true, ..
            }
            | Self::Git {
                transient: true, ..
            } => Verdict::Transient { after: None },
            _ => Verdict::Permanent,
        }
    }
}
