//! Flags. Each can also be set by `MODELCAR_<FLAG>` (upper-cased, `-` → `_`), added to every flag
//! in one place ([`command`]); secrets come from files or `MODELCAR_*_TOKEN`, never from flags.

use std::path::PathBuf;

use clap::{CommandFactory, FromArgMatches, Parser, ValueEnum};
use common::CommonArgs;
use forge::ForgeKind;
use forge::promote::DEFAULT_BRANCH_TEMPLATE;
use gitops::DEFAULT_PATH_PATTERN;
use model_registry::RegistryKind;

/// The prefix of every flag's environment variable.
pub const ENV_PREFIX: &str = "MODELCAR_";

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// Aligned rows for a person.
    Table,
    /// The whole report as one JSON document.
    Json,
}

/// What runs where, and where it came from: trace one model in one environment from its GitOps
/// config (version, image digest, the commit that set them) through the image registry (what the
/// tag resolves to, the image's source labels), the Model Registry (labels, deployed.<env>.*,
/// model artifact) and the open promotion pull request to the InferenceService in the cluster, and
/// say where they disagree. Sources not given are reported as not checked.
/// Exit 0: every layer checked agrees; 1: drift found (or a source could not be read); 2: usage.
/// Result: DRIFT (true/false).
#[derive(Parser, Debug)]
#[command(name = "model-trace", version, about, max_term_width = 100)]
pub struct Cli {
    /// The model: its directory in the GitOps repository (and, unless --registry-model, its
    /// registered name).
    #[arg(long, default_value = "", hide_default_value = true)]
    pub model: String,

    /// The environment (test, prod, ...).
    #[arg(
        long,
        value_name = "ENV",
        default_value = "",
        hide_default_value = true
    )]
    pub env: String,

    /// Trace several deployments instead of --model in --env: comma-separated MODEL:VERSION:ENV,
    /// as registry-label reports them (its LABELLED result), each checked to run that version.
    /// An empty list checks nothing.
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    pub deployments: Option<Vec<String>>,

    /// The GitOps repository: https://host/org/repo.git, ssh://git@host/org/repo.git or git@host:org/repo.git.
    #[arg(long, value_name = "URL")]
    pub repo_url: String,

    /// The branch the environments are deployed from (and promotion pull requests merge into).
    #[arg(long, default_value = "main")]
    pub branch: String,

    /// Where a model's config lives; {model} and {env} are replaced.
    #[arg(long, default_value = DEFAULT_PATH_PATTERN)]
    pub path_pattern: String,

    #[command(flatten)]
    pub git: gitops::cli::GitCredentialArgs,

    /// The image repository to look in (REGISTRY/REPO), instead of the config's
    /// image_repository/image_namespace/name (e.g. when the cluster's registry name is internal).
    #[arg(long, value_name = "REGISTRY/REPO")]
    pub image: Option<String>,

    /// The image of a multi-platform index whose labels are read: OS/ARCH[/VARIANT].
    #[arg(long, default_value = "linux/amd64", value_name = "OS/ARCH")]
    pub platform: String,

    /// A Tekton dockerconfig workspace (config.json or .dockerconfigjson) with image registry
    /// credentials. REGISTRY_AUTH_FILE and DOCKER_CONFIG are honoured too.
    #[arg(long, value_name = "DIR")]
    pub docker_config: Option<PathBuf>,

    /// The Model Registry's kind.
    #[arg(long, default_value = "kubeflow", value_parser = parse_registry_kind, value_name = "KIND")]
    pub registry_kind: RegistryKind,

    /// The Model Registry's REST endpoint (Kubeflow: https://<name>-rest.<domain>; MLflow: the
    /// tracking server). Without it the Model Registry is not checked.
    #[arg(long, value_name = "URL")]
    pub registry_url: Option<String>,

    /// A file holding the Model Registry's token (or MODELCAR_REGISTRY_TOKEN). Kubeflow default: the
    /// pod's service-account token.
    #[arg(long, value_name = "PATH")]
    pub registry_token_file: Option<PathBuf>,

    /// The registered model's name, when not --model.
    #[arg(long, value_name = "NAME")]
    pub registry_model: Option<String>,

    /// The forge holding the GitOps repository's pull requests: gitea, github or gitlab. Without
    /// it the promotion pull request is not checked.
    #[arg(long, value_parser = parse_forge, value_name = "KIND")]
    pub forge: Option<ForgeKind>,

    /// The forge's URL (web or API); default github.com / gitlab.com.
    #[arg(long, value_name = "URL")]
    pub forge_api_url: Option<String>,

    /// The GitOps repository on the forge, OWNER/NAME (GitLab: the project's path).
    #[arg(long, value_name = "OWNER/NAME")]
    pub forge_repo: Option<String>,

    /// A file holding the forge token (or MODELCAR_FORGE_TOKEN).
    #[arg(long, value_name = "PATH")]
    pub forge_token_file: Option<PathBuf>,

    /// The promotion branch; {model}, {env} and {version} are replaced.
    #[arg(long, default_value = DEFAULT_BRANCH_TEMPLATE)]
    pub branch_template: String,

    /// The Kubernetes API. Default in a pod: https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT;
    /// elsewhere, without it the cluster is not checked.
    #[arg(long, value_name = "URL")]
    pub kube_api_url: Option<String>,

    /// A file holding the Kubernetes token (or MODELCAR_KUBE_TOKEN). Default: the pod's service-account token.
    #[arg(long, value_name = "PATH")]
    pub kube_token_file: Option<PathBuf>,

    /// The InferenceService's namespace; {env} is replaced.
    #[arg(long, default_value = "{env}")]
    pub namespace: String,

    /// The InferenceService's name (default: the config's name).
    #[arg(long, value_name = "NAME")]
    pub isvc_name: Option<String>,

    /// How the report is printed on stdout.
    #[arg(long, value_enum, default_value_t = Output::Table)]
    pub output: Output,

    /// Also write the report as JSON to this file.
    #[arg(long, value_name = "PATH")]
    pub report_file: Option<PathBuf>,

    #[command(flatten)]
    pub common: CommonArgs,
}

fn parse_forge(text: &str) -> Result<ForgeKind, String> {
    text.parse()
}

fn parse_registry_kind(text: &str) -> Result<RegistryKind, String> {
    text.parse()
}

/// The command with every flag's environment variable: `--foo-bar` ← `MODELCAR_FOO_BAR`.
pub fn command() -> clap::Command {
    let mut command = Cli::command();
    let flags: Vec<(clap::Id, String)> = command
        .get_arguments()
        .filter_map(|arg| Some((arg.get_id().clone(), arg.get_long()?.to_owned())))
        .filter(|(_, long)| long != "help" && long != "version")
        .collect();
    for (id, long) in flags {
        let name = format!(
            "{ENV_PREFIX}{}",
            long.to_ascii_uppercase().replace('-', "_")
        );
        // clap keeps names for the program's lifetime; a handful of short strings, once.
        let name: &'static str = Box::leak(name.into_boxed_str());
        command = command.mut_arg(id, |arg| arg.env(name));
    }
    command
}

/// Parses the command line (an empty `--flag=` counts as not given: Tekton passes unset params
/// and unbound workspaces that way). With `MODELCAR_GITOPS_CHECK_ARGS` set, stops after parsing.
pub fn parse() -> Cli {
    // An empty `--deployments=` is an empty list (a push that deployed nothing), not a flag left
    // unset like the other empty values Tekton passes.
    let args = std::env::args_os().map(|arg| {
        if arg == "--deployments=" {
            std::ffi::OsString::from("--deployments=,")
        } else {
            arg
        }
    });
    let args = common::cli::without_empty_values(args);
    let matches = command().get_matches_from(args);
    let mut cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    if std::env::var_os(common::cli::CHECK_ARGS_ENV).is_some() {
        eprintln!("arguments accepted");
        std::process::exit(0);
    }
    cli.common.ca_certs.retain(|p| !p.as_os_str().is_empty());
    cli
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_parse() {
        command().debug_assert();
    }

    #[test]
    fn every_flag_has_its_prefixed_environment_variable() {
        let command = command();
        for arg in command.get_arguments() {
            let Some(long) = arg.get_long() else { continue };
            if long == "help" || long == "version" {
                continue;
            }
            let expected = format!("MODELCAR_{}", long.to_ascii_uppercase().replace('-', "_"));
            assert_eq!(
                arg.get_env().and_then(|e| e.to_str()),
                Some(expected.as_str()),
                "--{long}"
            );
        }
    }

    #[test]
    fn values_and_defaults() {
        let matches = command()
            .try_get_matches_from([
                "model-trace",
                "--model=jukebox",
                "--env=prod",
                "--repo-url=https://git.example/gitops.git",
                "--registry-kind=mlflow",
                "--forge=gitea",
                "--output=json",
            ])
            .unwrap();
        let cli = Cli::from_arg_matches(&matches).unwrap();
        assert_eq!(cli.registry_kind, RegistryKind::Mlflow);
        assert_eq!(cli.forge, Some(ForgeKind::Gitea));
        assert_eq!(cli.output, Output::Json);
        assert_eq!(cli.namespace, "{env}");
        assert_eq!(cli.branch_template, "promote/{env}/{model}");
        assert!(
            command()
                .try_get_matches_from(["model-trace", "--model=m", "--env=e"])
                .is_err(),
            "--repo-url is required"
        );
    }
}
