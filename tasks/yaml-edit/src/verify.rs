//! Independent check of an edit: the data of the new text must equal the data of the old text
//! with the logical change applied, and nothing else.

use granit_parser::ScalarStyle;

use crate::scalar::plain_reads_as_string;
use crate::tree::{Kind, Node};

/// The data a YAML node holds, without presentation (positions, quotes, comments).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Model {
    /// A scalar and whether it reads as a string (a quoted or `!!str` scalar, or a plain string).
    Scalar {
        value: String,
        string: bool,
    },
    Alias,
    Sequence(Vec<Model>),
    Mapping(Vec<(Model, Model)>),
}

impl Model {
    pub fn of(root: Option<&Node>) -> Model {
        match root {
            None => Model::Scalar {
                value: String::new(),
                string: false,
            },
            Some(node) => Model::of_node(node),
        }
    }

    fn of_node(node: &Node) -> Model {
        match &node.kind {
            Kind::Scalar(s) => Model::Scalar {
                value: s.value.clone(),
                string: s.style != ScalarStyle::Plain
                    || s.str_tag
                    || plain_reads_as_string(&s.value),
            },
            Kind::Alias => Model::Alias,
            Kind::Sequence { items, .. } => {
                Model::Sequence(items.iter().map(Model::of_node).collect())
            }
            Kind::Mapping(m) => Model::Mapping(
                m.entries
                    .iter()
                    .map(|(k, v)| (Model::of_node(k), Model::of_node(v)))
                    .collect(),
            ),
        }
    }

    fn is_null(&self) -> bool {
        matches!(self, Model::Scalar { value, string: false } if value.is_empty())
    }

    /// Apply `path = value`: replace the scalar, or append missing keys (creating mappings, also in
    /// place of an empty value). Returns false if the path cannot be set.
    pub fn set(&mut self, path: &[String], value: &str) -> bool {
        let Some((first, rest)) = path.split_first() else {
            *self = Model::Scalar {
                value: value.to_owned(),
                string: true,
            };
            return true;
        };
        if self.is_null() {
            *self = Model::Mapping(Vec::new());
        }
        let Model::Mapping(entries) = self else {
            return false;
        };
        let existing = entries
            .iter_mut()
            .find(|(k, _)| matches!(k, Model::Scalar { value, .. } if value == first));
        match existing {
            Some((_, child)) => child.set(rest, value),
            None => {
                let mut child = Model::Scalar {
                    value: String::new(),
                    string: false,
                };
                let ok = child.set(rest, value);
                entries.push((
                    Model::Scalar {
                        value: first.clone(),
                        string: true,
                    },
                    child,
                ));
                ok
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn string(value: &str) -> Model {
        Model::Scalar {
            value: value.into(),
            string: true,
        }
    }

    #[test]
    fn set_replaces_appends_and_fills_nulls() {
        let mut model = Model::of(None);
        assert!(model.set(&["a".into(), "b".into()], "v"));
        assert_eq!(
            model,
            Model::Mapping(vec![(
                string("a"),
                Model::Mapping(vec![(string("b"), string("v"))])
            )])
        );
        assert!(model.set(&["a".into(), "b".into()], "w"));
        assert_eq!(
            model,
            Model::Mapping(vec![(
                string("a"),
                Model::Mapping(vec![(string("b"), string("w"))])
            )])
        );
        assert!(
            !model.set(&["a".into(), "b".into(), "c".into()], "x"),
            "a string is not a mapping"
        );
    }
}
