//! An OCI image layout directory (image-spec v1) as a source and a sink: `oci-layout`,
//! `index.json` whose entries are tagged by `org.opencontainers.image.ref.name`, and
//! `blobs/sha256/<hex>`. Blobs are streamed into a temporary file beside their final place,
//! verified, then renamed: a blob under its digest is always complete. `index.json` is replaced
//! atomically, and re-tagging replaces the entry of the same name.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures_util::StreamExt;
use sha2::{Digest as _, Sha256};
use tokio::io::AsyncWriteExt;

use crate::blob::{BlobReadError, BlobSource, FileBlob};
use crate::digest::{Digest, HashingWriter};
use crate::image::{Artifact, Image, ImageError, RawJson};
use crate::manifest::{Descriptor, ImageIndex, ImageManifest, Platform};
use crate::media_types;

/// The annotation that tags an `index.json` entry.
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";
const LAYOUT_FILE: &str = "oci-layout";
const LAYOUT_VERSION: &str = "1.0.0";
const MAX_JSON_BYTES: u64 = 32 << 20;

#[derive(Debug, thiserror::Error)]
pub enum LayoutError {
    #[error("{action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} is not an OCI image layout: {problem}", path.display())]
    NotALayout { path: PathBuf, problem: String },
    #[error(
        "the OCI layout {} has no image tagged {tag:?}; it has {}",
        path.display(),
        if available.is_empty() { "no tagged images".to_owned() } else { available.join(", ") }
    )]
    TagNotFound {
        path: PathBuf,
        tag: String,
        available: Vec<String>,
    },
    #[error(
        "the OCI layout {}: {tag:?} has no image for platform {wanted}; it offers {}",
        path.display(),
        if available.is_empty() { "none".to_owned() } else { available.join(", ") }
    )]
    PlatformNotFound {
        path: PathBuf,
        tag: String,
        wanted: String,
        available: Vec<String>,
    },
    #[error(
        "the OCI layout {}: blob {expected} holds content with digest {actual} ({size} bytes); the file is corrupt, delete it and write the image again",
        path.display()
    )]
    Corrupt {
        path: PathBuf,
        expected: Digest,
        actual: Digest,
        size: u64,
    },
    #[error("the OCI layout {}: {source}", path.display())]
    Image {
        path: PathBuf,
        #[source]
        source: ImageError,
    },
    #[error("copying layer {digest} into the OCI layout {}: {source}", path.display())]
    RemoteBlob {
        path: PathBuf,
        digest: Digest,
        #[source]
        source: BlobReadError,
    },
}

impl LayoutError {
    /// None of these is in how the command was called: the layout's content is what the command
    /// was given to work on (a tag or platform it lacks, a corrupt blob), and its faults are the
    /// command's failure.
    pub fn is_usage(&self) -> bool {
        matches!(self, Self::Image { source, .. } if source.is_usage())
    }
}

impl common::UsageFault for LayoutError {
    fn is_usage(&self) -> bool {
        LayoutError::is_usage(self)
    }
}

/// What writing into a layout did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayoutReport {
    pub digest: Digest,
    pub bytes_written: u64,
    pub blobs_written: usize,
    pub blobs_skipped: usize,
}

/// An OCI image layout directory.
#[derive(Debug, Clone)]
pub struct OciLayout {
    root: PathBuf,
}

impl OciLayout {
    /// Opens an existing layout.
    pub fn open(root: &Path) -> Result<Self, LayoutError> {
        let marker = root.join(LAYOUT_FILE);
        let bytes = std::fs::read(&marker).map_err(|e| LayoutError::NotALayout {
            path: root.to_owned(),
            problem: format!("cannot read {LAYOUT_FILE} ({e})"),
        })?;
        let version = serde_json::from_slice::<serde_json::Value>(&bytes)
            .ok()
            .and_then(|v| v.get("imageLayoutVersion")?.as_str().map(str::to_owned));
        match version.as_deref() {
            Some(v) if v.starts_with("1.") => Ok(Self {
                root: root.to_owned(),
            }),
            _ => Err(LayoutError::NotALayout {
                path: root.to_owned(),
                problem: format!("{LAYOUT_FILE} does not declare imageLayoutVersion 1.x"),
            }),
        }
    }

    /// Opens a layout, creating the directory and an empty layout first when there is none.
    pub fn create(root: &Path) -> Result<Self, LayoutError> {
        if root.join(LAYOUT_FILE).exists() {
            return Self::open(root);
        }
        let blobs = root.join("blobs/sha256");
        std::fs::create_dir_all(&blobs).map_err(io("creating", &blobs))?;
        let layout = Self {
            root: root.to_owned(),
        };
        if !root.join("index.json").exists() {
            layout.write_index(&empty_index())?;
        }
        layout.write_atomically(
            &root.join(LAYOUT_FILE),
            format!("{{\"imageLayoutVersion\":\"{LAYOUT_VERSION}\"}}").as_bytes(),
        )?;
        Ok(layout)
    }

    pub fn path(&self) -> &Path {
        &self.root
    }

    /// Where a blob is (or would be) stored.
    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.root.join("blobs/sha256").join(digest.hex())
    }

    /// The layout's `index.json`.
    pub fn index(&self) -> Result<ImageIndex, LayoutError> {
        let path = self.root.join("index.json");
        let bytes = std::fs::read(&path).map_err(io("reading", &path))?;
        serde_json::from_slice(&bytes).map_err(|e| LayoutError::NotALayout {
            path: self.root.clone(),
            problem: format!("index.json is not an OCI image index: {e}"),
        })
    }

    /// The tags (`org.opencontainers.image.ref.name`) of the layout's entries.
    pub fn tags(&self) -> Result<Vec<String>, LayoutError> {
        Ok(self
            .index()?
            .manifests
            .iter()
            .filter_map(|d| d.annotations.get(REF_NAME).cloned())
            .collect())
    }

    /// Reads the image tagged `tag` (an index under the tag resolves to `platform`). Layers are
    /// the layout's files, read when a sink needs them.
    pub fn read_image(&self, tag: &str, platform: &Platform) -> Result<Image, LayoutError> {
        let index = self.index()?;
        let entry = index
            .manifests
            .iter()
            .find(|d| d.annotations.get(REF_NAME).map(String::as_str) == Some(tag))
            .ok_or_else(|| LayoutError::TagNotFound {
                path: self.root.clone(),
                tag: tag.to_owned(),
                available: index
                    .manifests
                    .iter()
                    .filter_map(|d| d.annotations.get(REF_NAME).cloned())
                    .collect(),
            })?;
        let mut manifest_digest = entry.digest.clone();
        if media_types::is_index(&entry.media_type) {
            let bytes = self.read_json_blob(&entry.digest)?;
            let nested: RawJson<ImageIndex> = RawJson::parse(bytes, tag, "image index")
                .map_err(|source| self.image_error(source))?;
            manifest_digest =
                crate::platform::select(nested.value(), platform).map_err(|available| {
                    LayoutError::PlatformNotFound {
                        path: self.root.clone(),
                        tag: tag.to_owned(),
                        wanted: platform.to_string(),
                        available,
                    }
                })?;
        }
        let manifest_bytes = self.read_json_blob(&manifest_digest)?;
        let manifest: ImageManifest =
            serde_json::from_slice(&manifest_bytes).map_err(|e| LayoutError::NotALayout {
                path: self.root.clone(),
                problem: format!("manifest {manifest_digest} is not an image manifest: {e}"),
            })?;
        let config = self.read_json_blob(&manifest.config.digest)?;
        let mut layers = Vec::with_capacity(manifest.layers.len());
        for layer in &manifest.layers {
            let path = self.blob_path(&layer.digest);
            let metadata = std::fs::metadata(&path).map_err(io("reading layer", &path))?;
            if metadata.len() != layer.size {
                return Err(LayoutError::NotALayout {
                    path: self.root.clone(),
                    problem: format!(
                        "layer {} is {} bytes, the manifest says {}",
                        layer.digest,
                        metadata.len(),
                        layer.size
                    ),
                });
            }
            layers.push(BlobSource::Local(Arc::new(FileBlob(path))));
        }
        Image::from_raw(
            &format!("oci:{}:{tag}", self.root.display()),
            manifest_bytes,
            config,
            layers,
        )
        .map_err(|source| self.image_error(source))
    }

    /// A small JSON blob, read whole and verified.
    fn read_json_blob(&self, digest: &Digest) -> Result<Vec<u8>, LayoutError> {
        let path = self.blob_path(digest);
        let metadata = std::fs::metadata(&path).map_err(io("reading", &path))?;
        if metadata.len() > MAX_JSON_BYTES {
            return Err(LayoutError::NotALayout {
                path: self.root.clone(),
                problem: format!("{digest} is too large for a manifest or config"),
            });
        }
        let bytes = std::fs::read(&path).map_err(io("reading", &path))?;
        let actual = Digest::sha256_of(&bytes);
        if actual != *digest {
            return Err(LayoutError::Corrupt {
                path: self.root.clone(),
                expected: digest.clone(),
                actual,
                size: bytes.len() as u64,
            });
        }
        Ok(bytes)
    }

    fn image_error(&self, source: ImageError) -> LayoutError {
        LayoutError::Image {
            path: self.root.clone(),
            source,
        }
    }

    /// Writes an image or index and tags it `tag` (replacing an older entry of that tag). Blobs
    /// already present are skipped; layers still in a registry are streamed from there.
    pub async fn write<'a>(
        &self,
        artifact: impl Into<Artifact<'a>>,
        tag: &str,
    ) -> Result<LayoutReport, LayoutError> {
        let artifact = artifact.into();
        let mut report = LayoutReport {
            digest: artifact.digest().clone(),
            bytes_written: 0,
            blobs_written: 0,
            blobs_skipped: 0,
        };
        let mut tally = |written: Option<u64>| match written {
            Some(bytes) => {
                report.blobs_written += 1;
                report.bytes_written += bytes;
            }
            None => report.blobs_skipped += 1,
        };
        for (descriptor, source) in artifact.blobs() {
            tally(self.write_blob(&descriptor, &source).await?);
        }
        // Manifests after every blob they name, the top one last.
        if let Artifact::Index(index) = artifact {
            for image in index.images() {
                tally(self.write_small_blob(image.digest(), image.manifest_bytes())?);
            }
        }
        tally(self.write_small_blob(artifact.digest(), artifact.manifest_bytes())?);

        let mut index = self.index()?;
        index
            .manifests
            .retain(|d| d.annotations.get(REF_NAME).map(String::as_str) != Some(tag));
        let mut entry = artifact.descriptor();
        if let Artifact::Image(image) = artifact {
            entry.platform = Some(image.platform());
        }
        entry
            .annotations
            .insert(REF_NAME.to_owned(), tag.to_owned());
        index.manifests.push(entry);
        self.write_index(&index)?;
        Ok(report)
    }

    /// Stores one blob unless present; returns the bytes written, or `None` when skipped.
    async fn write_blob(
        &self,
        descriptor: &Descriptor,
        source: &BlobSource,
    ) -> Result<Option<u64>, LayoutError> {
        let target = self.blob_path(&descriptor.digest);
        if std::fs::metadata(&target).is_ok_and(|m| m.len() == descriptor.size) {
            return Ok(None);
        }
        let temp = TempFile::new(&self.root.join("blobs/sha256"), descriptor.digest.hex());
        let (actual, size) = match source {
            BlobSource::Local(blob) => {
                let (blob, path) = (blob.clone(), temp.path.clone());
                tokio::task::spawn_blocking(move || -> Result<(Digest, u64), LayoutError> {
                    let mut reader = blob.open().map_err(io("reading the blob for", &path))?;
                    let file = std::fs::File::create(&path).map_err(io("creating", &path))?;
                    let mut writer =
                        HashingWriter::new(std::io::BufWriter::with_capacity(1 << 20, file));
                    std::io::copy(&mut reader, &mut writer).map_err(io("writing", &path))?;
                    let (digest, size, buffered) = writer.finish();
                    let file = buffered
                        .into_inner()
                        .map_err(|e| io("writing", &path)(e.into_error()))?;
                    file.sync_all().map_err(io("syncing", &path))?;
                    Ok((digest, size))
                })
                .await
                .expect("blob copy thread panicked")?
            }
            BlobSource::Remote(blob) => {
                let remote_error = |source| LayoutError::RemoteBlob {
                    path: self.root.clone(),
                    digest: descriptor.digest.clone(),
                    source,
                };
                let mut stream = blob.open().await.map_err(remote_error)?;
                let mut file = tokio::fs::File::create(&temp.path)
                    .await
                    .map_err(io("creating", &temp.path))?;
                let (mut hasher, mut size) = (Sha256::new(), 0u64);
                while let Some(chunk) = stream.next().await {
                    let chunk = chunk.map_err(remote_error)?;
                    hasher.update(&chunk);
                    size += chunk.len() as u64;
                    file.write_all(&chunk)
                        .await
                        .map_err(io("writing", &temp.path))?;
                }
                file.sync_all().await.map_err(io("syncing", &temp.path))?;
                (Digest::from_hasher(hasher), size)
            }
        };
        if actual != descriptor.digest || size != descriptor.size {
            return Err(LayoutError::Corrupt {
                path: self.root.clone(),
                expected: descriptor.digest.clone(),
                actual,
                size,
            });
        }
        temp.persist(&target)?;
        Ok(Some(size))
    }

    fn write_small_blob(&self, digest: &Digest, bytes: &[u8]) -> Result<Option<u64>, LayoutError> {
        let target = self.blob_path(digest);
        if target.exists() {
            return Ok(None);
        }
        self.write_atomically(&target, bytes)?;
        Ok(Some(bytes.len() as u64))
    }

    fn write_index(&self, index: &ImageIndex) -> Result<(), LayoutError> {
        let bytes = serde_json::to_vec_pretty(index).map_err(|source| LayoutError::Image {
            path: self.root.clone(),
            source: ImageError::Serialize {
                what: "index.json",
                source,
            },
        })?;
        self.write_atomically(&self.root.join("index.json"), &bytes)
    }

    fn write_atomically(&self, target: &Path, bytes: &[u8]) -> Result<(), LayoutError> {
        let dir = target.parent().unwrap_or(&self.root);
        let name = target
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("file");
        let temp = TempFile::new(dir, name);
        let mut file = std::fs::File::create(&temp.path).map_err(io("creating", &temp.path))?;
        file.write_all(bytes).map_err(io("writing", &temp.path))?;
        file.sync_all().map_err(io("syncing", &temp.path))?;
        temp.persist(target)
    }
}

fn empty_index() -> ImageIndex {
    ImageIndex {
        schema_version: 2,
        media_type: Some(media_types::OCI_INDEX.to_owned()),
        manifests: Vec::new(),
        annotations: Default::default(),
    }
}

fn io(action: &'static str, path: &Path) -> impl Fn(std::io::Error) -> LayoutError {
    let path = path.to_owned();
    move |source| LayoutError::Io {
        action,
        path: path.clone(),
        source,
    }
}

/// A temporary file beside its final place, removed unless persisted (also when a write fails).
struct TempFile {
    path: PathBuf,
    persisted: bool,
}

impl TempFile {
    fn new(dir: &Path, name: &str) -> Self {
        let unique: u64 = rand::random();
        Self {
            path: dir.join(format!(".tmp-{name}-{}-{unique:016x}", std::process::id())),
            persisted: false,
        }
    }

    fn persist(mut self, target: &Path) -> Result<(), LayoutError> {
        std::fs::rename(&self.path, target).map_err(io("renaming into place", target))?;
        self.persisted = true;
        Ok(())
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.persisted {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}
