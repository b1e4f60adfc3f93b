//! A fake GitLab REST API (`/api/v4`) for merge requests, after GitLab's public REST description:
//! `PRIVATE-TOKEN` (or `Authorization: Bearer`), the project addressed by its URL-encoded path,
//! `{"message": "404 Project Not Found"}`-style errors, 409 with `message: ["Another open merge request
//! already exists for this source branch: !N"]`, labels by name (unknown names are created, as GitLab
//! does), users by id, `state_event: close`.
//!
//! Lists hold at most 100 a page (20 unless `per_page` says), newest first, with GitLab's
//! pagination headers: `X-Total`, `X-Total-Pages`, `X-Page`, `X-Per-Page`, `X-Next-Page` and
//! `X-Prev-Page` (empty at the ends), and `Link` (`prev`, `next`, `first`, `last`).
//! `tests/e2e/tests/forge_conformance.rs` checks against the real Gitea what the two APIs share
//! (401 `{"message"}` without a valid token, 404 `{"message"}`, 409 for a duplicate, pagination
//! and order) and says there what cannot be compared.
//!
//! Drafts are titles starting with `Draft:`, `[Draft]` or `(Draft)` (any case), shown as `draft`.
//! Commit statuses: `POST /projects/:id/statuses/:sha` (`state` one of GitLab's, `name` or
//! `context`, `ref`; 400 for an unknown state or for the same state again while the latest of that
//! name is still pending or running; 404 for an unknown commit) and
//! `GET /projects/:id/repository/commits/:sha/statuses` (the latest of each name unless `all`).

use std::ops::Deref;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::Response;
use serde_json::{Value, json};

use crate::forge_support::{
    FakeForge, FakeLabel, FakePull, FakeStatus, ForgeState, Gate, PullState, RepoState, Shared,
    body_json, branch_commit, encode_query, gate, has_prefix, json, json_with_headers, paginate,
    param, query, segments, str_field, with_page,
};

/// The title prefixes that make a merge request a draft.
const DRAFT_PREFIXES: [&str; 3] = ["Draft:", "[Draft]", "(Draft)"];

/// A running fake GitLab. Derefs to [`FakeForge`] for setup and inspection.
pub struct FakeGitLab(FakeForge);

impl FakeGitLab {
    pub fn start() -> Self {
        Self(FakeForge::start("fake GitLab", |shared| {
            axum::Router::new().fallback(handle).with_state(shared)
        }))
    }
}

impl Deref for FakeGitLab {
    type Target = FakeForge;
    fn deref(&self) -> &FakeForge {
        &self.0
    }
}

fn message(status: StatusCode, text: impl Into<Value>) -> Response {
    json(status, json!({ "message": text.into() }))
}

fn user_json(base: &str, id: u64, login: &str) -> Value {
    json!({ "id": id, "username": login, "name": login, "state": "active",
            "avatar_url": null, "web_url": format!("{base}/{login}") })
}

fn mr_json(base: &str, path: &str, repo: &RepoState, state: &ForgeState, p: &FakePull) -> Value {
    let users = |logins: &[String]| -> Vec<Value> {
        logins
            .iter()
            .filter_map(|l| state.user(l))
            .map(|u| user_json(base, u.id, &u.login))
            .collect()
    };
    let assignees = users(&p.assignees);
    json!({
        "id": repo.id * 1000 + p.number,
        "iid": p.number,
        "project_id": repo.id,
        "title": p.title,
        "description": p.body,
        "state": match p.state { PullState::Open => "opened", PullState::Closed => "closed", PullState::Merged => "merged" },
        "source_branch": p.head,
        "target_branch": p.base,
        "source_project_id": repo.id,
        "target_project_id": repo.id,
        "labels": p.labels,
        "author": user_json(base, 1, "promotion-bot"),
        "assignee": assignees.first().cloned(),
        "assignees": assignees,
        "reviewers": users(&p.reviewers),
        "draft": has_prefix(&p.title, &DRAFT_PREFIXES),
        "work_in_progress": has_prefix(&p.title, &DRAFT_PREFIXES),
        "sha": branch_commit(&repo.git_dir, &p.head).unwrap_or_default(),
        "user_notes_count": p.comments.len(),
        "web_url": format!("{base}/{path}/-/merge_requests/{}", p.number),
        "created_at": "2026-01-01T00:00:00.000Z",
        "updated_at": "2026-01-01T00:00:00.000Z",
    })
}

/// One page of a list with GitLab's pagination headers.
fn list_page(base: &str, uri: &Uri, query: &[(String, String)], all: &[Value]) -> Response {
    let page = paginate(all, query, "per_page", 20, 100);
    let (current, pages) = (page.page, page.pages());
    let next = (current < pages).then_some(current + 1);
    let prev = (current > 1).then(|| current - 1);
    let link = |target: usize, rel: &str| {
        format!(
            "<{base}{}?{}>; rel=\"{rel}\"",
            uri.path(),
            encode_query(&with_page(query, target))
        )
    };
    let mut links = Vec::new();
    links.extend(prev.map(|p| link(p, "prev")));
    links.extend(next.map(|n| link(n, "next")));
    links.push(link(1, "first"));
    links.push(link(pages, "last"));
    let shown = |n: Option<usize>| n.map(|n| n.to_string()).unwrap_or_default();
    let headers = vec![
        ("x-total", page.total.to_string()),
        ("x-total-pages", pages.to_string()),
        ("x-per-page", page.size.to_string()),
        ("x-page", current.to_string()),
        ("x-next-page", shown(next)),
        ("x-prev-page", shown(prev)),
        ("link", links.join(", ")),
    ];
    json_with_headers(StatusCode::OK, headers, Value::Array(page.items))
}

/// GitLab accepts booleans, lists and comma-separated strings for `labels`.
fn label_names(value: Option<&Value>) -> Option<Vec<String>> {
    match value? {
        Value::String(s) => Some(
            s.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
        ),
        Value::Array(items) => Some(
            items
                .iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect(),
        ),
        _ => None,
    }
}

fn ids(value: Option<&Value>) -> Option<Vec<u64>> {
    value?
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_u64).collect())
}

fn ensure_labels(state: &mut ForgeState, path: &str, names: &[String]) {
    for name in names {
        if state.repos[path].label_named(name).is_none() {
            let id = state.new_id();
            state
                .repos
                .get_mut(path)
                .expect("repo checked by the caller")
                .labels
                .push(FakeLabel {
                    id,
                    name: name.clone(),
                });
        }
    }
}

fn logins_of(state: &ForgeState, ids: &[u64]) -> Vec<String> {
    ids.iter()
        .filter_map(|id| state.users.iter().find(|u| u.id == *id))
        .map(|u| u.login.clone())
        .collect()
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
        .get("private-token")
        .and_then(|v| v.to_str().ok())
        .or_else(|| {
            headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
        });
    let can_write = match gate(
        &shared,
        &method,
        &uri,
        token,
        false,
        || message(StatusCode::SERVICE_UNAVAILABLE, "503 Service Unavailable"),
        |_| message(StatusCode::UNAUTHORIZED, "401 Unauthorized"),
    ) {
        Gate::Pass { can_write, .. } => can_write,
        Gate::Stop(response) => return response,
    };
    let Some(segs) = segments(uri.path(), "/api/v4") else {
        return message(StatusCode::NOT_FOUND, "404 Not Found");
    };
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    if method != Method::GET && !can_write {
        return json(
            StatusCode::FORBIDDEN,
            json!({ "error": "insufficient_scope",
                    "error_description": "The request requires higher privileges than provided by the access token.",
                    "scope": "api" }),
        );
    }
    let query = query(&uri);
    let body = body_json(&body);
    let mut guard = shared.lock();
    let state = &mut *guard;

    if let ["users"] = segs.as_slice() {
        let found: Vec<Value> = param(&query, "username")
            .and_then(|u| state.user(u))
            .map(|u| vec![user_json(&base, u.id, &u.login)])
            .unwrap_or_default();
        return json(StatusCode::OK, Value::Array(found));
    }
    let ["projects", path, rest @ ..] = segs.as_slice() else {
        return message(StatusCode::NOT_FOUND, "404 Not Found");
    };
    let path = path.to_string();
    let Some(repo) = state.repos.get(&path) else {
        return message(StatusCode::NOT_FOUND, "404 Project Not Found");
    };
    let iid_of = |s: &str| s.parse::<u64>().ok();

    match (&method, rest) {
        (&Method::GET, []) => json(
            StatusCode::OK,
            json!({
                "id": repo.id, "path_with_namespace": path, "default_branch": "main",
                "web_url": format!("{base}/{path}"), "http_url_to_repo": format!("{base}/{path}.git"),
                "permissions": { "project_access": { "access_level": if can_write { 30 } else { 20 }, "notification_level": 3 },
                                 "group_access": null },
            }),
        ),
        (&Method::GET, ["repository", "branches", branch]) => {
            match branch_commit(&repo.git_dir, branch) {
                Some(sha) => json(
                    StatusCode::OK,
                    json!({ "name": branch, "commit": { "id": sha }, "merged": false, "protected": false }),
                ),
                None => message(StatusCode::NOT_FOUND, "404 Branch Not Found"),
            }
        }
        (&Method::GET, ["labels", name]) => match repo
            .labels
            .iter()
            .find(|l| l.name == *name || l.id.to_string() == *name)
        {
            Some(l) => json(
                StatusCode::OK,
                json!({ "id": l.id, "name": l.name, "color": "#428BCA", "description": null }),
            ),
            None => message(StatusCode::NOT_FOUND, "404 Label Not Found"),
        },
        (&Method::GET, ["merge_requests"]) => {
            let wanted = param(&query, "state").unwrap_or("all");
            let source = param(&query, "source_branch");
            let target = param(&query, "target_branch");
            let mut mrs: Vec<&FakePull> = repo
                .pulls
                .iter()
                .filter(|p| match wanted {
                    "opened" => p.state == PullState::Open,
                    "closed" => p.state == PullState::Closed,
                    "merged" => p.state == PullState::Merged,
                    _ => true,
                })
                .filter(|p| source.is_none_or(|s| p.head == s))
                .filter(|p| target.is_none_or(|t| p.base == t))
                .collect();
            mrs.sort_by_key(|p| std::cmp::Reverse(p.number));
            let all: Vec<Value> = mrs
                .into_iter()
                .map(|p| mr_json(&base, &path, repo, state, p))
                .collect();
            list_page(&base, &uri, &query, &all)
        }
        (&Method::GET, ["merge_requests", iid]) => {
            match iid_of(iid).and_then(|n| repo.pulls.iter().find(|p| p.number == n)) {
                Some(p) => json(StatusCode::OK, mr_json(&base, &path, repo, state, p)),
                None => message(StatusCode::NOT_FOUND, "404 Not found"),
            }
        }
        (&Method::POST, ["merge_requests"]) => create_mr(&base, &path, state, &body),
        (&Method::PUT, ["merge_requests", iid]) => {
            let Some(iid) = iid_of(iid) else {
                return message(StatusCode::NOT_FOUND, "404 Not found");
            };
            let labels = label_names(body.get("labels"));
            if let Some(labels) = &labels {
                ensure_labels(state, &path, labels);
            }
            let assignees = ids(body.get("assignee_ids")).map(|ids| logins_of(state, &ids));
            let reviewers = ids(body.get("reviewer_ids")).map(|ids| logins_of(state, &ids));
            let repo = state.repos.get_mut(&path).expect("repo checked above");
            let Some(p) = repo.pulls.iter_mut().find(|p| p.number == iid) else {
                return message(StatusCode::NOT_FOUND, "404 Not found");
            };
            if let Some(title) = str_field(&body, "title") {
                p.title = title.to_owned();
                p.draft = has_prefix(title, &DRAFT_PREFIXES);
            }
            if let Some(text) = str_field(&body, "description") {
                p.body = text.to_owned();
            }
            if let Some(labels) = labels {
                p.labels = labels;
            }
            if let Some(a) = assignees {
                p.assignees = a;
            }
            if let Some(r) = reviewers {
                p.reviewers = r;
            }
            match str_field(&body, "state_event") {
                Some("close") if p.state == PullState::Open => p.state = PullState::Closed,
                Some("reopen") if p.state == PullState::Closed => p.state = PullState::Open,
                _ => {}
            }
            let p = p.clone();
            json(
                StatusCode::OK,
                mr_json(&base, &path, &state.repos[&path], state, &p),
            )
        }
        (&Method::POST, ["statuses", sha]) => {
            let state_name = str_field(&body, "state").unwrap_or_default();
            if ![
                "pending", "running", "success", "failed", "canceled", "skipped",
            ]
            .contains(&state_name)
            {
                return json(
                    StatusCode::BAD_REQUEST,
                    json!({ "error": "state does not have a valid value" }),
                );
            }
            let Some(commit) = repo.commit(sha) else {
                return message(StatusCode::NOT_FOUND, "404 Commit Not Found");
            };
            let name = str_field(&body, "name")
                .or_else(|| str_field(&body, "context"))
                .unwrap_or("default")
                .to_owned();
            let reference = str_field(&body, "ref").unwrap_or("main").to_owned();
            let unfinished = repo
                .statuses
                .iter()
                .rev()
                .find(|s| s.sha == commit && s.context == name && s.reference == reference)
                .filter(|s| matches!(s.state.as_str(), "pending" | "running"));
            if let Some(latest) = unfinished
                && latest.state == state_name
            {
                let event = if state_name == "running" {
                    "run"
                } else {
                    "enqueue"
                };
                return message(
                    StatusCode::BAD_REQUEST,
                    format!(
                        "Cannot transition status via :{event} from :{state_name} (Reason(s): Status cannot transition via \"{event}\")"
                    ),
                );
            }
            let status = FakeStatus {
                sha: commit,
                state: state_name.to_owned(),
                context: name,
                description: str_field(&body, "description")
                    .unwrap_or_default()
                    .to_owned(),
                target_url: str_field(&body, "target_url")
                    .unwrap_or_default()
                    .to_owned(),
                reference,
            };
            let id = state.new_id();
            let answer = status_json(&base, id, &status);
            let repo = state.repos.get_mut(&path).expect("repo checked above");
            repo.statuses.push(status);
            json(StatusCode::CREATED, answer)
        }
        (&Method::GET, ["repository", "commits", sha, "statuses"]) => {
            let Some(commit) = repo.commit(sha) else {
                return message(StatusCode::NOT_FOUND, "404 Commit Not Found");
            };
            let all = param(&query, "all") == Some("true");
            let name = param(&query, "name");
            let reference = param(&query, "ref");
            let mut found: Vec<(usize, &FakeStatus)> = repo
                .statuses
                .iter()
                .enumerate()
                .filter(|(_, s)| s.sha == commit)
                .filter(|(_, s)| name.is_none_or(|n| s.context == n))
                .filter(|(_, s)| reference.is_none_or(|r| s.reference == r))
                .collect();
            if !all {
                // The latest of each name: the last one set.
                let mut kept: Vec<(usize, &FakeStatus)> = Vec::new();
                for (i, s) in found.into_iter().rev() {
                    if !kept.iter().any(|(_, k)| k.context == s.context) {
                        kept.push((i, s));
                    }
                }
                kept.reverse();
                found = kept;
            }
            let list: Vec<Value> = found
                .into_iter()
                .map(|(i, s)| status_json(&base, i as u64 + 1, s))
                .collect();
            list_page(&base, &uri, &query, &list)
        }
        (&Method::POST, ["merge_requests", iid, "notes"]) => {
            let Some(text) = str_field(&body, "body") else {
                return json(
                    StatusCode::BAD_REQUEST,
                    json!({ "error": "body is missing" }),
                );
            };
            let id = state.new_id();
            let repo = state.repos.get_mut(&path).expect("repo checked above");
            let Some(p) = iid_of(iid).and_then(|n| repo.pulls.iter_mut().find(|p| p.number == n))
            else {
                return message(StatusCode::NOT_FOUND, "404 Not found");
            };
            p.comments.push(text.to_owned());
            json(
                StatusCode::CREATED,
                json!({ "id": id, "body": text, "noteable_type": "MergeRequest", "system": false,
                        "author": user_json(&base, 1, "promotion-bot") }),
            )
        }
        _ => message(StatusCode::NOT_FOUND, "404 Not Found"),
    }
}

fn status_json(base: &str, id: u64, status: &FakeStatus) -> Value {
    json!({
        "id": id, "sha": status.sha, "ref": status.reference, "status": status.state,
        "name": status.context,
        "target_url": if status.target_url.is_empty() { Value::Null } else { json!(status.target_url) },
        "description": if status.description.is_empty() { Value::Null } else { json!(status.description) },
        "created_at": "2026-01-01T00:00:00.000Z", "started_at": null, "finished_at": null,
        "allow_failure": false, "coverage": null, "pipeline_id": id,
        "author": user_json(base, 1, "promotion-bot"),
    })
}

fn create_mr(base: &str, path: &str, state: &mut ForgeState, body: &Value) -> Response {
    for field in ["source_branch", "target_branch", "title"] {
        if str_field(body, field).is_none_or(str::is_empty) {
            return json(
                StatusCode::BAD_REQUEST,
                json!({ "error": format!("{field} is missing") }),
            );
        }
    }
    let head = str_field(body, "source_branch").unwrap_or_default();
    let target = str_field(body, "target_branch").unwrap_or_default();
    let repo = &state.repos[path];
    if !repo.has_branch(head) {
        return message(
            StatusCode::UNPROCESSABLE_ENTITY,
            json!([format!("Source branch \"{head}\" does not exist")]),
        );
    }
    if !repo.has_branch(target) {
        return message(
            StatusCode::UNPROCESSABLE_ENTITY,
            json!([format!("Target branch \"{target}\" does not exist")]),
        );
    }
    if let Some(existing) = repo
        .pulls
        .iter()
        .find(|p| p.is_open() && p.head == head && p.base == target)
    {
        return message(
            StatusCode::CONFLICT,
            json!([format!(
                "Another open merge request already exists for this source branch: !{}",
                existing.number
            )]),
        );
    }
    let labels = label_names(body.get("labels")).unwrap_or_default();
    ensure_labels(state, path, &labels);
    let repo = &state.repos[path];
    let mut mr = FakePull::open(
        head,
        target,
        str_field(body, "title").unwrap_or_default(),
        str_field(body, "description").unwrap_or_default(),
    );
    mr.labels = labels;
    mr.draft = has_prefix(&mr.title, &DRAFT_PREFIXES);
    mr.number = repo.next_number();
    mr.assignees = ids(body.get("assignee_ids"))
        .map(|ids| logins_of(state, &ids))
        .unwrap_or_default();
    mr.reviewers = ids(body.get("reviewer_ids"))
        .map(|ids| logins_of(state, &ids))
        .unwrap_or_default();
    state
        .repos
        .get_mut(path)
        .expect("repo checked by the caller")
        .pulls
        .push(mr.clone());
    json(
        StatusCode::CREATED,
        mr_json(base, path, &state.repos[path], state, &mr),
    )
}
