//! What can go wrong talking HTTP, said so that a person knows what was being done, to which
//! server, and what to try. The transport settings are the flags every tool shares
//! ([`crate::CommonArgs`], defined in this crate), so these messages, and the hints below that the
//! other libraries use for their own transports, name them.

use std::path::PathBuf;

use crate::retry::{Transient, Verdict, reqwest_verdict, status_verdict};

/// A URL fit for messages: no credentials, no query string (which may carry signed tokens).
pub fn display_url(url: &reqwest::Url) -> String {
    let mut shown = url.clone();
    let _ = shown.set_username("");
    let _ = shown.set_password(None);
    shown.set_query(None);
    shown.set_fragment(None);
    shown.to_string()
}

/// What to try when a connection failed and the cause may be the TLS settings.
pub const TLS_SETTINGS_HINT: &str = "the TLS settings (--ca-cert for a private CA)";

/// What to try when `host`'s TLS certificate is not trusted.
pub fn untrusted_certificate_hint(host: &str) -> String {
    format!(
        "the TLS certificate of {host} is not trusted; pass its CA with --ca-cert (or, for a test \
         server only, --insecure-skip-tls-verify {host})"
    )
}

/// What to try when nothing answered at `host`, `what` being the server (`the registry`).
pub fn unreachable_hint(what: &str, host: &str) -> String {
    format!(
        "is {what} up at {host}? If it speaks plain HTTP, allow that with --plain-http {host}; if \
         it uses a private CA, pass it with --ca-cert"
    )
}

/// `text` fit for messages: a URL with credentials in it without them ([`display_url`]); anything
/// else (a URL without credentials, an scp-like git address, a path) as it is.
pub fn display_url_text(text: &str) -> String {
    match reqwest::Url::parse(text) {
        Ok(url) if url.password().is_some() || !url.username().is_empty() => display_url(&url),
        _ => text.to_owned(),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error(
        "{action}: could not reach {url}: {source}; check the address, the network and TLS settings (--ca-cert)"
    )]
    Transport {
        action: String,
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error(
        "{action}: no data moved to or from {url} for longer than the idle timeout, so the request \
         was abandoned; the server may be stalled or overloaded (raise --idle-timeout if it is only slow)"
    )]
    Stalled { action: String, url: String },
    #[error("{action}: {url} answered {status}{}", if message.is_empty() { String::new() } else { format!(": {message}") })]
    Status {
        action: String,
        url: String,
        status: u16,
        /// The start of the server's own explanation.
        message: String,
        retry_after: Option<String>,
    },
    /// Nothing was sent: the URL is plain HTTP to a host the user did not name.
    #[error(
        "{url} is plain HTTP, which is off unless asked for: nothing was sent (tokens and data would \
         travel unencrypted); use https, or allow this host with --plain-http {host_port}"
    )]
    PlainHttpRefused { url: String, host_port: String },
    #[error("{url:?} is not a URL: {reason}")]
    InvalidUrl { url: String, reason: String },
    #[error(
        "{url}: only https (and http for hosts named with --plain-http) is spoken, not {scheme}"
    )]
    UnsupportedScheme { url: String, scheme: String },
    /// Nothing was sent: a URL the server handed out points at another origin than the one the
    /// credentials belong to, and the request cannot go without them.
    #[error(
        "{action}: the server sent the request on to {to}, another origin than {from}; credentials \
         are sent only to their own origin, so it was not followed"
    )]
    CrossOrigin {
        action: String,
        from: String,
        to: String,
    },
    #[error(
        "reading CA certificates from {path}: {message}; give a PEM file or a directory of .pem/.crt files"
    )]
    Ca { path: PathBuf, message: String },
    #[error("setting up TLS: {0}")]
    Tls(String),
    #[error("building the HTTP client: {0}")]
    Client(#[source] reqwest::Error),
}

impl HttpError {
    /// A failed exchange with `url`. A reqwest timeout is the idle timeout: said as such.
    pub fn transport(
        action: impl Into<String>,
        url: &reqwest::Url,
        source: reqwest::Error,
    ) -> Self {
        if source.is_timeout() && !source.is_connect() {
            return Self::Stalled {
                action: action.into(),
                url: display_url(url),
            };
        }
        Self::Transport {
            action: action.into(),
            url: display_url(url),
            source: source.without_url(),
        }
    }

    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Whether the fix is in how the command was called (exit code 2), not in the servers.
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            Self::PlainHttpRefused { .. }
                | Self::UnsupportedScheme { .. }
                | Self::InvalidUrl { .. }
                | Self::Ca { .. }
        )
    }
}

impl Transient for HttpError {
    fn verdict(&self) -> Verdict {
        match self {
            Self::Transport { source, .. } => reqwest_verdict(source),
            Self::Stalled { .. } => Verdict::Transient { after: None },
            Self::Status {
                status,
                retry_after,
                ..
            } => status_verdict(*status, retry_after.as_deref()),
            _ => Verdict::Permanent,
        }
    }
}

const MESSAGE_LIMIT: usize = 512;

/// Passes a successful response through; turns any other into [`HttpError::Status`] carrying the
/// start of the server's message (servers explain 4xx in the body), or [`HttpError::CrossOrigin`]
/// for a redirect the client left unfollowed.
pub async fn check(
    action: &str,
    response: reqwest::Response,
) -> Result<reqwest::Response, HttpError> {
    if response.status().is_success() {
        return Ok(response);
    }
    let (status, url, headers) = (
        response.status(),
        response.url().clone(),
        response.headers().clone(),
    );
    let body = response.text().await.unwrap_or_default();
    Err(refusal(action, status, &url, &headers, &body))
}

/// The blocking twin of [`check`].
pub fn check_blocking(
    action: &str,
    response: reqwest::blocking::Response,
) -> Result<reqwest::blocking::Response, HttpError> {
    if response.status().is_success() {
        return Ok(response);
    }
    let (status, url, headers) = (
        response.status(),
        response.url().clone(),
        response.headers().clone(),
    );
    let body = response.text().unwrap_or_default();
    Err(refusal(action, status, &url, &headers, &body))
}

/// The error for a non-2xx answer.
fn refusal(
    action: &str,
    status: reqwest::StatusCode,
    url: &reqwest::Url,
    headers: &reqwest::header::HeaderMap,
    body: &str,
) -> HttpError {
    if let Some(error) = redirect_elsewhere(action, status, url, headers) {
        return error;
    }
    HttpError::Status {
        action: action.to_owned(),
        url: display_url(url),
        status: status.as_u16(),
        message: excerpt(body),
        retry_after: header_string(headers, "retry-after"),
    }
}

/// A redirect the client left unfollowed because it leaves the request's origin.
fn redirect_elsewhere(
    action: &str,
    status: reqwest::StatusCode,
    url: &reqwest::Url,
    headers: &reqwest::header::HeaderMap,
) -> Option<HttpError> {
    if !status.is_redirection() {
        return None;
    }
    let to = url.join(&header_string(headers, "location")?).ok()?;
    Some(HttpError::CrossOrigin {
        action: action.to_owned(),
        from: display_url(url),
        to: display_url(&to),
    })
}

fn header_string(headers: &reqwest::header::HeaderMap, name: &str) -> Option<String> {
    headers.get(name)?.to_str().ok().map(str::to_owned)
}

fn excerpt(body: &str) -> String {
    let body = body.trim();
    if body.len() <= MESSAGE_LIMIT {
        return body.to_owned();
    }
    let mut end = MESSAGE_LIMIT;
    while !body.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &body[..end])
}
