//! The promotion layer against a real Gitea holding the GitOps repository: an open promotion pull
//! request that promotes a newer version from a current branch agrees; once prod runs that version
//! by another way and main moves on, the same pull request is stale, and said to be.

use serde_json::json;
use test_services::{GITEA_ADMIN_USER, Gitea};

use super::*;

const BRANCH: &str = "promote/prod/jukebox";

fn config(version: &str) -> String {
    format!("name: {MODEL}\nversion: \"{version}\"\n")
}

/// model-trace for jukebox in prod with the forge, the GitOps repository in Gitea; no image
/// repository in the config, no Model Registry, no cluster.
fn trace_with_forge(gitea: &Gitea) -> Outcome {
    let (url, repo_url) = (gitea.url(), gitea.repo_url("gitops"));
    let repo = format!("{GITEA_ADMIN_USER}/gitops");
    run(
        "model-trace",
        &[
            "--model",
            MODEL,
            "--env",
            "prod",
            "--repo-url",
            &repo_url,
            "--git-username",
            GITEA_ADMIN_USER,
            "--forge",
            "gitea",
            "--forge-api-url",
            &url,
            "--forge-repo",
            &repo,
            "--plain-http",
            "127.0.0.1",
        ],
        &[
            ("MODELCAR_GIT_TOKEN", gitea.token()),
            ("MODELCAR_FORGE_TOKEN", gitea.token()),
        ],
    )
}

#[test]
fn a_stale_promotion_pull_request_is_drift() {
    let gitea = Gitea::start();
    gitea.create_repo("gitops");
    gitea.push_files(
        "gitops",
        "main",
        &[(PROD, config(version(SRC1)).as_bytes())],
        "Deploy",
    );
    gitea.push_files(
        "gitops",
        BRANCH,
        &[(PROD, config(version(SRC2)).as_bytes())],
        "Promote jukebox f6e5d4c3b2 to prod",
    );
    let pr = gitea
        .api(
            "POST",
            &format!("/repos/{GITEA_ADMIN_USER}/gitops/pulls"),
            Some(&json!({"head": BRANCH, "base": "main",
                         "title": "Promote jukebox f6e5d4c3b2 to prod"})),
        )
        .expect_success("open the promotion pull request");
    let number = pr["number"].as_u64().unwrap().to_string();

    // A newer version, on a branch made from the current main: nothing to say.
    let current = trace_with_forge(&gitea).ok();
    assert_contains(
        &current.run.stdout,
        &[
            &format!("#{number} Promote jukebox f6e5d4c3b2 to prod"),
            version(SRC2),
            "1 ahead, 0 behind main",
            "No drift",
        ],
    );

    // prod gets the version another way, and main moves on: the pull request is stale and behind.
    gitea.push_files(
        "gitops",
        "main",
        &[(PROD, config(version(SRC2)).as_bytes())],
        "Hotfix",
    );
    gitea.push_files("gitops", "main", &[("README.md", b"GitOps\n")], "Docs");
    let stale = trace_with_forge(&gitea).failed(
        1,
        &[
            &format!("promotion pull request #{number}"),
            &format!("proposes {}, which prod already runs", version(SRC2)),
            &format!("branch {BRANCH} is 2 commit(s) behind main"),
        ],
    );
    assert_eq!(stale.result("DRIFT"), "true");
    assert_contains(
        &stale.run.stdout,
        &[
            "promotion [promotion_stale]",
            "promotion [promotion_behind]",
        ],
    );
}

/// A rollback pull request (pr-create --rollback) proposes an older version on purpose: shown beside
/// the promotion, not drift; once prod runs that version again it is stale like any other.
#[test]
fn a_rollback_pull_request_is_shown_and_not_drift() {
    let gitea = Gitea::start();
    gitea.create_repo("gitops");
    for src in [SRC1, SRC2] {
        gitea.push_files(
            "gitops",
            "main",
            &[(PROD, config(version(src)).as_bytes())],
            &format!("Deploy {}", version(src)),
        );
    }
    let repo = format!("{GITEA_ADMIN_USER}/gitops");
    let opened = run(
        "pr-create",
        &[
            "--forge",
            "gitea",
            "--forge-api-url",
            &gitea.url(),
            "--forge-repo",
            &repo,
            "--repo-url",
            &gitea.repo_url("gitops"),
            "--git-username",
            GITEA_ADMIN_USER,
            "--model",
            MODEL,
            "--env",
            "prod",
            "--rollback",
            "--reason",
            "p95 latency doubled",
            "--plain-http",
            "127.0.0.1",
        ],
        &[("MODELCAR_FORGE_TOKEN", gitea.token())],
    )
    .ok();
    let number = opened.result("NUMBER");
    assert_eq!(opened.result("BRANCH"), "rollback/prod/jukebox");

    let traced = trace_with_forge(&gitea).ok();
    assert_contains(
        &traced.run.stdout,
        &[
            &format!("#{number} Roll back jukebox in prod to {}", version(SRC1)),
            &format!("{} (back from {})", version(SRC1), version(SRC2)),
            "rollback/prod/jukebox: 1 ahead, 0 behind main",
            "No drift",
        ],
    );

    // prod goes back to the older version another way: the rollback pull request is now stale.
    gitea.push_files(
        "gitops",
        "main",
        &[(PROD, config(version(SRC1)).as_bytes())],
        "Hotfix: back to the previous version",
    );
    trace_with_forge(&gitea).failed(
        1,
        &[
            &format!("rollback pull request #{number}"),
            &format!("proposes {}, which prod already runs", version(SRC1)),
        ],
    );
}
