//! The deployment chart (charts/modelcar-serving) rendered by the real Helm with every config.yaml
//! the project ships or the pipeline writes: the InferenceService pulls the ModelCar by the digest in
//! Git, and values that would render an invalid InferenceService fail at `helm template` with the key
//! named.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;
use test_services::{go_server_bin, workspace_root};

const DIGEST: &str = "sha256:4d3c2b1a0f9e8d7c6b5a49382716051f4e3d2c1b0a99887766554433221100ff";

fn chart() -> PathBuf {
    workspace_root().join("charts/modelcar-serving")
}

fn helm_template(values: &Path, sets: &[&str]) -> Output {
    let mut command = Command::new(go_server_bin("helm"));
    command
        .args(["template", "jukebox"])
        .arg(chart())
        .arg("--values")
        .arg(values)
        .env(
            "HELM_CACHE_HOME",
            std::env::temp_dir().join("helm-test-cache"),
        )
        .env(
            "HELM_CONFIG_HOME",
            std::env::temp_dir().join("helm-test-config"),
        );
    for set in sets {
        command.args(["--set-string", set]);
    }
    command.output().expect("run helm template")
}

/// The rendered objects, by kind.
fn render(values: &Path, sets: &[&str]) -> Vec<Value> {
    let output = helm_template(values, sets);
    assert!(
        output.status.success(),
        "helm template failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8(output.stdout).expect("UTF-8 manifests");
    text.split("\n---")
        .filter(|doc| doc.lines().any(|l| l.starts_with("kind:")))
        .map(|doc| serde_saphyr::from_str::<Value>(doc).expect("rendered YAML parses"))
        .collect()
}

fn of_kind<'a>(objects: &'a [Value], kind: &str) -> &'a Value {
    objects
        .iter()
        .find(|o| o["kind"] == kind)
        .unwrap_or_else(|| panic!("no {kind} rendered: {objects:#?}"))
}

fn example(env: &str) -> PathBuf {
    workspace_root().join(format!(
        "examples/gitops-repo/model-deployments/{env}/jukebox/config.yaml"
    ))
}

#[test]
fn example_configs_render_an_inference_service_and_its_runtime() {
    for env in ["test", "prod"] {
        let objects = render(&example(env), &[]);
        let isvc = of_kind(&objects, "InferenceService");
        assert_eq!(isvc["apiVersion"], "serving.kserve.io/v1beta1");
        assert_eq!(isvc["metadata"]["name"], "jukebox");
        let model = &isvc["spec"]["predictor"]["model"];
        // No digest in Git yet: by tag.
        assert_eq!(model["storageUri"], "oci://quay.io/user1/jukebox:latest");
        assert_eq!(model["runtime"], "jukebox");
        assert_eq!(
            isvc["metadata"]["annotations"]["serving.kserve.io/deploymentMode"],
            "RawDeployment"
        );
        let runtime = of_kind(&objects, "ServingRuntime");
        assert_eq!(runtime["metadata"]["name"], "jukebox");
        assert_eq!(runtime["spec"]["supportedModelFormats"][0]["name"], "onnx");
        assert!(
            objects.iter().all(|o| o["kind"] != "Secret"),
            "the chart never holds credentials"
        );
    }
}

/// What the pipeline writes (version and digest in one commit) is what the cluster pulls: the
/// image by digest, the tag kept as an annotation for people.
#[test]
fn the_digest_in_git_is_the_digest_pulled() {
    let version = "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678";
    let objects = render(
        &example("test"),
        &[
            &format!("version={version}"),
            &format!("image_digest={DIGEST}"),
            "pull_secret=quay-conn",
            "deployment_mode=Serverless",
        ],
    );
    let isvc = of_kind(&objects, "InferenceService");
    let predictor = &isvc["spec"]["predictor"];
    assert_eq!(
        predictor["model"]["storageUri"],
        format!("oci://quay.io/user1/jukebox@{DIGEST}")
    );
    let annotations = &isvc["metadata"]["annotations"];
    assert_eq!(annotations["modelcar-gitops/version"], version);
    assert_eq!(
        annotations["modelcar-gitops/image"],
        format!("quay.io/user1/jukebox:{version}")
    );
    assert_eq!(
        annotations["serving.kserve.io/deploymentMode"],
        "Serverless"
    );
    assert_eq!(predictor["imagePullSecrets"][0]["name"], "quay-conn");
}

/// KServe's image volume mode: the same image by digest, under the `oci+native` scheme (the
/// image's /models mounted at /mnt/models, no sidecar); the example configs say `oci`.
#[test]
fn the_storage_scheme_selects_the_modelcar_or_the_image_volume() {
    for env in ["test", "prod"] {
        let config = std::fs::read_to_string(example(env)).unwrap();
        assert!(config.contains("\nstorage_scheme: oci\n"), "{config}");
    }
    for (scheme, expected) in [
        ("oci", format!("oci://quay.io/user1/jukebox@{DIGEST}")),
        (
            "oci+native",
            format!("oci+native://quay.io/user1/jukebox@{DIGEST}"),
        ),
    ] {
        let objects = render(
            &example("prod"),
            &[
                &format!("image_digest={DIGEST}"),
                &format!("storage_scheme={scheme}"),
            ],
        );
        let isvc = of_kind(&objects, "InferenceService");
        assert_eq!(
            isvc["spec"]["predictor"]["model"]["storageUri"],
            expected.as_str()
        );
    }
}

#[test]
fn values_that_would_render_an_invalid_inference_service_fail_naming_the_key() {
    let cases: &[(&[&str], &[&str])] = &[
        (&["image_digest=sha256:1234"], &["image_digest"]),
        (&["image_digest=latest"], &["image_digest"]),
        (&["name=Jukebox_1"], &["name"]),
        (&["deployment_mode=Knative"], &["deployment_mode"]),
        (&["version=bad tag"], &["version"]),
        (&["storage_scheme=s3"], &["storage_scheme"]),
        // KServe's planned storage-initializer mode, which this chart does not offer.
        (&["storage_scheme=oci+fetch"], &["storage_scheme"]),
    ];
    for (sets, needles) in cases {
        let output = helm_template(&example("test"), sets);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{sets:?} rendered");
        for needle in *needles {
            assert!(
                stderr.contains(needle),
                "{sets:?}: {needle:?} not in:\n{stderr}"
            );
        }
    }
    let output = Command::new(go_server_bin("helm"))
        .args(["template", "jukebox"])
        .arg(chart())
        .arg("--values")
        .arg(example("test"))
        .args(["--set", "replicas.min=3", "--set", "replicas.max=1"])
        .output()
        .expect("run helm template");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success()
            && stderr.contains("replicas.min (3) is more than replicas.max (1)"),
        "{stderr}"
    );
}
