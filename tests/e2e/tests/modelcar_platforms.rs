//! Multi-platform ModelCars against the real registry: a two-platform busybox base index (built
//! here, pushed with skopeo), one image per platform sharing the model layers, under an OCI index
//! that skopeo reads back; the same in an OCI layout; one platform stays a plain manifest.

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use e2e::tool_run::{Outcome, run};
use serde_json::{Value, json};
use test_services::{Registry, require_tool};

const REVISION: &str = "9a8b7c6d5e4f30211203948576a5b4c3d2e1f009";
const INDEX: &str = "application/vnd.oci.image.index.v1+json";
const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

/// modelcar-build through the shared harness: an environment of its own, results in a scratch
/// folder, a time limit.
fn modelcar_build(args: &[&str]) -> Outcome {
    run("modelcar-build", args, &[])
}

fn tool(name: &str, package: &str, args: &[&str]) -> String {
    let output = tool_output(name, package, args);
    assert!(
        output.status.success(),
        "{name} {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

fn tool_output(name: &str, package: &str, args: &[&str]) -> Output {
    Command::new(require_tool(name, package))
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("run {name}: {e}"))
}

fn inspect_raw(image: &str) -> Value {
    let raw = tool(
        "skopeo",
        "skopeo",
        &[
            "inspect",
            "--raw",
            "--tls-verify=false",
            &format!("docker://{image}"),
        ],
    );
    serde_json::from_str(&raw).unwrap()
}

fn list_tags(repository: &str) -> Vec<String> {
    let output = tool_output(
        "skopeo",
        "skopeo",
        &[
            "list-tags",
            "--tls-verify=false",
            &format!("docker://{repository}"),
        ],
    );
    if !output.status.success() {
        return Vec::new();
    }
    let listing: Value = serde_json::from_slice(&output.stdout).unwrap();
    listing["Tags"]
        .as_array()
        .map(|t| t.iter().map(|t| t.as_str().unwrap().to_owned()).collect())
        .unwrap_or_default()
}

fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&fs::read(path).unwrap()).unwrap()
}

fn blob_path(layout: &Path, digest: &str) -> PathBuf {
    layout
        .join("blobs/sha256")
        .join(digest.strip_prefix("sha256:").unwrap())
}

fn layer_digests(manifest: &Value) -> Vec<String> {
    manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["digest"].as_str().unwrap().to_owned())
        .collect()
}

/// `(os/arch[/variant], digest)` of each index entry.
fn entries(index: &Value) -> Vec<(String, String)> {
    index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            let p = &m["platform"];
            let mut platform = format!(
                "{}/{}",
                p["os"].as_str().unwrap(),
                p["architecture"].as_str().unwrap()
            );
            if let Some(variant) = p["variant"].as_str() {
                platform = format!("{platform}/{variant}");
            }
            (platform, m["digest"].as_str().unwrap().to_owned())
        })
        .collect()
}

/// An OCI layout at `dir` tagged `tag`: busybox with /bin/sh and an /etc/platform marker, one
/// image per `(architecture, variant)` (as an index when there are several, else a plain image).
fn busybox_layout(dir: &Path, tag: &str, platforms: &[(&str, Option<&str>)]) {
    let blobs = dir.join("blobs/sha256");
    fs::create_dir_all(&blobs).unwrap();
    let put = |bytes: &[u8]| {
        let file = dir.join("blob.tmp");
        fs::write(&file, bytes).unwrap();
        let out = tool("sha256sum", "coreutils", &[file.to_str().unwrap()]);
        let hex = out.split_whitespace().next().unwrap().to_owned();
        fs::rename(&file, blobs.join(&hex)).unwrap();
        (format!("sha256:{hex}"), bytes.len())
    };
    let busybox = require_tool("busybox", "busybox-static");
    let mut manifests = Vec::new();
    for (architecture, variant) in platforms {
        let work = tempfile::tempdir().unwrap();
        let rootfs = work.path().join("rootfs");
        fs::create_dir_all(rootfs.join("bin")).unwrap();
        fs::create_dir_all(rootfs.join("etc")).unwrap();
        fs::copy(&busybox, rootfs.join("bin/busybox")).unwrap();
        symlink("busybox", rootfs.join("bin/sh")).unwrap();
        fs::write(
            rootfs.join("etc/platform"),
            format!("linux/{architecture}\n"),
        )
        .unwrap();
        let layer = work.path().join("layer.tar");
        tool(
            "tar",
            "tar",
            &[
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
                "etc",
            ],
        );
        let (layer_digest, layer_size) = put(&fs::read(&layer).unwrap());
        let mut config = json!({
            "architecture": architecture,
            "os": "linux",
            "config": { "Cmd": ["sh"], "Env": ["PATH=/bin"] },
            "rootfs": { "type": "layers", "diff_ids": [layer_digest] },
        });
        let mut platform = json!({ "architecture": architecture, "os": "linux" });
        if let Some(variant) = variant {
            config["variant"] = json!(variant);
            platform["variant"] = json!(variant);
        }
        let (config_digest, config_size) = put(&serde_json::to_vec(&config).unwrap());
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": MANIFEST,
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": config_digest, "size": config_size,
            },
            "layers": [{
                "mediaType": "application/vnd.oci.image.layer.v1.tar",
                "digest": layer_digest, "size": layer_size,
            }],
        });
        let (digest, size) = put(&serde_json::to_vec(&manifest).unwrap());
        manifests.push(json!({
            "mediaType": MANIFEST, "digest": digest, "size": size, "platform": platform,
        }));
    }
    let top = if manifests.len() == 1 {
        let mut only = manifests.remove(0);
        only.as_object_mut().unwrap().remove("platform");
        only
    } else {
        let index = json!({ "schemaVersion": 2, "mediaType": INDEX, "manifests": manifests });
        let (digest, size) = put(&serde_json::to_vec(&index).unwrap());
        json!({ "mediaType": INDEX, "digest": digest, "size": size })
    };
    let mut top = top;
    top["annotations"] = json!({ "org.opencontainers.image.ref.name": tag });
    let index = json!({ "schemaVersion": 2, "manifests": [top] });
    fs::write(dir.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
    fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
}

fn model(dir: &Path) {
    fs::create_dir_all(dir.join("1")).unwrap();
    fs::create_dir_all(dir.join("artifacts")).unwrap();
    let pattern: Vec<u8> = (0..=255u8).collect();
    fs::write(dir.join("1/model.onnx"), pattern.repeat(70 * 4096)).unwrap();
    fs::write(dir.join("artifacts/scaler.pkl"), b"scaler").unwrap();
}

#[test]
fn two_platforms_share_model_layers_under_one_index() {
    let registry = Registry::start();
    let host = registry.host();
    let work = tempfile::tempdir().unwrap();
    let model_dir = work.path().join("model");
    model(&model_dir);
    let base_layout = work.path().join("busybox");
    busybox_layout(
        &base_layout,
        "1.36",
        &[("amd64", None), ("arm64", Some("v8"))],
    );
    let base = format!("{host}/base/busybox:1.36");
    tool(
        "skopeo",
        "skopeo",
        &[
            "copy",
            "--all",
            "--dest-tls-verify=false",
            &format!("oci:{}:1.36", base_layout.display()),
            &format!("docker://{base}"),
        ],
    );
    let base_index = inspect_raw(&base);
    assert_eq!(entries(&base_index).len(), 2, "{base_index}");

    let repo = format!("{host}/team/jukebox");
    let out_layout = work.path().join("out");
    let build = |repo: &str, platforms: &[&str], layout: Option<&Path>| {
        let mut args: Vec<String> = [
            "--model-dir",
            model_dir.to_str().unwrap(),
            "--image",
            repo,
            "--tag",
            REVISION,
            "--tag",
            "v1",
            "--source-commit",
            REVISION,
            "--base",
            &base,
            "--plain-http",
            &host,
        ]
        .map(str::to_owned)
        .to_vec();
        for platform in platforms {
            args.extend(["--platform".to_owned(), platform.to_string()]);
        }
        if let Some(layout) = layout {
            args.extend([
                "--oci-layout".to_owned(),
                format!("{}:v1", layout.display()),
            ]);
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        modelcar_build(&args)
    };

    // Comma-separated and repeated --platform mix.
    let run = build(
        &repo,
        &["linux/amd64,linux/arm64", "linux/amd64"],
        Some(&out_layout),
    )
    .ok();
    let digest = run.result("IMAGE_DIGEST");
    assert_eq!(run.result("STORAGE_URI"), format!("oci://{repo}@{digest}"));
    assert_eq!(run.result("IMAGE_URL"), format!("{repo}:{REVISION}"));
    let hashed = format!("model {}: ", model_dir.display());
    assert_eq!(
        run.stderr().matches(&hashed).count(),
        1,
        "hashed once:\n{}",
        run.stderr()
    );

    let index = inspect_raw(&format!("{repo}:{REVISION}"));
    assert_eq!(index["mediaType"], INDEX, "{index}");
    assert_eq!(
        index["annotations"]["org.opencontainers.image.revision"],
        REVISION
    );
    let listed = entries(&index);
    let platforms: Vec<&str> = listed.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(platforms, ["linux/amd64", "linux/arm64/v8"]);
    assert_eq!(inspect_raw(&format!("{repo}:v1")), index);

    let base_entries = entries(&base_index);
    let mut model_layers = Vec::new();
    for ((platform, manifest_digest), (_, base_digest)) in listed.iter().zip(&base_entries) {
        let manifest = inspect_raw(&format!("{repo}@{manifest_digest}"));
        let base_manifest = inspect_raw(&format!("{host}/base/busybox@{base_digest}"));
        let layers = layer_digests(&manifest);
        let base_layers = layer_digests(&base_manifest);
        assert_eq!(
            layers[..1],
            base_layers[..],
            "{platform}: its own base layer first"
        );
        assert_eq!(
            manifest["annotations"]["org.opencontainers.image.base.digest"],
            base_digest.as_str(),
            "{platform}"
        );
        model_layers.push(layers[1..].to_vec());
    }
    assert_ne!(base_entries[0].1, base_entries[1].1);
    assert!(!model_layers[0].is_empty());
    assert_eq!(
        model_layers[0], model_layers[1],
        "model layers shared by both platforms"
    );

    // The layout holds the same index under v1, and every blob it names.
    let layout_index = read_json(&out_layout.join("index.json"));
    let top = layout_index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == "v1")
        .unwrap();
    assert_eq!(top["mediaType"], INDEX);
    assert_eq!(top["digest"], digest.as_str());
    let written = read_json(&blob_path(&out_layout, &digest));
    assert_eq!(written, index);
    for (_, manifest_digest) in &listed {
        let manifest = read_json(&blob_path(&out_layout, manifest_digest));
        for layer in layer_digests(&manifest) {
            assert!(blob_path(&out_layout, &layer).is_file(), "{layer}");
        }
    }

    // Reproducible: same inputs, same index, wherever it goes.
    let again = build(
        &format!("{host}/team/again"),
        &["linux/amd64", "linux/arm64"],
        None,
    )
    .ok();
    assert_eq!(again.result("IMAGE_DIGEST"), digest);

    // A platform the registry's base index lacks: named, with what it offers; nothing pushed.
    let missing = build(
        &format!("{host}/team/missing"),
        &["linux/amd64", "linux/s390x"],
        None,
    );
    assert_eq!(missing.code().unwrap_or(-1), 1, "{}", missing.stderr());
    assert!(
        missing
            .stderr()
            .contains("no image for platform linux/s390x")
            && missing.stderr().contains("linux/amd64, linux/arm64/v8"),
        "{}",
        missing.stderr()
    );
    assert!(list_tags(&format!("{host}/team/missing")).is_empty());

    // One platform: a plain manifest, the very one the index lists for it.
    let single = build(&format!("{host}/team/single"), &["linux/arm64"], None).ok();
    let manifest = inspect_raw(&format!("{host}/team/single:v1"));
    assert_eq!(manifest["mediaType"], MANIFEST, "{manifest}");
    assert_eq!(single.result("IMAGE_DIGEST"), listed[1].1);
}

#[test]
fn a_platform_the_base_lacks_fails_before_anything_is_pushed() {
    let registry = Registry::start();
    let host = registry.host();
    let work = tempfile::tempdir().unwrap();
    let model_dir = work.path().join("model");
    model(&model_dir);
    let multi = work.path().join("multi");
    busybox_layout(&multi, "1.36", &[("amd64", None), ("arm64", Some("v8"))]);
    let single = work.path().join("single");
    busybox_layout(&single, "1.36", &[("amd64", None)]);
    let repo = format!("{host}/team/jukebox");
    let run = |base: &Path, platforms: &str| {
        modelcar_build(&[
            "--model-dir",
            model_dir.to_str().unwrap(),
            "--image",
            &repo,
            "--tag",
            REVISION,
            "--base",
            &format!("oci:{}:1.36", base.display()),
            "--platform",
            platforms,
            "--plain-http",
            &host,
        ])
    };

    let missing = run(&multi, "linux/amd64,linux/s390x");
    assert_ne!(missing.code().unwrap_or(-1), 0, "{}", missing.stderr());
    for needle in ["linux/s390x", "linux/amd64", "linux/arm64/v8"] {
        assert!(
            missing.stderr().contains(needle),
            "{needle}:\n{}",
            missing.stderr()
        );
    }
    let not_index = run(&single, "linux/amd64,linux/arm64");
    assert_eq!(not_index.code().unwrap_or(-1), 2, "{}", not_index.stderr());
    assert!(
        not_index.stderr().contains("single image for linux/amd64")
            && not_index.stderr().contains("linux/arm64"),
        "{}",
        not_index.stderr()
    );
    assert!(list_tags(&repo).is_empty(), "nothing pushed");
    let bad = run(&multi, "linux/amd64,linux");
    assert_eq!(bad.code().unwrap_or(-1), 2, "{}", bad.stderr());
    assert!(bad.stderr().contains("--platform"), "{}", bad.stderr());
}
