//! Assembles the ModelCar: base layers, then model layers; a config whose labels mirror the
//! manifest's annotations; everything derived from content and flags only (never the clock, the
//! host or the directory's path), so the same model gives the same digest anywhere.

use std::collections::BTreeMap;
use std::sync::Arc;

use common::progress::Progress;
use oci::{BlobSource, Descriptor, Digest, History, ImageManifest, InMemoryBlob, media_types};

use crate::base::{BaseImage, ImageLayer};
use crate::error::ModelCarError;
use crate::hash::measure_layers;
use crate::plan::{LARGE_LAYER_WARNING, PlanOptions, plan_layers};
use crate::scan::scan_model_dir;
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

/// A built image, ready for a sink (registry or OCI layout).
#[derive(Debug, Clone)]
pub struct ModelCar {
    pub manifest: ImageManifest,
    /// The manifest exactly as it is pushed and hashed.
    pub manifest_json: Vec<u8>,
    pub digest: Digest,
    pub config: ImageLayer,
    /// Base layers first, then the model's.
    pub layers: Vec<ImageLayer>,
    /// How many of `layers` are the model's (the last ones).
    pub model_layers: usize,
    pub model_bytes: u64,
    pub model_files: usize,
}

/// Checks the base, validates and plans the model, hashes its layers and assembles the image.
/// Nothing is written anywhere: a sink does that with the result.
pub fn build_modelcar(
    base: BaseImage,
    options: &BuildOptions,
    progress: impl FnOnce(u64) -> Progress,
) -> Result<ModelCar, ModelCarError> {
    base.check_entrypoint(options.allow_entrypoint)?;
    base.warn_without_shell()?;

    let files = scan_model_dir(&options.model_dir)?;
    let plan_options = PlanOptions::new(options.subdir.as_deref(), base.layers.len())?;
    let planned = plan_layers(&files, &plan_options)?;
    let mtime = options.source_date_epoch;
    let mut sizes = Vec::with_capacity(planned.len());
    for layer in &planned {
        let size = layer.tar_size(mtime)?;
        if size > LARGE_LAYER_WARNING {
            tracing::warn!(
                "the layer holding {} is {} bytes, over Quay's default 20 GB layer limit; split the file (e.g. smaller safetensors shards) or raise the registry's limit",
                layer.first_file(),
                size
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
        "model {}: {} files, {} bytes in {} layers (base {}: {} layers)",
        files.root.display(),
        files.file_count(),
        files.total_file_bytes(),
        layers.len(),
        base.name,
        base.layers.len()
    );

    let progress = progress(sizes.iter().sum());
    let digests = measure_layers(&layers, &names, &sizes, options.jobs, &progress)?;
    progress.finish();

    let created = rfc3339(options.source_date_epoch);
    let annotations = annotations(&options.metadata, &base, &created);

    let mut config = base.config.clone();
    config.created = Some(created.clone());
    config.rootfs.kind = "layers".into();
    let mut container = config.config.take().unwrap_or_default();
    let mut labels = container.labels.take().unwrap_or_default();
    labels.extend(annotations.clone());
    container.labels = Some(labels);
    config.config = Some(container);

    let mut image_layers: Vec<ImageLayer> = base.layers.iter().map(oci_layer).collect();
    for ((layer, digests), planned) in layers.into_iter().zip(&digests).zip(&planned) {
        config.rootfs.diff_ids.push(digests.diff_id.clone());
        config.history.push(History {
            created: Some(created.clone()),
            created_by: Some(format!(
                "modelcar-build: {} files under /{}",
                planned.file_count(),
                plan_options.prefix
            )),
            comment: None,
            empty_layer: None,
        });
        image_layers.push(ImageLayer {
            descriptor: Descriptor::new(
                options.compression.media_type(),
                digests.digest.clone(),
                digests.size,
            ),
            source: BlobSource::Local(Arc::new(layer)),
        });
    }

    let config_json = serde_json::to_vec(&config).map_err(|source| ModelCarError::Json {
        what: "config",
        source,
    })?;
    let config_layer = ImageLayer {
        descriptor: Descriptor::new(
            media_types::OCI_CONFIG,
            Digest::sha256_of(&config_json),
            config_json.len() as u64,
        ),
        source: BlobSource::Local(Arc::new(InMemoryBlob(config_json))),
    };
    let manifest = ImageManifest {
        schema_version: 2,
        media_type: Some(media_types::OCI_MANIFEST.into()),
        config: config_layer.descriptor.clone(),
        layers: image_layers.iter().map(|l| l.descriptor.clone()).collect(),
        annotations,
    };
    let manifest_json = serde_json::to_vec(&manifest).map_err(|source| ModelCarError::Json {
        what: "manifest",
        source,
    })?;
    Ok(ModelCar {
        digest: Digest::sha256_of(&manifest_json),
        manifest,
        manifest_json,
        config: config_layer,
        model_layers: digests.len(),
        layers: image_layers,
        model_bytes: files.total_file_bytes(),
        model_files: files.file_count(),
    })
}

/// A base layer as it goes into an OCI manifest: Docker's gzip layer type is the same bytes
/// under another name, so it is renamed; anything else is kept as it is.
fn oci_layer(layer: &ImageLayer) -> ImageLayer {
    let mut layer = layer.clone();
    if layer.descriptor.media_type == media_types::DOCKER_LAYER_GZIP {
        layer.descriptor.media_type = media_types::OCI_LAYER_GZIP.into();
    }
    layer
}

fn annotations(meta: &ImageMetadata, base: &BaseImage, created: &str) -> BTreeMap<String, String> {
    const PREFIX: &str = "org.opencontainers.image.";
    let mut out = BTreeMap::new();
    let mut put = |key: &str, value: Option<&str>| {
        if let Some(value) = value.filter(|v| !v.is_empty()) {
            out.insert(format!("{PREFIX}{key}"), value.to_owned());
        }
    };
    put("created", Some(created));
    put("revision", meta.revision.as_deref());
    put("source", meta.source.as_deref());
    put("version", meta.version.as_deref());
    put("title", meta.title.as_deref());
    if !base.is_scratch() {
        put("base.name", Some(&base.name));
        put(
            "base.digest",
            base.digest.as_ref().map(|d| d.to_string()).as_deref(),
        );
    }
    out
}

/// `1970-01-01T00:00:00Z` from seconds since the epoch (UTC, no leap seconds).
pub fn rfc3339(epoch: u64) -> String {
    let days = (epoch / 86_400) as i64;
    let secs = epoch % 86_400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
    }
}
