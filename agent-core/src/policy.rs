//! Upload policy: what an HTTP answer means for a batch, how long to back off, how big a batch
//! may grow. Pure functions and small state machines, so they are tested without any I/O.

use std::time::Duration;

use crate::upload::UploadResult;

/// Longest `Retry-After` honoured, so a bad header cannot stall uploads for days.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(3_600);

/// Jitter applied to every backoff delay: the delay is multiplied by a factor in `1 ± JITTER`.
pub const JITTER: f64 = 0.2;

/// What to do with a batch after an upload attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Accepted (2xx): forget the batch.
    Delivered,
    /// Rate limited (429): retry the same batch after the server's delay, or the backoff.
    RateLimited(Option<Duration>),
    /// Transient failure (network, 5xx, 408, anything unexpected): back off and retry.
    Retry,
    /// Too large (413): split once, else drop as `too_large`.
    TooLarge,
    /// Refused (other 4xx): drop and count as `rejected`; retrying cannot help.
    Rejected,
}

/// Classifies an upload result.
pub fn classify(result: &UploadResult) -> Outcome {
    match *result {
        UploadResult::NetworkError => Outcome::Retry,
        UploadResult::Http {
            status,
            retry_after,
        } => match status {
            200..=299 => Outcome::Delivered,
            429 => Outcome::RateLimited(retry_after),
            // Unavailable for a time the server (or a proxy in front of it) names.
            503 if retry_after.is_some() => Outcome::RateLimited(retry_after),
            413 => Outcome::TooLarge,
            // A request timeout says nothing about the batch itself.
            408 => Outcome::Retry,
            400..=499 => Outcome::Rejected,
            _ => Outcome::Retry,
        },
    }
}

/// The nominal (unjittered) delay before retry number `failures` (1 for the first retry):
/// `base * 2^(failures-1)`, capped at `max`.
pub fn nominal_backoff(base: Duration, max: Duration, failures: u32) -> Duration {
    let exp = failures.saturating_sub(1).min(30);
    base.saturating_mul(1u32 << exp).min(max)
}

/// Applies a jitter factor (`unit` in `[0, 1]` maps to `1 - JITTER ..= 1 + JITTER`) and caps at
/// `max`, so many agents failing together do not retry in lockstep.
pub fn jittered(nominal: Duration, max: Duration, unit: f64) -> Duration {
    let unit = if unit.is_finite() {
        unit.clamp(0.0, 1.0)
    } else {
        0.5
    };
    let factor = 1.0 - JITTER + 2.0 * JITTER * unit;
    // try_from_secs_f64 instead of mul_f64, which panics on overflow (a huge configured maximum).
    Duration::try_from_secs_f64(nominal.as_secs_f64() * factor)
        .unwrap_or(max)
        .min(max)
}

/// A uniform draw from `[0, 1)` for the jitter, from the OS's (the browser's) random source:
/// eight bytes per failure need no seeded generator of our own. `0.5` (no jitter) if the
/// source fails.
fn unit_random() -> f64 {
    let mut bytes = [0u8; 8];
    match getrandom::fill(&mut bytes) {
        // The top 53 bits: every double this can give is equally likely.
        Ok(()) => (u64::from_le_bytes(bytes) >> 11) as f64 / (1u64 << 53) as f64,
        Err(_) => 0.5,
    }
}

/// Retry timing shared by all batches: one failure streak, reset by any success.
#[derive(Debug, Clone)]
pub struct Backoff {
    base: Duration,
    max: Duration,
    failures: u32,
    until_ms: Option<i64>,
    /// When the current wait was decided; a clock seen before it went backwards.
    set_at_ms: i64,
}

impl Backoff {
    /// A backoff starting at `base`, never longer than `max`.
    pub fn new(base: Duration, max: Duration) -> Self {
        Backoff {
            base: base.max(Duration::from_millis(1)),
            max: max.max(base),
            failures: 0,
            until_ms: None,
            set_at_ms: 0,
        }
    }

    /// Records a transient failure at `now_ms`; returns the delay chosen.
    pub fn failure(&mut self, now_ms: i64) -> Duration {
        self.failures = self.failures.saturating_add(1);
        let nominal = nominal_backoff(self.base, self.max, self.failures);
        let delay = jittered(nominal, self.max, unit_random());
        self.until_ms = Some(now_ms.saturating_add(duration_ms(delay)));
        self.set_at_ms = now_ms;
        delay
    }

    /// Records a 429: waits `retry_after` when given (capped at [`MAX_RETRY_AFTER`]), else backs
    /// off as for a failure. One shorter than the base delay (0, or a date already past: a clock
    /// ahead of the server's) counts as not given: taken as is, every answer would be asked
    /// again at once, hundreds of times a second. Returns the delay chosen.
    pub fn rate_limited(&mut self, now_ms: i64, retry_after: Option<Duration>) -> Duration {
        match retry_after.filter(|d| *d >= self.base) {
            Some(d) => {
                let d = d.min(MAX_RETRY_AFTER);
                self.until_ms = Some(now_ms.saturating_add(duration_ms(d)));
                self.set_at_ms = now_ms;
                d
            }
            None => self.failure(now_ms),
        }
    }

    /// Records a success: the next failure starts again from `base`.
    pub fn success(&mut self) {
        self.failures = 0;
        self.until_ms = None;
    }

    /// Moves the wait back with a clock that stepped back past the moment it was decided (an
    /// NTP correction, a user setting the time), so a server's `Retry-After` still runs its
    /// course instead of ending at once. Time that passed before the step is not known: the wait
    /// starts again from the step, so it lasts at most twice as long, never without end.
    pub fn follow_clock(&mut self, now_ms: i64) {
        if let Some(until) = self.until_ms
            && now_ms < self.set_at_ms
        {
            self.until_ms = Some(until.saturating_sub(self.set_at_ms - now_ms));
            self.set_at_ms = now_ms;
        }
    }

    /// Milliseconds left before uploads may resume, if backing off at `now_ms`. A clock that
    /// went backwards (and was not followed, [`Backoff::follow_clock`]) ends the wait rather than
    /// stretching it.
    pub fn remaining_ms(&self, now_ms: i64) -> Option<u64> {
        match self.until_ms {
            Some(until) if until > now_ms && now_ms >= self.set_at_ms => {
                Some(until.saturating_sub(now_ms).unsigned_abs())
            }
            _ => None,
        }
    }

    /// Failures in the current streak.
    pub fn failures(&self) -> u32 {
        self.failures
    }
}

/// Whole milliseconds in `d`, saturating.
pub fn duration_ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Predicts the gzipped size of a batch from its raw JSON size, learning the compression ratio
/// from the batches actually sealed. Starts pessimistic (no compression) so the first batches
/// never overshoot; a batch that overshoots anyway is split at sealing time.
#[derive(Debug, Clone)]
pub struct SizeEstimator {
    ratio: f64,
}

impl Default for SizeEstimator {
    fn default() -> Self {
        SizeEstimator { ratio: 1.0 }
    }
}

impl SizeEstimator {
    /// Margin over the last observed ratio, since the next batch may compress worse.
    const MARGIN: f64 = 1.25;

    /// Estimated gzipped bytes for `raw_json` bytes of JSON.
    pub fn estimate(&self, raw_json: usize) -> usize {
        // gzip adds a fixed header and trailer even to incompressible data.
        (raw_json as f64 * self.ratio) as usize + 32
    }

    /// Learns from a sealed batch.
    pub fn observe(&mut self, raw_json: usize, gzipped: usize) {
        if raw_json < 1024 {
            return; // too small to tell anything about compressibility
        }
        let observed = gzipped as f64 / raw_json as f64;
        self.ratio = (observed * Self::MARGIN).clamp(0.05, 1.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn http(status: u16) -> UploadResult {
        UploadResult::Http {
            status,
            retry_after: None,
        }
    }

    #[test]
    fn classifies_statuses() {
        assert_eq!(classify(&http(202)), Outcome::Delivered);
        assert_eq!(classify(&http(204)), Outcome::Delivered);
        assert_eq!(classify(&http(500)), Outcome::Retry);
        assert_eq!(classify(&http(503)), Outcome::Retry);
        assert_eq!(classify(&http(408)), Outcome::Retry);
        assert_eq!(classify(&http(413)), Outcome::TooLarge);
        assert_eq!(classify(&http(400)), Outcome::Rejected);
        assert_eq!(classify(&http(401)), Outcome::Rejected);
        assert_eq!(classify(&UploadResult::NetworkError), Outcome::Retry);
        assert_eq!(
            classify(&UploadResult::Http {
                status: 429,
                retry_after: Some(Duration::from_secs(7))
            }),
            Outcome::RateLimited(Some(Duration::from_secs(7)))
        );
        assert_eq!(
            classify(&UploadResult::Http {
                status: 503,
                retry_after: Some(Duration::from_secs(120))
            }),
            Outcome::RateLimited(Some(Duration::from_secs(120)))
        );
    }

    #[test]
    fn a_retry_after_shorter_than_the_base_backs_off_as_a_failure() {
        let mut backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(300));
        assert_eq!(
            backoff.rate_limited(0, Some(Duration::from_secs(7))),
            Duration::from_secs(7)
        );
        let delays: Vec<Duration> = (0..4)
            .map(|_| backoff.rate_limited(0, Some(Duration::ZERO)))
            .collect();
        assert!(delays[0] >= Duration::from_millis(800), "{delays:?}");
        assert!(delays[3] > delays[0] * 4, "doubling: {delays:?}");
    }

    #[test]
    fn nominal_doubles_and_caps() {
        let base = Duration::from_secs(1);
        let max = Duration::from_secs(300);
        assert_eq!(nominal_backoff(base, max, 1), Duration::from_secs(1));
        assert_eq!(nominal_backoff(base, max, 2), Duration::from_secs(2));
        assert_eq!(nominal_backoff(base, max, 5), Duration::from_secs(16));
        assert_eq!(nominal_backoff(base, max, 9), Duration::from_secs(256));
        assert_eq!(nominal_backoff(base, max, 10), max);
        assert_eq!(nominal_backoff(base, max, u32::MAX), max);
    }

    #[test]
    fn jitter_bounds() {
        let max = Duration::from_secs(300);
        let d = Duration::from_secs(10);
        assert_eq!(jittered(d, max, 0.0), Duration::from_secs(8));
        assert_eq!(jittered(d, max, 1.0), Duration::from_secs(12));
        assert_eq!(jittered(d, max, f64::NAN), d);
        assert_eq!(jittered(max, max, 1.0), max);
        assert_eq!(jittered(Duration::MAX, Duration::MAX, 1.0), Duration::MAX);
    }

    #[test]
    fn jitter_draws_are_uniform_over_the_unit_interval() {
        let draws: Vec<f64> = (0..20_000).map(|_| unit_random()).collect();
        assert!(draws.iter().all(|u| (0.0..1.0).contains(u)));
        // Each tenth of the interval holds ~2,000 draws (sd ~42): 1,700..2,300 is over 7 sd.
        for tenth in 0..10 {
            let lo = f64::from(tenth) / 10.0;
            let n = draws.iter().filter(|u| (lo..lo + 0.1).contains(*u)).count();
            assert!(
                (1_700..2_300).contains(&n),
                "{n} draws in [{lo}, {lo} + 0.1)"
            );
        }
        // Agents failing at once back off by different amounts (a stuck source would not).
        let delays: Vec<Duration> = (0..8)
            .map(|_| Backoff::new(Duration::from_secs(10), Duration::from_secs(60)).failure(0))
            .collect();
        assert!(delays.windows(2).any(|w| w[0] != w[1]), "{delays:?}");
    }

    #[test]
    fn backoff_survives_a_clock_going_backwards() {
        let mut b = Backoff::new(Duration::from_secs(1), Duration::from_secs(60));
        let d = b.failure(10_000);
        assert_eq!(b.remaining_ms(10_000), Some(duration_ms(d) as u64));
        assert_eq!(b.remaining_ms(5_000), None);
        // Followed, the step moves the wait: it runs in full from the step.
        b.follow_clock(5_000);
        assert_eq!(b.remaining_ms(5_000), Some(duration_ms(d) as u64));
        assert_eq!(b.remaining_ms(5_000 + duration_ms(d)), None);
        // A clock going forward again is not a step back (the jittered delay is at least 0.8 s).
        b.follow_clock(5_100);
        assert_eq!(b.remaining_ms(5_100), Some(duration_ms(d) as u64 - 100));
        b.success();
        assert_eq!(b.remaining_ms(10_000), None);
        assert_eq!(b.failures(), 0);
    }

    #[test]
    fn estimator_learns_but_stays_bounded() {
        let mut e = SizeEstimator::default();
        assert!(e.estimate(10_000) >= 10_000);
        e.observe(100_000, 20_000);
        assert_eq!(e.estimate(100_000), 25_032);
        e.observe(100_000, 1);
        assert!(e.estimate(100_000) >= 5_000);
    }
}
