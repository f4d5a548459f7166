//! Two sessions wired back to back in one thread with simulated time: each node has a model
//! store (a map) that applies `Apply` events and answers `SnapshotRequested` with all its items.
#![allow(dead_code)]

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use memcached_repl::{
    ApplyMode, ChangeOp, ChangeRecord, CloseReason, LocalChange, ReplConfig, ReplEvent, ReplSession,
};

pub const UNIX_BASE_MS: u64 = 1_700_000_000_000;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Item {
    pub value: Vec<u8>,
    pub flags: u32,
    pub exptime: u32,
}

pub fn record(op: ChangeOp, key: &[u8], item: Option<&Item>) -> ChangeRecord {
    ChangeRecord {
        op,
        key: key.to_vec(),
        flags: item.map_or(0, |i| i.flags),
        exptime: item.map_or(0, |i| i.exptime),
        value: item.map_or(Vec::new(), |i| i.value.clone()),
        cas: 0,
        version: 0,
        time: 0,
        key_binary: false,
    }
}

/// A tiny deterministic RNG (xorshift64*).
pub struct Rng(pub u64);
impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next() % n
        }
    }
}

/// A local change that races the application of peer changes (see `Node::racing`).
#[derive(Clone, Debug)]
pub enum Racing {
    Set(Vec<u8>, Vec<u8>),
    Touch(Vec<u8>, u32),
    Delete(Vec<u8>),
}

pub struct Node {
    pub s: ReplSession,
    pub map: BTreeMap<Vec<u8>, Item>,
    pub skew_ms: i64,
    pub events: Vec<ReplEvent>,
    pub closes: Vec<CloseReason>,
    /// Items per snapshot step (0: the whole snapshot at once when it is requested).
    pub snap_step: usize,
    /// A snapshot walk in progress: the last key sent (None: not started).
    pub snap: Option<Option<Vec<u8>>>,
    /// The session's last seq after the last `receive`: the changes being applied were
    /// decided against the local changes up to it.
    pub decided_at: u64,
    /// Local changes that land in the store while the next batch of peer changes is applied
    /// (a real driver records them in its guard, between two applies).
    pub racing: Vec<Racing>,
}

impl Node {
    pub fn new(cfg: ReplConfig, skew_ms: i64) -> Self {
        Node {
            s: ReplSession::new(cfg),
            map: BTreeMap::new(),
            skew_ms,
            events: Vec::new(),
            closes: Vec::new(),
            snap_step: 0,
            snap: None,
            decided_at: 0,
            racing: Vec::new(),
        }
    }

    pub fn set(&mut self, key: &[u8], value: &[u8], now: Instant, ms: u64) {
        let it = Item { value: value.to_vec(), flags: value.len() as u32, exptime: 0 };
        let rec = record(ChangeOp::Set, key, Some(&it));
        self.map.insert(key.to_vec(), it);
        self.s.record_local(rec, now, self.unix(ms));
    }

    pub fn delete(&mut self, key: &[u8], now: Instant, ms: u64) {
        if self.map.remove(key).is_some() {
            self.s.record_local(record(ChangeOp::Delete, key, None), now, self.unix(ms));
        }
    }

    pub fn touch(&mut self, key: &[u8], exptime: u32, now: Instant, ms: u64) {
        if let Some(it) = self.map.get_mut(key) {
            it.exptime = exptime;
            let mut rec = record(ChangeOp::Touch, key, None);
            rec.exptime = exptime;
            self.s.record_local(rec, now, self.unix(ms));
        }
    }

    pub fn flush(&mut self, now: Instant, ms: u64) {
        self.map.clear();
        self.s.record_local(record(ChangeOp::FlushAll, b"", None), now, self.unix(ms));
    }

    pub fn unix(&self, ms: u64) -> u64 {
        (UNIX_BASE_MS as i64 + ms as i64 + self.skew_ms) as u64
    }

    fn apply(&mut self, rec: ChangeRecord, mode: ApplyMode) {
        match rec.op {
            ChangeOp::FlushAll => self.map.clear(),
            ChangeOp::Delete => {
                self.map.remove(&rec.key);
            }
            ChangeOp::Touch => {
                if let Some(it) = self.map.get_mut(&rec.key) {
                    it.exptime = rec.exptime;
                }
            }
            _ => {
                if mode == ApplyMode::IfAbsent && self.map.contains_key(&rec.key) {
                    return;
                }
                let it = Item { value: rec.value, flags: rec.flags, exptime: rec.exptime };
                self.map.insert(rec.key, it);
            }
        }
    }

    /// What the server's driver does with an `Apply`: local writes that came after the
    /// decision beat it; after a peer flush, the local changes after the decision are stored
    /// again.
    fn apply_decided(&mut self, rec: ChangeRecord, mode: ApplyMode, now: Instant, ms: u64) {
        self.run_racing(now, ms);
        self.apply_unless_beaten(rec, mode, self.decided_at);
    }

    /// Carries out the racing local changes now.
    pub fn run_racing(&mut self, now: Instant, ms: u64) {
        for change in std::mem::take(&mut self.racing) {
            match change {
                Racing::Set(key, value) => self.set(&key, &value, now, ms),
                Racing::Touch(key, exptime) => self.touch(&key, exptime, now, ms),
                Racing::Delete(key) => self.delete(&key, now, ms),
            }
        }
    }

    fn apply_unless_beaten(&mut self, rec: ChangeRecord, mode: ApplyMode, decided_at: u64) {
        let local = self.s.local_change_after(&rec.key, decided_at);
        if !local.lets_apply(rec.op) {
            return;
        }
        let (key, flush) = (rec.key.clone(), rec.op == ChangeOp::FlushAll);
        self.apply(rec, mode);
        if let (LocalChange::Touch { exptime }, Some(it)) = (local, self.map.get_mut(&key)) {
            it.exptime = exptime;
        }
        if flush {
            for (seq, r) in self.s.changes_to_restore(decided_at) {
                self.apply_unless_beaten(r, ApplyMode::Overwrite, seq);
            }
        }
    }

    /// One step of a snapshot walk in key order, reading values as they are now (items
    /// written behind the cursor are missed, as in a hash table walk; they go live anyway).
    pub fn snapshot_step(&mut self, now: Instant, ms: u64) {
        let Some(cursor) = self.snap.take() else { return };
        let from = cursor.clone().unwrap_or_default();
        let items: Vec<_> = self
            .map
            .range(from..)
            .filter(|(k, _)| cursor.as_ref() != Some(*k))
            .take(self.snap_step)
            .map(|(k, v)| record(ChangeOp::Set, k, Some(v)))
            .collect();
        let last = items.last().map(|r| r.key.clone());
        for it in items {
            self.s.snapshot_item(it, now, self.unix(ms));
        }
        match last {
            Some(k) => self.snap = Some(Some(k)),
            None => self.s.snapshot_end(now),
        }
    }

    /// Handles every queued event like a driver would. Returns true if a Close was asked for.
    pub fn drain(&mut self, now: Instant, ms: u64) -> bool {
        let mut closed = false;
        while let Some(ev) = self.s.poll_event() {
            self.events.push(ev.clone());
            match ev {
                ReplEvent::Apply(rec, mode) => self.apply_decided(rec, mode, now, ms),
                ReplEvent::SnapshotRequested if self.snap_step > 0 => self.snap = Some(None),
                ReplEvent::SnapshotRequested => {
                    let items: Vec<_> =
                        self.map.iter().map(|(k, v)| record(ChangeOp::Set, k, Some(v))).collect();
                    for it in items {
                        self.s.snapshot_item(it, now, self.unix(ms));
                    }
                    self.s.snapshot_end(now);
                }
                ReplEvent::Close(r) => {
                    self.closes.push(r);
                    closed = true;
                }
                ReplEvent::LinkUp { .. } => {}
            }
        }
        closed
    }
}

pub fn config(node_id: u64, started: u64, backlog_bytes: usize) -> ReplConfig {
    ReplConfig {
        node_id,
        started_unix_ms: started,
        backlog_bytes,
        heartbeat: Duration::from_millis(1000),
        dead_after: Duration::from_millis(5000),
        max_frame: 1 << 20,
        ..ReplConfig::default()
    }
}

/// The two nodes, the link between them (bytes in transit with delivery times) and the clock.
pub struct Pair {
    pub a: Node,
    pub b: Node,
    pub t0: Instant,
    pub ms: u64,
    pub up: bool,
    pub a_to_b: VecDeque<(u64, Vec<u8>)>,
    pub b_to_a: VecDeque<(u64, Vec<u8>)>,
    pub rng: Rng,
    pub max_delay_ms: u64,
    pub breaks: u64,
}

impl Pair {
    pub fn new(a: Node, b: Node, seed: u64) -> Self {
        Pair {
            a,
            b,
            t0: Instant::now(),
            ms: 0,
            up: false,
            a_to_b: VecDeque::new(),
            b_to_a: VecDeque::new(),
            rng: Rng(seed | 1),
            max_delay_ms: 30,
            breaks: 0,
        }
    }

    pub fn now(&self) -> Instant {
        self.t0 + Duration::from_millis(self.ms)
    }

    pub fn connect(&mut self) {
        if self.up {
            return;
        }
        let now = self.now();
        let (ua, ub) = (self.a.unix(self.ms), self.b.unix(self.ms));
        self.a.s.connected(now, ua, self.a.map.len() as u64);
        self.b.s.connected(now, ub, self.b.map.len() as u64);
        self.up = true;
    }

    pub fn disconnect(&mut self) {
        if !self.up {
            return;
        }
        let now = self.now();
        self.a.s.disconnected(now);
        self.b.s.disconnected(now);
        self.a_to_b.clear();
        self.b_to_a.clear();
        self.up = false;
        self.breaks += 1;
    }

    fn ship(from: &mut Node, q: &mut VecDeque<(u64, Vec<u8>)>, at: u64) {
        let out = from.s.pending_output();
        if out.is_empty() {
            return;
        }
        let bytes = out.to_vec();
        from.s.consume_output(bytes.len());
        let at = q.back().map_or(at, |(t, _)| at.max(*t));
        q.push_back((at, bytes));
    }

    fn deliver(
        to: &mut Node,
        q: &mut VecDeque<(u64, Vec<u8>)>,
        ms: u64,
        now: Instant,
        rng: &mut Rng,
    ) {
        while q.front().is_some_and(|(t, _)| *t <= ms) {
            let Some((_, bytes)) = q.pop_front() else { break };
            let mut rest = &bytes[..];
            while !rest.is_empty() {
                let n = 1 + rng.below(rest.len() as u64) as usize;
                let (head, tail) = rest.split_at(n);
                to.s.receive(head, now, to.unix(ms));
                to.decided_at = to.s.last_seq();
                rest = tail;
            }
        }
    }

    /// One tick of `dt` ms: ship output, deliver what is due, timers, events.
    /// `deliver` false simulates a stalled network.
    pub fn step(&mut self, dt: u64, deliver: bool) {
        self.ms += dt;
        let now = self.now();
        let ms = self.ms;
        let mut closed = false;
        closed |= self.a.drain(now, ms);
        closed |= self.b.drain(now, ms);
        if self.up {
            let d1 = self.rng.below(self.max_delay_ms + 1);
            let d2 = self.rng.below(self.max_delay_ms + 1);
            Self::ship(&mut self.a, &mut self.a_to_b, ms + d1);
            Self::ship(&mut self.b, &mut self.b_to_a, ms + d2);
            if deliver {
                Self::deliver(&mut self.b, &mut self.a_to_b, ms, now, &mut self.rng);
                Self::deliver(&mut self.a, &mut self.b_to_a, ms, now, &mut self.rng);
            }
            for n in [&mut self.a, &mut self.b] {
                if n.s.next_timeout().is_some_and(|t| t <= now) {
                    let u = n.unix(ms);
                    n.s.handle_timeout(now, u);
                }
            }
        }
        closed |= self.a.drain(now, ms);
        closed |= self.b.drain(now, ms);
        self.a.snapshot_step(now, ms);
        self.b.snapshot_step(now, ms);
        closed |= self.a.drain(now, ms);
        closed |= self.b.drain(now, ms);
        if closed {
            self.disconnect();
        }
    }

    pub fn quiet(&self) -> bool {
        self.up
            && self.a.s.is_linked()
            && self.b.s.is_linked()
            && self.a_to_b.is_empty()
            && self.b_to_a.is_empty()
            && self.a.s.pending_output().is_empty()
            && self.b.s.pending_output().is_empty()
            && !self.a.s.snapshot_in_progress()
            && !self.b.s.snapshot_in_progress()
            && self.a.snap.is_none()
            && self.b.snap.is_none()
    }

    /// Brings the link up and runs until nothing is in transit; reconnects if it breaks.
    pub fn settle(&mut self) {
        for _ in 0..20 {
            self.connect();
            for _ in 0..400 {
                self.step(10, true);
                if !self.up {
                    break;
                }
                if self.quiet() {
                    // A few more rounds so acks and heartbeats go both ways.
                    for _ in 0..5 {
                        self.step(self.max_delay_ms + 1, true);
                    }
                    if self.quiet() {
                        return;
                    }
                }
            }
        }
        panic!("link never settled: a {:?} b {:?}", self.a.closes, self.b.closes);
    }
}
