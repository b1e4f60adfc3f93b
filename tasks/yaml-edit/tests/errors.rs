//! Every refusal names its line and column (1-based).

use yaml_edit::{Document, EditError};

fn set_err(input: &str, path: &[&str]) -> EditError {
    let mut doc = Document::parse(input).unwrap();
    let err = doc.set(path, "new").unwrap_err();
    assert_eq!(
        doc.as_str(),
        input,
        "a failed set must leave the text unchanged"
    );
    err
}

#[test]
fn block_scalar_target() {
    let err = set_err("name: x\nscript: |\n  echo hi\n", &["script"]);
    assert!(
        matches!(
            err,
            EditError::BlockScalar {
                line: 2,
                column: 9,
                ..
            }
        ),
        "{err:?}"
    );
    let err = set_err("text: >-\n  folded\n", &["text"]);
    assert!(
        matches!(
            err,
            EditError::BlockScalar {
                line: 1,
                column: 7,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("line 1, column 7"), "{err}");
    let err = set_err("a: 1\nnote: &n !!str |+ # keep\n  text\n", &["note"]);
    assert!(
        matches!(
            err,
            EditError::BlockScalar {
                line: 2,
                column: 16,
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn alias_target_and_alias_on_path() {
    let err = set_err("base: &v 1\ncopy: *v\n", &["copy"]);
    assert!(
        matches!(
            err,
            EditError::Alias {
                line: 2,
                column: 7,
                ..
            }
        ),
        "{err:?}"
    );
    let err = set_err("base: &m\n  a: 1\ncopy: *m\n", &["copy", "a"]);
    assert!(
        matches!(
            err,
            EditError::Alias {
                line: 3,
                column: 7,
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn sequence_or_mapping_target() {
    let err = set_err("list:\n  - a\n  - b\n", &["list"]);
    assert!(
        matches!(
            err,
            EditError::NotAScalar {
                found: "a sequence",
                line: 2,
                ..
            }
        ),
        "{err:?}"
    );
    let err = set_err("image:\n  tag: v1\n", &["image"]);
    assert!(
        matches!(
            err,
            EditError::NotAScalar {
                found: "a mapping",
                line: 2,
                column: 3,
                ..
            }
        ),
        "{err:?}"
    );
    let err = set_err("image: {tag: v1}\n", &["image"]);
    assert!(
        matches!(
            err,
            EditError::NotAScalar {
                found: "a mapping",
                line: 1,
                column: 8,
                ..
            }
        ),
        "{err:?}"
    );
    let doc = Document::parse("image:\n  tag: v1\n").unwrap();
    assert!(matches!(
        doc.get(&["image"]),
        Err(EditError::NotAScalar {
            line: 2,
            column: 3,
            ..
        })
    ));
}

#[test]
fn duplicate_keys_on_the_path() {
    let err = set_err("version: 1\nname: x\nversion: 2\n", &["version"]);
    assert!(
        matches!(&err, EditError::DuplicateKey { key, first_line: 1, line: 3, column: 1, .. } if key == "version"),
        "{err:?}"
    );
    let err = set_err("image:\n  tag: 1\nimage:\n  tag: 2\n", &["image", "tag"]);
    assert!(
        matches!(
            err,
            EditError::DuplicateKey {
                first_line: 1,
                line: 3,
                column: 1,
                ..
            }
        ),
        "{err:?}"
    );
    let err = set_err("image:\n  tag: 1\n  \"tag\": 2\n", &["image", "tag"]);
    assert!(
        matches!(
            err,
            EditError::DuplicateKey {
                first_line: 2,
                line: 3,
                column: 3,
                ..
            }
        ),
        "{err:?}"
    );
    // Duplicates elsewhere do not matter.
    let mut doc = Document::parse("a: 1\na: 2\nb: 3\n").unwrap();
    doc.set(&["b"], "4").unwrap();
}

#[test]
fn multiple_documents() {
    let err = Document::parse("a: 1\n---\nb: 2\n").unwrap_err();
    assert_eq!(err, EditError::MultipleDocuments { line: 2, column: 1 });
    let err = Document::parse("---\na: 1\n...\n---\nb: 2\n").unwrap_err();
    assert_eq!(err, EditError::MultipleDocuments { line: 4, column: 1 });
}

#[test]
fn path_through_a_non_mapping() {
    let err = set_err("image: quay.io/acme\n", &["image", "tag"]);
    assert!(
        matches!(&err, EditError::NotAMapping { at, found: "a scalar", line: 1, column: 8, .. } if at == "image"),
        "{err:?}"
    );
    let err = set_err("image:\n  - tag\n", &["image", "tag"]);
    assert!(
        matches!(
            err,
            EditError::NotAMapping {
                found: "a sequence",
                line: 2,
                ..
            }
        ),
        "{err:?}"
    );
    let err = set_err("- a\n- b\n", &["name"]);
    assert!(
        matches!(&err, EditError::NotAMapping { at, found: "a sequence", line: 1, .. } if at == "the document root"),
        "{err:?}"
    );
    let err = set_err("--- just text\n", &["name"]);
    assert!(
        matches!(
            err,
            EditError::NotAMapping {
                line: 1,
                column: 5,
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn malformed_yaml() {
    let err = Document::parse("a: [1\nb: 2\n").unwrap_err();
    let EditError::Parse {
        line,
        column,
        message,
    } = &err
    else {
        panic!("{err:?}")
    };
    assert_eq!((*line, *column), (2, 2), "{err}");
    assert!(!message.is_empty());
    let err = Document::parse("a: 1\n b: 2\n").unwrap_err();
    assert!(matches!(err, EditError::Parse { line: 2, .. }), "{err:?}");
    let err = Document::parse("name: \"unterminated\n").unwrap_err();
    assert!(matches!(err, EditError::Parse { .. }), "{err:?}");
    let err = Document::parse("key: 🎵 ok\nother: 'x\n").unwrap_err();
    assert!(matches!(err, EditError::Parse { .. }), "{err:?}");
}

#[test]
fn tags_other_than_str_are_refused() {
    let err = set_err("count: !!int 3\n", &["count"]);
    assert!(
        matches!(&err, EditError::UnsupportedTag { tag, line: 1, column: 8, .. } if tag == "!!int"),
        "{err:?}"
    );
    let err = set_err("secret: !vault abc\n", &["secret"]);
    assert!(
        matches!(err, EditError::UnsupportedTag { line: 1, .. }),
        "{err:?}"
    );
}

#[test]
fn invalid_paths() {
    let err = set_err("a: 1\n", &[]);
    assert!(
        matches!(
            err,
            EditError::InvalidPath {
                line: 1,
                column: 1,
                ..
            }
        ),
        "{err:?}"
    );
    let err = set_err("a: 1\n", &["a", ""]);
    assert!(matches!(err, EditError::InvalidPath { .. }), "{err:?}");
}

#[test]
fn error_messages_say_what_to_try() {
    let err = set_err("a:\n  - 1\n", &["a"]);
    let text = err.to_string();
    assert!(text.contains("`a`") && text.contains("line 2"), "{text}");
    assert_eq!(err.position().0, 2);
}
