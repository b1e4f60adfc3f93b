//! Waiting until KServe serves a model version: the InferenceService is `Ready` and its predictor's
//! `storageUri` carries the version, read from the Kubernetes API with the pod's service-account token.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::http::{HttpClient, check, display_url};
use common::{HttpError, HttpOptions, Secret};
use serde_json::Value;
use url::Url;

pub const SERVICE_ACCOUNT_DIR: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

#[derive(Debug, thiserror::Error)]
pub enum KubeError {
    #[error(
        "no Kubernetes API address: KUBERNETES_SERVICE_HOST is not set (not running in a pod?); give the API's address"
    )]
    NoApi,
    #[error("invalid Kubernetes API address {url:?}: {reason}")]
    BadUrl { url: String, reason: String },
    #[error(transparent)]
    Http(#[from] HttpError),
    #[error(
        "reading InferenceService {namespace}/{name}: the Kubernetes API refused (403){}; the service \
         account needs `get` on inferenceservices.serving.kserve.io in namespace {namespace} (a Role and \
         RoleBinding)",
        server_words(message)
    )]
    Forbidden {
        namespace: String,
        name: String,
        /// The API server's own explanation (it names the user it took the token for).
        message: String,
    },
    #[error(
        "reading InferenceService {namespace}/{name}: the Kubernetes API did not accept the token (401{}): \
         it is missing, expired or not one of this cluster's; check the Kubernetes token (default: the \
         pod's service-account token)",
        server_words(message)
    )]
    Unauthorized {
        namespace: String,
        name: String,
        message: String,
    },
    #[error(
        "reading InferenceService {namespace}/{name}: {url} does not serve KServe's \
         serving.kserve.io/v1beta1 InferenceServices (404{}); is KServe installed in this cluster, and \
         is that address the cluster's API server?",
        server_words(message)
    )]
    NotServed {
        namespace: String,
        name: String,
        url: String,
        message: String,
    },
    #[error("reading InferenceService {namespace}/{name}: unexpected answer: {detail}")]
    Decode {
        namespace: String,
        name: String,
        detail: String,
    },
    #[error(
        "InferenceService {namespace}/{name} did not become ready with version {version} within {timeout:?} \
         (last seen: {last}); nothing was labelled. Check the rollout (`oc get isvc {name} -n {namespace}`) \
         or wait longer"
    )]
    Timeout {
        namespace: String,
        name: String,
        version: String,
        timeout: Duration,
        last: String,
    },
}

impl KubeError {
    /// Whether the fix is in how the command was called (no API address, or a bad one), not in the
    /// cluster.
    pub fn is_usage(&self) -> bool {
        match self {
            Self::NoApi | Self::BadUrl { .. } => true,
            Self::Http(e) => e.is_usage(),
            Self::Forbidden { .. }
            | Self::Unauthorized { .. }
            | Self::NotServed { .. }
            | Self::Decode { .. }
            | Self::Timeout { .. } => false,
        }
    }
}

impl common::UsageFault for KubeError {
    fn is_usage(&self) -> bool {
        KubeError::is_usage(self)
    }
}

/// A client for the one call needed: reading an InferenceService.
pub struct KubeClient {
    api: Url,
    token: Option<Secret>,
    http: HttpClient,
}

impl KubeClient {
    pub fn new(api: Url, token: Option<Secret>, http: HttpClient) -> Self {
        Self { api, token, http }
    }

    /// The API address: `explicit`, else `https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT`.
    pub fn api_url(explicit: Option<&str>) -> Result<Url, KubeError> {
        let text = match explicit {
            Some(url) => url.to_owned(),
            None => {
                let host =
                    std::env::var("KUBERNETES_SERVICE_HOST").map_err(|_| KubeError::NoApi)?;
                let port =
                    std::env::var("KUBERNETES_SERVICE_PORT").unwrap_or_else(|_| "443".into());
                let host = if host.contains(':') {
                    format!("[{host}]")
                } else {
                    host
                };
                format!("https://{host}:{port}")
            }
        };
        Url::parse(&text).map_err(|e| KubeError::BadUrl {
            url: text.clone(),
            reason: e.to_string(),
        })
    }

    /// HTTP options that also trust the cluster's CA, when the pod has one mounted.
    /// The token to call the API with: the file given, else the environment variable `env_name`,
    /// else the pod's service-account token when there is one, else none.
    pub fn token(
        file: Option<&Path>,
        env_name: &str,
    ) -> Result<Option<Secret>, common::secret::SecretError> {
        if let Some(token) = Secret::from_file_or_env(file, env_name)? {
            return Ok(Some(token));
        }
        let pod_token = Path::new(SERVICE_ACCOUNT_DIR).join("token");
        pod_token
            .is_file()
            .then(|| Secret::from_file(&pod_token))
            .transpose()
    }

    pub fn http_options(base: &HttpOptions, ca_file: Option<&Path>) -> HttpOptions {
        let mut options = base.clone();
        let default_ca = PathBuf::from(SERVICE_ACCOUNT_DIR).join("ca.crt");
        let ca = ca_file.map(Path::to_path_buf).unwrap_or(default_ca);
        if ca.is_file() {
            options.ca_certs.push(ca);
        }
        options
    }

    /// The InferenceService as JSON; `None` when it does not exist (yet).
    pub async fn inference_service(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Option<Value>, KubeError> {
        let root = self.api.as_str().trim_end_matches('/');
        let url = Url::parse(&format!(
            "{root}/apis/serving.kserve.io/v1beta1/namespaces/{namespace}/inferenceservices/{name}"
        ))
        .map_err(|e| KubeError::BadUrl {
            url: root.to_owned(),
            reason: e.to_string(),
        })?;
        let action = format!("reading InferenceService {namespace}/{name}");
        let mut request = self.http.get(url.clone())?;
        if let Some(token) = &self.token {
            request = request.bearer_auth(token.expose());
        }
        let response = request
            .send()
            .await
            .map_err(|e| HttpError::transport(&action, &url, e))?;
        match response.status().as_u16() {
            status @ (401 | 403 | 404) => {
                let body = response.text().await.unwrap_or_default();
                let refusal = Refusal::parse(&body);
                let (namespace, name) = (namespace.to_owned(), name.to_owned());
                let message = refusal.message;
                match status {
                    401 => Err(KubeError::Unauthorized {
                        namespace,
                        name,
                        message,
                    }),
                    403 => Err(KubeError::Forbidden {
                        namespace,
                        name,
                        message,
                    }),
                    // The object is missing: a `Status` whose reason is NotFound. A path the server
                    // does not route (no such API group or version) is a plain-text `404 page not
                    // found` instead.
                    _ if refusal.reason.as_deref() == Some("NotFound") => Ok(None),
                    _ => Err(KubeError::NotServed {
                        namespace,
                        name,
                        url: root.to_owned(),
                        message,
                    }),
                }
            }
            _ => {
                let response = check(&action, response).await?;
                response
                    .json()
                    .await
                    .map(Some)
                    .map_err(|e| KubeError::Decode {
                        namespace: namespace.into(),
                        name: name.into(),
                        detail: format!("{} from {}", e.without_url(), display_url(&url)),
                    })
            }
        }
    }
}

impl KubeClient {
    /// What the InferenceService says about itself now; `None` when it does not exist.
    pub async fn inference_service_state(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Option<IsvcState>, KubeError> {
        Ok(self
            .inference_service(namespace, name)
            .await?
            .map(|isvc| IsvcState::from_json(&isvc)))
    }
}

/// The parts of a refusal worth showing: a Kubernetes `Status` object's `message` and `reason`, or
/// the start of a body that is not one.
struct Refusal {
    message: String,
    reason: Option<String>,
}

impl Refusal {
    const LIMIT: usize = 300;

    fn parse(body: &str) -> Self {
        let status = serde_json::from_str::<Value>(body)
            .ok()
            .filter(|v| v["kind"] == "Status");
        match status {
            Some(status) => Self {
                message: status["message"].as_str().unwrap_or_default().to_owned(),
                reason: status["reason"].as_str().map(str::to_owned),
            },
            None => Self {
                message: body.trim().chars().take(Self::LIMIT).collect(),
                reason: None,
            },
        }
    }
}

/// `: MESSAGE` for a refusal's message in an error, nothing for an empty one.
fn server_words(message: &str) -> String {
    if message.is_empty() {
        String::new()
    } else {
        format!(": {message}")
    }
}

/// What to wait for.
#[derive(Debug, Clone)]
pub struct ReadyWait {
    pub namespace: String,
    pub name: String,
    /// Any of these, as a whole part of the predictor's `storageUri`, means it serves the version (the
    /// version name, and the image digest when known).
    pub expect: Vec<String>,
    pub timeout: Duration,
    pub poll: Duration,
}

/// What an InferenceService says about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IsvcState {
    pub ready: bool,
    pub storage_uri: Option<String>,
    pub reason: Option<String>,
}

impl IsvcState {
    pub fn from_json(isvc: &Value) -> Self {
        let conditions = isvc.pointer("/status/conditions").and_then(Value::as_array);
        let ready_condition = conditions.and_then(|c| c.iter().find(|c| c["type"] == "Ready"));
        let predictor = isvc.pointer("/spec/predictor");
        // `model` is the current form; older specs put the framework's name there (`sklearn`, `onnx`, …).
        let storage_uri = predictor
            .and_then(|p| p.pointer("/model/storageUri"))
            .or_else(|| {
                predictor
                    .and_then(Value::as_object)
                    .and_then(|p| p.values().find_map(|v| v.get("storageUri")))
            })
            .and_then(Value::as_str)
            .map(str::to_owned);
        Self {
            ready: ready_condition.is_some_and(|c| c["status"] == "True"),
            storage_uri,
            reason: ready_condition
                .and_then(|c| c.get("message").or_else(|| c.get("reason")))
                .and_then(Value::as_str)
                .map(str::to_owned),
        }
    }

    /// The image digest the predictor's `storageUri` names (`oci://repo@sha256:<hex>`), if any.
    pub fn digest(&self) -> Option<&str> {
        let (_, digest) = self.storage_uri.as_deref()?.rsplit_once('@')?;
        let hex = digest.strip_prefix("sha256:")?;
        (hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit())).then_some(digest)
    }

    /// `Ready=True, storageUri=…` and the Ready condition's message, for messages.
    pub fn describe(&self) -> String {
        format!(
            "Ready={}, storageUri={}{}",
            if self.ready { "True" } else { "False" },
            self.storage_uri.as_deref().unwrap_or("(none)"),
            self.reason
                .as_deref()
                .map(|r| format!(", {r}"))
                .unwrap_or_default()
        )
    }
}

/// Polls until the InferenceService is Ready and serves one of `wait.expect`, or `wait.timeout` passes.
pub async fn wait_ready(client: &KubeClient, wait: &ReadyWait) -> Result<IsvcState, KubeError> {
    let started = Instant::now();
    let mut last: String;
    loop {
        match client.inference_service(&wait.namespace, &wait.name).await {
            Ok(Some(isvc)) => {
                let state = IsvcState::from_json(&isvc);
                let serves = state
                    .storage_uri
                    .as_deref()
                    .is_some_and(|uri| wait.expect.iter().any(|e| contains_whole(uri, e)));
                if state.ready && serves {
                    tracing::info!(
                        "InferenceService {}/{} is ready: {}",
                        wait.namespace,
                        wait.name,
                        state.describe()
                    );
                    return Ok(state);
                }
                last = state.describe();
            }
            Ok(None) => last = "the InferenceService does not exist".into(),
            // A certificate the client does not trust stays untrusted however long it waits.
            Err(KubeError::Http(error)) if !is_certificate_error(&error) => {
                last = with_causes(&error)
            }
            Err(other) => return Err(other),
        }
        if started.elapsed() + wait.poll > wait.timeout {
            return Err(KubeError::Timeout {
                namespace: wait.namespace.clone(),
                name: wait.name.clone(),
                version: wait.expect.first().cloned().unwrap_or_default(),
                timeout: wait.timeout,
                last,
            });
        }
        tracing::info!(
            "waiting for InferenceService {}/{}: {last}",
            wait.namespace,
            wait.name
        );
        tokio::time::sleep(wait.poll).await;
    }
}

/// The error and its causes, as one line: the transport's own error ("error sending request") says
/// little without them.
fn with_causes(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(current) = cause {
        let words = current.to_string();
        if !text.contains(&words) {
            text.push_str(": ");
            text.push_str(&words);
        }
        cause = current.source();
    }
    text
}

/// Whether a TLS certificate was refused somewhere in `error`'s causes (an unknown issuer, a name
/// mismatch, an expired certificate). An I/O error's `source` skips the error it wraps (the TLS
/// error sits in an I/O error in another I/O error), so those are unwrapped too.
fn is_certificate_error(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(error);
    while let Some(current) = cause {
        let mut inner: &(dyn std::error::Error + 'static) = current;
        while let Some(wrapped) = inner
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            inner = wrapped;
        }
        if matches!(
            inner.downcast_ref::<rustls::Error>(),
            Some(rustls::Error::InvalidCertificate(_) | rustls::Error::NoCertificatesPresented)
        ) {
            return true;
        }
        cause = current.source();
    }
    false
}

/// Whether `needle` occurs in `haystack` as a whole part: not followed or preceded by a letter or
/// digit, so that version `1.1` is not found in `jukebox:1.10`.
fn contains_whole(haystack: &str, needle: &str) -> bool {
    !needle.is_empty()
        && haystack.match_indices(needle).any(|(start, _)| {
            let before = haystack[..start].chars().next_back();
            let after = haystack[start + needle.len()..].chars().next();
            !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric)
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn versions_match_as_whole_parts() {
        assert!(contains_whole(
            "oci://quay.io/rhoai/jukebox:a1b2c3",
            "a1b2c3"
        ));
        assert!(contains_whole("s3://bucket/jukebox/1.1/model", "1.1"));
        assert!(contains_whole("oci://r/j@sha256:abcd", "sha256:abcd"));
        assert!(!contains_whole("oci://r/jukebox:1.10", "1.1"));
        assert!(!contains_whole("oci://r/jukebox:xa1b2c3", "a1b2c3"));
        assert!(!contains_whole("oci://r/jukebox:v1", ""));
    }

    #[test]
    fn a_refused_certificate_is_found_in_nested_io_errors() {
        let tls = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        let nested =
            std::io::Error::other(std::io::Error::new(std::io::ErrorKind::InvalidData, tls));
        assert!(is_certificate_error(&nested));
        assert!(!is_certificate_error(&std::io::Error::other(
            "connection refused"
        )));
        let other_tls = std::io::Error::other(rustls::Error::DecryptError);
        assert!(!is_certificate_error(&other_tls));
    }

    #[test]
    fn reads_ready_and_storage_uri() {
        let isvc = json!({
            "spec": {"predictor": {"model": {"storageUri": "oci://r/ns/jukebox:abc"}}},
            "status": {"conditions": [
                {"type": "PredictorReady", "status": "True"},
                {"type": "Ready", "status": "True"}
            ]}
        });
        let state = IsvcState::from_json(&isvc);
        assert!(state.ready);
        assert_eq!(state.storage_uri.as_deref(), Some("oci://r/ns/jukebox:abc"));

        let old_style =
            json!({"spec": {"predictor": {"sklearn": {"storageUri": "s3://b/m"}}}, "status": {}});
        let state = IsvcState::from_json(&old_style);
        assert!(!state.ready);
        assert_eq!(state.storage_uri.as_deref(), Some("s3://b/m"));
        assert_eq!(state.digest(), None);

        let digest = format!("sha256:{}", "ab".repeat(32));
        let by_digest = json!({"spec": {"predictor": {"model": {
            "storageUri": format!("oci://r/ns/jukebox@{digest}")}}}});
        assert_eq!(
            IsvcState::from_json(&by_digest).digest(),
            Some(digest.as_str())
        );
        let short =
            json!({"spec": {"predictor": {"model": {"storageUri": "oci://r/j@sha256:ab"}}}});
        assert_eq!(IsvcState::from_json(&short).digest(), None);
    }
}
