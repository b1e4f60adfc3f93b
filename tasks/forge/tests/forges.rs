//! The three forge clients against the fake APIs, through the one trait: the same calls, the same
//! outcomes, each forge's own quirks handled inside its client.

use common::{HttpOptions, RetryPolicy, Secret};
use forge::{
    AnyForge, CommitStatus, CreateOutcome, Forge, ForgeConfig, ForgeError, ForgeKind,
    NewPullRequest, PullRequestEdit, StatusState, UserRole,
};
use test_fakes::forge_support::{DEFAULT_TOKEN, FakeForge, FakePull, PullState};
use test_fakes::{gitea::FakeGitea, github::FakeGitHub, gitlab::FakeGitLab};
use test_services::git;

const REPO: &str = "team/gitops";

/// A bare repository whose `branches` all point at one empty commit.
fn bare_repo(branches: &[&str]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    git(dir.path(), &["init", "--quiet", "--bare"]);
    let tree = git(dir.path(), &["mktree"]);
    let commit = git(dir.path(), &["commit-tree", &tree, "-m", "init"]);
    for branch in branches {
        git(
            dir.path(),
            &["update-ref", &format!("refs/heads/{branch}"), &commit],
        );
    }
    dir
}

enum Fake {
    Gitea(FakeGitea),
    GitHub(FakeGitHub),
    GitLab(FakeGitLab),
}

impl std::ops::Deref for Fake {
    type Target = FakeForge;
    fn deref(&self) -> &FakeForge {
        match self {
            Fake::Gitea(f) => f,
            Fake::GitHub(f) => f,
            Fake::GitLab(f) => f,
        }
    }
}

fn start(kind: ForgeKind, token: &str) -> (Fake, AnyForge, tempfile::TempDir) {
    let repo = bare_repo(&["main", "promote/prod/a", "promote/prod/b"]);
    let fake = match kind {
        ForgeKind::Gitea => Fake::Gitea(FakeGitea::start()),
        ForgeKind::GitHub => Fake::GitHub(FakeGitHub::start()),
        ForgeKind::GitLab => Fake::GitLab(FakeGitLab::start()),
    };
    fake.add_repo(REPO, repo.path());
    fake.add_label(REPO, "promotion");
    fake.add_user("ann");
    let forge = client(kind, &fake, REPO, token);
    (fake, forge, repo)
}

fn client(kind: ForgeKind, fake: &FakeForge, repo: &str, token: &str) -> AnyForge {
    AnyForge::connect(&ForgeConfig {
        kind,
        api_url: Some(fake.url()),
        repo: repo.into(),
        token: Secret::new(token),
        http: HttpOptions {
            plain_http_hosts: vec!["127.0.0.1".into()],
            ..HttpOptions::default()
        },
        retry: RetryPolicy::fast(3),
    })
    .unwrap()
}

async fn same_calls_same_outcomes(kind: ForgeKind) {
    let (fake, forge, _repo) = start(kind, DEFAULT_TOKEN);
    forge.check_repo("main").await.unwrap();
    assert!(
        matches!(forge.check_repo("nope").await, Err(ForgeError::BranchNotFound { branch, .. }) if branch == "nope")
    );

    let labels = forge.resolve_labels(&["promotion".into()]).await.unwrap();
    assert_eq!(
        labels[0].id,
        Some(fake.labels(REPO)[0].id),
        "label ids are the forge's own"
    );
    assert!(matches!(
        forge.resolve_labels(&["nope".into()]).await,
        Err(ForgeError::LabelNotFound { .. })
    ));
    let users = forge
        .resolve_users(&["ann".into()], UserRole::Reviewer)
        .await
        .unwrap();
    assert_eq!(users[0].login, "ann");
    assert!(matches!(
        forge
            .resolve_users(&["zed".into()], UserRole::Assignee)
            .await,
        Err(ForgeError::UserNotFound { .. })
    ));

    // A merged pull request from the same branch exists: it is not "the open one".
    let merged = fake.insert_pull(REPO, FakePull::open("promote/prod/a", "main", "old", ""));
    fake.set_state(REPO, merged, PullState::Merged);
    assert_eq!(
        forge.find_open("promote/prod/a", "main").await.unwrap(),
        None
    );

    let new = NewPullRequest {
        head: "promote/prod/a",
        base: "main",
        title: "Promote a",
        body: "body",
        labels: &labels,
        draft: false,
    };
    let CreateOutcome::Created(pr) = forge.create(&new).await.unwrap() else {
        panic!("not created")
    };
    assert_eq!(
        (pr.head.as_str(), pr.base.as_str(), pr.open),
        ("promote/prod/a", "main", true)
    );
    assert!(matches!(
        forge.create(&new).await.unwrap(),
        CreateOutcome::AlreadyExists
    ));
    let found = forge
        .find_open("promote/prod/a", "main")
        .await
        .unwrap()
        .expect("found");
    assert_eq!(found.number, pr.number);
    assert!(found.has_label("promotion"));

    forge.request_reviewers(&found, &users).await.unwrap();
    forge.add_assignees(&found, &users).await.unwrap();
    forge
        .update(
            &found,
            &PullRequestEdit {
                title: "Promote a again",
                body: "new body",
                labels: &labels,
                draft: false,
            },
        )
        .await
        .unwrap();
    let found = forge
        .find_open("promote/prod/a", "main")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (found.title.as_str(), found.body.as_str()),
        ("Promote a again", "new body")
    );
    assert!(
        found.has_reviewer("ann") && found.has_assignee("ann"),
        "{found:?}"
    );

    let other = NewPullRequest {
        head: "promote/prod/b",
        ..new
    };
    let CreateOutcome::Created(b) = forge.create(&other).await.unwrap() else {
        panic!("not created")
    };
    let listed: Vec<u64> = forge
        .list_open("main", "promote/prod/")
        .await
        .unwrap()
        .iter()
        .map(|p| p.number)
        .collect();
    assert_eq!(listed.len(), 2, "{listed:?}");
    forge
        .close_with_comment(b.number, "Superseded")
        .await
        .unwrap();
    let closed = fake.pull(REPO, b.number).unwrap();
    assert_eq!(
        (closed.state, closed.comments.as_slice()),
        (PullState::Closed, ["Superseded".to_owned()].as_slice())
    );
    assert_eq!(forge.list_open("main", "promote/").await.unwrap().len(), 1);
}

async fn refusals_name_the_permission(kind: ForgeKind) {
    let (fake, forge, _repo) = start(kind, "bad-token-x1");
    let error = forge.check_repo("main").await.unwrap_err();
    assert!(
        matches!(error, ForgeError::Unauthorized { status: 401, .. }),
        "{error}"
    );
    assert!(
        error.to_string().contains(kind.permissions_needed()),
        "{error}"
    );
    assert!(!error.to_string().contains("bad-token-x1"), "{error}");

    fake.add_read_only_token("reader-token-y2");
    let reader = client(kind, &fake, REPO, "reader-token-y2");
    let error = reader.check_repo("main").await.unwrap_err();
    assert!(matches!(error, ForgeError::Forbidden { .. }), "{error}");
    let new = NewPullRequest {
        head: "promote/prod/a",
        base: "main",
        title: "t",
        body: "b",
        labels: &[],
        draft: false,
    };
    let error = reader.create(&new).await.unwrap_err();
    assert!(
        matches!(error, ForgeError::Forbidden { status: 403, .. }),
        "{error}"
    );
    assert!(
        error.to_string().contains(kind.permissions_needed()),
        "{error}"
    );
    assert!(fake.pulls(REPO).is_empty());
}

async fn unknown_repository(kind: ForgeKind) {
    let (fake, _forge, _repo) = start(kind, DEFAULT_TOKEN);
    let error = client(kind, &fake, "team/none", DEFAULT_TOKEN)
        .check_repo("main")
        .await
        .unwrap_err();
    assert!(
        matches!(&error, ForgeError::RepoNotFound { repo, .. } if repo == "team/none"),
        "{error}"
    );
}

/// A pull request opened as a draft, turned ready and back, each forge marking it its own way
/// (Gitea and GitLab in the title, GitHub in a flag changed through GraphQL), the title read back
/// without the marker; and commit statuses set and read back by context.
async fn drafts_and_statuses(kind: ForgeKind) {
    let (fake, forge, repo) = start(kind, DEFAULT_TOKEN);
    let new = NewPullRequest {
        head: "promote/prod/a",
        base: "main",
        title: "Promote a",
        body: "body",
        labels: &[],
        draft: true,
    };
    let CreateOutcome::Created(pr) = forge.create(&new).await.unwrap() else {
        panic!("not created")
    };
    assert!(pr.draft, "{pr:?}");
    assert_eq!(pr.title, "Promote a", "the marker is not part of the title");
    let stored = fake.pull(REPO, pr.number).unwrap();
    assert!(stored.draft, "{stored:?}");
    match kind {
        ForgeKind::Gitea => assert_eq!(stored.title, "WIP: Promote a"),
        ForgeKind::GitLab => assert_eq!(stored.title, "Draft: Promote a"),
        ForgeKind::GitHub => assert_eq!(stored.title, "Promote a"),
    }
    for draft in [false, true, false] {
        let found = forge
            .find_open("promote/prod/a", "main")
            .await
            .unwrap()
            .unwrap();
        let edit = PullRequestEdit {
            title: "Promote a",
            body: "body",
            labels: &[],
            draft,
        };
        forge.update(&found, &edit).await.unwrap();
        let found = forge
            .find_open("promote/prod/a", "main")
            .await
            .unwrap()
            .unwrap();
        assert_eq!((found.draft, found.title.as_str()), (draft, "Promote a"));
        assert_eq!(fake.pull(REPO, pr.number).unwrap().draft, draft);
    }

    let head = git(repo.path(), &["rev-parse", "refs/heads/promote/prod/a"]);
    let context = "modelcar-gitops/promotion-rules";
    assert_eq!(forge.commit_status(&head, context).await.unwrap(), None);
    let failing = CommitStatus {
        state: StatusState::Failure,
        context: context.into(),
        description: "accuracy 0.91 < 0.93".into(),
        target_url: Some("https://registry.example/models/a".into()),
    };
    forge
        .set_commit_status(&head, "promote/prod/a", &failing)
        .await
        .unwrap();
    assert_eq!(
        forge.commit_status(&head, context).await.unwrap().as_ref(),
        Some(&failing)
    );
    let passing = CommitStatus {
        state: StatusState::Success,
        description: "2 rules hold".into(),
        ..failing.clone()
    };
    forge
        .set_commit_status(&head, "promote/prod/a", &passing)
        .await
        .unwrap();
    assert_eq!(
        forge.commit_status(&head, context).await.unwrap().as_ref(),
        Some(&passing),
        "the latest status of the context"
    );
    assert_eq!(forge.commit_status(&head, "other").await.unwrap(), None);
    let statuses = fake.statuses(REPO);
    assert_eq!(statuses.len(), 2, "{statuses:?}");
    assert_eq!(
        statuses[0].state,
        if kind == ForgeKind::GitLab {
            "failed"
        } else {
            "failure"
        }
    );
    // An unknown commit is refused.
    let unknown = "0".repeat(40);
    assert!(
        forge
            .set_commit_status(&unknown, "promote/prod/a", &passing)
            .await
            .is_err()
    );
}

macro_rules! each_forge {
    ($($name:ident),*) => {
        mod gitea { $(#[tokio::test] async fn $name() { super::$name(forge::ForgeKind::Gitea).await })* }
        mod github { $(#[tokio::test] async fn $name() { super::$name(forge::ForgeKind::GitHub).await })* }
        mod gitlab { $(#[tokio::test] async fn $name() { super::$name(forge::ForgeKind::GitLab).await })* }
    };
}

each_forge!(
    same_calls_same_outcomes,
    refusals_name_the_permission,
    unknown_repository,
    drafts_and_statuses
);

/// A GitLab project in a subgroup: the whole path is one URL-encoded segment.
#[tokio::test]
async fn gitlab_subgroup_project() {
    let repo = bare_repo(&["main", "promote/prod/a"]);
    let fake = FakeGitLab::start();
    let path = "group/subgroup/gitops";
    fake.add_repo(path, repo.path());
    let forge = client(ForgeKind::GitLab, &fake, path, DEFAULT_TOKEN);
    forge.check_repo("main").await.unwrap();
    let new = NewPullRequest {
        head: "promote/prod/a",
        base: "main",
        title: "t",
        body: "b",
        labels: &[],
        draft: false,
    };
    let CreateOutcome::Created(mr) = forge.create(&new).await.unwrap() else {
        panic!("not created")
    };
    assert!(
        mr.url.contains("/group/subgroup/gitops/-/merge_requests/"),
        "{}",
        mr.url
    );
    assert!(
        fake.requests()
            .iter()
            .any(|r| r.contains("/projects/group%2Fsubgroup%2Fgitops/merge_requests")),
        "{:#?}",
        fake.requests()
    );
}
