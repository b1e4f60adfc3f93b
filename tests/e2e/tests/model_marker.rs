//! modelcar-build packages a model only once the training step's version marker names the commit
//! being released: a previous run's model is refused (after the wait) and nothing is written.

use e2e::tool_run::*;

const COMMIT: &str = "4f3c2b1a09e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4";

fn model_with_marker(content: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("model.onnx"), b"weights").unwrap();
    std::fs::write(dir.path().join(".modelcar-revision"), content).unwrap();
    dir
}

fn build(model: &std::path::Path, layout: &std::path::Path, timeout: &str) -> Outcome {
    run(
        "modelcar-build",
        &[
            "--model-dir",
            path_str(model),
            "--base",
            "scratch",
            "--oci-layout",
            &format!("{}:v1", path_str(layout)),
            "--source-commit",
            COMMIT,
            "--marker",
            ".modelcar-revision",
            "--marker-timeout",
            timeout,
        ],
        &[],
    )
}

#[test]
fn only_the_model_trained_from_the_released_commit_is_packaged() {
    let out = tempfile::tempdir().unwrap();
    let stale = model_with_marker("revision: 0c1d2e3f4a5b6c7d\n");
    let layout = out.path().join("stale");
    build(stale.path(), &layout, "1").failed(
        1,
        &[
            "trained from 0c1d2e3f4a5b6c7d, not from 4f3c2b1a09e8",
            "refusing",
        ],
    );
    assert!(!layout.exists(), "nothing is written for a stale model");

    let fresh = model_with_marker("# written by the training step\n4f3c2b1a09\n");
    let layout = out.path().join("fresh");
    let outcome = build(fresh.path(), &layout, "0");
    let outcome = outcome.ok();
    assert!(outcome.result("IMAGE_DIGEST").starts_with("sha256:"));
    assert!(layout.join("index.json").is_file());

    run(
        "modelcar-build",
        &[
            "--model-dir",
            path_str(fresh.path()),
            "--oci-layout",
            path_str(&out.path().join("x")),
            "--marker",
            ".modelcar-revision",
        ],
        &[],
    )
    .failed(2, &["--source-commit"]);
}
