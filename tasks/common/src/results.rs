//! Tekton results: each result is a file named after it in the results directory
//! (Tekton mounts `/tekton/results`), and a `NAME=value` line on stdout for a person.

use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
#[error(
    "writing Tekton result {name} to {path}: {source}; check that --results-dir points at a writable directory"
)]
pub struct ResultError {
    name: String,
    path: PathBuf,
    #[source]
    source: std::io::Error,
}

/// Where results go. Without a directory they are only printed.
#[derive(Debug, Clone, Default)]
pub struct Results {
    dir: Option<PathBuf>,
    /// Not echoed on stdout (it carries a document of its own).
    quiet: bool,
}

impl Results {
    pub fn new(dir: Option<PathBuf>) -> Self {
        Self { dir, quiet: false }
    }

    /// Results written to the directory only, not echoed: for a command whose stdout is a document
    /// of its own (JSON), which a `NAME=value` line would break.
    pub fn without_echo(mut self) -> Self {
        self.quiet = true;
        self
    }

    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    /// Writes one result. The file is replaced atomically so a reader never sees half a value,
    /// and has no trailing newline (Tekton passes the bytes on as they are).
    pub fn write(&self, name: &str, value: &str) -> Result<(), ResultError> {
        if let Some(dir) = &self.dir {
            let path = dir.join(name);
            let err = |source| ResultError {
                name: name.to_owned(),
                path: path.clone(),
                source,
            };
            std::fs::create_dir_all(dir).map_err(err)?;
            let tmp = dir.join(format!(".{name}.tmp"));
            std::fs::write(&tmp, value.as_bytes()).map_err(err)?;
            std::fs::rename(&tmp, &path).map_err(err)?;
        }
        if self.quiet {
            return Ok(());
        }
        let mut out = std::io::stdout().lock();
        // A closed stdout must not fail the step: the file is what Tekton reads.
        let _ = writeln!(out, "{name}={value}");
        Ok(())
    }

    /// Writes several results in order.
    pub fn write_all<'a>(
        &self,
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<(), ResultError> {
        pairs
            .into_iter()
            .try_for_each(|(name, value)| self.write(name, value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_files_without_newline() {
        let dir = std::env::temp_dir().join(format!("results-test-{}", std::process::id()));
        let results = Results::new(Some(dir.clone()));
        results.write("IMAGE_DIGEST", "sha256:abc").unwrap();
        results.write("IMAGE_DIGEST", "sha256:def").unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.join("IMAGE_DIGEST")).unwrap(),
            "sha256:def"
        );
        assert!(!dir.join(".IMAGE_DIGEST.tmp").exists());
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn without_echo_still_writes_the_files() {
        let dir = std::env::temp_dir().join(format!("results-quiet-{}", std::process::id()));
        Results::new(Some(dir.clone()))
            .without_echo()
            .write("DRIFT", "false")
            .unwrap();
        assert_eq!(std::fs::read_to_string(dir.join("DRIFT")).unwrap(), "false");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn unwritable_directory_is_a_clear_error() {
        let results = Results::new(Some("/proc/definitely/not/here".into()));
        let message = results.write("X", "1").unwrap_err().to_string();
        assert!(message.contains("Tekton result X"), "{message}");
        assert!(message.contains("--results-dir"), "{message}");
    }
}
