//! Tool lookup, workspace binaries, ports and certificates.

use std::process::Command;

use test_services::{Certs, free_port, require_tool, workspace_bin};

fn panic_message(f: impl FnOnce() + std::panic::UnwindSafe) -> String {
    let panic = std::panic::catch_unwind(f).expect_err("expected a panic");
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap()
}

#[test]
fn missing_tools_fail_with_the_install_command() {
    let message = panic_message(|| {
        require_tool("no-such-tool-xyz", "no-such-package");
    });
    assert_eq!(
        message,
        "no-such-tool-xyz not found: run scripts/test, or: apt-get install -y no-such-package"
    );
    let sh = require_tool("sh", "dash");
    assert!(sh.is_absolute() && sh.is_file());
}

#[test]
fn workspace_binaries_are_found_next_to_the_test_executable() {
    let bin = workspace_bin("test-services");
    assert_eq!(
        bin.canonicalize().unwrap(),
        std::path::Path::new(env!("CARGO_BIN_EXE_test-services"))
            .canonicalize()
            .unwrap()
    );
    let message = panic_message(|| {
        workspace_bin("no-such-binary");
    });
    assert!(
        message.contains("run `cargo build --workspace --bins` first"),
        "{message}"
    );
}

#[test]
fn free_ports_are_distinct_and_bindable() {
    let ports: std::collections::HashSet<u16> = (0..50).map(|_| free_port()).collect();
    assert_eq!(ports.len(), 50);
    for port in ports.iter().take(5) {
        std::net::TcpListener::bind(("127.0.0.1", *port)).expect("the port is free");
    }
}

#[test]
fn leaf_certificate_is_signed_by_a_separate_ca() {
    let certs = Certs::generate(&["registry.test", "10.1.2.3"]);
    let openssl = require_tool("openssl", "openssl");
    let verify = Command::new(&openssl)
        .args(["verify", "-purpose", "sslserver", "-CAfile"])
        .arg(&certs.ca_pem)
        .arg(&certs.cert_pem)
        .output()
        .unwrap();
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stderr)
    );

    let text = |pem: &std::path::Path| {
        let out = Command::new(&openssl)
            .args(["x509", "-noout", "-text", "-in"])
            .arg(pem)
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap()
    };
    let leaf = text(&certs.cert_pem);
    assert!(leaf.contains("CA:FALSE"), "{leaf}");
    for name in [
        "IP Address:127.0.0.1",
        "DNS:localhost",
        "DNS:registry.test",
        "IP Address:10.1.2.3",
    ] {
        assert!(leaf.contains(name), "{name} in\n{leaf}");
    }
    assert!(text(&certs.ca_pem).contains("CA:TRUE"));
    assert!(
        std::fs::read_to_string(&certs.key_pem)
            .unwrap()
            .contains("PRIVATE KEY")
    );
}
