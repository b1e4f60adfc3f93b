//! Whole builds: the same content gives the same image digest whatever the directory's path,
//! mtimes, owners, permissions beyond the executable bit, creation order or thread count.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, SystemTime};

use common::progress::Meter;
use modelcar::{
    BaseImage, BuildOptions, Compression, ImageMetadata, ModelCarError, build_modelcar,
};
use oci::Platform;

const FILES: [(&str, usize); 5] = [
    ("1/model.onnx", 3000),
    ("artifacts/scaler.pkl", 700),
    ("artifacts/encoder.pkl", 90),
    ("shards/model-00001.safetensors", 70 << 20),
    ("README.md", 12),
];

fn write_model(dir: &Path, reverse: bool, mtime_offset: u64) {
    let mut files = FILES.to_vec();
    if reverse {
        files.reverse();
    }
    for (rel, size) in files {
        let path = dir.join(rel);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        let pattern: Vec<u8> = (0..251u8).collect();
        let mut content = pattern.repeat(size / 251 + 1);
        content.truncate(size);
        fs::write(&path, content).unwrap();
        let when = SystemTime::UNIX_EPOCH + Duration::from_secs(1_600_000_000 + mtime_offset);
        fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(when)
            .unwrap();
    }
}

fn options(dir: &Path, jobs: usize) -> BuildOptions {
    BuildOptions {
        model_dir: dir.to_owned(),
        subdir: None,
        compression: Compression::None,
        source_date_epoch: 0,
        metadata: ImageMetadata {
            revision: Some("0123456789abcdef0123456789abcdef01234567".into()),
            source: Some("https://git.example.com/team/jukebox".into()),
            version: Some("1".into()),
            title: Some("jukebox".into()),
        },
        allow_entrypoint: false,
        jobs,
    }
}

fn build(dir: &Path, jobs: usize) -> modelcar::ModelCar {
    build_modelcar(
        &BaseImage::scratch(Platform::linux_amd64()),
        &options(dir, jobs),
        &Meter::default(),
    )
    .unwrap()
}

#[test]
fn same_content_same_digest() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let b_model = b.path().join("elsewhere/deeper");
    write_model(a.path(), false, 0);
    write_model(&b_model, true, 12_345);
    fs::set_permissions(b_model.join("README.md"), fs::Permissions::from_mode(0o600)).unwrap();
    std::os::unix::fs::chown(b_model.join("artifacts/scaler.pkl"), Some(1234), Some(5678)).unwrap();

    let first = build(a.path(), 1);
    let second = build(&b_model, 4);
    assert_eq!(first.image.digest(), second.image.digest());
    assert_eq!(first.model_files, FILES.len());
    // The large shard has a layer of its own, the small files share one.
    assert_eq!(first.model_layers, 2);

    let manifest = first.image.manifest();
    let annotations = &manifest.annotations;
    assert_eq!(
        annotations["org.opencontainers.image.created"],
        "1970-01-01T00:00:00Z"
    );
    assert_eq!(annotations["org.opencontainers.image.title"], "jukebox");
    assert!(!annotations.contains_key("org.opencontainers.image.base.name"));
    let labels = first
        .image
        .config()
        .config
        .as_ref()
        .unwrap()
        .labels
        .clone()
        .unwrap();
    assert_eq!(
        labels["org.opencontainers.image.revision"],
        "0123456789abcdef0123456789abcdef01234567"
    );
    assert_eq!(
        manifest.layers[0].media_type,
        oci::media_types::OCI_LAYER_TAR
    );

    // A changed byte changes only the layer that holds it.
    fs::write(b_model.join("README.md"), b"changed text").unwrap();
    let third = build(&b_model, 2);
    assert_ne!(third.image.digest(), first.image.digest());
    let layers = |m: &modelcar::ModelCar| {
        m.image
            .manifest()
            .layers
            .iter()
            .map(|l| l.digest.clone())
            .collect::<Vec<_>>()
    };
    assert_ne!(layers(&third)[0], layers(&first)[0]);
    assert_eq!(layers(&third)[1], layers(&first)[1]);
}

#[test]
fn validation_fails_before_hashing() {
    let dir = tempfile::tempdir().unwrap();
    let meter = Meter::default();
    let err = build_modelcar(
        &BaseImage::scratch(Platform::linux_amd64()),
        &options(dir.path(), 1),
        &meter,
    )
    .unwrap_err();
    assert!(matches!(err, ModelCarError::ModelDirEmpty { .. }), "{err}");
    assert_eq!((meter.total(), meter.done()), (0, 0), "nothing was hashed");
}

#[test]
fn several_platforms_share_model_layers_hashed_once() {
    let dir = tempfile::tempdir().unwrap();
    write_model(dir.path(), false, 0);
    let files = modelcar::scan::scan_model_dir(dir.path()).unwrap();
    let bases = [
        BaseImage::scratch(Platform::linux_amd64()),
        BaseImage::scratch(Platform::new("linux", "arm64", None)),
    ];
    let meter = Meter::default();
    let built =
        modelcar::build_modelcars_from(&bases, &files, &options(dir.path(), 2), &meter).unwrap();
    assert!(meter.total() > 0);
    assert_eq!(
        meter.done(),
        meter.total(),
        "the model is hashed once for all platforms"
    );
    assert_eq!(built.len(), 2);
    let layers = |i: usize| -> Vec<String> {
        built[i]
            .image
            .manifest()
            .layers
            .iter()
            .map(|l| l.digest.to_string())
            .collect()
    };
    assert_eq!(layers(0), layers(1));
    assert_ne!(built[0].image.digest(), built[1].image.digest());
    // One platform of several is the very image a single-platform build gives.
    assert_eq!(built[0].image.digest(), build(dir.path(), 1).image.digest());

    let index = modelcar::modelcar_index(&built).unwrap();
    let platforms: Vec<String> = index
        .index()
        .manifests
        .iter()
        .map(|d| d.platform.as_ref().unwrap().to_string())
        .collect();
    assert_eq!(platforms, ["linux/amd64", "linux/arm64"]);
    assert_eq!(
        index.index().annotations["org.opencontainers.image.revision"],
        "0123456789abcdef0123456789abcdef01234567"
    );
    let again =
        modelcar::build_modelcars_from(&bases, &files, &options(dir.path(), 1), &Meter::default())
            .unwrap();
    assert_eq!(
        modelcar::modelcar_index(&again).unwrap().digest(),
        index.digest(),
        "same inputs, same index digest"
    );
}
