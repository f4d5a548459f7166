//! `-Y` ASCII authentication in the command executor (in process: the command line does not
//! accept `-Y` yet, see tests/differential.rs `ascii_auth_matches_memcached`).

use std::sync::Arc;

use memcached_server::commands::CommandExecutor;
use memcached_server::config::{Credentials, ServerConfig};
use memcached_server::connection::{After, RequestExecutor, Session, Step};
use memcached_server::counters::WorkerCounters;
use memcached_server::shared::Shared;
use memcached_server::signals::StopLatch;
use memcached_store::{Store, StoreConfig};

fn executor() -> (CommandExecutor, Arc<WorkerCounters>) {
    let config = ServerConfig {
        auth: Some(Arc::from(vec![Credentials {
            user: b"alice".to_vec(),
            password: b"secret".to_vec(),
        }])),
        ..ServerConfig::default()
    };
    let shared = Arc::new(Shared::new(config, Arc::new(StopLatch::new().expect("latch"))));
    let store = Arc::new(Store::new(StoreConfig::default()).expect("store"));
    let counters = Arc::new(WorkerCounters::default());
    (CommandExecutor::new(shared, store, Arc::clone(&counters)), counters)
}

fn run(exec: &mut CommandExecutor, session: &mut Session, input: &[u8]) -> (Vec<u8>, After) {
    let mut out = Vec::new();
    let mut pos = 0;
    let mut last = After::Continue;
    while pos < input.len() && last == After::Continue {
        match exec.execute(session, &input[pos..], &mut out) {
            Step::Done { consumed, after } => {
                pos += consumed;
                last = after;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    (out, last)
}

#[test]
fn commands_before_auth_are_refused_and_close() {
    let (mut exec, _) = executor();
    let mut session = Session::default();
    let (out, after) = run(&mut exec, &mut session, b"get a\r\nversion\r\n");
    assert_eq!(out, b"CLIENT_ERROR unauthenticated\r\n");
    assert_eq!(after, After::Close);
}

#[test]
fn wrong_password_is_refused_and_counted() {
    let (mut exec, counters) = executor();
    let mut session = Session::default();
    let (out, after) = run(&mut exec, &mut session, b"set x 0 0 10\r\nalice oops\r\nget a\r\n");
    assert_eq!(out, b"CLIENT_ERROR unauthenticated\r\n");
    assert_eq!(after, After::Close);
    assert_eq!(counters.auth_cmds.load(std::sync::atomic::Ordering::Relaxed), 1);
    assert_eq!(counters.auth_errors.load(std::sync::atomic::Ordering::Relaxed), 1);
    assert!(!session.authenticated);
}

#[test]
fn good_credentials_unlock_the_connection_even_with_noreply() {
    let (mut exec, _) = executor();
    let mut session = Session::default();
    let (out, after) = run(
        &mut exec,
        &mut session,
        b"set x 0 0 12 noreply\r\nalice secret\r\nset a 0 0 1\r\n1\r\nget a\r\n",
    );
    assert_eq!(out, b"STORED\r\nSTORED\r\nVALUE a 0 1\r\n1\r\nEND\r\n");
    assert_eq!(after, After::Continue);
    assert!(session.authenticated);
}
