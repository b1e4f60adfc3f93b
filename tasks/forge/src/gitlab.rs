//! GitLab (`/api/v4`): merge requests, `PRIVATE-TOKEN`, the project addressed by its URL-encoded
//! path, labels by name (checked first: GitLab would silently create unknown ones), users by id.

use reqwest::Method;
use serde::Deserialize;
use serde_json::json;

use crate::api::{Api, Safety};
use crate::error::ForgeError;
use crate::model::{
    CommitStatus, CreateOutcome, Forge, ForgeKind, Label, NewPullRequest, PullRequest,
    PullRequestEdit, StatusState, User, UserRole, cut_draft_prefix,
};
use crate::rest;

const PAGE: usize = 100;
/// GitLab's Developer role: the least that may push branches and open merge requests.
const DEVELOPER: u64 = 30;

/// The title prefixes that make a merge request a draft (compared without case); the first is the
/// one written.
const DRAFT_PREFIXES: [&str; 3] = ["Draft:", "[Draft]", "(Draft)"];

/// The title GitLab is given: with the draft marker when it is to be a draft.
fn titled(title: &str, draft: bool) -> String {
    if draft {
        format!("{} {title}", DRAFT_PREFIXES[0])
    } else {
        title.to_owned()
    }
}

pub struct GitLab {
    api: Api,
    project: String,
}

#[derive(Deserialize)]
struct GlUser {
    id: u64,
    username: String,
}

#[derive(Deserialize)]
struct GlMergeRequest {
    iid: u64,
    web_url: String,
    title: String,
    #[serde(default)]
    description: Option<String>,
    state: String,
    #[serde(default)]
    draft: bool,
    source_branch: String,
    target_branch: String,
    #[serde(default)]
    labels: Vec<String>,
    #[serde(default)]
    reviewers: Vec<GlUser>,
    #[serde(default)]
    assignees: Vec<GlUser>,
}

/// A commit status: GitLab names the state `status` and the context `name`.
#[derive(Deserialize)]
struct GlStatus {
    #[serde(default)]
    status: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    target_url: Option<String>,
}

#[derive(Deserialize)]
struct GlAccess {
    access_level: u64,
}

#[derive(Deserialize, Default)]
struct GlPermissions {
    #[serde(default)]
    project_access: Option<GlAccess>,
    #[serde(default)]
    group_access: Option<GlAccess>,
}

#[derive(Deserialize)]
struct GlProject {
    #[serde(default)]
    permissions: Option<GlPermissions>,
}

fn user(u: GlUser) -> User {
    User {
        login: u.username,
        id: Some(u.id),
    }
}

impl From<GlMergeRequest> for PullRequest {
    fn from(m: GlMergeRequest) -> Self {
        let (title, marked) = cut_draft_prefix(&m.title, &DRAFT_PREFIXES);
        PullRequest {
            number: m.iid,
            url: m.web_url,
            title: title.to_owned(),
            draft: m.draft || marked,
            node_id: None,
            body: m.description.unwrap_or_default(),
            head: m.source_branch,
            base: m.target_branch,
            open: m.state == "opened",
            labels: m
                .labels
                .into_iter()
                .map(|name| Label { name, id: None })
                .collect(),
            reviewers: m.reviewers.into_iter().map(user).collect(),
            assignees: m.assignees.into_iter().map(user).collect(),
        }
    }
}

fn label_list(labels: &[Label]) -> String {
    labels
        .iter()
        .map(|l| l.name.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

fn user_ids<'a>(existing: &'a [User], added: &'a [User]) -> Vec<u64> {
    let mut ids: Vec<u64> = existing.iter().chain(added).filter_map(|u| u.id).collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

impl GitLab {
    pub(crate) fn new(api: Api, project: &str) -> Result<Self, ForgeError> {
        let project = project.trim_matches('/');
        if !project.contains('/') {
            return Err(ForgeError::RepoName(format!(
                "{project:?} is not a GitLab project's full path: give it as GROUP/PROJECT \
                 (subgroups allowed)"
            )));
        }
        Ok(Self {
            api,
            project: project.to_owned(),
        })
    }

    fn project_url(&self, rest: &[&str]) -> reqwest::Url {
        let mut segments = vec!["projects", self.project.as_str()];
        segments.extend_from_slice(rest);
        self.api.url(&segments)
    }

    fn mr_url(&self, iid: u64, rest: &[&str]) -> reqwest::Url {
        let iid = iid.to_string();
        let mut segments = vec!["merge_requests", iid.as_str()];
        segments.extend_from_slice(rest);
        self.project_url(&segments)
    }

    async fn put_mr(
        &self,
        iid: u64,
        body: serde_json::Value,
        action: &str,
    ) -> Result<(), ForgeError> {
        self.api
            .send(
                Method::PUT,
                &self.mr_url(iid, &[]),
                Some(&body),
                action,
                Safety::Idempotent,
            )
            .await?;
        Ok(())
    }
}

impl Forge for GitLab {
    fn kind(&self) -> ForgeKind {
        ForgeKind::GitLab
    }

    fn repo(&self) -> &str {
        &self.project
    }

    async fn check_repo(&self, base: &str) -> Result<(), ForgeError> {
        let action = format!("checking project {}", self.project);
        let project: Option<GlProject> = self
            .api
            .get_optional(&self.project_url(&[]), &action)
            .await?;
        let Some(project) = project else {
            return Err(rest::repo_not_found(&self.api, &self.project));
        };
        let permissions = project.permissions.unwrap_or_default();
        let level = [permissions.project_access, permissions.group_access]
            .into_iter()
            .flatten()
            .map(|a| a.access_level)
            .max();
        if let Some(level) = level.filter(|l| *l < DEVELOPER) {
            return Err(rest::cannot_push(
                &self.api,
                action,
                format!("the token's user has access level {level} (Developer is {DEVELOPER})"),
            ));
        }
        let url = self.project_url(&["repository", "branches", base]);
        rest::branch_must_exist(&self.api, &self.project, &url, base).await
    }

    async fn resolve_labels(&self, names: &[String]) -> Result<Vec<Label>, ForgeError> {
        rest::labels_one_by_one(&self.api, &self.project, names, |name| {
            self.project_url(&["labels", name])
        })
        .await
    }

    async fn resolve_users(
        &self,
        logins: &[String],
        role: UserRole,
    ) -> Result<Vec<User>, ForgeError> {
        let mut users = Vec::new();
        for login in logins {
            let mut url = self.api.url(&["users"]);
            url.query_pairs_mut().append_pair("username", login);
            let action = format!("looking up {} {login}", role.name());
            let found: Vec<GlUser> = self.api.get(&url, &action).await?;
            let found = found
                .into_iter()
                .next()
                .ok_or_else(|| rest::user_not_found(&self.api, &self.project, role, login))?;
            users.push(user(found));
        }
        Ok(users)
    }

    async fn find_open(&self, head: &str, base: &str) -> Result<Option<PullRequest>, ForgeError> {
        let mut url = self.project_url(&["merge_requests"]);
        url.query_pairs_mut()
            .append_pair("state", "opened")
            .append_pair("source_branch", head)
            .append_pair("target_branch", base);
        let action = format!(
            "looking up the merge request from {head} into {base} in {}",
            self.project
        );
        let found: Vec<GlMergeRequest> = self.api.get(&url, &action).await?;
        Ok(rest::first_open(found, head, base))
    }

    async fn list_open(
        &self,
        base: &str,
        head_prefix: &str,
    ) -> Result<Vec<PullRequest>, ForgeError> {
        let mut url = self.project_url(&["merge_requests"]);
        url.query_pairs_mut()
            .append_pair("state", "opened")
            .append_pair("target_branch", base);
        let action = format!(
            "listing open merge requests into {base} of {}",
            self.project
        );
        rest::list_open::<GlMergeRequest>(
            &self.api,
            &url,
            "per_page",
            PAGE,
            &action,
            base,
            head_prefix,
        )
        .await
    }

    async fn create(&self, new: &NewPullRequest<'_>) -> Result<CreateOutcome, ForgeError> {
        let action = format!(
            "opening a merge request from {} into {} in {}",
            new.head, new.base, self.project
        );
        let body = json!({
            "source_branch": new.head,
            "target_branch": new.base,
            "title": titled(new.title, new.draft),
            "description": new.body,
            "labels": label_list(new.labels),
        });
        let url = self.project_url(&["merge_requests"]);
        let exists = |e: &ForgeError| e.status() == Some(409);
        let opened: Option<GlMergeRequest> =
            rest::open_pull(&self.api, &url, &body, action, exists, &[400, 404, 422]).await?;
        Ok(CreateOutcome::from(opened.map(PullRequest::from)))
    }

    async fn update(&self, pr: &PullRequest, edit: &PullRequestEdit<'_>) -> Result<(), ForgeError> {
        let action = format!("updating merge request !{} of {}", pr.number, self.project);
        let body = json!({
            "title": titled(edit.title, edit.draft),
            "description": edit.body,
            "labels": label_list(edit.labels),
        });
        self.put_mr(pr.number, body, &action).await
    }

    async fn close_with_comment(&self, number: u64, comment: &str) -> Result<(), ForgeError> {
        let action = format!("commenting on merge request !{number} of {}", self.project);
        rest::comment(
            &self.api,
            &self.mr_url(number, &["notes"]),
            comment,
            &action,
        )
        .await?;
        let action = format!("closing merge request !{number} of {}", self.project);
        self.put_mr(number, json!({ "state_event": "close" }), &action)
            .await
    }

    async fn request_reviewers(
        &self,
        pr: &PullRequest,
        reviewers: &[User],
    ) -> Result<(), ForgeError> {
        if reviewers.is_empty() {
            return Ok(());
        }
        let action = format!(
            "setting reviewers of merge request !{} of {}",
            pr.number, self.project
        );
        let ids = user_ids(&pr.reviewers, reviewers);
        self.put_mr(pr.number, json!({ "reviewer_ids": ids }), &action)
            .await
    }

    async fn add_assignees(&self, pr: &PullRequest, assignees: &[User]) -> Result<(), ForgeError> {
        if assignees.is_empty() {
            return Ok(());
        }
        let action = format!("assigning merge request !{} of {}", pr.number, self.project);
        let ids = user_ids(&pr.assignees, assignees);
        self.put_mr(pr.number, json!({ "assignee_ids": ids }), &action)
            .await
    }

    async fn commit_status(
        &self,
        sha: &str,
        context: &str,
    ) -> Result<Option<CommitStatus>, ForgeError> {
        let mut url = self.project_url(&["repository", "commits", sha, "statuses"]);
        url.query_pairs_mut().append_pair("name", context);
        let action = format!("reading the statuses of commit {sha} in {}", self.project);
        // Without `all`, the latest status of each name.
        let statuses: Vec<GlStatus> = self.api.get(&url, &action).await?;
        Ok(statuses
            .into_iter()
            .find(|s| s.name == context)
            .and_then(|s| {
                Some(CommitStatus {
                    state: StatusState::from_forge(&s.status)?,
                    context: s.name,
                    description: s.description.unwrap_or_default(),
                    target_url: s.target_url.filter(|u| !u.is_empty()),
                })
            }))
    }

    async fn set_commit_status(
        &self,
        sha: &str,
        branch: &str,
        status: &CommitStatus,
    ) -> Result<(), ForgeError> {
        let state = match status.state {
            StatusState::Pending => "pending",
            StatusState::Success => "success",
            StatusState::Failure => "failed",
        };
        let mut body = json!({
            "state": state,
            "ref": branch,
            "name": status.context,
            "description": status.description,
        });
        if let Some(url) = &status.target_url {
            body["target_url"] = json!(url);
        }
        // A finished status of the same name is followed by a new one: safe to repeat.
        let url = self.project_url(&["statuses", sha]);
        rest::set_status(&self.api, &self.project, sha, status, &url, &body).await
    }
}
