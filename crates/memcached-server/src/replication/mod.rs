//! The replication driver (`-x <peer>`, `-X <port>`): one thread that moves bytes and records
//! between the store, one TCP link and the sans-IO [`ReplSession`] of `memcached-repl`, which
//! makes every protocol decision (handshake, resync, ordering, conflicts, heartbeats).
//!
//! ```text
//!   workers ──write──> Store ──feed record──> FeedReceiver ─┐   (notify: Waker, once per re-arm)
//!                        ^                                   v
//!                        │ apply_change          ┌──────── mc-repl thread ────────┐
//!                        └────── Apply ──────────┤ ReplSession                    │
//!                                                │  record_local / receive        │
//!           visit_items (snapshot, in steps) ───>│  poll_event / pending_output   │
//!                                                └──────────┬─────────────────────┘
//!                                     TCP link (dialed to -x, or accepted on -X)
//! ```
//!
//! Both nodes listen on `-X` and dial their `-x` with a randomised back-off until a link is
//! up; a node keeps at most one link (a second connection is closed, and two that crossed
//! are both closed and retried after different random delays). Client ports stay open while
//! a resync runs. Nothing here blocks a worker: the feed never waits, and the link's output is
//! bounded by the session (which closes the link and asks for a resync when the peer stalls).

mod peer;
mod status;

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use memcached_repl::{ApplyMode, LocalChange, ReplConfig, ReplEvent, ReplSession};
use memcached_store::{ChangeOp, ChangeRecord, FeedReceiver, ItemCursor, ItemRef, Store};
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token, Waker};

pub use peer::PeerAddr;
pub use status::{LinkState, ReplicationStatus};

use crate::shared::Shared;

const LISTENER: Token = Token(0);
const LINK: Token = Token(1);
const WAKER: Token = Token(2);

/// Records the feed may queue before it starts dropping (and the peer needs a full resync).
const FEED_CAPACITY: usize = 64 * 1024;
/// Chunks the snapshot walk looks at per step (one shard lock held per step).
const SNAPSHOT_STEP: usize = 512;
/// Snapshot steps per loop turn before the feed and the socket get a turn again.
const SNAPSHOT_STEPS_PER_TURN: usize = 16;
/// Longest wait between two dial attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(2);
/// How long a graceful stop waits for the tail of the changes to reach the peer.
const DRAIN_ON_STOP: Duration = Duration::from_secs(2);

/// What the replication thread needs from the command line.
#[derive(Debug, Clone)]
pub struct ReplicationOptions {
    /// The `-x` peer.
    pub peer: PeerAddr,
    /// Where we listen for the peer (`-l` address, `-X` port).
    pub listen: SocketAddr,
    /// `--repl-secret-file`'s contents: the peer must prove it holds the same.
    pub secret: Option<Vec<u8>>,
}

/// Binds the replication port (before threads start, so errors are reported at startup).
pub fn bind(listen: SocketAddr) -> io::Result<std::net::TcpListener> {
    let listener = std::net::TcpListener::bind(listen)?;
    listener.set_nonblocking(true)?;
    Ok(listener)
}

/// The running replication thread.
#[derive(Debug)]
pub struct ReplicationHandle {
    thread: JoinHandle<()>,
    waker: Arc<Waker>,
    stop: Arc<AtomicBool>,
}

impl ReplicationHandle {
    /// Asks the thread to send what is still queued (bounded wait), close the link and exit.
    pub fn stop(self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = self.waker.wake();
        let _ = self.thread.join();
    }
}

/// Subscribes to the store's feed and starts the replication thread.
pub fn start(
    shared: Arc<Shared>,
    store: Arc<Store>,
    listener: std::net::TcpListener,
    options: ReplicationOptions,
) -> io::Result<ReplicationHandle> {
    let poll = Poll::new()?;
    let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
    let notify_waker = Arc::clone(&waker);
    let feed = store.subscribe_notifying(
        FEED_CAPACITY,
        Arc::new(move || {
            let _ = notify_waker.wake();
        }),
    );
    let mut listener = TcpListener::from_std(listener);
    poll.registry().register(&mut listener, LISTENER, Interest::READABLE)?;
    let node_id = random_u64() | 1;
    let config = ReplConfig {
        node_id,
        started_unix_ms: unix_ms(),
        secret: options.secret.clone(),
        flushes_by_time: !store.config().cas_enabled,
        ..ReplConfig::default()
    };
    *shared.replication.lock().unwrap_or_else(|e| e.into_inner()) =
        Some(ReplicationStatus::new(options.peer.to_string(), node_id));
    let stop = Arc::new(AtomicBool::new(false));
    let driver = Driver {
        poll,
        listener,
        peer: options.peer,
        session: ReplSession::new(config),
        store,
        shared,
        feed,
        link: None,
        next_dial: Instant::now(),
        backoff: Duration::from_millis(50),
        snapshot: None,
        read_buf: vec![0; 64 * 1024],
        apply_errors: 0,
        apply_races: 0,
        decided_at: 0,
        stop: Arc::clone(&stop),
        seed: node_id,
    };
    let thread = std::thread::Builder::new().name("mc-repl".into()).spawn(move || driver.run())?;
    Ok(ReplicationHandle { thread, waker, stop })
}

/// The transport of the current link.
struct Link {
    stream: TcpStream,
    /// A dial whose connect has not completed yet.
    connecting: bool,
    /// Output stopped at `WouldBlock`; wait for a writable event.
    blocked: bool,
}

struct Driver {
    poll: Poll,
    listener: TcpListener,
    peer: PeerAddr,
    session: ReplSession,
    store: Arc<Store>,
    shared: Arc<Shared>,
    feed: FeedReceiver,
    link: Option<Link>,
    next_dial: Instant,
    backoff: Duration,
    /// A full copy to the peer in progress: where the walk stands.
    snapshot: Option<ItemCursor>,
    read_buf: Vec<u8>,
    apply_errors: u64,
    /// Peer changes not applied because a newer local write of the key raced them.
    apply_races: u64,
    /// The session's last seq when it decided the changes being applied.
    decided_at: u64,
    stop: Arc<AtomicBool>,
    /// Xorshift state for back-off jitter.
    seed: u64,
}

impl Driver {
    fn run(mut self) {
        let mut events = Events::with_capacity(64);
        loop {
            let timeout = self.wait_time();
            if let Err(e) = self.poll.poll(&mut events, Some(timeout)) {
                if e.kind() != io::ErrorKind::Interrupted {
                    self.log(1, &format!("replication: poll failed: {e}"));
                    break;
                }
            }
            let (mut link_readable, mut link_writable) = (false, false);
            for event in events.iter() {
                match event.token() {
                    LISTENER => self.accept_all(),
                    LINK => {
                        link_readable |= event.is_readable() || event.is_read_closed();
                        link_writable |= event.is_writable() || event.is_error();
                    }
                    _ => {}
                }
            }
            if link_writable {
                self.link_writable();
            }
            if link_readable {
                self.read_link();
            }
            self.drain_feed();
            self.session.handle_timeout(Instant::now(), unix_ms());
            self.handle_session_events();
            // Acked changes: their buffers go back to the writers.
            while let Some(record) = self.session.take_spent() {
                self.feed.recycle(record);
            }
            self.continue_snapshot();
            self.flush();
            if self.stop.load(Ordering::SeqCst) {
                self.drain_before_exit();
                break;
            }
            self.maybe_dial();
            self.publish_status();
        }
        self.close_link("server stopping");
        self.publish_status();
    }

    /// How long the poll may sleep.
    fn wait_time(&self) -> Duration {
        let now = Instant::now();
        if self.snapshot.is_some() && !self.session.wants_backpressure() {
            return Duration::ZERO;
        }
        let mut until = now + Duration::from_secs(1);
        if let Some(t) = self.session.next_timeout() {
            until = until.min(t);
        }
        if self.link.is_none() {
            until = until.min(self.next_dial);
        }
        until.saturating_duration_since(now)
    }

    fn log(&self, level: u32, message: &str) {
        if self.shared.verbosity() >= level {
            eprintln!("{message}");
        }
    }

    fn accept_all(&mut self) {
        loop {
            match self.listener.accept() {
                Ok((stream, from)) => {
                    if self.link.is_some() {
                        // One link at a time. If ours is a dial still in progress, the two
                        // crossed: drop both and let the random back-off pick one next time.
                        if self.link.as_ref().is_some_and(|l| l.connecting) {
                            self.close_link("crossed connections");
                        }
                        self.log(1, &format!("replication: refused {from}: a link exists"));
                        drop(stream);
                        continue;
                    }
                    self.log(1, &format!("replication: accepted {from}"));
                    self.adopt(stream, false);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.log(1, &format!("replication: accept failed: {e}"));
                    return;
                }
            }
        }
    }

    /// Takes a connected (or connecting) stream as the link.
    fn adopt(&mut self, mut stream: TcpStream, connecting: bool) {
        let _ = stream.set_nodelay(true);
        if let Err(e) = self.poll.registry().register(
            &mut stream,
            LINK,
            Interest::READABLE | Interest::WRITABLE,
        ) {
            self.log(1, &format!("replication: cannot register the link: {e}"));
            return;
        }
        self.link = Some(Link { stream, connecting, blocked: false });
        if !connecting {
            self.link_established();
        }
    }

    fn link_established(&mut self) {
        let items = self.store.stats().curr_items;
        self.session.connected(Instant::now(), unix_ms(), items);
        self.flush();
    }

    fn link_writable(&mut self) {
        let Some(link) = &mut self.link else { return };
        if link.connecting {
            match link.stream.take_error() {
                Ok(None) if link.stream.peer_addr().is_ok() => {
                    link.connecting = false;
                    self.log(1, "replication: connected to the peer");
                    self.link_established();
                }
                Ok(None) => {} // not finished yet
                Ok(Some(e)) | Err(e) => {
                    let message = format!("replication: cannot connect: {e}");
                    self.log(2, &message);
                    self.close_link("connect failed");
                }
            }
            return;
        }
        link.blocked = false;
        self.flush();
    }

    fn read_link(&mut self) {
        loop {
            let Some(link) = &mut self.link else { return };
            if link.connecting {
                return;
            }
            match link.stream.read(&mut self.read_buf) {
                Ok(0) => {
                    self.close_link("peer closed the link");
                    return;
                }
                Ok(n) => {
                    // Local changes first: the session must know of a local write that
                    // happened before a peer change for the same key arrived.
                    self.drain_feed();
                    self.session.receive(&self.read_buf[..n], Instant::now(), unix_ms());
                    // The changes just received were decided against every local change
                    // recorded so far; later ones beat them (see `apply`).
                    self.decided_at = self.session.last_seq();
                    self.handle_session_events();
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.close_link(&format!("read failed: {e}"));
                    return;
                }
            }
        }
    }

    fn handle_session_events(&mut self) {
        while let Some(event) = self.session.poll_event() {
            match event {
                ReplEvent::LinkUp { peer_node, cas_lane, to_peer, from_peer, clock_skew_ms } => {
                    self.store.set_cas_lane(cas_lane, 2);
                    self.backoff = Duration::from_millis(50);
                    self.log(
                        1,
                        &format!(
                            "replication: link up with node {peer_node:016x} (to peer: \
                             {to_peer:?}, from peer: {from_peer:?}, clock skew {clock_skew_ms} ms)"
                        ),
                    );
                }
                ReplEvent::Apply(record, mode) => {
                    self.apply(&record, mode, self.decided_at);
                    self.feed.recycle(record);
                }
                ReplEvent::SnapshotRequested => self.start_snapshot(),
                ReplEvent::Close(reason) => self.close_link(&format!("{reason:?}")),
            }
        }
    }

    /// Applies a change the session decided (a peer's, or one of ours it re-applies) when the
    /// bytes arrived, unless a local write of the key (or a local flush) came after that
    /// decision: that write is stamped after every change received, wins on the peer, and so
    /// must win here too. `decided_at` is the session's last seq when it decided.
    fn apply(&mut self, record: &ChangeRecord, mode: ApplyMode, decided_at: u64) {
        let if_absent = mode == ApplyMode::IfAbsent;
        let now = self.shared.clock.now();
        if mode != ApplyMode::Overwrite && hidden_by_flush(&self.store, record, now) {
            return; // a full copy's item that a flush here hides: it replaces nothing
        }
        // Most of the queue first, outside the lock, so the shard lock is held only for what
        // arrives in between.
        self.drain_feed();
        let (feed, session) = (&mut self.feed, &mut self.session);
        let mut local = LocalChange::None;
        // Runs under the key's shard lock: every local write of the key is either in the
        // store and the feed now (handed to the session here) or waits for the lock and
        // lands after this apply.
        let result = self.store.apply_change_guarded(record, now, if_absent, || {
            hand_over_feed(feed, session);
            local = session.local_change_after(&record.key, decided_at);
            local.lets_apply(record.op)
        });
        match result {
            Ok(Some(_)) => {}
            Ok(None) => self.apply_races += 1,
            Err(e) => {
                self.apply_errors += 1;
                self.log(1, &format!("replication: cannot apply a change: {e}"));
                return;
            }
        }
        if let (Ok(Some(_)), LocalChange::Touch { exptime }) = (result, local) {
            // Our touch came after the peer's write: the peer applies it on top of its
            // write, so it goes on top here too.
            let touch = ChangeRecord { op: ChangeOp::Touch, exptime, ..record.clone() };
            let _ = self.store.apply_change(&touch, self.shared.clock.now());
        }
        // (Without CAS a flush hides by second, whatever the order: nothing to restore.)
        let by_cas = self.store.config().cas_enabled;
        if record.op == ChangeOp::FlushAll && record.exptime == 0 && by_cas {
            self.restore_after_flush(decided_at);
        }
    }

    /// A peer's flush_all decided at `decided_at` was just applied. The local changes
    /// recorded after that point, and those still in the feed, were made before it here
    /// (and flushed) or after it; either way they are stamped after it and survive on the
    /// peer, so they must survive here too.
    fn restore_after_flush(&mut self, decided_at: u64) {
        hand_over_feed(&mut self.feed, &mut self.session);
        for (seq, mut record) in self.session.changes_to_restore(decided_at) {
            let now = self.shared.clock.now();
            let carries_value = !matches!(record.op, ChangeOp::Delete | ChangeOp::Touch);
            if carries_value {
                if self.store.peek(&record.key, now, |item| item.cas()) == Some(record.cas) {
                    continue; // written after the flush: still there
                }
                // Its CAS is below the flush's horizon: the item gets a fresh one.
                record.cas = 0;
            }
            // Skipped if a newer local write of the key followed it.
            self.apply(&record, ApplyMode::Overwrite, seq);
        }
    }

    fn drain_feed(&mut self) {
        hand_over_feed(&mut self.feed, &mut self.session);
    }

    /// A full copy to the peer begins. Page moves wait until it ends: one could move an item
    /// from ahead of the walk to behind it, and the peer would never get it.
    fn start_snapshot(&mut self) {
        if self.snapshot.is_none() {
            self.store.pause_page_moves();
        }
        self.snapshot = Some(ItemCursor::default());
        // Without CAS our last flush hides items by second: the peer hides the same ones.
        if let Some(second) = self.store.flush_second(self.shared.clock.now()) {
            self.session.snapshot_item(flush_record(second), Instant::now(), unix_ms());
        }
    }

    /// The full copy ended (sent, or the link went down).
    fn stop_snapshot(&mut self) {
        if self.snapshot.take().is_some() {
            self.store.resume_page_moves();
        }
    }

    /// Sends the next steps of a full copy while the session's output is not backed up.
    fn continue_snapshot(&mut self) {
        let mut records = Vec::new();
        for _ in 0..SNAPSHOT_STEPS_PER_TURN {
            let Some(cursor) = self.snapshot else { return };
            if self.link.is_none() {
                self.stop_snapshot();
                return;
            }
            if self.session.wants_backpressure() {
                return;
            }
            let now = self.shared.clock.now();
            let next = self.store.visit_items(cursor, now, SNAPSHOT_STEP, |item| {
                records.push(snapshot_record(item));
            });
            for record in records.drain(..) {
                self.session.snapshot_item(record, Instant::now(), unix_ms());
            }
            match next {
                Some(cursor) => self.snapshot = Some(cursor),
                None => {
                    self.stop_snapshot();
                    self.session.snapshot_end(Instant::now());
                }
            }
            self.flush();
        }
    }

    fn flush(&mut self) {
        loop {
            let Some(link) = &mut self.link else {
                // Nothing can be sent: the session keeps its backlog for the next link.
                return;
            };
            if link.connecting || link.blocked {
                return;
            }
            let output = self.session.pending_output();
            if output.is_empty() {
                return;
            }
            match link.stream.write(output) {
                Ok(0) => {
                    self.close_link("write returned 0");
                    return;
                }
                Ok(n) => self.session.consume_output(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    link.blocked = true;
                    return;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.close_link(&format!("write failed: {e}"));
                    return;
                }
            }
        }
    }

    fn close_link(&mut self, why: &str) {
        let Some(mut link) = self.link.take() else { return };
        let _ = self.poll.registry().deregister(&mut link.stream);
        drop(link);
        self.stop_snapshot();
        let was_linked = self.session.is_linked();
        self.session.disconnected(Instant::now());
        self.handle_session_events();
        if was_linked {
            self.log(1, &format!("replication: link down ({why})"));
        } else {
            self.log(2, &format!("replication: connection closed ({why})"));
        }
        // Retry after a random part of the back-off, so two nodes that dialed each other at
        // the same moment do not collide again.
        let jitter = Duration::from_millis(self.next_random() % 100);
        self.next_dial = Instant::now() + self.backoff / 2 + jitter;
        self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
    }

    fn maybe_dial(&mut self) {
        let peer = &self.peer;
        if self.link.is_some() || Instant::now() < self.next_dial {
            return;
        }
        let target = peer.resolve().ok().and_then(|addrs| addrs.into_iter().next());
        let Some(addr) = target else {
            let message = format!("replication: cannot resolve {peer}");
            self.log(1, &message);
            self.next_dial = Instant::now() + MAX_BACKOFF;
            return;
        };
        match TcpStream::connect(addr) {
            Ok(stream) => self.adopt(stream, true),
            Err(e) => {
                self.log(2, &format!("replication: cannot connect to {addr}: {e}"));
                let jitter = Duration::from_millis(self.next_random() % 100);
                self.next_dial = Instant::now() + self.backoff + jitter;
                self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
            }
        }
    }

    /// On a graceful stop: the workers are done, so the feed holds the last changes; send
    /// them (waiting at most [`DRAIN_ON_STOP`]) before the link closes.
    fn drain_before_exit(&mut self) {
        self.drain_feed();
        let deadline = Instant::now() + DRAIN_ON_STOP;
        let mut events = Events::with_capacity(8);
        while self.session.is_linked()
            && !self.session.pending_output().is_empty()
            && Instant::now() < deadline
        {
            self.flush();
            let left = deadline.saturating_duration_since(Instant::now());
            let _ = self.poll.poll(&mut events, Some(left.min(Duration::from_millis(50))));
            if let Some(link) = &mut self.link {
                link.blocked = false;
            }
        }
    }

    fn publish_status(&mut self) {
        let state = match &self.link {
            None => LinkState::Down,
            Some(l) if l.connecting => LinkState::Connecting,
            Some(_) if self.session.is_linked() => LinkState::Up,
            Some(_) => LinkState::Handshaking,
        };
        let stats = self.session.stats();
        let snapshot_running = self.snapshot.is_some();
        let (apply_errors, apply_races) = (self.apply_errors, self.apply_races);
        let mut guard = self.shared.replication.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(status) = guard.as_mut() {
            status.state = state;
            status.stats = stats;
            status.snapshot_running = snapshot_running;
            status.apply_errors = apply_errors;
            status.apply_races = apply_races;
        }
    }

    fn next_random(&mut self) -> u64 {
        self.seed ^= self.seed << 13;
        self.seed ^= self.seed >> 7;
        self.seed ^= self.seed << 17;
        self.seed
    }
}

/// Hands every queued local change to the session, which stamps and sends them.
fn hand_over_feed(feed: &mut FeedReceiver, session: &mut ReplSession) {
    feed.rearm();
    if feed.take_lost() > 0 {
        session.local_records_lost(Instant::now());
    }
    while let Some(record) = feed.try_recv() {
        session.record_local(record, Instant::now(), unix_ms());
    }
}

/// Whether `record`'s item would be hidden at once by a flush in effect here (without CAS:
/// written at or before the flush's second).
fn hidden_by_flush(store: &Store, record: &ChangeRecord, now: u32) -> bool {
    record.op != ChangeOp::FlushAll && store.flush_second(now).is_some_and(|s| record.time <= s)
}

/// The flush_all a full copy starts with when the store flushes by time (`-C`).
fn flush_record(second: u32) -> ChangeRecord {
    ChangeRecord { op: ChangeOp::FlushAll, time: second, ..ChangeRecord::empty() }
}

/// A live item as the record a full copy sends: a `Set` of the whole item, or an
/// `Invalidate` for an item marked stale (meta `I`), so it arrives stale.
fn snapshot_record(item: &ItemRef<'_>) -> ChangeRecord {
    ChangeRecord {
        op: if item.stale() { ChangeOp::Invalidate } else { ChangeOp::Set },
        key: item.key().to_vec(),
        flags: item.flags(),
        exptime: item.exptime(),
        value: item.value().to_vec(),
        cas: item.cas(),
        version: 0,
        time: item.last_access(),
        key_binary: item.key_is_binary(),
    }
}

fn unix_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// A random node id (a new one every start, so a restarted node is a new run).
fn random_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos()));
    hasher.write_u32(std::process::id());
    hasher.finish()
}
