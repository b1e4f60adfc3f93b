//! Git's smart HTTP protocol for libgit2, spoken by reqwest on rustls.
//!
//! libgit2 is built without its own HTTPS support (that would bring OpenSSL into the HTTP path), so
//! `http://` and `https://` URLs are served by this subtransport: `GET info/refs?service=…` for the
//! ref advertisement, one `POST git-upload-pack` / `git-receive-pack` per request. It uses the one TLS
//! configuration every tool shares (`common::HttpOptions`: system and user CAs, explicit opt-outs),
//! sends credentials as an `Authorization: Basic` header to the remote's own origin only, and turns a
//! 401 into an immediate "authentication failed" instead of a credential-callback loop.
//!
//! libgit2 knows transports by URL scheme, process-wide. Which client and credentials to use is
//! per operation, so every network call runs inside [`HttpContext::enter`], which makes the context
//! current for this thread; libgit2 builds transports on the calling thread.

use std::cell::RefCell;
use std::io::{self, Read, Write};
use std::sync::{Arc, Mutex, OnceLock};

use base64::Engine;
use common::HttpOptions;
use common::http::BlockingHttpClient;
use common::retry::{Verdict, reqwest_verdict};
use git2::transport::{Service, SmartSubtransport, SmartSubtransportStream, Transport};
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderValue, USER_AGENT};
use url::Url;

use crate::remote::GitAuth;
use crate::{GitopsError, Input};

/// Sent as `User-Agent`: some forges only speak the smart protocol to clients that look like git.
const GIT_USER_AGENT: &str = concat!("git/2.0 (modelcar-gitops ", env!("CARGO_PKG_VERSION"), ")");

/// How much of an error body is quoted in messages.
const BODY_EXCERPT: usize = 300;

/// Everything one git operation needs to speak HTTP.
pub(crate) struct HttpContext {
    /// Keeps the plain-HTTP and same-origin rules, and the idle timeout on each read.
    client: BlockingHttpClient,
    authorization: Option<HeaderValue>,
    origin: url::Origin,
    display_url: String,
    /// The precise cause of the last failure, kept because libgit2 only passes a message on.
    failure: Mutex<Option<GitopsError>>,
}

thread_local! {
    static CURRENT: RefCell<Option<Arc<HttpContext>>> = const { RefCell::new(None) };
}

/// Restores the previous context when an operation ends (also on panic).
pub(crate) struct Entered {
    previous: Option<Arc<HttpContext>>,
}

impl Drop for Entered {
    fn drop(&mut self) {
        let previous = self.previous.take();
        CURRENT.with(|current| *current.borrow_mut() = previous);
    }
}

impl HttpContext {
    /// Builds the client and checks the URL against the plain-HTTP opt-in, before anything is
    /// sent. `url` has no credentials.
    pub(crate) fn new(
        url: &Url,
        auth: &GitAuth,
        options: &HttpOptions,
    ) -> Result<Arc<Self>, GitopsError> {
        let client = options
            .blocking_client()
            .map_err(|e| GitopsError::invalid(None, format!("setting up HTTPS for {url}: {e}")))?;
        client
            .check_url(url)
            .map_err(|e| GitopsError::invalid(None, e.to_string()))?;
        let authorization = match auth {
            GitAuth::Basic { user, token } => {
                let encoded = base64::engine::general_purpose::STANDARD
                    .encode(format!("{user}:{}", token.expose()));
                let mut value = HeaderValue::from_str(&format!("Basic {encoded}"))
                    .map_err(|_| GitopsError::invalid(Input::Credentials, "the git user name holds characters that cannot be sent in an HTTP header"))?;
                value.set_sensitive(true);
                Some(value)
            }
            _ => None,
        };
        Ok(Arc::new(Self {
            client,
            authorization,
            origin: url.origin(),
            display_url: url.to_string(),
            failure: Mutex::new(None),
        }))
    }

    /// Makes this context the one libgit2's HTTP transports use on this thread until the guard drops.
    pub(crate) fn enter(self: &Arc<Self>) -> Result<Entered, GitopsError> {
        register()?;
        let previous = CURRENT.with(|current| current.borrow_mut().replace(self.clone()));
        Ok(Entered { previous })
    }

    /// The precise cause of the last failed request, if the transport recorded one.
    pub(crate) fn take_failure(&self) -> Option<GitopsError> {
        self.failure
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
    }

    fn fail(&self, error: GitopsError) -> git2::Error {
        let message = error.to_string();
        *self.failure.lock().unwrap_or_else(|e| e.into_inner()) = Some(error);
        git2::Error::new(
            git2::ErrorCode::GenericError,
            git2::ErrorClass::Net,
            message,
        )
    }

    fn request(
        &self,
        method: reqwest::Method,
        url: &Url,
        service: &str,
        body: Option<Vec<u8>>,
    ) -> Result<reqwest::blocking::Response, GitopsError> {
        let action = if body.is_some() {
            format!("sending {service} request")
        } else {
            "reading the refs".to_owned()
        };
        let accept = if body.is_some() {
            format!("application/x-{service}-result")
        } else {
            format!("application/x-{service}-advertisement")
        };
        let mut request = self
            .client
            .request(method, url.clone())
            .map_err(|e| GitopsError::invalid(None, e.to_string()))?
            .header(USER_AGENT, GIT_USER_AGENT)
            .header(ACCEPT, accept);
        if let Some(auth) = &self.authorization
            && url.origin() == self.origin
        {
            request = request.header(AUTHORIZATION, auth.clone());
        }
        if let Some(body) = body {
            request = request
                .header(CONTENT_TYPE, format!("application/x-{service}-request"))
                .body(body);
        }
        let response = request.send().map_err(|e| {
            let chain = error_chain(&e);
            // A certificate the client does not trust will not become trusted by retrying.
            let transient = matches!(reqwest_verdict(&e), Verdict::Transient { .. })
                && !chain.contains("certificate");
            GitopsError::Network {
                action: action.clone(),
                url: self.display_url.clone(),
                detail: format!(
                    "could not reach the server ({}); check the URL, the network, and {}",
                    error_chain(&e.without_url()),
                    common::http::TLS_SETTINGS_HINT
                ),
                transient,
            }
        })?;
        self.check_status(response, &action)
    }

    fn check_status(
        &self,
        response: reqwest::blocking::Response,
        action: &str,
    ) -> Result<reqwest::blocking::Response, GitopsError> {
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let url = self.display_url.clone();
        Err(match status.as_u16() {
            401 => GitopsError::Authentication {
                url,
                detail: if self.authorization.is_some() {
                    "the server refused the user name and token; check both (the token needs read and \
                     write access to the repository)"
                        .into()
                } else {
                    "the server requires credentials; give a git user name and token, or a \
                     basic-auth workspace"
                        .into()
                },
            },
            403 => GitopsError::PermissionDenied {
                url,
                action: action.to_owned(),
            },
            404 => GitopsError::NotFound {
                what: "git repository".into(),
                url,
                hint: "check the repository URL (many servers answer 404 instead of 401 to \
                       anonymous users)"
                    .into(),
                input: Input::RepoUrl,
            },
            code if status.is_redirection() => {
                let location = response
                    .headers()
                    .get(reqwest::header::LOCATION)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|l| response.url().join(l).ok())
                    .map(|l| common::http::display_url(&l))
                    .unwrap_or_else(|| "somewhere unnamed".into());
                GitopsError::Network {
                    action: action.to_owned(),
                    url,
                    detail: format!(
                        "the server redirected ({code}) to {location}, another origin; credentials \
                         go only to their own origin, so it was not followed (give that URL \
                         directly if it is the repository)"
                    ),
                    transient: false,
                }
            }
            code => {
                let body = response.text().unwrap_or_default();
                let transient = matches!(
                    common::retry::status_verdict(code, None),
                    Verdict::Transient { .. }
                );
                GitopsError::Network {
                    action: action.to_owned(),
                    url,
                    detail: format!("the server answered {status}{}", excerpt(&body)),
                    transient,
                }
            }
        })
    }

    fn expect_content_type(
        &self,
        response: &reqwest::blocking::Response,
        expected: &str,
    ) -> Result<(), GitopsError> {
        let found = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("none");
        if found.split(';').next().map(str::trim) == Some(expected) {
            return Ok(());
        }
        Err(GitopsError::Network {
            action: "reading the refs".into(),
            url: self.display_url.clone(),
            detail: format!(
                "this is not a smart git HTTP server (content type {found}, expected {expected}); check \
                 the repository URL"
            ),
            transient: false,
        })
    }
}

/// Registers the transport for `http` and `https`, once per process.
fn register() -> Result<(), GitopsError> {
    static REGISTERED: OnceLock<Result<(), String>> = OnceLock::new();
    REGISTERED
        .get_or_init(|| {
            for scheme in ["http", "https"] {
                // SAFETY: registration happens once, before any transport of this scheme is created
                // by this crate, and is never undone.
                unsafe { git2::transport::register(scheme, factory) }.map_err(|e| {
                    format!("registering the {scheme} git transport: {}", e.message())
                })?;
            }
            Ok(())
        })
        .clone()
        .map_err(|message| GitopsError::Git {
            action: "setting up git over HTTP".into(),
            message,
            transient: false,
        })
}

fn factory(remote: &git2::Remote<'_>) -> Result<Transport, git2::Error> {
    let context = CURRENT.with(|current| current.borrow().clone()).ok_or_else(|| {
        git2::Error::from_str(
            "git over HTTP is only available inside the gitops crate's operations (no HTTP settings here)",
        )
    })?;
    Transport::smart(
        remote,
        true,
        SmartHttp {
            context,
            base: Mutex::new(None),
        },
    )
}

struct SmartHttp {
    context: Arc<HttpContext>,
    /// The repository URL after redirects of the ref advertisement; requests that follow go there.
    base: Mutex<Option<Url>>,
}

impl SmartSubtransport for SmartHttp {
    fn action(
        &self,
        url: &str,
        action: Service,
    ) -> Result<Box<dyn SmartSubtransportStream>, git2::Error> {
        let context = &self.context;
        let service = match action {
            Service::UploadPackLs | Service::UploadPack => "git-upload-pack",
            Service::ReceivePackLs | Service::ReceivePack => "git-receive-pack",
        };
        let given = Url::parse(url.trim_end_matches('/')).map_err(|e| {
            context.fail(GitopsError::invalid(
                Input::RepoUrl,
                format!("{url} is not a valid URL: {e}"),
            ))
        })?;
        match action {
            Service::UploadPackLs | Service::ReceivePackLs => {
                let mut info = given.clone();
                info.set_path(&format!("{}/info/refs", given.path()));
                info.set_query(Some(&format!("service={service}")));
                let response = context
                    .request(reqwest::Method::GET, &info, service, None)
                    .map_err(|e| context.fail(e))?;
                context
                    .expect_content_type(
                        &response,
                        &format!("application/x-{service}-advertisement"),
                    )
                    .map_err(|e| context.fail(e))?;
                let mut effective = response.url().clone();
                let path = effective.path().trim_end_matches("/info/refs").to_owned();
                effective.set_path(&path);
                effective.set_query(None);
                *self.base.lock().unwrap_or_else(|e| e.into_inner()) = Some(effective);
                Ok(Box::new(AdvertisementStream { response }))
            }
            Service::UploadPack | Service::ReceivePack => {
                let base = self
                    .base
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .clone()
                    .unwrap_or(given);
                let mut endpoint = base.clone();
                endpoint.set_path(&format!("{}/{service}", base.path()));
                Ok(Box::new(RpcStream {
                    context: context.clone(),
                    endpoint,
                    service,
                    body: Vec::new(),
                    response: None,
                }))
            }
        }
    }

    fn close(&self) -> Result<(), git2::Error> {
        Ok(())
    }
}

/// The body of `info/refs`, read as it arrives.
struct AdvertisementStream {
    response: reqwest::blocking::Response,
}

impl Read for AdvertisementStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.response.read(buf)
    }
}

impl Write for AdvertisementStream {
    fn write(&mut self, _: &[u8]) -> io::Result<usize> {
        Err(io::Error::other(
            "the ref advertisement cannot be written to",
        ))
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// One stateless RPC: libgit2 writes the whole request, then reads the answer.
struct RpcStream {
    context: Arc<HttpContext>,
    endpoint: Url,
    service: &'static str,
    body: Vec<u8>,
    response: Option<reqwest::blocking::Response>,
}

impl Read for RpcStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.response.is_none() {
            let body = std::mem::take(&mut self.body);
            let context = &self.context;
            let response = context
                .request(
                    reqwest::Method::POST,
                    &self.endpoint,
                    self.service,
                    Some(body),
                )
                .and_then(|response| {
                    context
                        .expect_content_type(
                            &response,
                            &format!("application/x-{}-result", self.service),
                        )
                        .map(|()| response)
                })
                .map_err(|e| io::Error::other(context.fail(e).message().to_owned()))?;
            self.response = Some(response);
        }
        let response = self.response.as_mut().expect("set above");
        response.read(buf).map_err(|e| {
            let error = GitopsError::Network {
                action: format!("reading the {} answer", self.service),
                url: self.context.display_url.clone(),
                detail: e.to_string(),
                transient: true,
            };
            io::Error::other(self.context.fail(error).message().to_owned())
        })
    }
}

impl Write for RpcStream {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if self.response.is_some() {
            return Err(io::Error::other(
                "a git HTTP request cannot be written after its answer was read",
            ));
        }
        self.body.extend_from_slice(data);
        Ok(data.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

fn excerpt(body: &str) -> String {
    let body = body.trim();
    if body.is_empty() {
        return String::new();
    }
    let mut end = body.len().min(BODY_EXCERPT);
    while !body.is_char_boundary(end) {
        end -= 1;
    }
    format!(": {}", &body[..end])
}
