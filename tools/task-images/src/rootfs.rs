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
use oci::{Digest, HashingWriter};

const BLOCK: usize = 512;

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
                out.write_all(&header(&format!("{path}/"), *mode, 0, b'5', mtime)?)?
            }
            Entry::File { path, mode, source } => {
                let size = match source {
                    Source::Bytes(bytes) => bytes.len() as u64,
                    Source::Path(file) => std::fs::metadata(file)
                        .with_context(|| format!("reading {}", file.display()))?
                        .len(),
                };
                out.write_all(&header(path, *mode, size, b'0', mtime)?)?;
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
                let padding = (BLOCK - (size as usize % BLOCK)) % BLOCK;
                out.write_all(&[0; BLOCK][..padding])?;
            }
        }
    }
    out.write_all(&[0; 2 * BLOCK])?;
    Ok(())
}

/// A ustar header: owner root:root, the given mode, size and mtime.
fn header(name: &str, mode: u32, size: u64, kind: u8, mtime: u64) -> Result<[u8; BLOCK]> {
    if name.len() > 100 {
        bail!("path {name} is longer than a ustar name (100 bytes)");
    }
    if size > 0o77_777_777_777 {
        bail!("{name} is larger than a ustar entry holds (8 GiB)");
    }
    let mut block = [0u8; BLOCK];
    let mut put =
        |offset: usize, bytes: &[u8]| block[offset..offset + bytes.len()].copy_from_slice(bytes);
    put(0, name.as_bytes());
    put(100, format!("{mode:07o}\0").as_bytes());
    put(108, b"0000000\0");
    put(116, b"0000000\0");
    put(124, format!("{size:011o}\0").as_bytes());
    put(136, format!("{mtime:011o}\0").as_bytes());
    put(148, b"        ");
    put(156, &[kind]);
    put(257, b"ustar\x0000");
    put(265, b"root");
    put(297, b"root");
    let checksum: u32 = block.iter().map(|b| u32::from(*b)).sum();
    block[148..156].copy_from_slice(format!("{checksum:06o}\0 ").as_bytes());
    Ok(block)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_checksum_and_modes() {
        let block = header("tmp/", 0o1777, 0, b'5', 0).unwrap();
        assert_eq!(&block[100..108], b"0001777\0");
        assert_eq!(&block[257..263], b"ustar\0");
        let stored = std::str::from_utf8(&block[148..154]).unwrap();
        let mut zeroed = block;
        zeroed[148..156].copy_from_slice(b"        ");
        let sum: u32 = zeroed.iter().map(|b| u32::from(*b)).sum();
        assert_eq!(u32::from_str_radix(stored, 8).unwrap(), sum);
        assert!(header(&"x".repeat(101), 0o644, 0, b'0', 0).is_err());
    }
}
