//! Conventions shared by every modelcar-gitops command, written once:
//!
//! - [`results`]: Tekton results (`/tekton/results/<NAME>`), echoed on stdout for a person.
//! - [`secret`]: secrets from files or the environment, never argv, never printed.
//! - [`retry`]: bounded exponential backoff with jitter for what is safe to retry.
//! - [`http`]: the one HTTP client: rustls, extra CAs, plain HTTP only by opt-in, credentials
//!   only to their own origin, an idle timeout.
//! - [`logging`]: `tracing` output for terminals, Tekton logs and machines.
//! - [`progress`]: a bar on a terminal, periodic plain lines in logs.
//! - [`cli`]: flags every binary shares, and the exit-code convention.

pub mod cli;
pub mod http;
pub mod logging;
pub mod progress;
pub mod results;
pub mod retry;
pub mod secret;
pub mod time;

pub use cli::{
    CommonArgs, ExitStatus, Fault, UsageError, UsageFault, fault, fault_with, finish, is_usage,
    parse_args, usage,
};
pub use http::{HttpError, HttpOptions};
pub use results::Results;
pub use retry::{RetryPolicy, Transient, Verdict, retry_async, retry_blocking};
pub use secret::Secret;
