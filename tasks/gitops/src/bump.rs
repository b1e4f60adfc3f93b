//! Set values in one YAML file on a branch: fetch the tip (shallow), edit the file surgically,
//! commit, push; on a lost race fetch the new tip and do it again.

use std::path::Path;
use std::time::Instant;

use git2::{FileMode, Oid, Signature};
use yaml_edit::{Change, Document};

use crate::remote::{Identity, Remote};
use crate::session::{PushResult, Session, race_backoff};
use crate::validate::validate;
use crate::{GitopsError, Input};

/// Attempts in all when other pushes keep landing first.
const PUSH_ATTEMPTS: u32 = 12;

/// What to change, where, and how to commit it.
#[derive(Debug, Clone, Default)]
pub struct BumpRequest {
    /// The file, relative to the repository root (`model-deployments/test/jukebox/config.yaml`).
    pub file: String,
    /// Key paths (`["image", "tag"]`) and the string each must hold.
    pub sets: Vec<(Vec<String>, String)>,
    /// Create the file, or fill it if it holds no document (`---`), instead of failing.
    pub create: bool,
    /// The commit message; `None` for one written from `deployment` and the changes.
    pub message: Option<String>,
    pub author: Identity,
    /// The branch whose tip is edited (and, without `push_branch`, pushed to).
    pub base_branch: String,
    /// Push to this branch instead (e.g. `promote/prod/jukebox`). The tool owns it: it is reset onto
    /// the base branch's tip and force-pushed. Never the base branch.
    pub push_branch: Option<String>,
    /// What is being deployed, for the default commit message.
    pub deployment: Option<Deployment>,
}

/// A model version being deployed to an environment; names the default commit message.
#[derive(Debug, Clone, Default)]
pub struct Deployment {
    pub model: String,
    pub env: String,
    /// The commit of the source (training) repository the version was built from.
    pub source_commit: Option<String>,
}

/// What [`bump`] did.
#[derive(Debug, Clone)]
pub struct BumpOutcome {
    /// The new commit; when nothing changed, the tip of the base branch.
    pub commit: String,
    pub changed: bool,
    pub file: String,
    /// Each set key (dotted) and its value before (`None`: the key was added).
    pub old_values: Vec<(String, Option<String>)>,
    /// Unified diff of the file (empty when unchanged).
    pub diff: String,
    /// The branch the commit is on: `push_branch` if given, else the base branch.
    pub pushed_branch: String,
}

/// Sets the requested values in `req.file` on `req.base_branch` and pushes the commit.
///
/// Idempotent: when the file already holds the values nothing is committed or pushed
/// (`changed == false`). With `push_branch`, an existing branch that already holds exactly this
/// change on top of the current base is left as it is.
pub fn bump(remote: &Remote, req: &BumpRequest) -> Result<BumpOutcome, GitopsError> {
    validate(req)?;
    let session = Session::open(remote)?;
    let base_tracking = "refs/remotes/origin/base";
    let push_tracking = "refs/remotes/origin/push";
    let mut refspecs = vec![format!("+refs/heads/{}:{base_tracking}", req.base_branch)];
    if let Some(push_branch) = &req.push_branch {
        refspecs.push(format!("+refs/heads/{push_branch}:{push_tracking}"));
    }
    let target_branch = req.push_branch.as_deref().unwrap_or(&req.base_branch);
    let target_ref = format!("refs/heads/{target_branch}");
    let started = Instant::now();
    // A commit whose push failed in transit may have landed: recognise it on the next fetch.
    let mut in_flight: Option<(Oid, Edit)> = None;
    let mut last_network_error = None;

    for attempt in 1..=PUSH_ATTEMPTS {
        session.fetch(&refspecs, 1)?;
        let tip = session
            .resolve(base_tracking)
            .ok_or_else(|| GitopsError::NotFound {
                what: format!("branch {}", req.base_branch),
                url: remote.url.clone(),
                hint: "check the branch name (the repository needs at least one commit on it)"
                    .into(),
                input: Input::Branch,
            })?;
        if let Some((commit, edit)) = in_flight.take() {
            let landed = match &req.push_branch {
                None => tip == commit,
                Some(_) => session.resolve(push_tracking) == Some(commit),
            };
            if landed {
                return Ok(edit.into_outcome(commit, true, req, target_branch));
            }
        }
        let edit = Edit::apply(&session, tip, req)?;
        let Some(new_tree) = edit.new_tree else {
            tracing::info!(
                "{} on {} already holds these values; nothing to commit",
                req.file,
                req.base_branch
            );
            return Ok(edit.into_outcome(tip, false, req, &req.base_branch));
        };
        if req.push_branch.is_some()
            && let Some(existing) = session.resolve(push_tracking)
            && same_change(&session, existing, tip, new_tree)
        {
            tracing::info!(
                "{target_ref} already holds this change on top of {}",
                req.base_branch
            );
            return Ok(edit.into_outcome(existing, true, req, target_branch));
        }
        let commit = commit(&session, tip, new_tree, req, &edit)?;
        // Fast-forward only onto the base branch; the push branch is the tool's own, so forced.
        let expected = req.push_branch.is_none().then_some(tip);
        match session.push(commit, &target_ref, expected) {
            Ok(PushResult::Accepted) => {
                tracing::info!(
                    "pushed {commit} to {target_branch} ({} attempt(s), {:.1}s)",
                    attempt,
                    started.elapsed().as_secs_f64()
                );
                return Ok(edit.into_outcome(commit, true, req, target_branch));
            }
            // Another push landed first (on the base branch), or another run updated the push
            // branch at the same moment: fetch again; the edit may now be a no-op or already there.
            Ok(PushResult::Stale) => {
                last_network_error = None;
                let pause = race_backoff(attempt);
                tracing::info!(
                    "{target_branch} moved while we worked (another push landed first); \
                     fetching the new tip and re-applying in {:.1}s (attempt {attempt}/{PUSH_ATTEMPTS})",
                    pause.as_secs_f64()
                );
                std::thread::sleep(pause);
            }
            Ok(PushResult::Rejected { reference, message }) => {
                return Err(GitopsError::Rejected {
                    url: remote.url.clone(),
                    reference,
                    message,
                });
            }
            Err(error) if common::Transient::verdict(&error) != common::Verdict::Permanent => {
                let pause = race_backoff(attempt);
                tracing::warn!(
                    "pushing {commit}: {error}; checking the branch again in {:.1}s",
                    pause.as_secs_f64()
                );
                in_flight = Some((commit, edit));
                last_network_error = Some(error);
                std::thread::sleep(pause);
            }
            Err(error) => return Err(error),
        }
    }
    if let Some(error) = last_network_error {
        return Err(error);
    }
    Err(GitopsError::Contended {
        url: remote.url.clone(),
        reference: target_ref,
        attempts: PUSH_ATTEMPTS,
    })
}

/// The edit of one file on one tip.
#[derive(Debug)]
struct Edit {
    old_values: Vec<(String, Option<String>)>,
    new_values: Vec<(String, String)>,
    diff: String,
    /// `None` when the file is unchanged.
    new_tree: Option<Oid>,
}

impl Edit {
    fn apply(session: &Session<'_>, tip: Oid, req: &BumpRequest) -> Result<Self, GitopsError> {
        let repo = &session.repo;
        let git = |action: &str, e: git2::Error| GitopsError::git(action.to_owned(), &e);
        let tree = repo
            .find_commit(tip)
            .and_then(|c| c.tree())
            .map_err(|e| git("reading the branch tip", e))?;
        let entry = tree.get_path(Path::new(&req.file)).ok();
        let missing = |state| GitopsError::FileMissing {
            file: req.file.clone(),
            state,
            branch: req.base_branch.clone(),
            url: session.url().to_owned(),
        };
        let (old_bytes, mode) = match &entry {
            Some(entry) if entry.kind() == Some(git2::ObjectType::Blob) => {
                let blob = repo
                    .find_blob(entry.id())
                    .map_err(|e| git("reading the file", e))?;
                (Some(blob.content().to_vec()), entry.filemode())
            }
            Some(_) => {
                return Err(GitopsError::invalid(
                    Input::File,
                    format!(
                        "{} is a directory (or submodule) on branch {}, not a file; give the path of the YAML file",
                        req.file, req.base_branch
                    ),
                ));
            }
            None if req.create => (None, i32::from(FileMode::Blob)),
            None => return Err(missing("does not exist")),
        };
        let old_text = match &old_bytes {
            Some(bytes) => std::str::from_utf8(bytes).map_err(|e| GitopsError::NotText {
                file: req.file.clone(),
                detail: e.to_string(),
            })?,
            None => "",
        };
        let yaml_error = |source| GitopsError::Yaml {
            file: req.file.clone(),
            source,
        };
        let mut doc = Document::parse(old_text).map_err(yaml_error)?;
        if old_bytes.is_some() && doc.is_empty() && !req.create {
            return Err(missing("holds no YAML document"));
        }
        let mut old_values = Vec::new();
        let mut new_values = Vec::new();
        for (path, value) in &req.sets {
            let keys: Vec<&str> = path.iter().map(String::as_str).collect();
            let change = doc.set(&keys, value).map_err(yaml_error)?;
            let old = match change {
                Change::Unchanged => Some(value.clone()),
                Change::Replaced { old } => Some(old),
                Change::Added => None,
            };
            old_values.push((path.join("."), old));
            new_values.push((path.join("."), value.clone()));
        }
        let new_text = doc.as_str();
        if old_bytes.as_deref() == Some(new_text.as_bytes()) {
            return Ok(Self {
                old_values,
                new_values,
                diff: String::new(),
                new_tree: None,
            });
        }
        let diff = unified_diff(old_bytes.as_deref(), new_text.as_bytes(), &req.file)
            .map_err(|e| git("writing the diff", e))?;
        let blob = repo
            .blob(new_text.as_bytes())
            .map_err(|e| git("storing the edited file", e))?;
        let mode = if mode == i32::from(FileMode::BlobExecutable) {
            FileMode::BlobExecutable
        } else {
            FileMode::Blob
        };
        let new_tree = git2::build::TreeUpdateBuilder::new()
            .upsert(&req.file, blob, mode)
            .create_updated(repo, &tree)
            .map_err(|e| git("building the new tree", e))?;
        Ok(Self {
            old_values,
            new_values,
            diff,
            new_tree: Some(new_tree),
        })
    }

    fn into_outcome(
        self,
        commit: Oid,
        changed: bool,
        req: &BumpRequest,
        branch: &str,
    ) -> BumpOutcome {
        BumpOutcome {
            commit: commit.to_string(),
            changed,
            file: req.file.clone(),
            old_values: self.old_values,
            diff: if changed { self.diff } else { String::new() },
            pushed_branch: branch.to_owned(),
        }
    }
}

fn unified_diff(old: Option<&[u8]>, new: &[u8], path: &str) -> Result<String, git2::Error> {
    let mut patch = git2::Patch::from_buffers(
        old.unwrap_or_default(),
        Some(Path::new(path)),
        new,
        Some(Path::new(path)),
        None,
    )?;
    let buf = patch.to_buf()?;
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

/// True if `existing` is one commit on top of `base` with exactly `tree`.
fn same_change(session: &Session<'_>, existing: Oid, base: Oid, tree: Oid) -> bool {
    session.repo.find_commit(existing).is_ok_and(|commit| {
        // The parents as recorded in the commit: in a shallow fetch libgit2 hides them.
        let parents: Vec<&str> = commit
            .raw_header()
            .unwrap_or_default()
            .lines()
            .filter_map(|line| line.strip_prefix("parent "))
            .collect();
        commit.tree_id() == tree && parents == [base.to_string().as_str()]
    })
}

fn commit(
    session: &Session<'_>,
    parent: Oid,
    tree: Oid,
    req: &BumpRequest,
    edit: &Edit,
) -> Result<Oid, GitopsError> {
    let repo = &session.repo;
    let git = |action: &str, e: git2::Error| GitopsError::git(action.to_owned(), &e);
    let signature = Signature::now(&req.author.name, &req.author.email).map_err(|e| {
        GitopsError::invalid(
            Input::Author,
            format!(
                "commit author {:?} <{}> is not usable: {}",
                req.author.name,
                req.author.email,
                e.message()
            ),
        )
    })?;
    let message = req
        .message
        .clone()
        .unwrap_or_else(|| default_message(req, edit));
    let tree = repo
        .find_tree(tree)
        .map_err(|e| git("reading the new tree", e))?;
    let parent = repo
        .find_commit(parent)
        .map_err(|e| git("reading the branch tip", e))?;
    repo.commit(None, &signature, &signature, &message, &tree, &[&parent])
        .map_err(|e| git("committing", e))
}

/// `Deploy jukebox 1.4.0 to test (was 1.3.2)`, then one line per changed key and the source commit.
fn default_message(req: &BumpRequest, edit: &Edit) -> String {
    let version = edit.new_values.iter().position(|(key, _)| key == "version");
    let subject = match (&req.deployment, version) {
        (Some(d), Some(i)) => {
            let was = match &edit.old_values[i].1 {
                Some(old) if old != &edit.new_values[i].1 => format!(" (was {old})"),
                Some(_) => String::new(),
                None => " (first deployment)".to_owned(),
            };
            format!(
                "Deploy {} {} to {}{was}",
                d.model, edit.new_values[i].1, d.env
            )
        }
        (Some(d), None) => format!("Update {} in {}", d.model, d.env),
        (None, _) => format!("Update {}", req.file),
    };
    let mut message = format!("{subject}\n\n");
    for ((key, new), (_, old)) in edit.new_values.iter().zip(&edit.old_values) {
        match old {
            Some(old) if old == new => {}
            Some(old) => message.push_str(&format!("{key}: {old} -> {new}\n")),
            None => message.push_str(&format!("{key}: {new} (added)\n")),
        }
    }
    message.push_str(&format!("File: {}\n", req.file));
    if let Some(source) = req
        .deployment
        .as_ref()
        .and_then(|d| d.source_commit.as_ref())
    {
        message.push_str(&format!("Source-Commit: {source}\n"));
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_names_model_env_versions_and_source() {
        let req = BumpRequest {
            file: "model-deployments/test/jukebox/config.yaml".into(),
            deployment: Some(Deployment {
                model: "jukebox".into(),
                env: "test".into(),
                source_commit: Some("1234567".into()),
            }),
            ..BumpRequest::default()
        };
        let edit = Edit {
            old_values: vec![
                ("version".into(), Some("1.0".into())),
                ("name".into(), None),
            ],
            new_values: vec![
                ("version".into(), "1.1".into()),
                ("name".into(), "jukebox".into()),
            ],
            diff: String::new(),
            new_tree: None,
        };
        let message = default_message(&req, &edit);
        assert!(
            message.starts_with("Deploy jukebox 1.1 to test (was 1.0)\n\n"),
            "{message}"
        );
        assert!(message.contains("version: 1.0 -> 1.1\n"), "{message}");
        assert!(message.contains("name: jukebox (added)\n"), "{message}");
        assert!(message.contains("Source-Commit: 1234567\n"), "{message}");
    }
}
