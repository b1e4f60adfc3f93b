//! pr-create: open (or bring up to date) the pull request that promotes a model version to an
//! environment of a GitOps repository, on Gitea, GitHub or GitLab.

mod git_change;
mod registry;
mod rollback;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, anyhow};
use common::{CommonArgs, RetryPolicy, Secret, fault_with, finish, usage};
use forge::promote::{DEFAULT_BODY_TEMPLATE, DEFAULT_BRANCH_TEMPLATE, DEFAULT_TITLE_TEMPLATE};
use forge::template::Template;
use forge::{
    AnyForge, CommitStatus, ForgeConfig, ForgeError, ForgeKind, PromotionRequest, StatusState,
    UserRole,
};
use gitops::cli::{AuthorArgs, GitCredentialArgs, RollbackArgs};
use gitops::{
    BumpRequest, DEFAULT_PATH_PATTERN, Deployment, GitAuth, GitopsError, Remote, config_path,
};
use model_registry::promotion::{Rule, Verdict};
use model_registry::{RegistryError, RegistryKind};
use oci::{Digest, Keychain, Reference, RegistryClient, TagPolicy};

use crate::git_change::GitopsChange;

/// Promote a model version to an environment through a pull request: set the version in the
/// environment's config file on the branch promote/<env>/<model>, and create the pull request, or
/// update it, or leave it when it is current. Older promotion pull requests for the same model and
/// environment are closed. Results: NUMBER, URL, STATUS (created, updated, unchanged, up-to-date,
/// blocked), BRANCH, IMAGE_DIGEST (the digest written beside the version), RULES (passed, failed, or
/// empty without --require).
#[derive(clap::Parser, Debug, Clone)]
#[command(about, version, max_term_width = 100)]
struct Cli {
    /// The forge: gitea, github or gitlab.
    #[arg(long, env = "MODELCAR_FORGE", value_parser = parse_forge)]
    forge: ForgeKind,

    /// The forge's URL (web or API): https://gitea.example.com, https://ghe.example.com/api/v3.
    /// Default: api.github.com or gitlab.com; required for Gitea.
    #[arg(long, alias = "api-url", env = "MODELCAR_FORGE_API_URL")]
    forge_api_url: Option<String>,

    /// The repository, OWNER/NAME (GitLab: the project's full path, GROUP/SUBGROUP/PROJECT).
    #[arg(
        long,
        alias = "repo",
        env = "MODELCAR_FORGE_REPO",
        value_name = "OWNER/NAME"
    )]
    forge_repo: String,

    /// The git clone URL (https or ssh). Default: derived from --forge-api-url and --forge-repo.
    #[arg(long, env = "MODELCAR_REPO_URL")]
    repo_url: Option<String>,

    /// The branch the pull request merges into.
    #[arg(long, alias = "base", env = "MODELCAR_BRANCH", default_value = "main")]
    branch: String,

    /// The model (application) name.
    #[arg(long, env = "MODELCAR_MODEL")]
    model: String,

    /// The environment to promote to.
    #[arg(
        long = "env",
        env = "MODELCAR_ENV",
        value_name = "ENV",
        default_value = "prod"
    )]
    environment: String,

    /// The model version to promote (set at --version-key). Not with --rollback, which finds it.
    #[arg(
        long,
        env = "MODELCAR_MODEL_VERSION",
        default_value = "",
        hide_default_value = true
    )]
    model_version: String,

    #[command(flatten)]
    rollback: RollbackArgs,

    /// The commit message of the change (a rollback's); the default names the promotion.
    #[arg(skip)]
    commit_message: Option<String>,

    /// The key the version is set at.
    #[arg(long, env = "MODELCAR_VERSION_KEY", default_value = "version")]
    version_key: String,

    /// The image's manifest digest (sha256:...), set at --digest-key beside the version: what the
    /// cluster pulls. Checked before anything is written.
    #[arg(long, env = "MODELCAR_DIGEST", value_name = "SHA256")]
    digest: Option<String>,

    /// The key the digest is set at.
    #[arg(long, env = "MODELCAR_DIGEST_KEY", default_value = "image_digest")]
    digest_key: String,

    /// Other KEY=VALUE to set (dotted keys reach into maps). Repeatable; in the environment one a line.
    #[arg(
        long = "set",
        env = "MODELCAR_SET",
        value_name = "KEY=VALUE",
        value_delimiter = '\n'
    )]
    sets: Vec<String>,

    /// The config file, relative to the repository root. Default: from --path-pattern.
    #[arg(long, env = "MODELCAR_FILE", value_name = "PATH")]
    file: Option<String>,

    /// Where a model's config lives; {model} and {env} are replaced.
    #[arg(long, env = "MODELCAR_PATH_PATTERN", default_value = DEFAULT_PATH_PATTERN)]
    path_pattern: String,

    /// Create the config file when the environment has none yet.
    #[arg(long, env = "MODELCAR_CREATE")]
    create: bool,

    /// The promotion branch; {model}, {env} and {version}. With {version} in it, each version gets its
    /// own branch and pull request, and those of older versions are closed.
    #[arg(long, env = "MODELCAR_BRANCH_TEMPLATE", default_value = DEFAULT_BRANCH_TEMPLATE)]
    branch_template: String,

    /// The pull request's title; {model}, {env}, {old_version}, {new_version}, {image}, {file}, ...
    #[arg(long, env = "MODELCAR_TITLE_TEMPLATE", default_value = DEFAULT_TITLE_TEMPLATE)]
    title_template: String,

    /// The pull request's body; also {diff}, {source_commit_url}, {registry}. Default: model,
    /// old -> new version, image, source commit and the config diff.
    #[arg(
        long,
        env = "MODELCAR_BODY_TEMPLATE",
        conflicts_with = "body_template_file"
    )]
    body_template: Option<String>,

    /// A file holding the body template.
    #[arg(long, env = "MODELCAR_BODY_TEMPLATE_FILE", value_name = "PATH")]
    body_template_file: Option<PathBuf>,

    /// A label to put on the pull request (must exist). Repeatable or comma-separated.
    #[arg(long = "label", env = "MODELCAR_LABEL", value_delimiter = ',')]
    labels: Vec<String>,

    /// A user to ask for a review. Repeatable or comma-separated.
    #[arg(long = "reviewer", env = "MODELCAR_REVIEWER", value_delimiter = ',')]
    reviewers: Vec<String>,

    /// A user to assign. Repeatable or comma-separated.
    #[arg(long = "assignee", env = "MODELCAR_ASSIGNEE", value_delimiter = ',')]
    assignees: Vec<String>,

    /// The image reference with its digest (registry/repo@sha256:...), shown to the reviewer.
    #[arg(long, env = "MODELCAR_IMAGE")]
    image: Option<String>,

    /// A link to the source commit the version was built from.
    #[arg(long, env = "MODELCAR_SOURCE_COMMIT_URL")]
    source_commit_url: Option<String>,

    /// The source commit id (named in the commit message).
    #[arg(long, env = "MODELCAR_SOURCE_COMMIT")]
    source_commit: Option<String>,

    /// The Model Registry's REST endpoint: the body then shows the candidate version's properties
    /// beside the version now labelled with --env.
    #[arg(long, alias = "registry-api-url", env = "MODELCAR_REGISTRY_URL")]
    registry_url: Option<String>,

    /// The Model Registry's web address (its dashboard), linked in the body. Default: --registry-url.
    #[arg(long, env = "MODELCAR_REGISTRY_WEB_URL")]
    registry_web_url: Option<String>,

    /// The Model Registry's kind.
    #[arg(
        long,
        env = "MODELCAR_REGISTRY_KIND",
        default_value = "kubeflow",
        value_parser = registry::kind_parser()
    )]
    registry_kind: RegistryKind,

    /// The model's name in the registry. Default: --model.
    #[arg(long, env = "MODELCAR_REGISTRY_MODEL")]
    registry_model: Option<String>,

    /// A file holding the registry token (a mounted Secret); or set MODELCAR_REGISTRY_TOKEN.
    #[arg(long, env = "MODELCAR_REGISTRY_TOKEN_FILE", value_name = "PATH")]
    registry_token_file: Option<PathBuf>,

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
    rules: Vec<String>,

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
    on_rule_failure: OnRuleFailure,

    /// The commit status's context (GitLab: its name) for the --require rules.
    #[arg(
        long,
        env = "MODELCAR_STATUS_CONTEXT",
        default_value = "modelcar-gitops/promotion-rules"
    )]
    status_context: String,

    /// When --image names a tag (repository:tag@sha256:...), the image registry is asked what the
    /// tag names now. fail: another digest than the one written stops the step before anything is
    /// written (exit 1); warn: it is logged; off: the registry is not asked. A registry that cannot
    /// be reached or read is logged and the promotion goes on.
    #[arg(long, env = "MODELCAR_TAG_CHECK", default_value = "fail", value_parser = parse_tag_policy)]
    tag_check: TagPolicy,

    /// A registry auth file (podman's auth.json or docker's config.json) for reading --image's tag.
    #[arg(long, env = "REGISTRY_AUTH_FILE", value_name = "FILE")]
    authfile: Option<PathBuf>,

    /// A Tekton dockerconfig workspace (config.json or .dockerconfigjson) for reading --image's tag.
    #[arg(long, env = "MODELCAR_DOCKER_CONFIG", value_name = "DIR")]
    docker_config: Option<PathBuf>,

    /// A file holding the forge token (a mounted Secret); or set MODELCAR_FORGE_TOKEN.
    #[arg(
        long,
        alias = "token-file",
        env = "MODELCAR_FORGE_TOKEN_FILE",
        value_name = "PATH"
    )]
    forge_token_file: Option<PathBuf>,

    #[command(flatten)]
    git: GitCredentialArgs,

    #[command(flatten)]
    author: AuthorArgs,

    #[command(flatten)]
    common: CommonArgs,
}

fn parse_forge(text: &str) -> Result<ForgeKind, String> {
    text.parse()
}

fn parse_tag_policy(text: &str) -> Result<TagPolicy, String> {
    text.parse()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum OnRuleFailure {
    Block,
    Draft,
}

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

/// The --require rules, read before anything is sent.
fn promotion_rules(cli: &Cli) -> anyhow::Result<Vec<Rule>> {
    let rules = cli
        .rules
        .iter()
        .filter(|r| !r.trim().is_empty())
        .map(|r| Rule::parse(r, &cli.environment).map_err(|e| fault_with(e, |_| Some("--require"))))
        .collect::<anyhow::Result<Vec<_>>>()?;
    if !rules.is_empty() && cli.registry_url.is_none() {
        return Err(usage(
            "--require judges the candidate by the Model Registry: give --registry-url",
        ));
    }
    Ok(rules)
}

/// How the candidate fared against the --require rules.
enum Judged {
    NoRules,
    Verdicts(Vec<Verdict>),
}

impl Judged {
    fn failed(&self) -> Vec<&Verdict> {
        match self {
            Judged::NoRules => Vec::new(),
            Judged::Verdicts(verdicts) => verdicts.iter().filter(|v| !v.passed).collect(),
        }
    }

    /// The RULES result.
    fn result(&self) -> &'static str {
        match self {
            Judged::NoRules => "",
            Judged::Verdicts(_) if self.failed().is_empty() => "passed",
            Judged::Verdicts(_) => "failed",
        }
    }
}

/// Logs every rule's verdict. When one fails and failures block, records status "blocked" and
/// fails the step before anything is pushed or opened.
fn enforce(cli: &Cli, comparison: &registry::Comparison, rules: &[Rule]) -> anyhow::Result<Judged> {
    let verdicts = comparison
        .judge(rules)
        .map_err(|e| fault_with(e, |_| Some("--require")))?;
    for verdict in &verdicts {
        let mark = if verdict.passed { "holds" } else { "FAILS" };
        tracing::info!(
            "promotion rule {:?} {mark}: {}",
            verdict.rule,
            verdict.explanation
        );
    }
    let judged = Judged::Verdicts(verdicts);
    let failed: Vec<String> = judged
        .failed()
        .iter()
        .map(|v| format!("{:?}: {}", v.rule, v.explanation))
        .collect();
    if failed.is_empty() || cli.on_rule_failure == OnRuleFailure::Draft {
        return Ok(judged);
    }
    cli.common.results().write_all([
        ("NUMBER", ""),
        ("URL", ""),
        ("STATUS", "blocked"),
        ("BRANCH", ""),
        ("IMAGE_DIGEST", ""),
        ("RULES", "failed"),
    ])?;
    Err(anyhow!(
        "{} {} is not promoted to {}: {}",
        cli.model,
        cli.model_version,
        cli.environment,
        failed.join("; ")
    ))
}

/// What the verdicts put on the pull request: a section listing them, draft when one failed, and the
/// commit status of the promotion branch's head.
fn apply_judgement(
    cli: &Cli,
    judged: &Judged,
    registry_url: &url::Url,
    request: &mut PromotionRequest,
) {
    let Judged::Verdicts(verdicts) = judged else {
        return;
    };
    let failed = judged.failed();
    let mut section = String::from("\n### Promotion rules\n\n");
    if !failed.is_empty() {
        section.push_str(&format!(
            "**Draft: {} of {} rules fail.** Merging promotes a version the rules do not let \
             through; decide by the values below.\n\n",
            failed.len(),
            verdicts.len()
        ));
    }
    section.push_str("| rule | verdict |\n|---|---|\n");
    for verdict in verdicts {
        let mark = if verdict.passed { "holds" } else { "**fails**" };
        section.push_str(&format!(
            "| `{}` | {mark}: {} |\n",
            verdict.rule.replace('|', "\\|").replace('`', "'"),
            verdict.explanation.replace('|', "\\|")
        ));
    }
    request.rules_section = Some(section);
    request.draft = !failed.is_empty();
    let description = match failed.first() {
        None => format!(
            "{} {}: {} promotion rule{} hold",
            cli.model,
            cli.model_version,
            verdicts.len(),
            if verdicts.len() == 1 { "" } else { "s" }
        ),
        Some(first) => format!(
            "{} of {} rules fail: {}: {}",
            failed.len(),
            verdicts.len(),
            first.rule,
            first.explanation
        ),
    };
    request.commit_status = Some(CommitStatus {
        state: if failed.is_empty() {
            StatusState::Success
        } else {
            StatusState::Failure
        },
        context: cli.status_context.clone(),
        description,
        target_url: Some(registry_url.to_string()),
    });
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

fn explain(error: ForgeError, cli: &Cli) -> anyhow::Error {
    let what = format!(
        "promoting {} {} to {} in {} ({})",
        cli.model, cli.model_version, cli.environment, cli.forge_repo, cli.forge
    );
    fault_with(error, forge_flags).context(what)
}

/// This tool's flags for what a forge error blames.
fn forge_flags(error: &ForgeError) -> Option<&'static str> {
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
fn registry_flags(error: &RegistryError) -> Option<&'static str> {
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
const IMAGE_CREDENTIAL_FLAGS: &str = "--authfile or REGISTRY_AUTH_FILE, --docker-config";
