//! The async client: routing, per-server pools, failure handling, replication, fan-out.
//!
//! ```text
//!  Client (cheap to clone: Arc<Inner>)
//!   │ key ──► RwLock<Router>.server_index ──► ServerSlot i
//!   │                                           ├─ health: Mutex<Health>   (health.rs)
//!   │                                           ├─ permits: Semaphore      (max connections)
//!   │                                           └─ idle: Mutex<Vec<Connection>>
//!   │
//!   │ request on slot i:  check health → take permit → idle or new connection
//!   │                     → encode into conn.out → flush → read replies (one I/O deadline;
//!   │                       connect and pool waits have their own)
//!   │   ok / error reply ─► connection back to idle, health.on_success
//!   │   I/O, timeout, protocol error ─► connection dropped, health.on_failure
//!   │                                     └─ went down: eject i from the ring (rebuild)
//!   │
//!   └ down servers are probed (`version` on a fresh connection) once their retry time
//!     has come; a probe that answers puts the server back on the ring.
//! ```
//!
//! Multi-key operations group keys per server and run all servers at once on one pipelined
//! connection each; results come back with per-server errors instead of failing whole.

use crate::connection::{Connection, Expect, Reply};
use crate::error::{check_key, Error, Result, ServerErrorKind, ServerFailure};
use crate::health::{Availability, Health, HealthPolicy, Transition};
use crate::item::{Item, MetaResponse, StoreOptions, StoreOutcome};
use crate::join::join_all;
use crate::wire::{encode_meta_command, MetaCode, Status};
use bytes::Bytes;
use memcached_codec::{
    encode_arithmetic, encode_delete, encode_flush_all, encode_meta_noop, encode_retrieval,
    encode_stats, encode_storage, encode_touch, ArithmeticCommand, LruCrawlerCommand, MetaCommand,
    Request, RetrievalCommand, StatsDetail, StatsRequest, StorageCommand,
};
use memcached_router::{Router, RouterConfig, Server};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

/// Keys per `get` line in a multi-get (many lines are pipelined on one connection).
const KEYS_PER_GET_LINE: usize = 100;

/// Builds a [`Client`] (or a [`crate::BlockingClient`]).
#[derive(Debug, Clone)]
pub struct ClientBuilder {
    servers: Vec<Server>,
    router: RouterConfig,
    connect_timeout: Duration,
    io_timeout: Duration,
    pool_timeout: Option<Duration>,
    idle_timeout: Duration,
    max_connections: usize,
    health: HealthPolicy,
    replicas: usize,
    prefix: Vec<u8>,
    hash_with_prefix: bool,
    parse_errors: Vec<String>,
}

impl Default for ClientBuilder {
    fn default() -> ClientBuilder {
        ClientBuilder {
            servers: Vec::new(),
            router: RouterConfig::ketama(),
            connect_timeout: Duration::from_secs(1),
            io_timeout: Duration::from_secs(1),
            pool_timeout: None,
            idle_timeout: Duration::from_secs(60),
            max_connections: 4,
            health: HealthPolicy::default(),
            replicas: 0,
            prefix: Vec::new(),
            hash_with_prefix: false,
            parse_errors: Vec::new(),
        }
    }
}

impl ClientBuilder {
    /// A builder with the defaults: ketama (php `OPT_LIBKETAMA_COMPATIBLE`), 1 s connect and
    /// I/O timeouts, 4 connections per server, down after 3 failures, probed after 2 s.
    pub fn new() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// Adds a server given as `HOST[:PORT[:WEIGHT]]` (host exactly as other clients spell it).
    pub fn server(mut self, spec: &str) -> ClientBuilder {
        match Server::parse(spec) {
            Ok(server) => self.servers.push(server),
            Err(e) => self.parse_errors.push(e.to_string()),
        }
        self
    }

    /// Adds several servers.
    pub fn servers<I: IntoIterator<Item = S>, S: AsRef<str>>(mut self, specs: I) -> ClientBuilder {
        for spec in specs {
            self = self.server(spec.as_ref());
        }
        self
    }

    /// Adds an already built [`Server`].
    pub fn add_server(mut self, server: Server) -> ClientBuilder {
        self.servers.push(server);
        self
    }

    /// The key distribution (default [`RouterConfig::ketama`]).
    pub fn distribution(mut self, router: RouterConfig) -> ClientBuilder {
        self.router = router;
        self
    }

    /// Deadline for establishing a connection.
    pub fn connect_timeout(mut self, timeout: Duration) -> ClientBuilder {
        self.connect_timeout = timeout;
        self
    }

    /// Deadline for one request (or one pipelined batch) on one server: writing it and
    /// reading every reply.
    pub fn io_timeout(mut self, timeout: Duration) -> ClientBuilder {
        self.io_timeout = timeout;
        self
    }

    /// How long a request may wait for a free pooled connection (default: the I/O timeout).
    pub fn pool_timeout(mut self, timeout: Duration) -> ClientBuilder {
        self.pool_timeout = Some(timeout);
        self
    }

    /// Pooled connections unused for this long are closed instead of reused (default 60 s;
    /// the server's or a firewall's idle cut-off may be shorter).
    pub fn idle_timeout(mut self, timeout: Duration) -> ClientBuilder {
        self.idle_timeout = timeout;
        self
    }

    /// Maximum connections per server (pipelining makes a few enough).
    pub fn max_connections_per_server(mut self, max: usize) -> ClientBuilder {
        self.max_connections = max.max(1);
        self
    }

    /// Failure limit, retry interval and ejection in one go.
    pub fn health_policy(mut self, policy: HealthPolicy) -> ClientBuilder {
        self.health = policy;
        self
    }

    /// Consecutive failures that mark a server down.
    pub fn failure_limit(mut self, failures: u32) -> ClientBuilder {
        self.health.failure_limit = failures.max(1);
        self
    }

    /// How long a down server waits before the first probe.
    pub fn retry_interval(mut self, interval: Duration) -> ClientBuilder {
        self.health.retry_interval = interval;
        self
    }

    /// Whether down servers leave the ring (their keys go to neighbours) or stay and fail fast.
    pub fn eject_failed_servers(mut self, eject: bool) -> ClientBuilder {
        self.health.eject = eject;
        self
    }

    /// Cap on the fraction of servers that may be ejected at once (see
    /// [`HealthPolicy::max_ejected_fraction`]).
    pub fn max_ejected_fraction(mut self, fraction: f32) -> ClientBuilder {
        self.health.max_ejected_fraction = fraction;
        self
    }

    /// Client-side replication: every write also goes to the next `replicas` servers on the
    /// ring; reads fail over along the same servers.
    pub fn replicas(mut self, replicas: usize) -> ClientBuilder {
        self.replicas = replicas;
        self
    }

    /// A namespace prepended to every key on the wire (php-memcached `OPT_PREFIX_KEY`,
    /// libmemcached `MEMCACHED_CALLBACK_NAMESPACE`). As in libmemcached, the prefix is not
    /// hashed unless [`ClientBuilder::hash_with_prefix`] is set, so keys land on the same
    /// servers as without it. Results of multi-gets are keyed without the prefix.
    pub fn key_prefix(mut self, prefix: impl AsRef<[u8]>) -> ClientBuilder {
        self.prefix = prefix.as_ref().to_vec();
        self
    }

    /// Hash the prefixed key (php `OPT_HASH_WITH_PREFIX_KEY`).
    pub fn hash_with_prefix(mut self, yes: bool) -> ClientBuilder {
        self.hash_with_prefix = yes;
        self
    }

    /// Builds the async client. Needs no runtime until the first request.
    pub fn build(self) -> Result<Client> {
        if let Some(e) = self.parse_errors.first() {
            return Err(Error::Config(e.clone()));
        }
        if self.prefix.len() > 128 || self.prefix.iter().any(|&b| b <= b' ' || b == 0x7f) {
            return Err(Error::Config(
                "key prefix must be at most 128 bytes without whitespace or control bytes".into(),
            ));
        }
        let router = Router::new(self.servers.clone(), self.router)
            .map_err(|e| Error::Config(e.to_string()))?;
        let slots = router
            .servers()
            .iter()
            .map(|server| ServerSlot {
                name: server.to_string(),
                server: server.clone(),
                idle: Mutex::new(Vec::new()),
                permits: Semaphore::new(self.max_connections),
                health: Mutex::new(Health::default()),
                counters: SlotCounters::default(),
            })
            .collect();
        Ok(Client {
            inner: Arc::new(Inner {
                slots,
                ring: RwLock::new(router),
                connect_timeout: self.connect_timeout,
                io_timeout: self.io_timeout,
                pool_timeout: self.pool_timeout.unwrap_or(self.io_timeout),
                idle_timeout: self.idle_timeout,
                policy: self.health,
                replicas: self.replicas,
                down: AtomicUsize::new(0),
                prefix: Bytes::from(self.prefix),
                hash_with_prefix: self.hash_with_prefix,
            }),
        })
    }
}

/// One server: address, pool and health.
#[derive(Debug)]
struct ServerSlot {
    server: Server,
    name: String,
    idle: Mutex<Vec<Connection>>,
    permits: Semaphore,
    health: Mutex<Health>,
    counters: SlotCounters,
}

/// Per-server counters shown by [`Client::server_status`].
#[derive(Debug, Default)]
struct SlotCounters {
    requests: AtomicU64,
    failures: AtomicU64,
    marked_down: AtomicU64,
    probes: AtomicU64,
}

#[derive(Debug)]
struct Inner {
    slots: Vec<ServerSlot>,
    ring: RwLock<Router>,
    connect_timeout: Duration,
    io_timeout: Duration,
    pool_timeout: Duration,
    idle_timeout: Duration,
    policy: HealthPolicy,
    replicas: usize,
    /// Number of servers not Up (skip probe scans when 0).
    down: AtomicUsize,
    /// Namespace prepended to every key on the wire (php `OPT_PREFIX_KEY`).
    prefix: Bytes,
    /// Whether the prefix is part of the hashed key (php `OPT_HASH_WITH_PREFIX_KEY`).
    hash_with_prefix: bool,
}

/// A key as sent (namespace prefix applied) and as hashed.
struct KeyParts<'a> {
    wire: std::borrow::Cow<'a, [u8]>,
    hashed: std::borrow::Cow<'a, [u8]>,
}

impl KeyParts<'_> {
    fn wire(&self) -> &[u8] {
        &self.wire
    }

    fn hashed(&self) -> &[u8] {
        &self.hashed
    }
}

/// A memcached client over a pool of servers (async, tokio). Clones share everything.
#[derive(Debug, Clone)]
pub struct Client {
    inner: Arc<Inner>,
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

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Inner {
    /// Validates `key` and applies the namespace prefix.
    fn key_parts<'a>(&self, key: &'a [u8]) -> Result<KeyParts<'a>> {
        self.key_parts_grouped(key, None)
    }

    fn prefixed<'a>(&self, key: &'a [u8]) -> Result<std::borrow::Cow<'a, [u8]>> {
        check_key(key)?;
        if self.prefix.is_empty() {
            return Ok(std::borrow::Cow::Borrowed(key));
        }
        let mut full = Vec::with_capacity(self.prefix.len() + key.len());
        full.extend_from_slice(&self.prefix);
        full.extend_from_slice(key);
        check_key(&full)?;
        Ok(std::borrow::Cow::Owned(full))
    }

    /// Like `key_parts`, with the server chosen by `group` (a "master key", php `*ByKey`)
    /// instead of the key itself.
    fn key_parts_grouped<'a>(
        &self,
        key: &'a [u8],
        group: Option<&'a [u8]>,
    ) -> Result<KeyParts<'a>> {
        let wire = self.prefixed(key)?;
        let route = group.unwrap_or(key);
        let hashed = if self.hash_with_prefix {
            if group.is_none() {
                wire.clone()
            } else {
                self.prefixed(route)?
            }
        } else {
            check_key(route)?;
            std::borrow::Cow::Borrowed(route)
        };
        Ok(KeyParts { wire, hashed })
    }

    fn router(&self) -> std::sync::RwLockReadGuard<'_, Router> {
        self.ring.read().unwrap_or_else(|p| p.into_inner())
    }

    fn set_on_ring(&self, index: usize, live: bool) {
        if !self.policy.eject {
            return;
        }
        let mut ring = self.ring.write().unwrap_or_else(|p| p.into_inner());
        if !live {
            let total = ring.servers().len();
            let ejected_after = total - ring.live_count() + 1;
            if ejected_after as f32 > self.policy.max_ejected_fraction * total as f32 {
                // Over the cap: marked down, but its keys stay put (and fail fast).
                return;
            }
        }
        ring.set_live(index, live);
    }

    fn record_failure(&self, index: usize) {
        let slot = &self.slots[index];
        let transition = lock(&slot.health).on_failure(Instant::now(), &self.policy);
        if transition == Transition::WentDown {
            slot.counters.marked_down.fetch_add(1, Ordering::Relaxed);
            self.down.fetch_add(1, Ordering::SeqCst);
            lock(&slot.idle).clear();
            self.set_on_ring(index, false);
        }
    }

    fn record_success(&self, index: usize) {
        let transition = lock(&self.slots[index].health).on_success();
        if transition == Transition::CameBack {
            self.down.fetch_sub(1, Ordering::SeqCst);
            self.set_on_ring(index, true);
        }
    }

    /// Starts probes of down servers whose retry time has come (spawned on the current
    /// runtime, so the calling request is not delayed).
    fn poll_probes(self: &Arc<Self>) {
        if self.down.load(Ordering::Relaxed) == 0 {
            return;
        }
        let now = Instant::now();
        for index in 0..self.slots.len() {
            let due = lock(&self.slots[index].health).check(now) == Availability::ProbeNow;
            if due {
                let inner = Arc::clone(self);
                match tokio::runtime::Handle::try_current() {
                    Ok(handle) => {
                        handle.spawn(async move { inner.probe(index).await });
                    }
                    Err(_) => {
                        // No runtime to run the probe on: let the next request probe inline.
                        lock(&self.slots[index].health).on_failure(now, &self.policy);
                    }
                }
            }
        }
    }

    /// Probe: `version` on a fresh connection.
    async fn probe(&self, index: usize) -> bool {
        let slot = &self.slots[index];
        slot.counters.probes.fetch_add(1, Ordering::Relaxed);
        let attempt = async {
            let mut conn =
                Connection::open(&slot.server.host, slot.server.port, self.connect_timeout).await?;
            Request::Version.encode(&mut conn.out);
            conn.flush(true).await?;
            conn.read_reply(Expect::Version).await?;
            Ok::<Connection, ServerErrorKind>(conn)
        };
        match tokio::time::timeout(self.connect_timeout + self.io_timeout, attempt).await {
            Ok(Ok(conn)) => {
                lock(&slot.idle).push(conn);
                self.record_success(index);
                true
            }
            _ => {
                lock(&slot.health).on_failure(Instant::now(), &self.policy);
                false
            }
        }
    }

    fn route(self: &Arc<Self>, key: &[u8]) -> Result<usize> {
        self.poll_probes();
        self.router().server_index(key).ok_or(Error::NoServer)
    }

    fn successors(self: &Arc<Self>, key: &[u8], count: usize) -> Vec<usize> {
        self.poll_probes();
        let mut out = Vec::with_capacity(count);
        self.router().successors(key, count, &mut out);
        out
    }

    /// Runs pipelined requests on one connection to server `index`: `encode` writes them all,
    /// `expects` lists their replies in order, `sink` receives each reply.
    async fn run<E, S>(
        &self,
        index: usize,
        encode: E,
        expects: &[Expect],
        mut sink: S,
    ) -> Result<()>
    where
        E: Fn(&mut Vec<u8>) + Send + Sync,
        S: FnMut(usize, std::result::Result<Reply, String>) + Send,
    {
        let slot = &self.slots[index];
        let probing = {
            let mut health = lock(&slot.health);
            match health.check(Instant::now()) {
                Availability::Up => false,
                Availability::Down(wait) => {
                    return Err(Error::on(&slot.name, ServerErrorKind::MarkedDown(wait)))
                }
                // This request doubles as the probe (servers kept on the ring).
                Availability::ProbeNow => true,
            }
        };
        slot.counters.requests.fetch_add(1, Ordering::Relaxed);
        let expects_reply = expects.iter().any(|&e| e != Expect::Nothing);
        let permit = match tokio::time::timeout(self.pool_timeout, slot.permits.acquire()).await {
            Ok(Ok(permit)) => permit,
            _ => {
                return Err(Error::on(
                    &slot.name,
                    ServerErrorKind::PoolExhausted(self.pool_timeout),
                ))
            }
        };
        let mut attempt = 0;
        loop {
            attempt += 1;
            let pooled = {
                let mut idle = lock(&slot.idle);
                // Drop connections idle for too long (the server or a NAT may have closed them).
                idle.retain(|c| c.last_used.elapsed() < self.idle_timeout);
                idle.pop()
            };
            let reused = pooled.is_some();
            let mut conn = match pooled {
                Some(conn) => conn,
                None => {
                    // Connection::open applies the connect timeout.
                    match Connection::open(
                        &slot.server.host,
                        slot.server.port,
                        self.connect_timeout,
                    )
                    .await
                    {
                        Ok(conn) => conn,
                        Err(kind) => {
                            drop(permit);
                            self.fail(index, probing);
                            return Err(Error::on(&slot.name, kind));
                        }
                    }
                }
            };
            let units_before = conn.units;
            let mut delivered = 0;
            let deadline = tokio::time::Instant::now() + self.io_timeout;
            let outcome = tokio::time::timeout_at(deadline, async {
                conn.out.clear();
                encode(&mut conn.out);
                conn.flush(expects_reply).await?;
                let mut first_error = None;
                for (i, &expect) in expects.iter().enumerate() {
                    match conn.read_reply(expect).await {
                        Ok(reply) => sink(i, Ok(reply)),
                        Err(ServerErrorKind::Reply(line)) => {
                            sink(i, Err(line.clone()));
                            // A well-formed error reply: the connection stays in step.
                            first_error.get_or_insert(ServerErrorKind::Reply(line));
                        }
                        Err(kind) => return Err(kind),
                    }
                    delivered = i + 1;
                }
                Ok(first_error)
            })
            .await;
            match outcome {
                Ok(Ok(reply_error)) => {
                    lock(&slot.idle).push(conn);
                    drop(permit);
                    self.record_success(index);
                    return match reply_error {
                        None => Ok(()),
                        Some(kind) => Err(Error::on(&slot.name, kind)),
                    };
                }
                Ok(Err(ServerErrorKind::Io(e)))
                    if reused && conn.units == units_before && delivered == 0 && attempt == 1 =>
                {
                    // An idle connection the server had closed: retry once on a fresh one.
                    let _ = e;
                    continue;
                }
                Ok(Err(kind)) => {
                    drop(permit);
                    self.fail(index, probing);
                    return Err(Error::on(&slot.name, kind));
                }
                Err(_) => {
                    drop(permit);
                    self.fail(index, probing);
                    return Err(Error::on(&slot.name, ServerErrorKind::Timeout(self.io_timeout)));
                }
            }
        }
    }

    fn fail(&self, index: usize, probing: bool) {
        self.slots[index].counters.failures.fetch_add(1, Ordering::Relaxed);
        if probing {
            lock(&self.slots[index].health).on_failure(Instant::now(), &self.policy);
        } else {
            self.record_failure(index);
        }
    }

    async fn run_one<E>(&self, index: usize, encode: E, expect: Expect) -> Result<Reply>
    where
        E: Fn(&mut Vec<u8>) + Send + Sync,
    {
        let mut out = None;
        self.run(index, encode, &[expect], |_, reply| out = reply.ok()).await?;
        out.ok_or_else(|| {
            Error::on(&self.slots[index].name, ServerErrorKind::Protocol("no reply".into()))
        })
    }

    fn protocol(&self, index: usize, what: &str) -> Error {
        Error::on(
            &self.slots[index].name,
            ServerErrorKind::Protocol(format!("unexpected reply to {what}")),
        )
    }
}

fn validate_token(token: &str) -> Result<()> {
    if token.is_empty() || token.bytes().any(|b| b <= b' ' || b == 0x7f) {
        return Err(Error::BadArgument("meta flags must be non-empty tokens without spaces"));
    }
    Ok(())
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

fn encode_store(
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

fn encode_keys_line(out: &mut Vec<u8>, read: Read, keys: &[&[u8]]) {
    encode_retrieval(out, read.command(), read.exptime().unwrap_or(0), keys);
}

/// Retrieval flavour of a read.
#[derive(Debug, Clone, Copy)]
enum Read {
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

impl Client {
    /// Starts a [`ClientBuilder`].
    pub fn builder() -> ClientBuilder {
        ClientBuilder::new()
    }

    /// The servers in configuration order.
    pub fn servers(&self) -> Vec<String> {
        self.inner.slots.iter().map(|s| s.name.clone()).collect()
    }

    /// Which server currently owns `key` (`host:port`), after ejections.
    pub fn server_for_key(&self, key: &[u8]) -> Option<String> {
        let parts = self.inner.key_parts(key).ok()?;
        self.inner.router().server_index(parts.hashed()).map(|i| self.inner.slots[i].name.clone())
    }

    /// Health and ring membership of every server.
    pub fn server_status(&self) -> Vec<ServerStatus> {
        let ring = self.inner.router();
        self.inner
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
        let parts = self.inner.key_parts_grouped(key, group)?;
        let (key, route_key) = (parts.wire(), parts.hashed());
        let targets = if self.inner.replicas == 0 {
            vec![self.inner.route(route_key)?]
        } else {
            let targets = self.inner.successors(route_key, 1 + self.inner.replicas);
            if targets.is_empty() {
                return Err(Error::NoServer);
            }
            targets
        };
        let mut last_error = None;
        for index in targets {
            let reply = self
                .inner
                .run_one(index, |out| encode_keys_line(out, read, &[key]), Expect::Values)
                .await;
            match reply {
                Ok(Reply::Values(values)) => {
                    return Ok(values
                        .into_iter()
                        .find(|(k, _)| k.as_ref() == key)
                        .map(|(_, item)| item))
                }
                Ok(_) => return Err(self.inner.protocol(index, "get")),
                // Fail over to the next replica only when the server failed.
                Err(e @ Error::Server { kind: ServerErrorKind::Reply(_), .. }) => return Err(e),
                Err(e) => last_error = Some(e),
            }
        }
        Err(last_error.unwrap_or(Error::NoServer))
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

    /// Runs a single-reply write on the key's server and, with replication, its replicas
    /// (in parallel). Returns the first successful reply in ring order.
    async fn write_routed<E>(&self, key: &[u8], encode: E, expect: Expect) -> Result<(usize, Reply)>
    where
        E: Fn(&mut Vec<u8>) + Send + Sync,
    {
        if self.inner.replicas == 0 {
            let index = self.inner.route(key)?;
            return self.inner.run_one(index, &encode, expect).await.map(|r| (index, r));
        }
        let targets = self.inner.successors(key, 1 + self.inner.replicas);
        if targets.is_empty() {
            return Err(Error::NoServer);
        }
        let encode = &encode;
        let results = join_all(
            targets.iter().map(|&i| async move { self.inner.run_one(i, encode, expect).await }),
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
        let parts = self.inner.key_parts_grouped(key, group)?;
        let (key, route_key) = (parts.wire(), parts.hashed());
        let expect = if opts.noreply { Expect::Nothing } else { Expect::Status };
        let (index, reply) = self
            .write_routed(route_key, |out| encode_store(out, command, key, value, opts), expect)
            .await?;
        match reply {
            Reply::Nothing => Ok(StoreOutcome::Sent),
            Reply::Status(Status::Stored) => Ok(StoreOutcome::Stored),
            Reply::Status(Status::NotStored) => Ok(StoreOutcome::NotStored),
            Reply::Status(Status::Exists) => Ok(StoreOutcome::Exists),
            Reply::Status(Status::NotFound) => Ok(StoreOutcome::NotFound),
            _ => Err(self.inner.protocol(index, "a storage command")),
        }
    }

    /// `set`.
    pub async fn set(
        &self,
        key: impl AsRef<[u8]>,
        value: impl AsRef<[u8]>,
        opts: StoreOptions,
    ) -> Result<StoreOutcome> {
        self.store(StoreCommand::Set, key, value, opts).await
    }

    /// `add`: store only if absent.
    pub async fn add(
        &self,
        key: impl AsRef<[u8]>,
        value: impl AsRef<[u8]>,
        opts: StoreOptions,
    ) -> Result<StoreOutcome> {
        self.store(StoreCommand::Add, key, value, opts).await
    }

    /// `replace`: store only if present.
    pub async fn replace(
        &self,
        key: impl AsRef<[u8]>,
        value: impl AsRef<[u8]>,
        opts: StoreOptions,
    ) -> Result<StoreOutcome> {
        self.store(StoreCommand::Replace, key, value, opts).await
    }

    /// `append` to an existing value.
    pub async fn append(
        &self,
        key: impl AsRef<[u8]>,
        value: impl AsRef<[u8]>,
        opts: StoreOptions,
    ) -> Result<StoreOutcome> {
        self.store(StoreCommand::Append, key, value, opts).await
    }

    /// `prepend` to an existing value.
    pub async fn prepend(
        &self,
        key: impl AsRef<[u8]>,
        value: impl AsRef<[u8]>,
        opts: StoreOptions,
    ) -> Result<StoreOutcome> {
        self.store(StoreCommand::Prepend, key, value, opts).await
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
        let parts = self.inner.key_parts_grouped(key, group)?;
        let (key, route_key) = (parts.wire(), parts.hashed());
        let expect = if noreply { Expect::Nothing } else { Expect::Status };
        let encode = |out: &mut Vec<u8>| encode_delete(out, key, noreply);
        match self.write_routed(route_key, encode, expect).await? {
            (_, Reply::Nothing) | (_, Reply::Status(Status::Deleted)) => Ok(true),
            (_, Reply::Status(Status::NotFound)) => Ok(false),
            (index, _) => Err(self.inner.protocol(index, "delete")),
        }
    }

    /// `touch`: set a new expiry; true if the key existed.
    pub async fn touch(&self, key: impl AsRef<[u8]>, exptime: i32) -> Result<bool> {
        let key = key.as_ref();
        let parts = self.inner.key_parts(key)?;
        let (key, route_key) = (parts.wire(), parts.hashed());
        let encode = |out: &mut Vec<u8>| encode_touch(out, key, exptime, false);
        match self.write_routed(route_key, encode, Expect::Status).await? {
            (_, Reply::Status(Status::Touched)) => Ok(true),
            (_, Reply::Status(Status::NotFound)) => Ok(false),
            (index, _) => Err(self.inner.protocol(index, "touch")),
        }
    }

    async fn arithmetic(
        &self,
        command: ArithmeticCommand,
        key: &[u8],
        delta: u64,
        noreply: bool,
    ) -> Result<Option<u64>> {
        let parts = self.inner.key_parts(key)?;
        let (key, route_key) = (parts.wire(), parts.hashed());
        let expect = if noreply { Expect::Nothing } else { Expect::Number };
        let encode = |out: &mut Vec<u8>| encode_arithmetic(out, command, key, delta, noreply);
        match self.write_routed(route_key, encode, expect).await? {
            (_, Reply::Number(n)) => Ok(Some(n)),
            (_, Reply::Status(Status::NotFound)) | (_, Reply::Nothing) => Ok(None),
            (index, _) => Err(self.inner.protocol(index, "incr/decr")),
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
            .map(|k| self.inner.key_parts_grouped(k.as_ref(), group))
            .collect::<Result<Vec<_>>>()?;
        let mut result = MultiGet::default();
        // Per key: the candidate servers in ring order (primary first).
        let candidates: Vec<Vec<usize>> = parts
            .iter()
            .map(|k| {
                if self.inner.replicas == 0 {
                    self.inner.route(k.hashed()).ok().into_iter().collect()
                } else {
                    self.inner.successors(k.hashed(), 1 + self.inner.replicas)
                }
            })
            .collect();
        let mut pending: Vec<usize> = (0..keys.len()).collect();
        let mut round = 0;
        while !pending.is_empty() && round <= self.inner.replicas {
            let mut groups: Vec<Vec<usize>> = vec![Vec::new(); self.inner.slots.len()];
            let mut unroutable = false;
            for &k in &pending {
                match candidates[k].get(round) {
                    Some(&server) => groups[server].push(k),
                    None => unroutable = true,
                }
            }
            if unroutable && round == 0 {
                result
                    .failures
                    .push(ServerFailure { server: String::new(), error: Error::NoServer });
            }
            let jobs =
                groups.iter().enumerate().filter(|(_, g)| !g.is_empty()).map(|(server, group)| {
                    let group_keys: Vec<&[u8]> = group.iter().map(|&k| parts[k].wire()).collect();
                    async move {
                        let chunks: Vec<&[&[u8]]> = group_keys.chunks(KEYS_PER_GET_LINE).collect();
                        let expects = vec![Expect::Values; chunks.len()];
                        let mut found = Vec::new();
                        let outcome = self
                            .inner
                            .run(
                                server,
                                |out| {
                                    for chunk in &chunks {
                                        encode_keys_line(out, read, chunk);
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
                        (server, outcome, found)
                    }
                });
            let outcomes = join_all(jobs).await;
            let mut retry = Vec::new();
            for (server, outcome, found) in outcomes {
                for (key, item) in found {
                    let key = key.strip_prefix(&self.inner.prefix[..]).unwrap_or(&key);
                    result.items.insert(key.to_vec(), item);
                }
                if let Err(error) = outcome {
                    let server_failed =
                        !matches!(&error, Error::Server { kind: ServerErrorKind::Reply(_), .. });
                    if server_failed && round < self.inner.replicas {
                        retry.extend(groups[server].iter().copied());
                    }
                    result.failures.push(ServerFailure {
                        server: self.inner.slots[server].name.clone(),
                        error,
                    });
                }
            }
            pending = retry;
            round += 1;
        }
        Ok(result)
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
        self.inner.poll_probes();
        let encode = &encode;
        let replies = join_all(
            (0..self.inner.slots.len())
                .map(|i| async move { self.inner.run_one(i, encode, expect).await }),
        )
        .await;
        replies
            .into_iter()
            .enumerate()
            .map(|(i, reply)| {
                let name = self.inner.slots[i].name.clone();
                let value = reply.and_then(|r| {
                    convert(r).ok_or_else(|| self.inner.protocol(i, "a broadcast command"))
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
            |r| matches!(r, Reply::Status(Status::Ok)).then_some(()),
        )
        .await
    }

    /// `verbosity <level>` on every server.
    pub async fn verbosity(&self, level: u32) -> Vec<(String, Result<()>)> {
        self.broadcast(
            |out| Request::Verbosity { level, noreply: false }.encode(out),
            Expect::Status,
            |r| matches!(r, Reply::Status(Status::Ok)).then_some(()),
        )
        .await
    }

    /// A meta command on the key's server: `verb` is `mg`, `ms`, `md` or `ma`; `flags` are
    /// the request flags as tokens (`v`, `c`, `T30`, `MI` …). The quiet flag `q` is refused
    /// here (nothing would answer); use `noreply`-style commands or a pipeline for that.
    pub async fn meta(
        &self,
        verb: &str,
        key: impl AsRef<[u8]>,
        value: Option<&[u8]>,
        flags: &[&str],
    ) -> Result<MetaResponse> {
        let key = key.as_ref();
        let parts = self.inner.key_parts(key)?;
        let (key, route_key) = (parts.wire(), parts.hashed());
        for flag in flags {
            validate_token(flag)?;
            if *flag == "q" {
                return Err(Error::BadArgument(
                    "the q (quiet) flag is not supported on single meta calls",
                ));
            }
        }
        let command = match verb {
            "mg" => MetaCommand::Get,
            "ms" => MetaCommand::Set,
            "md" => MetaCommand::Delete,
            "ma" => MetaCommand::Arithmetic,
            "me" => MetaCommand::Debug,
            _ => return Err(Error::BadArgument("meta verb must be mg, ms, md, ma or me")),
        };
        if (verb == "ms") != value.is_some() {
            return Err(Error::BadArgument("ms takes a value, the other meta commands do not"));
        }
        let encode = |out: &mut Vec<u8>| {
            let mut scratch = Vec::new();
            encode_meta_command(out, command, key, value, flags, &mut scratch)
        };
        let read_only = verb == "mg" || verb == "me";
        if read_only {
            // Reads go to the owner; with replication they fail over along the replicas when
            // a server fails (an answer, even a miss, ends the search).
            let targets = if self.inner.replicas == 0 {
                vec![self.inner.route(route_key)?]
            } else {
                self.inner.successors(route_key, 1 + self.inner.replicas)
            };
            let mut last_error = Error::NoServer;
            for index in targets {
                match self.inner.run_one(index, &encode, Expect::Meta).await {
                    Ok(Reply::Meta(m)) => return Ok(m),
                    Ok(_) => return Err(self.inner.protocol(index, "a meta command")),
                    Err(e @ Error::Server { kind: ServerErrorKind::Reply(_), .. }) => {
                        return Err(e)
                    }
                    Err(e) => last_error = e,
                }
            }
            return Err(last_error);
        }
        match self.write_routed(route_key, encode, Expect::Meta).await? {
            (_, Reply::Meta(m)) => Ok(m),
            (index, _) => Err(self.inner.protocol(index, "a meta command")),
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
        Pipeline { client: self, ops: Vec::new() }
    }
}

/// One queued pipeline command.
#[derive(Debug, Clone)]
enum PipelineOp {
    Get(Bytes),
    Store(StoreCommand, Bytes, Bytes, StoreOptions),
    Delete(Bytes),
    Touch(Bytes, i32),
    Arithmetic(ArithmeticCommand, Bytes, u64),
    Meta(MetaCommand, Bytes, Option<Bytes>, Vec<String>),
}

impl PipelineOp {
    fn key(&self) -> &Bytes {
        match self {
            PipelineOp::Get(k)
            | PipelineOp::Store(_, k, _, _)
            | PipelineOp::Delete(k)
            | PipelineOp::Touch(k, _)
            | PipelineOp::Arithmetic(_, k, _)
            | PipelineOp::Meta(_, k, _, _) => k,
        }
    }

    fn expect(&self) -> Expect {
        match self {
            PipelineOp::Get(_) => Expect::Values,
            PipelineOp::Store(..) | PipelineOp::Delete(_) | PipelineOp::Touch(..) => Expect::Status,
            PipelineOp::Arithmetic(..) => Expect::Number,
            PipelineOp::Meta(..) => Expect::Meta,
        }
    }

    /// Encodes the command with `k`, the key as sent (namespace prefix applied).
    fn encode(&self, k: &[u8], out: &mut Vec<u8>, scratch: &mut Vec<u8>) {
        match self {
            PipelineOp::Get(_) => encode_keys_line(out, Read::Get, &[k]),
            PipelineOp::Store(c, _, v, o) => encode_store(out, *c, k, v, *o),
            PipelineOp::Delete(_) => encode_delete(out, k, false),
            PipelineOp::Touch(_, exptime) => encode_touch(out, k, *exptime, false),
            PipelineOp::Arithmetic(c, _, delta) => encode_arithmetic(out, *c, k, *delta, false),
            PipelineOp::Meta(c, _, v, flags) => {
                let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
                encode_meta_command(out, *c, k, v.as_deref(), &flags, scratch)
            }
        }
    }

    fn reply(&self, reply: Reply) -> Option<PipelineReply> {
        Some(match (self, reply) {
            (PipelineOp::Get(_), Reply::Values(values)) => {
                PipelineReply::Item(values.into_iter().next().map(|(_, item)| item))
            }
            (PipelineOp::Store(..), Reply::Status(status)) => PipelineReply::Store(match status {
                Status::Stored => StoreOutcome::Stored,
                Status::NotStored => StoreOutcome::NotStored,
                Status::Exists => StoreOutcome::Exists,
                Status::NotFound => StoreOutcome::NotFound,
                _ => return None,
            }),
            (PipelineOp::Delete(_), Reply::Status(Status::Deleted)) => PipelineReply::Deleted(true),
            (PipelineOp::Delete(_), Reply::Status(Status::NotFound)) => {
                PipelineReply::Deleted(false)
            }
            (PipelineOp::Touch(..), Reply::Status(Status::Touched)) => PipelineReply::Touched(true),
            (PipelineOp::Touch(..), Reply::Status(Status::NotFound)) => {
                PipelineReply::Touched(false)
            }
            (PipelineOp::Arithmetic(..), Reply::Number(n)) => PipelineReply::Number(Some(n)),
            (PipelineOp::Arithmetic(..), Reply::Status(Status::NotFound)) => {
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
    /// The quiet flag `q` is not accepted (every queued command gets an answer).
    pub fn meta(
        &mut self,
        verb: &str,
        key: impl Into<Bytes>,
        value: Option<Bytes>,
        flags: &[&str],
    ) -> &mut Self {
        let command = match verb {
            "mg" => Some(MetaCommand::Get),
            "ms" => Some(MetaCommand::Set),
            "md" => Some(MetaCommand::Delete),
            "ma" => Some(MetaCommand::Arithmetic),
            "me" => Some(MetaCommand::Debug),
            _ => None,
        };
        let valid = command.is_some()
            && (verb == "ms") == value.is_some()
            && flags.iter().all(|f| validate_token(f).is_ok() && *f != "q");
        let op = PipelineOp::Meta(
            if valid { command.unwrap_or(MetaCommand::Get) } else { MetaCommand::Noop },
            key.into(),
            value,
            flags.iter().map(|f| f.to_string()).collect(),
        );
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
        let inner = &self.client.inner;
        let mut results: Vec<Option<Result<PipelineReply>>> =
            (0..ops.len()).map(|_| None).collect();
        let mut groups: Vec<Vec<usize>> = vec![Vec::new(); inner.slots.len()];
        let mut wire_keys: Vec<Bytes> = vec![Bytes::new(); ops.len()];
        for (i, op) in ops.iter().enumerate() {
            if matches!(op, PipelineOp::Meta(MetaCommand::Noop, ..)) {
                results[i] = Some(Err(Error::BadArgument(
                    "meta verb must be mg, ms (with a value), md, ma or me, flags without q",
                )));
                continue;
            }
            match inner.key_parts(op.key()).and_then(|k| {
                let server = inner.route(k.hashed())?;
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
                let outcome = inner
                    .run(
                        server,
                        |out| {
                            let mut scratch = Vec::new();
                            for &i in group {
                                ops[i].encode(&wire_keys[i], out, &mut scratch);
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
            let name = &inner.slots[server].name;
            for (at, reply) in replies.into_iter().enumerate() {
                let i = groups[server][at];
                results[i] = Some(match reply {
                    Some(Ok(reply)) => ops[i]
                        .reply(reply)
                        .ok_or_else(|| inner.protocol(server, "a pipelined command")),
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
