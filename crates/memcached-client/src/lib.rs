//! A memcached client for pools of servers: async (tokio) and blocking, libmemcached-compatible
//! key routing, per-server connection pools with pipelining, and failure handling in the
//! manner of libmemcached and mcrouter.
//!
//! ```text
//!   Client / BlockingClient
//!     │  key ─► memcached-router (ketama | modula, bit-exact with libmemcached/php-memcached)
//!     ▼
//!   ServerSlot per server ── Semaphore-bounded pool of pipelined TCP connections
//!     │                    └─ Health: Up ─(N failures)─► Down ─(retry time)─► Probing ─► Up
//!     ▼                          └─ ejected from / restored to the ring
//!   memcached-codec: request encoders out, decode_response in (text + meta protocol)
//! ```
//!
//! * Every classic command (`get gets gat gats set add replace append prepend cas delete incr
//!   decr touch flush_all version verbosity stats`), the meta commands (`mg ms md ma mn me`)
//!   and the codec's administrative commands through [`Client::admin`].
//! * `noreply` on storage, delete and incr/decr; the connection resynchronises with `mn`
//!   before its next answered request, so a late error line cannot shift replies.
//! * Multi-get fans out to all servers at once and returns partial results with per-server
//!   errors ([`MultiGet`]). [`Pipeline`] sends many commands per server in one round trip.
//! * A server that fails `failure_limit` times in a row is marked down and (by default)
//!   ejected from the ring; after `retry_interval` it is probed with `version` and re-added.
//!   Every error names its server ([`Error::server`]).
//! * Optional replication ([`ClientBuilder::replicas`]): writes go to the next K servers on
//!   the ring, reads fail over along them.
//! * [`BlockingClient`] runs the same core on a private current-thread runtime; like every
//!   tokio `block_on`, it panics when called from inside an async runtime.
//! * php-memcached interop beyond placement: a key namespace ([`ClientBuilder::key_prefix`],
//!   `OPT_PREFIX_KEY`, unhashed by default), group keys ([`Client::set_by_key`],
//!   `setByKey`) and reading what PHP stored ([`php::decode`]: FastLZ/zlib decompression and
//!   PHP's value types).
//!
//! Modules: `builder` (configuration), `client` (commands, routing, fan-out), `pool`
//! (per-server slots and the request runner), `pipeline`, `connection` (one TCP connection),
//! [`health`] (the failure state machine), [`wire`] (codec glue), [`error`].
//!
//! ```no_run
//! # async fn demo() -> Result<(), memcached_client::Error> {
//! use memcached_client::{Client, StoreOptions};
//! let client = Client::builder()
//!     .servers(["10.0.0.1:11211", "10.0.0.2:11211", "10.0.0.3:11211"])
//!     .build()?;
//! client.set("key", "value", StoreOptions::default()).await?;
//! assert_eq!(client.get("key").await?.unwrap().value.as_ref(), b"value");
//! # Ok(()) }
//! ```
//!
//! Requests are encoded and replies decoded with `memcached-codec`'s client-side API
//! (`encode_storage`, `encode_retrieval`, `encode_meta`, …, `decode_response`); [`wire`] maps
//! its reply elements onto the client's types.

mod blocking;
mod builder;
mod client;
mod connection;
pub mod error;
pub mod fastlz;
pub mod health;
mod item;
mod join;
pub mod php;
mod pipeline;
mod pool;
pub mod wire;

pub use blocking::BlockingClient;
pub use builder::ClientBuilder;
pub use client::{
    AdminReply, Client, MultiGet, PerServer, ServerStats, ServerStatus, StoreCommand,
};
pub use error::{Error, Result, ServerErrorKind, ServerFailure};
pub use health::HealthPolicy;
pub use item::{Item, MetaResponse, StoreOptions, StoreOutcome};
pub use memcached_codec::{
    LruCommand, LruCrawlerCommand, Request, SlabsAutomove, StatsDetail, StatsRequest,
};
pub use memcached_router::{Distribution, HashAlgorithm, RouterConfig, Server};
pub use pipeline::{Pipeline, PipelineReply};
pub use wire::MetaCode;
