//! Surgical editing of scalar values in YAML files (Argo CD / Helm values, GitOps `config.yaml`).
//!
//! Setting `version` to `1.4.0` changes the bytes of that value and nothing else: comments, blank
//! lines, key order, quote styles, indentation, `---`/`...` markers, CRLF line endings and
//! non-ASCII text stay exactly as they were.
//!
//! # Approach
//! The file is parsed with `granit-parser` (the parser behind `serde-saphyr`), whose events carry
//! byte spans. From them a small node tree is built that records, for every scalar, the exact
//! byte range of its text (quotes included, anchors and tags excluded) and, for every mapping,
//! where its content ends. An edit is then a single splice into the source text:
//!
//! * an existing scalar: its byte range is replaced by the new value, written in the old quote
//!   style when that style can hold it (plain values that would read back as anything but a
//!   string under YAML 1.2 *or* YAML 1.1, such as `1234567`, `yes` or `2024-01-01`, become
//!   double-quoted);
//! * a missing key: a `key: value` line is inserted after the last line of its mapping, with the
//!   mapping's indentation and the file's line ending (a `, key: value` in a flow mapping);
//!   missing parent mappings are created as nested block mappings.
//!
//! Every edit is verified before it is kept: the new text is parsed again, its data must equal
//! the old data with exactly this change applied, and every key set so far must read back as the
//! string it was set to.
//!
//! Tags: a target tagged `!!str` keeps its tag; any other tag is refused.
//!
//! ```
//! use yaml_edit::{Change, Document};
//!
//! let mut doc = Document::parse("# model\nname: jukebox\nversion: v1 # current\n").unwrap();
//! let change = doc.set(&["version"], "1234567").unwrap();
//! assert_eq!(change, Change::Replaced { old: "v1".into() });
//! assert_eq!(doc.as_str(), "# model\nname: jukebox\nversion: \"1234567\" # current\n");
//! ```

mod document;
mod error;
mod scalar;
mod tree;
mod verify;

pub use document::{Change, Document};
pub use error::EditError;

/// Split a dotted key path: `"image.tag"` becomes `["image", "tag"]`.
///
/// A dot preceded by a backslash is part of the key (`"annotations.example\.com/team"` gives
/// `["annotations", "example.com/team"]`), and `\\` stands for one backslash.
pub fn parse_key_path(dotted: &str) -> Vec<String> {
    let mut keys = vec![String::new()];
    let mut chars = dotted.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(next @ ('.' | '\\')) => keys.last_mut().map_or((), |k| k.push(next)),
                Some(other) => {
                    if let Some(k) = keys.last_mut() {
                        k.push('\\');
                        k.push(other);
                    }
                }
                None => keys.last_mut().map_or((), |k| k.push('\\')),
            },
            '.' => keys.push(String::new()),
            c => keys.last_mut().map_or((), |k| k.push(c)),
        }
    }
    keys
}
