//! The promotion merged through Gitea's own merge API, by merge commit and by squash: the base then
//! holds the version, and pr-create says so.

use super::{BRANCH, PullNumber, World};

#[test]
fn merged_by_merge_commit_then_by_squash() {
    let world = World::new("v1");

    // A merge commit: two parents, the old main and the promotion branch.
    let first = world.run("v2", &[]);
    first.assert_ok();
    let tip = world.branch_tip(BRANCH).unwrap();
    world.merge(first.number(), "merge");
    let pull = world.pull(first.number());
    assert_eq!(
        (&pull["merged"], &pull["state"]),
        (&true.into(), &"closed".into()),
        "{pull}"
    );
    let main = world.branch_tip("main").unwrap();
    let parents = world.parents(&main);
    assert_eq!(parents.len(), 2, "a merge commit: {parents:?}");
    assert_eq!(parents[1], tip);
    assert_eq!(pull["merge_commit_sha"], main.as_str());
    assert!(
        world
            .prod_config("main")
            .unwrap()
            .contains("version: \"v2\"  # set by promotion"),
        "{:?}",
        world.prod_config("main")
    );

    // The base has the version: nothing to promote, nothing opened.
    let done = world.run("v2", &[]);
    done.assert_ok();
    assert_eq!(done.result("STATUS"), "up-to-date");
    assert_eq!(done.result("NUMBER"), "");
    assert!(world.open_pulls().is_empty());

    // The next version: the merged pull request's branch is reused, and a new pull request opened
    // (the merged one stays merged). Squashed: one commit on main, one parent.
    let second = world.run("v3", &[]);
    second.assert_ok();
    assert_eq!(second.result("STATUS"), "created");
    assert_ne!(second.number(), first.number());
    let branch_tip = world.branch_tip(BRANCH).unwrap();
    assert_eq!(
        world.parents(&branch_tip),
        [main.as_str()],
        "reset onto the new main"
    );
    world.merge(second.number(), "squash");
    let pull = world.pull(second.number());
    assert_eq!(pull["merged"], true, "{pull}");
    let squashed = world.branch_tip("main").unwrap();
    assert_eq!(world.parents(&squashed), [main], "a squash: one parent");
    assert!(
        world
            .prod_config("main")
            .unwrap()
            .contains("version: \"v3\"")
    );
    assert_eq!(world.pull(first.number())["merged"], true);

    let done = world.run("v3", &[]);
    done.assert_ok();
    assert_eq!(done.result("STATUS"), "up-to-date");
    assert!(world.open_pulls().is_empty());
    assert_eq!(world.pulls("all").len(), 2);
}
