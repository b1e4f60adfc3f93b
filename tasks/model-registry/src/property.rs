//! Typed property values, as registries store them: a version's accuracy is a number, not text.

use std::fmt;

use serde_json::Value;

/// The value of one property of a model version.
#[derive(Debug, Clone, PartialEq)]
pub enum PropertyValue {
    String(String),
    Int(i64),
    Double(f64),
    Bool(bool),
    /// Any other type (Kubeflow struct and proto values), kept as the registry's JSON.
    Other(Value),
}

impl PropertyValue {
    /// The text of a string value.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Self::String(text) => Some(text),
            _ => None,
        }
    }

    /// The number of an int or double value.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Self::Int(n) => Some(*n as f64),
            Self::Double(x) => Some(*x),
            _ => None,
        }
    }

    /// The value as text with numbers to `significant` digits (see [`compact_number`]).
    pub fn display_with(&self, significant: usize) -> String {
        match self {
            Self::String(text) => text.clone(),
            Self::Int(n) => n.to_string(),
            Self::Double(x) => compact_number(*x, significant),
            Self::Bool(b) => b.to_string(),
            Self::Other(json) => json.to_string(),
        }
    }
}

/// Strings as they are, numbers compactly (`0.9731`), anything else as its JSON.
impl fmt::Display for PropertyValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.display_with(DEFAULT_SIGNIFICANT))
    }
}

impl From<&str> for PropertyValue {
    fn from(text: &str) -> Self {
        Self::String(text.to_owned())
    }
}

impl From<String> for PropertyValue {
    fn from(text: String) -> Self {
        Self::String(text)
    }
}

/// Significant digits numbers are shown with unless two values need more to tell them apart.
pub const DEFAULT_SIGNIFICANT: usize = 4;

/// `x` to `significant` digits without trailing zeros: `0.9731`, `12.35`, `1235`, `0.0001235`; whole
/// numbers as integers (`12`), very large and very small ones in scientific notation (`1.23e-7`).
pub fn compact_number(x: f64, significant: usize) -> String {
    let significant = significant.clamp(1, 17);
    if !x.is_finite() {
        return x.to_string();
    }
    if x == 0.0 {
        return "0".into();
    }
    let exponent = x.abs().log10().floor() as i32;
    if x.fract() == 0.0 && exponent < 15 && exponent < significant as i32 {
        return format!("{x:.0}");
    }
    if !(-5..15).contains(&exponent) {
        let text = format!("{:.*e}", significant - 1, x);
        let (mantissa, exp) = text.split_once('e').unwrap_or((&text, "0"));
        return format!("{}e{exp}", trim_zeros(mantissa));
    }
    let decimals = (significant as i32 - 1 - exponent).max(0) as usize;
    trim_zeros(&format!("{x:.decimals$}")).to_owned()
}

fn trim_zeros(text: &str) -> &str {
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.')
    } else {
        text
    }
}

/// The fewest significant digits (at least the default) at which `a` and `b` read differently when they
/// differ, so a table never shows two equal-looking numbers marked as different.
pub fn distinguishing_digits(a: f64, b: f64) -> usize {
    (DEFAULT_SIGNIFICANT..=17)
        .find(|&digits| a == b || compact_number(a, digits) != compact_number(b, digits))
        .unwrap_or(17)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_compact() {
        let show = |x: f64| compact_number(x, DEFAULT_SIGNIFICANT);
        assert_eq!(show(0.973_123_4), "0.9731");
        assert_eq!(show(0.5), "0.5");
        assert_eq!(show(12.0), "12");
        assert_eq!(show(12.345_6), "12.35");
        assert_eq!(show(1_234.567_8), "1235");
        assert_eq!(show(-0.000_123_456), "-0.0001235");
        assert_eq!(show(0.000_000_123_4), "1.234e-7");
        assert_eq!(show(2.5e20), "2.5e20");
        assert_eq!(show(0.0), "0");
        assert_eq!(show(f64::NAN), "NaN");
        assert_eq!(PropertyValue::Int(-7).to_string(), "-7");
        assert_eq!(PropertyValue::Bool(true).to_string(), "true");
        assert_eq!(
            PropertyValue::Other(serde_json::json!({"struct_value": "e30="})).to_string(),
            r#"{"struct_value":"e30="}"#
        );
    }

    #[test]
    fn close_numbers_get_the_digits_that_tell_them_apart() {
        assert_eq!(distinguishing_digits(0.9731, 0.9731), 4);
        assert_eq!(distinguishing_digits(0.97312, 0.97318), 4);
        assert_eq!(distinguishing_digits(0.97312, 0.97314), 5);
        let digits = distinguishing_digits(0.973_120_1, 0.973_120_2);
        assert_eq!(compact_number(0.973_120_1, digits), "0.9731201");
    }
}
