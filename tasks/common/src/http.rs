//! One HTTP configuration for every network client: reqwest on rustls (ring), the system's CAs plus
//! extra ones from a file or a directory (Tekton's `ssl-ca-directory` workspace), and explicit per-host
//! opt-outs: plain HTTP, or TLS without certificate verification. Nothing is insecure by default.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};

use crate::retry::{Transient, Verdict, reqwest_verdict, status_verdict};

#[derive(Debug, Clone)]
pub struct HttpOptions {
    /// PEM files, or directories whose `*.pem`/`*.crt` files are read, of CAs to trust besides the system's.
    pub ca_certs: Vec<PathBuf>,
    /// Hosts (`name` or `name:port`) whose TLS certificate is not verified. An explicit opt-out.
    pub insecure_hosts: Vec<String>,
    /// Hosts (`name` or `name:port`) spoken to over plain HTTP. An explicit opt-in.
    pub plain_http_hosts: Vec<String>,
    pub connect_timeout: Duration,
    /// Longest silence while reading a response; large uploads are not limited as a whole.
    pub read_timeout: Duration,
    pub user_agent: String,
}

impl Default for HttpOptions {
    fn default() -> Self {
        Self {
            ca_certs: Vec::new(),
            insecure_hosts: Vec::new(),
            plain_http_hosts: Vec::new(),
            connect_timeout: Duration::from_secs(30),
            read_timeout: Duration::from_secs(300),
            user_agent: concat!("modelcar-gitops/", env!("CARGO_PKG_VERSION")).to_owned(),
        }
    }
}

impl HttpOptions {
    /// `https`, or `http` for a host the user listed as plain HTTP.
    pub fn scheme_for(&self, host_port: &str) -> &'static str {
        if host_listed(&self.plain_http_hosts, host_port) {
            "http"
        } else {
            "https"
        }
    }

    pub fn is_plain_http(&self, host_port: &str) -> bool {
        host_listed(&self.plain_http_hosts, host_port)
    }

    /// The TLS configuration every client shares.
    pub fn tls_config(&self) -> Result<rustls::ClientConfig, HttpError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let roots = Arc::new(self.root_store()?);
        let webpki = WebPkiServerVerifier::builder_with_provider(roots, provider.clone())
            .build()
            .map_err(|e| HttpError::Tls(e.to_string()))?;
        let verifier = Arc::new(HostAwareVerifier {
            inner: webpki,
            insecure_hosts: self
                .insecure_hosts
                .iter()
                .map(|h| strip_port(h).to_owned())
                .collect(),
            provider: provider.clone(),
        });
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| HttpError::Tls(e.to_string()))?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth();
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(config)
    }

    pub fn client(&self) -> Result<reqwest::Client, HttpError> {
        reqwest::Client::builder()
            .use_preconfigured_tls(self.tls_config()?)
            .connect_timeout(self.connect_timeout)
            .read_timeout(self.read_timeout)
            .user_agent(&self.user_agent)
            .build()
            .map_err(HttpError::Client)
    }

    /// For code outside an async runtime (git transports). Do not call from inside one.
    pub fn blocking_client(&self) -> Result<reqwest::blocking::Client, HttpError> {
        reqwest::blocking::Client::builder()
            .use_preconfigured_tls(self.tls_config()?)
            .connect_timeout(self.connect_timeout)
            .timeout(None)
            .user_agent(&self.user_agent)
            .build()
            .map_err(HttpError::Client)
    }

    fn root_store(&self) -> Result<RootCertStore, HttpError> {
        let mut roots = RootCertStore::empty();
        // System CAs (honours SSL_CERT_FILE / SSL_CERT_DIR); a minimal image may have none.
        let native = rustls_native_certs::load_native_certs();
        let (added, _) = roots.add_parsable_certificates(native.certs);
        if added == 0 {
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        }
        for path in &self.ca_certs {
            for cert in read_ca_path(path)? {
                roots.add(cert).map_err(|e| HttpError::Ca {
                    path: path.clone(),
                    message: e.to_string(),
                })?;
            }
        }
        Ok(roots)
    }
}

fn read_ca_path(path: &Path) -> Result<Vec<CertificateDer<'static>>, HttpError> {
    let ca_err = |message: String| HttpError::Ca {
        path: path.to_owned(),
        message,
    };
    let files: Vec<PathBuf> = if path.is_dir() {
        let mut files: Vec<PathBuf> = std::fs::read_dir(path)
            .map_err(|e| ca_err(e.to_string()))?
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|p| {
                p.is_file()
                    && matches!(
                        p.extension().and_then(|e| e.to_str()),
                        Some("pem" | "crt" | "cer")
                    )
            })
            .collect();
        files.sort();
        files
    } else {
        vec![path.to_owned()]
    };
    let mut certs = Vec::new();
    for file in &files {
        let bytes = std::fs::read(file).map_err(|e| ca_err(format!("{}: {e}", file.display())))?;
        for cert in CertificateDer::pem_slice_iter(&bytes) {
            certs.push(cert.map_err(|e| ca_err(format!("{}: {e}", file.display())))?);
        }
    }
    if certs.is_empty() {
        return Err(ca_err("no PEM certificate found".into()));
    }
    Ok(certs)
}

fn strip_port(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match host.rsplit_once(':') {
        Some((name, port)) if port.chars().all(|c| c.is_ascii_digit()) && !name.contains(':') => {
            name
        }
        _ => host,
    }
}

fn host_listed(list: &[String], host_port: &str) -> bool {
    list.iter().any(|entry| {
        entry.eq_ignore_ascii_case(host_port)
            || (!entry.contains(':') && entry.eq_ignore_ascii_case(strip_port(host_port)))
    })
}

/// Verifies certificates with webpki, except for hosts the user explicitly listed as insecure.
/// Handshake signatures are still checked for every host.
#[derive(Debug)]
struct HostAwareVerifier {
    inner: Arc<WebPkiServerVerifier>,
    insecure_hosts: Vec<String>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for HostAwareVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let name = server_name.to_str();
        if self
            .insecure_hosts
            .iter()
            .any(|h| h.eq_ignore_ascii_case(&name))
        {
            tracing::debug!("TLS certificate of {name} not verified (listed as insecure)");
            return Ok(ServerCertVerified::assertion());
        }
        self.inner
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// A URL fit for messages: no credentials, no query string (which may carry signed tokens).
pub fn display_url(url: &reqwest::Url) -> String {
    let mut shown = url.clone();
    let _ = shown.set_username("");
    let _ = shown.set_password(None);
    shown.set_query(None);
    shown.set_fragment(None);
    shown.to_string()
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
    #[error("{action}: {url} answered {status}{}", if message.is_empty() { String::new() } else { format!(": {message}") })]
    Status {
        action: String,
        url: String,
        status: u16,
        /// The start of the server's own explanation.
        message: String,
        retry_after: Option<String>,
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
    pub fn transport(
        action: impl Into<String>,
        url: &reqwest::Url,
        source: reqwest::Error,
    ) -> Self {
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
}

impl Transient for HttpError {
    fn verdict(&self) -> Verdict {
        match self {
            Self::Transport { source, .. } => reqwest_verdict(source),
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
/// start of the server's message (servers explain 4xx in the body).
pub async fn check(
    action: &str,
    response: reqwest::Response,
) -> Result<reqwest::Response, HttpError> {
    if response.status().is_success() {
        return Ok(response);
    }
    let status = response.status().as_u16();
    let url = display_url(response.url());
    let retry_after = header_string(response.headers(), "retry-after");
    let body = response.text().await.unwrap_or_default();
    Err(HttpError::Status {
        action: action.to_owned(),
        url,
        status,
        message: excerpt(&body),
        retry_after,
    })
}

/// The blocking twin of [`check`].
pub fn check_blocking(
    action: &str,
    response: reqwest::blocking::Response,
) -> Result<reqwest::blocking::Response, HttpError> {
    if response.status().is_success() {
        return Ok(response);
    }
    let status = response.status().as_u16();
    let url = display_url(response.url());
    let retry_after = header_string(response.headers(), "retry-after");
    let body = response.text().unwrap_or_default();
    Err(HttpError::Status {
        action: action.to_owned(),
        url,
        status,
        message: excerpt(&body),
        retry_after,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_lists_match_with_and_without_port() {
        let list = vec!["registry.local".to_owned(), "127.0.0.1:5000".to_owned()];
        assert!(host_listed(&list, "registry.local"));
        assert!(host_listed(&list, "registry.local:443"));
        assert!(host_listed(&list, "127.0.0.1:5000"));
        assert!(!host_listed(&list, "127.0.0.1:5001"));
        assert!(!host_listed(&list, "quay.io"));
        assert_eq!(strip_port("[::1]:5000"), "::1");
        assert_eq!(strip_port("host:5000"), "host");
    }

    #[test]
    fn plain_http_only_by_opt_in() {
        let options = HttpOptions {
            plain_http_hosts: vec!["localhost:5000".into()],
            ..HttpOptions::default()
        };
        assert_eq!(options.scheme_for("localhost:5000"), "http");
        assert_eq!(options.scheme_for("localhost:5001"), "https");
        assert_eq!(options.scheme_for("quay.io"), "https");
    }

    #[test]
    fn urls_shown_without_credentials_or_query() {
        let url = reqwest::Url::parse("https://user:pw@host/v2/x?token=abc").unwrap();
        assert_eq!(display_url(&url), "https://host/v2/x");
    }

    #[test]
    fn clients_build() {
        HttpOptions::default().client().unwrap();
    }

    #[test]
    fn missing_ca_file_is_clear() {
        let options = HttpOptions {
            ca_certs: vec!["/nonexistent/ca.pem".into()],
            ..HttpOptions::default()
        };
        let message = options.client().unwrap_err().to_string();
        assert!(message.contains("/nonexistent/ca.pem"), "{message}");
    }
}
