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
/// Most clients remembered (expired entries go first, then the oldest).
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

impl SignInLimiter {
    /// How long `ip` must wait before trying again, if it used up its failures.
    pub fn blocked(&self, ip: IpAddr, now: Instant) -> Option<Duration> {
        let m = self.0.lock().ok()?;
        let f = m.get(&client(ip))?;
        let end = f.first + WINDOW;
        (f.count >= MAX_FAILURES && now < end).then(|| end - now)
    }

    /// Counts a failed attempt of `ip`.
    pub fn failed(&self, ip: IpAddr, now: Instant) {
        let Ok(mut m) = self.0.lock() else { return };
        let key = client(ip);
        if !m.contains_key(&key) && m.len() >= MAX_CLIENTS {
            m.retain(|_, f| now.duration_since(f.first) < WINDOW);
            if m.len() >= MAX_CLIENTS
                && let Some(oldest) = m.iter().min_by_key(|(_, f)| f.first).map(|(k, _)| *k)
            {
                m.remove(&oldest);
            }
        }
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
        f.count = f.count.saturating_add(1);
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
    fn ten_failures_block_until_the_window_ends_and_success_resets() {
        let l = SignInLimiter::default();
        let t0 = Instant::now();
        let a = ip("192.0.2.1");
        for i in 0..MAX_FAILURES {
            assert_eq!(l.blocked(a, t0), None, "attempt {i}");
            l.failed(a, t0 + Duration::from_secs(i as u64));
        }
        let wait = l.blocked(a, t0 + Duration::from_secs(60)).expect("blocked");
        assert_eq!(wait, WINDOW - Duration::from_secs(60));
        assert_eq!(l.blocked(ip("192.0.2.2"), t0), None, "another client");
        assert_eq!(l.blocked(a, t0 + WINDOW), None, "the window ended");
        // After the window the count starts again.
        l.failed(a, t0 + WINDOW);
        assert_eq!(l.blocked(a, t0 + WINDOW), None);
        for _ in 0..MAX_FAILURES - 2 {
            l.failed(a, t0 + WINDOW);
        }
        l.succeeded(a);
        l.failed(a, t0 + WINDOW);
        assert_eq!(l.blocked(a, t0 + WINDOW), None, "success forgot them");
    }

    #[test]
    fn ipv6_counts_by_prefix_and_the_map_is_bounded() {
        let l = SignInLimiter::default();
        let t0 = Instant::now();
        for i in 0..MAX_FAILURES {
            l.failed(ip(&format!("2001:db8:1:2::{i:x}")), t0);
        }
        assert!(l.blocked(ip("2001:db8:1:2::ffff"), t0).is_some());
        assert!(l.blocked(ip("2001:db8:1:3::1"), t0).is_none());
        assert!(l.blocked(ip("::ffff:192.0.2.9"), t0).is_none());
        for i in 0..MAX_CLIENTS as u32 + 5 {
            l.failed(IpAddr::V4(std::net::Ipv4Addr::from(i)), t0);
        }
        assert_eq!(l.len(), MAX_CLIENTS);
    }
}
