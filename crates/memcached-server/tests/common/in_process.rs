//! The command executor in process, without sockets or server threads: for tests of the
//! request path itself (authentication, allocation, properties over arbitrary input).

use std::sync::Arc;

use memcached_server::commands::CommandExecutor;
use memcached_server::config::ServerConfig;
use memcached_server::connection::{After, RequestExecutor, Session, Step};
use memcached_server::counters::WorkerCounters;
use memcached_server::shared::Shared;
use memcached_server::signals::StopLatch;
use memcached_store::{Store, StoreConfig};

/// An executor over a fresh store, and its worker's counters.
pub fn executor(
    config: ServerConfig,
    store: StoreConfig,
) -> (CommandExecutor, Arc<WorkerCounters>) {
    let shared = Arc::new(Shared::new(config, Arc::new(StopLatch::new().expect("latch"))));
    let store = Arc::new(Store::new(store).expect("store"));
    let counters = Arc::new(WorkerCounters::default());
    (CommandExecutor::new(shared, store, Arc::clone(&counters)), counters)
}

/// Runs every request of `input`, which must hold only complete requests, appending the
/// replies to `out`; `after` sees what each request asks of the connection. Allocates nothing
/// itself (the allocation test relies on that).
pub fn execute_all(
    executor: &mut CommandExecutor,
    session: &mut Session,
    input: &[u8],
    out: &mut Vec<u8>,
    mut after: impl FnMut(After),
) {
    let mut pos = 0;
    while pos < input.len() {
        match executor.execute(session, &input[pos..], out) {
            Step::Done { consumed, after: next } => {
                after(next);
                pos += consumed;
            }
            other => panic!("unexpected {other:?} at {:?}", String::from_utf8_lossy(&input[pos..])),
        }
    }
}
