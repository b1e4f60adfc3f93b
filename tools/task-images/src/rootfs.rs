//! The one layer of a task image: the tool at `/usr/local/bin/<tool>` (0755), a world-writable
//! sticky `/tmp` (1777), the CA bundle, `/etc/passwd` and `/etc/group` naming UID 65532 in group 0
//! (OpenShift runs any UID in group 0), and `/etc/nsswitch.conf` (a static glibc binary looks host
//! names up in the `/etc/hosts` and `/etc/resolv.conf` the kubelet mounts, in that order). Owners
//! root, one fixed mtime: the same inputs give the same bytes. Written as a ustar stream, hashed while it is written (uncompressed for the `diff_id`,
//! compressed for the blob digest), straight into the layout's blob folder: no copy of the binary is
//! held in memory or written twice.

use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use modelcar::tar::{self, HeaderKind};
use oci::{Digest, HashingWriter};

/// Padding and the end of the archive are zeros.
static ZEROS: [u8; 1024] = [0; 1024];

pub const PASSWD: &str = "root:x:0:0:root:/root:/sbin/nologin\n\
                          modelcar:x:65532:0:modelcar-gitops:/tmp:/sbin/nologin\n";
pub const GROUP: &str = "root:x:0:\n";
/// glibc's built-in `files` and `dns` sources only (a static binary cannot load NSS modules); the
/// file states the order rather than leaving it to the C library's default.
pub const NSSWITCH: &str = "passwd: files\ngroup: files\nhosts: files dns\n";
pub const CA_BUNDLE_PATH: &str = "etc/ssl/certs/ca-certificates.crt";

/// How the layer blob is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Compression {
    None,
    Gzip,
}

impl Compression {
    pub fn media_type(self) -> &'static str {
        match self {
            Compression::None => oci::media_types::OCI_LAYER_TAR,
            Compression::Gzip => oci::media_types::OCI_LAYER_GZIP,
        }
    }
}

/// One entry of the layer.
enum Entry<'a> {
    Dir {
        path: &'a str,
        mode: u32,
    },
    File {
        path: &'a str,
        mode: u32,
        source: Source<'a>,
    },
}

enum Source<'a> {
    Bytes(&'a [u8]),
    Path(&'a Path),
}

/// A written layer blob.
pub struct LayerBlob {
    pub digest: Digest,
    pub diff_id: Digest,
    pub size: u64,
}

/// Writes the layer for `tool` (the binary at `binary`) into `blobs_dir` as `sha256/<digest>`'s
/// content, named by its digest.
pub fn write_layer(
    blobs_dir: &Path,
    tool: &str,
    binary: &Path,
    ca_bundle: &Path,
    mtime: u64,
    compression: Compression,
) -> Result<LayerBlob> {
    let target = format!("usr/local/bin/{tool}");
    let entries = [
        Entry::Dir {
            path: "etc",
            mode: 0o755,
        },
        Entry::File {
            path: "etc/group",
            mode: 0o644,
            source: Source::Bytes(GROUP.as_bytes()),
        },
        Entry::File {
            path: "etc/nsswitch.conf",
            mode: 0o644,
            source: Source::Bytes(NSSWITCH.as_bytes()),
        },
        Entry::File {
            path: "etc/passwd",
            mode: 0o644,
            source: Source::Bytes(PASSWD.as_bytes()),
        },
        Entry::Dir {
            path: "etc/ssl",
            mode: 0o755,
        },
        Entry::Dir {
            path: "etc/ssl/certs",
            mode: 0o755,
        },
        Entry::File {
            path: CA_BUNDLE_PATH,
            mode: 0o644,
            source: Source::Path(ca_bundle),
        },
        Entry::Dir {
            path: "tmp",
            mode: 0o1777,
        },
        Entry::Dir {
            path: "usr",
            mode: 0o755,
        },
        Entry::Dir {
            path: "usr/local",
            mode: 0o755,
        },
        Entry::Dir {
            path: "usr/local/bin",
            mode: 0o755,
        },
        Entry::File {
            path: &target,
            mode: 0o755,
            source: Source::Path(binary),
        },
    ];
    let partial: PathBuf = blobs_dir.join(format!(".{tool}-layer.partial"));
    let file = File::create(&partial).with_context(|| format!("creating {}", partial.display()))?;
    let blob = HashingWriter::new(BufWriter::new(file));
    let (diff_id, (digest, size, mut out)) = match compression {
        Compression::None => {
            let mut tar = HashingWriter::new(blob);
            write_entries(&mut tar, &entries, mtime)?;
            let (diff_id, _, blob) = tar.finish();
            (diff_id, blob.finish())
        }
        Compression::Gzip => {
            let gzip = flate2::write::GzEncoder::new(blob, flate2::Compression::default());
            let mut tar = HashingWriter::new(gzip);
            write_entries(&mut tar, &entries, mtime)?;
            let (diff_id, _, gzip) = tar.finish();
            let blob = gzip.finish().context("finishing the gzip stream")?;
            (diff_id, blob.finish())
        }
    };
    out.flush()
        .with_context(|| format!("writing {}", partial.display()))?;
    out.get_ref().sync_all().ok();
    drop(out);
    let named = blobs_dir.join(digest.hex());
    std::fs::rename(&partial, &named)
        .with_context(|| format!("renaming {} to {}", partial.display(), named.display()))?;
    Ok(LayerBlob {
        digest,
        diff_id,
        size,
    })
}

fn write_entries(out: &mut impl Write, entries: &[Entry<'_>], mtime: u64) -> Result<()> {
    for entry in entries {
        match entry {
            Entry::Dir { path, mode } => {
                out.write_all(&header(path, &HeaderKind::Directory, *mode, mtime)?)?
            }
            Entry::File { path, mode, source } => {
                let size = match source {
                    Source::Bytes(bytes) => bytes.len() as u64,
                    Source::Path(file) => std::fs::metadata(file)
                        .with_context(|| format!("reading {}", file.display()))?
                        .len(),
                };
                let kind = HeaderKind::File {
                    size,
                    executable: mode & 0o111 != 0,
                };
                out.write_all(&header(path, &kind, *mode, mtime)?)?;
                let copied = match source {
                    Source::Bytes(bytes) => {
                        out.write_all(bytes)?;
                        size
                    }
                    Source::Path(file) => {
                        let reader = File::open(file)
                            .with_context(|| format!("opening {}", file.display()))?;
                        io::copy(&mut reader.take(size), out)
                            .with_context(|| format!("copying {}", file.display()))?
                    }
                };
                if copied != size {
                    bail!("{path} changed while it was being read ({copied} of {size} bytes)");
                }
                out.write_all(&ZEROS[..tar::padding(size) as usize])?;
            }
        }
    }
    out.write_all(&ZEROS[..tar::END_OF_ARCHIVE as usize])?;
    Ok(())
}

/// The header of one entry, owned by root:root (the model layers' tar writer).
fn header(path: &str, kind: &HeaderKind<'_>, mode: u32, mtime: u64) -> Result<Vec<u8>> {
    tar::encode_header_with_mode(path, kind, mode, mtime)
        .with_context(|| format!("writing the tar header of {path}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sticky_tmp_keeps_its_mode() {
        let block = header("tmp", &HeaderKind::Directory, 0o1777, 0).unwrap();
        assert_eq!(&block[..4], b"tmp/");
        assert_eq!(&block[100..108], b"0001777\0");
        assert_eq!(&block[257..263], b"ustar\0");
    }
}
