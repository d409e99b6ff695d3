//! Keeping the spool in shape: evicting to fit its caps (crash batches last) and picking up
//! files written into it behind the pipeline's back.

use super::queue::{SealedQueue, Stored};
use super::{Pipeline, RESCAN_INTERVAL, SPOOL_FULL};
use crate::policy::duration_ms;
use crate::spool;

impl Pipeline {
    /// Drops spooled batches (never the one in flight) until the spool fits its caps: the oldest
    /// first, batches holding a crash event only when nothing else is left.
    pub(super) fn enforce_spool_caps(&mut self) {
        let now = self.clock.now_ms();
        while self.sealed.spool_files() > self.config.spool_max_files
            || self.sealed.spool_bytes() > self.config.spool_max_bytes
        {
            let Some(pos) = self.sealed.eviction_candidate(self.in_flight) else {
                break;
            };
            self.recover_drop_counts(pos);
            if let Some(evicted) = self.sealed.remove(pos) {
                self.drops.count(SPOOL_FULL, evicted.items as u64, now);
                self.drops.restore(&evicted.dropped);
            }
        }
    }

    /// Reads the drop counts of a batch indexed by name only, about to be lost, so they are
    /// reported with a later batch (a file evicted unread is read just for that).
    fn recover_drop_counts(&mut self, pos: usize) {
        let Some(entry) = self.sealed.get_mut(pos) else {
            return;
        };
        if entry.verified {
            return;
        }
        if let Stored::File(path) = &entry.stored
            && let Ok((_, batch)) = spool::read_batch(path, entry.id)
        {
            entry.items = batch.len();
            entry.dropped = batch.dropped;
            entry.verified = true;
        }
    }

    /// Looks for batch files written into the spool directory behind the pipeline's back (by
    /// [`spool::write_batch_file`] from a crash handler of a process that went on) and queues
    /// them for upload. Cheap: lists the directory, reads no body. Returns how many were added.
    /// `next_upload` calls it every [`RESCAN_INTERVAL`] of clock time.
    pub fn rescan(&mut self) -> usize {
        let now = self.clock.now_ms();
        self.last_rescan_ms = now;
        let Some(dir) = self.config.spool_dir() else {
            return 0;
        };
        let Ok(found) = spool::rescan(dir) else {
            return 0;
        };
        let known = self.sealed.ids();
        let mut added = 0;
        for f in found.files {
            if !known.contains(&f.name.id) {
                self.sealed.push_back(SealedQueue::from_file(f));
                added += 1;
            }
        }
        if added > 0 {
            self.enforce_spool_caps();
        }
        added
    }

    /// When the next automatic rescan is due (None without a spool).
    pub(super) fn rescan_due_at(&self) -> Option<i64> {
        self.config.spool_dir()?;
        Some(
            self.last_rescan_ms
                .saturating_add(duration_ms(RESCAN_INTERVAL)),
        )
    }

    pub(super) fn rescan_if_due(&mut self, now: i64) {
        // A clock that went backwards must not postpone rescans until it catches up.
        if self
            .rescan_due_at()
            .is_some_and(|due| due <= now || self.last_rescan_ms > now)
        {
            self.rescan();
        }
    }
}
