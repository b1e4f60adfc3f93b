//! Which files go into which layer. One layer per large file (a changed shard re-uploads only that
//! shard, and layers hash and upload in parallel); small files packed together in path order; the
//! whole image kept well under the layer count where overlay2 fails (near 125).

use std::collections::BTreeMap;

use crate::error::ModelCarError;
use crate::scan::{EntryKind, ModelEntry, ModelFiles};
use crate::tar::{self, HeaderKind};

/// Base and model layers together stay at or under this count.
pub const MAX_TOTAL_LAYERS: usize = 80;
/// Files at least this large get a layer of their own.
pub const DEFAULT_LARGE_FILE: u64 = 64 << 20;
/// Small files are packed into layers of at most about this many bytes.
pub const SMALL_GROUP_BYTES: u64 = 1 << 30;
/// Quay refuses layers over 20 GB by default (`MAXIMUM_LAYER_SIZE`).
pub const LARGE_LAYER_WARNING: u64 = 20_000_000_000;

#[derive(Debug, Clone)]
pub struct PlanOptions {
    /// Where the model lands in the image, without leading `/`: `models` or `models/<subdir>`.
    pub prefix: String,
    pub large_file: u64,
    /// Layers the base image already has (they count towards [`MAX_TOTAL_LAYERS`]).
    pub base_layers: usize,
}

impl PlanOptions {
    /// `subdir` is validated: relative, no `..`, no empty components.
    pub fn new(subdir: Option<&str>, base_layers: usize) -> Result<Self, ModelCarError> {
        let prefix = match subdir
            .map(|s| s.trim_matches('/'))
            .filter(|s| !s.is_empty())
        {
            None => "models".to_owned(),
            Some(sub) => {
                let bad = |reason| ModelCarError::InvalidSubdir {
                    subdir: sub.to_owned(),
                    reason,
                };
                for part in sub.split('/') {
                    match part {
                        "" => return Err(bad("empty path component")),
                        "." | ".." => return Err(bad("'.' and '..' are not allowed")),
                        p if p.starts_with(".wh.") => return Err(bad("whiteout name")),
                        p if p.contains('\0') => return Err(bad("NUL character")),
                        _ => {}
                    }
                }
                format!("models/{sub}")
            }
        };
        Ok(Self {
            prefix,
            large_file: DEFAULT_LARGE_FILE,
            base_layers,
        })
    }
}

/// One entry of a layer: its path in the image (no leading `/`) and, for files, the path
/// relative to the model directory to read the content from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerEntry {
    pub path: String,
    pub rel: Option<String>,
    pub kind: EntryKind,
}

impl LayerEntry {
    pub fn header_kind(&self) -> HeaderKind<'_> {
        match &self.kind {
            EntryKind::Directory => HeaderKind::Directory,
            EntryKind::File { size, executable } => HeaderKind::File {
                size: *size,
                executable: *executable,
            },
            EntryKind::Symlink { target } => HeaderKind::Symlink { target },
        }
    }
}

#[derive(Debug, Clone)]
pub struct PlannedLayer {
    /// Sorted by path; parents (directory entries) come before their children.
    pub entries: Vec<LayerEntry>,
}

impl PlannedLayer {
    /// Bytes of the uncompressed tar stream, known before reading any file.
    pub fn tar_size(&self, mtime: u64) -> Result<u64, ModelCarError> {
        let mut total = tar::END_OF_ARCHIVE;
        for entry in &self.entries {
            total += tar::encode_header(&entry.path, &entry.header_kind(), mtime)?.len() as u64;
            if let EntryKind::File { size, .. } = entry.kind {
                total += size + tar::padding(size);
            }
        }
        Ok(total)
    }

    /// The first file's model-relative path, to name the layer in messages and history.
    pub fn first_file(&self) -> &str {
        self.entries
            .iter()
            .find_map(|e| e.rel.as_deref())
            .unwrap_or("(directories)")
    }

    pub fn file_count(&self) -> usize {
        self.entries.iter().filter(|e| e.rel.is_some()).count()
    }
}

/// Splits the model into layers. Deterministic: the same entries always give the same plan.
pub fn plan_layers(
    files: &ModelFiles,
    options: &PlanOptions,
) -> Result<Vec<PlannedLayer>, ModelCarError> {
    let budget = MAX_TOTAL_LAYERS.saturating_sub(options.base_layers);
    if budget == 0 {
        return Err(ModelCarError::TooManyLayers {
            model: 1,
            base: options.base_layers,
            total: options.base_layers + 1,
            limit: MAX_TOTAL_LAYERS,
        });
    }
    let is_large = |e: &ModelEntry| matches!(e.kind, EntryKind::File { size, .. } if size >= options.large_file);

    // Units: packs of small entries first, then each large file alone; all in path order.
    let mut units: Vec<Vec<&ModelEntry>> = Vec::new();
    let mut pack: Vec<&ModelEntry> = Vec::new();
    let mut pack_bytes = 0;
    for entry in files.entries.iter().filter(|e| !is_large(e)) {
        let size = match entry.kind {
            EntryKind::File { size, .. } => size,
            _ => 0,
        };
        if !pack.is_empty() && pack_bytes + size > SMALL_GROUP_BYTES {
            units.push(std::mem::take(&mut pack));
            pack_bytes = 0;
        }
        pack.push(entry);
        pack_bytes += size;
    }
    let large: Vec<&ModelEntry> = files.entries.iter().filter(|e| is_large(e)).collect();
    // A pack of only directories that large files already create is not worth a layer.
    let redundant = |pack: &[&ModelEntry]| {
        pack.iter().all(|e| {
            e.kind == EntryKind::Directory
                && large
                    .iter()
                    .any(|l| l.rel.starts_with(&e.rel) && l.rel[e.rel.len()..].starts_with('/'))
        })
    };
    if !pack.is_empty() && !redundant(&pack) {
        units.push(pack);
    }
    units.extend(large.iter().map(|e| vec![*e]));

    // Over budget: merge neighbouring units into `budget` groups of near-equal count.
    let groups: Vec<Vec<&ModelEntry>> = if units.len() <= budget {
        units
    } else {
        let per_group = units.len().div_ceil(budget);
        units
            .chunks(per_group)
            .map(|chunk| chunk.concat())
            .collect()
    };

    Ok(groups
        .into_iter()
        .map(|group| layer_with_parents(&options.prefix, &group))
        .collect())
}

fn layer_with_parents(prefix: &str, group: &[&ModelEntry]) -> PlannedLayer {
    let mut by_path: BTreeMap<String, LayerEntry> = BTreeMap::new();
    let mut add_dir = |path: String| {
        by_path.entry(path.clone()).or_insert(LayerEntry {
            path,
            rel: None,
            kind: EntryKind::Directory,
        });
    };
    let mut dir = String::new();
    for part in prefix.split('/') {
        if !dir.is_empty() {
            dir.push('/');
        }
        dir.push_str(part);
        add_dir(dir.clone());
    }
    for entry in group {
        let mut parent = prefix.to_owned();
        let parts: Vec<&str> = entry.rel.split('/').collect();
        for part in &parts[..parts.len() - 1] {
            parent = format!("{parent}/{part}");
            add_dir(parent.clone());
        }
    }
    for entry in group {
        let path = format!("{prefix}/{}", entry.rel);
        let rel = matches!(entry.kind, EntryKind::File { .. }).then(|| entry.rel.clone());
        by_path.insert(
            path.clone(),
            LayerEntry {
                path,
                rel,
                kind: entry.kind.clone(),
            },
        );
    }
    // BTreeMap order is byte order, in which a directory precedes everything under it.
    PlannedLayer {
        entries: by_path.into_values().collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(rel: &str, size: u64) -> ModelEntry {
        ModelEntry {
            rel: rel.into(),
            kind: EntryKind::File {
                size,
                executable: false,
            },
        }
    }

    fn dir(rel: &str) -> ModelEntry {
        ModelEntry {
            rel: rel.into(),
            kind: EntryKind::Directory,
        }
    }

    fn model(entries: Vec<ModelEntry>) -> ModelFiles {
        ModelFiles {
            root: "/m".into(),
            entries,
        }
    }

    #[test]
    fn large_files_alone_small_files_packed_parents_in_each_layer() {
        let files = model(vec![
            file("config.json", 10),
            dir("shards"),
            file("shards/a.safetensors", 100 << 20),
            file("shards/b.safetensors", 100 << 20),
            file("tokenizer.json", 20),
        ]);
        let layers = plan_layers(&files, &PlanOptions::new(Some("llm"), 2).unwrap()).unwrap();
        let paths: Vec<Vec<&str>> = layers
            .iter()
            .map(|l| l.entries.iter().map(|e| e.path.as_str()).collect())
            .collect();
        assert_eq!(
            paths,
            vec![
                vec![
                    "models",
                    "models/llm",
                    "models/llm/config.json",
                    "models/llm/shards",
                    "models/llm/tokenizer.json"
                ],
                vec![
                    "models",
                    "models/llm",
                    "models/llm/shards",
                    "models/llm/shards/a.safetensors"
                ],
                vec![
                    "models",
                    "models/llm",
                    "models/llm/shards",
                    "models/llm/shards/b.safetensors"
                ],
            ]
        );
    }

    #[test]
    fn layer_count_stays_within_budget() {
        let entries = (0..200)
            .map(|i| file(&format!("shard-{i:03}.bin"), 100 << 20))
            .collect();
        let layers = plan_layers(&model(entries), &PlanOptions::new(None, 30).unwrap()).unwrap();
        assert!(layers.len() <= MAX_TOTAL_LAYERS - 30, "{}", layers.len());
        let total: usize = layers.iter().map(|l| l.file_count()).sum();
        assert_eq!(total, 200);
        let err = plan_layers(
            &model(vec![file("a", 1)]),
            &PlanOptions::new(None, MAX_TOTAL_LAYERS).unwrap(),
        )
        .unwrap_err();
        assert!(matches!(err, ModelCarError::TooManyLayers { .. }));
    }

    #[test]
    fn subdir_validation() {
        assert_eq!(PlanOptions::new(None, 0).unwrap().prefix, "models");
        assert_eq!(
            PlanOptions::new(Some("/a/b/"), 0).unwrap().prefix,
            "models/a/b"
        );
        assert!(PlanOptions::new(Some("../x"), 0).is_err());
        assert!(PlanOptions::new(Some("a//b"), 0).is_err());
    }
}
