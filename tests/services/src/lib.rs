//! Real servers on loopback for tests: an OCI registry, a git smart-HTTP server, an sshd serving the same
//! repositories, an MLflow tracking server, Gitea, Kubeflow Model Registry on MariaDB (or PostgreSQL), and
//! a Kubernetes API server (kube-apiserver on etcd, with the Tekton and KServe CRDs); and a
//! fault-injection proxy to put in front of any of them.
//!
//! Every server listens on a free port on 127.0.0.1, lives in its own temporary directory, and answers
//! before its `start` returns (or the start panics with the server's log). Dropping the handle, also
//! while a test panics, kills the server's whole process group; a watchdog in the group does the same
//! when the test process dies without unwinding (SIGKILL, Ctrl-C). A missing server binary fails with the
//! command that installs it; `scripts/test` installs them all (Gitea, the model registry and the
//! Kubernetes API server are built from their Go modules by `scripts/go-servers build`).
//!
//! ```no_run
//! use test_services::{
//!     GitServer, Gitea, KubeApi, Mlflow, ModelRegistry, Registry, SshGitServer, workspace_bin,
//! };
//!
//! let oci = Registry::start_tls_with_auth("ci", "secret");
//! let ca = oci.ca_pem().unwrap(); // trust this CA; push to oci.host()
//!
//! let git = GitServer::start("gitops", "secret");
//! let url = git.create_repo("deployments");
//! git.seed("deployments", &[("test/jukebox/config.yaml", b"version: 1\n")], "Seed");
//! let ssh = SshGitServer::start(&git); // ssh.url("deployments"), ssh.ssh_directory()
//!
//! let mlflow = Mlflow::shared(); // one per test binary: keep MLflow tests in one test file
//!
//! let gitea = Gitea::start(); // admin user, gitea.token() (all scopes), gitea.read_token()
//! gitea.create_repo("gitops");
//! gitea.push_files("gitops", "main", &[("README.md", b"hi\n")], "Seed");
//!
//! let registry = ModelRegistry::start(); // REST API at registry.api_url(), on its own MariaDB
//!
//! let kube = KubeApi::shared(); // kube.url(), kube.ca_pem(), kube.admin_token(); one per test binary
//! kube.create_namespace("user1-prod");
//! kube.kubectl_ok(&["create", "serviceaccount", "runner", "-n", "user1-prod"], None);
//! let token = kube.service_account_token("user1-prod", "runner"); // by TokenRequest
//! assert!(!kube.can_i("system:serviceaccount:user1-prod:runner", &["get", "secrets", "-n", "user1-prod"]));
//!
//! let bin = workspace_bin("gitops-bump"); // run the real binary against them
//! # let _ = (ca, url, ssh, mlflow, bin, registry, token);
//! ```
//!
//! Start-up on an idle machine: registry and lighttpd ~30–70 ms, sshd ~60 ms, MLflow ~15 s; on a busy one
//! (another build on both cores): Gitea with its user and tokens ~3–5 s, the model registry with
//! MariaDB ~2 s, PostgreSQL alone ~1–2 s, the Kubernetes API server with its CRDs ~9–11 s.

mod certs;
mod fault_proxy;
mod git_cli;
mod git_http;
mod git_ssh;
mod gitea;
mod http;
mod kube_api;
mod mlflow;
mod model_registry;
mod process;
mod registry;
mod tools;

pub use certs::Certs;
pub use fault_proxy::{Fault, FaultProxy, Recorded, Rule};
pub use git_cli::{WorkingClone, git, git_as};
pub use git_http::GitServer;
pub use git_ssh::SshGitServer;
pub use gitea::{GITEA_ADMIN_USER, GITEA_READ_SCOPES, Gitea};
pub use http::ApiResponse;
pub use kube_api::KubeApi;
pub use mlflow::Mlflow;
pub use model_registry::{MODEL_REGISTRY_API, MariaDb, ModelRegistry, Postgres, RegistryDatabase};
pub use process::{ServerProcess, accepts_connections, live_members};
pub use registry::Registry;
pub use tools::{
    free_port, go_server_bin, go_server_path, require_tool, workspace_bin, workspace_root,
};
