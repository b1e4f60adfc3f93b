//! Where a blob's bytes come from. A blob is described up front (digest, size) and its bytes are
//! produced on demand, as often as a sink needs them, by streaming: never held whole in memory.

use std::fmt::Debug;
use std::io::{self, Read};
use std::path::PathBuf;
use std::sync::Arc;

use crate::digest::Digest;

/// Bytes produced locally, re-readable: a file, or a tar stream generated from files.
/// `open` must yield exactly the bytes that hash to the blob's digest.
pub trait LocalBlob: Send + Sync + Debug {
    fn open(&self) -> io::Result<Box<dyn Read + Send>>;
}

/// Where the bytes of one blob of an image can be had.
#[derive(Debug, Clone)]
pub enum BlobSource {
    /// Produced on this machine (model layers, an OCI layout's blobs, a small in-memory config).
    Local(Arc<dyn LocalBlob>),
    /// Already stored in a registry repository (a base image's layers). A push to the same registry
    /// mounts it across repositories; elsewhere it is streamed from there.
    Remote {
        /// `host[:port]` of the registry.
        registry: String,
        repository: String,
        digest: Digest,
    },
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
