//! The delivery policy an outbox follows, as pure functions it can be tested by:
//!
//! - [`Backoff`]: when the next attempt of a failed notification is due — `retry_interval`
//!   doubled per attempt up to a cap, with ±20 % jitter derived from the notification's key
//!   (so a burst of failures does not retry in lockstep, and a restart computes the same
//!   time) — and when to give up (`retry_count`, then a dead letter).
//! - [`Budget`]: a channel's sending budget (`rate_limit` per `rate_limit_window`, or the
//!   service's own: DingTalk's 20 a minute, Slack's one a second) over a sliding window of
//!   send times; what does not fit now is folded into a digest, never dropped.

use std::collections::VecDeque;
use std::time::Duration;

/// Retry timing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The wait after the first failure.
    pub retry_interval: Duration,
    /// Attempts after the first before the notification is a dead letter.
    pub retry_count: u32,
    /// No wait is longer than this.
    pub max_interval: Duration,
}

impl Backoff {
    /// When attempt `attempt + 1` is due after attempt `attempt` (1-based) failed at
    /// `failed_ms`; `None` when no attempt is left. A service's own `Retry-After` is
    /// honoured when it is longer.
    pub fn next_attempt_ms(
        &self,
        key: &str,
        attempt: u32,
        failed_ms: i64,
        retry_after: Option<Duration>,
    ) -> Option<i64> {
        if attempt > self.retry_count {
            return None;
        }
        let doubled = self
            .retry_interval
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(20))
            .min(self.max_interval);
        // ±20 %, the same for the same key and attempt.
        let jitter = (fnv(key, attempt) % 401) as f64 / 1000.0 - 0.2;
        let wait = doubled
            .mul_f64(1.0 + jitter)
            .max(retry_after.unwrap_or_default());
        Some(failed_ms + wait.as_millis() as i64)
    }
}

fn fnv(key: &str, attempt: u32) -> u64 {
    key.bytes()
        .chain(attempt.to_le_bytes())
        .fold(0xcbf2_9ce4_8422_2325u64, |hash, byte| {
            (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
        })
}

/// A sliding-window sending budget.
#[derive(Debug, Clone)]
pub struct Budget {
    pub limit: u32,
    pub window: Duration,
    sent: VecDeque<i64>,
}

impl Budget {
    pub fn new(limit: u32, window: Duration) -> Self {
        Self {
            limit: limit.max(1),
            window,
            sent: VecDeque::new(),
        }
    }

    fn forget_before(&mut self, now_ms: i64) {
        let window = self.window.as_millis() as i64;
        while self.sent.front().is_some_and(|t| now_ms - t >= window) {
            self.sent.pop_front();
        }
    }

    /// Takes a slot at `now_ms` if one is free.
    pub fn try_take(&mut self, now_ms: i64) -> bool {
        self.forget_before(now_ms);
        if self.sent.len() < self.limit as usize {
            self.sent.push_back(now_ms);
            true
        } else {
            false
        }
    }

    /// When the next slot frees.
    pub fn next_free_ms(&mut self, now_ms: i64) -> i64 {
        self.forget_before(now_ms);
        if self.sent.len() < self.limit as usize {
            now_ms
        } else {
            self.sent.front().copied().unwrap_or(now_ms) + self.window.as_millis() as i64
        }
    }

    /// Of `waiting` messages, how many may go now one by one; the rest go together as one
    /// digest once a slot frees (`true` when a digest is needed).
    pub fn plan(&mut self, waiting: usize, now_ms: i64) -> (usize, bool) {
        let mut sent = 0;
        while sent < waiting && self.try_take(now_ms) {
            sent += 1;
        }
        (sent, sent < waiting)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_double_with_jitter_honour_retry_after_and_end() {
        let backoff = Backoff {
            retry_interval: Duration::from_secs(30),
            retry_count: 3,
            max_interval: Duration::from_secs(90),
        };
        let wait = |attempt| {
            backoff
                .next_attempt_ms("n1", attempt, 0, None)
                .map(|t| t / 1000)
        };
        // 30 s, 60 s, then capped at 90 s, each within ±20 %.
        for (attempt, nominal) in [(1u32, 30i64), (2, 60), (3, 90)] {
            let got = wait(attempt).unwrap();
            assert!(
                (nominal * 8 / 10..=nominal * 12 / 10).contains(&got),
                "attempt {attempt}: {got} s"
            );
        }
        assert_eq!(
            wait(4),
            None,
            "after retry_count retries it is a dead letter"
        );
        // Deterministic for a key (a restart computes the same time); other keys differ.
        assert_eq!(wait(1), wait(1));
        let spread: std::collections::BTreeSet<i64> = (0..20)
            .map(|i| {
                backoff
                    .next_attempt_ms(&format!("n{i}"), 1, 0, None)
                    .unwrap()
            })
            .collect();
        assert!(spread.len() > 10, "jitter spreads a burst: {spread:?}");
        // A service asking for five minutes gets them.
        let asked = backoff
            .next_attempt_ms("n1", 1, 0, Some(Duration::from_secs(300)))
            .unwrap();
        assert_eq!(asked, 300_000);
    }

    #[test]
    fn a_budget_sends_what_fits_and_folds_the_rest_into_a_digest() {
        // DingTalk: 20 a minute.
        let mut budget = Budget::new(20, Duration::from_secs(60));
        assert_eq!(budget.plan(25, 0), (20, true), "20 go, 5 wait for a digest");
        assert!(!budget.try_take(30_000));
        assert_eq!(budget.next_free_ms(30_000), 60_000);
        assert!(
            budget.try_take(60_000),
            "a slot frees a window after the first send"
        );
        // A minute on, the first twenty have left the window; the one sent at 60 s has not.
        assert_eq!(budget.plan(25, 60_001), (19, true));
    }
}
