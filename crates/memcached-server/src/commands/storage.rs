//! `set`, `add`, `replace`, `append`, `prepend`, `cas`.
//!
//! protocol.txt: `<command name> <key> <flags> <exptime> <bytes> [noreply]\r\n` and
//! `cas <key> <flags> <exptime> <bytes> <cas unique> [noreply]\r\n`, then the data block.
//! Replies: `STORED`, `NOT_STORED` (add/replace/append/prepend condition not met), `EXISTS`
//! (cas: modified since fetched), `NOT_FOUND` (cas: no such item). `noreply` silences every
//! reply line, errors included, as memcached's `out_string` does.

use memcached_codec::{ErrorKind, StatusLine, StorageCommand, StorageRequest};
use memcached_store::{SetMode, SetResult, StoreError, StoreOutcome};

use super::CommandExecutor;
use crate::connection::After;
use crate::counters::bump;
use crate::shared::PrefixOp;

/// Executes a classic storage command.
pub fn storage(exec: &mut CommandExecutor, r: &StorageRequest<'_>, out: &mut Vec<u8>) -> After {
    let mode = match r.command {
        StorageCommand::Set => SetMode::Set,
        StorageCommand::Add => SetMode::Add,
        StorageCommand::Replace => SetMode::Replace,
        StorageCommand::Append => SetMode::Append,
        StorageCommand::Prepend => SetMode::Prepend,
        StorageCommand::Cas => SetMode::Cas(r.cas_unique),
    };
    let now = exec.now();
    exec.shared.prefixes.record(r.key, PrefixOp::Set);
    let result = exec.store.set(r.key, r.data, r.flags, i64::from(r.exptime), now, mode);
    if exec.shared.log.active() {
        let ttl = i64::from(r.exptime);
        exec.log_store(r.key, r.command.name(), logged_status(&result), ttl, r.data.len());
    }
    if r.noreply {
        if let Err(e) = result {
            count_error(exec, e);
        }
        return After::Continue;
    }
    match result {
        Ok(done) => match done.outcome {
            StoreOutcome::Stored => StatusLine::Stored.encode(out),
            StoreOutcome::NotStored => StatusLine::NotStored.encode(out),
            StoreOutcome::Exists => StatusLine::Exists.encode(out),
            StoreOutcome::NotFound => StatusLine::NotFound.encode(out),
        },
        Err(e) => {
            count_error(exec, e);
            store_error_kind(e).encode(out);
        }
    }
    After::Continue
}

/// The `status=` of a store's `mutations` watch line (a refused store is `not_stored`).
pub fn logged_status(result: &Result<SetResult, StoreError>) -> &'static str {
    match result {
        Ok(done) => match done.outcome {
            StoreOutcome::Stored => "stored",
            StoreOutcome::NotStored => "not_stored",
            StoreOutcome::Exists => "exists",
            StoreOutcome::NotFound => "not_found",
        },
        Err(_) => "not_stored",
    }
}

fn count_error(exec: &CommandExecutor, e: StoreError) {
    match e {
        StoreError::TooLarge => bump(&exec.counters.store_too_large, 1),
        StoreError::OutOfMemory => bump(&exec.counters.store_no_memory, 1),
        StoreError::NonNumeric | StoreError::BadKey => {}
    }
}

/// The error line memcached sends when a store operation fails.
pub fn store_error_kind(e: StoreError) -> ErrorKind {
    match e {
        StoreError::TooLarge => ErrorKind::ObjectTooLarge,
        StoreError::OutOfMemory => ErrorKind::OutOfMemoryStoring,
        StoreError::NonNumeric => ErrorKind::NonNumericValue,
        StoreError::BadKey => ErrorKind::BadCommandLineFormat,
    }
}
