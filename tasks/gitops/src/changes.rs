//! Reading a branch: one file at its tip, or what a push changed (for the post-deployment step
//! that reacts to a merged promotion).

use std::path::Path;

use git2::{Delta, DiffOptions, Oid};

use crate::remote::Remote;
use crate::session::{FULL_DEPTH, Session};
use crate::validate::{validate_branch, validate_path};
use crate::{GitopsError, Input};

/// How a file changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    Added,
    Modified,
    Deleted,
}

/// One file a push changed, with its content before and after (`None` where it did not exist).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileChange {
    pub path: String,
    pub kind: ChangeKind,
    pub old: Option<Vec<u8>>,
    pub new: Option<Vec<u8>>,
}

const TRACKING: &str = "refs/remotes/origin/branch";

/// Depths tried in turn until the commits asked about are in the work repository.
const DEPTH_LADDER: &[i32] = &[2, 32, 512, FULL_DEPTH];

/// The files under `path_prefix` that differ between `before` and `after` on `branch`.
///
/// - `before: None` compares `after` with its first parent: for a merge commit that is what the
///   merge brought in, for a squash merge or a single commit what that commit changed.
/// - `before: Some(b)` compares `b` with `after`, covering several commits pushed at once (a
///   webhook's `before`/`after`). An all-zero `before` (a new branch) means everything is added.
/// - Renames show as a deletion and an addition. `path_prefix` is a directory (`model-deployments/prod`)
///   or empty for the whole repository.
///
/// Both commits must be in `branch`'s history; the history is fetched only as deep as needed.
pub fn changed_files(
    remote: &Remote,
    branch: &str,
    after: &str,
    before: Option<&str>,
    path_prefix: &str,
) -> Result<Vec<FileChange>, GitopsError> {
    validate_branch(branch, "branch", Input::Branch)?;
    let prefix = path_prefix.trim_matches('/');
    if !prefix.is_empty() {
        validate_path(prefix)?;
    }
    let after = parse_commit_id(after, "after")?;
    let before = match before.map(|b| parse_commit_id(b, "before")).transpose()? {
        Some(id) if id.is_zero() => Some(None),
        Some(id) => Some(Some(id)),
        None => None,
    };
    let session = Session::open(remote)?;
    let refspec = [format!("+refs/heads/{branch}:{TRACKING}")];
    let not_found = |commit: Oid| GitopsError::CommitNotFound {
        commit: commit.to_string(),
        branch: branch.to_owned(),
        url: remote.url.clone(),
    };

    let mut bases = None;
    for &depth in DEPTH_LADDER {
        session.fetch(&refspec, depth)?;
        if session.resolve(TRACKING).is_none() {
            return Err(GitopsError::NotFound {
                what: format!("branch {branch}"),
                url: remote.url.clone(),
                hint: "check the branch name".into(),
                input: Input::Branch,
            });
        }
        let Ok(after_commit) = session.repo.find_commit(after) else {
            continue;
        };
        let base = match before {
            Some(Some(before)) => match session.repo.find_commit(before) {
                Ok(_) => Some(before),
                Err(_) => continue,
            },
            Some(None) => None,
            // A shallow boundary shows no parents: fetch deeper unless this is the full history.
            None if after_commit.parent_count() == 0 && depth != FULL_DEPTH => continue,
            None => after_commit.parent_id(0).ok(),
        };
        bases = Some((after_commit.tree_id(), base));
        break;
    }
    let Some((after_tree, base)) = bases else {
        let missing = match before {
            Some(Some(b)) if session.repo.find_commit(after).is_ok() => b,
            _ => after,
        };
        return Err(not_found(missing));
    };
    let git = |action: &str, e: git2::Error| GitopsError::git(action.to_owned(), &e);
    let repo = &session.repo;
    let old_tree = match base {
        Some(base) => Some(
            repo.find_commit(base)
                .and_then(|c| c.tree())
                .map_err(|e| git("reading the earlier commit", e))?,
        ),
        None => None,
    };
    let new_tree = repo
        .find_tree(after_tree)
        .map_err(|e| git("reading the later commit", e))?;
    let mut options = DiffOptions::new();
    if !prefix.is_empty() {
        options
            .pathspec(format!("{prefix}/"))
            .disable_pathspec_match(true);
    }
    let diff = repo
        .diff_tree_to_tree(old_tree.as_ref(), Some(&new_tree), Some(&mut options))
        .map_err(|e| git("comparing the commits", e))?;
    let blob = |id: Oid| -> Result<Option<Vec<u8>>, GitopsError> {
        if id.is_zero() {
            return Ok(None);
        }
        repo.find_blob(id)
            .map(|b| Some(b.content().to_vec()))
            .map_err(|e| git("reading a changed file", e))
    };
    let mut changes = Vec::new();
    for delta in diff.deltas() {
        let kind = match delta.status() {
            Delta::Added => ChangeKind::Added,
            Delta::Deleted => ChangeKind::Deleted,
            Delta::Modified | Delta::Typechange => ChangeKind::Modified,
            _ => continue,
        };
        let file = match kind {
            ChangeKind::Deleted => delta.old_file(),
            _ => delta.new_file(),
        };
        let path = file
            .path()
            .and_then(Path::to_str)
            .unwrap_or_default()
            .to_owned();
        changes.push(FileChange {
            path,
            kind,
            old: blob(delta.old_file().id())?,
            new: blob(delta.new_file().id())?,
        });
    }
    Ok(changes)
}

/// The content of `path` at the tip of `branch`, or `None` if there is no such file.
pub fn read_file(
    remote: &Remote,
    branch: &str,
    path: &str,
) -> Result<Option<Vec<u8>>, GitopsError> {
    validate_branch(branch, "branch", Input::Branch)?;
    validate_path(path)?;
    let session = Session::open(remote)?;
    session.fetch(&[format!("+refs/heads/{branch}:{TRACKING}")], 1)?;
    let tip = session
        .resolve(TRACKING)
        .ok_or_else(|| GitopsError::NotFound {
            what: format!("branch {branch}"),
            url: remote.url.clone(),
            hint: "check the branch name".into(),
            input: Input::Branch,
        })?;
    let git = |e: git2::Error| GitopsError::git(format!("reading {path} on {branch}"), &e);
    let tree = session
        .repo
        .find_commit(tip)
        .and_then(|c| c.tree())
        .map_err(git)?;
    let Ok(entry) = tree.get_path(Path::new(path)) else {
        return Ok(None);
    };
    match entry.kind() {
        Some(git2::ObjectType::Blob) => {
            let blob = session.repo.find_blob(entry.id()).map_err(git)?;
            Ok(Some(blob.content().to_vec()))
        }
        _ => Ok(None),
    }
}

fn parse_commit_id(id: &str, name: &str) -> Result<Oid, GitopsError> {
    let id = id.trim();
    if (id.len() == 40 || id.len() == 64)
        && id.bytes().all(|b| b.is_ascii_hexdigit())
        && let Ok(oid) = Oid::from_str(id)
    {
        return Ok(oid);
    }
    Err(GitopsError::invalid(
        Input::Commits,
        format!("{name} commit {id:?} is not a full commit id (40 hex digits, as webhooks send)"),
    ))
}
