//! The MLflow model registry (REST `/api/2.0/mlflow`). An environment is a registered-model alias, which
//! points at one version and moves by itself; `deployed.<env>.*` version tags record the details.
//!
//! MLflow numbers versions; the name users know a version by (a git commit) is the version's
//! `version_tag` tag (default `version`), or the number itself.

use std::collections::BTreeMap;

use crate::rest;
use common::Secret;
use common::http::{HttpClient, display_url};
use common::retry::{RetryPolicy, retry_async};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use url::Url;

use crate::Input;

use run::{GetRun, GetVersion};

mod raw;
mod run;

use raw::{Alias, GetModel, RawModel, RawVersion, SearchModels, SearchVersions};

use crate::{
    ModelArtifact, ModelRegistry, ModelVersion, PropertyValue, RegisteredModel, RegistryError,
    VersionChange,
};

/// The version tag that records the ModelCar a version is served from. A version's `source` is set
/// when it is created and cannot change afterwards, so the image is recorded as a tag (a registration
/// by this tool also makes it the source).
pub const MODELCAR_URI_TAG: &str = "modelcar.uri";
pub const MODELCAR_FORMAT_TAG: &str = "modelcar.format";
pub const MODELCAR_FORMAT_VERSION_TAG: &str = "modelcar.format_version";

/// The version tags that record `artifact`.
fn artifact_tags(artifact: &ModelArtifact) -> BTreeMap<String, String> {
    let mut tags = BTreeMap::from([(MODELCAR_URI_TAG.to_owned(), artifact.uri.clone())]);
    if let Some(name) = &artifact.format_name {
        tags.insert(MODELCAR_FORMAT_TAG.to_owned(), name.clone());
    }
    if let Some(version) = &artifact.format_version {
        tags.insert(MODELCAR_FORMAT_VERSION_TAG.to_owned(), version.clone());
    }
    tags
}

#[derive(Debug, Deserialize)]
struct CreatedVersion {
    model_version: RawVersion,
}

#[derive(Debug, Clone)]
pub struct MlflowOptions {
    /// The tracking server, e.g. `https://mlflow.example.com` (the API is under `/api/2.0/mlflow`).
    pub url: Url,
    /// Sent as `Authorization: Bearer`, when the server is behind an authenticating proxy.
    pub token: Option<Secret>,
    /// The version tag that carries a version's name.
    pub version_tag: String,
    pub page_size: u32,
    pub retry: RetryPolicy,
}

impl MlflowOptions {
    pub fn new(url: Url) -> Self {
        Self {
            url,
            token: None,
            version_tag: "version".into(),
            page_size: 100,
            retry: RetryPolicy::default(),
        }
    }
}

pub struct MlflowRegistry {
    options: MlflowOptions,
    http: HttpClient,
}

/// MLflow's own alias rules beyond the shared environment-name rule.
fn check_alias(alias: &str) -> Result<(), RegistryError> {
    let reserved = alias.eq_ignore_ascii_case("latest")
        || (alias.len() > 1
            && alias.starts_with(['v', 'V'])
            && alias[1..].bytes().all(|b| b.is_ascii_digit()));
    if reserved {
        return Err(RegistryError::InvalidEnvironment {
            env: alias.to_owned(),
            reason: "MLflow reserves `latest` and `v<number>` as alias names; pick another environment name"
                .into(),
        });
    }
    Ok(())
}

impl MlflowRegistry {
    pub fn new(options: MlflowOptions, http: HttpClient) -> Self {
        Self { options, http }
    }

    fn endpoint(&self, path: &str, query: &[(&str, &str)]) -> Result<Url, RegistryError> {
        let root = self.options.url.as_str().trim_end_matches('/');
        rest::endpoint("MLflow URL", root, &format!("api/2.0/mlflow/{path}"), query)
    }

    /// One call with retries. `RESOURCE_DOES_NOT_EXIST` (404) is `None`.
    async fn call<T: DeserializeOwned>(
        &self,
        action: &str,
        method: reqwest::Method,
        url: Url,
        body: Option<Value>,
    ) -> Result<Option<T>, RegistryError> {
        let body = &body;
        retry_async(&self.options.retry, action, |_| {
            let (method, url) = (method.clone(), url.clone());
            async move {
                let token = self.options.token.as_ref();
                let body = body.as_ref();
                let response = rest::send(&self.http, token, action, method, &url, body).await?;
                let status = response.status().as_u16();
                if status == 401 || status == 403 {
                    let detail = response.text().await.unwrap_or_default();
                    return Err(RegistryError::Refused {
                        action: action.to_owned(),
                        registry: self.describe(),
                        status,
                        detail: detail.trim().chars().take(200).collect(),
                    });
                }
                if status == 404 {
                    let body = response.text().await.unwrap_or_default();
                    if body.contains("RESOURCE_DOES_NOT_EXIST") {
                        return Ok(None);
                    }
                    return Err(RegistryError::Decode {
                        action: action.to_owned(),
                        url: display_url(&url),
                        detail: "404 without an MLflow error: is this an MLflow tracking server?"
                            .into(),
                    });
                }
                rest::json_answer(action, &url, response).await.map(Some)
            }
        })
        .await
    }

    async fn get_model(&self, name: &str) -> Result<Option<RawModel>, RegistryError> {
        let url = self.endpoint("registered-models/get", &[("name", name)])?;
        let answer: Option<GetModel> = self
            .call(
                &format!("looking up model {name}"),
                reqwest::Method::GET,
                url,
                None,
            )
            .await?;
        Ok(answer.map(|a| a.registered_model))
    }

    async fn write(
        &self,
        action: &str,
        method: reqwest::Method,
        path: &str,
        body: Value,
    ) -> Result<(), RegistryError> {
        let url = self.endpoint(path, &[])?;
        let _: Option<Value> = self.call(action, method, url, Some(body)).await?;
        Ok(())
    }

    fn to_version(&self, raw: RawVersion, aliases: &[Alias]) -> ModelVersion {
        let properties: BTreeMap<String, PropertyValue> = raw
            .tags
            .into_iter()
            .map(|t| (t.key, PropertyValue::String(t.value)))
            .collect();
        ModelVersion {
            name: properties
                .get(&self.options.version_tag)
                .and_then(PropertyValue::as_str)
                .filter(|v| !v.is_empty())
                .map_or_else(|| raw.version.clone(), str::to_owned),
            labels: aliases
                .iter()
                .filter(|a| a.version == raw.version)
                .map(|a| a.alias.clone())
                .collect(),
            id: raw.version,
            properties,
        }
    }
}

impl ModelRegistry for MlflowRegistry {
    fn describe(&self) -> String {
        format!(
            "MLflow model registry at {}",
            display_url(&self.options.url)
        )
    }

    async fn find_model(&self, name: &str) -> Result<Option<RegisteredModel>, RegistryError> {
        Ok(self.get_model(name).await?.map(|m| RegisteredModel {
            id: m.name.clone(),
            name: m.name,
        }))
    }

    async fn model_names(&self) -> Result<Vec<String>, RegistryError> {
        let url = self.endpoint("registered-models/search", &[("max_results", "50")])?;
        let found: Option<SearchModels> = self
            .call("listing models", reqwest::Method::GET, url, None)
            .await?;
        Ok(found
            .map(|f| f.registered_models.into_iter().map(|m| m.name).collect())
            .unwrap_or_default())
    }

    async fn list_versions(
        &self,
        model: &RegisteredModel,
    ) -> Result<Vec<ModelVersion>, RegistryError> {
        if model.name.contains('\'') {
            return Err(RegistryError::InvalidInput {
                what: "MLflow model name",
                value: model.name.clone(),
                reason: "names with a single quote cannot be searched".into(),
                input: Input::Model,
            });
        }
        let aliases = self
            .get_model(&model.name)
            .await?
            .map(|m| m.aliases)
            .unwrap_or_default();
        let filter = format!("name='{}'", model.name);
        let page_size = self.options.page_size.to_string();
        let action = format!("listing versions of model {}", model.name);
        let mut versions = Vec::new();
        let mut token = String::new();
        loop {
            let mut query = vec![
                ("filter", filter.as_str()),
                ("max_results", page_size.as_str()),
            ];
            if !token.is_empty() {
                query.push(("page_token", token.as_str()));
            }
            let url = self.endpoint("model-versions/search", &query)?;
            let Some(page) = self
                .call::<SearchVersions>(&action, reqwest::Method::GET, url, None)
                .await?
            else {
                break;
            };
            let count = page.model_versions.len();
            versions.extend(
                page.model_versions
                    .into_iter()
                    .map(|v| self.to_version(v, &aliases)),
            );
            match page.next_page_token.filter(|t| !t.is_empty()) {
                Some(next) if count > 0 && next != token => token = next,
                _ => break,
            }
        }
        // Oldest first, as the Kubeflow registry lists them.
        versions.sort_by_key(|v| v.id.parse::<u64>().unwrap_or(u64::MAX));
        Ok(versions)
    }

    async fn find_version(
        &self,
        model: &RegisteredModel,
        name: &str,
    ) -> Result<Option<ModelVersion>, RegistryError> {
        let versions = self.list_versions(model).await?;
        let by_tag = versions
            .iter()
            .find(|v| v.string_property(&self.options.version_tag) == Some(name));
        Ok(by_tag
            .or_else(|| versions.iter().find(|v| v.id == name))
            .cloned())
    }

    async fn run_metrics(
        &self,
        model: &RegisteredModel,
        version: &ModelVersion,
    ) -> Result<BTreeMap<String, f64>, RegistryError> {
        let what = format!("version {} of model {}", version.name, model.name);
        let url = self.endpoint(
            "model-versions/get",
            &[("name", &model.name), ("version", &version.id)],
        )?;
        let found: Option<GetVersion> = self
            .call(&format!("reading {what}"), reqwest::Method::GET, url, None)
            .await?;
        let Some(run_id) = found
            .and_then(|f| f.model_version.run_id)
            .filter(|id| !id.is_empty())
        else {
            return Ok(BTreeMap::new());
        };
        let url = self.endpoint("runs/get", &[("run_id", &run_id)])?;
        let action = format!("reading the metrics of run {run_id} that produced {what}");
        let Some(found) = self
            .call::<GetRun>(&action, reqwest::Method::GET, url, None)
            .await?
        else {
            tracing::warn!("{action}: the run no longer exists");
            return Ok(BTreeMap::new());
        };
        Ok(found.latest_metrics())
    }

    async fn update_version(
        &self,
        model: &RegisteredModel,
        version: &ModelVersion,
        change: &VersionChange,
    ) -> Result<ModelVersion, RegistryError> {
        for alias in &change.add_labels {
            check_alias(alias)?;
        }
        let name = model.name.as_str();
        let number = version.id.as_str();
        let what = format!("version {} of model {name}", version.name);
        let current = self
            .find_version(model, &version.name)
            .await?
            .unwrap_or_else(|| version.clone());
        let delete = reqwest::Method::DELETE;
        let post = reqwest::Method::POST;

        // The alias goes first when leaving, last when arriving: the tags never claim an environment the
        // alias does not. MLflow reads DELETE parameters from a JSON body (it answers 400 to a query
        // string), and deleting an alias or tag that is not there succeeds.
        for alias in change
            .remove_labels
            .iter()
            .filter(|a| current.labels.contains(*a))
        {
            let body = json!({"name": name, "alias": alias});
            self.write(
                &format!("removing alias {alias} from {what}"),
                delete.clone(),
                "registered-models/alias",
                body,
            )
            .await?;
        }
        for key in change
            .remove_properties
            .iter()
            .filter(|k| current.properties.contains_key(*k))
        {
            let body = json!({"name": name, "version": number, "key": key});
            self.write(
                &format!("deleting tag {key} of {what}"),
                delete.clone(),
                "model-versions/delete-tag",
                body,
            )
            .await?;
        }
        for (key, value) in &change.set_properties {
            if current.string_property(key) != Some(value.as_str()) {
                let body = json!({"name": name, "version": number, "key": key, "value": value});
                self.write(
                    &format!("setting tag {key} on {what}"),
                    post.clone(),
                    "model-versions/set-tag",
                    body,
                )
                .await?;
            }
        }
        for alias in change
            .add_labels
            .iter()
            .filter(|a| !current.labels.contains(*a))
        {
            let body = json!({"name": name, "alias": alias, "version": number});
            self.write(
                &format!("setting alias {alias} on {what}"),
                post.clone(),
                "registered-models/alias",
                body,
            )
            .await?;
        }
        let updated = self
            .find_version(model, &version.name)
            .await?
            .unwrap_or_else(|| version.clone());
        if !change.satisfied_by(&updated) {
            return Err(RegistryError::Contended {
                action: format!("updating {what}"),
                model: name.to_owned(),
                version: version.name.clone(),
                attempts: 1,
            });
        }
        Ok(updated)
    }

    async fn record_artifact(
        &self,
        model: &RegisteredModel,
        version: &ModelVersion,
        artifact: &ModelArtifact,
        dry_run: bool,
    ) -> Result<bool, RegistryError> {
        let change = VersionChange {
            set_properties: artifact_tags(artifact),
            ..Default::default()
        };
        if change.satisfied_by(version) {
            return Ok(false);
        }
        if !dry_run {
            self.update_version(model, version, &change).await?;
        }
        Ok(true)
    }

    /// The ModelCar recorded in the version's tags (see [`MODELCAR_URI_TAG`]).
    async fn model_artifact(
        &self,
        _model: &RegisteredModel,
        version: &ModelVersion,
    ) -> Result<Option<ModelArtifact>, RegistryError> {
        let tag = |key: &str| version.string_property(key).map(str::to_owned);
        Ok(tag(MODELCAR_URI_TAG)
            .filter(|uri| !uri.is_empty())
            .map(|uri| ModelArtifact {
                uri,
                format_name: tag(MODELCAR_FORMAT_TAG),
                format_version: tag(MODELCAR_FORMAT_VERSION_TAG),
            }))
    }

    async fn create_model(&self, name: &str) -> Result<RegisteredModel, RegistryError> {
        self.write(
            &format!("registering model {name}"),
            reqwest::Method::POST,
            "registered-models/create",
            json!({"name": name}),
        )
        .await?;
        Ok(RegisteredModel {
            id: name.to_owned(),
            name: name.to_owned(),
        })
    }

    /// One call: the version, its name tag and its ModelCar tags arrive together, with the image as
    /// the version's source.
    async fn create_version(
        &self,
        model: &RegisteredModel,
        name: &str,
        artifact: &ModelArtifact,
    ) -> Result<ModelVersion, RegistryError> {
        let mut tags = artifact_tags(artifact);
        tags.insert(self.options.version_tag.clone(), name.to_owned());
        let tags: Vec<Value> = tags
            .into_iter()
            .map(|(key, value)| json!({"key": key, "value": value}))
            .collect();
        let action = format!("registering version {name} of model {}", model.name);
        let url = self.endpoint("model-versions/create", &[])?;
        let body = json!({"name": model.name, "source": artifact.uri, "tags": tags});
        let created: Option<CreatedVersion> = self
            .call(&action, reqwest::Method::POST, url, Some(body))
            .await?;
        let created = created.ok_or_else(|| RegistryError::Decode {
            action: action.clone(),
            url: display_url(&self.options.url),
            detail: "the model is not there (RESOURCE_DOES_NOT_EXIST)".into(),
        })?;
        Ok(self.to_version(created.model_version, &[]))
    }

    async fn discard_version(
        &self,
        model: &RegisteredModel,
        version: &ModelVersion,
    ) -> Result<String, RegistryError> {
        self.write(
            &format!("deleting version {} of model {}", version.name, model.name),
            reqwest::Method::DELETE,
            "model-versions/delete",
            json!({"name": model.name, "version": version.id}),
        )
        .await?;
        Ok(format!(
            "version {} of model {} was deleted",
            version.name, model.name
        ))
    }

    async fn discard_model(&self, model: &RegisteredModel) -> Result<String, RegistryError> {
        self.write(
            &format!("deleting model {}", model.name),
            reqwest::Method::DELETE,
            "registered-models/delete",
            json!({"name": model.name}),
        )
        .await?;
        Ok(format!("model {} was deleted", model.name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_aliases() {
        assert!(check_alias("latest").is_err());
        assert!(check_alias("v3").is_err());
        assert!(check_alias("prod").is_ok());
        assert!(check_alias("v").is_ok());
        assert!(check_alias("vprod").is_ok());
    }

    #[tokio::test]
    async fn the_model_artifact_is_read_from_the_version_tags() {
        let http = common::HttpOptions::default().client().unwrap();
        let registry = MlflowRegistry::new(
            MlflowOptions::new("https://mlflow.example".parse().unwrap()),
            http,
        );
        let model = RegisteredModel {
            id: "jukebox".into(),
            name: "jukebox".into(),
        };
        let artifact = ModelArtifact {
            uri: format!("oci://quay.io/team/jukebox@sha256:{}", "ab".repeat(32)),
            format_name: Some("onnx".into()),
            format_version: None,
        };
        let mut version = ModelVersion {
            id: "3".into(),
            name: "v3".into(),
            labels: Default::default(),
            properties: artifact_tags(&artifact)
                .into_iter()
                .map(|(k, v)| (k, PropertyValue::String(v)))
                .collect(),
        };
        let read = registry.model_artifact(&model, &version).await.unwrap();
        assert_eq!(read, Some(artifact));
        version.properties.clear();
        assert_eq!(
            registry.model_artifact(&model, &version).await.unwrap(),
            None
        );
    }
}
