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
            &format!("promotes {}, which prod already runs", version(SRC2)),
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
