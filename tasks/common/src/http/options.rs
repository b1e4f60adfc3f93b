//! The HTTP configuration every network client shares: reqwest on rustls (ring), the system's CAs plus
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

use super::client::{BlockingHttpClient, HttpClient, same_origin_redirects};
use super::error::HttpError;

/// Two minutes: longer than any server takes to answer a small request, short enough that a
/// stalled one is noticed well within a pipeline's patience.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(120);

#[derive(Debug, Clone)]
pub struct HttpOptions {
    /// PEM files, or directories whose `*.pem`/`*.crt` files are read, of CAs to trust besides the system's.
    pub ca_certs: Vec<PathBuf>,
    /// Hosts (`name` or `name:port`) whose TLS certificate is not verified. An explicit opt-out.
    pub insecure_hosts: Vec<String>,
    /// Hosts (`name` or `name:port`) spoken to over plain HTTP. An explicit opt-in.
    pub plain_http_hosts: Vec<String>,
    pub connect_timeout: Duration,
    /// Longest time without a byte moving in either direction before a request is abandoned (and
    /// retried where that is safe). Long transfers that keep moving are not limited as a whole.
    pub idle_timeout: Duration,
    pub user_agent: String,
}

impl Default for HttpOptions {
    fn default() -> Self {
        Self {
            ca_certs: Vec::new(),
            insecure_hosts: Vec::new(),
            plain_http_hosts: Vec::new(),
            connect_timeout: Duration::from_secs(30),
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
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

    /// The client for requests with small bodies (APIs, manifests, downloads): each read may wait
    /// at most the idle timeout. (reqwest also counts the wait for the answer's headers from the
    /// moment the request starts, which for a small body is the same thing.)
    pub fn client(&self) -> Result<HttpClient, HttpError> {
        let client = reqwest::Client::builder()
            .use_preconfigured_tls(self.tls_config()?)
            .redirect(same_origin_redirects())
            .connect_timeout(self.connect_timeout)
            .read_timeout(self.idle_timeout)
            .user_agent(&self.user_agent)
            .build()
            .map_err(HttpError::Client)?;
        Ok(HttpClient::new(client, &self.plain_http_hosts))
    }

    /// The client for large streamed uploads. It has no read timeout (reqwest would count the whole
    /// upload against it): the caller watches the body's progress with [`super::unless_idle`].
    /// HTTP/1.1 only, so that each of several parallel uploads gets its own connection (as curl's
    /// and skopeo's do) instead of sharing one HTTP/2 connection's flow-control window.
    pub fn upload_client(&self) -> Result<HttpClient, HttpError> {
        let mut tls = self.tls_config()?;
        tls.alpn_protocols = vec![b"http/1.1".to_vec()];
        let client = reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .redirect(same_origin_redirects())
            .http1_only()
            .connect_timeout(self.connect_timeout)
            .user_agent(&self.user_agent)
            .build()
            .map_err(HttpError::Client)?;
        Ok(HttpClient::new(client, &self.plain_http_hosts))
    }

    /// For code outside an async runtime (git transports). Do not call from inside one. Sending a
    /// request and each read of its answer may take at most the idle timeout.
    pub fn blocking_client(&self) -> Result<BlockingHttpClient, HttpError> {
        let client = reqwest::blocking::Client::builder()
            .use_preconfigured_tls(self.tls_config()?)
            .redirect(same_origin_redirects())
            .connect_timeout(self.connect_timeout)
            .timeout(self.idle_timeout)
            .user_agent(&self.user_agent)
            .build()
            .map_err(HttpError::Client)?;
        Ok(BlockingHttpClient::new(client, &self.plain_http_hosts))
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

pub(super) fn strip_port(host: &str) -> &str {
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

pub(super) fn host_listed(list: &[String], host_port: &str) -> bool {
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
