//! The HTTP side shared by the three forges: URLs from path segments (each percent-encoded, so a
//! GitLab project path or a branch with slashes stays one segment), auth headers marked sensitive,
//! retries that know which requests may be repeated, pagination, and errors that name the
//! permission a refused token lacks.

use common::http::{HttpClient, HttpError, check};
use common::{RetryPolicy, Transient, Verdict, retry_async};
use reqwest::header::HeaderMap;
use reqwest::{Method, Url};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::ForgeError;
use crate::model::ForgeKind;

/// Whether a request may be sent again after a failure whose outcome is unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Safety {
    /// GET, PUT, PATCH to a fixed state, DELETE: repeating cannot do harm.
    Idempotent,
    /// POST that creates something: repeated only when the request surely was not processed
    /// (no connection, 429, 503). Callers that need more look the result up before retrying.
    NotIdempotent,
    /// Never repeated here: the caller looks the outcome up before trying again.
    Once,
}

pub(crate) struct Api {
    pub kind: ForgeKind,
    client: HttpClient,
    base: Url,
    headers: HeaderMap,
    retry: RetryPolicy,
}

struct Attempt {
    error: HttpError,
    safety: Safety,
}

impl std::fmt::Display for Attempt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.error.fmt(f)
    }
}

impl Transient for Attempt {
    fn verdict(&self) -> Verdict {
        let verdict = self.error.verdict();
        match self.safety {
            Safety::Idempotent => return verdict,
            Safety::Once => return Verdict::Permanent,
            Safety::NotIdempotent => {}
        }
        let surely_unprocessed = match &self.error {
            HttpError::Transport { source, .. } => source.is_connect(),
            HttpError::Status { status, .. } => matches!(status, 429 | 503),
            _ => false,
        };
        if surely_unprocessed {
            verdict
        } else {
            Verdict::Permanent
        }
    }
}

impl Api {
    pub fn new(
        kind: ForgeKind,
        client: HttpClient,
        base: Url,
        headers: HeaderMap,
        retry: RetryPolicy,
    ) -> Self {
        Self {
            kind,
            client,
            base,
            headers,
            retry,
        }
    }

    /// The API's base URL.
    pub fn base(&self) -> &Url {
        &self.base
    }

    /// The base URL, for messages.
    pub fn base_display(&self) -> String {
        common::http::display_url(&self.base)
    }

    /// `base/seg1/seg2/...`, each segment percent-encoded (a `/` inside one becomes `%2F`).
    pub fn url(&self, segments: &[&str]) -> Url {
        join(&self.base, segments)
    }

    /// Sends one request with retries, and turns a non-2xx answer into a [`ForgeError`].
    pub async fn send(
        &self,
        method: Method,
        url: &Url,
        body: Option<&Value>,
        action: &str,
        safety: Safety,
    ) -> Result<reqwest::Response, ForgeError> {
        // The forge's URLs are built from its base, so the token goes only to the forge's origin
        // (and the client follows no redirect away from it).
        let (client, method) = (&self.client, &method);
        let outcome = retry_async(&self.retry, action, |_| async move {
            let mut request = client
                .request(method.clone(), url.clone())
                .map_err(|error| Attempt {
                    error,
                    safety: Safety::Once,
                })?
                .headers(self.headers.clone());
            if let Some(body) = body {
                request = request.json(body);
            }
            {
                let response = request.send().await.map_err(|e| Attempt {
                    error: HttpError::transport(action, url, e),
                    safety,
                })?;
                check(action, response)
                    .await
                    .map_err(|error| Attempt { error, safety })
            }
        })
        .await;
        outcome.map_err(|attempt| self.classify(action, attempt.error))
    }

    fn classify(&self, action: &str, error: HttpError) -> ForgeError {
        match &error {
            HttpError::Status { status: 401, .. } => ForgeError::Unauthorized {
                forge: self.kind,
                action: action.to_owned(),
                status: 401,
                needs: self.kind.permissions_needed(),
            },
            HttpError::Status {
                status: 403,
                message,
                ..
            } => ForgeError::Forbidden {
                forge: self.kind,
                action: action.to_owned(),
                status: 403,
                message: server_text(message),
                needs: self.kind.permissions_needed(),
            },
            _ => ForgeError::Http(error),
        }
    }

    /// Sends a request and decodes its JSON answer.
    pub async fn json<T: DeserializeOwned>(
        &self,
        method: Method,
        url: &Url,
        body: Option<&Value>,
        action: &str,
        safety: Safety,
    ) -> Result<T, ForgeError> {
        let response = self.send(method, url, body, action, safety).await?;
        let bytes = response
            .bytes()
            .await
            .map_err(|e| ForgeError::Http(HttpError::transport(action, url, e)))?;
        serde_json::from_slice(&bytes).map_err(|e| ForgeError::Decode {
            forge: self.kind,
            action: action.to_owned(),
            url: common::http::display_url(url),
            message: e.to_string(),
        })
    }

    pub async fn get<T: DeserializeOwned>(&self, url: &Url, action: &str) -> Result<T, ForgeError> {
        self.json(Method::GET, url, None, action, Safety::Idempotent)
            .await
    }

    /// A GET whose 404 means "there is none".
    pub async fn get_optional<T: DeserializeOwned>(
        &self,
        url: &Url,
        action: &str,
    ) -> Result<Option<T>, ForgeError> {
        match self.get(url, action).await {
            Ok(value) => Ok(Some(value)),
            Err(e) if e.status() == Some(404) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Whether a resource exists (2xx) or not (404), for endpoints that answer 204 without a body.
    pub async fn exists(&self, url: &Url, action: &str) -> Result<bool, ForgeError> {
        match self
            .send(Method::GET, url, None, action, Safety::Idempotent)
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if e.status() == Some(404) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Every item of a paginated list: `page=1,2,...` with `size_param` items a page, until a short page.
    pub async fn get_all<T: DeserializeOwned>(
        &self,
        url: &Url,
        size_param: &str,
        page_size: usize,
        action: &str,
    ) -> Result<Vec<T>, ForgeError> {
        const MAX_PAGES: usize = 100;
        let mut items = Vec::new();
        for page in 1..=MAX_PAGES {
            let mut page_url = url.clone();
            page_url
                .query_pairs_mut()
                .append_pair("page", &page.to_string())
                .append_pair(size_param, &page_size.to_string());
            let batch: Vec<T> = self.get(&page_url, action).await?;
            let done = batch.len() < page_size;
            items.extend(batch);
            if done {
                break;
            }
        }
        Ok(items)
    }
}

fn join(base: &Url, segments: &[&str]) -> Url {
    let mut url = base.clone();
    url.path_segments_mut()
        .expect("forge API URLs are http(s) URLs")
        .pop_if_empty()
        .extend(segments);
    url
}

/// The readable part of a forge's error body: Gitea and GitHub `{"message": ...}` (GitHub adds
/// `errors[].message`), GitLab `{"message": "..." | [...] | {field: [...]}}` or OAuth's
/// `{"error_description": ...}`. Anything else is returned as it came.
pub(crate) fn server_text(body: &str) -> String {
    let Ok(value) = serde_json::from_str::<Value>(body) else {
        return body.trim().to_owned();
    };
    let mut parts = Vec::new();
    collect_text(value.get("message"), &mut parts);
    if let Some(errors) = value.get("errors").and_then(Value::as_array) {
        for error in errors {
            match error {
                Value::Object(_) => {
                    if let Some(m) = error.get("message").and_then(Value::as_str) {
                        parts.push(m.to_owned());
                    } else if let (Some(field), Some(code)) = (
                        error.get("field").and_then(Value::as_str),
                        error.get("code").and_then(Value::as_str),
                    ) {
                        parts.push(format!("{field} {code}"));
                    }
                }
                other => collect_text(Some(other), &mut parts),
            }
        }
    }
    collect_text(value.get("error_description"), &mut parts);
    if parts.is_empty() {
        collect_text(value.get("error"), &mut parts);
    }
    if parts.is_empty() {
        body.trim().to_owned()
    } else {
        parts.join("; ")
    }
}

fn collect_text(value: Option<&Value>, parts: &mut Vec<String>) {
    match value {
        Some(Value::String(s)) if !s.is_empty() => parts.push(s.clone()),
        Some(Value::Array(items)) => items.iter().for_each(|i| collect_text(Some(i), parts)),
        Some(Value::Object(fields)) => {
            for (field, v) in fields {
                let mut inner = Vec::new();
                collect_text(Some(v), &mut inner);
                if !inner.is_empty() {
                    parts.push(format!("{field} {}", inner.join(", ")));
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::{join, server_text};

    #[test]
    fn each_segment_is_encoded() {
        let base = reqwest::Url::parse("https://gl.example/api/v4").unwrap();
        assert_eq!(
            join(
                &base,
                &["projects", "group/sub/project", "labels", "needs review"]
            )
            .as_str(),
            "https://gl.example/api/v4/projects/group%2Fsub%2Fproject/labels/needs%20review"
        );
        let base = reqwest::Url::parse("https://ghe.example/api/v3/").unwrap();
        assert_eq!(
            join(&base, &["repos", "o", "r"]).as_str(),
            "https://ghe.example/api/v3/repos/o/r"
        );
    }

    #[test]
    fn server_messages_of_each_forge() {
        assert_eq!(
            server_text(
                r#"{"message":"Validation Failed","errors":[{"resource":"PullRequest","code":"custom","message":"A pull request already exists for o:b."}]}"#
            ),
            "Validation Failed; A pull request already exists for o:b."
        );
        assert_eq!(
            server_text(
                r#"{"message":["Another open merge request already exists for this source branch: !3"]}"#
            ),
            "Another open merge request already exists for this source branch: !3"
        );
        assert_eq!(
            server_text(r#"{"message":{"target_branch":["is invalid"]}}"#),
            "target_branch is invalid"
        );
        assert_eq!(
            server_text(r#"{"error":"insufficient_scope","error_description":"needs api"}"#),
            "needs api"
        );
        assert_eq!(server_text("plain"), "plain");
    }
}
