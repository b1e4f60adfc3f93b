//! `history` and `compare_branches` over smart HTTP against `git http-backend`: the versions a config
//! went through on main (direct commits, a merged promotion branch, commits that changed other keys
//! or other files), and how a promotion branch stands against main.

mod support;

use gitops::{Remote, compare_branches, history};
use support::http_remote;
use test_services::{GitServer, WorkingClone};

const USER: &str = "trace";
const PASSWORD: &str = "history-s3cret";
const PROD: &str = "model-deployments/prod/jukebox/config.yaml";
const TEST: &str = "model-deployments/test/jukebox/config.yaml";
const DIGEST_1: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
const DIGEST_2: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";

struct Work {
    server: GitServer,
    clone: WorkingClone,
}

impl Work {
    fn new() -> Work {
        let server = GitServer::start(USER, PASSWORD);
        server.create_repo("gitops");
        server.seed("gitops", &[("README.md", b"GitOps\n")], "Seed");
        let clone = WorkingClone::of(&server.repo_dir("gitops"));
        Work { server, clone }
    }

    fn git(&self, author: &str, args: &[&str]) -> String {
        self.clone.git_as(author, args)
    }

    fn commit(&self, author: &str, path: &str, text: &str, message: &str) -> String {
        self.clone.write(path, text);
        self.clone.commit_as(author, message)
    }

    fn push(&self, branch: &str) {
        self.clone.force_push(branch);
    }

    fn remote(&self) -> Remote {
        http_remote(&self.server, "gitops", USER, PASSWORD)
    }
}

fn config(version: &str, digest: &str, replicas: u32) -> String {
    format!("name: jukebox\nversion: \"{version}\"\nimage_digest: {digest}\nreplicas: {replicas}\n")
}

#[test]
fn versions_along_first_parent_history_newest_first() {
    let work = Work::new();
    let first = work.commit("Alice", PROD, &config("v1", DIGEST_1, 1), "Deploy v1");
    work.commit("Alice", TEST, &config("v2", DIGEST_2, 1), "Test v2");
    // The promotion branch: its own commit is not on main's first-parent line; the merge is.
    work.git("Dev", &["checkout", "-q", "-b", "promote/prod/jukebox"]);
    let promoted = work.commit("Bot", PROD, &config("v2", DIGEST_2, 1), "Promote v2");
    work.git("Dev", &["checkout", "-q", "main"]);
    work.commit("Alice", "README.md", "GitOps, changed\n", "Docs");
    work.git(
        "Carol",
        &[
            "merge",
            "-q",
            "--no-ff",
            "-m",
            "Merge promotion of v2",
            "promote/prod/jukebox",
        ],
    );
    let merge = work.git("Dev", &["rev-parse", "HEAD"]);
    let scaled = work.commit("Dave", PROD, &config("v2", DIGEST_2, 3), "Scale to 3");
    work.push("main");

    let found = history(&work.remote(), "main", PROD).unwrap();
    assert_eq!(found.tip, scaled);
    let commits: Vec<&str> = found.revisions.iter().map(|r| r.commit.as_str()).collect();
    assert_eq!(commits, [scaled.as_str(), merge.as_str(), first.as_str()]);
    assert!(!commits.contains(&promoted.as_str()));
    let current = found.current().unwrap();
    assert_eq!(current.version.as_deref(), Some("v2"));
    assert_eq!(current.image_digest.as_deref(), Some(DIGEST_2));
    assert_eq!(current.value(&["replicas"]).as_deref(), Some("3"));
    // The version was set by the merge (its author merged it), not by the later scaling.
    let set_by = found.version_set_by().unwrap();
    assert_eq!(set_by.commit, merge);
    assert_eq!(set_by.author(), "Carol <carol@example.invalid>");
    assert_eq!(set_by.summary, "Merge promotion of v2");
    assert!(set_by.time_rfc3339().ends_with('Z'));
    let versions: Vec<Option<&str>> = found
        .versions()
        .iter()
        .map(|r| r.version.as_deref())
        .collect();
    assert_eq!(versions, [Some("v2"), Some("v1")]);
    assert_eq!(found.earlier_with_version("v1").unwrap().commit, first);

    // A file the branch never had: no revisions, not an error.
    let none = history(
        &work.remote(),
        "main",
        "model-deployments/prod/radio/config.yaml",
    )
    .unwrap();
    assert!(none.revisions.is_empty() && none.current().is_none());
    let missing = history(&work.remote(), "no-such-branch", PROD).unwrap_err();
    assert!(missing.to_string().contains("no-such-branch"), "{missing}");
}

#[test]
fn a_promotion_branch_ahead_of_and_behind_main() {
    let work = Work::new();
    work.commit("Alice", PROD, &config("v1", DIGEST_1, 1), "Deploy v1");
    work.push("main");
    work.git("Dev", &["checkout", "-q", "-b", "promote/prod/jukebox"]);
    work.commit("Bot", PROD, &config("v2", DIGEST_2, 1), "Promote v2");
    work.push("promote/prod/jukebox");

    let fresh = compare_branches(&work.remote(), "main", "promote/prod/jukebox").unwrap();
    assert_eq!((fresh.ahead, fresh.behind), (1, 0));

    work.git("Dev", &["checkout", "-q", "main"]);
    work.commit("Alice", TEST, &config("v3", DIGEST_1, 1), "Test v3");
    work.commit("Alice", TEST, &config("v4", DIGEST_2, 1), "Test v4");
    work.push("main");
    let behind = compare_branches(&work.remote(), "main", "promote/prod/jukebox").unwrap();
    assert_eq!((behind.ahead, behind.behind), (1, 2));
    assert_eq!(behind.base_tip, work.git("Dev", &["rev-parse", "HEAD"]));

    let missing = compare_branches(&work.remote(), "main", "promote/prod/radio").unwrap_err();
    assert!(
        missing.to_string().contains("promote/prod/radio"),
        "{missing}"
    );
}
