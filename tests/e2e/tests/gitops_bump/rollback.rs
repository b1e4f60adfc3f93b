//! `--rollback`: an environment back on the version it ran before, with that version's digest,
//! found in the config file's own history; a repeated rollback changes nothing.

use super::*;

const D1: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
const D2: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";

fn deploy(repo: &Repo, version: &str, digest: &str) {
    repo.bump(&[
        "--model",
        "jukebox",
        "--env",
        "test",
        "--set",
        &format!("version={version}"),
        "--digest",
        digest,
    ])
    .assert_ok();
}

#[test]
fn rolls_back_to_the_previous_version_once() {
    let repo = jukebox_repo("rollback");
    deploy(&repo, "v1", D1);
    deploy(&repo, "v2", D2);
    let before = repo.commit_count();

    let rollback = |extra: &[&str]| {
        let mut args = vec!["--model", "jukebox", "--env", "test"];
        args.extend_from_slice(extra);
        repo.bump(&args)
    };
    let run = rollback(&["--rollback", "--reason", "v2 answers in 4 s at p95"]);
    run.assert_ok();
    assert_eq!(run.result("CHANGED"), "true");
    assert_eq!(run.result("VERSION"), "v1");
    assert_eq!(run.result("IMAGE_DIGEST"), D1);
    let config = repo.file("main", JUKEBOX).unwrap();
    assert!(config.contains("version: \"v1\""), "{config}");
    assert!(config.contains(&format!("image_digest: {D1}")), "{config}");
    let message = repo.git(&["log", "-1", "--format=%B", "main"]);
    assert!(
        message
            .starts_with("Roll back jukebox in test to v1 (from v2)\n\nv2 answers in 4 s at p95"),
        "{message}"
    );
    assert!(message.contains("Rollback-From: v2"), "{message}");
    assert_eq!(repo.commit_count(), before + 1);

    // The same step again (a retried TaskRun) changes nothing.
    let again = rollback(&["--rollback", "--reason", "v2 answers in 4 s at p95"]);
    again.assert_ok();
    assert_eq!(again.result("CHANGED"), "false");
    assert_eq!(again.result("VERSION"), "v1");
    assert!(
        again.stderr().contains("already rolled back from v2"),
        "{}",
        again.stderr()
    );
    assert_eq!(repo.commit_count(), before + 1);

    // A version never deployed there, or no reason: refused, nothing written.
    rollback(&["--rollback-to", "v9", "--reason", "typo"])
        .assert_fails(2, &["v9 was never deployed", "v2, v1"]);
    rollback(&["--rollback"]).assert_fails(2, &["--reason"]);
    assert_eq!(repo.commit_count(), before + 1);

    // Naming a version that ran there goes to it, digest and all.
    let forward = rollback(&["--rollback-to", "v2", "--reason", "fixed upstream"]);
    forward.assert_ok();
    assert_eq!(forward.result("IMAGE_DIGEST"), D2);
    assert!(repo.file("main", JUKEBOX).unwrap().contains(D2));
}

#[test]
fn nothing_to_roll_back_to_is_a_clear_refusal() {
    let repo = jukebox_repo("rollback-none");
    repo.bump(&[
        "--model",
        "jukebox",
        "--env",
        "test",
        "--rollback",
        "--reason",
        "try",
    ])
    .assert_fails(2, &["no earlier version than v0.9"]);
}

/// As the gitops-bump Task calls it: the version as --model-version (the VERSION result says what
/// was set), and a rollback with VERSION and ROLLBACK_TO empty (`--model-version=`,
/// `--rollback-to=`) and `--rollback=true`; `--rollback=false` is an ordinary bump.
#[test]
fn the_task_s_arguments_deploy_and_roll_back() {
    let repo = jukebox_repo("rollback-task");
    let task_step = |version: &str, rollback: &str, reason: &str| {
        repo.bump(&[
            "--model=jukebox",
            "--env=test",
            &format!("--model-version={version}"),
            "--digest=",
            &format!("--rollback={rollback}"),
            "--rollback-to=",
            &format!("--reason={reason}"),
        ])
    };
    let v1 = task_step("v1", "false", "");
    v1.assert_ok();
    assert_eq!(v1.result("VERSION"), "v1");
    assert_eq!(v1.result("CHANGED"), "true");
    task_step("v2", "false", "").assert_ok();
    let before = repo.commit_count();

    // Neither a version nor a rollback; a version and a rollback at once; a rollback with something
    // else to set: refused, nothing written.
    task_step("", "false", "").assert_fails(2, &["nothing to set", "--model-version"]);
    task_step("v3", "true", "slow")
        .assert_fails(2, &["without --model-version, --digest and --set"]);
    repo.bump(&[
        "--model=jukebox",
        "--env=test",
        "--rollback",
        "--reason=slow",
        "--set=replicas=2",
    ])
    .assert_fails(2, &["--set"]);
    assert_eq!(repo.commit_count(), before);

    let back = task_step("", "true", "v2 answers in 4 s at p95");
    back.assert_ok();
    assert_eq!(back.result("VERSION"), "v1");
    assert_eq!(back.result("CHANGED"), "true");
    assert!(
        repo.file("main", JUKEBOX)
            .unwrap()
            .contains("version: \"v1\"")
    );
    assert_eq!(repo.commit_count(), before + 1);
}
