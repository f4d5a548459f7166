//! The master-master replication link between two servers (repcached's `-x`/`-X` model), as a
//! sans-IO state machine.
//!
//! # What this crate owns, and what it never does
//!
//! It owns the **wire format** of the link ([`frame`]: binary, length-prefixed frames), the
//! **handshake** (magic, version, self-connection check, optional shared-secret proof), the
//! **resync decision** (nothing / partial from the backlog / full snapshot, per direction), the
//! **backlog** of recent local changes (for partial resync after a short break), **conflict
//! resolution** between concurrent writes on the two nodes (hybrid logical clock stamps, last
//! writer wins on both sides), **acks**, **heartbeats** and **failure detection**.
//!
//! It never opens a socket, starts a thread, reads a clock or touches the store. The driver (in
//! `memcached-server`) owns the TCP connection, the listener, the store's change feed and the
//! clocks; it feeds bytes, local changes and time into a [`ReplSession`] and carries out the
//! [`ReplEvent`]s that come back (apply a change to the local store, stream a snapshot, close).
//!
//! # Handshake and resync
//!
//! ```text
//!   node A (dialed or accepted)                          node B
//!   connected() ── Hello{magic, version, node, started, ──>  checks magic/version, node != own,
//!                  unix_ms, applied_from=(B, Sb), items,      secret on both or neither
//!                  nonce, auth?} <────────── Hello{...} ──
//!   [secret: Auth{hmac(secret, A, B, nonce_B)}] ──────────>  verifies; and back
//!   Resync{to_peer} ──────────────────────────────────────>  to_peer: None | Partial{n} | Full
//!                   <────────────────────────────── Resync{...}
//!   LinkUp{to_peer, from_peer, cas_lane, clock_skew_ms}      LinkUp{...}
//!   Partial/None both ways: resend backlog seqs > Sb; the ack of what B applied waits
//!                           until B's own resend has arrived
//!   Full (either way => both ways): SnapshotBegin{mode, base}, SnapshotRequested -> driver
//!                           streams snapshot_item()... snapshot_end() -> SnapshotEnd{items}
//! ```
//!
//! `to_peer` is decided from the peer's Hello: if it last applied (our node id, seq S) and our
//! backlog still holds every change after S, a partial resync; if S is our last change, nothing;
//! otherwise (peer restarted, backlog trimmed, local records lost) a full snapshot. A full copy
//! in one direction makes both directions full, and the two snapshots merge: the node that
//! started earlier (tie: smaller node id) sends [`frame::SnapshotMode::Overwrite`], the other
//! [`frame::SnapshotMode::IfAbsent`], so common keys take the older node's value and keys on one
//! side only are copied to the other (a delete made on one side during a long partition can
//! come back; a peer with an empty store just receives everything). Snapshots are only sent at
//! link-up; local records lost while connected close the link (`Close(LocalRecordsLost)`) and
//! the next link resyncs fully.
//!
//! # A change's path
//!
//! ```text
//!  store feed ─> record_local(change) ─> stamp (HLC, node) + seq ─> backlog ring (until acked)
//!                                                  │                in-flight map key -> stamp
//!                                                  v
//!                               Change frame appended to the output (FIFO, never reordered)
//!                                                  │  pending_output / consume_output
//!   peer: receive(bytes) ─> decode ─> conflict check against the peer's in-flight writes:
//!         a newer local write of that key still in flight? drop (conflicts_local_won)
//!         else ReplEvent::Apply(change, Overwrite) ─> driver applies to its store
//!         poll_event() ran dry: Ack{last seq} ─> back to us: trim backlog, clear in-flight
//! ```
//!
//! Concurrent writes of one key on both nodes converge to the larger [`Stamp`] on both: each side
//! drops the peer's change when its own in-flight change is newer, and forgets its own in-flight
//! change when the peer's newer one is applied. A `flush_all` from the peer is applied and then
//! every local in-flight change newer than the flush is re-applied, so a write that raced the
//! flush survives on both nodes, and every local in-flight write older than it is deleted (the
//! peer drops it); a peer change older than a local in-flight flush is dropped. A
//! `touch` only beats the peer's touches; a peer's full write older than a local in-flight touch
//! is applied and the touch re-applied after it.
//!
//! # CAS values and flushes
//!
//! Applied records keep the origin's CAS (the store's CAS lanes and Lamport advance keep CAS
//! values unique across the pair), with two exceptions that follow the store's flush rules (a
//! flush hides items whose CAS is below a horizon): a peer's immediate `flush_all` is applied
//! with CAS 0, so the store flushes everything it holds at that moment (the stamp rules decide
//! which concurrent writes come back); and a value record whose CAS is below the highest flush
//! horizon this node has applied is applied with CAS 0, so the store gives it a fresh, visible
//! CAS. Such items then have different CAS values on the two nodes (a `cas` against the other
//! node fails with EXISTS, never succeeds wrongly). After a peer flush the horizon is not
//! known exactly (the store picks its own), so the session assumes the highest CAS it has seen
//! plus 2^24 (room for writes still in the feed): until the counters pass that, replicated
//! values get fresh CAS values on the receiving node. `tests/store_pair.rs` checks convergence
//! with two real stores.
//!
//! The convergence of all this (random writes, deletes, touches, flushes on both nodes, random
//! delays, link breaks, stalls, lost records, clock skew, snapshot walks interleaved with
//! traffic) is checked by `tests/converge.rs` against a model store per node.
//!
//! # Limits (known, by design)
//!
//! * The session decides every change in `receive`, against the local changes recorded so
//!   far. Local writes the driver records while it carries out those decisions (its store
//!   keeps taking writes) are stamped after every change received, so they win on the peer;
//!   the driver must let them win locally too. Before each `Apply` it records what its feed
//!   holds and asks [`ReplSession::local_change_after`] with the `last_seq()` it noted after
//!   `receive`: a later local write skips the peer change, a later local touch is applied
//!   again on top of it, and after a peer `flush_all` the later local changes
//!   ([`ReplSession::changes_to_restore`]) are stored again. The server's driver does this
//!   under the key's shard lock (`Store::apply_change_guarded`), so a write of the key is
//!   either recorded before the check or lands after the apply; `tests/converge.rs` races
//!   local writes against batches of applies in the model.
//! * Unacked changes over twice `backlog_bytes` close an open connection
//!   (`Close(Backpressure)`); without a connection the backlog is cut to `backlog_bytes` (oldest
//!   first) and, if anything was cut, the next link is a full two-way resync.
//! * A delayed `flush_all <t>` is applied as the record says; the re-apply of racing writes is
//!   only right for an immediate flush.
//! * Snapshot items carry no stamp: they lose against any in-flight local write of the same key
//!   and against any in-flight local flush (the FIFO link makes that exact, see `session`).

pub mod frame;

mod auth;
mod backlog;
mod session;

use std::time::Duration;

pub use frame::{Frame, FrameError, Hello, SnapshotMode};
pub use memcached_store::{ChangeOp, ChangeRecord};
pub use session::ReplSession;

/// Hybrid logical clock stamp; total order: (clock, node).
///
/// `clock` is unix milliseconds shifted left by 16, plus a logical counter in the low 16 bits;
/// it never goes backwards on one node and is at least every peer stamp seen so far, so a
/// change made after seeing the peer's change always has the larger stamp.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Stamp {
    /// `unix_ms << 16 | logical counter`.
    pub clock: u64,
    /// The node that made the change (breaks ties).
    pub node: u64,
}

impl Stamp {
    /// The unix milliseconds part of the clock.
    pub fn unix_ms(&self) -> u64 {
        self.clock >> 16
    }
}

/// Settings of one replication session (one per process; it outlives the connections).
#[derive(Clone, Debug)]
pub struct ReplConfig {
    /// Random non-zero id per process start (also the run id). The driver picks it.
    pub node_id: u64,
    /// When this process started (unix ms); the older node wins a two-way full resync.
    pub started_unix_ms: u64,
    /// Retained log of local changes for partial resync (default 64 MiB). While connected,
    /// unacked changes may use up to twice this before the link is closed as stalled.
    pub backlog_bytes: usize,
    /// Unsent output above this -> `Close(Backpressure)` (default 64 MiB).
    pub max_output_bytes: usize,
    /// Send a Ping when nothing was sent for this long (default 1 s).
    pub heartbeat: Duration,
    /// `Close(Timeout)` when nothing was received for this long (default 5 s).
    pub dead_after: Duration,
    /// A bigger frame -> `Close(Protocol)` (default 64 MiB).
    pub max_frame: usize,
    /// Shared secret; both sides must have the same one (or neither).
    pub secret: Option<Vec<u8>>,
    /// The store hides flushed items by time alone (memcached's `-C`: every item written at
    /// or before the flush's second; applied items keep their origin's second). A flush then
    /// does not depend on order: every peer `flush_all` is applied (each store keeps its
    /// newest flush second) and no change is dropped, deleted or skipped because of a flush.
    /// With CAS (false) the stamp rules decide what a concurrent flush removes.
    pub flushes_by_time: bool,
}

impl Default for ReplConfig {
    /// `node_id` 0 is not valid on the wire: the driver passes a random one.
    fn default() -> Self {
        ReplConfig {
            node_id: 0,
            started_unix_ms: 0,
            backlog_bytes: 64 << 20,
            max_output_bytes: 64 << 20,
            heartbeat: Duration::from_secs(1),
            dead_after: Duration::from_secs(5),
            max_frame: 64 << 20,
            secret: None,
            flushes_by_time: false,
        }
    }
}

/// What the driver must do, from [`ReplSession::poll_event`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReplEvent {
    /// Handshake done. `cas_lane` is 0 or 1, different on the two nodes (the smaller node id
    /// gets 0): the driver makes the store hand out CAS values in that lane.
    LinkUp {
        /// The peer's node id.
        peer_node: u64,
        /// 0 or 1.
        cas_lane: u8,
        /// What we send to the peer to bring it up to date.
        to_peer: ResyncKind,
        /// What the peer sends us.
        from_peer: ResyncKind,
        /// Peer's unix ms minus ours, measured at the Hello (includes one-way latency).
        clock_skew_ms: i64,
    },
    /// Apply a peer change to the local store. Conflicts are already resolved (a change that
    /// lost to a newer concurrent local write is never emitted). A `FlushAll` record flushes.
    Apply(ChangeRecord, ApplyMode),
    /// The peer needs a full copy of our data: call `snapshot_item` for each live item, then
    /// `snapshot_end`. At most once per link, right after `LinkUp`; a walk still running when
    /// the link drops can simply stop (its items are ignored).
    SnapshotRequested,
    /// Close the transport now, then call `disconnected()`.
    Close(CloseReason),
}

/// What the local changes of one key recorded after a given point did (see
/// [`ReplSession::local_change_after`]): the driver's last check, under the key's lock,
/// before it applies a peer change that the session decided when it arrived.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LocalChange {
    /// Nothing.
    None,
    /// Only touches: the newest one's absolute expiry.
    Touch {
        /// Absolute expiry of the newest local touch.
        exptime: u32,
    },
    /// A write or delete of the key, or a flush_all.
    Write,
}

impl LocalChange {
    /// Whether a peer change of the key (operation `peer_op`) decided before these local
    /// changes may still be applied: they are stamped after it, so a local write beats it
    /// and a local touch beats a peer touch (and is applied again after a peer write).
    /// A peer flush_all is always applied; the local changes after it are stored again
    /// ([`ReplSession::changes_to_restore`]).
    pub fn lets_apply(self, peer_op: ChangeOp) -> bool {
        if peer_op == ChangeOp::FlushAll {
            return true;
        }
        match self {
            LocalChange::None => true,
            LocalChange::Touch { .. } => peer_op != ChangeOp::Touch,
            LocalChange::Write => false,
        }
    }
}

/// How an [`ReplEvent::Apply`] is applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ApplyMode {
    /// A change: store it whether or not the key exists (a set; deletes/touches/flushes as
    /// they are).
    Overwrite,
    /// A full copy's item from the node that started first: it replaces the local item, except
    /// where the local store would hide it at once (flushed by second, without CAS): a hidden
    /// item must not replace a visible one.
    Merge,
    /// A full copy's item from the node that started later: stored only when the key is absent
    /// locally (an add).
    IfAbsent,
}

/// What one direction of the link needs after a (re)connect.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResyncKind {
    /// Nothing was missed.
    None,
    /// The missed changes are resent from the backlog.
    Partial {
        /// How many changes are resent.
        changes: u64,
    },
    /// A full snapshot is streamed.
    Full,
}

/// Why a session asks for its transport to be closed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CloseReason {
    /// Malformed or oversized frame, or a frame that is not allowed in this state.
    Protocol(String),
    /// Nothing received for `dead_after`.
    Timeout,
    /// More than `max_output_bytes` waiting to be written (the link stalled).
    Backpressure,
    /// Bad magic/version, connected to itself, secret missing on one side or wrong.
    HandshakeRejected(String),
    /// The peer sent a Close frame.
    PeerClosed,
    /// `local_records_lost` was called: the next link resyncs fully (an addition to the API).
    LocalRecordsLost,
}

/// Counters and gauges of the link, for `stats`.
#[derive(Default, Clone, Debug, PartialEq, Eq)]
pub struct ReplStats {
    /// Handshake done and link usable.
    pub linked: bool,
    /// The current (or last) peer's node id, 0 if none yet.
    pub peer_node: u64,
    /// Change frames sent (live and resent).
    pub changes_sent: u64,
    /// Change frames received.
    pub changes_received: u64,
    /// Apply events emitted (changes and snapshot items).
    pub changes_applied: u64,
    /// Peer changes or items dropped because a newer local change was in flight.
    pub conflicts_local_won: u64,
    /// Bytes the driver reported written.
    pub bytes_sent: u64,
    /// Bytes received.
    pub bytes_received: u64,
    /// Changes in the backlog.
    pub backlog_changes: u64,
    /// Accounted bytes of the backlog.
    pub backlog_bytes: u64,
    /// Local changes not acked by the peer yet.
    pub unacked_changes: u64,
    /// Full snapshots started towards the peer.
    pub full_resyncs_sent: u64,
    /// Partial resyncs done towards the peer.
    pub partial_resyncs_sent: u64,
    /// Handshakes completed.
    pub links_established: u64,
    /// Peer's clock minus ours at the last handshake.
    pub clock_skew_ms: i64,
    /// Snapshot items sent.
    pub snapshot_items_sent: u64,
    /// Snapshot items received.
    pub snapshot_items_received: u64,
    /// Local change records the feed lost (calls of `local_records_lost`).
    pub local_losses: u64,
}
