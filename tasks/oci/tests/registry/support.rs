//! Generated images and clients for the tests.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use common::HttpOptions;
use oci::{
    BlobSource, Descriptor, Digest, FileBlob, History, Image, ImageBuilder, Keychain, Layer,
    Platform, RegistryClient, media_types,
};

/// Deterministic pseudo-random bytes (xorshift): incompressible, different per seed.
pub fn pseudo_random(size: usize, seed: u64) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut bytes = Vec::with_capacity(size + 8);
    while bytes.len() < size {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        bytes.extend_from_slice(&state.to_le_bytes());
    }
    bytes.truncate(size);
    bytes
}

/// A layer whose bytes are a file in `dir` (a stand-in for a tar layer: registries do not look).
pub fn file_layer(dir: &Path, size: usize, seed: u64) -> Layer {
    let bytes = pseudo_random(size, seed);
    let digest = Digest::sha256_of(&bytes);
    let path = dir.join(format!("layer-{seed}"));
    std::fs::write(&path, &bytes).unwrap();
    Layer {
        descriptor: Descriptor::new(media_types::OCI_LAYER_TAR, digest.clone(), size as u64),
        diff_id: digest,
        source: BlobSource::Local(Arc::new(FileBlob(path))),
        history: History {
            created_by: Some(format!("test layer {seed}")),
            ..History::default()
        },
    }
}

/// An image of one layer per seed, `size` bytes each.
pub fn generated_image(dir: &Path, platform: &str, size: usize, seeds: &[u64]) -> Image {
    let platform: Platform = platform.parse().unwrap();
    let mut builder = ImageBuilder::scratch(&platform);
    builder.created("2024-05-01T12:00:00Z");
    for seed in seeds {
        builder.append_layer(file_layer(dir, size, *seed));
    }
    builder.build().unwrap()
}

/// A client for a plain-HTTP registry on `host`, anonymous.
pub fn plain_client(host: &str) -> RegistryClient {
    let options = HttpOptions {
        plain_http_hosts: vec![host.to_owned()],
        ..HttpOptions::default()
    };
    RegistryClient::new(options, Keychain::anonymous()).unwrap()
}

pub fn tags(tags: &[&str]) -> Vec<String> {
    tags.iter().map(|t| t.to_string()).collect()
}

/// `skopeo inspect` of an image, as an independent client sees it.
pub fn skopeo_inspect(reference: &str) -> serde_json::Value {
    let output = Command::new("skopeo")
        .args([
            "inspect",
            "--tls-verify=false",
            &format!("docker://{reference}"),
        ])
        .output()
        .expect("run skopeo; install it with: apt-get install -y skopeo");
    assert!(
        output.status.success(),
        "skopeo inspect {reference}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}
