//! Promotion pull requests on Gitea, GitHub and GitLab behind one [`Forge`] trait.
//!
//! - [`model`]: pull requests, labels, users, and the [`Forge`] trait.
//! - [`Gitea`], [`GitHub`], [`GitLab`]: the three APIs; [`AnyForge`] picks one at run time.
//! - [`promote`]: the whole step — write the change on a deterministic promotion branch, then
//!   create, update or leave the pull request, and close the ones it supersedes.
//! - [`template`]: title and body templates with `{placeholders}`.

mod api;
mod branch;
pub mod error;
mod gitea;
mod github;
mod gitlab;
pub mod model;
pub mod promote;
mod rest;
pub mod template;

use common::{HttpOptions, RetryPolicy, Secret};
use reqwest::Url;
use reqwest::header::{ACCEPT, AUTHORIZATION, HeaderMap, HeaderName, HeaderValue};

pub use error::ForgeError;
pub use gitea::Gitea;
pub use github::GitHub;
pub use gitlab::GitLab;
pub use model::{
    CommitStatus, CreateOutcome, Forge, ForgeKind, Label, NewPullRequest, PullRequest,
    PullRequestEdit, StatusState, User, UserRole,
};
pub use promote::{
    ChangeWriter, ConfigChange, PromotionOutcome, PromotionRequest, PromotionStatus, promote,
};

/// How to reach one repository on one forge.
#[derive(Debug, Clone)]
pub struct ForgeConfig {
    pub kind: ForgeKind,
    /// The API (or web) base URL; `None` for github.com / gitlab.com.
    pub api_url: Option<String>,
    /// `OWNER/NAME`; GitLab: the project's full path.
    pub repo: String,
    pub token: Secret,
    pub http: HttpOptions,
    pub retry: RetryPolicy,
}

/// The API root for a forge from what a user is likely to type: a web URL, or the API URL itself.
pub fn api_base(kind: ForgeKind, given: Option<&str>) -> Result<Url, ForgeError> {
    let default = match kind {
        ForgeKind::Gitea => None,
        ForgeKind::GitHub => Some("https://api.github.com"),
        ForgeKind::GitLab => Some("https://gitlab.com"),
    };
    let text = given.or(default).ok_or_else(|| {
        ForgeError::ApiUrl(
            "a Gitea server has no default address: give its URL (e.g. https://gitea.example.com)"
                .into(),
        )
    })?;
    let mut url = Url::parse(text).map_err(|e| {
        ForgeError::ApiUrl(format!(
            "the forge's URL {text:?} is not a URL ({e}); give e.g. https://host"
        ))
    })?;
    if !matches!(url.scheme(), "http" | "https") || url.cannot_be_a_base() {
        return Err(ForgeError::ApiUrl(format!(
            "the forge's URL {text:?} must be an http(s) URL"
        )));
    }
    url.set_query(None);
    url.set_fragment(None);
    let path = url.path().trim_end_matches('/').to_owned();
    let suffix = match kind {
        ForgeKind::Gitea => Some("api/v1"),
        ForgeKind::GitLab => Some("api/v4"),
        ForgeKind::GitHub => {
            if url.host_str() == Some("github.com") {
                url.set_host(Some("api.github.com"))
                    .map_err(|e| ForgeError::ApiUrl(e.to_string()))?;
                None
            } else if url.host_str() == Some("api.github.com") || !path.is_empty() {
                None
            } else {
                // GitHub Enterprise Server serves its REST API under /api/v3.
                Some("api/v3")
            }
        }
    };
    let full = match suffix {
        Some(s) if !path.ends_with(&format!("/{s}")) => format!("{path}/{s}"),
        _ => path,
    };
    url.set_path(&full);
    Ok(url)
}

pub(crate) fn split_owner_name(
    kind: ForgeKind,
    repo: &str,
) -> Result<(String, String), ForgeError> {
    match repo.trim_matches('/').split_once('/') {
        Some((owner, name)) if !owner.is_empty() && !name.is_empty() && !name.contains('/') => {
            Ok((owner.to_owned(), name.trim_end_matches(".git").to_owned()))
        }
        _ => Err(ForgeError::RepoName(format!(
            "{repo:?} is not a {kind} repository's name: give it as OWNER/NAME"
        ))),
    }
}

fn sensitive(value: String) -> Result<HeaderValue, ForgeError> {
    let mut value = HeaderValue::from_str(&value).map_err(|_| {
        ForgeError::Token(
            "the forge token contains characters not allowed in an HTTP header; check the token's \
             file or variable"
                .into(),
        )
    })?;
    value.set_sensitive(true);
    Ok(value)
}

/// A forge chosen at run time.
pub enum AnyForge {
    Gitea(Gitea),
    GitHub(GitHub),
    GitLab(GitLab),
}

impl AnyForge {
    pub fn connect(config: &ForgeConfig) -> Result<Self, ForgeError> {
        let base = api_base(config.kind, config.api_url.as_deref())?;
        let token = config.token.expose();
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        match config.kind {
            ForgeKind::Gitea => {
                headers.insert(AUTHORIZATION, sensitive(format!("token {token}"))?);
            }
            ForgeKind::GitHub => {
                headers.insert(AUTHORIZATION, sensitive(format!("Bearer {token}"))?);
                headers.insert(
                    ACCEPT,
                    HeaderValue::from_static("application/vnd.github+json"),
                );
                headers.insert(
                    HeaderName::from_static("x-github-api-version"),
                    HeaderValue::from_static("2022-11-28"),
                );
            }
            ForgeKind::GitLab => {
                headers.insert(
                    HeaderName::from_static("private-token"),
                    sensitive(token.to_owned())?,
                );
            }
        }
        let client = config.http.client()?;
        let api = api::Api::new(config.kind, client, base, headers, config.retry.clone());
        Ok(match config.kind {
            ForgeKind::Gitea => Self::Gitea(Gitea::new(api, &config.repo)?),
            ForgeKind::GitHub => Self::GitHub(GitHub::new(api, &config.repo)?),
            ForgeKind::GitLab => Self::GitLab(GitLab::new(api, &config.repo)?),
        })
    }
}

macro_rules! each {
    ($self:ident, $f:ident => $call:expr) => {
        match $self {
            AnyForge::Gitea($f) => $call,
            AnyForge::GitHub($f) => $call,
            AnyForge::GitLab($f) => $call,
        }
    };
}

impl Forge for AnyForge {
    fn kind(&self) -> ForgeKind {
        each!(self, f => f.kind())
    }
    fn repo(&self) -> &str {
        each!(self, f => f.repo())
    }
    async fn check_repo(&self, base: &str) -> Result<(), ForgeError> {
        each!(self, f => f.check_repo(base).await)
    }
    async fn resolve_labels(&self, names: &[String]) -> Result<Vec<Label>, ForgeError> {
        each!(self, f => f.resolve_labels(names).await)
    }
    async fn resolve_users(
        &self,
        logins: &[String],
        role: UserRole,
    ) -> Result<Vec<User>, ForgeError> {
        each!(self, f => f.resolve_users(logins, role).await)
    }
    async fn find_open(&self, head: &str, base: &str) -> Result<Option<PullRequest>, ForgeError> {
        each!(self, f => f.find_open(head, base).await)
    }
    async fn list_open(
        &self,
        base: &str,
        head_prefix: &str,
    ) -> Result<Vec<PullRequest>, ForgeError> {
        each!(self, f => f.list_open(base, head_prefix).await)
    }
    async fn create(&self, new: &NewPullRequest<'_>) -> Result<CreateOutcome, ForgeError> {
        each!(self, f => f.create(new).await)
    }
    async fn update(&self, pr: &PullRequest, edit: &PullRequestEdit<'_>) -> Result<(), ForgeError> {
        each!(self, f => f.update(pr, edit).await)
    }
    async fn close_with_comment(&self, number: u64, comment: &str) -> Result<(), ForgeError> {
        each!(self, f => f.close_with_comment(number, comment).await)
    }
    async fn request_reviewers(
        &self,
        pr: &PullRequest,
        reviewers: &[User],
    ) -> Result<(), ForgeError> {
        each!(self, f => f.request_reviewers(pr, reviewers).await)
    }
    async fn add_assignees(&self, pr: &PullRequest, assignees: &[User]) -> Result<(), ForgeError> {
        each!(self, f => f.add_assignees(pr, assignees).await)
    }
    async fn commit_status(
        &self,
        sha: &str,
        context: &str,
    ) -> Result<Option<CommitStatus>, ForgeError> {
        each!(self, f => f.commit_status(sha, context).await)
    }
    async fn set_commit_status(
        &self,
        sha: &str,
        branch: &str,
        status: &CommitStatus,
    ) -> Result<(), ForgeError> {
        each!(self, f => f.set_commit_status(sha, branch, status).await)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_bases() {
        let base = |k, s: Option<&str>| api_base(k, s).unwrap().to_string();
        assert_eq!(
            base(ForgeKind::Gitea, Some("https://g.example")),
            "https://g.example/api/v1"
        );
        assert_eq!(
            base(ForgeKind::Gitea, Some("http://127.0.0.1:3000/api/v1/")),
            "http://127.0.0.1:3000/api/v1"
        );
        assert_eq!(base(ForgeKind::GitHub, None), "https://api.github.com/");
        assert_eq!(
            base(ForgeKind::GitHub, Some("https://github.com")),
            "https://api.github.com/"
        );
        assert_eq!(
            base(ForgeKind::GitHub, Some("https://ghe.corp")),
            "https://ghe.corp/api/v3"
        );
        assert_eq!(
            base(ForgeKind::GitHub, Some("https://ghe.corp/api/v3")),
            "https://ghe.corp/api/v3"
        );
        assert_eq!(base(ForgeKind::GitLab, None), "https://gitlab.com/api/v4");
        assert_eq!(
            base(ForgeKind::GitLab, Some("https://gl.corp/api/v4")),
            "https://gl.corp/api/v4"
        );
        assert!(api_base(ForgeKind::Gitea, None).is_err());
        assert!(api_base(ForgeKind::Gitea, Some("ftp://x")).is_err());
    }

    #[test]
    fn owner_name() {
        assert_eq!(
            split_owner_name(ForgeKind::Gitea, "user1/mlops-gitops").unwrap(),
            ("user1".into(), "mlops-gitops".into())
        );
        assert!(split_owner_name(ForgeKind::GitHub, "just-a-name").is_err());
        assert!(split_owner_name(ForgeKind::GitHub, "a/b/c").is_err());
    }
}
