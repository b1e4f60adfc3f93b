//! Typed errors: every variant names the 1-based line and column it is about.

/// Why a YAML document could not be read or edited.
///
/// Line and column are 1-based; the column counts characters (not bytes) from the start of the line.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
pub enum EditError {
    /// The text is not valid YAML.
    #[error(
        "cannot parse YAML at line {line}, column {column}: {message}; fix the syntax there (a YAML linter shows the same spot)"
    )]
    Parse {
        line: usize,
        column: usize,
        message: String,
    },

    /// The file holds more than one YAML document.
    #[error(
        "cannot edit a file with more than one YAML document: a second document starts at line {line}, column {column}; split the file or edit it by hand"
    )]
    MultipleDocuments { line: usize, column: usize },

    /// A mapping on the key path defines the same key twice, so the target is ambiguous.
    #[error(
        "key `{key}` is defined twice in the same mapping (line {first_line} and line {line}, column {column}) while looking up `{path}`; remove one of them"
    )]
    DuplicateKey {
        path: String,
        key: String,
        first_line: usize,
        line: usize,
        column: usize,
    },

    /// A node on the path to the target is not a mapping, so the path cannot go through it.
    #[error(
        "cannot look up `{path}`: `{at}` at line {line}, column {column} is {found}, not a mapping; check the key path or the file's structure"
    )]
    NotAMapping {
        path: String,
        at: String,
        found: &'static str,
        line: usize,
        column: usize,
    },

    /// The target holds a sequence or mapping where a scalar was expected.
    #[error(
        "cannot use `{path}` as a single value: it is {found} at line {line}, column {column}; point the key path at a scalar below it"
    )]
    NotAScalar {
        path: String,
        found: &'static str,
        line: usize,
        column: usize,
    },

    /// The target is a literal (`|`) or folded (`>`) block scalar, which this editor does not rewrite.
    #[error(
        "cannot set `{path}`: it is a block scalar (`|` or `>`) at line {line}, column {column}; rewrite it as a one-line value first"
    )]
    BlockScalar {
        path: String,
        line: usize,
        column: usize,
    },

    /// The target (or a node on its path) is an alias (`*name`) to a node defined elsewhere.
    #[error(
        "cannot use `{path}`: it is an alias (`*name`) at line {line}, column {column}; edit the anchored node it refers to, or replace the alias by a value"
    )]
    Alias {
        path: String,
        line: usize,
        column: usize,
    },

    /// The target carries a tag other than `!!str`, so a string value would change its meaning.
    #[error(
        "cannot set `{path}`: its value is tagged `{tag}` at line {line}, column {column}; remove the tag or use `!!str`"
    )]
    UnsupportedTag {
        path: String,
        tag: String,
        line: usize,
        column: usize,
    },

    /// The key path is empty or holds an empty key.
    #[error(
        "invalid key path `{path}` (document root at line {line}, column {column}): give dot-separated, non-empty keys such as `image.tag`"
    )]
    InvalidPath {
        path: String,
        line: usize,
        column: usize,
    },

    /// The edited text did not read back as expected; the edit was not applied.
    #[error(
        "refusing the edit of `{path}`: after editing, the value at line {line}, column {column} reads back wrongly ({detail}); the file was left unchanged, please report this with the file"
    )]
    Verification {
        path: String,
        detail: String,
        line: usize,
        column: usize,
    },
}

impl EditError {
    /// The 1-based line and column this error points at.
    pub fn position(&self) -> (usize, usize) {
        match self {
            EditError::Parse { line, column, .. }
            | EditError::MultipleDocuments { line, column }
            | EditError::DuplicateKey { line, column, .. }
            | EditError::NotAMapping { line, column, .. }
            | EditError::NotAScalar { line, column, .. }
            | EditError::BlockScalar { line, column, .. }
            | EditError::Alias { line, column, .. }
            | EditError::UnsupportedTag { line, column, .. }
            | EditError::InvalidPath { line, column, .. }
            | EditError::Verification { line, column, .. } => (*line, *column),
        }
    }
}

impl EditError {
    /// Whether the fix is the caller's: the file's YAML or the key path asked for. Only a failed
    /// read-back is not (the editor's own fault: the file is left unchanged). This crate depends on
    /// nothing but a parser, so it does not implement `common::UsageFault`; its errors reach a
    /// binary inside `gitops`'s, which ask this.
    pub fn is_usage(&self) -> bool {
        !matches!(self, EditError::Verification { .. })
    }

    /// Whether the key path, rather than the file, is at fault.
    pub fn is_key_path(&self) -> bool {
        matches!(
            self,
            EditError::NotAMapping { .. }
                | EditError::NotAScalar { .. }
                | EditError::InvalidPath { .. }
        )
    }
}
