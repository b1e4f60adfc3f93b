//! Flags every binary shares, and the conventions of the command-line language: every flag
//! `--foo-bar` can also be set as `MODELCAR_FOO_BAR` (standard variables such as
//! `REGISTRY_AUTH_FILE` or `SOURCE_DATE_EPOCH` keep their own names); exit codes are 0 success,
//! 1 the operation failed, 2 usage error.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::http::{HttpError, HttpOptions};
use crate::logging::{self, LogFormat};
use crate::results::Results;

#[derive(Debug, Clone, clap::Args)]
pub struct CommonArgs {
    /// Directory for Tekton results, one file per result (Tekton mounts /tekton/results).
    #[arg(long, env = "MODELCAR_RESULTS_DIR", value_name = "DIR", global = true)]
    pub results_dir: Option<PathBuf>,

    /// Log format: auto (coloured on a terminal, plain lines otherwise), text or json.
    #[arg(long, env = "MODELCAR_LOG_FORMAT", value_enum, default_value_t = LogFormat::Auto, global = true)]
    pub log_format: LogFormat,

    /// Extra CA certificates to trust: a PEM file, or a directory of .pem/.crt files
    /// (a Tekton `ssl-ca-directory` workspace). Repeatable.
    #[arg(
        long = "ca-cert",
        env = "MODELCAR_CA_CERT",
        value_name = "PATH",
        value_delimiter = ',',
        global = true
    )]
    pub ca_certs: Vec<PathBuf>,

    /// Hosts (name or name:port) whose TLS certificate is NOT verified. Explicit opt-out; repeatable.
    #[arg(
        long = "insecure-skip-tls-verify",
        env = "MODELCAR_INSECURE_SKIP_TLS_VERIFY",
        value_name = "HOST",
        value_delimiter = ',',
        global = true
    )]
    pub insecure_hosts: Vec<String>,

    /// Hosts (name or name:port) reached over plain HTTP instead of HTTPS. Explicit opt-in; repeatable.
    #[arg(
        long = "plain-http",
        env = "MODELCAR_PLAIN_HTTP",
        value_name = "HOST",
        value_delimiter = ',',
        global = true
    )]
    pub plain_http_hosts: Vec<String>,

    /// Seconds without a byte moving in either direction after which a request is abandoned (and
    /// retried where that is safe). Transfers that keep moving may take as long as they need.
    #[arg(
        long = "idle-timeout",
        env = "MODELCAR_IDLE_TIMEOUT",
        value_name = "SECONDS",
        default_value_t = crate::http::DEFAULT_IDLE_TIMEOUT.as_secs(),
        value_parser = clap::value_parser!(u64).range(1..),
        global = true
    )]
    pub idle_timeout: u64,
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
            idle_timeout: std::time::Duration::from_secs(self.idle_timeout),
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

/// Parses the command line, treating `--flag=` with an empty value as if the flag were not given.
///
/// Tekton substitutes an unbound optional workspace's path, or an empty optional param, as an empty
/// string, so a Task step's `--basic-auth-dir=$(workspaces.basic-auth.path)` becomes
/// `--basic-auth-dir=`. Dropping those keeps Tasks free of shell scripts.
///
/// With `MODELCAR_GITOPS_CHECK_ARGS` set in the environment, the command stops right after a
/// successful parse (exit 0): how tests prove that Tekton steps' arguments are accepted.
pub fn parse_args<T: clap::Parser>() -> T {
    let parsed = T::parse_from(without_empty_values(std::env::args_os()));
    if std::env::var_os(CHECK_ARGS_ENV).is_some() {
        eprintln!("arguments accepted");
        std::process::exit(0);
    }
    parsed
}

/// See [`parse_args`].
pub const CHECK_ARGS_ENV: &str = "MODELCAR_GITOPS_CHECK_ARGS";

/// The arguments minus every `--name=` whose value is empty (up to a `--` separator).
pub fn without_empty_values(
    args: impl IntoIterator<Item = std::ffi::OsString>,
) -> Vec<std::ffi::OsString> {
    let mut options_ended = false;
    args.into_iter()
        .filter(|arg| {
            let text = arg.to_string_lossy();
            options_ended |= text == "--";
            options_ended || !is_empty_long_flag(&text)
        })
        .collect()
}

fn is_empty_long_flag(arg: &str) -> bool {
    arg.strip_prefix("--")
        .and_then(|flag| flag.strip_suffix('='))
        .is_some_and(|name| !name.is_empty() && !name.contains('='))
}

/// An error that is the user's to fix in how the command was called (exit code 2).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// Whether the fix is in how the command was called: a [`UsageError`] anywhere in the chain, or
/// an HTTP request refused before sending (a plain-HTTP host not named, an unreadable CA file),
/// however deep a library wrapped it.
pub fn is_usage(error: &anyhow::Error) -> bool {
    error.chain().any(|e| {
        e.is::<UsageError>()
            || e.downcast_ref::<HttpError>()
                .is_some_and(HttpError::is_usage)
            || e.downcast_ref::<Box<HttpError>>()
                .is_some_and(|e| e.is_usage())
    })
}

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
            if is_usage(&error) {
                ExitStatus::Usage.into()
            } else {
                ExitStatus::Failed.into()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_flag_values_are_dropped() {
        let args = ["tool", "--ssh-dir=", "--set=a=", "--tag=v1", "--", "--x="]
            .map(std::ffi::OsString::from);
        let kept: Vec<String> = without_empty_values(args)
            .into_iter()
            .map(|a| a.into_string().unwrap())
            .collect();
        assert_eq!(kept, ["tool", "--set=a=", "--tag=v1", "--", "--x="]);
    }
}
