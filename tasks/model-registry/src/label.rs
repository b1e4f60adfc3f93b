//! Putting an environment on one version of a model, and taking it off, the same way for every backend.

use std::collections::BTreeMap;
use std::fmt;

use crate::{
    Input, ModelArtifact, ModelRegistry, ModelVersion, RegisteredModel, RegistryError,
    VersionChange,
};

pub use common::time::now_rfc3339;

/// `model:version:env`, the form results and logs use.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct VersionRef {
    pub model: String,
    pub version: String,
    pub env: String,
}

impl fmt::Display for VersionRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.model, self.version, self.env)
    }
}

/// What to record: `env` now runs `version` of `model`.
#[derive(Debug, Clone)]
pub struct LabelRequest {
    pub model: String,
    pub version: String,
    pub env: String,
    /// Leave the label on other versions of the model (an environment that runs several versions).
    pub keep_others: bool,
    /// The image reference (with digest) the environment runs, recorded as `deployed.<env>.image`.
    pub image: Option<String>,
    /// The GitOps commit that deployed it, recorded as `deployed.<env>.gitops_commit`.
    pub gitops_commit: Option<String>,
    /// When it was deployed (RFC 3339), recorded as `deployed.<env>.at`; see [`now_rfc3339`].
    pub deployed_at: String,
    /// Where the deployed version came from, recorded as `deployed.<env>.<name>` (e.g. `source_commit`,
    /// `source_repo`, `pipeline_run`, `author`); empty values are not recorded. The pipeline run,
    /// like the time, is the deployment's occasion: it moves only when the deployment itself changed,
    /// so that another run deploying the same (a retried webhook) writes nothing.
    pub records: BTreeMap<String, String>,
    /// The ModelCar to record as the version's model artifact (from an image reference with digest).
    pub artifact: Option<ModelArtifact>,
    /// Register the model and the version (with `artifact`) when they are missing, instead of failing.
    pub register: bool,
    /// Work out the changes, make none.
    pub dry_run: bool,
}

/// What a run changed (or, in a dry run, would change).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LabelOutcome {
    /// Versions that carry the label now (also when they already did).
    pub labelled: Vec<VersionRef>,
    /// Versions the label was taken off.
    pub unlabelled: Vec<VersionRef>,
    /// Versions registered by this run (`model:version:env`).
    pub registered: Vec<VersionRef>,
    /// Versions (and artifacts) written to (0 on a re-run: nothing to do).
    pub writes: usize,
}

impl LabelOutcome {
    pub fn merge(&mut self, other: LabelOutcome) {
        self.labelled.extend(other.labelled);
        self.unlabelled.extend(other.unlabelled);
        self.registered.extend(other.registered);
        self.writes += other.writes;
    }
}

/// The property names recorded for an environment. They hold non-empty strings, so the Kubeflow dashboard
/// shows them as properties, not as labels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PropertyKeys {
    pub at: String,
    pub image: String,
    pub gitops_commit: String,
}

impl PropertyKeys {
    fn all(&self) -> [&String; 3] {
        [&self.at, &self.image, &self.gitops_commit]
    }
}

pub fn property_keys(env: &str) -> PropertyKeys {
    PropertyKeys {
        at: format!("deployed.{env}.at"),
        image: format!("deployed.{env}.image"),
        gitops_commit: format!("deployed.{env}.gitops_commit"),
    }
}

/// Puts `env` on the requested version, records when/what/which commit, and (unless `keep_others`) takes
/// `env` and its records off every other version of the model. Everything else stays. A re-run with the
/// same request writes nothing.
pub async fn label<R: ModelRegistry>(
    registry: &R,
    request: &LabelRequest,
) -> Result<LabelOutcome, RegistryError> {
    registry.check_environment(&request.env)?;
    non_empty("model name", &request.model, Input::Model)?;
    non_empty("version name", &request.version, Input::Version)?;
    if request.register && request.artifact.is_none() {
        return Err(RegistryError::InvalidInput {
            what: "registration",
            value: format!("{}:{}", request.model, request.version),
            reason: "registering a version needs its image by digest (repo@sha256:...), recorded \
                     as its model artifact"
                .into(),
            input: Input::Image,
        });
    }
    let mut outcome = LabelOutcome::default();
    let (model, target) = match find_or_register(registry, request).await? {
        Found::Existing(model, target) => (model, target),
        Found::WouldRegister => {
            tracing::info!(
                "dry run: would register {}:{} with its model artifact and label it {}",
                request.model,
                request.version,
                request.env
            );
            outcome.writes += 1;
            outcome.registered.push(VersionRef {
                model: request.model.clone(),
                version: request.version.clone(),
                env: request.env.clone(),
            });
            return Ok(outcome);
        }
        Found::Registered(model, target) => {
            outcome.writes += 1;
            outcome
                .registered
                .push(version_ref(&model, &target, &request.env));
            (model, target)
        }
    };
    if let Some(artifact) = &request.artifact
        && registry
            .record_artifact(&model, &target, artifact, request.dry_run)
            .await?
    {
        tracing::info!(
            "{}record {} as the model artifact of {}:{}",
            if request.dry_run {
                "dry run: would "
            } else {
                ""
            },
            artifact.uri,
            model.name,
            target.name
        );
        outcome.writes += 1;
    }
    // Read the others before the label moves: an MLflow alias leaves the old version by itself, but
    // the old version's records must go too.
    let others: Vec<ModelVersion> = if request.keep_others {
        Vec::new()
    } else {
        registry
            .list_versions(&model)
            .await?
            .into_iter()
            .filter(|v| v.id != target.id && carries(v, &request.env))
            .collect()
    };

    let change = labelling_change(&target, request);
    if !change.satisfied_by(&target) {
        tracing::info!(
            "{}put label {} on {}:{}",
            if request.dry_run {
                "dry run: would "
            } else {
                ""
            },
            request.env,
            model.name,
            target.name
        );
        if !request.dry_run {
            registry.update_version(&model, &target, &change).await?;
        }
        outcome.writes += 1;
    } else {
        tracing::info!(
            "{}:{} already carries {}",
            model.name,
            target.name,
            request.env
        );
    }
    outcome
        .labelled
        .push(version_ref(&model, &target, &request.env));

    for other in others {
        outcome.merge(take_off(registry, &model, &other, &request.env, request.dry_run).await?);
    }
    Ok(outcome)
}

enum Found {
    Existing(RegisteredModel, ModelVersion),
    /// Registered by this run, model artifact included.
    Registered(RegisteredModel, ModelVersion),
    /// A dry run that would register the version.
    WouldRegister,
}

/// The requested model and version; with `register`, what is missing is registered, the version with
/// its model artifact. What this run registered is undone, as far as the API allows, when a later
/// step of the registration fails: no version is left without its artifact.
async fn find_or_register<R: ModelRegistry>(
    registry: &R,
    request: &LabelRequest,
) -> Result<Found, RegistryError> {
    let model = match registry.find_model(&request.model).await? {
        Some(model) => Some(model),
        None if request.register => None,
        None => {
            return Err(RegistryError::ModelNotFound {
                model: request.model.clone(),
                registry: registry.describe(),
                existing: registry.model_names().await.unwrap_or_default(),
            });
        }
    };
    if let Some(model) = &model
        && let Some(version) = registry.find_version(model, &request.version).await?
    {
        return Ok(Found::Existing(model.clone(), version));
    }
    let Some(artifact) = request.artifact.as_ref().filter(|_| request.register) else {
        let model = model.expect("a missing model without registering returned above");
        let existing = registry.list_versions(&model).await?;
        return Err(RegistryError::VersionNotFound {
            model: model.name,
            version: request.version.clone(),
            registry: registry.describe(),
            existing: existing.into_iter().map(|v| v.name).collect(),
        });
    };
    if request.dry_run {
        return Ok(Found::WouldRegister);
    }
    let (model, created_model) = match model {
        Some(model) => (model, false),
        None => {
            tracing::info!("registering model {}", request.model);
            (registry.create_model(&request.model).await?, true)
        }
    };
    tracing::info!(
        "registering version {} of model {} from {}",
        request.version,
        model.name,
        artifact.uri
    );
    let registered = async {
        let version = registry
            .create_version(&model, &request.version, artifact)
            .await?;
        registry
            .record_artifact(&model, &version, artifact, false)
            .await?;
        Ok::<_, RegistryError>(version)
    }
    .await;
    match registered {
        Ok(version) => Ok(Found::Registered(model, version)),
        Err(error) => {
            let mut undone = Vec::new();
            // The version, if it was created, is found by its name: the failure may have come after it.
            let version = registry
                .find_version(&model, &request.version)
                .await
                .ok()
                .flatten();
            if let Some(version) = version {
                undone.push(match registry.discard_version(&model, &version).await {
                    Ok(done) => done,
                    Err(e) => format!(
                        "version {} of model {} was left without its model artifact ({e}); \
                         register it again to complete it",
                        version.name, model.name
                    ),
                });
            }
            if created_model {
                undone.push(match registry.discard_model(&model).await {
                    Ok(done) => done,
                    Err(e) => format!("model {} was left without versions ({e})", model.name),
                });
            }
            if undone.is_empty() {
                return Err(error);
            }
            Err(RegistryError::RolledBack {
                error: Box::new(error),
                undone: format!("the registration was rolled back: {}", undone.join("; ")),
            })
        }
    }
}

/// Takes `env` and its records off one version (the config that deployed it was removed). A model or
/// version that no longer exists has nothing to take off.
pub async fn unlabel<R: ModelRegistry>(
    registry: &R,
    model_name: &str,
    version_name: &str,
    env: &str,
    dry_run: bool,
) -> Result<LabelOutcome, RegistryError> {
    registry.check_environment(env)?;
    let Some(model) = registry.find_model(model_name).await? else {
        tracing::warn!(
            "model {model_name:?} is not in {}: nothing to unlabel",
            registry.describe()
        );
        return Ok(LabelOutcome::default());
    };
    let Some(version) = registry.find_version(&model, version_name).await? else {
        tracing::warn!(
            "version {version_name:?} of model {model_name:?} is not in the registry: nothing to unlabel"
        );
        return Ok(LabelOutcome::default());
    };
    if !carries(&version, env) {
        tracing::info!("{model_name}:{version_name} does not carry {env}");
        return Ok(LabelOutcome::default());
    }
    take_off(registry, &model, &version, env, dry_run).await
}

async fn take_off<R: ModelRegistry>(
    registry: &R,
    model: &RegisteredModel,
    version: &ModelVersion,
    env: &str,
    dry_run: bool,
) -> Result<LabelOutcome, RegistryError> {
    let keys = property_keys(env);
    let mut change = VersionChange::default();
    change.remove_labels.insert(env.to_owned());
    change
        .remove_properties
        .extend(keys.all().into_iter().cloned());
    // Every other record of the deployment too.
    let prefix = record_prefix(env);
    change.remove_properties.extend(
        version
            .properties
            .keys()
            .filter(|k| k.starts_with(&prefix))
            .cloned(),
    );
    tracing::info!(
        "{}take label {env} off {}:{}",
        if dry_run { "dry run: would " } else { "" },
        model.name,
        version.name
    );
    if !dry_run {
        registry.update_version(model, version, &change).await?;
    }
    Ok(LabelOutcome {
        labelled: Vec::new(),
        unlabelled: vec![version_ref(model, version, env)],
        writes: 1,
        ..Default::default()
    })
}

fn labelling_change(target: &ModelVersion, request: &LabelRequest) -> VersionChange {
    let keys = property_keys(&request.env);
    let mut change = VersionChange::default();
    change.add_labels.insert(request.env.clone());
    if let Some(image) = request.image.as_deref().filter(|i| !i.is_empty()) {
        change
            .set_properties
            .insert(keys.image.clone(), image.to_owned());
    }
    if let Some(commit) = request.gitops_commit.as_deref().filter(|c| !c.is_empty()) {
        change
            .set_properties
            .insert(keys.gitops_commit.clone(), commit.to_owned());
    }
    let mut occasion = vec![(keys.at, request.deployed_at.clone())];
    for (name, value) in request.records.iter().filter(|(_, v)| !v.is_empty()) {
        let key = format!("{}{name}", record_prefix(&request.env));
        if OCCASION_RECORDS.contains(&name.as_str()) {
            occasion.push((key, value.clone()));
        } else {
            change.set_properties.insert(key, value.clone());
        }
    }
    // The time and the run move only when the deployment itself changed, so that a re-run writes
    // nothing.
    let changed = !change.satisfied_by(target);
    for (key, value) in occasion {
        if changed || target.string_property(&key).is_none() {
            change.set_properties.insert(key, value);
        }
    }
    change
}

/// Records of the occasion of a deployment rather than of what is deployed (with the time).
const OCCASION_RECORDS: [&str; 1] = ["pipeline_run"];

/// `deployed.<env>.`: the start of every record of a deployment to `env`.
fn record_prefix(env: &str) -> String {
    format!("deployed.{env}.")
}

/// Whether a version carries `env`: its label, or records of a deployment there.
fn carries(version: &ModelVersion, env: &str) -> bool {
    let prefix = record_prefix(env);
    version.labels.contains(env)
        || version.properties.keys().any(|k| k.starts_with(&prefix))
        || property_keys(env)
            .all()
            .into_iter()
            .any(|k| version.string_property(k).is_some())
}

fn version_ref(model: &RegisteredModel, version: &ModelVersion, env: &str) -> VersionRef {
    VersionRef {
        model: model.name.clone(),
        version: version.name.clone(),
        env: env.to_owned(),
    }
}

fn non_empty(what: &'static str, value: &str, input: Input) -> Result<(), RegistryError> {
    if value.trim().is_empty() {
        return Err(RegistryError::InvalidInput {
            what,
            value: value.to_owned(),
            reason: "it is empty".into(),
            input,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refs_print_as_model_version_env() {
        let r = VersionRef {
            model: "jukebox".into(),
            version: "a1b2".into(),
            env: "prod".into(),
        };
        assert_eq!(r.to_string(), "jukebox:a1b2:prod");
    }
}
