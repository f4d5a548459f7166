//! Conflict resolution: which peer changes and full-copy items are applied and which lose to
//! our in-flight changes, what a peer flush_all removes and what comes back after it, and the
//! driver's last check before an apply (`local_change_after`, `changes_to_restore`).

use super::{protocol, AppliedFrom, ReplSession, FLUSH_CAS_MARGIN};
use crate::frame::SnapshotMode;
use crate::{ApplyMode, ChangeOp, ChangeRecord, CloseReason, LocalChange, ReplEvent, Stamp};

impl ReplSession {
    /// Re-applies our in-flight writes and touches newer than `above` (and newer than our own
    /// in-flight flush, which already removed the older ones here and will remove them there).
    pub(super) fn reapply_inflight(&mut self, above: Stamp) {
        let floor = match self.inflight.flush {
            Some((_, f)) if f > above => f,
            _ => above,
        };
        for (seq, peer_exptime) in self.inflight.newer_than(floor) {
            if let Some(e) = self.backlog.get(seq) {
                let mut rec = e.record.clone();
                if let Some(exptime) = peer_exptime {
                    rec.exptime = exptime;
                }
                Self::visible_cas(self.flush_horizon, &mut rec);
                self.events.push_back(ReplEvent::Apply(rec, ApplyMode::Overwrite));
            }
        }
    }

    /// The store hides items whose CAS is below the horizon of its last flush_all (and the
    /// pair's CAS counters only meet when changes flow: a full resync does not carry flushes,
    /// and a node's counter can lag the other's horizon). A value record below the highest
    /// horizon this node has applied gets CAS 0, so the store gives it a fresh visible CAS:
    /// the item then exists on both nodes, with different CAS values.
    pub(super) fn visible_cas(flush_horizon: u64, rec: &mut ChangeRecord) {
        let carries_value =
            !matches!(rec.op, ChangeOp::FlushAll | ChangeOp::Delete | ChangeOp::Touch);
        if carries_value && rec.cas != 0 && rec.cas < flush_horizon {
            rec.cas = 0;
        }
    }

    pub(super) fn emit_apply(&mut self, mut rec: ChangeRecord, mode: ApplyMode) {
        if rec.op != ChangeOp::FlushAll {
            self.max_cas_seen = self.max_cas_seen.max(rec.cas);
        }
        Self::visible_cas(self.flush_horizon, &mut rec);
        self.stats.changes_applied += 1;
        self.events.push_back(ReplEvent::Apply(rec, mode));
    }

    /// Decides a peer change against our in-flight changes (see the crate doc's
    /// "Concurrent writes" rules) and queues what to apply.
    pub(super) fn resolve_change(
        &mut self,
        seq: u64,
        stamp: Stamp,
        rec: ChangeRecord,
    ) -> Result<(), CloseReason> {
        let peer_node = self.stats.peer_node;
        let Some(c) = self.conn.as_mut() else { return Ok(()) };
        if seq <= c.last_received {
            return Err(protocol("change sequence went backwards"));
        }
        if c.snapshot_due {
            return Err(protocol("change before the announced snapshot"));
        }
        c.last_received = seq;
        if let Some((_, left)) = c.deferred_ack.as_mut() {
            *left = left.saturating_sub(1);
        }
        if c.snap_in.is_none() {
            self.applied = AppliedFrom { node: peer_node, seq, complete: true };
        }
        self.stats.changes_received += 1;
        self.hlc = self.hlc.max(stamp.clock);
        if self.cfg.flushes_by_time && rec.op == ChangeOp::FlushAll {
            // The stores hide by second, whatever the order: a flush is applied as it is (each
            // store keeps its newest flush second), and no change is dropped or deleted
            // because of one.
            self.emit_apply(rec, ApplyMode::Overwrite);
            return Ok(());
        }
        let flush = self.inflight.flush.map(|(_, f)| f).filter(|_| !self.cfg.flushes_by_time);
        if flush.is_some_and(|f| f > stamp) {
            // Our newer flush will remove it on the peer too.
            self.stats.conflicts_local_won += 1;
            return Ok(());
        }
        if rec.op == ChangeOp::FlushAll {
            // Our in-flight writes older than the flush lose on the peer (it drops them): make
            // sure they are gone here too, whatever horizon rule the store's flush applies
            // (the store's flush hides items by CAS and by second; a concurrent write of ours
            // can pass both).
            let beaten: Vec<(Vec<u8>, bool)> = self
                .inflight
                .writes_older_than(stamp)
                .into_iter()
                .filter_map(|seq| self.backlog.get(seq))
                .filter(|e| e.record.op != ChangeOp::Delete)
                .map(|e| (e.record.key.clone(), e.record.key_binary))
                .collect();
            // Applied with CAS 0: the store then flushes everything it holds now (its own
            // horizon), not only what is below the peer's horizon (our concurrent writes can
            // be above it; the rules above decide which of them survive). The store's new
            // horizon is at most the highest CAS we have seen plus what the feed may still
            // hold; applied values below that get fresh CAS values (`visible_cas`).
            let mut rec = rec;
            if rec.exptime == 0 {
                rec.cas = 0;
                self.flush_horizon =
                    self.flush_horizon.max(self.max_cas_seen.saturating_add(FLUSH_CAS_MARGIN));
            }
            self.emit_apply(rec, ApplyMode::Overwrite);
            for (key, key_binary) in beaten {
                let delete =
                    ChangeRecord { op: ChangeOp::Delete, key, key_binary, ..ChangeRecord::empty() };
                self.events.push_back(ReplEvent::Apply(delete, ApplyMode::Overwrite));
            }
            self.inflight.flushed(stamp);
            self.reapply_inflight(stamp);
            return Ok(());
        }
        let slot = self.inflight.lookup(&rec.key, &self.backlog);
        let newer = |part: Option<(u64, Stamp)>| part.is_some_and(|(_, s)| s > stamp);
        let lost = if rec.op == ChangeOp::Touch {
            newer(slot.write) || newer(slot.touch)
        } else {
            newer(slot.write)
        };
        if lost {
            self.stats.conflicts_local_won += 1;
            return Ok(());
        }
        let incoming_touch = rec.op == ChangeOp::Touch;
        if slot.write.is_some() || slot.touch.is_some() {
            self.inflight.beaten(&rec.key, stamp, incoming_touch);
            if incoming_touch && slot.write.is_some() {
                self.inflight.peer_touched(&rec.key, rec.exptime);
            }
        }
        self.emit_apply(rec, ApplyMode::Overwrite);
        if let Some((tseq, _)) = slot.touch.filter(|_| newer(slot.touch)) {
            if let Some(e) = self.backlog.get(tseq) {
                self.events.push_back(ReplEvent::Apply(e.record.clone(), ApplyMode::Overwrite));
            }
        }
        Ok(())
    }

    /// Decides a full copy's item: it loses against any in-flight local write of its key and
    /// against an in-flight local flush (see the module doc of `session`).
    pub(super) fn on_snapshot_item(&mut self, rec: ChangeRecord) -> Result<(), CloseReason> {
        let Some(c) = self.conn.as_mut() else { return Ok(()) };
        let Some(snap) = c.snap_in.as_mut() else {
            return Err(protocol("snapshot item outside a snapshot"));
        };
        snap.items += 1;
        let mode = if snap.mode == SnapshotMode::IfAbsent {
            ApplyMode::IfAbsent
        } else {
            ApplyMode::Merge
        };
        self.stats.snapshot_items_received += 1;
        if rec.op == ChangeOp::FlushAll {
            // The sender's flush second (stores that flush by time): it only ever hides more.
            if self.cfg.flushes_by_time {
                self.emit_apply(rec, ApplyMode::Overwrite);
            }
            return Ok(());
        }
        if self.inflight.flush.is_some() && !self.cfg.flushes_by_time {
            self.stats.conflicts_local_won += 1;
            return Ok(());
        }
        let slot = self.inflight.lookup(&rec.key, &self.backlog);
        if slot.write.is_some() {
            self.stats.conflicts_local_won += 1;
            return Ok(());
        }
        self.emit_apply(rec, mode);
        if let Some(e) = slot.touch.and_then(|(seq, _)| self.backlog.get(seq)) {
            self.events.push_back(ReplEvent::Apply(e.record.clone(), ApplyMode::Overwrite));
        }
        Ok(())
    }

    /// What the local changes recorded after `seq` did to `key`. The session decides peer
    /// changes when their bytes arrive (`receive`); local changes the driver records while it
    /// applies them come later and are stamped after every change received, so they beat
    /// the ones still to apply. The driver takes `last_seq()` after `receive` and asks this
    /// before each apply, once it has recorded every local change already in its store.
    pub fn local_change_after(&self, key: &[u8], seq: u64) -> LocalChange {
        // A flush that hides by second does not depend on order (`flushes_by_time`).
        if self.inflight.flush.is_some_and(|(s, _)| s > seq) && !self.cfg.flushes_by_time {
            return LocalChange::Write;
        }
        let slot = self.inflight.lookup(key, &self.backlog);
        if slot.write.is_some_and(|(s, _)| s > seq) {
            return LocalChange::Write;
        }
        match slot.touch.filter(|(s, _)| *s > seq).and_then(|(s, _)| self.backlog.get(s)) {
            Some(touch) => LocalChange::Touch { exptime: touch.record.exptime },
            None => LocalChange::None,
        }
    }

    /// After a peer `flush_all` decided at `seq` (see
    /// [`local_change_after`](Self::local_change_after)) was applied: the local changes
    /// recorded since, oldest first with their seqs, that it may have removed here while they
    /// survive on the peer (they are stamped after it), so the driver stores them again. Only
    /// those after the last local flush among them: that one removed the rest on both nodes.
    pub fn changes_to_restore(&self, seq: u64) -> Vec<(u64, ChangeRecord)> {
        let mut restore = Vec::new();
        for e in self.backlog.iter().filter(|e| e.seq > seq) {
            if e.record.op == ChangeOp::FlushAll {
                restore.clear();
            } else {
                restore.push((e.seq, e.record.clone()));
            }
        }
        restore
    }
}
