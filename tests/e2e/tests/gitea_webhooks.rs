//! Webhook deliveries made by the real Gitea, through Tekton Triggers' own `github` and `cel`
//! interceptors, bindings and templates (the Tekton harness): a push to the model source repository
//! starts model-release for the pushed commit; merging the promotion pull request in the GitOps
//! repository starts post-deploy for that merge; a delivery checked against another secret starts
//! nothing.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use e2e::manifests::Manifests;
use e2e::tekton_harness::{Fired, Harness, webhook_secrets};
use serde_json::{Value, json};
use test_services::{GITEA_ADMIN_USER, Gitea};

const WEBHOOK_SECRET: &str = "gitea-webhook-S3cret";

/// One delivery: its headers and its body exactly as sent (the signature covers those bytes).
type Delivery = (BTreeMap<String, String>, String);

/// A local receiver for Gitea's webhooks, on loopback.
fn receiver() -> (u16, mpsc::Receiver<Delivery>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind the webhook receiver");
    let port = listener.local_addr().unwrap().port();
    let (sender, received) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream);
            let mut headers = BTreeMap::new();
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some((name, value)) = line.trim_end().split_once(": ") {
                    headers.insert(name.to_owned(), value.to_owned());
                }
            }
            let length = headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
                .and_then(|(_, v)| v.parse().ok())
                .unwrap_or(0);
            let mut body = vec![0; length];
            let _ = reader.read_exact(&mut body);
            let _ = reader
                .into_inner()
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
            let _ = sender.send((headers, String::from_utf8_lossy(&body).into_owned()));
        }
    });
    (port, received)
}

fn add_hook(gitea: &Gitea, repo: &str, port: u16) {
    gitea
        .api(
            "POST",
            &format!("/repos/{GITEA_ADMIN_USER}/{repo}/hooks"),
            Some(&json!({
                "type": "gitea",
                "active": true,
                "events": ["push"],
                "config": {
                    "url": format!("http://127.0.0.1:{port}/"),
                    "content_type": "json",
                    "secret": WEBHOOK_SECRET,
                },
            })),
        )
        .expect_success("add a webhook");
}

/// The next push delivery for `repo` (others, e.g. a branch's, are skipped).
fn next_push(received: &mpsc::Receiver<Delivery>, repo: &str, gitea: &Gitea) -> Delivery {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let (headers, body) = received
            .recv_timeout(left)
            .unwrap_or_else(|_| panic!("no push delivery for {repo}\n{}", gitea.log()));
        let event: Value = serde_json::from_str(&body).expect("a JSON delivery");
        if event["repository"]["name"] == repo && event["ref"] == "refs/heads/main" {
            return (headers, body);
        }
    }
}

fn through_tekton(
    harness: &Harness,
    manifests: &Manifests,
    listener: &str,
    (headers, body): &Delivery,
    secret: &str,
) -> Fired {
    let fired = harness
        .trigger(&json!({
            "files": [e2e::tekton_dir().display().to_string()],
            "eventListener": listener,
            "headers": headers,
            "body": body,
            "secrets": webhook_secrets(manifests, secret),
        }))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(fired.len(), 1, "{listener}: {fired:?}");
    fired.into_iter().next().unwrap()
}

fn pipeline_run_params(fired: &Fired) -> BTreeMap<String, String> {
    let run = &fired.resources[0];
    assert_eq!(run["kind"], "PipelineRun", "{run}");
    run["spec"]["params"]
        .as_array()
        .expect("params")
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap().to_owned(),
                p["value"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

#[test]
fn gitea_deliveries_start_the_pipelines_through_tektons_triggers() {
    let harness = Harness::get();
    let manifests = Manifests::load(&e2e::tekton_dir()).expect("tekton/ loads");
    let gitea = Gitea::start();
    let (port, received) = receiver();

    // A training commit pushed to the model source repository.
    gitea.create_repo("jukebox");
    gitea.push_files("jukebox", "main", &[("train.py", b"print(1)\n")], "Start");
    add_hook(&gitea, "jukebox", port);
    let commit = gitea.push_files("jukebox", "main", &[("model.onnx", b"v2")], "Train v2");
    let delivery = next_push(&received, "jukebox", &gitea);
    assert!(
        delivery.0.contains_key("X-Hub-Signature-256"),
        "Gitea signs with the secret: {:?}",
        delivery.0
    );
    let fired = through_tekton(
        &harness,
        &manifests,
        "model-source",
        &delivery,
        WEBHOOK_SECRET,
    );
    assert!(fired.passed, "{}", fired.reason);
    let run = &fired.resources[0];
    assert_eq!(run["spec"]["pipelineRef"]["name"], "model-release");
    let params = pipeline_run_params(&fired);
    assert_eq!(params["MODEL_NAME"], "jukebox");
    assert_eq!(params["VERSION"], commit);
    assert_eq!(params["SOURCE_REVISION"], commit);
    assert!(
        params["SOURCE_COMMIT_URL"].ends_with(&format!("/jukebox/commit/{commit}")),
        "{params:?}"
    );
    let forged = through_tekton(
        &harness,
        &manifests,
        "model-source",
        &delivery,
        "another-secret",
    );
    assert!(
        !forged.passed,
        "a delivery signed with another secret got through"
    );

    // The promotion pull request merged in the GitOps repository.
    gitea.create_repo("mlops-gitops");
    let before = gitea.push_files(
        "mlops-gitops",
        "main",
        &[(
            "model-deployments/prod/jukebox/config.yaml",
            b"version: v1\n",
        )],
        "Seed",
    );
    add_hook(&gitea, "mlops-gitops", port);
    gitea.push_files(
        "mlops-gitops",
        "promote/prod/jukebox",
        &[(
            "model-deployments/prod/jukebox/config.yaml",
            format!("version: {commit}\n").as_bytes(),
        )],
        "Promote jukebox to prod",
    );
    let pull = gitea
        .api(
            "POST",
            &format!("/repos/{GITEA_ADMIN_USER}/mlops-gitops/pulls"),
            Some(&json!({"base": "main", "head": "promote/prod/jukebox", "title": "Promote"})),
        )
        .expect_success("open the promotion pull request");
    let number = pull["number"].as_u64().unwrap();
    // Gitea checks mergeability in the background: a merge right away may answer 405 for a moment.
    let deadline = Instant::now() + Duration::from_secs(60);
    while gitea
        .api(
            "POST",
            &format!("/repos/{GITEA_ADMIN_USER}/mlops-gitops/pulls/{number}/merge"),
            Some(&json!({"Do": "merge"})),
        )
        .status
        != 200
    {
        assert!(Instant::now() < deadline, "merge failed\n{}", gitea.log());
        std::thread::sleep(Duration::from_millis(200));
    }
    let merge = next_push(&received, "mlops-gitops", &gitea);
    let fired = through_tekton(&harness, &manifests, "gitops", &merge, WEBHOOK_SECRET);
    assert!(fired.passed, "{}", fired.reason);
    assert_eq!(
        fired.resources[0]["spec"]["pipelineRef"]["name"],
        "post-deploy"
    );
    let params = pipeline_run_params(&fired);
    assert_eq!(params["BEFORE"], before);
    let main = gitea
        .api(
            "GET",
            &format!("/repos/{GITEA_ADMIN_USER}/mlops-gitops/branches/main"),
            None,
        )
        .expect_success("read main");
    assert_eq!(params["AFTER"], main["commit"]["id"].as_str().unwrap());
}
