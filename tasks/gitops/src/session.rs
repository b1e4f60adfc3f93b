//! One conversation with a remote repository: a bare work repository in a temporary directory
//! (removed on drop), fetches and pushes with the right transport, credentials and callbacks, and
//! failures explained by their precise cause rather than libgit2's generic message.

use std::cell::{Cell, RefCell};
use std::sync::Arc;
use std::time::Duration;

use common::{RetryPolicy, retry_blocking};
use git2::{
    AutotagOption, CertificateCheckStatus, Cred, CredentialType, FetchOptions, PushOptions,
    RemoteCallbacks,
};

use crate::http_transport::HttpContext;
use crate::remote::{Endpoint, GitAuth, Remote};
use crate::ssh::SshDirectory;
use crate::{GitopsError, Input};

/// Fetch everything: on a shallow work repository this also removes the shallow boundary.
pub(crate) const FULL_DEPTH: i32 = i32::MAX;

/// Statuses a server gives a ref update that lost a race with another push: fetch and try again.
const STALE_STATUSES: &[&str] = &[
    "non-fast-forward",
    "fetch first",
    "stale info",
    "failed to update ref",
    "failed to lock",
    "cannot lock ref",
    "incorrect old value",
];

pub(crate) struct Session<'r> {
    // Field order matters: the repository closes before its directory is removed.
    pub(crate) repo: git2::Repository,
    _workdir: tempfile::TempDir,
    remote: &'r Remote,
    endpoint: Endpoint,
    http: Option<Arc<HttpContext>>,
    ssh: Option<SshDirectory>,
    pub(crate) network_retry: RetryPolicy,
}

/// What the server did with a push.
#[derive(Debug)]
pub(crate) enum PushResult {
    Accepted,
    /// The branch moved since we fetched it.
    Stale,
    Rejected {
        reference: String,
        message: String,
    },
}

/// Per-operation callback state. libgit2 reports some failures only to callbacks.
#[derive(Default)]
struct OperationState {
    credential_calls: Cell<u32>,
    failure: RefCell<Option<GitopsError>>,
    server_output: RefCell<String>,
    rejected: RefCell<Vec<(String, String)>>,
}

impl OperationState {
    fn fail(&self, error: GitopsError) -> git2::Error {
        let message = error.to_string();
        *self.failure.borrow_mut() = Some(error);
        git2::Error::from_str(&message)
    }
}

impl<'r> Session<'r> {
    pub(crate) fn open(remote: &'r Remote) -> Result<Self, GitopsError> {
        let endpoint = Endpoint::of(&remote.url)?;
        let (http, ssh) = match (&endpoint, &remote.auth) {
            (Endpoint::Http(url), auth @ (GitAuth::Anonymous | GitAuth::Basic { .. })) => {
                (Some(HttpContext::new(url, auth, &remote.http)?), None)
            }
            (Endpoint::Http(_), GitAuth::SshDirectory(_)) => {
                return Err(GitopsError::invalid(
                    Input::Credentials,
                    format!(
                        "{} is an http(s) URL but ssh credentials were given; use the ssh URL of the \
                     repository, or basic-auth credentials",
                        remote.url
                    ),
                ));
            }
            (Endpoint::Ssh { .. }, GitAuth::SshDirectory(dir)) => {
                (None, Some(SshDirectory::load(dir)?))
            }
            (Endpoint::Ssh { .. }, _) => {
                return Err(GitopsError::invalid(
                    Input::Credentials,
                    format!(
                        "{} is an ssh URL; give an ssh-directory workspace with the key and \
                     known_hosts, or use the https URL",
                        remote.url
                    ),
                ));
            }
            (Endpoint::Local, _) => (None, None),
        };
        let workdir = tempfile::Builder::new()
            .prefix("gitops-")
            .tempdir()
            .map_err(|source| GitopsError::Io {
                action: "creating a temporary work directory in".into(),
                path: std::env::temp_dir(),
                source,
            })?;
        let repo = git2::Repository::init_bare(workdir.path())
            .map_err(|e| GitopsError::git("creating the work repository", &e))?;
        Ok(Self {
            repo,
            _workdir: workdir,
            remote,
            endpoint,
            http,
            ssh,
            network_retry: RetryPolicy::default(),
        })
    }

    pub(crate) fn url(&self) -> &str {
        &self.remote.url
    }

    /// Fetches `refspecs` (`0` depth: full history), retrying what is safe to retry.
    pub(crate) fn fetch(&self, refspecs: &[String], depth: i32) -> Result<(), GitopsError> {
        let what = format!("fetching from {}", self.url());
        retry_blocking(&self.network_retry, &what, |_| {
            self.fetch_once(refspecs, depth)
        })
    }

    fn fetch_once(&self, refspecs: &[String], depth: i32) -> Result<(), GitopsError> {
        let state = OperationState::default();
        let mut options = FetchOptions::new();
        options
            .remote_callbacks(self.callbacks(&state))
            .download_tags(AutotagOption::None);
        // libgit2's local transport cannot make shallow clones; a local fetch is cheap anyway.
        if depth > 0 && !matches!(self.endpoint, Endpoint::Local) {
            options.depth(depth);
        }
        let _entered = self.enter()?;
        let mut remote = self.anonymous_remote()?;
        remote
            .fetch(refspecs, Some(&mut options), None)
            .map_err(|e| self.explain(&state, "fetching from", e))
    }

    /// Pushes one refspec. Network failures are errors; what the server decided is a [`PushResult`].
    /// Pushes `commit` to `target` (a full ref name): a fast-forward from `expected` (the tip the
    /// commit was made on), or with `expected: None` a forced update.
    pub(crate) fn push(
        &self,
        commit: git2::Oid,
        target: &str,
        expected: Option<git2::Oid>,
    ) -> Result<PushResult, GitopsError> {
        if matches!(self.endpoint, Endpoint::Local) {
            return self.push_local(commit, target, expected);
        }
        let force = if expected.is_none() { "+" } else { "" };
        self.push_refspec(&format!("{force}{commit}:{target}"))
    }

    /// libgit2's local transport updates the target ref without checking its old value, which would
    /// silently drop a concurrent push. So the new objects are streamed as a pack straight into the
    /// target's object database, and the branch is then moved with a compare-and-swap under git's
    /// ref lock. No temporary ref is created: a concurrent fetch lists the remote's refs and then
    /// reads each, and would fail on one that vanished in between.
    fn push_local(
        &self,
        commit: git2::Oid,
        target: &str,
        expected: Option<git2::Oid>,
    ) -> Result<PushResult, GitopsError> {
        let path = self
            .remote
            .url
            .strip_prefix("file://")
            .unwrap_or(&self.remote.url);
        let target_repo = git2::Repository::open(path)
            .map_err(|e| GitopsError::git(format!("opening {path}"), &e))?;
        // What the target already has need not be sent: the expected tip, or for a forced update
        // the branch's current tip.
        let known = expected.or_else(|| target_repo.refname_to_id(target).ok());
        self.copy_objects(&target_repo, commit, known)
            .map_err(|e| GitopsError::git(format!("writing objects into {path}"), &e))?;
        let message = format!("gitops: update to {commit}");
        let updated = match expected {
            Some(old) => target_repo.reference_matching(target, commit, true, old, &message),
            None => target_repo.reference(target, commit, true, &message),
        };
        match updated {
            Ok(_) => Ok(PushResult::Accepted),
            Err(e)
                if matches!(
                    e.code(),
                    git2::ErrorCode::Modified | git2::ErrorCode::Locked | git2::ErrorCode::NotFound
                ) =>
            {
                Ok(PushResult::Stale)
            }
            Err(e) => Err(GitopsError::git(format!("updating {target} in {path}"), &e)),
        }
    }

    /// Streams the objects reachable from `commit` but not from `known` (a commit the target has)
    /// into `target_repo` as one pack.
    fn copy_objects(
        &self,
        target_repo: &git2::Repository,
        commit: git2::Oid,
        known: Option<git2::Oid>,
    ) -> Result<(), git2::Error> {
        let mut walk = self.repo.revwalk()?;
        walk.push(commit)?;
        let in_both = |oid: &git2::Oid| {
            self.repo.find_commit(*oid).is_ok() && target_repo.find_commit(*oid).is_ok()
        };
        if let Some(known) = known.filter(in_both) {
            walk.hide(known)?;
        }
        let mut builder = self.repo.packbuilder()?;
        builder.insert_walk(&mut walk)?;
        let odb = target_repo.odb()?;
        let mut writer = odb.packwriter()?;
        let mut failure = None;
        builder.foreach(
            |chunk| match std::io::Write::write_all(&mut writer, chunk) {
                Ok(()) => true,
                Err(e) => {
                    failure = Some(e);
                    false
                }
            },
        )?;
        if let Some(e) = failure {
            return Err(git2::Error::from_str(&e.to_string()));
        }
        writer.commit()?;
        Ok(())
    }

    fn push_refspec(&self, refspec: &str) -> Result<PushResult, GitopsError> {
        let state = OperationState::default();
        let mut callbacks = self.callbacks(&state);
        callbacks.push_update_reference(|reference, status| {
            if let Some(status) = status {
                state
                    .rejected
                    .borrow_mut()
                    .push((reference.to_owned(), status.to_owned()));
            }
            Ok(())
        });
        let mut options = PushOptions::new();
        options.remote_callbacks(callbacks);
        let _entered = self.enter()?;
        let mut remote = self.anonymous_remote()?;
        match remote.push(&[refspec], Some(&mut options)) {
            Ok(()) => {}
            Err(e) if e.code() == git2::ErrorCode::NotFastForward => return Ok(PushResult::Stale),
            Err(e) => {
                // Some servers end the connection after refusing; the refusal is what matters.
                if state.rejected.borrow().is_empty() {
                    return Err(self.explain(&state, "pushing to", e));
                }
            }
        }
        let rejected = state.rejected.borrow();
        let Some((reference, status)) = rejected.first() else {
            let output = server_lines(&state.server_output.borrow());
            if !output.is_empty() {
                tracing::info!("the server said: {output}");
            }
            return Ok(PushResult::Accepted);
        };
        if STALE_STATUSES.iter().any(|s| status.contains(s)) {
            return Ok(PushResult::Stale);
        }
        let output = server_lines(&state.server_output.borrow());
        let message = if output.is_empty() {
            status.clone()
        } else {
            format!("{status}; the server said: {output}")
        };
        Ok(PushResult::Rejected {
            reference: reference.clone(),
            message,
        })
    }

    fn enter(&self) -> Result<Option<crate::http_transport::Entered>, GitopsError> {
        match &self.http {
            Some(http) => {
                let _ = http.take_failure();
                http.enter().map(Some)
            }
            None => Ok(None),
        }
    }

    fn anonymous_remote(&self) -> Result<git2::Remote<'_>, GitopsError> {
        // Anonymous: the URL is never written to the work repository's config.
        self.repo
            .remote_anonymous(&self.remote.url)
            .map_err(|e| GitopsError::git(format!("using {} as a remote", self.remote.url), &e))
    }

    fn callbacks<'a>(&'a self, state: &'a OperationState) -> RemoteCallbacks<'a> {
        let mut callbacks = RemoteCallbacks::new();
        callbacks.sideband_progress(|data| {
            state
                .server_output
                .borrow_mut()
                .push_str(&String::from_utf8_lossy(data));
            true
        });
        if let (Some(ssh), Endpoint::Ssh { user, host, port }) = (&self.ssh, &self.endpoint) {
            let url = self.remote.url.clone();
            callbacks.credentials(move |_url, url_user, allowed| {
                let user = url_user.unwrap_or(user);
                if allowed.contains(CredentialType::USERNAME) {
                    return Cred::username(user);
                }
                // libgit2 asks again after every rejection: the second request means the key failed.
                let calls = state.credential_calls.get() + 1;
                state.credential_calls.set(calls);
                if calls > 1 || !allowed.contains(CredentialType::SSH_KEY) {
                    return Err(state.fail(GitopsError::Authentication {
                        url: url.clone(),
                        detail: format!(
                            "the server refused the key {} for user {user}; check that its public key \
                             is registered (as a deploy key with write access)",
                            ssh.private_key.display()
                        ),
                    }));
                }
                Cred::ssh_key(user, None, &ssh.private_key, None)
            });
            callbacks.certificate_check(move |cert, _host| {
                ssh.check_host_key(host, *port, cert)
                    .map(|()| CertificateCheckStatus::CertificateOk)
                    .map_err(|e| state.fail(e))
            });
        }
        callbacks
    }

    /// The precise cause of a failed operation: what a callback or the HTTP transport recorded,
    /// else libgit2's message.
    fn explain(&self, state: &OperationState, action: &str, error: git2::Error) -> GitopsError {
        if let Some(failure) = state.failure.borrow_mut().take() {
            return failure;
        }
        if let Some(failure) = self.http.as_ref().and_then(|h| h.take_failure()) {
            return failure;
        }
        if error.code() == git2::ErrorCode::Auth
            || error.class() == git2::ErrorClass::Ssh && error.message().contains("authentication")
        {
            return GitopsError::Authentication {
                url: self.remote.url.clone(),
                detail: error.message().to_owned(),
            };
        }
        GitopsError::git(format!("{action} {}", self.remote.url), &error)
    }

    /// The commit a ref points at, if it exists.
    pub(crate) fn resolve(&self, reference: &str) -> Option<git2::Oid> {
        self.repo.refname_to_id(reference).ok()
    }
}

/// The server's own words (hook output), one line each, without git's `remote:` decoration.
fn server_lines(output: &str) -> String {
    output
        .split(['\n', '\r'])
        .map(|line| line.trim().trim_start_matches("remote:").trim())
        .filter(|line| !line.is_empty())
        .collect::<Vec<_>>()
        .join(" / ")
}

/// The pause before another attempt after losing a push race: jittered so racing pipelines spread out.
pub(crate) fn race_backoff(attempt: u32) -> Duration {
    let base_ms = 100u64 << attempt.min(5);
    let jitter = rand::random::<u64>() % base_ms.max(1);
    Duration::from_millis(base_ms / 2 + jitter)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_output_lines() {
        assert_eq!(
            server_lines("remote: protected branch\r\nremote: ask an admin\n"),
            "protected branch / ask an admin"
        );
    }
}
