//! Registry errors that say what was being done, to which registry and repository, and what to try.

use common::retry::{Transient, Verdict};
use common::{HttpError, progress::human_bytes};

use crate::digest::Digest;
use crate::image::ImageError;

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// An HTTP exchange failed; `hint` says what to try.
    #[error("{registry}/{repository}: {source}{}", hint_suffix(hint))]
    Http {
        registry: String,
        repository: String,
        hint: String,
        #[source]
        source: Box<HttpError>,
    },
    #[error(
        "{registry}/{repository}: {what}: the registry sent content with digest {actual}, expected {expected}; the registry or a proxy altered it"
    )]
    DigestMismatch {
        registry: String,
        repository: String,
        what: String,
        expected: Digest,
        actual: Digest,
    },
    #[error(
        "{reference}: no image for platform {wanted}; the index offers {}; choose one of those platforms",
        if available.is_empty() { "no platform-specific images".to_owned() } else { available.join(", ") }
    )]
    PlatformNotFound {
        reference: String,
        wanted: String,
        available: Vec<String>,
    },
    #[error(
        "{reference}: the manifest has media type {media_type:?}, which is not an OCI or Docker v2 image or index; re-push the image with a current tool"
    )]
    UnsupportedManifest {
        reference: String,
        media_type: String,
    },
    #[error("{reference}: {source}")]
    Image {
        reference: String,
        #[source]
        source: ImageError,
    },
    #[error(
        "{registry}/{repository}: the registry's token expired during an upload and a fresh one was refused"
    )]
    AuthExpired {
        registry: String,
        repository: String,
    },
    #[error(transparent)]
    InvalidReference(#[from] crate::reference::InvalidReference),
    #[error("{what}: {message}")]
    Protocol { what: String, message: String },
    #[error(
        "reading the local blob {digest} for upload: {source}; check the file is still there and readable"
    )]
    LocalBlob {
        digest: Digest,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "the local blob {digest} changed while it was uploaded ({change}); do not modify the model directory during a build"
    )]
    LocalBlobChanged { digest: Digest, change: BlobChange },
    /// The image is pushed but only some of the tags point at it.
    #[error(transparent)]
    TagsIncomplete(Box<IncompleteTags>),
    #[error("{registry}/{repository}: {source}")]
    Auth {
        registry: String,
        repository: String,
        #[source]
        source: Box<crate::auth::AuthError>,
    },
    #[error(
        "{registry}/{repository}: the registry asks for authentication this client cannot answer ({challenge}); use a registry with Basic or Bearer token auth"
    )]
    UnsupportedChallenge {
        registry: String,
        repository: String,
        challenge: String,
    },
}

/// A push that stored the image but was refused a tag: which tags were set and which not.
#[derive(Debug, thiserror::Error)]
#[error(
    "{registry}/{repository}: {digest} is pushed, but setting tag {} failed: {source}; tags set: {}; tags not set: {}; fix the cause and re-run the same push to set the rest",
    not_set[0], list(set), list(not_set)
)]
pub struct IncompleteTags {
    pub registry: String,
    pub repository: String,
    pub digest: Digest,
    /// Tags pointing at `digest` now (already there, or set by this push).
    pub set: Vec<String>,
    /// Tags left as they were, the first being the one refused.
    pub not_set: Vec<String>,
    #[source]
    pub source: RegistryError,
}

fn list(tags: &[String]) -> String {
    if tags.is_empty() {
        "none".to_owned()
    } else {
        tags.join(", ")
    }
}

fn hint_suffix(hint: &str) -> String {
    if hint.is_empty() {
        String::new()
    } else {
        format!("; {hint}")
    }
}

impl RegistryError {
    /// The registry refused an upload because the bytes did not hash to the digest it named
    /// (`DIGEST_INVALID` in the distribution spec).
    pub(crate) fn is_digest_rejection(&self) -> bool {
        matches!(self, Self::Http { source, .. } if matches!(
            source.as_ref(),
            HttpError::Status { status: 400, message, .. } if message.contains("DIGEST_INVALID")
        ))
    }

    /// Whether the fix is in how the command was called: a malformed reference, credentials that
    /// cannot be read, a request refused before sending. What the registry holds or answers (a
    /// platform an index lacks, a refusal, a moved tag) is not.
    pub fn is_usage(&self) -> bool {
        match self {
            Self::Http { source, .. } => source.is_usage(),
            Self::Auth { source, .. } => source.is_usage(),
            Self::InvalidReference(_) => true,
            Self::TagsIncomplete(incomplete) => incomplete.source.is_usage(),
            _ => false,
        }
    }

    /// Whether the registry refused the credentials, or found none (401, 403, or an auth file
    /// that cannot be used).
    pub fn is_credentials(&self) -> bool {
        matches!(self.status(), Some(401 | 403))
            || matches!(self, Self::Auth { .. } | Self::AuthExpired { .. })
    }

    /// The HTTP status behind this error, if any.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Http { source, .. } => source.status(),
            Self::TagsIncomplete(incomplete) => incomplete.source.status(),
            _ => None,
        }
    }
}

impl common::UsageFault for RegistryError {
    fn is_usage(&self) -> bool {
        RegistryError::is_usage(self)
    }
}

impl Transient for RegistryError {
    fn verdict(&self) -> Verdict {
        match self {
            Self::Http { source, .. } => source.verdict(),
            // A proxy or a flaky disk may have corrupted one transfer; a new one may succeed.
            Self::DigestMismatch { .. } => Verdict::Transient { after: None },
            // Re-authenticated already: upload again at once.
            Self::AuthExpired { .. } => Verdict::Transient {
                after: Some(std::time::Duration::ZERO),
            },
            _ => Verdict::Permanent,
        }
    }
}

/// What to try for an HTTP failure against `registry`/`repository`.
pub(crate) fn hint_for(
    error: &HttpError,
    registry: &str,
    repository: &str,
    has_credential: bool,
    pushing: bool,
) -> String {
    match error {
        HttpError::Status { status: 401, .. } if has_credential => format!(
            "the registry rejected the credentials for {registry}; check them in the registry auth file (podman's auth.json, ~/.docker/config.json or the dockerconfig workspace)"
        ),
        HttpError::Status { status: 401, .. } => format!(
            "the registry requires credentials and none were found for {registry}/{repository}; add them to a registry auth file (podman login / docker login, or the dockerconfig workspace)"
        ),
        HttpError::Status { status: 403, .. } if pushing => format!(
            "the credentials are valid but lack permission to push to {repository}; ask for write access to it"
        ),
        HttpError::Status { status: 403, .. } => format!(
            "the credentials lack permission to read {repository}; ask for read access to it"
        ),
        HttpError::Status { status: 404, .. } if pushing => format!(
            "{repository} does not exist on {registry}; create the repository first if this registry does not create it on push"
        ),
        HttpError::Status { status: 404, .. } => format!(
            "{registry} has no such repository or tag; check the reference"
        ),
        HttpError::Status { status: 413, .. } => {
            "the registry (or a proxy in front of it) refuses a request this large; raise its body-size limit".to_owned()
        }
        HttpError::Status { status: 429, .. } => {
            "the registry rate-limits this client; wait and retry, or log in for a higher limit".to_owned()
        }
        HttpError::Status { status, .. } if *status >= 500 => {
            format!("{registry} failed; retry later or check its logs")
        }
        // The transport settings are the flags every tool shares: common words them.
        HttpError::Transport { source, .. } if mentions_certificate(source) => {
            common::http::untrusted_certificate_hint(registry)
        }
        HttpError::Transport { source, .. } if source.is_connect() => {
            common::http::unreachable_hint("the registry", registry)
        }
        HttpError::Transport { source, .. } if source.is_timeout() => {
            format!("{registry} did not answer in time; check the network and retry")
        }
        _ => String::new(),
    }
}

/// Whether a transport error comes from certificate verification (the cause chain says so).
fn mentions_certificate(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut current = Some(error);
    while let Some(error) = current {
        if error
            .to_string()
            .to_ascii_lowercase()
            .contains("certificate")
        {
            return true;
        }
        current = error.source();
    }
    false
}

/// How a local blob was found to differ from what was planned.
#[derive(Debug)]
pub enum BlobChange {
    Size {
        actual: u64,
        expected: u64,
    },
    /// Same length, other bytes: the registry computed another digest.
    Content,
}

impl std::fmt::Display for BlobChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Size { actual, expected } => write!(
                f,
                "{} read instead of {}",
                human_bytes(*actual),
                human_bytes(*expected)
            ),
            Self::Content => {
                f.write_str("the registry computed another digest from the bytes read")
            }
        }
    }
}
