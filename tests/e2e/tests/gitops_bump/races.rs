//! Concurrent bumps, and the promotion branch the tool owns.

use super::*;

#[test]
fn eight_models_at_once_all_land() {
    let models: Vec<String> = (1..=8).map(|i| format!("model-{i}")).collect();
    let files: Vec<(String, String)> = models
        .iter()
        .map(|m| {
            (
                format!("model-deployments/test/{m}/config.yaml"),
                format!("# {m}\nname: {m}\nversion: \"0.1\"\n"),
            )
        })
        .collect();
    let seeded: Vec<(&str, &[u8])> = files
        .iter()
        .map(|(p, c)| (p.as_str(), c.as_bytes()))
        .collect();
    let repo = Repo::new("parallel", &seeded);
    let before = repo.commit_count();
    let children: Vec<_> = models
        .iter()
        .map(|m| {
            let results = tempfile::tempdir().unwrap();
            let mut command = repo.command();
            command
                .args(["--model", m, "--env", "test", "--set", "version=1.0.0"])
                .arg("--results-dir")
                .arg(results.path())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped());
            (command.spawn().unwrap(), results)
        })
        .collect();
    for (child, _results) in children {
        let output = child.wait_with_output().unwrap();
        assert!(
            output.status.success(),
            "a bump failed:\n{}",
            stderr(&output)
        );
    }
    assert_eq!(
        repo.commit_count(),
        before + 8,
        "one commit per model, none lost"
    );
    for m in &models {
        let text = repo
            .file("main", &format!("model-deployments/test/{m}/config.yaml"))
            .unwrap();
        assert_eq!(text, format!("# {m}\nname: {m}\nversion: \"1.0.0\"\n"));
    }
    // Each new commit touches exactly one file, and each file is touched by one commit.
    let log = repo.git(&["log", "--format=@%H", "--name-only", "main~8..main"]);
    let mut files_per_commit = Vec::new();
    for line in log.lines().filter(|l| !l.is_empty()) {
        if line.starts_with('@') {
            files_per_commit.push(Vec::new());
        } else {
            files_per_commit.last_mut().unwrap().push(line.to_owned());
        }
    }
    assert_eq!(files_per_commit.len(), 8, "{log}");
    assert!(
        files_per_commit.iter().all(|files| files.len() == 1),
        "{log}"
    );
    let mut touched: Vec<&String> = files_per_commit.iter().flatten().collect();
    touched.sort();
    touched.dedup();
    assert_eq!(touched.len(), 8, "{log}");
}

#[test]
fn two_versions_of_one_file_at_once_both_land_in_history() {
    let repo = jukebox_repo("same-file");
    let before = repo.commit_count();
    let children: Vec<_> = ["2.0.0", "3.0.0"]
        .iter()
        .map(|version| {
            let mut command = repo.command();
            command
                .args(["--model", "jukebox", "--env", "test", "--set"])
                .arg(format!("version={version}"))
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped());
            command.spawn().unwrap()
        })
        .collect();
    for child in children {
        let output = child.wait_with_output().unwrap();
        assert!(
            output.status.success(),
            "a bump failed:\n{}",
            stderr(&output)
        );
    }
    assert_eq!(repo.commit_count(), before + 2);
    let history = repo.git(&["log", "-p", "main", "--", JUKEBOX]);
    assert!(history.contains("+version: \"2.0.0\""), "{history}");
    assert!(history.contains("+version: \"3.0.0\""), "{history}");
    let last = repo.file("main", JUKEBOX).unwrap();
    assert!(last.contains("version: \"2.0.0\"") || last.contains("version: \"3.0.0\""));
}

#[test]
fn push_branch_is_reset_onto_base_and_reused() {
    let repo = jukebox_repo("promote");
    let base = repo.head();
    let args = [
        "--model",
        "jukebox",
        "--env",
        "test",
        "--set",
        "version=4.0",
        "--push-branch",
        "promote/test/jukebox",
    ];
    let first = repo.bump(&args);
    first.assert_ok();
    let branch = repo
        .server
        .head(repo.name, "promote/test/jukebox")
        .expect("branch pushed");
    assert_eq!(first.result("COMMIT"), branch);
    assert_eq!(repo.head(), base, "the base branch is untouched");
    assert_eq!(
        repo.git(&["rev-parse", &format!("{branch}~1")]).trim(),
        base
    );
    // A re-run finds the same change on the branch and leaves it alone.
    let again = repo.bump(&args);
    again.assert_ok();
    assert_eq!(again.result("COMMIT"), branch);
    assert_eq!(
        repo.server.head(repo.name, "promote/test/jukebox").unwrap(),
        branch
    );
    // The push branch may never be the base branch.
    repo.bump(&[
        "--model",
        "jukebox",
        "--env",
        "test",
        "--set",
        "version=5",
        "--push-branch",
        "main",
    ])
    .assert_fails(2, &["must be a branch this tool owns"]);
}
