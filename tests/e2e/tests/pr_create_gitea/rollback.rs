//! `pr-create --rollback` against the real Gitea: prod goes back to the version it ran before
//! through a pull request that says why; re-runs change nothing, before and after the merge.

use super::{PullNumber, Run, World};

#[test]
fn prod_goes_back_through_a_pull_request_once() {
    let world = World::new("v1");
    let promotion = world.run("v2", &[]);
    promotion.assert_ok();
    world.merge(promotion.number(), "merge");

    let rollback = |args: &[&str]| Run::of(world.command_without_version(args));
    let reason = ["--reason", "v2 doubles p95 latency"];
    let run = rollback(&[&["--rollback"][..], &reason].concat());
    run.assert_ok();
    assert_eq!(run.result("STATUS"), "created");
    assert_eq!(run.result("BRANCH"), "rollback/prod/jukebox");
    let pull = world.pull(run.number());
    assert_eq!(pull["title"], "Roll back jukebox in prod to v1");
    let body = pull["body"].as_str().unwrap();
    assert!(body.contains("**Why:** v2 doubles p95 latency"), "{body}");
    assert!(body.contains("Rollback-From: v2"), "{body}");
    assert!(
        world
            .prod_config("rollback/prod/jukebox")
            .unwrap()
            .contains("version: \"v1\""),
        "{:?}",
        world.prod_config("rollback/prod/jukebox")
    );

    // The same step again: the pull request is left as it is.
    let again = rollback(&[&["--rollback"][..], &reason].concat());
    again.assert_ok();
    assert_eq!(again.result("STATUS"), "unchanged");
    assert_eq!(again.number(), run.number());

    // Merged: prod runs v1 again, and the rollback is not repeated (it would step back further).
    world.merge(run.number(), "merge");
    assert!(
        world
            .prod_config("main")
            .unwrap()
            .contains("version: \"v1\"")
    );
    let done = rollback(&[&["--rollback"][..], &reason].concat());
    done.assert_ok();
    assert_eq!(done.result("STATUS"), "up-to-date");
    assert!(
        done.stderr().contains("already rolled back from v2"),
        "{}",
        done.stderr()
    );
    assert!(world.open_pulls().is_empty());

    // A version prod never ran: refused, nothing opened.
    rollback(&["--rollback-to", "v7", "--reason", "typo"])
        .assert_fails(2, &["v7 was never deployed"]);
    assert!(world.open_pulls().is_empty());
}
