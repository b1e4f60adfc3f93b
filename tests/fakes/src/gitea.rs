//! A fake Gitea API (`/api/v1`) for pull requests, after `gitea-api-swagger.json` and what Gitea 1.27
//! does: `Authorization: token …`, labels by id, `GET /repos/{owner}/{repo}/pulls/{base}/{head}`
//! answering with a pull request in any state (the oldest one, as an unordered database query may),
//! 409 for a second open pull request with the same head and base, 404 when a branch is missing from
//! the git repository.
//!
//! Checked against the real Gitea by `tests/e2e/tests/forge_conformance.rs`, and as it answers:
//! errors `{"message", "url"}`; lists newest first, at most 50 a page (30 unless `limit` says),
//! with `X-Total-Count`, and for pull requests a `Link` header (`next`, `last`, `first`, `prev`);
//! pull requests without a `state` filter in any state; a pull request's labels by name (by id in
//! the answer to its creation); `assignees` and `requested_reviewers` `null` when empty in lists but
//! `[]` in a single pull request; anonymous reads of the (public) repositories, anonymous writes a
//! 401 "token is required"; the request of a review from the pull request's author a 422; a
//! comment on a missing issue a 500 (Gitea 1.27.3 does not tell that case apart).
//!
//! As the real server: a repository's `permissions` are the user's, whatever the token's scopes (a
//! read-only token still shows `push: true`); a write with a read-only token is a 403 naming the
//! missing scope (`write:repository`, or `write:issue` under `/issues`); and opening a pull request
//! checks for an open one of the same head and base and inserts the new one a moment later, with no
//! lock in between, so two creates at once can both succeed.
//!
//! Drafts are titles starting with `WIP:` or `[WIP]` (any case; Gitea's default
//! `WORK_IN_PROGRESS_PREFIXES`), shown as `draft`. Commit statuses: `POST /statuses/{sha}` takes
//! `state`, and answers (as the combined `GET /commits/{ref}/status` does) with it under `status`; an
//! unknown commit is Gitea's 500.

use std::ops::Deref;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::Response;
use serde_json::{Value, json};

use crate::forge_support::{
    FakeForge, FakePull, FakeStatus, ForgeState, Gate, PullState, Refusal, RepoState, Shared,
    body_json, encode_query, gate, has_prefix, json, json_with_headers, paginate, param, query,
    segments, str_field, str_list, with_page,
};

/// The page size of a list without `limit` (`DEFAULT_PAGING_NUM`) and the most one page holds
/// (`MAX_RESPONSE_ITEMS`).
const DEFAULT_PAGE: usize = 30;
const MAX_PAGE: usize = 50;

/// Who opens the fake's pull requests (the first user of every fake forge).
const AUTHOR: (u64, &str) = (1, "promotion-bot");

const TIME: &str = "2026-01-01T00:00:00Z";

/// Gitea's default work-in-progress title prefixes.
const WIP_PREFIXES: [&str; 2] = ["WIP:", "[WIP]"];

/// A running fake Gitea. Derefs to [`FakeForge`] for setup and inspection.
pub struct FakeGitea(FakeForge);

impl FakeGitea {
    pub fn start() -> Self {
        Self(FakeForge::start("fake Gitea", |shared| {
            axum::Router::new().fallback(handle).with_state(shared)
        }))
    }
}

impl Deref for FakeGitea {
    type Target = FakeForge;
    fn deref(&self) -> &FakeForge {
        &self.0
    }
}

fn message(status: StatusCode, text: &str, base: &str) -> Response {
    json(
        status,
        json!({ "message": text, "url": format!("{base}/api/swagger") }),
    )
}

fn not_found(base: &str) -> Response {
    message(StatusCode::NOT_FOUND, "not found", base)
}

fn user_json(base: &str, id: u64, login: &str) -> Value {
    json!({
        "id": id, "login": login, "login_name": "", "full_name": "", "email": format!("{login}@example.com"),
        "avatar_url": "", "html_url": format!("{base}/{login}"), "language": "", "is_admin": false,
        "active": true, "prohibit_login": false, "restricted": false, "visibility": "public",
    })
}

fn label_json(base: &str, repo: &str, id: u64, name: &str) -> Value {
    json!({
        "id": id, "name": name, "color": "00aabb", "description": "", "exclusive": false,
        "is_archived": false, "url": format!("{base}/api/v1/repos/{repo}/labels/{id}"),
    })
}

/// Where a pull request is shown, which changes how Gitea fills some fields in.
#[derive(Clone, Copy, PartialEq, Eq)]
enum View {
    /// The answer to its creation: labels by id.
    Created,
    /// `GET`/`PATCH` of one pull request: labels by name, empty lists of users (and teams) `[]`.
    Single,
    /// An item of a list: labels by name, empty lists of users (and teams) `null`.
    Listed,
}

fn pull_json(
    base: &str,
    path: &str,
    repo: &RepoState,
    state: &ForgeState,
    p: &FakePull,
    view: View,
) -> Value {
    let users = |logins: &[String]| -> Value {
        let users: Vec<Value> = logins
            .iter()
            .filter_map(|l| state.user(l))
            .map(|u| user_json(base, u.id, &u.login))
            .collect();
        if users.is_empty() && view == View::Listed {
            Value::Null
        } else {
            Value::Array(users)
        }
    };
    let mut labels: Vec<_> = p
        .labels
        .iter()
        .filter_map(|name| repo.label_named(name))
        .collect();
    if view == View::Created {
        labels.sort_by_key(|l| l.id);
    } else {
        labels.sort_by(|a, b| a.name.cmp(&b.name));
    }
    let labels: Vec<Value> = labels
        .into_iter()
        .map(|l| label_json(base, path, l.id, &l.name))
        .collect();
    let (closed, merged) = (p.state != PullState::Open, p.state == PullState::Merged);
    let when = |yes: bool| if yes { json!(TIME) } else { Value::Null };
    let branch = |name: &str| {
        json!({
            "label": name, "ref": name, "repo_id": repo.id,
            "sha": crate::forge_support::branch_commit(&repo.git_dir, name).unwrap_or_default(),
        })
    };
    let assignees = users(&p.assignees);
    json!({
        "id": repo.id * 1000 + p.number,
        "number": p.number,
        "url": format!("{base}/{path}/pulls/{}", p.number),
        "html_url": format!("{base}/{path}/pulls/{}", p.number),
        "diff_url": format!("{base}/{path}/pulls/{}.diff", p.number),
        "patch_url": format!("{base}/{path}/pulls/{}.patch", p.number),
        "user": user_json(base, AUTHOR.0, AUTHOR.1),
        "title": p.title,
        "body": p.body,
        "labels": labels,
        "milestone": null,
        "assignee": assignees.get(0).cloned().unwrap_or(Value::Null),
        "assignees": assignees,
        "requested_reviewers": users(&p.reviewers),
        "requested_reviewers_teams": users(&[]),
        "state": if p.state == PullState::Open { "open" } else { "closed" },
        "draft": has_prefix(&p.title, &WIP_PREFIXES),
        "is_locked": false,
        "comments": p.comments.len(),
        "mergeable": !merged,
        "merged": merged,
        "merged_at": when(merged),
        "merge_commit_sha": if merged {
            json!(crate::forge_support::branch_commit(&repo.git_dir, &p.head))
        } else {
            Value::Null
        },
        "merged_by": if merged { user_json(base, AUTHOR.0, AUTHOR.1) } else { Value::Null },
        "base": branch(&p.base),
        "head": branch(&p.head),
        "merge_base": "",
        "due_date": null,
        "created_at": TIME,
        "updated_at": TIME,
        "closed_at": when(closed),
    })
}

/// A review request as `POST .../requested_reviewers` answers it.
fn review_json(base: &str, path: &str, id: u64, number: u64, user: Value) -> Value {
    json!({
        "id": id, "user": user, "team": null, "state": "REQUEST_REVIEW", "body": "", "commit_id": "",
        "stale": false, "official": true, "dismissed": false, "comments_count": 0,
        "submitted_at": TIME, "updated_at": TIME, "html_url": "",
        "pull_request_url": format!("{base}/{path}/pulls/{number}"),
    })
}

/// One page of a list with `X-Total-Count`, and with `link` Gitea's `Link` header as well: `next`
/// and `last` unless on the last page, `first` and `prev` unless on the first (a page past the end
/// counts as the last), each URL the request's with `page` set and the query sorted by name.
fn list_page(
    base: &str,
    uri: &Uri,
    query: &[(String, String)],
    all: &[Value],
    link: bool,
) -> Response {
    let page = paginate(all, query, "limit", DEFAULT_PAGE, MAX_PAGE);
    let mut headers = vec![("x-total-count", page.total.to_string())];
    let (pages, current) = (page.pages(), page.page.min(page.pages()));
    let links: Vec<String> = [
        (current < pages, current + 1, "next"),
        (current != pages, pages, "last"),
        (current != 1, 1, "first"),
        (current > 1, current.saturating_sub(1), "prev"),
    ]
    .into_iter()
    .filter(|(shown, _, _)| *shown)
    .map(|(_, target, rel)| {
        let mut pairs = with_page(query, target);
        pairs.sort_by(|a, b| a.0.cmp(&b.0));
        format!(
            "<{base}{}?{}>; rel=\"{rel}\"",
            uri.path(),
            encode_query(&pairs)
        )
    })
    .collect();
    if link && !links.is_empty() {
        headers.push(("link", links.join(",")));
    }
    json_with_headers(StatusCode::OK, headers, Value::Array(page.items))
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let base = shared.base_url();
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("token ")
                .or_else(|| v.strip_prefix("Bearer "))
        });
    let (can_write, anonymous) = match gate(
        &shared,
        &method,
        &uri,
        token,
        true,
        || {
            message(
                StatusCode::SERVICE_UNAVAILABLE,
                "Service Unavailable",
                &base,
            )
        },
        |refusal| {
            let text = match refusal {
                Refusal::Missing => "token is required",
                Refusal::Invalid => "invalid username, password or token",
            };
            message(StatusCode::UNAUTHORIZED, text, &base)
        },
    ) {
        Gate::Pass {
            can_write,
            anonymous,
        } => (can_write, anonymous),
        Gate::Stop(response) => return response,
    };
    let Some(segs) = segments(uri.path(), "/api/v1") else {
        return not_found(&base);
    };
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    if method != Method::GET && !can_write {
        let scope = if segs.get(3) == Some(&"issues") {
            "write:issue"
        } else {
            "write:repository"
        };
        return message(
            StatusCode::FORBIDDEN,
            &format!(
                "token does not have at least one of required scope(s), required=[{scope}], \
                 token scope=read:issue,read:repository"
            ),
            &base,
        );
    }
    let query = query(&uri);
    let body = body_json(&body);
    if let (&Method::POST, ["repos", owner, name, "pulls"]) = (&method, segs.as_slice()) {
        let path = format!("{owner}/{name}");
        if let Some(refused) = check_new_pull(&base, &path, &shared.lock(), &body) {
            return refused;
        }
        // Gitea does the work of opening a pull request (refs, merge base, the issue) between its
        // check for an open one and the insert, without a lock.
        tokio::time::sleep(CREATE_WORK).await;
        return insert_pull(&base, &path, &mut shared.lock(), &body);
    }
    let mut state = shared.lock();

    if let ["users", login] = segs.as_slice() {
        return match state.user(login) {
            Some(u) => json(StatusCode::OK, user_json(&base, u.id, &u.login)),
            None => message(
                StatusCode::NOT_FOUND,
                &format!("user redirect does not exist [name: {login}]"),
                &base,
            ),
        };
    }
    let ["repos", owner, name, rest @ ..] = segs.as_slice() else {
        return not_found(&base);
    };
    let path = format!("{owner}/{name}");
    let state = &mut *state;
    let Some(repo) = state.repos.get(&path) else {
        return not_found(&base);
    };

    match (&method, rest) {
        (&Method::GET, []) => json(
            StatusCode::OK,
            json!({
                "id": repo.id, "name": name, "full_name": path, "owner": user_json(&base, 1, owner),
                "private": false, "fork": false, "empty": false, "default_branch": "main",
                "html_url": format!("{base}/{path}"), "clone_url": format!("{base}/{path}.git"),
                // The user's permission, not the token's scopes; anonymous users may only read.
                "permissions": { "admin": false, "push": !anonymous, "pull": true },
                "has_pull_requests": true, "archived": false,
            }),
        ),
        (&Method::GET, ["branches", branch @ ..]) => {
            let branch = branch.join("/");
            match crate::forge_support::branch_commit(&repo.git_dir, &branch) {
                Some(sha) => json(
                    StatusCode::OK,
                    json!({ "name": branch, "commit": { "id": sha }, "protected": false, "user_can_push": !anonymous }),
                ),
                None => not_found(&base),
            }
        }
        (&Method::GET, ["labels"]) => {
            let mut labels: Vec<_> = repo.labels.iter().collect();
            labels.sort_by(|a, b| a.name.cmp(&b.name));
            let all: Vec<Value> = labels
                .into_iter()
                .map(|l| label_json(&base, &path, l.id, &l.name))
                .collect();
            list_page(&base, &uri, &query, &all, false)
        }
        (&Method::GET, ["pulls"]) => {
            let wanted = param(&query, "state").unwrap_or("all");
            let base_branch = param(&query, "base_branch");
            let mut pulls: Vec<&FakePull> = repo
                .pulls
                .iter()
                .filter(|p| match wanted {
                    "open" => p.is_open(),
                    "closed" => !p.is_open(),
                    _ => true,
                })
                .filter(|p| base_branch.is_none_or(|b| p.base == b))
                .collect();
            pulls.sort_by_key(|p| std::cmp::Reverse(p.number));
            let all: Vec<Value> = pulls
                .into_iter()
                .map(|p| pull_json(&base, &path, repo, state, p, View::Listed))
                .collect();
            list_page(&base, &uri, &query, &all, true)
        }
        (&Method::GET, ["pulls", number]) => {
            match repo.pulls.iter().find(|p| number.parse() == Ok(p.number)) {
                Some(p) => json(
                    StatusCode::OK,
                    pull_json(&base, &path, repo, state, p, View::Single),
                ),
                None => not_found(&base),
            }
        }
        (&Method::GET, ["pulls", base_branch, head @ ..]) => {
            // Any state; the oldest of several.
            let head = head.join("/");
            match repo
                .pulls
                .iter()
                .filter(|p| p.base == *base_branch && p.head == head)
                .min_by_key(|p| p.number)
            {
                Some(p) => json(
                    StatusCode::OK,
                    pull_json(&base, &path, repo, state, p, View::Single),
                ),
                None => not_found(&base),
            }
        }
        (&Method::PATCH, ["pulls", number]) => {
            let Ok(number) = number.parse::<u64>() else {
                return not_found(&base);
            };
            edit_pull(&base, &path, state, number, &body)
        }
        (&Method::PATCH, ["issues", "comments", id]) => {
            // The body is validated first; the fake keeps no comment ids, so none is found then.
            if str_field(&body, "body").is_none() {
                return message(StatusCode::UNPROCESSABLE_ENTITY, "[Body]: Required", &base);
            }
            message(
                StatusCode::NOT_FOUND,
                &format!("comment does not exist [id: {id}, issue_id: 0]"),
                &base,
            )
        }
        (&Method::POST, ["issues", number, "comments"]) => {
            let Some(text) = str_field(&body, "body") else {
                return message(StatusCode::UNPROCESSABLE_ENTITY, "[Body]: Required", &base);
            };
            let id = state.new_id();
            let repo = state.repos.get_mut(&path).expect("repo checked above");
            let repo_id = repo.id;
            match repo
                .pulls
                .iter_mut()
                .find(|p| number.parse() == Ok(p.number))
            {
                Some(p) => {
                    p.comments.push(text.to_owned());
                    json(
                        StatusCode::CREATED,
                        json!({ "id": id, "body": text, "html_url": format!("{base}/{path}/pulls/{number}#issuecomment-{id}"),
                                "pull_request_url": format!("{base}/{path}/pulls/{number}"), "issue_url": "",
                                "user": user_json(&base, AUTHOR.0, AUTHOR.1),
                                "created_at": TIME, "updated_at": TIME }),
                    )
                }
                // Gitea 1.27.3 answers a missing issue here with a 500.
                None => message(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    &format!("issue does not exist [id: 0, repo_id: {repo_id}, index: {number}]"),
                    &base,
                ),
            }
        }
        (&Method::POST, ["statuses", sha]) => {
            let state_name = str_field(&body, "state").unwrap_or_default();
            if ![
                "pending", "success", "error", "failure", "warning", "skipped",
            ]
            .contains(&state_name)
            {
                return message(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "[State]: invalid commit status state",
                    &base,
                );
            }
            let Some(commit) = repo.commit(sha) else {
                return message(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    &format!("GetCommit[{sha}]: object does not exist [id: {sha}, rel_path: ]"),
                    &base,
                );
            };
            let status = FakeStatus {
                sha: commit,
                state: state_name.to_owned(),
                context: str_field(&body, "context")
                    .unwrap_or_default()
                    .trim()
                    .to_owned(),
                description: str_field(&body, "description")
                    .unwrap_or_default()
                    .trim()
                    .to_owned(),
                target_url: str_field(&body, "target_url")
                    .unwrap_or_default()
                    .trim()
                    .to_owned(),
                reference: String::new(),
            };
            let id = state.new_id();
            let answer = status_json(&base, &path, id, &status);
            let repo = state.repos.get_mut(&path).expect("repo checked above");
            repo.statuses.push(status);
            json(StatusCode::CREATED, answer)
        }
        (&Method::GET, ["commits", reference @ .., "status"]) if !reference.is_empty() => {
            let reference = reference.join("/");
            let Some(commit) = crate::forge_support::branch_commit(&repo.git_dir, &reference)
                .or_else(|| repo.commit(&reference))
            else {
                return not_found(&base);
            };
            let latest = repo.latest_statuses(&commit);
            let combined = if latest.is_empty() {
                "pending"
            } else if let Some(bad) = latest
                .iter()
                .find(|s| matches!(s.state.as_str(), "error" | "failure"))
            {
                bad.state.as_str()
            } else if latest.iter().any(|s| s.state == "pending") {
                "pending"
            } else {
                "success"
            };
            let statuses: Vec<Value> = latest
                .iter()
                .enumerate()
                .map(|(i, s)| status_json(&base, &path, i as u64 + 1, s))
                .collect();
            json(
                StatusCode::OK,
                json!({
                    "state": combined, "sha": commit, "total_count": statuses.len(),
                    "statuses": if statuses.is_empty() { Value::Null } else { Value::Array(statuses) },
                    "commit_url": format!("{base}/api/v1/repos/{path}/commits/{commit}"),
                    "url": format!("{base}/api/v1/repos/{path}/commits/{commit}/status"),
                }),
            )
        }
        (&Method::POST, ["pulls", number, "requested_reviewers"]) => {
            let reviewers = str_list(&body, "reviewers");
            let repo_id = repo.id;
            let Some(p) = repo.pulls.iter().find(|p| number.parse() == Ok(p.number)) else {
                return message(
                    StatusCode::NOT_FOUND,
                    &format!(
                        "pull request does not exist [id: 0, issue_id: 0, head_repo_id: 0, \
                         base_repo_id: {repo_id}, head_branch: , base_branch: ]"
                    ),
                    &base,
                );
            };
            let number = p.number;
            let mut new = Vec::new();
            for login in &reviewers {
                let Some(user) = state.user(login) else {
                    return message(
                        StatusCode::NOT_FOUND,
                        &format!("user doesn't exist: {login}"),
                        &base,
                    );
                };
                if user.id == AUTHOR.0 {
                    return message(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        &format!(
                            "poster of pr can't be reviewer [user_id: {}, repo_id: {repo_id}]",
                            user.id
                        ),
                        &base,
                    );
                }
                if !p
                    .reviewers
                    .iter()
                    .any(|r| r.eq_ignore_ascii_case(&user.login))
                    && !new.iter().any(|(_, l): &(u64, String)| *l == user.login)
                {
                    new.push((user.id, user.login.clone()));
                }
            }
            let mut reviews = Vec::new();
            for (user_id, login) in new {
                let id = state.new_id();
                reviews.push(review_json(
                    &base,
                    &path,
                    id,
                    number,
                    user_json(&base, user_id, &login),
                ));
                let repo = state.repos.get_mut(&path).expect("repo checked above");
                if let Some(p) = repo.pulls.iter_mut().find(|p| p.number == number) {
                    p.reviewers.push(login);
                }
            }
            json(StatusCode::CREATED, Value::Array(reviews))
        }
        _ => not_found(&base),
    }
}

/// A commit status as Gitea shows it: the state under `status`.
fn status_json(base: &str, path: &str, id: u64, status: &FakeStatus) -> Value {
    json!({
        "id": id, "status": status.state, "target_url": status.target_url,
        "description": status.description, "context": status.context,
        "url": format!("{base}/api/v1/repos/{path}/statuses/{}", status.sha),
        "creator": user_json(base, 1, "promotion-bot"),
        "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z",
    })
}

/// How long the fake takes between its check for an open pull request and the insert.
const CREATE_WORK: Duration = Duration::from_millis(150);

/// `POST /repos/{owner}/{repo}/pulls`, first half: the checks, the open one of the same head and
/// base among them. The answer when one fails.
fn check_new_pull(base: &str, path: &str, state: &ForgeState, body: &Value) -> Option<Response> {
    // Validation names the first missing field only, in this order.
    for (field, name) in [("head", "Head"), ("base", "Base"), ("title", "Title")] {
        if str_field(body, field).is_none_or(str::is_empty) {
            return Some(message(
                StatusCode::UNPROCESSABLE_ENTITY,
                &format!("[{name}]: Required"),
                base,
            ));
        }
    }
    let (head, base_branch) = (
        str_field(body, "head").unwrap_or_default(),
        str_field(body, "base").unwrap_or_default(),
    );
    let Some(repo) = state.repos.get(path) else {
        return Some(not_found(base));
    };
    if let Some(missing) = [base_branch, head]
        .into_iter()
        .find(|b| !repo.has_branch(b))
    {
        return Some(message(
            StatusCode::NOT_FOUND,
            &format!("ref \"{missing}\" does not exist"),
            base,
        ));
    }
    if head == base_branch {
        return Some(message(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Invalid PullRequest: There are no changes between the head and the base",
            base,
        ));
    }
    if let Some(existing) = repo
        .pulls
        .iter()
        .find(|p| p.is_open() && p.head == head && p.base == base_branch)
    {
        return Some(message(
            StatusCode::CONFLICT,
            &format!(
                "pull request already exists for these targets [id: {}, issue_id: {}, head_repo_id: {id}, base_repo_id: {id}, head_branch: {head}, base_branch: {base_branch}]",
                existing.number,
                existing.number,
                id = repo.id
            ),
            base,
        ));
    }
    None
}

/// `POST /repos/{owner}/{repo}/pulls`, second half: the insert, after [`check_new_pull`] and a
/// moment's work; it does not look for an open one again.
fn insert_pull(base: &str, path: &str, state: &mut ForgeState, body: &Value) -> Response {
    let (head, base_branch) = (
        str_field(body, "head").unwrap_or_default(),
        str_field(body, "base").unwrap_or_default(),
    );
    let title = str_field(body, "title").unwrap_or_default();
    let Some(repo) = state.repos.get(path) else {
        return not_found(base);
    };
    // Unknown label ids are dropped, as Gitea does.
    let labels: Vec<String> = label_ids(body)
        .into_iter()
        .filter_map(|id| repo.labels.iter().find(|l| l.id == id))
        .map(|l| l.name.clone())
        .collect();
    let mut pull = FakePull::open(
        head,
        base_branch,
        title,
        str_field(body, "body").unwrap_or_default(),
    );
    pull.labels = labels;
    pull.draft = has_prefix(title, &WIP_PREFIXES);
    pull.assignees = str_list(body, "assignees");
    pull.reviewers = str_list(body, "reviewers");
    pull.number = repo.next_number();
    let repo = state
        .repos
        .get_mut(path)
        .expect("repo checked by the caller");
    repo.pulls.push(pull.clone());
    let repo = state.repos.get(path).expect("repo checked by the caller");
    json(
        StatusCode::CREATED,
        pull_json(base, path, repo, state, &pull, View::Created),
    )
}

fn label_ids(body: &Value) -> Vec<u64> {
    body.get("labels")
        .and_then(Value::as_array)
        .map(|ids| ids.iter().filter_map(Value::as_u64).collect())
        .unwrap_or_default()
}

fn edit_pull(
    base: &str,
    path: &str,
    state: &mut ForgeState,
    number: u64,
    body: &Value,
) -> Response {
    let known: Vec<(u64, String)> = state.repos[path]
        .labels
        .iter()
        .map(|l| (l.id, l.name.clone()))
        .collect();
    let repo = state
        .repos
        .get_mut(path)
        .expect("repo checked by the caller");
    let Some(p) = repo.pulls.iter_mut().find(|p| p.number == number) else {
        return not_found(base);
    };
    if let Some(title) = str_field(body, "title") {
        p.title = title.to_owned();
        p.draft = has_prefix(title, &WIP_PREFIXES);
    }
    if let Some(text) = str_field(body, "body") {
        p.body = text.to_owned();
    }
    if body.get("labels").is_some() {
        p.labels = label_ids(body)
            .into_iter()
            .filter_map(|id| known.iter().find(|(k, _)| *k == id))
            .map(|(_, n)| n.clone())
            .collect();
    }
    if body.get("assignees").is_some() {
        p.assignees = str_list(body, "assignees");
    }
    match str_field(body, "state") {
        Some("closed") if p.state == PullState::Open => p.state = PullState::Closed,
        Some("open") if p.state == PullState::Closed => p.state = PullState::Open,
        _ => {}
    }
    let p = p.clone();
    let repo = &state.repos[path];
    json(
        StatusCode::CREATED,
        pull_json(base, path, repo, state, &p, View::Single),
    )
}
