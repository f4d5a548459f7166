//! [`Pipeline`]: many commands, one write and one read pass per server, all servers at once.
//!
//! ```text
//!  queue: get a, set b, incr c, mg d …
//!     │ route each key → group per server (order kept inside a group)
//!     ▼
//!  server 1: "get a\r\nincr c 1\r\n"  ──► replies read in order ──┐
//!  server 2: "set b 0 0 1\r\n…mg d v\r\n" ──► …                    ├─► one result per command,
//!                                                                  ┘   in queue order
//! ```

use crate::client::{encode_keys_line, encode_store, Client, Read, StoreCommand};
use crate::connection::{Expect, Reply};
use crate::error::{Error, Result, ServerErrorKind};
use crate::item::{Item, MetaResponse, StoreOptions, StoreOutcome};
use crate::join::join_all;
use crate::wire::MetaCall;
use bytes::Bytes;
use memcached_codec::{
    encode_arithmetic, encode_delete, encode_touch, ArithmeticCommand, StatusLine,
};

/// One queued pipeline command.
#[derive(Debug, Clone)]
enum PipelineOp {
    Get(Bytes),
    Store(StoreCommand, Bytes, Bytes, StoreOptions),
    Delete(Bytes),
    Touch(Bytes, i32),
    Arithmetic(ArithmeticCommand, Bytes, u64),
    Meta(MetaCall, Bytes, Option<Bytes>),
    /// A command refused when queued (bad meta verb or flags): answered with this error.
    Refused(Bytes, &'static str),
}

impl PipelineOp {
    fn key(&self) -> &Bytes {
        match self {
            PipelineOp::Get(k)
            | PipelineOp::Store(_, k, _, _)
            | PipelineOp::Delete(k)
            | PipelineOp::Touch(k, _)
            | PipelineOp::Arithmetic(_, k, _)
            | PipelineOp::Meta(_, k, _)
            | PipelineOp::Refused(k, _) => k,
        }
    }

    fn expect(&self) -> Expect {
        match self {
            PipelineOp::Get(_) => Expect::Value,
            PipelineOp::Store(..) | PipelineOp::Delete(_) | PipelineOp::Touch(..) => Expect::Status,
            PipelineOp::Arithmetic(..) => Expect::Number,
            PipelineOp::Meta(call, ..) => call.expect(),
            PipelineOp::Refused(..) => Expect::Nothing,
        }
    }

    /// Encodes the command with `k`, the key as sent (namespace prefix applied).
    fn encode(&self, k: &[u8], out: &mut Vec<u8>) {
        match self {
            PipelineOp::Get(_) => encode_keys_line(out, Read::Get, &[k]),
            PipelineOp::Store(c, _, v, o) => encode_store(out, *c, k, v, *o),
            PipelineOp::Delete(_) => encode_delete(out, k, false),
            PipelineOp::Touch(_, exptime) => encode_touch(out, k, *exptime, false),
            PipelineOp::Arithmetic(c, _, delta) => encode_arithmetic(out, *c, k, *delta, false),
            PipelineOp::Meta(call, _, v) => call.encode(out, k, v.as_deref()),
            PipelineOp::Refused(..) => {}
        }
    }

    fn reply(&self, reply: Reply) -> Option<PipelineReply> {
        Some(match (self, reply) {
            (PipelineOp::Get(_), Reply::Value(item)) => PipelineReply::Item(item),
            (PipelineOp::Store(..), Reply::Status(line)) => {
                PipelineReply::Store(StoreOutcome::from_status(line)?)
            }
            (PipelineOp::Delete(_), Reply::Status(StatusLine::Deleted)) => {
                PipelineReply::Deleted(true)
            }
            (PipelineOp::Delete(_), Reply::Status(StatusLine::NotFound)) => {
                PipelineReply::Deleted(false)
            }
            (PipelineOp::Touch(..), Reply::Status(StatusLine::Touched)) => {
                PipelineReply::Touched(true)
            }
            (PipelineOp::Touch(..), Reply::Status(StatusLine::NotFound)) => {
                PipelineReply::Touched(false)
            }
            (PipelineOp::Arithmetic(..), Reply::Number(n)) => PipelineReply::Number(Some(n)),
            (PipelineOp::Arithmetic(..), Reply::Status(StatusLine::NotFound)) => {
                PipelineReply::Number(None)
            }
            (PipelineOp::Meta(..), Reply::Meta(m)) => PipelineReply::Meta(m),
            _ => return None,
        })
    }
}

/// The answer to one pipelined command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PipelineReply {
    /// Reply to a get.
    Item(Option<Item>),
    /// Reply to a storage command.
    Store(StoreOutcome),
    /// Reply to a delete (true if it existed).
    Deleted(bool),
    /// Reply to a touch (true if it existed).
    Touched(bool),
    /// Reply to incr/decr (`None`: no such key).
    Number(Option<u64>),
    /// Reply to a meta command.
    Meta(MetaResponse),
}

/// Commands queued for one round trip per server (see [`Client::pipeline`]).
#[derive(Debug)]
pub struct Pipeline<'c> {
    client: &'c Client,
    ops: Vec<PipelineOp>,
}

impl<'c> Pipeline<'c> {
    pub(crate) fn new(client: &'c Client) -> Pipeline<'c> {
        Pipeline { client, ops: Vec::new() }
    }
}

impl Pipeline<'_> {
    /// Queues a `get`.
    pub fn get(&mut self, key: impl Into<Bytes>) -> &mut Self {
        self.ops.push(PipelineOp::Get(key.into()));
        self
    }

    /// Queues a storage command. `noreply` is ignored here: the pipeline reads every reply
    /// anyway, and a late error line of a `noreply` command would be taken for the next
    /// command's answer.
    pub fn store(
        &mut self,
        command: StoreCommand,
        key: impl Into<Bytes>,
        value: impl Into<Bytes>,
        opts: StoreOptions,
    ) -> &mut Self {
        let opts = StoreOptions { noreply: false, ..opts };
        self.ops.push(PipelineOp::Store(command, key.into(), value.into(), opts));
        self
    }

    /// Queues a `set`.
    pub fn set(
        &mut self,
        key: impl Into<Bytes>,
        value: impl Into<Bytes>,
        opts: StoreOptions,
    ) -> &mut Self {
        self.store(StoreCommand::Set, key, value, opts)
    }

    /// Queues a `delete`.
    pub fn delete(&mut self, key: impl Into<Bytes>) -> &mut Self {
        self.ops.push(PipelineOp::Delete(key.into()));
        self
    }

    /// Queues a `touch`.
    pub fn touch(&mut self, key: impl Into<Bytes>, exptime: i32) -> &mut Self {
        self.ops.push(PipelineOp::Touch(key.into(), exptime));
        self
    }

    /// Queues an `incr` (or `decr` when `decrement`).
    pub fn incr(&mut self, key: impl Into<Bytes>, delta: u64, decrement: bool) -> &mut Self {
        let command = if decrement { ArithmeticCommand::Decr } else { ArithmeticCommand::Incr };
        self.ops.push(PipelineOp::Arithmetic(command, key.into(), delta));
        self
    }

    /// Queues a meta command (`mg`, `ms` with a value, `md`, `ma`, `me`) with its flags.
    /// With the quiet flag `q` an `mn` follows it, and a suppressed reply comes back as its
    /// code (`EN` for `mg`, `HD` otherwise), as with [`Client::meta`](crate::Client::meta).
    pub fn meta(
        &mut self,
        verb: &str,
        key: impl Into<Bytes>,
        value: Option<Bytes>,
        flags: &[&str],
    ) -> &mut Self {
        let key = key.into();
        let op = match MetaCall::new(verb, value.is_some(), flags) {
            Ok(call) => PipelineOp::Meta(call, key, value),
            Err(why) => PipelineOp::Refused(key, why),
        };
        self.ops.push(op);
        self
    }

    /// Number of queued commands.
    pub fn len(&self) -> usize {
        self.ops.len()
    }

    /// True when nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// Sends everything (one connection per server, all servers at once) and returns one
    /// result per command, in queue order. An error reply fails only its command; a failed
    /// server fails only its own commands. Pipelines always go to the primary server of each
    /// key (no replication).
    pub async fn execute(&mut self) -> Vec<Result<PipelineReply>> {
        let ops = std::mem::take(&mut self.ops);
        let pool = &self.client.pool;
        let mut results: Vec<Option<Result<PipelineReply>>> =
            (0..ops.len()).map(|_| None).collect();
        let mut groups: Vec<Vec<usize>> = vec![Vec::new(); pool.slots.len()];
        let mut wire_keys: Vec<Bytes> = vec![Bytes::new(); ops.len()];
        for (i, op) in ops.iter().enumerate() {
            if let PipelineOp::Refused(_, why) = op {
                results[i] = Some(Err(Error::BadArgument(why)));
                continue;
            }
            match pool.key_parts(op.key()).and_then(|k| {
                let server = pool.route(k.hashed())?;
                Ok((server, Bytes::copy_from_slice(k.wire())))
            }) {
                Ok((server, wire)) => {
                    groups[server].push(i);
                    wire_keys[i] = wire;
                }
                Err(e) => results[i] = Some(Err(e)),
            }
        }
        let (ops, wire_keys) = (&ops, &wire_keys);
        let jobs = groups.iter().enumerate().filter(|(_, g)| !g.is_empty()).map(
            |(server, group)| async move {
                let expects: Vec<Expect> = group.iter().map(|&i| ops[i].expect()).collect();
                let mut replies: Vec<Option<std::result::Result<Reply, String>>> =
                    (0..group.len()).map(|_| None).collect();
                let outcome = pool
                    .run(
                        server,
                        |out| {
                            for &i in group {
                                ops[i].encode(&wire_keys[i], out);
                            }
                        },
                        &expects,
                        |at, reply| replies[at] = Some(reply),
                    )
                    .await;
                (server, outcome, replies)
            },
        );
        for (server, outcome, replies) in join_all(jobs).await {
            let name = &pool.slots[server].name;
            for (at, reply) in replies.into_iter().enumerate() {
                let i = groups[server][at];
                results[i] = Some(match reply {
                    Some(Ok(reply)) => ops[i]
                        .reply(reply)
                        .ok_or_else(|| pool.protocol(server, "a pipelined command")),
                    Some(Err(line)) => Err(Error::on(name, ServerErrorKind::Reply(line))),
                    None => Err(match &outcome {
                        Err(Error::Server { kind, .. }) => Error::on(name, clone_kind(kind)),
                        Err(_) | Ok(()) => {
                            Error::on(name, ServerErrorKind::Protocol("no reply".into()))
                        }
                    }),
                });
            }
        }
        results.into_iter().map(|r| r.unwrap_or(Err(Error::NoServer))).collect()
    }
}

/// A copy of an error kind for fanning one connection failure out to many commands.
fn clone_kind(kind: &ServerErrorKind) -> ServerErrorKind {
    match kind {
        ServerErrorKind::Connect(e) => {
            ServerErrorKind::Connect(std::io::Error::new(e.kind(), e.to_string()))
        }
        ServerErrorKind::ConnectTimeout(d) => ServerErrorKind::ConnectTimeout(*d),
        ServerErrorKind::Io(e) => ServerErrorKind::Io(std::io::Error::new(e.kind(), e.to_string())),
        ServerErrorKind::Timeout(d) => ServerErrorKind::Timeout(*d),
        ServerErrorKind::PoolExhausted(d) => ServerErrorKind::PoolExhausted(*d),
        ServerErrorKind::MarkedDown(d) => ServerErrorKind::MarkedDown(*d),
        ServerErrorKind::Protocol(m) => ServerErrorKind::Protocol(m.clone()),
        ServerErrorKind::Reply(m) => ServerErrorKind::Reply(m.clone()),
    }
}
