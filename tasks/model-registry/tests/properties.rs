//! Typed properties on the Kubeflow backend, against the fake Kubeflow Model Registry: numbers are read as
//! numbers, values of other types are kept (and shown), and labelling never rewrites a value that is not a
//! string.

use std::collections::BTreeMap;
use std::time::Duration;

use common::{RetryPolicy, Secret};
use model_registry::kubeflow::{KubeflowOptions, KubeflowRegistry};
use model_registry::{LabelRequest, ModelRegistry, PropertyValue, RegistryError, label};
use serde_json::{Value, json};
use test_fakes::kubeflow::FakeKubeflow;

fn registry(fake: &FakeKubeflow) -> KubeflowRegistry {
    let mut options = KubeflowOptions::new(fake.url().parse().unwrap());
    options.token = Some(Secret::new(fake.token()));
    options.retry = RetryPolicy::fast(3);
    options.confirm_delay = Duration::from_millis(20);
    KubeflowRegistry::new(
        options,
        common::HttpOptions {
            plain_http_hosts: vec!["127.0.0.1".into()],
            ..Default::default()
        }
        .client()
        .unwrap(),
    )
}

fn request(version: &str, env: &str) -> LabelRequest {
    LabelRequest {
        artifact: None,
        register: false,
        records: Default::default(),
        model: "jukebox".into(),
        version: version.into(),
        env: env.into(),
        keep_others: false,
        image: Some(format!("quay.io/rhoai/jukebox@sha256:{}", "cd".repeat(32))),
        gitops_commit: Some("0a1b2c3d4e5f60718293a4b5c6d7e8f901234567".into()),
        deployed_at: "2026-02-03T04:05:06Z".into(),
        dry_run: false,
    }
}

fn string(text: &str) -> Value {
    json!({"metadataType": "MetadataStringValue", "string_value": text})
}

/// A struct value as a write carries it: base64 of the encoded struct.
fn struct_value() -> Value {
    json!({"metadataType": "MetadataStructValue", "struct_value": "eyJsYXllcnMiOiBbNjQsIDMyXX0="})
}

/// The same struct value as the registry (v0.3.0) answers it: the text it decoded.
fn struct_as_read() -> Value {
    json!({"metadataType": "MetadataStructValue", "struct_value": "{\"layers\": [64, 32]}"})
}

/// One version of every type, plus a double that a plain JSON parser reads 1 ulp off.
fn seed(fake: &FakeKubeflow) {
    let model = fake.add_model("jukebox");
    fake.add_version(
        &model,
        "v1",
        json!({
            "prod": string(""),
            "accuracy": {"metadataType": "MetadataDoubleValue", "double_value": 0.9412},
        }),
    );
    fake.add_version(
        &model,
        "v2",
        json!({
            "test": string(""),
            "accuracy": {"metadataType": "MetadataDoubleValue", "double_value": 0.973_123_4},
            "loss_floor": {"metadataType": "MetadataDoubleValue", "double_value": 1.071_566_039_146_582_6e-75},
            "epochs": {"metadataType": "MetadataIntValue", "int_value": "-12"},
            "validated": {"metadataType": "MetadataBoolValue", "bool_value": true},
            "layers": struct_value(),
            "card": {"metadataType": "MetadataProtoValue", "type": "type.googleapis.com/card", "proto_value": "CgR0ZXN0"},
            "author": string("data-science"),
        }),
    );
}

#[tokio::test]
async fn properties_are_read_with_their_types() {
    let fake = FakeKubeflow::start();
    seed(&fake);
    let registry = registry(&fake);
    let model = registry.find_model("jukebox").await.unwrap().unwrap();
    let v2 = registry.find_version(&model, "v2").await.unwrap().unwrap();

    assert_eq!(v2.labels.iter().collect::<Vec<_>>(), ["test"]);
    let p = &v2.properties;
    assert_eq!(p["accuracy"], PropertyValue::Double(0.973_123_4));
    assert_eq!(p["accuracy"].to_string(), "0.9731");
    assert_eq!(p["epochs"], PropertyValue::Int(-12));
    assert_eq!(p["validated"], PropertyValue::Bool(true));
    assert_eq!(p["author"], PropertyValue::String("data-science".into()));
    assert_eq!(p["layers"], PropertyValue::Other(struct_as_read()));
    assert!(p["layers"].to_string().contains("layers"));
    assert!(
        matches!(&p["card"], PropertyValue::Other(v) if v["type"] == "type.googleapis.com/card")
    );
    assert_eq!(v2.properties.len(), 7, "{p:#?}");
    // Kubeflow keeps its measurements among the properties; there is no separate run to read.
    assert!(registry.run_metrics(&model, &v2).await.unwrap().is_empty());
}

#[tokio::test]
async fn labelling_rewrites_no_value_that_is_not_a_string() {
    let fake = FakeKubeflow::start();
    seed(&fake);
    let before = fake.custom_properties("jukebox", "v2");
    let registry = registry(&fake);

    label(&registry, &request("v2", "prod")).await.unwrap();
    let after = fake.custom_properties("jukebox", "v2");
    let untouched: BTreeMap<_, _> = before.iter().filter(|(k, _)| *k != "prod").collect();
    for (key, value) in untouched {
        assert_eq!(&after[key], value, "{key} changed");
    }
    // Bit for bit, not merely close.
    assert_eq!(
        after["loss_floor"]["double_value"]
            .as_f64()
            .unwrap()
            .to_bits(),
        1.071_566_039_146_582_6e-75_f64.to_bits()
    );
    // Read as text, written back as base64 (the registry refuses anything else), read as text.
    assert_eq!(after["layers"], struct_as_read());
    assert_eq!(after["prod"], string(""));
    assert!(
        !fake.custom_properties("jukebox", "v1").contains_key("prod"),
        "prod moved off v1"
    );
    assert_eq!(
        fake.custom_properties("jukebox", "v1")["accuracy"]["double_value"],
        0.9412
    );
}

#[tokio::test]
async fn a_label_named_like_a_property_of_another_type_is_refused() {
    let fake = FakeKubeflow::start();
    seed(&fake);
    let before = fake.custom_properties("jukebox", "v2");
    let registry = registry(&fake);

    // An environment called `validated` would replace the bool property of that name.
    let error = label(&registry, &request("v2", "validated"))
        .await
        .unwrap_err();
    assert!(
        matches!(&error, RegistryError::NotAString { key, kind, .. }
            if key == "validated" && kind == "MetadataBoolValue"),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(
        message.contains("nothing was changed") && message.contains("\"validated\""),
        "{message}"
    );
    assert_eq!(fake.count("PATCH"), 0);
    assert_eq!(fake.custom_properties("jukebox", "v2"), before);
}

/// The fake accepts every value type of the API description and only well-formed ones: `int_value` is an
/// int32 as a string matching `^-?([1-9][0-9]{0,8}|0)$`.
#[tokio::test]
async fn the_fake_checks_value_types_as_described() {
    let fake = FakeKubeflow::start();
    seed(&fake);
    let id = fake.version("jukebox", "v2")["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let http = common::HttpOptions {
        plain_http_hosts: vec!["127.0.0.1".into()],
        ..Default::default()
    }
    .client()
    .unwrap();
    let url = format!(
        "{}/api/model_registry/v1alpha3/model_versions/{id}",
        fake.url()
    );
    let patch_int = |text: Value| {
        let body = json!({"customProperties": {
            "n": {"metadataType": "MetadataIntValue", "int_value": text},
            "layers": struct_value(),
        }});
        http.patch(&url)
            .unwrap()
            .bearer_auth(fake.token())
            .json(&body)
            .send()
    };
    for good in ["0", "-7", "123456789"] {
        assert_eq!(
            patch_int(json!(good)).await.unwrap().status(),
            200,
            "{good}"
        );
    }
    for bad in [
        json!("+5"),
        json!("007"),
        json!("1234567890"),
        json!("-"),
        json!(5),
    ] {
        assert_eq!(patch_int(bad.clone()).await.unwrap().status(), 400, "{bad}");
    }
    assert_eq!(
        fake.custom_properties("jukebox", "v2")["n"]["int_value"],
        "123456789"
    );
}
