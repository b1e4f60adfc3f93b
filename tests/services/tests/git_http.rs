//! The git smart-HTTP server: authenticated clone and push, declined pushes, concurrent pushes.

use std::path::Path;
use std::process::{Command, Output};
use std::time::Instant;

use test_services::GitServer;

fn output(command: &mut Command) -> Output {
    command.output().expect("run git")
}

fn ok(command: &mut Command) -> String {
    let out = output(command);
    assert!(
        out.status.success(),
        "{command:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn commit_file(server: &GitServer, work: &Path, file: &str, contents: &str, message: &str) {
    std::fs::write(work.join(file), contents).unwrap();
    ok(server
        .git_command()
        .current_dir(work)
        .args(["add", "--all"]));
    ok(server
        .git_command()
        .current_dir(work)
        .args([
            "-c",
            "user.name=Tester",
            "-c",
            "user.email=t@example.invalid",
        ])
        .args(["commit", "--quiet", "-m", message]));
}

#[test]
fn clone_and_push_need_credentials() {
    let started = Instant::now();
    let server = GitServer::start("gitops", "p4ss word'\"$");
    eprintln!("git HTTP server started in {:?}", started.elapsed());
    let url = server.create_repo("deployments");
    assert_eq!(url, format!("{}/deployments.git", server.url()));
    let seeded = server.seed(
        "deployments",
        &[
            ("test/jukebox/config.yaml", b"version: 1\n"),
            ("README.md", b"hi\n"),
        ],
        "Seed",
    );
    assert_eq!(
        server.head("deployments", "main").as_deref(),
        Some(seeded.as_str())
    );

    let tmp = tempfile::tempdir().unwrap();
    let anonymous = output(
        server
            .git_command_without_credentials()
            .arg("clone")
            .arg(&url)
            .arg(tmp.path().join("anon")),
    );
    assert!(
        !anonymous.status.success(),
        "clone without credentials must fail"
    );
    assert!(
        String::from_utf8_lossy(&anonymous.stderr).contains("Authentication failed")
            || String::from_utf8_lossy(&anonymous.stderr).contains("could not read Username")
    );

    let work = tmp.path().join("work");
    ok(server
        .git_command()
        .arg("clone")
        .arg("--quiet")
        .arg(&url)
        .arg(&work));
    assert_eq!(
        std::fs::read_to_string(work.join("test/jukebox/config.yaml")).unwrap(),
        "version: 1\n"
    );

    // The hook sees the authenticated user: git-http-backend gets REMOTE_USER from lighttpd.
    let pusher = tmp.path().join("pusher");
    let record_pusher = format!("echo \"$REMOTE_USER\" > '{}'\n", pusher.display());
    server.install_pre_receive_hook("deployments", &record_pusher);
    commit_file(
        &server,
        &work,
        "test/jukebox/config.yaml",
        "version: 2\n",
        "Bump to 2",
    );
    let anonymous_push = output(
        server
            .git_command_without_credentials()
            .current_dir(&work)
            .args(["push", "origin", "main"]),
    );
    assert!(
        !anonymous_push.status.success(),
        "push without credentials must fail"
    );
    assert_eq!(
        server.head("deployments", "main").as_deref(),
        Some(seeded.as_str())
    );

    ok(server
        .git_command()
        .current_dir(&work)
        .args(["push", "--quiet", "origin", "main"]));
    let pushed = ok(server
        .git_command()
        .current_dir(&work)
        .args(["rev-parse", "HEAD"]));
    assert_eq!(
        server.head("deployments", "main"),
        Some(pushed.trim().to_string())
    );
    assert_eq!(
        server
            .file_at("deployments", "main", "test/jukebox/config.yaml")
            .unwrap(),
        b"version: 2\n"
    );
    assert_eq!(
        server.file_at("deployments", "main", "README.md").unwrap(),
        b"hi\n"
    );

    // The bare repository sees the commit, and the log names the authenticated user.
    let log = ok(server
        .git_command()
        .arg("--git-dir")
        .arg(server.repo_dir("deployments"))
        .args(["log", "--format=%s"]));
    assert_eq!(log, "Bump to 2\nSeed\n");
    assert_eq!(std::fs::read_to_string(&pusher).unwrap(), "gitops\n");
    assert!(
        !server.log().contains("p4ss"),
        "the password is never logged"
    );

    // Seeding again builds on the pushed commit.
    let second = server.seed(
        "deployments",
        &[("prod/jukebox/config.yaml", b"version: 1\n")],
        "Seed prod",
    );
    assert_eq!(server.head("deployments", "main"), Some(second));
    assert_eq!(
        server
            .file_at("deployments", "main", "test/jukebox/config.yaml")
            .unwrap(),
        b"version: 2\n"
    );
}

#[test]
fn pre_receive_hook_declines_pushes() {
    let server = GitServer::start("u", "p");
    let url = server.create_repo("org/protected");
    let seeded = server.seed("org/protected", &[("a.txt", b"a\n")], "Seed");
    server.install_pre_receive_hook("org/protected", "echo 'pushes are frozen' >&2\nexit 1\n");

    let tmp = tempfile::tempdir().unwrap();
    let work = tmp.path().join("work");
    ok(server
        .git_command()
        .arg("clone")
        .arg("--quiet")
        .arg(&url)
        .arg(&work));
    commit_file(&server, &work, "a.txt", "b\n", "Change");
    let push = output(
        server
            .git_command()
            .current_dir(&work)
            .args(["push", "origin", "main"]),
    );
    assert!(!push.status.success());
    let stderr = String::from_utf8_lossy(&push.stderr);
    assert!(
        stderr.contains("pushes are frozen") && stderr.contains("pre-receive hook declined"),
        "{stderr}"
    );
    assert_eq!(server.head("org/protected", "main"), Some(seeded));
}

#[test]
fn eight_concurrent_pushes_all_land() {
    let server = GitServer::start("u", "p");
    let url = server.create_repo("busy");
    server.seed("busy", &[("base.txt", b"base\n")], "Seed");
    let tmp = tempfile::tempdir().unwrap();

    let clones: Vec<_> = (0..8u64)
        .map(|i| {
            let work = tmp.path().join(format!("w{i}"));
            ok(server
                .git_command()
                .arg("clone")
                .arg("--quiet")
                .arg(&url)
                .arg(&work));
            // 4 MB of incompressible bytes: more than http.postBuffer, so git sends the push chunked.
            std::fs::write(work.join("model.bin"), pseudo_random_bytes(i + 1, 4 << 20)).unwrap();
            commit_file(&server, &work, &format!("f{i}.txt"), "x\n", "Work");
            work
        })
        .collect();
    let started = Instant::now();
    let pushes: Vec<_> = clones
        .iter()
        .enumerate()
        .map(|(i, work)| {
            let refspec = format!("HEAD:refs/heads/branch-{i}");
            server
                .git_command()
                .current_dir(work)
                .args(["push", "--quiet", "origin", &refspec])
                .spawn()
                .unwrap()
        })
        .collect();
    for mut push in pushes {
        assert!(push.wait().unwrap().success(), "log:\n{}", server.log());
    }
    eprintln!("8 concurrent 4 MiB pushes took {:?}", started.elapsed());
    for i in 0..8 {
        assert!(
            server.head("busy", &format!("branch-{i}")).is_some(),
            "branch-{i} landed"
        );
    }
}

/// xorshift64: fast bytes that zlib cannot shrink.
fn pseudo_random_bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}
