//! Reading each layer from its source. The GitOps config is the reference every other layer is
//! compared with: without it there is nothing to trace. Any other source that fails is reported in
//! its layer, and the others are still read.

use forge::promote::{DEFAULT_BRANCH_TEMPLATE, DEFAULT_ROLLBACK_BRANCH_TEMPLATE};
use forge::{AnyForge, Forge, PromotionRequest};
use gitops::{FileHistory, Remote};
use model_registry::kube::KubeClient;
use model_registry::{AnyRegistry, ModelRegistry};
use oci::{Platform, Reference, RegistryClient};

use crate::TraceError;
use crate::image;
use crate::report::{
    ClusterFacts, CommitFacts, GitopsFacts, ImageFacts, Layer, PromotionFacts, PullRequestFacts,
    RegistryFacts, SourceFacts,
};

/// A source that may be absent: then the layer is "not checked", with the note saying what to give.
pub enum Source<T> {
    Given(T),
    Missing(String),
}

/// What to trace.
#[derive(Debug, Clone)]
pub struct TraceRequest {
    pub model: String,
    pub env: String,
    /// The GitOps branch the environment is deployed from.
    pub branch: String,
    /// Where a model's config lives, with `{model}` and `{env}`.
    pub path_pattern: String,
    /// The image repository to look in, instead of the config's `image_repository/image_namespace/name`.
    pub image: Option<String>,
    /// Which image of a multi-platform index to read labels from.
    pub platform: Platform,
    /// The registered model's name, when not the model's.
    pub registry_model: Option<String>,
    /// The promotion branch, with `{model}`, `{env}` and `{version}`.
    pub branch_template: String,
    /// The InferenceService's namespace.
    pub namespace: String,
    /// The InferenceService's name (default: the config's `name`).
    pub isvc_name: Option<String>,
}

/// Where each layer is read from.
pub struct Sources<'a> {
    pub git: &'a Remote,
    pub images: &'a RegistryClient,
    pub model_registry: Source<&'a AnyRegistry>,
    pub forge: Source<&'a AnyForge>,
    pub cluster: Source<&'a KubeClient>,
}

/// Runs a blocking git step off the async runtime.
async fn blocking<T: Send + 'static>(
    action: &str,
    step: impl FnOnce() -> Result<T, TraceError> + Send + 'static,
) -> Result<T, TraceError> {
    tokio::task::spawn_blocking(step)
        .await
        .map_err(|e| TraceError::Stopped {
            action: action.to_owned(),
            detail: e.to_string(),
        })?
}

/// The config's history on the branch, and what its tip says.
pub(crate) async fn read_gitops(
    remote: &Remote,
    request: &TraceRequest,
) -> Result<(GitopsFacts, FileHistory), TraceError> {
    let file = gitops::config_path(&request.path_pattern, &request.model, &request.env);
    let (git, branch, path) = (remote.clone(), request.branch.clone(), file.clone());
    let history = blocking("reading the GitOps repository", move || {
        gitops::history(&git, &branch, &path).map_err(|source| TraceError::Gitops {
            file: path.clone(),
            branch: branch.clone(),
            url: git.url.clone(),
            source: Box::new(source),
        })
    })
    .await?;
    let Some(current) = history.current() else {
        return Err(TraceError::NoConfig {
            file,
            branch: request.branch.clone(),
            url: remote.url.clone(),
            removed: history.revisions.first().map(|r| r.commit.clone()),
        });
    };
    let version = current
        .version
        .clone()
        .ok_or_else(|| TraceError::NoVersion {
            file: file.clone(),
            branch: request.branch.clone(),
            url: remote.url.clone(),
        })?;
    let name = current
        .value(&["name"])
        .unwrap_or_else(|| request.model.clone());
    let image = match (
        current.value(&["image_repository"]),
        current.value(&["image_namespace"]),
    ) {
        (Some(registry), Some(namespace)) => Some(format!(
            "{}/{}/{name}",
            registry.trim_end_matches('/'),
            namespace.trim_matches('/')
        )),
        _ => None,
    };
    let versions = history.versions();
    let previous = versions.get(1).filter(|r| r.content.is_some());
    let facts = GitopsFacts {
        repo_url: remote.url.clone(),
        branch: request.branch.clone(),
        file,
        tip: history.tip.clone(),
        name,
        version,
        image_digest: current.image_digest.clone().filter(|d| !d.is_empty()),
        image,
        set_by: history.version_set_by().map(CommitFacts::of),
        previous_version: previous.and_then(|r| r.version.clone()),
        previous_set_by: previous.map(|r| CommitFacts::of(r)),
    };
    Ok((facts, history))
}

/// The repository to look for the image in: the one asked for, else the config's.
pub(crate) fn image_repository(
    request: &TraceRequest,
    git: &GitopsFacts,
) -> Result<Option<Reference>, TraceError> {
    request
        .image
        .as_deref()
        .or(git.image.as_deref())
        .map(image::repository_of)
        .transpose()
}

pub(crate) async fn read_image(
    client: &RegistryClient,
    repository: &Reference,
    git: &GitopsFacts,
    platform: &Platform,
) -> Layer<ImageFacts> {
    match image::inspect(
        client,
        repository,
        &git.version,
        git.image_digest.as_deref(),
        platform,
    )
    .await
    {
        Ok(facts) if facts.read_digest.is_none() => {
            Layer::read(facts).with_note("no image to read labels from")
        }
        Ok(facts) => Layer::read(facts),
        Err(e) => Layer::error(e.to_string()),
    }
}

/// The image's provenance beside what the Model Registry recorded for the environment.
pub(crate) fn source_layer(
    image: &Layer<ImageFacts>,
    registry: &Layer<RegistryFacts>,
    env: &str,
) -> Layer<SourceFacts> {
    let Some(image) = image.facts().filter(|i| i.read_digest.is_some()) else {
        return Layer::not_checked("the image was not read");
    };
    let recorded = |key: &str| {
        registry
            .facts()
            .and_then(|r| r.deployed.get(&format!("deployed.{env}.{key}")).cloned())
    };
    let facts = SourceFacts {
        commit: image.revision.clone(),
        repository: image.source.clone(),
        recorded_commit: recorded("source_commit"),
        recorded_repository: recorded("source_repo"),
    };
    if facts.commit.is_none() {
        return Layer::read(facts).with_note(format!(
            "the image has no {} label (built without a source commit)",
            image::REVISION
        ));
    }
    Layer::read(facts)
}

pub(crate) async fn read_registry(
    registry: &AnyRegistry,
    model: &str,
    version: &str,
    env: &str,
) -> Layer<RegistryFacts> {
    let fail = |action: String, source| {
        Layer::error(
            TraceError::Registry {
                action,
                registry: registry.describe(),
                source: Box::new(source),
            }
            .to_string(),
        )
    };
    let mut facts = RegistryFacts {
        registry: registry.describe(),
        model: model.to_owned(),
        version: version.to_owned(),
        ..RegistryFacts::default()
    };
    let found = match registry.find_model(model).await {
        Ok(found) => found,
        Err(e) => return fail(format!("looking up model {model}"), e),
    };
    let Some(registered) = found else {
        return Layer::read(facts).with_note(format!("no registered model {model}"));
    };
    let versions = match registry.list_versions(&registered).await {
        Ok(versions) => versions,
        Err(e) => return fail(format!("listing the versions of {model}"), e),
    };
    facts.env_versions = versions
        .iter()
        .filter(|v| v.labels.contains(env))
        .map(|v| v.name.clone())
        .collect();
    let Some(found) = versions.iter().find(|v| v.name == version) else {
        return Layer::read(facts);
    };
    facts.version_id = Some(found.id.clone());
    facts.labels = found.labels.iter().cloned().collect();
    let prefix = format!("deployed.{env}.");
    facts.deployed = found
        .properties
        .iter()
        .filter(|(k, _)| k.starts_with(&prefix))
        .map(|(k, v)| (k.clone(), v.to_string()))
        .collect();
    match registry.model_artifact(&registered, found).await {
        Ok(artifact) => facts.artifact_uri = artifact.map(|a| a.uri),
        Err(e) => {
            return fail(
                format!("reading the model artifact of {model}:{version}"),
                e,
            );
        }
    }
    Layer::read(facts)
}

pub(crate) async fn read_cluster(
    client: &KubeClient,
    namespace: &str,
    name: &str,
) -> Layer<ClusterFacts> {
    match client.inference_service_state(namespace, name).await {
        Ok(state) => {
            let mut facts = ClusterFacts {
                namespace: namespace.to_owned(),
                name: name.to_owned(),
                ..ClusterFacts::default()
            };
            if let Some(state) = state {
                facts.exists = true;
                facts.ready = state.ready;
                facts.digest = state.digest().map(str::to_owned);
                facts.reason = state.reason;
                facts.storage_uri = state.storage_uri;
            }
            Layer::read(facts)
        }
        Err(source) => Layer::error(
            TraceError::Cluster {
                action: format!("reading InferenceService {namespace}/{name}"),
                source: Box::new(source),
            }
            .to_string(),
        ),
    }
}

/// The open promotion pull request for the model and environment, and how its branch stands.
pub(crate) async fn read_promotion(
    forge: &AnyForge,
    sources: &Sources<'_>,
    request: &TraceRequest,
    git: &GitopsFacts,
    history: &FileHistory,
    repository: Option<&Reference>,
) -> Layer<PromotionFacts> {
    match promotion(forge, sources, request, git, history, repository).await {
        Ok(facts) => Layer::read(facts),
        Err(e) => Layer::error(e.to_string()),
    }
}

async fn promotion(
    forge: &AnyForge,
    sources: &Sources<'_>,
    request: &TraceRequest,
    git: &GitopsFacts,
    history: &FileHistory,
    repository: Option<&Reference>,
) -> Result<PromotionFacts, TraceError> {
    let branch_for = |template: &str| {
        let mut promotion = PromotionRequest::new(&request.model, &request.env, &git.version);
        promotion.branch_template = template.to_owned();
        promotion.branch().map_err(|source| TraceError::Forge {
            action: "naming the promotion branch".into(),
            source: Box::new(source),
        })
    };
    let branch = branch_for(&request.branch_template)?;
    let open = OpenPullRequests {
        forge,
        sources,
        request,
        git,
        history,
        repository,
    };
    // pr-create --rollback uses a branch of its own unless the user chose one for both.
    let rollback_branch = (request.branch_template == DEFAULT_BRANCH_TEMPLATE)
        .then(|| branch_for(DEFAULT_ROLLBACK_BRANCH_TEMPLATE))
        .transpose()?;
    let (pull_request, rollback) = tokio::join!(open.read(&branch), async {
        match &rollback_branch {
            Some(branch) => open.read(branch).await,
            None => Ok(None),
        }
    });
    let (pull_request, rollback) = (pull_request?, rollback?);
    Ok(PromotionFacts {
        branch,
        base: request.branch.clone(),
        pull_request,
        rollback,
    })
}

/// What reading an open pull request for the model and environment needs.
struct OpenPullRequests<'a> {
    forge: &'a AnyForge,
    sources: &'a Sources<'a>,
    request: &'a TraceRequest,
    git: &'a GitopsFacts,
    history: &'a FileHistory,
    repository: Option<&'a Reference>,
}

impl OpenPullRequests<'_> {
    /// The open pull request from `branch` into the base, and the version its branch sets.
    async fn read(&self, branch: &str) -> Result<Option<PullRequestFacts>, TraceError> {
        let (request, git) = (self.request, self.git);
        let action = format!(
            "looking for an open pull request from {branch} into {} in {}",
            request.branch,
            self.forge.repo()
        );
        let Some(pr) = self
            .forge
            .find_open(branch, &request.branch)
            .await
            .map_err(|source| TraceError::Forge {
                action,
                source: Box::new(source),
            })?
        else {
            return Ok(None);
        };
        let (remote, base, head, file) = (
            self.sources.git.clone(),
            request.branch.clone(),
            branch.to_owned(),
            git.file.clone(),
        );
        let (config, comparison) = blocking("reading the promotion branch", move || {
            let wrap = |source| TraceError::Gitops {
                file: file.clone(),
                branch: head.clone(),
                url: remote.url.clone(),
                source: Box::new(source),
            };
            let config = gitops::history(&remote, &head, &file).map_err(wrap)?;
            let comparison = gitops::compare_branches(&remote, &base, &head).map_err(wrap)?;
            Ok((config, comparison))
        })
        .await?;
        let current = config.current();
        let version = current.and_then(|r| r.version.clone());
        let rolled_back_from = current.and_then(|r| r.rolled_back_from.clone());
        // Whether an older version ran before, or was built before, tells a stale promotion; a
        // rollback goes to an older version on purpose, so neither is read for it.
        let older = version
            .as_deref()
            .filter(|v| *v != git.version && rolled_back_from.is_none());
        let ran_before = older
            .and_then(|v| self.history.earlier_with_version(v))
            .map(CommitFacts::of);
        let image_created = match (self.repository, older) {
            (Some(repository), Some(version)) => {
                image::created(self.sources.images, repository, version, &request.platform).await?
            }
            _ => None,
        };
        Ok(Some(PullRequestFacts {
            branch: branch.to_owned(),
            number: pr.number,
            url: pr.url,
            title: pr.title,
            image_digest: current.and_then(|r| r.image_digest.clone()),
            version,
            behind: comparison.behind,
            ahead: comparison.ahead,
            ran_before,
            image_created,
            rolled_back_from,
        }))
    }
}
