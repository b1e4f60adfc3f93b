//! registry-label: record in the Model Registry which environment runs which model version.

mod cli;

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, anyhow};
use common::{fault, fault_with, finish, usage};
use gitops::GitopsError;
use model_registry::deployments::{self, Action, ChangedFile, Deployment};
use model_registry::kube::{KubeClient, KubeError, ReadyWait, wait_ready};
use model_registry::{
    AnyRegistry, LabelOutcome, LabelRequest, ModelArtifact, ModelRegistry, RegistryConfig,
    RegistryError, label, now_rfc3339, registry_token, unlabel,
};

use crate::cli::Cli;

/// The environment variable a registry token may be given in instead of --registry-token-file.
const REGISTRY_TOKEN_ENV: &str = "MODELCAR_REGISTRY_TOKEN";

fn main() -> ExitCode {
    let cli = Cli::parse_normalized();
    cli.common.init_logging();
    gitops::set_network_timeouts(cli.common.http_options().idle_timeout);
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => return finish(Err(anyhow!(e).context("starting the async runtime"))),
    };
    finish(runtime.block_on(run(&cli)))
}

async fn run(cli: &Cli) -> anyhow::Result<()> {
    let actions = match &cli.repo_url {
        Some(url) => actions_from_push(cli, url).await?,
        None => vec![Action::Label(single_deployment(cli)?)],
    };
    if actions.is_empty() {
        tracing::info!(
            "the push changed no deployment config under {}",
            cli.path_prefix
        );
    }
    // Everything that can be checked is checked before the (possibly long) wait.
    let http = cli.common.http_options().client()?;
    let url = url::Url::parse(&cli.registry_url).map_err(|e| {
        usage(format!(
            "--registry-url {:?} is not a URL: {e}",
            cli.registry_url
        ))
    })?;
    http.check_url(&url).context("--registry-url")?;
    let token = registry_token(
        cli.registry_kind,
        cli.registry_token_file.as_deref(),
        REGISTRY_TOKEN_ENV,
    )
    .map_err(|e| fault_with(e, |e| registry_flags(e, cli)))?;
    for action in &actions {
        let (Action::Label(d) | Action::Unlabel(d)) = action;
        model_registry::validate_environment(&d.env)
            .map_err(|e| fault_with(e, |e| registry_flags(e, cli)))?;
    }
    if cli.repo_url.is_some() {
        check_tags(cli, &actions).await?;
    }
    if cli.wait_ready {
        wait_for_rollouts(cli, &actions).await?;
    }
    let mut config = RegistryConfig::new(cli.registry_kind, url, token);
    config.api_version = cli.registry_api_version.clone();
    config.registry_name = cli.registry_name.clone();
    config.version_tag = Some(cli.mlflow_version_tag.clone());
    let registry = AnyRegistry::connect(config, http);
    let (outcome, failures) = apply(cli, &registry, &actions).await?;
    if cli.dry_run {
        tracing::info!(
            "dry run: {} version(s) would change; nothing was changed",
            outcome.writes
        );
    }
    let join = |refs: &[model_registry::VersionRef]| {
        refs.iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(",")
    };
    for registered in &outcome.registered {
        tracing::info!(
            "{}registered {}:{}",
            if cli.dry_run {
                "dry run: would have "
            } else {
                ""
            },
            registered.model,
            registered.version
        );
    }
    cli.common.results().write_all([
        ("LABELLED", join(&outcome.labelled).as_str()),
        ("UNLABELLED", join(&outcome.unlabelled).as_str()),
    ])?;
    combine(failures, actions.len())
}

/// One failed deployment is reported as it is; several are listed together.
fn combine(mut failures: Vec<anyhow::Error>, attempted: usize) -> anyhow::Result<()> {
    if failures.len() <= 1 {
        return failures.pop().map_or(Ok(()), Err);
    }
    let all_usage = failures.iter().all(common::is_usage);
    let list = failures
        .iter()
        .map(|f| format!("  - {f:#}"))
        .collect::<Vec<_>>()
        .join("\n");
    let message = format!(
        "{} of {attempted} deployments could not be recorded (the others were):\n{list}",
        failures.len()
    );
    Err(if all_usage {
        usage(message)
    } else {
        anyhow!(message)
    })
}

/// Removals first, then labels. A deployment the registry does not know does not stop the others; a
/// registry that refuses or is down does.
async fn apply<R: ModelRegistry>(
    cli: &Cli,
    registry: &R,
    actions: &[Action],
) -> anyhow::Result<(LabelOutcome, Vec<anyhow::Error>)> {
    let mut outcome = LabelOutcome::default();
    let mut failures = Vec::new();
    let deployed_at = now_rfc3339();
    for action in actions {
        let step = match action {
            Action::Unlabel(d) => {
                let what = format!(
                    "removing {} from {}:{} in {}",
                    d.env,
                    d.model,
                    d.version,
                    registry.describe()
                );
                unlabel(registry, &d.model, &d.version, &d.env, cli.dry_run)
                    .await
                    .map_err(|e| (e, what))
            }
            Action::Label(d) => {
                let artifact = d.image.as_deref().and_then(|image| {
                    let artifact = ModelArtifact::from_image(
                        image,
                        cli.model_format.clone(),
                        cli.model_format_version.clone(),
                    );
                    if artifact.is_none() {
                        tracing::warn!(
                            "{image} names no digest (repo@sha256:...): not recorded as the model artifact"
                        );
                    }
                    artifact
                });
                let request = LabelRequest {
                    artifact,
                    register: cli.register,
                    model: d.model.clone(),
                    version: d.version.clone(),
                    env: d.env.clone(),
                    keep_others: cli.keep_others,
                    image: d.image.clone(),
                    gitops_commit: cli.gitops_commit.clone().or_else(|| cli.commit.clone()),
                    deployed_at: deployed_at.clone(),
                    records: cli.records(),
                    dry_run: cli.dry_run,
                };
                let what = format!(
                    "labelling {}:{} with {} in {}",
                    d.model,
                    d.version,
                    d.env,
                    registry.describe()
                );
                label(registry, &request).await.map_err(|e| (e, what))
            }
        };
        match step {
            Ok(step) => outcome.merge(step),
            Err((error, what)) => {
                let per_deployment = matches!(
                    error,
                    RegistryError::ModelNotFound { .. }
                        | RegistryError::VersionNotFound { .. }
                        | RegistryError::Contended { .. }
                );
                let error = fault_with(error, |e| registry_flags(e, cli)).context(what);
                if !per_deployment {
                    return Err(error);
                }
                failures.push(error);
            }
        }
    }
    Ok((outcome, failures))
}

/// This tool's flags for what a Model Registry error blames. With --repo-url the model, version and
/// environment come from the deployment configs, not from flags.
fn registry_flags(error: &RegistryError, cli: &Cli) -> Option<&'static str> {
    use model_registry::Input;
    let from_flags = cli.repo_url.is_none();
    Some(match error.input()? {
        Input::Url if matches!(error, RegistryError::NoApi { .. }) => {
            "--registry-url, --registry-api-version"
        }
        Input::Url => "--registry-url",
        Input::Kind => "--registry-kind",
        Input::Token if matches!(error, RegistryError::Unauthorized { .. }) => {
            "--registry-token-file or MODELCAR_REGISTRY_TOKEN; --registry-name"
        }
        Input::Token => "--registry-token-file or MODELCAR_REGISTRY_TOKEN",
        Input::Model if from_flags => "--model",
        Input::Version if from_flags => "--model-version",
        Input::Env if from_flags => "--env",
        Input::Image if from_flags => "--image",
        Input::Model | Input::Version | Input::Env | Input::Image => return None,
    })
}

/// This tool's flags for what a git error blames.
pub(crate) fn git_flags(error: &GitopsError) -> Option<&'static str> {
    use gitops::Input;
    Some(match error.input()? {
        Input::RepoUrl => "--repo-url",
        Input::Credentials => gitops::cli::GIT_CREDENTIAL_FLAGS,
        Input::Branch | Input::PushBranch => "--branch",
        Input::File => "--path-prefix",
        Input::Commits => "--commit, --before",
        Input::Values | Input::Author | Input::RollbackTarget => return None,
    })
}

/// This tool's flags for what a Kubernetes error blames.
fn kube_flags(error: &KubeError) -> Option<&'static str> {
    Some(match error {
        KubeError::NoApi | KubeError::BadUrl { .. } | KubeError::NotServed { .. } => {
            "--kube-api-url"
        }
        KubeError::Forbidden { .. } | KubeError::Unauthorized { .. } => {
            "--kube-token-file or MODELCAR_KUBE_TOKEN"
        }
        KubeError::Timeout { .. } => "--wait-timeout",
        KubeError::Decode { .. } | KubeError::Http(_) => return None,
    })
}

fn single_deployment(cli: &Cli) -> anyhow::Result<Deployment> {
    let (Some(model), Some(version), Some(env)) = (&cli.model, &cli.model_version, &cli.env) else {
        return Err(usage(
            "give --model, --model-version and --env (or --repo-url with --commit to label what a push deployed)",
        ));
    };
    Ok(Deployment {
        env: env.clone(),
        model: model.clone(),
        version: version.clone(),
        file: String::new(),
        image: cli.image.clone(),
    })
}

async fn actions_from_push(cli: &Cli, url: &str) -> anyhow::Result<Vec<Action>> {
    let Some(after) = cli.commit.clone() else {
        return Err(usage("--repo-url needs --commit (the push's `after`)"));
    };
    let remote = gitops::Remote::new(
        url.to_owned(),
        cli::git_auth(cli, url)?,
        cli.common.http_options(),
    );
    let (branch, before, prefix) = (
        cli.branch.clone(),
        cli.before.clone(),
        cli.path_prefix.clone(),
    );
    let what = format!(
        "reading what {}{after} changed under {prefix} on {branch} of {}",
        before
            .as_deref()
            .map(|b| format!("{b}.."))
            .unwrap_or_default(),
        common::http::display_url_text(url)
    );
    let after_for_git = after.clone();
    let changes = tokio::task::spawn_blocking(move || {
        gitops::changed_files(
            &remote,
            &branch,
            &after_for_git,
            before.as_deref(),
            prefix.trim_matches('/'),
        )
    })
    .await
    .context("reading the GitOps repository")?
    .map_err(|e| fault_with(e, git_flags).context(what))?;
    let files: Vec<ChangedFile> = changes
        .into_iter()
        .map(|c| ChangedFile {
            path: c.path,
            old: c.old,
            new: c.new,
        })
        .collect();
    let actions = deployments::plan(&files, &cli.path_prefix, cli.only_env.as_deref())
        .map_err(|e| fault(e).context(format!("reading the configs changed by {after}")))?;
    for action in &actions {
        match action {
            Action::Label(d) => {
                tracing::info!("{}: {} runs {}:{}", d.file, d.env, d.model, d.version)
            }
            Action::Unlabel(d) => tracing::info!(
                "{}: removed, {} no longer runs {}:{}",
                d.file,
                d.env,
                d.model,
                d.version
            ),
        }
    }
    Ok(actions)
}

/// Asks the image registry whether each deployed config's tag still names the digest the config
/// pins (see --tag-check). A moved tag records nothing.
async fn check_tags(cli: &Cli, actions: &[Action]) -> anyhow::Result<()> {
    if cli.tag_check == oci::TagPolicy::Off {
        return Ok(());
    }
    let mut pinned = Vec::new();
    for action in actions {
        let Action::Label(d) = action else { continue };
        let Some(text) = &d.image else { continue };
        match oci::Reference::parse(text) {
            Ok(image) => {
                if let (Some(_), Some(digest)) = (image.tag(), image.digest().cloned()) {
                    pinned.push((image, digest));
                }
            }
            Err(e) => tracing::warn!("{}: cannot check the image's tag: {e}", d.file),
        }
    }
    if pinned.is_empty() {
        return Ok(());
    }
    let keychain = oci::Keychain::discover(cli.authfile.as_deref(), cli.docker_config.as_deref())
        .map_err(|e| {
        fault_with(e, |_| {
            Some("--authfile or REGISTRY_AUTH_FILE, --docker-config")
        })
    })?;
    let client = oci::RegistryClient::new(cli.common.http_options(), keychain)?
        .with_retry(common::RetryPolicy::fast(3));
    oci::verify_tags(&client, &pinned, cli.tag_check)
        .await
        .context(
            "checking the deployed images' tags: nothing was recorded (--tag-check=warn records \
             the digest in Git anyway)",
        )
}

/// Waits until every environment about to be labelled serves its version; a timeout labels nothing.
async fn wait_for_rollouts(cli: &Cli, actions: &[Action]) -> anyhow::Result<()> {
    let api =
        KubeClient::api_url(cli.kube_api_url.as_deref()).map_err(|e| fault_with(e, kube_flags))?;
    let options = KubeClient::http_options(&cli.common.http_options(), None);
    let token = KubeClient::token(cli.kube_token_file.as_deref(), "MODELCAR_KUBE_TOKEN")
        .context("reading the Kubernetes token (--kube-token-file or MODELCAR_KUBE_TOKEN)")?;
    let http = options.client()?;
    http.check_url(&api).context("--kube-api-url")?;
    let client = KubeClient::new(api, token, http);
    for action in actions {
        let Action::Label(d) = action else { continue };
        let namespace = cli
            .namespace
            .clone()
            .unwrap_or_else(|| cli.namespace_pattern.replace("{env}", &d.env));
        let name = match (&cli.isvc_name, &cli.repo_url) {
            (Some(name), None) => name.clone(),
            _ => d.model.clone(),
        };
        let mut expect = vec![d.version.clone()];
        if let Some((_, digest)) = d.image.as_deref().and_then(|i| i.split_once('@')) {
            expect.push(digest.to_owned());
        }
        let wait = ReadyWait {
            namespace,
            name,
            expect,
            timeout: cli.wait_timeout,
            poll: cli
                .poll_interval
                .min(cli.wait_timeout.max(Duration::from_millis(100))),
        };
        tracing::info!(
            "waiting up to {:?} for InferenceService {}/{} to serve {}",
            wait.timeout,
            wait.namespace,
            wait.name,
            d.version
        );
        wait_ready(&client, &wait).await.map_err(|e| {
            fault_with(e, kube_flags).context(format!(
                "waiting for {}:{} to run in {}",
                d.model, d.version, d.env
            ))
        })?;
    }
    Ok(())
}
