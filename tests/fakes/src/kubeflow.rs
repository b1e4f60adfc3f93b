//! A stateful fake of the Kubeflow Model Registry REST API (`/api/model_registry/v1alpha3`, and `v1` when
//! asked), as OpenShift AI serves it behind kube-rbac-proxy.
//!
//! Faithful to the OpenAPI description where a client can notice:
//! - ids are strings; registered models and model versions share one id sequence (both are MLMD contexts);
//! - `GET /model_version?name=` needs `parentResourceId` (400 without it); lookups that find nothing are 404;
//! - lists are paged: `pageSize` (a number as a string; none or `0` is everything at once, as the real
//!   server has no default limit), an opaque `nextPageToken` (one it did not hand out is ignored: the
//!   first page), and the response's `nextPageToken` is `""` on the last page; an unknown model's
//!   versions are an empty list;
//! - `PATCH` with `customProperties` replaces the whole map (keys left out are deleted); without the field the
//!   map is kept; unknown fields and malformed `MetadataValue`s are a 400;
//! - `POST` creates registered models and versions (201; 409 for a taken name; 422 without `name`);
//! - artifacts: `POST /model_versions/{id}/artifacts` creates one (201; `artifactType` must be one the
//!   server knows, else 400; a name taken in that version is a 409; the version is not looked up, as
//!   v0.3.0 does not), `GET` lists them (paged, `artifactType` filters), `GET`/`PATCH
//!   /model_artifacts/{id}` read and update a model artifact (only the fields sent change; 404 for
//!   another kind of artifact); artifact ids are a sequence of their own; nothing can be deleted (405);
//! - errors are `{"code": "Not Found", "message": "... : not found"}` (the status text; a 422 says
//!   "Bad Request"), worded as v0.3.0 words them; a path that is not served is a plain-text
//!   `404 page not found`; the proxy answers a missing or wrong Bearer token with a plain-text 401, and a
//!   token without the role with a plain-text 403.
//!
//! Switches inject what a real deployment does to a client: another writer that changes a version right
//! after this client read it, another writer whose stale whole-map `PATCH` lands right after this
//! client's, a `PATCH` that fails with a 500 while another writer's change lands, and 503s.

pub(crate) mod server;
mod store;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::kubeflow::server::Server;
use crate::kubeflow::store::{ApiError, Store};

/// The API versions a registry serves, as path segments after `/api/model_registry/`.
pub const V1ALPHA3: &str = "v1alpha3";
pub const V1: &str = "v1";

/// How the fake is started.
#[derive(Debug, Clone)]
pub struct Options {
    /// The Bearer token the proxy accepts.
    pub token: String,
    /// API versions served (others answer `404 page not found`).
    pub api_versions: Vec<&'static str>,
    /// Page size when the client sends none; `None`, as the real server: everything in one page.
    pub default_page_size: Option<usize>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            token: "kubeflow-test-token".into(),
            api_versions: vec![V1ALPHA3],
            default_page_size: None,
        }
    }
}

/// When an injected writer acts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriterTiming {
    /// Right after this client read the version (any read that returns it): the change happens between
    /// the client's GET and its PATCH.
    AfterRead,
    /// Right after this client's PATCH: the other writer's whole-map PATCH, built from what it read
    /// before, replaces the client's change.
    StalePatchAfterPatch,
    /// During this client's PATCH, which fails with the 500 the real server (v0.3.0 on MariaDB) answers
    /// now and then when writes of one version meet (a deadlock in its database) and changes nothing;
    /// the other writer's change lands meanwhile.
    DuringFailedPatch,
}

#[derive(Debug, Clone)]
struct InjectedWriter {
    version_id: String,
    key: String,
    value: Value,
    timing: WriterTiming,
    remaining: u32,
}

#[derive(Default)]
struct Faults {
    unavailable: u32,
    forbidden: bool,
    read_only: bool,
    /// (method, path part, status, times left)
    refusals: Vec<(String, String, u16, u32)>,
    writers: Vec<InjectedWriter>,
}

struct Shared {
    options: Options,
    store: Mutex<Store>,
    faults: Mutex<Faults>,
    requests: Mutex<Vec<String>>,
}

/// A running fake registry. Dropping it stops the server.
pub struct FakeKubeflow {
    shared: Arc<Shared>,
    server: Server,
}

impl FakeKubeflow {
    /// Starts a registry serving `v1alpha3` only, with the default token.
    pub fn start() -> Self {
        Self::start_with(Options::default())
    }

    pub fn start_with(options: Options) -> Self {
        let shared = Arc::new(Shared {
            options,
            store: Mutex::new(Store::default()),
            faults: Mutex::new(Faults::default()),
            requests: Mutex::new(Vec::new()),
        });
        let router = axum::Router::new()
            .fallback(handle)
            .with_state(shared.clone());
        let server = Server::start("fake Kubeflow Model Registry", router);
        Self { shared, server }
    }

    /// `http://127.0.0.1:<port>`, without a trailing slash.
    pub fn url(&self) -> String {
        self.server.url()
    }

    pub fn token(&self) -> &str {
        &self.shared.options.token
    }

    /// Creates a registered model; returns its id.
    pub fn add_model(&self, name: &str) -> String {
        self.store().add_model(name)
    }

    /// Creates a version of the model `model_id` with these `customProperties`; returns its id.
    pub fn add_version(&self, model_id: &str, name: &str, custom_properties: Value) -> String {
        self.store()
            .add_version(model_id, name, custom_properties)
            .unwrap_or_else(|e| panic!("seeding version {name}: {}", e.message))
    }

    /// A version as the API would return it, by model name and version name.
    pub fn version(&self, model: &str, version: &str) -> Value {
        self.store()
            .version_by_names(model, version)
            .unwrap_or_else(|| panic!("no version {version} of model {model} in the fake registry"))
    }

    /// The `customProperties` of a version, by model name and version name.
    pub fn custom_properties(&self, model: &str, version: &str) -> BTreeMap<String, Value> {
        match self.version(model, version).get("customProperties") {
            Some(Value::Object(map)) => map.clone().into_iter().collect(),
            _ => BTreeMap::new(),
        }
    }

    /// Sets one custom property directly, as another process would.
    pub fn set_property(&self, model: &str, version: &str, key: &str, value: Value) {
        let mut store = self.store();
        let id = store
            .version_by_names(model, version)
            .and_then(|v| v["id"].as_str().map(str::to_owned))
            .expect("version exists");
        store.set_property(&id, key, value);
    }

    /// Every request so far, as `METHOD /path?query`.
    pub fn requests(&self) -> Vec<String> {
        lock(&self.shared.requests).clone()
    }

    /// How many requests so far used `method` (e.g. "PATCH").
    pub fn count(&self, method: &str) -> usize {
        self.requests()
            .iter()
            .filter(|r| r.starts_with(&format!("{method} ")))
            .count()
    }

    /// The next `n` requests are answered 503.
    pub fn fail_next(&self, n: u32) {
        lock(&self.shared.faults).unavailable = n;
    }

    /// Every request with a valid token gets 403 (the service account lacks the registry's role).
    pub fn set_forbidden(&self, forbidden: bool) {
        lock(&self.shared.faults).forbidden = forbidden;
    }

    /// Reads are answered, every write gets the proxy's 403 (a role that may only read).
    pub fn set_read_only(&self, read_only: bool) {
        lock(&self.shared.faults).read_only = read_only;
    }

    /// The next `times` requests with `method` whose path contains `path_part` are answered `status`,
    /// changing nothing (0 times: no longer).
    pub fn refuse(&self, method: &str, path_part: &str, status: u16, times: u32) {
        let mut faults = lock(&self.shared.faults);
        faults
            .refusals
            .retain(|(m, part, _, _)| !(m == method && part == path_part));
        faults
            .refusals
            .push((method.to_owned(), path_part.to_owned(), status, times));
    }

    /// The artifacts of a version (by model and version name), oldest first.
    pub fn artifacts(&self, model: &str, version: &str) -> Vec<Value> {
        let id = self.version(model, version)["id"]
            .as_str()
            .expect("string id")
            .to_owned();
        self.store().artifacts_of(&id)
    }

    /// Adds an artifact to a version directly, as another client would (the POST's body); returns it.
    pub fn add_artifact(&self, model: &str, version: &str, body: Value) -> Value {
        let id = self.version(model, version)["id"]
            .as_str()
            .expect("string id")
            .to_owned();
        let Value::Object(body) = body else {
            panic!("an artifact is an object")
        };
        self.store()
            .create_artifact(&id, &body)
            .unwrap_or_else(|e| panic!("seeding an artifact: {}", e.message))
    }

    /// Patches a version directly (by model and version name), as another client would.
    pub fn patch_version(&self, model: &str, version: &str, patch: Value) {
        let id = self.version(model, version)["id"]
            .as_str()
            .expect("string id")
            .to_owned();
        let Value::Object(patch) = patch else {
            panic!("a patch is an object")
        };
        self.store()
            .patch_version(&id, &patch)
            .unwrap_or_else(|e| panic!("patching version {version}: {}", e.message));
    }

    /// A registered model as the API would return it, by name.
    pub fn model(&self, name: &str) -> Option<Value> {
        let query = BTreeMap::from([("name".to_owned(), name.to_owned())]);
        self.store().find_model(&query).ok()
    }

    /// Another writer sets `key` to the string `value` on the version (by model and version name),
    /// `times` times, at `timing`.
    pub fn inject_writer(
        &self,
        model: &str,
        version: &str,
        key: &str,
        value: &str,
        timing: WriterTiming,
        times: u32,
    ) {
        let version_json = self.version(model, version);
        let id = version_json["id"].as_str().expect("string id").to_owned();
        lock(&self.shared.faults).writers.push(InjectedWriter {
            version_id: id,
            key: key.to_owned(),
            value: json!({"metadataType": "MetadataStringValue", "string_value": value}),
            timing,
            remaining: times,
        });
    }

    fn store(&self) -> MutexGuard<'_, Store> {
        lock(&self.shared.store)
    }

    /// Keeps the server alive for as long as the fake.
    pub fn port(&self) -> u16 {
        self.server.port()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

fn plain(status: StatusCode, text: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("{text}\n"),
    )
        .into_response()
}

fn json_response(status: StatusCode, body: Value) -> Response {
    (status, axum::Json(body)).into_response()
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        json_response(
            self.status,
            // The real server's `code` is the status text; a 422 says "Bad Request".
            json!({"code": error_code(self.status), "message": self.message}),
        )
    }
}

fn error_code(status: StatusCode) -> &'static str {
    if status == StatusCode::UNPROCESSABLE_ENTITY {
        return "Bad Request";
    }
    status.canonical_reason().unwrap_or("Error")
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let target = uri
        .path_and_query()
        .map_or(uri.path().to_owned(), |pq| pq.as_str().to_owned());
    lock(&shared.requests).push(format!("{method} {target}"));

    let expected = format!("Bearer {}", shared.options.token);
    let authorized = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == expected);
    if !authorized {
        return plain(StatusCode::UNAUTHORIZED, "Unauthorized");
    }
    {
        let mut faults = lock(&shared.faults);
        if faults.forbidden {
            return plain(
                StatusCode::FORBIDDEN,
                "Forbidden (user=system:serviceaccount:pipelines:pipeline, verb=get, resource=services, subresource=)",
            );
        }
        if faults.read_only && method != Method::GET {
            return plain(
                StatusCode::FORBIDDEN,
                "Forbidden (user=system:serviceaccount:pipelines:pipeline, verb=create, resource=services, subresource=)",
            );
        }
        let path = uri.path().to_owned();
        if let Some(refusal) = faults.refusals.iter_mut().find(|(m, part, _, left)| {
            *left > 0 && m.as_str() == method.as_str() && path.contains(part.as_str())
        }) {
            refusal.3 -= 1;
            let status =
                StatusCode::from_u16(refusal.2).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            return ApiError::new(status, "injected failure").into_response();
        }
        if faults.unavailable > 0 {
            faults.unavailable -= 1;
            return ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "the model registry database is not reachable",
            )
            .into_response();
        }
    }

    let Some(rest) = uri.path().strip_prefix("/api/model_registry/") else {
        return plain(StatusCode::NOT_FOUND, "404 page not found");
    };
    let (api_version, route) = rest.split_once('/').unwrap_or((rest, ""));
    if !shared.options.api_versions.contains(&api_version) {
        return plain(StatusCode::NOT_FOUND, "404 page not found");
    }
    let query: BTreeMap<String, String> = Query::try_from_uri(&uri)
        .map(|Query(q)| q)
        .unwrap_or_default();
    let segments: Vec<&str> = route.split('/').collect();

    match route_request(&shared, &method, &segments, &query, &body) {
        Ok((status, value)) => json_response(status, value),
        Err(error) if error.status == StatusCode::METHOD_NOT_ALLOWED => {
            plain(StatusCode::METHOD_NOT_ALLOWED, "405 method not allowed")
        }
        Err(error) if error.status == StatusCode::NOT_FOUND && error.message.is_empty() => {
            plain(StatusCode::NOT_FOUND, "404 page not found")
        }
        Err(error) => error.into_response(),
    }
}

type Routed = Result<(StatusCode, Value), ApiError>;

fn created(value: Value) -> Routed {
    Ok((StatusCode::CREATED, value))
}

fn route_request(
    shared: &Shared,
    method: &Method,
    segments: &[&str],
    query: &BTreeMap<String, String>,
    body: &[u8],
) -> Routed {
    let page_size = store::page_size(query, shared.options.default_page_size)?;
    let token = query.get("nextPageToken").map(String::as_str);
    let ok = |value: Value| Ok((StatusCode::OK, value));
    match (method.as_str(), segments) {
        ("GET", ["registered_model"]) => {
            let found = lock(&shared.store).find_model(query)?;
            ok(found)
        }
        ("GET", ["registered_models"]) => ok(lock(&shared.store).list_models(page_size, token)?),
        ("POST", ["registered_models"]) => {
            created(lock(&shared.store).create_model(&parse_body(body)?)?)
        }
        ("POST", ["model_versions"]) => {
            created(lock(&shared.store).create_version(None, &parse_body(body)?)?)
        }
        ("POST", ["registered_models", id, "versions"]) => {
            created(lock(&shared.store).create_version(Some(id), &parse_body(body)?)?)
        }
        ("GET", ["registered_models", id]) => ok(lock(&shared.store).model(id)?),
        ("PATCH", ["registered_models", id]) => {
            ok(lock(&shared.store).patch_model(id, &parse_body(body)?)?)
        }
        ("GET", ["registered_models", id, "versions"]) => {
            let list = lock(&shared.store).list_versions(Some(id), query, page_size, token)?;
            if let Some(items) = list["items"].as_array() {
                for item in items {
                    after_read(shared, item["id"].as_str().unwrap_or_default());
                }
            }
            ok(list)
        }
        ("GET", ["model_version"]) => {
            let found = lock(&shared.store).find_version(query)?;
            after_read(shared, found["id"].as_str().unwrap_or_default());
            ok(found)
        }
        ("GET", ["model_versions"]) => {
            ok(lock(&shared.store).list_versions(None, query, page_size, token)?)
        }
        ("GET", ["model_versions", id]) => {
            let found = lock(&shared.store).version(id)?;
            after_read(shared, id);
            ok(found)
        }
        ("PATCH", ["model_versions", id]) => {
            let patch = parse_body(body)?;
            let meanwhile = take_writers(shared, id, WriterTiming::DuringFailedPatch);
            if !meanwhile.is_empty() {
                for (key, value) in meanwhile {
                    lock(&shared.store).set_property(id, &key, value);
                }
                return Err(ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "error updating property: Error 1213 (40001): Deadlock found when trying to get \
                     lock; try restarting transaction",
                ));
            }
            let before = lock(&shared.store).version(id)?;
            let patched = lock(&shared.store).patch_version(id, &patch)?;
            stale_patch(shared, id, &before);
            ok(patched)
        }
        ("GET", ["model_versions", id, "artifacts"]) => {
            ok(lock(&shared.store).list_artifacts(id, query, page_size, token)?)
        }
        ("POST", ["model_versions", id, "artifacts"]) => {
            created(lock(&shared.store).create_artifact(id, &parse_body(body)?)?)
        }
        ("GET", ["model_artifacts", id]) => ok(lock(&shared.store).model_artifact(id)?),
        ("PATCH", ["model_artifacts", id]) => {
            ok(lock(&shared.store).patch_model_artifact(id, &parse_body(body)?)?)
        }
        (
            _,
            ["model_versions", _, "artifacts"] | ["model_artifacts", _] | ["model_versions", _],
        ) if method == Method::DELETE => Err(ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "")),
        (
            _,
            ["registered_model"]
            | ["registered_models"]
            | ["registered_models", _]
            | ["registered_models", _, "versions"]
            | ["model_version"]
            | ["model_versions"]
            | ["model_versions", _]
            | ["model_versions", _, "artifacts"]
            | ["model_artifacts", _],
        ) => Err(ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "")),
        _ => Err(ApiError::new(StatusCode::NOT_FOUND, "")),
    }
}

fn parse_body(body: &[u8]) -> Result<serde_json::Map<String, Value>, ApiError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(ApiError::bad_request(
            "json: cannot unmarshal non-object into Go value",
        )),
        Err(e) => Err(ApiError::bad_request(format!("invalid JSON body: {e}"))),
    }
}

/// Injected writers that act right after this client read `version_id`.
fn after_read(shared: &Shared, version_id: &str) {
    for (key, value) in take_writers(shared, version_id, WriterTiming::AfterRead) {
        lock(&shared.store).set_property(version_id, &key, value);
    }
}

/// Injected writers whose stale whole-map PATCH (what they read before, plus their key) lands now.
fn stale_patch(shared: &Shared, version_id: &str, before: &Value) {
    for (key, value) in take_writers(shared, version_id, WriterTiming::StalePatchAfterPatch) {
        let mut properties = before["customProperties"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        properties.insert(key, value);
        let mut patch = serde_json::Map::new();
        patch.insert("customProperties".into(), Value::Object(properties));
        let _ = lock(&shared.store).patch_version(version_id, &patch);
    }
}

fn take_writers(shared: &Shared, version_id: &str, timing: WriterTiming) -> Vec<(String, Value)> {
    let mut faults = lock(&shared.faults);
    let mut acting = Vec::new();
    for writer in faults
        .writers
        .iter_mut()
        .filter(|w| w.version_id == version_id && w.timing == timing && w.remaining > 0)
    {
        writer.remaining -= 1;
        acting.push((writer.key.clone(), writer.value.clone()));
    }
    acting
}
