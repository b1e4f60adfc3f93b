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

use base64::Engine as _;
use common::HttpOptions;
use oci::{
    BlobSource, Descriptor, Digest, FileBlob, HashingWriter, History, ImageBuilder, Keychain,
    Layer, OciLayout, Platform, PushOptions, Reference, RegistryClient, media_types,
};
use test_services::Registry;

const CHUNK: usize = 1 << 20;
const USER: &str = "bench";
const PASSWORD: &str = "bench-password";

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

fn curl(registry: &Registry) -> Command {
    let mut command = Command::new("curl");
    command.args(["-sS"]);
    if let Some(ca) = registry.ca_pem() {
        command.arg("--cacert").arg(ca);
        command.args(["-u", &format!("{USER}:{PASSWORD}")]);
    }
    command
}

fn curl_upload(registry: &Registry, path: &Path, digest: &Digest) -> f64 {
    let start = curl(registry)
        .args(["-o", "/dev/null", "-D", "-", "-X", "POST"])
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
    let status = curl(registry)
        .args(["-f", "-o", "/dev/null", "-T"])
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
    let dir = tempfile::tempdir().unwrap();
    let files: Vec<(std::path::PathBuf, Digest)> = (1..=3)
        .map(|seed| {
            let path = dir.path().join(format!("blob-{seed}"));
            let digest = generate(&path, mib, seed);
            (path, digest)
        })
        .collect();
    let rss_before = peak_rss_mib();
    compare(&Registry::start(), "plain HTTP", mib, &files, dir.path()).await;
    compare(
        &Registry::start_tls_with_auth(USER, PASSWORD),
        "HTTPS + basic auth",
        mib,
        &files,
        dir.path(),
    )
    .await;
    println!(
        "peak RSS of this process: {rss_before:.0} MiB before the pushes, {:.0} MiB after ({mib} MiB blobs)",
        peak_rss_mib()
    );
}

/// Each tool uploads its own file to a fresh registry, so none finds its blob already stored.
async fn compare(
    registry: &Registry,
    transport: &str,
    mib: usize,
    files: &[(std::path::PathBuf, Digest)],
    scratch: &Path,
) {
    let bytes = (mib * CHUNK) as u64;
    println!(
        "\npush of one {mib} MiB blob to a local registry ({}), {transport}, loopback",
        registry.host()
    );
    let dir = tempfile::tempdir_in(scratch).unwrap();
    let authfile = dir.path().join("auth.json");
    let mut options = HttpOptions::default();
    let mut keychain = Keychain::anonymous();
    let mut skopeo_tls = vec!["--dest-tls-verify=false".to_owned()];
    match registry.ca_pem() {
        Some(ca) => {
            options.ca_certs = vec![ca.to_owned()];
            // containers/image (skopeo) reads only the base64 `auth` form.
            let auth =
                base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"));
            let json = format!(
                r#"{{"auths":{{"{}":{{"auth":"{auth}"}}}}}}"#,
                registry.host()
            );
            std::fs::write(&authfile, json).unwrap();
            keychain = Keychain::from_files(std::slice::from_ref(&authfile)).unwrap();
            let certs = dir.path().join("certs");
            std::fs::create_dir(&certs).unwrap();
            std::fs::copy(ca, certs.join("ca.crt")).unwrap();
            skopeo_tls = vec![
                format!("--dest-cert-dir={}", certs.display()),
                format!("--dest-authfile={}", authfile.display()),
            ];
        }
        None => options.plain_http_hosts = vec![registry.host()],
    }
    let client = RegistryClient::new(options, keychain).unwrap();

    let image = image_of(&files[0].0, files[0].1.clone(), bytes);
    let target = Reference::parse(&format!("{}/bench/ours:1", registry.host())).unwrap();
    let timer = Instant::now();
    let report = client
        .push(&image, &target, &[], &PushOptions::default())
        .await
        .unwrap();
    let ours = timer.elapsed().as_secs_f64();
    assert_eq!(report.blobs_uploaded, 2);

    let timer = Instant::now();
    let again = client
        .push(&image, &target, &[], &PushOptions::default())
        .await
        .unwrap();
    let repush = timer.elapsed().as_secs_f64();
    assert_eq!(again.bytes_uploaded, 0);

    let curl = curl_upload(registry, &files[1].0, &files[1].1);

    // skopeo reads an OCI layout; writing the layout is not timed.
    let layout_dir = dir.path().join("layout");
    let skopeo_image = image_of(&files[2].0, files[2].1.clone(), bytes);
    OciLayout::create(&layout_dir)
        .unwrap()
        .write(&skopeo_image, "1")
        .await
        .unwrap();
    let timer = Instant::now();
    let status = Command::new("skopeo")
        .args(["copy", "-q"])
        .args(&skopeo_tls)
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
}
