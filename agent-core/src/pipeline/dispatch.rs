//! The pull-upload side of the pipeline: handing out the next upload and acting on its result.

use uuid::Uuid;

use super::queue::{self, Sealed, SealedQueue};
use super::{CORRUPT, MAX_WAIT_MS, Pipeline, REJECTED, TOO_LARGE, UPLOAD_LEASE_MS, split_batch};
use crate::ids::derived_id;
use crate::policy::{Outcome, classify};
use crate::spool::{self, SpoolError};
use crate::upload::{UploadRequest, UploadResult, UploadTask};
use crate::wire;

impl Pipeline {
    /// The next thing the uploader should do.
    pub fn next_upload(&mut self) -> UploadTask {
        let now = self.clock.now_ms();
        self.backoff.follow_clock(now);
        self.release_late(now);
        self.seal_if_overdue(now);
        self.rescan_if_due(now);
        // A clock stepped back restarts the lease, as it moves the backoff: otherwise an upload
        // never reported would hold every later one back for as long as the step.
        if now < self.in_flight_since_ms {
            self.in_flight_since_ms = now;
        }
        if self.in_flight.is_some()
            && now.saturating_sub(self.in_flight_since_ms) >= UPLOAD_LEASE_MS
        {
            // Never reported: a failure, so the batch goes again after the backoff.
            if let Some(id) = self.in_flight.take() {
                self.forgotten_on_return(id, false);
            }
            self.backoff.failure(now);
        }
        let can_send = self.in_flight.is_none() && self.backoff.remaining_ms(now).is_none();
        if can_send {
            while let Some(front) = self.sealed.get_mut(0) {
                let id = front.id;
                match load_checked(front) {
                    Ok(body) => {
                        front.read_failures = 0;
                        self.in_flight = Some(id);
                        self.in_flight_since_ms = now;
                        return UploadTask::Upload(self.request(id, body));
                    }
                    Err(e)
                        if !e.is_lost() && front.read_failures + 1 < queue::MAX_READ_FAILURES =>
                    {
                        // Unreadable for now (out of file descriptors, a slow storage): kept,
                        // and tried again after the backoff.
                        front.read_failures += 1;
                        self.backoff.failure(now);
                        break;
                    }
                    Err(_) => {
                        // Corrupt, deleted, or unreadable time after time: nothing left to send
                        // of it.
                        if let Some(lost) = self.sealed.remove(0) {
                            self.drops.count(CORRUPT, lost.items.max(1) as u64, now);
                            self.drops.restore(&lost.dropped);
                        }
                    }
                }
            }
        }
        if self.shut_down && self.is_idle() {
            return UploadTask::Done;
        }
        UploadTask::Wait {
            ms: self.wait_ms(now),
        }
    }

    /// Takes back the result of an upload handed out by `next_upload`.
    pub fn upload_result(&mut self, id: Uuid, result: UploadResult) {
        if self.in_flight != Some(id) {
            return;
        }
        self.in_flight = None;
        let now = self.clock.now_ms();
        let outcome = classify(&result);
        if self.forgotten_on_return(id, matches!(outcome, Outcome::Delivered)) {
            return;
        }
        let Some(pos) = self.sealed.position(id) else {
            return;
        };
        match outcome {
            Outcome::Delivered => {
                if let Some(done) = self.sealed.remove(pos) {
                    self.delivered = self.delivered.saturating_add(done.items as u64);
                }
                self.backoff.success();
            }
            Outcome::RateLimited(retry_after) => {
                self.backoff.rate_limited(now, retry_after);
            }
            Outcome::Retry => {
                self.backoff.failure(now);
            }
            Outcome::Rejected => {
                if let Some(lost) = self.sealed.remove(pos) {
                    self.drops.count(REJECTED, lost.items as u64, now);
                    self.drops.restore(&lost.dropped);
                }
            }
            Outcome::TooLarge => self.split_refused(pos, now, [None, None]),
        }
        self.enforce_spool_caps();
    }

    /// Takes back an upload handed out by `next_upload` that never reached an uploader: it is
    /// the next one handed out, without a backoff.
    pub fn take_back(&mut self, id: Uuid) {
        if self.in_flight == Some(id) {
            self.in_flight = None;
            self.forgotten_on_return(id, false);
        }
    }

    /// Batch `id` came back from its upload: forgets it when it was in flight as the user
    /// declined and was not `delivered`; true when it did.
    fn forgotten_on_return(&mut self, id: Uuid, delivered: bool) -> bool {
        if self.forget_on_return != Some(id) {
            return false;
        }
        self.forget_on_return = None;
        !delivered && self.sealed.remove_id(id).is_some()
    }

    /// A batch refused with 413: split it once in place, else drop it as `too_large`. The
    /// halves are queued (and spooled) before the refused batch's file is removed, so a kill in
    /// between loses nothing: the next run splits the refused batch again into the same two
    /// batches (see [`split_batch`]), and a half already queued is not queued twice.
    /// `queued`: the items of its halves an interrupted split queued already (see
    /// [`Self::queued_halves`]), which go as they are when it cannot be split again.
    fn split_refused(&mut self, pos: usize, now: i64, queued: [Option<usize>; 2]) {
        let Some(refused) = self.sealed.get_mut(pos) else {
            return;
        };
        let order = refused.order;
        let decoded = if refused.split || refused.items < 2 {
            Ok(None)
        } else {
            queue::load_body(refused)
                .map_err(SpoolError::from)
                .and_then(|body| spool::decode_batch(&body))
                .map(Some)
        };
        let batch = match decoded {
            Ok(Some(batch)) => batch,
            // Kept, and tried again after the backoff (e.g. out of file descriptors).
            Err(e) if !e.is_lost() => {
                self.backoff.failure(now);
                return;
            }
            Ok(None) | Err(_) => {
                // The halves queued go (the first with the batch's drop counts): only the rest
                // is lost.
                if let Some(refused) = self.sealed.remove(pos) {
                    let kept: usize = queued.iter().flatten().sum();
                    self.drops
                        .count(TOO_LARGE, refused.items.saturating_sub(kept) as u64, now);
                    if queued[0].is_none() {
                        self.drops.restore(&refused.dropped);
                    }
                }
                return;
            }
        };
        let (first, second) = split_batch(batch);
        let mut at = pos + 1;
        for mut half in [first, second] {
            if self.sealed.position(half.batch_id).is_some() {
                continue;
            }
            match spool::encode_batch(&half) {
                Ok(body) => {
                    let dropped = std::mem::take(&mut half.dropped);
                    let mut sealed =
                        SealedQueue::make(self.config.spool_dir(), &half, dropped, true, body);
                    sealed.order = order;
                    self.sealed.insert(at, sealed);
                    at += 1;
                }
                Err(_) => {
                    self.drops.count(TOO_LARGE, half.len() as u64, now);
                    self.drops.restore(&half.dropped);
                }
            }
        }
        self.sealed.remove(pos);
    }

    /// Finishes the 413 splits a kill interrupted: a batch whose half is in the spool beside it
    /// (see [`Self::split_refused`]) is split again at once, its missing halves spooled and it
    /// removed, so its items and drop counts go once, in its halves, whatever becomes of it
    /// otherwise (evicted at the spool's cap, accepted by a collector whose limit was raised).
    pub(super) fn finish_interrupted_splits(&mut self, now: i64) {
        let ids = self.sealed.ids();
        let interrupted: Vec<Uuid> = ids
            .iter()
            .filter(|id| {
                [1, 2]
                    .iter()
                    .any(|&part| ids.contains(&derived_id(**id, part)))
            })
            .copied()
            .collect();
        for id in interrupted {
            let Some(pos) = self.sealed.position(id) else {
                continue;
            };
            let queued = self.queued_halves(id);
            if queued.iter().all(Option::is_some) {
                // Nothing left to write: not even read.
                self.sealed.remove(pos);
            } else {
                self.split_refused(pos, now, queued);
            }
        }
    }

    /// The items of batch `id`'s halves (see [`split_batch`]) that are queued, first and second.
    fn queued_halves(&self, id: Uuid) -> [Option<usize>; 2] {
        [1, 2].map(|part| {
            let pos = self.sealed.position(derived_id(id, part))?;
            self.sealed.get(pos).map(|half| half.items)
        })
    }

    fn request(&self, id: Uuid, body: Vec<u8>) -> UploadRequest {
        let mut headers = vec![("Content-Type".into(), "application/json".into())];
        if let Some(encoding) = spool::BODY_ENCODING {
            headers.push(("Content-Encoding".into(), encoding.into()));
        }
        headers.push((
            "Authorization".into(),
            format!("Bearer {}", self.config.sdk_key),
        ));
        headers.push(("X-Rum-Protocol".into(), wire::PROTOCOL_VERSION.to_string()));
        UploadRequest {
            id,
            path: wire::BATCH_PATH.to_string(),
            body,
            headers,
        }
    }

    /// How long the uploader may sleep: until the backoff ends or a batch is due, at most
    /// [`MAX_WAIT_MS`], at least 1 ms.
    fn wait_ms(&self, now: i64) -> u64 {
        let mut ms = MAX_WAIT_MS;
        if let Some(left) = self.backoff.remaining_ms(now) {
            ms = ms.min(left);
        }
        let late_due = self.dedupe.next_release_ms();
        for due in [self.seal_due_at(), self.rescan_due_at(), late_due]
            .into_iter()
            .flatten()
        {
            ms = ms.min(due.saturating_sub(now).max(0) as u64);
        }
        ms.max(1)
    }
}

/// Reads a sealed batch's body; one indexed by name only is decoded first, so a corrupt file is
/// found before it is sent, and its item and drop counts become known.
fn load_checked(entry: &mut Sealed) -> Result<Vec<u8>, SpoolError> {
    let body = queue::load_body(entry)?;
    if !entry.verified {
        let batch = spool::check_body(&body, entry.id)?;
        entry.items = batch.len();
        entry.dropped = batch.dropped;
        entry.verified = true;
    }
    Ok(body)
}
