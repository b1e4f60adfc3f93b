//! The clients every request of every tool goes through. Two rules live here, so that no caller
//! can forget them:
//!
//! - **Plain HTTP only to hosts the user named** (`--plain-http`). A request to any other
//!   `http://` URL is refused before a connection is opened: nothing is sent.
//! - **Credentials only to their own origin** (scheme, host, port). Redirects are followed only
//!   within the origin a request was addressed to, so a header set on a request (a token, a
//!   password) never reaches another server. A redirect elsewhere comes back to the caller as the
//!   3xx answer; callers that must go on (blob downloads from object storage) send a new request
//!   there, without credentials, through the same rules.

use std::sync::Arc;

use reqwest::{Method, Url, redirect};

use super::HttpError;
use super::options::host_listed;

/// Redirects followed within one origin before giving up.
const MAX_REDIRECTS: usize = 10;

/// The async client: reqwest behind the plain-HTTP and origin rules.
#[derive(Debug, Clone)]
pub struct HttpClient {
    inner: reqwest::Client,
    plain_http_hosts: Arc<[String]>,
}

/// The blocking client (git's transports run outside an async runtime), behind the same rules.
#[derive(Debug, Clone)]
pub struct BlockingHttpClient {
    inner: reqwest::blocking::Client,
    plain_http_hosts: Arc<[String]>,
}

impl HttpClient {
    pub(super) fn new(inner: reqwest::Client, plain_http_hosts: &[String]) -> Self {
        Self {
            inner,
            plain_http_hosts: plain_http_hosts.into(),
        }
    }

    /// A request to `url`, or [`HttpError::PlainHttpRefused`] when `url` is plain HTTP to a host
    /// the user did not name.
    pub fn request(
        &self,
        method: Method,
        url: impl RequestUrl,
    ) -> Result<reqwest::RequestBuilder, HttpError> {
        let url = url.parse_url()?;
        check_scheme(&self.plain_http_hosts, &url)?;
        Ok(self.inner.request(method, url))
    }

    /// Whether a request to `url` would be allowed, without sending anything.
    pub fn check_url(&self, url: &Url) -> Result<(), HttpError> {
        check_scheme(&self.plain_http_hosts, url)
    }

    pub fn get(&self, url: impl RequestUrl) -> Result<reqwest::RequestBuilder, HttpError> {
        self.request(Method::GET, url)
    }

    pub fn head(&self, url: impl RequestUrl) -> Result<reqwest::RequestBuilder, HttpError> {
        self.request(Method::HEAD, url)
    }

    pub fn put(&self, url: impl RequestUrl) -> Result<reqwest::RequestBuilder, HttpError> {
        self.request(Method::PUT, url)
    }

    pub fn post(&self, url: impl RequestUrl) -> Result<reqwest::RequestBuilder, HttpError> {
        self.request(Method::POST, url)
    }

    pub fn patch(&self, url: impl RequestUrl) -> Result<reqwest::RequestBuilder, HttpError> {
        self.request(Method::PATCH, url)
    }

    pub fn delete(&self, url: impl RequestUrl) -> Result<reqwest::RequestBuilder, HttpError> {
        self.request(Method::DELETE, url)
    }
}

/// What a request may be addressed with: a parsed URL, or text that must parse as one.
pub trait RequestUrl {
    fn parse_url(self) -> Result<Url, HttpError>;
}

impl RequestUrl for Url {
    fn parse_url(self) -> Result<Url, HttpError> {
        Ok(self)
    }
}

impl RequestUrl for &Url {
    fn parse_url(self) -> Result<Url, HttpError> {
        Ok(self.clone())
    }
}

impl RequestUrl for &str {
    fn parse_url(self) -> Result<Url, HttpError> {
        Url::parse(self).map_err(|e| HttpError::InvalidUrl {
            url: self.to_owned(),
            reason: e.to_string(),
        })
    }
}

impl RequestUrl for &String {
    fn parse_url(self) -> Result<Url, HttpError> {
        self.as_str().parse_url()
    }
}

impl RequestUrl for String {
    fn parse_url(self) -> Result<Url, HttpError> {
        self.as_str().parse_url()
    }
}

impl BlockingHttpClient {
    pub(super) fn new(inner: reqwest::blocking::Client, plain_http_hosts: &[String]) -> Self {
        Self {
            inner,
            plain_http_hosts: plain_http_hosts.into(),
        }
    }

    /// See [`HttpClient::check_url`].
    pub fn check_url(&self, url: &Url) -> Result<(), HttpError> {
        check_scheme(&self.plain_http_hosts, url)
    }

    /// See [`HttpClient::request`].
    pub fn request(
        &self,
        method: Method,
        url: impl RequestUrl,
    ) -> Result<reqwest::blocking::RequestBuilder, HttpError> {
        let url = url.parse_url()?;
        check_scheme(&self.plain_http_hosts, &url)?;
        Ok(self.inner.request(method, url))
    }
}

/// `host:port` of a URL, the port always written (the form `--plain-http` takes).
pub fn host_port(url: &Url) -> String {
    let host = match url.host() {
        Some(url::Host::Ipv6(address)) => format!("[{address}]"),
        Some(host) => host.to_string(),
        None => String::new(),
    };
    match url.port_or_known_default() {
        Some(port) => format!("{host}:{port}"),
        None => host,
    }
}

/// Whether two URLs share scheme, host and port: where credentials for one may go to the other.
pub fn same_origin(a: &Url, b: &Url) -> bool {
    a.origin() == b.origin()
}

fn check_scheme(plain_http_hosts: &[String], url: &Url) -> Result<(), HttpError> {
    match url.scheme() {
        "https" => Ok(()),
        "http" if host_listed(plain_http_hosts, &host_port(url)) => Ok(()),
        "http" => Err(HttpError::PlainHttpRefused {
            url: super::display_url(url),
            host_port: host_port(url),
        }),
        other => Err(HttpError::UnsupportedScheme {
            url: super::display_url(url),
            scheme: other.to_owned(),
        }),
    }
}

/// Follows redirects within the origin of the request's own URL; stops (handing the 3xx to the
/// caller) at the first that leaves it. Every URL of a chain is thus of the first one's origin,
/// whose scheme the client already checked.
pub(super) fn same_origin_redirects() -> redirect::Policy {
    redirect::Policy::custom(|attempt| {
        let Some(first) = attempt.previous().first() else {
            return attempt.follow();
        };
        if !same_origin(first, attempt.url()) {
            return attempt.stop();
        }
        if attempt.previous().len() > MAX_REDIRECTS {
            let message = format!(
                "more than {MAX_REDIRECTS} redirects starting at {}",
                super::display_url(first)
            );
            return attempt.error(message);
        }
        attempt.follow()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(text: &str) -> Url {
        Url::parse(text).unwrap()
    }

    #[test]
    fn plain_http_only_for_named_hosts() {
        let named = vec!["registry.local:5000".to_owned(), "git.local".to_owned()];
        assert!(check_scheme(&named, &url("https://anything.example/x")).is_ok());
        assert!(check_scheme(&named, &url("http://registry.local:5000/v2/")).is_ok());
        assert!(check_scheme(&named, &url("http://git.local/r.git")).is_ok());
        assert!(check_scheme(&named, &url("http://git.local:8080/r.git")).is_ok());
        let refused = check_scheme(&named, &url("http://registry.local:5001/v2/")).unwrap_err();
        assert!(refused.is_usage());
        assert!(
            refused
                .to_string()
                .contains("--plain-http registry.local:5001"),
            "{refused}"
        );
        let refused = check_scheme(&named, &url("http://[::1]:8080/api")).unwrap_err();
        assert!(
            refused.to_string().contains("--plain-http [::1]:8080"),
            "{refused}"
        );
        assert!(check_scheme(&named, &url("ftp://git.local/x")).is_err());
    }

    #[test]
    fn origins() {
        assert!(same_origin(&url("https://h/a"), &url("https://h:443/b?c")));
        assert!(!same_origin(&url("https://h/a"), &url("http://h/a")));
        assert!(!same_origin(&url("https://h/a"), &url("https://h:8443/a")));
        assert!(!same_origin(
            &url("https://h/a"),
            &url("https://storage.h/a")
        ));
        assert_eq!(host_port(&url("https://h/a")), "h:443");
        assert_eq!(host_port(&url("http://127.0.0.1:5000/")), "127.0.0.1:5000");
    }
}
