//! The registry as a sink. Blobs first, several at once: each is skipped when present, mounted from
//! another repository of the same registry when it lives there, or streamed in one PUT. Only when
//! every blob is confirmed do the manifests go up (an index's images, then the index), and only
//! then the tags: a tag never points at an incomplete image. The top manifest goes up by digest
//! before any tag, so a refusal moves no tag; a tag refused later is reported with the tags that
//! were set and those that were not, and re-running the push sets the rest. Re-pushing uploads
//! nothing.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use common::HttpError;
use common::http::{Activity, display_url, unless_idle};
use common::progress::{Meter, human_bytes};
use common::retry::retry_async;
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use reqwest::StatusCode;
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, LOCATION};

use super::body::{Outcome, counted_body, local_blob_body, lock};
use super::error::BlobChange;
use super::pull::MANIFEST_ACCEPT;
use super::{RegistryClient, RegistryError, Session};
use crate::blob::BlobSource;
use crate::digest::Digest;
use crate::image::Artifact;
use crate::manifest::Descriptor;
use crate::reference::Reference;

const DIGEST_HEADER: &str = "docker-content-digest";

/// How to push.
#[derive(Clone)]
pub struct PushOptions {
    /// Blobs transferred at once (at least 1).
    pub jobs: usize,
    /// Counts bytes as they are uploaded (blobs already in the registry, or mounted, count at
    /// once, and the manifest at the end), so a bar over [`crate::Image::total_size`] ends full.
    pub progress: Option<Meter>,
}

impl Default for PushOptions {
    fn default() -> Self {
        Self {
            jobs: 4,
            progress: None,
        }
    }
}

/// What a push did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushReport {
    /// The pushed manifest's (or index's) digest, as the registry confirmed it.
    pub digest: Digest,
    /// `registry/repository@digest`.
    pub pinned: Reference,
    pub bytes_uploaded: u64,
    pub blobs_skipped: usize,
    pub blobs_mounted: usize,
    pub blobs_uploaded: usize,
    /// Tags now pointing at `digest` that pointed elsewhere (or nowhere) before.
    pub tags_updated: Vec<String>,
    /// Tags that already pointed at `digest`, left as they were.
    pub tags_unchanged: Vec<String>,
}

enum BlobOutcome {
    Present,
    Mounted,
    Uploaded(u64),
}

impl RegistryClient {
    /// Pushes an image or index to `target`'s repository and points `tags` at it (`target`'s own
    /// tag when `tags` is empty; no tag at all when neither is given).
    pub async fn push<'a>(
        &self,
        artifact: impl Into<Artifact<'a>>,
        target: &Reference,
        tags: &[String],
        options: &PushOptions,
    ) -> Result<PushReport, RegistryError> {
        let artifact = artifact.into();
        let mut tag_refs = Vec::new();
        for tag in tags
            .iter()
            .map(String::as_str)
            .chain(target.tag().filter(|_| tags.is_empty()))
        {
            tag_refs.push(target.with_tag(tag)?);
        }
        let blobs = artifact.blobs();
        if let Some(progress) = &options.progress {
            progress.set_total(artifact.total_size());
        }
        let mount_from: Vec<String> = blobs
            .iter()
            .filter_map(|(_, source)| match source {
                BlobSource::Remote(blob) if blob.registry() == target.registry() => {
                    Some(blob.repository().to_owned())
                }
                _ => None,
            })
            .collect();
        let session = self.session(target.registry(), target.repository(), true, &mount_from)?;

        let mut report = PushReport {
            digest: artifact.digest().clone(),
            pinned: target.with_digest(artifact.digest().clone()),
            bytes_uploaded: 0,
            blobs_skipped: 0,
            blobs_mounted: 0,
            blobs_uploaded: 0,
            tags_updated: Vec::new(),
            tags_unchanged: Vec::new(),
        };
        let permits = tokio::sync::Semaphore::new(options.jobs.max(1));
        let mut transfers: FuturesUnordered<_> = blobs
            .iter()
            .map(|(descriptor, source)| {
                let (permits, session) = (&permits, &session);
                async move {
                    let _permit = permits.acquire().await.expect("semaphore never closed");
                    let outcome = self.push_blob(session, descriptor, source, options).await?;
                    Ok::<_, RegistryError>((outcome, descriptor.size))
                }
            })
            .collect();
        // The first failure ends the push: dropping the other transfers cancels them.
        while let Some(outcome) = transfers.next().await {
            let (outcome, size) = outcome?;
            // Blobs already there count as done, so a bar over the image's size ends full.
            if let (Some(progress), BlobOutcome::Present | BlobOutcome::Mounted) =
                (&options.progress, &outcome)
            {
                progress.inc(size);
            }
            match outcome {
                BlobOutcome::Present => report.blobs_skipped += 1,
                BlobOutcome::Mounted => report.blobs_mounted += 1,
                BlobOutcome::Uploaded(bytes) => {
                    report.blobs_uploaded += 1;
                    report.bytes_uploaded += bytes;
                }
            }
        }
        drop(transfers);

        if let Artifact::Index(index) = artifact {
            for image in index.images() {
                let reference = image.digest().to_string();
                self.put_manifest(
                    &session,
                    &reference,
                    &image.descriptor(),
                    image.manifest_bytes(),
                )
                .await?;
            }
        }
        let top = artifact.descriptor();
        let bytes = artifact.manifest_bytes();
        // Where each tag points now, learnt before anything is written: a registry that cannot
        // even be read fails here, with no tag moved.
        let mut pending = Vec::new();
        for tag_ref in &tag_refs {
            let tag = tag_ref.tag().unwrap_or_default().to_owned();
            if self.manifest_digest(&session, &tag).await? == Some(top.digest.clone()) {
                report.tags_unchanged.push(tag);
            } else {
                pending.push(tag);
            }
        }
        // The manifest by digest first: a refusal (permission, validation) stops the push
        // before any tag moves, and the tags that follow only re-point at stored content.
        self.put_manifest(&session, &top.digest.to_string(), &top, bytes)
            .await?;
        for (done, tag) in pending.iter().enumerate() {
            if let Err(source) = self.upload_manifest(&session, tag, &top, bytes).await {
                let mut set = report.tags_unchanged.clone();
                set.extend(pending[..done].iter().cloned());
                return Err(RegistryError::TagsIncomplete(Box::new(
                    super::IncompleteTags {
                        registry: session.registry.clone(),
                        repository: session.repository.clone(),
                        digest: top.digest.clone(),
                        set,
                        not_set: pending[done..].to_vec(),
                        source,
                    },
                )));
            }
            report.tags_updated.push(tag.clone());
        }
        if let Some(progress) = &options.progress {
            progress.inc(artifact.manifest_bytes().len() as u64);
        }
        tracing::info!(
            "pushed {}: {} blobs uploaded ({}), {} mounted, {} already present",
            report.pinned,
            report.blobs_uploaded,
            human_bytes(report.bytes_uploaded),
            report.blobs_mounted,
            report.blobs_skipped
        );
        Ok(report)
    }

    /// Whether the repository already has the blob.
    pub(crate) async fn blob_exists(
        &self,
        session: &Session,
        digest: &Digest,
    ) -> Result<bool, RegistryError> {
        let url = session.url(&format!("blobs/{digest}"));
        let action = format!("checking for blob {digest}");
        let response = self
            .send(session, &action, |http| http.head(url.clone()))
            .await?;
        if response.status() == StatusCode::NOT_FOUND {
            return Ok(false);
        }
        self.check(session, &action, response).await?;
        Ok(true)
    }

    async fn push_blob(
        &self,
        session: &Session,
        descriptor: &Descriptor,
        source: &BlobSource,
        options: &PushOptions,
    ) -> Result<BlobOutcome, RegistryError> {
        let what = format!(
            "pushing blob {} to {}/{}",
            descriptor.digest, session.registry, session.repository
        );
        // A token may expire during a long upload: re-authenticate once, then upload again.
        let reauthenticated = AtomicBool::new(false);
        retry_async(&self.retry, &what, |_| {
            self.push_blob_once(session, descriptor, source, options, &reauthenticated)
        })
        .await
    }

    async fn push_blob_once(
        &self,
        session: &Session,
        descriptor: &Descriptor,
        source: &BlobSource,
        options: &PushOptions,
        reauthenticated: &AtomicBool,
    ) -> Result<BlobOutcome, RegistryError> {
        let digest = &descriptor.digest;
        if self.blob_exists(session, digest).await? {
            return Ok(BlobOutcome::Present);
        }
        let mount = match source {
            BlobSource::Remote(blob)
                if blob.registry() == session.registry
                    && blob.repository() != session.repository =>
            {
                Some(blob.repository())
            }
            _ => None,
        };
        let location = match self.start_upload(session, digest, mount).await? {
            Started::Mounted => return Ok(BlobOutcome::Mounted),
            Started::Session(location) => location,
        };
        let mut url = session.resolve(&location)?;
        url.query_pairs_mut()
            .append_pair("digest", &digest.to_string());

        let progress = options.progress.clone();
        let activity = Arc::new(Activity::default());
        let (body, outcome): (reqwest::Body, Option<Outcome>) = match source {
            BlobSource::Local(blob) => {
                let (body, outcome) =
                    local_blob_body(blob.clone(), descriptor.size, progress, activity.clone());
                (body, Some(outcome))
            }
            BlobSource::Remote(blob) => {
                // Read with this client's session for the source repository: its errors and
                // retries are the registry's own.
                let from = self.session(blob.registry(), blob.repository(), false, &[])?;
                let stream = self.fetch_blob_in(&from, digest).await?;
                (counted_body(stream, progress, activity.clone()), None)
            }
        };
        let action = format!("uploading blob {digest}");
        let sent = self.authorization(session);
        let mut request = self
            .shared
            .upload_http
            .put(url.clone())
            .map_err(|e| self.http_error(session, e))?
            .header(CONTENT_LENGTH, descriptor.size)
            .header(CONTENT_TYPE, "application/octet-stream")
            .body(body);
        // The registry's credentials stay with the registry: an upload location on another host
        // (object storage) gets none.
        if let Some(value) = session.authorization_for(&url, sent.clone()) {
            request = request.header(AUTHORIZATION, value);
        }
        // However long the upload takes, it is abandoned only when no byte moved for the idle time.
        let result = unless_idle(request.send(), &activity, self.shared.idle_timeout).await;
        // A problem reading the local file explains a broken upload better than the upload error.
        if let Some(outcome) = outcome {
            let mut outcome = lock(&outcome);
            if let Some(actual) = outcome.changed_size.take() {
                return Err(RegistryError::LocalBlobChanged {
                    digest: digest.clone(),
                    change: BlobChange::Size {
                        actual,
                        expected: descriptor.size,
                    },
                });
            }
            if let Some(source) = outcome.io_error.take() {
                return Err(RegistryError::LocalBlob {
                    digest: digest.clone(),
                    source,
                });
            }
        }
        let stalled = || {
            self.http_error(
                session,
                HttpError::Stalled {
                    action: action.clone(),
                    url: display_url(&url),
                },
            )
        };
        let response = result
            .ok_or_else(stalled)?
            .map_err(|e| self.http_error(session, HttpError::transport(&action, &url, e)))?;
        if response.status() == StatusCode::UNAUTHORIZED
            && !reauthenticated.swap(true, Ordering::SeqCst)
            && self
                .reauthenticate(session, &response, sent)
                .await?
                .is_some()
        {
            tracing::info!(
                "{}/{}: the registry token expired during an upload; re-authenticated, uploading {digest} again",
                session.registry,
                session.repository
            );
            return Err(RegistryError::AuthExpired {
                registry: session.registry.clone(),
                repository: session.repository.clone(),
            });
        }
        let local = matches!(source, BlobSource::Local(_));
        let response = match unless_idle(
            self.check(session, &action, response),
            &activity,
            self.shared.idle_timeout,
        )
        .await
        .ok_or_else(stalled)?
        {
            Err(e) if local && e.is_digest_rejection() => {
                return Err(RegistryError::LocalBlobChanged {
                    digest: digest.clone(),
                    change: BlobChange::Content,
                });
            }
            other => other?,
        };
        self.check_digest_header(session, &action, &response, digest)?;
        Ok(BlobOutcome::Uploaded(descriptor.size))
    }

    /// Opens an upload session, or mounts the blob from `mount` (another repository of the
    /// same registry) when the registry agrees.
    async fn start_upload(
        &self,
        session: &Session,
        digest: &Digest,
        mount: Option<&str>,
    ) -> Result<Started, RegistryError> {
        let mut url = session.url("blobs/uploads/");
        if let Some(from) = mount {
            url.query_pairs_mut()
                .append_pair("mount", &digest.to_string())
                .append_pair("from", from);
        }
        let action = match mount {
            Some(from) => format!("mounting blob {digest} from {from}"),
            None => format!("starting the upload of blob {digest}"),
        };
        let response = self
            .send(session, &action, |http| {
                Ok(http.post(url.clone())?.header(CONTENT_LENGTH, 0))
            })
            .await?;
        let status = response.status();
        let response = self.check(session, &action, response).await?;
        if status == StatusCode::CREATED && mount.is_some() {
            return Ok(Started::Mounted);
        }
        let location = response
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| RegistryError::Protocol {
                what: format!("{action} in {}/{}", session.registry, session.repository),
                message: format!("the registry answered {status} without a Location header"),
            })?;
        Ok(Started::Session(location.to_owned()))
    }

    /// Puts a manifest under `reference` (a tag or its digest) unless it is already there.
    /// Returns whether anything changed.
    async fn put_manifest(
        &self,
        session: &Session,
        reference: &str,
        descriptor: &Descriptor,
        bytes: &[u8],
    ) -> Result<bool, RegistryError> {
        if self.manifest_digest(session, reference).await? == Some(descriptor.digest.clone()) {
            return Ok(false);
        }
        self.upload_manifest(session, reference, descriptor, bytes)
            .await?;
        Ok(true)
    }

    /// Puts a manifest under `reference` (a tag or its digest), verifying the digest the
    /// registry reports.
    async fn upload_manifest(
        &self,
        session: &Session,
        reference: &str,
        descriptor: &Descriptor,
        bytes: &[u8],
    ) -> Result<(), RegistryError> {
        let url = session.url(&format!("manifests/{reference}"));
        let action = format!("putting manifest {reference}");
        retry_async(&self.retry, &action, |_| async {
            let response = self
                .send(session, &action, |http| {
                    Ok(http
                        .put(url.clone())?
                        .header(CONTENT_TYPE, descriptor.media_type.as_str())
                        .body(bytes.to_vec()))
                })
                .await?;
            let response = self.check(session, &action, response).await?;
            self.check_digest_header(session, &action, &response, &descriptor.digest)
        })
        .await
    }

    /// The digest `reference`'s tag (or digest) names now, `None` when the registry has no such
    /// manifest: a `HEAD`, and a `GET` when the registry answers the `HEAD` without a digest.
    pub async fn resolve(&self, reference: &Reference) -> Result<Option<Digest>, RegistryError> {
        let session = self.session(reference.registry(), reference.repository(), false, &[])?;
        let manifest_reference = reference.manifest_reference();
        match self.manifest_head(&session, &manifest_reference).await? {
            None => Ok(None),
            Some(Some(digest)) => Ok(Some(digest)),
            Some(None) => match self.fetch_manifest(reference).await {
                Ok(fetched) => Ok(Some(fetched.digest)),
                Err(e) if e.status() == Some(404) => Ok(None),
                Err(e) => Err(e),
            },
        }
    }

    /// The digest `reference` (tag or digest) currently names in the session's repository, as its
    /// `HEAD` says (`None`: no such manifest, or a registry that sends no digest header).
    async fn manifest_digest(
        &self,
        session: &Session,
        reference: &str,
    ) -> Result<Option<Digest>, RegistryError> {
        Ok(self.manifest_head(session, reference).await?.flatten())
    }

    /// A manifest `HEAD`: `None` when there is no such manifest, else the digest header if sent.
    async fn manifest_head(
        &self,
        session: &Session,
        reference: &str,
    ) -> Result<Option<Option<Digest>>, RegistryError> {
        let url = session.url(&format!("manifests/{reference}"));
        let action = format!("checking manifest {reference}");
        retry_async(&self.retry, &action, |_| async {
            let response = self
                .send(session, &action, |http| {
                    Ok(http.head(url.clone())?.header(ACCEPT, MANIFEST_ACCEPT))
                })
                .await?;
            if response.status() == StatusCode::NOT_FOUND {
                return Ok(None);
            }
            let response = self.check(session, &action, response).await?;
            Ok(Some(
                response
                    .headers()
                    .get(DIGEST_HEADER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse().ok()),
            ))
        })
        .await
    }

    fn check_digest_header(
        &self,
        session: &Session,
        action: &str,
        response: &reqwest::Response,
        expected: &Digest,
    ) -> Result<(), RegistryError> {
        let Some(header) = response
            .headers()
            .get(DIGEST_HEADER)
            .and_then(|v| v.to_str().ok())
        else {
            return Ok(());
        };
        match header.parse::<Digest>() {
            Ok(actual) if actual == *expected => Ok(()),
            Ok(actual) => Err(RegistryError::DigestMismatch {
                registry: session.registry.clone(),
                repository: session.repository.clone(),
                what: action.to_owned(),
                expected: expected.clone(),
                actual,
            }),
            // Another algorithm: nothing to compare.
            Err(_) => Ok(()),
        }
    }
}

enum Started {
    Mounted,
    Session(String),
}
