//! Bounded retries with exponential backoff and full jitter, for what is safe to retry:
//! connect errors, timeouts, 408, 429 (honouring `Retry-After`) and 5xx. Never other 4xx.

use std::fmt::Display;
use std::future::Future;
use std::time::{Duration, SystemTime};

use rand::Rng;

/// How an error should be treated by a retry loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Retrying cannot help (bad input, 4xx, a decision by the server).
    Permanent,
    /// Retrying may help; the server may have said when.
    Transient { after: Option<Duration> },
}

/// Errors that know whether a retry may help.
pub trait Transient {
    fn verdict(&self) -> Verdict;
}

#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    pub initial_delay: Duration,
    pub max_delay: Duration,
    /// The most time spent pausing between attempts, all pauses together. The attempts themselves
    /// are bounded by the idle timeout, not by this: a request that stalled for the whole idle
    /// timeout is still tried again.
    pub max_waiting: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            initial_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(20),
            max_waiting: Duration::from_secs(120),
        }
    }
}

impl RetryPolicy {
    /// A policy that never retries.
    pub fn none() -> Self {
        Self {
            max_attempts: 1,
            ..Self::default()
        }
    }

    /// A quick policy for tests of retry behaviour.
    pub fn fast(max_attempts: u32) -> Self {
        Self {
            max_attempts,
            initial_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(100),
            max_waiting: Duration::from_secs(30),
        }
    }

    /// The pause before attempt `next` (2 for the first retry) after pausing `waited` in all so
    /// far, or `None` to give up. Full jitter over the upper half keeps concurrent clients from
    /// retrying in step.
    pub fn delay_before(
        &self,
        next: u32,
        waited: Duration,
        hint: Option<Duration>,
    ) -> Option<Duration> {
        if next > self.max_attempts {
            return None;
        }
        let exp = self
            .initial_delay
            .saturating_mul(1u32 << (next.saturating_sub(2)).min(16))
            .min(self.max_delay);
        let jittered = exp / 2 + exp.mul_f64(rand::rng().random::<f64>() / 2.0);
        let delay = hint.map_or(jittered, |server| server.max(jittered));
        (waited + delay <= self.max_waiting).then_some(delay)
    }
}

/// Runs `op` until it succeeds, fails permanently, or the policy is exhausted.
/// `op` receives the attempt number (1-based). Each retry is logged with its reason.
pub async fn retry_async<T, E, F, Fut>(policy: &RetryPolicy, what: &str, mut op: F) -> Result<T, E>
where
    F: FnMut(u32) -> Fut,
    Fut: Future<Output = Result<T, E>>,
    E: Transient + Display,
{
    let mut waited = Duration::ZERO;
    let mut attempt = 1;
    loop {
        match op(attempt).await {
            Ok(value) => return Ok(value),
            Err(error) => match next_delay(policy, what, attempt, waited, &error) {
                Some(delay) => {
                    tokio::time::sleep(delay).await;
                    waited += delay;
                }
                None => return Err(error),
            },
        }
        attempt += 1;
    }
}

/// The blocking twin of [`retry_async`], for code that runs outside an async runtime (git).
pub fn retry_blocking<T, E, F>(policy: &RetryPolicy, what: &str, mut op: F) -> Result<T, E>
where
    F: FnMut(u32) -> Result<T, E>,
    E: Transient + Display,
{
    let mut waited = Duration::ZERO;
    let mut attempt = 1;
    loop {
        match op(attempt) {
            Ok(value) => return Ok(value),
            Err(error) => match next_delay(policy, what, attempt, waited, &error) {
                Some(delay) => {
                    std::thread::sleep(delay);
                    waited += delay;
                }
                None => return Err(error),
            },
        }
        attempt += 1;
    }
}

fn next_delay<E: Transient + Display>(
    policy: &RetryPolicy,
    what: &str,
    attempt: u32,
    waited: Duration,
    error: &E,
) -> Option<Duration> {
    let Verdict::Transient { after } = error.verdict() else {
        return None;
    };
    let delay = policy.delay_before(attempt + 1, waited, after)?;
    tracing::warn!(
        "{what}: attempt {attempt}/{} failed ({error}); retrying in {:.1}s",
        policy.max_attempts,
        delay.as_secs_f64()
    );
    Some(delay)
}

/// The verdict for an HTTP status: 408, 429 and 5xx (but 501/505, which will not change) are transient.
pub fn status_verdict(status: u16, retry_after: Option<&str>) -> Verdict {
    match status {
        408 | 429 => Verdict::Transient {
            after: retry_after.and_then(parse_retry_after),
        },
        501 | 505 => Verdict::Permanent,
        500..=599 => Verdict::Transient {
            after: retry_after.and_then(parse_retry_after),
        },
        _ => Verdict::Permanent,
    }
}

/// The verdict for a transport error: no connection, timeouts and broken bodies are transient.
pub fn reqwest_verdict(error: &reqwest::Error) -> Verdict {
    if let Some(status) = error.status() {
        return status_verdict(status.as_u16(), None);
    }
    if error.is_connect() || error.is_timeout() || error.is_request() || error.is_body() {
        Verdict::Transient { after: None }
    } else {
        Verdict::Permanent
    }
}

/// `Retry-After` is either delay-seconds or an HTTP date.
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(
        when.duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fmt;

    #[derive(Debug)]
    struct E(Verdict);
    impl Display for E {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "{:?}", self.0)
        }
    }
    impl Transient for E {
        fn verdict(&self) -> Verdict {
            self.0
        }
    }

    #[test]
    fn statuses() {
        assert_eq!(status_verdict(404, None), Verdict::Permanent);
        assert_eq!(status_verdict(401, None), Verdict::Permanent);
        assert_eq!(status_verdict(501, None), Verdict::Permanent);
        assert_eq!(
            status_verdict(429, Some("7")),
            Verdict::Transient {
                after: Some(Duration::from_secs(7))
            }
        );
        assert_eq!(
            status_verdict(503, None),
            Verdict::Transient { after: None }
        );
        assert_eq!(
            status_verdict(408, Some("soon")),
            Verdict::Transient { after: None }
        );
    }

    #[test]
    fn http_date_retry_after() {
        let later = SystemTime::now() + Duration::from_secs(30);
        let parsed = parse_retry_after(&httpdate::fmt_http_date(later)).unwrap();
        assert!(parsed > Duration::from_secs(25) && parsed <= Duration::from_secs(30));
    }

    #[test]
    fn retries_transient_until_success_and_stops_on_permanent() {
        let mut calls = 0;
        let result: Result<u32, E> = retry_blocking(&RetryPolicy::fast(5), "test", |n| {
            calls += 1;
            if n < 3 {
                Err(E(Verdict::Transient { after: None }))
            } else {
                Ok(n)
            }
        });
        assert_eq!(result.unwrap(), 3);
        assert_eq!(calls, 3);

        let mut calls = 0;
        let result: Result<(), E> = retry_blocking(&RetryPolicy::fast(5), "test", |_| {
            calls += 1;
            Err(E(Verdict::Permanent))
        });
        assert!(result.is_err());
        assert_eq!(calls, 1);
    }

    #[test]
    fn bounded_attempts() {
        let mut calls = 0;
        let result: Result<(), E> = retry_blocking(&RetryPolicy::fast(4), "test", |_| {
            calls += 1;
            Err(E(Verdict::Transient { after: None }))
        });
        assert!(result.is_err());
        assert_eq!(calls, 4);
    }

    #[test]
    fn server_hint_beyond_budget_gives_up() {
        let policy = RetryPolicy {
            max_waiting: Duration::from_secs(1),
            ..RetryPolicy::fast(5)
        };
        assert_eq!(
            policy.delay_before(2, Duration::ZERO, Some(Duration::from_secs(60))),
            None
        );
    }

    /// A request that stalled for the whole idle timeout (two minutes by default, as long as the
    /// default budget of pauses) is still tried again: the budget counts pauses, not attempts.
    #[tokio::test(start_paused = true)]
    async fn long_attempts_do_not_use_up_the_retries() {
        let mut calls = 0;
        let result: Result<(), E> = retry_async(&RetryPolicy::default(), "test", |_| {
            calls += 1;
            async {
                tokio::time::sleep(Duration::from_secs(120)).await;
                Err(E(Verdict::Transient { after: None }))
            }
        })
        .await;
        assert!(result.is_err());
        assert_eq!(calls, 5, "every attempt of the policy was made");
    }

    #[test]
    fn delays_grow_and_are_capped() {
        let policy = RetryPolicy::default();
        let none = Duration::ZERO;
        let d2 = policy.delay_before(2, none, None).unwrap();
        assert!(d2 >= Duration::from_millis(250) && d2 <= Duration::from_millis(500));
        let d5 = policy.delay_before(5, none, None).unwrap();
        assert!(d5 >= Duration::from_secs(2) && d5 <= Duration::from_secs(4));
        assert_eq!(policy.delay_before(6, none, None), None);
        assert_eq!(
            policy.delay_before(3, Duration::from_millis(119_600), None),
            None,
            "the pauses' budget is spent"
        );
    }
}
