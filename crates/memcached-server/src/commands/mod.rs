//! Executing decoded requests against the store: one file per command family.
//!
//! ```text
//!   input bytes ──decode_request──> Request<'_> (borrows the input) ──match──┬─ storage.rs   set add replace append prepend cas
//!        │                                                                   ├─ retrieval.rs get gets gat gats
//!        │ Err(DecodeError): send its line (unless noreply),                 ├─ arith.rs     incr decr
//!        │   skip/swallow the bytes it names, or close                       ├─ delete_touch.rs delete touch
//!        v                                                                   ├─ meta.rs      mg ms md ma mn me
//!   Step::{NeedMore, Hostile, Done { consumed, after }}                      ├─ stats.rs     stats *
//!                                                                            └─ admin.rs     flush_all version verbosity quit
//!                                                                                            shutdown slabs lru lru_crawler ...
//! ```
//!
//! Responses are encoded straight into the connection's output buffer; values are copied from
//! the store's slab chunk into that buffer inside the store's read closure. Nothing here
//! allocates per request.

mod admin;
mod arith;
mod delete_touch;
mod meta;
mod retrieval;
mod stats;
mod storage;

use std::sync::Arc;

use memcached_codec::{
    decode_request, DecodeError, ErrorKind, Limits, LruCrawlerCommand, MetaKey, Recovery, Request,
    StatusLine, StorageCommand, WatchFlags, KEY_BUFFER_LEN,
};
use memcached_store::Store;

use crate::connection::{After, RequestExecutor, Session, Step};
use crate::counters::{bump, WorkerCounters};
use crate::shared::Shared;
use crate::watch;

/// The version `version` and `stats` report: memcached's, so clients that check it behave.
pub const REPORTED_VERSION: &str = "1.6.18";

/// First byte of every memcached binary-protocol request (not spoken here).
const BINARY_REQUEST_MAGIC: u8 = 0x80;

/// Most items remembered as held by unflushed `mg` replies (see [`HeldItems`]).
const HELD_ITEMS_MAX: usize = 32;

/// Items memcached 1.6.18 would still hold a reference to for this connection's unflushed
/// replies.
///
/// memcached rewrites an incr/decr/ma result in place (space-padded, keeping the item's
/// flags) only when nobody else references the item; every `mg` hit keeps a reference in its
/// reply until the output is flushed, which happens when the input runs out of complete
/// commands, after each get/gets/gat/gats and after `mn` (checked by hand on 1.6.18). While
/// such a reply is pending, the result goes to a new item instead (unpadded, fresh flags).
/// Kept per worker for the connection being served: our own flush empties the output buffer,
/// which ends every hold.
///
/// ```text
///   mg j v      -> hold (hash(j), cas)
///   decr j 95   -> item cas held? new item "5" : in place "5  "
///   get/mn/flush -> release all
/// ```
#[derive(Debug)]
struct HeldItems {
    fd: i32,
    items: Vec<(u64, u64)>,
}

impl HeldItems {
    fn new() -> Self {
        HeldItems { fd: -1, items: Vec::with_capacity(HELD_ITEMS_MAX) }
    }

    /// Starts a command of connection `fd`; `flushed`: its output buffer is empty.
    fn begin(&mut self, fd: i32, flushed: bool) {
        if flushed || fd != self.fd {
            self.items.clear();
            self.fd = fd;
        }
    }

    fn hold(&mut self, key: &[u8], cas: u64) {
        if self.items.len() < HELD_ITEMS_MAX {
            self.items.push((key_hash(key), cas));
        }
    }

    fn release_all(&mut self) {
        self.items.clear();
    }

    /// The CAS of the newest held item of `key`.
    fn held_cas(&self, key: &[u8]) -> Option<u64> {
        let hash = key_hash(key);
        self.items.iter().rev().find(|(h, _)| *h == hash).map(|&(_, cas)| cas)
    }
}

/// FNV-1a: enough to tell this connection's few held keys apart.
fn key_hash(key: &[u8]) -> u64 {
    key.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3))
}

/// One worker's command executor: the store, server state and this worker's counters.
#[derive(Debug)]
pub struct CommandExecutor {
    shared: Arc<Shared>,
    store: Arc<Store>,
    counters: Arc<WorkerCounters>,
    limits: Limits,
    /// Descriptor of the connection being served (`cfd=` in watch lines).
    current_fd: i32,
    /// Items memcached would still reference for unflushed `mg` replies.
    held: HeldItems,
}

impl CommandExecutor {
    /// An executor for one worker.
    pub fn new(shared: Arc<Shared>, store: Arc<Store>, counters: Arc<WorkerCounters>) -> Self {
        let limits = Limits {
            item_size_max: shared.config.item_size_max,
            cas_enabled: shared.config.cas_enabled,
            ..Limits::default()
        };
        Self { shared, store, counters, limits, current_fd: -1, held: HeldItems::new() }
    }

    fn now(&self) -> u32 {
        self.shared.clock.now()
    }

    fn dispatch(
        &mut self,
        request: Request<'_>,
        session: &mut Session,
        out: &mut Vec<u8>,
    ) -> After {
        match request {
            Request::Storage(r) => storage::storage(self, &r, out),
            Request::Retrieval(r) => retrieval::retrieval(self, &r, session, out),
            Request::Delete(r) => delete_touch::delete(self, &r, out),
            Request::Touch(r) => delete_touch::touch(self, &r, out),
            Request::Arithmetic(r) => arith::arithmetic(self, &r, out),
            Request::MetaGet(r) => meta::meta_get(self, &r, out),
            Request::MetaSet(r) => meta::meta_set(self, &r, out),
            Request::MetaDelete(r) => meta::meta_delete(self, &r, out),
            Request::MetaArithmetic(r) => meta::meta_arithmetic(self, &r, out),
            Request::MetaNoop => meta::meta_noop(self, out),
            Request::MetaDebug(r) => meta::meta_debug(self, &r, out),
            Request::Stats(r) => stats::stats(self, r, session, out),
            other => admin::admin(self, other, out),
        }
    }

    /// `-Y` (memcached 1.6.18's ASCII auth, checked against the binary):
    ///
    /// ```text
    ///   set <any> <flags> <exptime> <bytes> [noreply]\r\n<user> <password>\r\n
    ///     right credentials      -> STORED (even with noreply); the connection is unlocked
    ///     wrong credentials      -> CLIENT_ERROR authentication failure
    ///     no space in the data   -> CLIENT_ERROR bad authentication token format
    ///   any other command        -> CLIENT_ERROR unauthenticated, and the rest of what was
    ///                               read with it is dropped
    ///   (a failed set followed by more input in the same read -> CLIENT_ERROR unauthenticated
    ///    only, input dropped: memcached's reply object is overwritten)
    /// ```
    /// The connection stays open in every case.
    fn authenticate(&mut self, session: &mut Session, input: &[u8], out: &mut Vec<u8>) -> Step {
        let refuse = |out: &mut Vec<u8>| {
            ErrorKind::Unauthenticated.encode(out);
            Step::Done { consumed: input.len(), after: After::Continue }
        };
        let (request, consumed) = match decode_request(input, &self.limits) {
            Ok(None) => return Step::NeedMore,
            Ok(Some(decoded)) => decoded,
            Err(DecodeError { recovery: Recovery::Close, .. }) => return Step::Hostile,
            Err(_) => return refuse(out),
        };
        let Request::Storage(set) = request else {
            return refuse(out);
        };
        if set.command != StorageCommand::Set {
            return refuse(out);
        }
        bump(&self.counters.auth_cmds, 1);
        let Some(space) = set.data.iter().position(|&b| b == b' ') else {
            bump(&self.counters.auth_errors, 1);
            if consumed < input.len() {
                return refuse(out);
            }
            ErrorKind::BadAuthenticationTokenFormat.encode(out);
            return Step::Done { consumed, after: After::Continue };
        };
        let (user, password) = (&set.data[..space], &set.data[space + 1..]);
        let valid = self.shared.config.auth.as_ref().is_some_and(|entries| {
            entries.iter().any(|c| c.user == user && c.password == password)
        });
        if !valid {
            bump(&self.counters.auth_errors, 1);
            if consumed < input.len() {
                return refuse(out);
            }
            ErrorKind::AuthenticationFailure.encode(out);
            return Step::Done { consumed, after: After::Continue };
        }
        session.authenticated = true;
        StatusLine::Stored.encode(out);
        Step::Done { consumed, after: After::Continue }
    }

    /// memcached 1.6.18 unlinks the old item when a `set` or `ms` (any mode) is refused as
    /// too large (`add`/`replace`/`append`/`prepend`/`cas` keep it). The codec refuses such a
    /// request before the store sees it, so the key is taken from the command line here.
    fn unlink_too_large(&self, input: &[u8]) {
        let line_end = input.iter().position(|&b| b == b'\n').unwrap_or(input.len());
        let line = input[..line_end].strip_suffix(b"\r").unwrap_or(&input[..line_end]);
        let mut tokens = line.split(|&b| b == b' ').filter(|t| !t.is_empty());
        let (Some(command), Some(key)) = (tokens.next(), tokens.next()) else {
            return;
        };
        let now = self.now();
        match command {
            b"set" => {
                self.store.delete(key, now);
            }
            b"ms" => {
                // Flags follow the data length; `b` means the key is base64.
                let base64 = tokens.skip(1).any(|t| t == b"b");
                if !base64 {
                    self.store.delete(key, now);
                } else if let Some(meta_key) = MetaKey::base64(key) {
                    let mut buf = [0u8; KEY_BUFFER_LEN];
                    self.store.delete(meta_key.decode(&mut buf), now);
                }
            }
            _ => {}
        }
    }

    /// `watch [streams]`: `OK`, then the connection only receives log lines. It must be the
    /// first command of its batch, as in memcached ("cannot pipeline other commands before
    /// watch").
    fn watch(&mut self, flags: WatchFlags, out: &mut Vec<u8>) -> After {
        if !self.shared.config.watch_enabled {
            ErrorKind::WatchNotAllowed.encode(out);
            return After::Continue;
        }
        if !out.is_empty() {
            ErrorKind::CannotPipelineBeforeWatch.encode(out);
            return After::Continue;
        }
        StatusLine::Ok.encode(out);
        After::Watch(flags)
    }

    /// A `fetchers` watch line for a lookup of `key` (`hit` = class id and value size).
    fn log_fetch(&self, key: &[u8], hit: Option<(u32, usize)>) {
        let (status, class, size) = match hit {
            Some((class, size)) => ("found", class, size),
            None => ("not_found", 0, 0),
        };
        self.shared.log.emit(
            watch::stream::FETCHERS,
            format_args!(
                "type=item_get key={} status={status} clsid={class} cfd={} size={size}",
                String::from_utf8_lossy(key),
                self.current_fd
            ),
        );
    }

    /// A `mutations` watch line for a store of `key`.
    fn log_store(&self, key: &[u8], command: &str, status: &str, ttl: i64, size: usize) {
        self.shared.log.emit(
            watch::stream::MUTATIONS,
            format_args!(
                "type=item_store key={} status={status} cmd={command} ttl={ttl} clsid=0 cfd={} size={size}",
                String::from_utf8_lossy(key),
                self.current_fd
            ),
        );
    }

    fn decode_error(&mut self, error: DecodeError, input: &[u8], out: &mut Vec<u8>) -> Step {
        let input_len = input.len();
        match error.recovery {
            Recovery::Close => Step::Hostile,
            Recovery::Discard(n) => {
                if error.kind == ErrorKind::ObjectTooLarge {
                    bump(&self.counters.store_too_large, 1);
                    self.unlink_too_large(input);
                }
                if let Some(line) = error.response_line() {
                    out.extend_from_slice(line);
                }
                if n <= input_len {
                    Step::Done { consumed: n.max(1).min(input_len), after: After::Continue }
                } else {
                    Step::Done { consumed: input_len, after: After::Swallow(n - input_len) }
                }
            }
        }
    }
}

impl RequestExecutor for CommandExecutor {
    fn execute(&mut self, session: &mut Session, input: &[u8], out: &mut Vec<u8>) -> Step {
        if self.shared.verbosity() >= 2 {
            let before = out.len();
            let step = self.execute_quietly(session, input, out);
            if let Step::Done { .. } = step {
                log_request(session, input);
                log_reply(session, &out[before..]);
            }
            return step;
        }
        self.execute_quietly(session, input, out)
    }
}

impl CommandExecutor {
    fn execute_quietly(&mut self, session: &mut Session, input: &[u8], out: &mut Vec<u8>) -> Step {
        // memcached picks the protocol from a connection's first byte; a binary-protocol
        // client (magic byte 0x80) is closed at once so it fails fast instead of waiting for a
        // reply. Later 0x80 bytes are just text, as in memcached.
        if !session.negotiated {
            if input.first() == Some(&BINARY_REQUEST_MAGIC) {
                return Step::Hostile;
            }
            session.negotiated = !input.is_empty();
        }
        if self.shared.config.auth.is_some() && !session.authenticated {
            return self.authenticate(session, input, out);
        }
        self.held.begin(session.fd, out.is_empty());
        match decode_request(input, &self.limits) {
            Ok(None) => Step::NeedMore,
            Ok(Some((request, consumed))) => {
                self.current_fd = session.fd;
                let after = match request {
                    Request::Watch(flags) => self.watch(flags, out),
                    Request::LruCrawler(LruCrawlerCommand::Metadump(_)) if !out.is_empty() => {
                        ErrorKind::CannotPipelineBeforeMetadump.encode(out);
                        After::Continue
                    }
                    request => self.dispatch(request, session, out),
                };
                Step::Done { consumed, after }
            }
            Err(error) if error.kind == ErrorKind::BadCommandLineFormat => {
                self.retrieval_with_long_key(error, session, input, out)
            }
            Err(error) => self.decode_error(error, input, out),
        }
    }

    /// The codec refuses a get/gets/gat/gats line with a key over 250 bytes, but memcached
    /// 1.6.18 first fetches (and gat touches) the keys before the long one, then answers only
    /// `CLIENT_ERROR bad command line format`. Such a line is decoded again without the key
    /// limit and run by [`retrieval::retrieval`], which stops at the long key. Any other
    /// refused line keeps the codec's answer.
    fn retrieval_with_long_key(
        &mut self,
        error: DecodeError,
        session: &mut Session,
        input: &[u8],
        out: &mut Vec<u8>,
    ) -> Step {
        let relaxed = Limits { max_key_len: usize::MAX, ..self.limits };
        match decode_request(input, &relaxed) {
            Ok(Some((Request::Retrieval(r), consumed))) => {
                self.current_fd = session.fd;
                let after = retrieval::retrieval(self, &r, session, out);
                Step::Done { consumed, after }
            }
            _ => self.decode_error(error, input, out),
        }
    }
}

/// `-vv`: memcached prints every command line it reads as `<fd command`.
fn log_request(session: &Session, input: &[u8]) {
    if let Some(end) = input.iter().position(|&b| b == b'\n') {
        eprintln!("<{} {}", session.fd, shown_line(&input[..end]));
    }
}

/// `-vv`: the first line of each reply as `>fd line`.
fn log_reply(session: &Session, reply: &[u8]) {
    if reply.is_empty() {
        return;
    }
    let end = reply.iter().position(|&b| b == b'\n').unwrap_or(reply.len());
    eprintln!(">{} {}", session.fd, shown_line(&reply[..end]));
}

/// A `-vv` line as printed: without its `\r`, at most 256 bytes.
fn shown_line(line: &[u8]) -> std::borrow::Cow<'_, str> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    String::from_utf8_lossy(&line[..line.len().min(256)])
}
