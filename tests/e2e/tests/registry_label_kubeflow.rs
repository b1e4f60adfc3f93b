//! registry-label end to end against a real Kubeflow Model Registry REST server (the version
//! `scripts/go-servers` pins, on MariaDB): every model, version and property is seeded through the
//! registry's own REST API, and every check reads it back the same way. Each test has a registry of
//! its own.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

use e2e::tool_run::Outcome;

use serde_json::{Map, Value, json};
use tempfile::TempDir;
use test_services::{ModelRegistry, workspace_bin};

const A: &str = "9f8e7d6c5b";
const B: &str = "a1b2c3d4e5";
const C: &str = "0c1d2e3f4a";
const IMAGE: &str =
    "quay.io/rhoai/jukebox@sha256:efefefefefefefefefefefefefefefefefefefefefefefefefefefefefefefef";

fn label() -> Value {
    json!({"metadataType": "MetadataStringValue", "string_value": ""})
}

fn text(s: &str) -> Value {
    json!({"metadataType": "MetadataStringValue", "string_value": s})
}

/// The registry and the ids of what was seeded in it.
struct Registry {
    server: ModelRegistry,
    /// (model, version) -> version id
    ids: BTreeMap<(String, String), String>,
}

impl Registry {
    fn start() -> Registry {
        Registry {
            server: ModelRegistry::start(),
            ids: BTreeMap::new(),
        }
    }

    fn add_model(&mut self, name: &str) -> String {
        let model = self
            .server
            .api("POST", "/registered_models", Some(&json!({"name": name})))
            .expect_success("register a model");
        model["id"].as_str().expect("a string id").to_owned()
    }

    fn add_version(&mut self, model: &str, model_id: &str, name: &str, properties: Value) {
        let version = self
            .server
            .api(
                "POST",
                "/model_versions",
                Some(&json!({"name": name, "registeredModelId": model_id,
                             "customProperties": properties})),
            )
            .expect_success("register a version");
        let id = version["id"].as_str().expect("a string id").to_owned();
        self.ids.insert((model.to_owned(), name.to_owned()), id);
    }

    /// A version as the registry answers it.
    fn version(&self, model: &str, version: &str) -> Value {
        let id = &self.ids[&(model.to_owned(), version.to_owned())];
        self.server
            .api("GET", &format!("/model_versions/{id}"), None)
            .expect_success("read a version")
    }

    fn properties(&self, model: &str, version: &str) -> Map<String, Value> {
        match self.version(model, version)["customProperties"].clone() {
            Value::Object(map) => map,
            _ => Map::new(),
        }
    }

    /// The labels (empty string properties) of a version, sorted.
    fn labels(&self, model: &str, version: &str) -> Vec<String> {
        self.properties(model, version)
            .into_iter()
            .filter(|(_, v)| *v == label())
            .map(|(k, _)| k)
            .collect()
    }

    /// When each seeded version was last written (the registry moves it on every write).
    fn write_times(&self) -> BTreeMap<String, Value> {
        self.ids
            .keys()
            .map(|(model, version)| {
                (
                    format!("{model}:{version}"),
                    self.version(model, version)["lastUpdateTimeSinceEpoch"].clone(),
                )
            })
            .collect()
    }
}

/// jukebox: A (in test, prod and staging, with properties of each type), B (with properties), C;
/// radio: r1 (in prod).
fn seeded() -> Registry {
    let mut registry = Registry::start();
    let jukebox = registry.add_model("jukebox");
    let accuracy = |x: f64| json!({"metadataType": "MetadataDoubleValue", "double_value": x});
    registry.add_version(
        "jukebox",
        &jukebox,
        A,
        json!({
            "test": label(), "prod": label(), "staging": label(),
            "accuracy": accuracy(0.47),
            "epochs": {"metadataType": "MetadataIntValue", "int_value": "12"},
            "validated": {"metadataType": "MetadataBoolValue", "bool_value": true},
            "layers": {"metadataType": "MetadataStructValue", "struct_value": "eyJsYXllcnMiOjN9"},
            "pipeline_run_id": text("3f1e2d4c"),
            "deployed.prod.image": text("quay.io/rhoai/jukebox:old"),
            "deployed.test.image": text("quay.io/rhoai/jukebox:old"),
        }),
    );
    registry.add_version(
        "jukebox",
        &jukebox,
        B,
        json!({
            "accuracy": accuracy(0.51),
            "layers": {"metadataType": "MetadataStructValue", "struct_value": "eyJsYXllcnMiOjR9"},
            "owner": text("data-science"),
        }),
    );
    registry.add_version("jukebox", &jukebox, C, json!({}));
    let radio = registry.add_model("radio");
    registry.add_version("radio", &radio, "r1", json!({"prod": label()}));
    registry
}

/// A scratch directory for the results.
struct Runner {
    dir: TempDir,
    url: String,
}

impl Runner {
    fn new(registry: &Registry) -> Runner {
        Runner {
            dir: tempfile::tempdir().unwrap(),
            url: registry.server.url(),
        }
    }

    fn results(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// registry-label against the registry (it has no authentication of its own: no token).
    fn command(&self, results: &str, args: &[&str]) -> Command {
        let results = self.results(results);
        let _ = std::fs::remove_dir_all(&results);
        let mut command = Command::new(workspace_bin("registry-label"));
        command
            .args(["--registry-url", &self.url])
            .arg("--results-dir")
            .arg(&results)
            .args(["--plain-http", "127.0.0.1"])
            .args(args)
            .env_remove("MODELCAR_REGISTRY_TOKEN")
            .env_remove("REGISTRY_TOKEN_FILE")
            .env_remove("REGISTRY_API_VERSION")
            .env("RUST_LOG", "info");
        command
    }

    fn label(&self, args: &[&str]) -> Outcome {
        Outcome::of(self.command("results", args))
    }

    fn result(&self, name: &str) -> String {
        std::fs::read_to_string(self.results("results").join(name))
            .unwrap_or_else(|e| panic!("result {name}: {e}"))
    }
}

fn stderr(output: &Outcome) -> String {
    output.stderr().to_owned()
}

fn assert_success(output: &Outcome) {
    output.assert_ok();
}

/// Every entry of `before` but those named is in `after`, unchanged.
fn assert_kept(before: &Map<String, Value>, after: &Map<String, Value>, changed: &[&str]) {
    for (key, value) in before {
        if !changed.contains(&key.as_str()) {
            assert_eq!(after.get(key), Some(value), "{key} changed: {after:#?}");
        }
    }
}

#[test]
fn prod_moves_and_everything_else_stays() {
    let registry = seeded();
    let runner = Runner::new(&registry);
    let (a_before, b_before) = (
        registry.properties("jukebox", A),
        registry.properties("jukebox", B),
    );
    let radio_before = registry.version("radio", "r1");
    let args = [
        "--model",
        "jukebox",
        "--model-version",
        B,
        "--env",
        "prod",
        "--image",
        IMAGE,
        "--gitops-commit",
        "5f0c1d2e",
    ];
    let output = runner.label(&args);
    assert_success(&output);
    assert_eq!(runner.result("LABELLED"), format!("jukebox:{B}:prod"));
    assert_eq!(runner.result("UNLABELLED"), format!("jukebox:{A}:prod"));

    let (a, b) = (
        registry.properties("jukebox", A),
        registry.properties("jukebox", B),
    );
    assert_eq!(registry.labels("jukebox", A), ["staging", "test"]);
    assert_eq!(registry.labels("jukebox", B), ["prod"]);
    assert_kept(&a_before, &a, &["prod", "deployed.prod.image"]);
    assert!(!a.contains_key("deployed.prod.image"), "{a:#?}");
    assert_eq!(a["deployed.test.image"], text("quay.io/rhoai/jukebox:old"));
    assert_kept(&b_before, &b, &[]);
    assert_eq!(b["deployed.prod.image"], text(IMAGE));
    assert_eq!(b["deployed.prod.gitops_commit"], text("5f0c1d2e"));
    assert!(
        b["deployed.prod.at"]["string_value"]
            .as_str()
            .unwrap()
            .ends_with('Z')
    );
    // The struct values went back as the registry takes them, and read as they were.
    assert_eq!(a["layers"]["struct_value"], "{\"layers\":3}");
    assert_eq!(registry.properties("jukebox", C), Map::new());
    assert_eq!(
        registry.version("radio", "r1"),
        radio_before,
        "another model"
    );

    // A re-run writes nothing: no version's write time moves.
    let times = registry.write_times();
    let output = runner.label(&args);
    assert_success(&output);
    assert_eq!(runner.result("LABELLED"), format!("jukebox:{B}:prod"));
    assert_eq!(runner.result("UNLABELLED"), "");
    assert_eq!(registry.write_times(), times, "a re-run must not write");

    // Another environment on the same version; prod and test stay where they are.
    assert_success(&runner.label(&["--model", "jukebox", "--model-version", B, "--env", "test"]));
    assert_eq!(registry.labels("jukebox", A), ["staging"]);
    assert_eq!(registry.labels("jukebox", B), ["prod", "test"]);
    assert!(
        !registry
            .properties("jukebox", A)
            .contains_key("deployed.test.image")
    );
}

/// Writers for four environments on one version at once: each reads, changes and writes the whole
/// map, and the registry answers some of the colliding writes with a 500. Nothing is lost.
#[test]
fn concurrent_writers_lose_nothing() {
    let mut registry = seeded();
    let runner = Runner::new(&registry);
    let jukebox = registry.add_model("crowded");
    let envs = ["dev", "test", "staging", "prod"];
    for round in 1..=3 {
        let version = format!("v{round}");
        let seeded = json!({"accuracy": {"metadataType": "MetadataDoubleValue", "double_value": 0.5},
                            "owner": text("data-science")});
        registry.add_version("crowded", &jukebox, &version, seeded.clone());
        let commands: Vec<(&str, Command)> = envs
            .iter()
            .map(|env| {
                let command = runner.command(
                    &format!("results-{env}"),
                    &[
                        "--model",
                        "crowded",
                        "--model-version",
                        &version,
                        "--env",
                        env,
                    ],
                );
                (*env, command)
            })
            .collect();
        // Every writer at once, each through the shared harness on a thread of its own.
        let outcomes: Vec<(&str, Outcome)> = std::thread::scope(|scope| {
            let running: Vec<_> = commands
                .into_iter()
                .map(|(env, command)| (env, scope.spawn(move || Outcome::of(command))))
                .collect();
            running
                .into_iter()
                .map(|(env, thread)| (env, thread.join().unwrap()))
                .collect()
        });
        for (env, output) in outcomes {
            assert_success(&output);
            let warnings = stderr(&output).matches(" WARN ").count();
            if warnings > 0 {
                eprintln!(
                    "round {round}, {env}: {warnings} warning(s):\n{}",
                    stderr(&output)
                );
            }
        }
        let properties = registry.properties("crowded", &version);
        assert_eq!(
            registry.labels("crowded", &version),
            ["dev", "prod", "staging", "test"],
            "round {round}: {properties:#?}"
        );
        for env in envs {
            assert!(
                properties.contains_key(&format!("deployed.{env}.at")),
                "round {round}: deployed.{env}.at lost: {properties:#?}"
            );
        }
        assert_kept(seeded.as_object().unwrap(), &properties, &[]);
    }
}

/// More versions than one page: the version that holds prod is on the second page of the listing
/// (the tool asks for 100 a page), and so is a version named in the "versions that exist" hint.
#[test]
fn pagination_reaches_every_version() {
    let mut registry = Registry::start();
    let big = registry.add_model("big");
    for n in 1..=105 {
        let properties = if n == 103 {
            json!({"prod": label()})
        } else {
            json!({})
        };
        registry.add_version("big", &big, &format!("w{n:03}"), properties);
    }
    // The server's paging: pageSize a page, an opaque nextPageToken, "" on the last page; without
    // pageSize, everything at once.
    let path = format!("/registered_models/{big}/versions");
    let first = registry
        .server
        .api("GET", &format!("{path}?pageSize=100"), None)
        .expect_success("first page");
    let token = first["nextPageToken"].as_str().unwrap();
    assert_eq!(
        (first["size"].as_u64(), token.is_empty()),
        (Some(100), false)
    );
    let second = registry
        .server
        .api(
            "GET",
            &format!("{path}?pageSize=100&nextPageToken={token}"),
            None,
        )
        .expect_success("second page");
    assert_eq!(
        (second["size"].as_u64(), &second["nextPageToken"]),
        (Some(5), &json!(""))
    );
    let all = registry
        .server
        .api("GET", &path, None)
        .expect_success("all");
    assert_eq!(all["size"], 105);

    let runner = Runner::new(&registry);
    let output = runner.label(&["--model", "big", "--model-version", "w002", "--env", "prod"]);
    assert_success(&output);
    assert_eq!(runner.result("UNLABELLED"), "big:w103:prod");
    assert!(registry.labels("big", "w103").is_empty());
    assert_eq!(registry.labels("big", "w002"), ["prod"]);

    let output = runner.label(&["--model", "big", "--model-version", "w999", "--env", "prod"]);
    assert_eq!(output.code(), Some(2), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("w001, w002"),
        "{}",
        stderr(&output)
    );
    assert!(
        stderr(&output).contains("w104, w105"),
        "{}",
        stderr(&output)
    );
}

/// What does not exist: the registry's own 404s, and the tool's messages naming what does exist.
/// The pinned server serves v1alpha3 only: the tool finds it by itself, and says so when told v1.
#[test]
fn unknown_model_and_version_are_named() {
    let registry = seeded();
    let runner = Runner::new(&registry);
    let times = registry.write_times();

    let missing = registry
        .server
        .api("GET", "/registered_model?name=jukebox-typo", None);
    assert_eq!(missing.status, 404);
    assert_eq!(
        missing.body,
        json!({"code": "Not Found",
               "message": "no registered models found for name=jukebox-typo, externalId=: not found"})
    );
    let output = runner.label(&[
        "--model",
        "jukebox-typo",
        "--model-version",
        B,
        "--env",
        "prod",
    ]);
    assert_eq!(output.code(), Some(2), "{}", stderr(&output));
    for needle in [
        "\"jukebox-typo\"",
        "models that exist: jukebox, radio",
        "--model",
    ] {
        assert!(
            stderr(&output).contains(needle),
            "{needle}: {}",
            stderr(&output)
        );
    }

    let model_id = registry.version("jukebox", A)["registeredModelId"].clone();
    let missing = registry.server.api(
        "GET",
        &format!(
            "/model_version?name=nope&parentResourceId={}",
            model_id.as_str().unwrap()
        ),
        None,
    );
    assert_eq!(missing.status, 404);
    assert_eq!(missing.body["code"], "Not Found");
    assert!(
        missing.body["message"]
            .as_str()
            .unwrap()
            .starts_with("no model versions found for versionName=nope"),
        "{missing:?}"
    );
    let output = runner.label(&[
        "--model",
        "jukebox",
        "--model-version",
        "nope",
        "--env",
        "prod",
    ]);
    assert_eq!(output.code(), Some(2), "{}", stderr(&output));
    assert!(
        stderr(&output).contains(&format!("versions that exist: {A}, {B}, {C}")),
        "{}",
        stderr(&output)
    );

    let v1 = raw_get(
        &registry.server.host(),
        "/api/model_registry/v1/registered_models",
    );
    assert_eq!(v1, (404, "404 page not found".to_owned()));
    let output = runner.label(&[
        "--model",
        "jukebox",
        "--model-version",
        B,
        "--env",
        "prod",
        "--registry-api-version",
        "v1",
    ]);
    assert_eq!(output.code(), Some(1), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("no Model Registry REST API")
            && stderr(&output).contains("/api/model_registry/v1")
            && stderr(&output).contains("(--registry-url, --registry-api-version)"),
        "{}",
        stderr(&output)
    );
    let output = runner.label(&[
        "--model",
        "jukebox",
        "--model-version",
        B,
        "--env",
        "prod",
        "--dry-run",
    ]);
    assert_success(&output);
    assert_eq!(runner.result("UNLABELLED"), format!("jukebox:{A}:prod"));
    assert_eq!(registry.write_times(), times, "nothing was written");
}

/// A plain GET outside the API prefix: the status and the body, trimmed.
fn raw_get(host: &str, path: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(host).expect("connect to the registry");
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").expect("an HTTP response");
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status");
    (status, body.trim().to_owned())
}
