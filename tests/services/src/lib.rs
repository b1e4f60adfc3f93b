//! Real servers on loopback for tests: an OCI registry, a git smart-HTTP server, an sshd serving the same
//! repositories, and an MLflow tracking server.
//!
//! Every server listens on a free port on 127.0.0.1, lives in its own temporary directory, and answers
//! before its `start` returns. Dropping the handle (also while a test panics) stops the server's whole
//! process group; a watchdog in the group stops it too if the test process dies without unwinding.
//! A missing server binary fails with the command that installs it.

mod certs;
mod git_http;
mod git_ssh;
mod mlflow;
mod process;
mod registry;
mod tools;

pub use certs::Certs;
pub use git_http::GitServer;
pub use git_ssh::SshGitServer;
pub use mlflow::Mlflow;
pub use process::ServerProcess;
pub use registry::Registry;
pub use tools::{free_port, require_tool, workspace_bin, workspace_root};
