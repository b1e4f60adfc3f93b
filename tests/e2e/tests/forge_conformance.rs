//! The fake forges checked against the real Gitea (the version `scripts/go-servers` pins). No GitHub
//! or GitLab server can run here, so their fakes stay, checked where their APIs and Gitea's agree.
//!
//! One scenario of the Gitea API ([`GITEA`]: what `tasks/forge`'s Gitea client sends, its errors,
//! and the answers around them) runs against the real Gitea (once per test binary) and against the
//! fake Gitea. Each step's answers must agree on: the status; the shape of the body (key paths with
//! JSON types, recursively): the fake may leave fields out but shows none the real one lacks and no
//! other type, and every field the client reads ([`CLIENT_READS`]) with the real type; the values
//! that depend on neither ids nor time ([`VALUES`]: numbers, states, titles, refs, label names in
//! order, logins, messages up to their bracketed ids); `X-Total-Count` and `Link` (URLs relative
//! to the server). The client's reads are also checked against the real answers alone, so a field
//! the client misreads fails here even where the fake agrees with it.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use e2e::forge_shapes::{Answer, Record, Scenario, Shape, values_at};
use serde_json::{Value, json};
use test_fakes::forge_support::FakeForge;
use test_fakes::{gitea::FakeGitea, github::FakeGitHub, gitlab::FakeGitLab};
use test_services::{GITEA_ADMIN_USER as OWNER, Gitea, git};

const REPO: &str = "conformance";
/// Labels made in this order (Gitea lists them by name), then `l01`... to fill more than a page.
const LABELS: [&str; 3] = ["zeta", "alpha", "mid"];
const MORE_LABELS: usize = 48;
const USERS: [&str; 2] = ["ann", "bob"];

/// The Gitea scenario, on a repository with branches `main`, `f1`, `f2` and `feature/x`, the
/// labels, the users (collaborators) and no pull request (see [`Scenario::run`] for the syntax).
const GITEA: &str = include_str!("../fixtures/forge_conformance/gitea.steps");

/// The GitHub scenario: the Gitea one's requests that GitHub's API has too, under the same names.
const GITHUB: &str = include_str!("../fixtures/forge_conformance/github.steps");

/// The GitLab scenario: merge requests of the same branches, under the Gitea steps' names.
const GITLAB: &str = include_str!("../fixtures/forge_conformance/gitlab.steps");

/// What the Gitea client reads (`tasks/forge/src/gitea.rs`), by the kind of answer, with the JSON
/// types its types accept.
const CLIENT_READS: &str = "
    pull    number                        number
    pull    html_url                      string
    pull    title                         string
    pull    body                          string|null
    pull    state                         string
    pull    head.ref                      string
    pull    base.ref                      string
    pull    labels                        array|null
    pull    labels[].id                   number
    pull    labels[].name                 string
    pull    requested_reviewers           array|null
    pull    requested_reviewers[].id      number
    pull    requested_reviewers[].login   string
    pull    assignees                     array|null
    pull    assignees[].id                number
    pull    assignees[].login             string
    labels  [].id                         number
    labels  [].name                       string
    user    id                            number
    user    login                         string
    repo    permissions                   object|null
    repo    permissions.push              bool
    error   message                       string
";

/// The values compared between the two Gitea answers of a step.
const VALUES: &str = "number state title body head.ref base.ref merged html_url labels[].name
    requested_reviewers[].login assignees[].login assignee.login login name permissions.push
    user_can_push message [].number [].name [].state [].user.login [].labels[].name
    [].assignees[].login [].requested_reviewers[].login";

/// The fields of a pull request GitHub and Gitea both have, with the same meaning and type.
const COMMON_PULL: &str = "number html_url state title body head.ref head.sha base.ref user.login
    user.id labels labels[].id labels[].name merged closed_at requested_reviewers
    requested_reviewers[].id requested_reviewers[].login assignees assignees[].id
    assignees[].login";

/// A pull request's fields that GitHub leaves out of lists or fills in otherwise there.
const NOT_LISTED: [&str; 4] = ["body", "merged", "requested_reviewers", "assignees"];

/// GitHub's answers that agree with Gitea's in status and in the types of the common fields, by
/// Gitea's step, GitHub's step (`[]` after a step: its answer is a list, the fields are its items')
/// and the fields (`@pull`: [`COMMON_PULL`]; `@listed`: those of them in lists; `-`: none).
const GITHUB_AGREES: &str = "
    repo                 repo                 id name full_name private html_url default_branch
    repo                 repo                 owner.login owner.id permissions.admin permissions.push permissions.pull
    branch               branch               name protected
    create.slash         create.slash         @pull
    pull.full            pull.full            @pull
    labels.first[]       labels.add[]         id name color
    labels.first[]       label                id name color
    list.page3[]         list.page3[]         @listed
    list.full[]          list.full[]          @listed
    list.closed[]        list.closed[]        @listed
    comment              comment              id body html_url user.login user.id
    review               review               -
    repo.missing         repo.missing         message
    pull.missing         pull.missing         message
    create.read_only     create.read_only     message
    comment.read_only    comment.read_only    message
    auth.bad_token       auth.bad_token       message
    auth.no_token_write  auth.no_token_write  message
";

fn words(text: &'static str) -> Vec<&'static str> {
    text.split_whitespace().collect()
}

/// The kind of answer a Gitea step gives, for [`CLIENT_READS`] (`pulls`: pulls under `[]`).
fn kind(step: &str, answer: &Answer) -> Option<&'static str> {
    if answer.status >= 400 {
        return answer.body.is_object().then_some("error");
    }
    Some(match step.split('.').next().unwrap_or_default() {
        "create" | "pull" | "edit" | "assign" | "close" | "reopen" => "pull",
        "list" => "pulls",
        "labels" => "labels",
        "user" => "user",
        "repo" => "repo",
        _ => return None,
    })
}

/// The client's reads for `kind`, as paths in its answers, and the types it accepts there.
fn reads(kind: &str) -> Vec<(String, Vec<&'static str>)> {
    let (table, prefix) = if kind == "pulls" {
        ("pull", "[].")
    } else {
        (kind, "")
    };
    let rows = CLIENT_READS.lines().map(words).filter(|row| row.len() == 3);
    rows.filter(|row| row[0] == table)
        .map(|row| (format!("{prefix}{}", row[1]), row[2].split('|').collect()))
        .collect()
}

fn more_labels() -> impl Iterator<Item = String> {
    (1..=MORE_LABELS).map(|n| format!("l{n:02}"))
}

/// The Gitea scenario's answers from the real Gitea, set up through its API and git over HTTP.
fn real_gitea() -> &'static Record {
    static REAL: OnceLock<Record> = OnceLock::new();
    REAL.get_or_init(|| {
        let gitea = Gitea::start();
        gitea.create_repo(REPO);
        for (branch, file) in [("main", "a"), ("f1", "b"), ("f2", "c"), ("feature/x", "d")] {
            gitea.push_files(REPO, branch, &[(file, b"x\n")], &format!("Seed {branch}"));
        }
        let labels = format!("/repos/{OWNER}/{REPO}/labels");
        for name in LABELS.map(str::to_owned).into_iter().chain(more_labels()) {
            let label = json!({"name": name, "color": "#00aabb"});
            gitea
                .api("POST", &labels, Some(&label))
                .expect_success("create a label");
        }
        for user in USERS {
            let new = json!({"username": user, "email": format!("{user}@example.invalid"),
                             "password": "Passw0rd-of-a-user", "must_change_password": false});
            gitea
                .api("POST", "/admin/users", Some(&new))
                .expect_success("create a user");
            let path = format!("/repos/{OWNER}/{REPO}/collaborators/{user}");
            let write = json!({"permission": "write"});
            gitea
                .api("PUT", &path, Some(&write))
                .expect_success("add a collaborator");
        }
        let mut side = Scenario::new(&gitea.url(), "/api/v1", ("Authorization", "token {}"));
        (side.token, side.read_token) = (gitea.token().into(), gitea.read_token().into());
        side.record.author = OWNER.into();
        let r = format!("/repos/{OWNER}/{REPO}");
        side.run(GITEA, &[("r", &r), ("owner", OWNER), ("author", OWNER)])
    })
}

/// Runs `script` on `fake`, set up as the real Gitea is: the repository (its branches in a bare
/// repository on disk), the labels, the users and the two tokens.
fn run_on_fake(
    fake: &FakeForge,
    prefix: &str,
    auth: (&'static str, &'static str),
    script: &str,
) -> Record {
    let dir = tempfile::tempdir().expect("a temporary directory");
    git(dir.path(), &["init", "--quiet", "--bare"]);
    let tree = git(dir.path(), &["mktree"]);
    for branch in ["main", "f1", "f2", "feature/x"] {
        let commit = git(dir.path(), &["commit-tree", &tree, "-m", branch]);
        git(
            dir.path(),
            &["update-ref", &format!("refs/heads/{branch}"), &commit],
        );
    }
    let repo = format!("{OWNER}/{REPO}");
    fake.add_repo(&repo, dir.path());
    for name in LABELS.map(str::to_owned).into_iter().chain(more_labels()) {
        fake.add_label(&repo, &name);
    }
    USERS.iter().for_each(|user| _ = fake.add_user(user));
    fake.add_token("all-scopes");
    fake.add_read_only_token("read-scopes");
    let mut side = Scenario::new(&fake.url(), prefix, auth);
    (side.token, side.read_token) = ("all-scopes".into(), "read-scopes".into());
    side.record.author = "promotion-bot".into();
    let r = match prefix {
        "/api/v4" => format!("/projects/{OWNER}%2F{REPO}"),
        _ => format!("/repos/{OWNER}/{REPO}"),
    };
    side.run(
        script,
        &[("r", &r), ("owner", OWNER), ("author", "promotion-bot")],
    )
}

#[test]
fn the_gitea_fake_answers_as_the_real_gitea() {
    let real = real_gitea();
    let faked = run_on_fake(
        &FakeGitea::start(),
        "/api/v1",
        ("Authorization", "token {}"),
        GITEA,
    );
    let mut problems = Vec::new();
    let mut seen: BTreeMap<&str, Vec<Shape>> = BTreeMap::new();
    for (step, theirs) in &real.steps {
        let ours = faked.get(step);
        let mut problem = |what: String| problems.push(format!("{step}: {what}"));
        if theirs.status != ours.status {
            problem(format!(
                "status {} (the fake) vs {} (Gitea)",
                ours.status, theirs.status
            ));
        }
        let (real_shape, fake_shape) = (theirs.shape(), ours.shape());
        for extra in fake_shape.beyond(&real_shape) {
            problem(format!("the fake shows {extra}, Gitea does not"));
        }
        if let Some(kind) = kind(step, theirs) {
            for (path, _) in reads(kind) {
                let (r, f) = (real_shape.types(&path), fake_shape.types(&path));
                if r != f {
                    problem(format!(
                        "the client reads {path}: {f:?} (the fake) vs {r:?} (Gitea)"
                    ));
                }
            }
            seen.entry(kind).or_default().push(real_shape);
        }
        let (r, f) = (
            real.digest(step, &words(VALUES)),
            faked.digest(step, &words(VALUES)),
        );
        if r != f {
            problem(format!("values\n  the fake: {f:?}\n  Gitea:    {r:?}"));
        }
    }
    // The client against the real answers alone: each read is there with a type it accepts.
    for (kind, shapes) in &seen {
        let all = Shape::union(shapes);
        for (path, accepted) in reads(kind) {
            let types = all.types(&path);
            if types.is_empty() || !types.iter().all(|t| accepted.contains(t)) {
                problems.push(format!(
                    "{kind}: the client reads {path} as {accepted:?}; Gitea: {types:?}"
                ));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "the fake Gitea differs from Gitea:\n{}",
        problems.join("\n")
    );
}

/// Compares Gitea's answer `g` and another forge's `o` on `paths`, each under its own prefix.
fn same_types(
    p: &mut Vec<String>,
    what: &str,
    g: (&Answer, &str),
    o: (&Answer, &str),
    paths: &[&str],
    sparse: bool,
) {
    for (path, gitea, other) in
        g.0.shape()
            .differences(g.1, &o.0.shape(), o.1, paths, sparse)
    {
        p.push(format!(
            "{what}: {path}: {other:?} (the fake) vs {gitea:?} (Gitea)"
        ));
    }
}

/// Compares two scenarios' lists: the same pull requests on the same pages, newest first.
fn same_lists(p: &mut Vec<String>, gitea: &Record, other: &Record, steps: &[&str]) {
    for step in steps {
        let (g, o) = (gitea.numbers(step), other.numbers(step));
        if g != o {
            p.push(format!("{step}: {o:?} (the fake) vs {g:?} (Gitea)"));
        }
    }
}

#[test]
fn the_github_fake_agrees_with_gitea_where_github_does() {
    let gitea = real_gitea();
    let github = run_on_fake(
        &FakeGitHub::start(),
        "/api/v3",
        ("Authorization", "Bearer {}"),
        GITHUB,
    );
    let mut problems = Vec::new();
    let p = &mut problems;
    for row in GITHUB_AGREES.lines().map(words).filter(|row| row.len() > 2) {
        let side = |step: &'static str| match step.strip_suffix("[]") {
            Some(step) => (step, "[]."),
            None => (step, ""),
        };
        let ((ours, our_prefix), (theirs, their_prefix)) = (side(row[0]), side(row[1]));
        let (g, h) = (gitea.get(ours), github.get(theirs));
        if g.status != h.status {
            let (hs, gs) = (h.status, g.status);
            p.push(format!(
                "{theirs}: status {hs} (the fake) vs {ours}: {gs} (Gitea)"
            ));
        }
        let paths: Vec<&str> = row[2..]
            .iter()
            .flat_map(|field| match *field {
                "@pull" => words(COMMON_PULL),
                "@listed" => words(COMMON_PULL)
                    .into_iter()
                    .filter(|f| !NOT_LISTED.iter().any(|n| f.starts_with(n)))
                    .collect(),
                "-" => Vec::new(),
                field => vec![field],
            })
            .collect();
        let sparse = ["create.slash", "list.closed"].contains(&ours);
        same_types(
            p,
            theirs,
            (g, our_prefix),
            (h, their_prefix),
            &paths,
            sparse,
        );
    }
    // `?state=`, order and pagination, and `Link` relations to the same pages (past the last page
    // Gitea counts from the last one, GitHub from the page asked for).
    let lists =
        words("list.page1 list.page2 list.page3 list.page9 list.closed list.open_after_close");
    same_lists(p, gitea, &github, &lists);
    for step in &lists[..3] {
        let (g, h) = (gitea.get(step).link_pages(), github.get(step).link_pages());
        if g != h {
            p.push(format!("{step}: Link {h:?} (the fake) vs {g:?} (Gitea)"));
        }
    }
    let values = words(
        "number state head.ref base.ref merged requested_reviewers[].login assignees[].login",
    );
    for step in ["create.slash", "pull.full"] {
        let (g, h) = (gitea.digest(step, &values), github.digest(step, &values));
        if g != h {
            p.push(format!("{step}: {h:?} (the fake) vs {g:?} (Gitea)"));
        }
    }
    // Where GitHub differs on purpose, as GitHub documents it: a second pull request for the same
    // branches is a 422 "Validation Failed" naming it in `errors[].message` (Gitea: 409 with the
    // reason in `message`); an edit answers 200 (Gitea: 201); a request for reviews answers with
    // the pull request (Gitea: the review requests); an empty body is `null` (Gitea: ""); in lists
    // `assignees` and `requested_reviewers` are `[]` when empty (Gitea: `null`) and `merged` is
    // absent; no token is "Requires authentication". Also: `Authorization: Bearer` (Gitea takes
    // `token` too), the API under `/api/v3` on GitHub Enterprise (Gitea: `/api/v1`), labels added
    // by name through the issues API (Gitea: ids on the pull request; unknown names created, Gitea
    // ignores them), `html_url` `/pull/N` (Gitea: `/pulls/N`), a branch's commit as `commit.sha`
    // (Gitea: `commit.id`), `?head=owner:branch` to find a pull request (Gitea:
    // `/pulls/{base}/{head}`), `GET .../collaborators/{user}` 404 for a stranger (Gitea: 422), and
    // no `X-Total-Count`.
    let duplicate = github.get("create.duplicate");
    let reason = values_at(&duplicate.body, "errors[].message");
    assert_eq!(
        (duplicate.status, gitea.get("create.duplicate").status),
        (422, 409)
    );
    assert!(
        reason
            .iter()
            .any(|m| m.as_str().unwrap_or_default().contains("already exists")),
        "{duplicate:?}"
    );
    assert_eq!(
        (github.get("edit").status, gitea.get("edit").status),
        (200, 201)
    );
    assert_eq!(github.get("create.empty_body").body["body"], Value::Null);
    assert!(
        problems.is_empty(),
        "the fake GitHub differs from Gitea where GitHub does not:\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_gitlab_fake_agrees_with_gitea_where_the_concepts_meet() {
    let gitea = real_gitea();
    let gitlab = run_on_fake(
        &FakeGitLab::start(),
        "/api/v4",
        ("PRIVATE-TOKEN", "{}"),
        GITLAB,
    );
    let mut problems = Vec::new();
    let p = &mut problems;
    // The same statuses: 201 for a creation, 409 for a second open request of the same branches,
    // 404 `{"message"}` for a missing project, 401 `{"message"}` for an unknown token or none at
    // all on a write, 403 for a token that may only read.
    let steps = [
        "create",
        "create.duplicate",
        "create.slash",
        "comment",
        "repo.missing",
        "create.read_only",
        "auth.bad_token",
        "auth.no_token_write",
        "list.page1",
    ];
    for step in steps {
        let (g, l) = (gitea.get(step), gitlab.get(step));
        if g.status != l.status {
            p.push(format!(
                "{step}: status {} (the fake) vs {} (Gitea)",
                l.status, g.status
            ));
        }
    }
    for step in ["repo.missing", "auth.bad_token", "auth.no_token_write"] {
        same_types(
            p,
            step,
            (gitea.get(step), ""),
            (gitlab.get(step), ""),
            &["message"],
            false,
        );
    }
    same_types(
        p,
        "comment",
        (gitea.get("comment"), ""),
        (gitlab.get("comment"), ""),
        &["id", "body"],
        false,
    );
    // Order and pagination: the same requests on the same pages, newest first; `X-Total` as
    // Gitea's `X-Total-Count`; `Link` and `X-Next-Page` to the next page where Gitea links one.
    same_lists(
        p,
        gitea,
        &gitlab,
        &["list.page1", "list.page2", "list.page3"],
    );
    for step in ["list.page1", "list.page2", "list.page3"] {
        let (g, l) = (gitea.get(step), gitlab.get(step));
        let (total, count) = (l.header("x-total"), g.header("x-total-count"));
        if total != count {
            p.push(format!(
                "{step}: X-Total {total:?} (the fake) vs X-Total-Count {count:?}"
            ));
        }
        let next = |a: &Answer| a.link_pages().remove("next").flatten();
        let header = l
            .header("x-next-page")
            .filter(|n| !n.is_empty())
            .map(str::to_owned);
        if next(g) != next(l) || next(l) != header {
            p.push(format!(
                "{step}: next {:?}, X-Next-Page {header:?} (the fake) vs {:?}",
                next(l),
                next(g)
            ));
        }
    }
    // What cannot be compared: the merge request itself (`iid`, `web_url`, `source_branch`,
    // `target_branch`, `description`, `state` "opened", labels as names, users by id and
    // `username`), the 409's `message` (a list of strings; Gitea: a string), the 403's OAuth body
    // (`error`, `error_description`, `scope`; Gitea: `message`), the 400 for a missing field
    // (Gitea: 422), access levels instead of `permissions.push`, `PUT` with `state_event` instead
    // of `PATCH` with `state`, `PRIVATE-TOKEN` instead of `Authorization`, and anonymous reads
    // (GitLab hides a private project behind a 404; the fake knows no visibility).
    let duplicate = &gitlab.get("create.duplicate").body["message"];
    assert!(
        duplicate
            .as_array()
            .is_some_and(|m| m.iter().all(Value::is_string)),
        "{duplicate}"
    );
    assert!(
        problems.is_empty(),
        "the fake GitLab differs from Gitea where GitLab does not:\n{}",
        problems.join("\n")
    );
}
