//! The shared state behind a client: one [`ServerSlot`] per server (connection pool, health,
//! counters), the ring, and the request runner every command goes through.
//!
//! ```text
//!  ServerPool
//!   ├─ ring: RwLock<Router>            key → server index (rebuilt on eject / restore)
//!   └─ slots[i]: ServerSlot
//!        ├─ health: Mutex<Health>      Up → Down → Probing → Up      (health.rs)
//!        ├─ permits: Semaphore         at most N connections
//!        ├─ idle: Mutex<Vec<Connection>>
//!        └─ counters                   requests, failures, times down, probes
//!
//!  run(i, encode, expects, sink):
//!    check health ─► take a permit (pool timeout) ─► idle connection or connect (connect
//!    timeout) ─► encode into conn.out ─► flush ─► read every reply (I/O timeout)
//!      ok / error reply      ─► connection back to idle, health.on_success
//!      I/O, timeout, garbage ─► connection dropped, health.on_failure
//!                                └─ went down: eject i from the ring (within the cap)
//!  Down servers are probed (`version` on a fresh connection) when their retry time comes.
//! ```

use crate::connection::{Connection, Expect, Reply};
use crate::error::{check_key, Error, Result, ServerErrorKind};
use crate::health::{Availability, Health, HealthPolicy, Transition};
use bytes::Bytes;
use memcached_codec::Request;
use memcached_router::{Router, Server};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

/// One server: address, pool and health.
#[derive(Debug)]
pub(crate) struct ServerSlot {
    pub(crate) server: Server,
    pub(crate) name: String,
    pub(crate) idle: Mutex<Vec<Connection>>,
    pub(crate) permits: Semaphore,
    pub(crate) health: Mutex<Health>,
    pub(crate) counters: SlotCounters,
}

/// Per-server counters shown by [`Client::server_status`].
#[derive(Debug, Default)]
pub(crate) struct SlotCounters {
    pub(crate) requests: AtomicU64,
    pub(crate) failures: AtomicU64,
    pub(crate) marked_down: AtomicU64,
    pub(crate) probes: AtomicU64,
}

#[derive(Debug)]
pub(crate) struct ServerPool {
    pub(crate) slots: Vec<ServerSlot>,
    pub(crate) ring: RwLock<Router>,
    pub(crate) connect_timeout: Duration,
    pub(crate) io_timeout: Duration,
    pub(crate) pool_timeout: Duration,
    pub(crate) idle_timeout: Duration,
    pub(crate) policy: HealthPolicy,
    pub(crate) replicas: usize,
    /// Extra attempts of a single-key request after a server failure.
    pub(crate) retries: usize,
    /// Number of servers not Up (skip probe scans when 0).
    pub(crate) down: AtomicUsize,
    /// Namespace prepended to every key on the wire (php `OPT_PREFIX_KEY`).
    pub(crate) prefix: Bytes,
    /// Whether the prefix is part of the hashed key (php `OPT_HASH_WITH_PREFIX_KEY`).
    pub(crate) hash_with_prefix: bool,
}

/// A key as sent (namespace prefix applied) and as hashed.
pub(crate) struct KeyParts<'a> {
    wire: std::borrow::Cow<'a, [u8]>,
    hashed: std::borrow::Cow<'a, [u8]>,
}

impl KeyParts<'_> {
    pub(crate) fn wire(&self) -> &[u8] {
        &self.wire
    }

    pub(crate) fn hashed(&self) -> &[u8] {
        &self.hashed
    }
}

pub(crate) fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl ServerPool {
    /// Validates `key` and applies the namespace prefix.
    pub(crate) fn key_parts<'a>(&self, key: &'a [u8]) -> Result<KeyParts<'a>> {
        self.key_parts_grouped(key, None)
    }

    pub(crate) fn prefixed<'a>(&self, key: &'a [u8]) -> Result<std::borrow::Cow<'a, [u8]>> {
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
    pub(crate) fn key_parts_grouped<'a>(
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

    pub(crate) fn router(&self) -> std::sync::RwLockReadGuard<'_, Router> {
        self.ring.read().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn set_on_ring(&self, index: usize, live: bool) {
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

    pub(crate) fn record_failure(&self, index: usize, hard: bool) {
        let slot = &self.slots[index];
        let now = Instant::now();
        let transition = if hard {
            lock(&slot.health).on_hard_failure(now, &self.policy)
        } else {
            lock(&slot.health).on_failure(now, &self.policy)
        };
        if transition == Transition::WentDown {
            slot.counters.marked_down.fetch_add(1, Ordering::Relaxed);
            self.down.fetch_add(1, Ordering::SeqCst);
            lock(&slot.idle).clear();
            self.set_on_ring(index, false);
        }
    }

    pub(crate) fn record_success(&self, index: usize) {
        let transition = lock(&self.slots[index].health).on_success();
        if transition == Transition::CameBack {
            self.down.fetch_sub(1, Ordering::SeqCst);
            self.set_on_ring(index, true);
        }
    }

    /// Starts probes of down servers whose retry time has come (spawned on the current
    /// runtime, so the calling request is not delayed).
    pub(crate) fn poll_probes(self: &Arc<Self>) {
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
    pub(crate) async fn probe(&self, index: usize) -> bool {
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

    pub(crate) fn route(self: &Arc<Self>, key: &[u8]) -> Result<usize> {
        self.poll_probes();
        self.router().server_index(key).ok_or(Error::NoServer)
    }

    pub(crate) fn successors(self: &Arc<Self>, key: &[u8], count: usize) -> Vec<usize> {
        self.poll_probes();
        let mut out = Vec::with_capacity(count);
        self.router().successors(key, count, &mut out);
        out
    }

    /// Runs pipelined requests on one connection to server `index`: `encode` writes them all,
    /// `expects` lists their replies in order, `sink` receives each reply.
    pub(crate) async fn run<E, S>(
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
        // Held until this function returns: the connection goes back to `idle` (or is dropped)
        // before another request can take the permit.
        let _permit = match tokio::time::timeout(self.pool_timeout, slot.permits.acquire()).await {
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
                // The most recently used connection first; one idle for too long (the server or
                // a NAT may have closed it) is dropped, and the next one is tried.
                std::iter::from_fn(|| idle.pop())
                    .find(|c| c.last_used.elapsed() < self.idle_timeout)
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
                            let refused = matches!(&kind, ServerErrorKind::Connect(e)
                                if e.kind() == std::io::ErrorKind::ConnectionRefused);
                            self.fail_with(index, probing, refused);
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
                    self.record_success(index);
                    return match reply_error {
                        None => Ok(()),
                        Some(kind) => Err(Error::on(&slot.name, kind)),
                    };
                }
                Ok(Err(ServerErrorKind::Io(_)))
                    if reused && conn.units == units_before && delivered == 0 && attempt == 1 =>
                {
                    // An idle connection the server had closed: retry once on a fresh one.
                    continue;
                }
                Ok(Err(kind)) => {
                    self.fail(index, probing);
                    return Err(Error::on(&slot.name, kind));
                }
                Err(_) => {
                    self.fail(index, probing);
                    return Err(Error::on(&slot.name, ServerErrorKind::Timeout(self.io_timeout)));
                }
            }
        }
    }

    pub(crate) fn fail(&self, index: usize, probing: bool) {
        self.fail_with(index, probing, false)
    }

    /// Records a failure; `hard` for a refused connection.
    pub(crate) fn fail_with(&self, index: usize, probing: bool, hard: bool) {
        self.slots[index].counters.failures.fetch_add(1, Ordering::Relaxed);
        if probing {
            lock(&self.slots[index].health).on_failure(Instant::now(), &self.policy);
        } else {
            self.record_failure(index, hard);
        }
    }

    pub(crate) async fn run_one<E>(&self, index: usize, encode: E, expect: Expect) -> Result<Reply>
    where
        E: Fn(&mut Vec<u8>) + Send + Sync,
    {
        let mut out = None;
        self.run(index, encode, &[expect], |_, reply| out = reply.ok()).await?;
        out.ok_or_else(|| {
            Error::on(&self.slots[index].name, ServerErrorKind::Protocol("no reply".into()))
        })
    }

    pub(crate) fn protocol(&self, index: usize, what: &str) -> Error {
        Error::on(
            &self.slots[index].name,
            ServerErrorKind::Protocol(format!("unexpected reply to {what}")),
        )
    }
}
