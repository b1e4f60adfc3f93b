//! Progress of a long transfer: an `indicatif` bar on a terminal; elsewhere (Tekton logs) a plain
//! line every few seconds, so logs stay readable and show that work goes on.

use std::io::IsTerminal;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

pub struct Progress {
    label: String,
    total: u64,
    done: AtomicU64,
    started: Instant,
    mode: Mode,
}

enum Mode {
    Bar(ProgressBar),
    Lines {
        every: Duration,
        last: Mutex<Instant>,
    },
    Quiet,
}

impl Progress {
    /// Chooses a bar when stderr is a terminal, periodic lines otherwise.
    pub fn new(label: &str, total_bytes: u64) -> Self {
        if std::io::stderr().is_terminal() {
            Self::bar(label, total_bytes)
        } else {
            Self::lines(label, total_bytes, Duration::from_secs(5))
        }
    }

    pub fn bar(label: &str, total_bytes: u64) -> Self {
        let bar = ProgressBar::new(total_bytes);
        bar.set_style(
            ProgressStyle::with_template(
                "{msg} [{bar:30}] {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec} eta {eta}",
            )
            .expect("static template")
            .progress_chars("=> "),
        );
        bar.set_message(label.to_owned());
        Self::with_mode(label, total_bytes, Mode::Bar(bar))
    }

    pub fn lines(label: &str, total_bytes: u64, every: Duration) -> Self {
        let last = Mutex::new(Instant::now());
        Self::with_mode(label, total_bytes, Mode::Lines { every, last })
    }

    pub fn quiet() -> Self {
        Self::with_mode("", 0, Mode::Quiet)
    }

    fn with_mode(label: &str, total: u64, mode: Mode) -> Self {
        Self {
            label: label.to_owned(),
            total,
            done: AtomicU64::new(0),
            started: Instant::now(),
            mode,
        }
    }

    pub fn inc(&self, bytes: u64) {
        let done = self.done.fetch_add(bytes, Ordering::Relaxed) + bytes;
        match &self.mode {
            Mode::Bar(bar) => bar.set_position(done),
            Mode::Lines { every, last } => {
                let mut last = last.lock().unwrap_or_else(|e| e.into_inner());
                if last.elapsed() >= *every {
                    *last = Instant::now();
                    drop(last);
                    tracing::info!("{}", self.line(done));
                }
            }
            Mode::Quiet => {}
        }
    }

    pub fn done(&self) -> u64 {
        self.done.load(Ordering::Relaxed)
    }

    pub fn finish(&self) {
        match &self.mode {
            Mode::Bar(bar) => bar.finish_and_clear(),
            Mode::Lines { .. } => tracing::info!("{}", self.line(self.done())),
            Mode::Quiet => {}
        }
    }

    fn line(&self, done: u64) -> String {
        let secs = self.started.elapsed().as_secs_f64().max(0.001);
        let percent = if self.total == 0 {
            100.0
        } else {
            done as f64 * 100.0 / self.total as f64
        };
        format!(
            "{}: {} of {} ({percent:.0}%), {}/s",
            self.label,
            human_bytes(done),
            human_bytes(self.total),
            human_bytes((done as f64 / secs) as u64)
        )
    }
}

/// `1536` -> `1.5 KiB`.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(5 * 1024 * 1024 * 1024), "5.0 GiB");
    }

    #[test]
    fn counts_across_threads() {
        let progress = Progress::quiet();
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| (0..100).for_each(|_| progress.inc(10)));
            }
        });
        assert_eq!(progress.done(), 4000);
    }
}
