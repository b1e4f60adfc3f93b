//! Secrets: read from a file (a mounted Kubernetes Secret or Tekton workspace) or an environment
//! variable, never from argv. A secret's `Debug` and `Display` print `***`.

use std::fmt;
use std::path::{Path, PathBuf};

#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Reads a secret file. One trailing newline (as `echo` or `kubectl create secret --from-file`
    /// leave) is dropped; an empty file is an error, since sending an empty credential only
    /// produces a confusing 401 later.
    pub fn from_file(path: &Path) -> Result<Self, SecretError> {
        let raw = std::fs::read_to_string(path).map_err(|source| SecretError::Read {
            path: path.to_owned(),
            source,
        })?;
        let value = raw.strip_suffix('\n').unwrap_or(&raw);
        let value = value.strip_suffix('\r').unwrap_or(value);
        if value.is_empty() {
            return Err(SecretError::Empty {
                origin: format!("file {}", path.display()),
            });
        }
        Ok(Self(value.to_owned()))
    }

    /// Reads a secret from an environment variable, if set and non-empty.
    pub fn from_env(var: &str) -> Option<Self> {
        std::env::var(var).ok().filter(|v| !v.is_empty()).map(Self)
    }

    /// The usual resolution order: an explicit file, then the environment variable.
    pub fn from_file_or_env(file: Option<&Path>, var: &str) -> Result<Option<Self>, SecretError> {
        match file {
            Some(path) => Self::from_file(path).map(Some),
            None => Ok(Self::from_env(var)),
        }
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error(
        "reading secret file {path}: {source}; check the Secret is mounted and readable by this user"
    )]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the secret in {origin} is empty; put the credential in it")]
    Empty { origin: String },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_printed() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?} {s}"), "*** ***");
        assert_eq!(format!("{:?}", Some(&s)), "Some(***)");
    }

    #[test]
    fn file_trailing_newline_dropped_and_empty_rejected() {
        let dir = std::env::temp_dir().join(format!("secret-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("token");
        std::fs::write(&file, "abc\n").unwrap();
        assert_eq!(Secret::from_file(&file).unwrap().expose(), "abc");
        std::fs::write(&file, "\n").unwrap();
        assert!(matches!(
            Secret::from_file(&file),
            Err(SecretError::Empty { .. })
        ));
        std::fs::remove_dir_all(dir).unwrap();
    }
}
