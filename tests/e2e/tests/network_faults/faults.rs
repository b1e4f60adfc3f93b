//! Each tool through a proxy that drops a connection in the middle of a request body, answers
//! 5xx and 429 (with Retry-After) before the server applied the request, answers 5xx after it
//! did, and stalls. Every step ends in bounded time (the tools run with --idle-timeout 2 and are
//! killed at two minutes), and ends with one image, one commit, one pull request, one label move.

use std::process::Command;

use serde_json::{Value, json};
use test_fakes::kube::{FakeKube, ReadyAfter};
use test_fakes::kubeflow::FakeKubeflow;
use test_services::{Fault, FaultProxy, GitServer, Registry, Rule};

use e2e::tool_run::*;

use super::scenery::*;

fn every_fault_applied(proxy: &FaultProxy, expected: usize) {
    let applied = proxy.faults_applied();
    assert_eq!(
        applied.len(),
        expected,
        "faults applied: {applied:?}\nrequests: {:#?}",
        proxy
            .requests()
            .iter()
            .map(|r| format!("{} {}", r.method, r.target))
            .collect::<Vec<_>>()
    );
}

fn curl_json(url: &str) -> Value {
    let output = Command::new("curl")
        .args(["-sSf", url])
        .output()
        .expect("run curl");
    assert!(output.status.success(), "curl {url} failed");
    serde_json::from_slice(&output.stdout).expect("JSON from the registry")
}

#[test]
fn modelcar_build_pushes_one_image_through_every_fault() {
    let registry = Registry::start();
    let proxy = FaultProxy::start("127.0.0.1", &registry.host());
    for rule in [
        Rule::new(
            "POST",
            "/blobs/uploads/",
            Fault::Refuse {
                status: 503,
                retry_after: None,
            },
        ),
        Rule::new("PUT", "/blobs/uploads/", Fault::DropMidBody { after: 1000 }),
        Rule::new("PUT", "/blobs/uploads/", Fault::Stall { after: Some(2000) }),
        Rule::new(
            "HEAD",
            "/manifests/",
            Fault::Refuse {
                status: 429,
                retry_after: Some(1),
            },
        ),
        Rule::new(
            "PUT",
            "/manifests/sha256:",
            Fault::FailAfterApplying { status: 500 },
        ),
        Rule::new("PUT", "/manifests/v1", Fault::StallAfterApplying),
    ] {
        proxy.add_rule(rule);
    }
    let image = format!("{}/team/jukebox:v1", proxy.addr());
    let outcome = run(
        "modelcar-build",
        &[
            "--model-dir",
            &example_model(),
            "--base",
            "scratch",
            "--image",
            &image,
            "--plain-http",
            proxy.addr(),
            "--idle-timeout",
            IDLE_SECONDS,
        ],
        &[],
    );
    let outcome = outcome.ok();
    every_fault_applied(&proxy, 6);
    let digest = outcome.result("IMAGE_DIGEST");
    let tags = curl_json(&format!("{}/v2/team/jukebox/tags/list", registry.url()));
    assert_eq!(tags["tags"], json!(["v1"]));
    let head = Command::new("curl")
        .args([
            "-sSfI",
            "-H",
            "Accept: application/vnd.oci.image.manifest.v1+json",
            &format!("{}/v2/team/jukebox/manifests/v1", registry.url()),
        ])
        .output()
        .expect("run curl");
    let headers = String::from_utf8_lossy(&head.stdout).to_ascii_lowercase();
    assert!(
        headers.contains(&format!("docker-content-digest: {digest}")),
        "v1 does not point at {digest}:\n{headers}"
    );
}

#[test]
fn gitops_bump_makes_one_commit_through_every_fault() {
    let git = GitServer::start(GIT_USER, GIT_PASSWORD);
    git.create_repo("gitops");
    let seed = git.seed("gitops", &[("a.yaml", b"version: v1  # kept\n")], "Seed");
    let upstream = host_of(&git.url());
    let proxy = FaultProxy::start("127.0.0.1", &upstream);
    for rule in [
        Rule::new(
            "GET",
            "/info/refs",
            Fault::Refuse {
                status: 503,
                retry_after: None,
            },
        ),
        Rule::new("POST", "/git-upload-pack", Fault::Stall { after: None }),
        Rule::new(
            "POST",
            "/git-receive-pack",
            Fault::DropMidBody { after: 10 },
        ),
        Rule::new(
            "POST",
            "/git-receive-pack",
            Fault::FailAfterApplying { status: 502 },
        ),
    ] {
        proxy.add_rule(rule);
    }
    let (_dir, token) = file_with(GIT_PASSWORD);
    let bump = || {
        run(
            "gitops-bump",
            &[
                "--repo-url",
                &git.repo_url("gitops").replace(&upstream, proxy.addr()),
                "--file",
                "a.yaml",
                "--set",
                "version=v2",
                "--git-username",
                GIT_USER,
                "--git-token-file",
                path_str(&token),
                "--plain-http",
                proxy.addr(),
                "--idle-timeout",
                IDLE_SECONDS,
            ],
            &[],
        )
    };
    bump().ok();
    every_fault_applied(&proxy, 4);
    assert_eq!(
        git.file_at("gitops", "main", "a.yaml").as_deref(),
        Some(&b"version: v2  # kept\n"[..])
    );
    let tip = git.head("gitops", "main").expect("main exists");
    let count = Command::new("git")
        .arg("--git-dir")
        .arg(git.repo_dir("gitops"))
        .args(["rev-list", "--count", &format!("{seed}..{tip}")])
        .output()
        .expect("git rev-list");
    assert_eq!(
        String::from_utf8_lossy(&count.stdout).trim(),
        "1",
        "exactly one commit on top of the seed"
    );
    let outcome = bump();
    let outcome = outcome.ok();
    assert_eq!(outcome.result("CHANGED"), "false");
    assert_eq!(git.head("gitops", "main"), Some(tip));
}

#[test]
fn pr_create_opens_one_pull_request_through_every_fault() {
    let (git, gitea) = gitops_on_gitea();
    let proxy = FaultProxy::start("127.0.0.1", &host_of(&gitea.url()));
    for rule in [
        Rule::new(
            "GET",
            "/repos/team/gitops",
            Fault::Refuse {
                status: 503,
                retry_after: None,
            },
        ),
        Rule::new("GET", "/pulls", Fault::StallAfterApplying),
        Rule::new(
            "POST",
            "/pulls",
            Fault::Refuse {
                status: 429,
                retry_after: Some(1),
            },
        ),
        Rule::new("POST", "/pulls", Fault::FailAfterApplying { status: 500 }),
    ] {
        proxy.add_rule(rule);
    }
    let promote = || {
        run(
            "pr-create",
            &pr_create_args(
                &proxy.url(),
                &git,
                &["--plain-http", "127.0.0.1", "--idle-timeout", IDLE_SECONDS],
            )
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
            &PR_CREATE_ENV,
        )
    };
    promote().ok();
    every_fault_applied(&proxy, 4);
    let open = gitea.open_pulls(REPO);
    assert_eq!(open.len(), 1, "{open:?}");
    assert_eq!(gitea.pulls(REPO).len(), 1);
    promote().ok();
    assert_eq!(gitea.pulls(REPO).len(), 1);
}

#[test]
fn registry_label_moves_the_label_once_through_every_fault() {
    let kubeflow = FakeKubeflow::start();
    let model = kubeflow.add_model("jukebox");
    let label = json!({"metadataType": "MetadataStringValue", "string_value": ""});
    kubeflow.add_version(&model, "v1", json!({"test": label, "owner": {"metadataType": "MetadataStringValue", "string_value": "team"}}));
    kubeflow.add_version(&model, "v2", json!({}));
    let proxy = FaultProxy::start("127.0.0.1", &host_of(&kubeflow.url()));
    for rule in [
        Rule::new(
            "GET",
            "/",
            Fault::Refuse {
                status: 429,
                retry_after: Some(1),
            },
        ),
        Rule::new("GET", "/model_versions", Fault::StallAfterApplying),
        Rule::new("PATCH", "/", Fault::DropMidBody { after: 5 }),
        Rule::new("PATCH", "/", Fault::FailAfterApplying { status: 500 }),
    ] {
        proxy.add_rule(rule);
    }
    let (_dir, token) = file_with(kubeflow.token());
    let label_it = || {
        label_v2_in_test(
            &proxy.url(),
            &token,
            &["--plain-http", proxy.addr(), "--idle-timeout", IDLE_SECONDS],
        )
    };
    label_it().ok();
    every_fault_applied(&proxy, 4);
    let v1 = kubeflow.custom_properties("jukebox", "v1");
    let v2 = kubeflow.custom_properties("jukebox", "v2");
    assert!(!v1.contains_key("test"), "{v1:?}");
    assert!(v1.contains_key("owner"), "{v1:?}");
    assert!(v2.contains_key("test"), "{v2:?}");
    let patches = kubeflow.count("PATCH");
    label_it().ok();
    assert_eq!(kubeflow.count("PATCH"), patches, "a re-run wrote again");
}

/// `--wait-ready` polls a Kubernetes API that answers 503, then stalls twice (once before
/// answering, once after reading): each stalled poll is abandoned after the idle timeout and the
/// wait goes on, so the label still moves once the service is Ready.
#[test]
fn registry_label_waits_through_a_stalling_kubernetes_api() {
    let kubeflow = FakeKubeflow::start();
    let model = kubeflow.add_model("jukebox");
    kubeflow.add_version(&model, "v2", json!({}));
    let kube = FakeKube::start(
        "test",
        "jukebox",
        "oci://registry.example/team/jukebox:v2",
        ReadyAfter::Requests(2),
    );
    let proxy = FaultProxy::start("127.0.0.1", &host_of(&kube.url()));
    for rule in [
        Rule::new(
            "GET",
            "/inferenceservices/",
            Fault::Refuse {
                status: 503,
                retry_after: None,
            },
        ),
        Rule::new("GET", "/inferenceservices/", Fault::Stall { after: None }),
        Rule::new("GET", "/inferenceservices/", Fault::StallAfterApplying),
    ] {
        proxy.add_rule(rule);
    }
    let (_dir, token) = file_with(kubeflow.token());
    let (_dir2, kube_token) = file_with(kube.token());
    let outcome = label_v2_in_test(
        &kubeflow.url(),
        &token,
        &[
            "--wait-ready",
            "--wait-timeout",
            "90s",
            "--poll-interval",
            "1s",
            "--kube-api-url",
            &proxy.url(),
            "--kube-token-file",
            path_str(&kube_token),
            "--plain-http",
            "127.0.0.1",
            "--idle-timeout",
            IDLE_SECONDS,
        ],
    )
    .ok();
    every_fault_applied(&proxy, 3);
    assert!(
        kubeflow
            .custom_properties("jukebox", "v2")
            .contains_key("test"),
        "{}",
        outcome.stderr()
    );
    assert!(
        outcome.elapsed() < std::time::Duration::from_secs(60),
        "the stalls were not cut short: {:?}",
        outcome.elapsed()
    );
}
