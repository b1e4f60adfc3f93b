//! What several scenarios set up the same way: a GitOps repository on the git server with a fake
//! Gitea over it, pr-create's command line against a forge URL, and registry-label labelling one
//! version.

use test_fakes::gitea::FakeGitea;
use test_services::GitServer;

use std::path::Path;

use e2e::tool_run::{GIT_PASSWORD, GIT_USER, Outcome, path_str, run};

pub const REPO: &str = "team/gitops";

/// The GitOps repository (prod on v1) on a git server, and a fake Gitea that serves it.
pub fn gitops_on_gitea() -> (GitServer, FakeGitea) {
    let git = GitServer::start(GIT_USER, GIT_PASSWORD);
    git.create_repo(REPO);
    git.seed(
        REPO,
        &[(
            "model-deployments/prod/jukebox/config.yaml",
            b"version: v1\n",
        )],
        "Seed",
    );
    let gitea = FakeGitea::start();
    gitea.add_repo(REPO, git.repo_dir(REPO));
    (git, gitea)
}

/// pr-create's arguments promoting jukebox v2 through the forge API at `api_url`, then `extra`.
pub fn pr_create_args(api_url: &str, git: &GitServer, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = [
        "--forge",
        "gitea",
        "--forge-api-url",
        api_url,
        "--forge-repo",
        REPO,
        "--repo-url",
        &git.repo_url(REPO),
        "--model",
        "jukebox",
        "--model-version",
        "v2",
        "--git-username",
        GIT_USER,
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

/// The tokens pr-create reads from the environment.
pub const PR_CREATE_ENV: [(&str, &str); 2] = [
    (
        "MODELCAR_FORGE_TOKEN",
        test_fakes::forge_support::DEFAULT_TOKEN,
    ),
    ("MODELCAR_GIT_TOKEN", GIT_PASSWORD),
];

/// registry-label putting `test` on jukebox v2 in the Model Registry at `registry_url` (its token
/// in `token_file`), then `extra`.
pub fn label_v2_in_test(registry_url: &str, token_file: &Path, extra: &[&str]) -> Outcome {
    let mut args = vec![
        "--registry-url",
        registry_url,
        "--registry-token-file",
        path_str(token_file),
        "--model",
        "jukebox",
        "--model-version",
        "v2",
        "--env",
        "test",
    ];
    args.extend_from_slice(extra);
    run("registry-label", &args, &[])
}
