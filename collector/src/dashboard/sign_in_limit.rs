//! A limit on failed sign-ins per client address, so the admin key cannot be guessed quickly
//! through the sign-in form.
//!
//! A client (an IPv4 address, or an IPv6 /64: one host usually owns the whole prefix) gets
//! [`MAX_FAILURES`] failed attempts per [`WINDOW`], counted from its first failure; after that
//! every attempt, right key or not, is refused with 429 until the window ends (letting a right
//! key through would keep the form an oracle). A successful sign-in forgets the client's
//! failures. The map is in memory and bounded ([`MAX_CLIENTS`]): a restart forgives everyone.
//! Behind a reverse proxy every client has the proxy's address, so the limit is shared.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failed attempts a client may make per window.
pub const MAX_FAILURES: u32 = 10;
/// The window the failures are counted over, from the first one.
pub const WINDOW: Duration = Duration::from_secs(5 * 60);
/// Most clients remembered (expired entries are dropped first; then new clients share one entry).
pub const MAX_CLIENTS: usize = 10_000;

#[derive(Debug, Clone, Copy)]
struct Failures {
    first: Instant,
    count: u32,
}

/// Failed sign-ins by client.
#[derive(Debug, Default)]
pub struct SignInLimiter(Mutex<HashMap<IpAddr, Failures>>);

/// The key a client is counted under: IPv4 as is, IPv6 by its /64 prefix (IPv4-mapped IPv6
/// addresses as IPv4).
fn client(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

/// Where `key` is counted: its own entry, or — when the map is full of live entries — one shared
/// overflow entry (evicting a live entry would let a client with many addresses reset its own
/// count by rotating through them).
fn slot(m: &mut HashMap<IpAddr, Failures>, key: IpAddr, now: Instant) -> IpAddr {
    if m.contains_key(&key) || m.len() < MAX_CLIENTS {
        return key;
    }
    m.retain(|_, f| now.duration_since(f.first) < WINDOW);
    if m.len() < MAX_CLIENTS { key } else { OVERFLOW }
}

/// The shared entry of clients that found the map full.
const OVERFLOW: IpAddr = IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED);

impl SignInLimiter {
    /// How long `ip` must wait before trying again, if it used up its failures.
    pub fn blocked(&self, ip: IpAddr, now: Instant) -> Option<Duration> {
        let m = self.0.lock().ok()?;
        let f = m.get(&client(ip))?;
        let end = f.first + WINDOW;
        (f.count >= MAX_FAILURES && now < end).then(|| end - now)
    }

    /// Counts an attempt of `ip` before its key is checked, or answers how long it must wait.
    /// Checking and counting under one lock means parallel requests cannot all pass the check
    /// before any failure is counted; a success then forgets the count ([`Self::succeeded`]).
    pub fn attempt(&self, ip: IpAddr, now: Instant) -> Result<(), Duration> {
        let Ok(mut m) = self.0.lock() else {
            return Ok(());
        };
        let key = slot(&mut m, client(ip), now);
        let f = m.entry(key).or_insert(Failures {
            first: now,
            count: 0,
        });
        if now.duration_since(f.first) >= WINDOW {
            *f = Failures {
                first: now,
                count: 0,
            };
        }
        if f.count >= MAX_FAILURES {
            return Err(f.first + WINDOW - now);
        }
        f.count += 1;
        Ok(())
    }

    /// Forgets the failures of `ip` (it signed in).
    pub fn succeeded(&self, ip: IpAddr) {
        if let Ok(mut m) = self.0.lock() {
            m.remove(&client(ip));
        }
    }

    /// Clients remembered now.
    pub fn len(&self) -> usize {
        self.0.lock().map(|m| m.len()).unwrap_or(0)
    }

    /// True when no client is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("address")
    }

    #[test]
    fn ten_attempts_block_until_the_window_ends_and_success_resets() {
        let l = SignInLimiter::default();
        let t0 = Instant::now();
        let a = ip("192.0.2.1");
        for i in 0..MAX_FAILURES {
            assert_eq!(l.blocked(a, t0), None, "attempt {i}");
            assert_eq!(l.attempt(a, t0 + Duration::from_secs(i as u64)), Ok(()));
        }
        let wait = l.blocked(a, t0 + Duration::from_secs(60)).expect("blocked");
        assert_eq!(wait, WINDOW - Duration::from_secs(60));
        assert_eq!(
            l.attempt(a, t0 + Duration::from_secs(60)),
            Err(WINDOW - Duration::from_secs(60)),
            "an attempt while blocked is refused, not counted"
        );
        assert_eq!(l.blocked(ip("192.0.2.2"), t0), None, "another client");
        assert_eq!(l.blocked(a, t0 + WINDOW), None, "the window ended");
        // After the window the count starts again.
        assert_eq!(l.attempt(a, t0 + WINDOW), Ok(()));
        assert_eq!(l.blocked(a, t0 + WINDOW), None);
        for _ in 0..MAX_FAILURES - 2 {
            assert_eq!(l.attempt(a, t0 + WINDOW), Ok(()));
        }
        l.succeeded(a);
        assert_eq!(l.attempt(a, t0 + WINDOW), Ok(()));
        assert_eq!(l.blocked(a, t0 + WINDOW), None, "success forgot them");
    }

    #[test]
    fn parallel_attempts_get_no_more_than_the_limit() {
        let l = std::sync::Arc::new(SignInLimiter::default());
        let t0 = Instant::now();
        let a = ip("192.0.2.7");
        let passed: u32 = (0..8)
            .map(|_| {
                let l = l.clone();
                std::thread::spawn(move || (0..10).filter(|_| l.attempt(a, t0).is_ok()).count())
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|h| h.join().expect("thread") as u32)
            .sum();
        assert_eq!(
            passed, MAX_FAILURES,
            "80 concurrent attempts, only the budget passes"
        );
    }

    #[test]
    fn ipv6_counts_by_prefix_and_a_full_map_shares_one_entry() {
        let l = SignInLimiter::default();
        let t0 = Instant::now();
        for i in 0..MAX_FAILURES {
            assert_eq!(l.attempt(ip(&format!("2001:db8:1:2::{i:x}")), t0), Ok(()));
        }
        assert!(l.blocked(ip("2001:db8:1:2::ffff"), t0).is_some());
        assert!(l.blocked(ip("2001:db8:1:3::1"), t0).is_none());
        assert!(l.blocked(ip("::ffff:192.0.2.9"), t0).is_none());
        for i in 0..MAX_CLIENTS as u32 {
            let _ = l.attempt(IpAddr::V4(std::net::Ipv4Addr::from(i)), t0);
        }
        assert_eq!(
            l.len(),
            MAX_CLIENTS + 1,
            "the full map grew by the shared entry only"
        );
        // Rotating through new addresses does not reset anyone: they share one budget.
        let fresh = |i: u32| IpAddr::V4(std::net::Ipv4Addr::from(0xC000_0000 + i));
        let passed = (0..3 * MAX_FAILURES)
            .filter(|i| l.attempt(fresh(*i), t0).is_ok())
            .count() as u32;
        assert_eq!(
            passed,
            MAX_FAILURES - 1,
            "the overflow entry's remaining budget"
        );
        assert!(
            l.blocked(ip("2001:db8:1:2::1"), t0).is_some(),
            "not evicted"
        );
        // Once the window is over, expired entries make room again.
        assert_eq!(l.attempt(fresh(999), t0 + WINDOW), Ok(()));
    }
}
