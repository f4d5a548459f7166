//! What `stats` reports about the replication link: a copy the replication thread refreshes
//! once per loop turn, read by whichever worker answers `stats`.

use memcached_codec::{encode_stat, encode_stat_u64};
use memcached_repl::ReplStats;

/// Where the link stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkState {
    /// No transport; dialing again after a back-off (or waiting to be dialed).
    Down,
    /// A dial is in progress.
    Connecting,
    /// Connected; the handshake is not finished.
    Handshaking,
    /// Changes flow both ways.
    Up,
}

impl LinkState {
    fn as_str(self) -> &'static str {
        match self {
            LinkState::Down => "down",
            LinkState::Connecting => "connecting",
            LinkState::Handshaking => "handshaking",
            LinkState::Up => "up",
        }
    }
}

/// The replication thread's last published state.
#[derive(Debug, Clone)]
pub struct ReplicationStatus {
    /// The `-x` peer as configured.
    pub peer: String,
    /// This run's node id.
    pub node_id: u64,
    /// Link state.
    pub state: LinkState,
    /// The session's counters.
    pub stats: ReplStats,
    /// A full copy to the peer is being sent.
    pub snapshot_running: bool,
    /// Peer changes the store refused (too large, out of memory).
    pub apply_errors: u64,
    /// Peer changes skipped because a newer local write of the key raced their application.
    pub apply_races: u64,
}

impl ReplicationStatus {
    /// The state before the thread's first turn.
    pub fn new(peer: String, node_id: u64) -> Self {
        ReplicationStatus {
            peer,
            node_id,
            state: LinkState::Down,
            stats: ReplStats::default(),
            snapshot_running: false,
            apply_errors: 0,
            apply_races: 0,
        }
    }

    /// Appends the `STAT repl_*` lines of `stats`.
    pub fn encode_stats(&self, out: &mut Vec<u8>) {
        let s = &self.stats;
        encode_stat(out, b"repl_peer", self.peer.as_bytes());
        encode_stat(out, b"repl_link", self.state.as_str().as_bytes());
        encode_stat(out, b"repl_node_id", format!("{:016x}", self.node_id).as_bytes());
        encode_stat(out, b"repl_peer_node_id", format!("{:016x}", s.peer_node).as_bytes());
        encode_stat_u64(out, b"repl_snapshot_running", u64::from(self.snapshot_running));
        let counters = [
            ("repl_links_established", s.links_established),
            ("repl_changes_sent", s.changes_sent),
            ("repl_changes_received", s.changes_received),
            ("repl_changes_applied", s.changes_applied),
            ("repl_apply_errors", self.apply_errors),
            ("repl_apply_races_local_won", self.apply_races),
            ("repl_conflicts_local_won", s.conflicts_local_won),
            ("repl_bytes_sent", s.bytes_sent),
            ("repl_bytes_received", s.bytes_received),
            ("repl_backlog_changes", s.backlog_changes),
            ("repl_backlog_bytes", s.backlog_bytes),
            ("repl_unacked_changes", s.unacked_changes),
            ("repl_full_resyncs_sent", s.full_resyncs_sent),
            ("repl_partial_resyncs_sent", s.partial_resyncs_sent),
        ];
        for (name, value) in counters {
            encode_stat_u64(out, name.as_bytes(), value);
        }
        encode_stat(out, b"repl_clock_skew_ms", s.clock_skew_ms.to_string().as_bytes());
    }
}
