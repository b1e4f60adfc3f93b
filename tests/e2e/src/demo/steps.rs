//! The numbered steps of the demo: their logs, their failures, and the panics they catch.

use super::*;

/// A step that failed: which, why, and where its log is.
#[derive(Debug)]
pub struct Failure {
    pub number: usize,
    pub title: String,
    pub message: String,
    pub log: PathBuf,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "step {}/{} failed: {}\n{}\nIts log: {}",
            self.number,
            STEPS.len(),
            self.title,
            indent(self.message.trim_end()),
            self.log.display()
        )
    }
}

/// A step's log: a file in the run folder; [`Log::say`] also shows a line under the step on stderr.
pub struct Log {
    file: File,
}

impl Log {
    /// Writes `text` to the log only.
    pub fn write(&mut self, text: &str) {
        let _ = writeln!(self.file, "{text}");
    }

    /// Writes `text` to the log and shows it under the step.
    pub fn say(&mut self, text: &str) {
        self.write(text);
        for line in text.lines() {
            eprintln!("        {line}");
        }
    }
}

/// The numbered steps: each one's title on stderr, its output in `<run dir>/NN-<slug>.log`.
pub(super) struct Steps {
    pub(super) run_dir: PathBuf,
    pub(super) done: usize,
}

/// The message of the last panic, taken by [`Steps::run`] (the hook keeps it off stderr).
static PANIC_MESSAGE: Mutex<Option<String>> = Mutex::new(None);

/// Keeps panic messages (the test servers' way of failing) for the failing step's report instead
/// of printing them.
pub fn capture_panics() {
    std::panic::set_hook(Box::new(|info| {
        let message = match info.payload().downcast_ref::<&str>() {
            Some(text) => text.to_string(),
            None => info
                .payload()
                .downcast_ref::<String>()
                .cloned()
                .unwrap_or_else(|| "a panic".to_string()),
        };
        let at = info
            .location()
            .map(|l| format!(" (at {}:{})", l.file(), l.line()))
            .unwrap_or_default();
        *PANIC_MESSAGE.lock().unwrap_or_else(|e| e.into_inner()) = Some(format!("{message}{at}"));
    }));
}

fn panic_text(payload: Box<dyn Any + Send>) -> String {
    PANIC_MESSAGE
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take()
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "a panic".to_string())
}

impl Steps {
    pub(super) fn run<T>(
        &mut self,
        body: impl FnOnce(&mut Log) -> Result<T, String>,
    ) -> Result<T, Failure> {
        let number = self.done + 1;
        let title = STEPS[self.done];
        let slug: String = title
            .split(|c: char| !c.is_ascii_alphanumeric())
            .filter(|w| !w.is_empty())
            .take(5)
            .collect::<Vec<_>>()
            .join("-")
            .to_ascii_lowercase();
        let log_path = self.run_dir.join(format!("{number:02}-{slug}.log"));
        let failure = |message: String| Failure {
            number,
            title: title.to_string(),
            message,
            log: log_path.clone(),
        };
        let file = File::create(&log_path)
            .map_err(|e| failure(format!("create {}: {e}", log_path.display())))?;
        let mut log = Log { file };
        log.write(&format!("# step {number}: {title}"));
        if INTERRUPTED.load(Ordering::SeqCst) {
            let message = "interrupted (Ctrl-C) before this step";
            log.write(message);
            return Err(failure(message.into()));
        }
        eprintln!("[{number:>2}/{}] {title}", STEPS.len());
        let started = Instant::now();
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| body(&mut log)))
            .unwrap_or_else(|payload| Err(panic_text(payload)));
        self.done = number;
        match outcome {
            Ok(value) => {
                log.write(&format!("# done in {:.1?}", started.elapsed()));
                eprintln!("        ok, {:.1?}", started.elapsed());
                Ok(value)
            }
            Err(mut message) => {
                if INTERRUPTED.load(Ordering::SeqCst) {
                    message = format!("interrupted (Ctrl-C): {message}");
                }
                log.write(&format!(
                    "# FAILED after {:.1?}\n{message}",
                    started.elapsed()
                ));
                Err(failure(message))
            }
        }
    }
}
