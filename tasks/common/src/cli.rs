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
    let args = without_empty_values(std::env::args_os());
    for warning in deprecated_spellings(&T::command(), &args) {
        eprintln!("warning: {warning}");
    }
    let parsed = T::parse_from(args);
    if std::env::var_os(CHECK_ARGS_ENV).is_some() {
        eprintln!("arguments accepted");
        std::process::exit(0);
    }
    parsed
}

/// A warning for each former spelling of a flag used in `args`: a hidden alias (the flag's help
/// names the current spelling), or a hidden flag of its own whose help says what replaced it.
pub fn deprecated_spellings(command: &clap::Command, args: &[std::ffi::OsString]) -> Vec<String> {
    let used = |name: &str| {
        args.iter().any(|arg| {
            let arg = arg.to_string_lossy();
            arg.strip_prefix("--")
                .is_some_and(|rest| rest == name || rest.starts_with(&format!("{name}=")))
        })
    };
    let mut warnings = Vec::new();
    for arg in command.get_arguments() {
        let Some(long) = arg.get_long() else { continue };
        for alias in arg.get_aliases().into_iter().flatten() {
            if used(alias) {
                warnings.push(format!(
                    "--{alias} is a former spelling of --{long}, accepted for now; use --{long}"
                ));
            }
        }
        if arg.is_hide_set() && used(long) {
            let help = arg.get_help().map(ToString::to_string).unwrap_or_default();
            warnings.push(format!(
                "--{long} is deprecated ({}), accepted for now",
                help.trim_end_matches('.')
            ));
        }
    }
    warnings
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

#[cfg(test)]
mod deprecation_tests {
    use super::*;

    #[derive(clap::Parser)]
    struct Example {
        #[arg(long, alias = "revision")]
        source_commit: Option<String>,
        /// Former spelling of --git-username.
        #[arg(long = "username", hide = true)]
        former_username: Option<String>,
    }

    #[test]
    fn former_spellings_are_named_with_their_successor() {
        use clap::CommandFactory;
        let args: Vec<std::ffi::OsString> = [
            "tool",
            "--revision=abc",
            "--username",
            "bot",
            "--source-commit-x",
        ]
        .map(Into::into)
        .to_vec();
        let warnings = deprecated_spellings(&Example::command(), &args);
        assert_eq!(
            warnings,
            [
                "--revision is a former spelling of --source-commit, accepted for now; use --source-commit",
                "--username is deprecated (Former spelling of --git-username), accepted for now",
            ]
        );
        let current: Vec<std::ffi::OsString> =
            ["tool", "--source-commit", "abc"].map(Into::into).to_vec();
        assert!(deprecated_spellings(&Example::command(), &current).is_empty());
    }
}
