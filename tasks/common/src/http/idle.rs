//! The idle timeout for exchanges that stream for longer than any fixed timeout could allow (a
//! 100 GB upload may take hours): the exchange is abandoned only when no byte has moved in either
//! direction for the idle time. The body stream touches an [`Activity`] for every chunk it hands
//! to the connection; [`unless_idle`] watches it.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

/// When bytes last moved in one exchange.
#[derive(Debug)]
pub struct Activity {
    started: Instant,
    /// Milliseconds after `started`.
    last: AtomicU64,
}

impl Default for Activity {
    fn default() -> Self {
        Self {
            started: Instant::now(),
            last: AtomicU64::new(0),
        }
    }
}

impl Activity {
    /// Records that bytes moved now.
    pub fn touch(&self) {
        let now = self.started.elapsed().as_millis() as u64;
        self.last.fetch_max(now, Ordering::Relaxed);
    }

    fn quiet_for(&self) -> Duration {
        let last = Duration::from_millis(self.last.load(Ordering::Relaxed));
        self.started.elapsed().saturating_sub(last)
    }
}

/// Runs `exchange` to its end, or abandons it (dropping it closes its connection) once `activity`
/// has been quiet for `idle`: `None` then.
pub async fn unless_idle<F: Future>(
    exchange: F,
    activity: &Activity,
    idle: Duration,
) -> Option<F::Output> {
    activity.touch();
    let watchdog = async {
        loop {
            let quiet = activity.quiet_for();
            if quiet >= idle {
                return;
            }
            tokio::time::sleep(idle - quiet).await;
        }
    };
    tokio::select! {
        outcome = exchange => Some(outcome),
        () = watchdog => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn moving_exchanges_run_long_and_silent_ones_end() {
        let activity = Activity::default();
        let busy = async {
            for _ in 0..50 {
                tokio::time::sleep(Duration::from_secs(1)).await;
                activity.touch();
            }
            "done"
        };
        assert_eq!(
            unless_idle(busy, &activity, Duration::from_secs(3)).await,
            Some("done")
        );
        let activity = Activity::default();
        let silent = tokio::time::sleep(Duration::from_secs(3600));
        let started = tokio::time::Instant::now();
        assert_eq!(
            unless_idle(silent, &activity, Duration::from_secs(3)).await,
            None
        );
        assert!(started.elapsed() < Duration::from_secs(4));
    }
}
