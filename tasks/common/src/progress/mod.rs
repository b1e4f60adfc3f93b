//! Progress of a long transfer as plain data: a [`Meter`] the libraries count bytes into (two
//! atomics, no terminal in sight), and, for the command lines, a [`Display`] that watches a meter
//! and shows it: an `indicatif` bar on a terminal; elsewhere (Tekton logs) a plain line every few
//! seconds, so logs stay readable and show that work goes on.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

#[cfg(feature = "terminal")]
mod display;
#[cfg(feature = "terminal")]
pub use display::Display;

/// Bytes done out of a total, shared between the worker threads that count and whoever shows
/// them. Cloning shares the count.
#[derive(Debug, Clone, Default)]
pub struct Meter {
    state: Arc<MeterState>,
}

#[derive(Debug, Default)]
struct MeterState {
    done: AtomicU64,
    total: AtomicU64,
}

impl Meter {
    /// How many bytes the work will count in all, once known.
    pub fn set_total(&self, bytes: u64) {
        self.state.total.store(bytes, Ordering::Relaxed);
    }

    pub fn inc(&self, bytes: u64) {
        self.state.done.fetch_add(bytes, Ordering::Relaxed);
    }

    pub fn done(&self) -> u64 {
        self.state.done.load(Ordering::Relaxed)
    }

    pub fn total(&self) -> u64 {
        self.state.total.load(Ordering::Relaxed)
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
        let meter = Meter::default();
        meter.set_total(4000);
        std::thread::scope(|s| {
            for _ in 0..4 {
                let meter = meter.clone();
                s.spawn(move || (0..100).for_each(|_| meter.inc(10)));
            }
        });
        assert_eq!((meter.done(), meter.total()), (4000, 4000));
    }
}
