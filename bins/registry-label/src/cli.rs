//! Flags (each also from an environment variable, as Tekton passes params either way).

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use common::CommonArgs;
use gitops::GitAuth;
use gitops::cli::GitCredentialArgs;
use model_registry::RegistryKind;

/// Record in the Model Registry which environment runs which model version: put the environment's
/// label on the version, take it off every other version of the model, keep every other property, and
/// record when, which image and which GitOps commit. A re-run changes nothing.
/// Results: LABELLED and UNLABELLED (comma-separated model:version:env).
#[derive(Parser, Debug)]
#[command(about, version, max_term_width = 100)]
pub struct Cli {
    /// The Model Registry's kind: kubeflow (OpenShift AI's; the environment is a dashboard label)
    /// or mlflow (the environment is a registered-model alias).
    #[arg(
        long,
        alias = "backend",
        env = "MODELCAR_REGISTRY_KIND",
        default_value = "kubeflow",
        value_parser = registry_kind_parser()
    )]
    pub registry_kind: RegistryKind,

    /// The registry's REST endpoint (Kubeflow: https://<name>-rest.<domain> or
    /// https://<name>.<namespace>.svc:8443; MLflow: the tracking server).
    #[arg(long, env = "MODELCAR_REGISTRY_URL")]
    pub registry_url: String,

    /// Kubeflow API version (v1, v1alpha3); default: v1, falling back to v1alpha3.
    #[arg(long, alias = "api-version", env = "MODELCAR_REGISTRY_API_VERSION")]
    pub registry_api_version: Option<String>,

    /// The Kubeflow registry's name, for the role registry-user-<name> in messages (default: from the host).
    #[arg(long, env = "MODELCAR_REGISTRY_NAME")]
    pub registry_name: Option<String>,

    /// A file holding the registry's Bearer token (or set MODELCAR_REGISTRY_TOKEN). Kubeflow default: the pod's
    /// service-account token.
    #[arg(
        long,
        alias = "token-file",
        env = "MODELCAR_REGISTRY_TOKEN_FILE",
        value_parser = path_or_empty,
        value_name = "PATH"
    )]
    pub registry_token_file: Option<PathBuf>,

    /// MLflow: the version tag that holds a version's name (else the version number is its name).
    #[arg(long, env = "MODELCAR_MLFLOW_VERSION_TAG", default_value = "version")]
    pub mlflow_version_tag: String,

    /// The registered model's name.
    #[arg(long, env = "MODELCAR_MODEL")]
    pub model: Option<String>,

    /// The model version's name (e.g. the git commit it was built from).
    #[arg(long, env = "MODELCAR_MODEL_VERSION", value_name = "VERSION")]
    pub model_version: Option<String>,

    /// The environment (test, prod, ...): letters, digits, '_' and '-'.
    #[arg(long, env = "MODELCAR_ENV", value_name = "ENV")]
    pub env: Option<String>,

    /// Leave the label on other versions of the model.
    #[arg(long, env = "MODELCAR_KEEP_OTHERS")]
    pub keep_others: bool,

    /// The image reference with digest the environment runs (recorded as deployed.<env>.image, and
    /// as the version's model artifact oci://<repo>@sha256:...; MLflow: the tag modelcar.uri).
    #[arg(long, env = "MODELCAR_IMAGE")]
    pub image: Option<String>,

    /// The ModelCar's format, e.g. onnx or vLLM (recorded on the version's model artifact as
    /// modelFormatName; MLflow: the tag modelcar.format).
    #[arg(long, env = "MODELCAR_MODEL_FORMAT", value_name = "NAME")]
    pub model_format: Option<String>,

    /// The format's version (modelFormatVersion; MLflow: the tag modelcar.format_version).
    #[arg(long, env = "MODELCAR_MODEL_FORMAT_VERSION", value_name = "VERSION")]
    pub model_format_version: Option<String>,

    /// Register the model and the version, with --image as its model artifact, when they are missing
    /// (for teams that do not register from their training pipeline). Without it a missing version is
    /// an error.
    #[arg(long, env = "MODELCAR_REGISTER", value_parser = clap::builder::BoolishValueParser::new(),
          num_args = 0..=1, default_missing_value = "true", default_value = "false")]
    pub register: bool,

    /// The GitOps commit that deployed it (recorded as deployed.<env>.gitops_commit; default: --commit).
    #[arg(long, env = "MODELCAR_GITOPS_COMMIT")]
    pub gitops_commit: Option<String>,

    /// The source repository commit the model was built from (recorded as deployed.<env>.source_commit).
    #[arg(long, env = "MODELCAR_SOURCE_COMMIT", value_name = "SHA")]
    pub source_commit: Option<String>,

    /// The model's source repository (recorded as deployed.<env>.source_repo).
    #[arg(long, env = "MODELCAR_SOURCE_REPO", value_name = "URL")]
    pub source_repo: Option<String>,

    /// The pipeline run that built and deployed it, e.g. Tekton's PipelineRun name (recorded as
    /// deployed.<env>.pipeline_run).
    #[arg(long, env = "MODELCAR_PIPELINE_RUN", value_name = "NAME")]
    pub pipeline_run: Option<String>,

    /// The Kubeflow Pipelines run that trained it (recorded as deployed.<env>.kfp_run_id).
    #[arg(long, env = "MODELCAR_KFP_RUN_ID", value_name = "ID")]
    pub kfp_run_id: Option<String>,

    /// Who made the change (recorded as deployed.<env>.author), e.g. the source commit's author.
    #[arg(long, env = "MODELCAR_AUTHOR", value_name = "NAME")]
    pub author: Option<String>,

    /// The GitOps repository: label what the push --before..--commit deployed
    /// (<path-prefix><env>/<model>/config.yaml files added, changed or removed).
    #[arg(
        long,
        alias = "from-gitops",
        env = "MODELCAR_REPO_URL",
        value_name = "URL"
    )]
    pub repo_url: Option<String>,

    #[arg(long, env = "MODELCAR_BRANCH", default_value = "main")]
    pub branch: String,

    /// With --repo-url, each config's image (image_repository/image_namespace/name) is asked for
    /// its tag (the version) before anything is recorded. fail: a tag that names another digest
    /// than the config's image_digest stops the step (exit 1, nothing recorded); warn: it is logged;
    /// off: the image registry is not asked. A registry that cannot be reached or read is logged and
    /// the recording goes on.
    #[arg(long, env = "MODELCAR_TAG_CHECK", default_value = "fail", value_parser = parse_tag_policy)]
    pub tag_check: oci::TagPolicy,

    /// A registry auth file (podman's auth.json or docker's config.json) for reading image tags.
    #[arg(long, env = "REGISTRY_AUTH_FILE", value_parser = path_or_empty, value_name = "FILE")]
    pub authfile: Option<PathBuf>,

    /// A Tekton dockerconfig workspace (config.json or .dockerconfigjson) for reading image tags.
    #[arg(long, env = "MODELCAR_DOCKER_CONFIG", value_parser = path_or_empty, value_name = "DIR")]
    pub docker_config: Option<PathBuf>,

    /// The push's `after` commit.
    #[arg(long, env = "MODELCAR_COMMIT", value_name = "SHA")]
    pub commit: Option<String>,

    /// The push's `before` commit (default: the first parent of --commit, which covers a merge commit
    /// and a squash merge).
    #[arg(long, env = "MODELCAR_BEFORE", value_name = "SHA")]
    pub before: Option<String>,

    #[arg(
        long,
        env = "MODELCAR_PATH_PREFIX",
        default_value = "model-deployments/"
    )]
    pub path_prefix: String,

    /// Only this environment's configs (e.g. prod for a post-prod-deployment step).
    #[arg(long, env = "MODELCAR_ONLY_ENV", value_name = "ENV")]
    pub only_env: Option<String>,

    #[command(flatten)]
    pub git: GitCredentialArgs,

    /// Before labelling, wait until the KServe InferenceService is Ready and serves the version.
    #[arg(long, env = "MODELCAR_WAIT_READY")]
    pub wait_ready: bool,

    /// How long --wait-ready waits (e.g. 600, 90s, 10m).
    #[arg(
        long,
        alias = "timeout",
        env = "MODELCAR_WAIT_TIMEOUT",
        default_value = "10m",
        value_parser = parse_duration
    )]
    pub wait_timeout: Duration,

    #[arg(long, env = "MODELCAR_POLL_INTERVAL", default_value = "5s", value_parser = parse_duration)]
    pub poll_interval: Duration,

    /// The InferenceService's name (default: the model's name).
    #[arg(long, env = "MODELCAR_ISVC_NAME")]
    pub isvc_name: Option<String>,

    /// The InferenceService's namespace (default: --namespace-pattern).
    #[arg(long, env = "MODELCAR_NAMESPACE")]
    pub namespace: Option<String>,

    /// The namespace of an environment; {env} is replaced (e.g. user1-{env}).
    #[arg(long, env = "MODELCAR_NAMESPACE_PATTERN", default_value = "{env}")]
    pub namespace_pattern: String,

    /// The Kubernetes API (default: https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT).
    #[arg(long, env = "MODELCAR_KUBE_API_URL")]
    pub kube_api_url: Option<String>,

    /// The Kubernetes token (default: the pod's service-account token).
    #[arg(long, env = "MODELCAR_KUBE_TOKEN_FILE", value_parser = path_or_empty, value_name = "PATH")]
    pub kube_token_file: Option<PathBuf>,

    /// Print what would change; change nothing.
    #[arg(long, env = "MODELCAR_DRY_RUN")]
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
            &mut self.registry_api_version,
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
            &mut self.repo_url,
            &mut self.commit,
            &mut self.before,
            &mut self.only_env,
            &mut self.isvc_name,
            &mut self.namespace,
            &mut self.kube_api_url,
            &mut self.git.username,
        ] {
            if text.as_deref().is_some_and(|t| t.trim().is_empty()) {
                *text = None;
            }
        }
        for path in [
            &mut self.registry_token_file,
            &mut self.git.token_file,
            &mut self.git.basic_auth_dir,
            &mut self.git.ssh_dir,
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

/// `kubeflow` or `mlflow`, listed in the help.
fn registry_kind_parser() -> impl clap::builder::TypedValueParser<Value = RegistryKind> {
    use clap::builder::TypedValueParser as _;
    clap::builder::PossibleValuesParser::new(RegistryKind::NAMES)
        .map(|name| name.parse().expect("one of the possible values"))
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

/// ssh URLs use the ssh-directory workspace; https uses --git-username with the git token, else the
/// basic-auth workspace, else no credentials.
pub fn git_auth(cli: &Cli, url: &str) -> anyhow::Result<GitAuth> {
    cli.git
        .auth(url, None)
        .map_err(|e| common::fault_with(e, crate::git_flags))
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
        // As `parse_normalized` reads them: `--flag=` is dropped before parsing (the shared git
        // credential flags take paths, which cannot be empty), other blank values after.
        let args = [
            "registry-label",
            "--registry-url=https://r",
            "--before=",
            "--only-env=",
            "--git-username=",
            "--basic-auth-dir=",
            "--ssh-dir=",
            "--image=",
        ];
        let mut cli = Cli::parse_from(common::cli::without_empty_values(args.map(Into::into)));
        cli.normalize();
        assert!(cli.before.is_none() && cli.only_env.is_none() && cli.git.username.is_none());
        assert!(
            cli.git.basic_auth_dir.is_none() && cli.git.ssh_dir.is_none() && cli.image.is_none()
        );
    }

    #[test]
    fn flags_parse() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
