//! Gitea: the REST API with both tokens, git over HTTP, a pull request merged through the API, and a
//! webhook delivered to loopback.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::json;
use test_services::{GITEA_ADMIN_USER, Gitea};

#[test]
fn pull_request_is_opened_and_merged_through_the_api() {
    let started = Instant::now();
    let gitea = Gitea::start();
    eprintln!("Gitea ready after {:?}", started.elapsed());

    let version = gitea.api_with_token(None, "GET", "/version", None);
    assert_eq!(version.status, 200, "{:?}", version);
    eprintln!("Gitea version: {}", version.body["version"]);
    let me = gitea.api("GET", "/user", None).expect_success("GET /user");
    assert_eq!(me["login"], GITEA_ADMIN_USER);
    assert_eq!(me["is_admin"], true);

    let clone_url = gitea.create_repo("gitops");
    assert_eq!(clone_url, gitea.repo_url("gitops"));
    let first = gitea.push_files(
        "gitops",
        "main",
        &[(
            "model-deployments/test/jukebox/config.yaml",
            b"version: 1\n",
        )],
        "Seed",
    );
    let branch = gitea
        .api("GET", "/repos/gitops-admin/gitops/branches/main", None)
        .expect_success("GET main");
    assert_eq!(branch["commit"]["id"], first.as_str());

    let second = gitea.push_files(
        "gitops",
        "promote-jukebox-2",
        &[(
            "model-deployments/prod/jukebox/config.yaml",
            b"version: 2\n",
        )],
        "Promote jukebox 2 to prod",
    );
    assert_ne!(first, second);

    let pull = gitea
        .api(
            "POST",
            "/repos/gitops-admin/gitops/pulls",
            Some(&json!({
                "base": "main",
                "head": "promote-jukebox-2",
                "title": "Promote jukebox 2 to prod",
                "body": "candidate metrics",
            })),
        )
        .expect_success("open a pull request");
    let index = pull["number"].as_u64().expect("a pull request number");
    assert_eq!(pull["state"], "open");
    assert_eq!(pull["head"]["sha"], second.as_str());

    // The pull request between the two branches, found by its branches (Gitea >= 1.22).
    let found = gitea
        .api(
            "GET",
            "/repos/gitops-admin/gitops/pulls/main/promote-jukebox-2",
            None,
        )
        .expect_success("find the pull request by branches");
    assert_eq!(found["number"].as_u64(), Some(index));

    // Gitea checks mergeability in the background: merging right away can answer 405 for a moment.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let merged = gitea.api(
            "POST",
            &format!("/repos/gitops-admin/gitops/pulls/{index}/merge"),
            Some(&json!({"Do": "merge", "delete_branch_after_merge": false})),
        );
        if merged.status == 200 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "merge did not succeed: {merged:?}\n{}",
            gitea.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let pull = gitea
        .api(
            "GET",
            &format!("/repos/gitops-admin/gitops/pulls/{index}"),
            None,
        )
        .expect_success("read the merged pull request");
    assert_eq!(pull["merged"], true, "{pull}");
    assert_eq!(pull["state"], "closed");
    let merged_file = gitea
        .api(
            "GET",
            "/repos/gitops-admin/gitops/raw/model-deployments/prod/jukebox/config.yaml?ref=main",
            None,
        )
        .body;
    assert_eq!(merged_file, json!("version: 2\n"));
}

#[test]
fn tokens_are_checked_and_scoped() {
    let gitea = Gitea::start();
    gitea.create_repo("scoped");

    let anonymous = gitea.api_with_token(None, "GET", "/user", None);
    eprintln!("anonymous GET /user: {anonymous:?}");
    assert_eq!(anonymous.status, 401);
    let wrong = gitea.api_with_token(Some("0123456789abcdef"), "GET", "/user", None);
    eprintln!("unknown token GET /user: {wrong:?}");
    assert_eq!(wrong.status, 401);

    let read = gitea.api_with_token(
        Some(gitea.read_token()),
        "GET",
        "/repos/gitops-admin/scoped",
        None,
    );
    assert_eq!(read.status, 200, "{read:?}");
    let write = gitea.api_with_token(
        Some(gitea.read_token()),
        "POST",
        "/user/repos",
        Some(&json!({"name": "not-allowed"})),
    );
    eprintln!("read-only token POST /user/repos: {write:?}");
    assert_eq!(write.status, 403);

    let missing = gitea.api("GET", "/repos/gitops-admin/missing", None);
    eprintln!("GET unknown repository: {missing:?}");
    assert_eq!(missing.status, 404);

    // git over HTTP: the token is the password; without credentials a push is refused.
    gitea.push_files("scoped", "main", &[("a.txt", b"a\n")], "Add a");
    let work = tempfile::tempdir().unwrap();
    let anonymous_push = gitea
        .git_command()
        .env_remove("GIT_ASKPASS")
        .current_dir(work.path())
        .args(["clone", "--quiet", &gitea.repo_url("scoped"), "c"])
        .output()
        .unwrap();
    // Public repository: anonymous clone works; the push below needs the token.
    assert!(anonymous_push.status.success(), "{anonymous_push:?}");
    let push = gitea
        .git_command()
        .env_remove("GIT_ASKPASS")
        .current_dir(work.path().join("c"))
        .args(["push", "origin", "HEAD:refs/heads/anonymous"])
        .output()
        .unwrap();
    assert!(!push.status.success());
    eprintln!(
        "anonymous push: {}",
        String::from_utf8_lossy(&push.stderr).trim()
    );

    // The read-only token fetches but cannot push, neither through git nor the API.
    let read_only_url = gitea.repo_url("scoped").replace(
        "http://",
        &format!("http://{GITEA_ADMIN_USER}:{}@", gitea.read_token()),
    );
    let push = gitea
        .git_command()
        .env_remove("GIT_ASKPASS")
        .current_dir(work.path().join("c"))
        .args(["push", &read_only_url, "HEAD:refs/heads/read-only"])
        .output()
        .unwrap();
    assert!(!push.status.success());
    eprintln!(
        "push with the read-only token: {}",
        String::from_utf8_lossy(&push.stderr).trim()
    );
    let pull = gitea.api_with_token(
        Some(gitea.read_token()),
        "POST",
        "/repos/gitops-admin/scoped/pulls",
        Some(&json!({"base": "main", "head": "main", "title": "t"})),
    );
    eprintln!("read-only token POST .../pulls: {pull:?}");
    assert_eq!(pull.status, 403);

    let group = gitea.process_group();
    let work_dir = gitea.work_dir().to_path_buf();
    drop(gitea);
    assert_eq!(test_services::live_members(group), 0, "Gitea stops on drop");
    assert!(!work_dir.exists(), "its directory is removed");
}

#[test]
fn webhooks_reach_loopback() {
    let gitea = Gitea::start();
    gitea.create_repo("hooked");
    gitea.push_files("hooked", "main", &[("a.txt", b"a\n")], "Add a");

    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (sender, received) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream);
            let mut headers = Vec::new();
            let mut length = 0;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = value.trim().parse().unwrap_or(0);
                }
                headers.push(line.trim_end().to_string());
            }
            let mut body = vec![0; length];
            let _ = reader.read_exact(&mut body);
            let mut stream = reader.into_inner();
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
            let _ = sender.send((headers, body));
        }
    });

    let hook = gitea
        .api(
            "POST",
            "/repos/gitops-admin/hooked/hooks",
            Some(&json!({
                "type": "gitea",
                "active": true,
                "events": ["push", "pull_request"],
                "config": {
                    "url": format!("http://127.0.0.1:{port}/hook"),
                    "content_type": "json",
                    "secret": "s3cret",
                },
            })),
        )
        .expect_success("create a webhook");
    gitea.push_files("hooked", "main", &[("b.txt", b"b\n")], "Add b");
    let (headers, body) = received
        .recv_timeout(Duration::from_secs(60))
        .unwrap_or_else(|_| panic!("no webhook delivery for {hook}\n{}", gitea.log()));
    assert!(
        headers.iter().any(|h| h == "X-Gitea-Event: push"),
        "{headers:?}"
    );
    assert!(
        headers
            .iter()
            .any(|h| h.starts_with("X-Hub-Signature-256: sha256=")),
        "{headers:?}"
    );
    let payload: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(payload["ref"], "refs/heads/main");
}
