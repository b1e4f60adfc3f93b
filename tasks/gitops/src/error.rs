//! Typed errors: each says what was being done, to what, and what to try, in git's and the
//! repository's words. None carries a secret, and none names a flag: [`GitopsError::input`] tells a
//! binary which part of the request is at fault, for it to name its own flag.

use std::path::PathBuf;

use common::{Transient, Verdict};

/// The part of a request an error blames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input {
    /// The repository's URL.
    RepoUrl,
    /// The git credentials: a user name and token, a basic-auth or an ssh-directory workspace.
    Credentials,
    /// The branch edited (and pushed to, without a push branch).
    Branch,
    /// The branch pushed to instead.
    PushBranch,
    /// The file edited.
    File,
    /// The keys and values set.
    Values,
    /// The commits named (a push's before and after).
    Commits,
    /// The commit's author.
    Author,
    /// The version an environment is to be rolled back to (or the reason to roll back at all).
    RollbackTarget,
}

#[derive(Debug, thiserror::Error)]
pub enum GitopsError {
    /// The request itself is wrong (a bad key, an unsafe path, a URL with a password in it);
    /// `input` is the part at fault, when it is one part.
    #[error("{message}")]
    InvalidRequest {
        input: Option<Input>,
        message: String,
    },

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
        input: Input,
    },

    /// The file to edit does not exist (or is empty) and creating it was not asked for.
    #[error(
        "{file} {state} on branch {branch} of {url}; check the path, or ask for the file to be created"
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

    pub(crate) fn invalid(input: impl Into<Option<Input>>, message: impl Into<String>) -> Self {
        Self::InvalidRequest {
            input: input.into(),
            message: message.into(),
        }
    }

    /// The part of the request the error blames, if one is.
    pub fn input(&self) -> Option<Input> {
        match self {
            Self::InvalidRequest { input, .. } => *input,
            Self::NotFound { input, .. } => Some(*input),
            Self::Authentication { .. }
            | Self::PermissionDenied { .. }
            | Self::HostKey { .. }
            | Self::Credentials { .. } => Some(Input::Credentials),
            Self::FileMissing { .. } | Self::NotText { .. } => Some(Input::File),
            Self::Yaml { source, .. } if source.is_key_path() => Some(Input::Values),
            Self::Yaml { .. } => Some(Input::File),
            Self::CommitNotFound { .. } => Some(Input::Commits),
            Self::Network { .. }
            | Self::Rejected { .. }
            | Self::Contended { .. }
            | Self::Io { .. }
            | Self::Git { .. } => None,
        }
    }

    /// True for errors the caller made (a bad file, bad YAML, a bad flag): exit code 2 territory.
    pub fn is_usage(&self) -> bool {
        match self {
            Self::Yaml { source, .. } => source.is_usage(),
            other => matches!(
                other,
                Self::InvalidRequest { .. }
                    | Self::FileMissing { .. }
                    | Self::NotText { .. }
                    | Self::Credentials { .. }
            ),
        }
    }
}

impl common::UsageFault for GitopsError {
    fn is_usage(&self) -> bool {
        GitopsError::is_usage(self)
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
