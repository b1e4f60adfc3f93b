//! The registry answers the OCI distribution API, with and without TLS and authentication.

use std::process::{Command, Output};
use std::time::Instant;

use test_services::{Registry, live_members, require_tool};

fn curl(args: &[&str]) -> Output {
    Command::new(require_tool("curl", "curl"))
        .args(["--silent", "--show-error", "--max-time", "20"])
        .args(args)
        .output()
        .expect("run curl")
}

/// The HTTP status of `GET url` (curl prints it last).
fn status(extra: &[&str], url: &str) -> String {
    let mut args = vec!["--output", "/dev/null", "--write-out", "%{http_code}"];
    args.extend_from_slice(extra);
    args.push(url);
    let output = curl(&args);
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn plain_registry_answers_v2_and_stores_pushed_blobs() {
    let started = Instant::now();
    let registry = Registry::start();
    eprintln!("plain registry started in {:?}", started.elapsed());
    assert!(registry.url().starts_with("http://127.0.0.1:"));
    assert_eq!(registry.ca_pem(), None);
    assert_eq!(status(&[], &format!("{}/v2/", registry.url())), "200");

    // A monolithic blob upload lands in the filesystem storage.
    let blob = b"hello registry";
    let upload = curl(&[
        "--include",
        "--request",
        "POST",
        &format!("{}/v2/test/blobs/uploads/", registry.url()),
    ]);
    let head = String::from_utf8_lossy(&upload.stdout).to_string();
    let location = head
        .lines()
        .find_map(|line| {
            line.strip_prefix("Location: ")
                .or(line.strip_prefix("location: "))
        })
        .unwrap_or_else(|| panic!("no upload location in:\n{head}\nlog:\n{}", registry.log()))
        .trim()
        .to_string();
    let location = if location.starts_with("http") {
        location
    } else {
        format!("{}{location}", registry.url())
    };
    let separator = if location.contains('?') { '&' } else { '?' };
    let digest = sha256_digest(blob);
    let put = status(
        &[
            "--request",
            "PUT",
            "--header",
            "Content-Type: application/octet-stream",
            "--data-binary",
            "hello registry",
        ],
        &format!("{location}{separator}digest={digest}"),
    );
    assert_eq!(put, "201", "log:\n{}", registry.log());
    let hex = digest.trim_start_matches("sha256:");
    let data = registry
        .storage_dir()
        .join("docker/registry/v2/blobs/sha256")
        .join(&hex[..2])
        .join(hex)
        .join("data");
    assert_eq!(std::fs::read(&data).expect("blob data in storage"), blob);
    assert!(registry.log().contains("/v2/"), "the log records requests");
}

#[test]
fn tls_registry_requires_credentials_and_verifies_with_its_ca() {
    let started = Instant::now();
    let registry = Registry::start_tls_with_auth("alice", "s3cret-pass");
    eprintln!("TLS+auth registry started in {:?}", started.elapsed());
    assert!(registry.url().starts_with("https://127.0.0.1:"));
    let ca = registry
        .ca_pem()
        .expect("a TLS registry has a CA")
        .to_str()
        .unwrap()
        .to_string();
    let v2 = format!("{}/v2/", registry.url());

    assert_eq!(status(&["--cacert", &ca], &v2), "401");
    assert_eq!(
        status(&["--cacert", &ca, "--user", "alice:wrong"], &v2),
        "401"
    );
    assert_eq!(
        status(&["--cacert", &ca, "--user", "alice:s3cret-pass"], &v2),
        "200"
    );

    // Also by name: the certificate covers localhost.
    let by_name = v2.replace("127.0.0.1", "localhost");
    assert_eq!(
        status(&["--cacert", &ca, "--user", "alice:s3cret-pass"], &by_name),
        "200"
    );

    // Without the CA the certificate is not trusted.
    let untrusted = curl(&["--output", "/dev/null", &v2]);
    assert!(
        !untrusted.status.success(),
        "curl must reject the test CA by default"
    );
}

#[test]
fn registries_stop_when_dropped() {
    let registry = Registry::start();
    let group = registry.process_group();
    let storage = registry.storage_dir().to_path_buf();
    drop(registry);
    // The registry's processes are gone. (Its port may already serve another test's server.)
    assert_eq!(
        live_members(group),
        0,
        "the registry's process group {group} survives drop"
    );
    assert!(!storage.exists(), "the temporary directory is removed");
}

fn sha256_digest(data: &[u8]) -> String {
    use std::io::Write;
    let mut child = Command::new(require_tool("sha256sum", "coreutils"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("run sha256sum");
    child.stdin.take().unwrap().write_all(data).unwrap();
    let output = child.wait_with_output().expect("sha256sum output");
    let text = String::from_utf8(output.stdout).expect("sha256sum prints text");
    format!(
        "sha256:{}",
        text.split_whitespace().next().expect("a digest")
    )
}

#[test]
fn tls_without_auth_and_auth_without_tls() {
    let tls = Registry::start_tls();
    let ca = tls.ca_pem().unwrap().to_str().unwrap().to_string();
    assert_eq!(
        status(&["--cacert", &ca], &format!("{}/v2/", tls.url())),
        "200"
    );

    let auth = Registry::start_with_auth("bob", "pw");
    let v2 = format!("{}/v2/", auth.url());
    assert!(v2.starts_with("http://"));
    assert_eq!(status(&[], &v2), "401");
    assert_eq!(status(&["--user", "bob:pw"], &v2), "200");
}
