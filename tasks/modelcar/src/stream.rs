//! A layer's tar stream, generated on the fly while it is read: headers, file contents streamed
//! from disk, padding and end blocks. No temporary copy of the model, never a whole file in memory.
//! Compressed layers wrap the same stream in a gzip or zstd encoder.

use std::fs::File;
use std::io::{self, Read};
use std::path::PathBuf;
use std::sync::Arc;

use oci::LocalBlob;

use crate::plan::{LayerEntry, PlannedLayer};
use crate::scan::EntryKind;
use crate::tar;

/// How a layer's tar stream is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compression {
    /// `application/vnd.oci.image.layer.v1.tar`: weights do not compress, and KServe's
    /// `oci+fetch` mode does not take zstd.
    #[default]
    None,
    Gzip,
    Zstd,
}

impl Compression {
    pub fn media_type(self) -> &'static str {
        match self {
            Self::None => oci::media_types::OCI_LAYER_TAR,
            Self::Gzip => oci::media_types::OCI_LAYER_GZIP,
            Self::Zstd => oci::media_types::OCI_LAYER_ZSTD,
        }
    }
}

/// Fixed levels: the compressed bytes (and so the digest) must not depend on the machine.
const GZIP_LEVEL: u32 = 6;
const ZSTD_LEVEL: i32 = 3;

/// One model layer as a re-readable blob.
#[derive(Debug, Clone)]
pub struct TarLayer {
    root: PathBuf,
    entries: Arc<[LayerEntry]>,
    mtime: u64,
    compression: Compression,
}

impl TarLayer {
    pub fn new(root: PathBuf, layer: &PlannedLayer, mtime: u64, compression: Compression) -> Self {
        Self {
            root,
            entries: layer.entries.clone().into(),
            mtime,
            compression,
        }
    }

    pub fn compression(&self) -> Compression {
        self.compression
    }

    /// The uncompressed tar stream.
    pub fn tar_stream(&self) -> TarStream {
        TarStream {
            root: self.root.clone(),
            entries: self.entries.clone(),
            mtime: self.mtime,
            next: 0,
            state: State::NextEntry,
        }
    }

    /// The blob's bytes, wrapping `tar` (the uncompressed stream, possibly hashed on the way).
    pub fn encode<R: Read + Send + 'static>(&self, tar: R) -> io::Result<Box<dyn Read + Send>> {
        Ok(match self.compression {
            Compression::None => Box::new(tar),
            Compression::Gzip => Box::new(flate2::read::GzEncoder::new(
                tar,
                flate2::Compression::new(GZIP_LEVEL),
            )),
            Compression::Zstd => Box::new(zstd::stream::read::Encoder::new(tar, ZSTD_LEVEL)?),
        })
    }
}

impl LocalBlob for TarLayer {
    fn open(&self) -> io::Result<Box<dyn Read + Send>> {
        self.encode(self.tar_stream())
    }
}

enum State {
    NextEntry,
    Header {
        bytes: Vec<u8>,
        pos: usize,
    },
    Content {
        file: File,
        remaining: u64,
        path: PathBuf,
        size: u64,
    },
    Zeros {
        remaining: u64,
    },
    End {
        remaining: u64,
    },
    Done,
}

/// Pulls the tar stream of one layer.
pub struct TarStream {
    root: PathBuf,
    entries: Arc<[LayerEntry]>,
    mtime: u64,
    next: usize,
    state: State,
}

static ZEROS: [u8; 1024] = [0; 1024];

impl TarStream {
    fn start_entry(&mut self) -> io::Result<()> {
        let Some(entry) = self.entries.get(self.next) else {
            self.state = State::End {
                remaining: tar::END_OF_ARCHIVE,
            };
            return Ok(());
        };
        self.next += 1;
        let bytes = tar::encode_header(&entry.path, &entry.header_kind(), self.mtime)
            .map_err(io::Error::other)?;
        self.state = State::Header { bytes, pos: 0 };
        Ok(())
    }

    fn after_header(&mut self) -> io::Result<()> {
        let entry = &self.entries[self.next - 1];
        self.state = match (&entry.kind, &entry.rel) {
            (EntryKind::File { size, .. }, Some(rel)) if *size > 0 => {
                let path = self.root.join(rel);
                let file = File::open(&path).map_err(|e| with_path(&path, e))?;
                advise_sequential(&file);
                State::Content {
                    file,
                    remaining: *size,
                    path,
                    size: *size,
                }
            }
            _ => State::NextEntry,
        };
        Ok(())
    }
}

impl Read for TarStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            match &mut self.state {
                State::NextEntry => self.start_entry()?,
                State::Header { bytes, pos } => {
                    if *pos == bytes.len() {
                        self.after_header()?;
                        continue;
                    }
                    let n = (bytes.len() - *pos).min(buf.len());
                    buf[..n].copy_from_slice(&bytes[*pos..*pos + n]);
                    *pos += n;
                    return Ok(n);
                }
                State::Content {
                    file,
                    remaining,
                    path,
                    size,
                } => {
                    if *remaining == 0 {
                        // The file must not have grown since it was scanned: the layer's digest
                        // would no longer describe what is on disk.
                        let mut probe = [0u8; 1];
                        if file.read(&mut probe).map_err(|e| with_path(path, e))? != 0 {
                            return Err(changed(path, *size));
                        }
                        self.state = State::Zeros {
                            remaining: tar::padding(*size),
                        };
                        continue;
                    }
                    let want = (*remaining).min(buf.len() as u64) as usize;
                    let n = file
                        .read(&mut buf[..want])
                        .map_err(|e| with_path(path, e))?;
                    if n == 0 {
                        return Err(changed(path, *size));
                    }
                    *remaining -= n as u64;
                    return Ok(n);
                }
                State::Zeros { remaining } | State::End { remaining } => {
                    if *remaining == 0 {
                        self.state = if matches!(self.state, State::End { .. }) {
                            State::Done
                        } else {
                            State::NextEntry
                        };
                        continue;
                    }
                    let n = (*remaining).min(buf.len() as u64).min(ZEROS.len() as u64) as usize;
                    buf[..n].copy_from_slice(&ZEROS[..n]);
                    *remaining -= n as u64;
                    return Ok(n);
                }
                State::Done => return Ok(0),
            }
        }
    }
}

fn with_path(path: &std::path::Path, error: io::Error) -> io::Error {
    io::Error::new(error.kind(), format!("{}: {error}", path.display()))
}

fn changed(path: &std::path::Path, size: u64) -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        format!(
            "{} changed size while the image was being built (expected {size} bytes); do not modify the model during a build",
            path.display()
        ),
    )
}

/// Tells the kernel the file is read front to back, so it reads ahead generously.
fn advise_sequential(file: &File) {
    use std::os::fd::AsRawFd;
    // Advice only: a failure changes nothing but speed.
    unsafe {
        libc::posix_fadvise(file.as_raw_fd(), 0, 0, libc::POSIX_FADV_SEQUENTIAL);
    }
}
