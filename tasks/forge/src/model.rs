//! The forge-independent model: pull requests (GitLab's merge requests), labels, users, and the one
//! trait each forge implements.

use std::fmt;
use std::future::Future;
use std::str::FromStr;

use crate::error::ForgeError;

/// Which forge API is spoken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ForgeKind {
    Gitea,
    GitHub,
    GitLab,
}

impl ForgeKind {
    pub fn name(self) -> &'static str {
        match self {
            Self::Gitea => "Gitea",
            Self::GitHub => "GitHub",
            Self::GitLab => "GitLab",
        }
    }

    /// What a token needs for everything pr-create does, told when the forge says 401 or 403.
    pub fn permissions_needed(self) -> &'static str {
        match self {
            Self::Gitea => {
                "a Gitea token with scopes write:repository (branches, pull requests) and write:issue \
                 (labels, comments, assignees), from a user with write access to the repository"
            }
            Self::GitHub => {
                "a GitHub token with repository permissions pull_requests: write, contents: write and \
                 commit statuses: write (fine-grained), or the repo scope (classic)"
            }
            Self::GitLab => {
                "a GitLab token with the api scope, from a user with at least the Developer role on the project"
            }
        }
    }
}

impl fmt::Display for ForgeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for ForgeKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "gitea" | "forgejo" => Ok(Self::Gitea),
            "github" => Ok(Self::GitHub),
            "gitlab" => Ok(Self::GitLab),
            other => Err(format!(
                "unknown forge {other:?}; use gitea, github or gitlab"
            )),
        }
    }
}

/// A label as the forge knows it: Gitea wants ids, GitHub and GitLab take names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Label {
    pub name: String,
    pub id: Option<u64>,
}

/// A user as the forge knows it: GitLab wants ids, Gitea and GitHub take logins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub login: String,
    pub id: Option<u64>,
}

/// What a user is checked for, and named as in errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserRole {
    Reviewer,
    Assignee,
}

impl UserRole {
    pub fn name(self) -> &'static str {
        match self {
            Self::Reviewer => "reviewer",
            Self::Assignee => "assignee",
        }
    }
}

impl fmt::Display for UserRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An open or closed pull request (a merge request on GitLab), as far as promotion cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullRequest {
    /// Gitea and GitHub: the number; GitLab: the project-scoped `iid`.
    pub number: u64,
    pub url: String,
    /// The title without the draft marker some forges keep in it (Gitea's `WIP:`, GitLab's `Draft:`).
    pub title: String,
    /// A draft (work in progress): not meant to be merged as it is.
    pub draft: bool,
    /// GitHub's global id of the pull request (its GraphQL API's), where the forge has one.
    pub node_id: Option<String>,
    pub body: String,
    pub head: String,
    pub base: String,
    pub open: bool,
    pub labels: Vec<Label>,
    pub reviewers: Vec<User>,
    pub assignees: Vec<User>,
}

impl PullRequest {
    pub fn has_label(&self, name: &str) -> bool {
        self.labels.iter().any(|l| l.name == name)
    }

    pub fn has_reviewer(&self, login: &str) -> bool {
        self.reviewers
            .iter()
            .any(|u| u.login.eq_ignore_ascii_case(login))
    }

    pub fn has_assignee(&self, login: &str) -> bool {
        self.assignees
            .iter()
            .any(|u| u.login.eq_ignore_ascii_case(login))
    }
}

#[derive(Debug, Clone)]
pub struct NewPullRequest<'a> {
    pub head: &'a str,
    pub base: &'a str,
    /// The title without a draft marker: each forge marks a draft its own way.
    pub title: &'a str,
    pub body: &'a str,
    pub labels: &'a [Label],
    pub draft: bool,
}

/// A change to an open pull request. `labels` is the whole wanted set (existing ones included).
#[derive(Debug, Clone)]
pub struct PullRequestEdit<'a> {
    pub title: &'a str,
    pub body: &'a str,
    pub labels: &'a [Label],
    pub draft: bool,
}

/// The state of a commit status, in the words every forge understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusState {
    Pending,
    Success,
    Failure,
}

impl StatusState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Success => "success",
            Self::Failure => "failure",
        }
    }

    /// A state as a forge answers it (GitLab says `failed` and `running`); `None` for states this
    /// tool never sets (`error`, `warning`, `canceled`, ...).
    pub(crate) fn from_forge(text: &str) -> Option<Self> {
        match text {
            "success" => Some(Self::Success),
            "failure" | "failed" => Some(Self::Failure),
            "pending" | "running" | "created" => Some(Self::Pending),
            _ => None,
        }
    }
}

/// A status on a commit (a check shown beside the pull request whose head it is), one per context:
/// a newer status of the same context replaces the older one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitStatus {
    pub state: StatusState,
    /// What the status is about, e.g. `modelcar-gitops/promotion-rules` (GitLab: its `name`).
    pub context: String,
    /// One line; forges show about 140 characters.
    pub description: String,
    pub target_url: Option<String>,
}

/// The answer to a create: the new pull request, or the forge saying one is already open for this
/// head and base (someone else created it first).
#[derive(Debug, Clone)]
pub enum CreateOutcome {
    Created(Box<PullRequest>),
    AlreadyExists,
}

impl From<Option<PullRequest>> for CreateOutcome {
    /// The pull request opened, or `None` when one already existed.
    fn from(opened: Option<PullRequest>) -> Self {
        opened.map_or(Self::AlreadyExists, |pr| Self::Created(Box::new(pr)))
    }
}

/// One forge API for one repository. Each method says what it was doing in its errors, retries
/// what is safe to retry, and turns 401/403 into the permission the token lacks.
pub trait Forge: Send + Sync {
    fn kind(&self) -> ForgeKind;

    /// `owner/name` (GitLab: the project's full path).
    fn repo(&self) -> &str;

    /// Checks that the repository and its `base` branch exist and that the token may write to it.
    fn check_repo(&self, base: &str) -> impl Future<Output = Result<(), ForgeError>> + Send;

    /// Resolves label names (to ids where the forge needs them); an unknown name is an error naming it.
    fn resolve_labels(
        &self,
        names: &[String],
    ) -> impl Future<Output = Result<Vec<Label>, ForgeError>> + Send;

    /// Resolves logins of reviewers or assignees; an unknown one is an error naming it.
    fn resolve_users(
        &self,
        logins: &[String],
        role: UserRole,
    ) -> impl Future<Output = Result<Vec<User>, ForgeError>> + Send;

    /// The open pull request from `head` into `base`, if any.
    fn find_open(
        &self,
        head: &str,
        base: &str,
    ) -> impl Future<Output = Result<Option<PullRequest>, ForgeError>> + Send;

    /// Every open pull request into `base` whose head branch starts with `head_prefix`.
    fn list_open(
        &self,
        base: &str,
        head_prefix: &str,
    ) -> impl Future<Output = Result<Vec<PullRequest>, ForgeError>> + Send;

    /// Opens a pull request. Not retried blindly: a retry first looks the pull request up.
    fn create(
        &self,
        new: &NewPullRequest<'_>,
    ) -> impl Future<Output = Result<CreateOutcome, ForgeError>> + Send;

    /// Sets title, body and labels of an open pull request.
    fn update(
        &self,
        pr: &PullRequest,
        edit: &PullRequestEdit<'_>,
    ) -> impl Future<Output = Result<(), ForgeError>> + Send;

    /// Leaves `comment` on the pull request, then closes it.
    fn close_with_comment(
        &self,
        number: u64,
        comment: &str,
    ) -> impl Future<Output = Result<(), ForgeError>> + Send;

    /// Asks `reviewers` (not yet requested) for a review.
    fn request_reviewers(
        &self,
        pr: &PullRequest,
        reviewers: &[User],
    ) -> impl Future<Output = Result<(), ForgeError>> + Send;

    /// Adds `assignees` to those already assigned.
    fn add_assignees(
        &self,
        pr: &PullRequest,
        assignees: &[User],
    ) -> impl Future<Output = Result<(), ForgeError>> + Send;

    /// The latest status of `context` on commit `sha`, if it has one.
    fn commit_status(
        &self,
        sha: &str,
        context: &str,
    ) -> impl Future<Output = Result<Option<CommitStatus>, ForgeError>> + Send;

    /// Sets a status on commit `sha` of `branch` (GitLab attaches it to the branch's pipeline).
    fn set_commit_status(
        &self,
        sha: &str,
        branch: &str,
        status: &CommitStatus,
    ) -> impl Future<Output = Result<(), ForgeError>> + Send;
}

/// `title` without a leading draft marker among `prefixes` (compared without case), and whether
/// it had one. Spaces after the marker go too.
pub(crate) fn cut_draft_prefix<'a>(title: &'a str, prefixes: &[&str]) -> (&'a str, bool) {
    for prefix in prefixes {
        if let Some(head) = title.get(..prefix.len())
            && head.eq_ignore_ascii_case(prefix)
        {
            return (title[prefix.len()..].trim_start(), true);
        }
    }
    (title, false)
}

#[cfg(test)]
mod tests {
    use super::cut_draft_prefix;

    #[test]
    fn draft_prefixes() {
        let gitea = ["WIP:", "[WIP]"];
        assert_eq!(
            cut_draft_prefix("WIP: Promote x", &gitea),
            ("Promote x", true)
        );
        assert_eq!(
            cut_draft_prefix("[wip]Promote x", &gitea),
            ("Promote x", true)
        );
        assert_eq!(
            cut_draft_prefix("Promote WIP: x", &gitea),
            ("Promote WIP: x", false)
        );
        assert_eq!(cut_draft_prefix("WI", &gitea), ("WI", false));
        assert_eq!(cut_draft_prefix("é", &gitea), ("é", false));
    }
}
