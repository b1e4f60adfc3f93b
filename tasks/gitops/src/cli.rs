//! The git credential flags, the same in every tool that talks to a GitOps repository, with the
//! choice between them ([`GitCredentials::choose`]).

use std::path::PathBuf;

use common::Secret;

use crate::{GitAuth, GitCredentials, GitopsError, Identity, Input};

/// The flags of [`GitCredentialArgs`], for a tool's hint on a credential fault.
pub const GIT_CREDENTIAL_FLAGS: &str =
    "--git-username, --git-token-file or MODELCAR_GIT_TOKEN, --basic-auth-dir, --ssh-dir";

/// The environment variable a git token may be given in instead of `--git-token-file`.
pub const GIT_TOKEN_ENV: &str = "MODELCAR_GIT_TOKEN";

#[derive(Debug, Clone, Default, clap::Args)]
pub struct GitCredentialArgs {
    /// The user sent with the git token over https (e.g. oauth2 for Gitea and GitLab,
    /// x-access-token for GitHub).
    #[arg(
        long = "git-username",
        env = "MODELCAR_GIT_USERNAME",
        value_name = "USER"
    )]
    pub username: Option<String>,

    /// A file holding the git token or password (a mounted Secret); or set MODELCAR_GIT_TOKEN.
    #[arg(
        long = "git-token-file",
        env = "MODELCAR_GIT_TOKEN_FILE",
        value_name = "PATH"
    )]
    pub token_file: Option<PathBuf>,

    /// A Tekton basic-auth workspace (.git-credentials with https://user:token@host).
    #[arg(long, env = "MODELCAR_BASIC_AUTH_DIR", value_name = "DIR")]
    pub basic_auth_dir: Option<PathBuf>,

    /// A Tekton ssh-directory workspace (id_ed25519 or id_rsa, and known_hosts) for ssh URLs.
    #[arg(long, env = "MODELCAR_SSH_DIR", value_name = "DIR")]
    pub ssh_dir: Option<PathBuf>,
}

/// Who commits: the same flags (and the standard git variables) in every tool that commits.
#[derive(Debug, Clone, clap::Args)]
pub struct AuthorArgs {
    /// Author and committer name of the commit.
    #[arg(long, env = "GIT_AUTHOR_NAME", default_value = "modelcar-gitops")]
    pub author_name: String,

    /// Author and committer email of the commit.
    #[arg(
        long,
        env = "GIT_AUTHOR_EMAIL",
        default_value = "modelcar-gitops@noreply.localhost"
    )]
    pub author_email: String,
}

impl AuthorArgs {
    pub fn identity(&self) -> Identity {
        Identity {
            name: self.author_name.clone(),
            email: self.author_email.clone(),
        }
    }
}

/// The rollback flags, the same in every tool that can put an environment back on a version.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct RollbackArgs {
    /// Put --env back on the version it ran before the current one, with its image digest, as
    /// found in the config file's history on --branch (pr-create proposes it as a pull request;
    /// promotion rules do not apply). Needs --reason. A repeated rollback changes nothing; to go
    /// back further, name the version (--rollback-to).
    #[arg(
        long,
        env = "MODELCAR_ROLLBACK",
        value_parser = clap::builder::BoolishValueParser::new(),
        num_args = 0..=1,
        default_missing_value = "true",
        default_value = "false"
    )]
    pub rollback: bool,

    /// Put --env back on this version, which it must have run before. Needs --reason.
    #[arg(long, env = "MODELCAR_ROLLBACK_TO", value_name = "VERSION")]
    pub rollback_to: Option<String>,

    /// Why the environment is rolled back (written in the commit message and the pull request).
    #[arg(long, env = "MODELCAR_REASON")]
    pub reason: Option<String>,
}

impl RollbackArgs {
    /// Whether a rollback was asked for.
    pub fn requested(&self) -> bool {
        self.rollback || self.rollback_to.is_some()
    }

    /// The reason given, trimmed; `None` when missing or blank.
    pub fn reason(&self) -> Option<&str> {
        self.reason
            .as_deref()
            .map(str::trim)
            .filter(|r| !r.is_empty())
    }
}

impl GitCredentialArgs {
    /// The credentials for `url`: the token from `--git-token-file` or MODELCAR_GIT_TOKEN, else
    /// `fallback_token` (a forge token serves git over https too).
    pub fn auth(&self, url: &str, fallback_token: Option<Secret>) -> Result<GitAuth, GitopsError> {
        let mut credentials = self.credentials()?;
        credentials.token = credentials.token.or(fallback_token);
        credentials.choose(url)
    }

    /// What was given, the token read (from its file or MODELCAR_GIT_TOKEN); to be completed by
    /// the caller before [`GitCredentials::choose`].
    pub fn credentials(&self) -> Result<GitCredentials, GitopsError> {
        let token =
            Secret::from_file_or_env(self.token_file.as_deref(), GIT_TOKEN_ENV).map_err(|e| {
                GitopsError::invalid(Input::Credentials, format!("reading the git token: {e}"))
            })?;
        Ok(GitCredentials {
            username: self.username.clone(),
            token,
            basic_auth_dir: self.basic_auth_dir.clone(),
            ssh_dir: self.ssh_dir.clone(),
        })
    }
}
