//! A fake Gitea API (`/api/v1`) for pull requests, after `gitea-api-swagger.json` and what Gitea 1.27
//! does: `Authorization: token …`, labels by id, `GET /repos/{owner}/{repo}/pulls/{base}/{head}`
//! answering with a pull request in any state (the oldest one, as an unordered database query may),
//! 409 for a second open pull request with the same head and base, 404 when a branch is missing from
//! the git repository.
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
    FakeForge, FakePull, FakeStatus, ForgeState, Gate, PullState, RepoState, Shared, body_json,
    gate, has_prefix, json, paginate, param, query, segments, str_field, str_list,
};

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
    json(
        StatusCode::NOT_FOUND,
        json!({ "errors": [], "message": "The target couldn't be found.", "url": format!("{base}/api/swagger") }),
    )
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

fn pull_json(base: &str, path: &str, repo: &RepoState, state: &ForgeState, p: &FakePull) -> Value {
    let users = |logins: &[String]| -> Vec<Value> {
        logins
            .iter()
            .filter_map(|l| state.user(l))
            .map(|u| user_json(base, u.id, &u.login))
            .collect()
    };
    let labels: Vec<Value> = p
        .labels
        .iter()
        .filter_map(|name| repo.label_named(name))
        .map(|l| label_json(base, path, l.id, &l.name))
        .collect();
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
        "user": user_json(base, 1, "promotion-bot"),
        "title": p.title,
        "body": p.body,
        "labels": labels,
        "milestone": null,
        "assignee": assignees.first().cloned(),
        "assignees": if assignees.is_empty() { Value::Null } else { Value::Array(assignees) },
        "requested_reviewers": users(&p.reviewers),
        "requested_reviewers_teams": [],
        "state": if p.state == PullState::Open { "open" } else { "closed" },
        "draft": has_prefix(&p.title, &WIP_PREFIXES),
        "is_locked": false,
        "comments": p.comments.len(),
        "mergeable": p.state == PullState::Open,
        "merged": p.state == PullState::Merged,
        "merged_at": null,
        "merge_commit_sha": null,
        "base": branch(&p.base),
        "head": branch(&p.head),
        "merge_base": "",
        "due_date": null,
        "created_at": "2026-01-01T00:00:00Z",
        "updated_at": "2026-01-01T00:00:00Z",
        "closed_at": null,
    })
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
    let can_write = match gate(
        &shared,
        &method,
        &uri,
        token,
        || {
            message(
                StatusCode::SERVICE_UNAVAILABLE,
                "Service Unavailable",
                &base,
            )
        },
        || {
            message(
                StatusCode::UNAUTHORIZED,
                "invalid username, password or token",
                &base,
            )
        },
    ) {
        Gate::Pass { can_write } => can_write,
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
            None => not_found(&base),
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
                // The user's permission, not the token's scopes.
                "permissions": { "admin": false, "push": true, "pull": true },
                "has_pull_requests": true, "archived": false,
            }),
        ),
        (&Method::GET, ["branches", branch @ ..]) => {
            let branch = branch.join("/");
            match crate::forge_support::branch_commit(&repo.git_dir, &branch) {
                Some(sha) => json(
                    StatusCode::OK,
                    json!({ "name": branch, "commit": { "id": sha }, "protected": false, "user_can_push": can_write }),
                ),
                None => not_found(&base),
            }
        }
        (&Method::GET, ["labels"]) => {
            let all: Vec<Value> = repo
                .labels
                .iter()
                .map(|l| label_json(&base, &path, l.id, &l.name))
                .collect();
            json(
                StatusCode::OK,
                Value::Array(paginate(&all, &query, "limit", 30)),
            )
        }
        (&Method::GET, ["pulls"]) => {
            let wanted = param(&query, "state").unwrap_or("open");
            let base_branch = param(&query, "base_branch");
            let mut pulls: Vec<&FakePull> = repo
                .pulls
                .iter()
                .filter(|p| match wanted {
                    "all" => true,
                    "closed" => !p.is_open(),
                    _ => p.is_open(),
                })
                .filter(|p| base_branch.is_none_or(|b| p.base == b))
                .collect();
            pulls.sort_by_key(|p| std::cmp::Reverse(p.number));
            let all: Vec<Value> = pulls
                .into_iter()
                .map(|p| pull_json(&base, &path, repo, state, p))
                .collect();
            json(
                StatusCode::OK,
                Value::Array(paginate(&all, &query, "limit", 30)),
            )
        }
        (&Method::GET, ["pulls", number]) if number.parse::<u64>().is_ok() => {
            let number: u64 = number.parse().unwrap_or_default();
            match repo.pulls.iter().find(|p| p.number == number) {
                Some(p) => json(StatusCode::OK, pull_json(&base, &path, repo, state, p)),
                None => not_found(&base),
            }
        }
        (&Method::GET, ["pulls", base_branch, head @ ..]) if !head.is_empty() => {
            // Any state; the oldest of several.
            let head = head.join("/");
            match repo
                .pulls
                .iter()
                .filter(|p| p.base == *base_branch && p.head == head)
                .min_by_key(|p| p.number)
            {
                Some(p) => json(StatusCode::OK, pull_json(&base, &path, repo, state, p)),
                None => not_found(&base),
            }
        }
        (&Method::PATCH, ["pulls", number]) => {
            let Ok(number) = number.parse::<u64>() else {
                return not_found(&base);
            };
            edit_pull(&base, &path, state, number, &body)
        }
        (&Method::POST, ["issues", number, "comments"]) => {
            let Some(text) = str_field(&body, "body") else {
                return message(StatusCode::UNPROCESSABLE_ENTITY, "[Body]: Required", &base);
            };
            let id = state.new_id();
            let repo = state.repos.get_mut(&path).expect("repo checked above");
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
                                "user": user_json(&base, 1, "promotion-bot"),
                                "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z" }),
                    )
                }
                None => not_found(&base),
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
            if let Some(unknown) = reviewers.iter().find(|r| state.user(r).is_none()) {
                return message(
                    StatusCode::NOT_FOUND,
                    &format!("user does not exist [uid: 0, name: {unknown}]"),
                    &base,
                );
            }
            let repo = state.repos.get_mut(&path).expect("repo checked above");
            let Some(p) = repo
                .pulls
                .iter_mut()
                .find(|p| number.parse() == Ok(p.number))
            else {
                return not_found(&base);
            };
            for r in reviewers {
                if !p.reviewers.contains(&r) {
                    p.reviewers.push(r);
                }
            }
            json(StatusCode::CREATED, json!([]))
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
    let (Some(head), Some(base_branch)) = (str_field(body, "head"), str_field(body, "base")) else {
        return Some(message(
            StatusCode::UNPROCESSABLE_ENTITY,
            "[Head]: Required; [Base]: Required",
            base,
        ));
    };
    let title = str_field(body, "title").unwrap_or_default();
    if title.is_empty() {
        return Some(message(
            StatusCode::UNPROCESSABLE_ENTITY,
            "[Title]: Required",
            base,
        ));
    }
    let Some(repo) = state.repos.get(path) else {
        return Some(not_found(base));
    };
    if !repo.has_branch(base_branch) || !repo.has_branch(head) {
        return Some(not_found(base));
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
        pull_json(base, path, repo, state, &pull),
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
    json(StatusCode::CREATED, pull_json(base, path, repo, state, &p))
}
