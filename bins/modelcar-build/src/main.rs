//! modelcar-build: packages a model directory as a KServe ModelCar, pushes it and/or writes it to
//! an OCI image layout, and reports IMAGE_URL, IMAGE_DIGEST and STORAGE_URI as Tekton results.

mod cli;
mod destination;

use std::process::ExitCode;

use anyhow::{Context, Result};
use common::progress::{Display, Meter};
use common::{UsageError, fault_with};
use modelcar::marker::MarkerError;
use modelcar::{
    BaseImage, BuildOptions, ImageMetadata, ModelCarError, build_modelcars_from, modelcar_index,
};
use oci::{Artifact, Keychain, Platform};

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
    let platforms = parse_platforms(&cli.platform)?;
    let base_location = Base::parse(&cli.base)?;
    modelcar::plan::PlanOptions::new(cli.subdir.as_deref(), 0)
        .map_err(|e| fault_with(e, modelcar_flags))?;
    if let (Some(marker), Some(revision)) = (&cli.marker, &cli.source_commit) {
        if marker.is_absolute() || marker.components().any(|c| c.as_os_str() == "..") {
            return Err(UsageError(format!(
                "--marker {}: give a path inside --model-dir, relative to it",
                marker.display()
            ))
            .into());
        }
        modelcar::marker::wait_for_marker(
            &cli.model_dir,
            marker,
            revision,
            std::time::Duration::from_secs(cli.marker_timeout),
            std::time::Duration::from_secs(2),
        )
        .map_err(|e| {
            fault_with(e, marker_flags)
                .context(format!("checking the model in {}", cli.model_dir.display()))
        })?;
    }
    // The model is validated before anything is fetched or pushed.
    let files = modelcar::scan::scan_model_dir(&cli.model_dir).map_err(|e| {
        fault_with(e, modelcar_flags)
            .context(format!("reading the model in {}", cli.model_dir.display()))
    })?;
    let needs_registry =
        destinations.registry.is_some() || matches!(base_location, Base::Registry(_));
    let keychain = if needs_registry {
        Keychain::discover(cli.authfile.as_deref(), cli.docker_config.as_deref()).map_err(|e| {
            fault_with(e, |_| Some(destination::CREDENTIAL_FLAGS))
                .context("reading registry credentials")
        })?
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

    // Every platform's base is resolved before the model is hashed or anything is pushed: a
    // base lacking a platform fails here, naming the platforms it has.
    let mut bases: Vec<BaseImage> = Vec::with_capacity(platforms.len());
    for platform in &platforms {
        let base = runtime.block_on(base_location.resolve(
            &cli.base,
            platform,
            platforms.len() > 1,
            &client,
        ))?;
        bases.push(base);
    }
    let options = BuildOptions {
        model_dir: cli.model_dir.clone(),
        subdir: cli.subdir.clone(),
        compression: cli.compression.into(),
        source_date_epoch: cli.source_date_epoch,
        metadata: ImageMetadata {
            revision: cli.source_commit.clone(),
            source: cli.source_repo.clone(),
            version: cli.model_version.clone(),
            title: cli.title.clone(),
        },
        allow_entrypoint: cli.allow_entrypoint,
        jobs,
    };
    let meter = Meter::default();
    let display = Display::show("hashing model layers", &meter);
    let modelcars = build_modelcars_from(&bases, &files, &options, &meter).map_err(|e| {
        fault_with(e, modelcar_flags).context(format!(
            "building the ModelCar from {}",
            cli.model_dir.display()
        ))
    })?;
    display.finish();
    for (modelcar, base) in modelcars.iter().zip(&bases) {
        tracing::info!(
            "image {} ({}): {} model files ({} bytes) in {} layers over {} base layers",
            modelcar.image.digest(),
            modelcar.image.platform(),
            modelcar.model_files,
            modelcar.model_bytes,
            modelcar.model_layers,
            base.layer_count()
        );
    }
    // One platform is a plain image; several are an index over them.
    let index = match modelcars.as_slice() {
        [_] => None,
        many => Some(
            modelcar_index(many)
                .map_err(|e| fault_with(e, modelcar_flags))
                .context("assembling the multi-platform index")?,
        ),
    };
    let artifact = match &index {
        Some(index) => {
            tracing::info!(
                "index {} over {} platforms",
                index.digest(),
                index.images().len()
            );
            Artifact::Index(index)
        }
        None => Artifact::Image(&modelcars[0].image),
    };

    let results = cli.common.results();
    let outcome = runtime.block_on(destinations.deliver(artifact, &client))?;
    results
        .write("IMAGE_DIGEST", &artifact.digest().to_string())
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

/// `--platform` values, each once, in the order given.
fn parse_platforms(args: &[String]) -> Result<Vec<Platform>> {
    let mut platforms: Vec<Platform> = Vec::new();
    for arg in args.iter().map(|a| a.trim()).filter(|a| !a.is_empty()) {
        let platform: Platform = arg
            .parse()
            .map_err(|e: oci::InvalidPlatform| fault_with(e, |_| Some("--platform")))?;
        if !platforms.contains(&platform) {
            platforms.push(platform);
        }
    }
    if platforms.is_empty() {
        platforms.push(Platform::linux_amd64());
    }
    Ok(platforms)
}

/// This tool's flags for what a ModelCar error blames.
fn modelcar_flags(error: &ModelCarError) -> Option<&'static str> {
    Some(match error {
        ModelCarError::ModelDirMissing { .. }
        | ModelCarError::ModelDirNotDirectory { .. }
        | ModelCarError::ModelDirEmpty { .. } => "--model-dir",
        ModelCarError::InvalidSubdir { .. } => "--subdir",
        ModelCarError::BaseHasEntrypoint { .. } => "--allow-entrypoint, or another --base",
        ModelCarError::TooManyLayers { .. } | ModelCarError::BaseLayers { .. } => "--base",
        _ => return None,
    })
}

/// This tool's flags for what a version-marker error blames.
fn marker_flags(error: &MarkerError) -> Option<&'static str> {
    Some(match error {
        MarkerError::Missing { .. } | MarkerError::WrittenAfter { .. } => {
            "--marker, --marker-timeout"
        }
        MarkerError::Stale { .. } => "--source-commit",
        MarkerError::Empty { .. } | MarkerError::Unreadable { .. } => "--marker",
    })
}
