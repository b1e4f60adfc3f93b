//! A small ustar writer with PAX extended headers, just what layers need: directories, regular
//! files and symbolic links, with fixed owners, modes and mtime.
//!
//! Written here rather than taken from the `tar` crate because layers are produced by *pulling*
//! (a `Read` the registry upload consumes), and the `tar` crate's `Builder` pushes into a `Write`;
//! only the header bytes are needed, and owning them keeps every byte of a layer deterministic
//! and visible in one place (PAX record names, the extended header's own name, zeroed fields).

use crate::error::ModelCarError;

pub const BLOCK: u64 = 512;

/// What a header describes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderKind<'a> {
    Directory,
    File { size: u64, executable: bool },
    Symlink { target: &'a str },
}

/// The largest value an 11-digit octal field holds (8 GiB - 1 for sizes).
const OCTAL_11_MAX: u64 = 0o77_777_777_777;

/// The header block(s) for one entry with the modes of a model layer: directories and executables
/// 0755, other files 0644, links 0777. See [`encode_header_with_mode`].
pub fn encode_header(
    path: &str,
    kind: &HeaderKind<'_>,
    mtime: u64,
) -> Result<Vec<u8>, ModelCarError> {
    let mode = match *kind {
        HeaderKind::Directory => 0o755,
        HeaderKind::File { executable, .. } => {
            if executable {
                0o755
            } else {
                0o644
            }
        }
        HeaderKind::Symlink { .. } => 0o777,
    };
    encode_header_with_mode(path, kind, mode, mtime)
}

/// The header block(s) for one entry, owned by root:root: a PAX extended header first when the
/// path, link target, size or mtime does not fit ustar, then the ustar header. Always a multiple
/// of 512 bytes. `path` has no trailing `/`; directories get one in the header, as tar tools expect.
pub fn encode_header_with_mode(
    path: &str,
    kind: &HeaderKind<'_>,
    mode: u32,
    mtime: u64,
) -> Result<Vec<u8>, ModelCarError> {
    if path.is_empty() || path.starts_with('/') || path.contains('\0') {
        return Err(ModelCarError::UnencodablePath {
            path: path.to_owned(),
            message: "empty, absolute or containing NUL",
        });
    }
    let name = match kind {
        HeaderKind::Directory => format!("{path}/"),
        _ => path.to_owned(),
    };
    let (type_flag, size, link) = match *kind {
        HeaderKind::Directory => (b'5', 0, ""),
        HeaderKind::File { size, .. } => (b'0', size, ""),
        HeaderKind::Symlink { target } => {
            if target.contains('\0') {
                return Err(ModelCarError::UnencodablePath {
                    path: path.to_owned(),
                    message: "link target contains NUL",
                });
            }
            (b'2', 0, target)
        }
    };

    let mut records = Vec::new();
    if name.len() > 100 {
        pax_record(&mut records, "path", &name);
    }
    if link.len() > 100 {
        pax_record(&mut records, "linkpath", link);
    }
    if size > OCTAL_11_MAX {
        pax_record(&mut records, "size", &size.to_string());
    }
    if mtime > OCTAL_11_MAX {
        pax_record(&mut records, "mtime", &mtime.to_string());
    }

    let mut out = Vec::with_capacity(if records.is_empty() { 512 } else { 1536 });
    if !records.is_empty() {
        // The extended header's own name is informative only; keep it short and stable.
        let pax_name = format!("PaxHeaders/{}", truncate(path, 88));
        out.extend_from_slice(&ustar_block(
            &pax_name,
            b'x',
            0o644,
            records.len() as u64,
            mtime.min(OCTAL_11_MAX),
            "",
        ));
        let padded = records.len().div_ceil(BLOCK as usize) * BLOCK as usize;
        records.resize(padded, 0);
        out.extend_from_slice(&records);
    }
    out.extend_from_slice(&ustar_block(
        truncate(&name, 100),
        type_flag,
        mode,
        if size > OCTAL_11_MAX { 0 } else { size },
        mtime.min(OCTAL_11_MAX),
        truncate(link, 100),
    ));
    Ok(out)
}

/// Zero bytes that follow `size` bytes of content to reach the next block.
pub fn padding(size: u64) -> u64 {
    (BLOCK - size % BLOCK) % BLOCK
}

/// Two zero blocks end an archive.
pub const END_OF_ARCHIVE: u64 = 2 * BLOCK;

fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// `"<len> <key>=<value>\n"`, where `len` counts the whole record including its own digits.
fn pax_record(out: &mut Vec<u8>, key: &str, value: &str) {
    let rest = key.len() + value.len() + 3; // ' ', '=', '\n'
    let mut len = rest + 1;
    while len != rest + len.to_string().len() {
        len = rest + len.to_string().len();
    }
    out.extend_from_slice(format!("{len} {key}={value}\n").as_bytes());
}

fn ustar_block(
    name: &str,
    type_flag: u8,
    mode: u32,
    size: u64,
    mtime: u64,
    link: &str,
) -> [u8; 512] {
    let mut block = [0u8; 512];
    block[..name.len()].copy_from_slice(name.as_bytes());
    octal(&mut block[100..108], mode as u64);
    octal(&mut block[108..116], 0); // uid
    octal(&mut block[116..124], 0); // gid
    octal(&mut block[124..136], size);
    octal(&mut block[136..148], mtime);
    block[156] = type_flag;
    block[157..157 + link.len()].copy_from_slice(link.as_bytes());
    block[257..263].copy_from_slice(b"ustar\0");
    block[263..265].copy_from_slice(b"00");
    // uname/gname stay empty; devmajor/devminor as zeros like other writers.
    octal(&mut block[329..337], 0);
    octal(&mut block[337..345], 0);
    // The checksum is computed with its own field read as spaces.
    block[148..156].copy_from_slice(b"        ");
    let sum: u32 = block.iter().map(|&b| b as u32).sum();
    let digits = format!("{sum:06o}\0 ");
    block[148..156].copy_from_slice(digits.as_bytes());
    block
}

/// Zero-padded octal filling the field but its last byte (NUL).
fn octal(field: &mut [u8], value: u64) {
    let width = field.len() - 1;
    let text = format!("{value:0width$o}");
    field[..width].copy_from_slice(text.as_bytes());
    field[width] = 0;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pax_record_length_counts_itself() {
        let mut out = Vec::new();
        pax_record(&mut out, "path", "a");
        assert_eq!(out, b"9 path=a\n");
        let mut out = Vec::new();
        let value = "x".repeat(95);
        pax_record(&mut out, "path", &value);
        let text = String::from_utf8(out).unwrap();
        let (len, _) = text.split_once(' ').unwrap();
        assert_eq!(len.parse::<usize>().unwrap(), text.len());
    }

    #[test]
    fn short_entries_are_one_ustar_block() {
        let header = encode_header(
            "models/1/model.onnx",
            &HeaderKind::File {
                size: 1234,
                executable: false,
            },
            0,
        )
        .unwrap();
        assert_eq!(header.len(), 512);
        assert_eq!(&header[..19], b"models/1/model.onnx");
        assert_eq!(&header[100..108], b"0000644\0");
        assert_eq!(&header[124..136], b"00000002322\0");
        assert_eq!(&header[257..265], b"ustar\x0000");
        assert_eq!(header[265], 0, "empty user name");
    }

    #[test]
    fn long_paths_and_huge_sizes_get_pax_records() {
        let long = format!("models/{}", "d/".repeat(80) + "weights.bin");
        let header = encode_header(
            &long,
            &HeaderKind::File {
                size: 9 << 30,
                executable: true,
            },
            0,
        )
        .unwrap();
        assert_eq!(header.len(), 1536);
        assert_eq!(header[156], b'x');
        let records = String::from_utf8_lossy(&header[512..1024]);
        assert!(records.contains(&format!(" path={long}\n")), "{records}");
        assert!(
            records.contains(&format!(" size={}\n", 9u64 << 30)),
            "{records}"
        );
    }

    #[test]
    fn refuses_unencodable_paths() {
        assert!(encode_header("/abs", &HeaderKind::Directory, 0).is_err());
        assert!(encode_header("a\0b", &HeaderKind::Directory, 0).is_err());
    }
}
