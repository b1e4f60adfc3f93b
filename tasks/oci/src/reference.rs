//! Image references (`[host[:port]/]path[:tag][@sha256:…]`) with the distribution grammar and Docker
//! Hub's defaults, and [`ImageLocation`]: where a command line says an image lives (a registry, or an
//! OCI image layout directory `oci:DIR[:TAG]`).

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use crate::digest::Digest;

/// The registry an unqualified name (`ubuntu`, `team/app`) refers to.
pub const DOCKER_HUB: &str = "docker.io";
/// The host that serves Docker Hub's registry API.
pub const DOCKER_HUB_API_HOST: &str = "registry-1.docker.io";
/// The tag of a layout or registry reference that names none.
pub const DEFAULT_TAG: &str = "latest";

const MAX_NAME_LENGTH: usize = 255;
const MAX_TAG_LENGTH: usize = 128;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid image reference {reference:?}: {problem}")]
pub struct InvalidReference {
    pub reference: String,
    pub problem: String,
}

impl InvalidReference {
    /// A reference that cannot be parsed is the caller's to fix.
    pub fn is_usage(&self) -> bool {
        true
    }
}

impl common::UsageFault for InvalidReference {
    fn is_usage(&self) -> bool {
        InvalidReference::is_usage(self)
    }
}

/// A parsed, normalised image reference. `registry` is as users write it (`docker.io`,
/// `quay.io`, `127.0.0.1:5000`); [`Reference::api_host`] is where its API is served.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Reference {
    registry: String,
    repository: String,
    tag: Option<String>,
    digest: Option<Digest>,
}

impl Reference {
    /// Parses `[host[:port]/]path[:tag][@sha256:hex]`. A name without a registry host is on Docker
    /// Hub, and a single-component Docker Hub name is under `library/`.
    pub fn parse(input: &str) -> Result<Self, InvalidReference> {
        let invalid = |problem: String| InvalidReference {
            reference: input.to_owned(),
            problem,
        };
        if input.is_empty() {
            return Err(invalid(
                "it is empty; write e.g. quay.io/team/model:v1".into(),
            ));
        }
        if input.contains("://") {
            return Err(invalid(
                "write the reference without a URL scheme, e.g. quay.io/team/model:v1".into(),
            ));
        }
        let (rest, digest) = match input.split_once('@') {
            Some((rest, digest)) => (rest, Some(parse_digest(digest).map_err(invalid)?)),
            None => (input, None),
        };
        // A tag follows the last ':' unless that ':' belongs to a host's port (then a '/' follows it).
        let (name, tag) = match rest.rsplit_once(':') {
            Some((name, tag)) if !tag.contains('/') => (name, Some(tag)),
            _ => (rest, None),
        };
        if let Some(tag) = tag {
            check_tag(tag).map_err(invalid)?;
        }
        let (registry, path) = split_registry(name);
        if let Some(registry) = registry {
            check_registry(registry).map_err(invalid)?;
        }
        if path.is_empty() {
            return Err(invalid("the repository path is missing".into()));
        }
        for component in path.split('/') {
            check_path_component(component).map_err(invalid)?;
        }
        let registry = match registry {
            None | Some("index.docker.io") | Some(DOCKER_HUB_API_HOST) => DOCKER_HUB.to_owned(),
            Some(host) => host.to_owned(),
        };
        let repository = if registry == DOCKER_HUB && !path.contains('/') {
            format!("library/{path}")
        } else {
            path.to_owned()
        };
        if registry.len() + 1 + repository.len() > MAX_NAME_LENGTH {
            return Err(invalid(format!(
                "the name is longer than {MAX_NAME_LENGTH} characters"
            )));
        }
        Ok(Self {
            registry,
            repository,
            tag: tag.map(str::to_owned),
            digest,
        })
    }

    /// A reference to `repository` on `registry`, without tag or digest; both are validated.
    pub fn new(registry: &str, repository: &str) -> Result<Self, InvalidReference> {
        Self::parse(&format!("{registry}/{repository}"))
    }

    pub fn registry(&self) -> &str {
        &self.registry
    }

    pub fn repository(&self) -> &str {
        &self.repository
    }

    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }

    /// The host (and port) serving the registry API: Docker Hub's differs from its name.
    pub fn api_host(&self) -> &str {
        api_host(&self.registry)
    }

    /// What to ask the registry for: the digest when pinned, else the tag, else `latest`.
    pub fn manifest_reference(&self) -> String {
        match (&self.digest, &self.tag) {
            (Some(digest), _) => digest.to_string(),
            (None, Some(tag)) => tag.clone(),
            (None, None) => DEFAULT_TAG.to_owned(),
        }
    }

    /// The same repository with another tag (and no digest). The tag is validated.
    pub fn with_tag(&self, tag: &str) -> Result<Self, InvalidReference> {
        check_tag(tag).map_err(|problem| InvalidReference {
            reference: format!("{}:{tag}", self.name()),
            problem,
        })?;
        Ok(Self {
            tag: Some(tag.to_owned()),
            digest: None,
            ..self.clone()
        })
    }

    /// The same repository pinned to `digest` (the tag is dropped).
    pub fn with_digest(&self, digest: Digest) -> Self {
        Self {
            tag: None,
            digest: Some(digest),
            ..self.clone()
        }
    }

    /// `registry/repository`, without tag or digest.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

impl FromStr for Reference {
    type Err = InvalidReference;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// The API host of a registry name (`docker.io` is served by `registry-1.docker.io`).
pub fn api_host(registry: &str) -> &str {
    if registry == DOCKER_HUB {
        DOCKER_HUB_API_HOST
    } else {
        registry
    }
}

/// Splits off the registry host: the first component is one when it has a '.' or a ':', is
/// `localhost`, or has upper-case letters (which repository paths never do).
fn split_registry(name: &str) -> (Option<&str>, &str) {
    match name.split_once('/') {
        Some((first, rest))
            if first.contains(['.', ':'])
                || first == "localhost"
                || first.starts_with('[')
                || first.chars().any(|c| c.is_ascii_uppercase()) =>
        {
            (Some(first), rest)
        }
        _ => (None, name),
    }
}

fn parse_digest(digest: &str) -> Result<Digest, String> {
    if !digest.starts_with("sha256:") {
        return Err(format!(
            "digest {digest:?} is not supported: only sha256:<64 hex> digests are"
        ));
    }
    digest.parse().map_err(|_| {
        format!("digest {digest:?} is not sha256: followed by 64 lowercase hex characters")
    })
}

fn check_tag(tag: &str) -> Result<(), String> {
    let mut chars = tag.chars();
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let ok = chars.next().is_some_and(word)
        && chars.all(|c| word(c) || c == '.' || c == '-')
        && tag.len() <= MAX_TAG_LENGTH;
    if ok {
        Ok(())
    } else {
        Err(format!(
            "tag {tag:?} is not valid: a tag is 1 to {MAX_TAG_LENGTH} of A-Z a-z 0-9 _ . - and does not start with . or -"
        ))
    }
}

fn check_registry(host: &str) -> Result<(), String> {
    let problem =
        || format!("registry host {host:?} is not a valid host name, IP address or host:port");
    let (name, port) = if let Some(rest) = host.strip_prefix('[') {
        // An IPv6 literal: [::1]:5000.
        let (address, after) = rest.split_once(']').ok_or_else(problem)?;
        address
            .parse::<std::net::Ipv6Addr>()
            .map_err(|_| problem())?;
        let port = match after {
            "" => None,
            port => Some(port.strip_prefix(':').ok_or_else(problem)?),
        };
        (None, port)
    } else {
        match host.split_once(':') {
            Some((name, port)) => (Some(name), Some(port)),
            None => (Some(host), None),
        }
    };
    if let Some(port) = port
        && (port.is_empty() || port.len() > 5 || !port.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(problem());
    }
    if let Some(name) = name {
        let label_ok = |label: &str| {
            !label.is_empty()
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        };
        if !name.split('.').all(label_ok) {
            return Err(problem());
        }
    }
    Ok(())
}

/// `[a-z0-9]+` runs separated by `.`, `_`, `__` or one or more `-`.
fn check_path_component(component: &str) -> Result<(), String> {
    let problem = |why: &str| {
        Err(format!(
            "repository path component {component:?} {why}; components are lowercase letters and digits, separated by . _ __ or -"
        ))
    };
    if component.is_empty() {
        return problem("is empty (a doubled or trailing '/')");
    }
    if component.chars().any(|c| c.is_ascii_uppercase()) {
        return problem("has upper-case letters");
    }
    let bytes = component.as_bytes();
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if !alnum(bytes[0]) || !alnum(bytes[bytes.len() - 1]) {
        return problem("must start and end with a letter or digit");
    }
    let mut i = 0;
    while i < bytes.len() {
        if alnum(bytes[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && !alnum(bytes[i]) {
            i += 1;
        }
        match &component[start..i] {
            "." | "_" | "__" => {}
            sep if sep.bytes().all(|b| b == b'-') => {}
            sep => return problem(&format!("has the separator {sep:?}")),
        }
    }
    Ok(())
}

/// Where an image is read from or written to, as given on a command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageLocation {
    /// A registry reference (`docker://` prefix accepted).
    Registry(Reference),
    /// An OCI image layout directory and the tag (`org.opencontainers.image.ref.name`) in it.
    Layout { path: PathBuf, tag: String },
}

impl ImageLocation {
    /// `oci:DIR[:TAG]` (TAG defaults to `latest`), `docker://REF`, or a plain registry reference.
    pub fn parse(input: &str) -> Result<Self, InvalidReference> {
        if let Some(rest) = input.strip_prefix("oci:") {
            let (dir, tag) = match rest.rsplit_once(':') {
                Some((dir, tag)) if !tag.contains('/') => (dir, tag),
                _ => (rest, DEFAULT_TAG),
            };
            let invalid = |problem: String| InvalidReference {
                reference: input.to_owned(),
                problem,
            };
            if dir.is_empty() {
                return Err(invalid(
                    "the OCI layout directory is missing; write oci:DIR[:TAG]".into(),
                ));
            }
            check_tag(tag).map_err(invalid)?;
            return Ok(Self::Layout {
                path: PathBuf::from(dir),
                tag: tag.to_owned(),
            });
        }
        let reference = input.strip_prefix("docker://").unwrap_or(input);
        Reference::parse(reference).map(Self::Registry)
    }
}

impl fmt::Display for ImageLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Registry(reference) => reference.fmt(f),
            Self::Layout { path, tag } => write!(f, "oci:{}:{tag}", path.display()),
        }
    }
}

impl FromStr for ImageLocation {
    type Err = InvalidReference;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(r: &str) -> (String, String, Option<String>, Option<String>) {
        let r = Reference::parse(r).unwrap();
        (
            r.registry().to_owned(),
            r.repository().to_owned(),
            r.tag().map(str::to_owned),
            r.digest().map(|d| d.to_string()),
        )
    }

    #[test]
    fn docker_hub_defaults() {
        assert_eq!(
            parts("ubuntu"),
            ("docker.io".into(), "library/ubuntu".into(), None, None)
        );
        assert_eq!(
            parts("team/app:1.0"),
            (
                "docker.io".into(),
                "team/app".into(),
                Some("1.0".into()),
                None
            )
        );
        assert_eq!(
            parts("index.docker.io/busybox").1,
            "library/busybox".to_owned()
        );
        let r = Reference::parse("busybox").unwrap();
        assert_eq!(r.api_host(), "registry-1.docker.io");
        assert_eq!(r.to_string(), "docker.io/library/busybox");
        assert_eq!(r.manifest_reference(), "latest");
    }

    #[test]
    fn hosts_ports_tags_digests() {
        let digest = format!("sha256:{}", "a".repeat(64));
        assert_eq!(
            parts(&format!("127.0.0.1:5000/models/granite:v1@{digest}")),
            (
                "127.0.0.1:5000".into(),
                "models/granite".into(),
                Some("v1".into()),
                Some(digest.clone())
            )
        );
        assert_eq!(parts("localhost/app").0, "localhost");
        assert_eq!(parts("localhost:5000/app").1, "app");
        assert_eq!(parts("quay.io/a/b/c").1, "a/b/c");
        assert_eq!(parts("[::1]:5000/app:x").0, "[::1]:5000");
        let pinned = Reference::parse(&format!("quay.io/a@{digest}")).unwrap();
        assert_eq!(pinned.manifest_reference(), digest);
        assert_eq!(pinned.to_string(), format!("quay.io/a@{digest}"));
        assert_eq!(pinned.with_tag("v2").unwrap().to_string(), "quay.io/a:v2");
        assert_eq!(parts("a/b__c-d--e.f_g").1, "a/b__c-d--e.f_g");
    }

    #[test]
    fn clear_errors() {
        let err = |r: &str| Reference::parse(r).unwrap_err().problem;
        assert!(err("").contains("empty"));
        assert!(err("quay.io/Team/app").contains("upper-case"));
        assert!(err("quay.io/team//app").contains("empty"));
        assert!(err("quay.io/team/app:-bad").contains("tag"));
        assert!(err(&format!("app:{}", "x".repeat(129))).contains("tag"));
        assert!(err("app@sha512:abcd").contains("only sha256"));
        assert!(err("app@sha256:abcd").contains("64"));
        assert!(err("https://quay.io/app").contains("scheme"));
        assert!(err("quay.io/a..b").contains("separator"));
        assert!(err("quay.io/-a").contains("start and end"));
        assert!(err("bad_host.io:x/app").contains("registry host"));
        assert!(err("quay.io:/app").contains("registry host"));
        let long = format!("quay.io/{}", "a".repeat(250));
        assert!(err(&long).contains("longer"));
    }

    #[test]
    fn locations() {
        assert_eq!(
            ImageLocation::parse("oci:/tmp/out").unwrap(),
            ImageLocation::Layout {
                path: "/tmp/out".into(),
                tag: "latest".into()
            }
        );
        assert_eq!(
            ImageLocation::parse("oci:./out:v1").unwrap(),
            ImageLocation::Layout {
                path: "./out".into(),
                tag: "v1".into()
            }
        );
        assert_eq!(
            ImageLocation::parse("oci:/a:b/c").unwrap(),
            ImageLocation::Layout {
                path: "/a:b/c".into(),
                tag: "latest".into()
            }
        );
        assert!(ImageLocation::parse("oci:").is_err());
        assert!(ImageLocation::parse("oci:/x:!").is_err());
        let ImageLocation::Registry(r) = ImageLocation::parse("docker://quay.io/a:b").unwrap()
        else {
            panic!("not a registry location")
        };
        assert_eq!(r.to_string(), "quay.io/a:b");
    }
}
