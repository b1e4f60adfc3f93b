//! The OCI image model, its sources and its sinks, after go-containerregistry:
//!
//! - [`digest`], [`manifest`], [`media_types`]: the data model (descriptors, manifests, indexes, configs).
//! - [`blob`]: where a blob's bytes come from, re-readable on demand and never held in memory.

pub mod auth;
pub mod blob;
pub mod digest;
pub mod manifest;
pub mod media_types;
pub mod reference;

pub use auth::{AuthError, Credential, Keychain};
pub use blob::{BlobSource, FileBlob, InMemoryBlob, LocalBlob};
pub use digest::{Digest, HashingReader, HashingWriter};
pub use manifest::{
    ContainerConfig, Descriptor, History, ImageConfig, ImageIndex, ImageManifest, Platform, RootFs,
};
pub use reference::{ImageLocation, InvalidReference, Reference};
