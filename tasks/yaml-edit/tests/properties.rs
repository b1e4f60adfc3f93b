//! Property tests: random block-mapping documents (nested maps, comments, blank lines, three quote
//! styles, 2/3/4-space indentation, LF/CRLF, optional `---`, block sequences, flow mappings,
//! anchors and aliases), random new values.
//!
//! The generator renders each document itself and records the byte span of every scalar value,
//! so the checks do not rely on the code under test: (a) the result parses, (b) serde-saphyr reads
//! the key back as exactly the string set, (c) every byte outside the old value's span (or outside
//! the inserted lines) is unchanged.

use std::ops::Range;

use proptest::prelude::*;
use yaml_edit::{Change, Document};

#[derive(Debug, Clone)]
enum Node {
    Scalar(Scalar),
    Map(Vec<Entry>),
    /// A block sequence of plain items, indented under its key or not.
    Seq {
        items: Vec<String>,
        indented: bool,
    },
    /// A one-line flow mapping; its values are edit targets too.
    Flow(Vec<(String, Scalar)>),
}

#[derive(Debug, Clone)]
struct Scalar {
    value: String,
    style: Style,
    comment: bool,
    anchor: bool,
}

#[derive(Debug, Clone, Copy)]
enum Style {
    Plain,
    Single,
    Double,
}

#[derive(Debug, Clone)]
struct Entry {
    key: String,
    node: Node,
    comment_above: bool,
    blank_before: bool,
}

#[derive(Debug, Clone)]
struct Layout {
    indent: usize,
    crlf: bool,
    doc_start: bool,
    trailing_newline: bool,
}

/// A rendered document, the byte span of each scalar value by key path, and its block mappings.
struct Rendered {
    text: String,
    scalars: Vec<(Vec<String>, Range<usize>)>,
    maps: Vec<Vec<String>>,
    anchors: usize,
}

fn scalar(plain: &'static str) -> impl Strategy<Value = Scalar> {
    let plain = plain.prop_map(|v| (v, Style::Plain));
    let single = "[ -~]{0,10}".prop_map(|v| (v, Style::Single));
    let double = "[ -~é🎵\t]{0,10}".prop_map(|v| (v, Style::Double));
    (
        prop_oneof![plain, single, double],
        any::<bool>(),
        prop::bool::weighted(0.15),
    )
        .prop_map(|((value, style), comment, anchor)| Scalar {
            value,
            style,
            comment,
            anchor,
        })
}

fn unique<T>(raw: Vec<(String, T)>) -> Vec<(String, T)> {
    let mut seen = std::collections::HashSet::new();
    raw.into_iter()
        .filter(|(key, _)| seen.insert(key.clone()))
        .collect()
}

fn leaf() -> impl Strategy<Value = Node> {
    let seq = (
        prop::collection::vec("[a-z][a-z0-9]{0,5}", 1..4),
        any::<bool>(),
    )
        .prop_map(|(items, indented)| Node::Seq { items, indented });
    let flow = prop::collection::vec(("f[a-z]{0,3}", scalar("[a-z][a-z0-9.-]{0,6}")), 0..3)
        .prop_map(|raw| Node::Flow(unique(raw)));
    prop_oneof![
        6 => scalar("[a-z][a-z0-9./-]{0,8}").prop_map(Node::Scalar),
        1 => seq,
        1 => flow,
    ]
}

fn entries(node: impl Strategy<Value = Node>) -> impl Strategy<Value = Vec<Entry>> {
    prop::collection::vec(
        (
            "k[a-z0-9_ä]{0,5}",
            (node, any::<bool>(), prop::bool::weighted(0.2)),
        ),
        1..5,
    )
    .prop_map(|raw| {
        unique(raw)
            .into_iter()
            .map(|(key, (node, comment_above, blank_before))| Entry {
                key,
                node,
                comment_above,
                blank_before,
            })
            .collect()
    })
}

fn document() -> impl Strategy<Value = (Vec<Entry>, Layout)> {
    let node = leaf().prop_recursive(3, 24, 4, |inner| entries(inner).prop_map(Node::Map));
    let layout = (
        2usize..=4,
        any::<bool>(),
        any::<bool>(),
        prop::bool::weighted(0.8),
    )
        .prop_map(|(indent, crlf, doc_start, trailing_newline)| Layout {
            indent,
            crlf,
            doc_start,
            trailing_newline,
        });
    (entries(node), layout)
}

fn quote(value: &str, style: Style) -> String {
    match style {
        Style::Plain => value.to_owned(),
        Style::Single => format!("'{}'", value.replace('\'', "''")),
        Style::Double => format!(
            "\"{}\"",
            value
                .replace('\\', "\\\\")
                .replace('"', "\\\"")
                .replace('\t', "\\t")
        ),
    }
}

impl Rendered {
    /// Write a scalar (with its anchor) and record the span of its text.
    fn scalar(&mut self, path: &[String], s: &Scalar) {
        if s.anchor {
            self.text.push_str(&format!("&a{} ", self.anchors));
            self.anchors += 1;
        }
        let start = self.text.len();
        self.text.push_str(&quote(&s.value, s.style));
        self.scalars.push((path.to_vec(), start..self.text.len()));
    }
}

fn render(entries: &[Entry], layout: &Layout) -> Rendered {
    fn walk(
        entries: &[Entry],
        level: usize,
        path: &mut Vec<String>,
        layout: &Layout,
        out: &mut Rendered,
    ) {
        let eol = if layout.crlf { "\r\n" } else { "\n" };
        let indent = " ".repeat(level * layout.indent);
        for entry in entries {
            if entry.blank_before {
                out.text.push_str(eol);
            }
            if entry.comment_above {
                out.text
                    .push_str(&format!("{indent}# about {} 🎶{eol}", entry.key));
            }
            path.push(entry.key.clone());
            match &entry.node {
                Node::Scalar(s) => {
                    out.text.push_str(&format!("{indent}{}: ", entry.key));
                    out.scalar(path, s);
                    if s.comment {
                        out.text.push_str("  # note: keep");
                    }
                    out.text.push_str(eol);
                }
                Node::Map(children) => {
                    out.text.push_str(&format!("{indent}{}:{eol}", entry.key));
                    out.maps.push(path.clone());
                    walk(children, level + 1, path, layout, out);
                }
                Node::Seq { items, indented } => {
                    out.text.push_str(&format!("{indent}{}:{eol}", entry.key));
                    let item_indent = if *indented {
                        " ".repeat((level + 1) * layout.indent)
                    } else {
                        indent.clone()
                    };
                    for item in items {
                        out.text.push_str(&format!("{item_indent}- {item}{eol}"));
                    }
                }
                Node::Flow(pairs) => {
                    out.text.push_str(&format!("{indent}{}: {{", entry.key));
                    for (i, (key, value)) in pairs.iter().enumerate() {
                        if i > 0 {
                            out.text.push_str(", ");
                        }
                        out.text.push_str(&format!("{key}: "));
                        path.push(key.clone());
                        out.scalar(path, value);
                        path.pop();
                    }
                    out.text.push_str(&format!("}}{eol}"));
                }
            }
            path.pop();
        }
    }
    let mut out = Rendered {
        text: String::new(),
        scalars: Vec::new(),
        maps: vec![Vec::new()],
        anchors: 0,
    };
    if layout.doc_start {
        out.text
            .push_str(if layout.crlf { "---\r\n" } else { "---\n" });
    }
    walk(entries, 0, &mut Vec::new(), layout, &mut out);
    if out.anchors > 0 {
        // An alias to the first anchor, so the file has both.
        let eol = if layout.crlf { "\r\n" } else { "\n" };
        out.text.push_str(&format!("zalias: *a0{eol}"));
    }
    if !layout.trailing_newline {
        let trimmed = out.text.trim_end_matches(['\r', '\n']).len();
        out.text.truncate(trimmed);
    }
    out
}

fn new_value() -> impl Strategy<Value = String> {
    let special = prop::sample::select(vec![
        "1234567",
        "1e3",
        "0x1F",
        "0o17",
        "012",
        "1_000",
        "yes",
        "No",
        "on",
        "OFF",
        "y",
        "null",
        "~",
        "",
        ".inf",
        ".nan",
        "1:20",
        "2024-01-01",
        "a: b",
        "a #b",
        "-x",
        "#x",
        "'q'",
        "\"d\"",
        " pad ",
        "v1.2.3",
        "jükebox 🎵",
    ])
    .prop_map(str::to_owned);
    let any_chars =
        prop::collection::vec(any::<char>(), 0..12).prop_map(|c| c.into_iter().collect::<String>());
    prop_oneof![special, "[ -~]{0,16}", any_chars]
}

fn read_back(text: &str, path: &[String]) -> serde_json::Value {
    let data: serde_json::Value = serde_saphyr::from_str(text)
        .unwrap_or_else(|e| panic!("serde-saphyr cannot read the result: {e}\n{text}"));
    path.iter()
        .fold(data, |value, key| value[key.as_str()].clone())
}

fn common_prefix(a: &str, b: &str) -> usize {
    a.bytes().zip(b.bytes()).take_while(|(x, y)| x == y).count()
}

fn common_suffix(a: &str, b: &str) -> usize {
    a.bytes()
        .rev()
        .zip(b.bytes().rev())
        .take_while(|(x, y)| x == y)
        .count()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn replacing_a_scalar_changes_only_its_bytes(
        (entries, layout) in document(),
        pick in any::<prop::sample::Index>(),
        value in new_value(),
    ) {
        let rendered = render(&entries, &layout);
        prop_assume!(!rendered.scalars.is_empty());
        let (path, span) = rendered.scalars[pick.index(rendered.scalars.len())].clone();
        let keys: Vec<&str> = path.iter().map(String::as_str).collect();

        let mut doc = Document::parse(&rendered.text).expect("generated document parses");
        let change = doc.set(&keys, &value).expect("set succeeds");
        prop_assert!(matches!(change, Change::Replaced { .. } | Change::Unchanged), "{change:?}");
        let out = doc.as_str();

        // (a) parses, (b) reads back as exactly the string set.
        prop_assert_eq!(read_back(out, &path), serde_json::Value::String(value.clone()));
        prop_assert_eq!(Document::parse(out).unwrap().get(&keys).unwrap(), Some(value.clone()));
        // (c) nothing outside the old value's span changed.
        let before = &rendered.text;
        let tail = before.len() - span.end;
        prop_assert!(out.len() >= span.start + tail);
        prop_assert_eq!(&out[..span.start], &before[..span.start]);
        prop_assert_eq!(&out[out.len() - tail..], &before[span.end..]);
    }

    #[test]
    fn adding_a_key_only_inserts_lines(
        (entries, layout) in document(),
        pick in any::<prop::sample::Index>(),
        new_keys in prop::collection::vec("n[a-z]{0,4}", 1..3),
        value in new_value(),
    ) {
        let rendered = render(&entries, &layout);
        let mut path = rendered.maps[pick.index(rendered.maps.len())].clone();
        path.extend(new_keys);
        let keys: Vec<&str> = path.iter().map(String::as_str).collect();

        let mut doc = Document::parse(&rendered.text).expect("generated document parses");
        prop_assert_eq!(doc.set(&keys, &value).expect("set succeeds"), Change::Added);
        let out = doc.as_str();

        prop_assert_eq!(read_back(out, &path), serde_json::Value::String(value.clone()));
        // The old text is a prefix and a suffix of the new one around a single insertion of
        // whole lines, in the file's line ending.
        let before = &rendered.text;
        let p = common_prefix(before, out);
        prop_assert!(p + common_suffix(before, out) >= before.len());
        let inserted = &out[p..out.len() - (before.len() - p)];
        let lf_count = inserted.matches('\n').count();
        prop_assert!(lf_count >= 1, "no line inserted: {:?}", inserted);
        // A one-line file without a line break has no line ending to follow: LF is used.
        let crlf = layout.crlf && before.contains('\n');
        prop_assert_eq!(inserted.matches("\r\n").count(), if crlf { lf_count } else { 0 });
        prop_assert_eq!(out.ends_with('\n'), before.ends_with('\n'));
    }

    /// Arbitrary YAML-ish text never panics the editor: it parses and edits, or says why not,
    /// and a successful edit always reads back.
    #[test]
    fn arbitrary_text_never_panics(
        text in "[ab: \\-#\\[\\]{}&*!|>'\"\n\r\t.~,?%@`é🎵1]{0,48}",
        key in prop::sample::select(vec!["a", "b", "ab"]),
        value in new_value(),
    ) {
        if let Ok(mut doc) = Document::parse(&text) {
            let _ = doc.get(&[key]);
            if doc.set(&[key, "b"], &value).is_ok() {
                prop_assert_eq!(doc.get(&[key, "b"]).unwrap(), Some(value.clone()));
            }
            if doc.set(&[key], &value).is_ok() {
                prop_assert_eq!(doc.get(&[key]).unwrap(), Some(value.clone()));
            }
        }
    }
}
