//! pr-create: open (or bring up to date) the pull request that promotes a model version to an
//! environment of a GitOps repository, on Gitea, GitHub or GitLab.

mod cli;
mod faults;
mod git_change;
mod registry;
mod rollback;
mod rules;

use std::process::ExitCode;

use anyhow::{Context, anyhow};
use common::{RetryPolicy, Secret, fault_with, finish, usage};
use forge::promote::DEFAULT_BODY_TEMPLATE;
use forge::{AnyForge, ForgeConfig, ForgeError, ForgeKind, PromotionRequest};
use gitops::{BumpRequest, Deployment, GitAuth, Remote, config_path};
use oci::{Digest, Keychain, Reference, RegistryClient, TagPolicy};

use crate::cli::Cli;
pub(crate) use crate::faults::git_flags;
use crate::faults::{IMAGE_CREDENTIAL_FLAGS, explain, registry_flags};
use crate::git_change::GitopsChange;
use crate::rules::{Judged, apply_judgement, enforce, promotion_rules};

fn main() -> ExitCode {
    let cli: Cli = common::cli::parse_args();
    cli.common.init_logging();
    gitops::set_network_timeouts(cli.common.http_options().idle_timeout);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => return finish(Err(anyhow!("starting the async runtime: {e}"))),
    };
    finish(runtime.block_on(run(&cli)))
}

async fn run(cli: &Cli) -> anyhow::Result<()> {
    let token = Secret::from_file_or_env(cli.forge_token_file.as_deref(), "MODELCAR_FORGE_TOKEN")
        .context("reading the forge token")?
        .ok_or_else(|| {
            usage(
                "no forge token: give --forge-token-file (a mounted Secret) or set \
                 MODELCAR_FORGE_TOKEN",
            )
        })?;
    let config = ForgeConfig {
        kind: cli.forge,
        api_url: cli.forge_api_url.clone(),
        repo: cli.forge_repo.clone(),
        token: token.clone(),
        http: cli.common.http_options(),
        retry: RetryPolicy::default(),
    };
    // Every server this run will talk to is checked against the plain-HTTP opt-in before any
    // of them is sent anything.
    let http = cli.common.http_options().client()?;
    let api =
        forge::api_base(cli.forge, cli.forge_api_url.as_deref()).map_err(|e| explain(e, cli))?;
    http.check_url(&api).context("--forge-api-url")?;
    let repo_url = match &cli.repo_url {
        Some(url) => url.clone(),
        None => clone_url(cli).map_err(|e| explain(e, cli))?,
    };
    if let Ok(url) = url::Url::parse(&repo_url)
        && matches!(url.scheme(), "http" | "https")
    {
        http.check_url(&url).context("--repo-url")?;
    }
    let rolled_back;
    let cli = if cli.rollback.requested() {
        match rollback::resolve(cli, &repo_url, token.clone()).await? {
            Some(resolved) => {
                rolled_back = resolved;
                &rolled_back
            }
            None => return Ok(()),
        }
    } else {
        cli
    };
    let rules = promotion_rules(cli)?;
    let forge = AnyForge::connect(&config).map_err(|e| explain(e, cli))?;
    let mut request = promotion_request(cli)?;
    let pinned = pinned_image(cli)?;
    if let Some((image, digest)) = &pinned {
        check_tag(cli, image, digest).await?;
    }
    let mut judged = Judged::NoRules;
    if let Some(url) = &cli.registry_url {
        let parse = |flag: &str, text: &str| {
            url::Url::parse(text).map_err(|e| usage(format!("{flag} {text:?} is not a URL: {e}")))
        };
        let api_url = parse("--registry-url", url)?;
        let token = model_registry::registry_token(
            cli.registry_kind,
            cli.registry_token_file.as_deref(),
            "MODELCAR_REGISTRY_TOKEN",
        )
        .map_err(|e| fault_with(e, registry_flags))?;
        let source = registry::RegistrySource {
            kind: cli.registry_kind,
            web_url: match &cli.registry_web_url {
                Some(web) => parse("--registry-web-url", web)?,
                None => api_url.clone(),
            },
            url: api_url,
            token,
            http: cli.common.http_options(),
        };
        http.check_url(&source.url).context("--registry-url")?;
        let model = cli.registry_model.as_deref().unwrap_or(&cli.model);
        let section =
            match registry::compare(&source, model, &cli.model_version, &cli.environment).await {
                Ok(comparison) => {
                    if !rules.is_empty() {
                        judged = enforce(cli, &comparison, &rules)?;
                        apply_judgement(cli, &judged, &source.web_url, &mut request);
                    }
                    comparison.section(&source.web_url)
                }
                Err(why) if rules.is_empty() => {
                    registry::unavailable(&source.web_url, &why.to_string())
                }
                Err(why) => {
                    return Err(fault_with(why, registry_flags).context(
                        "the promotion rules need the Model Registry, which could not be read",
                    ));
                }
            };
        request.registry_section = Some(section);
    }
    let change = GitopsChange {
        remote: Remote::new(
            repo_url.clone(),
            git_auth(cli, &repo_url, token)?,
            cli.common.http_options(),
        ),
        request: bump_request(cli)?,
        version_key: cli.version_key.clone(),
    };

    let outcome = forge::promote(&forge, &change, &request)
        .await
        .map_err(|e| explain(e, cli))?;
    let number = outcome.number.map(|n| n.to_string()).unwrap_or_default();
    cli.common.results().write_all([
        ("NUMBER", number.as_str()),
        ("URL", outcome.url.as_deref().unwrap_or_default()),
        ("STATUS", outcome.status.as_str()),
        ("BRANCH", outcome.branch.as_deref().unwrap_or_default()),
        ("IMAGE_DIGEST", cli.digest.as_deref().unwrap_or_default()),
        ("RULES", judged.result()),
    ])?;
    Ok(())
}

/// The image whose tag is to name the digest written: --image when it names a tag, with --digest
/// (or its own digest). Refuses an --image whose digest is not --digest.
fn pinned_image(cli: &Cli) -> anyhow::Result<Option<(Reference, Digest)>> {
    let Some(text) = &cli.image else {
        return Ok(None);
    };
    let image = Reference::parse(text).map_err(|e| fault_with(e, |_| Some("--image")))?;
    let digest = match (&cli.digest, image.digest()) {
        (Some(given), Some(own)) if given.as_str() != own.to_string() => {
            return Err(usage(format!(
                "--image {text:?} names digest {own}, but --digest is {given}; give the same image"
            )));
        }
        (Some(given), _) => given
            .parse::<Digest>()
            .map_err(|e| fault_with(e, |_| Some("--digest")))?,
        (None, Some(own)) => own.clone(),
        (None, None) => return Ok(None),
    };
    Ok(image.tag().is_some().then_some((image, digest)))
}

/// Asks the image registry whether the tag still names the digest written (see --tag-check).
async fn check_tag(cli: &Cli, image: &Reference, digest: &Digest) -> anyhow::Result<()> {
    if cli.tag_check == TagPolicy::Off {
        return Ok(());
    }
    let keychain = Keychain::discover(cli.authfile.as_deref(), cli.docker_config.as_deref())
        .map_err(|e| fault_with(e, |_| Some(IMAGE_CREDENTIAL_FLAGS)))?;
    let client =
        RegistryClient::new(cli.common.http_options(), keychain)?.with_retry(RetryPolicy::fast(3));
    oci::verify_tags(&client, &[(image.clone(), digest.clone())], cli.tag_check)
        .await
        .with_context(|| {
            format!(
                "promoting {} {} to {}: nothing was pushed or opened (--tag-check=warn promotes \
                 the digest anyway)",
                cli.model, cli.model_version, cli.environment
            )
        })
}

fn promotion_request(cli: &Cli) -> anyhow::Result<PromotionRequest> {
    for (flag, value) in [
        ("--model", &cli.model),
        ("--env", &cli.environment),
        ("--model-version", &cli.model_version),
    ] {
        if value.trim().is_empty() || value.contains(['\n', '\r']) {
            return Err(usage(format!("{flag} must be a non-empty single line")));
        }
    }
    if let Some(image) = &cli.image
        && !image.contains("@sha256:")
    {
        return Err(usage(format!(
            "--image {image:?} has no digest; give the reference the build reported, e.g. registry/repo@sha256:..."
        )));
    }
    let body_template = match (&cli.body_template, &cli.body_template_file) {
        (Some(text), _) => text.clone(),
        (None, Some(path)) => std::fs::read_to_string(path).map_err(|e| {
            usage(format!(
                "reading --body-template-file {}: {e}",
                path.display()
            ))
        })?,
        (None, None) => DEFAULT_BODY_TEMPLATE.to_owned(),
    };
    let listed = |items: &[String]| -> Vec<String> {
        items
            .iter()
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect()
    };
    Ok(PromotionRequest {
        base: cli.branch.clone(),
        branch_template: cli.branch_template.clone(),
        title_template: cli.title_template.clone(),
        body_template,
        labels: listed(&cli.labels),
        reviewers: listed(&cli.reviewers),
        assignees: listed(&cli.assignees),
        image: cli.image.clone(),
        source_commit_url: cli.source_commit_url.clone(),
        ..PromotionRequest::new(&cli.model, &cli.environment, &cli.model_version)
    })
}

fn bump_request(cli: &Cli) -> anyhow::Result<BumpRequest> {
    let file = cli
        .file
        .clone()
        .unwrap_or_else(|| config_path(&cli.path_pattern, &cli.model, &cli.environment));
    let mut sets = vec![(
        gitops::parse_key_path(&cli.version_key),
        cli.model_version.clone(),
    )];
    for set in cli.sets.iter().filter(|s| !s.trim().is_empty()) {
        sets.push(
            gitops::parse_set(set, "image_namespace=team-prod")
                .map_err(|e| fault_with(e, |_| Some("--set")))?,
        );
    }
    if let Some(digest) = &cli.digest {
        sets.push(
            gitops::digest_set(&cli.digest_key, digest)
                .map_err(|e| fault_with(e, |_| Some("--digest")))?,
        );
    }
    Ok(BumpRequest {
        file,
        sets,
        create: cli.create,
        message: cli.commit_message.clone(),
        author: cli.author.identity(),
        base_branch: cli.branch.clone(),
        push_branch: None,
        deployment: Some(Deployment {
            model: cli.model.clone(),
            env: cli.environment.clone(),
            source_commit: cli.source_commit.clone(),
        }),
    })
}

/// Git credentials: an ssh or basic-auth workspace, else a user with the git token (default: the
/// forge token, which every forge accepts for git over https).
fn git_auth(cli: &Cli, repo_url: &str, forge_token: Secret) -> anyhow::Result<GitAuth> {
    let mut credentials = cli
        .git
        .credentials()
        .map_err(|e| fault_with(e, git_flags))?;
    // Without a basic-auth workspace, or with part of an explicit pair, git uses the forge token
    // under the user name the forge expects for tokens.
    if credentials.basic_auth_dir.is_none()
        || credentials.username.is_some()
        || credentials.token.is_some()
    {
        credentials.token.get_or_insert(forge_token);
        credentials.username.get_or_insert_with(|| {
            match cli.forge {
                ForgeKind::GitHub => "x-access-token",
                ForgeKind::Gitea | ForgeKind::GitLab => "oauth2",
            }
            .to_owned()
        });
    }
    credentials
        .choose(repo_url)
        .map_err(|e| fault_with(e, git_flags))
}

/// `https://host/OWNER/NAME.git` from the API URL (api.github.com: github.com).
fn clone_url(cli: &Cli) -> Result<String, ForgeError> {
    let mut url = forge::api_base(cli.forge, cli.forge_api_url.as_deref())?;
    if url.host_str() == Some("api.github.com") {
        url.set_host(Some("github.com"))
            .map_err(|e| ForgeError::ApiUrl(e.to_string()))?;
    }
    let path = url.path().trim_end_matches('/');
    let root = ["/api/v1", "/api/v3", "/api/v4"]
        .iter()
        .find_map(|suffix| path.strip_suffix(suffix))
        .unwrap_or(path)
        .to_owned();
    url.set_path(&format!("{root}/{}.git", cli.forge_repo.trim_matches('/')));
    Ok(url.to_string())
}
