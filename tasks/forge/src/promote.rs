//! The promotion step: the new version written on a deterministic branch, and exactly one open pull
//! request for it, current in title, body, labels, reviewers and assignees. Re-running it is a no-op;
//! running it twice at once ends with one pull request; older promotion pull requests for the same
//! model and environment are closed with a link to the current one.

use std::future::Future;
use std::time::{Duration, Instant};

use common::{RetryPolicy, retry_async};

use crate::branch::{BranchPattern, check_branch_name};
use crate::error::ForgeError;
use crate::model::{
    CommitStatus, CreateOutcome, Forge, Label, NewPullRequest, PullRequest, PullRequestEdit, User,
    UserRole,
};
use crate::template::{Template, render};

pub const DEFAULT_BRANCH_TEMPLATE: &str = "promote/{env}/{model}";
/// The branch of a pull request that rolls an environment back (pr-create --rollback).
pub const DEFAULT_ROLLBACK_BRANCH_TEMPLATE: &str = "rollback/{env}/{model}";
pub const DEFAULT_TITLE_TEMPLATE: &str = "Promote {model} {new_version} to {env}";
pub const DEFAULT_BODY_TEMPLATE: &str = "\
Promotes **{model}** in **{env}** from `{old_version}` to `{new_version}`.

| | |
|---|---|
| Model | `{model}` |
| Environment | `{env}` |
| Version | `{old_version}` → `{new_version}` |
| Image | `{image}` |
| Source commit | {source_commit_url} |

Change to `{file}`:

```diff
{diff}
```
{rules}{registry}";

/// What the git side did: [`ChangeWriter::write`]'s answer.
#[derive(Debug, Clone)]
pub struct ConfigChange {
    /// False when the base branch already has the values: nothing was committed or pushed.
    pub changed: bool,
    /// The configuration file, relative to the repository root.
    pub file: String,
    /// The version the base branch had, if the key existed.
    pub old_version: Option<String>,
    /// A unified diff of the file.
    pub diff: String,
    pub commit: Option<String>,
}

impl ConfigChange {
    fn stand_in() -> Self {
        Self {
            changed: true,
            file: String::new(),
            old_version: None,
            diff: String::new(),
            commit: None,
        }
    }
}

/// The git side of a promotion: set the values in the environment's config file, commit, and
/// force-push onto `branch` (created from the base branch or reset onto it). When the base
/// already has the values, change nothing and say so.
pub trait ChangeWriter: Send + Sync {
    fn write(&self, branch: &str) -> impl Future<Output = Result<ConfigChange, ForgeError>> + Send;
}

#[derive(Debug, Clone)]
pub struct PromotionRequest {
    pub model: String,
    pub env: String,
    pub version: String,
    pub base: String,
    pub branch_template: String,
    pub title_template: String,
    pub body_template: String,
    pub labels: Vec<String>,
    pub reviewers: Vec<String>,
    pub assignees: Vec<String>,
    /// The image reference with its digest.
    pub image: Option<String>,
    pub source_commit_url: Option<String>,
    /// Markdown for `{registry}`: the candidate's metrics and properties beside the version now
    /// labelled with this environment, from the model registry. Empty when not given.
    pub registry_section: Option<String>,
    /// Markdown for `{rules}`: how the candidate fared against the promotion rules. Added at the end
    /// of a body whose template has no `{rules}`. Empty when not given.
    pub rules_section: Option<String>,
    /// Open (or turn) the pull request as a draft: not to be merged as it is.
    pub draft: bool,
    /// The status to set on the promotion branch's head commit (once; a re-run that finds it there
    /// sets nothing).
    pub commit_status: Option<CommitStatus>,
    /// Retries of the create step (each retry looks the pull request up first).
    pub retry: RetryPolicy,
}

impl PromotionRequest {
    pub fn new(model: &str, env: &str, version: &str) -> Self {
        Self {
            model: model.to_owned(),
            env: env.to_owned(),
            version: version.to_owned(),
            base: "main".into(),
            branch_template: DEFAULT_BRANCH_TEMPLATE.into(),
            title_template: DEFAULT_TITLE_TEMPLATE.into(),
            body_template: DEFAULT_BODY_TEMPLATE.into(),
            labels: Vec::new(),
            reviewers: Vec::new(),
            assignees: Vec::new(),
            image: None,
            source_commit_url: None,
            registry_section: None,
            rules_section: None,
            draft: false,
            commit_status: None,
            retry: RetryPolicy::default(),
        }
    }

    /// The promotion branch: the branch template with `{model}`, `{env}` and `{version}`.
    pub fn branch(&self) -> Result<String, ForgeError> {
        let branch = render(
            Template::Branch,
            &self.branch_template,
            &[
                ("model", &self.model),
                ("env", &self.env),
                ("version", &self.version),
            ],
        )?;
        check_branch_name(&branch)?;
        Ok(branch)
    }

    /// The hidden line that marks a pull request as this model's promotion in this environment,
    /// whatever its branch: how superseded ones are found after a template change.
    pub fn marker(&self) -> String {
        format!(
            "<!-- modelcar-gitops promotion model={} env={} -->",
            self.model, self.env
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PromotionStatus {
    Created,
    Updated,
    Unchanged,
    UpToDate,
}

impl PromotionStatus {
    /// The value of the `status` result.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Updated => "updated",
            Self::Unchanged => "unchanged",
            Self::UpToDate => "up-to-date",
        }
    }
}

#[derive(Debug, Clone)]
pub struct PromotionOutcome {
    pub status: PromotionStatus,
    /// The pull request (none when up to date).
    pub number: Option<u64>,
    pub url: Option<String>,
    /// The promotion branch (none when up to date: nothing was pushed).
    pub branch: Option<String>,
    /// Pull requests closed as superseded by this one.
    pub superseded: Vec<u64>,
}

/// Runs the whole promotion. Everything that can be checked is checked before anything is written:
/// repository, base branch, labels, reviewers and assignees.
pub async fn promote<F: Forge, W: ChangeWriter>(
    forge: &F,
    writer: &W,
    request: &PromotionRequest,
) -> Result<PromotionOutcome, ForgeError> {
    let branch = request.branch()?;
    // Templates are checked with stand-in values before anything is written.
    render_title_body(request, &ConfigChange::stand_in(), &branch)?;
    forge.check_repo(&request.base).await?;
    let labels = forge.resolve_labels(&request.labels).await?;
    let reviewers = forge
        .resolve_users(&request.reviewers, UserRole::Reviewer)
        .await?;
    let assignees = forge
        .resolve_users(&request.assignees, UserRole::Assignee)
        .await?;

    let change = writer.write(&branch).await?;
    if !change.changed {
        tracing::info!(
            "{} already has {} {} in {}: no promotion branch, no pull request",
            request.base,
            request.model,
            request.version,
            change.file
        );
        return Ok(PromotionOutcome {
            status: PromotionStatus::UpToDate,
            number: None,
            url: None,
            branch: None,
            superseded: Vec::new(),
        });
    }

    let (title, body) = render_title_body(request, &change, &branch)?;
    let (pr, status, create_took) = match forge.find_open(&branch, &request.base).await? {
        Some(pr) => (pr, PromotionStatus::Unchanged, None),
        None => {
            let new = NewPullRequest {
                head: &branch,
                base: &request.base,
                title: &title,
                body: &body,
                labels: &labels,
                draft: request.draft,
            };
            let started = Instant::now();
            let opened = create_or_adopt(forge, &new, &request.retry).await?;
            let took = Some(started.elapsed());
            match opened {
                Opened::Created(pr) => (pr, PromotionStatus::Created, took),
                Opened::Adopted(pr) => (pr, PromotionStatus::Unchanged, took),
            }
        }
    };
    let (pr, mut status) =
        settle_duplicates(forge, request, &branch, pr, status, create_took).await?;
    if status != PromotionStatus::Created
        && bring_up_to_date(forge, &pr, &title, &body, &labels, request.draft).await?
    {
        status = PromotionStatus::Updated;
    }
    let missing_reviewers: Vec<User> = reviewers
        .into_iter()
        .filter(|u| !pr.has_reviewer(&u.login))
        .collect();
    let missing_assignees: Vec<User> = assignees
        .into_iter()
        .filter(|u| !pr.has_assignee(&u.login))
        .collect();
    forge.request_reviewers(&pr, &missing_reviewers).await?;
    forge.add_assignees(&pr, &missing_assignees).await?;
    if status == PromotionStatus::Unchanged
        && !(missing_reviewers.is_empty() && missing_assignees.is_empty())
    {
        status = PromotionStatus::Updated;
    }
    let superseded = close_superseded(forge, request, &branch, &pr).await?;
    if let Some(wanted) = &request.commit_status {
        set_status_once(forge, change.commit.as_deref(), &branch, wanted).await?;
    }
    tracing::info!(
        "pull request #{} {}: {}",
        pr.number,
        status.as_str(),
        pr.url
    );
    Ok(PromotionOutcome {
        status,
        number: Some(pr.number),
        url: Some(pr.url),
        branch: Some(branch),
        superseded,
    })
}

fn render_title_body(
    request: &PromotionRequest,
    change: &ConfigChange,
    branch: &str,
) -> Result<(String, String), ForgeError> {
    let old_version = change.old_version.as_deref().unwrap_or("(none)");
    let diff = change.diff.trim_end();
    let vars = [
        ("model", request.model.as_str()),
        ("env", request.env.as_str()),
        ("old_version", old_version),
        ("new_version", request.version.as_str()),
        ("version", request.version.as_str()),
        ("diff", diff),
        ("file", change.file.as_str()),
        ("image", request.image.as_deref().unwrap_or("(not given)")),
        (
            "source_commit_url",
            request
                .source_commit_url
                .as_deref()
                .unwrap_or("(not given)"),
        ),
        (
            "registry",
            request.registry_section.as_deref().unwrap_or(""),
        ),
        ("rules", request.rules_section.as_deref().unwrap_or("")),
        ("branch", branch),
        ("base", request.base.as_str()),
    ];
    let title = render(Template::Title, &request.title_template, &vars)?;
    let title = title.trim().to_owned();
    if title.is_empty() || title.contains('\n') {
        return Err(ForgeError::Template {
            template: Template::Title,
            message: "it must give a non-empty, single-line title".into(),
        });
    }
    let mut body = render(Template::Body, &request.body_template, &vars)?;
    if let Some(rules) = &request.rules_section
        && !request.body_template.contains("{rules}")
    {
        body = format!("{}\n{rules}", body.trim_end());
    }
    let body = format!("{}\n\n{}\n", body.trim_end(), request.marker());
    Ok((title, body))
}

enum Opened {
    Created(PullRequest),
    Adopted(PullRequest),
}

/// Creates the pull request. A create that fails in an unknown way is retried only after looking
/// the pull request up, and one that lost a race to another run adopts the winner's.
async fn create_or_adopt<F: Forge>(
    forge: &F,
    new: &NewPullRequest<'_>,
    policy: &RetryPolicy,
) -> Result<Opened, ForgeError> {
    retry_async(policy, "opening the pull request", |attempt| async move {
        if attempt > 1
            && let Some(pr) = forge.find_open(new.head, new.base).await?
        {
            return Ok(Opened::Adopted(pr));
        }
        match forge.create(new).await? {
            CreateOutcome::Created(pr) => Ok(Opened::Created(*pr)),
            CreateOutcome::AlreadyExists => {
                tracing::info!(
                    "another run opened the pull request from {} first; using it",
                    new.head
                );
                forge
                    .find_open(new.head, new.base)
                    .await?
                    .map(Opened::Adopted)
                    .ok_or_else(|| ForgeError::Rejected {
                        forge: forge.kind(),
                        action: format!("opening a pull request from {} into {}", new.head, new.base),
                        message: "the forge says one already exists, yet none is open for this head and base; \
                                  check for a pull request from a fork with the same branch name"
                            .into(),
                    })
            }
        }
    })
    .await
}

/// The shortest and longest wait before looking for a duplicate opened at the same time.
const SETTLE_MIN: Duration = Duration::from_millis(300);
const SETTLE_MAX: Duration = Duration::from_secs(5);

/// Keeps one open pull request for the branch. Gitea checks for an open pull request of the same
/// head and base, and then inserts the new one, without a lock: two runs at once can both open one.
/// After opening, a run waits about as long as opening took (a create in flight elsewhere has landed
/// by then) and looks: the oldest open pull request of the branch is kept. A run closes the
/// duplicate it opened itself; a run that opened none closes any it finds (left by a run that
/// stopped before closing its own). Then the kept one is brought up to date as usual.
async fn settle_duplicates<F: Forge>(
    forge: &F,
    request: &PromotionRequest,
    branch: &str,
    pr: PullRequest,
    status: PromotionStatus,
    create_took: Option<Duration>,
) -> Result<(PullRequest, PromotionStatus), ForgeError> {
    if let Some(took) = create_took {
        tokio::time::sleep(took.clamp(SETTLE_MIN, SETTLE_MAX)).await;
    }
    let mut same: Vec<PullRequest> = forge
        .list_open(&request.base, branch)
        .await?
        .into_iter()
        .filter(|p| p.head == branch)
        .collect();
    if same.len() < 2 {
        return Ok((pr, status));
    }
    same.sort_by_key(|p| p.number);
    let keeper = same.remove(0);
    let created = status == PromotionStatus::Created;
    for duplicate in same {
        if created && duplicate.number != pr.number {
            // Another run's: it closes it itself.
            continue;
        }
        let comment = format!(
            "Duplicate of {}, opened at the same time by another run ({} {} to {}).",
            keeper.url, request.model, request.version, request.env
        );
        forge.close_with_comment(duplicate.number, &comment).await?;
        tracing::info!(
            "closed pull request #{}: a duplicate of #{} from {branch}",
            duplicate.number,
            keeper.number
        );
    }
    if keeper.number == pr.number {
        Ok((pr, status))
    } else {
        tracing::info!(
            "another run opened pull request #{} from {branch} at the same time; using it",
            keeper.number
        );
        Ok((keeper, PromotionStatus::Unchanged))
    }
}

fn normalized(text: &str) -> String {
    text.replace("\r\n", "\n").trim_end().to_owned()
}

/// Sets title, body, labels and draft state when they differ; labels someone added by hand are kept.
async fn bring_up_to_date<F: Forge>(
    forge: &F,
    pr: &PullRequest,
    title: &str,
    body: &str,
    labels: &[Label],
    draft: bool,
) -> Result<bool, ForgeError> {
    let missing: Vec<&Label> = labels.iter().filter(|l| !pr.has_label(&l.name)).collect();
    if pr.title == title
        && normalized(&pr.body) == normalized(body)
        && missing.is_empty()
        && pr.draft == draft
    {
        return Ok(false);
    }
    let mut wanted = pr.labels.clone();
    wanted.extend(missing.into_iter().cloned());
    forge
        .update(
            pr,
            &PullRequestEdit {
                title,
                body,
                labels: &wanted,
                draft,
            },
        )
        .await?;
    Ok(true)
}

/// Characters of a status description forges show (GitHub's limit).
const MAX_STATUS_DESCRIPTION: usize = 140;

/// Sets `wanted` on the head commit, unless the commit already has it.
async fn set_status_once<F: Forge>(
    forge: &F,
    head: Option<&str>,
    branch: &str,
    wanted: &CommitStatus,
) -> Result<(), ForgeError> {
    let Some(head) = head else {
        tracing::warn!("the promotion branch's commit is not known: no commit status set");
        return Ok(());
    };
    let mut wanted = wanted.clone();
    if wanted.description.chars().count() > MAX_STATUS_DESCRIPTION {
        wanted.description = wanted
            .description
            .chars()
            .take(MAX_STATUS_DESCRIPTION - 1)
            .chain(['…'])
            .collect();
    }
    if forge.commit_status(head, &wanted.context).await?.as_ref() == Some(&wanted) {
        tracing::info!(
            "commit {head} already has status {} of {}",
            wanted.state.as_str(),
            wanted.context
        );
        return Ok(());
    }
    forge.set_commit_status(head, branch, &wanted).await?;
    tracing::info!(
        "set status {} of {} on commit {head}: {}",
        wanted.state.as_str(),
        wanted.context,
        wanted.description
    );
    Ok(())
}

/// Closes the older open promotion pull requests for this model and environment: those whose head
/// branch fits the branch template with any version, or whose body carries this promotion's marker.
async fn close_superseded<F: Forge>(
    forge: &F,
    request: &PromotionRequest,
    branch: &str,
    current: &PullRequest,
) -> Result<Vec<u64>, ForgeError> {
    let pattern = BranchPattern::new(request)?;
    let marker = request.marker();
    // All open pull requests into the base: the marker also finds promotions on branches outside
    // the template (an older template, or a hand-made branch).
    let others = forge.list_open(&request.base, "").await?;
    let mut closed = Vec::new();
    for pr in others {
        // Only older ones: two runs for different versions at once must not close each other's.
        if pr.number >= current.number || pr.head == branch {
            continue;
        }
        if !(pattern.matches(&pr.head) || pr.body.contains(&marker)) {
            continue;
        }
        let comment = format!(
            "Superseded by {} ({} {} to {}).",
            current.url, request.model, request.version, request.env
        );
        forge.close_with_comment(pr.number, &comment).await?;
        tracing::info!(
            "closed superseded pull request #{} ({})",
            pr.number,
            pr.head
        );
        closed.push(pr.number);
    }
    Ok(closed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(template: &str) -> PromotionRequest {
        PromotionRequest {
            branch_template: template.into(),
            ..PromotionRequest::new("jukebox", "prod", "v2")
        }
    }

    #[test]
    fn branch_names_checked() {
        assert_eq!(
            request(DEFAULT_BRANCH_TEMPLATE).branch().unwrap(),
            "promote/prod/jukebox"
        );
        assert!(request("promote {model}").branch().is_err());
        assert!(request("promote/{env}/").branch().is_err());
    }

    #[test]
    fn default_body_tells_a_reviewer_everything() {
        let mut r = request(DEFAULT_BRANCH_TEMPLATE);
        r.image = Some("quay.io/x/jukebox@sha256:abc".into());
        r.source_commit_url = Some("https://git/x/commit/123".into());
        let change = ConfigChange {
            changed: true,
            file: "model-deployments/prod/jukebox/config.yaml".into(),
            old_version: Some("v1".into()),
            diff: "-version: v1\n+version: v2\n".into(),
            commit: None,
        };
        let (title, body) = render_title_body(&r, &change, "promote/prod/jukebox").unwrap();
        assert_eq!(title, "Promote jukebox v2 to prod");
        for needle in [
            "`v1` → `v2`",
            "quay.io/x/jukebox@sha256:abc",
            "https://git/x/commit/123",
            "+version: v2",
            &r.marker(),
        ] {
            assert!(body.contains(needle), "{needle} missing from:\n{body}");
        }
    }
}
