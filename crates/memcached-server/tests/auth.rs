//! `-Y` ASCII authentication in the command executor, in process (the binary-level
//! comparison with memcached is `tests/differential.rs::ascii_auth_matches_memcached`).

mod common;

use std::sync::Arc;

use memcached_server::commands::CommandExecutor;
use memcached_server::config::{Credentials, ServerConfig};
use memcached_server::connection::{After, Session};
use memcached_server::counters::WorkerCounters;
use memcached_store::StoreConfig;

use common::in_process::execute_all;

fn executor() -> (CommandExecutor, Arc<WorkerCounters>) {
    let config = ServerConfig {
        auth: Some(Arc::from(vec![Credentials {
            user: b"alice".to_vec(),
            password: b"secret".to_vec(),
        }])),
        ..ServerConfig::default()
    };
    common::in_process::executor(config, StoreConfig::default())
}

/// Feeds one read's worth of input; returns the replies.
fn read(exec: &mut CommandExecutor, session: &mut Session, input: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    execute_all(exec, session, input, &mut out, |after| {
        assert_eq!(after, After::Continue, "auth never closes the connection");
    });
    out
}

#[test]
fn commands_before_auth_are_refused_and_the_rest_of_the_read_dropped() {
    let (mut exec, _) = executor();
    let mut session = Session::default();
    assert_eq!(
        read(&mut exec, &mut session, b"get a\r\nversion\r\n"),
        b"CLIENT_ERROR unauthenticated\r\n"
    );
    assert_eq!(read(&mut exec, &mut session, b"version\r\n"), b"CLIENT_ERROR unauthenticated\r\n");
    assert_eq!(
        read(&mut exec, &mut session, b"add x 0 0 12\r\nalice secret\r\n"),
        b"CLIENT_ERROR unauthenticated\r\n"
    );
}

#[test]
fn wrong_or_malformed_credentials_are_refused_and_counted() {
    let (mut exec, counters) = executor();
    let mut session = Session::default();
    assert_eq!(
        read(&mut exec, &mut session, b"set x 0 0 10\r\nalice oops\r\n"),
        b"CLIENT_ERROR authentication failure\r\n"
    );
    assert_eq!(
        read(&mut exec, &mut session, b"set x 0 0 5\r\nalice\r\n"),
        b"CLIENT_ERROR bad authentication token format\r\n"
    );
    assert_eq!(
        read(&mut exec, &mut session, b"set x 0 0 10\r\nalice oops\r\nget a\r\n"),
        b"CLIENT_ERROR unauthenticated\r\n"
    );
    assert_eq!(counters.auth_cmds.load(std::sync::atomic::Ordering::Relaxed), 3);
    assert_eq!(counters.auth_errors.load(std::sync::atomic::Ordering::Relaxed), 3);
    assert!(!session.authenticated);
    // The connection is still usable for a correct attempt.
    assert_eq!(
        read(&mut exec, &mut session, b"set x 0 0 12\r\nalice secret\r\nversion\r\n"),
        b"STORED\r\nVERSION 1.6.18\r\n"
    );
}

#[test]
fn good_credentials_unlock_the_connection_even_with_noreply() {
    let (mut exec, _) = executor();
    let mut session = Session::default();
    let out = read(
        &mut exec,
        &mut session,
        b"set x 0 0 12 noreply\r\nalice secret\r\nset a 0 0 1\r\n1\r\nget a\r\n",
    );
    assert_eq!(out, b"STORED\r\nSTORED\r\nVALUE a 0 1\r\n1\r\nEND\r\n");
    assert!(session.authenticated);
}
