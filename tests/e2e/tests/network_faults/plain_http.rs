//! Tokens never go over plain HTTP to a host the user did not name: the step is a usage error
//! (exit 2) naming the flag to add, and the server is sent nothing at all.

use serde_json::json;
use test_fakes::kube::{FakeKube, ReadyAfter};
use test_fakes::kubeflow::FakeKubeflow;
use test_services::{FaultProxy, Mlflow};

use e2e::tool_run::*;

use super::scenery::*;

fn assert_untouched(proxy: &FaultProxy) {
    assert!(
        proxy.requests().is_empty(),
        "{} was sent {:?}",
        proxy.addr(),
        proxy.requests()
    );
}

#[test]
fn registry_label_refuses_plain_http_model_registries_and_kubernetes_apis() {
    let kubeflow = FakeKubeflow::start();
    let model = kubeflow.add_model("jukebox");
    kubeflow.add_version(&model, "v2", json!({}));
    let mlflow = Mlflow::shared();
    let kube = FakeKube::start(
        "test",
        "jukebox",
        "oci://registry.example/team/jukebox:v2",
        ReadyAfter::Requests(1),
    );
    let (_dir, token) = file_with(kubeflow.token());
    let (_dir2, kube_token) = file_with("kube-test-token");
    for (backend, upstream) in [("kubeflow", kubeflow.url()), ("mlflow", mlflow.url())] {
        let proxy = FaultProxy::start("127.0.0.1", &host_of(&upstream));
        label_v2_in_test(&proxy.url(), &token, &["--registry-kind", backend])
            .failed(2, &[&format!("--plain-http {}", proxy.addr())]);
        assert_untouched(&proxy);
    }

    // The Model Registry named, the Kubernetes API not: refused before the wait, nothing sent
    // to either.
    let registry = FaultProxy::start("127.0.0.1", &host_of(&kubeflow.url()));
    let api = FaultProxy::start("127.0.0.1", &host_of(&kube.url()));
    label_v2_in_test(
        &registry.url(),
        &token,
        &[
            "--wait-ready",
            "--kube-api-url",
            &api.url(),
            "--kube-token-file",
            path_str(&kube_token),
            "--plain-http",
            registry.addr(),
        ],
    )
    .failed(2, &[&format!("--plain-http {}", api.addr())]);
    assert_untouched(&api);
    assert_untouched(&registry);
    assert!(
        !kubeflow
            .custom_properties("jukebox", "v2")
            .contains_key("test")
    );
}

#[test]
fn pr_create_refuses_a_plain_http_model_registry_before_anything_is_written() {
    let (git, gitea) = gitops_on_gitea();
    let kubeflow = FakeKubeflow::start();
    let registry = FaultProxy::start("127.0.0.1", &host_of(&kubeflow.url()));
    let forge = FaultProxy::start("127.0.0.1", &host_of(&gitea.url()));
    let (_dir, token) = file_with(kubeflow.token());
    let git_host = host_of(&git.url());
    run(
        "pr-create",
        &pr_create_args(
            &forge.url(),
            &git,
            &[
                "--registry-url",
                &registry.url(),
                "--registry-token-file",
                path_str(&token),
                "--plain-http",
                &format!("{},{git_host}", forge.addr()),
            ],
        )
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>(),
        &PR_CREATE_ENV,
    )
    .failed(2, &[&format!("--plain-http {}", registry.addr())]);
    assert_untouched(&registry);
    assert_untouched(&forge);
    assert!(gitea.open_pulls(REPO).is_empty());
    assert!(git.head(REPO, "promote/prod/jukebox").is_none());
}
