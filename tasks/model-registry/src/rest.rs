//! The REST steps both backends take the same way: an endpoint under the registry's base URL, one
//! request with the bearer token, and a JSON answer decoded with the URL in its error.

use common::Secret;
use common::http::{HttpClient, check, display_url};
use serde::de::DeserializeOwned;
use serde_json::Value;
use url::Url;

use crate::{Input, RegistryError};

/// `base`/`path` with `query`; `what` names the base in the error (e.g. "MLflow URL").
pub(crate) fn endpoint(
    what: &'static str,
    base: &str,
    path: &str,
    query: &[(&str, &str)],
) -> Result<Url, RegistryError> {
    let mut url =
        Url::parse(&format!("{base}/{path}")).map_err(|e| RegistryError::InvalidInput {
            what,
            value: base.to_owned(),
            reason: e.to_string(),
            input: Input::Url,
        })?;
    if !query.is_empty() {
        url.query_pairs_mut().extend_pairs(query);
    }
    Ok(url)
}

/// Sends one request, with the token when there is one. The token goes only to the registry's own
/// origin: every URL is built from its base, and the client follows no redirect away from it.
pub(crate) async fn send(
    http: &HttpClient,
    token: Option<&Secret>,
    action: &str,
    method: reqwest::Method,
    url: &Url,
    body: Option<&Value>,
) -> Result<reqwest::Response, RegistryError> {
    let mut request = http.request(method, url.clone())?;
    if let Some(token) = token {
        request = request.bearer_auth(token.expose());
    }
    if let Some(body) = body {
        request = request.json(body);
    }
    Ok(request
        .send()
        .await
        .map_err(|e| common::HttpError::transport(action, url, e))?)
}

/// The answer's JSON, after the status check (an error status says the server's own words).
pub(crate) async fn json_answer<T: DeserializeOwned>(
    action: &str,
    url: &Url,
    response: reqwest::Response,
) -> Result<T, RegistryError> {
    let response = check(action, response).await?;
    let text = response
        .text()
        .await
        .map_err(|e| common::HttpError::transport(action, url, e))?;
    serde_json::from_str(&text).map_err(|e| RegistryError::Decode {
        action: action.to_owned(),
        url: display_url(url),
        detail: e.to_string(),
    })
}
