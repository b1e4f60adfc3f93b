//! Flags (each also from an environment variable, as Tekton passes params either way).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, ValueEnum};
use common::{CommonArgs, Secret};
use gitops::{GitAuth, GitCredentials};

use crate::usage;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Backend {
    /// Kubeflow Model Registry (OpenShift AI): the environment is a dashboard label.
    Kubeflow,
    /// MLflow model registry: the environment is a registered-model alias.
    Mlflow,
}

/// Record in the Model Registry which environment runs which model version: put the environment's
/// label on the version, take it off every other version of the model, keep every other property, and
/// record when, which image and which GitOps commit. A re-run changes nothing.
/// Results: LABELLED and UNLABELLED (comma-separated model:version:env).
#[derive(Parser, Debug)]
#[command(about, max_term_width = 100, disable_version_flag = true)]
pub struct Cli {
    #[arg(long, env = "REGISTRY_BACKEND", value_enum, default_value_t = Backend::Kubeflow)]
    pub backend: Backend,

    /// The registry's REST endpoint (Kubeflow: https://<name>-rest.<domain> or
    /// https://<name>.<namespace>.svc:8443; MLflow: the tracking server).
    #[arg(long, env = "REGISTRY_URL")]
    pub registry_url: String,

    /// Kubeflow API version (v1, v1alpha3); default: v1, falling back to v1alpha3.
    #[arg(long, env = "REGISTRY_API_VERSION")]
    pub api_version: Option<String>,

    /// The Kubeflow registry's name, for the role registry-user-<name> in messages (default: from the host).
    #[arg(long, env = "REGISTRY_NAME")]
    pub registry_name: Option<String>,

    /// A file holding the registry's Bearer token (or set REGISTRY_TOKEN). Kubeflow default: the pod's
    /// service-account token.
    #[arg(long, env = "REGISTRY_TOKEN_FILE", value_parser = path_or_empty, value_name = "PATH")]
    pub token_file: Option<PathBuf>,

    /// MLflow: the version tag that holds a version's name (else the version number is its name).
    #[arg(long, env = "MLFLOW_VERSION_TAG", default_value = "version")]
    pub mlflow_version_tag: String,

    /// The registered model's name.
    #[arg(long, env = "MODEL_NAME")]
    pub model: Option<String>,

    /// The model version's name (e.g. the git commit it was built from).
    #[arg(long = "version", env = "MODEL_VERSION", value_name = "VERSION")]
    pub model_version: Option<String>,

    /// The environment (test, prod, ...): letters, digits, '_' and '-'.
    #[arg(long, env = "DEPLOY_ENV", value_name = "ENV")]
    pub env: Option<String>,

    /// Leave the label on other versions of the model.
    #[arg(long, env = "KEEP_OTHERS")]
    pub keep_others: bool,

    /// The image reference with digest the environment runs (recorded as deployed.<env>.image, and
    /// as the version's model artifact oci://<repo>@sha256:...; MLflow: the tag modelcar.uri).
    #[arg(long, env = "IMAGE")]
    pub image: Option<String>,

    /// The ModelCar's format, e.g. onnx or vLLM (recorded on the version's model artifact as
    /// modelFormatName; MLflow: the tag modelcar.format).
    #[arg(long, env = "MODEL_FORMAT", value_name = "NAME")]
    pub model_format: Option<String>,

    /// The format's version (modelFormatVersion; MLflow: the tag modelcar.format_version).
    #[arg(long, env = "MODEL_FORMAT_VERSION", value_name = "VERSION")]
    pub model_format_version: Option<String>,

    /// Register the model and the version, with --image as its model artifact, when they are missing
    /// (for teams that do not register from their training pipeline). Without it a missing version is
    /// an error.
    #[arg(long, env = "REGISTER", value_parser = clap::builder::BoolishValueParser::new(),
          num_args = 0..=1, default_missing_value = "true", default_value = "false")]
    pub register: bool,

    /// The GitOps commit that deployed it (recorded as deployed.<env>.gitops_commit; default: --commit).
    #[arg(long, env = "GITOPS_COMMIT")]
    pub gitops_commit: Option<String>,

    /// The source repository commit the model was built from (recorded as deployed.<env>.source_commit).
    #[arg(long, env = "SOURCE_COMMIT", value_name = "SHA")]
    pub source_commit: Option<String>,

    /// The model's source repository (recorded as deployed.<env>.source_repo).
    #[arg(long, env = "SOURCE_REPO_URL", value_name = "URL")]
    pub source_repo: Option<String>,

    /// The pipeline run that built and deployed it, e.g. Tekton's PipelineRun name (recorded as
    /// deployed.<env>.pipeline_run).
    #[arg(long, env = "PIPELINE_RUN", value_name = "NAME")]
    pub pipeline_run: Option<String>,

    /// The Kubeflow Pipelines run that trained it (recorded as deployed.<env>.kfp_run_id).
    #[arg(long, env = "KFP_RUN_ID", value_name = "ID")]
    pub kfp_run_id: Option<String>,

    /// Who made the change (recorded as deployed.<env>.author), e.g. the source commit's author.
    #[arg(long, env = "DEPLOY_AUTHOR", value_name = "NAME")]
    pub author: Option<String>,

    /// The GitOps repository: label what the push --before..--commit deployed
    /// (<path-prefix><env>/<model>/config.yaml files added, changed or removed).
    #[arg(long, env = "GITOPS_REPO_URL", value_name = "URL")]
    pub from_gitops: Option<String>,

    #[arg(long, env = "GITOPS_BRANCH", default_value = "main")]
    pub branch: String,

    /// With --from-gitops, each config's image (image_repository/image_namespace/name) is asked for
    /// its tag (the version) before anything is recorded. fail: a tag that names another digest
    /// than the config's image_digest stops the step (exit 1, nothing recorded); warn: it is logged;
    /// off: the image registry is not asked. A registry that cannot be reached or read is logged and
    /// the recording goes on.
    #[arg(long, env = "TAG_CHECK", default_value = "fail", value_parser = parse_tag_policy)]
    pub tag_check: oci::TagPolicy,

    /// A registry auth file (podman's auth.json or docker's config.json) for reading image tags.
    #[arg(long, env = "REGISTRY_AUTH_FILE", value_parser = path_or_empty, value_name = "FILE")]
    pub authfile: Option<PathBuf>,

    /// A Tekton dockerconfig workspace (config.json or .dockerconfigjson) for reading image tags.
    #[arg(long, env = "DOCKER_CONFIG_WORKSPACE", value_parser = path_or_empty, value_name = "DIR")]
    pub docker_config: Option<PathBuf>,

    /// The push's `after` commit.
    #[arg(long, env = "PUSH_AFTER", value_name = "SHA")]
    pub commit: Option<String>,

    /// The push's `before` commit (default: the first parent of --commit, which covers a merge commit
    /// and a squash merge).
    #[arg(long, env = "PUSH_BEFORE", value_name = "SHA")]
    pub before: Option<String>,

    #[arg(long, env = "PATH_PREFIX", default_value = "model-deployments/")]
    pub path_prefix: String,

    /// Only this environment's configs (e.g. prod for a post-prod-deployment step).
    #[arg(long, env = "ONLY_ENV", value_name = "ENV")]
    pub only_env: Option<String>,

    /// The user for https git; the token comes from --git-token-file or GIT_TOKEN.
    #[arg(long, env = "GIT_USERNAME")]
    pub git_username: Option<String>,

    #[arg(long, env = "GIT_TOKEN_FILE", value_parser = path_or_empty, value_name = "PATH")]
    pub git_token_file: Option<PathBuf>,

    /// A Tekton basic-auth workspace (.git-credentials); used for https when no --git-username is given.
    #[arg(long, env = "BASIC_AUTH_DIR", value_parser = path_or_empty, value_name = "DIR")]
    pub basic_auth_dir: Option<PathBuf>,

    /// A Tekton ssh-directory workspace; used for ssh URLs.
    #[arg(long, env = "SSH_DIR", value_parser = path_or_empty, value_name = "DIR")]
    pub ssh_dir: Option<PathBuf>,

    /// Before labelling, wait until the KServe InferenceService is Ready and serves the version.
    #[arg(long, env = "WAIT_READY")]
    pub wait_ready: bool,

    /// How long --wait-ready waits (e.g. 600, 90s, 10m).
    #[arg(long, env = "TIMEOUT", default_value = "10m", value_parser = parse_duration)]
    pub timeout: Duration,

    #[arg(long, env = "POLL_INTERVAL", default_value = "5s", value_parser = parse_duration)]
    pub poll_interval: Duration,

    /// The InferenceService's name (default: the model's name).
    #[arg(long, env = "ISVC_NAME")]
    pub isvc_name: Option<String>,

    /// The InferenceService's namespace (default: --namespace-pattern).
    #[arg(long, env = "NAMESPACE")]
    pub namespace: Option<String>,

    /// The namespace of an environment; {env} is replaced (e.g. user1-{env}).
    #[arg(long, env = "NAMESPACE_PATTERN", default_value = "{env}")]
    pub namespace_pattern: String,

    /// The Kubernetes API (default: https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT).
    #[arg(long, env = "KUBE_API_URL")]
    pub kube_api_url: Option<String>,

    /// The Kubernetes token (default: the pod's service-account token).
    #[arg(long, env = "KUBE_TOKEN_FILE", value_parser = path_or_empty, value_name = "PATH")]
    pub kube_token_file: Option<PathBuf>,

    /// Print what would change; change nothing.
    #[arg(long, env = "DRY_RUN")]
    pub dry_run: bool,

    #[command(flatten)]
    pub common: CommonArgs,
}

impl Cli {
    /// The provenance records given on the command line, by record name.
    pub fn records(&self) -> std::collections::BTreeMap<String, String> {
        [
            ("source_commit", &self.source_commit),
            ("source_repo", &self.source_repo),
            ("pipeline_run", &self.pipeline_run),
            ("kfp_run_id", &self.kfp_run_id),
            ("author", &self.author),
        ]
        .into_iter()
        .filter_map(|(name, value)| Some((name.to_owned(), value.clone()?)))
        .collect()
    }

    /// Parses the command line. An empty value counts as not given: Tekton passes an empty string for
    /// an unset param and for the path of an optional workspace that is not bound.
    pub fn parse_normalized() -> Self {
        let mut cli: Self = common::cli::parse_args();
        cli.normalize();
        cli
    }

    fn normalize(&mut self) {
        for text in [
            &mut self.api_version,
            &mut self.registry_name,
            &mut self.model,
            &mut self.model_version,
            &mut self.env,
            &mut self.image,
            &mut self.model_format,
            &mut self.model_format_version,
            &mut self.gitops_commit,
            &mut self.source_commit,
            &mut self.source_repo,
            &mut self.pipeline_run,
            &mut self.kfp_run_id,
            &mut self.author,
            &mut self.from_gitops,
            &mut self.commit,
            &mut self.before,
            &mut self.only_env,
            &mut self.git_username,
            &mut self.isvc_name,
            &mut self.namespace,
            &mut self.kube_api_url,
        ] {
            if text.as_deref().is_some_and(|t| t.trim().is_empty()) {
                *text = None;
            }
        }
        for path in [
            &mut self.token_file,
            &mut self.git_token_file,
            &mut self.basic_auth_dir,
            &mut self.ssh_dir,
            &mut self.kube_token_file,
            &mut self.authfile,
            &mut self.docker_config,
        ] {
            if path.as_ref().is_some_and(|p| p.as_os_str().is_empty()) {
                *path = None;
            }
        }
        self.common.ca_certs.retain(|p| !p.as_os_str().is_empty());
    }
}

fn parse_tag_policy(text: &str) -> Result<oci::TagPolicy, String> {
    text.parse()
}

/// A path, where an empty value is allowed (and later counts as not given).
fn path_or_empty(text: &str) -> Result<PathBuf, String> {
    Ok(PathBuf::from(text))
}

/// `600`, `600s`, `90s`, `10m`, `1h`, `250ms`.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration (e.g. 600, 90s, 10m, 1h)"))?;
    match unit {
        "" | "s" => Ok(Duration::from_secs(n)),
        "ms" => Ok(Duration::from_millis(n)),
        "m" => Ok(Duration::from_secs(n * 60)),
        "h" => Ok(Duration::from_secs(n * 3600)),
        _ => Err(format!(
            "{text:?}: unknown unit {unit:?} (use ms, s, m or h)"
        )),
    }
}

/// ssh URLs use the ssh-directory workspace; https uses --git-username with GIT_TOKEN, else the
/// basic-auth workspace, else no credentials.
pub fn git_auth(cli: &Cli, url: &str) -> anyhow::Result<GitAuth> {
    let token = Secret::from_file_or_env(cli.git_token_file.as_deref(), "GIT_TOKEN")
        .context("reading the git token")?;
    GitCredentials {
        username: cli.git_username.clone(),
        token,
        basic_auth_dir: cli.basic_auth_dir.clone(),
        ssh_dir: cli.ssh_dir.clone(),
    }
    .choose(url)
    .map_err(|e| usage(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("600").unwrap(), Duration::from_secs(600));
        assert_eq!(parse_duration("10m").unwrap(), Duration::from_secs(600));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert!(parse_duration("ten").is_err());
        assert!(parse_duration("5d").is_err());
    }

    #[test]
    fn empty_values_count_as_not_given() {
        let mut cli = Cli::parse_from([
            "registry-label",
            "--registry-url=https://r",
            "--before=",
            "--only-env=",
            "--git-username=",
            "--basic-auth-dir=",
            "--ssh-dir=",
            "--image=",
        ]);
        cli.normalize();
        assert!(cli.before.is_none() && cli.only_env.is_none() && cli.git_username.is_none());
        assert!(cli.basic_auth_dir.is_none() && cli.ssh_dir.is_none() && cli.image.is_none());
    }

    #[test]
    fn flags_parse() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
