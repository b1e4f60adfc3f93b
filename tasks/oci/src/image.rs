//! An image as a value: its manifest and config (each with the exact bytes that are its digest)
//! and where each layer's bytes are. Sources ([`crate::registry`], [`crate::layout`]) produce
//! images; [`crate::mutate`] derives new ones; sinks push or write them. An [`Index`] groups the
//! images of several platforms.

use std::sync::Arc;

use crate::blob::{BlobSource, InMemoryBlob};
use crate::digest::Digest;
use crate::manifest::{Descriptor, ImageConfig, ImageIndex, ImageManifest, Platform};
use crate::media_types;

#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("{what} is not a valid {kind}: {message}")]
    Malformed {
        what: String,
        kind: &'static str,
        message: String,
    },
    #[error(
        "{what}: the manifest names config {expected} but the config bytes hash to {actual}; the source is corrupt"
    )]
    ConfigMismatch {
        what: String,
        expected: Digest,
        actual: Digest,
    },
    #[error("{what}: the manifest lists {manifest} layers but {sources} layer sources were given")]
    LayerCount {
        what: String,
        manifest: usize,
        sources: usize,
    },
    #[error(
        "{what}: the config lists {diff_ids} diff_ids for {layers} layers; every layer needs one"
    )]
    DiffIdCount {
        what: String,
        diff_ids: usize,
        layers: usize,
    },
    #[error("the index already has an image for platform {0}; give each platform once")]
    DuplicatePlatform(Platform),
    #[error("an index needs at least one image")]
    EmptyIndex,
    #[error("serialising {what}: {source}")]
    Serialize {
        what: &'static str,
        #[source]
        source: serde_json::Error,
    },
}

impl ImageError {
    /// Only a platform given twice is the caller's to fix; the rest are faults of the image read.
    pub fn is_usage(&self) -> bool {
        matches!(self, Self::DuplicatePlatform(_))
    }
}

impl common::UsageFault for ImageError {
    fn is_usage(&self) -> bool {
        ImageError::is_usage(self)
    }
}

/// A JSON document together with the exact bytes it was read from or serialised to once.
/// The digest is always of these bytes: what is pushed or written is what was hashed.
#[derive(Debug, Clone)]
pub struct RawJson<T> {
    value: T,
    bytes: Arc<[u8]>,
    digest: Digest,
}

impl<T: serde::Serialize> RawJson<T> {
    /// Serialises `value` once (canonical: struct field order, sorted maps, no whitespace).
    pub fn serialize(value: T, what: &'static str) -> Result<Self, ImageError> {
        let bytes =
            serde_json::to_vec(&value).map_err(|source| ImageError::Serialize { what, source })?;
        Ok(Self::from_parts(value, bytes))
    }
}

impl<T> RawJson<T> {
    fn from_parts(value: T, bytes: Vec<u8>) -> Self {
        let digest = Digest::sha256_of(&bytes);
        Self {
            value,
            bytes: bytes.into(),
            digest,
        }
    }

    /// Parses `bytes`, keeping them as they are.
    pub fn parse(bytes: Vec<u8>, what: &str, kind: &'static str) -> Result<Self, ImageError>
    where
        T: serde::de::DeserializeOwned,
    {
        let value = serde_json::from_slice(&bytes).map_err(|e| ImageError::Malformed {
            what: what.to_owned(),
            kind,
            message: e.to_string(),
        })?;
        Ok(Self::from_parts(value, bytes))
    }

    pub fn value(&self) -> &T {
        &self.value
    }

    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    pub fn digest(&self) -> &Digest {
        &self.digest
    }

    pub fn size(&self) -> u64 {
        self.bytes.len() as u64
    }
}

/// One image: manifest, config, and a source for each layer (in manifest order).
#[derive(Debug, Clone)]
pub struct Image {
    manifest: RawJson<ImageManifest>,
    config: RawJson<ImageConfig>,
    layers: Vec<BlobSource>,
}

impl Image {
    /// Assembles an image from a manifest's and a config's bytes (as fetched or read) and the
    /// layers' sources, checking that they agree. `what` names the image in errors.
    pub fn from_raw(
        what: &str,
        manifest_bytes: Vec<u8>,
        config_bytes: Vec<u8>,
        layers: Vec<BlobSource>,
    ) -> Result<Self, ImageError> {
        let manifest: RawJson<ImageManifest> =
            RawJson::parse(manifest_bytes, what, "image manifest")?;
        let config: RawJson<ImageConfig> = RawJson::parse(config_bytes, what, "image config")?;
        Self::assemble(what, manifest, config, layers)
    }

    pub(crate) fn assemble(
        what: &str,
        manifest: RawJson<ImageManifest>,
        config: RawJson<ImageConfig>,
        layers: Vec<BlobSource>,
    ) -> Result<Self, ImageError> {
        if manifest.value.config.digest != config.digest {
            return Err(ImageError::ConfigMismatch {
                what: what.to_owned(),
                expected: manifest.value.config.digest.clone(),
                actual: config.digest.clone(),
            });
        }
        if manifest.value.layers.len() != layers.len() {
            return Err(ImageError::LayerCount {
                what: what.to_owned(),
                manifest: manifest.value.layers.len(),
                sources: layers.len(),
            });
        }
        if config.value.rootfs.diff_ids.len() != layers.len() {
            return Err(ImageError::DiffIdCount {
                what: what.to_owned(),
                diff_ids: config.value.rootfs.diff_ids.len(),
                layers: layers.len(),
            });
        }
        Ok(Self {
            manifest,
            config,
            layers,
        })
    }

    pub fn manifest(&self) -> &ImageManifest {
        self.manifest.value()
    }

    /// The manifest's bytes, exactly as pushed or written.
    pub fn manifest_bytes(&self) -> &[u8] {
        self.manifest.bytes()
    }

    /// The image's digest: sha256 of [`Image::manifest_bytes`].
    pub fn digest(&self) -> &Digest {
        self.manifest.digest()
    }

    /// The manifest's media type (OCI unless a Docker v2 image was read unchanged).
    pub fn media_type(&self) -> &str {
        self.manifest
            .value
            .media_type
            .as_deref()
            .unwrap_or(media_types::OCI_MANIFEST)
    }

    pub fn config(&self) -> &ImageConfig {
        self.config.value()
    }

    pub fn config_bytes(&self) -> &[u8] {
        self.config.bytes()
    }

    pub fn config_descriptor(&self) -> &Descriptor {
        &self.manifest.value.config
    }

    /// The config as a blob source, for sinks that upload every blob alike.
    pub fn config_source(&self) -> BlobSource {
        BlobSource::Local(Arc::new(InMemoryBlob(self.config.bytes.to_vec())))
    }

    /// Each layer's descriptor with where its bytes are.
    pub fn layers(&self) -> impl ExactSizeIterator<Item = (&Descriptor, &BlobSource)> {
        self.manifest.value.layers.iter().zip(&self.layers)
    }

    /// The platform the config declares.
    pub fn platform(&self) -> Platform {
        let config = self.config.value();
        Platform {
            architecture: config.architecture.clone(),
            os: config.os.clone(),
            variant: config.variant.clone(),
            os_version: None,
        }
    }

    /// A descriptor of this image's manifest, as an index or `index.json` lists it.
    pub fn descriptor(&self) -> Descriptor {
        Descriptor::new(
            self.media_type(),
            self.digest().clone(),
            self.manifest.size(),
        )
    }

    /// Bytes of all blobs (config and layers) and of the manifest.
    pub fn total_size(&self) -> u64 {
        self.manifest.size()
            + self.manifest.value.config.size
            + self
                .manifest
                .value
                .layers
                .iter()
                .map(|l| l.size)
                .sum::<u64>()
    }
}

/// Images of several platforms under one index; they may share layers.
#[derive(Debug, Clone)]
pub struct Index {
    index: RawJson<ImageIndex>,
    images: Vec<Image>,
}

impl Index {
    pub fn index(&self) -> &ImageIndex {
        self.index.value()
    }

    pub fn bytes(&self) -> &[u8] {
        self.index.bytes()
    }

    pub fn digest(&self) -> &Digest {
        self.index.digest()
    }

    pub fn images(&self) -> &[Image] {
        &self.images
    }

    pub fn descriptor(&self) -> Descriptor {
        Descriptor::new(
            media_types::OCI_INDEX,
            self.digest().clone(),
            self.index.size(),
        )
    }
}

/// Builds an OCI index over images of distinct platforms.
#[derive(Debug, Default)]
pub struct IndexBuilder {
    images: Vec<Image>,
    annotations: std::collections::BTreeMap<String, String>,
}

impl IndexBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an image; its platform (from its config) becomes the entry's platform.
    pub fn add(&mut self, image: Image) -> Result<&mut Self, ImageError> {
        let platform = image.platform();
        if self.images.iter().any(|i| i.platform() == platform) {
            return Err(ImageError::DuplicatePlatform(platform));
        }
        self.images.push(image);
        Ok(self)
    }

    pub fn annotation(&mut self, key: &str, value: &str) -> &mut Self {
        self.annotations.insert(key.to_owned(), value.to_owned());
        self
    }

    pub fn build(self) -> Result<Index, ImageError> {
        if self.images.is_empty() {
            return Err(ImageError::EmptyIndex);
        }
        let manifests = self
            .images
            .iter()
            .map(|image| Descriptor {
                platform: Some(image.platform()),
                ..image.descriptor()
            })
            .collect();
        let index = ImageIndex {
            schema_version: 2,
            media_type: Some(media_types::OCI_INDEX.to_owned()),
            manifests,
            annotations: self.annotations,
        };
        Ok(Index {
            index: RawJson::serialize(index, "image index")?,
            images: self.images,
        })
    }
}

/// Either kind of thing a sink stores under a tag.
#[derive(Debug, Clone, Copy)]
pub enum Artifact<'a> {
    Image(&'a Image),
    Index(&'a Index),
}

impl Artifact<'_> {
    /// The images inside (one, or each of an index's).
    pub fn images(&self) -> &[Image] {
        match self {
            Self::Image(image) => std::slice::from_ref(*image),
            Self::Index(index) => index.images(),
        }
    }

    /// The digest the tag will point at.
    pub fn digest(&self) -> &Digest {
        match self {
            Self::Image(image) => image.digest(),
            Self::Index(index) => index.digest(),
        }
    }

    pub fn descriptor(&self) -> Descriptor {
        match self {
            Self::Image(image) => image.descriptor(),
            Self::Index(index) => index.descriptor(),
        }
    }

    /// The top manifest's bytes.
    pub fn manifest_bytes(&self) -> &[u8] {
        match self {
            Self::Image(image) => image.manifest_bytes(),
            Self::Index(index) => index.bytes(),
        }
    }

    /// Bytes of every distinct blob and of the top manifest: what a push or write handles.
    pub fn total_size(&self) -> u64 {
        self.blobs().iter().map(|(d, _)| d.size).sum::<u64>() + self.manifest_bytes().len() as u64
    }

    /// Every distinct blob (configs and layers), each once, with its source.
    pub fn blobs(&self) -> Vec<(Descriptor, BlobSource)> {
        let mut seen = std::collections::HashSet::new();
        let mut blobs = Vec::new();
        for image in self.images() {
            for (descriptor, source) in image.layers() {
                if seen.insert(descriptor.digest.clone()) {
                    blobs.push((descriptor.clone(), source.clone()));
                }
            }
        }
        for image in self.images() {
            let descriptor = image.config_descriptor();
            if seen.insert(descriptor.digest.clone()) {
                blobs.push((descriptor.clone(), image.config_source()));
            }
        }
        blobs
    }
}

impl<'a> From<&'a Image> for Artifact<'a> {
    fn from(image: &'a Image) -> Self {
        Self::Image(image)
    }
}

impl<'a> From<&'a Index> for Artifact<'a> {
    fn from(index: &'a Index) -> Self {
        Self::Index(index)
    }
}
