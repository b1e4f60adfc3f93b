//! One entry point for commands: read an image from, or store one at, an [`ImageLocation`]
//! (a registry reference or an OCI layout directory).

use crate::digest::Digest;
use crate::image::{Artifact, Image};
use crate::layout::{LayoutError, LayoutReport, OciLayout};
use crate::manifest::Platform;
use crate::reference::ImageLocation;
use crate::registry::{PushOptions, PushReport, RegistryClient, RegistryError};

#[derive(Debug, thiserror::Error)]
pub enum LocationError {
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error(transparent)]
    Layout(#[from] LayoutError),
}

impl LocationError {
    pub fn is_usage(&self) -> bool {
        match self {
            Self::Registry(e) => e.is_usage(),
            Self::Layout(e) => e.is_usage(),
        }
    }
}

impl common::UsageFault for LocationError {
    fn is_usage(&self) -> bool {
        LocationError::is_usage(self)
    }
}

/// Reads the image at `location` for `platform` (layers are not downloaded).
pub async fn load(
    location: &ImageLocation,
    client: &RegistryClient,
    platform: &Platform,
) -> Result<Image, LocationError> {
    match location {
        ImageLocation::Registry(reference) => Ok(client.pull(reference, platform).await?),
        ImageLocation::Layout { path, tag } => {
            Ok(OciLayout::open(path)?.read_image(tag, platform)?)
        }
    }
}

/// What storing did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stored {
    Registry(PushReport),
    Layout(LayoutReport),
}

impl Stored {
    pub fn digest(&self) -> &Digest {
        match self {
            Self::Registry(report) => &report.digest,
            Self::Layout(report) => &report.digest,
        }
    }

    /// Bytes sent to the registry or written into the layout.
    pub fn bytes_transferred(&self) -> u64 {
        match self {
            Self::Registry(report) => report.bytes_uploaded,
            Self::Layout(report) => report.bytes_written,
        }
    }
}

/// Stores an image or index at `location`, tagged with the location's tag and `extra_tags`.
pub async fn store<'a>(
    artifact: impl Into<Artifact<'a>>,
    location: &ImageLocation,
    extra_tags: &[String],
    client: &RegistryClient,
    options: &PushOptions,
) -> Result<Stored, LocationError> {
    let artifact = artifact.into();
    match location {
        ImageLocation::Registry(reference) => {
            let mut tags: Vec<String> = reference.tag().map(str::to_owned).into_iter().collect();
            tags.extend(extra_tags.iter().cloned());
            let report = client.push(artifact, reference, &tags, options).await?;
            Ok(Stored::Registry(report))
        }
        ImageLocation::Layout { path, tag } => {
            let layout = OciLayout::create(path)?;
            let mut report = layout.write(artifact, tag).await?;
            for extra in extra_tags {
                let again = layout.write(artifact, extra).await?;
                report.bytes_written += again.bytes_written;
                report.blobs_written += again.blobs_written;
            }
            Ok(Stored::Layout(report))
        }
    }
}

/// Callers may spawn these futures on a multi-threaded runtime: they must stay `Send`.
#[cfg(test)]
#[allow(dead_code)]
fn futures_are_send(
    client: &RegistryClient,
    image: &Image,
    location: &ImageLocation,
    platform: &Platform,
    options: &PushOptions,
) {
    fn send<T: Send>(_: T) {}
    send(load(location, client, platform));
    send(store(image, location, &[], client, options));
    if let ImageLocation::Registry(reference) = location {
        send(client.push(image, reference, &[], options));
        send(client.pull(reference, platform));
        send(client.fetch_blob("r", "p", image.digest()));
    }
}
