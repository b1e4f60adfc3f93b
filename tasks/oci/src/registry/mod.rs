//! A registry as a source and a sink (the distribution API, async on reqwest + rustls).
//!
//! Every request first goes out with whatever authorization is cached for its host and scope. On
//! `401` the `WWW-Authenticate` challenge says how to authenticate (Basic, or a Bearer token from
//! a token endpoint, fetched with the user's credentials or anonymously); the token is cached per
//! scope and the request is sent again once. A token that expires later (a `401` in the middle of
//! a push) is replaced the same way.
//!
//! Credentials go to the registry's own origin (scheme, host, port) and to its token realm, never
//! elsewhere: an upload location or a download redirect on another host (object storage, a CDN)
//! is sent to without them.

mod body;
mod challenge;
mod error;
mod pull;
mod push;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use common::http::{HttpClient, same_origin};
use common::{HttpError, HttpOptions, RetryPolicy};
use reqwest::header::{AUTHORIZATION, HeaderValue, WWW_AUTHENTICATE};
use reqwest::{RequestBuilder, Response, StatusCode, Url};

use crate::auth::{Credential, Keychain};
use crate::reference::api_host;
use challenge::{Challenge, TokenResponse};

pub use error::{BlobChange, IncompleteTags, RegistryError};
pub use pull::{BlobStream, FetchedManifest};
pub use push::{PushOptions, PushReport};

/// Talks to any number of registries with one HTTP client, one keychain and one token cache.
/// Cloning is cheap and shares all of them: the layers of a pulled image keep a clone, so that
/// they can be read wherever the image goes.
#[derive(Clone)]
pub struct RegistryClient {
    shared: Arc<Shared>,
    retry: RetryPolicy,
}

/// What every clone of a client shares.
struct Shared {
    http: HttpClient,
    /// For blob uploads, see [`HttpOptions::upload_client`].
    upload_http: HttpClient,
    options: HttpOptions,
    /// How long an upload may go without a byte moving.
    idle_timeout: std::time::Duration,
    keychain: Keychain,
    challenges: Mutex<HashMap<String, Challenge>>,
    tokens: Mutex<HashMap<(String, String), HeaderValue>>,
    /// Serialises token fetches, so concurrent uploads that all meet a 401 fetch one token.
    authenticating: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for RegistryClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryClient")
            .field("keychain", &self.shared.keychain)
            .finish_non_exhaustive()
    }
}

/// A repository on a registry, with the access scopes requests to it need.
#[derive(Debug, Clone)]
pub(crate) struct Session {
    pub(crate) registry: String,
    pub(crate) repository: String,
    base: Url,
    scopes: Vec<String>,
    credential: Option<Credential>,
    pushing: bool,
}

impl RegistryClient {
    pub fn new(options: HttpOptions, keychain: Keychain) -> Result<Self, HttpError> {
        let http = options.client()?;
        let upload_http = options.upload_client()?;
        Ok(Self {
            shared: Arc::new(Shared {
                http,
                upload_http,
                idle_timeout: options.idle_timeout,
                options,
                keychain,
                challenges: Mutex::new(HashMap::new()),
                tokens: Mutex::new(HashMap::new()),
                authenticating: tokio::sync::Mutex::new(()),
            }),
            retry: RetryPolicy::default(),
        })
    }

    /// Replaces the retry policy for each request and blob transfer (default: 5 attempts).
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    pub fn retry_policy(&self) -> &RetryPolicy {
        &self.retry
    }

    pub(crate) fn session(
        &self,
        registry: &str,
        repository: &str,
        pushing: bool,
        mount_from: &[String],
    ) -> Result<Session, RegistryError> {
        let host = api_host(registry);
        let base = Url::parse(&format!(
            "{}://{host}/",
            self.shared.options.scheme_for(host)
        ))
        .map_err(|e| RegistryError::Protocol {
            what: format!("addressing the registry {registry}"),
            message: e.to_string(),
        })?;
        let credential = self
            .shared
            .keychain
            .credential_for(registry, repository)
            .map_err(|source| RegistryError::Auth {
                registry: registry.to_owned(),
                repository: repository.to_owned(),
                source: Box::new(source),
            })?;
        let access = if pushing { "pull,push" } else { "pull" };
        let mut scopes = vec![format!("repository:{repository}:{access}")];
        for from in mount_from {
            if from != repository {
                scopes.push(format!("repository:{from}:pull"));
            }
        }
        scopes.sort();
        scopes.dedup();
        Ok(Session {
            registry: registry.to_owned(),
            repository: repository.to_owned(),
            base,
            scopes,
            credential,
            pushing,
        })
    }

    fn host_of(session: &Session) -> String {
        api_host(&session.registry).to_owned()
    }

    /// The cached authorization for requests of `session`, if any.
    fn authorization(&self, session: &Session) -> Option<HeaderValue> {
        let host = Self::host_of(session);
        let challenge = lock(&self.shared.challenges).get(&host).cloned()?;
        match challenge {
            Challenge::Basic => basic_header(session.credential.as_ref()?),
            Challenge::Bearer { .. } => lock(&self.shared.tokens)
                .get(&(host, session.scopes.join(" ")))
                .cloned(),
        }
    }

    /// Sends a request built by `build` with cached authorization; on 401 authenticates as the
    /// challenge says and sends it again. The response is returned whatever its status.
    pub(crate) async fn send(
        &self,
        session: &Session,
        action: &str,
        build: impl Fn(&HttpClient) -> Result<RequestBuilder, HttpError>,
    ) -> Result<Response, RegistryError> {
        let mut sent = self.authorization(session);
        let mut response = self
            .send_once(session, action, &build, sent.clone())
            .await?;
        // A token another request fetched meanwhile may itself expire before this one uses it,
        // so a few rounds (bounded); `reauthenticate` fetches only when this request's own
        // token was refused, and gives up when there is nothing better to send.
        for _ in 0..3 {
            if response.status() != StatusCode::UNAUTHORIZED {
                break;
            }
            let Some(fresh) = self
                .reauthenticate(session, &response, sent.clone())
                .await?
            else {
                break;
            };
            response = self
                .send_once(session, action, &build, Some(fresh.clone()))
                .await?;
            sent = Some(fresh);
        }
        Ok(response)
    }

    async fn send_once(
        &self,
        session: &Session,
        action: &str,
        build: &impl Fn(&HttpClient) -> Result<RequestBuilder, HttpError>,
        authorization: Option<HeaderValue>,
    ) -> Result<Response, RegistryError> {
        let (client, request) = build(&self.shared.http)
            .map_err(|e| self.http_error(session, e))?
            .build_split();
        let mut request = request.map_err(|e| RegistryError::Protocol {
            what: action.to_owned(),
            message: e.to_string(),
        })?;
        let url = request.url().clone();
        if let Some(value) = session.authorization_for(&url, authorization) {
            request.headers_mut().insert(AUTHORIZATION, value);
        }
        client
            .execute(request)
            .await
            .map_err(|e| self.http_error(session, HttpError::transport(action, &url, e)))
    }

    /// After a 401 (`response`) to a request sent with `sent`: the authorization to send instead,
    /// or `None` when there is nothing better to send (no credentials, or they were just refused).
    pub(crate) async fn reauthenticate(
        &self,
        session: &Session,
        response: &Response,
        sent: Option<HeaderValue>,
    ) -> Result<Option<HeaderValue>, RegistryError> {
        let header = response
            .headers()
            .get(WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let Some(challenge) = Challenge::parse(&header) else {
            if header.is_empty() {
                return Ok(None);
            }
            return Err(RegistryError::UnsupportedChallenge {
                registry: session.registry.clone(),
                repository: session.repository.clone(),
                challenge: header.split(' ').next().unwrap_or_default().to_owned(),
            });
        };
        let _guard = self.shared.authenticating.lock().await;
        // Another request may have fetched a fresh token while this one waited.
        let current = self.authorization(session);
        if current.is_some() && current != sent {
            return Ok(current);
        }
        let host = Self::host_of(session);
        lock(&self.shared.challenges).insert(host.clone(), challenge.clone());
        match challenge {
            Challenge::Basic => {
                let header = session.credential.as_ref().and_then(basic_header);
                Ok(header.filter(|h| Some(h) != sent.as_ref()))
            }
            Challenge::Bearer { realm, service } => {
                let token = self
                    .fetch_token(session, &realm, service.as_deref())
                    .await?;
                lock(&self.shared.tokens).insert((host, session.scopes.join(" ")), token.clone());
                Ok(Some(token))
            }
        }
    }

    /// Gets a token for the session's scopes from the realm: with an identity token by OAuth2
    /// refresh, otherwise GET with Basic credentials when there are any, anonymously if not.
    async fn fetch_token(
        &self,
        session: &Session,
        realm: &str,
        service: Option<&str>,
    ) -> Result<HeaderValue, RegistryError> {
        let mut url = Url::parse(realm).map_err(|e| RegistryError::Protocol {
            what: format!("authenticating to {}", session.registry),
            message: format!("the token realm {realm:?} is not a URL: {e}"),
        })?;
        let action = format!("getting a token for {}", session.scopes.join(" "));
        let credential = session.credential.clone();
        let request = match &credential {
            Some(Credential::IdentityToken(refresh)) => {
                let mut form = url::form_urlencoded::Serializer::new(String::new());
                form.append_pair("grant_type", "refresh_token")
                    .append_pair("refresh_token", refresh.expose())
                    .append_pair("client_id", "modelcar-gitops")
                    .append_pair("scope", &session.scopes.join(" "));
                if let Some(service) = service {
                    form.append_pair("service", service);
                }
                self.shared
                    .http
                    .post(url.clone())
                    .map_err(|e| self.http_error(session, e))?
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(form.finish())
            }
            other => {
                {
                    let mut query = url.query_pairs_mut();
                    if let Some(service) = service {
                        query.append_pair("service", service);
                    }
                    for scope in &session.scopes {
                        query.append_pair("scope", scope);
                    }
                }
                let request = self
                    .shared
                    .http
                    .get(url.clone())
                    .map_err(|e| self.http_error(session, e))?;
                match other {
                    Some(Credential::Basic { username, password }) => {
                        request.basic_auth(username, Some(password.expose()))
                    }
                    _ => request,
                }
            }
        };
        let response = request
            .send()
            .await
            .map_err(|e| self.http_error(session, HttpError::transport(&action, &url, e)))?;
        let response = common::http::check(&action, response)
            .await
            .map_err(|e| self.http_error(session, e))?;
        let parsed: TokenResponse = response.json().await.map_err(|e| RegistryError::Protocol {
            what: action.clone(),
            message: format!("the token endpoint's answer is not the expected JSON: {e}"),
        })?;
        let token = parsed.into_token().ok_or_else(|| RegistryError::Protocol {
            what: action.clone(),
            message: "the token endpoint answered without a token".to_owned(),
        })?;
        HeaderValue::from_str(&format!("Bearer {token}"))
            .map(|mut value| {
                value.set_sensitive(true);
                value
            })
            .map_err(|_| RegistryError::Protocol {
                what: action,
                message: "the token endpoint answered with a token that is not a header value"
                    .to_owned(),
            })
    }

    pub(crate) fn http_error(&self, session: &Session, source: HttpError) -> RegistryError {
        hinted(session, source)
    }

    /// Turns a non-2xx response into an error with a hint; passes a 2xx one through.
    pub(crate) async fn check(
        &self,
        session: &Session,
        action: &str,
        response: Response,
    ) -> Result<Response, RegistryError> {
        common::http::check(action, response)
            .await
            .map_err(|e| self.http_error(session, e))
    }
}

impl Session {
    /// `<base>/v2/<repository>/<path>`.
    pub(crate) fn url(&self, path: &str) -> Url {
        let mut url = self.base.clone();
        url.set_path(&format!("/v2/{}/{path}", self.repository));
        url
    }

    /// `authorization` if `url` is on the registry's own origin; nothing for any other host (an
    /// upload location or a download redirect into object storage).
    pub(crate) fn authorization_for(
        &self,
        url: &Url,
        authorization: Option<HeaderValue>,
    ) -> Option<HeaderValue> {
        authorization.filter(|_| same_origin(url, &self.base))
    }

    /// An upload location as the registry gave it (absolute, or relative to the base).
    pub(crate) fn resolve(&self, location: &str) -> Result<Url, RegistryError> {
        self.base
            .join(location)
            .map_err(|e| RegistryError::Protocol {
                what: format!("uploading to {}/{}", self.registry, self.repository),
                message: format!("the registry gave an invalid upload location: {e}"),
            })
    }
}

/// An HTTP error with a hint for what to try against this registry and repository.
pub(crate) fn hinted(session: &Session, source: HttpError) -> RegistryError {
    let hint = error::hint_for(
        &source,
        &session.registry,
        &session.repository,
        session.credential.is_some(),
        session.pushing,
    );
    RegistryError::Http {
        registry: session.registry.clone(),
        repository: session.repository.clone(),
        hint,
        source: Box::new(source),
    }
}

fn basic_header(credential: &Credential) -> Option<HeaderValue> {
    let Credential::Basic { username, password } = credential else {
        return None;
    };
    let encoded = base64::engine::general_purpose::STANDARD
        .encode(format!("{username}:{}", password.expose()));
    let mut value = HeaderValue::from_str(&format!("Basic {encoded}")).ok()?;
    value.set_sensitive(true);
    Some(value)
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}
