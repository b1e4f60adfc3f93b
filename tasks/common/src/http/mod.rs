//! HTTP for every tool: one configuration ([`HttpOptions`]: CAs, explicit per-host opt-outs, the
//! idle timeout), the clients built from it ([`HttpClient`], [`BlockingHttpClient`]) that keep the
//! plain-HTTP and same-origin rules, the idle watchdog for long uploads, and errors that say what
//! was being done, to which server, and what to try.

mod client;
mod error;
mod idle;
mod options;

pub use client::{BlockingHttpClient, HttpClient, RequestUrl, host_port, same_origin};
pub use error::{
    HttpError, TLS_SETTINGS_HINT, check, check_blocking, display_url, display_url_text,
    unreachable_hint, untrusted_certificate_hint,
};
pub use idle::{Activity, unless_idle};
pub use options::{DEFAULT_IDLE_TIMEOUT, HttpOptions};

#[cfg(test)]
mod tests {
    use super::options::{host_listed, strip_port};
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
