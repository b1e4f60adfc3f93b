//! task-images writes the Tekton task images as OCI layouts from the built binaries, without a
//! container engine. Checked with independent tools: skopeo reads each layout (config User,
//! Entrypoint, annotations), GNU tar unpacks its layer, and the unpacked binary runs and is the tool
//! it should be. The same inputs give the same digests.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;
use test_services::{require_tool, workspace_bin};

const TOOLS: [&str; 4] = [
    "modelcar-build",
    "gitops-bump",
    "pr-create",
    "registry-label",
];
const REVISION: &str = "3f9d2c71b8e04a5f6c1d7e2b9a8f0c3d4e5b6a71";
const VERSION: &str = env!("CARGO_PKG_VERSION");

fn run(command: &mut Command) -> Output {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("{command:?}: {e}"));
    assert!(
        output.status.success(),
        "{command:?} failed ({}):\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// Runs task-images; returns layout path -> manifest digest, as it prints them.
fn task_images(out: &Path, args: &[&str], binaries: &[PathBuf]) -> BTreeMap<String, String> {
    let output = run(Command::new(workspace_bin("task-images"))
        .arg("--out")
        .arg(out)
        .args(args)
        .args(binaries));
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|line| {
            let (path, digest) = line.split_once(' ').expect("`<layout> <digest>` lines");
            (path.to_string(), digest.to_string())
        })
        .collect()
}

fn skopeo(args: &[&str]) -> Value {
    let output = run(Command::new(require_tool("skopeo", "skopeo")).args(args));
    serde_json::from_slice(&output.stdout).expect("skopeo prints JSON")
}

fn read_json(path: &Path) -> Value {
    serde_json::from_slice(
        &std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
    )
    .unwrap()
}

/// The layer blobs of the layout's one image, from index.json to the manifest.
fn layers(layout: &Path) -> Vec<(String, PathBuf)> {
    let index = read_json(&layout.join("index.json"));
    let manifest_digest = index["manifests"][0]["digest"].as_str().unwrap();
    let blob = |digest: &str| {
        layout
            .join("blobs/sha256")
            .join(digest.trim_start_matches("sha256:"))
    };
    let manifest = read_json(&blob(manifest_digest));
    manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["mediaType"].as_str().unwrap().to_string(),
                blob(l["digest"].as_str().unwrap()),
            )
        })
        .collect()
}

fn mode(path: &Path) -> u32 {
    std::fs::symlink_metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o7777
}

#[test]
fn task_images_run_the_right_tool_as_non_root_and_are_reproducible() {
    let binaries: Vec<PathBuf> = TOOLS.iter().map(|t| workspace_bin(t)).collect();
    let first = tempfile::tempdir().unwrap();
    let args = ["--compression=none", "--revision", REVISION];
    let digests = task_images(first.path(), &args, &binaries);
    assert_eq!(digests.len(), TOOLS.len(), "{digests:?}");

    for (tool, binary) in TOOLS.iter().zip(&binaries) {
        let layout = first.path().join(tool);
        let location = format!("oci:{}:{VERSION}", layout.display());
        let config = skopeo(&["inspect", "--config", &location]);
        assert_eq!(config["config"]["User"], "65532:0", "{tool}: {config}");
        assert_eq!(
            config["config"]["Entrypoint"],
            serde_json::json!([format!("/usr/local/bin/{tool}")]),
            "{tool}"
        );
        assert_eq!(config["os"], "linux");
        // The same user and environment as the Containerfile's images.
        let containerfile =
            std::fs::read_to_string(e2e::repo_root().join("Containerfile")).unwrap();
        assert!(containerfile.contains("\nUSER 65532:0\n"));
        for variable in config["config"]["Env"].as_array().unwrap() {
            let (name, value) = variable.as_str().unwrap().split_once('=').unwrap();
            assert!(
                containerfile.contains(&format!("{name}={value}")),
                "{name}={value} is not in the Containerfile's ENV"
            );
        }
        let inspect = skopeo(&["inspect", &location]);
        assert_eq!(
            inspect["Digest"].as_str(),
            digests
                .get(&layout.display().to_string())
                .map(String::as_str)
        );
        let labels = &inspect["Labels"];
        assert_eq!(labels["org.opencontainers.image.title"], *tool);
        assert_eq!(labels["org.opencontainers.image.revision"], REVISION);
        assert_eq!(labels["org.opencontainers.image.version"], VERSION);
        assert!(
            labels["org.opencontainers.image.source"]
                .as_str()
                .is_some_and(|s| s.starts_with("https://"))
        );

        // One uncompressed layer; unpacked, it holds the tool, /tmp, the CA bundle and the user.
        let layers = layers(&layout);
        assert_eq!(layers.len(), 1, "{tool}: {layers:?}");
        assert_eq!(layers[0].0, "application/vnd.oci.image.layer.v1.tar");
        let rootfs = tempfile::tempdir().unwrap();
        run(Command::new(require_tool("tar", "tar"))
            .args(["-x", "-p", "--numeric-owner", "-f"])
            .arg(&layers[0].1)
            .arg("-C")
            .arg(rootfs.path()));
        let unpacked = rootfs.path().join("usr/local/bin").join(tool);
        assert_eq!(mode(&unpacked), 0o755, "{tool}");
        assert!(
            std::fs::read(&unpacked).unwrap() == std::fs::read(binary).unwrap(),
            "{tool}: the image holds another binary than {}",
            binary.display()
        );
        assert_eq!(mode(&rootfs.path().join("tmp")), 0o1777);
        assert_eq!(
            std::fs::read(rootfs.path().join("etc/ssl/certs/ca-certificates.crt")).unwrap(),
            std::fs::read("/etc/ssl/certs/ca-certificates.crt").unwrap()
        );
        let passwd = std::fs::read_to_string(rootfs.path().join("etc/passwd")).unwrap();
        assert!(
            passwd.lines().any(|l| l.starts_with("modelcar:x:65532:0:")),
            "{passwd}"
        );
        let group = std::fs::read_to_string(rootfs.path().join("etc/group")).unwrap();
        assert!(group.lines().any(|l| l.starts_with("root:x:0:")), "{group}");
        // Host names from the kubelet's /etc/hosts first, then DNS; the same in the Containerfile.
        let nsswitch = std::fs::read_to_string(rootfs.path().join("etc/nsswitch.conf")).unwrap();
        assert!(
            nsswitch.lines().any(|l| l == "hosts: files dns"),
            "{nsswitch}"
        );
        assert!(
            containerfile.contains(&nsswitch.replace('\n', "\\n")),
            "the Containerfile writes another /etc/nsswitch.conf than\n{nsswitch}"
        );
        // The unpacked binary runs and is this tool, of this version.
        let help = run(Command::new(&unpacked).arg("--help"));
        let help = String::from_utf8_lossy(&help.stdout);
        assert!(
            help.contains(&format!("Usage: {tool} ")),
            "{tool} --help:\n{help}"
        );
        let version = run(Command::new(&unpacked).arg("--version"));
        assert_eq!(
            String::from_utf8_lossy(&version.stdout).trim(),
            format!("{tool} {VERSION}")
        );
    }

    // The same binaries and options again: the same digests.
    let second = tempfile::tempdir().unwrap();
    let again = task_images(second.path(), &args, &binaries);
    let strip = |m: &BTreeMap<String, String>, root: &Path| -> BTreeMap<String, String> {
        m.iter()
            .map(|(path, digest)| {
                (
                    path.replace(&root.display().to_string(), ""),
                    digest.clone(),
                )
            })
            .collect()
    };
    assert_eq!(strip(&digests, first.path()), strip(&again, second.path()));
}

#[test]
fn gzip_layers_on_an_oci_base_are_reproducible_too() {
    // A small stand-in tool keeps the compression quick in a debug build.
    let dir = tempfile::tempdir().unwrap();
    let tool = dir.path().join("hello-tool");
    std::fs::write(&tool, "#!/bin/sh\necho hello-tool\n").unwrap();
    std::fs::set_permissions(&tool, std::fs::Permissions::from_mode(0o755)).unwrap();
    let base = dir.path().join("base");
    let base_digest = task_images(
        &base,
        &["--compression=none", "--tag=base"],
        std::slice::from_ref(&tool),
    );
    assert_eq!(base_digest.len(), 1);
    let base_location = format!("oci:{}:base", base.join("hello-tool").display());

    let build = |out: &Path| {
        task_images(
            out,
            &["--compression=gzip", "--base", &base_location],
            std::slice::from_ref(&tool),
        )
        .into_values()
        .next()
        .unwrap()
    };
    let (one, two) = (dir.path().join("one"), dir.path().join("two"));
    assert_eq!(build(&one), build(&two));
    let layout = one.join("hello-tool");
    let layers = layers(&layout);
    assert_eq!(
        layers.len(),
        2,
        "the base's layer, then the tool's: {layers:?}"
    );
    assert_eq!(layers[1].0, "application/vnd.oci.image.layer.v1.tar+gzip");
    let config = skopeo(&[
        "inspect",
        "--config",
        &format!("oci:{}:{VERSION}", layout.display()),
    ]);
    assert_eq!(config["config"]["User"], "65532:0");
    assert_eq!(config["rootfs"]["diff_ids"].as_array().unwrap().len(), 2);
    // gzip -t agrees the layer is a whole gzip stream of a tar.
    run(Command::new(require_tool("tar", "tar"))
        .arg("-tzf")
        .arg(&layers[1].1));

    // A base that is not there: a clear error, and no layout left behind.
    let output = Command::new(workspace_bin("task-images"))
        .arg("--out")
        .arg(dir.path().join("three"))
        .args(["--base", "oci:/nonexistent/layout:base"])
        .arg(&tool)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("reading the base image oci:/nonexistent/layout:base"),
        "{stderr}"
    );
    assert!(!dir.path().join("three/hello-tool").exists());
}
