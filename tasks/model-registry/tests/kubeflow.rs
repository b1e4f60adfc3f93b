//! The Kubeflow backend against the fake Kubeflow Model Registry (tests/fakes), which follows the
//! OpenAPI description: whole-map PATCH, parentResourceId lookups, paged lists, Bearer auth.

use std::collections::BTreeMap;
use std::time::Duration;

use common::{RetryPolicy, Secret};
use model_registry::kubeflow::{KubeflowOptions, KubeflowRegistry};
use model_registry::{LabelRequest, ModelRegistry, RegistryError, label, unlabel};
use serde_json::{Value, json};
use test_fakes::kubeflow::{FakeKubeflow, Options, V1, V1ALPHA3, WriterTiming};

fn string(value: &str) -> Value {
    json!({"metadataType": "MetadataStringValue", "string_value": value})
}

fn label_value() -> Value {
    string("")
}

fn registry_with(
    fake: &FakeKubeflow,
    tweak: impl FnOnce(&mut KubeflowOptions),
) -> KubeflowRegistry {
    let mut options = KubeflowOptions::new(fake.url().parse().unwrap());
    options.token = Some(Secret::new(fake.token()));
    options.token_origin = "test token".into();
    options.retry = RetryPolicy::fast(4);
    options.confirm_delay = Duration::from_millis(30);
    tweak(&mut options);
    let http = common::HttpOptions {
        plain_http_hosts: vec!["127.0.0.1".into()],
        ..Default::default()
    }
    .client()
    .unwrap();
    KubeflowRegistry::new(options, http)
}

fn registry(fake: &FakeKubeflow) -> KubeflowRegistry {
    registry_with(fake, |_| {})
}

fn request(model: &str, version: &str, env: &str) -> LabelRequest {
    LabelRequest {
        artifact: None,
        register: false,
        records: Default::default(),
        model: model.into(),
        version: version.into(),
        env: env.into(),
        keep_others: false,
        image: Some(format!("quay.io/rhoai/{model}@sha256:{}", "ab".repeat(32))),
        gitops_commit: Some("5f0c1d2e3a4b5c6d7e8f90a1b2c3d4e5f6a7b8c9".into()),
        deployed_at: "2026-01-12T10:15:00Z".into(),
        dry_run: false,
    }
}

/// jukebox with version A (in test and prod) and version B (in test), with typed properties.
fn seed_jukebox(fake: &FakeKubeflow) {
    let model = fake.add_model("jukebox");
    fake.add_version(
        &model,
        "9f8e7d6c5b",
        json!({
            "accuracy": {"metadataType": "MetadataDoubleValue", "double_value": 0.4725},
            "epochs": {"metadataType": "MetadataIntValue", "int_value": "12"},
            "pipeline_run_id": string("3f1e2d4c-aaaa-bbbb-cccc-0123456789ab"),
            "test": label_value(),
            "prod": label_value(),
            "deployed.prod.at": string("2026-01-01T00:00:00Z"),
        }),
    );
    fake.add_version(
        &model,
        "a1b2c3d4e5",
        json!({
            "accuracy": {"metadataType": "MetadataDoubleValue", "double_value": 0.51},
            "validated": {"metadataType": "MetadataBoolValue", "bool_value": true},
            "test": label_value(),
        }),
    );
}

fn without(mut map: BTreeMap<String, Value>, keys: &[&str]) -> BTreeMap<String, Value> {
    for key in keys {
        map.remove(*key);
    }
    map
}

#[tokio::test]
async fn moving_prod_keeps_test_and_every_other_property() {
    let fake = FakeKubeflow::start();
    seed_jukebox(&fake);
    let old_before = fake.custom_properties("jukebox", "9f8e7d6c5b");
    let new_before = fake.custom_properties("jukebox", "a1b2c3d4e5");
    let registry = registry(&fake);

    let outcome = label(&registry, &request("jukebox", "a1b2c3d4e5", "prod"))
        .await
        .unwrap();
    assert_eq!(
        outcome
            .labelled
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
        ["jukebox:a1b2c3d4e5:prod"]
    );
    assert_eq!(
        outcome
            .unlabelled
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
        ["jukebox:9f8e7d6c5b:prod"]
    );

    let old_after = fake.custom_properties("jukebox", "9f8e7d6c5b");
    assert_eq!(
        old_after,
        without(old_before, &["prod", "deployed.prod.at"])
    );
    let new_after = fake.custom_properties("jukebox", "a1b2c3d4e5");
    assert_eq!(new_after["prod"], label_value());
    assert_eq!(
        new_after["deployed.prod.at"],
        string("2026-01-12T10:15:00Z")
    );
    assert_eq!(
        new_after["deployed.prod.gitops_commit"],
        string("5f0c1d2e3a4b5c6d7e8f90a1b2c3d4e5f6a7b8c9")
    );
    assert!(
        new_after["deployed.prod.image"]["string_value"]
            .as_str()
            .unwrap()
            .contains("@sha256:")
    );
    assert_eq!(
        without(
            new_after,
            &[
                "prod",
                "deployed.prod.at",
                "deployed.prod.image",
                "deployed.prod.gitops_commit"
            ]
        ),
        new_before
    );

    // A re-run changes nothing, not even the time.
    let patches = fake.count("PATCH");
    let mut again = request("jukebox", "a1b2c3d4e5", "prod");
    again.deployed_at = "2026-02-01T00:00:00Z".into();
    let outcome = label(&registry, &again).await.unwrap();
    assert_eq!(outcome.writes, 0);
    assert!(outcome.unlabelled.is_empty());
    assert_eq!(fake.count("PATCH"), patches);
    assert_eq!(
        fake.custom_properties("jukebox", "a1b2c3d4e5")["deployed.prod.at"],
        string("2026-01-12T10:15:00Z")
    );
}

/// Where a deployment came from is recorded beside it, and leaves with the label.
#[tokio::test]
async fn provenance_records_follow_the_label() {
    let fake = FakeKubeflow::start();
    seed_jukebox(&fake);
    let mut first = request("jukebox", "a1b2c3d4e5", "prod");
    first.records = [
        ("source_commit", "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678"),
        ("source_repo", "https://git.example/team/jukebox.git"),
        ("pipeline_run", "model-release-x7k2p"),
        ("author", ""),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    label(&registry(&fake), &first).await.unwrap();
    let deployed = fake.custom_properties("jukebox", "a1b2c3d4e5");
    assert_eq!(
        deployed["deployed.prod.source_repo"],
        string("https://git.example/team/jukebox.git")
    );
    assert_eq!(
        deployed["deployed.prod.pipeline_run"],
        string("model-release-x7k2p")
    );
    assert!(
        !deployed.contains_key("deployed.prod.author"),
        "empty values are not recorded"
    );

    // Another pipeline run deploying the same (a retried webhook) writes nothing: the run that
    // deployed it stays recorded.
    let patches = fake.count("PATCH");
    let mut retried = first.clone();
    retried
        .records
        .insert("pipeline_run".into(), "post-deploy-b9q4m".into());
    let outcome = label(&registry(&fake), &retried).await.unwrap();
    assert_eq!(outcome.writes, 0);
    assert_eq!(fake.count("PATCH"), patches);
    assert_eq!(
        fake.custom_properties("jukebox", "a1b2c3d4e5")["deployed.prod.pipeline_run"],
        string("model-release-x7k2p")
    );
    // A changed deployment records its own run.
    retried.gitops_commit = Some("0d1e2f3a4b5c".into());
    label(&registry(&fake), &retried).await.unwrap();
    assert_eq!(
        fake.custom_properties("jukebox", "a1b2c3d4e5")["deployed.prod.pipeline_run"],
        string("post-deploy-b9q4m")
    );

    // prod moves back: every record of the old deployment leaves with the label.
    label(&registry(&fake), &request("jukebox", "9f8e7d6c5b", "prod"))
        .await
        .unwrap();
    let left = fake.custom_properties("jukebox", "a1b2c3d4e5");
    assert!(
        left.keys().all(|k| !k.starts_with("deployed.prod.")) && !left.contains_key("prod"),
        "{left:?}"
    );
    assert!(
        left.contains_key("test"),
        "other environments stay: {left:?}"
    );
}

#[tokio::test]
async fn keep_others_leaves_the_label_on_other_versions() {
    let fake = FakeKubeflow::start();
    seed_jukebox(&fake);
    let mut canary = request("jukebox", "a1b2c3d4e5", "prod");
    canary.keep_others = true;
    let outcome = label(&registry(&fake), &canary).await.unwrap();
    assert!(outcome.unlabelled.is_empty());
    assert_eq!(
        fake.custom_properties("jukebox", "9f8e7d6c5b")["prod"],
        label_value()
    );
    assert_eq!(
        fake.custom_properties("jukebox", "a1b2c3d4e5")["prod"],
        label_value()
    );
}

#[tokio::test]
async fn the_last_property_can_be_removed() {
    let fake = FakeKubeflow::start();
    let model = fake.add_model("radio");
    fake.add_version(&model, "v1", json!({"prod": label_value()}));
    fake.add_version(&model, "v2", json!({}));
    let registry = registry(&fake);

    let mut plain = request("radio", "v2", "prod");
    plain.image = None;
    plain.gitops_commit = None;
    label(&registry, &plain).await.unwrap();
    assert!(
        fake.custom_properties("radio", "v1").is_empty(),
        "{:?}",
        fake.version("radio", "v1")
    );
    assert_eq!(fake.version("radio", "v1")["customProperties"], json!({}));

    let outcome = unlabel(&registry, "radio", "v2", "prod", false)
        .await
        .unwrap();
    assert_eq!(outcome.unlabelled.len(), 1);
    assert_eq!(fake.version("radio", "v2")["customProperties"], json!({}));
}

#[tokio::test]
async fn two_writers_at_once_lose_nothing() {
    let fake = FakeKubeflow::start();
    seed_jukebox(&fake);
    let registry = registry(&fake);
    let mut staging = request("jukebox", "a1b2c3d4e5", "staging");
    staging.keep_others = true;
    let prod = request("jukebox", "a1b2c3d4e5", "prod");
    let (prod, staging) = tokio::join!(label(&registry, &prod), label(&registry, &staging));
    prod.unwrap();
    staging.unwrap();
    let after = fake.custom_properties("jukebox", "a1b2c3d4e5");
    for key in [
        "test",
        "prod",
        "staging",
        "accuracy",
        "validated",
        "deployed.prod.at",
        "deployed.staging.at",
    ] {
        assert!(after.contains_key(key), "{key} lost: {after:?}");
    }
}

/// Four pipelines (each its own client, as separate processes would be) record four environments on
/// the same version at the same moment.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn four_pipelines_at_once_lose_nothing() {
    let fake = std::sync::Arc::new(FakeKubeflow::start());
    seed_jukebox(&fake);
    let envs = ["dev", "qa", "staging", "perf"];
    let tasks: Vec<_> = envs
        .iter()
        .map(|env| {
            let fake = fake.clone();
            let mut request = request("jukebox", "a1b2c3d4e5", env);
            request.keep_others = true;
            tokio::spawn(async move { label(&registry(&fake), &request).await })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    let after = fake.custom_properties("jukebox", "a1b2c3d4e5");
    for env in envs {
        assert_eq!(after[env], label_value(), "{env} lost: {after:?}");
        assert!(
            after.contains_key(&format!("deployed.{env}.at")),
            "{after:?}"
        );
    }
    assert!(
        after.contains_key("test") && after.contains_key("validated"),
        "{after:?}"
    );
}

#[tokio::test]
async fn another_writer_between_read_and_write_is_kept() {
    let fake = FakeKubeflow::start();
    seed_jukebox(&fake);
    fake.inject_writer(
        "jukebox",
        "a1b2c3d4e5",
        "reviewed_by",
        "alice",
        WriterTiming::AfterRead,
        2,
    );
    fake.inject_writer(
        "jukebox",
        "a1b2c3d4e5",
        "approved",
        "yes",
        WriterTiming::StalePatchAfterPatch,
        1,
    );
    let registry = registry(&fake);

    label(&registry, &request("jukebox", "a1b2c3d4e5", "prod"))
        .await
        .unwrap();
    let after = fake.custom_properties("jukebox", "a1b2c3d4e5");
    assert_eq!(after["reviewed_by"], string("alice"));
    assert_eq!(after["approved"], string("yes"));
    assert_eq!(after["prod"], label_value());
    assert_eq!(after["test"], label_value());
}

/// The real server answers concurrent writes of one version with a 500 now and then. The failed
/// whole-map PATCH is not sent again as it was (its map would undo what another writer did
/// meanwhile): the version is read again and the change applied to what is there now.
#[tokio::test]
async fn a_failed_write_is_redone_from_a_fresh_read() {
    let fake = FakeKubeflow::start();
    seed_jukebox(&fake);
    fake.inject_writer(
        "jukebox",
        "a1b2c3d4e5",
        "staging",
        "",
        WriterTiming::DuringFailedPatch,
        2,
    );
    let registry = registry(&fake);
    label(&registry, &request("jukebox", "a1b2c3d4e5", "prod"))
        .await
        .unwrap();
    let after = fake.custom_properties("jukebox", "a1b2c3d4e5");
    assert_eq!(after["staging"], label_value(), "{after:?}");
    assert_eq!(after["prod"], label_value());
    assert_eq!(after["test"], label_value());
    assert_eq!(
        fake.count("PATCH"),
        4,
        "two failed writes and one that held on B, one taking prod off A"
    );
}

#[tokio::test]
async fn a_writer_that_never_stops_is_a_clear_error() {
    let fake = FakeKubeflow::start();
    seed_jukebox(&fake);
    fake.inject_writer(
        "jukebox",
        "a1b2c3d4e5",
        "counter",
        "x",
        WriterTiming::StalePatchAfterPatch,
        100,
    );
    let registry = registry_with(&fake, |o| o.max_write_attempts = 3);
    let error = label(&registry, &request("jukebox", "a1b2c3d4e5", "prod"))
        .await
        .unwrap_err();
    assert!(matches!(error, RegistryError::Contended { .. }), "{error}");
    assert!(error.to_string().contains("run the step again"), "{error}");
}

#[tokio::test]
async fn unknown_model_or_version_lists_what_exists_and_changes_nothing() {
    let fake = FakeKubeflow::start();
    seed_jukebox(&fake);
    let registry = registry(&fake);

    let error = label(&registry, &request("jukebox", "0000000000", "prod"))
        .await
        .unwrap_err();
    let message = error.to_string();
    assert!(
        matches!(error, RegistryError::VersionNotFound { .. }),
        "{message}"
    );
    assert!(
        message.contains("9f8e7d6c5b") && message.contains("a1b2c3d4e5"),
        "{message}"
    );

    let error = label(&registry, &request("jukebox-typo", "a1b2c3d4e5", "prod"))
        .await
        .unwrap_err();
    let message = error.to_string();
    assert!(
        message.contains("jukebox-typo") && message.contains("models that exist: jukebox"),
        "{message}"
    );
    assert_eq!(fake.count("PATCH"), 0);
}

#[tokio::test]
async fn versions_are_listed_across_pages() {
    let fake = FakeKubeflow::start_with(Options {
        default_page_size: Some(2),
        ..Options::default()
    });
    let model = fake.add_model("pager");
    for n in 1..=4 {
        fake.add_version(&model, &format!("v{n}"), json!({}));
    }
    fake.add_version(&model, "v5", json!({"prod": label_value()}));
    let registry = registry_with(&fake, |o| o.page_size = 2);

    let versions = registry
        .list_versions(&registry.find_model("pager").await.unwrap().unwrap())
        .await
        .unwrap();
    assert_eq!(
        versions.iter().map(|v| v.name.as_str()).collect::<Vec<_>>(),
        ["v1", "v2", "v3", "v4", "v5"]
    );
    assert!(
        fake.requests().iter().any(|r| r.contains("nextPageToken=")),
        "{:?}",
        fake.requests()
    );

    let outcome = label(&registry, &request("pager", "v1", "prod"))
        .await
        .unwrap();
    assert_eq!(outcome.unlabelled[0].version, "v5");
    assert!(!fake.custom_properties("pager", "v5").contains_key("prod"));
}

#[tokio::test]
async fn api_version_v1_is_preferred_and_v1alpha3_is_the_fallback() {
    for (served, expected) in [
        (vec![V1, V1ALPHA3], "/api/model_registry/v1/"),
        (vec![V1ALPHA3], "/api/model_registry/v1alpha3/"),
    ] {
        let fake = FakeKubeflow::start_with(Options {
            api_versions: served,
            ..Options::default()
        });
        seed_jukebox(&fake);
        label(&registry(&fake), &request("jukebox", "a1b2c3d4e5", "prod"))
            .await
            .unwrap();
        let patches: Vec<String> = fake
            .requests()
            .into_iter()
            .filter(|r| r.starts_with("PATCH"))
            .collect();
        assert!(
            !patches.is_empty() && patches.iter().all(|r| r.contains(expected)),
            "{patches:?}"
        );
    }

    let fake = FakeKubeflow::start();
    let error = registry_with(&fake, |o| o.api_version = Some("v1".into()))
        .find_model("jukebox")
        .await
        .unwrap_err();
    assert!(matches!(error, RegistryError::NoApi { .. }), "{error}");
}

#[tokio::test]
async fn refusals_name_the_missing_role_and_never_the_token() {
    let fake = FakeKubeflow::start();
    seed_jukebox(&fake);
    let wrong = registry_with(&fake, |o| {
        o.token = Some(Secret::new("not-the-token"));
        o.registry_name = Some("user1-prod-registry".into());
    });
    let message = wrong.find_model("jukebox").await.unwrap_err().to_string();
    assert!(
        message.contains("registry-user-user1-prod-registry"),
        "{message}"
    );
    assert!(
        message.contains("401") && !message.contains("not-the-token"),
        "{message}"
    );

    fake.set_forbidden(true);
    let message = registry(&fake)
        .find_model("jukebox")
        .await
        .unwrap_err()
        .to_string();
    assert!(
        message.contains("403")
            && message.contains("give the registry's name")
            && message.contains("lacks the role"),
        "{message}"
    );
}

#[tokio::test]
async fn an_unavailable_registry_is_retried() {
    let fake = FakeKubeflow::start();
    seed_jukebox(&fake);
    fake.fail_next(3);
    label(&registry(&fake), &request("jukebox", "a1b2c3d4e5", "prod"))
        .await
        .unwrap();
    assert_eq!(
        fake.custom_properties("jukebox", "a1b2c3d4e5")["prod"],
        label_value()
    );

    fake.fail_next(50);
    let error = label(&registry(&fake), &request("jukebox", "9f8e7d6c5b", "prod"))
        .await
        .unwrap_err();
    assert!(error.to_string().contains("503"), "{error}");
}

#[tokio::test]
async fn a_dry_run_writes_nothing() {
    let fake = FakeKubeflow::start();
    seed_jukebox(&fake);
    let mut dry = request("jukebox", "a1b2c3d4e5", "prod");
    dry.dry_run = true;
    let outcome = label(&registry(&fake), &dry).await.unwrap();
    assert_eq!(outcome.writes, 2);
    assert_eq!(outcome.unlabelled.len(), 1);
    assert_eq!(fake.count("PATCH"), 0);
}

#[tokio::test]
async fn the_fake_follows_the_api_description() {
    let fake = FakeKubeflow::start();
    seed_jukebox(&fake);
    let http = common::HttpOptions {
        plain_http_hosts: vec!["127.0.0.1".into()],
        ..Default::default()
    }
    .client()
    .unwrap();
    let base = format!("{}/api/model_registry/v1alpha3", fake.url());
    let get = |path: String| {
        http.get(format!("{base}/{path}"))
            .unwrap()
            .bearer_auth(fake.token())
            .send()
    };

    let response = get("model_version?name=a1b2c3d4e5".into()).await.unwrap();
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert!(
        body["code"].is_string() && body["message"].is_string(),
        "{body}"
    );

    let model: Value = get("registered_model?name=jukebox".into())
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(model["id"].is_string());
    let response = get(format!(
        "model_version?name=a1b2c3d4e5&parentResourceId={}",
        model["id"].as_str().unwrap()
    ))
    .await
    .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        get("registered_model?name=nope".into())
            .await
            .unwrap()
            .status(),
        404
    );

    let last: Value = get(format!(
        "registered_models/{}/versions?pageSize=1",
        model["id"].as_str().unwrap()
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(last["size"], 1);
    assert!(!last["nextPageToken"].as_str().unwrap().is_empty());
    // As the real server: no pageSize, or 0, is everything at once; not a number is a 400; a token
    // it did not hand out is ignored.
    let everything: Value = get("registered_models?pageSize=0".into())
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (&everything["size"], &everything["nextPageToken"]),
        (&json!(1), &json!(""))
    );
    assert_eq!(
        get("registered_models?pageSize=abc".into())
            .await
            .unwrap()
            .status(),
        400
    );
    let first: Value = get("registered_models?pageSize=5&nextPageToken=bogus".into())
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(first["items"][0]["name"], "jukebox", "{first}");

    let unauthenticated = http
        .get(format!("{base}/registered_models"))
        .unwrap()
        .send()
        .await
        .unwrap();
    assert_eq!(unauthenticated.status(), 401);

    let id = fake.version("jukebox", "a1b2c3d4e5")["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let patch = |body: Value| {
        http.patch(format!("{base}/model_versions/{id}"))
            .unwrap()
            .bearer_auth(fake.token())
            .json(&body)
            .send()
    };
    assert_eq!(
        patch(json!({"name": "renamed"})).await.unwrap().status(),
        400
    );
    assert_eq!(
        patch(json!({"customProperties": {"x": {"string_value": "no type"}}}))
            .await
            .unwrap()
            .status(),
        400
    );
    assert_eq!(
        patch(json!({"description": "kept map"}))
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(fake.custom_properties("jukebox", "a1b2c3d4e5").len(), 3);
    assert_eq!(
        patch(json!({"customProperties": {}}))
            .await
            .unwrap()
            .status(),
        200
    );
    assert!(fake.custom_properties("jukebox", "a1b2c3d4e5").is_empty());

    let post = |path: &str, body: Value| {
        http.post(format!("{base}/{path}"))
            .unwrap()
            .bearer_auth(fake.token())
            .json(&body)
            .send()
    };
    let created = post(
        "registered_models",
        json!({"name": "radio", "owner": "user1"}),
    )
    .await
    .unwrap();
    assert_eq!(created.status(), 201);
    let radio: Value = created.json().await.unwrap();
    assert_eq!(
        post("registered_models", json!({"name": "radio"}))
            .await
            .unwrap()
            .status(),
        409
    );
    let path = format!(
        "registered_models/{}/versions",
        radio["id"].as_str().unwrap()
    );
    let version = post(&path, json!({"name": "r1", "author": "ci"}))
        .await
        .unwrap();
    assert_eq!(version.status(), 201);
    assert_eq!(fake.version("radio", "r1")["author"], "ci");
    assert_eq!(
        post(&path, json!({"author": "no name"}))
            .await
            .unwrap()
            .status(),
        422
    );
}
