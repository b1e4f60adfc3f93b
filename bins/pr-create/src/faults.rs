//! pr-create's flags for what a library's fault blames: each error told with the flag to fix.

use common::fault_with;
use forge::template::Template;
use forge::{ForgeError, UserRole};
use gitops::GitopsError;
use model_registry::RegistryError;

use crate::cli::Cli;

pub(crate) fn explain(error: ForgeError, cli: &Cli) -> anyhow::Error {
    let what = format!(
        "promoting {} {} to {} in {} ({})",
        cli.model, cli.model_version, cli.environment, cli.forge_repo, cli.forge
    );
    fault_with(error, forge_flags).context(what)
}

/// This tool's flags for what a forge error blames.
pub(crate) fn forge_flags(error: &ForgeError) -> Option<&'static str> {
    Some(match error {
        ForgeError::RepoNotFound { .. } => "--forge-repo / --forge-api-url",
        ForgeError::RepoName(_) => "--forge-repo",
        ForgeError::ApiUrl(_) => "--forge-api-url",
        ForgeError::Decode { .. } => "--forge-api-url / --forge",
        ForgeError::BranchNotFound { .. } => "--branch",
        ForgeError::LabelNotFound { .. } => "--label",
        ForgeError::UserNotFound {
            role: UserRole::Reviewer,
            ..
        } => "--reviewer",
        ForgeError::UserNotFound {
            role: UserRole::Assignee,
            ..
        } => "--assignee",
        ForgeError::Unauthorized { .. } | ForgeError::Forbidden { .. } | ForgeError::Token(_) => {
            "--forge-token-file or MODELCAR_FORGE_TOKEN"
        }
        ForgeError::Template {
            template: Template::Branch,
            ..
        } => "--branch-template",
        ForgeError::Template {
            template: Template::Title,
            ..
        } => "--title-template",
        ForgeError::Template {
            template: Template::Body,
            ..
        } => "--body-template or --body-template-file",
        // The git side's flags are in its message already (see `git_change`).
        ForgeError::Git { .. }
        | ForgeError::Rejected { .. }
        | ForgeError::Usage(_)
        | ForgeError::Http(_) => return None,
    })
}

/// This tool's flags for what a git error blames.
pub(crate) fn git_flags(error: &GitopsError) -> Option<&'static str> {
    use gitops::Input;
    Some(match error.input()? {
        Input::RepoUrl => "--repo-url, by default from --forge-api-url and --forge-repo",
        Input::Credentials => {
            "--git-username, --git-token-file or MODELCAR_GIT_TOKEN (by default the forge token), \
             --basic-auth-dir, --ssh-dir"
        }
        Input::Branch => "--branch",
        Input::PushBranch => "--branch-template",
        Input::File if matches!(error, GitopsError::FileMissing { .. }) => {
            "--create; --file or --path-pattern"
        }
        Input::File => "--file or --path-pattern",
        Input::Values => "--set, --version-key, --digest-key",
        Input::Commits => return None,
        Input::Author => "--author-name, --author-email",
        Input::RollbackTarget => "--rollback, --rollback-to, --reason",
    })
}

/// This tool's flags for what a Model Registry error blames.
pub(crate) fn registry_flags(error: &RegistryError) -> Option<&'static str> {
    use model_registry::Input;
    Some(match error.input()? {
        Input::Url => "--registry-url",
        Input::Kind => "--registry-kind",
        Input::Token => "--registry-token-file or MODELCAR_REGISTRY_TOKEN",
        Input::Model => "--registry-model or --model",
        Input::Version => "--model-version",
        Input::Env => "--env",
        Input::Image => "--image",
    })
}

/// The flags that give this tool's image registry credentials.
pub(crate) const IMAGE_CREDENTIAL_FLAGS: &str = "--authfile or REGISTRY_AUTH_FILE, --docker-config";
