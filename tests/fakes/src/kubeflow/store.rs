//! The registry's state and the rules the real server applies to it.

use std::collections::BTreeMap;

use axum::http::StatusCode;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Map, Value, json};

#[derive(Debug)]
pub(crate) struct ApiError {
    pub(crate) status: StatusCode,
    pub(crate) message: String,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }

    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }
}

/// Registered models and model versions, keyed by numeric id (served as strings).
#[derive(Default)]
pub(crate) struct Store {
    last_id: u64,
    clock_ms: u64,
    models: BTreeMap<u64, Value>,
    versions: BTreeMap<u64, Value>,
    /// Artifacts have an id sequence of their own (MLMD artifacts, not contexts); each is
    /// (the version it was posted to, the artifact).
    last_artifact_id: u64,
    artifacts: BTreeMap<u64, (String, Value)>,
}

/// `artifactType` values the server accepts on `POST /model_versions/{id}/artifacts`.
const ARTIFACT_TYPES: &[&str] = &[
    "model-artifact",
    "doc-artifact",
    "dataset-artifact",
    "metric",
    "parameter",
];
const MODEL_ARTIFACT_PATCHABLE: &[&str] = &[
    "artifactType",
    "customProperties",
    "description",
    "externalId",
    "uri",
    "state",
    "modelFormatName",
    "storageKey",
    "storagePath",
    "modelFormatVersion",
    "serviceAccountName",
    "modelSourceKind",
    "modelSourceClass",
    "modelSourceGroup",
    "modelSourceId",
    "modelSourceName",
];

const VERSION_PATCHABLE: &[&str] = &[
    "customProperties",
    "description",
    "externalId",
    "state",
    "author",
];
const MODEL_PATCHABLE: &[&str] = &[
    "customProperties",
    "description",
    "externalId",
    "owner",
    "state",
    "readme",
    "maturity",
    "language",
    "tasks",
    "provider",
    "logo",
    "license",
    "licenseLink",
    "libraryName",
];

impl Store {
    fn tick(&mut self) -> String {
        // A monotonic clock: every write moves lastUpdateTimeSinceEpoch forward.
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        self.clock_ms = now.max(self.clock_ms + 1);
        self.clock_ms.to_string()
    }

    fn next_id(&mut self) -> u64 {
        self.last_id += 1;
        self.last_id
    }

    pub(crate) fn add_model(&mut self, name: &str) -> String {
        let id = self.next_id();
        let now = self.tick();
        self.models.insert(
            id,
            json!({
                "id": id.to_string(),
                "name": name,
                "owner": "user1",
                "state": "LIVE",
                "customProperties": {},
                "createTimeSinceEpoch": now,
                "lastUpdateTimeSinceEpoch": now,
            }),
        );
        id.to_string()
    }

    pub(crate) fn add_version(
        &mut self,
        model_id: &str,
        name: &str,
        custom_properties: Value,
    ) -> Result<String, ApiError> {
        self.model(model_id)?;
        validate_properties(&custom_properties)?;
        let custom_properties = as_stored(&custom_properties);
        if self
            .versions
            .values()
            .any(|v| v["registeredModelId"] == model_id && v["name"] == name)
        {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                format!("model version with name {name} already exists: conflict"),
            ));
        }
        let id = self.next_id();
        let now = self.tick();
        self.versions.insert(
            id,
            json!({
                "id": id.to_string(),
                "name": name,
                "registeredModelId": model_id,
                "state": "LIVE",
                "author": "user1",
                "customProperties": custom_properties,
                "createTimeSinceEpoch": now,
                "lastUpdateTimeSinceEpoch": now,
            }),
        );
        Ok(id.to_string())
    }

    /// `POST /registered_models` (RegisteredModelCreate): 409 when the name is taken.
    pub(crate) fn create_model(&mut self, body: &Map<String, Value>) -> Result<Value, ApiError> {
        let allowed: Vec<&str> = MODEL_PATCHABLE.iter().copied().chain(["name"]).collect();
        check_patch(body, &allowed)?;
        let Some(name) = body
            .get("name")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
        else {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "required field 'name' is zero value.",
            ));
        };
        if self.models.values().any(|m| m["name"] == name) {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                format!("registered model with name {name} already exists: conflict"),
            ));
        }
        let id = self.add_model(name);
        let now = self.tick();
        let model = self
            .models
            .get_mut(&parse_id(&id).expect("own id"))
            .expect("just added");
        apply_patch(model, body, now);
        Ok(model.clone())
    }

    /// `POST /model_versions` or `POST /registered_models/{id}/versions` (ModelVersionCreate).
    pub(crate) fn create_version(
        &mut self,
        parent: Option<&str>,
        body: &Map<String, Value>,
    ) -> Result<Value, ApiError> {
        let allowed: Vec<&str> = VERSION_PATCHABLE
            .iter()
            .copied()
            .chain(["name", "registeredModelId"])
            .collect();
        check_patch(body, &allowed)?;
        let model_id = parent.map(str::to_owned).or_else(|| {
            body.get("registeredModelId")
                .and_then(Value::as_str)
                .map(str::to_owned)
        });
        let name = body
            .get("name")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty());
        let (Some(model_id), Some(name)) = (model_id, name) else {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                if name.is_none() {
                    "required field 'name' is zero value."
                } else {
                    "required field 'registeredModelId' is zero value."
                },
            ));
        };
        let properties = body
            .get("customProperties")
            .cloned()
            .unwrap_or_else(|| json!({}));
        let id = self.add_version(&model_id, name, properties)?;
        let now = self.tick();
        let version = self
            .versions
            .get_mut(&parse_id(&id).expect("own id"))
            .expect("just added");
        let mut rest = body.clone();
        rest.insert("registeredModelId".into(), Value::String(model_id));
        apply_patch(version, &rest, now);
        Ok(version.clone())
    }

    pub(crate) fn model(&self, id: &str) -> Result<Value, ApiError> {
        parse_id(id)
            .and_then(|n| self.models.get(&n).cloned())
            .ok_or_else(|| {
                ApiError::not_found(format!("no registered model found for id {id}: not found"))
            })
    }

    pub(crate) fn version(&self, id: &str) -> Result<Value, ApiError> {
        parse_id(id)
            .and_then(|n| self.versions.get(&n).cloned())
            .ok_or_else(|| {
                ApiError::not_found(format!("no model version found for id {id}: not found"))
            })
    }

    pub(crate) fn version_by_names(&self, model: &str, version: &str) -> Option<Value> {
        let model_id = self.models.values().find(|m| m["name"] == model)?["id"].clone();
        self.versions
            .values()
            .find(|v| v["registeredModelId"] == model_id && v["name"] == version)
            .cloned()
    }

    pub(crate) fn find_model(&self, query: &BTreeMap<String, String>) -> Result<Value, ApiError> {
        let name = query.get("name");
        let external_id = query.get("externalId");
        if name.is_none() && external_id.is_none() {
            return Err(ApiError::bad_request(
                "invalid parameters used to retrieve registered model",
            ));
        }
        self.models
            .values()
            .find(|m| {
                name.is_none_or(|n| m["name"] == n.as_str())
                    && external_id.is_none_or(|e| m["externalId"] == e.as_str())
            })
            .cloned()
            .ok_or_else(|| {
                ApiError::not_found(format!(
                    "no registered models found for name={}, externalId={}: not found",
                    name.map_or("", String::as_str),
                    external_id.map_or("", String::as_str)
                ))
            })
    }

    pub(crate) fn find_version(&self, query: &BTreeMap<String, String>) -> Result<Value, ApiError> {
        let name = query.get("name");
        let external_id = query.get("externalId");
        let parent = query.get("parentResourceId");
        if let Some(parent) = parent {
            check_id_param("parentResourceId", parent)?;
        }
        match (name, external_id, parent) {
            (None, None, _) => {
                return Err(ApiError::bad_request(
                    "invalid parameters used to retrieve model version",
                ));
            }
            (Some(_), _, None) => {
                return Err(ApiError::bad_request(
                    "invalid parameters call, supply either (versionName and registeredModelId), or externalId: bad request",
                ));
            }
            _ => {}
        }
        self.versions
            .values()
            .find(|v| {
                name.is_none_or(|n| v["name"] == n.as_str())
                    && external_id.is_none_or(|e| v["externalId"] == e.as_str())
                    && parent.is_none_or(|p| v["registeredModelId"] == p.as_str())
            })
            .cloned()
            .ok_or_else(|| {
                ApiError::not_found(format!(
                    "no model versions found for versionName={}, registeredModelId={}, externalId={}: not found",
                    name.map_or("", String::as_str),
                    parent.map_or("", String::as_str),
                    external_id.map_or("", String::as_str)
                ))
            })
    }

    pub(crate) fn list_models(
        &self,
        page_size: Option<usize>,
        token: Option<&str>,
    ) -> Result<Value, ApiError> {
        let all: Vec<&Value> = self.models.values().collect();
        page(&all, page_size, token)
    }

    pub(crate) fn list_versions(
        &self,
        model_id: Option<&str>,
        query: &BTreeMap<String, String>,
        page_size: Option<usize>,
        token: Option<&str>,
    ) -> Result<Value, ApiError> {
        // An unknown model's versions are an empty list (200), as the real server answers.
        let name = query.get("name");
        let all: Vec<&Value> = self
            .versions
            .values()
            .filter(|v| model_id.is_none_or(|id| v["registeredModelId"] == id))
            .filter(|v| name.is_none_or(|n| v["name"] == n.as_str()))
            .collect();
        page(&all, page_size, token)
    }

    pub(crate) fn patch_version(
        &mut self,
        id: &str,
        patch: &Map<String, Value>,
    ) -> Result<Value, ApiError> {
        let key = parse_id(id).filter(|n| self.versions.contains_key(n));
        let Some(key) = key else {
            return Err(ApiError::not_found(format!(
                "no model version found for id {id}: not found"
            )));
        };
        check_patch(patch, VERSION_PATCHABLE)?;
        if let Some(state) = patch.get("state")
            && !matches!(state.as_str(), Some("LIVE" | "ARCHIVED"))
        {
            return Err(ApiError::bad_request(format!(
                "invalid ModelVersionState {state}"
            )));
        }
        let now = self.tick();
        let version = self.versions.get_mut(&key).expect("checked above");
        apply_patch(version, patch, now);
        Ok(version.clone())
    }

    pub(crate) fn patch_model(
        &mut self,
        id: &str,
        patch: &Map<String, Value>,
    ) -> Result<Value, ApiError> {
        let key = parse_id(id).filter(|n| self.models.contains_key(n));
        let Some(key) = key else {
            return Err(ApiError::not_found(format!(
                "no registered model found for id {id}: not found"
            )));
        };
        check_patch(patch, MODEL_PATCHABLE)?;
        let now = self.tick();
        let model = self.models.get_mut(&key).expect("checked above");
        apply_patch(model, patch, now);
        Ok(model.clone())
    }

    /// `POST /model_versions/{id}/artifacts`. As v0.3.0 does, the version is not looked up (an unknown
    /// id still gets the artifact); names are unique per version (409); no name gets a generated one.
    pub(crate) fn create_artifact(
        &mut self,
        version_id: &str,
        body: &Map<String, Value>,
    ) -> Result<Value, ApiError> {
        check_id_param("modelversionId", version_id)?;
        let kind = body.get("artifactType").and_then(Value::as_str);
        if !kind.is_some_and(|k| ARTIFACT_TYPES.contains(&k)) {
            return Err(ApiError::bad_request(
                "invalid artifact type, must be either ModelArtifact, DocArtifact, DataSet, Metric, \
                 or Parameter: bad request",
            ));
        }
        let mut allowed: Vec<&str> = MODEL_ARTIFACT_PATCHABLE.to_vec();
        allowed.extend(["name", "id"]);
        check_patch(body, &allowed)?;
        let name = match body.get("name").and_then(Value::as_str) {
            Some(name) if !name.is_empty() => name.to_owned(),
            _ => format!("00000000-0000-4000-8000-{:012x}", self.last_artifact_id + 1),
        };
        let taken = self
            .artifacts
            .values()
            .any(|(parent, a)| parent == version_id && a["name"] == name.as_str());
        if taken {
            let kind = if kind == Some("model-artifact") {
                "model artifact"
            } else {
                "artifact"
            };
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                format!("{kind} with name {name} already exists: conflict"),
            ));
        }
        self.last_artifact_id += 1;
        let id = self.last_artifact_id;
        let now = self.tick();
        let mut artifact = json!({
            "id": id.to_string(),
            "name": name,
            "customProperties": {},
            "createTimeSinceEpoch": now,
        });
        let mut rest = body.clone();
        rest.remove("name");
        rest.remove("id");
        apply_patch(&mut artifact, &rest, now);
        self.artifacts
            .insert(id, (version_id.to_owned(), artifact.clone()));
        Ok(artifact)
    }

    /// `GET /model_versions/{id}/artifacts` (an unknown version has none).
    pub(crate) fn list_artifacts(
        &self,
        version_id: &str,
        query: &BTreeMap<String, String>,
        page_size: Option<usize>,
        token: Option<&str>,
    ) -> Result<Value, ApiError> {
        check_id_param("modelversionId", version_id)?;
        let kind = query.get("artifactType");
        let all: Vec<&Value> = self
            .artifacts
            .values()
            .filter(|(parent, _)| parent == version_id)
            .map(|(_, a)| a)
            .filter(|a| kind.is_none_or(|k| a["artifactType"] == k.as_str()))
            .collect();
        page(&all, page_size, token)
    }

    pub(crate) fn model_artifact(&self, id: &str) -> Result<Value, ApiError> {
        let found = parse_id(id).and_then(|n| self.artifacts.get(&n));
        match found {
            None => Err(ApiError::not_found(format!(
                "no artifact found for id {id}: not found"
            ))),
            Some((_, a)) if a["artifactType"] != "model-artifact" => Err(ApiError::not_found(
                format!("artifact with id {id} is not a model artifact: not found"),
            )),
            Some((_, a)) => Ok(a.clone()),
        }
    }

    /// `PATCH /model_artifacts/{id}`: the fields sent replace theirs, the rest stay; the answer (and
    /// the artifact from then on) carries `"state": "UNKNOWN"` when it had no state, as v0.3.0's does.
    pub(crate) fn patch_model_artifact(
        &mut self,
        id: &str,
        patch: &Map<String, Value>,
    ) -> Result<Value, ApiError> {
        self.model_artifact(id)?;
        check_patch(patch, MODEL_ARTIFACT_PATCHABLE)?;
        let now = self.tick();
        let key = parse_id(id).expect("found above");
        let (_, artifact) = self.artifacts.get_mut(&key).expect("found above");
        apply_patch(artifact, patch, now);
        if artifact.get("state").is_none() {
            artifact["state"] = json!("UNKNOWN");
        }
        Ok(artifact.clone())
    }

    /// The artifacts posted to a version, oldest first.
    pub(crate) fn artifacts_of(&self, version_id: &str) -> Vec<Value> {
        self.artifacts
            .values()
            .filter(|(parent, _)| parent == version_id)
            .map(|(_, a)| a.clone())
            .collect()
    }

    /// Another process's read-modify-write of one property (keeps the rest of the map).
    pub(crate) fn set_property(&mut self, id: &str, key: &str, value: Value) {
        let now = self.tick();
        if let Some(version) = parse_id(id).and_then(|n| self.versions.get_mut(&n)) {
            if !version["customProperties"].is_object() {
                version["customProperties"] = json!({});
            }
            version["customProperties"][key] = value;
            version["lastUpdateTimeSinceEpoch"] = Value::String(now);
        }
    }
}

fn check_patch(patch: &Map<String, Value>, allowed: &[&str]) -> Result<(), ApiError> {
    if let Some(unknown) = patch.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(ApiError::bad_request(format!(
            "json: unknown field \"{unknown}\""
        )));
    }
    if let Some(properties) = patch.get("customProperties") {
        validate_properties(properties)?;
    }
    Ok(())
}

/// `customProperties` replace the whole map; other fields replace their value; absent fields stay.
fn apply_patch(entity: &mut Value, patch: &Map<String, Value>, now: String) {
    for (key, value) in patch {
        entity[key] = if key == "customProperties" {
            as_stored(value)
        } else {
            value.clone()
        };
    }
    entity["lastUpdateTimeSinceEpoch"] = Value::String(now);
}

fn validate_properties(properties: &Value) -> Result<(), ApiError> {
    let Some(map) = properties.as_object() else {
        return Err(ApiError::bad_request("customProperties must be an object"));
    };
    for (key, value) in map {
        let valid = match value["metadataType"].as_str() {
            Some("MetadataStringValue") => value["string_value"].is_string(),
            Some("MetadataIntValue") => value["int_value"].as_str().is_some_and(is_int_value),
            Some("MetadataDoubleValue") => value["double_value"].is_number(),
            Some("MetadataBoolValue") => value["bool_value"].is_boolean(),
            Some("MetadataStructValue") => {
                let text = value["struct_value"].as_str().unwrap_or_default();
                if let Err(e) = BASE64.decode(text) {
                    let at = match e {
                        base64::DecodeError::InvalidByte(at, _)
                        | base64::DecodeError::InvalidLastSymbol(at, _) => at,
                        _ => text.len(),
                    };
                    return Err(ApiError::bad_request(format!(
                        "error setting field CustomProperties: bad request: unable to decode \
                         illegal base64 data at input byte {at} for key {key}: bad request"
                    )));
                }
                value["struct_value"].is_string()
            }
            Some("MetadataProtoValue") => {
                value["proto_value"].is_string() && value["type"].is_string()
            }
            _ => false,
        };
        let field_count = value.as_object().map_or(0, Map::len);
        let expected_fields = if value["metadataType"] == "MetadataProtoValue" {
            3
        } else {
            2
        };
        if !valid || field_count != expected_fields {
            return Err(ApiError::bad_request(format!(
                "customProperties[{key}]: not a valid MetadataValue: {value}"
            )));
        }
    }
    Ok(())
}

/// Custom properties as the real server answers them after storing them: a struct value, written as
/// base64, is read back as the text it decoded to (v0.3.0; the OpenAPI description says base64).
fn as_stored(properties: &Value) -> Value {
    let mut stored = properties.clone();
    if let Some(map) = stored.as_object_mut() {
        for value in map.values_mut() {
            if value["metadataType"] != "MetadataStructValue" {
                continue;
            }
            let decoded = value["struct_value"]
                .as_str()
                .and_then(|text| BASE64.decode(text).ok())
                .map(|bytes| String::from_utf8_lossy(&bytes).into_owned());
            if let Some(text) = decoded {
                value["struct_value"] = Value::String(text);
            }
        }
    }
    stored
}

/// `int_value` is an int32 written as a string matching `^-?([1-9][0-9]{0,8}|0)$`.
fn is_int_value(text: &str) -> bool {
    let digits = text.strip_prefix('-').unwrap_or(text);
    digits == "0" || parse_id(digits).is_some()
}

fn parse_id(id: &str) -> Option<u64> {
    let valid = !id.is_empty()
        && id.len() <= 9
        && !id.starts_with('0')
        && id.bytes().all(|b| b.is_ascii_digit());
    valid.then(|| id.parse().ok()).flatten()
}

fn check_id_param(name: &str, value: &str) -> Result<(), ApiError> {
    parse_id(value).map(|_| ()).ok_or_else(|| {
        ApiError::bad_request(format!(
            "parameter \"{name}\" does not match ^[1-9][0-9]{{0,8}}$: {value}"
        ))
    })
}

/// The page size a list request asks for: a number as a string; none or `0` is everything at once
/// (the real server has no default limit); not a number is a 400.
pub(crate) fn page_size(
    query: &BTreeMap<String, String>,
    default: Option<usize>,
) -> Result<Option<usize>, ApiError> {
    match query.get("pageSize") {
        None => Ok(default),
        Some(raw) => match raw.parse::<u32>() {
            Ok(0) => Ok(None),
            Ok(n) => Ok(Some(n as usize)),
            Err(_) => Err(ApiError::bad_request(format!(
                "invalid numeric string: strconv.ParseInt: parsing \"{raw}\": invalid syntax: bad request"
            ))),
        },
    }
}

/// Opaque page tokens: the hex of the offset, so a client cannot mistake them for numbers it may build.
/// A token the server did not hand out is ignored (the first page), as the real server does.
fn page(all: &[&Value], page_size: Option<usize>, token: Option<&str>) -> Result<Value, ApiError> {
    let offset = token
        .and_then(|token| token.strip_prefix("pt-"))
        .and_then(|hex| usize::from_str_radix(hex, 16).ok())
        .filter(|offset| *offset <= all.len())
        .unwrap_or(0);
    let items: Vec<Value> = all
        .iter()
        .skip(offset)
        .take(page_size.unwrap_or(usize::MAX))
        .map(|v| (*v).clone())
        .collect();
    let end = offset + items.len();
    let next = if end < all.len() {
        format!("pt-{end:x}")
    } else {
        String::new()
    };
    Ok(json!({
        "items": items,
        "nextPageToken": next,
        // The size asked for, 0 when none was.
        "pageSize": page_size.unwrap_or(0),
        "size": items.len(),
    }))
}
