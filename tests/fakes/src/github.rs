//! A fake GitHub Enterprise REST API (served under `/api/v3`, as GitHub Enterprise Server does),
//! after GitHub's public REST description: `Bearer` tokens, `401 Bad credentials`, `404 Not Found`,
//! `422 Validation Failed` with `errors[]` (a missing branch, or "A pull request already exists for
//! OWNER:BRANCH."), labels by name through the issues API (unknown names are created, as GitHub does),
//! reviewers only from collaborators (422 otherwise), non-assignable assignees silently dropped.
//!
//! Where GitHub's API and Gitea's agree (pull request fields, comments, `?state=`, `Link` pagination,
//! newest first), `tests/e2e/tests/forge_conformance.rs` checks this fake against the real Gitea; it
//! also says there where GitHub differs on purpose. As GitHub: lists at most 100 a page (30 unless
//! `per_page` says) with a `Link` header (`prev`, `next`, `last`, `first`); `merged` only in a full
//! pull request (one pull request, not an item of a list); no token is a 401 "Requires
//! authentication", an unknown one a 401 "Bad credentials".
//!
//! Drafts: `draft` is set when opening (REST), and changed by the GraphQL mutations
//! `convertPullRequestToDraft` and `markPullRequestReadyForReview` (at `/api/graphql`, which answers
//! 200 with `errors` when it refuses). Commit statuses: `POST /statuses/{sha}` (422 for an unknown
//! state or commit) and the combined `GET /commits/{ref}/status` with the latest of each context.

use std::ops::Deref;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::forge_support::{
    FakeForge, FakeLabel, FakePull, FakeStatus, ForgeState, Gate, PullState, Refusal, RepoState,
    Shared, body_json, branch_commit, encode_query, gate, json, json_with_headers, paginate, param,
    query, segments, str_field, str_list, with_page,
};

const DOCS: &str = "https://docs.github.com/rest";

/// A running fake GitHub Enterprise API. Derefs to [`FakeForge`] for setup and inspection.
pub struct FakeGitHub(FakeForge);

impl FakeGitHub {
    pub fn start() -> Self {
        Self(FakeForge::start("fake GitHub", |shared| {
            axum::Router::new().fallback(handle).with_state(shared)
        }))
    }
}

impl Deref for FakeGitHub {
    type Target = FakeForge;
    fn deref(&self) -> &FakeForge {
        &self.0
    }
}

fn message(status: StatusCode, text: &str) -> Response {
    json(
        status,
        json!({ "message": text, "documentation_url": DOCS, "status": status.as_u16().to_string() }),
    )
}

fn not_found() -> Response {
    message(StatusCode::NOT_FOUND, "Not Found")
}

fn validation(errors: Value) -> Response {
    json(
        StatusCode::UNPROCESSABLE_ENTITY,
        json!({
            "message": "Validation Failed", "errors": errors,
            "documentation_url": "https://docs.github.com/rest/pulls/pulls#create-a-pull-request", "status": "422",
        }),
    )
}

fn user_json(base: &str, id: u64, login: &str) -> Value {
    json!({ "login": login, "id": id, "type": "User", "site_admin": false,
            "html_url": format!("{base}/{login}"), "url": format!("{base}/api/v3/users/{login}") })
}

fn label_json(label: &FakeLabel) -> Value {
    json!({ "id": label.id, "node_id": format!("LA_{}", label.id), "name": label.name,
            "color": "ededed", "default": false, "description": null })
}

/// A pull request: `full` as GitHub answers for one pull request (with `merged`), else as an item
/// of a list ("pull-request-simple").
fn pull_json(
    base: &str,
    path: &str,
    owner: &str,
    repo: &RepoState,
    state: &ForgeState,
    p: &FakePull,
    full: bool,
) -> Value {
    let users = |logins: &[String]| -> Vec<Value> {
        logins
            .iter()
            .filter_map(|l| state.user(l))
            .map(|u| user_json(base, u.id, &u.login))
            .collect()
    };
    let branch = |name: &str| {
        json!({ "label": format!("{owner}:{name}"), "ref": name,
                "sha": branch_commit(&repo.git_dir, name).unwrap_or_default() })
    };
    let assignees = users(&p.assignees);
    let when = |yes: bool| {
        if yes {
            json!("2026-01-01T00:00:00Z")
        } else {
            Value::Null
        }
    };
    let mut pull = json!({
        "id": repo.id * 1000 + p.number,
        "node_id": node_id(repo, p),
        "number": p.number,
        "url": format!("{base}/api/v3/repos/{path}/pulls/{}", p.number),
        "html_url": format!("{base}/{path}/pull/{}", p.number),
        "state": if p.state == PullState::Open { "open" } else { "closed" },
        "locked": false,
        "title": p.title,
        "body": if p.body.is_empty() { Value::Null } else { Value::String(p.body.clone()) },
        "user": user_json(base, 1, "promotion-bot"),
        "labels": p.labels.iter().filter_map(|n| repo.label_named(n)).map(label_json).collect::<Vec<_>>(),
        "assignee": assignees.first().cloned(),
        "assignees": assignees,
        "requested_reviewers": users(&p.reviewers),
        "requested_teams": [],
        "head": branch(&p.head),
        "base": branch(&p.base),
        "draft": p.draft,
        "merged_at": when(p.state == PullState::Merged),
        "closed_at": when(p.state != PullState::Open),
        "created_at": "2026-01-01T00:00:00Z",
        "updated_at": "2026-01-01T00:00:00Z",
    });
    if full {
        pull["merged"] = json!(p.state == PullState::Merged);
        pull["comments"] = json!(p.comments.len());
    }
    pull
}

/// One page of a list with GitHub's `Link` header: `prev` and `first` past the first page, `next`
/// and `last` before the last one.
fn list_page(base: &str, uri: &Uri, query: &[(String, String)], all: &[Value]) -> Response {
    let page = paginate(all, query, "per_page", 30, 100);
    let (current, pages) = (page.page, page.pages());
    let links: Vec<String> = [
        (current > 1, current.saturating_sub(1), "prev"),
        (current < pages, current + 1, "next"),
        (current < pages, pages, "last"),
        (current > 1, 1, "first"),
    ]
    .into_iter()
    .filter(|(shown, _, _)| *shown)
    .map(|(_, target, rel)| {
        format!(
            "<{base}{}?{}>; rel=\"{rel}\"",
            uri.path(),
            encode_query(&with_page(query, target))
        )
    })
    .collect();
    let headers = if links.is_empty() {
        Vec::new()
    } else {
        vec![("link", links.join(", "))]
    };
    json_with_headers(StatusCode::OK, headers, Value::Array(page.items))
}

/// The GraphQL id of a pull request.
fn node_id(repo: &RepoState, p: &FakePull) -> String {
    format!("PR_kwDO{}", repo.id * 1000 + p.number)
}

/// `POST /api/graphql`: the two mutations that change a pull request's draft state.
fn graphql(state: &mut ForgeState, can_write: bool, body: &Value) -> Response {
    let query = str_field(body, "query").unwrap_or_default();
    let id = body
        .pointer("/variables/id")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let (mutation, draft) = if query.contains("convertPullRequestToDraft") {
        ("convertPullRequestToDraft", true)
    } else if query.contains("markPullRequestReadyForReview") {
        ("markPullRequestReadyForReview", false)
    } else {
        return json(
            StatusCode::OK,
            json!({ "errors": [{ "message": "this fake knows two mutations only" }] }),
        );
    };
    let refused = |kind: &str, text: String| {
        json(
            StatusCode::OK,
            json!({ "data": { mutation: null },
                    "errors": [{ "type": kind, "path": [mutation], "message": text }] }),
        )
    };
    if !can_write {
        return refused(
            "FORBIDDEN",
            "Resource not accessible by personal access token".into(),
        );
    }
    for repo in state.repos.values_mut() {
        let ids: Vec<String> = repo.pulls.iter().map(|p| node_id(repo, p)).collect();
        if let Some(i) = ids.iter().position(|n| n == id) {
            repo.pulls[i].draft = draft;
            return json(
                StatusCode::OK,
                json!({ "data": { mutation: { "pullRequest": { "isDraft": draft } } } }),
            );
        }
    }
    refused(
        "NOT_FOUND",
        format!("Could not resolve to a node with the global id of '{id}'"),
    )
}

fn status_json(base: &str, path: &str, id: u64, status: &FakeStatus) -> Value {
    json!({
        "url": format!("{base}/api/v3/repos/{path}/statuses/{}", status.sha),
        "id": id, "node_id": format!("SC_{id}"), "state": status.state,
        "description": if status.description.is_empty() { Value::Null } else { json!(status.description) },
        "target_url": if status.target_url.is_empty() { Value::Null } else { json!(status.target_url) },
        "context": status.context,
        "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z",
        "creator": user_json(base, 1, "promotion-bot"),
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
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("token "))
        });
    let can_write = match gate(
        &shared,
        &method,
        &uri,
        token,
        false,
        || message(StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable"),
        |refusal| {
            let text = match refusal {
                Refusal::Missing => "Requires authentication",
                Refusal::Invalid => "Bad credentials",
            };
            message(StatusCode::UNAUTHORIZED, text)
        },
    ) {
        Gate::Pass { can_write, .. } => can_write,
        Gate::Stop(response) => return response,
    };
    if uri.path() == "/api/graphql" && method == Method::POST {
        return graphql(&mut shared.lock(), can_write, &body_json(&body));
    }
    let Some(segs) = segments(uri.path(), "/api/v3") else {
        return not_found();
    };
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    if method != Method::GET && !can_write {
        return message(
            StatusCode::FORBIDDEN,
            "Resource not accessible by personal access token",
        );
    }
    let query = query(&uri);
    let body = body_json(&body);
    let mut guard = shared.lock();
    let state = &mut *guard;
    let ["repos", owner, name, rest @ ..] = segs.as_slice() else {
        return not_found();
    };
    let path = format!("{owner}/{name}");
    let Some(repo) = state.repos.get(&path) else {
        return not_found();
    };
    let number_of = |s: &str| s.parse::<u64>().ok();

    match (&method, rest) {
        (&Method::GET, []) => json(
            StatusCode::OK,
            json!({
                "id": repo.id, "name": name, "full_name": path, "private": true,
                "owner": user_json(&base, 2, owner), "html_url": format!("{base}/{path}"),
                "default_branch": "main",
                "permissions": { "admin": false, "maintain": false, "push": can_write, "triage": can_write, "pull": true },
            }),
        ),
        (&Method::GET, ["branches", branch @ ..]) => {
            let branch = branch.join("/");
            match branch_commit(&repo.git_dir, &branch) {
                Some(sha) => json(
                    StatusCode::OK,
                    json!({ "name": branch, "commit": { "sha": sha }, "protected": false }),
                ),
                None => message(StatusCode::NOT_FOUND, "Branch not found"),
            }
        }
        (&Method::GET, ["labels", name]) => match repo.label_named(name) {
            Some(l) => json(StatusCode::OK, label_json(l)),
            None => not_found(),
        },
        (&Method::GET, ["collaborators" | "assignees", login]) => match state.user(login) {
            Some(_) => StatusCode::NO_CONTENT.into_response(),
            None => not_found(),
        },
        (&Method::GET, ["pulls"]) => {
            let wanted = param(&query, "state").unwrap_or("open");
            let head = param(&query, "head");
            let base_branch = param(&query, "base");
            let mut pulls: Vec<&FakePull> = repo
                .pulls
                .iter()
                .filter(|p| match wanted {
                    "all" => true,
                    "closed" => !p.is_open(),
                    _ => p.is_open(),
                })
                .filter(|p| base_branch.is_none_or(|b| p.base == b))
                .filter(|p| head.is_none_or(|h| h == format!("{owner}:{}", p.head)))
                .collect();
            pulls.sort_by_key(|p| std::cmp::Reverse(p.number));
            let all: Vec<Value> = pulls
                .into_iter()
                .map(|p| pull_json(&base, &path, owner, repo, state, p, false))
                .collect();
            list_page(&base, &uri, &query, &all)
        }
        (&Method::GET, ["pulls", n]) => {
            match number_of(n).and_then(|n| repo.pulls.iter().find(|p| p.number == n)) {
                Some(p) => json(
                    StatusCode::OK,
                    pull_json(&base, &path, owner, repo, state, p, true),
                ),
                None => not_found(),
            }
        }
        (&Method::POST, ["pulls"]) => create_pull(&base, &path, owner, state, &body),
        (&Method::PATCH, ["pulls", n]) => {
            let Some(n) = number_of(n) else {
                return not_found();
            };
            let repo = state.repos.get_mut(&path).expect("repo checked above");
            let Some(p) = repo.pulls.iter_mut().find(|p| p.number == n) else {
                return not_found();
            };
            if let Some(title) = str_field(&body, "title") {
                p.title = title.to_owned();
            }
            if let Some(text) = str_field(&body, "body") {
                p.body = text.to_owned();
            }
            match str_field(&body, "state") {
                Some("closed") if p.state == PullState::Open => p.state = PullState::Closed,
                Some("open") if p.state == PullState::Closed => p.state = PullState::Open,
                _ => {}
            }
            let p = p.clone();
            json(
                StatusCode::OK,
                pull_json(&base, &path, owner, &state.repos[&path], state, &p, true),
            )
        }
        (&Method::POST, ["issues", n, "labels"]) => {
            let Some(n) = number_of(n) else {
                return not_found();
            };
            let names = str_list(&body, "labels");
            for name in &names {
                if state.repos[&path].label_named(name).is_none() {
                    let id = state.new_id();
                    let repo = state.repos.get_mut(&path).expect("repo checked above");
                    repo.labels.push(FakeLabel {
                        id,
                        name: name.clone(),
                    });
                }
            }
            let repo = state.repos.get_mut(&path).expect("repo checked above");
            let Some(p) = repo.pulls.iter_mut().find(|p| p.number == n) else {
                return not_found();
            };
            for name in names {
                if !p.labels.contains(&name) {
                    p.labels.push(name);
                }
            }
            let labels: Vec<Value> = p
                .labels
                .clone()
                .iter()
                .filter_map(|n| repo.label_named(n))
                .map(label_json)
                .collect();
            json(StatusCode::OK, Value::Array(labels))
        }
        (&Method::POST, ["issues", n, "comments"]) => {
            let Some(n) = number_of(n) else {
                return not_found();
            };
            let Some(text) = str_field(&body, "body") else {
                return validation(
                    json!([{ "resource": "IssueComment", "field": "body", "code": "missing_field" }]),
                );
            };
            let id = state.new_id();
            let repo = state.repos.get_mut(&path).expect("repo checked above");
            let Some(p) = repo.pulls.iter_mut().find(|p| p.number == n) else {
                return not_found();
            };
            p.comments.push(text.to_owned());
            json(
                StatusCode::CREATED,
                json!({ "id": id, "body": text, "html_url": format!("{base}/{path}/pull/{n}#issuecomment-{id}"),
                        "user": user_json(&base, 1, "promotion-bot") }),
            )
        }
        (&Method::POST, ["pulls", n, "requested_reviewers"]) => {
            let Some(n) = number_of(n) else {
                return not_found();
            };
            let reviewers = str_list(&body, "reviewers");
            if reviewers.iter().any(|r| state.user(r).is_none()) {
                return message(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    &format!(
                        "Reviews may only be requested from collaborators. One or more of the users or teams you specified is not a collaborator of the {path} repository."
                    ),
                );
            }
            let repo = state.repos.get_mut(&path).expect("repo checked above");
            let Some(p) = repo.pulls.iter_mut().find(|p| p.number == n) else {
                return not_found();
            };
            for r in reviewers {
                if !p.reviewers.contains(&r) {
                    p.reviewers.push(r);
                }
            }
            let p = p.clone();
            json(
                StatusCode::CREATED,
                pull_json(&base, &path, owner, &state.repos[&path], state, &p, false),
            )
        }
        (&Method::POST, ["statuses", sha]) => {
            let state_name = str_field(&body, "state").unwrap_or_default();
            if !["error", "failure", "pending", "success"].contains(&state_name) {
                return validation(
                    json!([{ "resource": "Status", "field": "state", "code": "invalid" }]),
                );
            }
            let Some(commit) = repo.commit(sha) else {
                return message(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    &format!("No commit found for SHA: {sha}"),
                );
            };
            let status = FakeStatus {
                sha: commit,
                state: state_name.to_owned(),
                context: str_field(&body, "context").unwrap_or("default").to_owned(),
                description: str_field(&body, "description")
                    .unwrap_or_default()
                    .to_owned(),
                target_url: str_field(&body, "target_url")
                    .unwrap_or_default()
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
            let Some(commit) =
                branch_commit(&repo.git_dir, &reference).or_else(|| repo.commit(&reference))
            else {
                return message(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    &format!("No commit found for SHA: {reference}"),
                );
            };
            let latest = repo.latest_statuses(&commit);
            let combined = if latest
                .iter()
                .any(|s| matches!(s.state.as_str(), "error" | "failure"))
            {
                "failure"
            } else if latest.is_empty() || latest.iter().any(|s| s.state == "pending") {
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
                    "state": combined, "statuses": statuses, "sha": commit,
                    "total_count": statuses.len(),
                    "commit_url": format!("{base}/api/v3/repos/{path}/commits/{commit}"),
                    "url": format!("{base}/api/v3/repos/{path}/commits/{commit}/status"),
                }),
            )
        }
        (&Method::POST, ["issues", n, "assignees"]) => {
            let Some(n) = number_of(n) else {
                return not_found();
            };
            let assignable: Vec<String> = str_list(&body, "assignees")
                .into_iter()
                .filter(|a| state.user(a).is_some())
                .collect();
            let repo = state.repos.get_mut(&path).expect("repo checked above");
            let Some(p) = repo.pulls.iter_mut().find(|p| p.number == n) else {
                return not_found();
            };
            for a in assignable {
                if !p.assignees.contains(&a) {
                    p.assignees.push(a);
                }
            }
            let p = p.clone();
            json(
                StatusCode::CREATED,
                pull_json(&base, &path, owner, &state.repos[&path], state, &p, false),
            )
        }
        _ => not_found(),
    }
}

fn create_pull(
    base: &str,
    path: &str,
    owner: &str,
    state: &mut ForgeState,
    body: &Value,
) -> Response {
    let mut missing = Vec::new();
    for field in ["head", "base"] {
        if str_field(body, field).is_none() {
            missing.push(
                json!({ "resource": "PullRequest", "field": field, "code": "missing_field" }),
            );
        }
    }
    if !missing.is_empty() {
        return validation(Value::Array(missing));
    }
    let head = str_field(body, "head").unwrap_or_default();
    let head = head.strip_prefix(&format!("{owner}:")).unwrap_or(head);
    let base_branch = str_field(body, "base").unwrap_or_default();
    let repo = &state.repos[path];
    let mut invalid = Vec::new();
    if !repo.has_branch(base_branch) {
        invalid.push(json!({ "resource": "PullRequest", "field": "base", "code": "invalid" }));
    }
    if !repo.has_branch(head) {
        invalid.push(json!({ "resource": "PullRequest", "field": "head", "code": "invalid" }));
    }
    if !invalid.is_empty() {
        return validation(Value::Array(invalid));
    }
    if repo
        .pulls
        .iter()
        .any(|p| p.is_open() && p.head == head && p.base == base_branch)
    {
        return validation(json!([{ "resource": "PullRequest", "code": "custom",
                                   "message": format!("A pull request already exists for {owner}:{head}.") }]));
    }
    let title = str_field(body, "title").unwrap_or_default();
    if title.is_empty() {
        return validation(
            json!([{ "resource": "PullRequest", "field": "title", "code": "missing_field" }]),
        );
    }
    let mut pull = FakePull::open(
        head,
        base_branch,
        title,
        str_field(body, "body").unwrap_or_default(),
    );
    pull.draft = body.get("draft").and_then(Value::as_bool).unwrap_or(false);
    pull.number = repo.next_number();
    let repo = state
        .repos
        .get_mut(path)
        .expect("repo checked by the caller");
    repo.pulls.push(pull.clone());
    json(
        StatusCode::CREATED,
        pull_json(base, path, owner, &state.repos[path], state, &pull, true),
    )
}
