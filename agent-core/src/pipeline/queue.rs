//! Sealed batches waiting for upload, oldest first: on disk when a spool is configured (only an
//! index entry in memory), in memory otherwise or when the spool cannot be written.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};

use uuid::Uuid;

use crate::spool;
use crate::wire::DropCount;

/// Where a sealed batch's body lives.
#[derive(Debug)]
pub(crate) enum Stored {
    /// In memory (counts against the memory bound).
    Memory(Vec<u8>),
    /// In the spool.
    File(PathBuf),
}

/// A sealed batch.
#[derive(Debug)]
pub(crate) struct Sealed {
    pub id: Uuid,
    pub items: usize,
    pub bytes: u64,
    pub dropped: Vec<DropCount>,
    /// Made by splitting a batch refused with 413: refused again, it is dropped.
    pub split: bool,
    pub stored: Stored,
}

/// The queue of sealed batches with its memory and spool accounting.
#[derive(Debug, Default)]
pub(crate) struct SealedQueue {
    entries: VecDeque<Sealed>,
    memory_items: usize,
    spool_files: usize,
    spool_bytes: u64,
}

impl SealedQueue {
    /// Builds a sealed entry for `body`, spooling it when `dir` is set; falls back to memory when
    /// the spool cannot be written.
    pub fn make(
        dir: Option<&Path>,
        id: Uuid,
        items: usize,
        dropped: Vec<DropCount>,
        split: bool,
        body: Vec<u8>,
    ) -> Sealed {
        let bytes = body.len() as u64;
        let stored = match dir.map(|d| spool::write_body(d, id, &body)) {
            Some(Ok(path)) => Stored::File(path),
            _ => Stored::Memory(body),
        };
        Sealed {
            id,
            items,
            bytes,
            dropped,
            split,
            stored,
        }
    }

    fn account_add(&mut self, s: &Sealed) {
        match s.stored {
            Stored::Memory(_) => self.memory_items += s.items,
            Stored::File(_) => {
                self.spool_files += 1;
                self.spool_bytes += s.bytes;
            }
        }
    }

    fn account_remove(&mut self, s: &Sealed) {
        match s.stored {
            Stored::Memory(_) => self.memory_items = self.memory_items.saturating_sub(s.items),
            Stored::File(_) => {
                self.spool_files = self.spool_files.saturating_sub(1);
                self.spool_bytes = self.spool_bytes.saturating_sub(s.bytes);
            }
        }
    }

    /// Appends the newest batch.
    pub fn push_back(&mut self, s: Sealed) {
        self.account_add(&s);
        self.entries.push_back(s);
    }

    /// Inserts at `pos` (clamped), keeping the order of a split batch's place.
    pub fn insert(&mut self, pos: usize, s: Sealed) {
        self.account_add(&s);
        let pos = pos.min(self.entries.len());
        self.entries.insert(pos, s);
    }

    /// Removes entry `pos`, deleting its spool file.
    pub fn remove(&mut self, pos: usize) -> Option<Sealed> {
        let s = self.entries.remove(pos)?;
        self.account_remove(&s);
        if let Stored::File(path) = &s.stored {
            let _ = std::fs::remove_file(path);
        }
        Some(s)
    }

    /// Position of batch `id`.
    pub fn position(&self, id: Uuid) -> Option<usize> {
        self.entries.iter().position(|s| s.id == id)
    }

    /// Entry at `pos`.
    pub fn get(&self, pos: usize) -> Option<&Sealed> {
        self.entries.get(pos)
    }

    /// Position of the oldest spooled batch other than `except`.
    pub fn oldest_spooled(&self, except: Option<Uuid>) -> Option<usize> {
        self.entries
            .iter()
            .position(|s| matches!(s.stored, Stored::File(_)) && Some(s.id) != except)
    }

    /// True when no batch is sealed.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Items held in memory.
    pub fn memory_items(&self) -> usize {
        self.memory_items
    }

    /// Batch files in the spool.
    pub fn spool_files(&self) -> usize {
        self.spool_files
    }

    /// Bytes in the spool.
    pub fn spool_bytes(&self) -> u64 {
        self.spool_bytes
    }
}

/// Reads a sealed batch's body.
pub(crate) fn load_body(s: &Sealed) -> std::io::Result<Vec<u8>> {
    match &s.stored {
        Stored::Memory(body) => Ok(body.clone()),
        Stored::File(path) => std::fs::read(path),
    }
}
