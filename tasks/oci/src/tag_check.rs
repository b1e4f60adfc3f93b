//! Whether a tag still names the image a GitOps config pins by digest.
//!
//! The pipeline writes both into Git: the tag (the version, for people) and the digest (what the
//! cluster pulls). A tag can be pushed again later, to another image; the digest in Git then no
//! longer is what the tag shows people. [`check_tag`] asks the registry what the tag names now
//! (a manifest `HEAD`, with the client's credentials) and compares: a different digest is a
//! [`TagMoved`] error for the caller to report; a check that cannot be made (the registry cannot be
//! reached or refuses the read, the tag is gone) is [`TagCheck::Unchecked`] with the reason, as the
//! digest in Git stays what runs either way.

use crate::digest::Digest;
use crate::reference::Reference;
use crate::registry::RegistryClient;

/// What the registry said about a tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TagCheck {
    /// The tag names the pinned digest.
    Same,
    /// The tag could not be resolved; the reason, for a warning.
    Unchecked(String),
}

/// The tag names another image than the digest pinned in Git.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{repository}:{tag} now resolves to {now}, but the digest in Git is {pinned}: the tag was pushed \
     again after the build. The cluster pulls {pinned}; find out which image is meant, then re-run the \
     release for the image now under the tag, or push {repository}@{pinned} under the tag again \
     (to only warn about this, set the tag check to warn)"
)]
pub struct TagMoved {
    /// `registry/repository`.
    pub repository: String,
    pub tag: String,
    /// The digest in Git.
    pub pinned: Digest,
    /// The digest the tag names now.
    pub now: Digest,
}

impl TagMoved {
    /// A moved tag is the registry's state, not how the command was called.
    pub fn is_usage(&self) -> bool {
        false
    }
}

impl common::UsageFault for TagMoved {
    fn is_usage(&self) -> bool {
        TagMoved::is_usage(self)
    }
}

/// What to do when a tag names another image than the digest in Git.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TagPolicy {
    /// Stop with [`TagMoved`] (the default).
    #[default]
    Fail,
    /// Log a warning and go on with the digest in Git.
    Warn,
    /// Do not ask the registry.
    Off,
}

impl std::str::FromStr for TagPolicy {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.trim().to_ascii_lowercase().as_str() {
            "fail" => Ok(Self::Fail),
            "warn" => Ok(Self::Warn),
            "off" => Ok(Self::Off),
            other => Err(format!(
                "{other:?} is not a tag check; use fail, warn or off"
            )),
        }
    }
}

/// Checks each image's tag against the digest pinned for it, as `policy` says: every check is
/// logged (a match at info, anything else as a warning), and under [`TagPolicy::Fail`] the first tag
/// that moved is the error. Nothing is asked under [`TagPolicy::Off`].
pub async fn verify_tags(
    client: &RegistryClient,
    images: &[(Reference, Digest)],
    policy: TagPolicy,
) -> Result<(), TagMoved> {
    if policy == TagPolicy::Off {
        return Ok(());
    }
    for (image, pinned) in images {
        match check_tag(client, image, pinned).await {
            Ok(TagCheck::Same) => tracing::info!(
                "{}:{} names {pinned}, the digest in Git",
                image.name(),
                image.tag().unwrap_or_default()
            ),
            Ok(TagCheck::Unchecked(why)) => tracing::warn!(
                "could not check that {}:{} still names {pinned}, the digest in Git: {why}",
                image.name(),
                image.tag().unwrap_or_default()
            ),
            Err(moved) if policy == TagPolicy::Warn => tracing::warn!("{moved}"),
            Err(moved) => return Err(moved),
        }
    }
    Ok(())
}

/// Resolves `image`'s tag and compares it with `pinned`. `image` must carry a tag (its digest, if
/// any, is ignored: `pinned` is the one compared).
pub async fn check_tag(
    client: &RegistryClient,
    image: &Reference,
    pinned: &Digest,
) -> Result<TagCheck, TagMoved> {
    let Some(tag) = image.tag() else {
        return Ok(TagCheck::Unchecked(format!(
            "{image} names no tag to compare with"
        )));
    };
    let tagged = match image.with_tag(tag) {
        Ok(tagged) => tagged,
        Err(e) => return Ok(TagCheck::Unchecked(e.to_string())),
    };
    match client.resolve(&tagged).await {
        Ok(Some(now)) if now == *pinned => Ok(TagCheck::Same),
        Ok(Some(now)) => Err(TagMoved {
            repository: image.name(),
            tag: tag.to_owned(),
            pinned: pinned.clone(),
            now,
        }),
        Ok(None) => Ok(TagCheck::Unchecked(format!(
            "the registry has no tag {tag} in {} (any more)",
            image.name()
        ))),
        Err(e) => Ok(TagCheck::Unchecked(e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_parse() {
        assert_eq!("fail".parse::<TagPolicy>(), Ok(TagPolicy::Fail));
        assert_eq!(" Warn".parse::<TagPolicy>(), Ok(TagPolicy::Warn));
        assert_eq!("off".parse::<TagPolicy>(), Ok(TagPolicy::Off));
        assert!(
            "maybe"
                .parse::<TagPolicy>()
                .unwrap_err()
                .contains("fail, warn or off")
        );
    }

    #[test]
    fn the_error_names_tag_digests_and_what_to_do() {
        let pinned: Digest = format!("sha256:{}", "a".repeat(64)).parse().unwrap();
        let now: Digest = format!("sha256:{}", "b".repeat(64)).parse().unwrap();
        let message = TagMoved {
            repository: "quay.io/user1/jukebox".into(),
            tag: "v2".into(),
            pinned: pinned.clone(),
            now: now.clone(),
        }
        .to_string();
        for needle in [
            "quay.io/user1/jukebox:v2 now resolves to",
            &now.to_string(),
            &format!("the digest in Git is {pinned}"),
            "re-run the release",
            "warn",
        ] {
            assert!(
                message.contains(needle),
                "{needle:?} missing from {message}"
            );
        }
    }
}
