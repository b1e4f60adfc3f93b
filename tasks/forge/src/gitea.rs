//! Gitea (and Forgejo): `/api/v1`, `Authorization: token …`, labels by id.

use reqwest::Method;
use serde::Deserialize;
use serde_json::json;

use crate::api::{Api, Safety};
use crate::error::ForgeError;
use crate::model::{
    CommitStatus, CreateOutcome, Forge, ForgeKind, Label, NewPullRequest, PullRequest,
    PullRequestEdit, User, UserRole, cut_draft_prefix,
};
use crate::rest::{self, ForgeLabel, LoginUser as GiteaUser};

const PAGE: usize = 50;

/// Gitea's default `[repository.pull-request] WORK_IN_PROGRESS_PREFIXES`: a title starting with one
/// of them (compared without case) makes the pull request a draft. The first is the one written.
const WIP_PREFIXES: [&str; 2] = ["WIP:", "[WIP]"];

/// The title Gitea is given: with the draft marker when it is to be a draft.
fn titled(title: &str, draft: bool) -> String {
    if draft {
        format!("{} {title}", WIP_PREFIXES[0])
    } else {
        title.to_owned()
    }
}

pub struct Gitea {
    api: Api,
    repo: String,
    owner: String,
    name: String,
}

#[derive(Deserialize)]
struct GiteaBranchRef {
    #[serde(rename = "ref")]
    name: String,
}

#[derive(Deserialize)]
struct GiteaPull {
    number: u64,
    html_url: String,
    title: String,
    #[serde(default)]
    body: Option<String>,
    state: String,
    #[serde(default)]
    draft: bool,
    head: GiteaBranchRef,
    base: GiteaBranchRef,
    #[serde(default)]
    labels: Option<Vec<ForgeLabel>>,
    #[serde(default)]
    requested_reviewers: Option<Vec<GiteaUser>>,
    #[serde(default)]
    assignees: Option<Vec<GiteaUser>>,
}

#[derive(Deserialize)]
struct GiteaPermissions {
    #[serde(default)]
    push: bool,
}

#[derive(Deserialize)]
struct GiteaRepo {
    #[serde(default)]
    permissions: Option<GiteaPermissions>,
}

impl From<GiteaPull> for PullRequest {
    fn from(p: GiteaPull) -> Self {
        let (title, marked) = cut_draft_prefix(&p.title, &WIP_PREFIXES);
        PullRequest {
            number: p.number,
            url: p.html_url,
            title: title.to_owned(),
            draft: p.draft || marked,
            node_id: None,
            body: p.body.unwrap_or_default(),
            head: p.head.name,
            base: p.base.name,
            open: p.state == "open",
            labels: p
                .labels
                .unwrap_or_default()
                .into_iter()
                .map(Label::from)
                .collect(),
            reviewers: p
                .requested_reviewers
                .unwrap_or_default()
                .into_iter()
                .map(User::from)
                .collect(),
            assignees: p
                .assignees
                .unwrap_or_default()
                .into_iter()
                .map(User::from)
                .collect(),
        }
    }
}

impl Gitea {
    pub(crate) fn new(api: Api, repo: &str) -> Result<Self, ForgeError> {
        let (owner, name) = crate::split_owner_name(ForgeKind::Gitea, repo)?;
        Ok(Self {
            api,
            repo: repo.to_owned(),
            owner,
            name,
        })
    }

    fn repo_url(&self, rest: &[&str]) -> reqwest::Url {
        let mut segments = vec!["repos", self.owner.as_str(), self.name.as_str()];
        segments.extend_from_slice(rest);
        self.api.url(&segments)
    }

    /// Gitea's `permissions` are the user's on the repository, not the token's: a token with read
    /// scopes only still shows `push: true`, and would be refused only when opening the pull request,
    /// after the branch was pushed. Two writes that cannot change anything tell first: an empty edit
    /// of pull request 0 and of comment 0 (ids start at 1). With `write:repository` and
    /// `write:issue` they answer 404 or 422; without, 403 naming the missing scope.
    async fn check_token_scopes(&self) -> Result<(), ForgeError> {
        let probes: [(&[&str], &str); 2] = [
            (&["pulls", "0"], "write:repository"),
            (&["issues", "comments", "0"], "write:issue"),
        ];
        for (segments, scope) in probes {
            let action = format!("checking that the token has the scope {scope}");
            match self
                .api
                .send(
                    Method::PATCH,
                    &self.repo_url(segments),
                    Some(&json!({})),
                    &action,
                    Safety::Once,
                )
                .await
            {
                Err(e @ (ForgeError::Unauthorized { .. } | ForgeError::Forbidden { .. })) => {
                    return Err(e);
                }
                // 404 or 422: the scope is there (anything else is for the real requests to tell).
                Err(e) => tracing::debug!("{action}: {e}"),
                Ok(_) => {}
            }
        }
        Ok(())
    }

    fn label_ids(labels: &[Label]) -> Vec<u64> {
        labels.iter().filter_map(|l| l.id).collect()
    }
}

impl Forge for Gitea {
    fn kind(&self) -> ForgeKind {
        ForgeKind::Gitea
    }

    fn repo(&self) -> &str {
        &self.repo
    }

    async fn check_repo(&self, base: &str) -> Result<(), ForgeError> {
        let action = format!("checking repository {}", self.repo);
        let repo: Option<GiteaRepo> = self.api.get_optional(&self.repo_url(&[]), &action).await?;
        let Some(repo) = repo else {
            return Err(rest::repo_not_found(&self.api, &self.repo));
        };
        if let Some(GiteaPermissions { push: false }) = repo.permissions {
            return Err(rest::cannot_push(
                &self.api,
                action,
                "the token's user cannot push to the repository".into(),
            ));
        }
        self.check_token_scopes().await?;
        // Gitea routes `/branches/*`: a branch name with slashes goes as it is.
        let mut segments = vec!["branches"];
        segments.extend(base.split('/'));
        rest::branch_must_exist(&self.api, &self.repo, &self.repo_url(&segments), base).await
    }

    async fn resolve_labels(&self, names: &[String]) -> Result<Vec<Label>, ForgeError> {
        let url = self.repo_url(&["labels"]);
        rest::labels_from_list(&self.api, &self.repo, names, &url, "limit", PAGE).await
    }

    async fn resolve_users(
        &self,
        logins: &[String],
        role: UserRole,
    ) -> Result<Vec<User>, ForgeError> {
        let mut users = Vec::new();
        for login in logins {
            let action = format!("looking up {} {login}", role.name());
            let found: Option<GiteaUser> = self
                .api
                .get_optional(&self.api.url(&["users", login]), &action)
                .await?;
            let found =
                found.ok_or_else(|| rest::user_not_found(&self.api, &self.repo, role, login))?;
            users.push(found.into());
        }
        Ok(users)
    }

    async fn find_open(&self, head: &str, base: &str) -> Result<Option<PullRequest>, ForgeError> {
        // `GET /pulls/{base}/{head}` answers with a pull request in any state (and which one, when
        // several share head and base, is up to the database): only an open answer is final.
        let mut segments = vec!["pulls", base];
        segments.extend(head.split('/'));
        let action = format!(
            "looking up the pull request from {head} into {base} in {}",
            self.repo
        );
        let found: Option<GiteaPull> = self
            .api
            .get_optional(&self.repo_url(&segments), &action)
            .await?;
        // Otherwise the list decides; it also serves Gitea before 1.22, which 404s the route.
        match found.map(PullRequest::from) {
            Some(pr) if pr.open => Ok(Some(pr)),
            _ => Ok(self
                .list_open(base, head)
                .await?
                .into_iter()
                .find(|pr| pr.head == head)),
        }
    }

    async fn list_open(
        &self,
        base: &str,
        head_prefix: &str,
    ) -> Result<Vec<PullRequest>, ForgeError> {
        let mut url = self.repo_url(&["pulls"]);
        url.query_pairs_mut()
            .append_pair("state", "open")
            .append_pair("base_branch", base);
        let action = format!("listing open pull requests into {base} of {}", self.repo);
        rest::list_open::<GiteaPull>(&self.api, &url, "limit", PAGE, &action, base, head_prefix)
            .await
    }

    async fn create(&self, new: &NewPullRequest<'_>) -> Result<CreateOutcome, ForgeError> {
        let action = format!(
            "opening a pull request from {} into {} in {}",
            new.head, new.base, self.repo
        );
        let body = json!({
            "head": new.head,
            "base": new.base,
            "title": titled(new.title, new.draft),
            "body": new.body,
            "labels": Self::label_ids(new.labels),
        });
        let url = self.repo_url(&["pulls"]);
        let exists = |e: &ForgeError| e.status() == Some(409);
        let opened: Option<GiteaPull> =
            rest::open_pull(&self.api, &url, &body, action, exists, &[404, 422]).await?;
        Ok(CreateOutcome::from(opened.map(PullRequest::from)))
    }

    async fn update(&self, pr: &PullRequest, edit: &PullRequestEdit<'_>) -> Result<(), ForgeError> {
        let action = format!("updating pull request #{} of {}", pr.number, self.repo);
        let body = json!({
            "title": titled(edit.title, edit.draft),
            "body": edit.body,
            "labels": Self::label_ids(edit.labels),
        });
        let url = self.repo_url(&["pulls", &pr.number.to_string()]);
        self.api
            .send(
                Method::PATCH,
                &url,
                Some(&body),
                &action,
                Safety::Idempotent,
            )
            .await?;
        Ok(())
    }

    async fn close_with_comment(&self, number: u64, comment: &str) -> Result<(), ForgeError> {
        let n = number.to_string();
        let comments = self.repo_url(&["issues", &n, "comments"]);
        let pull = self.repo_url(&["pulls", &n]);
        rest::comment_and_close_pull(&self.api, &self.repo, number, &comments, &pull, comment).await
    }

    async fn request_reviewers(
        &self,
        pr: &PullRequest,
        reviewers: &[User],
    ) -> Result<(), ForgeError> {
        let url = self.repo_url(&["pulls", &pr.number.to_string(), "requested_reviewers"]);
        rest::request_reviews(
            &self.api,
            &self.repo,
            pr,
            reviewers,
            &url,
            &[404, 422],
            "a reviewer must be a collaborator of the repository and not the author",
        )
        .await
    }

    async fn add_assignees(&self, pr: &PullRequest, assignees: &[User]) -> Result<(), ForgeError> {
        if assignees.is_empty() {
            return Ok(());
        }
        let mut logins: Vec<&str> = pr.assignees.iter().map(|u| u.login.as_str()).collect();
        logins.extend(assignees.iter().map(|u| u.login.as_str()));
        let action = format!("assigning pull request #{} of {}", pr.number, self.repo);
        let url = self.repo_url(&["pulls", &pr.number.to_string()]);
        self.api
            .send(
                Method::PATCH,
                &url,
                Some(&json!({ "assignees": logins })),
                &action,
                Safety::Idempotent,
            )
            .await?;
        Ok(())
    }

    async fn commit_status(
        &self,
        sha: &str,
        context: &str,
    ) -> Result<Option<CommitStatus>, ForgeError> {
        let url = self.repo_url(&["commits", sha, "status"]);
        rest::status_of_context(&self.api, &self.repo, sha, &url, context).await
    }

    async fn set_commit_status(
        &self,
        sha: &str,
        _branch: &str,
        status: &CommitStatus,
    ) -> Result<(), ForgeError> {
        let body = json!({
            "state": status.state.as_str(),
            "context": status.context,
            "description": status.description,
            "target_url": status.target_url.as_deref().unwrap_or_default(),
        });
        let url = self.repo_url(&["statuses", sha]);
        rest::set_status(&self.api, &self.repo, sha, status, &url, &body).await
    }
}
