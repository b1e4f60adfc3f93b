//! MLflow answers the model registry API, and never outlives the test process.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use test_services::{Mlflow, require_tool};

fn curl_json(args: &[&str]) -> serde_json::Value {
    let output = Command::new(require_tool("curl", "curl"))
        .args([
            "--silent",
            "--show-error",
            "--fail-with-body",
            "--max-time",
            "30",
        ])
        .args(args)
        .output()
        .expect("run curl");
    assert!(
        output.status.success(),
        "curl {args:?}: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("MLflow answers JSON")
}

#[test]
fn registered_models_can_be_created_and_searched() {
    let started = Instant::now();
    let mlflow = Mlflow::shared();
    eprintln!("MLflow ready after {:?}", started.elapsed());
    let api = format!("{}/api/2.0/mlflow", mlflow.url());

    let empty = curl_json(&[&format!("{api}/registered-models/search?max_results=10")]);
    assert!(empty.get("registered_models").is_none(), "{empty}");

    curl_json(&[
        "--header",
        "Content-Type: application/json",
        "--data",
        r#"{"name": "jukebox"}"#,
        &format!("{api}/registered-models/create"),
    ]);
    let found = curl_json(&[&format!(
        "{api}/registered-models/search?filter=name%3D%27jukebox%27"
    )]);
    assert_eq!(found["registered_models"][0]["name"], "jukebox", "{found}");
}

/// The shared server lives in a static that never drops: the watchdog must stop it when the process
/// that started it dies, even by SIGKILL.
#[test]
fn shared_server_stops_when_its_test_process_dies() {
    let mut holder = Command::new(env!("CARGO_BIN_EXE_test-services"))
        .arg("mlflow")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the test-services binary");
    let mut lines = BufReader::new(holder.stdout.take().unwrap()).lines();
    let mut field = |key: &str| -> String {
        let line = lines.next().expect("a line from test-services").unwrap();
        line.strip_prefix(&format!("{key}: "))
            .unwrap_or_else(|| panic!("expected {key}, got {line:?}"))
            .to_string()
    };
    let url = field("url");
    let group: i32 = field("process-group").parse().unwrap();
    let host = url.trim_start_matches("http://").to_string();
    assert!(
        std::net::TcpStream::connect(&host).is_ok(),
        "MLflow listens on {host}"
    );
    assert!(process_group_alive(group));

    holder.kill().expect("SIGKILL the process holding MLflow");
    holder.wait().unwrap();

    let deadline = Instant::now() + Duration::from_secs(30);
    while process_group_alive(group) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(!process_group_alive(group), "MLflow's processes are gone");
    assert!(
        !test_services::accepts_connections(host.parse().unwrap()),
        "nothing listens on {host}"
    );
}

/// True while a live (non-zombie) process is in process group `group`.
fn process_group_alive(group: i32) -> bool {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return false;
    };
    entries.flatten().any(|entry| {
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            return false;
        };
        // "pid (comm) state ppid pgrp ...": comm may hold spaces, so split after its closing paren.
        let Some((_, rest)) = stat.rsplit_once(") ") else {
            return false;
        };
        let mut fields = rest.split_whitespace();
        let state = fields.next();
        let pgrp = fields.nth(1).and_then(|field| field.parse::<i32>().ok());
        pgrp == Some(group) && state != Some("Z")
    })
}
