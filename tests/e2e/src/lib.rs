//! End-to-end test support: reading the checked-in Tekton YAML (`tekton/`), resolving its `$(...)`
//! references, and doing locally what Tekton Triggers does with a webhook.
//!
//! - [`base_image`]: a base image with a shell (Debian's busybox-static) as an OCI layout, and
//!   copied into a registry;
//! - [`checks`]: the wiring checks the tests share (params given vs declared, references, runs);
//! - [`forge_shapes`]: forge API answers compared by shape (key paths and JSON types), status and
//!   headers, for checking the fake forges against the real Gitea;
//! - [`demo`]: the whole flow on this machine (`scripts/demo`, the binary `demo`);
//! - [`install`]: what installing on a cluster sets up (GitOps repository, registry credentials,
//!   the PipelineRuns' installation settings), for local servers;
//! - [`manifests`]: typed Tasks, Pipelines, PipelineRuns and Triggers objects ([`manifests::Manifests::load`],
//!   [`manifests::load_tasks`], [`manifests::load_pipeline`]);
//! - [`refs`]: `$(params.x)`, `$(tasks.t.results.r)`, `$(workspaces.w.path)` ... found, classified and
//!   substituted ([`refs::StepContext`] gives a step's args as the container would see them);
//! - [`run`]: a Pipeline walked as Tekton would: task order, params from params and results, each
//!   step's command line;
//! - [`local_run`]: a Pipeline's steps run as local processes (workspaces, results, Secrets);
//! - [`process`]: a local process with a time limit, output in files; command lines shown;
//! - [`task_image`]: a task image unpacked and its tool run inside it as a Tekton step's container
//!   would run it (read-only root, user 65532:0, only `/tmp` writable);
//! - [`tls_proxy`]: TLS in front of a plain-HTTP test server, as a cluster's routes give it;
//! - [`tekton_harness`]: Tekton's own Go code (admission, substitution, Triggers) run on the YAML, to
//!   check the local stand-ins above against;
//! - [`tool_run`]: a tool run with a time limit and an environment of its own, and its outcome;
//! - [`triggers`]: CEL filters and overlays, bindings and trigger templates applied to a webhook;
//! - [`webhooks`]: a receiver standing in for the EventListeners' routes, Gitea's webhooks, and each
//!   delivery through Triggers' own code.

pub mod base_image;
pub mod checks;
pub mod demo;
pub mod forge_shapes;
pub mod install;
pub mod local_run;
pub mod manifests;
pub mod process;
pub mod refs;
pub mod run;
pub mod task_image;
pub mod tekton_harness;
pub mod tls_proxy;
pub mod tool_run;
pub mod triggers;
pub mod webhooks;

use std::path::PathBuf;

/// The repository's root folder.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("the repository root exists")
}

/// The repository's `tekton/` folder.
pub fn tekton_dir() -> PathBuf {
    repo_root().join("tekton")
}

/// This crate's test fixtures.
pub fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}
