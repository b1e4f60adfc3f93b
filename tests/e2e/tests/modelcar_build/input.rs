//! Bad input, the README quick start, compressed layers.

use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::Path;
use std::process::Command;

use serde_json::Value;
use test_services::{Registry, require_tool, workspace_bin, workspace_root};

use super::support::*;

#[test]
fn bad_input_is_a_clear_error_and_pushes_nothing() {
    let registry = Registry::start();
    let skopeo = SkopeoAccess::plain();
    let repo = format!("{}/team/bad", registry.host());
    let host = registry.host();
    let attempt = |model: &Path, extra: &[&str]| {
        let mut args = vec![
            "--model-dir",
            model.to_str().unwrap(),
            "--image",
            &repo,
            "--source-commit",
            REVISION,
            "--base",
            "scratch",
            "--plain-http",
            &host,
        ];
        args.extend_from_slice(extra);
        modelcar_build(&args)
    };

    let root = tempfile::tempdir().unwrap();
    let missing = root.path().join("missing");
    attempt(&missing, &[]).failed(1, &["missing", "--model-dir"]);

    let empty = root.path().join("empty");
    fs::create_dir_all(empty.join("only/dirs")).unwrap();
    attempt(&empty, &[]).failed(1, &["holds no files"]);

    let fresh = |name: &str| {
        let dir = root.path().join(name);
        fs::create_dir_all(&dir).unwrap();
        test_model(&dir);
        dir
    };
    let escaping = fresh("escaping");
    symlink("../../../etc/passwd", escaping.join("1/passwd")).unwrap();
    attempt(&escaping, &[]).failed(1, &["1/passwd", "leaves the model directory"]);

    let absolute = fresh("absolute");
    symlink("/etc/hostname", absolute.join("host")).unwrap();
    attempt(&absolute, &[]).failed(1, &["host", "leaves the model directory"]);

    let fifo = fresh("fifo");
    let status = Command::new("mkfifo")
        .arg(fifo.join("artifacts/pipe"))
        .status()
        .unwrap();
    assert!(status.success());
    attempt(&fifo, &[]).failed(1, &["artifacts/pipe", "FIFO"]);

    let socket = fresh("socket");
    let _listener = std::os::unix::net::UnixListener::bind(socket.join("sock")).unwrap();
    attempt(&socket, &[]).failed(1, &["sock", "socket"]);

    let whiteout = fresh("whiteout");
    fs::write(whiteout.join("artifacts/.wh.scaler.pkl"), b"").unwrap();
    attempt(&whiteout, &[]).failed(1, &[".wh.scaler.pkl", "whiteout"]);

    let non_utf8 = fresh("non-utf8");
    {
        use std::os::unix::ffi::OsStrExt;
        fs::write(
            non_utf8.join(std::ffi::OsStr::from_bytes(b"caf\xe9.pkl")),
            b"x",
        )
        .unwrap();
    }
    attempt(&non_utf8, &[]).failed(1, &["UTF-8", "rename"]);

    // An unreadable file; root reads everything, so then the build runs as nobody.
    let unreadable = root.path().join("unreadable");
    fs::create_dir_all(&unreadable).unwrap();
    fs::write(unreadable.join("weights.bin"), b"secret").unwrap();
    fs::write(unreadable.join("config.json"), b"{}").unwrap();
    fs::set_permissions(
        unreadable.join("weights.bin"),
        fs::Permissions::from_mode(0o000),
    )
    .unwrap();
    for dir in [root.path(), unreadable.as_path()] {
        fs::set_permissions(dir, fs::Permissions::from_mode(0o755)).unwrap();
    }
    let binary = workspace_bin("modelcar-build");
    let mut command = if is_root() {
        let mut command = Command::new(require_tool("setpriv", "util-linux"));
        command.args(["--reuid=65534", "--regid=65534", "--clear-groups"]);
        command.arg(&binary);
        command
    } else {
        Command::new(&binary)
    };
    let output = command
        .args([
            "--model-dir",
            unreadable.to_str().unwrap(),
            "--image",
            &repo,
        ])
        .args([
            "--source-commit",
            REVISION,
            "--base",
            "scratch",
            "--plain-http",
            &host,
        ])
        .env("HOME", "/nonexistent")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("weights.bin") && stderr.contains("Permission denied"),
        "{stderr}"
    );

    let good = fresh("good");
    attempt(&good, &["--tag", "not a tag!"]).failed(2, &["--tag", "not a tag!"]);
    attempt(&good, &["--tag", ".hidden"]).failed(2, &["--tag"]);
    modelcar_build(&[
        "--model-dir",
        good.to_str().unwrap(),
        "--image",
        "Upper/Case Repo",
        "--source-commit",
        REVISION,
    ])
    .failed(2, &["--image"]);
    modelcar_build(&["--model-dir", good.to_str().unwrap(), "--base", "scratch"])
        .failed(2, &["--image", "--oci-layout"]);
    attempt(&good, &["--subdir", "../escape"]).failed(2, &["--subdir"]);

    assert!(
        skopeo.tags(&repo).is_empty(),
        "nothing may be pushed for bad input"
    );
    assert!(
        !registry.log().contains("blobs/uploads"),
        "no upload may start for bad input"
    );

    // A registry that is not there: the message names it and the repository.
    let nowhere = "127.0.0.1:9/team/jukebox";
    modelcar_build(&[
        "--model-dir",
        good.to_str().unwrap(),
        "--image",
        nowhere,
        "--source-commit",
        REVISION,
        "--base",
        "scratch",
        "--plain-http",
        "127.0.0.1:9",
    ])
    .failed(1, &["127.0.0.1:9", "team/jukebox"]);
}

/// README's "Build one ModelCar by hand" without network: on the busybox base scripts/demo leaves as
/// an OCI layout (its one image tagged `latest`, so `oci:DIR` finds it without a tag).
#[test]
fn the_readme_quick_start_works_offline() {
    let out = tempfile::tempdir().unwrap();
    let base = out.path().join("base-layout");
    busybox_layout(
        &base,
        "latest",
        BaseOptions {
            entrypoint: None,
            shell: true,
        },
    );
    let example = workspace_root().join("examples/model");
    let layout = format!("{}/jukebox:v1", out.path().display());
    let run = modelcar_build(&[
        "--model-dir",
        example.to_str().unwrap(),
        "--base",
        &format!("oci:{}", base.display()),
        "--oci-layout",
        &layout,
    ])
    .ok();
    assert!(!run.stderr().contains("no /bin/sh"), "{}", run.stderr());
    assert_eq!(
        run.result("IMAGE_URL"),
        format!("oci:{}/jukebox:v1", out.path().display())
    );
    // skopeo reads the layout: the base's layer and the model's; they unpack to a shell and the
    // example model.
    let inspected = tool(
        "skopeo",
        "skopeo",
        &["inspect", "--raw", &format!("oci:{layout}")],
    );
    let manifest: Value = serde_json::from_str(&inspected).unwrap();
    assert_eq!(manifest["layers"].as_array().unwrap().len(), 2);
    let work = tempfile::tempdir().unwrap();
    let unpacked = unpack_layout(&out.path().join("jukebox"), work);
    let rootfs = unpacked.path().join("rootfs");
    assert!(rootfs.join("bin/busybox").is_file());
    assert_model_unpacked(&rootfs, &example, "models");
}

#[test]
fn compressed_layers_carry_digests_of_both_streams() {
    let model = tempfile::tempdir().unwrap();
    test_model(model.path());
    for (compression, media_type) in [
        ("gzip", "application/vnd.oci.image.layer.v1.tar+gzip"),
        ("zstd", "application/vnd.oci.image.layer.v1.tar+zstd"),
    ] {
        let out = tempfile::tempdir().unwrap();
        let layout = out.path().join("layout");
        modelcar_build(&[
            "--model-dir",
            model.path().to_str().unwrap(),
            "--base",
            "scratch",
            "--compression",
            compression,
            "--oci-layout",
            &format!("{}:v1", layout.display()),
        ])
        .ok();
        let index = read_json(&layout.join("index.json"));
        let manifest = read_json(&blob_path(
            &layout,
            index["manifests"][0]["digest"].as_str().unwrap(),
        ));
        let config = read_json(&blob_path(
            &layout,
            manifest["config"]["digest"].as_str().unwrap(),
        ));
        let layers = manifest["layers"].as_array().unwrap();
        for (layer, diff_id) in layers
            .iter()
            .zip(config["rootfs"]["diff_ids"].as_array().unwrap())
        {
            assert_eq!(layer["mediaType"], media_type);
            let blob = blob_path(&layout, layer["digest"].as_str().unwrap());
            assert_eq!(
                format!("sha256:{}", sha256_file(&blob)),
                layer["digest"].as_str().unwrap()
            );
            if compression == "gzip" {
                // The diff_id is the digest of the uncompressed tar.
                let tar = out.path().join("layer.tar");
                let output = Command::new(require_tool("gzip", "gzip"))
                    .arg("-dc")
                    .arg(&blob)
                    .output()
                    .unwrap();
                assert!(output.status.success());
                fs::write(&tar, output.stdout).unwrap();
                assert_eq!(
                    format!("sha256:{}", sha256_file(&tar)),
                    diff_id.as_str().unwrap()
                );
            } else {
                assert_ne!(layer["digest"], *diff_id);
            }
        }
        if compression == "gzip" {
            let work = tempfile::tempdir().unwrap();
            let unpacked = unpack_layout(&layout, work);
            assert_model_unpacked(&unpacked.path().join("rootfs"), model.path(), "models");
        }
    }
}
