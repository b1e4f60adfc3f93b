//! pr-create's command line.

use std::path::PathBuf;

use common::CommonArgs;
use forge::ForgeKind;
use forge::promote::{DEFAULT_BRANCH_TEMPLATE, DEFAULT_TITLE_TEMPLATE};
use gitops::DEFAULT_PATH_PATTERN;
use gitops::cli::{AuthorArgs, GitCredentialArgs, RollbackArgs};
use model_registry::RegistryKind;
use oci::TagPolicy;

use crate::registry;

/// Promote a model version to an environment through a pull request: set the version in the
/// environment's config file on the branch promote/<env>/<model>, and create the pull request, or
/// update it, or leave it when it is current. Older promotion pull requests for the same model and
/// environment are closed. Results: NUMBER, URL, STATUS (created, updated, unchanged, up-to-date,
/// blocked), BRANCH, IMAGE_DIGEST (the digest written beside the version), RULES (passed, failed, or
/// empty without --require).
#[derive(clap::Parser, Debug, Clone)]
#[command(about, version, max_term_width = 100)]
pub(crate) struct Cli {
    /// The forge: gitea, github or gitlab.
    #[arg(long, env = "MODELCAR_FORGE", value_parser = parse_forge)]
    pub(crate) forge: ForgeKind,

    /// The forge's URL (web or API): https://gitea.example.com, https://ghe.example.com/api/v3.
    /// Default: api.github.com or gitlab.com; required for Gitea.
    #[arg(long, alias = "api-url", env = "MODELCAR_FORGE_API_URL")]
    pub(crate) forge_api_url: Option<String>,

    /// The repository, OWNER/NAME (GitLab: the project's full path, GROUP/SUBGROUP/PROJECT).
    #[arg(
        long,
        alias = "repo",
        env = "MODELCAR_FORGE_REPO",
        value_name = "OWNER/NAME"
    )]
    pub(crate) forge_repo: String,

    /// The git clone URL (https or ssh). Default: derived from --forge-api-url and --forge-repo.
    #[arg(long, env = "MODELCAR_REPO_URL")]
    pub(crate) repo_url: Option<String>,

    /// The branch the pull request merges into.
    #[arg(long, alias = "base", env = "MODELCAR_BRANCH", default_value = "main")]
    pub(crate) branch: String,

    /// The model (application) name.
    #[arg(long, env = "MODELCAR_MODEL")]
    pub(crate) model: String,

    /// The environment to promote to.
    #[arg(
        long = "env",
        env = "MODELCAR_ENV",
        value_name = "ENV",
        default_value = "prod"
    )]
    pub(crate) environment: String,

    /// The model version to promote (set at --version-key). Not with --rollback, which finds it.
    #[arg(
        long,
        env = "MODELCAR_MODEL_VERSION",
        default_value = "",
        hide_default_value = true
    )]
    pub(crate) model_version: String,

    #[command(flatten)]
    pub(crate) rollback: RollbackArgs,

    /// The commit message of the change (a rollback's); the default names the promotion.
    #[arg(skip)]
    pub(crate) commit_message: Option<String>,

    /// The key the version is set at.
    #[arg(long, env = "MODELCAR_VERSION_KEY", default_value = "version")]
    pub(crate) version_key: String,

    /// The image's manifest digest (sha256:...), set at --digest-key beside the version: what the
    /// cluster pulls. Checked before anything is written.
    #[arg(long, env = "MODELCAR_DIGEST", value_name = "SHA256")]
    pub(crate) digest: Option<String>,

    /// The key the digest is set at.
    #[arg(long, env = "MODELCAR_DIGEST_KEY", default_value = "image_digest")]
    pub(crate) digest_key: String,

    /// Other KEY=VALUE to set (dotted keys reach into maps). Repeatable; in the environment one a line.
    #[arg(
        long = "set",
        env = "MODELCAR_SET",
        value_name = "KEY=VALUE",
        value_delimiter = '\n'
    )]
    pub(crate) sets: Vec<String>,

    /// The config file, relative to the repository root. Default: from --path-pattern.
    #[arg(long, env = "MODELCAR_FILE", value_name = "PATH")]
    pub(crate) file: Option<String>,

    /// Where a model's config lives; {model} and {env} are replaced.
    #[arg(long, env = "MODELCAR_PATH_PATTERN", default_value = DEFAULT_PATH_PATTERN)]
    pub(crate) path_pattern: String,

    /// Create the config file when the environment has none yet.
    #[arg(long, env = "MODELCAR_CREATE")]
    pub(crate) create: bool,

    /// The promotion branch; {model}, {env} and {version}. With {version} in it, each version gets its
    /// own branch and pull request, and those of older versions are closed.
    #[arg(long, env = "MODELCAR_BRANCH_TEMPLATE", default_value = DEFAULT_BRANCH_TEMPLATE)]
    pub(crate) branch_template: String,

    /// The pull request's title; {model}, {env}, {old_version}, {new_version}, {image}, {file}, ...
    #[arg(long, env = "MODELCAR_TITLE_TEMPLATE", default_value = DEFAULT_TITLE_TEMPLATE)]
    pub(crate) title_template: String,

    /// The pull request's body; also {diff}, {source_commit_url}, {registry}. Default: model,
    /// old -> new version, image, source commit and the config diff.
    #[arg(
        long,
        env = "MODELCAR_BODY_TEMPLATE",
        conflicts_with = "body_template_file"
    )]
    pub(crate) body_template: Option<String>,

    /// A file holding the body template.
    #[arg(long, env = "MODELCAR_BODY_TEMPLATE_FILE", value_name = "PATH")]
    pub(crate) body_template_file: Option<PathBuf>,

    /// A label to put on the pull request (must exist). Repeatable or comma-separated.
    #[arg(long = "label", env = "MODELCAR_LABEL", value_delimiter = ',')]
    pub(crate) labels: Vec<String>,

    /// A user to ask for a review. Repeatable or comma-separated.
    #[arg(long = "reviewer", env = "MODELCAR_REVIEWER", value_delimiter = ',')]
    pub(crate) reviewers: Vec<String>,

    /// A user to assign. Repeatable or comma-separated.
    #[arg(long = "assignee", env = "MODELCAR_ASSIGNEE", value_delimiter = ',')]
    pub(crate) assignees: Vec<String>,

    /// The image reference with its digest (registry/repo@sha256:...), shown to the reviewer.
    #[arg(long, env = "MODELCAR_IMAGE")]
    pub(crate) image: Option<String>,

    /// A link to the source commit the version was built from.
    #[arg(long, env = "MODELCAR_SOURCE_COMMIT_URL")]
    pub(crate) source_commit_url: Option<String>,

    /// The source commit id (named in the commit message).
    #[arg(long, env = "MODELCAR_SOURCE_COMMIT")]
    pub(crate) source_commit: Option<String>,

    /// The Model Registry's REST endpoint: the body then shows the candidate version's properties
    /// beside the version now labelled with --env.
    #[arg(long, alias = "registry-api-url", env = "MODELCAR_REGISTRY_URL")]
    pub(crate) registry_url: Option<String>,

    /// The Model Registry's web address (its dashboard), linked in the body. Default: --registry-url.
    #[arg(long, env = "MODELCAR_REGISTRY_WEB_URL")]
    pub(crate) registry_web_url: Option<String>,

    /// The Model Registry's kind.
    #[arg(
        long,
        env = "MODELCAR_REGISTRY_KIND",
        default_value = "kubeflow",
        value_parser = registry::kind_parser()
    )]
    pub(crate) registry_kind: RegistryKind,

    /// The model's name in the registry. Default: --model.
    #[arg(long, env = "MODELCAR_REGISTRY_MODEL")]
    pub(crate) registry_model: Option<String>,

    /// A file holding the registry token (a mounted Secret); or set MODELCAR_REGISTRY_TOKEN.
    #[arg(long, env = "MODELCAR_REGISTRY_TOKEN_FILE", value_name = "PATH")]
    pub(crate) registry_token_file: Option<PathBuf>,

    /// A promotion rule over the candidate's registry properties and run metrics, e.g.
    /// "accuracy >= prod", "latency_p95_ms <= 1.1 * prod", "f1 >= 0.8" (the environment's name
    /// stands for the version now there). Repeatable (in the environment one a line). When a rule
    /// fails, nothing is pushed or opened, status is "blocked" and the step fails naming the rule
    /// and both values. Needs --registry-url.
    #[arg(
        long = "require",
        env = "MODELCAR_REQUIRE",
        value_name = "RULE",
        value_delimiter = '\n'
    )]
    pub(crate) rules: Vec<String>,

    /// What a failing --require rule does. block: nothing is pushed or opened, status is "blocked"
    /// and the step fails. draft: the pull request is opened (or updated) as a draft listing the
    /// rules and how each fared, its head commit gets a failing commit status, and the step
    /// succeeds with RULES "failed". When every rule holds, the head commit gets a passing status
    /// (and a draft from an earlier failure becomes ready for review).
    #[arg(
        long,
        env = "MODELCAR_ON_RULE_FAILURE",
        value_enum,
        default_value = "block"
    )]
    pub(crate) on_rule_failure: OnRuleFailure,

    /// The commit status's context (GitLab: its name) for the --require rules.
    #[arg(
        long,
        env = "MODELCAR_STATUS_CONTEXT",
        default_value = "modelcar-gitops/promotion-rules"
    )]
    pub(crate) status_context: String,

    /// When --image names a tag (repository:tag@sha256:...), the image registry is asked what the
    /// tag names now. fail: another digest than the one written stops the step before anything is
    /// written (exit 1); warn: it is logged; off: the registry is not asked. A registry that cannot
    /// be reached or read is logged and the promotion goes on.
    #[arg(long, env = "MODELCAR_TAG_CHECK", default_value = "fail", value_parser = parse_tag_policy)]
    pub(crate) tag_check: TagPolicy,

    /// A registry auth file (podman's auth.json or docker's config.json) for reading --image's tag.
    #[arg(long, env = "REGISTRY_AUTH_FILE", value_name = "FILE")]
    pub(crate) authfile: Option<PathBuf>,

    /// A Tekton dockerconfig workspace (config.json or .dockerconfigjson) for reading --image's tag.
    #[arg(long, env = "MODELCAR_DOCKER_CONFIG", value_name = "DIR")]
    pub(crate) docker_config: Option<PathBuf>,

    /// A file holding the forge token (a mounted Secret); or set MODELCAR_FORGE_TOKEN.
    #[arg(
        long,
        alias = "token-file",
        env = "MODELCAR_FORGE_TOKEN_FILE",
        value_name = "PATH"
    )]
    pub(crate) forge_token_file: Option<PathBuf>,

    #[command(flatten)]
    pub(crate) git: GitCredentialArgs,

    #[command(flatten)]
    pub(crate) author: AuthorArgs,

    #[command(flatten)]
    pub(crate) common: CommonArgs,
}

fn parse_forge(text: &str) -> Result<ForgeKind, String> {
    text.parse()
}

fn parse_tag_policy(text: &str) -> Result<TagPolicy, String> {
    text.parse()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum OnRuleFailure {
    Block,
    Draft,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }
}
