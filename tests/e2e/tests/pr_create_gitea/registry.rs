//! The body's Model Registry section read from a real Kubeflow Model Registry, on the real Gitea.

use serde_json::{Value, json};
use test_services::ModelRegistry;

use super::World;

fn text(s: &str) -> Value {
    json!({"metadataType": "MetadataStringValue", "string_value": s})
}

#[test]
fn registry_section_from_the_real_model_registry() {
    let registry = ModelRegistry::start();
    let model = registry
        .api(
            "POST",
            "/registered_models",
            Some(&json!({"name": "jukebox"})),
        )
        .expect_success("register the model");
    let model_id = model["id"].as_str().expect("a string id");
    let double = |x: f64| json!({"metadataType": "MetadataDoubleValue", "double_value": x});
    let int = |n: &str| json!({"metadataType": "MetadataIntValue", "int_value": n});
    let layers = json!({"metadataType": "MetadataStructValue", "struct_value": "eyJsYXllcnMiOjN9"});
    for (name, properties) in [
        (
            "v1",
            json!({"prod": text(""), "test": text(""), "source_commit": text("0ld"),
                   "accuracy": double(0.9412), "epochs": int("10"), "layers": layers}),
        ),
        (
            "v2",
            json!({"source_commit": text("a1b2c3d"), "dataset": text("songs-2026"),
                   "accuracy": double(0.973_123_4), "epochs": int("12"), "layers": layers}),
        ),
    ] {
        registry
            .api(
                "POST",
                "/model_versions",
                Some(&json!({"name": name, "registeredModelId": model_id,
                             "customProperties": properties})),
            )
            .expect_success("register a version");
    }

    let world = World::new("v1");
    let dashboard = "https://dashboard.example/modelRegistry/team-prod-registry";
    let plain = format!("--plain-http={}", registry.host());
    let run = world.run(
        "v2",
        &[
            "--registry-url",
            &registry.url(),
            "--registry-web-url",
            dashboard,
            &plain,
        ],
    );
    run.assert_ok();
    let open = world.open_pulls();
    let body = open[0]["body"].as_str().expect("a body");
    for needle in [
        "### Model Registry",
        "(https://dashboard.example/modelRegistry/team-prod-registry)",
        "| | candidate `v2` | now in `prod`: `v1` |",
        "| *environments* | — | `prod`, `test` |",
        "| accuracy | **0.9731** (+0.03192) | 0.9412 |",
        "| dataset | **songs-2026** | — |",
        "| epochs | **12** (+2) | 10 |",
        r#"| layers | {"metadataType":"MetadataStructValue","struct_value":"{\"layers\":3}"} | {"metadataType":"MetadataStructValue","struct_value":"{\"layers\":3}"} |"#,
        "| source_commit | **a1b2c3d** | 0ld |",
    ] {
        assert!(body.contains(needle), "{needle:?} missing from:\n{body}");
    }
    assert_eq!(body.matches("### Model Registry").count(), 1, "{body}");
}
