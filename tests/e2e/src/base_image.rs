//! A base image with a shell, built here from Debian's `busybox-static` (no registry, no download):
//! an OCI layout with `/bin/busybox` and, when asked, `/bin/sh`, as KServe's ModelCar sidecar
//! needs; and that layout copied into a registry with skopeo, as a mirror of a base image would be.

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::json;
use sha2::{Digest, Sha256};
use test_services::require_tool;

/// What the base image holds besides `/bin/busybox`.
pub struct BaseOptions<'a> {
    /// The image's `Entrypoint`, when it has one.
    pub entrypoint: Option<&'a [&'a str]>,
    /// `/bin/sh -> busybox`.
    pub shell: bool,
}

/// The version of Debian's busybox-static on this machine (`1.35.0`), a tag for the base image.
pub fn busybox_version() -> String {
    let busybox = require_tool("busybox", "busybox-static");
    let output = Command::new(&busybox)
        .output()
        .unwrap_or_else(|e| panic!("run {}: {e}", busybox.display()));
    // "BusyBox v1.35.0 (Debian 1:1.35.0-4+deb12u1+b1) multi-call binary."
    let text = String::from_utf8_lossy(&output.stdout);
    text.split_whitespace()
        .find_map(|word| word.strip_prefix('v'))
        .filter(|v| v.starts_with(|c: char| c.is_ascii_digit()))
        .unwrap_or("latest")
        .to_string()
}

fn run(command: &mut Command, what: &str) -> String {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("run {what}: {e}"));
    assert!(
        output.status.success(),
        "{what} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Writes an OCI layout at `dir` with one image tagged `tag`: /bin/busybox and, when asked,
/// /bin/sh -> busybox. The same inputs give the same bytes (owners, times and order fixed).
pub fn busybox_layout(dir: &Path, tag: &str, options: BaseOptions<'_>) {
    let work = tempfile::tempdir().expect("a scratch directory");
    let rootfs = work.path().join("rootfs");
    fs::create_dir_all(rootfs.join("bin")).unwrap();
    let busybox = require_tool("busybox", "busybox-static");
    fs::copy(&busybox, rootfs.join("bin/busybox")).unwrap();
    if options.shell {
        symlink("busybox", rootfs.join("bin/sh")).unwrap();
    }
    let layer = work.path().join("layer.tar");
    run(
        Command::new(require_tool("tar", "tar")).args([
            "--owner=0",
            "--group=0",
            "--numeric-owner",
            "--mtime=@0",
            "--sort=name",
            "-C",
            rootfs.to_str().unwrap(),
            "-cf",
            layer.to_str().unwrap(),
            "bin",
        ]),
        "tar",
    );
    let blobs = dir.join("blobs/sha256");
    fs::create_dir_all(&blobs).unwrap();
    let put = |bytes: &[u8]| {
        let hex = hex::encode(Sha256::digest(bytes));
        fs::write(blobs.join(&hex), bytes).unwrap();
        (format!("sha256:{hex}"), bytes.len())
    };
    let layer_bytes = fs::read(&layer).unwrap();
    let (layer_digest, layer_size) = put(&layer_bytes);
    let mut container = json!({ "Cmd": ["sh"], "Env": ["PATH=/bin"] });
    if let Some(entrypoint) = options.entrypoint {
        container["Entrypoint"] = json!(entrypoint);
    }
    let config = json!({
        "architecture": "amd64",
        "os": "linux",
        "config": container,
        "rootfs": { "type": "layers", "diff_ids": [layer_digest] },
        "history": [{ "created_by": "busybox-static from Debian" }],
    });
    let (config_digest, config_size) = put(&serde_json::to_vec(&config).unwrap());
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": config_digest, "size": config_size,
        },
        "layers": [{
            "mediaType": "application/vnd.oci.image.layer.v1.tar",
            "digest": layer_digest, "size": layer_size,
        }],
    });
    let (manifest_digest, manifest_size) = put(&serde_json::to_vec(&manifest).unwrap());
    let index = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": manifest_digest, "size": manifest_size,
            "annotations": { "org.opencontainers.image.ref.name": tag },
        }],
    });
    fs::write(dir.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
    fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
}

/// How skopeo reaches a registry: credentials and the folder of its CA (`ca.crt`).
pub struct RegistryAccess<'a> {
    pub user: &'a str,
    pub password: &'a str,
    /// A folder holding the registry's CA as `ca.crt` (skopeo's `--cert-dir`).
    pub cert_dir: PathBuf,
}

/// Copies the image `tag` of the OCI layout `layout` to `image` (`host/repo:tag`) with skopeo.
pub fn push_layout(layout: &Path, tag: &str, image: &str, access: &RegistryAccess<'_>) {
    run(
        Command::new(require_tool("skopeo", "skopeo"))
            .args(["copy", "--quiet"])
            .arg(format!("--dest-creds={}:{}", access.user, access.password))
            .arg(format!("--dest-cert-dir={}", access.cert_dir.display()))
            .arg(format!("oci:{}:{tag}", layout.display()))
            .arg(format!("docker://{image}")),
        &format!("skopeo copy to {image}"),
    );
}

/// The digest the registry answers for `image`, asked with skopeo.
pub fn registry_digest(image: &str, access: &RegistryAccess<'_>) -> String {
    run(
        Command::new(require_tool("skopeo", "skopeo"))
            .args(["inspect", "--format", "{{.Digest}}"])
            .arg(format!("--creds={}:{}", access.user, access.password))
            .arg(format!("--cert-dir={}", access.cert_dir.display()))
            .arg(format!("docker://{image}")),
        &format!("skopeo inspect {image}"),
    )
    .trim()
    .to_string()
}
