//! `changed_files` and `read_file` over smart HTTP against `git http-backend`: what a merge commit,
//! a squash merge, several pushed commits and a deletion changed.

mod support;

use gitops::{ChangeKind, FileChange, GitopsError, Remote, changed_files, read_file};
use support::http_remote;
use test_services::{GitServer, WorkingClone};

const USER: &str = "post-deploy";
const PASSWORD: &str = "webhook-s3cret";
const PROD: &str = "model-deployments/prod";
const JUKEBOX_PROD: &str = "model-deployments/prod/jukebox/config.yaml";
const WHISPER_PROD: &str = "model-deployments/prod/whisper/config.yaml";
const JUKEBOX_TEST: &str = "model-deployments/test/jukebox/config.yaml";

/// A server with one repository and a working clone that builds history with the git CLI.
struct History {
    server: GitServer,
    clone: WorkingClone,
}

impl History {
    fn new() -> History {
        let server = GitServer::start(USER, PASSWORD);
        server.create_repo("gitops");
        server.seed(
            "gitops",
            &[
                (JUKEBOX_PROD, b"name: jukebox\nversion: \"1.0\"\n"),
                (WHISPER_PROD, b"name: whisper\nversion: \"0.3\"\n"),
                (JUKEBOX_TEST, b"name: jukebox\nversion: \"1.1\"\n"),
            ],
            "Seed",
        );
        let clone = WorkingClone::of(&server.repo_dir("gitops"));
        History { server, clone }
    }

    fn git(&self, args: &[&str]) -> String {
        self.clone.git(args)
    }

    fn write(&self, path: &str, text: &str) {
        self.clone.write(path, text);
    }

    fn commit(&self, message: &str) -> String {
        self.clone.commit_as("Dev", message)
    }

    fn push(&self) {
        self.git(&["push", "-q", "origin", "HEAD:main"]);
    }

    fn remote(&self) -> Remote {
        remote_with(&self.server, PASSWORD)
    }
}

fn remote_with(server: &GitServer, password: &str) -> Remote {
    http_remote(server, "gitops", USER, password)
}

fn summary(changes: &[FileChange]) -> Vec<(String, ChangeKind)> {
    let mut list: Vec<_> = changes.iter().map(|c| (c.path.clone(), c.kind)).collect();
    list.sort_by(|a, b| a.0.cmp(&b.0));
    list
}

fn text(bytes: &Option<Vec<u8>>) -> Option<&str> {
    bytes.as_deref().map(|b| std::str::from_utf8(b).unwrap())
}

#[test]
fn merge_commit_against_its_first_parent() {
    let history = History::new();
    history.git(&["checkout", "-q", "-b", "promote/prod/jukebox"]);
    history.write(JUKEBOX_PROD, "name: jukebox\nversion: \"1.1\"\n");
    history.commit("Promote jukebox 1.1 to prod");
    history.git(&["checkout", "-q", "main"]);
    // Main moves on meanwhile (a test deployment), so the merge is a real two-parent merge.
    history.write(JUKEBOX_TEST, "name: jukebox\nversion: \"1.2\"\n");
    history.commit("Deploy jukebox 1.2 to test");
    history.git(&[
        "merge",
        "-q",
        "--no-ff",
        "-m",
        "Merge promotion",
        "promote/prod/jukebox",
    ]);
    let merge = history.git(&["rev-parse", "HEAD"]);
    // Later commits on top: the merge is no longer the tip, so history is fetched deeper.
    for i in 0..40 {
        history.write(
            JUKEBOX_TEST,
            &format!("name: jukebox\nversion: \"1.2.{i}\"\n"),
        );
        history.commit("Deploy to test");
    }
    history.push();

    let changes = changed_files(&history.remote(), "main", &merge, None, PROD).unwrap();
    assert_eq!(
        summary(&changes),
        [(JUKEBOX_PROD.to_owned(), ChangeKind::Modified)]
    );
    assert_eq!(
        text(&changes[0].old),
        Some("name: jukebox\nversion: \"1.0\"\n")
    );
    assert_eq!(
        text(&changes[0].new),
        Some("name: jukebox\nversion: \"1.1\"\n")
    );
    // Without a prefix, still only what the merge brought in (not main's own test deployment).
    let all = changed_files(&history.remote(), "main", &merge, None, "").unwrap();
    assert_eq!(
        summary(&all),
        [(JUKEBOX_PROD.to_owned(), ChangeKind::Modified)]
    );
}

#[test]
fn squash_merge_of_two_models() {
    let history = History::new();
    history.write(JUKEBOX_PROD, "name: jukebox\nversion: \"2.0\"\n");
    history.write(WHISPER_PROD, "name: whisper\nversion: \"0.4\"\n");
    let squash = history.commit("Promote jukebox 2.0 and whisper 0.4 to prod (#7)");
    history.push();
    let changes = changed_files(&history.remote(), "main", &squash, None, PROD).unwrap();
    assert_eq!(
        summary(&changes),
        [
            (JUKEBOX_PROD.to_owned(), ChangeKind::Modified),
            (WHISPER_PROD.to_owned(), ChangeKind::Modified),
        ]
    );
    // A prefix that is a different directory sees nothing; `prod` must not match `prod-eu`.
    let history_eu = changed_files(
        &history.remote(),
        "main",
        &squash,
        None,
        "model-deployments/pro",
    )
    .unwrap();
    assert!(history_eu.is_empty(), "{history_eu:?}");
}

#[test]
fn several_commits_and_a_deletion_between_before_and_after() {
    let history = History::new();
    let before = history.git(&["rev-parse", "HEAD"]);
    history.write(JUKEBOX_PROD, "name: jukebox\nversion: \"3.0\"\n");
    history.commit("Promote jukebox 3.0");
    history.write(
        "model-deployments/prod/bard/config.yaml",
        "name: bard\nversion: \"1\"\n",
    );
    history.commit("Add bard to prod");
    history.git(&["rm", "-q", WHISPER_PROD]);
    let after = history.commit("Retire whisper from prod");
    history.push();

    let changes = changed_files(&history.remote(), "main", &after, Some(&before), PROD).unwrap();
    assert_eq!(
        summary(&changes),
        [
            (
                "model-deployments/prod/bard/config.yaml".to_owned(),
                ChangeKind::Added
            ),
            (JUKEBOX_PROD.to_owned(), ChangeKind::Modified),
            (WHISPER_PROD.to_owned(), ChangeKind::Deleted),
        ]
    );
    let deleted = changes
        .iter()
        .find(|c| c.kind == ChangeKind::Deleted)
        .unwrap();
    assert_eq!(
        text(&deleted.old),
        Some("name: whisper\nversion: \"0.3\"\n")
    );
    assert_eq!(deleted.new, None);
    let added = changes
        .iter()
        .find(|c| c.kind == ChangeKind::Added)
        .unwrap();
    assert_eq!(added.old, None);

    // The deletion alone: the last commit against its parent.
    let only = changed_files(&history.remote(), "main", &after, None, PROD).unwrap();
    assert_eq!(
        summary(&only),
        [(WHISPER_PROD.to_owned(), ChangeKind::Deleted)]
    );

    // A new branch (all-zero before): everything under the prefix is added.
    let zero = "0".repeat(40);
    let created = changed_files(&history.remote(), "main", &after, Some(&zero), PROD).unwrap();
    assert!(
        created.iter().all(|c| c.kind == ChangeKind::Added),
        "{created:?}"
    );
    assert_eq!(created.len(), 2);
}

#[test]
fn unknown_commits_and_bad_ids_are_clear() {
    let history = History::new();
    let remote = history.remote();
    let absent = "1234567890abcdef1234567890abcdef12345678";
    match changed_files(&remote, "main", absent, None, PROD) {
        Err(GitopsError::CommitNotFound { commit, .. }) => assert_eq!(commit, absent),
        other => panic!("expected CommitNotFound, got {other:?}"),
    }
    let message = changed_files(&remote, "main", "abc123", None, PROD)
        .unwrap_err()
        .to_string();
    assert!(message.contains("not a full commit id"), "{message}");
    let message = changed_files(&remote, "nope", absent, None, PROD)
        .unwrap_err()
        .to_string();
    assert!(message.contains("branch nope not found"), "{message}");
}

#[test]
fn read_file_at_the_tip() {
    let history = History::new();
    let remote = history.remote();
    assert_eq!(
        read_file(&remote, "main", JUKEBOX_PROD).unwrap().as_deref(),
        Some(&b"name: jukebox\nversion: \"1.0\"\n"[..])
    );
    assert_eq!(
        read_file(&remote, "main", "model-deployments/prod/none/config.yaml").unwrap(),
        None
    );
    // A directory is not a file.
    assert_eq!(read_file(&remote, "main", PROD).unwrap(), None);
    // Wrong password: an authentication error, without the password.
    let wrong = remote_with(&history.server, "wrong-password");
    let error = read_file(&wrong, "main", JUKEBOX_PROD).unwrap_err();
    assert!(
        matches!(error, GitopsError::Authentication { .. }),
        "{error:?}"
    );
    assert!(!error.to_string().contains("wrong-password"));
}
