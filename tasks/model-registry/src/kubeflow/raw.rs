//! The API's own shapes of registered models, model versions and model artifacts, as read.

use serde::Deserialize;
use serde_json::{Map, Value};

use super::values::typed_value;
use crate::{ModelArtifact, ModelVersion, PropertyValue};

#[derive(Debug, Deserialize)]
pub(super) struct RawModel {
    pub(super) id: String,
    pub(super) name: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct RawVersion {
    pub(super) id: String,
    pub(super) name: String,
    #[serde(default)]
    pub(super) custom_properties: Option<Map<String, Value>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct RawArtifact {
    pub(super) id: String,
    #[serde(default)]
    pub(super) artifact_type: String,
    #[serde(default)]
    pub(super) uri: Option<String>,
    #[serde(default)]
    pub(super) model_format_name: Option<String>,
    #[serde(default)]
    pub(super) model_format_version: Option<String>,
}

impl RawArtifact {
    /// Whether it already records `artifact`; a format left unset is not compared.
    pub(super) fn records(&self, artifact: &ModelArtifact) -> bool {
        self.uri.as_deref() == Some(artifact.uri.as_str())
            && (artifact.format_name.is_none() || self.model_format_name == artifact.format_name)
            && (artifact.format_version.is_none()
                || self.model_format_version == artifact.format_version)
    }
}

#[derive(Debug, Deserialize)]
pub(super) struct RawState {
    #[serde(default)]
    pub(super) state: Option<String>,
    #[serde(default)]
    pub(super) description: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct RawList<T> {
    #[serde(default = "Vec::new")]
    pub(super) items: Vec<T>,
    #[serde(default)]
    pub(super) next_page_token: Option<String>,
}

impl RawVersion {
    pub(super) fn properties(&self) -> Map<String, Value> {
        self.custom_properties.clone().unwrap_or_default()
    }

    pub(super) fn to_version(&self) -> ModelVersion {
        let mut version = ModelVersion {
            id: self.id.clone(),
            name: self.name.clone(),
            labels: Default::default(),
            properties: Default::default(),
        };
        for (key, value) in self.properties() {
            match typed_value(&value) {
                PropertyValue::String(text) if text.is_empty() => {
                    version.labels.insert(key);
                }
                typed => {
                    version.properties.insert(key, typed);
                }
            }
        }
        version
    }
}
