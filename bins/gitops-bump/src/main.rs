//! gitops-bump: set a model's version (and other values) in a GitOps repository, commit and push.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use common::{CommonArgs, fault_with, finish, usage};
use gitops::cli::{AuthorArgs, GitCredentialArgs, RollbackArgs};
use gitops::{
    BumpRequest, DEFAULT_PATH_PATTERN, Deployment, GitAuth, GitopsError, Input, Remote, config_path,
};

/// Set values in one YAML file of a GitOps repository (e.g. a model's version and image digest in
/// model-deployments/<env>/<model>/config.yaml), commit and push; or put the environment back on a
/// version it ran before (--rollback). Only the changed values' bytes change; nothing to change means
/// no commit. Results: COMMIT, CHANGED, FILE, IMAGE_DIGEST (the digest written with --digest, or
/// empty), VERSION (the version now in the file, when set or rolled back to).
#[derive(Parser, Debug)]
#[command(version, about, max_term_width = 100)]
struct Cli {
    /// The GitOps repository: https://host/org/repo.git, ssh://git@host/org/repo.git or git@host:org/repo.git.
    #[arg(long, env = "MODELCAR_REPO_URL")]
    repo_url: String,

    /// The branch to edit (and push to, unless --push-branch is given).
    #[arg(long, env = "MODELCAR_BRANCH", default_value = "main")]
    branch: String,

    /// The file to edit, relative to the repository root. Or give --model and --env.
    #[arg(long, env = "MODELCAR_FILE", value_name = "PATH")]
    file: Option<String>,

    /// The model (application) name; with --env picks the file through --path-pattern.
    #[arg(long, env = "MODELCAR_MODEL")]
    model: Option<String>,

    /// The environment (test, prod, ...); with --model picks the file through --path-pattern.
    #[arg(long = "env", env = "MODELCAR_ENV", value_name = "ENV")]
    environment: Option<String>,

    /// Where a model's config lives; {model} and {env} are replaced.
    #[arg(long, env = "MODELCAR_PATH_PATTERN", default_value = DEFAULT_PATH_PATTERN)]
    path_pattern: String,

    /// KEY=VALUE to set; KEY may be a dotted path into nested maps (image.tag). Repeatable
    /// (in the environment: one per line). Values are always written as strings.
    #[arg(
        long = "set",
        env = "MODELCAR_SET",
        value_name = "KEY=VALUE",
        value_delimiter = '\n'
    )]
    sets: Vec<String>,

    /// The model version to set (at --version-key): the image tag the environment runs. Not with
    /// --rollback, which finds it.
    #[arg(long, env = "MODELCAR_MODEL_VERSION", value_name = "VERSION")]
    model_version: Option<String>,

    /// The key the version is set at.
    #[arg(long, env = "MODELCAR_VERSION_KEY", default_value = gitops::VERSION_KEY)]
    version_key: String,

    /// The image's manifest digest (sha256:...), set at --digest-key in the same commit: what the
    /// cluster pulls. Checked before anything is written.
    #[arg(long, env = "MODELCAR_DIGEST", value_name = "SHA256")]
    digest: Option<String>,

    /// The key the digest is set at.
    #[arg(long, env = "MODELCAR_DIGEST_KEY", default_value = "image_digest")]
    digest_key: String,

    /// Create the file (or fill an empty `---` file) when it does not exist yet.
    #[arg(long, env = "MODELCAR_CREATE")]
    create: bool,

    /// The commit message. Default: names the model, environment, old and new version and source commit.
    #[arg(long, env = "MODELCAR_MESSAGE")]
    message: Option<String>,

    #[command(flatten)]
    author: AuthorArgs,

    /// The source repository commit the model version was built from (named in the commit message).
    #[arg(long, env = "MODELCAR_SOURCE_COMMIT")]
    source_commit: Option<String>,

    /// Push the commit to this branch instead of --branch (force-pushed: a branch this tool owns,
    /// e.g. promote/prod/jukebox for a pull request).
    #[arg(long, env = "MODELCAR_PUSH_BRANCH")]
    push_branch: Option<String>,

    #[command(flatten)]
    rollback: RollbackArgs,

    #[command(flatten)]
    git: GitCredentialArgs,

    /// Former spelling of --git-username.
    #[arg(long = "username", hide = true, conflicts_with = "username")]
    former_username: Option<String>,

    /// Former spelling of --git-token-file.
    #[arg(long = "token-file", hide = true, conflicts_with = "token_file")]
    former_token_file: Option<PathBuf>,

    #[command(flatten)]
    common: CommonArgs,
}

mod rollback;

fn main() -> ExitCode {
    let cli: Cli = common::parse_args();
    cli.common.init_logging();
    gitops::set_network_timeouts(cli.common.http_options().idle_timeout);
    finish(run(&cli))
}

fn run(cli: &Cli) -> anyhow::Result<()> {
    if cli.rollback.requested() {
        let remote = Remote::new(cli.repo_url.clone(), auth(cli)?, cli.common.http_options());
        return rollback::run(cli, &remote);
    }
    let request = request(cli)?;
    let remote = Remote::new(cli.repo_url.clone(), auth(cli)?, cli.common.http_options());
    let outcome = gitops::bump(&remote, &request).map_err(|e| explain(e, cli, &request))?;
    if outcome.changed {
        eprint!("{}", outcome.diff);
    }
    cli.common.results().write_all([
        ("COMMIT", outcome.commit.as_str()),
        ("CHANGED", if outcome.changed { "true" } else { "false" }),
        ("FILE", outcome.file.as_str()),
        ("IMAGE_DIGEST", cli.digest.as_deref().unwrap_or_default()),
        ("VERSION", version_set(cli, &request).unwrap_or_default()),
    ])?;
    Ok(())
}

/// The version the request sets: --model-version, or a --set of the version key.
fn version_set<'a>(cli: &Cli, request: &'a BumpRequest) -> Option<&'a str> {
    let key = gitops::parse_key_path(&cli.version_key);
    request
        .sets
        .iter()
        .rev()
        .find(|(path, _)| *path == key)
        .map(|(_, value)| value.as_str())
}

fn request(cli: &Cli) -> anyhow::Result<BumpRequest> {
    let file = match (&cli.file, &cli.model, &cli.environment) {
        (Some(file), _, _) => file.clone(),
        (None, Some(model), Some(env)) => config_path(&cli.path_pattern, model, env),
        _ => return Err(usage("give the file with --file, or --model and --env")),
    };
    let mut sets = cli
        .sets
        .iter()
        .filter(|s| !s.trim().is_empty())
        .map(|set| {
            gitops::parse_set(set, "version=1.4.0").map_err(|e| fault_with(e, |_| Some("--set")))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    if let Some(version) = &cli.model_version {
        if version.trim().is_empty() {
            return Err(usage("--model-version is empty: give the version to set"));
        }
        sets.push((gitops::parse_key_path(&cli.version_key), version.clone()));
    }
    if let Some(digest) = &cli.digest {
        sets.push(
            gitops::digest_set(&cli.digest_key, digest)
                .map_err(|e| fault_with(e, |_| Some("--digest")))?,
        );
    }
    if sets.is_empty() {
        return Err(usage(
            "nothing to set: give --model-version, or at least one --set KEY=VALUE",
        ));
    }
    let deployment = match (&cli.model, &cli.environment) {
        (Some(model), Some(env)) => Some(Deployment {
            model: model.clone(),
            env: env.clone(),
            source_commit: cli.source_commit.clone(),
        }),
        _ => None,
    };
    Ok(BumpRequest {
        file,
        sets,
        create: cli.create,
        message: cli.message.clone(),
        author: cli.author.identity(),
        base_branch: cli.branch.clone(),
        push_branch: cli.push_branch.clone(),
        deployment,
    })
}

fn auth(cli: &Cli) -> anyhow::Result<GitAuth> {
    let mut git = cli.git.clone();
    git.username = git.username.or_else(|| cli.former_username.clone());
    git.token_file = git.token_file.or_else(|| cli.former_token_file.clone());
    git.auth(&cli.repo_url, None)
        .map_err(|e| fault_with(e, flags))
}

fn explain(error: GitopsError, cli: &Cli, request: &BumpRequest) -> anyhow::Error {
    let target = request
        .push_branch
        .as_deref()
        .unwrap_or(&request.base_branch);
    let what = format!(
        "setting {} in {} on {} of {}",
        request
            .sets
            .iter()
            .map(|(k, v)| format!("{}={v}", k.join(".")))
            .collect::<Vec<_>>()
            .join(", "),
        request.file,
        target,
        common::http::display_url_text(&cli.repo_url)
    );
    fault_with(error, flags).context(what)
}

/// This tool's flags for what a git error blames.
fn flags(error: &GitopsError) -> Option<&'static str> {
    Some(match error.input()? {
        Input::RepoUrl => "--repo-url",
        Input::Credentials => gitops::cli::GIT_CREDENTIAL_FLAGS,
        Input::Branch => "--branch",
        Input::PushBranch => "--push-branch",
        Input::File if matches!(error, GitopsError::FileMissing { .. }) => {
            "--create; --file, or --model and --env with --path-pattern"
        }
        Input::File => "--file, or --model and --env with --path-pattern",
        Input::Values => "--set, --digest-key",
        Input::Commits => return None,
        Input::Author => "--author-name, --author-email",
        Input::RollbackTarget => "--rollback, --rollback-to, --reason",
    })
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
