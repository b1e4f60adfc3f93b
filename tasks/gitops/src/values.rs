//! The values a change sets, as the command lines give them: `KEY=VALUE` (a dotted key reaches into
//! maps), and an image digest, which must be one before anything is written.

use crate::{GitopsError, Input};

/// A key path and the string to set there.
pub type Set = (Vec<String>, String);

/// `KEY=VALUE`, one line. `example` shows a good one in the error.
pub fn parse_set(text: &str, example: &str) -> Result<Set, GitopsError> {
    let (key, value) = text
        .split_once('=')
        .filter(|(key, _)| !key.trim().is_empty())
        .ok_or_else(|| {
            GitopsError::invalid(
                Input::Values,
                format!("{text:?} is not KEY=VALUE (e.g. {example})"),
            )
        })?;
    if value.contains(['\n', '\r']) {
        return Err(GitopsError::invalid(
            Input::Values,
            format!(
                "the value for {} spans lines; give a one-line value",
                key.trim()
            ),
        ));
    }
    Ok((crate::parse_key_path(key.trim()), value.to_owned()))
}

/// Sets `digest` at `key`, if it is an image manifest digest: `sha256:` and 64 lower-case hex
/// digits (what the cluster pulls by, so nothing else may be written there).
pub fn digest_set(key: &str, digest: &str) -> Result<Set, GitopsError> {
    let hex = digest.strip_prefix("sha256:").unwrap_or_default();
    if hex.len() != 64 || !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return Err(GitopsError::invalid(
            Input::Values,
            format!(
                "{digest:?} is not an image digest: expected sha256: and 64 lower-case hex digits \
                 (modelcar-build's IMAGE_DIGEST result)"
            ),
        ));
    }
    Ok((crate::parse_key_path(key), digest.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets_and_digests() {
        assert_eq!(
            parse_set("image.tag=v1=x", "version=1").unwrap(),
            (
                vec!["image".to_owned(), "tag".to_owned()],
                "v1=x".to_owned()
            )
        );
        assert!(parse_set("=v1", "version=1").is_err());
        assert!(parse_set("novalue", "version=1").unwrap_err().is_usage());
        assert!(parse_set("a=b\nc", "version=1").is_err());
        let good = format!("sha256:{}", "ab".repeat(32));
        assert_eq!(digest_set("image_digest", &good).unwrap().1, good);
        for bad in [
            "sha256:abc",
            "sha512:00",
            &format!("sha256:{}", "AB".repeat(32)),
            &"ab".repeat(32),
            "",
        ] {
            let error = digest_set("image_digest", bad).unwrap_err();
            assert!(error.is_usage() && error.to_string().contains("not an image digest"));
        }
    }
}
