//! Handing sealed batches to a platform that keeps them itself (the browser's `localStorage`, a
//! `sendBeacon` on page hide) and adopting them again on the next start.

use uuid::Uuid;

use super::queue::{self, SealedQueue};
use super::{CORRUPT, Pipeline, QUEUE_FULL};
use crate::spool::{self, SpoolError};

impl Pipeline {
    /// Removes every sealed batch except the one in flight and returns their bodies (gzip JSON
    /// of [`crate::wire::Batch`]), oldest first. The pipeline no longer retries them: the caller
    /// owns them (stores them, beacons them, hands them back with [`Pipeline::restore`]).
    pub fn take_unsent(&mut self) -> Vec<Vec<u8>> {
        let now = self.clock.now_ms();
        let mut bodies = Vec::new();
        let mut pos = 0;
        while let Some(entry) = self.sealed.get_mut(pos) {
            if Some(entry.id) == self.in_flight {
                pos += 1;
                continue;
            }
            let body = queue::load_body(entry);
            let Some(taken) = self.sealed.remove(pos) else {
                break;
            };
            match body {
                Ok(body) => bodies.push(body),
                Err(_) => {
                    self.drops.count(CORRUPT, taken.items.max(1) as u64, now);
                    self.drops.restore(&taken.dropped);
                }
            }
        }
        bodies
    }

    /// Seals what is pending and forgets every batch not in flight, spool files included (the
    /// user declined consent): those not indexed yet too (a crash record the panic hook wrote).
    /// The batch in flight is forgotten too if it comes back unsent (failed, or its lease ran
    /// out), not retried.
    pub fn forget_unsent(&mut self) {
        self.forget_on_return = self.in_flight;
        self.rescan();
        self.flush();
        // Removed without reading them back: a declined start may find a full spool.
        let mut pos = 0;
        while let Some(entry) = self.sealed.get_mut(pos) {
            if Some(entry.id) == self.in_flight {
                pos += 1;
            } else {
                self.sealed.remove(pos);
            }
        }
    }

    /// Adopts a batch body handed out by [`Pipeline::take_unsent`] (in this run or an earlier
    /// one) for upload, behind the batches already sealed. Returns its id, or `None` when it is
    /// already queued or the memory bound leaves no room (its items are then counted
    /// `queue_full`). A body that is not a gzip JSON batch is refused.
    pub fn restore(&mut self, body: Vec<u8>) -> Result<Option<Uuid>, SpoolError> {
        let mut batch = spool::decode_batch(&body)?;
        let id = batch.batch_id;
        if self.sealed.position(id).is_some() || self.in_flight == Some(id) {
            return Ok(None);
        }
        let dropped = std::mem::take(&mut batch.dropped);
        if self.config.spool_dir().is_none()
            && self.queued_items() + batch.len() > self.config.max_queue_items
        {
            let now = self.clock.now_ms();
            self.drops.count(QUEUE_FULL, batch.len() as u64, now);
            self.drops.restore(&dropped);
            return Ok(None);
        }
        let sealed = SealedQueue::make(self.config.spool_dir(), &batch, dropped, false, body);
        self.sealed.push_back(sealed);
        self.enforce_spool_caps();
        Ok(Some(id))
    }
}
