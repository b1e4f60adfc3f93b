//! registry-label end to end: the real binary against the fake Kubeflow Model Registry, a real MLflow
//! server and a real git server (for `--from-gitops`). `--wait-ready` runs against a real Kubernetes API
//! server in kube_api.rs.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::Command;

use e2e::tool_run::Outcome;

use serde_json::{Value, json};
use tempfile::TempDir;
use test_fakes::kubeflow::FakeKubeflow;
use test_services::{GitServer, Mlflow, workspace_bin};

const A: &str = "9f8e7d6c5b";
const B: &str = "a1b2c3d4e5";
const C: &str = "0c1d2e3f4a";
const GIT_USER: &str = "pipeline";
const GIT_PASSWORD: &str = "git-S3cret-4a9e";

fn label_value() -> Value {
    json!({"metadataType": "MetadataStringValue", "string_value": ""})
}

/// A fake registry with jukebox (A in test and prod, B, C) and radio (R1 in test and prod, R2).
fn registry() -> FakeKubeflow {
    let fake = FakeKubeflow::start();
    let jukebox = fake.add_model("jukebox");
    let accuracy = json!({"metadataType": "MetadataDoubleValue", "double_value": 0.47});
    fake.add_version(
        &jukebox,
        A,
        json!({"accuracy": accuracy, "test": label_value(), "prod": label_value()}),
    );
    fake.add_version(&jukebox, B, json!({"accuracy": accuracy}));
    fake.add_version(&jukebox, C, json!({}));
    let radio = fake.add_model("radio");
    fake.add_version(
        &radio,
        "r1",
        json!({"test": label_value(), "prod": label_value()}),
    );
    fake.add_version(&radio, "r2", json!({}));
    fake
}

/// A scratch directory with the token files and the results directory.
struct Scratch {
    dir: TempDir,
}

impl Scratch {
    fn new(registry_token: &str) -> Scratch {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("registry-token"),
            format!("{registry_token}\n"),
        )
        .unwrap();
        std::fs::write(dir.path().join("git-token"), GIT_PASSWORD).unwrap();
        Scratch { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Runs registry-label (through the shared harness) with the registry's URL and token, its
    /// results in this folder's `results`, read by [`Scratch::result`].
    fn label(&self, registry_url: &str, args: &[&str]) -> Outcome {
        let results = self.path("results");
        let _ = std::fs::remove_dir_all(&results);
        let mut command = Command::new(workspace_bin("registry-label"));
        command
            .arg("--registry-url")
            .arg(registry_url)
            .arg("--registry-token-file")
            .arg(self.path("registry-token"))
            .arg("--results-dir")
            .arg(&results)
            // Every test server here speaks plain HTTP on loopback.
            .args(["--plain-http", "127.0.0.1"])
            .args(args)
            .env_remove("MODELCAR_REGISTRY_TOKEN")
            .env("RUST_LOG", "info");
        Outcome::of(command)
    }

    fn result(&self, name: &str) -> String {
        std::fs::read_to_string(self.path("results").join(name))
            .unwrap_or_else(|e| panic!("result {name}: {e}"))
    }

    /// A result as a sorted list.
    fn result_list(&self, name: &str) -> Vec<String> {
        let mut items: Vec<String> = self
            .result(name)
            .split(',')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
        items.sort();
        items
    }
}

fn stderr(output: &Outcome) -> String {
    output.stderr().to_owned()
}

fn assert_success(output: &Outcome) {
    output.assert_ok();
}

fn labels(fake: &FakeKubeflow, model: &str, version: &str) -> Vec<String> {
    fake.custom_properties(model, version)
        .into_iter()
        .filter(|(_, v)| *v == label_value())
        .map(|(k, _)| k)
        .collect()
}

#[test]
fn kubeflow_moves_prod_and_a_rerun_changes_nothing() {
    let fake = registry();
    let run = Scratch::new(fake.token());
    let image = format!("quay.io/rhoai/jukebox@sha256:{}", "ef".repeat(32));
    let args = [
        "--model",
        "jukebox",
        "--model-version",
        B,
        "--env",
        "prod",
        "--image",
        &image,
        "--gitops-commit",
        "5f0c1d2e",
    ];
    let output = run.label(&fake.url(), &args);
    assert_success(&output);
    assert_eq!(run.result("LABELLED"), format!("jukebox:{B}:prod"));
    assert_eq!(run.result("UNLABELLED"), format!("jukebox:{A}:prod"));
    assert!(
        output
            .stdout()
            .contains(&format!("LABELLED=jukebox:{B}:prod"))
    );
    assert_eq!(labels(&fake, "jukebox", A), ["test"]);
    assert_eq!(labels(&fake, "jukebox", B), ["prod"]);
    let props = fake.custom_properties("jukebox", B);
    assert_eq!(props["deployed.prod.image"]["string_value"], image.as_str());
    assert!(props.contains_key("accuracy"));

    let patches = fake.count("PATCH");
    assert_success(&run.label(&fake.url(), &args));
    assert_eq!(fake.count("PATCH"), patches, "a re-run must not write");
    assert_eq!(run.result("LABELLED"), format!("jukebox:{B}:prod"));
    assert_eq!(run.result("UNLABELLED"), "");
}

#[test]
fn unknown_versions_bad_tokens_and_dry_runs_change_nothing() {
    let fake = registry();
    let run = Scratch::new(fake.token());
    let output = run.label(
        &fake.url(),
        &[
            "--model",
            "jukebox",
            "--model-version",
            "nope",
            "--env",
            "prod",
        ],
    );
    assert_eq!(output.code(), Some(2), "{}", stderr(&output));
    assert!(
        stderr(&output).contains(&format!(
            "versions that exist: {A}, {B}, {C}; check the version's name (--model-version)"
        )),
        "{}",
        stderr(&output)
    );

    let output = run.label(
        &fake.url(),
        &[
            "--model",
            "jukebox",
            "--model-version",
            B,
            "--env",
            "prod",
            "--dry-run",
        ],
    );
    assert_success(&output);
    assert_eq!(run.result("LABELLED"), format!("jukebox:{B}:prod"));
    assert_eq!(run.result("UNLABELLED"), format!("jukebox:{A}:prod"));
    assert_eq!(fake.count("PATCH"), 0);
    assert_eq!(labels(&fake, "jukebox", A), ["prod", "test"]);

    let wrong = Scratch::new("wrong-token-value");
    let output = wrong.label(
        &fake.url(),
        &[
            "--model",
            "jukebox",
            "--model-version",
            B,
            "--env",
            "prod",
            "--registry-name",
            "user1-prod-registry",
        ],
    );
    assert_eq!(output.code(), Some(1));
    assert!(
        stderr(&output).contains("registry-user-user1-prod-registry")
            && stderr(&output).contains("--registry-token-file or MODELCAR_REGISTRY_TOKEN"),
        "{}",
        stderr(&output)
    );
    assert!(!stderr(&output).contains("wrong-token-value"));
    assert_eq!(fake.count("PATCH"), 0);
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
    assert!(
        head.starts_with("HTTP/1.1 200") || head.starts_with("HTTP/1.0 200"),
        "{method} {path}: {response}"
    );
    serde_json::from_str(payload).unwrap_or_else(|e| panic!("{path}: {e}: {payload}"))
}

#[test]
fn mlflow_alias_moves_and_tags_record_the_deployment() {
    let api = format!("{}/api/2.0/mlflow", Mlflow::shared().url());
    let model = format!("jukebox-e2e-{}", std::process::id());
    http_json(
        "POST",
        &format!("{api}/registered-models/create"),
        Some(json!({"name": model})),
    );
    for version in [A, B] {
        let tags = [json!({"key": "version", "value": version})];
        http_json(
            "POST",
            &format!("{api}/model-versions/create"),
            Some(
                json!({"name": model, "source": format!("oci://quay.io/rhoai/jukebox:{version}"), "tags": tags}),
            ),
        );
    }
    http_json(
        "POST",
        &format!("{api}/registered-models/alias"),
        Some(json!({"name": model, "alias": "prod", "version": "1"})),
    );
    http_json(
        "POST",
        &format!("{api}/registered-models/alias"),
        Some(json!({"name": model, "alias": "test", "version": "1"})),
    );

    let run = Scratch::new("unused");
    let args = [
        "--registry-kind",
        "mlflow",
        "--model",
        &model,
        "--model-version",
        B,
        "--env",
        "prod",
        "--gitops-commit",
        "abc123",
    ];
    let output = run.label(&Mlflow::shared().url(), &args);
    assert_success(&output);
    assert_eq!(run.result("UNLABELLED"), format!("{model}:{A}:prod"));
    let found = http_json(
        "GET",
        &format!("{api}/registered-models/get?name={model}"),
        None,
    );
    let mut aliases: Vec<(String, String)> = found["registered_model"]["aliases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["alias"].as_str().unwrap().to_owned(),
                a["version"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    aliases.sort();
    assert_eq!(
        aliases,
        [
            ("prod".to_owned(), "2".to_owned()),
            ("test".to_owned(), "1".to_owned())
        ]
    );
    let version = http_json(
        "GET",
        &format!("{api}/model-versions/get?name={model}&version=2"),
        None,
    );
    let tags = version["model_version"]["tags"].as_array().unwrap();
    assert!(
        tags.iter()
            .any(|t| t["key"] == "deployed.prod.gitops_commit" && t["value"] == "abc123"),
        "{tags:?}"
    );

    let output = run.label(
        &Mlflow::shared().url(),
        &[
            "--registry-kind",
            "mlflow",
            "--model",
            &model,
            "--model-version",
            B,
            "--env",
            "v2",
        ],
    );
    assert_eq!(output.code(), Some(2), "{}", stderr(&output));
    assert!(stderr(&output).contains("reserves"), "{}", stderr(&output));
}

/// A working clone of the GitOps repository, pushing to the real git server.
struct Clone<'a> {
    server: &'a GitServer,
    dir: TempDir,
}

impl Clone<'_> {
    fn git(&self, args: &[&str]) -> String {
        let output = self
            .server
            .git_command()
            .current_dir(self.dir.path())
            .args(["-c", "user.name=Test", "-c", "user.email=test@example.com"])
            .args(args)
            .output()
            .expect("run git");
        assert!(
            output.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).trim().to_owned()
    }

    fn write(&self, path: &str, model: &str, version: &str) {
        let file = self.dir.path().join(path);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        let text = format!(
            "chart_path: charts/model-deployment\nname: {model}\nversion: {version}\nimage_repository: quay.io\nimage_namespace: rhoai\n"
        );
        std::fs::write(file, text).unwrap();
    }

    fn commit_all(&self, message: &str) -> String {
        self.git(&["add", "-A"]);
        self.git(&["commit", "--quiet", "-m", message]);
        self.git(&["rev-parse", "HEAD"])
    }
}

fn config(env: &str, model: &str) -> String {
    format!("model-deployments/{env}/{model}/config.yaml")
}

#[test]
fn from_gitops_labels_what_each_push_deployed() {
    let server = GitServer::start(GIT_USER, GIT_PASSWORD);
    let url = server.create_repo("mlops-gitops");
    let seed =
        |model: &str, version: &str| format!("name: {model}\nversion: {version}\n").into_bytes();
    let (jt, jp, rt, rp) = (
        seed("jukebox", A),
        seed("jukebox", A),
        seed("radio", "r1"),
        seed("radio", "r1"),
    );
    let files: [(&str, &[u8]); 4] = [
        (&config("test", "jukebox"), &jt),
        (&config("prod", "jukebox"), &jp),
        (&config("test", "radio"), &rt),
        (&config("prod", "radio"), &rp),
    ];
    server.seed("mlops-gitops", &files, "Seed the GitOps repository");
    let clone = Clone {
        server: &server,
        dir: tempfile::tempdir().unwrap(),
    };
    clone.git(&["clone", "--quiet", &url, "."]);

    let fake = registry();
    let run = Scratch::new(fake.token());
    let host = url
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap()
        .to_owned();
    let git_token = run.path("git-token");
    let from_push = |commit: &str, before: Option<&str>, extra: &[&str]| {
        let mut args = vec![
            "--repo-url",
            &url,
            "--commit",
            commit,
            "--plain-http",
            &host,
            "--git-username",
            GIT_USER,
        ];
        args.extend(["--git-token-file", git_token.to_str().unwrap()]);
        if let Some(before) = before {
            args.extend(["--before", before]);
        }
        args.extend(extra);
        run.label(&fake.url(), &args)
    };

    // A merge commit: the promotion branch merged with --no-ff; its first parent is the old main.
    clone.git(&["checkout", "--quiet", "-b", "promote/prod/jukebox"]);
    clone.write(&config("prod", "jukebox"), "jukebox", B);
    clone.commit_all("Model jukebox:B Deployment");
    clone.git(&["checkout", "--quiet", "main"]);
    clone.git(&[
        "merge",
        "--quiet",
        "--no-ff",
        "-m",
        "Merge pull request (#3)",
        "promote/prod/jukebox",
    ]);
    let merge = clone.git(&["rev-parse", "HEAD"]);
    clone.git(&["push", "--quiet", "origin", "main"]);
    assert_success(&from_push(&merge, None, &[]));
    assert_eq!(run.result("LABELLED"), format!("jukebox:{B}:prod"));
    assert_eq!(run.result("UNLABELLED"), format!("jukebox:{A}:prod"));
    assert_eq!(labels(&fake, "jukebox", B), ["prod"]);
    let image = &fake.custom_properties("jukebox", B)["deployed.prod.image"]["string_value"];
    assert_eq!(image, &format!("quay.io/rhoai/jukebox:{B}"));
    assert_eq!(
        fake.custom_properties("jukebox", B)["deployed.prod.gitops_commit"]["string_value"],
        merge.as_str()
    );

    // A squash merge: one ordinary commit on main.
    clone.write(&config("test", "jukebox"), "jukebox", B);
    let squash = clone.commit_all("Model jukebox:B Deployment (#4)");
    clone.git(&["push", "--quiet", "origin", "main"]);
    assert_success(&from_push(&squash, None, &[]));
    assert_eq!(run.result("LABELLED"), format!("jukebox:{B}:test"));
    assert_eq!(labels(&fake, "jukebox", A), Vec::<String>::new());

    // As the Tekton Task calls it: a basic-auth workspace, and empty values for unset params and
    // unbound workspaces. A re-run writes nothing.
    let credentials = run.path("basic-auth");
    std::fs::create_dir_all(&credentials).unwrap();
    let line = format!("http://{GIT_USER}:{GIT_PASSWORD}@{host}\n");
    std::fs::write(credentials.join(".git-credentials"), line).unwrap();
    let patches = fake.count("PATCH");
    let basic_auth = format!("--basic-auth-dir={}", credentials.display());
    let output = run.label(
        &fake.url(),
        &[
            "--repo-url",
            &url,
            "--commit",
            &squash,
            "--plain-http",
            &host,
            "--before=",
            "--only-env=",
            "--git-username=",
            &basic_auth,
            "--ssh-dir=",
            "--image=",
        ],
    );
    assert_success(&output);
    assert_eq!(run.result("LABELLED"), format!("jukebox:{B}:test"));
    assert_eq!(fake.count("PATCH"), patches);

    // One push of two commits touching two models, given as the webhook's before/after.
    let before = clone.git(&["rev-parse", "HEAD"]);
    clone.write(&config("prod", "jukebox"), "jukebox", C);
    clone.commit_all("jukebox C to prod");
    clone.write(&config("prod", "radio"), "radio", "r2");
    let after = clone.commit_all("radio r2 to prod");
    clone.git(&["push", "--quiet", "origin", "main"]);
    assert_success(&from_push(&after, Some(&before), &[]));
    assert_eq!(
        run.result_list("LABELLED"),
        [format!("jukebox:{C}:prod"), "radio:r2:prod".to_owned()]
    );
    assert_eq!(
        run.result_list("UNLABELLED"),
        [format!("jukebox:{B}:prod"), "radio:r1:prod".to_owned()]
    );

    // --only-env prod ignores a test-only push; a deleted config takes its label off.
    clone.git(&["rm", "--quiet", &config("test", "radio")]);
    let removal = clone.commit_all("Stop radio in test");
    clone.git(&["push", "--quiet", "origin", "main"]);
    assert_success(&from_push(&removal, None, &["--only-env", "prod"]));
    assert_eq!(
        (run.result("LABELLED"), run.result("UNLABELLED")),
        (String::new(), String::new())
    );
    assert_eq!(labels(&fake, "radio", "r1"), ["test"]);
    assert_success(&from_push(&removal, None, &[]));
    assert_eq!(run.result("UNLABELLED"), "radio:r1:test");
    assert!(labels(&fake, "radio", "r1").is_empty());

    // A malformed config: file, line and column; nothing written.
    let patches = fake.count("PATCH");
    std::fs::write(
        clone.dir.path().join(config("prod", "jukebox")),
        "name: jukebox\nversion: [broken\n",
    )
    .unwrap();
    let broken = clone.commit_all("Break the config");
    clone.git(&["push", "--quiet", "origin", "main"]);
    let output = from_push(&broken, None, &[]);
    assert_eq!(output.code(), Some(2), "{}", stderr(&output));
    assert!(
        stderr(&output).contains(&format!("{}:2:", config("prod", "jukebox"))),
        "{}",
        stderr(&output)
    );
    assert!(!stderr(&output).contains(GIT_PASSWORD));
    assert_eq!(fake.count("PATCH"), patches);

    // A version the registry does not know does not stop the other model of the same push.
    clone.write(&config("prod", "jukebox"), "jukebox", "not-registered");
    clone.write(&config("prod", "radio"), "radio", "r1");
    let mixed = clone.commit_all("Two models, one unknown version");
    clone.git(&["push", "--quiet", "origin", "main"]);
    let output = from_push(&mixed, None, &[]);
    assert_eq!(output.code(), Some(2), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("\"not-registered\""),
        "{}",
        stderr(&output)
    );
    assert!(
        stderr(&output).contains(&format!("versions that exist: {A}, {B}, {C}")),
        "{}",
        stderr(&output)
    );
    assert_eq!(run.result("LABELLED"), "radio:r1:prod");
    assert_eq!(labels(&fake, "radio", "r1"), ["prod"]);
}
