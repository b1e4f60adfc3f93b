//! Flags every binary shares, and the conventions of the command-line language: every flag
//! `--foo-bar` can also be set as `MODELCAR_FOO_BAR` (standard variables such as
//! `REGISTRY_AUTH_FILE` or `SOURCE_DATE_EPOCH` keep their own names); exit codes are 0 success,
//! 1 the operation failed, 2 usage error.
//!
//! Library errors say the fault and the fix in the domain's words and name no flags (a test reads
//! the libraries' messages: `tests/library_messages.rs`); a binary adds its own flag names through
//! [`fault_with`]. This crate is the exception: it defines the transport flags every tool shares
//! ([`CommonArgs`]: `--ca-cert`, `--insecure-skip-tls-verify`, `--plain-http`, `--idle-timeout`,
//! `--results-dir`), so its messages name them, the same in every tool.

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

/// A library error that can say whether its fix is in how the command was called (exit code 2)
/// rather than in the servers, the data or the network (exit code 1). Every library error type
/// implements it, so that every binary decides its exit code the same way: through [`fault`].
pub trait UsageFault: std::error::Error + Send + Sync + 'static {
    fn is_usage(&self) -> bool;
}

impl UsageFault for HttpError {
    fn is_usage(&self) -> bool {
        HttpError::is_usage(self)
    }
}

impl UsageFault for crate::results::ResultError {
    fn is_usage(&self) -> bool {
        false
    }
}

/// A library error as a binary reports it: the library's own words (the fault and the fix, in the
/// domain's terms), then, in parentheses, the flags of this tool that set what the error blames;
/// and whether it is a usage error. The library error's causes stay its causes.
#[derive(Debug)]
pub struct Fault {
    error: Box<dyn std::error::Error + Send + Sync>,
    usage: bool,
    flags: Option<String>,
}

impl Fault {
    pub fn is_usage(&self) -> bool {
        self.usage
    }
}

impl std::fmt::Display for Fault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.flags {
            Some(flags) => write!(f, "{} ({flags})", self.error),
            None => write!(f, "{}", self.error),
        }
    }
}

impl std::error::Error for Fault {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.error.source()
    }
}

/// A library error on its way out of a binary, classified by the library itself: exit code 2 when
/// [`UsageFault::is_usage`] says so, else 1.
pub fn fault<E: UsageFault>(error: E) -> anyhow::Error {
    fault_with(error, |_| None::<&str>)
}

/// As [`fault`], with the flags of this tool that set what `error` blames, as the binary's own
/// `flags` function picks them (by the error's variant): the library names no flags, since which
/// flag sets a thing differs from tool to tool.
pub fn fault_with<E, F>(error: E, flags: impl FnOnce(&E) -> Option<F>) -> anyhow::Error
where
    E: UsageFault,
    F: Into<String>,
{
    let flags = flags(&error).map(Into::into);
    anyhow::Error::new(Fault {
        usage: error.is_usage(),
        error: Box::new(error),
        flags,
    })
}

/// Whether the fix is in how the command was called: a [`UsageError`] anywhere in the chain, a
/// library error that says so ([`fault`]), or an HTTP request refused before sending (a plain-HTTP
/// host not named, an unreadable CA file), however deep a library wrapped it.
pub fn is_usage(error: &anyhow::Error) -> bool {
    error.chain().any(|e| {
        e.is::<UsageError>()
            || e.downcast_ref::<Fault>().is_some_and(Fault::is_usage)
            || e.downcast_ref::<HttpError>()
                .is_some_and(HttpError::is_usage)
            || e.downcast_ref::<Box<HttpError>>()
                .is_some_and(|e| e.is_usage())
    })
}

/// A usage error (exit code 2) with the binary's own message.
pub fn usage(message: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(UsageError(message.into()))
}

/// Runs a command body and turns its outcome into the exit code, printing the whole error chain:
/// what was being done, to what, and (innermost) why.
pub fn finish(outcome: anyhow::Result<()>) -> ExitCode {
    match outcome {
        Ok(()) => ExitStatus::Success.into(),
        Err(error) => {
            eprintln!("{}", report(&error));
            exit_status(&error).into()
        }
    }
}

/// The exit status for an error: [`ExitStatus::Usage`] when [`is_usage`], else
/// [`ExitStatus::Failed`].
pub fn exit_status(error: &anyhow::Error) -> ExitStatus {
    if is_usage(error) {
        ExitStatus::Usage
    } else {
        ExitStatus::Failed
    }
}

/// `error: …` with one `caused by: …` line per cause.
fn report(error: &anyhow::Error) -> String {
    let mut message = format!("error: {error}");
    for cause in error.chain().skip(1) {
        message.push_str(&format!("\n  caused by: {cause}"));
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    enum Library {
        #[error("repository a/b not found; check the repository's name")]
        NotFound,
        #[error("the server failed")]
        Down(#[source] std::io::Error),
    }

    impl UsageFault for Library {
        fn is_usage(&self) -> bool {
            matches!(self, Self::NotFound)
        }
    }

    #[test]
    fn a_library_error_says_whether_it_is_usage_and_the_binary_names_its_flags() {
        let flags = |e: &Library| matches!(e, Library::NotFound).then_some("--forge-repo");
        let not_found = fault_with(Library::NotFound, flags).context("promoting");
        assert_eq!(exit_status(&not_found), ExitStatus::Usage);
        assert_eq!(
            report(&not_found),
            "error: promoting\n  caused by: repository a/b not found; check the repository's name \
             (--forge-repo)"
        );
        let down = fault_with(Library::Down(std::io::Error::other("reset")), flags);
        assert_eq!(exit_status(&down), ExitStatus::Failed);
        assert_eq!(
            report(&down),
            "error: the server failed\n  caused by: reset"
        );
        assert_eq!(exit_status(&usage("give --model")), ExitStatus::Usage);
        assert_eq!(exit_status(&fault(Library::NotFound)), ExitStatus::Usage);
    }

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
