//! Platforms as users write them (`linux/amd64`, `linux/arm64/v8`) and how an index entry is chosen.

use std::fmt;
use std::str::FromStr;

use crate::digest::Digest;
use crate::manifest::{ImageIndex, Platform};
use crate::media_types;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid platform {0:?}: write OS/ARCH[/VARIANT], e.g. linux/amd64 or linux/arm64/v8")]
pub struct InvalidPlatform(pub String);

impl InvalidPlatform {
    /// A platform that cannot be parsed is the caller's to fix.
    pub fn is_usage(&self) -> bool {
        true
    }
}

impl common::UsageFault for InvalidPlatform {
    fn is_usage(&self) -> bool {
        InvalidPlatform::is_usage(self)
    }
}

impl Platform {
    pub fn new(os: &str, architecture: &str, variant: Option<&str>) -> Self {
        Self {
            architecture: architecture.to_owned(),
            os: os.to_owned(),
            variant: variant.map(str::to_owned),
            os_version: None,
        }
    }

    /// `linux/amd64`, the platform a model server usually runs on.
    pub fn linux_amd64() -> Self {
        Self::new("linux", "amd64", None)
    }

    /// Whether an index entry for `candidate` serves this wanted platform. A wanted platform
    /// without a variant accepts any variant; `arm64` means `arm64/v8` when no variant is given.
    pub fn matches(&self, candidate: &Platform) -> bool {
        if self.os != candidate.os || self.architecture != candidate.architecture {
            return false;
        }
        match (&self.variant, &candidate.variant) {
            (None, _) => true,
            (Some(wanted), Some(have)) => wanted == have,
            (Some(wanted), None) => self.architecture == "arm64" && wanted == "v8",
        }
    }
}

/// The digest of the index entry for `wanted` (an exact variant beats any variant), or the
/// platforms the index offers.
pub fn select(index: &ImageIndex, wanted: &Platform) -> Result<Digest, Vec<String>> {
    let candidates = || {
        index
            .manifests
            .iter()
            .filter(|d| media_types::is_manifest(&d.media_type))
            .filter_map(|d| Some((d, d.platform.as_ref()?)))
    };
    candidates()
        .find(|(_, p)| wanted.matches(p) && p.variant == wanted.variant)
        .or_else(|| candidates().find(|(_, p)| wanted.matches(p)))
        .map(|(d, _)| d.digest.clone())
        .ok_or_else(|| candidates().map(|(_, p)| p.to_string()).collect())
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(variant) = &self.variant {
            write!(f, "/{variant}")?;
        }
        Ok(())
    }
}

impl FromStr for Platform {
    type Err = InvalidPlatform;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let parts: Vec<&str> = s.split('/').collect();
        let ok =
            |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        match parts[..] {
            [os, arch] if ok(os) && ok(arch) => Ok(Self::new(os, arch, None)),
            [os, arch, variant] if ok(os) && ok(arch) && ok(variant) => {
                Ok(Self::new(os, arch, Some(variant)))
            }
            _ => Err(InvalidPlatform(s.to_owned())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_display_match() {
        let p: Platform = "linux/arm64/v8".parse().unwrap();
        assert_eq!(p.to_string(), "linux/arm64/v8");
        assert!(p.matches(&Platform::new("linux", "arm64", None)));
        assert!(p.matches(&Platform::new("linux", "arm64", Some("v8"))));
        let arm: Platform = "linux/arm".parse().unwrap();
        assert!(arm.matches(&Platform::new("linux", "arm", Some("v7"))));
        let v6: Platform = "linux/arm/v6".parse().unwrap();
        assert!(!v6.matches(&Platform::new("linux", "arm", Some("v7"))));
        assert!(!Platform::linux_amd64().matches(&Platform::new("windows", "amd64", None)));
        assert!("linux".parse::<Platform>().is_err());
        assert!("linux//x".parse::<Platform>().is_err());
    }
}
