//! The backlog (ring of recent local changes, oldest first, bounded by bytes) and the in-flight
//! index (key -> the newest local write/touch of that key the peer has not acked yet).
//!
//! ```text
//!   backlog:  front [seq 17][seq 18][seq 20]...[seq 95] back      (seq 19: a lost-records hole)
//!              └ trimmed by acks (seq <= acked) and by size (bytes > backlog_bytes)
//!   in-flight: hash(key) -> { write: (seq, stamp)?, touch: (seq, stamp)? }   + newest flush
//!              the key itself is not copied: it is checked against backlog[seq].record.key
//! ```

use std::collections::hash_map::RandomState;
use std::collections::{HashMap, VecDeque};
use std::hash::BuildHasher;

use crate::{ChangeOp, ChangeRecord, Stamp};

/// Bytes a backlog entry is accounted for besides key and value.
const ENTRY_OVERHEAD: usize = 112;

/// One retained local change.
#[derive(Debug)]
pub(crate) struct Entry {
    pub seq: u64,
    pub stamp: Stamp,
    pub record: ChangeRecord,
}

impl Entry {
    fn bytes(&self) -> usize {
        ENTRY_OVERHEAD + self.record.key.len() + self.record.value.len()
    }
}

/// Ring of recent local changes, ordered by seq (not necessarily contiguous).
#[derive(Debug, Default)]
pub(crate) struct Backlog {
    entries: VecDeque<Entry>,
    bytes: usize,
}

impl Backlog {
    pub fn push(&mut self, e: Entry) {
        self.bytes += e.bytes();
        self.entries.push_back(e);
    }

    pub fn pop_front(&mut self) -> Option<Entry> {
        let e = self.entries.pop_front()?;
        self.bytes -= e.bytes();
        Some(e)
    }

    pub fn front_seq(&self) -> Option<u64> {
        self.entries.front().map(|e| e.seq)
    }

    pub fn get(&self, seq: u64) -> Option<&Entry> {
        let i = self.entries.binary_search_by_key(&seq, |e| e.seq).ok()?;
        self.entries.get(i)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Entry> {
        self.entries.iter()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

/// The newest unacked local write and touch of one key.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Slot {
    /// A full write (set-like, delete, invalidate): (seq, stamp).
    pub write: Option<(u64, Stamp)>,
    /// A touch made after `write` (or with no write in flight).
    pub touch: Option<(u64, Stamp)>,
    /// A newer peer touch applied on top of `write`: its exptime goes with a re-apply.
    pub peer_exptime: Option<u32>,
}

/// Local changes sent (or to be sent) and not acked by the peer yet.
#[derive(Debug)]
pub(crate) struct InFlight {
    slots: HashMap<u64, Slot>,
    hasher: RandomState,
    /// The newest unacked local flush_all.
    pub flush: Option<(u64, Stamp)>,
}

impl InFlight {
    pub fn new() -> Self {
        InFlight { slots: HashMap::new(), hasher: RandomState::new(), flush: None }
    }

    fn hash(&self, key: &[u8]) -> u64 {
        self.hasher.hash_one(key)
    }

    /// A local change with `seq`/`stamp` was recorded.
    pub fn note(&mut self, seq: u64, stamp: Stamp, rec: &ChangeRecord) {
        if rec.op == ChangeOp::FlushAll {
            self.flush = Some((seq, stamp));
            return;
        }
        let h = self.hash(&rec.key);
        let slot = self.slots.entry(h).or_default();
        if rec.op == ChangeOp::Touch {
            slot.touch = Some((seq, stamp));
        } else {
            *slot = Slot { write: Some((seq, stamp)), touch: None, peer_exptime: None };
        }
    }

    /// The slot of `key`, checked against the backlog (a hash collision or a trimmed entry
    /// gives no protection rather than a wrong one).
    pub fn lookup(&self, key: &[u8], backlog: &Backlog) -> Slot {
        let Some(slot) = self.slots.get(&self.hash(key)) else {
            return Slot::default();
        };
        let owned = |part: Option<(u64, Stamp)>| {
            part.filter(|(seq, _)| backlog.get(*seq).is_some_and(|e| e.record.key == key))
        };
        Slot { write: owned(slot.write), touch: owned(slot.touch), peer_exptime: slot.peer_exptime }
    }

    /// A peer touch newer than our in-flight write of `key` was applied on top of it.
    pub fn peer_touched(&mut self, key: &[u8], exptime: u32) {
        if let Some(slot) = self.slots.get_mut(&self.hasher.hash_one(key)) {
            if slot.write.is_some() {
                slot.peer_exptime = Some(exptime);
            }
        }
    }

    /// A peer change of `key` with `stamp` was applied: our in-flight parts older than it lost
    /// (on both nodes), so they no longer protect the key nor get re-applied. A touch only
    /// beats our touch.
    pub fn beaten(&mut self, key: &[u8], stamp: Stamp, incoming_touch: bool) {
        let h = self.hash(key);
        let Some(slot) = self.slots.get_mut(&h) else { return };
        if !incoming_touch && slot.write.is_some_and(|(_, s)| s < stamp) {
            slot.write = None;
            slot.peer_exptime = None;
        }
        if slot.touch.is_some_and(|(_, s)| s < stamp) {
            slot.touch = None;
        }
        if slot.write.is_none() && slot.touch.is_none() {
            self.slots.remove(&h);
        }
    }

    /// A peer flush with `stamp` was applied: everything of ours older than it is gone on both
    /// nodes (our older flush too: the peer drops it as superseded).
    pub fn flushed(&mut self, stamp: Stamp) {
        self.slots.retain(|_, slot| {
            slot.write = slot.write.filter(|(_, s)| *s > stamp);
            if slot.write.is_none() {
                slot.peer_exptime = None;
            }
            slot.touch = slot.touch.filter(|(_, s)| *s > stamp);
            slot.write.is_some() || slot.touch.is_some()
        });
        self.flush = self.flush.filter(|(_, s)| *s > stamp);
    }

    /// The entry `e` left the backlog (acked or trimmed): forget what points at it.
    pub fn forget(&mut self, e: &Entry) {
        if e.record.op == ChangeOp::FlushAll {
            return; // the flush is cleared by seq in `acked`
        }
        let h = self.hash(&e.record.key);
        if let Some(slot) = self.slots.get_mut(&h) {
            if slot.write.is_some_and(|(s, _)| s == e.seq) {
                slot.write = None;
                slot.peer_exptime = None;
            }
            if slot.touch.is_some_and(|(s, _)| s == e.seq) {
                slot.touch = None;
            }
            if slot.write.is_none() && slot.touch.is_none() {
                self.slots.remove(&h);
            }
        }
    }

    /// The peer acked everything up to `seq`.
    pub fn acked(&mut self, seq: u64) {
        if self.flush.is_some_and(|(s, _)| s <= seq) {
            self.flush = None;
        }
    }

    /// The seqs of in-flight writes (not touches) with a stamp below `below`.
    pub fn writes_older_than(&self, below: Stamp) -> Vec<u64> {
        self.slots
            .values()
            .filter_map(|s| s.write)
            .filter(|(_, st)| *st < below)
            .map(|(seq, _)| seq)
            .collect()
    }

    /// Every write or touch in flight with a stamp above `above`, in seq order: (seq, the
    /// exptime of a newer peer touch to apply with it).
    pub fn newer_than(&self, above: Stamp) -> Vec<(u64, Option<u32>)> {
        let mut seqs: Vec<(u64, Option<u32>)> = self
            .slots
            .values()
            .flat_map(|s| [s.write.map(|w| (w, s.peer_exptime)), s.touch.map(|t| (t, None))])
            .flatten()
            .filter(|((_, st), _)| *st > above)
            .map(|((seq, _), exp)| (seq, exp))
            .collect();
        seqs.sort_unstable();
        seqs
    }

    pub fn clear(&mut self) {
        self.slots.clear();
        self.flush = None;
    }

    pub fn len(&self) -> usize {
        self.slots.len()
    }
}
