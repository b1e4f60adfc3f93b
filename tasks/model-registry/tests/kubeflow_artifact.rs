//! The version's model artifact and `register` in the Kubeflow backend, against the fake Kubeflow
//! Model Registry (tests/fakes), whose artifact endpoints answer as the real server v0.3.0 does.

use std::time::Duration;

use common::{RetryPolicy, Secret};
use model_registry::kubeflow::{KubeflowOptions, KubeflowRegistry, ROLLED_BACK};
use model_registry::{LabelRequest, ModelArtifact, ModelRegistry, RegistryError, label};
use serde_json::json;
use test_fakes::kubeflow::FakeKubeflow;

const DIGEST_A: &str = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const DIGEST_B: &str = "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

fn registry(fake: &FakeKubeflow) -> KubeflowRegistry {
    let mut options = KubeflowOptions::new(fake.url().parse().unwrap());
    options.token = Some(Secret::new(fake.token()));
    options.token_origin = "test token".into();
    options.retry = RetryPolicy::fast(3);
    options.confirm_delay = Duration::from_millis(20);
    let http = common::HttpOptions {
        plain_http_hosts: vec!["127.0.0.1".into()],
        ..Default::default()
    }
    .client()
    .unwrap();
    KubeflowRegistry::new(options, http)
}

fn request(version: &str, digest: &str, format: Option<&str>) -> LabelRequest {
    let image = format!("quay.io/rhoai/jukebox:v1@{digest}");
    LabelRequest {
        model: "jukebox".into(),
        version: version.into(),
        env: "test".into(),
        keep_others: false,
        artifact: ModelArtifact::from_image(&image, format.map(Into::into), None),
        image: Some(image),
        gitops_commit: None,
        deployed_at: "2026-01-12T10:15:00Z".into(),
        records: Default::default(),
        register: false,
        dry_run: false,
    }
}

fn uri(digest: &str) -> String {
    format!("oci://quay.io/rhoai/jukebox@{digest}")
}

fn seed(fake: &FakeKubeflow) {
    let model = fake.add_model("jukebox");
    fake.add_version(&model, "v1", json!({}));
}

#[test]
fn image_references_become_oci_uris_by_digest() {
    let artifact = |image: &str| ModelArtifact::from_image(image, None, None).map(|a| a.uri);
    assert_eq!(
        artifact(&format!("quay.io/rhoai/jukebox@{DIGEST_A}")),
        Some(uri(DIGEST_A))
    );
    assert_eq!(
        artifact(&format!("quay.io/rhoai/jukebox:v1@{DIGEST_A}")),
        Some(uri(DIGEST_A))
    );
    assert_eq!(
        artifact(&format!("oci://localhost:5000/jukebox@{DIGEST_A}")),
        Some(format!("oci://localhost:5000/jukebox@{DIGEST_A}"))
    );
    assert_eq!(artifact("quay.io/rhoai/jukebox:v1"), None);
    assert_eq!(artifact("quay.io/rhoai/jukebox@sha256:abc"), None);
}

#[tokio::test]
async fn the_artifact_is_created_then_left_alone_then_updated_in_place() {
    let fake = FakeKubeflow::start();
    seed(&fake);
    // Another artifact of the version, which must not change.
    let doc = fake.add_artifact(
        "jukebox",
        "v1",
        json!({"artifactType": "doc-artifact", "name": "readme", "uri": "https://docs/readme"}),
    );
    let registry = registry(&fake);

    label(&registry, &request("v1", DIGEST_A, Some("onnx")))
        .await
        .unwrap();
    let artifacts = fake.artifacts("jukebox", "v1");
    assert_eq!(artifacts.len(), 2, "{artifacts:#?}");
    let model = &artifacts[1];
    assert_eq!(model["artifactType"], "model-artifact");
    assert_eq!(model["uri"], uri(DIGEST_A));
    assert_eq!(model["modelFormatName"], "onnx");

    // A re-run writes nothing.
    let before = fake.requests().len();
    let again = label(&registry, &request("v1", DIGEST_A, Some("onnx")))
        .await
        .unwrap();
    assert_eq!(again.writes, 0);
    let writes: Vec<String> = fake.requests()[before..]
        .iter()
        .filter(|r| !r.starts_with("GET "))
        .cloned()
        .collect();
    assert!(writes.is_empty(), "a re-run wrote: {writes:?}");

    // A new digest updates the same artifact; its other fields and the other artifact stay.
    fake.refuse("POST", "/artifacts", 500, 10);
    let moved = label(&registry, &request("v1", DIGEST_B, None))
        .await
        .unwrap();
    assert!(moved.writes >= 1);
    let artifacts = fake.artifacts("jukebox", "v1");
    assert_eq!(artifacts.len(), 2);
    assert_eq!(artifacts[0], doc);
    assert_eq!(artifacts[1]["id"], model["id"]);
    assert_eq!(artifacts[1]["uri"], uri(DIGEST_B));
    assert_eq!(artifacts[1]["name"], model["name"]);
    assert_eq!(artifacts[1]["modelFormatName"], "onnx");

    // Read back as the version's model artifact; the doc artifact is not one.
    let jukebox = registry.find_model("jukebox").await.unwrap().unwrap();
    let v1 = registry
        .find_version(&jukebox, "v1")
        .await
        .unwrap()
        .unwrap();
    let recorded = registry
        .model_artifact(&jukebox, &v1)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(recorded.uri, uri(DIGEST_B));
    assert_eq!(recorded.format_name.as_deref(), Some("onnx"));
}

#[tokio::test]
async fn a_missing_version_is_still_an_error_without_register() {
    let fake = FakeKubeflow::start();
    seed(&fake);
    let error = label(&registry(&fake), &request("v2", DIGEST_A, None))
        .await
        .unwrap_err();
    assert!(
        matches!(&error, RegistryError::VersionNotFound { existing, .. } if existing == &["v1"]),
        "{error}"
    );
    assert_eq!(fake.count("POST") + fake.count("PATCH"), 0);
}

#[tokio::test]
async fn register_creates_model_version_and_artifact() {
    let fake = FakeKubeflow::start();
    let registry = registry(&fake);
    let mut wanted = request("v1", DIGEST_A, Some("onnx"));
    wanted.register = true;

    let mut dry = wanted.clone();
    dry.dry_run = true;
    let outcome = label(&registry, &dry).await.unwrap();
    assert_eq!(outcome.registered.len(), 1);
    assert_eq!(fake.count("POST") + fake.count("PATCH"), 0);

    let outcome = label(&registry, &wanted).await.unwrap();
    assert_eq!(outcome.registered[0].to_string(), "jukebox:v1:test");
    let artifacts = fake.artifacts("jukebox", "v1");
    assert_eq!(artifacts.len(), 1);
    assert_eq!(artifacts[0]["uri"], uri(DIGEST_A));
    assert_eq!(artifacts[0]["modelFormatName"], "onnx");
    assert_eq!(
        fake.custom_properties("jukebox", "v1")["test"],
        json!({"metadataType": "MetadataStringValue", "string_value": ""})
    );

    // A second run finds everything: no write.
    let before = fake.count("POST") + fake.count("PATCH");
    let again = label(&registry, &wanted).await.unwrap();
    assert_eq!(again.writes, 0);
    assert!(again.registered.is_empty());
    assert_eq!(fake.count("POST") + fake.count("PATCH"), before);
}

#[tokio::test]
async fn register_needs_the_image_by_digest() {
    let fake = FakeKubeflow::start();
    let mut wanted = request("v1", DIGEST_A, None);
    wanted.register = true;
    wanted.artifact = None;
    let error = label(&registry(&fake), &wanted).await.unwrap_err();
    assert!(
        matches!(error, RegistryError::InvalidInput { .. }),
        "{error}"
    );
    assert_eq!(fake.requests().len(), 0);
}

#[tokio::test]
async fn refused_writes_create_nothing() {
    let fake = FakeKubeflow::start();
    fake.set_read_only(true);
    let mut wanted = request("v1", DIGEST_A, None);
    wanted.register = true;
    let error = label(&registry(&fake), &wanted).await.unwrap_err();
    assert!(
        matches!(error, RegistryError::Unauthorized { status: 403, .. }),
        "{error}"
    );
    assert!(fake.model("jukebox").is_none());
}

#[tokio::test]
async fn a_failed_artifact_rolls_the_registration_back_and_a_rerun_completes_it() {
    let fake = FakeKubeflow::start();
    let registry = registry(&fake);
    let mut wanted = request("v1", DIGEST_A, None);
    wanted.register = true;
    // The artifact cannot be created (more often than the client retries).
    fake.refuse("POST", "/artifacts", 500, 10);
    let error = label(&registry, &wanted).await.unwrap_err();
    assert!(matches!(error, RegistryError::RolledBack { .. }), "{error}");
    assert!(error.to_string().contains("archived"), "{error}");
    // The API has no DELETE: what this run created is archived, and carries no label.
    let version = fake.version("jukebox", "v1");
    assert_eq!(version["state"], "ARCHIVED");
    assert_eq!(version["description"], ROLLED_BACK);
    assert!(fake.custom_properties("jukebox", "v1").is_empty());
    assert_eq!(fake.model("jukebox").unwrap()["state"], "ARCHIVED");
    assert!(fake.artifacts("jukebox", "v1").is_empty());

    // Once the registry takes artifacts again, a re-run completes and restores it.
    fake.refuse("POST", "/artifacts", 500, 0);
    let outcome = label(&registry, &wanted).await.unwrap();
    assert_eq!(outcome.labelled.len(), 1);
    let version = fake.version("jukebox", "v1");
    assert_eq!(version["state"], "LIVE");
    assert_eq!(fake.model("jukebox").unwrap()["state"], "LIVE");
    assert_eq!(fake.artifacts("jukebox", "v1")[0]["uri"], uri(DIGEST_A));
}

#[tokio::test]
async fn a_version_archived_by_hand_stays_archived() {
    let fake = FakeKubeflow::start();
    let model = fake.add_model("jukebox");
    fake.add_version(&model, "v1", json!({}));
    fake.patch_version("jukebox", "v1", json!({"state": "ARCHIVED"}));
    label(&registry(&fake), &request("v1", DIGEST_A, None))
        .await
        .unwrap();
    assert_eq!(fake.version("jukebox", "v1")["state"], "ARCHIVED");
    assert_eq!(fake.artifacts("jukebox", "v1")[0]["uri"], uri(DIGEST_A));
}
