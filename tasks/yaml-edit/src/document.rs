//! The editable document: look-ups by key path and surgical replacement or insertion.

use granit_parser::ScalarStyle;

use crate::error::EditError;
use crate::scalar::{Quote, plain_reads_as_string, render};
use crate::tree::{self, Kind, Mapping, Node, Parsed, line_col};
use crate::verify::Model;

/// A YAML file held as its exact source text plus a span index of its single document.
#[derive(Debug, Clone)]
pub struct Document {
    text: String,
    parsed: Parsed,
    /// Every path set so far and the value it must read back as.
    set_so_far: Vec<(Vec<String>, String)>,
}

/// What [`Document::set`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// The key already held exactly this string value; the text is untouched.
    Unchanged,
    /// The scalar was rewritten; `old` is its previous value (empty for an empty `key:`).
    Replaced { old: String },
    /// The key (and any missing parent mappings) was added.
    Added,
}

/// Where a key path leads.
enum Lookup<'a> {
    Found(&'a Node),
    /// `path[depth]` is missing from `map` (`None`: the document is empty).
    Missing {
        map: Option<(&'a Node, &'a Mapping)>,
        depth: usize,
    },
    /// `path[..depth]` holds an empty value (`key:`) that can become a mapping.
    EmptyParent {
        key: &'a Node,
        depth: usize,
    },
}

impl Document {
    /// Parse `text`. Fails on malformed YAML and on files with more than one document.
    pub fn parse(text: &str) -> Result<Document, EditError> {
        Ok(Document {
            parsed: tree::parse(text)?,
            text: text.to_owned(),
            set_so_far: Vec::new(),
        })
    }

    /// True for an empty file, or one holding only `---`, `...` and comments.
    pub fn is_empty(&self) -> bool {
        self.parsed.root.is_none()
    }

    /// The string value at a key path (`["image", "tag"]`), or `None` if a key is missing or its
    /// value is empty (`key:`). The value is the scalar's text as written, after unquoting.
    ///
    /// Fails if the path leads to a sequence, mapping or alias, goes through something that is
    /// not a mapping, or meets a duplicate key.
    pub fn get(&self, path: &[&str]) -> Result<Option<String>, EditError> {
        let path: Vec<String> = path.iter().map(|s| (*s).to_owned()).collect();
        self.check_path(&path)?;
        match self.lookup(&path)? {
            Lookup::Found(node) => match &node.kind {
                Kind::Scalar(_) if node.is_empty_value() => Ok(None),
                Kind::Scalar(s) => Ok(Some(s.value.clone())),
                _ => Err(self.not_scalar(&path, node)),
            },
            Lookup::Missing { .. } | Lookup::EmptyParent { .. } => Ok(None),
        }
    }

    /// Set the scalar at `path` to the string `value`, adding keys that are missing.
    ///
    /// Only the bytes of the value (or the inserted lines) change. The result is parsed again and
    /// every key set on this document so far must read back as the string it was set to;
    /// otherwise the document is left unchanged and an error is returned.
    pub fn set(&mut self, path: &[&str], value: &str) -> Result<Change, EditError> {
        let path: Vec<String> = path.iter().map(|s| (*s).to_owned()).collect();
        self.check_path(&path)?;
        let (range, replacement, change) = self.plan(&path, value)?;
        if change == Change::Unchanged {
            self.remember(path, value);
            return Ok(change);
        }
        let mut text = String::with_capacity(self.text.len() + replacement.len());
        text.push_str(&self.text[..range.0]);
        text.push_str(&replacement);
        text.push_str(&self.text[range.1..]);
        self.parsed = self.verify(&text, &path, value, range.0)?;
        self.text = text;
        self.remember(path, value);
        Ok(change)
    }

    /// The document's current text.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The document's current text, ready to be written back.
    pub fn into_string(self) -> String {
        self.text
    }

    fn remember(&mut self, path: Vec<String>, value: &str) {
        self.set_so_far.retain(|(p, _)| *p != path);
        self.set_so_far.push((path, value.to_owned()));
    }

    fn check_path(&self, path: &[String]) -> Result<(), EditError> {
        if path.is_empty() || path.iter().any(String::is_empty) {
            let (line, column) = self
                .parsed
                .root
                .as_ref()
                .map_or((1, 1), |r| self.pos(r.start));
            return Err(EditError::InvalidPath {
                path: path.join("."),
                line,
                column,
            });
        }
        Ok(())
    }

    fn pos(&self, byte: usize) -> (usize, usize) {
        line_col(&self.text, byte)
    }

    fn lookup(&self, path: &[String]) -> Result<Lookup<'_>, EditError> {
        let Some(mut node) = self.parsed.root.as_ref() else {
            return Ok(Lookup::Missing {
                map: None,
                depth: 0,
            });
        };
        let mut parent_key: Option<&Node> = None;
        for (depth, key) in path.iter().enumerate() {
            let mapping = match &node.kind {
                Kind::Mapping(m) => m,
                _ if node.is_empty_value() && !node.in_flow => {
                    if let Some(parent_key) = parent_key {
                        return Ok(Lookup::EmptyParent {
                            key: parent_key,
                            depth,
                        });
                    }
                    return Err(self.not_mapping(path, depth, node));
                }
                Kind::Alias => {
                    let (line, column) = self.pos(node.start);
                    return Err(EditError::Alias {
                        path: path[..depth].join("."),
                        line,
                        column,
                    });
                }
                _ => return Err(self.not_mapping(path, depth, node)),
            };
            let mut matches = mapping
                .entries
                .iter()
                .filter(|(k, _)| matches!(&k.kind, Kind::Scalar(s) if s.value == *key));
            let Some((first_key, value)) = matches.next() else {
                return Ok(Lookup::Missing {
                    map: Some((node, mapping)),
                    depth,
                });
            };
            if let Some((second_key, _)) = matches.next() {
                let (line, column) = self.pos(second_key.start);
                return Err(EditError::DuplicateKey {
                    path: path.join("."),
                    key: key.clone(),
                    first_line: self.pos(first_key.start).0,
                    line,
                    column,
                });
            }
            parent_key = Some(first_key);
            node = value;
        }
        Ok(Lookup::Found(node))
    }

    fn not_mapping(&self, path: &[String], depth: usize, node: &Node) -> EditError {
        let (line, column) = self.pos(node.start);
        EditError::NotAMapping {
            path: path.join("."),
            at: if depth == 0 {
                "the document root".into()
            } else {
                path[..depth].join(".")
            },
            found: node.describe(),
            line,
            column,
        }
    }

    fn not_scalar(&self, path: &[String], node: &Node) -> EditError {
        let (line, column) = self.pos(node.start);
        match node.kind {
            Kind::Alias => EditError::Alias {
                path: path.join("."),
                line,
                column,
            },
            _ => EditError::NotAScalar {
                path: path.join("."),
                found: node.describe(),
                line,
                column,
            },
        }
    }

    /// Work out which byte range to replace with what.
    fn plan(
        &self,
        path: &[String],
        value: &str,
    ) -> Result<((usize, usize), String, Change), EditError> {
        match self.lookup(path)? {
            Lookup::Found(node) => self.plan_replace(path, node, value),
            Lookup::Missing { map: None, .. } => {
                // Fill an empty document: before an explicit `...`, else at the end.
                let at = self.parsed.doc_end.unwrap_or(self.text.len());
                let mut insert = String::new();
                let before = self.text[..at].trim_start_matches('\u{feff}');
                if !before.is_empty() && !before.ends_with('\n') {
                    insert.push_str(self.eol());
                }
                insert.push_str(&self.block_lines(path, value, 0));
                Ok(((at, at), insert, Change::Added))
            }
            Lookup::Missing {
                map: Some((map, m)),
                depth,
            } => {
                if m.flow {
                    let keys = &path[depth..];
                    let entry = format!(
                        "{}: {}",
                        render(&keys[0], Quote::Plain, true),
                        flow_value(&keys[1..], value)
                    );
                    let (at, insert) = match m.entries.last() {
                        None => (map.start + 1, entry),
                        Some((_, last)) => (last.end, format!(", {entry}")),
                    };
                    return Ok(((at, at), insert, Change::Added));
                }
                let indent = self.pos(map.start).1 - 1;
                let (at, insert) = self.insert_after_line_of(
                    map.end,
                    &self.block_lines(&path[depth..], value, indent),
                );
                Ok(((at, at), insert, Change::Added))
            }
            Lookup::EmptyParent { key, depth } => {
                let indent = self.pos(key.start).1 - 1 + self.indent_step();
                let (at, insert) = self.insert_after_line_of(
                    key.end,
                    &self.block_lines(&path[depth..], value, indent),
                );
                Ok(((at, at), insert, Change::Added))
            }
        }
    }

    fn plan_replace(
        &self,
        path: &[String],
        node: &Node,
        value: &str,
    ) -> Result<((usize, usize), String, Change), EditError> {
        let Kind::Scalar(scalar) = &node.kind else {
            return Err(self.not_scalar(path, node));
        };
        let (line, column) = self.pos(node.start);
        let dotted = path.join(".");
        if matches!(scalar.style, ScalarStyle::Literal | ScalarStyle::Folded) {
            return Err(EditError::BlockScalar {
                path: dotted,
                line,
                column,
            });
        }
        if let Some(tag) = &scalar.tag
            && !scalar.str_tag
        {
            let (line, column) = self.pos(scalar.tag_at.unwrap_or(node.start));
            return Err(EditError::UnsupportedTag {
                path: dotted,
                tag: tag.clone(),
                line,
                column,
            });
        }
        let empty = node.is_empty_value();
        let reads_as_string = scalar.style != ScalarStyle::Plain
            || scalar.str_tag
            || plain_reads_as_string(&scalar.value);
        if !empty && reads_as_string && scalar.value == value {
            return Ok(((node.start, node.end), String::new(), Change::Unchanged));
        }
        let quote = match scalar.style {
            ScalarStyle::SingleQuoted => Quote::Single,
            ScalarStyle::DoubleQuoted => Quote::Double,
            _ => Quote::Plain,
        };
        let rendered = render(value, quote, node.in_flow);
        if empty {
            // An empty value's span sits at the end of its key; write after the `:`.
            let colon = self.text[node.start..]
                .find(|c: char| c != ' ' && c != '\t')
                .map(|i| node.start + i)
                .filter(|&i| self.text[i..].starts_with(':'))
                .ok_or_else(|| {
                    self.verification(path, node.start, "cannot find the `:` after the key".into())
                })?;
            return Ok((
                (colon + 1, colon + 1),
                format!(" {rendered}"),
                Change::Replaced { old: String::new() },
            ));
        }
        Ok((
            (node.start, node.end),
            rendered,
            Change::Replaced {
                old: scalar.value.clone(),
            },
        ))
    }

    /// Insert `lines` after the line holding byte `end - 1` (the end of a mapping's content).
    fn insert_after_line_of(&self, end: usize, lines: &str) -> (usize, String) {
        if end > 0 && self.text[..end].ends_with('\n') {
            return (end, lines.to_owned());
        }
        match self.text[end..].find('\n') {
            Some(i) => (end + i + 1, lines.to_owned()),
            // Last line without a line break: keep the file without a trailing one.
            None => {
                let body = lines.strip_suffix(self.eol()).unwrap_or(lines);
                (self.text.len(), format!("{}{body}", self.eol()))
            }
        }
    }

    /// `keys[0]: ...` as block mapping lines, nesting each further key by the file's indent step.
    fn block_lines(&self, keys: &[String], value: &str, indent: usize) -> String {
        let step = self.indent_step();
        let eol = self.eol();
        let mut out = String::new();
        for (i, key) in keys.iter().enumerate() {
            out.push_str(&" ".repeat(indent + i * step));
            out.push_str(&render(key, Quote::Plain, false));
            out.push(':');
            if i + 1 == keys.len() {
                out.push(' ');
                out.push_str(&render(value, Quote::Plain, false));
            }
            out.push_str(eol);
        }
        out
    }

    /// The file's line ending: CRLF if its first line ends with one.
    fn eol(&self) -> &'static str {
        match self.text.find('\n') {
            Some(i) if i > 0 && self.text.as_bytes()[i - 1] == b'\r' => "\r\n",
            _ => "\n",
        }
    }

    /// How far nested block mappings are indented in this file (2 if there are none).
    fn indent_step(&self) -> usize {
        fn find(doc: &Document, node: &Node) -> Option<usize> {
            match &node.kind {
                Kind::Mapping(m) if !m.flow => m.entries.iter().find_map(|(k, v)| {
                    if let Kind::Mapping(inner) = &v.kind
                        && !inner.flow
                    {
                        let outer = doc.pos(k.start).1;
                        let inner_col = doc.pos(v.start).1;
                        if inner_col > outer {
                            return Some(inner_col - outer);
                        }
                    }
                    find(doc, v)
                }),
                Kind::Sequence { items, .. } => items.iter().find_map(|n| find(doc, n)),
                _ => None,
            }
        }
        self.parsed
            .root
            .as_ref()
            .and_then(|r| find(self, r))
            .unwrap_or(2)
    }

    fn verification(&self, path: &[String], at: usize, detail: String) -> EditError {
        let (line, column) = self.pos(at);
        EditError::Verification {
            path: path.join("."),
            detail,
            line,
            column,
        }
    }

    /// Parse the edited text and check it holds exactly the old data plus this change, and that
    /// every key set so far reads back as its string.
    fn verify(
        &self,
        new_text: &str,
        path: &[String],
        value: &str,
        at: usize,
    ) -> Result<Parsed, EditError> {
        let fail = |detail: String| self.verification(path, at, detail);
        let edited = Document::parse(new_text)
            .map_err(|e| fail(format!("the edited text does not parse: {e}")))?;
        let mut expected = Model::of(self.parsed.root.as_ref());
        if !expected.set(path, value) {
            return Err(fail("the key path cannot hold a value".into()));
        }
        if Model::of(edited.parsed.root.as_ref()) != expected {
            return Err(fail("other data in the document changed".into()));
        }
        let checks = self
            .set_so_far
            .iter()
            .map(|(p, v)| (p.as_slice(), v.as_str()));
        for (p, v) in checks.chain([(path, value)]) {
            let node = match edited.lookup(p) {
                Ok(Lookup::Found(node)) => node,
                _ => return Err(fail(format!("`{}` is missing", p.join(".")))),
            };
            let model = Model::of(Some(node));
            let want = Model::Scalar {
                value: v.to_owned(),
                string: true,
            };
            if model != want {
                return Err(fail(format!(
                    "`{}` reads as {model:?}, expected the string {v:?}",
                    p.join(".")
                )));
            }
        }
        Ok(edited.parsed)
    }
}

/// `value`, or `{k: {k2: value}}` for the remaining keys, in flow style.
fn flow_value(keys: &[String], value: &str) -> String {
    match keys.split_first() {
        None => render(value, Quote::Plain, true),
        Some((key, rest)) => format!(
            "{{{}: {}}}",
            render(key, Quote::Plain, true),
            flow_value(rest, value)
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The check that guards every edit rejects texts that lost or changed other data.
    #[test]
    fn verification_rejects_collateral_changes() {
        let doc = Document::parse("a: 1\nb: x\n").unwrap();
        let path = vec!["b".to_owned()];
        assert!(doc.verify("a: 1\nb: z\n", &path, "z", 8).is_ok());
        let err = doc.verify("a: 2\nb: z\n", &path, "z", 8).unwrap_err();
        assert!(
            matches!(
                err,
                EditError::Verification {
                    line: 2,
                    column: 4,
                    ..
                }
            ),
            "{err:?}"
        );
        let err = doc.verify("a: 1\nb: 012\n", &path, "012", 8).unwrap_err();
        assert!(matches!(err, EditError::Verification { .. }), "{err:?}");
        let err = doc.verify("a: 1\nb: [z\n", &path, "z", 8).unwrap_err();
        assert!(err.to_string().contains("does not parse"), "{err}");
    }
}
