//! registry-label records the ModelCar as the version's model artifact, and registers what is missing
//! with --register: end to end through the binary against the real Kubeflow Model Registry (the
//! version `scripts/go-servers` pins, on MariaDB) and the real MLflow tracking server.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;

use e2e::tool_run::Outcome;

use serde_json::{Value, json};
use test_services::{Fault, FaultProxy, Mlflow, ModelRegistry, Rule, workspace_bin};

const DIGEST_A: &str = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const DIGEST_B: &str = "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

fn image(digest: &str) -> String {
    format!("quay.io/rhoai/jukebox:v1@{digest}")
}

fn uri(digest: &str) -> String {
    format!("oci://quay.io/rhoai/jukebox@{digest}")
}

/// registry-label against `url` (plain HTTP on loopback, no token).
fn run(url: &str, args: &[&str]) -> Outcome {
    let mut command = Command::new(workspace_bin("registry-label"));
    command
        .args(["--registry-url", url])
        .args(["--plain-http", "127.0.0.1"])
        .args(args)
        .env_remove("MODELCAR_REGISTRY_TOKEN")
        .env_remove("REGISTRY_TOKEN_FILE")
        .env_remove("REGISTRY_API_VERSION")
        .env("RUST_LOG", "info");
    Outcome::of(command)
}

fn stderr(output: &Outcome) -> String {
    output.stderr().to_owned()
}

fn assert_success(output: &Outcome) {
    output.assert_ok();
}

fn items(value: Value) -> Vec<Value> {
    value["items"].as_array().cloned().unwrap_or_default()
}

/// What the real registry holds: every model, version and artifact, as it answers them.
fn snapshot(server: &ModelRegistry) -> Value {
    let models = items(
        server
            .api("GET", "/registered_models", None)
            .expect_success("list models"),
    );
    let versions = items(
        server
            .api("GET", "/model_versions", None)
            .expect_success("list versions"),
    );
    let artifacts = items(
        server
            .api("GET", "/model_artifacts", None)
            .expect_success("list model artifacts"),
    );
    json!({"models": models, "versions": versions, "artifacts": artifacts})
}

fn version_artifacts(server: &ModelRegistry, version_id: &str) -> Vec<Value> {
    items(
        server
            .api(
                "GET",
                &format!("/model_versions/{version_id}/artifacts"),
                None,
            )
            .expect_success("list a version's artifacts"),
    )
}

#[test]
fn kubeflow_artifact_created_left_alone_and_updated_in_place() {
    let server = ModelRegistry::start();
    let model = server
        .api(
            "POST",
            "/registered_models",
            Some(&json!({"name": "jukebox"})),
        )
        .expect_success("register a model");
    let version = server
        .api(
            "POST",
            "/model_versions",
            Some(&json!({"name": "v1", "registeredModelId": model["id"]})),
        )
        .expect_success("register a version");
    let version_id = version["id"].as_str().unwrap().to_owned();
    // Another artifact of the version, which must stay as it is.
    let doc = server
        .api(
            "POST",
            &format!("/model_versions/{version_id}/artifacts"),
            Some(&json!({"artifactType": "doc-artifact", "name": "readme",
                         "uri": "https://docs.example.com/jukebox"})),
        )
        .expect_success("add a doc artifact");
    let url = server.url();
    let args = |digest: &'static str| {
        let args = vec![
            "--model".to_owned(),
            "jukebox".into(),
            "--model-version".into(),
            "v1".into(),
            "--env".into(),
            "test".into(),
            "--image".into(),
            image(digest),
            "--model-format".into(),
            "onnx".into(),
            "--model-format-version".into(),
            "1".into(),
        ];
        args
    };
    let run_with = |digest: &'static str| {
        let args = args(digest);
        run(&url, &args.iter().map(String::as_str).collect::<Vec<_>>())
    };

    assert_success(&run_with(DIGEST_A));
    let artifacts = version_artifacts(&server, &version_id);
    assert_eq!(artifacts.len(), 2, "{artifacts:#?}");
    let model_artifact = artifacts
        .iter()
        .find(|a| a["artifactType"] == "model-artifact")
        .expect("a model artifact")
        .clone();
    assert_eq!(model_artifact["uri"], uri(DIGEST_A));
    assert_eq!(model_artifact["modelFormatName"], "onnx");
    assert_eq!(model_artifact["modelFormatVersion"], "1");

    // A re-run writes nothing: every write moves lastUpdateTimeSinceEpoch.
    let before = snapshot(&server);
    assert_success(&run_with(DIGEST_A));
    assert_eq!(snapshot(&server), before, "a re-run wrote to the registry");

    // A new digest updates the same artifact in place; the doc artifact stays.
    assert_success(&run_with(DIGEST_B));
    let artifacts = version_artifacts(&server, &version_id);
    assert_eq!(artifacts.len(), 2, "{artifacts:#?}");
    let updated = artifacts
        .iter()
        .find(|a| a["artifactType"] == "model-artifact")
        .unwrap();
    assert_eq!(updated["id"], model_artifact["id"]);
    assert_eq!(updated["name"], model_artifact["name"]);
    assert_eq!(updated["uri"], uri(DIGEST_B));
    assert_eq!(updated["modelFormatName"], "onnx");
    let doc_now = artifacts
        .iter()
        .find(|a| a["artifactType"] == "doc-artifact")
        .unwrap();
    assert_eq!(*doc_now, doc);
}

#[test]
fn kubeflow_register_creates_model_version_and_artifact_and_refused_writes_create_nothing() {
    let server = ModelRegistry::start();
    let register = |url: &str, version: &str| {
        run(
            url,
            &[
                "--model",
                "radio",
                "--model-version",
                version,
                "--env",
                "test",
                "--image",
                &image(DIGEST_A),
                "--register",
            ],
        )
    };

    // A registry whose proxy refuses every write (the role may read only): nothing is created.
    let read_only = FaultProxy::start("127.0.0.1", &server.host());
    for method in ["POST", "PATCH"] {
        read_only.add_rule(
            Rule::new(
                method,
                "/api/",
                Fault::Refuse {
                    status: 403,
                    retry_after: None,
                },
            )
            .times(100),
        );
    }
    let before = snapshot(&server);
    let refused = register(&read_only.url(), "r1");
    assert_ne!(refused.code(), Some(0), "{}", stderr(&refused));
    assert!(stderr(&refused).contains("403"), "{}", stderr(&refused));
    assert_eq!(snapshot(&server), before, "a refused run created something");

    // Without --register a missing version is still an error listing what exists.
    let missing = run(
        &server.url(),
        &["--model", "radio", "--model-version", "r1", "--env", "test"],
    );
    assert_eq!(missing.code(), Some(2), "{}", stderr(&missing));
    assert!(
        stderr(&missing).contains("\"radio\" not found"),
        "{}",
        stderr(&missing)
    );

    assert_success(&register(&server.url(), "r1"));
    let model = server
        .api("GET", "/registered_model?name=radio", None)
        .expect_success("find the model");
    let version = server
        .api(
            "GET",
            &format!(
                "/model_version?name=r1&parentResourceId={}",
                model["id"].as_str().unwrap()
            ),
            None,
        )
        .expect_success("find the version");
    assert_eq!(version["state"], "LIVE");
    assert_eq!(
        version["customProperties"]["test"],
        json!({"metadataType": "MetadataStringValue", "string_value": ""})
    );
    let artifacts = version_artifacts(&server, version["id"].as_str().unwrap());
    assert_eq!(artifacts.len(), 1, "{artifacts:#?}");
    assert_eq!(artifacts[0]["artifactType"], "model-artifact");
    assert_eq!(artifacts[0]["uri"], uri(DIGEST_A));

    // Registered: a re-run writes nothing.
    let before = snapshot(&server);
    assert_success(&register(&server.url(), "r1"));
    assert_eq!(snapshot(&server), before);
}

#[test]
fn kubeflow_register_rolls_back_when_the_artifact_cannot_be_recorded() {
    let server = ModelRegistry::start();
    let proxy = FaultProxy::start("127.0.0.1", &server.host());
    proxy.add_rule(
        Rule::new(
            "POST",
            "/artifacts",
            Fault::Refuse {
                status: 500,
                retry_after: None,
            },
        )
        .times(100),
    );
    let args = [
        "--model",
        "tuner",
        "--model-version",
        "t1",
        "--env",
        "test",
        "--image",
        &image(DIGEST_A),
        "--register",
    ];
    let failed = run(&proxy.url(), &args);
    assert_ne!(failed.code(), Some(0));
    assert!(
        stderr(&failed).contains("rolled back"),
        "{}",
        stderr(&failed)
    );
    // The API cannot delete: the version and model this run created are archived, without labels.
    let snap = snapshot(&server);
    let versions = snap["versions"].as_array().unwrap();
    assert_eq!(versions.len(), 1);
    assert_eq!(versions[0]["state"], "ARCHIVED");
    assert_eq!(versions[0]["customProperties"], json!({}));
    assert_eq!(snap["models"][0]["state"], "ARCHIVED");
    assert_eq!(snap["artifacts"], json!([]));

    // Once artifacts can be recorded, a re-run completes the registration and restores it.
    assert_success(&run(&server.url(), &args));
    let snap = snapshot(&server);
    assert_eq!(snap["versions"][0]["state"], "LIVE");
    assert_eq!(snap["models"][0]["state"], "LIVE");
    assert_eq!(snap["artifacts"][0]["uri"], uri(DIGEST_A));
}

/// A minimal HTTP/1.0 JSON client for seeding and reading MLflow (loopback only).
fn http_json(method: &str, url: &str, body: Option<Value>) -> Value {
    let rest = url.strip_prefix("http://").expect("an http URL");
    let (host, path) = rest.split_once('/').expect("a path");
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let mut stream = TcpStream::connect(host).expect("connect to MLflow");
    write!(
        stream,
        "{method} /{path} HTTP/1.0\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, payload) = response.split_once("\r\n\r\n").expect("an HTTP response");
    assert!(head.contains(" 200"), "{method} {path}: {response}");
    serde_json::from_str(payload).unwrap_or_else(|e| panic!("{path}: {e}: {payload}"))
}

fn mlflow_tags(api: &str, model: &str, number: &str) -> Value {
    let version = http_json(
        "GET",
        &format!("{api}/model-versions/get?name={model}&version={number}"),
        None,
    );
    let mut tags = serde_json::Map::new();
    for tag in version["model_version"]["tags"].as_array().unwrap() {
        tags.insert(
            tag["key"].as_str().unwrap().to_owned(),
            tag["value"].clone(),
        );
    }
    json!({"source": version["model_version"]["source"], "tags": tags})
}

#[test]
fn mlflow_records_the_uri_as_a_tag_and_registers_with_it() {
    let url = Mlflow::shared().url();
    let api = format!("{url}/api/2.0/mlflow");
    let model = format!("jukebox-record-{}", std::process::id());
    http_json(
        "POST",
        &format!("{api}/registered-models/create"),
        Some(json!({"name": model})),
    );
    http_json(
        "POST",
        &format!("{api}/model-versions/create"),
        Some(json!({"name": model, "source": "s3://bucket/jukebox/v1",
                     "tags": [{"key": "version", "value": "v1"}]})),
    );
    let label = |version: &str, digest: &str, register: bool| {
        let image = image(digest);
        let mut args = vec![
            "--registry-kind",
            "mlflow",
            "--model",
            &model,
            "--model-version",
            version,
            "--env",
            "test",
            "--image",
            &image,
            "--model-format",
            "onnx",
        ];
        if register {
            args.push("--register");
        }
        run(&url, &args)
    };

    assert_success(&label("v1", DIGEST_A, false));
    let recorded = mlflow_tags(&api, &model, "1");
    // The source cannot change: the image is a tag.
    assert_eq!(recorded["source"], "s3://bucket/jukebox/v1");
    assert_eq!(recorded["tags"]["modelcar.uri"], uri(DIGEST_A));
    assert_eq!(recorded["tags"]["modelcar.format"], "onnx");
    assert_success(&label("v1", DIGEST_B, false));
    assert_eq!(
        mlflow_tags(&api, &model, "1")["tags"]["modelcar.uri"],
        uri(DIGEST_B)
    );

    // A version that is not there yet is registered with the image as its source.
    let missing = label("v2", DIGEST_A, false);
    assert_eq!(missing.code(), Some(2), "{}", stderr(&missing));
    assert_success(&label("v2", DIGEST_A, true));
    let registered = mlflow_tags(&api, &model, "2");
    assert_eq!(registered["source"], uri(DIGEST_A));
    assert_eq!(registered["tags"]["version"], "v2");
    assert_eq!(registered["tags"]["modelcar.uri"], uri(DIGEST_A));
}
