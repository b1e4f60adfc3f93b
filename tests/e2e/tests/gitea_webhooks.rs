//! Webhook deliveries made by the real Gitea, through Tekton Triggers' own `github` and `cel`
//! interceptors, bindings and templates (the Tekton harness): a push to the model source repository
//! starts model-release for the pushed commit; merging the promotion pull request in the GitOps
//! repository starts post-deploy for that merge; a delivery checked against another secret starts
//! nothing.

use std::time::{Duration, Instant};

use e2e::manifests::Manifests;
use e2e::tekton_harness::{Fired, Harness};
use e2e::webhooks::{
    Delivery, WebhookReceiver, add_gitea_hook, pipeline_run_params, through_listener,
};
use serde_json::json;
use test_services::{GITEA_ADMIN_USER, Gitea};

const WEBHOOK_SECRET: &str = "gitea-webhook-S3cret";

fn add_hook(gitea: &Gitea, repo: &str, receiver: &WebhookReceiver) {
    add_gitea_hook(
        gitea,
        &format!("{GITEA_ADMIN_USER}/{repo}"),
        &receiver.url("hook"),
        WEBHOOK_SECRET,
    );
}

/// The next push delivery to main of `repo`.
fn next_push(receiver: &WebhookReceiver, repo: &str, gitea: &Gitea) -> Delivery {
    receiver
        .next_push(repo, Duration::from_secs(60))
        .unwrap_or_else(|| panic!("no push delivery for {repo}\n{}", gitea.log()))
}

fn through_tekton(
    harness: &Harness,
    manifests: &Manifests,
    listener: &str,
    delivery: &Delivery,
    secret: &str,
) -> Fired {
    let fired = through_listener(
        harness,
        &e2e::tekton_dir(),
        manifests,
        listener,
        delivery,
        secret,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(fired.len(), 1, "{listener}: {fired:?}");
    fired.into_iter().next().unwrap()
}

#[test]
fn gitea_deliveries_start_the_pipelines_through_tektons_triggers() {
    let harness = Harness::get();
    let manifests = Manifests::load(&e2e::tekton_dir()).expect("tekton/ loads");
    let gitea = Gitea::start();
    let receiver = WebhookReceiver::start();

    // A training commit pushed to the model source repository.
    gitea.create_repo("jukebox");
    gitea.push_files("jukebox", "main", &[("train.py", b"print(1)\n")], "Start");
    add_hook(&gitea, "jukebox", &receiver);
    let commit = gitea.push_files("jukebox", "main", &[("model.onnx", b"v2")], "Train v2");
    let delivery = next_push(&receiver, "jukebox", &gitea);
    assert!(
        delivery.headers.contains_key("X-Hub-Signature-256"),
        "Gitea signs with the secret: {:?}",
        delivery.headers
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
    add_hook(&gitea, "mlops-gitops", &receiver);
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
    let merge = next_push(&receiver, "mlops-gitops", &gitea);
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
