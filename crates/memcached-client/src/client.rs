//! [`Client`]: every command, routed by key (or by group key), with replication and
//! multi-get fan-out. The per-server machinery lives in `pool.rs`, the builder in
//! `builder.rs`, pipelines in `pipeline.rs`.
//!
//! ```text
//!  Client::get(key) ─► key_parts (validate, namespace) ─► route / successors (ring)
//!                   ─► ServerPool::run on the owner (failover along replicas on failure)
//!  Client::get_multi(keys) ─► group per server ─► all servers at once (join_all)
//!                          ─► MultiGet { items, failures per server }
//! ```

use crate::builder::ClientBuilder;
use crate::connection::{Expect, Reply};
use crate::error::{Error, Result, ServerErrorKind, ServerFailure};
use crate::health::Health;
use crate::item::{Item, MetaResponse, StoreOptions, StoreOutcome};
use crate::join::join_all;
use crate::pipeline::Pipeline;
use crate::pool::{lock, ServerPool};
use crate::wire::{MetaCall, MetaCode};
use memcached_codec::{
    encode_arithmetic, encode_delete, encode_flush_all, encode_meta_noop, encode_retrieval,
    encode_stats, encode_storage, encode_touch, ArithmeticCommand, LruCrawlerCommand, Request,
    RetrievalCommand, StatsDetail, StatsRequest, StatusLine, StorageCommand,
};
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Keys per `get` line in a multi-get (many lines are pipelined on one connection).
const KEYS_PER_GET_LINE: usize = 100;

/// A memcached client over a pool of servers (async, tokio). Clones share everything.
#[derive(Debug, Clone)]
pub struct Client {
    pub(crate) pool: Arc<ServerPool>,
}

/// Health of one server as the client sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerStatus {
    /// `host:port`.
    pub server: String,
    /// Whether the server is up (not marked down).
    pub up: bool,
    /// Whether the server is on the ring (owns keys).
    pub on_ring: bool,
    /// Failures in a row so far (while up).
    pub consecutive_failures: u32,
    /// When down: time until the next probe may run.
    pub next_probe_in: Option<Duration>,
    /// Requests sent to this server (each pipelined batch counts once).
    pub requests: u64,
    /// Requests that failed with a server failure (I/O, timeout, protocol).
    pub failures: u64,
    /// Times the server was marked down.
    pub times_marked_down: u64,
    /// Probes sent while it was down.
    pub probes: u64,
}

/// One server's answer to `stats`: (name, value) pairs in server order.
pub type ServerStats = Vec<(String, String)>;

/// Per-server results of a command sent to every server: (`host:port`, result).
pub type PerServer<T> = Vec<(String, Result<T>)>;

/// The answer of an administrative command ([`Client::admin`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminReply {
    /// One status line: `OK`, `RESET`, `BUSY …`, `MEMLIMIT_…`, …
    Line(String),
    /// The lines of a listing, without the final `END`.
    Lines(Vec<String>),
}

/// Result of a multi-key read: the hits, and the servers that failed.
#[derive(Debug, Default)]
pub struct MultiGet {
    /// Items found, by key.
    pub items: HashMap<Vec<u8>, Item>,
    /// Servers that failed (their keys are neither hits nor known misses).
    pub failures: Vec<ServerFailure>,
}

/// The classic storage commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreCommand {
    /// `set`
    Set,
    /// `add`
    Add,
    /// `replace`
    Replace,
    /// `append`
    Append,
    /// `prepend`
    Prepend,
    /// `cas` with the given unique.
    Cas(u64),
}

pub(crate) fn encode_store(
    out: &mut Vec<u8>,
    command: StoreCommand,
    key: &[u8],
    value: &[u8],
    opts: StoreOptions,
) {
    let (command, unique) = match command {
        StoreCommand::Set => (StorageCommand::Set, 0),
        StoreCommand::Add => (StorageCommand::Add, 0),
        StoreCommand::Replace => (StorageCommand::Replace, 0),
        StoreCommand::Append => (StorageCommand::Append, 0),
        StoreCommand::Prepend => (StorageCommand::Prepend, 0),
        StoreCommand::Cas(unique) => (StorageCommand::Cas, unique),
    };
    encode_storage(out, command, key, opts.flags, opts.exptime, unique, opts.noreply, value);
}

pub(crate) fn encode_keys_line(out: &mut Vec<u8>, read: Read, keys: &[&[u8]]) {
    encode_retrieval(out, read.command(), read.exptime().unwrap_or(0), keys);
}

/// Retrieval flavour of a read.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Read {
    Get,
    Gets,
    Gat(i32),
    Gats(i32),
}

impl Read {
    fn command(self) -> RetrievalCommand {
        match self {
            Read::Get => RetrievalCommand::Get,
            Read::Gets => RetrievalCommand::Gets,
            Read::Gat(_) => RetrievalCommand::Gat,
            Read::Gats(_) => RetrievalCommand::Gats,
        }
    }
    fn exptime(self) -> Option<i32> {
        match self {
            Read::Gat(t) | Read::Gats(t) => Some(t),
            _ => None,
        }
    }
}

/// Defines storage commands as shortcuts of [`Client::store`] with a fixed [`StoreCommand`].
macro_rules! store_shortcuts {
    ($($(#[$doc:meta])* $name:ident => $command:ident;)*) => {
        $(
            $(#[$doc])*
            pub async fn $name(
                &self,
                key: impl AsRef<[u8]>,
                value: impl AsRef<[u8]>,
                opts: StoreOptions,
            ) -> Result<StoreOutcome> {
                self.store(StoreCommand::$command, key, value, opts).await
            }
        )*
    };
}

impl Client {
    /// Starts a [`ClientBuilder`].
    pub fn builder() -> ClientBuilder {
        ClientBuilder::new()
    }

    /// The servers in configuration order.
    pub fn servers(&self) -> Vec<String> {
        self.pool.slots.iter().map(|s| s.name.clone()).collect()
    }

    /// Which server currently owns `key` (`host:port`), after ejections.
    pub fn server_for_key(&self, key: &[u8]) -> Option<String> {
        let parts = self.pool.key_parts(key).ok()?;
        self.pool.router().server_index(parts.hashed()).map(|i| self.pool.slots[i].name.clone())
    }

    /// Health and ring membership of every server.
    pub fn server_status(&self) -> Vec<ServerStatus> {
        let ring = self.pool.router();
        self.pool
            .slots
            .iter()
            .enumerate()
            .map(|(i, slot)| {
                let health = *lock(&slot.health);
                ServerStatus {
                    server: slot.name.clone(),
                    up: health.is_up(),
                    on_ring: ring.is_live(i),
                    consecutive_failures: match health {
                        Health::Up { failures } => failures,
                        _ => 0,
                    },
                    next_probe_in: health
                        .retry_at()
                        .map(|at| at.saturating_duration_since(Instant::now())),
                    requests: slot.counters.requests.load(Ordering::Relaxed),
                    failures: slot.counters.failures.load(Ordering::Relaxed),
                    times_marked_down: slot.counters.marked_down.load(Ordering::Relaxed),
                    probes: slot.counters.probes.load(Ordering::Relaxed),
                }
            })
            .collect()
    }

    async fn read_one(&self, read: Read, key: &[u8], group: Option<&[u8]>) -> Result<Option<Item>> {
        let parts = self.pool.key_parts_grouped(key, group)?;
        let (key, route_key) = (parts.wire(), parts.hashed());
        let encode = |out: &mut Vec<u8>| encode_keys_line(out, read, &[key]);
        match self.read_routed(route_key, encode, Expect::Value).await? {
            (_, Reply::Value(item)) => Ok(item),
            (index, _) => Err(self.pool.protocol(index, "get")),
        }
    }

    /// `get`: the value of `key`, or `None` on a miss.
    pub async fn get(&self, key: impl AsRef<[u8]>) -> Result<Option<Item>> {
        self.read_one(Read::Get, key.as_ref(), None).await
    }

    /// `gets`: like `get`, with the CAS unique.
    pub async fn gets(&self, key: impl AsRef<[u8]>) -> Result<Option<Item>> {
        self.read_one(Read::Gets, key.as_ref(), None).await
    }

    /// `gat`: get and set a new expiry.
    pub async fn gat(&self, exptime: i32, key: impl AsRef<[u8]>) -> Result<Option<Item>> {
        self.read_one(Read::Gat(exptime), key.as_ref(), None).await
    }

    /// `gats`: `gat` with the CAS unique.
    pub async fn gats(&self, exptime: i32, key: impl AsRef<[u8]>) -> Result<Option<Item>> {
        self.read_one(Read::Gats(exptime), key.as_ref(), None).await
    }

    /// Runs a request on the owner of `route_key`. On a server failure (not an error reply)
    /// it routes again and retries, up to `retries` times: the failed server may have been
    /// ejected meanwhile, so the retry can reach its ring neighbour.
    async fn run_on_owner<E>(
        &self,
        route_key: &[u8],
        encode: E,
        expect: Expect,
    ) -> Result<(usize, Reply)>
    where
        E: Fn(&mut Vec<u8>) + Send + Sync,
    {
        let mut retries_left = self.pool.retries;
        loop {
            let index = self.pool.route(route_key)?;
            match self.pool.run_one(index, &encode, expect).await {
                Ok(reply) => return Ok((index, reply)),
                Err(Error::Server { kind, .. }) if kind.is_server_failure() && retries_left > 0 => {
                    retries_left -= 1;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Runs a single-reply read on the owner of `route_key`. With replication it fails over
    /// along the replicas in ring order while servers fail; any answer (a miss or an error
    /// reply included) ends the search.
    async fn read_routed<E>(
        &self,
        route_key: &[u8],
        encode: E,
        expect: Expect,
    ) -> Result<(usize, Reply)>
    where
        E: Fn(&mut Vec<u8>) + Send + Sync,
    {
        if self.pool.replicas == 0 {
            return self.run_on_owner(route_key, encode, expect).await;
        }
        let mut last_error = Error::NoServer;
        for index in self.pool.successors(route_key, 1 + self.pool.replicas) {
            match self.pool.run_one(index, &encode, expect).await {
                Ok(reply) => return Ok((index, reply)),
                Err(e @ Error::Server { kind: ServerErrorKind::Reply(_), .. }) => return Err(e),
                Err(e) => last_error = e,
            }
        }
        Err(last_error)
    }

    /// Runs a single-reply write on the owner of `route_key` and, with replication, on its
    /// replicas too (in parallel). Returns the first successful reply in ring order.
    async fn write_routed<E>(&self, key: &[u8], encode: E, expect: Expect) -> Result<(usize, Reply)>
    where
        E: Fn(&mut Vec<u8>) + Send + Sync,
    {
        if self.pool.replicas == 0 {
            return self.run_on_owner(key, encode, expect).await;
        }
        let targets = self.pool.successors(key, 1 + self.pool.replicas);
        if targets.is_empty() {
            return Err(Error::NoServer);
        }
        let encode = &encode;
        let results = join_all(
            targets.iter().map(|&i| async move { self.pool.run_one(i, encode, expect).await }),
        )
        .await;
        let mut first_error = None;
        for (index, result) in targets.into_iter().zip(results) {
            match result {
                Ok(reply) => return Ok((index, reply)),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        Err(first_error.unwrap_or(Error::NoServer))
    }

    /// Any storage command (`set`, `add`, `replace`, `append`, `prepend`, `cas`).
    pub async fn store(
        &self,
        command: StoreCommand,
        key: impl AsRef<[u8]>,
        value: impl AsRef<[u8]>,
        opts: StoreOptions,
    ) -> Result<StoreOutcome> {
        self.store_grouped(command, None, key.as_ref(), value.as_ref(), opts).await
    }

    /// A storage command on the server that owns `group` (php `setByKey` and friends): keys
    /// that share a group key live on one server.
    pub async fn store_by_key(
        &self,
        command: StoreCommand,
        group: impl AsRef<[u8]>,
        key: impl AsRef<[u8]>,
        value: impl AsRef<[u8]>,
        opts: StoreOptions,
    ) -> Result<StoreOutcome> {
        self.store_grouped(command, Some(group.as_ref()), key.as_ref(), value.as_ref(), opts).await
    }

    /// `set` on the server that owns `group` (php `setByKey`).
    pub async fn set_by_key(
        &self,
        group: impl AsRef<[u8]>,
        key: impl AsRef<[u8]>,
        value: impl AsRef<[u8]>,
        opts: StoreOptions,
    ) -> Result<StoreOutcome> {
        self.store_by_key(StoreCommand::Set, group, key, value, opts).await
    }

    /// `get` from the server that owns `group` (php `getByKey`).
    pub async fn get_by_key(
        &self,
        group: impl AsRef<[u8]>,
        key: impl AsRef<[u8]>,
    ) -> Result<Option<Item>> {
        self.read_one(Read::Get, key.as_ref(), Some(group.as_ref())).await
    }

    /// `delete` on the server that owns `group` (php `deleteByKey`).
    pub async fn delete_by_key(
        &self,
        group: impl AsRef<[u8]>,
        key: impl AsRef<[u8]>,
    ) -> Result<bool> {
        self.delete_grouped(key.as_ref(), false, Some(group.as_ref())).await
    }

    /// Multi-get of keys stored under one group key (php `getMultiByKey`): one server.
    pub async fn get_multi_by_key<K: AsRef<[u8]>>(
        &self,
        group: impl AsRef<[u8]>,
        keys: &[K],
    ) -> Result<MultiGet> {
        self.read_multi(Read::Get, keys, Some(group.as_ref())).await
    }

    async fn store_grouped(
        &self,
        command: StoreCommand,
        group: Option<&[u8]>,
        key: &[u8],
        value: &[u8],
        opts: StoreOptions,
    ) -> Result<StoreOutcome> {
        let parts = self.pool.key_parts_grouped(key, group)?;
        let (key, route_key) = (parts.wire(), parts.hashed());
        let expect = if opts.noreply { Expect::Nothing } else { Expect::Status };
        let (index, reply) = self
            .write_routed(route_key, |out| encode_store(out, command, key, value, opts), expect)
            .await?;
        match reply {
            Reply::Nothing => Ok(StoreOutcome::Sent),
            Reply::Status(line) => StoreOutcome::from_status(line)
                .ok_or_else(|| self.pool.protocol(index, "a storage command")),
            _ => Err(self.pool.protocol(index, "a storage command")),
        }
    }

    store_shortcuts! {
        /// `set`.
        set => Set;
        /// `add`: store only if absent.
        add => Add;
        /// `replace`: store only if present.
        replace => Replace;
        /// `append` to an existing value.
        append => Append;
        /// `prepend` to an existing value.
        prepend => Prepend;
    }

    /// `cas`: store if the item's CAS unique is still `unique`.
    pub async fn cas(
        &self,
        key: impl AsRef<[u8]>,
        value: impl AsRef<[u8]>,
        unique: u64,
        opts: StoreOptions,
    ) -> Result<StoreOutcome> {
        self.store(StoreCommand::Cas(unique), key, value, opts).await
    }

    /// `delete`: true if the key existed.
    pub async fn delete(&self, key: impl AsRef<[u8]>) -> Result<bool> {
        self.delete_with(key, false).await
    }

    /// `delete` with optional `noreply` (then the result is always true).
    pub async fn delete_with(&self, key: impl AsRef<[u8]>, noreply: bool) -> Result<bool> {
        self.delete_grouped(key.as_ref(), noreply, None).await
    }

    async fn delete_grouped(
        &self,
        key: &[u8],
        noreply: bool,
        group: Option<&[u8]>,
    ) -> Result<bool> {
        let parts = self.pool.key_parts_grouped(key, group)?;
        let (key, route_key) = (parts.wire(), parts.hashed());
        let expect = if noreply { Expect::Nothing } else { Expect::Status };
        let encode = |out: &mut Vec<u8>| encode_delete(out, key, noreply);
        match self.write_routed(route_key, encode, expect).await? {
            (_, Reply::Nothing) | (_, Reply::Status(StatusLine::Deleted)) => Ok(true),
            (_, Reply::Status(StatusLine::NotFound)) => Ok(false),
            (index, _) => Err(self.pool.protocol(index, "delete")),
        }
    }

    /// `touch`: set a new expiry; true if the key existed.
    pub async fn touch(&self, key: impl AsRef<[u8]>, exptime: i32) -> Result<bool> {
        let key = key.as_ref();
        let parts = self.pool.key_parts(key)?;
        let (key, route_key) = (parts.wire(), parts.hashed());
        let encode = |out: &mut Vec<u8>| encode_touch(out, key, exptime, false);
        match self.write_routed(route_key, encode, Expect::Status).await? {
            (_, Reply::Status(StatusLine::Touched)) => Ok(true),
            (_, Reply::Status(StatusLine::NotFound)) => Ok(false),
            (index, _) => Err(self.pool.protocol(index, "touch")),
        }
    }

    async fn arithmetic(
        &self,
        command: ArithmeticCommand,
        key: &[u8],
        delta: u64,
        noreply: bool,
    ) -> Result<Option<u64>> {
        let parts = self.pool.key_parts(key)?;
        let (key, route_key) = (parts.wire(), parts.hashed());
        let expect = if noreply { Expect::Nothing } else { Expect::Number };
        let encode = |out: &mut Vec<u8>| encode_arithmetic(out, command, key, delta, noreply);
        match self.write_routed(route_key, encode, expect).await? {
            (_, Reply::Number(n)) => Ok(Some(n)),
            (_, Reply::Status(StatusLine::NotFound)) | (_, Reply::Nothing) => Ok(None),
            (index, _) => Err(self.pool.protocol(index, "incr/decr")),
        }
    }

    /// `incr`: the new value, or `None` if the key is missing.
    pub async fn incr(&self, key: impl AsRef<[u8]>, delta: u64) -> Result<Option<u64>> {
        self.arithmetic(ArithmeticCommand::Incr, key.as_ref(), delta, false).await
    }

    /// `decr` (stops at 0): the new value, or `None` if the key is missing.
    pub async fn decr(&self, key: impl AsRef<[u8]>, delta: u64) -> Result<Option<u64>> {
        self.arithmetic(ArithmeticCommand::Decr, key.as_ref(), delta, false).await
    }

    /// `incr`/`decr` with `noreply` (`decrement` true for decr).
    pub async fn incr_noreply(
        &self,
        key: impl AsRef<[u8]>,
        delta: u64,
        decrement: bool,
    ) -> Result<()> {
        let command = if decrement { ArithmeticCommand::Decr } else { ArithmeticCommand::Incr };
        self.arithmetic(command, key.as_ref(), delta, true).await.map(|_| ())
    }

    /// Multi-get (`get k1 k2 …`): keys are grouped per server and all servers are asked at
    /// once. Returns the hits and, per failed server, its error (the other servers' results
    /// are still returned). With replication, keys of a failed server are retried on their
    /// next replica.
    pub async fn get_multi<K: AsRef<[u8]>>(&self, keys: &[K]) -> Result<MultiGet> {
        self.read_multi(Read::Get, keys, None).await
    }

    /// Multi-get with CAS uniques (`gets`).
    pub async fn gets_multi<K: AsRef<[u8]>>(&self, keys: &[K]) -> Result<MultiGet> {
        self.read_multi(Read::Gets, keys, None).await
    }

    async fn read_multi<K: AsRef<[u8]>>(
        &self,
        read: Read,
        keys: &[K],
        group: Option<&[u8]>,
    ) -> Result<MultiGet> {
        let parts = keys
            .iter()
            .map(|k| self.pool.key_parts_grouped(k.as_ref(), group))
            .collect::<Result<Vec<_>>>()?;
        let mut result = MultiGet::default();
        // Per key: the candidate servers in ring order (primary first).
        let candidates: Vec<Vec<usize>> = parts
            .iter()
            .map(|k| {
                if self.pool.replicas == 0 {
                    self.pool.route(k.hashed()).ok().into_iter().collect()
                } else {
                    self.pool.successors(k.hashed(), 1 + self.pool.replicas)
                }
            })
            .collect();
        let mut pending: Vec<usize> = (0..keys.len()).collect();
        let mut round = 0;
        while !pending.is_empty() && round <= self.pool.replicas {
            let mut groups: Vec<Vec<usize>> = vec![Vec::new(); self.pool.slots.len()];
            let mut unroutable = false;
            for &k in &pending {
                match candidates[k].get(round) {
                    Some(&server) => groups[server].push(k),
                    None => unroutable = true,
                }
            }
            if unroutable && round == 0 {
                result.failures.push(ServerFailure {
                    server: "(no live server)".into(),
                    error: Error::NoServer,
                });
            }
            let jobs =
                groups.iter().enumerate().filter(|(_, g)| !g.is_empty()).map(|(server, group)| {
                    let keys: Vec<&[u8]> = group.iter().map(|&k| parts[k].wire()).collect();
                    async move {
                        let (outcome, found) = self.read_keys_on(server, read, &keys).await;
                        (server, outcome, found)
                    }
                });
            let outcomes = join_all(jobs).await;
            let mut retry = Vec::new();
            for (server, outcome, found) in outcomes {
                for (key, item) in found {
                    let key = key.strip_prefix(&self.pool.prefix[..]).unwrap_or(&key);
                    result.items.insert(key.to_vec(), item);
                }
                if let Err(error) = outcome {
                    let server_failed =
                        !matches!(&error, Error::Server { kind: ServerErrorKind::Reply(_), .. });
                    if server_failed && round < self.pool.replicas {
                        retry.extend(groups[server].iter().copied());
                    }
                    result.failures.push(ServerFailure {
                        server: self.pool.slots[server].name.clone(),
                        error,
                    });
                }
            }
            pending = retry;
            round += 1;
        }
        Ok(result)
    }

    /// Reads `keys` (as sent) from one server: `KEYS_PER_GET_LINE` keys per line, every line
    /// pipelined on one connection. Returns the outcome and the hits (key as sent, item).
    async fn read_keys_on(
        &self,
        server: usize,
        read: Read,
        keys: &[&[u8]],
    ) -> (Result<()>, Vec<(bytes::Bytes, Item)>) {
        let lines = keys.len().div_ceil(KEYS_PER_GET_LINE);
        let expects = vec![Expect::Values; lines];
        let mut found = Vec::new();
        let outcome = self
            .pool
            .run(
                server,
                |out| {
                    for line in keys.chunks(KEYS_PER_GET_LINE) {
                        encode_keys_line(out, read, line);
                    }
                },
                &expects,
                |_, reply| {
                    if let Ok(Reply::Values(values)) = reply {
                        found.extend(values);
                    }
                },
            )
            .await;
        (outcome, found)
    }

    /// Sends a request to every server at once and collects each server's result.
    async fn broadcast<T, E, F>(
        &self,
        encode: E,
        expect: Expect,
        convert: F,
    ) -> Vec<(String, Result<T>)>
    where
        E: Fn(&mut Vec<u8>) + Send + Sync,
        F: Fn(Reply) -> Option<T>,
    {
        self.pool.poll_probes();
        let encode = &encode;
        let replies = join_all(
            (0..self.pool.slots.len())
                .map(|i| async move { self.pool.run_one(i, encode, expect).await }),
        )
        .await;
        replies
            .into_iter()
            .enumerate()
            .map(|(i, reply)| {
                let name = self.pool.slots[i].name.clone();
                let value = reply.and_then(|r| {
                    convert(r).ok_or_else(|| self.pool.protocol(i, "a broadcast command"))
                });
                (name, value)
            })
            .collect()
    }

    /// `version` of every server.
    pub async fn version(&self) -> Vec<(String, Result<String>)> {
        self.broadcast(
            |out| Request::Version.encode(out),
            Expect::Version,
            |r| match r {
                Reply::Version(v) => Some(v),
                _ => None,
            },
        )
        .await
    }

    /// `stats [group]` of every server.
    pub async fn stats(&self, group: Option<&str>) -> PerServer<ServerStats> {
        let group = group.unwrap_or("");
        self.broadcast(
            |out| encode_stats(out, group.as_bytes()),
            Expect::Stats,
            |r| match r {
                Reply::Stats(s) => Some(s),
                _ => None,
            },
        )
        .await
    }

    /// `flush_all [delay]` on every server.
    pub async fn flush_all(&self, delay: Option<u32>) -> Vec<(String, Result<()>)> {
        let delay = delay.map(|d| i32::try_from(d).unwrap_or(i32::MAX));
        self.broadcast(
            |out| encode_flush_all(out, delay, false),
            Expect::Status,
            |r| matches!(r, Reply::Status(StatusLine::Ok)).then_some(()),
        )
        .await
    }

    /// `verbosity <level>` on every server.
    pub async fn verbosity(&self, level: u32) -> Vec<(String, Result<()>)> {
        self.broadcast(
            |out| Request::Verbosity { level, noreply: false }.encode(out),
            Expect::Status,
            |r| matches!(r, Reply::Status(StatusLine::Ok)).then_some(()),
        )
        .await
    }

    /// A meta command on the key's server: `verb` is `mg`, `ms`, `md` or `ma`; `flags` are
    /// the request flags as tokens (`v`, `c`, `T30`, `MI` …). With the quiet flag `q` the call
    /// is followed by `mn`, and a reply memcached suppressed comes back as its code (`EN` for
    /// `mg`, `HD` for `ms`, `md`, `ma`) with no flags or value.
    pub async fn meta(
        &self,
        verb: &str,
        key: impl AsRef<[u8]>,
        value: Option<&[u8]>,
        flags: &[&str],
    ) -> Result<MetaResponse> {
        let parts = self.pool.key_parts(key.as_ref())?;
        let (key, route_key) = (parts.wire(), parts.hashed());
        let call = MetaCall::new(verb, value.is_some(), flags).map_err(Error::BadArgument)?;
        let encode = |out: &mut Vec<u8>| call.encode(out, key, value);
        let routed = if call.is_read() {
            self.read_routed(route_key, encode, call.expect()).await
        } else {
            self.write_routed(route_key, encode, call.expect()).await
        };
        match routed? {
            (_, Reply::Meta(m)) => Ok(m),
            (index, _) => Err(self.pool.protocol(index, "a meta command")),
        }
    }

    /// `mg <key> <flags>*`.
    pub async fn meta_get(&self, key: impl AsRef<[u8]>, flags: &[&str]) -> Result<MetaResponse> {
        self.meta("mg", key, None, flags).await
    }

    /// `ms <key> <len> <flags>*` + value.
    pub async fn meta_set(
        &self,
        key: impl AsRef<[u8]>,
        value: &[u8],
        flags: &[&str],
    ) -> Result<MetaResponse> {
        self.meta("ms", key, Some(value), flags).await
    }

    /// `md <key> <flags>*`.
    pub async fn meta_delete(&self, key: impl AsRef<[u8]>, flags: &[&str]) -> Result<MetaResponse> {
        self.meta("md", key, None, flags).await
    }

    /// `ma <key> <flags>*`.
    pub async fn meta_arithmetic(
        &self,
        key: impl AsRef<[u8]>,
        flags: &[&str],
    ) -> Result<MetaResponse> {
        self.meta("ma", key, None, flags).await
    }

    /// `mn` on every server (a round trip that proves each connection is in step).
    pub async fn meta_noop(&self) -> Vec<(String, Result<()>)> {
        self.broadcast(encode_meta_noop::<Vec<u8>>, Expect::Meta, |r| match r {
            Reply::Meta(m) if m.code == MetaCode::Mn => Some(()),
            _ => None,
        })
        .await
    }

    /// Any administrative command of the codec, sent to every server: `cache_memlimit`,
    /// `slabs reassign|automove`, `lru tune|mode|temp_ttl`, `lru_crawler …` (including
    /// `metadump`), and every `stats` form (`detail on|off|dump`, `cachedump`, `sizes_enable`,
    /// `reset`, groups). Key commands have their own methods; `quit`, `shutdown` and `watch`
    /// would end or take over the pooled connection and are refused.
    pub async fn admin(&self, request: &Request<'_>) -> Result<PerServer<AdminReply>> {
        let expect = match request {
            Request::CacheMemlimit { noreply: false, .. }
            | Request::SlabsReassign { .. }
            | Request::SlabsAutomove { noreply: false, .. }
            | Request::Lru { noreply: false, .. }
            | Request::FlushAll { noreply: false, .. }
            | Request::Verbosity { noreply: false, .. }
            | Request::Stats(
                StatsRequest::Reset
                | StatsRequest::SizesEnable
                | StatsRequest::SizesDisable
                | StatsRequest::Detail(StatsDetail::On | StatsDetail::Off),
            ) => Expect::AdminLine,
            Request::LruCrawler(LruCrawlerCommand::Metadump(_)) | Request::Stats(_) => {
                Expect::AdminLines
            }
            Request::LruCrawler(_) => Expect::AdminLine,
            _ => {
                return Err(Error::BadArgument(
                    "admin() takes administrative commands without noreply (not key commands, \
                     quit, shutdown or watch)",
                ))
            }
        };
        let request = *request;
        Ok(self
            .broadcast(
                |out| request.encode(out),
                expect,
                |reply| match reply {
                    Reply::Line(line) => Some(AdminReply::Line(line)),
                    Reply::Lines(lines) => Some(AdminReply::Lines(lines)),
                    _ => None,
                },
            )
            .await)
    }

    /// Starts a pipeline: many commands, sent together on one connection per server.
    pub fn pipeline(&self) -> Pipeline<'_> {
        Pipeline::new(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send<T: Send>(_: &T) {}

    #[test]
    fn futures_are_send_so_callers_can_spawn_them() {
        let c = Client::builder().server("127.0.0.1:1").build().unwrap();
        assert_send(&c.get("k"));
        assert_send(&c.set("k", "v", StoreOptions::default()));
        assert_send(&c.get_multi(&["a", "b"]));
        assert_send(&c.meta_get("k", &["v"]));
        assert_send(&c.version());
        let mut p = c.pipeline();
        p.get("k");
        assert_send(&p.execute());
    }

    #[test]
    fn bad_configuration_is_reported() {
        assert!(matches!(Client::builder().build(), Err(Error::Config(_))));
        assert!(matches!(Client::builder().server("h:notaport").build(), Err(Error::Config(_))));
    }
}
