//! What a bump writes: exact bytes, strings, idempotency, creation, and refusals.

use super::*;

#[test]
fn happy_path_changes_only_the_values() {
    let repo = jukebox_repo("happy");
    let seed = repo.head();
    let tmp = tempfile::tempdir().unwrap();
    let mut command = repo.command();
    command.env("TMPDIR", tmp.path()).args([
        "--model",
        "jukebox",
        "--env",
        "test",
        "--set",
        "version=1234567",
        "--set",
        "image_namespace=team-test-2",
        "--source-commit",
        "0a1b2c3d",
        "--author-name",
        "Tekton 🐈",
        "--author-email",
        "tekton@mlops.example",
    ]);
    let run = Run::of(command);
    run.assert_ok();
    assert_eq!(
        std::fs::read_dir(tmp.path()).unwrap().count(),
        0,
        "the work directory is removed"
    );
    let head = repo.head();
    assert_ne!(head, seed);
    assert_eq!(run.result("COMMIT"), head);
    assert_eq!(run.result("CHANGED"), "true");
    assert_eq!(run.result("FILE"), JUKEBOX);
    assert_eq!(
        run.result("IMAGE_DIGEST"),
        "",
        "no --digest, no digest written"
    );

    let expected = CONFIG
        .replace("version: \"v0.9\"", "version: \"1234567\"")
        .replace(
            "image_namespace: team-test\n",
            "image_namespace: team-test-2\n",
        );
    assert_eq!(repo.file("main", JUKEBOX).unwrap(), expected);

    // One commit on top of the seed, by the configured author, with a message that explains it.
    assert_eq!(repo.git(&["rev-parse", "main~1"]).trim(), seed);
    let log = repo.git(&["log", "-1", "--format=%an <%ae>%n%cn%n%B", "main"]);
    assert!(
        log.starts_with("Tekton 🐈 <tekton@mlops.example>\nTekton 🐈\n"),
        "{log}"
    );
    assert!(
        log.contains("Deploy jukebox 1234567 to test (was v0.9)"),
        "{log}"
    );
    assert!(log.contains("Source-Commit: 0a1b2c3d"), "{log}");
    assert!(
        log.contains("image_namespace: team-test -> team-test-2"),
        "{log}"
    );
    // The diff is in the log, and no secret anywhere in the output.
    assert!(
        run.stderr().contains("+version: \"1234567\""),
        "{}",
        run.stderr()
    );
    assert!(!run.stderr().contains(PASSWORD));
    assert!(!run.stdout().contains(PASSWORD));
}

/// The digest is written beside the version and reported, also by a re-run that finds it there.
#[test]
fn the_digest_written_is_reported() {
    let repo = jukebox_repo("digest");
    let digest = format!("sha256:{}", "4d".repeat(32));
    let args = [
        "--model",
        "jukebox",
        "--env",
        "test",
        "--set",
        "version=1234567",
        "--digest",
        &digest,
    ];
    let first = repo.bump(&args);
    first.assert_ok();
    assert_eq!(first.result("IMAGE_DIGEST"), digest);
    assert!(
        repo.file("main", JUKEBOX)
            .unwrap()
            .contains(&format!("image_digest: {digest}")),
        "{}",
        repo.file("main", JUKEBOX).unwrap()
    );
    let again = repo.bump(&args);
    again.assert_ok();
    assert_eq!(again.result("CHANGED"), "false");
    assert_eq!(again.result("IMAGE_DIGEST"), digest);
}

#[test]
fn crlf_and_nested_keys_stay_exact() {
    let crlf = "# values\r\nimage:\r\n  repository: quay.io/team/jukebox\r\n  tag: '1.0' # pinned\r\nreplicas: 2\r\n";
    let repo = Repo::new("crlf", &[("apps/jukebox/values.yaml", crlf.as_bytes())]);
    repo.bump(&[
        "--file",
        "apps/jukebox/values.yaml",
        "--set",
        "image.tag=2.0",
        "--set",
        "image.digest=sha256:abc",
    ])
    .assert_ok();
    let text = repo.file("main", "apps/jukebox/values.yaml").unwrap();
    assert_eq!(
        text,
        "# values\r\nimage:\r\n  repository: quay.io/team/jukebox\r\n  tag: '2.0' # pinned\r\n  digest: sha256:abc\r\nreplicas: 2\r\n"
    );
}

#[test]
fn values_always_read_back_as_strings() {
    let repo = jukebox_repo("strings");
    let values = [
        "1234567",
        "1e3",
        "0x1F",
        "true",
        "null",
        "012",
        "~",
        "2024-01-01",
        "yes",
    ];
    let mut args = vec!["--model", "jukebox", "--env", "test"];
    let sets: Vec<String> = values
        .iter()
        .enumerate()
        .map(|(i, v)| format!("labels.v{i}={v}"))
        .collect();
    for set in &sets {
        args.extend(["--set", set.as_str()]);
    }
    repo.bump(&args).assert_ok();
    let text = repo.file("main", JUKEBOX).unwrap();
    assert!(text.starts_with(CONFIG), "appended only:\n{text}");
    let parsed: serde_json::Value = serde_saphyr::from_str(&text).unwrap();
    for (i, value) in values.iter().enumerate() {
        assert_eq!(parsed["labels"][format!("v{i}")], *value, "{text}");
    }
}

#[test]
fn unchanged_values_make_no_commit() {
    let repo = jukebox_repo("unchanged");
    repo.bump(&[
        "--model",
        "jukebox",
        "--env",
        "test",
        "--set",
        "version=1.2.3",
    ])
    .assert_ok();
    let head = repo.head();
    let count = repo.commit_count();
    let again = repo.bump(&[
        "--model",
        "jukebox",
        "--env",
        "test",
        "--set",
        "version=1.2.3",
    ]);
    again.assert_ok();
    assert_eq!(again.result("CHANGED"), "false");
    assert_eq!(again.result("COMMIT"), head);
    assert_eq!(repo.head(), head);
    assert_eq!(repo.commit_count(), count);
    // Values that are already there from the start: no commit either.
    let untouched = repo.bump(&[
        "--model",
        "jukebox",
        "--env",
        "test",
        "--set",
        "name=jukebox",
    ]);
    untouched.assert_ok();
    assert_eq!(untouched.result("CHANGED"), "false");
    assert_eq!(repo.commit_count(), count);
}

#[test]
fn create_is_explicit() {
    let repo = Repo::new(
        "create",
        &[
            (JUKEBOX, CONFIG.as_bytes()),
            ("model-deployments/prod/jukebox/config.yaml", b"---\n"),
        ],
    );
    let seed = repo.head();
    let new_file = "model-deployments/test/whisper/config.yaml";
    repo.bump(&[
        "--model",
        "whisper",
        "--env",
        "test",
        "--set",
        "version=1.0",
    ])
    .assert_fails(2, &[new_file, "does not exist", "--create"]);
    repo.bump(&[
        "--model",
        "jukebox",
        "--env",
        "prod",
        "--set",
        "version=1.0",
    ])
    .assert_fails(
        2,
        &[
            "model-deployments/prod/jukebox/config.yaml",
            "holds no YAML document",
            "--create",
        ],
    );
    assert_eq!(repo.head(), seed);

    let args = |model: &str, env: &str| {
        vec![
            "--model".to_owned(),
            model.to_owned(),
            "--env".to_owned(),
            env.to_owned(),
            "--create".to_owned(),
            "--set".to_owned(),
            "chart_path=charts/model-serving".to_owned(),
            "--set".to_owned(),
            format!("name={model}"),
            "--set".to_owned(),
            "version=0123".to_owned(),
        ]
    };
    let run = repo.bump(
        &args("whisper", "test")
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    );
    run.assert_ok();
    assert_eq!(run.result("CHANGED"), "true");
    let created = repo.file("main", new_file).unwrap();
    let value: serde_json::Value = serde_saphyr::from_str(&created).unwrap();
    assert_eq!(value["version"], "0123", "{created}");
    assert_eq!(value["name"], "whisper");
    assert_eq!(value["chart_path"], "charts/model-serving");

    repo.bump(
        &args("jukebox", "prod")
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    )
    .assert_ok();
    let filled = repo
        .file("main", "model-deployments/prod/jukebox/config.yaml")
        .unwrap();
    assert!(filled.starts_with("---\n"), "{filled}");
    let value: serde_json::Value = serde_saphyr::from_str(&filled).unwrap();
    assert_eq!(value["version"], "0123", "{filled}");
}

#[test]
fn bad_inputs_are_clear_and_commit_nothing() {
    let files: &[(&str, &str)] = &[
        ("bad/malformed.yaml", "name: jukebox\nversion: [1.0\n"),
        ("bad/block.yaml", "version: |\n  1.0\n"),
        ("bad/alias.yaml", "base: &v 1.0\nversion: *v\n"),
        ("bad/multi.yaml", "version: 1.0\n---\nversion: 2.0\n"),
        ("bad/duplicate.yaml", "version: 1.0\nversion: 2.0\n"),
        ("bad/sequence.yaml", "version:\n  - 1.0\n"),
        ("bad/mapping.yaml", "version:\n  major: 1\n"),
    ];
    let seeded: Vec<(&str, &[u8])> = files.iter().map(|(p, c)| (*p, c.as_bytes())).collect();
    let repo = Repo::new("bad", &seeded);
    let seed = repo.head();
    let cases: &[(&str, &[&str])] = &[
        (
            "bad/malformed.yaml",
            &["bad/malformed.yaml", "line 2", "nothing was committed"],
        ),
        (
            "bad/block.yaml",
            &["bad/block.yaml", "block scalar", "column"],
        ),
        ("bad/alias.yaml", &["bad/alias.yaml", "alias", "line 2"]),
        (
            "bad/multi.yaml",
            &["bad/multi.yaml", "more than one YAML document", "line 2"],
        ),
        (
            "bad/duplicate.yaml",
            &["bad/duplicate.yaml", "defined twice", "line 2"],
        ),
        (
            "bad/sequence.yaml",
            &["bad/sequence.yaml", "sequence", "line 2"],
        ),
        (
            "bad/mapping.yaml",
            &["bad/mapping.yaml", "mapping", "line 2"],
        ),
    ];
    for (file, needles) in cases {
        repo.bump(&["--file", file, "--set", "version=2.0"])
            .assert_fails(2, needles);
    }
    // Bad flags: no KEY=VALUE, an escaping path, a bad branch, a missing branch, nothing to locate the file.
    repo.bump(&["--file", "bad/block.yaml", "--set", "version"])
        .assert_fails(2, &["not KEY=VALUE"]);
    repo.bump(&["--file", "../etc/passwd", "--set", "version=1"])
        .assert_fails(2, &["must be relative"]);
    repo.bump(&[
        "--file",
        "bad/block.yaml",
        "--set",
        "version=1",
        "--digest",
        "sha256:not-a-digest",
    ])
    .assert_fails(2, &["--digest", "not an image digest"]);
    repo.bump(&["--model", "jukebox", "--set", "version=1"])
        .assert_fails(2, &["--model and --env"]);
    repo.bump(&[
        "--file",
        "bad/block.yaml",
        "--branch",
        "no..pe",
        "--set",
        "version=1",
    ])
    .assert_fails(2, &["not a valid branch name"]);
    repo.bump(&[
        "--file",
        "bad/block.yaml",
        "--branch",
        "release",
        "--set",
        "version=1",
    ])
    .assert_fails(1, &["branch release not found"]);
    assert_eq!(repo.head(), seed, "a failed bump must not push anything");
}
