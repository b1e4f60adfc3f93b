//! OCI image layouts: round trips, re-tagging, a layout as a base, remote layers downloaded.

use std::process::Command;

use oci::{
    ImageBuilder, ImageLocation, IndexBuilder, LayoutError, OciLayout, Platform, PushOptions,
    Stored,
};
use test_services::Registry;

use crate::support::*;

fn no_temp_files(layout: &OciLayout) {
    let leftovers: Vec<_> = std::fs::read_dir(layout.path().join("blobs/sha256"))
        .unwrap()
        .chain(std::fs::read_dir(layout.path()).unwrap())
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(".tmp-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn write_read_round_trip_rewrite_and_retag() {
    let dir = tempfile::tempdir().unwrap();
    let image = generated_image(dir.path(), "linux/amd64", 300_000, &[40, 41]);
    let layout = OciLayout::create(&dir.path().join("out")).unwrap();

    let first = layout.write(&image, "v1").await.unwrap();
    assert_eq!(&first.digest, image.digest());
    assert_eq!(
        (first.blobs_written, first.blobs_skipped),
        (4, 0),
        "2 layers, config, manifest"
    );
    let read = layout.read_image("v1", &Platform::linux_amd64()).unwrap();
    assert_eq!(read.digest(), image.digest());
    assert_eq!(read.manifest_bytes(), image.manifest_bytes());
    for ((_, source), (descriptor, _)) in read.layers().zip(image.layers()) {
        let oci::BlobSource::Local(blob) = source else {
            panic!("a layout layer is a file")
        };
        let mut bytes = Vec::new();
        std::io::copy(&mut blob.open().unwrap(), &mut bytes).unwrap();
        assert_eq!(oci::Digest::sha256_of(&bytes), descriptor.digest);
    }

    let again = layout.write(&image, "v1").await.unwrap();
    assert_eq!(
        (
            again.bytes_written,
            again.blobs_written,
            again.blobs_skipped
        ),
        (0, 0, 4)
    );

    // Re-tagging v1 replaces its entry; another tag adds one.
    let other = generated_image(dir.path(), "linux/amd64", 1000, &[42]);
    layout.write(&other, "v1").await.unwrap();
    layout.write(&image, "v0").await.unwrap();
    let mut tags = layout.tags().unwrap();
    tags.sort();
    assert_eq!(tags, ["v0", "v1"]);
    assert_eq!(
        layout
            .read_image("v1", &Platform::linux_amd64())
            .unwrap()
            .digest(),
        other.digest()
    );
    let missing = layout
        .read_image("v9", &Platform::linux_amd64())
        .unwrap_err();
    assert!(
        matches!(missing, LayoutError::TagNotFound { .. }),
        "{missing}"
    );
    assert!(missing.to_string().contains("v0, v1") || missing.to_string().contains("v1, v0"));
    no_temp_files(&layout);

    // An independent reader agrees.
    let output = Command::new("skopeo")
        .args(["inspect", &format!("oci:{}:v0", layout.path().display())])
        .output()
        .expect("run skopeo; install it with: apt-get install -y skopeo");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let inspected: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(inspected["Digest"], image.digest().to_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupt_blobs_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let image = generated_image(dir.path(), "linux/amd64", 1000, &[43]);
    let layout = OciLayout::create(&dir.path().join("out")).unwrap();
    layout.write(&image, "latest").await.unwrap();
    std::fs::write(layout.blob_path(&image.config_descriptor().digest), b"{}").unwrap();
    let err = layout
        .read_image("latest", &Platform::linux_amd64())
        .unwrap_err();
    assert!(matches!(err, LayoutError::Corrupt { .. }), "{err}");
    assert!(matches!(
        OciLayout::open(dir.path()),
        Err(LayoutError::NotALayout { .. })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn index_in_a_layout_resolves_by_platform() {
    let dir = tempfile::tempdir().unwrap();
    let mut index = IndexBuilder::new();
    index
        .add(generated_image(dir.path(), "linux/amd64", 1000, &[44]))
        .unwrap()
        .add(generated_image(dir.path(), "linux/arm64", 1000, &[45]))
        .unwrap();
    let index = index.build().unwrap();
    let layout = OciLayout::create(&dir.path().join("out")).unwrap();
    layout.write(&index, "multi").await.unwrap();
    let arm = layout
        .read_image("multi", &"linux/arm64".parse().unwrap())
        .unwrap();
    assert_eq!(arm.digest(), index.images()[1].digest());
    let err = layout
        .read_image("multi", &"linux/ppc64le".parse().unwrap())
        .unwrap_err();
    assert!(
        err.to_string().contains("linux/amd64, linux/arm64"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn layout_base_pushed_and_registry_base_written_to_a_layout() {
    let registry = Registry::start();
    let dir = tempfile::tempdir().unwrap();
    let client = plain_client(&registry.host());

    // A base image from a layout (file layers) derives an image pushed to the registry.
    let base = generated_image(dir.path(), "linux/amd64", 500_000, &[50, 51]);
    let base_dir = dir.path().join("base");
    OciLayout::create(&base_dir)
        .unwrap()
        .write(&base, "1.0")
        .await
        .unwrap();
    let location = ImageLocation::parse(&format!("oci:{}:1.0", base_dir.display())).unwrap();
    let from_layout = oci::load(&location, &client, &Platform::linux_amd64())
        .await
        .unwrap();
    let mut builder = ImageBuilder::from_base(&from_layout);
    builder.append_layer(file_layer(dir.path(), 200_000, 52));
    let model = builder.build().unwrap();
    let target = ImageLocation::parse(&format!("{}/models/m:1", registry.host())).unwrap();
    let stored = oci::store(
        &model,
        &target,
        &tags(&["stable"]),
        &client,
        &PushOptions::default(),
    )
    .await
    .unwrap();
    let Stored::Registry(report) = &stored else {
        panic!("{stored:?}")
    };
    assert_eq!(report.blobs_uploaded, 4);
    assert_eq!(report.tags_updated, tags(&["1", "stable"]));

    // The pushed image (layers only in the registry) written into a layout downloads them.
    let ImageLocation::Registry(reference) = &target else {
        unreachable!()
    };
    let remote = client
        .pull(reference, &Platform::linux_amd64())
        .await
        .unwrap();
    let out = OciLayout::create(&dir.path().join("copy")).unwrap();
    // Its layers are read from the registry through the client that pulled it.
    drop(client);
    let report = out.write(&remote, "m").await.unwrap();
    assert_eq!(report.blobs_written, 5);
    let copied = out.read_image("m", &Platform::linux_amd64()).unwrap();
    assert_eq!(copied.digest(), model.digest());
    no_temp_files(&out);
}
