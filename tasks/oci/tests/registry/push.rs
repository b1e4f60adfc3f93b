//! Pushing to and pulling from the plain-HTTP registry.

use oci::{
    ImageBuilder, IndexBuilder, Platform, PushOptions, Reference, RegistryError, mutate::Layer,
};
use test_services::Registry;

use crate::support::*;

const MIB: usize = 1 << 20;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_then_repush_uploads_nothing_and_skopeo_agrees() {
    let registry = Registry::start();
    let dir = tempfile::tempdir().unwrap();
    let image = generated_image(dir.path(), "linux/amd64", 2 * MIB, &[1, 2, 3]);
    let client = plain_client(&registry.host());
    let target = Reference::parse(&format!("{}/models/granite:v1", registry.host())).unwrap();

    let first = client
        .push(&image, &target, &[], &PushOptions::default())
        .await
        .unwrap();
    assert_eq!(&first.digest, image.digest());
    assert_eq!(first.blobs_uploaded, 4, "three layers and the config");
    assert_eq!(
        first.bytes_uploaded,
        3 * 2 * MIB as u64 + image.config_bytes().len() as u64
    );
    assert_eq!(first.tags_updated, tags(&["v1"]));

    let inspected = skopeo_inspect(&target.to_string());
    assert_eq!(inspected["Digest"], image.digest().to_string());
    assert_eq!(inspected["Layers"].as_array().unwrap().len(), 3);

    let again = client
        .push(
            &image,
            &target,
            &tags(&["v1", "latest"]),
            &PushOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(again.bytes_uploaded, 0);
    assert_eq!((again.blobs_uploaded, again.blobs_skipped), (0, 4));
    assert_eq!(again.tags_unchanged, tags(&["v1"]));
    assert_eq!(again.tags_updated, tags(&["latest"]));

    // What was pushed reads back identically.
    let pulled = client
        .pull(&target, &Platform::linux_amd64())
        .await
        .unwrap();
    assert_eq!(pulled.digest(), image.digest());
    assert_eq!(pulled.manifest_bytes(), image.manifest_bytes());
    assert_eq!(pulled.config_bytes(), image.config_bytes());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn base_layers_are_mounted_into_another_repository() {
    let registry = Registry::start();
    let dir = tempfile::tempdir().unwrap();
    let client = plain_client(&registry.host());
    let base_ref = Reference::parse(&format!("{}/base/shell:1", registry.host())).unwrap();
    let base = generated_image(dir.path(), "linux/amd64", MIB, &[10, 11]);
    client
        .push(&base, &base_ref, &[], &PushOptions::default())
        .await
        .unwrap();

    let pulled = client
        .pull(&base_ref, &Platform::linux_amd64())
        .await
        .unwrap();
    assert!(
        pulled
            .layers()
            .all(|(_, source)| matches!(source, oci::BlobSource::Remote(_)))
    );
    let mut builder = ImageBuilder::from_base(&pulled);
    let model_layer: Layer = file_layer(dir.path(), 3 * MIB, 12);
    builder
        .append_layer(model_layer)
        .annotation("org.opencontainers.image.revision", "0123abc");
    let model = builder.build().unwrap();
    let target = Reference::parse(&format!("{}/models/jukebox:0123abc", registry.host())).unwrap();
    let progress = common::progress::Meter::default();
    let options = PushOptions {
        jobs: 2,
        progress: Some(progress.clone()),
    };
    let report = client.push(&model, &target, &[], &options).await.unwrap();
    assert_eq!(
        progress.done(),
        model.total_size(),
        "mounted layers count as done"
    );
    assert_eq!(report.blobs_mounted, 2, "{report:?}");
    assert_eq!(
        report.blobs_uploaded, 2,
        "the model layer and the config: {report:?}"
    );
    assert_eq!(
        report.bytes_uploaded,
        3 * MIB as u64 + model.config_bytes().len() as u64
    );
    let inspected = skopeo_inspect(&target.to_string());
    assert_eq!(inspected["Digest"], model.digest().to_string());
    assert_eq!(
        inspected["Labels"]["org.opencontainers.image.revision"],
        "0123abc"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_platform_index_resolves_to_the_requested_platform() {
    let registry = Registry::start();
    let dir = tempfile::tempdir().unwrap();
    let client = plain_client(&registry.host());
    let amd64 = generated_image(dir.path(), "linux/amd64", 100_000, &[20, 21]);
    let arm64 = generated_image(dir.path(), "linux/arm64/v8", 100_000, &[20, 22]);
    let mut index = IndexBuilder::new();
    index
        .add(amd64.clone())
        .unwrap()
        .add(arm64.clone())
        .unwrap();
    let index = index.build().unwrap();
    let target = Reference::parse(&format!("{}/base/multi:2", registry.host())).unwrap();
    let report = client
        .push(&index, &target, &[], &PushOptions::default())
        .await
        .unwrap();
    assert_eq!(&report.digest, index.digest());
    assert_eq!(
        report.blobs_uploaded, 5,
        "three distinct layers, two configs"
    );

    let arm = client
        .pull(&target, &"linux/arm64".parse().unwrap())
        .await
        .unwrap();
    assert_eq!(arm.digest(), arm64.digest());
    let amd = client
        .pull(&target, &Platform::linux_amd64())
        .await
        .unwrap();
    assert_eq!(amd.digest(), amd64.digest());
    let err = client
        .pull(&target, &"linux/s390x".parse().unwrap())
        .await
        .unwrap_err();
    assert!(matches!(err, RegistryError::PlatformNotFound { .. }));
    let message = err.to_string();
    assert!(
        message.contains("linux/amd64") && message.contains("linux/arm64/v8"),
        "{message}"
    );
    // Pinned by digest works too, and a wrong pin is refused.
    let pinned = target.with_digest(amd64.digest().clone());
    assert_eq!(
        client
            .pull(&pinned, &Platform::linux_amd64())
            .await
            .unwrap()
            .digest(),
        amd64.digest()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_registry_says_what_to_check() {
    let port = test_services::free_port();
    let host = format!("127.0.0.1:{port}");
    let dir = tempfile::tempdir().unwrap();
    let image = generated_image(dir.path(), "linux/amd64", 1000, &[30]);
    let client = plain_client(&host).with_retry(common::RetryPolicy::fast(2));
    let target = Reference::parse(&format!("{host}/a/b:c")).unwrap();
    let err = client
        .push(&image, &target, &[], &PushOptions::default())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("is the registry up") && err.contains(&host),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn layers_in_another_registry_are_streamed_across_and_counted() {
    let source = Registry::start();
    let destination = Registry::start();
    let dir = tempfile::tempdir().unwrap();
    let client = oci::RegistryClient::new(
        common::HttpOptions {
            plain_http_hosts: vec![source.host(), destination.host()],
            ..common::HttpOptions::default()
        },
        oci::Keychain::anonymous(),
    )
    .unwrap();
    let base_ref = Reference::parse(&format!("{}/base/shell:1", source.host())).unwrap();
    let base = generated_image(dir.path(), "linux/amd64", MIB, &[80, 81]);
    client
        .push(&base, &base_ref, &[], &PushOptions::default())
        .await
        .unwrap();

    let pulled = client
        .pull(&base_ref, &Platform::linux_amd64())
        .await
        .unwrap();
    let mut builder = ImageBuilder::from_base(&pulled);
    builder.append_layer(file_layer(dir.path(), MIB, 82));
    let model = builder.build().unwrap();
    let target = Reference::parse(&format!("{}/models/copied:1", destination.host())).unwrap();
    let progress = common::progress::Meter::default();
    let options = PushOptions {
        progress: Some(progress.clone()),
        ..PushOptions::default()
    };
    let report = client.push(&model, &target, &[], &options).await.unwrap();
    assert_eq!((report.blobs_uploaded, report.blobs_mounted), (4, 0));
    assert_eq!(
        report.bytes_uploaded,
        3 * MIB as u64 + model.config_bytes().len() as u64
    );
    assert_eq!(progress.done(), model.total_size());
    let inspected = skopeo_inspect(&target.to_string());
    assert_eq!(inspected["Digest"], model.digest().to_string());
}

/// The digest is computed once, when the image is planned; the registry checks it against what it
/// receives. A blob that changed in between is refused, and the error names it, whether the
/// length changed (seen while reading) or only the bytes (seen by the registry).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blob_changed_after_planning_is_refused_by_length_or_by_the_registry() {
    let registry = Registry::start();
    let client = plain_client(&registry.host());
    for (seed, change) in [(7u64, "same length"), (8, "shorter")] {
        let dir = tempfile::tempdir().unwrap();
        let image = generated_image(dir.path(), "linux/amd64", MIB, &[seed]);
        let path = dir.path().join(format!("layer-{seed}"));
        let changed = match change {
            "same length" => pseudo_random(MIB, seed + 100),
            _ => pseudo_random(MIB / 2, seed),
        };
        std::fs::write(&path, changed).unwrap();
        let target =
            Reference::parse(&format!("{}/models/changed:{seed}", registry.host())).unwrap();
        let err = client
            .push(&image, &target, &[], &PushOptions::default())
            .await
            .expect_err(change);
        let layer = &image.layers().next().unwrap().0.digest;
        let message = err.to_string();
        assert!(
            matches!(&err, RegistryError::LocalBlobChanged { digest, .. } if digest == layer),
            "{change}: {message}"
        );
        let expected = match change {
            "same length" => "the registry computed another digest",
            _ => "512.0 KiB read instead of 1.0 MiB",
        };
        assert!(message.contains(expected), "{change}: {message}");
        // Nothing was tagged.
        assert!(
            client
                .pull(&target, &Platform::linux_amd64())
                .await
                .is_err()
        );
    }
}
