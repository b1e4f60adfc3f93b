//! model-trace end to end: the real binary against a real image registry (images pushed by
//! modelcar-build), a real git server holding the GitOps repository, the real Kubeflow Model Registry
//! (written by registry-label, as the pipeline does), and the fake Kubernetes API serving the
//! InferenceService. Every layer agrees, then one disagreement at a time is made the way it happens
//! in practice, and found.

mod promotion;

use e2e::tool_run::{GIT_PASSWORD, GIT_USER, Outcome, example_model, host_of, run};
use serde_json::Value;
use test_fakes::kube::{FakeKube, ReadyAfter};
use test_services::{GitServer, ModelRegistry, Registry};

const MODEL: &str = "jukebox";
const PROD: &str = "model-deployments/prod/jukebox/config.yaml";
const SOURCE_REPO: &str = "https://git.example.com/team/jukebox.git";
const SRC1: &str = "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678";
const SRC2: &str = "f6e5d4c3b2a1908172635445362718093a4b5c6d";
const SRC3: &str = "0a0b0c0d0e0f101112131415161718191a1b1c1d";

/// The version names: the source commit's first ten characters, as the workshop's KFP registers them.
fn version(source_commit: &str) -> &str {
    &source_commit[..10]
}

/// jukebox's versions 1 and 2 built and pushed, prod deployed from 1 then promoted to 2 in Git,
/// labelled in the Model Registry as post-deploy does, and served by the cluster.
struct Scene {
    registry: Registry,
    git: GitServer,
    model_registry: ModelRegistry,
    kube: FakeKube,
    repo: String,
    digest1: String,
    digest2: String,
}

impl Scene {
    fn new() -> Scene {
        let registry = Registry::start();
        let repo = format!("{}/team/{MODEL}", registry.host());
        let git = GitServer::start(GIT_USER, GIT_PASSWORD);
        git.create_repo("gitops");
        let model_registry = ModelRegistry::start();
        let mut scene = Scene {
            kube: FakeKube::start("prod", MODEL, "", ReadyAfter::Requests(1)),
            registry,
            git,
            model_registry,
            repo,
            digest1: String::new(),
            digest2: String::new(),
        };
        scene.digest1 = scene.push(SRC1, SRC1);
        scene.digest2 = scene.push(SRC2, SRC2);
        scene.deploy(
            SRC1,
            &scene.digest1.clone(),
            "Deploy jukebox a1b2c3d4e5 to prod",
        );
        scene.label(SRC1, &scene.digest1.clone());
        scene.deploy(
            SRC2,
            &scene.digest2.clone(),
            "Promote jukebox f6e5d4c3b2 to prod",
        );
        scene.label(SRC2, &scene.digest2.clone());
        scene
            .kube
            .set_storage_uri(&format!("oci://{}@{}", scene.repo, scene.digest2));
        scene
    }

    /// modelcar-build pushes the example model as `tag`'s version, built from `revision`.
    fn push(&self, tag: &str, revision: &str) -> String {
        run(
            "modelcar-build",
            &[
                "--model-dir",
                &example_model(),
                "--image",
                &self.repo,
                "--tag",
                version(tag),
                "--source-commit",
                revision,
                "--source-repo",
                SOURCE_REPO,
                "--base",
                "scratch",
                "--plain-http",
                &self.registry.host(),
            ],
            &[("SOURCE_DATE_EPOCH", "1767225600")],
        )
        .ok()
        .result("IMAGE_DIGEST")
    }

    /// A commit on main setting prod's config to the version built from `source_commit`.
    fn deploy(&self, source_commit: &str, digest: &str, message: &str) -> String {
        let config = format!(
            "# jukebox in prod\nname: {MODEL}\nversion: \"{}\"\nimage_repository: {}\n\
             image_namespace: team\nimage_digest: {digest}\n",
            version(source_commit),
            self.registry.host()
        );
        self.git
            .seed("gitops", &[(PROD, config.as_bytes())], message)
    }

    /// registry-label records that prod runs the version (registering it with its artifact).
    fn label(&self, source_commit: &str, digest: &str) {
        let image = format!("{}:{}@{digest}", self.repo, version(source_commit));
        run(
            "registry-label",
            &[
                "--registry-url",
                &self.model_registry.url(),
                "--plain-http",
                "127.0.0.1",
                "--model",
                MODEL,
                "--model-version",
                version(source_commit),
                "--env",
                "prod",
                "--image",
                &image,
                "--register",
                "--source-commit",
                source_commit,
                "--source-repo",
                SOURCE_REPO,
            ],
            &[],
        )
        .ok();
    }

    /// model-trace for jukebox in prod, every source given; `extra` flags last.
    fn trace(&self, extra: &[&str]) -> Outcome {
        self.trace_with(&self.kube, extra)
    }

    /// The same against another Kubernetes API.
    fn trace_with(&self, kube: &FakeKube, extra: &[&str]) -> Outcome {
        self.trace_target(kube, &["--model", MODEL, "--env", "prod"], extra)
    }

    /// model-trace for `target` (--model/--env, or --deployments).
    fn trace_target(&self, kube: &FakeKube, target: &[&str], extra: &[&str]) -> Outcome {
        let repo_url = self.git.repo_url("gitops");
        let mut args = target.to_vec();
        args.extend([
            "--repo-url",
            &repo_url,
            "--git-username",
            GIT_USER,
            "--plain-http",
            "127.0.0.1",
            "--idle-timeout",
            "10",
        ]);
        let (registry_url, kube_url) = (self.model_registry.url(), kube.url());
        args.extend(["--registry-url", &registry_url, "--kube-api-url", &kube_url]);
        args.extend(extra);
        run(
            "model-trace",
            &args,
            &[
                ("MODELCAR_GIT_TOKEN", GIT_PASSWORD),
                ("MODELCAR_KUBE_TOKEN", kube.token()),
                ("MODELCAR_REGISTRY_KIND", "kubeflow"),
            ],
        )
    }

    /// model-trace with the JSON report on stdout, which must be JSON and nothing else.
    fn trace_json(&self, extra: &[&str]) -> (Outcome, Value) {
        self.trace_json_with(&self.kube, extra)
    }

    fn trace_json_with(&self, kube: &FakeKube, extra: &[&str]) -> (Outcome, Value) {
        let mut args = vec!["--output", "json"];
        args.extend(extra);
        let outcome = self.trace_with(kube, &args);
        let report = serde_json::from_str(&outcome.run.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not one JSON document ({e}):\n{}\nstderr:\n{}",
                outcome.run.stdout,
                outcome.stderr()
            )
        });
        (outcome, report)
    }
}

fn codes(report: &Value) -> Vec<&str> {
    report["findings"]
        .as_array()
        .expect("a findings list")
        .iter()
        .map(|f| f["code"].as_str().unwrap())
        .collect()
}

fn assert_contains(text: &str, needles: &[&str]) {
    for needle in needles {
        assert!(text.contains(needle), "lacks {needle:?}:\n{text}");
    }
}

#[test]
fn every_layer_agrees() {
    let scene = Scene::new();
    let promoted = scene.git.head("gitops", "main").unwrap();
    let outcome = scene.trace(&[]).ok();
    assert_eq!(outcome.result("DRIFT"), "false");
    let table = &outcome.run.stdout;
    assert_contains(
        table,
        &[
            "jukebox in prod",
            "LAYER",
            version(SRC2),
            &scene.digest2,
            &promoted[..12],
            "Test Seeder",
            "Promote jukebox f6e5d4c3b2 to prod",
            &format!("{}:{}", scene.repo, version(SRC2)),
            "2026-01-01T00:00:00Z",
            SRC2,
            SOURCE_REPO,
            "Kubeflow Model Registry",
            &format!("oci://{}@{}", scene.repo, scene.digest2),
            "deployed.prod.source_commit",
            "prod/jukebox",
            "No drift",
            "DRIFT=false",
        ],
    );
    // The previous version, which a rollback would go back to.
    assert_contains(table, &[&format!("{}, set by", version(SRC1))]);
    for layer in ["gitops", "image", "source", "model registry", "cluster"] {
        let line = table
            .lines()
            .find(|l| l.starts_with(layer))
            .unwrap_or_else(|| panic!("no {layer} row:\n{table}"));
        assert!(line.contains(" ok "), "{line}");
    }
    // Without --forge the promotion is not checked, and the note says what to give.
    let promotion = table.lines().find(|l| l.starts_with("promotion")).unwrap();
    assert!(promotion.contains("not checked"), "{table}");
    assert_contains(table, &["give --forge, --forge-repo"]);

    let report_dir = tempfile::tempdir().unwrap();
    let report_file = report_dir.path().join("trace.json");
    let (outcome, report) = scene.trace_json(&["--report-file", report_file.to_str().unwrap()]);
    let outcome = outcome.ok();
    assert_eq!(outcome.result("DRIFT"), "false");
    let from_file: Value =
        serde_json::from_str(&std::fs::read_to_string(&report_file).unwrap()).unwrap();
    assert_eq!(from_file, report);
    assert_eq!(report["drift"], false);
    assert_eq!(codes(&report), Vec::<&str>::new());
    let git = &report["gitops"];
    assert_eq!(git["status"], "ok");
    assert_eq!(git["version"], version(SRC2));
    assert_eq!(git["image_digest"], scene.digest2.as_str());
    assert_eq!(git["set_by"]["commit"], promoted.as_str());
    assert_eq!(git["previous_version"], version(SRC1));
    let image = &report["image"];
    assert_eq!(image["tag_digest"], scene.digest2.as_str());
    assert_eq!(image["pinned_found"], true);
    assert_eq!(image["revision"], SRC2);
    assert_eq!(report["source"]["recorded_commit"], SRC2);
    let registry = &report["model_registry"];
    assert_eq!(registry["status"], "ok");
    assert_eq!(registry["labels"], serde_json::json!(["prod"]));
    assert_eq!(registry["env_versions"], serde_json::json!([version(SRC2)]));
    assert_eq!(
        registry["artifact_uri"],
        format!("oci://{}@{}", scene.repo, scene.digest2)
    );
    assert_eq!(report["promotion"]["status"], "not_checked");
    assert_eq!(report["cluster"]["ready"], true);
    assert_eq!(report["cluster"]["digest"], scene.digest2.as_str());
}

#[test]
fn a_version_tag_pushed_again_to_another_image_is_drift() {
    let scene = Scene::new();
    // A rebuild from another commit pushed under the deployed version's tag.
    let moved = scene.push(SRC2, SRC3);
    assert_ne!(moved, scene.digest2);
    let outcome = scene.trace(&[]).failed(
        1,
        &[
            &format!("tag {}:{}", scene.repo, version(SRC2)),
            &moved,
            &scene.digest2,
            "drift: 1 finding(s)",
        ],
    );
    assert_eq!(outcome.result("DRIFT"), "true");
    assert_contains(&outcome.run.stdout, &["FINDINGS (1)", "image [tag_moved]"]);

    let (_, report) = scene.trace_json(&[]);
    assert_eq!(report["drift"], true);
    assert_eq!(codes(&report), ["tag_moved"]);
    assert_eq!(report["image"]["status"], "drift");
    assert_eq!(report["image"]["tag_digest"], moved.as_str());
    // The labels are read from the image Git pins, which still is the one built from SRC2.
    assert_eq!(report["image"]["revision"], SRC2);
    assert_eq!(report["cluster"]["status"], "ok");
}

#[test]
fn the_registry_labelling_another_version_is_drift() {
    let scene = Scene::new();
    // Someone labels version 1 with prod in the registry, while Git still deploys version 2.
    scene.label(SRC1, &scene.digest1);
    let outcome = scene.trace(&[]).failed(
        1,
        &[
            &format!("labels {} of jukebox with prod", version(SRC1)),
            &format!("Git deploys {} to prod", version(SRC2)),
        ],
    );
    assert_eq!(outcome.result("DRIFT"), "true");
    let (_, report) = scene.trace_json(&[]);
    assert_eq!(codes(&report), ["registry_label"]);
    assert_eq!(report["model_registry"]["status"], "drift");
    assert_eq!(
        report["model_registry"]["env_versions"],
        serde_json::json!([version(SRC1)])
    );
    assert_eq!(report["image"]["status"], "ok");
}

#[test]
fn the_cluster_serving_another_digest_or_not_ready_is_drift() {
    let scene = Scene::new();
    // Argo CD has not synced: the cluster still serves version 1.
    scene
        .kube
        .set_storage_uri(&format!("oci://{}@{}", scene.repo, scene.digest1));
    scene.trace(&[]).failed(
        1,
        &[
            "InferenceService prod/jukebox serves",
            &scene.digest1,
            &format!("but Git says {}", scene.digest2),
        ],
    );
    let (_, report) = scene.trace_json(&[]);
    assert_eq!(codes(&report), ["cluster_digest"]);
    assert_eq!(report["cluster"]["digest"], scene.digest1.as_str());

    // Serving the right digest but never becoming Ready.
    let stuck = FakeKube::start(
        "prod",
        MODEL,
        &format!("oci://{}@{}", scene.repo, scene.digest2),
        ReadyAfter::Never,
    );
    let (outcome, report) = scene.trace_json_with(&stuck, &[]);
    assert_eq!(outcome.code(), Some(1), "{}", outcome.stderr());
    assert_eq!(codes(&report), ["cluster_not_ready"]);
    assert_contains(
        outcome.stderr(),
        &["is not Ready", "jukebox-predictor-00002"],
    );
}

#[test]
fn what_cannot_be_traced_is_a_usage_error_and_a_missing_source_is_not_checked() {
    let git = GitServer::start(GIT_USER, GIT_PASSWORD);
    let repo_url = git.create_repo("gitops");
    git.seed(
        "gitops",
        &[(PROD, b"name: jukebox\nversion: \"a1b2c3d4e5\"\n")],
        "Deploy",
    );
    let host = host_of(&repo_url);
    let env = [("MODELCAR_GIT_TOKEN", GIT_PASSWORD)];
    let base = [
        "--repo-url",
        &repo_url,
        "--git-username",
        GIT_USER,
        "--plain-http",
        &host,
    ];
    let trace = |extra: &[&str]| {
        let args: Vec<&str> = base.iter().chain(extra).copied().collect();
        run("model-trace", &args, &env)
    };

    // Only Git given: everything else is not checked, nothing disagrees.
    let only_git = trace(&["--model", MODEL, "--env", "prod"]).ok();
    let table = &only_git.run.stdout;
    assert_contains(
        table,
        &[
            "the config names no image_repository",
            "give --registry-url",
            "give --forge",
            "give --kube-api-url",
            "No drift",
        ],
    );

    // A model the environment does not deploy.
    trace(&["--model", "radio", "--env", "prod"]).failed(
        2,
        &[
            "model-deployments/prod/radio/config.yaml does not exist",
            "--model",
        ],
    );
    // Not an environment name; a forge without its repository.
    trace(&["--model", MODEL, "--env", "Prod!"]).failed(2, &["--env"]);
    trace(&["--model", MODEL, "--env", "prod", "--forge", "gitea"]).failed(2, &["--forge-repo"]);
    trace(&["--model", MODEL, "--env", "prod", "--image", "Team/JUKEBOX"]).failed(2, &["--image"]);
    // A Model Registry that is given but down: that layer is an error, exit 1.
    let down = trace(&[
        "--model",
        MODEL,
        "--env",
        "prod",
        "--registry-url",
        "http://127.0.0.1:9",
        "--plain-http",
        "127.0.0.1:9",
        "--idle-timeout",
        "2",
    ]);
    assert_eq!(down.code(), Some(1), "{}", down.stderr());
    assert_contains(
        down.stderr(),
        &["the model registry layer could not be read"],
    );
    assert_eq!(down.result("DRIFT"), "false");
}

/// As post-deploy runs it: the deployments the labelling step reported, each traced, each checked
/// to run the version reported.
#[test]
fn the_deployments_a_push_made_are_traced_together() {
    let scene = Scene::new();
    let deployed = format!("{MODEL}:{}:prod", version(SRC2));
    let agreed = scene
        .trace_target(&scene.kube, &["--deployments", &deployed], &[])
        .ok();
    assert_eq!(agreed.result("DRIFT"), "false");
    assert_contains(&agreed.run.stdout, &["jukebox in prod", "No drift"]);

    let stale = format!("{MODEL}:{}:prod", version(SRC1));
    let outcome = scene.trace_target(&scene.kube, &["--deployments", &stale], &[]);
    let outcome = outcome.failed(1, &[&format!("not {} as recorded", version(SRC1))]);
    assert_eq!(outcome.result("DRIFT"), "true");

    // Nothing deployed, nothing to check.
    let none = scene
        .trace_target(&scene.kube, &["--deployments="], &[])
        .ok();
    assert_eq!(none.result("DRIFT"), "false");
    scene
        .trace_target(&scene.kube, &["--deployments", "jukebox:prod"], &[])
        .failed(2, &["MODEL:VERSION:ENV"]);
}
