//! Changing a GitOps repository exactly and safely: set values in one YAML file on a branch,
//! commit, push; and read back what a push changed.
//!
//! - [`bump`]: fetch the branch tip (shallow over http(s) and ssh), edit one file with
//!   `yaml-edit` (only the bytes of the changed values change), commit, push. Nothing changes →
//!   no commit, no push. A push that loses a race with another pipeline is redone on the new tip
//!   (bounded, with jittered backoff); a push the server refuses (hook, protected branch) fails with
//!   the server's own message. Optionally the commit goes to a branch the tool owns
//!   (`push_branch`, force-pushed), for promotion pull requests.
//! - [`changed_files`] and [`read_file`]: what a merge, a squash or several commits changed under a
//!   directory, and one file at a branch tip (post-deployment steps).
//! - [`history()`]: the versions one file went through along a branch (who set which version,
//!   when), newest first; and [`compare_branches`]: how far a branch is ahead of and behind another.
//! - [`config_path`]: where a model's config lives for an environment.
//!
//! Transports: http(s) through a smart-HTTP transport on reqwest + rustls with the shared
//! [`common::HttpOptions`] (credentials as an `Authorization` header, never in a URL or on disk),
//! ssh through libgit2 with a Tekton `ssh-directory` workspace (host keys checked against its
//! `known_hosts`), and local paths. Work happens in a temporary bare repository that is always removed.
//!
//! Everything here blocks; from async code call it inside `tokio::task::spawn_blocking`.
//!
//! ```no_run
//! use gitops::{bump, BumpRequest, GitAuth, Remote, config_path};
//! # fn main() -> Result<(), gitops::GitopsError> {
//! let remote = Remote::new(
//!     "https://git.example/team/mlops-gitops.git",
//!     GitAuth::Basic { user: "bot".into(), token: common::Secret::new("t") },
//!     common::HttpOptions::default(),
//! );
//! let outcome = bump(&remote, &BumpRequest {
//!     file: config_path(gitops::DEFAULT_PATH_PATTERN, "jukebox", "test"),
//!     sets: vec![(vec!["version".into()], "1234567".into())],
//!     base_branch: "main".into(),
//!     ..BumpRequest::default()
//! })?;
//! println!("{} changed={}", outcome.commit, outcome.changed);
//! # Ok(()) }
//! ```

mod bump;
mod changes;
pub mod cli;
mod error;
mod history;
mod http_transport;
mod remote;
mod rollback;
mod session;
mod ssh;
mod validate;
mod values;

pub use bump::{BumpOutcome, BumpRequest, Deployment, bump};
pub use changes::{ChangeKind, FileChange, changed_files, read_file};
pub use error::{GitopsError, Input};
pub use history::{
    BranchComparison, DIGEST_KEY, FileHistory, FileRevision, ROLLBACK_TRAILER, VERSION_KEY,
    compare_branches, history, rollback_trailer,
};
pub use remote::{GitAuth, GitCredentials, Identity, Remote, is_ssh_url};
pub use rollback::{RollbackPlan, plan_rollback, rollback_message, rollback_plan};
pub use values::{Set, digest_set, parse_set};
pub use yaml_edit::parse_key_path;

/// The conventional place of a model's config: one directory per environment, one per model.
pub const DEFAULT_PATH_PATTERN: &str = "model-deployments/{env}/{model}/config.yaml";

/// Fills `{model}` and `{env}` in `pattern` (see [`DEFAULT_PATH_PATTERN`]).
/// Sets libgit2's own socket timeouts (git over SSH goes through them; HTTP uses the shared
/// client's idle timeout): connecting, and each read or write, may take at most `idle`.
///
/// libgit2 keeps these in process-wide variables without synchronisation: call this once, at the
/// start of the program, before any git operation runs.
pub fn set_network_timeouts(idle: std::time::Duration) {
    let millis = libc::c_int::try_from(idle.as_millis()).unwrap_or(libc::c_int::MAX);
    // SAFETY: called at program start, before any thread runs a git operation (see above).
    unsafe {
        let _ = git2::opts::set_server_connect_timeout_in_milliseconds(millis);
        let _ = git2::opts::set_server_timeout_in_milliseconds(millis);
    }
}

pub fn config_path(pattern: &str, model: &str, env: &str) -> String {
    pattern.replace("{model}", model).replace("{env}", env)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conventional_path() {
        assert_eq!(
            config_path(DEFAULT_PATH_PATTERN, "jukebox", "test"),
            "model-deployments/test/jukebox/config.yaml"
        );
        assert_eq!(
            config_path("apps/{model}-{env}.yaml", "m", "prod"),
            "apps/m-prod.yaml"
        );
    }
}
