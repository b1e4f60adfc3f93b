//! GitHub and GitHub Enterprise (`https://api.github.com`, `https://HOST/api/v3`): `Bearer` tokens,
//! labels by name through the issues API (checked first: GitHub would silently create unknown ones).

use reqwest::Method;
use serde::Deserialize;
use serde_json::json;

use crate::api::{Api, Safety, server_text};
use crate::error::ForgeError;
use crate::model::{
    CommitStatus, CreateOutcome, Forge, ForgeKind, Label, NewPullRequest, PullRequest,
    PullRequestEdit, User, UserRole,
};
use crate::rest::{self, ForgeLabel as GhLabel, LoginUser as GhUser};

const PAGE: usize = 100;

pub struct GitHub {
    api: Api,
    repo: String,
    owner: String,
    name: String,
}

#[derive(Deserialize)]
struct GhRef {
    #[serde(rename = "ref")]
    name: String,
}

#[derive(Deserialize)]
struct GhPull {
    number: u64,
    #[serde(default)]
    node_id: Option<String>,
    html_url: String,
    title: String,
    #[serde(default)]
    body: Option<String>,
    state: String,
    #[serde(default)]
    draft: bool,
    head: GhRef,
    base: GhRef,
    #[serde(default)]
    labels: Vec<GhLabel>,
    #[serde(default)]
    requested_reviewers: Vec<GhUser>,
    #[serde(default)]
    assignees: Vec<GhUser>,
}

#[derive(Deserialize)]
struct GhPermissions {
    #[serde(default)]
    push: bool,
}

#[derive(Deserialize)]
struct GhRepo {
    #[serde(default)]
    permissions: Option<GhPermissions>,
}

impl From<GhPull> for PullRequest {
    fn from(p: GhPull) -> Self {
        PullRequest {
            number: p.number,
            url: p.html_url,
            title: p.title,
            draft: p.draft,
            node_id: p.node_id,
            body: p.body.unwrap_or_default(),
            head: p.head.name,
            base: p.base.name,
            open: p.state == "open",
            labels: p.labels.into_iter().map(Label::from).collect(),
            reviewers: p.requested_reviewers.into_iter().map(User::from).collect(),
            assignees: p.assignees.into_iter().map(User::from).collect(),
        }
    }
}

impl GitHub {
    pub(crate) fn new(api: Api, repo: &str) -> Result<Self, ForgeError> {
        let (owner, name) = crate::split_owner_name(ForgeKind::GitHub, repo)?;
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

    /// The GraphQL endpoint: `https://api.github.com/graphql`, GitHub Enterprise Server's
    /// `https://HOST/api/graphql` beside its `/api/v3`.
    fn graphql_url(&self) -> reqwest::Url {
        let mut url = self.api.base().clone();
        let path = url.path().trim_end_matches('/').to_owned();
        let root = path.strip_suffix("/v3").unwrap_or(&path).to_owned();
        url.set_path(&format!("{root}/graphql"));
        url
    }

    /// Turns an open pull request into a draft or back into one ready for review. The REST API
    /// sets `draft` only when opening; changing it takes the GraphQL API.
    async fn set_draft(&self, pr: &PullRequest, draft: bool) -> Result<(), ForgeError> {
        let (mutation, what) = if draft {
            ("convertPullRequestToDraft", "a draft")
        } else {
            ("markPullRequestReadyForReview", "ready for review")
        };
        let action = format!(
            "marking pull request #{} of {} {what}",
            pr.number, self.repo
        );
        let id = pr.node_id.as_deref().ok_or_else(|| ForgeError::Rejected {
            forge: ForgeKind::GitHub,
            action: action.clone(),
            message: "the pull request came without its node_id".into(),
        })?;
        let query = format!(
            "mutation($id: ID!) {{ {mutation}(input: {{pullRequestId: $id}}) {{ pullRequest {{ isDraft }} }} }}"
        );
        let answer: serde_json::Value = self
            .api
            .json(
                Method::POST,
                &self.graphql_url(),
                Some(&json!({ "query": query, "variables": { "id": id } })),
                &action,
                Safety::Idempotent,
            )
            .await?;
        // GraphQL answers 200 with `errors` when the mutation was refused.
        if let Some(errors) = answer.get("errors").filter(|e| !e.is_null()) {
            return Err(ForgeError::Rejected {
                forge: ForgeKind::GitHub,
                action,
                message: server_text(&json!({ "errors": errors }).to_string()),
            });
        }
        Ok(())
    }

    async fn add_labels(&self, number: u64, labels: &[Label]) -> Result<(), ForgeError> {
        if labels.is_empty() {
            return Ok(());
        }
        let names: Vec<&str> = labels.iter().map(|l| l.name.as_str()).collect();
        let action = format!("labelling pull request #{number} of {}", self.repo);
        // Adding labels a pull request already has changes nothing: safe to repeat.
        self.api
            .send(
                Method::POST,
                &self.repo_url(&["issues", &number.to_string(), "labels"]),
                Some(&json!({ "labels": names })),
                &action,
                Safety::Idempotent,
            )
            .await?;
        Ok(())
    }
}

impl Forge for GitHub {
    fn kind(&self) -> ForgeKind {
        ForgeKind::GitHub
    }

    fn repo(&self) -> &str {
        &self.repo
    }

    async fn check_repo(&self, base: &str) -> Result<(), ForgeError> {
        let action = format!("checking repository {}", self.repo);
        let repo: Option<GhRepo> = self.api.get_optional(&self.repo_url(&[]), &action).await?;
        let Some(repo) = repo else {
            return Err(rest::repo_not_found(&self.api, &self.repo));
        };
        if let Some(GhPermissions { push: false }) = repo.permissions {
            return Err(rest::cannot_push(
                &self.api,
                action,
                "the token cannot push to the repository".into(),
            ));
        }
        let mut segments = vec!["branches"];
        segments.extend(base.split('/'));
        rest::branch_must_exist(&self.api, &self.repo, &self.repo_url(&segments), base).await
    }

    async fn resolve_labels(&self, names: &[String]) -> Result<Vec<Label>, ForgeError> {
        rest::labels_one_by_one(&self.api, &self.repo, names, |name| {
            self.repo_url(&["labels", name])
        })
        .await
    }

    async fn resolve_users(
        &self,
        logins: &[String],
        role: UserRole,
    ) -> Result<Vec<User>, ForgeError> {
        // Reviewers must be collaborators; assignees must be assignable (GitHub silently drops others).
        let collection = match role {
            UserRole::Reviewer => "collaborators",
            UserRole::Assignee => "assignees",
        };
        let mut users = Vec::new();
        for login in logins {
            let action = format!("checking {} {login} of {}", role.name(), self.repo);
            if !self
                .api
                .exists(&self.repo_url(&[collection, login]), &action)
                .await?
            {
                return Err(rest::user_not_found(&self.api, &self.repo, role, login));
            }
            users.push(User {
                login: login.clone(),
                id: None,
            });
        }
        Ok(users)
    }

    async fn find_open(&self, head: &str, base: &str) -> Result<Option<PullRequest>, ForgeError> {
        let mut url = self.repo_url(&["pulls"]);
        url.query_pairs_mut()
            .append_pair("state", "open")
            .append_pair("head", &format!("{}:{head}", self.owner))
            .append_pair("base", base);
        let action = format!(
            "looking up the pull request from {head} into {base} in {}",
            self.repo
        );
        let pulls: Vec<GhPull> = self.api.get(&url, &action).await?;
        Ok(rest::first_open(pulls, head, base))
    }

    async fn list_open(
        &self,
        base: &str,
        head_prefix: &str,
    ) -> Result<Vec<PullRequest>, ForgeError> {
        let mut url = self.repo_url(&["pulls"]);
        url.query_pairs_mut()
            .append_pair("state", "open")
            .append_pair("base", base);
        let action = format!("listing open pull requests into {base} of {}", self.repo);
        rest::list_open::<GhPull>(
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
            "opening a pull request from {} into {} in {}",
            new.head, new.base, self.repo
        );
        let body = json!({
            "head": new.head,
            "base": new.base,
            "title": new.title,
            "body": new.body,
            "draft": new.draft,
        });
        let url = self.repo_url(&["pulls"]);
        // GitHub refuses a second pull request for the same branches with 422, "A pull request
        // already exists for owner:branch."
        let exists = |e: &ForgeError| {
            e.status() == Some(422)
                && server_text(e.server_message().unwrap_or_default()).contains("already exists")
        };
        let opened: Option<GhPull> =
            rest::open_pull(&self.api, &url, &body, action, exists, &[422]).await?;
        let Some(created) = opened.map(PullRequest::from) else {
            return Ok(CreateOutcome::AlreadyExists);
        };
        self.add_labels(created.number, new.labels).await?;
        Ok(CreateOutcome::Created(Box::new(PullRequest {
            labels: new.labels.to_vec(),
            ..created
        })))
    }

    async fn update(&self, pr: &PullRequest, edit: &PullRequestEdit<'_>) -> Result<(), ForgeError> {
        let action = format!("updating pull request #{} of {}", pr.number, self.repo);
        let url = self.repo_url(&["pulls", &pr.number.to_string()]);
        self.api
            .send(
                Method::PATCH,
                &url,
                Some(&json!({ "title": edit.title, "body": edit.body })),
                &action,
                Safety::Idempotent,
            )
            .await?;
        if pr.draft != edit.draft {
            self.set_draft(pr, edit.draft).await?;
        }
        let missing: Vec<Label> = edit
            .labels
            .iter()
            .filter(|l| !pr.has_label(&l.name))
            .cloned()
            .collect();
        self.add_labels(pr.number, &missing).await
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
            &[422],
            "a reviewer must be a collaborator and not the pull request's author",
        )
        .await
    }

    async fn add_assignees(&self, pr: &PullRequest, assignees: &[User]) -> Result<(), ForgeError> {
        if assignees.is_empty() {
            return Ok(());
        }
        let logins: Vec<&str> = assignees.iter().map(|u| u.login.as_str()).collect();
        let action = format!("assigning pull request #{} of {}", pr.number, self.repo);
        let url = self.repo_url(&["issues", &pr.number.to_string(), "assignees"]);
        self.api
            .send(
                Method::POST,
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
            "target_url": status.target_url,
        });
        let url = self.repo_url(&["statuses", sha]);
        rest::set_status(&self.api, &self.repo, sha, status, &url, &body).await
    }
}
