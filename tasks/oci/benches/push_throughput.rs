//! Push throughput of one large blob to a local registry, side by side with what a user would
//! otherwise run: `curl -T` of the same amount of data into an upload session, and
//! `skopeo copy` of an OCI layout holding such a blob. Also the peak memory of this process.
//!
//! `cargo bench -p oci --bench push_throughput` (size: `BENCH_MIB`, default 1024). Each tool
//! uploads its own file of the same size, so none finds its blob already stored.

use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

use common::HttpOptions;
use oci::{
    BlobSource, Descriptor, Digest, FileBlob, HashingWriter, History, ImageBuilder, Keychain,
    Layer, OciLayout, Platform, PushOptions, Reference, RegistryClient, media_types,
};
use test_services::Registry;

const CHUNK: usize = 1 << 20;

/// Writes `mib` MiB of incompressible bytes; returns their digest.
fn generate(path: &Path, mib: usize, seed: u64) -> Digest {
    let file = std::fs::File::create(path).unwrap();
    let mut writer = HashingWriter::new(std::io::BufWriter::new(file));
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut chunk = vec![0u8; CHUNK];
    for _ in 0..mib {
        for word in chunk.chunks_exact_mut(8) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            word.copy_from_slice(&state.to_le_bytes());
        }
        writer.write_all(&chunk).unwrap();
    }
    let (digest, _, buffered) = writer.finish();
    buffered.into_inner().unwrap().sync_all().unwrap();
    digest
}

fn image_of(path: &Path, digest: Digest, size: u64) -> oci::Image {
    let mut builder = ImageBuilder::scratch(&Platform::linux_amd64());
    builder.append_layer(Layer {
        descriptor: Descriptor::new(media_types::OCI_LAYER_TAR, digest.clone(), size),
        diff_id: digest,
        source: BlobSource::Local(Arc::new(FileBlob(path.to_owned()))),
        history: History::default(),
    });
    builder.build().unwrap()
}

fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn line(tool: &str, bytes: u64, seconds: f64) {
    println!(
        "{tool:<28} {:>8.2} s {:>9.1} MiB/s",
        seconds,
        bytes as f64 / (1 << 20) as f64 / seconds
    );
}

fn curl_upload(registry: &Registry, path: &Path, digest: &Digest) -> f64 {
    let start = Command::new("curl")
        .args(["-sS", "-o", "/dev/null", "-D", "-", "-X", "POST"])
        .arg(format!("{}/v2/bench/curl/blobs/uploads/", registry.url()))
        .output()
        .expect("run curl; install it with: apt-get install -y curl");
    let headers = String::from_utf8_lossy(&start.stdout);
    let location = headers
        .lines()
        .find_map(|l| {
            l.split_once(':')
                .filter(|(k, _)| k.eq_ignore_ascii_case("location"))
                .map(|(_, v)| v.trim().to_owned())
        })
        .expect("the registry answered the upload POST with a Location");
    let location = if location.starts_with('/') {
        format!("{}{location}", registry.url())
    } else {
        location
    };
    let separator = if location.contains('?') { '&' } else { '?' };
    let timer = Instant::now();
    let status = Command::new("curl")
        .args(["-sS", "-f", "-o", "/dev/null", "-T"])
        .arg(path)
        .arg(format!("{location}{separator}digest={digest}"))
        .status()
        .unwrap();
    assert!(status.success(), "curl -T failed");
    timer.elapsed().as_secs_f64()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let mib: usize = std::env::var("BENCH_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1024);
    let bytes = (mib * CHUNK) as u64;
    let registry = Registry::start();
    let dir = tempfile::tempdir().unwrap();
    println!(
        "push of one {mib} MiB blob to a local registry ({}), plain HTTP, loopback",
        registry.host()
    );

    let ours_file = dir.path().join("ours");
    let ours_digest = generate(&ours_file, mib, 1);
    let curl_file = dir.path().join("curl");
    let curl_digest = generate(&curl_file, mib, 2);
    let skopeo_file = dir.path().join("skopeo");
    let skopeo_digest = generate(&skopeo_file, mib, 3);
    let rss_before = peak_rss_mib();

    let client = RegistryClient::new(
        HttpOptions {
            plain_http_hosts: vec![registry.host()],
            ..HttpOptions::default()
        },
        Keychain::anonymous(),
    )
    .unwrap();
    let image = image_of(&ours_file, ours_digest, bytes);
    let target = Reference::parse(&format!("{}/bench/ours:1", registry.host())).unwrap();
    let timer = Instant::now();
    let report = client
        .push(&image, &target, &[], &PushOptions::default())
        .await
        .unwrap();
    let ours = timer.elapsed().as_secs_f64();
    assert_eq!(report.blobs_uploaded, 2);
    let rss_after = peak_rss_mib();

    let timer = Instant::now();
    let again = client
        .push(&image, &target, &[], &PushOptions::default())
        .await
        .unwrap();
    let repush = timer.elapsed().as_secs_f64();
    assert_eq!(again.bytes_uploaded, 0);

    let curl = curl_upload(&registry, &curl_file, &curl_digest);

    // skopeo reads an OCI layout; the layout write is not timed.
    let layout_dir = dir.path().join("layout");
    let skopeo_image = image_of(&skopeo_file, skopeo_digest, bytes);
    OciLayout::create(&layout_dir)
        .unwrap()
        .write(&skopeo_image, "1", None)
        .await
        .unwrap();
    let timer = Instant::now();
    let status = Command::new("skopeo")
        .args(["copy", "-q", "--dest-tls-verify=false"])
        .arg(format!("oci:{}:1", layout_dir.display()))
        .arg(format!("docker://{}/bench/skopeo:1", registry.host()))
        .status()
        .expect("run skopeo; install it with: apt-get install -y skopeo");
    assert!(status.success(), "skopeo copy failed");
    let skopeo = timer.elapsed().as_secs_f64();

    line("oci push (jobs 4)", bytes, ours);
    line("curl -T (one PUT)", bytes, curl);
    line("skopeo copy oci: -> docker://", bytes, skopeo);
    println!("{:<28} {repush:>8.2} s (nothing uploaded)", "oci re-push");
    println!(
        "peak RSS of this process: {rss_before:.0} MiB before the push, {rss_after:.0} MiB after (a {mib} MiB blob)"
    );
}
