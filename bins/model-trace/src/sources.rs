//! The clients for each source the command line gives; for each one it does not give, the note
//! saying which flags would.

use anyhow::Context;
use common::{RetryPolicy, Secret, fault_with, usage};
use forge::{AnyForge, ForgeConfig, ForgeError};
use gitops::{GitopsError, Remote};
use model_registry::kube::{KubeClient, KubeError};
use model_registry::{AnyRegistry, RegistryConfig, RegistryError, registry_token};
use oci::{Keychain, RegistryClient};
use trace::{LayerName, Source};

use crate::cli::Cli;

pub struct Clients {
    pub git: Remote,
    pub images: RegistryClient,
    model_registry: Result<AnyRegistry, String>,
    forge: Result<AnyForge, String>,
    cluster: Result<KubeClient, String>,
}

impl Clients {
    /// Everything given is checked here, before any request: a bad URL or an unreadable token file
    /// is a usage error, not a layer that failed.
    pub fn connect(cli: &Cli) -> anyhow::Result<Self> {
        Ok(Self {
            git: git_remote(cli)?,
            images: image_client(cli)?,
            model_registry: model_registry(cli)?,
            forge: forge(cli)?,
            cluster: cluster(cli)?,
        })
    }

    pub fn model_registry(&self) -> Source<&AnyRegistry> {
        given(&self.model_registry)
    }

    pub fn forge(&self) -> Source<&AnyForge> {
        given(&self.forge)
    }

    pub fn cluster(&self) -> Source<&KubeClient> {
        given(&self.cluster)
    }
}

fn given<T>(client: &Result<T, String>) -> Source<&T> {
    match client {
        Ok(client) => Source::Given(client),
        Err(note) => Source::Missing(note.clone()),
    }
}

fn git_remote(cli: &Cli) -> anyhow::Result<Remote> {
    let auth = cli.git.auth(&cli.repo_url, None).map_err(|e| {
        fault_with(e, git_flags).context(format!(
            "git credentials for {}",
            common::http::display_url_text(&cli.repo_url)
        ))
    })?;
    Ok(Remote::new(
        cli.repo_url.clone(),
        auth,
        cli.common.http_options(),
    ))
}

fn image_client(cli: &Cli) -> anyhow::Result<RegistryClient> {
    let keychain = Keychain::discover(None, cli.docker_config.as_deref())
        .map_err(|e| fault_with(e, |_| Some("--docker-config")))?;
    RegistryClient::new(cli.common.http_options(), keychain)
        .context("setting up the image registry client")
}

fn model_registry(cli: &Cli) -> anyhow::Result<Result<AnyRegistry, String>> {
    let Some(text) = &cli.registry_url else {
        return Ok(Err(
            "give --registry-url (with --registry-kind, and --registry-token-file or \
             MODELCAR_REGISTRY_TOKEN) to compare the Model Registry"
                .into(),
        ));
    };
    let url = url::Url::parse(text)
        .map_err(|e| usage(format!("--registry-url {text:?} is not a URL: {e}")))?;
    let http = cli.common.http_options().client()?;
    http.check_url(&url).context("--registry-url")?;
    let token = registry_token(
        cli.registry_kind,
        cli.registry_token_file.as_deref(),
        "MODELCAR_REGISTRY_TOKEN",
    )
    .map_err(|e| fault_with(e, registry_flags))?;
    let config = RegistryConfig::new(cli.registry_kind, url, token);
    Ok(Ok(AnyRegistry::connect(config, http)))
}

fn forge(cli: &Cli) -> anyhow::Result<Result<AnyForge, String>> {
    let Some(kind) = cli.forge else {
        return Ok(Err(
            "give --forge, --forge-repo and --forge-token-file (or MODELCAR_FORGE_TOKEN) to look for \
             the open promotion pull request"
                .into(),
        ));
    };
    let Some(repo) = &cli.forge_repo else {
        return Err(usage(
            "--forge needs --forge-repo: the GitOps repository on the forge, as OWNER/NAME",
        ));
    };
    let token = Secret::from_file_or_env(cli.forge_token_file.as_deref(), "MODELCAR_FORGE_TOKEN")
        .context("reading the forge token (--forge-token-file)")?
        .ok_or_else(|| {
            usage("--forge needs a token: give --forge-token-file or set MODELCAR_FORGE_TOKEN")
        })?;
    let config = ForgeConfig {
        kind,
        api_url: cli.forge_api_url.clone(),
        repo: repo.clone(),
        token,
        http: cli.common.http_options(),
        retry: RetryPolicy::default(),
    };
    AnyForge::connect(&config)
        .map(Ok)
        .map_err(|e| fault_with(e, forge_flags))
}

fn cluster(cli: &Cli) -> anyhow::Result<Result<KubeClient, String>> {
    let in_pod = std::env::var_os("KUBERNETES_SERVICE_HOST").is_some();
    if cli.kube_api_url.is_none() && !in_pod {
        return Ok(Err(
            "give --kube-api-url (and --kube-token-file or MODELCAR_KUBE_TOKEN), or run in the \
             cluster, to read the InferenceService"
                .into(),
        ));
    }
    let api =
        KubeClient::api_url(cli.kube_api_url.as_deref()).map_err(|e| fault_with(e, kube_flags))?;
    let token = KubeClient::token(cli.kube_token_file.as_deref(), "MODELCAR_KUBE_TOKEN")
        .context("reading the Kubernetes token (--kube-token-file or MODELCAR_KUBE_TOKEN)")?;
    let http = KubeClient::http_options(&cli.common.http_options(), None).client()?;
    http.check_url(&api).context("--kube-api-url")?;
    Ok(Ok(KubeClient::new(api, token, http)))
}

/// This tool's flags for what a git error blames.
pub fn git_flags(error: &GitopsError) -> Option<&'static str> {
    use gitops::Input;
    Some(match error.input()? {
        Input::RepoUrl => "--repo-url",
        Input::Credentials => gitops::cli::GIT_CREDENTIAL_FLAGS,
        Input::Branch | Input::PushBranch => "--branch",
        Input::File => "--model, --env, --path-pattern",
        Input::Values | Input::Commits | Input::Author | Input::RollbackTarget => return None,
    })
}

/// This tool's flags for what a Model Registry error blames.
fn registry_flags(error: &RegistryError) -> Option<&'static str> {
    use model_registry::Input;
    Some(match error.input()? {
        Input::Url => "--registry-url",
        Input::Kind => "--registry-kind",
        Input::Token => "--registry-token-file or MODELCAR_REGISTRY_TOKEN",
        Input::Model => "--registry-model or --model",
        Input::Version | Input::Image => return None,
        Input::Env => "--env",
    })
}

/// This tool's flags for what a forge error blames.
fn forge_flags(error: &ForgeError) -> Option<&'static str> {
    Some(match error {
        ForgeError::RepoNotFound { .. } => "--forge-repo / --forge-api-url",
        ForgeError::RepoName(_) => "--forge-repo",
        ForgeError::ApiUrl(_) => "--forge-api-url",
        ForgeError::Decode { .. } => "--forge-api-url / --forge",
        ForgeError::Unauthorized { .. } | ForgeError::Forbidden { .. } | ForgeError::Token(_) => {
            "--forge-token-file or MODELCAR_FORGE_TOKEN"
        }
        ForgeError::Template { .. } => "--branch-template",
        _ => return None,
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
        KubeError::Timeout { .. } | KubeError::Decode { .. } | KubeError::Http(_) => return None,
    })
}

/// The flags that set where a layer is read from, for a layer that could not be read.
pub fn layer_flags(layer: LayerName) -> Option<&'static str> {
    Some(match layer {
        LayerName::Gitops => "--repo-url, --branch",
        LayerName::Image => "--image, --docker-config",
        LayerName::Source => return None,
        LayerName::ModelRegistry => {
            "--registry-url, --registry-kind, --registry-token-file or MODELCAR_REGISTRY_TOKEN"
        }
        LayerName::Promotion => {
            "--forge, --forge-api-url, --forge-repo, --forge-token-file or MODELCAR_FORGE_TOKEN"
        }
        LayerName::Cluster => "--kube-api-url, --kube-token-file or MODELCAR_KUBE_TOKEN",
    })
}
