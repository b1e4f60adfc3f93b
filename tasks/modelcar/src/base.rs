//! The base image under the model, and the checks that keep it usable by KServe: no ENTRYPOINT
//! (KServe passes `sh -c "ln -sf ... && sleep infinity"` as the container's args, which an
//! entrypoint would swallow) and a `/bin/sh` to run that command.

use std::io::{self, Read};

use oci::{BlobSource, Digest, Image, Platform, media_types};

use crate::error::ModelCarError;

/// The image the model is laid on, or none (`scratch`).
#[derive(Debug, Clone)]
pub struct BaseImage {
    /// The reference as the user gave it (`registry/repo:tag`, `oci:DIR:TAG`), or `scratch`.
    pub name: String,
    /// `None` for scratch.
    pub image: Option<Image>,
    /// The platform of the result (a base's own platform when there is a base).
    pub platform: Platform,
}

impl BaseImage {
    /// No base at all: the image holds only the model (and has no shell).
    pub fn scratch(platform: Platform) -> Self {
        Self {
            name: "scratch".into(),
            image: None,
            platform,
        }
    }

    pub fn from_image(name: impl Into<String>, image: Image) -> Self {
        Self {
            name: name.into(),
            platform: image.platform(),
            image: Some(image),
        }
    }

    pub fn is_scratch(&self) -> bool {
        self.image.is_none()
    }

    pub fn digest(&self) -> Option<&Digest> {
        self.image.as_ref().map(Image::digest)
    }

    pub fn layer_count(&self) -> usize {
        self.image.as_ref().map_or(0, |i| i.layers().len())
    }

    /// Refuses a base with an ENTRYPOINT unless allowed.
    pub fn check_entrypoint(&self, allow: bool) -> Result<(), ModelCarError> {
        let entrypoint = self
            .image
            .as_ref()
            .and_then(|i| i.config().config.as_ref())
            .and_then(|c| c.entrypoint.clone())
            .unwrap_or_default();
        if entrypoint.is_empty() {
            return Ok(());
        }
        if allow {
            tracing::warn!(
                "the base image {} has ENTRYPOINT {entrypoint:?}; KServe's command will be passed to it as arguments (an ENTRYPOINT was allowed)",
                self.name
            );
            return Ok(());
        }
        Err(ModelCarError::BaseHasEntrypoint {
            base: self.name.clone(),
            entrypoint,
        })
    }

    /// Whether the base has `/bin/sh`, as far as can be told without downloading anything:
    /// the tar listings of local layers are read; a registry base is not inspected.
    pub fn shell(&self) -> Result<Shell, ModelCarError> {
        let Some(image) = &self.image else {
            return Ok(Shell::Missing);
        };
        let mut paths = ShellPaths::default();
        for (descriptor, source) in image.layers() {
            let BlobSource::Local(blob) = source else {
                return Ok(Shell::Unknown);
            };
            let err = |source| ModelCarError::BaseLayers {
                base: self.name.clone(),
                source,
            };
            let raw = blob.open().map_err(err)?;
            let reader = decompress(&descriptor.media_type, raw).map_err(err)?;
            paths.apply_layer(reader).map_err(err)?;
        }
        Ok(if paths.has_shell() {
            Shell::Present
        } else {
            Shell::Missing
        })
    }

    /// Logs a warning when the base has no shell: KServe cannot start the ModelCar's container.
    pub fn warn_without_shell(&self) -> Result<Shell, ModelCarError> {
        let shell = self.shell()?;
        match shell {
            Shell::Missing => tracing::warn!(
                "the base image {} has no /bin/sh: KServe runs `sh -c ...` in a ModelCar container, so this image only serves where the model is read by other means (KServe's oci+fetch); use a base with a shell (ubi-minimal, busybox) for the sidecar mode",
                self.name
            ),
            Shell::Unknown => tracing::debug!(
                "the base image {} was not inspected for /bin/sh (its layers are in a registry)",
                self.name
            ),
            Shell::Present => {}
        }
        Ok(shell)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shell {
    Present,
    Missing,
    /// The layers were not read (they are in a registry).
    Unknown,
}

fn decompress(media_type: &str, raw: Box<dyn Read + Send>) -> io::Result<Box<dyn Read + Send>> {
    Ok(
        if media_type.ends_with("+zstd") || media_type.ends_with(".zstd") {
            Box::new(zstd::stream::read::Decoder::new(raw)?)
        } else if media_type.ends_with("gzip") || media_type == media_types::DOCKER_LAYER_GZIP {
            Box::new(flate2::read::MultiGzDecoder::new(raw))
        } else {
            raw
        },
    )
}

/// The few paths that decide whether `/bin/sh` exists, replayed layer after layer (whiteouts
/// remove what lower layers added).
#[derive(Debug, Default)]
struct ShellPaths {
    bin_sh: bool,
    usr_bin_sh: bool,
    /// `/bin` is a link to `usr/bin` (merged /usr).
    bin_is_usr_bin: bool,
}

impl ShellPaths {
    fn has_shell(&self) -> bool {
        self.bin_sh || (self.bin_is_usr_bin && self.usr_bin_sh)
    }

    fn apply_layer(&mut self, mut reader: impl Read) -> io::Result<()> {
        let mut block = [0u8; 512];
        let mut long_name: Option<String> = None;
        loop {
            if !read_block(&mut reader, &mut block)? || block.iter().all(|&b| b == 0) {
                return Ok(());
            }
            let size = parse_size(&block[124..136])?;
            let type_flag = block[156];
            let content_blocks = size.div_ceil(512) * 512;
            match type_flag {
                b'x' | b'L' => {
                    let kept = content_blocks.min(1 << 20);
                    let mut content = vec![0u8; kept as usize];
                    reader.read_exact(&mut content)?;
                    io::copy(
                        &mut (&mut reader).take(content_blocks - kept),
                        &mut io::sink(),
                    )?;
                    content.truncate(size.min(kept) as usize);
                    long_name = if type_flag == b'L' {
                        Some(cstr(&content))
                    } else {
                        pax_path(&content).or(long_name)
                    };
                    continue;
                }
                _ => {}
            }
            let name = long_name.take().unwrap_or_else(|| ustar_name(&block));
            let link = cstr(&block[157..257]);
            self.apply_entry(&normalise(&name), type_flag, &link);
            io::copy(&mut (&mut reader).take(content_blocks), &mut io::sink())?;
        }
    }

    fn apply_entry(&mut self, path: &str, type_flag: u8, link: &str) {
        match path {
            "bin/sh" => self.bin_sh = true,
            "usr/bin/sh" => self.usr_bin_sh = true,
            "bin/.wh.sh" => self.bin_sh = false,
            "usr/bin/.wh.sh" => self.usr_bin_sh = false,
            "bin" => {
                self.bin_is_usr_bin = type_flag == b'2'
                    && matches!(link.trim_end_matches('/'), "usr/bin" | "/usr/bin")
            }
            ".wh.bin" => {
                self.bin_sh = false;
                self.bin_is_usr_bin = false;
            }
            _ => {}
        }
    }
}

fn read_block(reader: &mut impl Read, block: &mut [u8; 512]) -> io::Result<bool> {
    let mut filled = 0;
    while filled < 512 {
        match reader.read(&mut block[filled..])? {
            0 if filled == 0 => return Ok(false),
            0 => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "truncated tar header",
                ));
            }
            n => filled += n,
        }
    }
    Ok(true)
}

fn cstr(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}

fn ustar_name(block: &[u8; 512]) -> String {
    let name = cstr(&block[..100]);
    let prefix = if &block[257..262] == b"ustar" {
        cstr(&block[345..500])
    } else {
        String::new()
    };
    if prefix.is_empty() {
        name
    } else {
        format!("{prefix}/{name}")
    }
}

fn normalise(name: &str) -> String {
    name.trim_start_matches("./")
        .trim_start_matches('/')
        .trim_end_matches('/')
        .to_owned()
}

fn pax_path(records: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(records);
    let mut rest: &str = &text;
    let mut found = None;
    while let Some((len, _)) = rest.split_once(' ') {
        let len: usize = len.parse().ok()?;
        let record = rest.get(..len)?;
        let (_, kv) = record.split_once(' ')?;
        if let Some(path) = kv.trim_end_matches('\n').strip_prefix("path=") {
            found = Some(path.to_owned());
        }
        rest = &rest[len..];
    }
    found
}

/// Octal, or base-256 when the high bit of the first byte is set (GNU tar for large sizes).
fn parse_size(field: &[u8]) -> io::Result<u64> {
    if field[0] & 0x80 != 0 {
        return Ok(field[1..]
            .iter()
            .fold(0u64, |acc, &b| (acc << 8) | u64::from(b)));
    }
    let text = cstr(field);
    let text = text.trim_matches(|c: char| c == ' ' || c == '\0');
    if text.is_empty() {
        return Ok(0);
    }
    u64::from_str_radix(text, 8)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "bad size in tar header"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tar::{HeaderKind, encode_header};

    fn archive(entries: &[(&str, HeaderKind<'_>)]) -> Vec<u8> {
        let mut out = Vec::new();
        for (path, kind) in entries {
            out.extend(encode_header(path, kind, 0).unwrap());
            if let HeaderKind::File { size, .. } = kind {
                out.extend(vec![7u8; *size as usize]);
                out.extend(vec![0u8; crate::tar::padding(*size) as usize]);
            }
        }
        out.extend([0u8; 1024]);
        out
    }

    #[test]
    fn finds_shell_through_merged_usr_and_whiteouts() {
        let mut paths = ShellPaths::default();
        let lower = archive(&[
            ("bin", HeaderKind::Symlink { target: "usr/bin" }),
            ("usr", HeaderKind::Directory),
            ("usr/bin", HeaderKind::Directory),
            (
                "usr/bin/sh",
                HeaderKind::File {
                    size: 700,
                    executable: true,
                },
            ),
        ]);
        paths.apply_layer(&lower[..]).unwrap();
        assert!(paths.has_shell());
        let upper = archive(&[(
            "usr/bin/.wh.sh",
            HeaderKind::File {
                size: 0,
                executable: false,
            },
        )]);
        paths.apply_layer(&upper[..]).unwrap();
        assert!(!paths.has_shell());

        let mut busybox = ShellPaths::default();
        let long = format!("{}/x", "d".repeat(150));
        let layer = archive(&[
            (&long, HeaderKind::Directory),
            ("bin", HeaderKind::Directory),
            ("bin/sh", HeaderKind::Symlink { target: "busybox" }),
        ]);
        busybox.apply_layer(&layer[..]).unwrap();
        assert!(busybox.has_shell());
    }
}
