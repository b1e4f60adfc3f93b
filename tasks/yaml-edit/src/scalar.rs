//! Scalar rendering: when a string can stay plain, and how to quote it when it cannot.
//!
//! The rules are deliberately stricter than YAML 1.2: Helm and Kubernetes tooling read values
//! with go-yaml, which still applies YAML 1.1 resolution (`yes`, `on`, `012`, `1_000`, `1:20`,
//! timestamps). Anything either schema would read as a non-string gets quoted.

/// The quoting a scalar is written with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Quote {
    Plain,
    Single,
    Double,
}

/// Render `value` as a scalar, keeping `preferred` if it can hold the value as a string.
/// `in_flow` is true inside `{...}`/`[...]`, where `,[]{}` end a plain scalar.
pub(crate) fn render(value: &str, preferred: Quote, in_flow: bool) -> String {
    match preferred {
        Quote::Plain if plain_ok(value, in_flow) => value.to_owned(),
        Quote::Single if single_ok(value) => single_quoted(value),
        _ => double_quoted(value),
    }
}

/// Whether a plain scalar with this text reads back as a string under YAML 1.1 and 1.2.
pub(crate) fn plain_reads_as_string(value: &str) -> bool {
    !value.is_empty() && !resolves_to_non_string(value)
}

/// Whether `value` can be written as a plain scalar and read back as the same string.
pub(crate) fn plain_ok(value: &str, in_flow: bool) -> bool {
    let Some(first) = value.chars().next() else {
        return false;
    };
    let last = value.chars().next_back().unwrap_or(first);
    if first.is_whitespace() || last.is_whitespace() {
        return false;
    }
    if value.chars().any(|c| !is_printable(c) || c == '\t') {
        return false;
    }
    if "-?:,[]{}#&*!|>'\"%@`".contains(first) {
        return false;
    }
    if value.starts_with("---") || value.starts_with("...") {
        return false;
    }
    if value.contains(": ") || value.ends_with(':') || value.contains(" #") {
        return false;
    }
    if in_flow && value.chars().any(|c| ",[]{}:".contains(c)) {
        return false;
    }
    !resolves_to_non_string(value)
}

/// Single quotes cannot escape anything but `'`; line breaks and control characters need double quotes.
fn single_ok(value: &str) -> bool {
    value.chars().all(|c| is_printable(c) && c != '\t')
}

/// YAML's printable character set (c-printable), minus line breaks.
fn is_printable(c: char) -> bool {
    matches!(c, '\u{20}'..='\u{7e}' | '\u{a0}'..='\u{d7ff}' | '\u{e000}'..='\u{fffd}' | '\u{10000}'..)
        && c != '\u{feff}'
}

fn single_quoted(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

pub(crate) fn double_quoted(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\0' => out.push_str("\\0"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\u{b}' => out.push_str("\\v"),
            '\u{c}' => out.push_str("\\f"),
            '\r' => out.push_str("\\r"),
            '\u{1b}' => out.push_str("\\e"),
            '\u{85}' => out.push_str("\\N"),
            '\u{2028}' => out.push_str("\\L"),
            '\u{2029}' => out.push_str("\\P"),
            c if (c as u32) < 0x100 && !is_printable(c) => {
                out.push_str(&format!("\\x{:02X}", c as u32));
            }
            c if !is_printable(c) => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// True if a plain scalar with this text would be read as null, bool, int, float or timestamp by
/// a YAML 1.2 core-schema reader or a YAML 1.1 reader (go-yaml, PyYAML).
pub(crate) fn resolves_to_non_string(value: &str) -> bool {
    let lower = value.to_ascii_lowercase();
    let word = matches!(
        lower.as_str(),
        "" | "~"
            | "null"
            | "true"
            | "false"
            | "yes"
            | "no"
            | "y"
            | "n"
            | "on"
            | "off"
            | "=" // YAML 1.1 value key
            | "<<" // YAML 1.1 merge key
    );
    word || is_number(&lower) || is_timestamp(value)
}

fn is_number(lower: &str) -> bool {
    let unsigned = lower.strip_prefix(['+', '-']).unwrap_or(lower);
    if matches!(unsigned, ".inf" | "inf" | "infinity" | ".nan" | "nan") {
        return true;
    }
    // YAML 1.1 allows `_` as a digit separator anywhere in a number.
    let digits: String = unsigned.chars().filter(|&c| c != '_').collect();
    if digits.is_empty() {
        return false;
    }
    let all = |s: &str, radix: u32| !s.is_empty() && s.chars().all(|c| c.is_digit(radix));
    if all(&digits, 10) {
        return true;
    }
    if let Some(rest) = digits.strip_prefix("0x") {
        return all(rest, 16);
    }
    if let Some(rest) = digits.strip_prefix("0o") {
        return all(rest, 8);
    }
    if let Some(rest) = digits.strip_prefix("0b") {
        return all(rest, 2);
    }
    is_float(&digits) || is_sexagesimal(&digits)
}

/// `(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?`
fn is_float(s: &str) -> bool {
    let b = s.as_bytes();
    let digits_from = |mut i: usize| {
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        i
    };
    let int_end = digits_from(0);
    let mut i = int_end;
    let mut frac_digits = 0;
    if i < b.len() && b[i] == b'.' {
        let frac_end = digits_from(i + 1);
        frac_digits = frac_end - (i + 1);
        i = frac_end;
    }
    if int_end == 0 && frac_digits == 0 {
        return false;
    }
    if i < b.len() && (b[i] == b'e') {
        i += 1;
        if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
            i += 1;
        }
        let exp_end = digits_from(i);
        if exp_end == i {
            return false;
        }
        i = exp_end;
    }
    i == b.len()
}

/// YAML 1.1 base-60 numbers: `1:20`, `190:20:30.15`.
fn is_sexagesimal(s: &str) -> bool {
    let (whole, frac) = match s.split_once('.') {
        Some((w, f)) => (w, Some(f)),
        None => (s, None),
    };
    let mut parts = whole.split(':');
    let head = parts.next().unwrap_or_default();
    let mut groups = 0;
    let head_ok = !head.is_empty() && head.chars().all(|c| c.is_ascii_digit());
    let rest_ok = parts.all(|p| {
        groups += 1;
        (1..=2).contains(&p.len()) && p.chars().all(|c| c.is_ascii_digit())
    });
    head_ok && rest_ok && groups > 0 && frac.is_none_or(|f| f.chars().all(|c| c.is_ascii_digit()))
}

/// YAML 1.1 timestamps start with a `YYYY-M-D` date.
fn is_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() < 8 || !b[..4].iter().all(u8::is_ascii_digit) || b[4] != b'-' {
        return false;
    }
    let month = b[5..].iter().take_while(|c| c.is_ascii_digit()).count();
    if !(1..=2).contains(&month) || b.get(5 + month) != Some(&b'-') {
        return false;
    }
    let day = b[6 + month..]
        .iter()
        .take_while(|c| c.is_ascii_digit())
        .count();
    (1..=2).contains(&day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_strings() {
        for v in [
            "1234567",
            "1e3",
            "0x1F",
            "0o17",
            "012",
            "1_000",
            "true",
            "Yes",
            "ON",
            "off",
            "y",
            "N",
            "null",
            "NULL",
            "~",
            "",
            ".inf",
            "-.Inf",
            ".nan",
            "1:20",
            "2024-01-01",
            "-12",
            "+1.5",
            "1.",
            ".5",
            "6.02e+23",
            "0b101",
            "2001-12-14t21:59:43.10-05:00",
        ] {
            assert!(
                resolves_to_non_string(v) || v.is_empty(),
                "{v:?} should need quotes"
            );
            assert!(!plain_ok(v, false), "{v:?} must not be plain");
        }
    }

    #[test]
    fn strings_stay_plain() {
        for v in [
            "v1.2.3",
            "1.2.3",
            "abc",
            "jükebox 🎵",
            "quay.io/x/y",
            "a:b",
            "1a",
            "0x",
            "2024-01",
        ] {
            assert!(plain_ok(v, false), "{v:?} should stay plain");
        }
    }

    #[test]
    fn escapes() {
        assert_eq!(double_quoted("a\"b\\c\n\u{1}"), r#""a\"b\\c\n\x01""#);
        assert_eq!(single_quoted("it's"), "'it''s'");
    }
}
