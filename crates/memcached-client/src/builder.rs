//! [`ClientBuilder`]: servers, distribution, timeouts, pool size, failure policy,
//! replication and key namespace, then `build()` / `build_blocking()`.

use crate::client::Client;
use crate::error::{Error, Result};
use crate::health::{Health, HealthPolicy};
use crate::pool::{ServerPool, ServerSlot, SlotCounters};
use bytes::Bytes;
use memcached_router::{Router, RouterConfig, Server};
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
use tokio::sync::Semaphore;

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
    retries: usize,
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
            retries: 0,
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

    /// Whether a refused connection marks the server down at once (default false; see
    /// [`HealthPolicy::down_on_refused`]).
    pub fn down_on_refused(mut self, yes: bool) -> ClientBuilder {
        self.health.down_on_refused = yes;
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

    /// Without replication: retry a single-key request up to `retries` times after a server
    /// failure, routing again each time (default 0). With [`ClientBuilder::replicas`] this
    /// setting is not used: writes already go to every replica and reads fail over along them. With ejection on, a retry after the failure that took the
    /// server down goes to its ring neighbour. Retried writes may be applied twice; for a
    /// cache that is usually fine (`add`/`cas` may then report "not stored").
    pub fn retries(mut self, retries: usize) -> ClientBuilder {
        self.retries = retries;
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
        let router =
            Router::new(self.servers, self.router).map_err(|e| Error::Config(e.to_string()))?;
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
            pool: Arc::new(ServerPool {
                slots,
                ring: RwLock::new(router),
                connect_timeout: self.connect_timeout,
                io_timeout: self.io_timeout,
                pool_timeout: self.pool_timeout.unwrap_or(self.io_timeout),
                idle_timeout: self.idle_timeout,
                policy: self.health,
                replicas: self.replicas,
                retries: self.retries,
                down: AtomicUsize::new(0),
                prefix: Bytes::from(self.prefix),
                hash_with_prefix: self.hash_with_prefix,
            }),
        })
    }
}
