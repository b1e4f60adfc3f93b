//! The MLflow backend against a real MLflow tracking server (one per test binary; unique model names).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, Ordering};

use common::RetryPolicy;
use model_registry::mlflow::{MlflowOptions, MlflowRegistry};
use model_registry::{LabelRequest, ModelRegistry, RegistryError, label, unlabel};
use serde_json::{Value, json};
use test_services::Mlflow;

/// A model name no other test of this binary uses.
fn unique(name: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!(
        "{name}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

struct Server {
    api: String,
    http: common::http::HttpClient,
}

impl Server {
    fn new() -> Self {
        Self {
            api: format!("{}/api/2.0/mlflow", Mlflow::shared().url()),
            http: common::HttpOptions {
                plain_http_hosts: vec!["127.0.0.1".into()],
                ..Default::default()
            }
            .client()
            .unwrap(),
        }
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        let response = self
            .http
            .post(format!("{}/{path}", self.api))
            .unwrap()
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(
            response.status().is_success(),
            "{path}: {}",
            response.text().await.unwrap()
        );
        response.json().await.unwrap()
    }

    async fn get(&self, path: &str, query: &[(&str, &str)]) -> Value {
        let response = self
            .http
            .get(format!("{}/{path}", self.api))
            .unwrap()
            .query(query)
            .send()
            .await
            .unwrap();
        assert!(
            response.status().is_success(),
            "{path}: {}",
            response.text().await.unwrap()
        );
        response.json().await.unwrap()
    }

    /// A model with one version per name; each version carries the tag `version=<name>` plus `extra`.
    async fn model(&self, name: &str, versions: &[&str], extra: &[(&str, &str)]) {
        self.post("registered-models/create", json!({"name": name}))
            .await;
        for version in versions {
            let mut tags = vec![json!({"key": "version", "value": version})];
            tags.extend(extra.iter().map(|(k, v)| json!({"key": k, "value": v})));
            self.post(
                "model-versions/create",
                json!({"name": name, "source": format!("oci://quay.io/rhoai/{name}:{version}"), "tags": tags}),
            )
            .await;
        }
    }

    async fn alias(&self, model: &str, alias: &str, number: &str) {
        self.post(
            "registered-models/alias",
            json!({"name": model, "alias": alias, "version": number}),
        )
        .await;
    }

    /// alias -> version number.
    async fn aliases(&self, model: &str) -> BTreeMap<String, String> {
        let found = self.get("registered-models/get", &[("name", model)]).await;
        found["registered_model"]["aliases"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|a| {
                        (
                            a["alias"].as_str().unwrap().to_owned(),
                            a["version"].as_str().unwrap().to_owned(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    async fn tags(&self, model: &str, number: &str) -> BTreeMap<String, String> {
        let found = self
            .get(
                "model-versions/get",
                &[("name", model), ("version", number)],
            )
            .await;
        found["model_version"]["tags"]
            .as_array()
            .map(|t| {
                t.iter()
                    .map(|t| {
                        (
                            t["key"].as_str().unwrap().to_owned(),
                            t["value"].as_str().unwrap_or("").to_owned(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
}

fn registry_with(page_size: u32) -> MlflowRegistry {
    let mut options = MlflowOptions::new(Mlflow::shared().url().parse().unwrap());
    options.retry = RetryPolicy::fast(3);
    options.page_size = page_size;
    MlflowRegistry::new(
        options,
        common::HttpOptions {
            plain_http_hosts: vec!["127.0.0.1".into()],
            ..Default::default()
        }
        .client()
        .unwrap(),
    )
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
        image: Some(format!("quay.io/rhoai/{model}@sha256:{}", "cd".repeat(32))),
        gitops_commit: Some("9c8b7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e2d1c0b".into()),
        deployed_at: "2026-01-12T10:15:00Z".into(),
        dry_run: false,
    }
}

#[tokio::test]
async fn moving_prod_keeps_test_and_every_other_tag() {
    let server = Server::new();
    let model = unique("jukebox");
    server
        .model(
            &model,
            &["9f8e7d6c5b", "a1b2c3d4e5"],
            &[("accuracy", "0.47")],
        )
        .await;
    server.alias(&model, "prod", "1").await;
    server.alias(&model, "test", "2").await;
    server
        .post(
            "model-versions/set-tag",
            json!({"name": model, "version": "1", "key": "deployed.prod.at", "value": "2026-01-01T00:00:00Z"}),
        )
        .await;
    let new_before = server.tags(&model, "2").await;
    let registry = registry_with(100);

    let outcome = label(&registry, &request(&model, "a1b2c3d4e5", "prod"))
        .await
        .unwrap();
    assert_eq!(outcome.labelled[0].version, "a1b2c3d4e5");
    assert_eq!(
        outcome
            .unlabelled
            .iter()
            .map(|r| r.version.as_str())
            .collect::<Vec<_>>(),
        ["9f8e7d6c5b"]
    );

    let aliases = server.aliases(&model).await;
    assert_eq!(aliases.get("prod").map(String::as_str), Some("2"));
    assert_eq!(aliases.get("test").map(String::as_str), Some("2"));
    let old_tags = server.tags(&model, "1").await;
    assert_eq!(
        old_tags,
        BTreeMap::from([
            ("version".into(), "9f8e7d6c5b".into()),
            ("accuracy".into(), "0.47".into())
        ])
    );
    let mut new_tags = server.tags(&model, "2").await;
    assert_eq!(new_tags["deployed.prod.at"], "2026-01-12T10:15:00Z");
    assert_eq!(
        new_tags["deployed.prod.gitops_commit"],
        "9c8b7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e2d1c0b"
    );
    assert!(new_tags["deployed.prod.image"].contains("@sha256:"));
    new_tags.retain(|k, _| !k.starts_with("deployed.prod."));
    assert_eq!(new_tags, new_before);

    // A re-run changes nothing.
    let mut again = request(&model, "a1b2c3d4e5", "prod");
    again.deployed_at = "2026-03-01T00:00:00Z".into();
    let outcome = label(&registry, &again).await.unwrap();
    assert_eq!(outcome.writes, 0);
    assert_eq!(
        server.tags(&model, "2").await["deployed.prod.at"],
        "2026-01-12T10:15:00Z"
    );
    assert_eq!(server.aliases(&model).await, aliases);
}

#[tokio::test]
async fn a_removed_deployment_takes_the_alias_and_tags_off() {
    let server = Server::new();
    let model = unique("radio");
    server.model(&model, &["r1"], &[]).await;
    let registry = registry_with(100);
    label(&registry, &request(&model, "r1", "test"))
        .await
        .unwrap();
    assert!(server.aliases(&model).await.contains_key("test"));

    let outcome = unlabel(&registry, &model, "r1", "test", false)
        .await
        .unwrap();
    assert_eq!(outcome.unlabelled.len(), 1);
    assert!(server.aliases(&model).await.is_empty());
    assert_eq!(
        server.tags(&model, "1").await,
        BTreeMap::from([("version".into(), "r1".into())])
    );
    // Nothing left to take off.
    assert_eq!(
        unlabel(&registry, &model, "r1", "test", false)
            .await
            .unwrap()
            .writes,
        0
    );
}

#[tokio::test]
async fn two_writers_at_once_lose_nothing() {
    let server = Server::new();
    let model = unique("duet");
    server.model(&model, &["d1", "d2"], &[]).await;
    let registry = registry_with(100);
    let (prod, test) = (request(&model, "d1", "prod"), request(&model, "d2", "test"));
    let (a, b) = tokio::join!(label(&registry, &prod), label(&registry, &test));
    a.unwrap();
    b.unwrap();
    let aliases = server.aliases(&model).await;
    assert_eq!(aliases.get("prod").map(String::as_str), Some("1"));
    assert_eq!(aliases.get("test").map(String::as_str), Some("2"));
    assert!(
        server
            .tags(&model, "1")
            .await
            .contains_key("deployed.prod.at")
    );
    assert!(
        server
            .tags(&model, "2")
            .await
            .contains_key("deployed.test.at")
    );
}

#[tokio::test]
async fn unknown_versions_are_listed_and_versions_are_paged() {
    let server = Server::new();
    let model = unique("pager");
    server
        .model(&model, &["p1", "p2", "p3", "p4", "p5"], &[])
        .await;
    server.alias(&model, "prod", "5").await;
    let registry = registry_with(2);

    let found = registry.find_model(&model).await.unwrap().unwrap();
    let names: Vec<String> = registry
        .list_versions(&found)
        .await
        .unwrap()
        .into_iter()
        .map(|v| v.name)
        .collect();
    assert_eq!(names, ["p1", "p2", "p3", "p4", "p5"]);

    let error = label(&registry, &request(&model, "p9", "prod"))
        .await
        .unwrap_err();
    assert!(
        matches!(error, RegistryError::VersionNotFound { .. }),
        "{error}"
    );
    assert!(error.to_string().contains("p1, p2, p3, p4, p5"), "{error}");

    let outcome = label(&registry, &request(&model, "p1", "prod"))
        .await
        .unwrap();
    assert_eq!(outcome.unlabelled[0].version, "p5");
    assert_eq!(server.aliases(&model).await["prod"], "1");
}

#[tokio::test]
async fn environment_names_follow_the_alias_rules() {
    let server = Server::new();
    let model = unique("names");
    server.model(&model, &["n1"], &[]).await;
    let registry = registry_with(100);
    for env in ["v1", "latest", "pre.prod", ""] {
        let error = label(&registry, &request(&model, "n1", env))
            .await
            .unwrap_err();
        assert!(
            matches!(error, RegistryError::InvalidEnvironment { .. }),
            "{env}: {error}"
        );
    }
    assert!(server.aliases(&model).await.is_empty());
    assert!(
        label(&registry, &request("no-such-model-anywhere", "n1", "prod"))
            .await
            .is_err()
    );
}

/// A version registered from a run shows that run's latest metrics; one without a run shows none.
#[tokio::test]
async fn run_metrics_of_a_version() {
    let server = Server::new();
    let model = unique("metrics");
    let run = server
        .post(
            "runs/create",
            json!({"experiment_id": "0", "run_name": model}),
        )
        .await;
    let run_id = run["run"]["info"]["run_id"].as_str().unwrap().to_owned();
    let metric = |key: &str, value: Value, step: u32| json!({"key": key, "value": value, "timestamp": 1_768_212_900_000u64 + u64::from(step), "step": step});
    server
        .post(
            "runs/log-batch",
            json!({"run_id": run_id, "metrics": [
                metric("accuracy", json!(0.91), 1),
                metric("accuracy", json!(0.973_123_4), 2),
                metric("loss", json!(0.0), 2),
                metric("samples", json!(48_000), 2),
            ]}),
        )
        .await;
    server
        .post("registered-models/create", json!({"name": model}))
        .await;
    server
        .post(
            "model-versions/create",
            json!({"name": model, "source": format!("runs:/{run_id}/model"), "run_id": run_id,
                   "tags": [{"key": "version", "value": "r1"}]}),
        )
        .await;
    server
        .post(
            "model-versions/create",
            json!({"name": model, "source": "oci://quay.io/rhoai/plain:r2",
                   "tags": [{"key": "version", "value": "r2"}]}),
        )
        .await;

    let registry = registry_with(100);
    let registered = registry.find_model(&model).await.unwrap().unwrap();
    let r1 = registry
        .find_version(&registered, "r1")
        .await
        .unwrap()
        .unwrap();
    let metrics = registry.run_metrics(&registered, &r1).await.unwrap();
    assert_eq!(
        metrics,
        BTreeMap::from([
            ("accuracy".to_owned(), 0.973_123_4),
            ("loss".to_owned(), 0.0),
            ("samples".to_owned(), 48_000.0),
        ])
    );
    // Tags stay string properties beside the metrics.
    assert_eq!(r1.string_property("version"), Some("r1"));

    let r2 = registry
        .find_version(&registered, "r2")
        .await
        .unwrap()
        .unwrap();
    assert!(
        registry
            .run_metrics(&registered, &r2)
            .await
            .unwrap()
            .is_empty()
    );
}
