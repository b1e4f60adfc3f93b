//! The OCI image model, its sources and its sinks, after go-containerregistry:
//!
//! - [`digest`], [`manifest`], [`media_types`], [`platform`]: the data model (descriptors,
//!   manifests, indexes, configs, platforms).
//! - [`reference`]: image references and command-line image locations.
//! - [`blob`]: where a blob's bytes come from, re-readable on demand and never held in memory.
//! - [`image`]: an image (manifest + config + layer sources) and an index of platform images.
//! - [`mutate`]: deriving images: append layers, annotations, labels, entrypoint, created time.
//! - [`auth`]: registry credentials from the auth files users already have.
//! - [`registry`]: pull from and push to a registry (token auth, mounts, parallel streaming uploads).
//! - [`layout`]: read from and write to an OCI image layout directory.
//! - [`location`]: load from / store to either, as a command line names it.
//! - [`tag_check`]: whether a tag still names the image a GitOps config pins by digest.

pub mod auth;
pub mod blob;
pub mod digest;
pub mod image;
pub mod layout;
pub mod location;
pub mod manifest;
pub mod media_types;
pub mod mutate;
pub mod platform;
pub mod reference;
pub mod registry;
pub mod tag_check;

pub use auth::{AuthError, Credential, Keychain};
pub use blob::{
    BlobReadError, BlobSource, ByteStream, FileBlob, InMemoryBlob, LocalBlob, RemoteBlob,
};
pub use digest::{Digest, HashingReader, HashingWriter};
pub use image::{Artifact, Image, ImageError, Index, IndexBuilder, RawJson};
pub use layout::{LayoutError, LayoutReport, OciLayout};
pub use location::{LocationError, Stored, load, store};
pub use manifest::{
    ContainerConfig, Descriptor, History, ImageConfig, ImageIndex, ImageManifest, Platform, RootFs,
};
pub use mutate::{ImageBuilder, Layer, rfc3339_utc};
pub use platform::InvalidPlatform;
pub use reference::{ImageLocation, InvalidReference, Reference};
pub use registry::{PushOptions, PushReport, RegistryClient, RegistryError};
pub use tag_check::{TagCheck, TagMoved, TagPolicy, check_tag, verify_tags};
