//! OCI image layout directories (`oci-layout`, `index.json`, `blobs/sha256/`), as a base image's
//! source and as a destination. Blobs are streamed and verified; a blob already present is kept;
//! `index.json` is replaced atomically, so an interrupted write leaves the previous state.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use futures_util::StreamExt;
use oci::registry::RegistryClient;
use oci::{
    Artifact, BlobSource, Descriptor, Digest, FileBlob, HashingWriter, Image, ImageIndex, Platform,
    media_types,
};

const REF_NAME: &str = "org.opencontainers.image.ref.name";
const LAYOUT_FILE: &str = r#"{"imageLayoutVersion":"1.0.0"}"#;

fn blob_path(dir: &Path, digest: &Digest) -> PathBuf {
    dir.join("blobs/sha256").join(digest.hex())
}

/// Reads the image tagged `tag` (an index resolves to `platform`'s image).
pub fn read_image(dir: &Path, tag: &str, platform: &Platform) -> Result<Image> {
    let index_path = dir.join("index.json");
    let index: ImageIndex = serde_json::from_slice(&fs::read(&index_path).with_context(|| {
        format!(
            "reading {}; is {} an OCI layout?",
            index_path.display(),
            dir.display()
        )
    })?)
    .with_context(|| format!("parsing {}", index_path.display()))?;
    let tags: Vec<&str> = index
        .manifests
        .iter()
        .filter_map(|d| d.annotations.get(REF_NAME).map(String::as_str))
        .collect();
    let mut descriptor = index
        .manifests
        .iter()
        .find(|d| d.annotations.get(REF_NAME).map(String::as_str) == Some(tag))
        .cloned()
        .with_context(|| {
            format!(
                "the OCI layout {} has no image tagged {tag:?} (tags: {}); give oci:DIR:TAG",
                dir.display(),
                if tags.is_empty() {
                    "none".to_owned()
                } else {
                    tags.join(", ")
                }
            )
        })?;
    if media_types::is_index(&descriptor.media_type) {
        let nested: ImageIndex = serde_json::from_slice(&read_blob(dir, &descriptor.digest)?)
            .with_context(|| format!("parsing the index {}", descriptor.digest))?;
        descriptor = nested
            .manifests
            .iter()
            .find(|d| d.platform.as_ref().is_some_and(|p| platform.matches(p)))
            .cloned()
            .with_context(|| {
                format!(
                    "the image {tag:?} in {} has no manifest for platform {platform}; choose one with --platform",
                    dir.display()
                )
            })?;
    }
    let manifest_bytes = read_blob(dir, &descriptor.digest)?;
    let manifest: oci::ImageManifest = serde_json::from_slice(&manifest_bytes)
        .with_context(|| format!("parsing the manifest {}", descriptor.digest))?;
    let config_bytes = read_blob(dir, &manifest.config.digest)?;
    let mut layers = Vec::new();
    for layer in &manifest.layers {
        let path = blob_path(dir, &layer.digest);
        if !path.is_file() {
            bail!(
                "the OCI layout {} lacks layer {} ({}); copy the image into it again",
                dir.display(),
                layer.digest,
                path.display()
            );
        }
        layers.push(BlobSource::Local(Arc::new(FileBlob(path))));
    }
    Ok(Image::from_raw(
        &format!("oci:{}:{tag}", dir.display()),
        manifest_bytes,
        config_bytes,
        layers,
    )?)
}

fn read_blob(dir: &Path, digest: &Digest) -> Result<Vec<u8>> {
    let path = blob_path(dir, digest);
    let bytes = fs::read(&path).with_context(|| format!("reading blob {}", path.display()))?;
    if Digest::sha256_of(&bytes) != *digest {
        bail!(
            "the blob {} does not match its digest; the layout is corrupt",
            path.display()
        );
    }
    Ok(bytes)
}

/// Writes `image` and tags it `tag` (replacing what the tag named before).
pub async fn write_image(
    dir: &Path,
    tag: &str,
    image: &Image,
    client: &RegistryClient,
) -> Result<()> {
    fs::create_dir_all(dir.join("blobs/sha256"))
        .with_context(|| format!("creating the OCI layout {}", dir.display()))?;
    write_atomic(&dir.join("oci-layout"), LAYOUT_FILE.as_bytes())?;
    for (descriptor, source) in Artifact::Image(image).blobs() {
        write_blob(dir, &descriptor, &source, client).await?;
    }
    write_blob_bytes(dir, image.digest(), image.manifest_bytes())?;

    let index_path = dir.join("index.json");
    let mut index = match fs::read(&index_path) {
        Ok(bytes) => serde_json::from_slice::<ImageIndex>(&bytes)
            .with_context(|| format!("parsing {}", index_path.display()))?,
        Err(e) if e.kind() == io::ErrorKind::NotFound => ImageIndex {
            schema_version: 2,
            media_type: Some(media_types::OCI_INDEX.into()),
            manifests: Vec::new(),
            annotations: Default::default(),
        },
        Err(e) => return Err(e).with_context(|| format!("reading {}", index_path.display())),
    };
    index
        .manifests
        .retain(|d| d.annotations.get(REF_NAME).map(String::as_str) != Some(tag));
    let mut entry: Descriptor = image.descriptor();
    entry.annotations.insert(REF_NAME.into(), tag.into());
    index.manifests.push(entry);
    write_atomic(&index_path, &serde_json::to_vec(&index)?)
}

async fn write_blob(
    dir: &Path,
    descriptor: &Descriptor,
    source: &BlobSource,
    client: &RegistryClient,
) -> Result<()> {
    let path = blob_path(dir, &descriptor.digest);
    if fs::metadata(&path).is_ok_and(|m| m.len() == descriptor.size) {
        return Ok(());
    }
    let tmp = path.with_extension("partial");
    let mut writer = HashingWriter::new(
        File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?,
    );
    match source {
        BlobSource::Local(blob) => {
            let mut reader = blob
                .open()
                .with_context(|| format!("reading blob {}", descriptor.digest))?;
            let mut buf = vec![0u8; 1 << 20];
            loop {
                let n = reader
                    .read(&mut buf)
                    .with_context(|| format!("reading blob {}", descriptor.digest))?;
                if n == 0 {
                    break;
                }
                writer
                    .write_all(&buf[..n])
                    .with_context(|| format!("writing {}", tmp.display()))?;
            }
        }
        BlobSource::Remote {
            registry,
            repository,
            digest,
        } => {
            let mut stream = client.fetch_blob(registry, repository, digest).await?;
            while let Some(chunk) = stream.next().await {
                writer
                    .write_all(&chunk?)
                    .with_context(|| format!("writing {}", tmp.display()))?;
            }
        }
    }
    let (digest, size, file) = writer.finish();
    file.sync_all().ok();
    if digest != descriptor.digest || size != descriptor.size {
        let _ = fs::remove_file(&tmp);
        bail!(
            "blob {} came out as {digest} ({size} bytes); was the model changed during the build?",
            descriptor.digest
        );
    }
    fs::rename(&tmp, &path).with_context(|| format!("renaming {}", tmp.display()))
}

fn write_blob_bytes(dir: &Path, digest: &Digest, bytes: &[u8]) -> Result<()> {
    let path = blob_path(dir, digest);
    if path.is_file() {
        return Ok(());
    }
    write_atomic(&path, bytes)
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    fs::write(&tmp, bytes).with_context(|| format!("writing {}", tmp.display()))?;
    fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))
}
