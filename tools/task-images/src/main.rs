//! task-images: the Tekton task images as OCI image layouts, written from built binaries without a
//! container engine (what the Containerfile builds, for machines that have none).
//!
//! ```sh
//! task-images --out target/task-images --revision "$(git rev-parse HEAD)" \
//!   target/release/modelcar-build target/release/gitops-bump ...
//! skopeo copy oci:target/task-images/gitops-bump:0.1.0 docker://quay.io/modelcar-gitops/gitops-bump:0.1.0
//! ```
//!
//! Each image is one layer (see [`rootfs`]) on a base (`scratch`, or an OCI layout), runs as
//! `65532:0` with the tool as its entrypoint, and carries the OCI annotations revision, source,
//! version and title. The same binaries and options give the same digests.

mod rootfs;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::Parser;
use oci::{Descriptor, History, ImageBuilder, ImageLocation, Layer, OciLayout, Platform};

use crate::rootfs::{CA_BUNDLE_PATH, Compression};

/// Write one OCI image layout per tool binary: OUT/<tool>, tagged TAG.
#[derive(Debug, Parser)]
#[command(version, about, max_term_width = 100)]
struct Cli {
    /// The tool binaries (static, for the image's platform); each image is named after its file.
    #[arg(required = true, value_name = "BINARY")]
    binaries: Vec<PathBuf>,

    /// Folder of the layouts: OUT/<tool> each.
    #[arg(long, env = "OUT_DIR", value_name = "OUT")]
    out: PathBuf,

    /// Tag of each image in its layout (default: the version).
    #[arg(long, env = "TAG")]
    tag: Option<String>,

    /// Base image: `scratch`, or an OCI layout `oci:DIR[:TAG]`.
    #[arg(long, env = "BASE_IMAGE", default_value = "scratch")]
    base: String,

    /// Platform of the binaries (os/arch[/variant]); default: this machine's.
    #[arg(long, env = "PLATFORM")]
    platform: Option<Platform>,

    /// Compression of the layer.
    #[arg(long, env = "COMPRESSION", value_enum, default_value_t = Compression::Gzip)]
    compression: Compression,

    /// CA certificates copied to /etc/ssl/certs/ca-certificates.crt in the image.
    #[arg(
        long,
        env = "CA_BUNDLE",
        default_value = "/etc/ssl/certs/ca-certificates.crt"
    )]
    ca_bundle: PathBuf,

    /// Source commit (annotation org.opencontainers.image.revision).
    #[arg(long, env = "REVISION", default_value = "")]
    revision: String,

    /// Source repository (annotation org.opencontainers.image.source).
    #[arg(long, env = "SOURCE_URL", default_value = env!("CARGO_PKG_REPOSITORY"))]
    source: String,

    /// Version of the tools (annotation org.opencontainers.image.version).
    #[arg(long = "image-version", env = "IMAGE_VERSION", default_value = env!("CARGO_PKG_VERSION"))]
    image_version: String,

    /// File mtimes and the image's created time, as seconds since the epoch.
    #[arg(long, env = "SOURCE_DATE_EPOCH", default_value_t = 0)]
    source_date_epoch: u64,
}

fn host_platform() -> Platform {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "powerpc64" => "ppc64le",
        other => other,
    };
    Platform::new("linux", arch, None)
}

fn tool_name(binary: &Path) -> Result<String> {
    let name = binary
        .file_name()
        .and_then(|n| n.to_str())
        .filter(|n| !n.is_empty() && !n.starts_with('.'))
        .with_context(|| format!("{} has no usable file name for an image", binary.display()))?;
    Ok(name.to_owned())
}

/// Writes the image of one tool to OUT/<tool> (built beside it, then moved into place, so that a
/// failed run leaves the previous layout as it was). Returns the manifest digest.
async fn write_image(cli: &Cli, binary: &Path, base: Option<&oci::Image>) -> Result<String> {
    let tool = tool_name(binary)?;
    let metadata = std::fs::metadata(binary)
        .with_context(|| format!("reading the binary {}; build it first", binary.display()))?;
    if !metadata.is_file() {
        bail!("{} is not a file", binary.display());
    }
    let platform = cli.platform.clone().unwrap_or_else(host_platform);
    let final_dir = cli.out.join(&tool);
    let partial = cli.out.join(format!(".{tool}.partial"));
    if partial.exists() {
        std::fs::remove_dir_all(&partial)
            .with_context(|| format!("removing a leftover {}", partial.display()))?;
    }
    let layout = OciLayout::create(&partial)
        .with_context(|| format!("creating the OCI layout {}", partial.display()))?;
    let blobs = partial.join("blobs/sha256");
    let layer = rootfs::write_layer(
        &blobs,
        &tool,
        binary,
        &cli.ca_bundle,
        cli.source_date_epoch,
        cli.compression,
    )
    .with_context(|| format!("writing the layer of {tool}"))?;

    let created = oci::rfc3339_utc(cli.source_date_epoch as i64);
    let mut builder = match base {
        Some(base) => ImageBuilder::from_base(base),
        None => ImageBuilder::scratch(&platform),
    };
    let entrypoint = format!("/usr/local/bin/{tool}");
    builder
        .created(&created)
        .append_layer(Layer {
            descriptor: Descriptor::new(
                cli.compression.media_type(),
                layer.digest.clone(),
                layer.size,
            ),
            diff_id: layer.diff_id,
            source: oci::BlobSource::Local(std::sync::Arc::new(oci::FileBlob(
                blobs.join(layer.digest.hex()),
            ))),
            history: History {
                created_by: Some(format!(
                    "task-images: {entrypoint}, CA certificates, /tmp, user 65532:0"
                )),
                ..History::default()
            },
        })
        .user(Some("65532:0"))
        .entrypoint(Some(vec![entrypoint]))
        .cmd(None)
        .working_dir(Some("/tmp"))
        .env("HOME", "/tmp")
        .env("TMPDIR", "/tmp")
        .env("SSL_CERT_FILE", &format!("/{CA_BUNDLE_PATH}"))
        .annotation(
            "org.opencontainers.image.licenses",
            env!("CARGO_PKG_LICENSE"),
        );
    for (key, value) in [
        ("title", tool.as_str()),
        ("version", cli.image_version.as_str()),
        ("revision", cli.revision.as_str()),
        ("source", cli.source.as_str()),
    ] {
        // An unknown revision is left out rather than recorded empty.
        if !value.is_empty() {
            builder.annotation(&format!("org.opencontainers.image.{key}"), value);
        }
    }
    let image = builder.build().context("assembling the image")?;
    let tag = cli.tag.clone().unwrap_or_else(|| cli.image_version.clone());
    layout
        .write(&image, &tag)
        .await
        .with_context(|| format!("writing the OCI layout {}", partial.display()))?;
    if final_dir.exists() {
        std::fs::remove_dir_all(&final_dir)
            .with_context(|| format!("replacing {}", final_dir.display()))?;
    }
    std::fs::rename(&partial, &final_dir)
        .with_context(|| format!("moving {} to {}", partial.display(), final_dir.display()))?;
    Ok(image.digest().to_string())
}

async fn run(cli: Cli) -> Result<()> {
    std::fs::create_dir_all(&cli.out).with_context(|| format!("creating {}", cli.out.display()))?;
    let platform = cli.platform.clone().unwrap_or_else(host_platform);
    let base = match cli.base.as_str() {
        "scratch" => None,
        other => match ImageLocation::parse(other) {
            Ok(ImageLocation::Layout { path, tag }) => Some(
                OciLayout::open(&path)
                    .and_then(|layout| layout.read_image(&tag, &platform))
                    .with_context(|| format!("reading the base image {other}"))?,
            ),
            _ => bail!("--base {other}: give scratch or an OCI layout as oci:DIR[:TAG]"),
        },
    };
    for binary in &cli.binaries {
        let digest = write_image(&cli, binary, base.as_ref()).await?;
        println!("{} {digest}", cli.out.join(tool_name(binary)?).display());
    }
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: starting the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
