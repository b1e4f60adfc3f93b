//! Create, re-run, update, supersede, and two runs at once.

use super::{ASSIGNEE, BRANCH, COMMIT_URL, IMAGE, PROD, PullNumber, REVIEWER, Run, World, names};

/// The pull request carries everything a reviewer needs, with the labels, reviewer and assignee
/// asked for; a re-run leaves it, and the branch, as they are.
#[test]
fn creates_then_leaves_unchanged() {
    let world = World::new("v1");
    let args = [
        "--label",
        "promotion,prod",
        "--reviewer",
        REVIEWER,
        "--assignee",
        ASSIGNEE,
    ];
    let first = world.run("v2", &args);
    first.assert_ok();
    assert_eq!(first.result("STATUS"), "created");
    assert_eq!(first.result("BRANCH"), BRANCH);
    let number = first.number();
    assert_eq!(
        first.result("URL"),
        format!("{}/{}/pulls/{number}", world.gitea.url(), world.repo())
    );

    let open = world.open_pulls();
    assert_eq!(open.len(), 1, "{open:#?}");
    let pr = &open[0];
    assert_eq!(pr["number"], number);
    assert_eq!(
        (&pr["head"]["ref"], &pr["base"]["ref"]),
        (&BRANCH.into(), &"main".into())
    );
    assert_eq!(pr["title"], "Promote jukebox v2 to prod");
    let body = pr["body"].as_str().expect("a body");
    for needle in [
        "`v1` → `v2`",
        IMAGE,
        COMMIT_URL,
        "-version: \"v1\"  # set by promotion",
        "+version: \"v2\"  # set by promotion",
        PROD,
        "<!-- modelcar-gitops promotion model=jukebox env=prod -->",
    ] {
        assert!(
            body.contains(needle),
            "{needle:?} missing from the body:\n{body}"
        );
    }
    assert_eq!(names(&pr["labels"], "name"), ["prod", "promotion"]);
    assert_eq!(names(&pr["requested_reviewers"], "login"), [REVIEWER]);
    assert_eq!(names(&pr["assignees"], "login"), [ASSIGNEE]);
    assert_eq!(pr["mergeable"], true, "{pr}");

    let tip = world.branch_tip(BRANCH).expect("the promotion branch");
    assert_eq!(pr["head"]["sha"], tip.as_str());
    let promoted = world.prod_config(BRANCH).unwrap();
    assert!(
        promoted.contains("version: \"v2\"  # set by promotion"),
        "{promoted}"
    );
    assert!(
        world
            .prod_config("main")
            .unwrap()
            .contains("version: \"v1\""),
        "main is untouched"
    );
    assert_eq!(world.parents(&tip).len(), 1, "one commit on top of main");

    let again = world.run("v2", &args);
    again.assert_ok();
    assert_eq!(again.result("STATUS"), "unchanged");
    assert_eq!(again.number(), number);
    let after = world.open_pulls();
    assert_eq!(after.len(), 1);
    for field in [
        "title",
        "body",
        "labels",
        "requested_reviewers",
        "assignees",
        "updated_at",
    ] {
        assert_eq!(after[0][field], pr[field], "{field} changed");
    }
    assert_eq!(
        world.branch_tip(BRANCH),
        Some(tip),
        "the branch is as it was"
    );
    assert!(world.comments(number).is_empty());
}

/// A newer version updates the pull request of the branch. With a versioned branch template each
/// version has its own, and the older ones are closed (not merged) with a comment linking the new one.
#[test]
fn newer_versions_update_then_supersede() {
    let world = World::new("v1");
    let first = world.run("v2", &[]);
    first.assert_ok();
    assert_eq!(first.result("STATUS"), "created");
    let first_tip = world.branch_tip(BRANCH).unwrap();

    let second = world.run("v3", &[]);
    second.assert_ok();
    assert_eq!(second.result("STATUS"), "updated");
    assert_eq!(second.number(), first.number());
    let open = world.open_pulls();
    assert_eq!(open.len(), 1);
    assert_eq!(open[0]["title"], "Promote jukebox v3 to prod");
    let body = open[0]["body"].as_str().unwrap();
    assert!(body.contains("`v1` → `v3`"), "{body}");
    assert!(!body.contains("`v2`"), "{body}");
    let tip = world.branch_tip(BRANCH).unwrap();
    assert_ne!(
        tip, first_tip,
        "the branch was reset onto main with the new version"
    );
    assert!(
        world
            .prod_config(BRANCH)
            .unwrap()
            .contains("version: \"v3\"")
    );
    world.wait_for_head(first.number(), &tip);

    let versioned = ["--branch-template", "promote/{env}/{model}-{version}"];
    let third = world.run("v4", &versioned);
    third.assert_ok();
    assert_eq!(third.result("STATUS"), "created");
    assert_eq!(third.result("BRANCH"), "promote/prod/jukebox-v4");
    let fourth = world.run("v5", &versioned);
    fourth.assert_ok();
    assert_eq!(fourth.result("STATUS"), "created");

    let open = world.open_pulls();
    assert_eq!(open.len(), 1, "{open:#?}");
    assert_eq!(open[0]["head"]["ref"], "promote/prod/jukebox-v5");
    for (older, newer) in [(&first, &third), (&third, &fourth)] {
        let pull = world.pull(older.number());
        assert_eq!(
            (&pull["state"], &pull["merged"]),
            (&"closed".into(), &false.into()),
            "{pull}"
        );
        let comments = world.comments(older.number());
        assert_eq!(comments.len(), 1, "{comments:?}");
        assert!(
            comments[0].starts_with("Superseded by") && comments[0].contains(&newer.result("URL")),
            "{comments:?}"
        );
    }
}

/// Runs at once end with exactly one open pull request, and every run reports it. Gitea checks for
/// an open pull request of the branch and inserts the new one without a lock, so two runs often both
/// open one: the later one is closed as a duplicate of the other. Three rounds, as it does not
/// happen every time.
#[test]
fn concurrent_runs_end_with_one_pull_request() {
    let world = World::new("v1");
    let mut duplicates = 0;
    for round in 1..=3 {
        let template = format!("race{round}/{{env}}/{{model}}");
        let args = ["--branch-template", template.as_str()];
        let (a, b) = (world.command("v2", &args), world.command("v2", &args));
        let runs: [Run; 2] = std::thread::scope(|scope| {
            let a = scope.spawn(|| Run::of(a));
            let b = scope.spawn(|| Run::of(b));
            [a.join().unwrap(), b.join().unwrap()]
        });
        for run in &runs {
            run.assert_ok();
        }
        let branch = format!("race{round}/prod/jukebox");
        let open = world.open_pulls();
        assert_eq!(open.len(), 1, "round {round}: {open:#?}");
        assert_eq!(open[0]["head"]["ref"], branch.as_str());
        let kept = open[0]["number"].as_u64().unwrap();
        for run in &runs {
            assert_eq!(run.number(), kept, "round {round}:\n{}", run.stderr());
        }
        let statuses: Vec<String> = runs.iter().map(|r| r.result("STATUS")).collect();
        let mut statuses: Vec<&str> = statuses.iter().map(String::as_str).collect();
        statuses.sort();
        assert!(
            matches!(statuses.as_slice(), ["created", "unchanged" | "updated"]),
            "round {round}: {statuses:?}"
        );
        for pull in world.pulls("closed") {
            let number = pull["number"].as_u64().unwrap();
            if pull["head"]["ref"] != branch.as_str() {
                continue;
            }
            assert!(number > kept, "the oldest is kept: {pull}");
            let comments = world.comments(number);
            assert!(
                comments.iter().any(|c| c.starts_with("Duplicate of")
                    && c.contains(&format!("/pulls/{kept}"))),
                "{comments:?}"
            );
            duplicates += 1;
        }
    }
    eprintln!("Gitea opened {duplicates} duplicate(s) in 3 rounds of two runs at once");
}
