//! `incr` and `decr`.
//!
//! protocol.txt: `incr <key> <value> [noreply]\r\n`, `decr <key> <value> [noreply]\r\n`.
//! The item's data must be the decimal form of a 64-bit unsigned integer; incr wraps at 2^64,
//! decr stops at 0. Replies: the new value, `NOT_FOUND`, or
//! `CLIENT_ERROR cannot increment or decrement non-numeric value`.

use memcached_codec::{encode_number, ArithmeticCommand, ArithmeticRequest, ErrorKind, StatusLine};
use memcached_store::{ArithOp, ArithOutcome, MetaArith, StoreError};

use super::CommandExecutor;
use crate::connection::After;

/// Executes incr/decr.
pub fn arithmetic(
    exec: &mut CommandExecutor,
    r: &ArithmeticRequest<'_>,
    out: &mut Vec<u8>,
) -> After {
    let op = match r.command {
        ArithmeticCommand::Incr => ArithOp::Incr,
        ArithmeticCommand::Decr => ArithOp::Decr,
    };
    // A counter an unflushed mg reply still holds is rewritten as a new item, as memcached
    // does (see `HeldItems`).
    let opts = MetaArith {
        op,
        delta: r.delta,
        held_by_reply: exec.held.held_cas(r.key),
        ..MetaArith::default()
    };
    let result = exec.store.meta_arith(r.key, &opts, exec.now());
    if r.noreply {
        return After::Continue;
    }
    match result {
        Ok(ArithOutcome::Value { value, .. }) => encode_number(out, value),
        Ok(ArithOutcome::NotFound | ArithOutcome::Exists | ArithOutcome::NotStored) => {
            StatusLine::NotFound.encode(out);
        }
        Err(StoreError::NonNumeric) => ErrorKind::NonNumericValue.encode(out),
        Err(StoreError::OutOfMemory | StoreError::TooLarge) => ErrorKind::OutOfMemory.encode(out),
        Err(StoreError::BadKey) => ErrorKind::BadCommandLineFormat.encode(out),
    }
    After::Continue
}
