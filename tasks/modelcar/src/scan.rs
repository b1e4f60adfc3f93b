//! Reads a model directory into a sorted list of entries, refusing, before anything is written or
//! pushed, whatever cannot go into an image faithfully: special files, whiteout names, links that
//! leave the model, names that are not UTF-8, files this user cannot read.

use std::fs::{self, File, Metadata};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use crate::error::ModelCarError;

/// One thing found in the model directory. `rel` is relative to the model directory,
/// `/`-separated, with no leading `./` or `/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelEntry {
    pub rel: String,
    pub kind: EntryKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryKind {
    Directory,
    File {
        size: u64,
        executable: bool,
    },
    /// A link kept as a link; the target stays inside the model directory.
    Symlink {
        target: String,
    },
}

/// The validated content of a model directory, sorted by path so parents come before children
/// and the same content always gives the same order.
#[derive(Debug, Clone)]
pub struct ModelFiles {
    pub root: PathBuf,
    pub entries: Vec<ModelEntry>,
}

impl ModelFiles {
    pub fn total_file_bytes(&self) -> u64 {
        self.entries
            .iter()
            .map(|e| match e.kind {
                EntryKind::File { size, .. } => size,
                _ => 0,
            })
            .sum()
    }

    pub fn file_count(&self) -> usize {
        self.entries
            .iter()
            .filter(|e| matches!(e.kind, EntryKind::File { .. }))
            .count()
    }
}

/// Walks `root` and validates every entry. Errors name the offending path and what to do.
pub fn scan_model_dir(root: &Path) -> Result<ModelFiles, ModelCarError> {
    let meta = fs::metadata(root).map_err(|source| ModelCarError::ModelDirMissing {
        path: root.to_owned(),
        source,
    })?;
    if !meta.is_dir() {
        return Err(ModelCarError::ModelDirNotDirectory {
            path: root.to_owned(),
        });
    }
    let mut entries = Vec::new();
    walk(root, root, "", &mut entries)?;
    if !entries
        .iter()
        .any(|e| matches!(e.kind, EntryKind::File { .. }))
    {
        return Err(ModelCarError::ModelDirEmpty {
            path: root.to_owned(),
        });
    }
    entries.sort_by(|a, b| a.rel.cmp(&b.rel));
    Ok(ModelFiles {
        root: root.to_owned(),
        entries,
    })
}

fn walk(
    root: &Path,
    dir: &Path,
    rel_dir: &str,
    out: &mut Vec<ModelEntry>,
) -> Result<(), ModelCarError> {
    let unreadable = |path: &Path, source| ModelCarError::Unreadable {
        path: path.to_owned(),
        source,
    };
    for item in fs::read_dir(dir).map_err(|e| unreadable(dir, e))? {
        let item = item.map_err(|e| unreadable(dir, e))?;
        let path = item.path();
        let name = item.file_name();
        let name = name
            .to_str()
            .ok_or_else(|| ModelCarError::NonUtf8Name { path: path.clone() })?;
        if name.starts_with(".wh.") {
            return Err(ModelCarError::WhiteoutName { path });
        }
        let rel = if rel_dir.is_empty() {
            name.to_owned()
        } else {
            format!("{rel_dir}/{name}")
        };
        let meta = fs::symlink_metadata(&path).map_err(|e| unreadable(&path, e))?;
        let kind = classify(root, &path, &rel, &meta)?;
        let is_dir = kind == EntryKind::Directory;
        out.push(ModelEntry {
            rel: rel.clone(),
            kind,
        });
        if is_dir {
            walk(root, &path, &rel, out)?;
        }
    }
    Ok(())
}

fn classify(
    root: &Path,
    path: &Path,
    rel: &str,
    meta: &Metadata,
) -> Result<EntryKind, ModelCarError> {
    let file_type = meta.file_type();
    if file_type.is_dir() {
        return Ok(EntryKind::Directory);
    }
    if file_type.is_file() {
        // Open now so an unreadable file stops the build before any byte is pushed.
        File::open(path).map_err(|source| ModelCarError::Unreadable {
            path: path.to_owned(),
            source,
        })?;
        return Ok(EntryKind::File {
            size: meta.len(),
            executable: meta.permissions().mode() & 0o111 != 0,
        });
    }
    if file_type.is_symlink() {
        return symlink_kind(root, path, rel);
    }
    let kind = if file_type.is_fifo() {
        "a FIFO"
    } else if file_type.is_socket() {
        "a socket"
    } else if file_type.is_block_device() {
        "a block device"
    } else if file_type.is_char_device() {
        "a character device"
    } else {
        "a special file"
    };
    Err(ModelCarError::SpecialFile {
        path: path.to_owned(),
        kind,
    })
}

fn symlink_kind(root: &Path, path: &Path, rel: &str) -> Result<EntryKind, ModelCarError> {
    let target = fs::read_link(path).map_err(|source| ModelCarError::Unreadable {
        path: path.to_owned(),
        source,
    })?;
    let target_str = target
        .to_str()
        .ok_or_else(|| ModelCarError::NonUtf8Name {
            path: path.to_owned(),
        })?
        .to_owned();
    let escapes = || ModelCarError::SymlinkEscapes {
        path: path.to_owned(),
        target: target_str.clone(),
    };
    // An absolute target names a path on this machine, not in the image.
    if target.is_absolute() {
        return Err(escapes());
    }
    // Lexically: the link's directory joined with the target must stay under the root.
    let mut depth: Vec<&str> = rel.split('/').collect();
    depth.pop();
    for component in target.components() {
        match component {
            Component::Normal(c) => depth.push(c.to_str().unwrap_or_default()),
            Component::ParentDir => {
                if depth.pop().is_none() {
                    return Err(escapes());
                }
            }
            Component::CurDir => {}
            Component::RootDir | Component::Prefix(_) => return Err(escapes()),
        }
    }
    // On disk too, through any links the target passes: it must resolve inside the root.
    if let (Ok(resolved), Ok(real_root)) = (fs::canonicalize(path), fs::canonicalize(root))
        && !resolved.starts_with(&real_root)
    {
        return Err(escapes());
    }
    Ok(EntryKind::Symlink { target: target_str })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn model() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("1")).unwrap();
        fs::create_dir_all(dir.path().join("artifacts/empty")).unwrap();
        fs::write(dir.path().join("1/model.onnx"), b"onnx").unwrap();
        fs::write(dir.path().join("artifacts/scaler.pkl"), b"pkl").unwrap();
        dir
    }

    #[test]
    fn sorted_entries_with_kinds() {
        let dir = model();
        symlink("../1/model.onnx", dir.path().join("artifacts/link.onnx")).unwrap();
        let files = scan_model_dir(dir.path()).unwrap();
        let rels: Vec<&str> = files.entries.iter().map(|e| e.rel.as_str()).collect();
        assert_eq!(
            rels,
            [
                "1",
                "1/model.onnx",
                "artifacts",
                "artifacts/empty",
                "artifacts/link.onnx",
                "artifacts/scaler.pkl"
            ]
        );
        assert_eq!(
            files.entries[4].kind,
            EntryKind::Symlink {
                target: "../1/model.onnx".into()
            }
        );
        assert_eq!(files.total_file_bytes(), 7);
    }

    #[test]
    fn refuses_bad_input() {
        let missing = scan_model_dir(Path::new("/nonexistent/model")).unwrap_err();
        assert!(matches!(missing, ModelCarError::ModelDirMissing { .. }));

        let empty = tempfile::tempdir().unwrap();
        fs::create_dir(empty.path().join("only-dirs")).unwrap();
        let err = scan_model_dir(empty.path()).unwrap_err();
        assert!(matches!(err, ModelCarError::ModelDirEmpty { .. }), "{err}");

        let dir = model();
        symlink("../../etc/passwd", dir.path().join("1/escape")).unwrap();
        let err = scan_model_dir(dir.path()).unwrap_err();
        assert!(matches!(err, ModelCarError::SymlinkEscapes { .. }), "{err}");
        assert!(err.to_string().contains("1/escape"), "{err}");

        let dir = model();
        symlink("/etc/passwd", dir.path().join("abs")).unwrap();
        assert!(matches!(
            scan_model_dir(dir.path()).unwrap_err(),
            ModelCarError::SymlinkEscapes { .. }
        ));

        let dir = model();
        fs::write(dir.path().join("1/.wh.model.onnx"), b"").unwrap();
        assert!(matches!(
            scan_model_dir(dir.path()).unwrap_err(),
            ModelCarError::WhiteoutName { .. }
        ));

        let dir = model();
        let fifo = std::ffi::CString::new(dir.path().join("pipe").to_str().unwrap()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o644) }, 0);
        let err = scan_model_dir(dir.path()).unwrap_err();
        assert!(err.to_string().contains("FIFO"), "{err}");

        let dir = model();
        use std::os::unix::ffi::OsStrExt;
        let bad = std::ffi::OsStr::from_bytes(b"bad\xffname");
        fs::write(dir.path().join(bad), b"x").unwrap();
        assert!(matches!(
            scan_model_dir(dir.path()).unwrap_err(),
            ModelCarError::NonUtf8Name { .. }
        ));
    }
}
