//! Where a blob's bytes come from. A blob is described up front (digest, size) and its bytes are
//! produced on demand, as often as a sink needs them, by streaming: never held whole in memory.

use std::fmt::Debug;
use std::io::{self, Read};
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::Stream;
use futures_util::future::BoxFuture;

use crate::digest::Digest;

/// Bytes produced locally, re-readable: a file, or a tar stream generated from files.
/// `open` must yield exactly the bytes that hash to the blob's digest.
pub trait LocalBlob: Send + Sync + Debug {
    fn open(&self) -> io::Result<Box<dyn Read + Send>>;
}

/// Why a remote blob could not be read; the message names the store and what to do.
pub type BlobReadError = Box<dyn std::error::Error + Send + Sync>;

/// A remote blob's bytes as they arrive.
pub type ByteStream = Pin<Box<dyn Stream<Item = Result<Bytes, BlobReadError>> + Send>>;

/// Bytes kept in a registry repository, readable from wherever the image goes: a sink streams
/// them, or, knowing where they live, has its registry mount them.
pub trait RemoteBlob: Send + Sync + Debug {
    /// `host[:port]` of the registry.
    fn registry(&self) -> &str;
    fn repository(&self) -> &str;
    fn digest(&self) -> &Digest;
    /// Streams the bytes. The reader verifies the digest of what it reads.
    fn open(&self) -> BoxFuture<'_, Result<ByteStream, BlobReadError>>;
}

/// Where the bytes of one blob of an image can be had.
#[derive(Debug, Clone)]
pub enum BlobSource {
    /// Produced on this machine (model layers, an OCI layout's blobs, a small in-memory config).
    Local(Arc<dyn LocalBlob>),
    /// Already stored in a registry repository (a base image's layers). A push to the same registry
    /// mounts it across repositories; elsewhere it is streamed from there.
    Remote(Arc<dyn RemoteBlob>),
}

/// A blob kept in memory: only for small JSON (configs, manifests).
#[derive(Debug)]
pub struct InMemoryBlob(pub Vec<u8>);

impl LocalBlob for InMemoryBlob {
    fn open(&self) -> io::Result<Box<dyn Read + Send>> {
        Ok(Box::new(io::Cursor::new(self.0.clone())))
    }
}

/// A blob that is a whole file on disk (e.g. in an OCI layout's `blobs/sha256/`).
#[derive(Debug)]
pub struct FileBlob(pub PathBuf);

impl LocalBlob for FileBlob {
    fn open(&self) -> io::Result<Box<dyn Read + Send>> {
        Ok(Box::new(std::fs::File::open(&self.0)?))
    }
}
