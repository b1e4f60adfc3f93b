//! Assembles the ModelCar: base layers, then model layers; annotations mirrored as config labels;
//! everything derived from content and flags only (never the clock, the host or the directory's
//! path), so the same model gives the same digest anywhere.

use std::sync::Arc;

use common::progress::Meter;
use oci::{BlobSource, Descriptor, History, Image, ImageBuilder, Index, IndexBuilder, Layer};

use crate::base::BaseImage;
use crate::error::ModelCarError;
use crate::hash::measure_layers;
use crate::plan::{LARGE_LAYER_WARNING, PlanOptions, plan_layers};
use crate::scan::{ModelFiles, scan_model_dir};
use crate::stream::{Compression, TarLayer};

/// Facts about the model recorded as annotations (and config labels).
#[derive(Debug, Clone, Default)]
pub struct ImageMetadata {
    /// The source commit (`org.opencontainers.image.revision`).
    pub revision: Option<String>,
    pub source: Option<String>,
    pub version: Option<String>,
    pub title: Option<String>,
}

#[derive(Debug, Clone)]
pub struct BuildOptions {
    pub model_dir: std::path::PathBuf,
    /// Files land under `/models/<subdir>` instead of `/models`.
    pub subdir: Option<String>,
    pub compression: Compression,
    /// Seconds since the epoch for file mtimes and the `created` time (`SOURCE_DATE_EPOCH`).
    pub source_date_epoch: u64,
    pub metadata: ImageMetadata,
    pub allow_entrypoint: bool,
    /// Hashing threads.
    pub jobs: usize,
}

/// A built image, ready for a sink (registry or OCI layout), and what it holds.
#[derive(Debug, Clone)]
pub struct ModelCar {
    pub image: Image,
    /// How many layers are the model's (the last ones).
    pub model_layers: usize,
    pub model_bytes: u64,
    pub model_files: usize,
}

/// Checks the base, validates and plans the model, hashes its layers and assembles the image.
/// Nothing is written anywhere: a sink does that with the result. `progress` learns the number of
/// bytes the hashing pass will read and counts them as they are read.
pub fn build_modelcar(
    base: &BaseImage,
    options: &BuildOptions,
    progress: &Meter,
) -> Result<ModelCar, ModelCarError> {
    let files = scan_model_dir(&options.model_dir)?;
    build_modelcar_from(base, &files, options, progress)
}

/// [`build_modelcar`] for a model directory already scanned (and so validated) with
/// [`scan_model_dir`], e.g. before a base image is fetched.
pub fn build_modelcar_from(
    base: &BaseImage,
    files: &ModelFiles,
    options: &BuildOptions,
    progress: &Meter,
) -> Result<ModelCar, ModelCarError> {
    let mut built = build_modelcars_from(std::slice::from_ref(base), files, options, progress)?;
    Ok(built.remove(0))
}

/// One ModelCar per base (one base per platform), all sharing the same model layers: the model
/// is planned and hashed once, since its layers do not depend on the base. Every base is checked
/// before the model is read. The result is in the order of `bases`.
pub fn build_modelcars_from(
    bases: &[BaseImage],
    files: &ModelFiles,
    options: &BuildOptions,
    progress: &Meter,
) -> Result<Vec<ModelCar>, ModelCarError> {
    for base in bases {
        base.check_entrypoint(options.allow_entrypoint)?;
        base.warn_without_shell()?;
    }
    // The layer budget is the tightest base's, so every platform's image stays within it.
    let base_layers = bases.iter().map(BaseImage::layer_count).max().unwrap_or(0);
    let model = hash_model_layers(files, options, base_layers, progress)?;
    bases
        .iter()
        .map(|base| assemble_modelcar(base, &model, options))
        .collect()
}

/// The model's layers, planned and hashed, ready to be laid on any base.
#[derive(Debug, Clone)]
pub struct ModelLayers {
    layers: Vec<Layer>,
    model_bytes: u64,
    model_files: usize,
}

/// Plans the model into layers (leaving room for `base_layers` below them) and hashes them in
/// one parallel pass.
pub fn hash_model_layers(
    files: &ModelFiles,
    options: &BuildOptions,
    base_layers: usize,
    progress: &Meter,
) -> Result<ModelLayers, ModelCarError> {
    let plan_options = PlanOptions::new(options.subdir.as_deref(), base_layers)?;
    let planned = plan_layers(files, &plan_options)?;
    let mtime = options.source_date_epoch;
    let mut sizes = Vec::with_capacity(planned.len());
    for layer in &planned {
        let size = layer.tar_size(mtime)?;
        if size > LARGE_LAYER_WARNING {
            tracing::warn!(
                "the layer holding {} is {size} bytes, over Quay's default 20 GB layer limit; split the file (e.g. smaller safetensors shards) or raise the registry's limit",
                layer.first_file(),
            );
        }
        sizes.push(size);
    }
    let names: Vec<String> = planned.iter().map(|l| l.first_file().to_owned()).collect();
    let layers: Vec<TarLayer> = planned
        .iter()
        .map(|l| TarLayer::new(files.root.clone(), l, mtime, options.compression))
        .collect();
    tracing::info!(
        "model {}: {} files, {} bytes in {} layers",
        files.root.display(),
        files.file_count(),
        files.total_file_bytes(),
        layers.len(),
    );

    progress.set_total(sizes.iter().sum());
    let digests = measure_layers(&layers, &names, &sizes, options.jobs, progress)?;

    let created = created_time(options);
    let layers = layers
        .into_iter()
        .zip(&digests)
        .zip(&planned)
        .map(|((layer, digests), planned)| Layer {
            descriptor: Descriptor::new(
                options.compression.media_type(),
                digests.digest.clone(),
                digests.size,
            ),
            diff_id: digests.diff_id.clone(),
            source: BlobSource::Local(Arc::new(layer)),
            history: History {
                created: Some(created.clone()),
                created_by: Some(format!(
                    "modelcar-build: {} files under /{}",
                    planned.file_count(),
                    plan_options.prefix
                )),
                ..History::default()
            },
        })
        .collect();
    Ok(ModelLayers {
        layers,
        model_bytes: files.total_file_bytes(),
        model_files: files.file_count(),
    })
}

fn created_time(options: &BuildOptions) -> String {
    oci::rfc3339_utc(options.source_date_epoch as i64)
}

const PREFIX: &str = "org.opencontainers.image.";
/// The one annotation that differs between the platforms of one ModelCar.
const BASE_DIGEST: &str = "org.opencontainers.image.base.digest";

/// Lays hashed model layers on `base` and sets the annotations (mirrored as config labels).
pub fn assemble_modelcar(
    base: &BaseImage,
    model: &ModelLayers,
    options: &BuildOptions,
) -> Result<ModelCar, ModelCarError> {
    let created = created_time(options);
    let mut builder = match &base.image {
        Some(image) => ImageBuilder::from_base(image),
        None => ImageBuilder::scratch(&base.platform),
    };
    builder.created(&created);
    for layer in &model.layers {
        builder.append_layer(layer.clone());
    }
    // The base's own revision, title or version describe the base, not this ModelCar.
    builder.remove_labels_with_prefix(PREFIX);
    let meta = &options.metadata;
    let base_digest = base.digest().map(|d| d.to_string());
    let base_name = (!base.is_scratch()).then_some(base.name.as_str());
    for (key, value) in [
        ("created", Some(created.as_str())),
        ("revision", meta.revision.as_deref()),
        ("source", meta.source.as_deref()),
        ("version", meta.version.as_deref()),
        ("title", meta.title.as_deref()),
        ("base.name", base_name),
        ("base.digest", base_digest.as_deref()),
    ] {
        if let Some(value) = value.filter(|v| !v.is_empty()) {
            builder.annotation(&format!("{PREFIX}{key}"), value);
        }
    }
    let image = builder.build().map_err(ModelCarError::Image)?;
    Ok(ModelCar {
        image,
        model_layers: model.layers.len(),
        model_bytes: model.model_bytes,
        model_files: model.model_files,
    })
}

/// An OCI index over the ModelCars of several platforms, carrying the annotations they share
/// (revision, source, version, title, created, base name).
pub fn modelcar_index(modelcars: &[ModelCar]) -> Result<Index, ModelCarError> {
    let mut builder = IndexBuilder::new();
    if let Some(first) = modelcars.first() {
        for (key, value) in &first.image.manifest().annotations {
            if key.starts_with(PREFIX) && key != BASE_DIGEST {
                builder.annotation(key, value);
            }
        }
    }
    for modelcar in modelcars {
        builder
            .add(modelcar.image.clone())
            .map_err(ModelCarError::Image)?;
    }
    builder.build().map_err(ModelCarError::Image)
}
