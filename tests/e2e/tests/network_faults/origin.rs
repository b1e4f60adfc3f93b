//! Credentials go only to their own origin (scheme, host, port). "Another host" is a proxy on
//! 127.0.0.2 that records what reaches it; both loopback hosts are named with --plain-http, so
//! only the origin rule stands between the credentials and the other host.

use serde_json::json;
use test_fakes::forge_support::FakePull;
use test_fakes::kube::{FakeKube, ReadyAfter};
use test_fakes::kubeflow::FakeKubeflow;
use test_services::{Fault, FaultProxy, GitServer, Mlflow, Registry, Rule};

use e2e::tool_run::*;

use super::scenery::*;

const REGISTRY_USER: &str = "ci";
const REGISTRY_PASSWORD: &str = "registry-Pa55-e1f2";

fn assert_no_credentials(other: &FaultProxy) {
    for request in other.requests() {
        for header in ["authorization", "private-token", "cookie"] {
            assert!(
                request.header(header).is_none(),
                "{} {} reached the other host with {header}: {:?}",
                request.method,
                request.target,
                request.headers
            );
        }
    }
}

/// Uploads that the registry sends to another host (object storage), and blob downloads it
/// redirects there (a CDN), get none of the registry's credentials; the push and the pull work.
#[test]
fn registry_credentials_stay_with_the_registry() {
    let registry = Registry::start_with_auth(REGISTRY_USER, REGISTRY_PASSWORD);
    let front = FaultProxy::start("127.0.0.1", &registry.host());
    let storage = FaultProxy::start("127.0.0.2", &registry.host());
    // What object storage accepts from a signed URL: stood in for by credentials the storage
    // proxy adds itself, so the registry behind it takes the upload.
    storage.inject_header("Authorization", &basic(REGISTRY_USER, REGISTRY_PASSWORD));
    front.rewrite_location(&front.url(), &storage.url());
    let (_auth_dir, auth) = auth_file(front.addr(), REGISTRY_USER, REGISTRY_PASSWORD);
    let plain = format!("{},{}", front.addr(), storage.addr());
    let base = format!("{}/team/base:v1", front.addr());

    run(
        "modelcar-build",
        &[
            "--model-dir",
            &example_model(),
            "--base",
            "scratch",
            "--image",
            &base,
            "--authfile",
            path_str(&auth),
            "--plain-http",
            &plain,
        ],
        &[],
    )
    .ok();
    let uploads = storage.requests();
    assert!(
        uploads.iter().any(|r| r.method == "PUT"),
        "the uploads did not go to the storage host: {uploads:?}"
    );
    assert!(
        front
            .requests()
            .iter()
            .any(|r| r.header("authorization").is_some()),
        "the registry itself got the credentials"
    );
    assert_no_credentials(&storage);

    // Blob downloads redirected to the storage host: building on the image just pushed reads
    // its config from there.
    front.add_rule(
        Rule::new(
            "GET",
            "/blobs/sha256:",
            Fault::RedirectTo {
                base: storage.url(),
            },
        )
        .times(100),
    );
    let before = storage.requests().len();
    run(
        "modelcar-build",
        &[
            "--model-dir",
            &example_model(),
            "--base",
            &base,
            "--image",
            &format!("{}/team/jukebox:v2", front.addr()),
            "--authfile",
            path_str(&auth),
            "--plain-http",
            &plain,
        ],
        &[],
    )
    .ok();
    let downloads: Vec<_> = storage.requests()[before..]
        .iter()
        .filter(|r| r.method == "GET")
        .cloned()
        .collect();
    assert!(
        !downloads.is_empty(),
        "no blob download was redirected to the storage host"
    );
    assert_no_credentials(&storage);
}

/// A git server that redirects to another host is not followed there with the token.
#[test]
fn git_redirects_to_another_host_are_not_followed() {
    let git = GitServer::start(GIT_USER, GIT_PASSWORD);
    git.create_repo("gitops");
    git.seed("gitops", &[("a.yaml", b"version: v1\n")], "Seed");
    let upstream = host_of(&git.url());
    let front = FaultProxy::start("127.0.0.1", &upstream);
    let other = FaultProxy::start("127.0.0.2", &upstream);
    front.add_rule(Rule::new("", "/info/refs", Fault::RedirectTo { base: other.url() }).times(100));
    let repo_url = git.repo_url("gitops").replace(&upstream, front.addr());
    let (_dir, token) = file_with(GIT_PASSWORD);
    run(
        "gitops-bump",
        &[
            "--repo-url",
            &repo_url,
            "--file",
            "a.yaml",
            "--set",
            "version=v2",
            "--git-username",
            GIT_USER,
            "--git-token-file",
            path_str(&token),
            "--plain-http",
            &format!("{},{}", front.addr(), other.addr()),
        ],
        &[],
    )
    .failed(1, &["another origin", other.addr()]);
    assert!(
        other.requests().is_empty(),
        "the other host was sent {:?}",
        other.requests()
    );
    assert_eq!(
        git.file_at("gitops", "main", "a.yaml").as_deref(),
        Some(&b"version: v1\n"[..])
    );
}

/// The forge, the Model Registry and the Kubernetes API: a redirect to another host ends the
/// step with a clear error, and the other host is sent nothing.
#[test]
fn api_redirects_to_another_host_are_not_followed() {
    let redirecting = |upstream: &str| {
        let front = FaultProxy::start("127.0.0.1", upstream);
        let other = FaultProxy::start("127.0.0.2", upstream);
        front.add_rule(Rule::new("", "/", Fault::RedirectTo { base: other.url() }).times(1000));
        (front, other)
    };

    // pr-create against Gitea.
    let (git, gitea) = gitops_on_gitea();
    let (front, other) = redirecting(&host_of(&gitea.url()));
    run(
        "pr-create",
        &pr_create_args(
            &front.url(),
            &git,
            &["--plain-http", &format!("127.0.0.1,{}", other.addr())],
        )
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>(),
        &PR_CREATE_ENV,
    )
    .failed(1, &["another origin"]);
    assert!(other.requests().is_empty(), "{:?}", other.requests());

    // registry-label against the Kubeflow Model Registry and MLflow.
    let kubeflow = FakeKubeflow::start();
    let model = kubeflow.add_model("jukebox");
    kubeflow.add_version(&model, "v2", json!({}));
    let mlflow = Mlflow::shared();
    for (backend, upstream, token) in [
        (
            "kubeflow",
            host_of(&kubeflow.url()),
            kubeflow.token().to_owned(),
        ),
        ("mlflow", mlflow.host(), "mlflow-token".to_owned()),
    ] {
        let (front, other) = redirecting(&upstream);
        let (_dir, token_file) = file_with(&token);
        label_v2_in_test(
            &front.url(),
            &token_file,
            &[
                "--registry-kind",
                backend,
                "--plain-http",
                &format!("127.0.0.1,{}", other.addr()),
            ],
        )
        .failed(1, &["another origin"]);
        assert!(
            other.requests().is_empty(),
            "{backend}: {:?}",
            other.requests()
        );
    }
    assert!(
        !kubeflow
            .custom_properties("jukebox", "v2")
            .contains_key("test")
    );

    // registry-label --wait-ready against the Kubernetes API.
    let kube = FakeKube::start(
        "test",
        "jukebox",
        "oci://registry.example/team/jukebox:v2",
        ReadyAfter::Never,
    );
    let (front, other) = redirecting(&host_of(&kube.url()));
    let (_dir, kube_token) = file_with("kube-test-token");
    let (_dir2, token_file) = file_with(kubeflow.token());
    label_v2_in_test(
        &kubeflow.url(),
        &token_file,
        &[
            "--wait-ready",
            "--wait-timeout",
            "5",
            "--kube-api-url",
            &front.url(),
            "--kube-token-file",
            path_str(&kube_token),
            "--plain-http",
            &format!("127.0.0.1,{}", other.addr()),
        ],
    )
    .failed(1, &["another origin"]);
    assert!(other.requests().is_empty(), "{:?}", other.requests());
}

/// A forge's `Link` answer naming another host for the next page is not followed there: the
/// clients page by number on the request's own URL, so the token never leaves the forge.
#[test]
fn forge_pagination_links_to_another_host_are_not_followed() {
    let (git, gitea) = gitops_on_gitea();
    for n in 0..60 {
        let head = format!("feature/{n}");
        gitea.insert_pull(REPO, FakePull::open(&head, "main", &head, ""));
    }
    let upstream = host_of(&gitea.url());
    let front = FaultProxy::start("127.0.0.1", &upstream);
    let other = FaultProxy::start("127.0.0.2", &upstream);
    front.rewrite_links(&format!("http://{upstream}"), &other.url());
    let plain = format!("127.0.0.1,{}", other.addr());
    let args = pr_create_args(&front.url(), &git, &["--plain-http", &plain]);
    run(
        "pr-create",
        &args.iter().map(String::as_str).collect::<Vec<_>>(),
        &PR_CREATE_ENV,
    )
    .ok();
    let second_pages: Vec<_> = front
        .requests()
        .into_iter()
        .filter(|r| r.target.contains("/pulls?") && r.target.contains("page=2"))
        .collect();
    assert!(
        !second_pages.is_empty(),
        "no second page of pull requests was read: {:?}",
        front.requests()
    );
    assert!(other.requests().is_empty(), "{:?}", other.requests());
    assert_eq!(gitea.open_pulls(REPO).len(), 61);

    // What the tool was answered: the next page on the other host.
    let page_one = format!(
        "{}/api/v1/repos/{REPO}/pulls?state=open&limit=50&page=1",
        front.url()
    );
    let head = std::process::Command::new("curl")
        .args(["-sS", "-o", "/dev/null", "-D", "-", &page_one])
        .output()
        .expect("run curl");
    let headers = String::from_utf8_lossy(&head.stdout).to_ascii_lowercase();
    assert!(
        headers.contains(&format!("<{}", other.url())),
        "the Link answer does not name the other host:\n{headers}"
    );
}
