//! `delete` and `touch`.
//!
//! protocol.txt: `delete <key> [noreply]\r\n` → `DELETED` / `NOT_FOUND`;
//! `touch <key> <exptime> [noreply]\r\n` → `TOUCHED` / `NOT_FOUND`.

use memcached_codec::{DeleteRequest, StatusLine, TouchRequest};
use memcached_store::{DeleteOutcome, TouchOutcome};

use super::CommandExecutor;
use crate::connection::After;
use crate::shared::PrefixOp;

/// Executes delete.
pub fn delete(exec: &mut CommandExecutor, r: &DeleteRequest<'_>, out: &mut Vec<u8>) -> After {
    exec.shared.prefixes.record(r.key, PrefixOp::Delete);
    let outcome = exec.store.delete(r.key, exec.now());
    if !r.noreply {
        match outcome {
            DeleteOutcome::Deleted => StatusLine::Deleted.encode(out),
            DeleteOutcome::NotFound | DeleteOutcome::Exists => StatusLine::NotFound.encode(out),
        }
    }
    After::Continue
}

/// Executes touch.
pub fn touch(exec: &mut CommandExecutor, r: &TouchRequest<'_>, out: &mut Vec<u8>) -> After {
    let outcome = exec.store.touch(r.key, i64::from(r.exptime), exec.now());
    if !r.noreply {
        match outcome {
            TouchOutcome::Touched => StatusLine::Touched.encode(out),
            TouchOutcome::NotFound => StatusLine::NotFound.encode(out),
        }
    }
    After::Continue
}
