//! `get`, `gets`, `gat`, `gats` (and `bget`, decoded as `get`).
//!
//! protocol.txt: `get <key>*\r\n` / `gets <key>*\r\n` / `gat <exptime> <key>*\r\n` /
//! `gats <exptime> <key>*\r\n`. Each hit is `VALUE <key> <flags> <bytes> [<cas unique>]\r\n`
//! `<data block>\r\n`; misses are left out; the reply ends with `END\r\n`.
//!
//! The value is copied from the slab chunk into the output buffer inside the store's
//! closure: one copy, no allocation. A reply that would pass [`MAX_GET_RESPONSE`] is replaced
//! by `SERVER_ERROR out of memory writing get response`.
//!
//! A key longer than 250 bytes: memcached 1.6.18 walks the keys in order, so the keys before
//! the long one are fetched (bumped, marked fetched, touched by gat) before the whole reply is
//! replaced by `CLIENT_ERROR bad command line format`. The codec refuses such a line; the
//! executor decodes it again without the key limit and lands here.

use memcached_codec::{encode_end, encode_value, ErrorKind, RetrievalRequest};

use super::CommandExecutor;
use crate::connection::{After, Session, UdpMark};
use crate::shared::PrefixOp;

/// The largest reply one multi-get may build. Backpressure works between requests; this bounds
/// a single `get` naming the same large value thousands of times.
pub const MAX_GET_RESPONSE: usize = 64 * 1024 * 1024;

/// Executes a retrieval command.
pub fn retrieval(
    exec: &mut CommandExecutor,
    r: &RetrievalRequest<'_>,
    session: &mut Session,
    out: &mut Vec<u8>,
) -> After {
    let now = exec.now();
    let with_cas = r.command.returns_cas();
    let prefixes = exec.shared.prefixes.enabled();
    // memcached flushes its output after every get: the items earlier replies held are free.
    exec.held.release_all();
    let start = out.len();
    let marks_before = session.udp_marks.len();
    let keys = r.keys.count();
    for (index, key) in r.keys.iter().enumerate() {
        if key.len() > exec.limits.max_key_len {
            // The side effects on the earlier keys stay; their replies are dropped.
            out.truncate(start);
            session.udp_marks.truncate(marks_before);
            ErrorKind::BadCommandLineFormat.encode(out);
            return After::Continue;
        }
        if out.len() - start > MAX_GET_RESPONSE {
            // memcached's answer when it cannot allocate more of a get response.
            out.truncate(start);
            session.udp_marks.truncate(marks_before);
            ErrorKind::OutOfMemoryWritingGet.encode(out);
            return After::Continue;
        }
        let emit = |item: &memcached_store::ItemRef<'_>| {
            let cas = with_cas.then(|| item.cas());
            encode_value(out, key, item.flags(), cas, item.value());
            (item.class_id(), item.value().len())
        };
        let hit = match r.exptime {
            Some(exptime) => exec.store.gat(key, i64::from(exptime), now, emit),
            None => exec.store.get(key, now, emit),
        };
        if prefixes {
            exec.shared.prefixes.record(key, PrefixOp::Get(hit.is_some()));
        }
        if exec.shared.log.active() {
            exec.log_fetch(key, hit);
        }
        if session.udp && index + 1 < keys {
            // Over UDP memcached sends each key's response object as its own message.
            session.udp_marks.push(UdpMark { end: out.len(), send_empty: true });
        }
    }
    encode_end(out);
    After::Continue
}
