//! What runs where, and where it came from: one model in one environment, traced from the GitOps
//! config to the cluster, with every disagreement between the layers said plainly.
//!
//! The layers, in the order a deployment passes them:
//! 1. **gitops**: the environment's config (version, `image_digest`, image repository), and the
//!    commit that set the version, from the file's history ([`gitops::history()`]);
//! 2. **image**: the version's tag and the pinned digest in the image registry, and the image's
//!    `org.opencontainers.image.*` labels;
//! 3. **source**: the source commit and repository the image names, beside what the Model
//!    Registry recorded for the deployment;
//! 4. **model registry**: the version's labels, `deployed.<env>.*` properties and model artifact,
//!    and which versions carry the environment;
//! 5. **promotion**: the open promotion pull request and the open rollback pull request, the
//!    version each branch sets, and whether the branch is behind its base;
//! 6. **cluster**: the InferenceService's Ready condition and the digest its `storageUri` serves.
//!
//! The GitOps config is the reference: [`checks::findings`] compares every other layer with it.
//! Layers whose source is not given are "not checked"; a source that fails is an error in its
//! layer, and the others are still read. [`table::render`] prints a report for a person; the
//! [`Report`] serialises as the JSON report.

pub mod checks;
mod collect;
mod error;
pub mod image;
pub mod report;
pub mod table;

pub use collect::{Source, Sources, TraceRequest};
pub use error::TraceError;
pub use report::{Finding, LayerName, Report, Status};

use report::Layer;

/// Traces `request.model` in `request.env` through every layer whose source is given. Fails only
/// when the GitOps config cannot be read (without it there is nothing to compare with).
pub async fn trace(request: &TraceRequest, sources: &Sources<'_>) -> Result<Report, TraceError> {
    let (git, history) = collect::read_gitops(sources.git, request).await?;
    tracing::info!(
        "{} in {}: version {} ({}) in {} on {}",
        request.model,
        request.env,
        git.version,
        git.image_digest.as_deref().unwrap_or("no image_digest"),
        git.file,
        git.branch
    );
    let repository = collect::image_repository(request, &git);
    let image = async {
        match &repository {
            Ok(Some(repository)) => {
                collect::read_image(sources.images, repository, &git, &request.platform).await
            }
            Ok(None) => Layer::not_checked(
                "the config names no image_repository and image_namespace, and no image repository \
                 was given",
            ),
            Err(e) => Layer::error(e.to_string()),
        }
    };
    let registry_model = request.registry_model.as_deref().unwrap_or(&request.model);
    let model_registry = async {
        match &sources.model_registry {
            Source::Given(registry) => {
                collect::read_registry(registry, registry_model, &git.version, &request.env).await
            }
            Source::Missing(note) => Layer::not_checked(note.clone()),
        }
    };
    let repository_for_promotion = repository.as_ref().ok().and_then(Option::as_ref);
    let promotion = async {
        match &sources.forge {
            Source::Given(forge) => {
                collect::read_promotion(
                    forge,
                    sources,
                    request,
                    &git,
                    &history,
                    repository_for_promotion,
                )
                .await
            }
            Source::Missing(note) => Layer::not_checked(note.clone()),
        }
    };
    let isvc_name = request.isvc_name.as_deref().unwrap_or(&git.name);
    let cluster = async {
        match &sources.cluster {
            Source::Given(client) => {
                collect::read_cluster(client, &request.namespace, isvc_name).await
            }
            Source::Missing(note) => Layer::not_checked(note.clone()),
        }
    };
    let (image, model_registry, promotion, cluster) =
        tokio::join!(image, model_registry, promotion, cluster);
    let source = collect::source_layer(&image, &model_registry, &request.env);
    let mut report = Report {
        model: request.model.clone(),
        env: request.env.clone(),
        drift: false,
        gitops: Layer::read(git),
        image,
        source,
        model_registry,
        promotion,
        cluster,
        findings: Vec::new(),
    };
    report.findings = checks::findings(&report);
    report.settle();
    Ok(report)
}
