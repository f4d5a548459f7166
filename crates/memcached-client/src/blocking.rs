//! The blocking client: the same core as [`crate::Client`], driven by a private
//! single-threaded tokio runtime.
//!
//! ```text
//!   BlockingClient::get(key) ──► runtime.block_on(Client::get(key)) ──► same routing, pools,
//!                                                                        health, fan-out
//! ```
//!
//! It can be shared between threads (`&self` methods); concurrent calls take turns driving
//! the runtime. Do not call it from inside an async runtime (tokio forbids nested
//! `block_on`); use [`crate::Client`] there.

use crate::builder::ClientBuilder;
use crate::client::{Client, MultiGet, PerServer, ServerStats, StoreCommand};
use crate::error::{Error, Result};
use crate::item::{Item, MetaResponse, StoreOptions, StoreOutcome};
use crate::ServerStatus;

/// A blocking memcached client over a pool of servers.
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

impl BlockingClient {
    /// Starts a [`ClientBuilder`].
    pub fn builder() -> ClientBuilder {
        ClientBuilder::new()
    }

    /// The async client underneath (share it with async code that runs elsewhere).
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

    /// See [`Client::get`].
    pub fn get(&self, key: impl AsRef<[u8]>) -> Result<Option<Item>> {
        self.runtime.block_on(self.client.get(key))
    }

    /// See [`Client::gets`].
    pub fn gets(&self, key: impl AsRef<[u8]>) -> Result<Option<Item>> {
        self.runtime.block_on(self.client.gets(key))
    }

    /// See [`Client::gat`].
    pub fn gat(&self, exptime: i32, key: impl AsRef<[u8]>) -> Result<Option<Item>> {
        self.runtime.block_on(self.client.gat(exptime, key))
    }

    /// See [`Client::gats`].
    pub fn gats(&self, exptime: i32, key: impl AsRef<[u8]>) -> Result<Option<Item>> {
        self.runtime.block_on(self.client.gats(exptime, key))
    }

    /// See [`Client::store`].
    pub fn store(
        &self,
        command: StoreCommand,
        key: impl AsRef<[u8]>,
        value: impl AsRef<[u8]>,
        opts: StoreOptions,
    ) -> Result<StoreOutcome> {
        self.runtime.block_on(self.client.store(command, key, value, opts))
    }

    /// See [`Client::set`].
    pub fn set(
        &self,
        key: impl AsRef<[u8]>,
        value: impl AsRef<[u8]>,
        opts: StoreOptions,
    ) -> Result<StoreOutcome> {
        self.store(StoreCommand::Set, key, value, opts)
    }

    /// See [`Client::add`].
    pub fn add(
        &self,
        key: impl AsRef<[u8]>,
        value: impl AsRef<[u8]>,
        opts: StoreOptions,
    ) -> Result<StoreOutcome> {
        self.store(StoreCommand::Add, key, value, opts)
    }

    /// See [`Client::replace`].
    pub fn replace(
        &self,
        key: impl AsRef<[u8]>,
        value: impl AsRef<[u8]>,
        opts: StoreOptions,
    ) -> Result<StoreOutcome> {
        self.store(StoreCommand::Replace, key, value, opts)
    }

    /// See [`Client::append`].
    pub fn append(
        &self,
        key: impl AsRef<[u8]>,
        value: impl AsRef<[u8]>,
        opts: StoreOptions,
    ) -> Result<StoreOutcome> {
        self.store(StoreCommand::Append, key, value, opts)
    }

    /// See [`Client::prepend`].
    pub fn prepend(
        &self,
        key: impl AsRef<[u8]>,
        value: impl AsRef<[u8]>,
        opts: StoreOptions,
    ) -> Result<StoreOutcome> {
        self.store(StoreCommand::Prepend, key, value, opts)
    }

    /// See [`Client::cas`].
    pub fn cas(
        &self,
        key: impl AsRef<[u8]>,
        value: impl AsRef<[u8]>,
        unique: u64,
        opts: StoreOptions,
    ) -> Result<StoreOutcome> {
        self.store(StoreCommand::Cas(unique), key, value, opts)
    }

    /// See [`Client::set_by_key`].
    pub fn set_by_key(
        &self,
        group: impl AsRef<[u8]>,
        key: impl AsRef<[u8]>,
        value: impl AsRef<[u8]>,
        opts: StoreOptions,
    ) -> Result<StoreOutcome> {
        self.runtime.block_on(self.client.set_by_key(group, key, value, opts))
    }

    /// See [`Client::get_by_key`].
    pub fn get_by_key(
        &self,
        group: impl AsRef<[u8]>,
        key: impl AsRef<[u8]>,
    ) -> Result<Option<Item>> {
        self.runtime.block_on(self.client.get_by_key(group, key))
    }

    /// See [`Client::delete_by_key`].
    pub fn delete_by_key(&self, group: impl AsRef<[u8]>, key: impl AsRef<[u8]>) -> Result<bool> {
        self.runtime.block_on(self.client.delete_by_key(group, key))
    }

    /// See [`Client::get_multi_by_key`].
    pub fn get_multi_by_key<K: AsRef<[u8]>>(
        &self,
        group: impl AsRef<[u8]>,
        keys: &[K],
    ) -> Result<MultiGet> {
        self.runtime.block_on(self.client.get_multi_by_key(group, keys))
    }

    /// See [`Client::delete`].
    pub fn delete(&self, key: impl AsRef<[u8]>) -> Result<bool> {
        self.runtime.block_on(self.client.delete(key))
    }

    /// See [`Client::delete_with`].
    pub fn delete_with(&self, key: impl AsRef<[u8]>, noreply: bool) -> Result<bool> {
        self.runtime.block_on(self.client.delete_with(key, noreply))
    }

    /// See [`Client::touch`].
    pub fn touch(&self, key: impl AsRef<[u8]>, exptime: i32) -> Result<bool> {
        self.runtime.block_on(self.client.touch(key, exptime))
    }

    /// See [`Client::incr`].
    pub fn incr(&self, key: impl AsRef<[u8]>, delta: u64) -> Result<Option<u64>> {
        self.runtime.block_on(self.client.incr(key, delta))
    }

    /// See [`Client::decr`].
    pub fn decr(&self, key: impl AsRef<[u8]>, delta: u64) -> Result<Option<u64>> {
        self.runtime.block_on(self.client.decr(key, delta))
    }

    /// See [`Client::get_multi`].
    pub fn get_multi<K: AsRef<[u8]>>(&self, keys: &[K]) -> Result<MultiGet> {
        self.runtime.block_on(self.client.get_multi(keys))
    }

    /// See [`Client::gets_multi`].
    pub fn gets_multi<K: AsRef<[u8]>>(&self, keys: &[K]) -> Result<MultiGet> {
        self.runtime.block_on(self.client.gets_multi(keys))
    }

    /// See [`Client::version`].
    pub fn version(&self) -> Vec<(String, Result<String>)> {
        self.runtime.block_on(self.client.version())
    }

    /// See [`Client::stats`].
    pub fn stats(&self, group: Option<&str>) -> PerServer<ServerStats> {
        self.runtime.block_on(self.client.stats(group))
    }

    /// See [`Client::flush_all`].
    pub fn flush_all(&self, delay: Option<u32>) -> Vec<(String, Result<()>)> {
        self.runtime.block_on(self.client.flush_all(delay))
    }

    /// See [`Client::verbosity`].
    pub fn verbosity(&self, level: u32) -> Vec<(String, Result<()>)> {
        self.runtime.block_on(self.client.verbosity(level))
    }

    /// See [`Client::meta`].
    pub fn meta(
        &self,
        verb: &str,
        key: impl AsRef<[u8]>,
        value: Option<&[u8]>,
        flags: &[&str],
    ) -> Result<MetaResponse> {
        self.runtime.block_on(self.client.meta(verb, key, value, flags))
    }

    /// See [`Client::meta_get`].
    pub fn meta_get(&self, key: impl AsRef<[u8]>, flags: &[&str]) -> Result<MetaResponse> {
        self.runtime.block_on(self.client.meta_get(key, flags))
    }

    /// See [`Client::meta_set`].
    pub fn meta_set(
        &self,
        key: impl AsRef<[u8]>,
        value: &[u8],
        flags: &[&str],
    ) -> Result<MetaResponse> {
        self.runtime.block_on(self.client.meta_set(key, value, flags))
    }

    /// See [`Client::meta_delete`].
    pub fn meta_delete(&self, key: impl AsRef<[u8]>, flags: &[&str]) -> Result<MetaResponse> {
        self.runtime.block_on(self.client.meta_delete(key, flags))
    }

    /// See [`Client::meta_arithmetic`].
    pub fn meta_arithmetic(&self, key: impl AsRef<[u8]>, flags: &[&str]) -> Result<MetaResponse> {
        self.runtime.block_on(self.client.meta_arithmetic(key, flags))
    }

    /// See [`Client::meta_noop`].
    pub fn meta_noop(&self) -> Vec<(String, Result<()>)> {
        self.runtime.block_on(self.client.meta_noop())
    }

    /// Runs a pipeline built with [`Client::pipeline`] on the async client; see
    /// [`crate::Pipeline::execute`].
    pub fn execute(&self, pipeline: &mut crate::Pipeline<'_>) -> Vec<Result<crate::PipelineReply>> {
        self.runtime.block_on(pipeline.execute())
    }
}
