//! Flags every binary shares (each also from an environment variable, as Tekton passes params
//! either way), and the exit-code convention: 0 success, 1 the operation failed, 2 usage error.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::http::HttpOptions;
use crate::logging::{self, LogFormat};
use crate::results::Results;

#[derive(Debug, Clone, clap::Args)]
pub struct CommonArgs {
    /// Directory for Tekton results, one file per result (Tekton mounts /tekton/results).
    #[arg(long, env = "RESULTS_DIR", value_name = "DIR", global = true)]
    pub results_dir: Option<PathBuf>,

    /// Log format: auto (coloured on a terminal, plain lines otherwise), text or json.
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value_t = LogFormat::Auto, global = true)]
    pub log_format: LogFormat,

    /// Extra CA certificates to trust: a PEM file, or a directory of .pem/.crt files
    /// (a Tekton `ssl-ca-directory` workspace). Repeatable.
    #[arg(
        long = "ca-cert",
        env = "CA_CERTS",
        value_name = "PATH",
        value_delimiter = ',',
        global = true
    )]
    pub ca_certs: Vec<PathBuf>,

    /// Hosts (name or name:port) whose TLS certificate is NOT verified. Explicit opt-out; repeatable.
    #[arg(
        long = "insecure-skip-tls-verify",
        env = "INSECURE_SKIP_TLS_VERIFY_HOSTS",
        value_name = "HOST",
        value_delimiter = ',',
        global = true
    )]
    pub insecure_hosts: Vec<String>,

    /// Hosts (name or name:port) reached over plain HTTP instead of HTTPS. Explicit opt-in; repeatable.
    #[arg(
        long = "plain-http",
        env = "PLAIN_HTTP_HOSTS",
        value_name = "HOST",
        value_delimiter = ',',
        global = true
    )]
    pub plain_http_hosts: Vec<String>,
}

impl CommonArgs {
    pub fn results(&self) -> Results {
        Results::new(self.results_dir.clone())
    }

    pub fn http_options(&self) -> HttpOptions {
        HttpOptions {
            ca_certs: self.ca_certs.clone(),
            insecure_hosts: self.insecure_hosts.clone(),
            plain_http_hosts: self.plain_http_hosts.clone(),
            ..HttpOptions::default()
        }
    }

    pub fn init_logging(&self) {
        logging::init(self.log_format);
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    Success = 0,
    Failed = 1,
    Usage = 2,
}

impl From<ExitStatus> for ExitCode {
    fn from(status: ExitStatus) -> Self {
        ExitCode::from(status as u8)
    }
}

/// An error that is the user's to fix in how the command was called (exit code 2).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// Runs a command body and turns its outcome into the exit code, printing the whole error chain:
/// what was being done, to what, and (innermost) why.
pub fn finish(outcome: anyhow::Result<()>) -> ExitCode {
    match outcome {
        Ok(()) => ExitStatus::Success.into(),
        Err(error) => {
            let mut message = format!("error: {error}");
            for cause in error.chain().skip(1) {
                message.push_str(&format!("\n  caused by: {cause}"));
            }
            eprintln!("{message}");
            if error.chain().any(|e| e.is::<UsageError>()) {
                ExitStatus::Usage.into()
            } else {
                ExitStatus::Failed.into()
            }
        }
    }
}
