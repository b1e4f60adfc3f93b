//! Credential helpers: `docker-credential-<name> get`, the server on stdin, JSON on stdout.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use common::Secret;
use serde::Deserialize;

use super::{AuthError, Credential};
use crate::reference::DOCKER_HUB;

#[cfg(not(test))]
fn helper_program(helper: &str) -> PathBuf {
    PathBuf::from(format!("docker-credential-{helper}"))
}

#[cfg(test)]
thread_local! {
    pub(super) static HELPER_DIR: std::cell::RefCell<Option<PathBuf>> = const { std::cell::RefCell::new(None) };
}

#[cfg(test)]
fn helper_program(helper: &str) -> PathBuf {
    let name = format!("docker-credential-{helper}");
    HELPER_DIR.with(|dir| match &*dir.borrow() {
        Some(dir) => dir.join(&name),
        None => PathBuf::from(name),
    })
}

#[derive(Deserialize)]
struct HelperOutput {
    #[serde(rename = "Username")]
    username: String,
    #[serde(rename = "Secret")]
    secret: String,
}

/// Runs `docker-credential-<helper> get` with the server on stdin. "Not found" is `None`.
pub(super) fn run_helper(helper: &str, registry: &str) -> Result<Option<Credential>, AuthError> {
    let fail = |message: String| AuthError::Helper {
        helper: helper.to_owned(),
        registry: registry.to_owned(),
        message,
    };
    let program = helper_program(helper);
    let server = if registry == DOCKER_HUB {
        "https://index.docker.io/v1/"
    } else {
        registry
    };
    let mut child = Command::new(&program)
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| {
            fail(format!(
                "cannot run {}: {e}; install it or remove the helper from the auth file",
                program.display()
            ))
        })?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(server.as_bytes())
            .map_err(|e| fail(format!("writing to the helper: {e}")))?;
    }
    let output = child
        .wait_with_output()
        .map_err(|e| fail(format!("waiting for the helper: {e}")))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        if stdout
            .to_ascii_lowercase()
            .contains("credentials not found")
        {
            return Ok(None);
        }
        // A helper's own message may say why (locked keychain); it never echoes a secret.
        let stderr = String::from_utf8_lossy(&output.stderr);
        let said = format!("{} {}", stdout.trim(), stderr.trim());
        return Err(fail(format!(
            "it failed ({}): {}",
            output.status,
            said.trim()
        )));
    }
    let parsed: HelperOutput = serde_json::from_slice(&output.stdout)
        .map_err(|e| fail(format!("its output is not the expected JSON: {e}")))?;
    if parsed.username == "<token>" {
        return Ok(Some(Credential::IdentityToken(Secret::new(parsed.secret))));
    }
    Ok(Some(Credential::Basic {
        username: parsed.username,
        password: Secret::new(parsed.secret),
    }))
}
