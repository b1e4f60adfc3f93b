//! The version marker: a small file the training step writes into the model directory last, naming
//! the source commit the model was trained from. A release packages the model only once the marker
//! names the commit being released and no model file is newer than it: never the previous training
//! run's files under a new commit, never a model still being written.
//!
//! The marker's first line that is not empty or a `#` comment holds the commit, alone or as
//! `revision: <commit>` / `revision=<commit>`. A commit matches when the two are equal or one is a
//! prefix of the other of at least 7 characters (a short id such as `sha[:10]`).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

/// Shortest abbreviated commit id accepted as naming a commit.
const MIN_PREFIX: usize = 7;

#[derive(Debug, thiserror::Error)]
pub enum MarkerError {
    #[error(
        "the version marker {path} is not there (waited {} s): the training step writes it last, \
         naming the commit; check that training finished and wrote it, or raise the wait",
        waited.as_secs()
    )]
    Missing { path: PathBuf, waited: Duration },
    #[error(
        "the model in {dir} was trained from {found}, not from {expected} (its version marker {path} \
         says so; waited {} s): refusing to package another training run's files as {expected}",
        waited.as_secs()
    )]
    Stale {
        dir: PathBuf,
        path: PathBuf,
        found: String,
        expected: String,
        waited: Duration,
    },
    #[error(
        "{count} model file(s) changed after the version marker {path}, e.g. {example} (waited {} s): \
         the model may still be being written; the training step must write the marker last",
        waited.as_secs()
    )]
    WrittenAfter {
        path: PathBuf,
        count: usize,
        example: String,
        waited: Duration,
    },
    #[error("the version marker {path} names no commit: write the commit id on its first line")]
    Empty { path: PathBuf },
    #[error("reading the version marker {path}: {source}")]
    Unreadable {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl MarkerError {
    /// The marker is the training step's to write: none of these is in how the command was called.
    pub fn is_usage(&self) -> bool {
        false
    }
}

impl common::UsageFault for MarkerError {
    fn is_usage(&self) -> bool {
        MarkerError::is_usage(self)
    }
}

/// Waits up to `timeout` (checking every `poll`) until the marker `marker` (relative to `model_dir`)
/// names `revision` and no file of the model is newer than it. Returns the commit the marker names.
pub fn wait_for_marker(
    model_dir: &Path,
    marker: &Path,
    revision: &str,
    timeout: Duration,
    poll: Duration,
) -> Result<String, MarkerError> {
    let path = model_dir.join(marker);
    let started = Instant::now();
    loop {
        let waited = started.elapsed();
        match check(model_dir, &path, revision, waited) {
            Ok(found) => return Ok(found),
            Err(error) if waited >= timeout => return Err(error),
            Err(error) => {
                tracing::info!("waiting for the model: {error}");
                std::thread::sleep(
                    poll.min(timeout.saturating_sub(waited))
                        .max(Duration::from_millis(10)),
                );
            }
        }
    }
}

fn check(
    model_dir: &Path,
    path: &Path,
    revision: &str,
    waited: Duration,
) -> Result<String, MarkerError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(MarkerError::Missing {
                path: path.to_owned(),
                waited,
            });
        }
        Err(source) => {
            return Err(MarkerError::Unreadable {
                path: path.to_owned(),
                source,
            });
        }
    };
    let found = named_commit(&text).ok_or_else(|| MarkerError::Empty {
        path: path.to_owned(),
    })?;
    if !same_commit(&found, revision) {
        return Err(MarkerError::Stale {
            dir: model_dir.to_owned(),
            path: path.to_owned(),
            found,
            expected: revision.to_owned(),
            waited,
        });
    }
    let marked = modified(path).map_err(|source| MarkerError::Unreadable {
        path: path.to_owned(),
        source,
    })?;
    let mut newer = Vec::new();
    collect_newer(model_dir, path, marked, &mut newer);
    if let Some(example) = newer.first() {
        return Err(MarkerError::WrittenAfter {
            path: path.to_owned(),
            count: newer.len(),
            example: example.clone(),
            waited,
        });
    }
    Ok(found)
}

/// The commit on the first meaningful line.
fn named_commit(text: &str) -> Option<String> {
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))?;
    let value = ["revision:", "revision="]
        .iter()
        .find_map(|prefix| line.strip_prefix(prefix))
        .unwrap_or(line)
        .trim()
        .trim_matches(['"', '\'']);
    (!value.is_empty()).then(|| value.to_owned())
}

fn same_commit(a: &str, b: &str) -> bool {
    let (a, b) = (a.to_ascii_lowercase(), b.to_ascii_lowercase());
    a == b || (a.len().min(b.len()) >= MIN_PREFIX && (a.starts_with(&b) || b.starts_with(&a)))
}

fn modified(path: &Path) -> std::io::Result<SystemTime> {
    std::fs::symlink_metadata(path)?.modified()
}

/// Files under `dir` (links not followed) modified after `marked`, relative to the model folder.
fn collect_newer(dir: &Path, marker: &Path, marked: SystemTime, out: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(meta) = entry.metadata() else { continue };
        if meta.is_dir() {
            collect_newer(&path, marker, marked, out);
        } else if path != marker && meta.modified().is_ok_and(|m| m > marked) {
            out.push(path.display().to_string());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const COMMIT: &str = "4f3c2b1a09e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4";

    fn wait(dir: &Path, timeout_ms: u64) -> Result<String, MarkerError> {
        wait_for_marker(
            dir,
            Path::new(".modelcar-revision"),
            COMMIT,
            Duration::from_millis(timeout_ms),
            Duration::from_millis(20),
        )
    }

    #[test]
    fn marker_contents() {
        assert_eq!(
            named_commit("# trained\n\nrevision: abc123456\n").as_deref(),
            Some("abc123456")
        );
        assert_eq!(named_commit("revision=\"abc\"").as_deref(), Some("abc"));
        assert_eq!(
            named_commit("  deadbeef  \nother\n").as_deref(),
            Some("deadbeef")
        );
        assert_eq!(named_commit("# only a comment\n"), None);
        assert!(same_commit("4F3C2B1A09", COMMIT));
        assert!(!same_commit("4f3c2b", COMMIT), "six characters are too few");
        assert!(!same_commit("0c3c2b1a09", COMMIT));
    }

    #[test]
    fn a_stale_marker_is_waited_on_then_refused_and_a_fresh_one_accepted() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("model.onnx"), b"weights").unwrap();
        assert!(matches!(
            wait(dir.path(), 0),
            Err(MarkerError::Missing { .. })
        ));
        std::fs::write(dir.path().join(".modelcar-revision"), "0c1d2e3f4a5b\n").unwrap();
        let error = wait(dir.path(), 60).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("trained from 0c1d2e3f4a5b, not from 4f3c2b1a"),
            "{error}"
        );
        // The training step finishes meanwhile: the wait ends as soon as the marker names it.
        let marker = dir.path().join(".modelcar-revision");
        let writer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(100));
            std::fs::write(marker, "revision: 4f3c2b1a09\n").unwrap();
        });
        assert_eq!(wait(dir.path(), 5000).unwrap(), "4f3c2b1a09");
        writer.join().unwrap();
    }

    #[test]
    fn files_written_after_the_marker_mean_an_unfinished_model() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("1")).unwrap();
        std::fs::write(dir.path().join(".modelcar-revision"), COMMIT).unwrap();
        let late = dir.path().join("1/model.onnx");
        std::fs::write(&late, b"weights").unwrap();
        let later = SystemTime::now() + Duration::from_secs(5);
        std::fs::File::options()
            .write(true)
            .open(&late)
            .unwrap()
            .set_modified(later)
            .unwrap();
        let error = wait(dir.path(), 0).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("1 model file(s) changed after the version marker")
                && error.to_string().contains("1/model.onnx"),
            "{error}"
        );
    }
}
