//! The git command line as tests use it to build history: no system or user configuration, an
//! author of the test's choosing, a failure shown with git's own words.

use std::path::{Path, PathBuf};
use std::process::Command;

use tempfile::TempDir;

use crate::tools::require_tool;

/// Runs git in `dir` (a working tree, or a bare repository) as the author "Dev"; its trimmed
/// stdout. Panics with git's stderr when it fails.
pub fn git(dir: &Path, args: &[&str]) -> String {
    git_as(dir, "Dev", args)
}

/// [`git`] as `author` (`<author in lower case>@example.invalid`), who also commits.
pub fn git_as(dir: &Path, author: &str, args: &[&str]) -> String {
    let email = format!("{}@example.invalid", author.to_lowercase());
    let output = Command::new(require_tool("git", "git"))
        .current_dir(dir)
        .args(args)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_AUTHOR_NAME", author)
        .env("GIT_AUTHOR_EMAIL", &email)
        .env("GIT_COMMITTER_NAME", author)
        .env("GIT_COMMITTER_EMAIL", &email)
        .output()
        .expect("run git");
    assert!(
        output.status.success(),
        "git {args:?} in {}: {}",
        dir.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

/// A working clone of a repository, in a temporary directory of its own.
pub struct WorkingClone {
    dir: TempDir,
}

impl WorkingClone {
    /// Clones `repository` (a path or URL git can reach without credentials).
    pub fn of(repository: &Path) -> WorkingClone {
        let dir = tempfile::tempdir().expect("a scratch directory");
        git(
            dir.path(),
            &["clone", "-q", &repository.to_string_lossy(), "."],
        );
        WorkingClone { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn git(&self, args: &[&str]) -> String {
        git(self.path(), args)
    }

    pub fn git_as(&self, author: &str, args: &[&str]) -> String {
        git_as(self.path(), author, args)
    }

    /// Writes `text` to `path` (directories created) and stages it.
    pub fn write(&self, path: &str, text: &str) -> PathBuf {
        let file = self.path().join(path);
        std::fs::create_dir_all(file.parent().expect("a file in a folder")).expect("mkdir");
        std::fs::write(&file, text).expect("write a file");
        self.git(&["add", path]);
        file
    }

    /// Commits what is staged as `author`; the new commit's id.
    pub fn commit_as(&self, author: &str, message: &str) -> String {
        self.git_as(author, &["commit", "-q", "-m", message]);
        self.git(&["rev-parse", "HEAD"])
    }

    /// Pushes HEAD to `branch` of origin, replacing what is there.
    pub fn force_push(&self, branch: &str) {
        self.git(&["push", "-q", "-f", "origin", &format!("HEAD:{branch}")]);
    }
}
