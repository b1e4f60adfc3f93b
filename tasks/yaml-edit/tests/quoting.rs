//! Quoting: every value must read back as the string that was set, under YAML 1.2 and under the
//! YAML 1.1 rules go-yaml (Helm, sigs.k8s.io/yaml) still applies. Expected texts are written out.

use yaml_edit::Document;

fn set_one(input: &str, path: &[&str], value: &str) -> String {
    let mut doc = Document::parse(input).unwrap();
    doc.set(path, value)
        .unwrap_or_else(|e| panic!("setting {value:?}: {e}"));
    doc.into_string()
}

/// An independent reader (serde-saphyr) must see the value as a JSON string.
fn assert_reads_as_string(text: &str, key: &str, value: &str) {
    let data: serde_json::Value = serde_saphyr::from_str(text)
        .unwrap_or_else(|e| panic!("serde-saphyr cannot read {text:?}: {e}"));
    assert_eq!(
        data[key],
        serde_json::Value::String(value.to_owned()),
        "in {text:?}"
    );
}

#[test]
fn plain_values_that_would_not_read_as_strings_get_double_quotes() {
    let cases: &[(&str, &str)] = &[
        ("1234567", r#""1234567""#),
        ("1e34567", r#""1e34567""#),
        ("1e3", r#""1e3""#),
        ("0x1F", r#""0x1F""#),
        ("0o17", r#""0o17""#),
        ("012", r#""012""#),
        ("1_000", r#""1_000""#),
        ("0b1010", r#""0b1010""#),
        ("-42", r#""-42""#),
        ("+1.5", r#""+1.5""#),
        ("6.02e+23", r#""6.02e+23""#),
        (".5", r#"".5""#),
        ("true", r#""true""#),
        ("False", r#""False""#),
        ("yes", r#""yes""#),
        ("YES", r#""YES""#),
        ("No", r#""No""#),
        ("on", r#""on""#),
        ("Off", r#""Off""#),
        ("y", r#""y""#),
        ("N", r#""N""#),
        ("null", r#""null""#),
        ("NULL", r#""NULL""#),
        ("~", r#""~""#),
        ("", r#""""#),
        (".inf", r#"".inf""#),
        ("-.Inf", r#""-.Inf""#),
        (".nan", r#"".nan""#),
        ("1:20", r#""1:20""#),
        ("190:20:30.15", r#""190:20:30.15""#),
        ("2024-01-01", r#""2024-01-01""#),
        (
            "2001-12-14t21:59:43.10-05:00",
            r#""2001-12-14t21:59:43.10-05:00""#,
        ),
        ("key: value", r#""key: value""#),
        ("ends with colon:", r#""ends with colon:""#),
        ("value #not a comment", r#""value #not a comment""#),
        (" leading", r#"" leading""#),
        ("trailing ", r#""trailing ""#),
        ("two\nlines", r#""two\nlines""#),
        ("tab\there", r#""tab\there""#),
        ("bell\u{7}", r#""bell\a""#),
        ("ctl\u{1}", r#""ctl\x01""#),
        ("del\u{7f}", r#""del\x7F""#),
        ("bom\u{feff}", r#""bom\uFEFF""#),
        // A plain scalar holds backslashes and inner quotes as they are.
        ("back\\slash \"quoted\"", r#"back\slash "quoted""#),
        ("---", r#""---""#),
        ("...", r#""...""#),
    ];
    for &(value, expected) in cases {
        let out = set_one("value: old # note\n", &["value"], value);
        assert_eq!(
            out,
            format!("value: {expected} # note\n"),
            "value {value:?}"
        );
        assert_reads_as_string(&out, "value", value);
    }
}

#[test]
fn leading_indicators_are_quoted() {
    for indicator in [
        '-', '?', ':', ',', '[', ']', '{', '}', '#', '&', '*', '!', '|', '>', '\'', '"', '%', '@',
        '`',
    ] {
        let value = format!("{indicator}x");
        let out = set_one("value: old\n", &["value"], &value);
        let escaped = if indicator == '"' {
            "\\\"x".to_owned()
        } else {
            value.clone()
        };
        assert_eq!(out, format!("value: \"{escaped}\"\n"), "value {value:?}");
        assert_reads_as_string(&out, "value", &value);
    }
}

#[test]
fn plain_strings_stay_plain() {
    for value in [
        "v1.2.3",
        "1.2.3",
        "0123abc",
        "quay.io/acme/jukebox:v1",
        "a:b",
        "jükebox 🎵",
        "sha256:0a1b",
        "2024-01",
    ] {
        let out = set_one("value: old\n", &["value"], value);
        assert_eq!(out, format!("value: {value}\n"));
        assert_reads_as_string(&out, "value", value);
    }
}

#[test]
fn single_quotes_stay_single() {
    let out = set_one("value: 'old'  # keep\n", &["value"], "it's 1234567");
    assert_eq!(out, "value: 'it''s 1234567'  # keep\n");
    assert_reads_as_string(&out, "value", "it's 1234567");
    let out = set_one("value: 'old'\n", &["value"], "yes");
    assert_eq!(out, "value: 'yes'\n");
    // Single quotes cannot hold escapes: fall back to double quotes.
    let out = set_one("value: 'old'\n", &["value"], "a\nb");
    assert_eq!(out, "value: \"a\\nb\"\n");
    assert_reads_as_string(&out, "value", "a\nb");
}

#[test]
fn double_quotes_stay_double_with_escapes() {
    let out = set_one("value: \"old\"\n", &["value"], "say \"hi\" \\ now");
    assert_eq!(out, "value: \"say \\\"hi\\\" \\\\ now\"\n");
    assert_reads_as_string(&out, "value", "say \"hi\" \\ now");
    let out = set_one("value: \"old\"\n", &["value"], "🎵 jükebox");
    assert_eq!(out, "value: \"🎵 jükebox\"\n");
    let out = set_one("value: \"old\"\n", &["value"], "plain-is-fine");
    assert_eq!(out, "value: \"plain-is-fine\"\n");
}

#[test]
fn flow_context_quotes_flow_indicators() {
    let out = set_one("image: {tag: v1}\n", &["image", "tag"], "b]");
    assert_eq!(out, "image: {tag: \"b]\"}\n");
    let out = set_one("image: {tag: v1}\n", &["image", "tag"], "x,y");
    assert_eq!(out, "image: {tag: \"x,y\"}\n");
    let out = set_one("image: {tag: v1}\n", &["image", "tag"], "v2");
    assert_eq!(out, "image: {tag: v2}\n");
}

#[test]
fn added_keys_and_values_are_quoted_when_needed() {
    let out = set_one("a: 1\n", &["on"], "off");
    assert_eq!(out, "a: 1\n\"on\": \"off\"\n");
    let out = set_one("a: 1\n", &["key: with colon", "012"], "v");
    assert_eq!(out, "a: 1\n\"key: with colon\":\n  \"012\": v\n");
    let mut doc = Document::parse(&out).unwrap();
    assert_eq!(
        doc.get(&["key: with colon", "012"]).unwrap().as_deref(),
        Some("v")
    );
    assert_eq!(
        doc.set(&["key: with colon", "012"], "w").unwrap(),
        yaml_edit::Change::Replaced { old: "v".into() }
    );
}

#[test]
fn str_tag_is_kept() {
    let out = set_one("value: !!str 12\n", &["value"], "13");
    assert_eq!(out, "value: !!str \"13\"\n");
    let out = set_one("value: !!str v1\n", &["value"], "v2");
    assert_eq!(out, "value: !!str v2\n");
}

#[test]
fn anchor_on_target_is_kept() {
    let out = set_one("base: &ver 1.0.0\ncopy: *ver\n", &["base"], "1.0.1");
    assert_eq!(out, "base: &ver 1.0.1\ncopy: *ver\n");
}
