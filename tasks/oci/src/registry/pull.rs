//! The registry as a source: resolve a reference to an image (an index to the requested platform),
//! read its config, and leave its layers where they are (`BlobSource::Remote`).

use bytes::Bytes;
use common::HttpError;
use common::http::display_url;
use common::retry::retry_async;
use futures_util::{Stream, StreamExt};
use reqwest::Url;
use reqwest::header::{ACCEPT, CONTENT_TYPE, LOCATION};

use std::sync::Arc;

use futures_util::future::BoxFuture;

use super::{RegistryClient, RegistryError, Session};
use crate::blob::{BlobReadError, BlobSource, ByteStream, RemoteBlob};
use crate::digest::Digest;
use crate::image::{Image, RawJson};
use crate::manifest::{ImageIndex, Platform};
use crate::media_types;
use crate::reference::Reference;

pub(super) const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json";
/// Manifests and configs are small JSON; a larger answer is not one.
const MAX_MANIFEST_BYTES: usize = 4 << 20;
const MAX_CONFIG_BYTES: usize = 32 << 20;

/// A blob's bytes as they arrive.
pub type BlobStream = std::pin::Pin<Box<dyn Stream<Item = Result<Bytes, RegistryError>> + Send>>;

/// A manifest or index as the registry served it.
#[derive(Debug, Clone)]
pub struct FetchedManifest {
    pub media_type: String,
    pub bytes: Vec<u8>,
    /// sha256 of `bytes` (checked against the reference's digest when it has one).
    pub digest: Digest,
}

impl RegistryClient {
    /// Fetches what `reference` names (an image manifest or an index), verifying a pinned digest.
    pub async fn fetch_manifest(
        &self,
        reference: &Reference,
    ) -> Result<FetchedManifest, RegistryError> {
        let session = self.session(reference.registry(), reference.repository(), false, &[])?;
        self.fetch_manifest_in(
            &session,
            &reference.manifest_reference(),
            reference.digest(),
        )
        .await
    }

    async fn fetch_manifest_in(
        &self,
        session: &Session,
        manifest_reference: &str,
        expected: Option<&Digest>,
    ) -> Result<FetchedManifest, RegistryError> {
        let url = session.url(&format!("manifests/{manifest_reference}"));
        let action = format!("fetching manifest {manifest_reference}");
        retry_async(&self.retry, &action, |_| async {
            let response = self
                .send(session, &action, |http| {
                    Ok(http.get(url.clone())?.header(ACCEPT, MANIFEST_ACCEPT))
                })
                .await?;
            let response = self.check(session, &action, response).await?;
            let header_type = response
                .headers()
                .get(CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .map(|v| v.split(';').next().unwrap_or(v).trim().to_owned());
            let bytes = self
                .read_limited(session, &action, response, MAX_MANIFEST_BYTES)
                .await?;
            let digest = Digest::sha256_of(&bytes);
            if let Some(expected) = expected
                && *expected != digest
            {
                return Err(RegistryError::DigestMismatch {
                    registry: session.registry.clone(),
                    repository: session.repository.clone(),
                    what: action.clone(),
                    expected: expected.clone(),
                    actual: digest,
                });
            }
            // The body's own mediaType is authoritative; some registries answer a generic type.
            let body_type = serde_json::from_slice::<serde_json::Value>(&bytes)
                .ok()
                .and_then(|v| v.get("mediaType")?.as_str().map(str::to_owned));
            let media_type = body_type
                .or(header_type)
                .unwrap_or_else(|| media_types::OCI_MANIFEST.to_owned());
            Ok(FetchedManifest {
                media_type,
                bytes,
                digest,
            })
        })
        .await
    }

    /// Resolves `reference` to one image: an index resolves to its entry for `platform`. The
    /// config is read; the layers stay in the registry as [`BlobSource::Remote`].
    pub async fn pull(
        &self,
        reference: &Reference,
        platform: &Platform,
    ) -> Result<Image, RegistryError> {
        let session = self.session(reference.registry(), reference.repository(), false, &[])?;
        let top = self
            .fetch_manifest_in(
                &session,
                &reference.manifest_reference(),
                reference.digest(),
            )
            .await?;
        let manifest = if media_types::is_index(&top.media_type) {
            let index: RawJson<ImageIndex> =
                RawJson::parse(top.bytes, &reference.to_string(), "image index").map_err(
                    |source| RegistryError::Image {
                        reference: reference.to_string(),
                        source,
                    },
                )?;
            let entry = choose_platform(index.value(), platform, reference)?;
            tracing::debug!("{reference}: {platform} is {}", entry);
            self.fetch_manifest_in(&session, &entry.to_string(), Some(&entry))
                .await?
        } else {
            top
        };
        if !media_types::is_manifest(&manifest.media_type) {
            return Err(RegistryError::UnsupportedManifest {
                reference: reference.to_string(),
                media_type: manifest.media_type,
            });
        }
        let parsed: crate::manifest::ImageManifest = serde_json::from_slice(&manifest.bytes)
            .map_err(|e| RegistryError::Protocol {
                what: format!("reading the manifest of {reference}"),
                message: e.to_string(),
            })?;
        let config = self
            .fetch_small_blob(&session, &parsed.config.digest, MAX_CONFIG_BYTES)
            .await?;
        let layers = parsed
            .layers
            .iter()
            .map(|layer| {
                BlobSource::Remote(Arc::new(RegistryBlob {
                    client: self.clone(),
                    registry: reference.registry().to_owned(),
                    repository: reference.repository().to_owned(),
                    digest: layer.digest.clone(),
                }))
            })
            .collect();
        Image::from_raw(&reference.to_string(), manifest.bytes, config, layers).map_err(|source| {
            RegistryError::Image {
                reference: reference.to_string(),
                source,
            }
        })
    }

    /// A small blob (a config), read whole and verified.
    async fn fetch_small_blob(
        &self,
        session: &Session,
        digest: &Digest,
        limit: usize,
    ) -> Result<Vec<u8>, RegistryError> {
        let url = session.url(&format!("blobs/{digest}"));
        let action = format!("fetching blob {digest}");
        retry_async(&self.retry, &action, |_| async {
            let response = self.get_blob(session, &action, &url).await?;
            let response = self.check(session, &action, response).await?;
            let bytes = self.read_limited(session, &action, response, limit).await?;
            let actual = Digest::sha256_of(&bytes);
            if actual != *digest {
                return Err(RegistryError::DigestMismatch {
                    registry: session.registry.clone(),
                    repository: session.repository.clone(),
                    what: action.clone(),
                    expected: digest.clone(),
                    actual,
                });
            }
            Ok(bytes)
        })
        .await
    }

    /// Streams a blob's bytes (following the registry's redirect to storage). The caller verifies
    /// the digest of what it reads.
    pub async fn fetch_blob(
        &self,
        registry: &str,
        repository: &str,
        digest: &Digest,
    ) -> Result<BlobStream, RegistryError> {
        let session = self.session(registry, repository, false, &[])?;
        self.fetch_blob_in(&session, digest).await
    }

    pub(crate) async fn fetch_blob_in(
        &self,
        session: &Session,
        digest: &Digest,
    ) -> Result<BlobStream, RegistryError> {
        let url = session.url(&format!("blobs/{digest}"));
        let action = format!("downloading blob {digest}");
        let response = retry_async(&self.retry, &action, |_| async {
            let response = self.get_blob(session, &action, &url).await?;
            self.check(session, &action, response).await
        })
        .await?;
        let response_url = response.url().clone();
        let session = session.clone();
        Ok(Box::pin(response.bytes_stream().map(move |chunk| {
            chunk.map_err(|e| {
                super::hinted(&session, HttpError::transport(&action, &response_url, e))
            })
        })))
    }

    /// A blob GET. Registries often answer it with a redirect to object storage on another host,
    /// which the HTTP client does not follow itself (the registry's credentials must not go
    /// there): it is followed here with a request of its own, without credentials.
    async fn get_blob(
        &self,
        session: &Session,
        action: &str,
        url: &Url,
    ) -> Result<reqwest::Response, RegistryError> {
        let response = self
            .send(session, action, |http| http.get(url.clone()))
            .await?;
        let location = response
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok());
        let (true, Some(location)) = (response.status().is_redirection(), location) else {
            return Ok(response);
        };
        let storage = response
            .url()
            .join(location)
            .map_err(|e| RegistryError::Protocol {
                what: action.to_owned(),
                message: format!("the registry redirected to an invalid location: {e}"),
            })?;
        tracing::debug!(
            "{action}: following the registry's redirect to {} without credentials",
            display_url(&storage)
        );
        self.shared
            .http
            .get(storage.clone())
            .map_err(|e| self.http_error(session, e))?
            .send()
            .await
            .map_err(|e| self.http_error(session, HttpError::transport(action, &storage, e)))
    }

    async fn read_limited(
        &self,
        session: &Session,
        action: &str,
        mut response: reqwest::Response,
        limit: usize,
    ) -> Result<Vec<u8>, RegistryError> {
        let url = response.url().clone();
        let mut bytes = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| self.http_error(session, HttpError::transport(action, &url, e)))?
        {
            if bytes.len() + chunk.len() > limit {
                return Err(RegistryError::Protocol {
                    what: action.to_owned(),
                    message: format!(
                        "the registry sent more than {limit} bytes, too much for a manifest or config"
                    ),
                });
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok(bytes)
    }
}

/// The digest of the index entry serving `wanted`, or an error listing what the index offers.
fn choose_platform(
    index: &ImageIndex,
    wanted: &Platform,
    reference: &Reference,
) -> Result<Digest, RegistryError> {
    crate::platform::select(index, wanted).map_err(|available| RegistryError::PlatformNotFound {
        reference: reference.to_string(),
        wanted: wanted.to_string(),
        available,
    })
}

/// A layer left in its registry by [`RegistryClient::pull`], read through the client that found it.
struct RegistryBlob {
    client: RegistryClient,
    registry: String,
    repository: String,
    digest: Digest,
}

impl std::fmt::Debug for RegistryBlob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}@{}", self.registry, self.repository, self.digest)
    }
}

impl RemoteBlob for RegistryBlob {
    fn registry(&self) -> &str {
        &self.registry
    }

    fn repository(&self) -> &str {
        &self.repository
    }

    fn digest(&self) -> &Digest {
        &self.digest
    }

    fn open(&self) -> BoxFuture<'_, Result<ByteStream, BlobReadError>> {
        Box::pin(async move {
            let stream = self
                .client
                .fetch_blob(&self.registry, &self.repository, &self.digest)
                .await?;
            Ok(Box::pin(stream.map(|chunk| chunk.map_err(BlobReadError::from))) as ByteStream)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::Descriptor;

    #[test]
    fn platform_choice_and_listing() {
        let entry = |platform: &str, byte: u8| Descriptor {
            platform: Some(platform.parse().unwrap()),
            ..Descriptor::new(media_types::OCI_MANIFEST, Digest::sha256_of(&[byte]), 1)
        };
        let index = ImageIndex {
            schema_version: 2,
            media_type: None,
            manifests: vec![
                entry("linux/arm/v6", 1),
                entry("linux/arm/v7", 2),
                entry("linux/amd64", 3),
            ],
            annotations: Default::default(),
        };
        let reference = Reference::parse("quay.io/a/b:c").unwrap();
        let pick = |p: &str| choose_platform(&index, &p.parse().unwrap(), &reference);
        assert_eq!(pick("linux/amd64").unwrap(), Digest::sha256_of(&[3]));
        assert_eq!(pick("linux/arm/v7").unwrap(), Digest::sha256_of(&[2]));
        assert_eq!(pick("linux/arm").unwrap(), Digest::sha256_of(&[1]));
        let err = pick("linux/s390x").unwrap_err().to_string();
        assert!(
            err.contains("linux/s390x") && err.contains("linux/arm/v6, linux/arm/v7, linux/amd64"),
            "{err}"
        );
    }
}
