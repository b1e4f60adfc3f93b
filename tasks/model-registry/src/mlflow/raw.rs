//! MLflow's REST shapes of registered models and model versions, as read.

use serde::Deserialize;

#[derive(Debug, Deserialize)]
pub(super) struct Alias {
    pub(super) alias: String,
    pub(super) version: String,
}

#[derive(Debug, Deserialize)]
pub(super) struct RawModel {
    pub(super) name: String,
    #[serde(default)]
    pub(super) aliases: Vec<Alias>,
}

#[derive(Debug, Deserialize)]
pub(super) struct Tag {
    pub(super) key: String,
    #[serde(default)]
    pub(super) value: String,
}

#[derive(Debug, Deserialize)]
pub(super) struct RawVersion {
    pub(super) version: String,
    #[serde(default)]
    pub(super) tags: Vec<Tag>,
    /// The run that produced the version, when it was registered from one.
    #[serde(default)]
    pub(super) run_id: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(super) struct GetModel {
    pub(super) registered_model: RawModel,
}

#[derive(Debug, Deserialize)]
pub(super) struct SearchModels {
    #[serde(default)]
    pub(super) registered_models: Vec<RawModel>,
}

#[derive(Debug, Deserialize)]
pub(super) struct SearchVersions {
    #[serde(default)]
    pub(super) model_versions: Vec<RawVersion>,
    #[serde(default)]
    pub(super) next_page_token: Option<String>,
}
