//! When the host process started: the origin of app-start timings
//! ([`crate::Agent::track_time_from_start`], [`crate::Agent::track_app_start`]), read from the
//! OS so they include what ran before the agent was set up (the runtime's own start, the app's
//! initialisers), as a cold start does.

use std::time::Instant;

/// When this process started, on the monotonic clock; `None` where the OS does not say.
///
/// Linux and Android: the start in `/proc/self/stat`, in clock ticks (10 ms on most systems)
/// since boot, against `CLOCK_BOOTTIME` (so a device asleep since does not shorten it). Apple:
/// `sysctl(KERN_PROC_PID)`'s start, a wall-clock time, as Apple's own tools read it.
pub fn started() -> Option<Instant> {
    Instant::now().checked_sub(os::age()?)
}

/// How long ago this process started, per OS.
#[cfg(any(target_os = "linux", target_os = "android"))]
mod os {
    use std::time::Duration;

    pub(super) fn age() -> Option<Duration> {
        let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
        let ticks = start_ticks(&stat)?;
        // SAFETY: sysconf has no preconditions.
        let per_second = u64::try_from(unsafe { libc::sysconf(libc::_SC_CLK_TCK) }).ok()?;
        if per_second == 0 {
            return None;
        }
        let started = Duration::from_secs(ticks / per_second)
            + Duration::from_nanos((ticks % per_second) * 1_000_000_000 / per_second);
        let mut now = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `now` is a valid timespec to write into.
        if unsafe { libc::clock_gettime(libc::CLOCK_BOOTTIME, &mut now) } != 0 {
            return None;
        }
        let now = Duration::new(
            u64::try_from(now.tv_sec).ok()?,
            u32::try_from(now.tv_nsec).ok()?,
        );
        now.checked_sub(started)
    }

    /// Field 22 (`starttime`) of a `/proc/<pid>/stat` line. The command name (field 2) is in
    /// parentheses and may itself hold spaces and parentheses, so fields are counted from the
    /// last `)`.
    pub(super) fn start_ticks(stat: &str) -> Option<u64> {
        let after_name = &stat[stat.rfind(')')? + 1..];
        // Fields 3 (state) onwards; starttime is the 20th of them.
        after_name.split_ascii_whitespace().nth(19)?.parse().ok()
    }
}

#[cfg(target_vendor = "apple")]
mod os {
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    pub(super) fn age() -> Option<Duration> {
        // `struct kinfo_proc` (libc does not declare it) starts with `kp_proc`, whose first
        // member is the union holding `p_starttime`, a `timeval`: read that from a buffer
        // larger than the struct (648 bytes on 64-bit Darwin).
        let mut info = [0u64; 128];
        let mut size = std::mem::size_of_val(&info);
        // SAFETY: getpid has no preconditions.
        let pid = unsafe { libc::getpid() };
        let mut mib = [libc::CTL_KERN, libc::KERN_PROC, libc::KERN_PROC_PID, pid];
        // SAFETY: `mib` holds 4 names; `info` is writable for `size` bytes and aligned for a
        // timeval; no new value is set.
        let rc = unsafe {
            libc::sysctl(
                mib.as_mut_ptr(),
                4,
                info.as_mut_ptr().cast(),
                &mut size,
                std::ptr::null_mut(),
                0,
            )
        };
        if rc != 0 || size < std::mem::size_of::<libc::timeval>() {
            return None;
        }
        // SAFETY: the kernel wrote at least a timeval at the start of `info`, which is aligned.
        let start = unsafe { std::ptr::read(info.as_ptr().cast::<libc::timeval>()) };
        let start = UNIX_EPOCH
            + Duration::new(
                u64::try_from(start.tv_sec).ok()?,
                u32::try_from(start.tv_usec).ok()?.checked_mul(1_000)?,
            );
        // A wall clock stepped back since the start answers nothing rather than a wrong age.
        SystemTime::now().duration_since(start).ok()
    }
}

#[cfg(not(any(target_os = "linux", target_os = "android", target_vendor = "apple")))]
mod os {
    pub(super) fn age() -> Option<std::time::Duration> {
        None
    }
}

#[cfg(all(test, any(target_os = "linux", target_os = "android")))]
mod tests {
    // `Agent::track_time_from_start` in a process started long before the call is checked in
    // the agent's tests (`tests/agent_events.rs`).
    #[test]
    fn the_start_field_is_found_after_a_name_with_spaces_and_parentheses() {
        let fields: Vec<String> = (3..=52).map(|n| format!("{n}")).collect();
        let stat = format!("4242 (a (b) c) {}\n", fields.join(" "));
        assert_eq!(super::os::start_ticks(&stat), Some(22));
        assert_eq!(super::os::start_ticks("4242 (cut) S 1 2"), None);
        assert_eq!(super::os::start_ticks("no name at all"), None);
    }
}
