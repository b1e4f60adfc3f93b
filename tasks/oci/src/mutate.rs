//! Deriving a new image from a base (or from nothing): append layers with their diff_ids and
//! history, set annotations (mirrored as config labels), created time, entrypoint, cmd, env.
//! The result is always an OCI image: a Docker v2 base's layers keep their bytes and digests and
//! take the equivalent OCI media types.

use std::collections::BTreeMap;

use crate::blob::BlobSource;
use crate::digest::Digest;
use crate::image::{Image, ImageError, RawJson};
use crate::manifest::{
    ContainerConfig, Descriptor, History, ImageConfig, ImageManifest, Platform, RootFs,
};
use crate::media_types;

pub use common::time::rfc3339_utc;

/// A layer to append: its manifest descriptor, the digest of its uncompressed tar (`diff_id`),
/// where its bytes are, and the history entry that explains it.
#[derive(Debug, Clone)]
pub struct Layer {
    pub descriptor: Descriptor,
    pub diff_id: Digest,
    pub source: BlobSource,
    pub history: History,
}

/// Builds an image; see the module documentation.
#[derive(Debug, Clone)]
pub struct ImageBuilder {
    config: ImageConfig,
    annotations: BTreeMap<String, String>,
    layers: Vec<(Descriptor, BlobSource)>,
}

impl ImageBuilder {
    /// Starts from `base`: its layers (same sources, OCI media types) and config, labels included
    /// (as a Dockerfile `FROM` does). Manifest annotations describe one manifest, the base's, so
    /// they are not inherited.
    pub fn from_base(base: &Image) -> Self {
        let mut config = base.config().clone();
        if config.config.is_none() {
            config.config = Some(ContainerConfig::default());
        }
        let layers = base
            .layers()
            .map(|(descriptor, source)| {
                let mut descriptor = descriptor.clone();
                descriptor.media_type = oci_layer_media_type(&descriptor.media_type);
                (descriptor, source.clone())
            })
            .collect();
        Self {
            config,
            annotations: BTreeMap::new(),
            layers,
        }
    }

    /// An image with no layers (`FROM scratch`) for `platform`.
    pub fn scratch(platform: &Platform) -> Self {
        Self {
            config: ImageConfig {
                created: None,
                architecture: platform.architecture.clone(),
                os: platform.os.clone(),
                variant: platform.variant.clone(),
                config: Some(ContainerConfig::default()),
                rootfs: RootFs {
                    kind: "layers".to_owned(),
                    diff_ids: Vec::new(),
                },
                history: Vec::new(),
                extra: BTreeMap::new(),
            },
            annotations: BTreeMap::new(),
            layers: Vec::new(),
        }
    }

    pub fn append_layer(&mut self, layer: Layer) -> &mut Self {
        self.config.rootfs.diff_ids.push(layer.diff_id);
        let mut history = layer.history;
        history.empty_layer = None;
        if history.created.is_none() {
            history.created = self.config.created.clone();
        }
        self.config.history.push(history);
        self.layers.push((layer.descriptor, layer.source));
        self
    }

    /// Sets a manifest annotation and the config label of the same name (tools that read only
    /// one of them, `podman inspect` or a registry UI, see it either way).
    pub fn annotation(&mut self, key: &str, value: &str) -> &mut Self {
        self.annotations.insert(key.to_owned(), value.to_owned());
        self.label(key, value)
    }

    /// Removes the config labels whose names start with `prefix` (e.g. a base image's own
    /// `org.opencontainers.image.*` labels, which would otherwise describe the derived image).
    pub fn remove_labels_with_prefix(&mut self, prefix: &str) -> &mut Self {
        if let Some(labels) = self.container().labels.as_mut() {
            labels.retain(|key, _| !key.starts_with(prefix));
        }
        self
    }

    /// Sets a config label only.
    pub fn label(&mut self, key: &str, value: &str) -> &mut Self {
        self.container()
            .labels
            .get_or_insert_with(BTreeMap::new)
            .insert(key.to_owned(), value.to_owned());
        self
    }

    /// The image's creation time, RFC 3339 (see [`rfc3339_utc`]). Fixed times give reproducible digests.
    pub fn created(&mut self, rfc3339: &str) -> &mut Self {
        self.config.created = Some(rfc3339.to_owned());
        self
    }

    pub fn entrypoint(&mut self, entrypoint: Option<Vec<String>>) -> &mut Self {
        self.container().entrypoint = entrypoint;
        self
    }

    pub fn cmd(&mut self, cmd: Option<Vec<String>>) -> &mut Self {
        self.container().cmd = cmd;
        self
    }

    pub fn working_dir(&mut self, dir: Option<&str>) -> &mut Self {
        self.container().working_dir = dir.map(str::to_owned);
        self
    }

    pub fn user(&mut self, user: Option<&str>) -> &mut Self {
        self.container().user = user.map(str::to_owned);
        self
    }

    /// Sets `NAME=value` in the environment, replacing an earlier value of `NAME`.
    pub fn env(&mut self, name: &str, value: &str) -> &mut Self {
        let env = self.container().env.get_or_insert_with(Vec::new);
        let prefix = format!("{name}=");
        env.retain(|entry| !entry.starts_with(&prefix));
        env.push(format!("{name}={value}"));
        self
    }

    /// The config as built so far.
    pub fn config(&self) -> &ImageConfig {
        &self.config
    }

    fn container(&mut self) -> &mut ContainerConfig {
        self.config
            .config
            .get_or_insert_with(ContainerConfig::default)
    }

    /// Serialises config and manifest once each; their digests are of exactly those bytes.
    pub fn build(self) -> Result<Image, ImageError> {
        let config = RawJson::serialize(self.config, "image config")?;
        let (descriptors, sources): (Vec<_>, Vec<_>) = self.layers.into_iter().unzip();
        let manifest = ImageManifest {
            schema_version: 2,
            media_type: Some(media_types::OCI_MANIFEST.to_owned()),
            config: Descriptor::new(
                media_types::OCI_CONFIG,
                config.digest().clone(),
                config.size(),
            ),
            layers: descriptors,
            annotations: self.annotations,
        };
        let manifest = RawJson::serialize(manifest, "image manifest")?;
        Image::assemble("the built image", manifest, config, sources)
    }
}

/// The OCI media type for a Docker v2 layer type; OCI and unknown types are kept.
fn oci_layer_media_type(media_type: &str) -> String {
    match media_type {
        media_types::DOCKER_LAYER_GZIP => media_types::OCI_LAYER_GZIP,
        "application/vnd.docker.image.rootfs.diff.tar" => media_types::OCI_LAYER_TAR,
        "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip" => {
            "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
        }
        other => other,
    }
    .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::blob::InMemoryBlob;
    use crate::image::{Artifact, IndexBuilder};
    use std::sync::Arc;

    pub(crate) fn layer(content: &[u8]) -> Layer {
        let digest = Digest::sha256_of(content);
        Layer {
            descriptor: Descriptor::new(
                media_types::OCI_LAYER_TAR,
                digest.clone(),
                content.len() as u64,
            ),
            diff_id: digest,
            source: BlobSource::Local(Arc::new(InMemoryBlob(content.to_vec()))),
            history: History {
                created_by: Some("test".into()),
                ..History::default()
            },
        }
    }

    #[test]
    fn build_append_annotate_and_digest_is_of_the_bytes() {
        let mut builder = ImageBuilder::scratch(&Platform::linux_amd64());
        builder
            .created("2024-01-01T00:00:00Z")
            .append_layer(layer(b"one"))
            .annotation("org.opencontainers.image.revision", "abc123")
            .env("PATH", "/bin")
            .env("PATH", "/usr/bin")
            .entrypoint(Some(vec!["/bin/sh".into()]));
        let base = builder.build().unwrap();
        assert_eq!(base.digest(), &Digest::sha256_of(base.manifest_bytes()));
        assert_eq!(
            base.config_descriptor().digest,
            Digest::sha256_of(base.config_bytes())
        );
        let labels = base
            .config()
            .config
            .as_ref()
            .unwrap()
            .labels
            .clone()
            .unwrap();
        assert_eq!(labels["org.opencontainers.image.revision"], "abc123");
        assert_eq!(
            base.manifest().annotations["org.opencontainers.image.revision"],
            "abc123"
        );
        assert_eq!(
            base.config().config.as_ref().unwrap().env,
            Some(vec!["PATH=/usr/bin".to_owned()])
        );
        assert_eq!(
            base.config().history[0].created.as_deref(),
            Some("2024-01-01T00:00:00Z")
        );

        let mut derived = ImageBuilder::from_base(&base);
        derived.append_layer(layer(b"two"));
        let derived = derived.build().unwrap();
        assert_eq!(derived.layers().len(), 2);
        assert_eq!(derived.config().rootfs.diff_ids.len(), 2);
        assert_eq!(derived.config().history.len(), 2);
        assert_ne!(derived.digest(), base.digest());
        // The base's manifest annotations describe the base; its labels are inherited.
        assert!(derived.manifest().annotations.is_empty());
        let mut relabelled = ImageBuilder::from_base(&base);
        relabelled.remove_labels_with_prefix("org.opencontainers.image.");
        let relabelled = relabelled.build().unwrap();
        assert!(
            relabelled
                .config()
                .config
                .as_ref()
                .unwrap()
                .labels
                .as_ref()
                .unwrap()
                .is_empty()
        );
        // Same inputs, same bytes, same digest.
        let mut again = ImageBuilder::from_base(&base);
        again.append_layer(layer(b"two"));
        assert_eq!(again.build().unwrap().digest(), derived.digest());
        // Unknown config fields of a base survive.
        let mut raw: serde_json::Value = serde_json::from_slice(base.config_bytes()).unwrap();
        raw["x-vendor"] = serde_json::json!({"kept": true});
        let config: ImageConfig = serde_json::from_value(raw).unwrap();
        assert_eq!(config.extra["x-vendor"]["kept"], true);
    }

    #[test]
    fn docker_layers_become_oci() {
        let mut builder = ImageBuilder::scratch(&Platform::linux_amd64());
        let mut docker = layer(b"d");
        docker.descriptor.media_type = media_types::DOCKER_LAYER_GZIP.into();
        builder.append_layer(docker);
        let base = builder.build().unwrap();
        let derived = ImageBuilder::from_base(&base).build().unwrap();
        assert_eq!(
            derived.manifest().layers[0].media_type,
            media_types::OCI_LAYER_GZIP
        );
    }

    #[test]
    fn index_of_platforms_shares_layers() {
        let shared = layer(b"model weights");
        let image_for = |platform: &str| {
            let mut builder = ImageBuilder::scratch(&platform.parse().unwrap());
            builder.append_layer(shared.clone());
            builder.build().unwrap()
        };
        let mut index = IndexBuilder::new();
        index.add(image_for("linux/amd64")).unwrap();
        index.add(image_for("linux/arm64")).unwrap();
        assert!(matches!(
            index.add(image_for("linux/amd64")),
            Err(ImageError::DuplicatePlatform(_))
        ));
        let index = index.build().unwrap();
        assert_eq!(index.index().manifests.len(), 2);
        assert_eq!(
            index.index().manifests[1]
                .platform
                .as_ref()
                .unwrap()
                .architecture,
            "arm64"
        );
        // One shared layer, two configs.
        assert_eq!(Artifact::Index(&index).blobs().len(), 3);
        assert!(IndexBuilder::new().build().is_err());
    }
}
