//! What the modelcar-build scenarios share: running the tool, test models, the independent
//! client (skopeo, GNU tar) and a base image built from Debian's busybox-static.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use e2e::tool_run::{Outcome, run};
use serde_json::Value;
use tempfile::TempDir;
use test_services::{Registry, require_tool, workspace_root};

pub(crate) const REVISION: &str = "4f3c2b1a09e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4";

/// Runs modelcar-build with an environment of its own: no auth files but those given.
pub(crate) fn modelcar_build(args: &[&str]) -> Outcome {
    modelcar_build_env(args, &[])
}

pub(crate) fn modelcar_build_env(args: &[&str], env: &[(&str, &str)]) -> Outcome {
    run("modelcar-build", args, env)
}

// ---------------------------------------------------------------------------------------------
// Models

/// The workshop's example model plus what stresses the layer format: a file with its own layer,
/// a path over 100 bytes, an executable, a link, an empty directory.
pub(crate) fn test_model(dir: &Path) {
    let example = workspace_root().join("examples/model");
    for rel in [
        "1/model.onnx",
        "artifacts/scaler.pkl",
        "artifacts/features.pkl",
    ] {
        fs::create_dir_all(dir.join(rel).parent().unwrap()).unwrap();
        fs::copy(example.join(rel), dir.join(rel)).unwrap();
    }
    let long = dir.join(format!(
        "tokenizer/{}",
        "a-rather-long-directory-name/".repeat(5)
    ));
    fs::create_dir_all(&long).unwrap();
    fs::write(long.join("vocab.txt"), "hello\nworld\n").unwrap();
    let pattern: Vec<u8> = (0..=255u8).collect();
    fs::write(dir.join("1/weights.bin"), pattern.repeat(70 * 4096)).unwrap();
    fs::write(dir.join("serve.sh"), "#!/bin/sh\nexec true\n").unwrap();
    fs::set_permissions(dir.join("serve.sh"), fs::Permissions::from_mode(0o755)).unwrap();
    symlink("1/model.onnx", dir.join("latest.onnx")).unwrap();
    fs::create_dir_all(dir.join("empty")).unwrap();
}

/// What a tree holds: relative path -> kind and content.
pub(crate) fn tree(root: &Path) -> BTreeMap<String, String> {
    pub(crate) fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
        for entry in fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let rel = path
                .strip_prefix(root)
                .unwrap()
                .to_str()
                .unwrap()
                .to_owned();
            let meta = fs::symlink_metadata(&path).unwrap();
            let value = if meta.file_type().is_symlink() {
                format!("link {}", fs::read_link(&path).unwrap().display())
            } else if meta.is_dir() {
                walk(root, &path, out);
                "dir".into()
            } else {
                let exec = meta.permissions().mode() & 0o111 != 0;
                let bytes = fs::read(&path).unwrap();
                format!("file exec={exec} {}", sha256_hex(&bytes))
            };
            out.insert(rel, value);
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("blob");
    fs::write(&file, bytes).unwrap();
    sha256_file(&file)
}

pub(crate) fn sha256_file(path: &Path) -> String {
    let out = tool("sha256sum", "coreutils", &[path.to_str().unwrap()]);
    out.split_whitespace().next().unwrap().to_owned()
}

// ---------------------------------------------------------------------------------------------
// The independent client

pub(crate) fn tool(name: &str, package: &str, args: &[&str]) -> String {
    let output = tool_output(name, package, args);
    assert!(
        output.status.success(),
        "{name} {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

pub(crate) fn tool_output(name: &str, package: &str, args: &[&str]) -> Output {
    Command::new(require_tool(name, package))
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("run {name}: {e}"))
}

/// How skopeo reaches a test registry: TLS verification with the test CA and credentials, or
/// plain HTTP.
pub(crate) struct SkopeoAccess {
    pub(crate) flags: Vec<String>,
    pub(crate) _certs: Option<TempDir>,
}

impl SkopeoAccess {
    pub(crate) fn plain() -> Self {
        Self {
            flags: vec!["--tls-verify=false".into()],
            _certs: None,
        }
    }

    pub(crate) fn tls(registry: &Registry, user: &str, password: &str) -> Self {
        let certs = tempfile::tempdir().unwrap();
        fs::copy(registry.ca_pem().unwrap(), certs.path().join("ca.crt")).unwrap();
        Self {
            flags: vec![
                format!("--cert-dir={}", certs.path().display()),
                format!("--creds={user}:{password}"),
            ],
            _certs: Some(certs),
        }
    }

    /// `flags` with `--src-`/`--dest-` prefixes for skopeo copy.
    pub(crate) fn prefixed(&self, side: &str) -> Vec<String> {
        self.flags
            .iter()
            .map(|f| f.replacen("--", &format!("--{side}-"), 1))
            .collect()
    }

    pub(crate) fn inspect_raw(&self, image: &str) -> Value {
        let mut args = vec!["inspect".to_owned(), "--raw".to_owned()];
        args.extend(self.flags.clone());
        args.push(format!("docker://{image}"));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        serde_json::from_str(&tool("skopeo", "skopeo", &args)).unwrap()
    }

    pub(crate) fn digest(&self, image: &str) -> String {
        let mut args = vec!["inspect".to_owned(), "--format={{.Digest}}".to_owned()];
        args.extend(self.flags.clone());
        args.push(format!("docker://{image}"));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        tool("skopeo", "skopeo", &args).trim().to_owned()
    }

    /// The repository's tags; none when it does not exist.
    pub(crate) fn tags(&self, repository: &str) -> Vec<String> {
        let mut args = vec!["list-tags".to_owned()];
        args.extend(self.flags.clone());
        args.push(format!("docker://{repository}"));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let output = tool_output("skopeo", "skopeo", &args);
        if !output.status.success() {
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert!(
                stderr.contains("unknown") || stderr.contains("404"),
                "skopeo list-tags {repository}: {stderr}"
            );
            return Vec::new();
        }
        let listing: Value = serde_json::from_slice(&output.stdout).unwrap();
        listing["Tags"]
            .as_array()
            .map(|tags| {
                tags.iter()
                    .map(|t| t.as_str().unwrap().to_owned())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Copies the image to an OCI layout with skopeo, then unpacks its layers in order with tar.
    pub(crate) fn unpack(&self, image: &str) -> TempDir {
        let work = tempfile::tempdir().unwrap();
        let layout = work.path().join("layout");
        let mut args = vec!["copy".to_owned()];
        args.extend(self.prefixed("src"));
        args.push(format!("docker://{image}"));
        args.push(format!("oci:{}:copied", layout.display()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        tool("skopeo", "skopeo", &args);
        unpack_layout(&layout, work)
    }
}

/// Unpacks the layers of the single image in an OCI layout into `work/rootfs`.
pub(crate) fn unpack_layout(layout: &Path, work: TempDir) -> TempDir {
    let index: Value = read_json(&layout.join("index.json"));
    let manifest_digest = index["manifests"][0]["digest"].as_str().unwrap();
    let manifest: Value = read_json(&blob_path(layout, manifest_digest));
    let rootfs = work.path().join("rootfs");
    fs::create_dir(&rootfs).unwrap();
    for layer in manifest["layers"].as_array().unwrap() {
        let blob = blob_path(layout, layer["digest"].as_str().unwrap());
        tool(
            "tar",
            "tar",
            &[
                "-xf",
                blob.to_str().unwrap(),
                "-C",
                rootfs.to_str().unwrap(),
            ],
        );
    }
    work
}

pub(crate) fn blob_path(layout: &Path, digest: &str) -> PathBuf {
    layout
        .join("blobs/sha256")
        .join(digest.strip_prefix("sha256:").unwrap())
}

pub(crate) fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&fs::read(path).unwrap()).unwrap()
}

// ---------------------------------------------------------------------------------------------
// A base image built here from Debian's busybox-static (shared with scripts/demo)

pub(crate) use e2e::base_image::{BaseOptions, busybox_layout};

pub(crate) fn assert_model_unpacked(rootfs: &Path, model: &Path, under: &str) {
    let unpacked = tree(&rootfs.join(under));
    assert_eq!(
        unpacked,
        tree(model),
        "unpacked /{under} differs from the model"
    );
}

pub(crate) fn is_root() -> bool {
    let output = Command::new("id").arg("-u").output().unwrap();
    String::from_utf8_lossy(&output.stdout).trim() == "0"
}

pub(crate) fn tool_with_stdin(name: &str, args: &[&str], input: String) -> String {
    use std::io::Write;
    let mut child = Command::new(name)
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success());
    String::from_utf8(output.stdout).unwrap()
}
