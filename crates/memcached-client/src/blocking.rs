//! The blocking client: the same core as [`crate::Client`], driven by a private
//! single-threaded tokio runtime.
//!
//! ```text
//!   BlockingClient::get(key) ──► runtime.block_on(Client::get(key)) ──► same routing, pools,
//!                                                                        health, fan-out
//! ```
//!
//! It can be shared between threads (`&self` methods); concurrent calls take turns driving
//! the runtime. Every method is the [`crate::Client`] method of the same name and arguments,
//! run to completion with tokio's `Runtime::block_on`.
//!
//! # Panics
//!
//! tokio's `block_on` panics when it is called from inside an async runtime context (an async
//! task, or the future of another `block_on`), so every method of a [`BlockingClient`] does
//! too. Use [`crate::Client`] in async code, or call the blocking client from
//! `tokio::task::spawn_blocking`. Nothing here panics on anything a server sends.

use crate::builder::ClientBuilder;
use crate::client::{Client, MultiGet, PerServer, ServerStats, StoreCommand};
use crate::error::{Error, Result};
use crate::item::{Item, MetaResponse, StoreOptions, StoreOutcome};
use crate::pipeline::{Pipeline, PipelineReply};
use crate::ServerStatus;

/// A blocking memcached client over a pool of servers.
///
/// # Panics
///
/// Every method that talks to a server panics when called from inside an async runtime
/// (tokio forbids nested `block_on`). Use [`Client`] in async code, or call this from
/// `tokio::task::spawn_blocking`.
#[derive(Debug)]
pub struct BlockingClient {
    client: Client,
    runtime: tokio::runtime::Runtime,
}

impl ClientBuilder {
    /// Builds a [`BlockingClient`].
    pub fn build_blocking(self) -> Result<BlockingClient> {
        let client = self.build()?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::Config(format!("cannot start the I/O runtime: {e}")))?;
        Ok(BlockingClient { client, runtime })
    }
}

/// Defines blocking methods that run the [`Client`] method of the same name and arguments on
/// the private runtime.
macro_rules! blocking_methods {
    ($(fn $name:ident $(<$generic:ident: $bound:path>)? (&self $(, $arg:ident: $ty:ty)*) -> $ret:ty;)*) => {
        $(
            #[doc = concat!("See [`Client::", stringify!($name), "`].")]
            pub fn $name $(<$generic: $bound>)? (&self $(, $arg: $ty)*) -> $ret {
                self.runtime.block_on(self.client.$name($($arg),*))
            }
        )*
    };
}

impl BlockingClient {
    /// Starts a [`ClientBuilder`].
    pub fn builder() -> ClientBuilder {
        ClientBuilder::new()
    }

    /// The async client underneath, to build a [`Pipeline`] for [`BlockingClient::execute`].
    ///
    /// Run its futures only through this blocking client: the pooled connections are
    /// registered with the private runtime, which makes progress only while a blocking call
    /// is running, so awaiting them on another runtime can stall until the I/O timeout.
    pub fn async_client(&self) -> &Client {
        &self.client
    }

    /// See [`Client::servers`].
    pub fn servers(&self) -> Vec<String> {
        self.client.servers()
    }

    /// See [`Client::server_for_key`].
    pub fn server_for_key(&self, key: &[u8]) -> Option<String> {
        self.client.server_for_key(key)
    }

    /// See [`Client::server_status`].
    pub fn server_status(&self) -> Vec<ServerStatus> {
        self.client.server_status()
    }

    blocking_methods! {
        fn get(&self, key: impl AsRef<[u8]>) -> Result<Option<Item>>;
        fn gets(&self, key: impl AsRef<[u8]>) -> Result<Option<Item>>;
        fn gat(&self, exptime: i32, key: impl AsRef<[u8]>) -> Result<Option<Item>>;
        fn gats(&self, exptime: i32, key: impl AsRef<[u8]>) -> Result<Option<Item>>;
        fn store(
            &self,
            command: StoreCommand,
            key: impl AsRef<[u8]>,
            value: impl AsRef<[u8]>,
            opts: StoreOptions
        ) -> Result<StoreOutcome>;
        fn set(&self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>, opts: StoreOptions)
            -> Result<StoreOutcome>;
        fn add(&self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>, opts: StoreOptions)
            -> Result<StoreOutcome>;
        fn replace(&self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>, opts: StoreOptions)
            -> Result<StoreOutcome>;
        fn append(&self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>, opts: StoreOptions)
            -> Result<StoreOutcome>;
        fn prepend(&self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>, opts: StoreOptions)
            -> Result<StoreOutcome>;
        fn cas(
            &self,
            key: impl AsRef<[u8]>,
            value: impl AsRef<[u8]>,
            unique: u64,
            opts: StoreOptions
        ) -> Result<StoreOutcome>;
        fn store_by_key(
            &self,
            command: StoreCommand,
            group: impl AsRef<[u8]>,
            key: impl AsRef<[u8]>,
            value: impl AsRef<[u8]>,
            opts: StoreOptions
        ) -> Result<StoreOutcome>;
        fn set_by_key(
            &self,
            group: impl AsRef<[u8]>,
            key: impl AsRef<[u8]>,
            value: impl AsRef<[u8]>,
            opts: StoreOptions
        ) -> Result<StoreOutcome>;
        fn get_by_key(&self, group: impl AsRef<[u8]>, key: impl AsRef<[u8]>)
            -> Result<Option<Item>>;
        fn delete_by_key(&self, group: impl AsRef<[u8]>, key: impl AsRef<[u8]>) -> Result<bool>;
        fn get_multi_by_key<K: AsRef<[u8]>>(&self, group: impl AsRef<[u8]>, keys: &[K])
            -> Result<MultiGet>;
        fn delete(&self, key: impl AsRef<[u8]>) -> Result<bool>;
        fn delete_with(&self, key: impl AsRef<[u8]>, noreply: bool) -> Result<bool>;
        fn touch(&self, key: impl AsRef<[u8]>, exptime: i32) -> Result<bool>;
        fn incr(&self, key: impl AsRef<[u8]>, delta: u64) -> Result<Option<u64>>;
        fn decr(&self, key: impl AsRef<[u8]>, delta: u64) -> Result<Option<u64>>;
        fn incr_noreply(&self, key: impl AsRef<[u8]>, delta: u64, decrement: bool) -> Result<()>;
        fn get_multi<K: AsRef<[u8]>>(&self, keys: &[K]) -> Result<MultiGet>;
        fn gets_multi<K: AsRef<[u8]>>(&self, keys: &[K]) -> Result<MultiGet>;
        fn version(&self) -> PerServer<String>;
        fn stats(&self, group: Option<&str>) -> PerServer<ServerStats>;
        fn flush_all(&self, delay: Option<u32>) -> PerServer<()>;
        fn verbosity(&self, level: u32) -> PerServer<()>;
        fn meta(
            &self,
            verb: &str,
            key: impl AsRef<[u8]>,
            value: Option<&[u8]>,
            flags: &[&str]
        ) -> Result<MetaResponse>;
        fn meta_get(&self, key: impl AsRef<[u8]>, flags: &[&str]) -> Result<MetaResponse>;
        fn meta_set(&self, key: impl AsRef<[u8]>, value: &[u8], flags: &[&str])
            -> Result<MetaResponse>;
        fn meta_delete(&self, key: impl AsRef<[u8]>, flags: &[&str]) -> Result<MetaResponse>;
        fn meta_arithmetic(&self, key: impl AsRef<[u8]>, flags: &[&str]) -> Result<MetaResponse>;
        fn meta_noop(&self) -> PerServer<()>;
        fn admin(&self, request: &crate::Request<'_>) -> Result<PerServer<crate::AdminReply>>;
    }

    /// Runs a pipeline built with [`Client::pipeline`] (on [`BlockingClient::async_client`]);
    /// see [`Pipeline::execute`].
    pub fn execute(&self, pipeline: &mut Pipeline<'_>) -> Vec<Result<PipelineReply>> {
        self.runtime.block_on(pipeline.execute())
    }
}
