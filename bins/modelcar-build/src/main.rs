//! modelcar-build: packages a model directory as a KServe ModelCar, pushes it and/or writes it to
//! an OCI image layout, and reports IMAGE_URL, IMAGE_DIGEST and STORAGE_URI as Tekton results.

mod cli;
mod destination;

use std::process::ExitCode;

use anyhow::{Context, Result};
use common::UsageError;
use common::progress::Progress;
use modelcar::{BaseImage, BuildOptions, ImageMetadata, build_modelcar_from};
use oci::{Keychain, Platform};

use crate::cli::Cli;
use crate::destination::{Base, Destinations};

fn main() -> ExitCode {
    let cli: Cli = common::parse_args();
    cli.common.init_logging();
    common::finish(run(cli))
}

fn run(cli: Cli) -> Result<()> {
    // Everything the user can get wrong in the call is checked before any work.
    let destinations = Destinations::from_cli(&cli)?;
    let platform: Platform = cli
        .platform
        .parse()
        .map_err(|e: oci::InvalidPlatform| UsageError(e.to_string()))?;
    let base_location = Base::parse(&cli.base)?;
    modelcar::plan::PlanOptions::new(cli.subdir.as_deref(), 0)
        .map_err(|e| UsageError(e.to_string()))?;
    // The model is validated before anything is fetched or pushed.
    let files = modelcar::scan::scan_model_dir(&cli.model_dir)
        .with_context(|| format!("reading the model in {}", cli.model_dir.display()))?;
    let needs_registry =
        destinations.registry.is_some() || matches!(base_location, Base::Registry(_));
    let keychain = if needs_registry {
        Keychain::discover(cli.authfile.as_deref(), cli.docker_config.as_deref())
            .context("reading registry credentials (--authfile, --docker-config)")?
    } else {
        Keychain::anonymous()
    };
    let jobs = cli
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .max(1);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let client = destination::registry_client(&cli.common, keychain)?;

    let base: BaseImage = runtime.block_on(base_location.resolve(&cli.base, &platform, &client))?;
    let options = BuildOptions {
        model_dir: cli.model_dir.clone(),
        subdir: cli.subdir.clone(),
        compression: cli.compression.into(),
        source_date_epoch: cli.source_date_epoch,
        metadata: ImageMetadata {
            revision: cli.revision.clone(),
            source: cli.source.clone(),
            version: cli.version.clone(),
            title: cli.title.clone(),
        },
        allow_entrypoint: cli.allow_entrypoint,
        jobs,
    };
    let modelcar = build_modelcar_from(&base, &files, &options, |total| {
        Progress::new("hashing model layers", total)
    })
    .with_context(|| format!("building the ModelCar from {}", cli.model_dir.display()))?;
    tracing::info!(
        "image {}: {} model files ({} bytes) in {} layers over {} base layers",
        modelcar.image.digest(),
        modelcar.model_files,
        modelcar.model_bytes,
        modelcar.model_layers,
        base.layer_count()
    );

    let results = cli.common.results();
    let outcome = runtime.block_on(destinations.deliver(&modelcar.image, &client))?;
    results
        .write("IMAGE_DIGEST", &modelcar.image.digest().to_string())
        .context("writing results")?;
    results
        .write("IMAGE_URL", &outcome.image_url)
        .context("writing results")?;
    if let Some(storage_uri) = &outcome.storage_uri {
        results
            .write("STORAGE_URI", storage_uri)
            .context("writing results")?;
    }
    Ok(())
}
