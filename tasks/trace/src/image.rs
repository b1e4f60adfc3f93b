//! The image a config names, in its registry: what its tag resolves to, whether the pinned digest is
//! there, and the provenance labels of the image that runs.

use std::collections::BTreeMap;

use oci::{Digest, Platform, Reference, RegistryClient};

use crate::TraceError;
use crate::report::ImageFacts;

pub const REVISION: &str = "org.opencontainers.image.revision";
pub const SOURCE: &str = "org.opencontainers.image.source";
pub const CREATED: &str = "org.opencontainers.image.created";
const OCI_PREFIX: &str = "org.opencontainers.image.";

/// `registry/repository` without tag or digest, from a reference that may have either.
pub fn repository_of(image: &str) -> Result<Reference, TraceError> {
    let parsed = Reference::parse(image.trim().trim_start_matches("oci://")).map_err(|e| {
        TraceError::InvalidImage {
            what: format!("the image repository {image:?}"),
            detail: e.problem,
        }
    })?;
    Reference::new(parsed.registry(), parsed.repository()).map_err(|e| TraceError::InvalidImage {
        what: format!("the image repository {image:?}"),
        detail: e.problem,
    })
}

/// Resolves `tag` in `repository`, checks for `pinned`, and reads the labels of the pinned image
/// (else of the tag's).
pub async fn inspect(
    client: &RegistryClient,
    repository: &Reference,
    tag: &str,
    pinned: Option<&str>,
    platform: &Platform,
) -> Result<ImageFacts, TraceError> {
    let tagged = repository
        .with_tag(tag)
        .map_err(|e| TraceError::InvalidImage {
            what: format!("version {tag:?} as a tag of {}", repository.name()),
            detail: e.problem,
        })?;
    let pinned = pinned
        .map(|text| {
            text.parse::<Digest>()
                .map_err(|e| TraceError::InvalidImage {
                    what: "image_digest in the config".into(),
                    detail: e.to_string(),
                })
        })
        .transpose()?;
    let mut facts = ImageFacts {
        repository: repository.name(),
        tag: tag.to_owned(),
        pinned_digest: pinned.as_ref().map(ToString::to_string),
        ..ImageFacts::default()
    };
    facts.tag_digest = match client.resolve(&tagged).await {
        Ok(found) => found.map(|digest| digest.to_string()),
        Err(source) => {
            return Err(TraceError::Image {
                action: format!("resolving {tagged}"),
                source: Box::new(source),
            });
        }
    };
    let mut read = None;
    if let Some(digest) = &pinned {
        let reference = repository.with_digest(digest.clone());
        match client.pull(&reference, platform).await {
            Ok(image) => read = Some(image),
            Err(e) if e.status() == Some(404) => {}
            Err(source) => {
                return Err(TraceError::Image {
                    action: format!("reading {reference}"),
                    source: Box::new(source),
                });
            }
        }
        facts.pinned_found = Some(read.is_some());
    }
    if read.is_none() && facts.tag_digest.is_some() {
        read = Some(
            client
                .pull(&tagged, platform)
                .await
                .map_err(|source| TraceError::Image {
                    action: format!("reading {tagged}"),
                    source: Box::new(source),
                })?,
        );
    }
    if let Some(image) = read {
        facts.read_digest = Some(image.digest().to_string());
        facts.labels = oci_labels(&image);
        facts.created = image
            .config()
            .created
            .clone()
            .or_else(|| facts.labels.get(CREATED).cloned());
        facts.revision = facts.labels.get(REVISION).cloned();
        facts.source = facts.labels.get(SOURCE).cloned();
    }
    Ok(facts)
}

/// When the image tagged `tag` was built (`None`: no such tag, or no creation time).
pub async fn created(
    client: &RegistryClient,
    repository: &Reference,
    tag: &str,
    platform: &Platform,
) -> Result<Option<String>, TraceError> {
    let Ok(tagged) = repository.with_tag(tag) else {
        return Ok(None);
    };
    match client.pull(&tagged, platform).await {
        Ok(image) => Ok(image
            .config()
            .created
            .clone()
            .or_else(|| oci_labels(&image).remove(CREATED))),
        Err(e) if e.status() == Some(404) => Ok(None),
        Err(source) => Err(TraceError::Image {
            action: format!("reading {tagged}"),
            source: Box::new(source),
        }),
    }
}

/// The `org.opencontainers.image.*` labels of the config, then the manifest's annotations for
/// keys the labels lack.
fn oci_labels(image: &oci::Image) -> BTreeMap<String, String> {
    let mut labels: BTreeMap<String, String> = image
        .config()
        .config
        .as_ref()
        .and_then(|c| c.labels.clone())
        .unwrap_or_default()
        .into_iter()
        .filter(|(k, _)| k.starts_with(OCI_PREFIX))
        .collect();
    for (key, value) in &image.manifest().annotations {
        if key.starts_with(OCI_PREFIX) {
            labels.entry(key.clone()).or_insert_with(|| value.clone());
        }
    }
    labels
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repositories_drop_tag_and_digest() {
        let digest = format!("sha256:{}", "ab".repeat(32));
        for given in [
            "127.0.0.1:5000/team/jukebox".to_owned(),
            "127.0.0.1:5000/team/jukebox:v1".to_owned(),
            format!("oci://127.0.0.1:5000/team/jukebox:v1@{digest}"),
        ] {
            assert_eq!(
                repository_of(&given).unwrap().to_string(),
                "127.0.0.1:5000/team/jukebox"
            );
        }
        let error = repository_of("Quay.io/Team/JUKEBOX").unwrap_err();
        assert!(error.is_usage(), "{error}");
    }
}
