//! The versions one file went through on a branch: every commit along the branch's first-parent
//! history that changed it (a merged promotion counts as its merge commit), newest first, with who
//! made it, when, and the version and image digest the file held then. What a trace shows as "the
//! commit that set the version", and what a rollback chooses the previous version from.
//!
//! And where a branch stands against another (a promotion branch against its base).

use std::path::Path;

use git2::{Oid, Repository, Sort};
use yaml_edit::Document;

use crate::remote::Remote;
use crate::session::{FULL_DEPTH, Session};
use crate::validate::{validate_branch, validate_path};
use crate::{GitopsError, Input};

/// The config key of the version (the image tag).
pub const VERSION_KEY: &str = "version";
/// The config key of the image's manifest digest.
pub const DIGEST_KEY: &str = "image_digest";

const TRACKING: &str = "refs/remotes/origin/history";
const BASE_TRACKING: &str = "refs/remotes/origin/base";
const HEAD_TRACKING: &str = "refs/remotes/origin/head";

/// The file as one commit left it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileRevision {
    pub commit: String,
    pub author_name: String,
    pub author_email: String,
    /// The author's time, Unix seconds.
    pub time: i64,
    /// The first line of the commit message.
    pub summary: String,
    /// The file's bytes; `None`: the commit removed the file.
    pub content: Option<Vec<u8>>,
    /// The string at [`VERSION_KEY`], when the file is YAML that has one.
    pub version: Option<String>,
    /// The string at [`DIGEST_KEY`], when the file is YAML that has one.
    pub image_digest: Option<String>,
    /// The version this commit rolled back from, when it is a rollback: its message (or, for a
    /// merge, the merged branch's last message) carries the `Rollback-From:` trailer.
    pub rolled_back_from: Option<String>,
}

impl FileRevision {
    /// The string at a key path (`["image", "tag"]`) of the file at this commit; `None` when the
    /// file is gone, is not YAML text, or has no such scalar.
    pub fn value(&self, path: &[&str]) -> Option<String> {
        let text = std::str::from_utf8(self.content.as_deref()?).ok()?;
        Document::parse(text).ok()?.get(path).ok().flatten()
    }

    /// The author's time as RFC 3339 in UTC.
    pub fn time_rfc3339(&self) -> String {
        common::time::rfc3339_utc(self.time)
    }

    /// `Name <email>`.
    pub fn author(&self) -> String {
        format!("{} <{}>", self.author_name, self.author_email)
    }
}

/// What [`history`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileHistory {
    pub branch: String,
    pub file: String,
    /// The branch tip the history was read from.
    pub tip: String,
    /// Every commit that changed the file, newest first. Empty when the file never existed.
    pub revisions: Vec<FileRevision>,
}

impl FileHistory {
    /// The file as the branch tip has it; `None` when it does not exist there.
    pub fn current(&self) -> Option<&FileRevision> {
        self.revisions.first().filter(|r| r.content.is_some())
    }

    /// The commit that set the version the tip has: the oldest revision of the newest unbroken run
    /// of revisions with that version (later commits that changed other keys do not count).
    pub fn version_set_by(&self) -> Option<&FileRevision> {
        let current = self.current()?;
        self.revisions
            .iter()
            .take_while(|r| r.content.is_some() && r.version == current.version)
            .last()
    }

    /// One revision per version the file went through, newest first: each where a version was set,
    /// consecutive changes that kept the version folded into the one that set it. A removal of the
    /// file is a revision of its own. The first is the current version; the second the one before.
    pub fn versions(&self) -> Vec<&FileRevision> {
        let mut runs: Vec<&FileRevision> = Vec::new();
        for revision in &self.revisions {
            match runs.last_mut() {
                Some(last)
                    if last.content.is_some() == revision.content.is_some()
                        && last.version == revision.version =>
                {
                    *last = revision;
                }
                _ => runs.push(revision),
            }
        }
        runs
    }

    /// The newest revision, older than the tip, that had `version` (`None`: the file never had it).
    pub fn earlier_with_version(&self, version: &str) -> Option<&FileRevision> {
        self.revisions
            .iter()
            .skip(1)
            .find(|r| r.content.is_some() && r.version.as_deref() == Some(version))
    }
}

/// The versions of `file` along `branch`'s first-parent history, newest first (the whole history
/// is fetched). A branch on which the file never existed gives an empty list.
pub fn history(remote: &Remote, branch: &str, file: &str) -> Result<FileHistory, GitopsError> {
    validate_branch(branch, "branch", Input::Branch)?;
    validate_path(file)?;
    let session = Session::open(remote)?;
    session.fetch(&[format!("+refs/heads/{branch}:{TRACKING}")], FULL_DEPTH)?;
    let tip = session
        .resolve(TRACKING)
        .ok_or_else(|| branch_not_found(remote, branch))?;
    let revisions = walk(&session.repo, tip, file)
        .map_err(|e| GitopsError::git(format!("reading the history of {file} on {branch}"), &e))?;
    Ok(FileHistory {
        branch: branch.to_owned(),
        file: file.to_owned(),
        tip: tip.to_string(),
        revisions,
    })
}

fn walk(repo: &Repository, tip: Oid, file: &str) -> Result<Vec<FileRevision>, git2::Error> {
    let mut walk = repo.revwalk()?;
    walk.push(tip)?;
    walk.simplify_first_parent()?;
    walk.set_sorting(Sort::TOPOLOGICAL)?;
    let blob_at = |commit: &git2::Commit<'_>| -> Result<Option<Oid>, git2::Error> {
        Ok(commit
            .tree()?
            .get_path(Path::new(file))
            .ok()
            .filter(|e| e.kind() == Some(git2::ObjectType::Blob))
            .map(|e| e.id()))
    };
    let mut revisions = Vec::new();
    for id in walk {
        let commit = repo.find_commit(id?)?;
        let blob = blob_at(&commit)?;
        let before = match commit.parents().next() {
            Some(parent) => blob_at(&parent)?,
            None => None,
        };
        if blob == before {
            continue;
        }
        let content = match blob {
            Some(blob) => Some(repo.find_blob(blob)?.content().to_vec()),
            None => None,
        };
        let author = commit.author();
        let mut revision = FileRevision {
            commit: id_of(&commit),
            author_name: author.name().unwrap_or_default().to_owned(),
            author_email: author.email().unwrap_or_default().to_owned(),
            time: author.when().seconds(),
            summary: String::from_utf8_lossy(commit.message_bytes())
                .lines()
                .next()
                .unwrap_or_default()
                .trim()
                .to_owned(),
            content,
            version: None,
            image_digest: None,
            rolled_back_from: rollback_trailer(&String::from_utf8_lossy(commit.message_bytes())),
        };
        // A merged rollback pull request: the trailer is on the merged branch's commit.
        if revision.rolled_back_from.is_none()
            && let Ok(merged) = commit.parent(1)
        {
            revision.rolled_back_from =
                rollback_trailer(&String::from_utf8_lossy(merged.message_bytes()));
        }
        revision.version = revision.value(&[VERSION_KEY]);
        revision.image_digest = revision.value(&[DIGEST_KEY]);
        revisions.push(revision);
    }
    Ok(revisions)
}

/// The git trailer a rollback commit carries, naming the version it rolled back from.
pub const ROLLBACK_TRAILER: &str = "Rollback-From";

/// The value of the last `Rollback-From:` line of a commit message.
pub fn rollback_trailer(message: &str) -> Option<String> {
    message
        .lines()
        .rev()
        .filter_map(|line| {
            line.trim()
                .strip_prefix(ROLLBACK_TRAILER)?
                .strip_prefix(':')
        })
        .map(|value| value.trim().to_owned())
        .find(|value| !value.is_empty())
}

fn id_of(commit: &git2::Commit<'_>) -> String {
    commit.id().to_string()
}

/// Where one branch stands against another.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BranchComparison {
    pub base_tip: String,
    pub head_tip: String,
    /// Commits on the head branch that the base does not have.
    pub ahead: usize,
    /// Commits on the base branch that the head does not have: the head was made from an older
    /// base.
    pub behind: usize,
}

/// How `head` (e.g. a promotion branch) stands against `base` (the whole history of both is
/// fetched).
pub fn compare_branches(
    remote: &Remote,
    base: &str,
    head: &str,
) -> Result<BranchComparison, GitopsError> {
    validate_branch(base, "base branch", Input::Branch)?;
    validate_branch(head, "branch", Input::PushBranch)?;
    let session = Session::open(remote)?;
    session.fetch(
        &[
            format!("+refs/heads/{base}:{BASE_TRACKING}"),
            format!("+refs/heads/{head}:{HEAD_TRACKING}"),
        ],
        FULL_DEPTH,
    )?;
    let base_tip = session
        .resolve(BASE_TRACKING)
        .ok_or_else(|| branch_not_found(remote, base))?;
    let head_tip = session
        .resolve(HEAD_TRACKING)
        .ok_or_else(|| branch_not_found(remote, head))?;
    let (ahead, behind) = session
        .repo
        .graph_ahead_behind(head_tip, base_tip)
        .map_err(|e| GitopsError::git(format!("comparing {head} with {base}"), &e))?;
    Ok(BranchComparison {
        base_tip: base_tip.to_string(),
        head_tip: head_tip.to_string(),
        ahead,
        behind,
    })
}

fn branch_not_found(remote: &Remote, branch: &str) -> GitopsError {
    GitopsError::NotFound {
        what: format!("branch {branch}"),
        url: remote.url.clone(),
        hint: "check the branch name".into(),
        input: Input::Branch,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rollback_trailer_is_read_from_the_message() {
        let message =
            "Roll back jukebox in prod to v1 (from v2)\n\nv2 answers slowly\n\nRollback-From: v2\n";
        assert_eq!(rollback_trailer(message).as_deref(), Some("v2"));
        assert_eq!(rollback_trailer("Set jukebox to v3\n"), None);
        assert_eq!(rollback_trailer("Rollback-From:\n"), None);
    }

    fn revision(commit: &str, version: Option<&str>, present: bool) -> FileRevision {
        FileRevision {
            commit: commit.into(),
            author_name: "Dev".into(),
            author_email: "dev@example.invalid".into(),
            time: 1_768_212_900,
            summary: format!("commit {commit}"),
            content: present.then(|| format!("version: {}\n", version.unwrap_or("")).into_bytes()),
            version: version.map(str::to_owned),
            image_digest: None,
            rolled_back_from: None,
        }
    }

    fn history_of(revisions: Vec<FileRevision>) -> FileHistory {
        FileHistory {
            branch: "main".into(),
            file: "config.yaml".into(),
            tip: revisions
                .first()
                .map(|r| r.commit.clone())
                .unwrap_or_default(),
            revisions,
        }
    }

    #[test]
    fn the_version_is_set_by_the_oldest_commit_of_the_newest_run() {
        let history = history_of(vec![
            revision("e", Some("v3"), true),
            revision("d", Some("v3"), true),
            revision("c", Some("v2"), true),
            revision("b", Some("v3"), true),
            revision("a", Some("v1"), true),
        ]);
        assert_eq!(history.current().unwrap().commit, "e");
        assert_eq!(history.version_set_by().unwrap().commit, "d");
        let versions: Vec<&str> = history.versions().iter().map(|r| &*r.commit).collect();
        assert_eq!(versions, ["d", "c", "b", "a"]);
        assert_eq!(history.earlier_with_version("v3").unwrap().commit, "d");
        assert_eq!(history.earlier_with_version("v1").unwrap().commit, "a");
        assert!(history.earlier_with_version("v9").is_none());
    }

    #[test]
    fn a_removed_file_has_no_current_version() {
        let history = history_of(vec![
            revision("c", None, false),
            revision("b", Some("v1"), true),
        ]);
        assert!(history.current().is_none());
        assert!(history.version_set_by().is_none());
        assert_eq!(history.versions().len(), 2);
        assert!(history_of(Vec::new()).current().is_none());
    }

    #[test]
    fn values_are_read_from_the_yaml() {
        let mut r = revision("a", Some("v1"), true);
        r.content = Some(b"name: jukebox\nimage:\n  tag: \"0123\"\n".to_vec());
        assert_eq!(r.value(&["image", "tag"]).as_deref(), Some("0123"));
        assert_eq!(r.value(&["missing"]), None);
        r.content = Some(vec![0xff, 0xfe]);
        assert_eq!(r.value(&["name"]), None);
        assert_eq!(r.time_rfc3339(), "2026-01-12T10:15:00Z");
        assert_eq!(r.author(), "Dev <dev@example.invalid>");
    }
}
