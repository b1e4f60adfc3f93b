//! `bump` through the library on a repository reached by path: concurrent pushes from threads of one
//! process (each operation has its own transport state) must all land.

use common::HttpOptions;
use gitops::{BumpRequest, GitAuth, Remote, bump};
use test_services::git;

#[test]
fn concurrent_bumps_through_a_local_path_all_land() {
    let root = tempfile::tempdir().unwrap();
    let bare = root.path().join("gitops.git");
    let work = root.path().join("work");
    git(
        root.path(),
        &["init", "-q", "--bare", "-b", "main", bare.to_str().unwrap()],
    );
    git(
        root.path(),
        &[
            "clone",
            "-q",
            bare.to_str().unwrap(),
            work.to_str().unwrap(),
        ],
    );
    for i in 0..6 {
        let dir = work.join(format!("model-deployments/test/m{i}"));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("config.yaml"),
            format!("name: m{i}\nversion: \"0\"\n"),
        )
        .unwrap();
    }
    git(&work, &["add", "."]);
    git(&work, &["commit", "-q", "-m", "Seed"]);
    git(&work, &["push", "-q", "origin", "main"]);

    let remote = Remote::new(
        bare.to_str().unwrap(),
        GitAuth::Anonymous,
        HttpOptions::default(),
    );
    std::thread::scope(|scope| {
        for i in 0..6 {
            let remote = &remote;
            scope.spawn(move || {
                let outcome = bump(
                    remote,
                    &BumpRequest {
                        file: gitops::config_path(
                            gitops::DEFAULT_PATH_PATTERN,
                            &format!("m{i}"),
                            "test",
                        ),
                        sets: vec![(vec!["version".into()], "1.0".into())],
                        base_branch: "main".into(),
                        ..BumpRequest::default()
                    },
                )
                .unwrap();
                assert!(outcome.changed);
                assert_eq!(
                    outcome.old_values,
                    [("version".to_owned(), Some("0".to_owned()))]
                );
                assert!(
                    outcome.diff.contains("+version: \"1.0\""),
                    "{}",
                    outcome.diff
                );
            });
        }
    });
    let bare_dir = bare.as_path();
    assert_eq!(git(bare_dir, &["rev-list", "--count", "main"]), "7");
    for i in 0..6 {
        let text = git(
            bare_dir,
            &[
                "show",
                &format!("main:model-deployments/test/m{i}/config.yaml"),
            ],
        );
        assert_eq!(text, format!("name: m{i}\nversion: \"1.0\""));
    }
    // No staging refs are left behind.
    assert_eq!(
        git(bare_dir, &["for-each-ref", "--format=%(refname)"]),
        "refs/heads/main"
    );
}
