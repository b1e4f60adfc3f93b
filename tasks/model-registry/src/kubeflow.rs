//! The Kubeflow Model Registry REST API (`/api/model_registry/v1`, or `v1alpha3` on older servers), as
//! OpenShift AI serves it behind kube-rbac-proxy (Bearer token of a service account).
//!
//! A dashboard label is a string custom property with an empty value. `PATCH` with `customProperties`
//! replaces the whole map and there is no ETag, so every write is: read, change, read again to see
//! whether another writer came in between, write the full map, read back, and read once more after a
//! pause (longer when the server is slow, as another writer's stale write takes as long to land); any
//! sign that another writer's change replaced ours starts over (bounded).
//!
//! A `PATCH` that fails is never sent again as it was: its map was built from a read that may be stale
//! by then. The real server (v0.3.0 on MariaDB) answers concurrent `PATCH`es of one version with 500s
//! now and then (a deadlock, or `Field 'type_id' doesn't have a default value`); a failed write starts
//! a new round from a fresh read instead.

use std::time::{Duration, Instant};

use crate::rest;
use common::http::{HttpClient, display_url};
use common::retry::{RetryPolicy, Transient, Verdict, retry_async};
use common::{HttpError, Secret};

use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};
use tokio::sync::OnceCell;
use url::Url;

use crate::{
    ModelArtifact, ModelRegistry, ModelVersion, RegisteredModel, RegistryError, VersionChange,
};
use values::{apply_change, for_write};

mod client;
mod raw;
mod values;

use raw::{RawArtifact, RawList, RawModel, RawState, RawVersion};

/// The API versions tried, newest first, when none is set.
pub const API_VERSIONS: &[&str] = &["v1", "v1alpha3"];

/// The description of a version archived because its registration by this tool failed half-way (the
/// API has no DELETE); a later registration that completes it makes it LIVE again.
pub const ROLLED_BACK: &str =
    "registration rolled back by registry-label: its model artifact could not be recorded";

/// The longest pause before the read that confirms a write.
const MAX_CONFIRM_DELAY: Duration = Duration::from_secs(5);

#[derive(Debug, Clone)]
pub struct KubeflowOptions {
    /// The registry's REST endpoint, e.g. `https://modelregistry-public-rest.apps.example.com` or
    /// `https://modelregistry-public.rhoai-model-registries.svc:8443`.
    pub url: Url,
    /// `v1` or `v1alpha3`; `None` tries [`API_VERSIONS`] in order.
    pub api_version: Option<String>,
    pub token: Option<Secret>,
    /// Where the token came from, for messages (never the token itself).
    pub token_origin: String,
    /// The registry's name, for the role `registry-user-<name>` in messages; `None` derives it from the
    /// host (`<name>-rest.<domain>` or `<name>.<namespace>.svc`).
    pub registry_name: Option<String>,
    pub page_size: u32,
    pub retry: RetryPolicy,
    /// Read-modify-write rounds before giving up on a version other writers keep changing.
    pub max_write_attempts: u32,
    /// Pause before the final read that confirms a write survived concurrent writers.
    pub confirm_delay: Duration,
}

impl KubeflowOptions {
    pub fn new(url: Url) -> Self {
        Self {
            url,
            api_version: None,
            token: None,
            token_origin: "no token".into(),
            registry_name: None,
            page_size: 100,
            retry: RetryPolicy::default(),
            max_write_attempts: 6,
            confirm_delay: Duration::from_millis(200),
        }
    }
}

pub struct KubeflowRegistry {
    options: KubeflowOptions,
    http: HttpClient,
    api_base: OnceCell<String>,
}

/// `<name>-rest.<domain>` (route) or `<name>.<namespace>.svc` (service) -> `<name>`.
fn registry_name_from_host(url: &Url) -> String {
    let host = match url.host() {
        Some(url::Host::Domain(host)) if host != "localhost" => host,
        _ => return "<registry name> (its URL does not show it: give the registry's name)".into(),
    };
    let first = host.split('.').next().unwrap_or(host);
    first.strip_suffix("-rest").unwrap_or(first).to_owned()
}

enum Answer<T> {
    Found(T),
    NotFound,
}

impl KubeflowRegistry {
    pub fn new(options: KubeflowOptions, http: HttpClient) -> Self {
        Self {
            options,
            http,
            api_base: OnceCell::new(),
        }
    }

    fn registry_name(&self) -> String {
        self.options
            .registry_name
            .clone()
            .unwrap_or_else(|| registry_name_from_host(&self.options.url))
    }
}

impl ModelRegistry for KubeflowRegistry {
    fn describe(&self) -> String {
        format!(
            "Kubeflow Model Registry at {}",
            display_url(&self.options.url)
        )
    }

    async fn find_model(&self, name: &str) -> Result<Option<RegisteredModel>, RegistryError> {
        let base = self.api_base().await?;
        let url = self.url(base, "registered_model", &[("name", name)])?;
        Ok(
            match self
                .get::<RawModel>(&format!("looking up model {name}"), url)
                .await?
            {
                Answer::Found(raw) => Some(RegisteredModel {
                    id: raw.id,
                    name: raw.name,
                }),
                Answer::NotFound => None,
            },
        )
    }

    async fn model_names(&self) -> Result<Vec<String>, RegistryError> {
        let models: Vec<RawModel> = self.list_all("registered_models", "listing models").await?;
        Ok(models.into_iter().map(|m| m.name).collect())
    }

    async fn list_versions(
        &self,
        model: &RegisteredModel,
    ) -> Result<Vec<ModelVersion>, RegistryError> {
        Ok(self
            .list_raw_versions(model)
            .await?
            .iter()
            .map(RawVersion::to_version)
            .collect())
    }

    async fn find_version(
        &self,
        model: &RegisteredModel,
        name: &str,
    ) -> Result<Option<ModelVersion>, RegistryError> {
        let base = self.api_base().await?;
        let url = self.url(
            base,
            "model_version",
            &[("name", name), ("parentResourceId", model.id.as_str())],
        )?;
        let action = format!("looking up version {name} of model {}", model.name);
        Ok(match self.get::<RawVersion>(&action, url).await? {
            Answer::Found(raw) => Some(raw.to_version()),
            Answer::NotFound => None,
        })
    }

    async fn update_version(
        &self,
        model: &RegisteredModel,
        version: &ModelVersion,
        change: &VersionChange,
    ) -> Result<ModelVersion, RegistryError> {
        let action = format!("updating version {} of model {}", version.name, model.name);
        let base = self.api_base().await?;
        let url = self.url(base, &format!("model_versions/{}", version.id), &[])?;
        // The slowest write seen: another writer's stale write may take as long to land.
        let mut slowest_write = Duration::ZERO;
        let mut write_failed = false;
        let mut last_failure = None;
        for attempt in 1..=self.options.max_write_attempts {
            if attempt > 1 {
                let pause = if write_failed {
                    self.options.retry.initial_delay * (attempt - 1)
                } else {
                    tracing::info!(
                        "{action}: another writer changed it meanwhile; reading it again (attempt {attempt})"
                    );
                    self.options.confirm_delay / 2 * attempt
                };
                tokio::time::sleep(pause).await;
            }
            write_failed = false;
            let current = self.get_version(&version.id).await?;
            let properties = current.properties();
            let desired =
                apply_change(&properties, change).map_err(|key| RegistryError::NotAString {
                    action: action.clone(),
                    kind: properties[&key]
                        .get("metadataType")
                        .and_then(Value::as_str)
                        .unwrap_or("non-string value")
                        .to_owned(),
                    key,
                })?;
            if desired == properties {
                return Ok(current.to_version());
            }
            // A second read shows whether another writer came in since the first.
            if self.get_version(&version.id).await?.properties() != properties {
                continue;
            }
            let body = json!({ "customProperties": Value::Object(for_write(&desired)) });
            let started = Instant::now();
            // One attempt: resent later, this map could undo another writer's change.
            let written = self
                .send_with::<Value>(
                    &RetryPolicy::none(),
                    &action,
                    reqwest::Method::PATCH,
                    url.clone(),
                    Some(&body),
                )
                .await;
            slowest_write = slowest_write.max(started.elapsed());
            match written {
                Ok(_) => {}
                Err(e) if matches!(e.verdict(), Verdict::Transient { .. }) => {
                    tracing::warn!("{e}; reading the version again before the next write");
                    write_failed = true;
                    last_failure = Some(e);
                    continue;
                }
                Err(e) => return Err(e),
            }
            if !change.satisfied_by(&self.get_version(&version.id).await?.to_version()) {
                continue;
            }
            // A stale whole-map write already in flight from another writer lands within moments:
            // about as long as a write takes here.
            let pause = self
                .options
                .confirm_delay
                .max(slowest_write * 2)
                .min(MAX_CONFIRM_DELAY.max(self.options.confirm_delay));
            tokio::time::sleep(pause).await;
            let confirmed = self.get_version(&version.id).await?.to_version();
            if change.satisfied_by(&confirmed) {
                return Ok(confirmed);
            }
        }
        if let (true, Some(failure)) = (write_failed, last_failure) {
            return Err(failure);
        }
        Err(RegistryError::Contended {
            action,
            model: model.name.clone(),
            version: version.name.clone(),
            attempts: self.options.max_write_attempts,
        })
    }

    /// The version's first model artifact gets the URI (PATCH `/model_artifacts/{id}`: only the fields
    /// sent change, so its name, description and properties stay); a version without one gets a new
    /// one (POST `/model_versions/{id}/artifacts`). Other artifacts are not touched. A version this tool
    /// archived when its registration failed is made LIVE again once its artifact is there.
    async fn record_artifact(
        &self,
        model: &RegisteredModel,
        version: &ModelVersion,
        artifact: &ModelArtifact,
        dry_run: bool,
    ) -> Result<bool, RegistryError> {
        let what = format!("version {} of model {}", version.name, model.name);
        let existing = self.model_artifacts(&version.id).await?;
        let mut wrote = false;
        let mut fields = Map::new();
        fields.insert("uri".into(), Value::String(artifact.uri.clone()));
        if let Some(name) = &artifact.format_name {
            fields.insert("modelFormatName".into(), Value::String(name.clone()));
        }
        if let Some(format_version) = &artifact.format_version {
            fields.insert(
                "modelFormatVersion".into(),
                Value::String(format_version.clone()),
            );
        }
        match existing.first() {
            Some(first) if existing.iter().any(|a| a.records(artifact)) => {
                tracing::debug!("{what}: model artifact {} already recorded", first.id);
            }
            _ if dry_run => wrote = true,
            Some(first) => {
                let action = format!(
                    "updating model artifact {} of {what} to {}",
                    first.id, artifact.uri
                );
                self.write(
                    &action,
                    reqwest::Method::PATCH,
                    &format!("model_artifacts/{}", first.id),
                    &Value::Object(fields),
                )
                .await?;
                wrote = true;
            }
            None => {
                let action = format!("recording {} as the model artifact of {what}", artifact.uri);
                fields.insert("artifactType".into(), json!("model-artifact"));
                // Artifact names are unique per version: a retried POST whose first answer was lost
                // gets a 409 instead of a second artifact.
                fields.insert(
                    "name".into(),
                    Value::String(format!("{}-{}", model.name, version.name)),
                );
                let path = format!("model_versions/{}/artifacts", version.id);
                match self
                    .write(
                        &action,
                        reqwest::Method::POST,
                        &path,
                        &Value::Object(fields),
                    )
                    .await
                {
                    Ok(_) => {}
                    Err(RegistryError::Http(e @ HttpError::Status { status: 409, .. })) => {
                        let again = self.model_artifacts(&version.id).await?;
                        if !again.iter().any(|a| a.records(artifact)) {
                            return Err(RegistryError::Http(e));
                        }
                    }
                    Err(e) => return Err(e),
                }
                wrote = true;
            }
        }
        if !dry_run {
            self.restore_rolled_back(&version.id, &what).await?;
        }
        Ok(wrote)
    }

    /// The first model artifact of the version that has a URI.
    async fn model_artifact(
        &self,
        _model: &RegisteredModel,
        version: &ModelVersion,
    ) -> Result<Option<ModelArtifact>, RegistryError> {
        let artifacts = self.model_artifacts(&version.id).await?;
        Ok(artifacts.into_iter().find_map(|a| {
            Some(ModelArtifact {
                uri: a.uri.filter(|u| !u.is_empty())?,
                format_name: a.model_format_name,
                format_version: a.model_format_version,
            })
        }))
    }

    async fn create_model(&self, name: &str) -> Result<RegisteredModel, RegistryError> {
        let raw = self
            .write(
                &format!("registering model {name}"),
                reqwest::Method::POST,
                "registered_models",
                &json!({"name": name}),
            )
            .await?;
        let raw: RawModel = decode(raw, "registering a model")?;
        Ok(RegisteredModel {
            id: raw.id,
            name: raw.name,
        })
    }

    async fn create_version(
        &self,
        model: &RegisteredModel,
        name: &str,
        _artifact: &ModelArtifact,
    ) -> Result<ModelVersion, RegistryError> {
        let raw = self
            .write(
                &format!("registering version {name} of model {}", model.name),
                reqwest::Method::POST,
                "model_versions",
                &json!({"name": name, "registeredModelId": model.id}),
            )
            .await?;
        let raw: RawVersion = decode(raw, "registering a version")?;
        Ok(raw.to_version())
    }

    /// The API has no DELETE (405): the version is archived, with a description that says why.
    async fn discard_version(
        &self,
        model: &RegisteredModel,
        version: &ModelVersion,
    ) -> Result<String, RegistryError> {
        self.write(
            &format!("archiving version {} of model {}", version.name, model.name),
            reqwest::Method::PATCH,
            &format!("model_versions/{}", version.id),
            &json!({"state": "ARCHIVED", "description": ROLLED_BACK}),
        )
        .await?;
        Ok(format!(
            "version {} of model {} was archived (the registry cannot delete versions); \
             register it again to complete and restore it",
            version.name, model.name
        ))
    }

    async fn discard_model(&self, model: &RegisteredModel) -> Result<String, RegistryError> {
        self.write(
            &format!("archiving model {}", model.name),
            reqwest::Method::PATCH,
            &format!("registered_models/{}", model.id),
            &json!({"state": "ARCHIVED", "description": ROLLED_BACK}),
        )
        .await?;
        Ok(format!(
            "model {} was archived (the registry cannot delete models)",
            model.name
        ))
    }
}

impl KubeflowRegistry {
    /// Makes a version (and its model) LIVE again when this tool archived it after a failed
    /// registration.
    async fn restore_rolled_back(&self, version_id: &str, what: &str) -> Result<(), RegistryError> {
        let base = self.api_base().await?;
        let url = self.url(base, &format!("model_versions/{version_id}"), &[])?;
        let Answer::Found(version) = self.get::<Value>(&format!("reading {what}"), url).await?
        else {
            return Ok(());
        };
        let state: RawState = decode(version.clone(), "reading a version")?;
        if state.state.as_deref() != Some("ARCHIVED")
            || state.description.as_deref() != Some(ROLLED_BACK)
        {
            return Ok(());
        }
        tracing::info!("{what}: its model artifact is recorded now; making it LIVE again");
        let restore = json!({"state": "LIVE", "description": ""});
        if let Some(model_id) = version["registeredModelId"].as_str() {
            let url = self.url(base, &format!("registered_models/{model_id}"), &[])?;
            if let Answer::Found(model) = self.get::<Value>("reading the model", url).await? {
                let model: RawState = decode(model, "reading a model")?;
                if model.description.as_deref() == Some(ROLLED_BACK) {
                    self.write(
                        &format!("restoring the model of {what}"),
                        reqwest::Method::PATCH,
                        &format!("registered_models/{model_id}"),
                        &restore,
                    )
                    .await?;
                }
            }
        }
        self.write(
            &format!("restoring {what}"),
            reqwest::Method::PATCH,
            &format!("model_versions/{version_id}"),
            &restore,
        )
        .await?;
        Ok(())
    }
}

fn decode<T: DeserializeOwned>(value: Value, action: &str) -> Result<T, RegistryError> {
    serde_json::from_value(value).map_err(|e| RegistryError::Decode {
        action: action.to_owned(),
        url: String::new(),
        detail: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn artifacts_compare_uri_and_given_formats() {
        let raw = RawArtifact {
            id: "1".into(),
            artifact_type: "model-artifact".into(),
            uri: Some("oci://q/r@sha256:aa".into()),
            model_format_name: Some("onnx".into()),
            model_format_version: None,
        };
        let mut wanted = ModelArtifact {
            uri: "oci://q/r@sha256:aa".into(),
            format_name: None,
            format_version: None,
        };
        assert!(raw.records(&wanted));
        wanted.format_name = Some("onnx".into());
        assert!(raw.records(&wanted));
        wanted.format_version = Some("1".into());
        assert!(!raw.records(&wanted));
        wanted.format_version = None;
        wanted.uri = "oci://q/r@sha256:bb".into();
        assert!(!raw.records(&wanted));
    }

    #[test]
    fn registry_names_from_hosts() {
        let name = |u: &str| registry_name_from_host(&Url::parse(u).unwrap());
        assert_eq!(
            name("https://user1-prod-registry-rest.apps.example.com"),
            "user1-prod-registry"
        );
        assert_eq!(
            name("https://modelregistry-public.rhoai-model-registries.svc:8443"),
            "modelregistry-public"
        );
    }
}
