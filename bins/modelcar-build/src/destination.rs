//! Where the base comes from and where the ModelCar goes: a registry repository with tags, and/or
//! an OCI image layout directory.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use common::progress::{Display, Meter};
use common::{UsageError, fault, fault_with};
use modelcar::BaseImage;
use oci::layout::OciLayout;
use oci::registry::{PushOptions, RegistryClient};
use oci::{Artifact, ImageLocation, Keychain, Platform, Reference, RegistryError};

use crate::cli::Cli;

/// The flags that give this tool's registry credentials.
pub const CREDENTIAL_FLAGS: &str = "--authfile or REGISTRY_AUTH_FILE, --docker-config";

/// This tool's flags for what a registry error blames, `image_flag` being the one that names the
/// image (`--image` or `--base`).
fn registry_flags(error: &RegistryError, image_flag: &'static str) -> Option<&'static str> {
    if error.is_credentials() {
        return Some(CREDENTIAL_FLAGS);
    }
    match error {
        RegistryError::PlatformNotFound { .. } => Some("--platform, or another --base"),
        RegistryError::InvalidReference(_) => Some(image_flag),
        _ => None,
    }
}

/// Where the image goes, validated before any work is done.
#[derive(Debug)]
pub struct Destinations {
    /// The repository and its tags, the first tag being the one reported in IMAGE_URL.
    pub registry: Option<(Reference, Vec<String>)>,
    pub layout: Option<(PathBuf, String)>,
    /// Blobs uploaded at once.
    pub push_jobs: usize,
}

/// What the results report.
#[derive(Debug)]
pub struct Delivered {
    pub image_url: String,
    pub storage_uri: Option<String>,
}

impl Destinations {
    pub fn from_cli(cli: &Cli) -> Result<Self> {
        let mut tags: Vec<String> = Vec::new();
        fn add_tag(tags: &mut Vec<String>, tag: &str) {
            let tag = tag.trim();
            if !tag.is_empty() && !tags.iter().any(|t| t == tag) {
                tags.push(tag.to_owned());
            }
        }
        let registry = match cli
            .image
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            None => None,
            Some(image) => {
                let reference = Reference::parse(image).map_err(|e| {
                    UsageError(format!(
                        "--image: {e}; give the destination repository as REGISTRY/REPO, e.g. quay.io/team/jukebox"
                    ))
                })?;
                if reference.digest().is_some() {
                    bail!(UsageError(format!(
                        "--image {image}: a destination cannot name a digest; give REGISTRY/REPO and tags with --tag"
                    )));
                }
                if let Some(tag) = reference.tag() {
                    add_tag(&mut tags, tag);
                }
                Some(reference)
            }
        };
        for tag in &cli.tags {
            add_tag(&mut tags, tag);
        }
        if tags.is_empty()
            && let Some(revision) = &cli.source_commit
        {
            add_tag(&mut tags, revision);
        }
        let registry = match registry {
            None => None,
            Some(reference) => {
                if tags.is_empty() {
                    bail!(UsageError(
                        "no tag to push: give --tag (the source commit first) or --source-commit"
                            .into()
                    ));
                }
                for tag in &tags {
                    reference.with_tag(tag).map_err(|e| {
                        UsageError(format!(
                            "--tag {tag:?}: {}; a tag is up to 128 letters, digits, '_', '.' and '-', not starting with '.' or '-'",
                            e.problem
                        ))
                    })?;
                }
                Some((reference, tags.clone()))
            }
        };
        let layout = match cli.oci_layout.as_deref() {
            None => None,
            Some(arg) => {
                let (path, tag) = parse_layout_arg(arg, tags.first().map(String::as_str))?;
                Some((path, tag))
            }
        };
        if registry.is_none() && layout.is_none() {
            bail!(UsageError(
                "nowhere to put the image: give --image REGISTRY/REPO to push, --oci-layout DIR[:TAG] to write an OCI layout, or both".into()
            ));
        }
        Ok(Self {
            registry,
            layout,
            push_jobs: 4,
        })
    }

    /// Writes the layout first (local, cannot leave a partial remote state), then pushes.
    pub async fn deliver(
        &self,
        artifact: Artifact<'_>,
        client: &RegistryClient,
    ) -> Result<Delivered> {
        let mut delivered = None;
        if let Some((path, tag)) = &self.layout {
            let layout = OciLayout::create(path).map_err(|e| {
                fault(e).context(format!("creating the OCI layout {}", path.display()))
            })?;
            let report = layout.write(artifact, tag).await.map_err(|e| {
                fault(e).context(format!(
                    "writing the image to the OCI layout {}",
                    path.display()
                ))
            })?;
            tracing::info!(
                "OCI layout {}: {} blobs written ({} bytes), {} already present",
                path.display(),
                report.blobs_written,
                report.bytes_written,
                report.blobs_skipped
            );
            tracing::info!(
                "wrote {} to oci:{}:{tag}",
                artifact.digest(),
                path.display()
            );
            delivered = Some(Delivered {
                image_url: format!("oci:{}:{tag}", path.display()),
                storage_uri: None,
            });
        }
        if let Some((repository, tags)) = &self.registry {
            let name = repository.name();
            let meter = Meter::default();
            let display = Display::show("pushing", &meter);
            let options = PushOptions {
                jobs: self.push_jobs,
                progress: Some(meter),
            };
            let report = client
                .push(artifact, repository, tags, &options)
                .await
                .map_err(|e| {
                    fault_with(e, |e| registry_flags(e, "--image"))
                        .context(format!("pushing the ModelCar to {name}"))
                })?;
            display.finish();
            tracing::info!(
                "{name}: uploaded {} bytes in {} blobs; {} blobs mounted, {} already there",
                report.bytes_uploaded,
                report.blobs_uploaded,
                report.blobs_mounted,
                report.blobs_skipped
            );
            if !report.tags_updated.is_empty() {
                tracing::info!("tagged {}: {}", name, report.tags_updated.join(", "));
            }
            if !report.tags_unchanged.is_empty() {
                tracing::info!(
                    "tags already pointing at {}: {}",
                    report.digest,
                    report.tags_unchanged.join(", ")
                );
            }
            delivered = Some(Delivered {
                image_url: format!("{name}:{}", tags[0]),
                storage_uri: Some(format!("oci://{name}@{}", artifact.digest())),
            });
        }
        delivered.context("no destination")
    }
}

/// `DIR[:TAG]`; the tag defaults to the first image tag, else `latest`.
fn parse_layout_arg(arg: &str, default_tag: Option<&str>) -> Result<(PathBuf, String)> {
    let with_prefix = format!("oci:{arg}");
    let explicit_tag = arg
        .rsplit_once(':')
        .is_some_and(|(dir, tag)| !dir.is_empty() && !tag.contains('/'));
    match ImageLocation::parse(&with_prefix) {
        Ok(ImageLocation::Layout { path, tag }) => {
            let tag = match (explicit_tag, default_tag) {
                (false, Some(default)) => default.to_owned(),
                _ => tag,
            };
            Ok((path, tag))
        }
        Ok(ImageLocation::Registry(_)) | Err(_) => Err(UsageError(format!(
            "--oci-layout {arg:?}: write DIR[:TAG], e.g. out/jukebox:v1"
        ))
        .into()),
    }
}

/// The base image as given: `scratch`, an OCI layout, or a registry reference.
#[derive(Debug)]
pub enum Base {
    Scratch,
    Layout { path: PathBuf, tag: String },
    Registry(Reference),
}

impl Base {
    pub fn parse(arg: &str) -> Result<Self> {
        if arg.trim() == "scratch" {
            return Ok(Self::Scratch);
        }
        match ImageLocation::parse(arg.trim()) {
            Ok(ImageLocation::Layout { path, tag }) => Ok(Self::Layout { path, tag }),
            Ok(ImageLocation::Registry(reference)) => Ok(Self::Registry(reference)),
            Err(e) => Err(UsageError(format!(
                "--base: {e}; give a registry reference, oci:DIR[:TAG] or scratch"
            ))
            .into()),
        }
    }

    pub async fn resolve(
        &self,
        arg: &str,
        platform: &Platform,
        strict: bool,
        client: &RegistryClient,
    ) -> Result<BaseImage> {
        let base = self.resolve_image(arg, platform, client).await?;
        // Among several platforms, a base of another platform would build a mislabelled image.
        if strict && !platform.matches(&base.platform) {
            bail!(UsageError(format!(
                "the base image {} is a single image for {}, not an index with an image for {platform}; give a multi-platform base, or build each platform from its own base",
                base.name, base.platform
            )));
        }
        if !platform.matches(&base.platform) {
            tracing::warn!(
                "the base image {} is for {}, not the requested {platform}; the ModelCar will be {} too",
                base.name,
                base.platform,
                base.platform
            );
        }
        Ok(base)
    }

    async fn resolve_image(
        &self,
        arg: &str,
        platform: &Platform,
        client: &RegistryClient,
    ) -> Result<BaseImage> {
        match self {
            Self::Scratch => Ok(BaseImage::scratch(platform.clone())),
            Self::Layout { path, tag } => {
                let image = OciLayout::open(path)
                    .and_then(|layout| layout.read_image(tag, platform))
                    .map_err(|e| {
                        fault_with(e, |_| Some("--base, --platform"))
                            .context(format!("reading the base image {arg}"))
                    })?;
                Ok(BaseImage::from_image(arg, image))
            }
            Self::Registry(reference) => {
                let image = client.pull(reference, platform).await.map_err(|e| {
                    fault_with(e, |e| registry_flags(e, "--base"))
                        .context(format!("reading the base image {reference}"))
                })?;
                Ok(BaseImage::from_image(reference.to_string(), image))
            }
        }
    }
}

pub fn registry_client(common: &common::CommonArgs, keychain: Keychain) -> Result<RegistryClient> {
    RegistryClient::new(common.http_options(), keychain).context("setting up the registry client")
}
