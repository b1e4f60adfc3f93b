//! What the fake Gitea, GitHub and GitLab APIs share: repositories whose branches live in a real bare
//! git repository on disk, pull requests, labels, users, accepted tokens, a "fail the next N requests
//! with 503" switch, and a request log. Each forge's module speaks its own paths, fields and errors.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use crate::kubeflow::server::Server;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PullState {
    Open,
    Closed,
    Merged,
}

/// A pull request (merge request) as the fake keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakePull {
    pub number: u64,
    pub title: String,
    pub body: String,
    pub head: String,
    pub base: String,
    pub state: PullState,
    /// Label names.
    pub labels: Vec<String>,
    pub reviewers: Vec<String>,
    pub assignees: Vec<String>,
    pub comments: Vec<String>,
    /// A draft: GitHub's `draft` flag; on Gitea and GitLab, whether the title has a draft prefix.
    pub draft: bool,
}

/// A commit status as the fake keeps it, in the forge's own words (GitLab: `failed`, its `name`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeStatus {
    pub sha: String,
    pub state: String,
    pub context: String,
    pub description: String,
    pub target_url: String,
    /// GitLab's `ref`; empty elsewhere.
    pub reference: String,
}

impl FakePull {
    /// An open pull request, for seeding a fake with one that exists before a test runs.
    pub fn open(head: &str, base: &str, title: &str, body: &str) -> Self {
        Self {
            number: 0,
            title: title.into(),
            body: body.into(),
            head: head.into(),
            base: base.into(),
            state: PullState::Open,
            labels: Vec::new(),
            reviewers: Vec::new(),
            assignees: Vec::new(),
            comments: Vec::new(),
            draft: false,
        }
    }

    pub fn is_open(&self) -> bool {
        self.state == PullState::Open
    }
}

#[derive(Debug, Clone)]
pub struct FakeLabel {
    pub id: u64,
    pub name: String,
}

#[derive(Debug, Clone)]
pub struct FakeUser {
    pub id: u64,
    pub login: String,
}

pub(crate) struct RepoState {
    pub id: u64,
    pub git_dir: PathBuf,
    pub labels: Vec<FakeLabel>,
    pub pulls: Vec<FakePull>,
    /// Every status set, oldest first.
    pub statuses: Vec<FakeStatus>,
}

impl RepoState {
    /// Whether `refs/heads/<branch>` exists in the repository on disk.
    pub fn has_branch(&self, branch: &str) -> bool {
        branch_commit(&self.git_dir, branch).is_some()
    }

    pub fn next_number(&self) -> u64 {
        self.pulls.iter().map(|p| p.number).max().unwrap_or(0) + 1
    }

    pub fn label_named(&self, name: &str) -> Option<&FakeLabel> {
        self.labels.iter().find(|l| l.name == name)
    }

    /// The full id of a commit of the repository on disk, from its id or a prefix of it.
    pub fn commit(&self, sha: &str) -> Option<String> {
        if sha.is_empty() || !sha.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let output = Command::new("git")
            .arg("--git-dir")
            .arg(&self.git_dir)
            .args(["rev-parse", "--verify", "--quiet"])
            .arg(format!("{sha}^{{commit}}"))
            .output()
            .ok()?;
        output
            .status
            .success()
            .then(|| String::from_utf8_lossy(&output.stdout).trim().to_owned())
    }

    /// The latest status of each context on commit `sha`, newest first.
    pub fn latest_statuses(&self, sha: &str) -> Vec<&FakeStatus> {
        let mut seen = Vec::new();
        let mut latest = Vec::new();
        for status in self.statuses.iter().rev().filter(|s| s.sha == sha) {
            if !seen.contains(&&status.context) {
                seen.push(&status.context);
                latest.push(status);
            }
        }
        latest
    }
}

/// Whether `title` starts with one of `prefixes`, compared without case.
pub(crate) fn has_prefix(title: &str, prefixes: &[&str]) -> bool {
    prefixes.iter().any(|p| {
        title
            .get(..p.len())
            .is_some_and(|head| head.eq_ignore_ascii_case(p))
    })
}

/// The commit a branch points at in a bare repository, read with git itself.
pub fn branch_commit(git_dir: &Path, branch: &str) -> Option<String> {
    let output = Command::new("git")
        .arg("--git-dir")
        .arg(git_dir)
        .args(["rev-parse", "--verify", "--quiet"])
        .arg(format!("refs/heads/{branch}^{{commit}}"))
        .output()
        .unwrap_or_else(|e| {
            panic!("fake forge: running git: {e}; install it with apt-get install -y git")
        });
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

#[derive(Default)]
pub(crate) struct ForgeState {
    pub repos: HashMap<String, RepoState>,
    pub users: Vec<FakeUser>,
    /// Accepted tokens, and whether each may write.
    pub tokens: HashMap<String, bool>,
    pub fail_next: u32,
    /// Like `fail_next`, for requests other than GET only.
    pub fail_next_writes: u32,
    pub requests: Vec<String>,
    pub next_id: u64,
}

impl ForgeState {
    pub fn new_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    pub fn user(&self, login: &str) -> Option<&FakeUser> {
        self.users
            .iter()
            .find(|u| u.login.eq_ignore_ascii_case(login))
    }
}

pub(crate) struct Shared {
    pub state: Mutex<ForgeState>,
    pub base_url: Mutex<String>,
}

impl Shared {
    pub fn lock(&self) -> MutexGuard<'_, ForgeState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn base_url(&self) -> String {
        self.base_url
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// A running fake forge and what tests may inspect or change in it. Dropping it stops the server.
pub struct FakeForge {
    pub(crate) shared: Arc<Shared>,
    server: Server,
}

/// The token every fake forge accepts from the start.
pub const DEFAULT_TOKEN: &str = "forge-test-token";

impl FakeForge {
    pub(crate) fn start(name: &str, router: impl FnOnce(Arc<Shared>) -> axum::Router) -> Self {
        let mut state = ForgeState::default();
        state.tokens.insert(DEFAULT_TOKEN.into(), true);
        state.users.push(FakeUser {
            id: 1,
            login: "promotion-bot".into(),
        });
        state.next_id = 100;
        let shared = Arc::new(Shared {
            state: Mutex::new(state),
            base_url: Mutex::new(String::new()),
        });
        let server = Server::start(name, router(shared.clone()));
        *shared.base_url.lock().unwrap_or_else(|e| e.into_inner()) = server.url();
        Self { shared, server }
    }

    /// The server's root URL (what a user passes as `--api-url`).
    pub fn url(&self) -> String {
        self.server.url()
    }

    /// Serves repository `path` (`owner/name`, GitLab `group/project`) whose branches are those of
    /// the bare repository `git_dir`.
    pub fn add_repo(&self, path: &str, git_dir: impl Into<PathBuf>) {
        let mut state = self.shared.lock();
        let id = state.new_id();
        state.repos.insert(
            path.into(),
            RepoState {
                id,
                git_dir: git_dir.into(),
                labels: Vec::new(),
                pulls: Vec::new(),
                statuses: Vec::new(),
            },
        );
    }

    /// Creates a label and returns its id.
    pub fn add_label(&self, repo: &str, name: &str) -> u64 {
        let mut state = self.shared.lock();
        let id = state.new_id();
        repo_mut(&mut state, repo).labels.push(FakeLabel {
            id,
            name: name.into(),
        });
        id
    }

    pub fn labels(&self, repo: &str) -> Vec<FakeLabel> {
        repo_mut(&mut self.shared.lock(), repo).labels.clone()
    }

    /// Adds a user (a collaborator of every repository, so a valid reviewer and assignee).
    pub fn add_user(&self, login: &str) -> u64 {
        let mut state = self.shared.lock();
        let id = state.new_id();
        state.users.push(FakeUser {
            id,
            login: login.into(),
        });
        id
    }

    /// Accepts `token` with write access.
    pub fn add_token(&self, token: &str) {
        self.shared.lock().tokens.insert(token.into(), true);
    }

    /// Accepts `token` for reading only: every write answers 403.
    pub fn add_read_only_token(&self, token: &str) {
        self.shared.lock().tokens.insert(token.into(), false);
    }

    /// Answers the next `n` requests with 503 before looking at them.
    pub fn fail_next(&self, n: u32) {
        self.shared.lock().fail_next = n;
    }

    /// Every pull request of `repo`, in any state, by number.
    pub fn pulls(&self, repo: &str) -> Vec<FakePull> {
        let mut pulls = repo_mut(&mut self.shared.lock(), repo).pulls.clone();
        pulls.sort_by_key(|p| p.number);
        pulls
    }

    pub fn open_pulls(&self, repo: &str) -> Vec<FakePull> {
        self.pulls(repo)
            .into_iter()
            .filter(FakePull::is_open)
            .collect()
    }

    pub fn pull(&self, repo: &str, number: u64) -> Option<FakePull> {
        self.pulls(repo).into_iter().find(|p| p.number == number)
    }

    /// Inserts a pull request as it is (its head branch is not checked) and returns its number.
    pub fn insert_pull(&self, repo: &str, mut pull: FakePull) -> u64 {
        let mut state = self.shared.lock();
        let repo = repo_mut(&mut state, repo);
        pull.number = repo.next_number();
        repo.pulls.push(pull);
        repo.pulls.last().map(|p| p.number).unwrap_or_default()
    }

    pub fn set_state(&self, repo: &str, number: u64, pull_state: PullState) {
        let mut state = self.shared.lock();
        if let Some(p) = repo_mut(&mut state, repo)
            .pulls
            .iter_mut()
            .find(|p| p.number == number)
        {
            p.state = pull_state;
        }
    }

    /// Answers the next `n` requests that are not GETs (creates, edits, comments) with 503 before
    /// looking at them: the request was not processed.
    pub fn fail_next_writes(&self, n: u32) {
        self.shared.lock().fail_next_writes = n;
    }

    /// Every commit status set in `repo`, oldest first.
    pub fn statuses(&self, repo: &str) -> Vec<FakeStatus> {
        repo_mut(&mut self.shared.lock(), repo).statuses.clone()
    }

    /// `METHOD /path?query` of every request so far.
    pub fn requests(&self) -> Vec<String> {
        self.shared.lock().requests.clone()
    }
}

fn repo_mut<'a>(state: &'a mut ForgeState, repo: &str) -> &'a mut RepoState {
    state
        .repos
        .get_mut(repo)
        .unwrap_or_else(|| panic!("fake forge: no repository {repo}; call add_repo first"))
}

/// What every handler does first: log, fail on demand, and check the token.
pub(crate) enum Gate {
    /// `can_write`: the token may write; `anonymous`: no token came (a read the forge serves to
    /// anyone).
    Pass {
        can_write: bool,
        anonymous: bool,
    },
    Stop(Response),
}

/// Why a request was refused before it was looked at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// No token at all.
    Missing,
    /// A token the forge does not know.
    Invalid,
}

/// Logs the request, fails it on demand, and checks its token. Without a token, a GET passes as
/// anonymous (reading nothing but what anyone may) when `anonymous_reads` is set; anything else
/// without a token, and any unknown token, is answered by `unauthorized`.
pub(crate) fn gate(
    shared: &Shared,
    method: &axum::http::Method,
    uri: &axum::http::Uri,
    token: Option<&str>,
    anonymous_reads: bool,
    unavailable: impl FnOnce() -> Response,
    unauthorized: impl FnOnce(Refusal) -> Response,
) -> Gate {
    let mut state = shared.lock();
    let line = match uri.query() {
        Some(q) => format!("{method} {}?{q}", uri.path()),
        None => format!("{method} {}", uri.path()),
    };
    state.requests.push(line);
    if state.fail_next > 0 {
        state.fail_next -= 1;
        return Gate::Stop(unavailable());
    }
    if state.fail_next_writes > 0 && method != axum::http::Method::GET {
        state.fail_next_writes -= 1;
        return Gate::Stop(unavailable());
    }
    match token {
        None if anonymous_reads && method == axum::http::Method::GET => Gate::Pass {
            can_write: false,
            anonymous: true,
        },
        None => Gate::Stop(unauthorized(Refusal::Missing)),
        Some(token) => match state.tokens.get(token) {
            Some(&can_write) => Gate::Pass {
                can_write,
                anonymous: false,
            },
            None => Gate::Stop(unauthorized(Refusal::Invalid)),
        },
    }
}

pub(crate) fn json(status: StatusCode, value: Value) -> Response {
    (status, axum::Json(value)).into_response()
}

/// Path segments after `prefix`, each percent-decoded (so GitLab's `group%2Fproject` is one segment).
pub(crate) fn segments(path: &str, prefix: &str) -> Option<Vec<String>> {
    let rest = path.strip_prefix(prefix)?.trim_start_matches('/');
    if rest.is_empty() {
        return Some(Vec::new());
    }
    Some(
        rest.trim_end_matches('/')
            .split('/')
            .map(|s| percent_decode(s, false))
            .collect(),
    )
}

/// The query string as (name, value) pairs, decoded.
pub(crate) fn query(uri: &axum::http::Uri) -> Vec<(String, String)> {
    uri.query()
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k, true), percent_decode(v, true))
        })
        .collect()
}

pub(crate) fn param<'a>(query: &'a [(String, String)], name: &str) -> Option<&'a str> {
    query
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// One page of a list, and where it lies in the whole.
pub(crate) struct Page<T> {
    pub items: Vec<T>,
    /// 1-based.
    pub page: usize,
    pub size: usize,
    pub total: usize,
}

impl<T> Page<T> {
    /// How many pages the whole list has (at least one, as the forges count).
    pub fn pages(&self) -> usize {
        self.total.div_ceil(self.size).max(1)
    }
}

/// One page of `items` per `page` (1-based, below 1 taken as 1) and the page-size parameter
/// (missing or below 1: `default_size`; above `max_size`: `max_size`, as every forge caps it).
pub(crate) fn paginate<T: Clone>(
    items: &[T],
    query: &[(String, String)],
    size_param: &str,
    default_size: usize,
    max_size: usize,
) -> Page<T> {
    let size = param(query, size_param)
        .and_then(|s| s.parse().ok())
        .filter(|s: &usize| *s > 0)
        .unwrap_or(default_size)
        .min(max_size);
    let page = param(query, "page")
        .and_then(|s| s.parse().ok())
        .filter(|p: &usize| *p > 0)
        .unwrap_or(1);
    Page {
        items: items
            .iter()
            .skip((page - 1) * size)
            .take(size)
            .cloned()
            .collect(),
        page,
        size,
        total: items.len(),
    }
}

/// `query` with `page` set to `page`: in its place when it is there, else last.
pub(crate) fn with_page(query: &[(String, String)], page: usize) -> Vec<(String, String)> {
    let mut pairs = query.to_vec();
    match pairs.iter_mut().find(|(k, _)| k == "page") {
        Some(pair) => pair.1 = page.to_string(),
        None => pairs.push(("page".into(), page.to_string())),
    }
    pairs
}

/// `name=value&...`, each percent-encoded.
pub(crate) fn encode_query(pairs: &[(String, String)]) -> String {
    let encoded: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("{}={}", percent_encode(k), percent_encode(v)))
        .collect();
    encoded.join("&")
}

fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A JSON answer with extra headers (pagination).
pub(crate) fn json_with_headers(
    status: StatusCode,
    headers: Vec<(&'static str, String)>,
    value: Value,
) -> Response {
    let mut response = json(status, value);
    for (name, value) in headers {
        if let Ok(value) = axum::http::HeaderValue::from_str(&value) {
            response.headers_mut().insert(name, value);
        }
    }
    response
}

fn percent_decode(text: &str, plus_is_space: bool) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 3;
                        continue;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b'+' if plus_is_space => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The JSON body of a request, or `Value::Null` when it is not JSON.
pub(crate) fn body_json(body: &[u8]) -> Value {
    serde_json::from_slice(body).unwrap_or(Value::Null)
}

pub(crate) fn str_field<'a>(body: &'a Value, name: &str) -> Option<&'a str> {
    body.get(name).and_then(Value::as_str)
}

pub(crate) fn str_list(body: &Value, name: &str) -> Vec<String> {
    body.get(name)
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::{encode_query, paginate, percent_decode, with_page};

    #[test]
    fn pages() {
        let query = vec![
            ("state".to_owned(), "open".to_owned()),
            ("limit".to_owned(), "2".to_owned()),
        ];
        let page = paginate(&[1, 2, 3, 4, 5], &query, "limit", 30, 50);
        assert_eq!(
            (page.items, page.page, page.size, page.total),
            (vec![1, 2], 1, 2, 5)
        );
        let capped = paginate(&[1, 2, 3], &[("limit".into(), "9".into())], "limit", 30, 2);
        assert_eq!(
            (capped.items.as_slice(), capped.pages()),
            ([1, 2].as_slice(), 2)
        );
        assert_eq!(
            encode_query(&with_page(&query, 3)),
            "state=open&limit=2&page=3"
        );
        let paged = with_page(
            &[("page".into(), "1".into()), ("q".into(), "a b".into())],
            2,
        );
        assert_eq!(encode_query(&paged), "page=2&q=a%20b");
    }

    #[test]
    fn decodes() {
        assert_eq!(percent_decode("group%2Fproject", false), "group/project");
        assert_eq!(percent_decode("a+b%20c", true), "a b c");
        assert_eq!(percent_decode("100%", false), "100%");
        assert_eq!(percent_decode("%4", false), "%4");
    }
}
