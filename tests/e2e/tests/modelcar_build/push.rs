//! Pushing to the plain and the TLS registry, read back by skopeo and GNU tar; reproducible digests.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use serde_json::json;
use test_services::Registry;

use super::support::*;

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
        "--source-commit",
        REVISION,
        "--source-repo",
        "https://git.example.com/team/jukebox",
        "--model-version",
        "1",
        "--title",
        "jukebox",
        "--base",
        "scratch",
        "--plain-http",
        &registry.host(),
    ])
    .ok();
    // Not on a terminal (a Tekton log): plain progress lines, the last at 100%.
    for label in ["hashing model layers: ", "pushing: "] {
        let last = run
            .stderr()
            .lines()
            .rfind(|line| line.contains(label))
            .unwrap_or_else(|| panic!("no {label:?} progress line:\n{}", run.stderr()));
        assert!(last.contains("(100%)"), "{last}");
    }

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
            "--source-commit",
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
        "--source-commit",
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
            .stderr()
            .contains(" in 3 blobs; 0 blobs mounted, 0 already there"),
        "{}",
        first_run.stderr()
    );

    let uploads_before = registry.log().matches("blobs/uploads").count();
    let again = push(&copy, &repo);
    assert_eq!(again.result("IMAGE_DIGEST"), digest);
    assert!(
        again
            .stderr()
            .contains("uploaded 0 bytes in 0 blobs; 0 blobs mounted, 3 already there"),
        "{}",
        again.stderr()
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
        "--source-commit",
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
        !refused.stderr().contains("wrong-password"),
        "{}",
        refused.stderr()
    );
    assert!(skopeo.tags(&repo).is_empty(), "no tag after a refused push");

    // Without the CA the certificate is not trusted.
    modelcar_build(&[
        "--model-dir",
        model.path().to_str().unwrap(),
        "--image",
        &repo,
        "--source-commit",
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
            "--source-commit",
            REVISION,
            "--base",
            "scratch",
            "--ca-cert",
            &ca,
        ],
        &[("REGISTRY_AUTH_FILE", good.to_str().unwrap())],
    )
    .ok();
    assert!(!run.stderr().contains(password));
    let digest = run.result("IMAGE_DIGEST");
    assert_eq!(skopeo.digest(&format!("{repo}:{REVISION}")), digest);
    let unpacked = skopeo.unpack(&format!("{repo}:{REVISION}"));
    assert_model_unpacked(&unpacked.path().join("rootfs"), model.path(), "models");
}
