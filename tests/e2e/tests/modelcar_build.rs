//! modelcar-build against the real registry (Debian's docker-registry, plain and TLS + basic auth),
//! checked with an independent client (skopeo) and GNU tar: the layers unpacked in order give the
//! model back byte for byte under models/.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{Value, json};
use tempfile::TempDir;
use test_services::{Registry, require_tool, workspace_bin, workspace_root};

const REVISION: &str = "4f3c2b1a09e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4";

// ---------------------------------------------------------------------------------------------
// Running the binary

struct Run {
    code: i32,
    stderr: String,
    results: TempDir,
}

impl Run {
    fn result(&self, name: &str) -> String {
        fs::read_to_string(self.results.path().join(name))
            .unwrap_or_else(|e| panic!("result {name}: {e}\nstderr:\n{}", self.stderr))
    }

    fn ok(self) -> Self {
        assert_eq!(self.code, 0, "modelcar-build failed:\n{}", self.stderr);
        self
    }

    fn failed(self, code: i32, needles: &[&str]) -> Self {
        assert_eq!(self.code, code, "expected exit {code}:\n{}", self.stderr);
        for needle in needles {
            assert!(
                self.stderr.contains(needle),
                "stderr lacks {needle:?}:\n{}",
                self.stderr
            );
        }
        self
    }
}

/// Runs modelcar-build with a clean environment: no auth files but those given, results in a
/// temporary directory.
fn modelcar_build(args: &[&str]) -> Run {
    modelcar_build_env(args, &[])
}

fn modelcar_build_env(args: &[&str], env: &[(&str, &str)]) -> Run {
    let results = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let mut command = Command::new(workspace_bin("modelcar-build"));
    command
        .args(args)
        .env_remove("REGISTRY_AUTH_FILE")
        .env_remove("DOCKER_CONFIG")
        .env_remove("XDG_RUNTIME_DIR")
        .env_remove("SOURCE_DATE_EPOCH")
        .env("HOME", home.path())
        .env("RESULTS_DIR", results.path())
        .env("LOG_FORMAT", "text")
        .env("RUST_LOG", "info");
    for (key, value) in env {
        command.env(key, value);
    }
    let output = command.output().expect("run modelcar-build");
    Run {
        code: output.status.code().unwrap_or(-1),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        results,
    }
}

// ---------------------------------------------------------------------------------------------
// Models

/// The workshop's example model plus what stresses the layer format: a file with its own layer,
/// a path over 100 bytes, an executable, a link, an empty directory.
fn test_model(dir: &Path) {
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
fn tree(root: &Path) -> BTreeMap<String, String> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
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

fn sha256_hex(bytes: &[u8]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("blob");
    fs::write(&file, bytes).unwrap();
    sha256_file(&file)
}

fn sha256_file(path: &Path) -> String {
    let out = tool("sha256sum", "coreutils", &[path.to_str().unwrap()]);
    out.split_whitespace().next().unwrap().to_owned()
}

// ---------------------------------------------------------------------------------------------
// The independent client

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

/// How skopeo reaches a test registry: TLS verification with the test CA and credentials, or
/// plain HTTP.
struct SkopeoAccess {
    flags: Vec<String>,
    _certs: Option<TempDir>,
}

impl SkopeoAccess {
    fn plain() -> Self {
        Self {
            flags: vec!["--tls-verify=false".into()],
            _certs: None,
        }
    }

    fn tls(registry: &Registry, user: &str, password: &str) -> Self {
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
    fn prefixed(&self, side: &str) -> Vec<String> {
        self.flags
            .iter()
            .map(|f| f.replacen("--", &format!("--{side}-"), 1))
            .collect()
    }

    fn inspect_raw(&self, image: &str) -> Value {
        let mut args = vec!["inspect".to_owned(), "--raw".to_owned()];
        args.extend(self.flags.clone());
        args.push(format!("docker://{image}"));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        serde_json::from_str(&tool("skopeo", "skopeo", &args)).unwrap()
    }

    fn digest(&self, image: &str) -> String {
        let mut args = vec!["inspect".to_owned(), "--format={{.Digest}}".to_owned()];
        args.extend(self.flags.clone());
        args.push(format!("docker://{image}"));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        tool("skopeo", "skopeo", &args).trim().to_owned()
    }

    /// The repository's tags; none when it does not exist.
    fn tags(&self, repository: &str) -> Vec<String> {
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
    fn unpack(&self, image: &str) -> TempDir {
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
fn unpack_layout(layout: &Path, work: TempDir) -> TempDir {
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

fn blob_path(layout: &Path, digest: &str) -> PathBuf {
    layout
        .join("blobs/sha256")
        .join(digest.strip_prefix("sha256:").unwrap())
}

fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&fs::read(path).unwrap()).unwrap()
}

// ---------------------------------------------------------------------------------------------
// A base image built here from Debian's busybox-static

struct BaseOptions<'a> {
    entrypoint: Option<&'a [&'a str]>,
    shell: bool,
}

/// Writes an OCI layout at `dir` with one image tagged `tag`: /bin/busybox and, when asked,
/// /bin/sh -> busybox.
fn busybox_layout(dir: &Path, tag: &str, options: BaseOptions<'_>) {
    let work = tempfile::tempdir().unwrap();
    let rootfs = work.path().join("rootfs");
    fs::create_dir_all(rootfs.join("bin")).unwrap();
    let busybox = require_tool("busybox", "busybox-static");
    fs::copy(&busybox, rootfs.join("bin/busybox")).unwrap();
    if options.shell {
        symlink("busybox", rootfs.join("bin/sh")).unwrap();
    }
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
        ],
    );
    let blobs = dir.join("blobs/sha256");
    fs::create_dir_all(&blobs).unwrap();
    let put = |bytes: &[u8]| {
        let hex = sha256_hex(bytes);
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

fn assert_model_unpacked(rootfs: &Path, model: &Path, under: &str) {
    let unpacked = tree(&rootfs.join(under));
    assert_eq!(
        unpacked,
        tree(model),
        "unpacked /{under} differs from the model"
    );
}

// ---------------------------------------------------------------------------------------------
// Tests

#[test]
fn pushes_to_a_plain_registry_and_skopeo_reads_the_model_back() {
    let registry = Registry::start();
    let model = tempfile::tempdir().unwrap();
    test_model(model.path());
    let repo = format!("{}/team/jukebox", registry.host());
    let run = modelcar_build(&[
        "--model-dir",
        model.path().to_str().unwrap(),
        "--image",
        &repo,
        "--tag",
        REVISION,
        "--tag",
        "v1",
        "--revision",
        REVISION,
        "--source",
        "https://git.example.com/team/jukebox",
        "--version",
        "1",
        "--title",
        "jukebox",
        "--base",
        "scratch",
        "--plain-http",
        &registry.host(),
    ])
    .ok();

    let skopeo = SkopeoAccess::plain();
    let digest = run.result("IMAGE_DIGEST");
    assert_eq!(run.result("IMAGE_URL"), format!("{repo}:{REVISION}"));
    assert_eq!(run.result("STORAGE_URI"), format!("oci://{repo}@{digest}"));
    assert_eq!(skopeo.digest(&format!("{repo}:{REVISION}")), digest);
    assert_eq!(skopeo.digest(&format!("{repo}:v1")), digest);
    let mut tags = skopeo.tags(&repo);
    tags.sort();
    assert_eq!(tags, [REVISION, "v1"]);

    let manifest = skopeo.inspect_raw(&format!("{repo}@{digest}"));
    assert_eq!(
        manifest["mediaType"],
        "application/vnd.oci.image.manifest.v1+json"
    );
    let annotations = &manifest["annotations"];
    assert_eq!(annotations["org.opencontainers.image.revision"], REVISION);
    assert_eq!(
        annotations["org.opencontainers.image.source"],
        "https://git.example.com/team/jukebox"
    );
    assert_eq!(annotations["org.opencontainers.image.version"], "1");
    assert_eq!(annotations["org.opencontainers.image.title"], "jukebox");
    assert_eq!(
        annotations["org.opencontainers.image.created"],
        "1970-01-01T00:00:00Z"
    );
    let layers = manifest["layers"].as_array().unwrap();
    assert_eq!(
        layers.len(),
        2,
        "small files together, the 70 MiB file alone"
    );
    for layer in layers {
        assert_eq!(layer["mediaType"], "application/vnd.oci.image.layer.v1.tar");
    }

    let unpacked = skopeo.unpack(&format!("{repo}:v1"));
    assert_model_unpacked(&unpacked.path().join("rootfs"), model.path(), "models");
}

#[test]
fn same_model_gives_the_same_digest_and_a_repush_uploads_nothing() {
    let registry = Registry::start();
    let first = tempfile::tempdir().unwrap();
    let second = tempfile::tempdir().unwrap();
    test_model(first.path());
    // A copy made in another place, in another order, with other mtimes and permissions.
    let copy = second.path().join("checkout/models/jukebox");
    fs::create_dir_all(&copy).unwrap();
    let status = Command::new("cp")
        .args(["-r", "--no-preserve=mode,timestamps"])
        .arg(format!("{}/.", first.path().display()))
        .arg(&copy)
        .status()
        .unwrap();
    assert!(status.success());
    fs::set_permissions(copy.join("serve.sh"), fs::Permissions::from_mode(0o700)).unwrap();
    fs::set_permissions(
        copy.join("artifacts/scaler.pkl"),
        fs::Permissions::from_mode(0o600),
    )
    .unwrap();

    let repo = format!("{}/team/jukebox", registry.host());
    let push = |dir: &Path, repo: &str| {
        modelcar_build(&[
            "--model-dir",
            dir.to_str().unwrap(),
            "--image",
            repo,
            "--revision",
            REVISION,
            "--base",
            "scratch",
            "--plain-http",
            &registry.host(),
        ])
        .ok()
    };
    let layout = tempfile::tempdir().unwrap();
    let layout_run = modelcar_build(&[
        "--model-dir",
        copy.to_str().unwrap(),
        "--oci-layout",
        &format!("{}:v1", layout.path().display()),
        "--revision",
        REVISION,
        "--base",
        "scratch",
    ])
    .ok();

    let first_run = push(first.path(), &repo);
    let digest = first_run.result("IMAGE_DIGEST");
    assert_eq!(layout_run.result("IMAGE_DIGEST"), digest);
    assert!(
        first_run
            .stderr
            .contains(" in 3 blobs; 0 blobs mounted, 0 already there"),
        "{}",
        first_run.stderr
    );

    let uploads_before = registry.log().matches("blobs/uploads").count();
    let again = push(&copy, &repo);
    assert_eq!(again.result("IMAGE_DIGEST"), digest);
    assert!(
        again
            .stderr
            .contains("uploaded 0 bytes in 0 blobs; 0 blobs mounted, 3 already there"),
        "{}",
        again.stderr
    );
    assert_eq!(
        registry.log().matches("blobs/uploads").count(),
        uploads_before,
        "a re-push must not start any upload"
    );
    assert_eq!(SkopeoAccess::plain().tags(&repo), [REVISION]);

    // The layout written from the copy unpacks to the same model.
    let work = tempfile::tempdir().unwrap();
    let unpacked = unpack_layout(layout.path(), work);
    assert_model_unpacked(&unpacked.path().join("rootfs"), first.path(), "models");
}

#[test]
fn tls_registry_with_basic_auth_from_an_auth_file() {
    let (user, password) = ("modelcar", "s3cret-pa55");
    let registry = Registry::start_tls_with_auth(user, password);
    let model = tempfile::tempdir().unwrap();
    test_model(model.path());
    let secrets = tempfile::tempdir().unwrap();
    let auth = |user: &str, password: &str| {
        let encoded = tool_with_stdin("base64", &["-w0"], format!("{user}:{password}"));
        let path = secrets.path().join(format!("auth-{user}.json"));
        let file = json!({ "auths": { registry.host(): { "auth": encoded.trim() } } });
        fs::write(&path, serde_json::to_vec(&file).unwrap()).unwrap();
        path
    };
    let good = auth(user, password);
    let bad = auth("intruder", "wrong-password");
    let repo = format!("{}/secure/jukebox", registry.host());
    let ca = registry.ca_pem().unwrap().to_str().unwrap().to_owned();
    let skopeo = SkopeoAccess::tls(&registry, user, password);

    let refused = modelcar_build(&[
        "--model-dir",
        model.path().to_str().unwrap(),
        "--image",
        &repo,
        "--revision",
        REVISION,
        "--base",
        "scratch",
        "--authfile",
        bad.to_str().unwrap(),
        "--ca-cert",
        &ca,
    ])
    .failed(1, &[&registry.host(), "secure/jukebox"]);
    assert!(
        !refused.stderr.contains("wrong-password"),
        "{}",
        refused.stderr
    );
    assert!(skopeo.tags(&repo).is_empty(), "no tag after a refused push");

    // Without the CA the certificate is not trusted.
    modelcar_build(&[
        "--model-dir",
        model.path().to_str().unwrap(),
        "--image",
        &repo,
        "--revision",
        REVISION,
        "--base",
        "scratch",
        "--authfile",
        good.to_str().unwrap(),
    ])
    .failed(1, &[&registry.host()]);

    let run = modelcar_build_env(
        &[
            "--model-dir",
            model.path().to_str().unwrap(),
            "--image",
            &repo,
            "--revision",
            REVISION,
            "--base",
            "scratch",
            "--ca-cert",
            &ca,
        ],
        &[("REGISTRY_AUTH_FILE", good.to_str().unwrap())],
    )
    .ok();
    assert!(!run.stderr.contains(password));
    let digest = run.result("IMAGE_DIGEST");
    assert_eq!(skopeo.digest(&format!("{repo}:{REVISION}")), digest);
    let unpacked = skopeo.unpack(&format!("{repo}:{REVISION}"));
    assert_model_unpacked(&unpacked.path().join("rootfs"), model.path(), "models");
}

fn is_root() -> bool {
    let output = Command::new("id").arg("-u").output().unwrap();
    String::from_utf8_lossy(&output.stdout).trim() == "0"
}

fn tool_with_stdin(name: &str, args: &[&str], input: String) -> String {
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

#[test]
fn busybox_base_from_a_layout_and_from_the_registry() {
    let registry = Registry::start();
    let skopeo = SkopeoAccess::plain();
    let model = tempfile::tempdir().unwrap();
    test_model(model.path());
    let bases = tempfile::tempdir().unwrap();
    let base_layout = bases.path().join("busybox");
    busybox_layout(
        &base_layout,
        "1.35",
        BaseOptions {
            entrypoint: None,
            shell: true,
        },
    );
    let base_arg = format!("oci:{}:1.35", base_layout.display());
    let repo = format!("{}/team/jukebox", registry.host());
    let build_in = |repo: &str, base: &str, tag: &str, subdir: Option<&str>| {
        let mut args = vec![
            "--model-dir",
            model.path().to_str().unwrap(),
            "--image",
            repo,
            "--tag",
            tag,
            "--revision",
            REVISION,
            "--base",
            base,
            "--plain-http",
            &registry.host(),
        ]
        .into_iter()
        .map(str::to_owned)
        .collect::<Vec<_>>();
        if let Some(subdir) = subdir {
            args.extend(["--subdir".to_owned(), subdir.to_owned()]);
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        modelcar_build(&args)
    };
    let build = |base: &str, tag: &str, subdir: Option<&str>| build_in(&repo, base, tag, subdir);

    let from_layout = build(&base_arg, "layout-base", Some("jukebox")).ok();
    assert!(
        !from_layout.stderr.contains("no /bin/sh"),
        "{}",
        from_layout.stderr
    );
    let image = format!("{repo}:layout-base");
    let manifest = skopeo.inspect_raw(&image);
    assert_eq!(manifest["layers"].as_array().unwrap().len(), 3);
    assert_eq!(
        manifest["annotations"]["org.opencontainers.image.base.name"],
        base_arg.as_str()
    );
    let base_index = read_json(&base_layout.join("index.json"));
    assert_eq!(
        manifest["annotations"]["org.opencontainers.image.base.digest"],
        base_index["manifests"][0]["digest"]
    );
    let unpacked = skopeo.unpack(&image);
    let rootfs = unpacked.path().join("rootfs");
    assert_eq!(
        fs::read_link(rootfs.join("bin/sh")).unwrap(),
        Path::new("busybox")
    );
    assert_model_unpacked(&rootfs, model.path(), "models/jukebox");
    // KServe's check, run by the base's own shell.
    let check = Command::new(rootfs.join("bin/busybox"))
        .args(["sh", "-c", "[ -d models ] && [ \"$(ls -A models)\" ]"])
        .current_dir(&rootfs)
        .status()
        .unwrap();
    assert!(check.success());

    // The same base pushed to the registry, then used from there.
    let base_repo = format!("{}/base/busybox", registry.host());
    let mut copy = vec!["copy".to_owned()];
    copy.extend(skopeo.prefixed("dest"));
    copy.push(base_arg.clone());
    copy.push(format!("docker://{base_repo}:1.35"));
    let copy: Vec<&str> = copy.iter().map(String::as_str).collect();
    tool("skopeo", "skopeo", &copy);
    // Into a repository that lacks the base layer: it is mounted from base/busybox.
    let mounted_repo = format!("{}/team/mounted", registry.host());
    let from_registry = build_in(
        &mounted_repo,
        &format!("{base_repo}:1.35"),
        "registry-base",
        None,
    )
    .ok();
    let image = format!("{mounted_repo}:registry-base");
    let manifest = skopeo.inspect_raw(&image);
    assert_eq!(
        manifest["annotations"]["org.opencontainers.image.base.name"],
        format!("{base_repo}:1.35")
    );
    let config_digest = manifest["config"]["digest"].as_str().unwrap();
    assert!(!config_digest.is_empty());
    let unpacked = skopeo.unpack(&image);
    let rootfs = unpacked.path().join("rootfs");
    assert!(rootfs.join("bin/busybox").is_file());
    assert_model_unpacked(&rootfs, model.path(), "models");
    assert!(
        from_registry
            .stderr
            .contains("in 3 blobs; 1 blobs mounted, 0 already there"),
        "the base layer is mounted, not uploaded:\n{}",
        from_registry.stderr
    );

    // A base with an ENTRYPOINT is refused, unless allowed.
    let with_entrypoint = bases.path().join("entrypoint");
    busybox_layout(
        &with_entrypoint,
        "1",
        BaseOptions {
            entrypoint: Some(&["/bin/busybox"]),
            shell: true,
        },
    );
    let entrypoint_arg = format!("oci:{}:1", with_entrypoint.display());
    build(&entrypoint_arg, "refused", None).failed(1, &["ENTRYPOINT", "--allow-entrypoint"]);
    assert!(!skopeo.tags(&repo).contains(&"refused".to_owned()));
    let mut allowed = vec![
        "--model-dir",
        model.path().to_str().unwrap(),
        "--oci-layout",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect::<Vec<_>>();
    let out = tempfile::tempdir().unwrap();
    allowed.push(format!("{}:allowed", out.path().display()));
    allowed.extend(["--base".into(), entrypoint_arg, "--allow-entrypoint".into()]);
    let allowed: Vec<&str> = allowed.iter().map(String::as_str).collect();
    modelcar_build(&allowed).ok();

    // A base without a shell builds, with a warning.
    let no_shell = bases.path().join("no-shell");
    busybox_layout(
        &no_shell,
        "1",
        BaseOptions {
            entrypoint: None,
            shell: false,
        },
    );
    let out = tempfile::tempdir().unwrap();
    let warned = modelcar_build(&[
        "--model-dir",
        model.path().to_str().unwrap(),
        "--oci-layout",
        &format!("{}:v1", out.path().display()),
        "--base",
        &format!("oci:{}:1", no_shell.display()),
    ])
    .ok();
    assert!(warned.stderr.contains("no /bin/sh"), "{}", warned.stderr);
}

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
            "--revision",
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
            "--revision",
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
        "--revision",
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
        "--revision",
        REVISION,
        "--base",
        "scratch",
        "--plain-http",
        "127.0.0.1:9",
    ])
    .failed(1, &["127.0.0.1:9", "team/jukebox"]);
}

#[test]
fn the_readme_quick_start_works_offline() {
    let out = tempfile::tempdir().unwrap();
    let example = workspace_root().join("examples/model");
    let layout = format!("{}/jukebox:v1", out.path().display());
    let run = modelcar_build(&[
        "--model-dir",
        example.to_str().unwrap(),
        "--base",
        "scratch",
        "--oci-layout",
        &layout,
    ])
    .ok();
    assert_eq!(
        run.result("IMAGE_URL"),
        format!("oci:{}/jukebox:v1", out.path().display())
    );
    // skopeo reads the layout, and the layers unpack to the example model.
    let inspected = tool(
        "skopeo",
        "skopeo",
        &["inspect", "--raw", &format!("oci:{layout}")],
    );
    let manifest: Value = serde_json::from_str(&inspected).unwrap();
    assert_eq!(manifest["layers"].as_array().unwrap().len(), 1);
    let work = tempfile::tempdir().unwrap();
    let unpacked = unpack_layout(&out.path().join("jukebox"), work);
    assert_model_unpacked(&unpacked.path().join("rootfs"), &example, "models");
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
