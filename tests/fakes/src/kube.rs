//! A fake Kubernetes API server that serves one KServe InferenceService
//! (`GET /apis/serving.kserve.io/v1beta1/namespaces/{ns}/inferenceservices/{name}`), whose status turns
//! `Ready` after a number of requests or a delay. As kube-apiserver answers (checked against a real one
//! in tests/e2e/tests/kube_api.rs): a missing object is a `Status` with reason `NotFound`, a token it
//! does not accept a `Status` 401 `Unauthorized`, and a path it does not serve (KServe not installed)
//! a plain-text `404 page not found`.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::kubeflow::server::Server;

/// When the InferenceService reports `Ready=True`.
#[derive(Debug, Clone, Copy)]
pub enum ReadyAfter {
    /// From the n-th GET of the InferenceService on (1 = at once).
    Requests(u32),
    /// Once this much time has passed since the fake started.
    Delay(Duration),
    Never,
}

struct Isvc {
    namespace: String,
    name: String,
    storage_uri: String,
    ready_after: ReadyAfter,
    gets: u32,
}

struct Shared {
    token: String,
    kserve_served: std::sync::atomic::AtomicBool,
    started: Instant,
    isvc: Mutex<Isvc>,
    requests: Mutex<Vec<String>>,
}

/// A running fake Kubernetes API. Dropping it stops the server.
pub struct FakeKube {
    shared: Arc<Shared>,
    server: Server,
}

impl FakeKube {
    /// Serves the InferenceService `namespace/name` predicting from `storage_uri`.
    pub fn start(namespace: &str, name: &str, storage_uri: &str, ready_after: ReadyAfter) -> Self {
        let shared = Arc::new(Shared {
            token: "kube-test-token".into(),
            kserve_served: true.into(),
            started: Instant::now(),
            isvc: Mutex::new(Isvc {
                namespace: namespace.into(),
                name: name.into(),
                storage_uri: storage_uri.into(),
                ready_after,
                gets: 0,
            }),
            requests: Mutex::new(Vec::new()),
        });
        let router = axum::Router::new()
            .fallback(handle)
            .with_state(shared.clone());
        let server = Server::start("fake Kubernetes API", router);
        Self { shared, server }
    }

    pub fn url(&self) -> String {
        self.server.url()
    }

    /// The service-account token the fake accepts.
    pub fn token(&self) -> &str {
        &self.shared.token
    }

    /// Rolls the InferenceService to another model (as Argo CD would).
    pub fn set_storage_uri(&self, storage_uri: &str) {
        lock(&self.shared.isvc).storage_uri = storage_uri.into();
    }

    /// Whether KServe's API is served; without it, as in a cluster without KServe, its paths answer a
    /// plain-text `404 page not found`.
    pub fn set_kserve_served(&self, served: bool) {
        self.shared
            .kserve_served
            .store(served, std::sync::atomic::Ordering::SeqCst);
    }

    /// How many GETs of the InferenceService so far.
    pub fn gets(&self) -> u32 {
        lock(&self.shared.isvc).gets
    }

    pub fn requests(&self) -> Vec<String> {
        lock(&self.shared.requests).clone()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

fn status(code: StatusCode, reason: &str, message: String, details: Value) -> Response {
    (
        code,
        axum::Json(json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": message,
            "reason": reason,
            "details": details,
            "code": code.as_u16(),
        })),
    )
        .into_response()
}

/// kube-apiserver's answer to a path no API group serves.
fn page_not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        "404 page not found\n",
    )
        .into_response()
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    lock(&shared.requests).push(format!("{method} {}", uri.path()));
    let expected = format!("Bearer {}", shared.token);
    if headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        != Some(expected.as_str())
    {
        return status(
            StatusCode::UNAUTHORIZED,
            "Unauthorized",
            "Unauthorized".into(),
            json!({}),
        );
    }
    let segments: Vec<&str> = uri.path().trim_start_matches('/').split('/').collect();
    let [
        "apis",
        "serving.kserve.io",
        "v1beta1",
        "namespaces",
        namespace,
        "inferenceservices",
        name,
    ] = segments[..]
    else {
        return page_not_found();
    };
    if !shared
        .kserve_served
        .load(std::sync::atomic::Ordering::SeqCst)
    {
        return page_not_found();
    }
    if method != Method::GET {
        return status(
            StatusCode::METHOD_NOT_ALLOWED,
            "MethodNotAllowed",
            format!("the server does not allow this method on the requested resource ({method})"),
            json!({}),
        );
    }
    let mut isvc = lock(&shared.isvc);
    if isvc.namespace != namespace || isvc.name != name {
        return status(
            StatusCode::NOT_FOUND,
            "NotFound",
            format!("inferenceservices.serving.kserve.io \"{name}\" not found"),
            json!({"name": name, "group": "serving.kserve.io", "kind": "inferenceservices"}),
        );
    }
    isvc.gets += 1;
    let ready = match isvc.ready_after {
        ReadyAfter::Requests(n) => isvc.gets >= n,
        ReadyAfter::Delay(delay) => shared.started.elapsed() >= delay,
        ReadyAfter::Never => false,
    };
    let ready_status = if ready { "True" } else { "False" };
    let time = "2026-01-12T10:20:00Z";
    let mut conditions = vec![
        json!({"type": "IngressReady", "status": ready_status, "lastTransitionTime": time}),
        json!({"type": "PredictorReady", "status": ready_status, "lastTransitionTime": time}),
        json!({"type": "Ready", "status": ready_status, "lastTransitionTime": time}),
    ];
    if !ready {
        conditions[2]["reason"] = json!("RevisionMissing");
        conditions[2]["message"] = json!("Revision \"jukebox-predictor-00002\" is not ready.");
    }
    let body = json!({
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": {
            "name": isvc.name,
            "namespace": isvc.namespace,
            "generation": 2,
            "annotations": {"serving.kserve.io/deploymentMode": "Serverless"},
        },
        "spec": {
            "predictor": {
                "model": {
                    "modelFormat": {"name": "onnx", "version": "1"},
                    "runtime": "jukebox",
                    "storageUri": isvc.storage_uri,
                },
            },
        },
        "status": {
            "observedGeneration": 2,
            "url": format!("https://{}-{}.apps.cluster.example.com", isvc.name, isvc.namespace),
            "conditions": conditions,
            "modelStatus": {"states": {"activeModelState": if ready { "Loaded" } else { "Pending" }}},
        },
    });
    (StatusCode::OK, axum::Json(body)).into_response()
}
