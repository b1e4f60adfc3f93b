//! What the three REST clients do alike: the errors they answer with, the checks of a branch and
//! of labels, listing open pull requests, commenting and closing, asking for reviews and setting
//! a commit status. Each forge keeps its endpoints, its field names and its own hints.

use reqwest::{Method, Url};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::api::{Api, Safety, server_text};
use crate::error::ForgeError;
use crate::model::{CommitStatus, Label, PullRequest, StatusState, User, UserRole};

/// A label as each forge answers it.
#[derive(Deserialize)]
pub(crate) struct ForgeLabel {
    pub id: u64,
    pub name: String,
}

impl From<ForgeLabel> for Label {
    fn from(l: ForgeLabel) -> Self {
        Label {
            name: l.name,
            id: Some(l.id),
        }
    }
}

/// A user as Gitea and GitHub answer it.
#[derive(Deserialize)]
pub(crate) struct LoginUser {
    pub id: u64,
    pub login: String,
}

impl From<LoginUser> for User {
    fn from(u: LoginUser) -> Self {
        User {
            login: u.login,
            id: Some(u.id),
        }
    }
}

/// The forge refused `action`: its own words, then `hint` on what to check.
pub(crate) fn rejected(api: &Api, action: String, error: &ForgeError, hint: &str) -> ForgeError {
    ForgeError::Rejected {
        forge: api.kind,
        action,
        message: format!(
            "{}; {hint}",
            server_text(error.server_message().unwrap_or_default())
        ),
    }
}

pub(crate) fn repo_not_found(api: &Api, repo: &str) -> ForgeError {
    ForgeError::RepoNotFound {
        forge: api.kind,
        repo: repo.to_owned(),
        api: api.base_display(),
    }
}

/// The token (or its user) may not push: `message` says what the forge answered.
pub(crate) fn cannot_push(api: &Api, action: String, message: String) -> ForgeError {
    ForgeError::Forbidden {
        forge: api.kind,
        action,
        status: 403,
        message,
        needs: api.kind.permissions_needed(),
    }
}

pub(crate) fn label_not_found(api: &Api, repo: &str, label: &str) -> ForgeError {
    ForgeError::LabelNotFound {
        forge: api.kind,
        repo: repo.to_owned(),
        label: label.to_owned(),
    }
}

pub(crate) fn user_not_found(api: &Api, repo: &str, role: UserRole, login: &str) -> ForgeError {
    ForgeError::UserNotFound {
        forge: api.kind,
        repo: repo.to_owned(),
        role,
        user: login.to_owned(),
    }
}

/// Checks that branch `base` of `repo` exists at `url`.
pub(crate) async fn branch_must_exist(
    api: &Api,
    repo: &str,
    url: &Url,
    base: &str,
) -> Result<(), ForgeError> {
    let action = format!("checking branch {base} of {repo}");
    if !api.exists(url, &action).await? {
        return Err(ForgeError::BranchNotFound {
            forge: api.kind,
            repo: repo.to_owned(),
            branch: base.to_owned(),
        });
    }
    Ok(())
}

/// Looks each label up by name at `url(name)`.
pub(crate) async fn labels_one_by_one(
    api: &Api,
    repo: &str,
    names: &[String],
    url: impl Fn(&str) -> Url,
) -> Result<Vec<Label>, ForgeError> {
    let mut labels = Vec::new();
    for name in names {
        let action = format!("looking up label {name:?} of {repo}");
        let found: Option<ForgeLabel> = api.get_optional(&url(name), &action).await?;
        let found = found.ok_or_else(|| label_not_found(api, repo, name))?;
        labels.push(found.into());
    }
    Ok(labels)
}

/// Picks each of `names` from all the labels of `repo`, listed at `url`.
pub(crate) async fn labels_from_list(
    api: &Api,
    repo: &str,
    names: &[String],
    url: &Url,
    page_param: &str,
    page: usize,
) -> Result<Vec<Label>, ForgeError> {
    if names.is_empty() {
        return Ok(Vec::new());
    }
    let action = format!("listing the labels of {repo}");
    let all: Vec<ForgeLabel> = api.get_all(url, page_param, page, &action).await?;
    names
        .iter()
        .map(|name| {
            all.iter()
                .find(|l| &l.name == name)
                .map(|l| Label {
                    name: l.name.clone(),
                    id: Some(l.id),
                })
                .ok_or_else(|| label_not_found(api, repo, name))
        })
        .collect()
}

/// The open one among `found` from `head` into `base`.
pub(crate) fn first_open<T: Into<PullRequest>>(
    found: Vec<T>,
    head: &str,
    base: &str,
) -> Option<PullRequest> {
    found
        .into_iter()
        .map(Into::into)
        .find(|pr: &PullRequest| pr.open && pr.head == head && pr.base == base)
}

/// Every page of open pull requests at `url`, kept when into `base` from a head starting with
/// `head_prefix`.
pub(crate) async fn list_open<T: DeserializeOwned + Into<PullRequest>>(
    api: &Api,
    url: &Url,
    page_param: &str,
    page: usize,
    action: &str,
    base: &str,
    head_prefix: &str,
) -> Result<Vec<PullRequest>, ForgeError> {
    let found: Vec<T> = api.get_all(url, page_param, page, action).await?;
    Ok(found
        .into_iter()
        .map(Into::into)
        .filter(|pr: &PullRequest| pr.open && pr.base == base && pr.head.starts_with(head_prefix))
        .collect())
}

/// Posts `comment` at `comments`; not repeated blindly, which could say it twice.
pub(crate) async fn comment(
    api: &Api,
    comments: &Url,
    comment: &str,
    action: &str,
) -> Result<(), ForgeError> {
    api.send(
        Method::POST,
        comments,
        Some(&json!({ "body": comment })),
        action,
        Safety::NotIdempotent,
    )
    .await?;
    Ok(())
}

/// Gitea and GitHub: comments on pull request `number` through the issues API, then closes it.
pub(crate) async fn comment_and_close_pull(
    api: &Api,
    repo: &str,
    number: u64,
    comments: &Url,
    pull: &Url,
    text: &str,
) -> Result<(), ForgeError> {
    let action = format!("commenting on pull request #{number} of {repo}");
    comment(api, comments, text, &action).await?;
    let action = format!("closing pull request #{number} of {repo}");
    api.send(
        Method::PATCH,
        pull,
        Some(&json!({ "state": "closed" })),
        &action,
        Safety::Idempotent,
    )
    .await?;
    Ok(())
}

/// Gitea and GitHub: asks `reviewers` by login at `url`. An answer with a status among `refused`
/// is the forge turning a reviewer down, told with `hint`.
pub(crate) async fn request_reviews(
    api: &Api,
    repo: &str,
    pr: &PullRequest,
    reviewers: &[User],
    url: &Url,
    refused: &[u16],
    hint: &str,
) -> Result<(), ForgeError> {
    if reviewers.is_empty() {
        return Ok(());
    }
    let logins: Vec<&str> = reviewers.iter().map(|u| u.login.as_str()).collect();
    let action = format!(
        "requesting reviews from {} on pull request #{} of {repo}",
        logins.join(", "),
        pr.number,
    );
    // Requesting an already requested reviewer changes nothing: safe to repeat.
    match api
        .send(
            Method::POST,
            url,
            Some(&json!({ "reviewers": logins })),
            &action,
            Safety::Idempotent,
        )
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if e.status().is_some_and(|s| refused.contains(&s)) => {
            Err(rejected(api, action, &e, hint))
        }
        Err(e) => Err(e),
    }
}

/// Sets a commit status (`body` in the forge's own fields) at `url`. A second status of the same
/// context replaces the first (GitLab: follows it), so it is safe to repeat.
pub(crate) async fn set_status(
    api: &Api,
    repo: &str,
    sha: &str,
    status: &CommitStatus,
    url: &Url,
    body: &Value,
) -> Result<(), ForgeError> {
    let action = format!(
        "setting status {} of {} on commit {sha} in {repo}",
        status.state.as_str(),
        status.context,
    );
    api.send(Method::POST, url, Some(body), &action, Safety::Idempotent)
        .await?;
    Ok(())
}

/// Opens a pull request by POSTing `body` to `url`. `None`: one is open already for its branches
/// (`exists` tells that from the forge's refusal); a refusal with a status in `rejected` is said
/// in the forge's words, with the branches to check.
pub(crate) async fn open_pull<T: DeserializeOwned>(
    api: &Api,
    url: &Url,
    body: &Value,
    action: String,
    exists: impl Fn(&ForgeError) -> bool,
    rejected_statuses: &[u16],
) -> Result<Option<T>, ForgeError> {
    // Not repeated on a lost answer: a second POST could open a second pull request. The caller
    // looks again instead (see `promote`).
    match api
        .json::<T>(Method::POST, url, Some(body), &action, Safety::Once)
        .await
    {
        Ok(created) => Ok(Some(created)),
        Err(e) if exists(&e) => Ok(None),
        Err(e) if e.status().is_some_and(|s| rejected_statuses.contains(&s)) => {
            Err(rejected(api, action, &e, "check that both branches exist"))
        }
        Err(e) => Err(e),
    }
}

/// One status in a commit's combined status; Gitea names its state `status`, GitHub `state`.
#[derive(Deserialize)]
struct ForgeStatus {
    #[serde(default, alias = "status")]
    state: String,
    #[serde(default)]
    context: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    target_url: Option<String>,
}

/// `GET .../commits/{sha}/status` of Gitea and GitHub (Gitea answers `statuses: null` for none).
#[derive(Deserialize)]
struct CombinedStatus {
    #[serde(default)]
    statuses: Option<Vec<ForgeStatus>>,
}

/// Gitea and GitHub: the latest status of `context` on commit `sha`, from its combined status at
/// `url`; `None` when the commit has none of that context (or one in a state not known here).
pub(crate) async fn status_of_context(
    api: &Api,
    repo: &str,
    sha: &str,
    url: &Url,
    context: &str,
) -> Result<Option<CommitStatus>, ForgeError> {
    let action = format!("reading the statuses of commit {sha} in {repo}");
    // The combined status holds the latest status of each context.
    let combined: CombinedStatus = api.get(url, &action).await?;
    Ok(combined
        .statuses
        .unwrap_or_default()
        .into_iter()
        .find(|s| s.context == context)
        .and_then(|s| {
            Some(CommitStatus {
                state: StatusState::from_forge(&s.state)?,
                context: s.context,
                description: s.description.unwrap_or_default(),
                target_url: s.target_url.filter(|u| !u.is_empty()),
            })
        }))
}
