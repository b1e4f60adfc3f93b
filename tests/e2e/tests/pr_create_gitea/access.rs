//! Tokens Gitea refuses, and input that names what does not exist: each fails before anything is
//! written, names what is wrong, and never shows a token.

use super::{Run, World};

#[test]
fn refused_tokens_and_bad_input_write_nothing() {
    let world = World::new("v1");
    let needs = "write:repository";

    // A token Gitea does not know: 401.
    let wrong = "0123456789abcdef0123456789abcdef01234567";
    let run = world.run_with_env("v2", &[], &[("MODELCAR_FORGE_TOKEN", wrong)]);
    run.assert_fails(
        1,
        &["401", needs, "--forge-token-file or MODELCAR_FORGE_TOKEN"],
    );
    assert!(
        !run.stderr().contains(wrong),
        "the token leaked:\n{}",
        run.stderr()
    );

    // The read-only token (read scopes only, of a user who may push): Gitea shows `push: true` for
    // the repository, and refuses writes with 403 naming the scope. Refused before the push, also
    // when the git token could push.
    let read_only = world.gitea.read_token().to_owned();
    let full = world.gitea.token().to_owned();
    for env in [
        vec![("MODELCAR_FORGE_TOKEN", read_only.as_str())],
        vec![
            ("MODELCAR_FORGE_TOKEN", read_only.as_str()),
            ("MODELCAR_GIT_TOKEN", full.as_str()),
        ],
    ] {
        let run = world.run_with_env("v2", &[], &env);
        run.assert_fails(
            1,
            &["403", "required=[write:repository]", needs, "write:issue"],
        );
        for secret in [&read_only, &full] {
            assert!(
                !run.stderr().contains(secret.as_str()),
                "a token leaked:\n{}",
                run.stderr()
            );
        }
    }

    // A token with write:repository but without write:issue (comments on superseded pull requests).
    let no_issues = world
        .gitea
        .create_token("repository-only", "write:repository,read:issue,read:user");
    world
        .run_with_env("v2", &[], &[("MODELCAR_FORGE_TOKEN", &no_issues)])
        .assert_fails(1, &["403", "required=[write:issue]"]);

    world
        .run("v2", &["--forge-repo", "gitops-admin/no-such-repo"])
        .assert_fails(
            2,
            &["gitops-admin/no-such-repo", "not found", "--forge-repo"],
        );
    world
        .run("v2", &["--branch", "no-such-base"])
        .assert_fails(2, &["\"no-such-base\"", "(--branch)"]);
    world
        .run("v2", &["--label", "promotion,no-such-label"])
        .assert_fails(2, &["\"no-such-label\"", "--label"]);
    world
        .run("v2", &["--reviewer", "nobody-here"])
        .assert_fails(2, &["\"nobody-here\"", "--reviewer"]);
    world
        .run("v2", &["--assignee", "nobody-either"])
        .assert_fails(2, &["\"nobody-either\"", "--assignee"]);

    // Without the plain-HTTP opt-in for Gitea's host: refused before anything is sent.
    let command = world.command("v2", &[]);
    let args: Vec<String> = command
        .get_args()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let position = args.iter().position(|a| a == "--plain-http").unwrap();
    let mut without = std::process::Command::new(command.get_program());
    without
        .args(args[..position].iter().chain(&args[position + 2..]))
        .env("MODELCAR_FORGE_TOKEN", world.gitea.token())
        .env("MODELCAR_FORGE_REPO", world.repo())
        .env_remove("MODELCAR_PLAIN_HTTP");
    Run::of(without).assert_fails(2, &["plain HTTP", "--plain-http"]);

    assert_eq!(world.branches(), ["main"], "nothing was pushed");
    assert!(world.pulls("all").is_empty(), "nothing was opened");
    let labels = world
        .gitea
        .api("GET", &world.repo_path("/labels"), None)
        .expect_success("list labels");
    assert_eq!(
        labels.as_array().map(Vec::len),
        Some(2),
        "no label was made up"
    );
}
