//! A node tree with exact byte spans, built from `granit-parser` events.
//!
//! The parser reports spans as byte ranges for `&str` input; markers also carry a character index,
//! which is converted to a byte offset only if a byte offset is missing.

use std::iter::Peekable;

use granit_parser::{Event, Parser, ScalarStyle, ScanError, Span};

use crate::error::EditError;

/// One YAML node and the bytes it occupies in the source.
#[derive(Debug, Clone)]
pub(crate) struct Node {
    /// First byte of the node's content (after any anchor or tag).
    pub start: usize,
    /// One past the last byte of the node's content.
    pub end: usize,
    /// Whether the node sits inside a flow collection (`{...}` or `[...]`).
    pub in_flow: bool,
    pub kind: Kind,
}

#[derive(Debug, Clone)]
pub(crate) enum Kind {
    Scalar(Scalar),
    Alias,
    Sequence { items: Vec<Node> },
    Mapping(Mapping),
}

#[derive(Debug, Clone)]
pub(crate) struct Scalar {
    /// The value after escape processing; empty for an empty (null) value.
    pub value: String,
    pub style: ScalarStyle,
    /// The tag as written (`!!str`), if any.
    pub tag: Option<String>,
    /// Whether the tag is the core-schema `str` tag.
    pub str_tag: bool,
    /// Byte offset of the tag token, if any.
    pub tag_at: Option<usize>,
}

#[derive(Debug, Clone)]
pub(crate) struct Mapping {
    pub flow: bool,
    pub entries: Vec<(Node, Node)>,
}

impl Node {
    /// An empty plain scalar: `key:` with nothing after it.
    pub fn is_empty_value(&self) -> bool {
        matches!(&self.kind, Kind::Scalar(s) if s.style == ScalarStyle::Plain && self.start == self.end)
    }

    pub fn describe(&self) -> &'static str {
        match &self.kind {
            Kind::Scalar(s) => match s.style {
                ScalarStyle::Literal | ScalarStyle::Folded => "a block scalar",
                _ if self.is_empty_value() => "an empty value",
                _ => "a scalar",
            },
            Kind::Alias => "an alias",
            Kind::Sequence { .. } => "a sequence",
            Kind::Mapping(_) => "a mapping",
        }
    }
}

/// The single document of a file.
#[derive(Debug, Clone)]
pub(crate) struct Parsed {
    /// `None` for an empty document (nothing, comments, or a bare `---`).
    pub root: Option<Node>,
    /// Byte offset of an explicit document end marker (`...`), if present.
    pub doc_end: Option<usize>,
}

/// 1-based line and character column of a byte offset.
pub(crate) fn line_col(text: &str, byte: usize) -> (usize, usize) {
    let byte = floor_char_boundary(text, byte.min(text.len()));
    let before = &text[..byte];
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let line = before.matches('\n').count() + 1;
    // A byte order mark is not a column.
    let column = before[line_start..]
        .chars()
        .filter(|&c| c != '\u{feff}')
        .count()
        + 1;
    (line, column)
}

fn floor_char_boundary(text: &str, mut i: usize) -> usize {
    while !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

pub(crate) fn parse(text: &str) -> Result<Parsed, EditError> {
    let mut builder = Builder {
        text,
        events: Parser::new_from_str(text).peekable(),
        last_end: 0,
        prev_end: 0,
    };
    builder.stream()
}

type EventIter<'a> = Peekable<Parser<'a, granit_parser::StrInput<'a>>>;

struct Builder<'a> {
    text: &'a str,
    events: EventIter<'a>,
    /// End of the last event read, and of the one before it (for a node: where its key ended,
    /// which is where the search for a block scalar's `|`/`>` header starts).
    last_end: usize,
    prev_end: usize,
}

impl<'a> Builder<'a> {
    fn byte_range(&self, span: &Span) -> (usize, usize) {
        if let Some(r) = span.byte_range() {
            return (r.start, r.end);
        }
        // Fall back to the character index, converted to a byte offset.
        let to_byte = |chars: usize| {
            self.text
                .char_indices()
                .nth(chars)
                .map_or(self.text.len(), |(b, _)| b)
        };
        (to_byte(span.start.index()), to_byte(span.end.index()))
    }

    fn scan_error(&self, e: &ScanError) -> EditError {
        let (line, column) = match e.marker().byte_offset() {
            Some(b) => line_col(self.text, b),
            None => (e.marker().line(), e.marker().col() + 1),
        };
        let info = e.info();
        EditError::Parse {
            line,
            column,
            message: if info.is_empty() { e.to_string() } else { info },
        }
    }

    /// The next event that carries structure (comments and anchor metadata are skipped).
    fn next(&mut self) -> Result<(Event<'a>, Span), EditError> {
        loop {
            match self.events.next() {
                None => {
                    let end = self.text.len();
                    let (line, column) = line_col(self.text, end);
                    return Err(EditError::Parse {
                        line,
                        column,
                        message: "unexpected end of YAML stream".into(),
                    });
                }
                Some(Err(e)) => return Err(self.scan_error(&e)),
                Some(Ok((Event::Comment(..), _))) | Some(Ok((Event::Anchor(..), _))) => continue,
                Some(Ok(pair)) => {
                    if let Some(range) = pair.1.byte_range() {
                        self.prev_end = self.last_end;
                        self.last_end = range.end;
                    }
                    return Ok(pair);
                }
            }
        }
    }

    fn stream(&mut self) -> Result<Parsed, EditError> {
        let mut parsed = Parsed {
            root: None,
            doc_end: None,
        };
        let mut seen_document = false;
        loop {
            let (event, span) = self.next()?;
            match event {
                Event::StreamStart => {}
                Event::StreamEnd => return Ok(parsed),
                Event::DocumentStart(..) => {
                    let (start, _) = self.byte_range(&span);
                    if seen_document {
                        let (line, column) = line_col(self.text, start);
                        return Err(EditError::MultipleDocuments { line, column });
                    }
                    seen_document = true;
                    let (event, span) = self.next()?;
                    let (event, span) = if matches!(event, Event::DocumentEnd) {
                        (event, span)
                    } else {
                        let root = self.node(event, span, false)?;
                        if !root.is_empty_value() {
                            parsed.root = Some(root);
                        }
                        self.next()?
                    };
                    let (start, end) = self.byte_range(&span);
                    if !matches!(event, Event::DocumentEnd) {
                        let (line, column) = line_col(self.text, start);
                        return Err(EditError::Parse {
                            line,
                            column,
                            message: format!("expected the end of the document, found {event:?}"),
                        });
                    }
                    if end > start {
                        parsed.doc_end = Some(start);
                    }
                }
                other => {
                    let (start, _) = self.byte_range(&span);
                    let (line, column) = line_col(self.text, start);
                    return Err(EditError::Parse {
                        line,
                        column,
                        message: format!("unexpected event {other:?} outside a document"),
                    });
                }
            }
        }
    }

    fn node(&mut self, event: Event<'a>, span: Span, in_flow: bool) -> Result<Node, EditError> {
        let (mut start, end) = self.byte_range(&span);
        let search_from = self.prev_end.min(start);
        let kind = match event {
            Event::Scalar(value, style, _anchor, tag) => {
                if matches!(style, ScalarStyle::Literal | ScalarStyle::Folded) {
                    // The span covers the content; point at the `|`/`>` header instead.
                    start = self.text[search_from..start]
                        .find(['|', '>'])
                        .map_or(start, |i| search_from + i);
                }
                let tag_at = span.tag_start().and_then(|m| m.byte_offset());
                let empty = style == ScalarStyle::Plain && start == end;
                Kind::Scalar(Scalar {
                    value: if empty {
                        String::new()
                    } else {
                        value.into_owned()
                    },
                    style,
                    str_tag: tag
                        .as_ref()
                        .is_some_and(|t| t.is_yaml_core_schema_tag("str")),
                    tag: tag.map(|t| t.original()),
                    tag_at,
                })
            }
            Event::Alias(_) | Event::UnresolvedAlias(_) => Kind::Alias,
            Event::SequenceStart(style, ..) => {
                let flow = style == granit_parser::StructureStyle::Flow;
                let mut items = Vec::new();
                let end = loop {
                    let (event, span) = self.next()?;
                    if matches!(event, Event::SequenceEnd) {
                        break self.collection_end(
                            &span,
                            flow,
                            items.last().map(|n: &Node| n.end),
                            start,
                        );
                    }
                    items.push(self.node(event, span, in_flow || flow)?);
                };
                return Ok(Node {
                    start,
                    end,
                    in_flow,
                    kind: Kind::Sequence { items },
                });
            }
            Event::MappingStart(style, ..) => {
                let flow = style == granit_parser::StructureStyle::Flow;
                let mut entries: Vec<(Node, Node)> = Vec::new();
                let end = loop {
                    let (event, span) = self.next()?;
                    if matches!(event, Event::MappingEnd) {
                        let last = entries.last().map(|(_, v)| v.end);
                        break self.collection_end(&span, flow, last, start);
                    }
                    let key = self.node(event, span, in_flow || flow)?;
                    let (event, span) = self.next()?;
                    let value = self.node(event, span, in_flow || flow)?;
                    entries.push((key, value));
                };
                return Ok(Node {
                    start,
                    end,
                    in_flow,
                    kind: Kind::Mapping(Mapping { flow, entries }),
                });
            }
            other => {
                let (line, column) = line_col(self.text, start);
                return Err(EditError::Parse {
                    line,
                    column,
                    message: format!("unexpected event {other:?} where a node was expected"),
                });
            }
        };
        Ok(Node {
            start,
            end,
            in_flow,
            kind,
        })
    }

    /// A flow collection ends after its closing bracket; a block collection ends where its last
    /// child ends (the parser places block end events at the next token, past any comments).
    fn collection_end(
        &self,
        span: &Span,
        flow: bool,
        last_child_end: Option<usize>,
        start: usize,
    ) -> usize {
        if flow {
            self.byte_range(span).1
        } else {
            last_child_end.unwrap_or(start)
        }
    }
}
