//! Running the workspace's tools as a test would: a clean environment of their own, a time limit,
//! results in a scratch folder; and small things the scenarios share (token files, auth files).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::process::{ProcessRun, run_with_timeout};
use base64::Engine as _;
use tempfile::TempDir;
use test_services::workspace_bin;

/// Longer than any scenario here may take: a tool still running then has hung.
const TOOL_TIME_LIMIT: Duration = Duration::from_secs(120);

/// The idle timeout given to the tools, so that stalls are noticed quickly.
pub const IDLE_SECONDS: &str = "2";

pub const GIT_USER: &str = "pipeline";
pub const GIT_PASSWORD: &str = "git-S3cret-4a9e";

/// One finished run of a tool.
pub struct Outcome {
    pub run: ProcessRun,
    pub results: PathBuf,
    _dir: TempDir,
}

impl Outcome {
    pub fn code(&self) -> Option<i32> {
        self.run.status.and_then(|s| s.code())
    }

    /// Runs a prepared `command` (its environment as the caller set it) killed if it hangs, its
    /// results in a scratch folder of their own.
    pub fn of(mut command: Command) -> Outcome {
        let dir = tempfile::tempdir().expect("a scratch directory");
        let results = dir.path().join("results");
        command.env("MODELCAR_RESULTS_DIR", &results);
        let program = command.get_program().to_string_lossy().into_owned();
        let run = run_with_timeout(command, &dir.path().join("output"), TOOL_TIME_LIMIT)
            .unwrap_or_else(|e| panic!("running {program}: {e}"));
        // Scenarios speak the current command-line language; the former spellings have a test
        // of their own (command_line::).
        assert!(
            !run.stderr.contains(", accepted for now"),
            "{program} was called with a former flag spelling:\n{}",
            run.stderr
        );
        Outcome {
            run,
            results,
            _dir: dir,
        }
    }

    pub fn elapsed(&self) -> Duration {
        self.run.elapsed
    }

    pub fn stdout(&self) -> &str {
        &self.run.stdout
    }

    /// Asserts the run succeeded; returns it for reading its results.
    pub fn ok(self) -> Self {
        self.assert_ok();
        self
    }

    /// Asserts the run exited with `code` and said each of `needles`.
    pub fn failed(self, code: i32, needles: &[&str]) -> Self {
        self.assert_fails(code, needles);
        self
    }

    /// [`Outcome::ok`] for a run kept to read on.
    pub fn assert_ok(&self) -> &Self {
        assert_eq!(
            self.code(),
            Some(0),
            "the tool failed or hung (after {:?}):\n{}",
            self.run.elapsed,
            self.run.stderr
        );
        self
    }

    /// [`Outcome::failed`] for a run kept to read on.
    pub fn assert_fails(&self, code: i32, needles: &[&str]) -> &Self {
        assert_eq!(
            self.code(),
            Some(code),
            "expected exit {code} (after {:?}):\n{}",
            self.run.elapsed,
            self.run.stderr
        );
        for needle in needles {
            assert!(
                self.run.stderr.contains(needle),
                "stderr lacks {needle:?}:\n{}",
                self.run.stderr
            );
        }
        self
    }

    pub fn stderr(&self) -> &str {
        &self.run.stderr
    }

    pub fn result(&self, name: &str) -> String {
        std::fs::read_to_string(self.results.join(name))
            .unwrap_or_else(|e| panic!("result {name}: {e}\nstderr:\n{}", self.run.stderr))
    }
}

/// Runs `tool` with `args`, a clean environment of its own (HOME, results), killed if it hangs.
pub fn run(tool: &str, args: &[&str], env: &[(&str, &str)]) -> Outcome {
    let home = tempfile::tempdir().expect("a scratch directory");
    let mut command = Command::new(workspace_bin(tool));
    command
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home.path())
        .env("MODELCAR_LOG_FORMAT", "text")
        .env("RUST_LOG", "info");
    for (key, value) in env {
        command.env(key, value);
    }
    Outcome::of(command)
}

/// `Basic base64(user:password)`.
pub fn basic(user: &str, password: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

/// A file holding `content`, kept as long as the returned directory.
pub fn file_with(content: &str) -> (TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("a scratch directory");
    let path = dir.path().join("file");
    std::fs::write(&path, content).expect("write a scratch file");
    (dir, path)
}

/// An auth file (containers-auth.json) with `user:password` for `registry`.
pub fn auth_file(registry: &str, user: &str, password: &str) -> (TempDir, PathBuf) {
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    file_with(&serde_json::json!({ "auths": { registry: { "auth": encoded } } }).to_string())
}

pub fn path_str(path: &Path) -> &str {
    path.to_str().expect("a UTF-8 path")
}

/// The example model shipped in the repository.
pub fn example_model() -> String {
    test_services::workspace_root()
        .join("examples/model")
        .to_str()
        .expect("a UTF-8 path")
        .to_owned()
}

/// `HOST:PORT` of an `http://HOST:PORT/...` URL.
pub fn host_of(url: &str) -> String {
    url.trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap_or_default()
        .to_owned()
}
