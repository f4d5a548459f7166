//! Starting and stopping: signals (SIGTERM, SIGINT, SIGUSR1), `shutdown` with `-A`, the
//! default command line, `-t`/`-R` reported in stats.

mod common;

use std::time::Duration;

use common::ServerProcess;

#[test]
fn sigterm_and_sigint_stop_cleanly() {
    for signo in [libc::SIGTERM, libc::SIGINT] {
        let mut server = ServerProcess::ours().start();
        let mut c = server.connect();
        c.roundtrip("version\r\n", "VERSION 1.6.18\r\n");
        server.signal(signo);
        assert_eq!(server.wait_exit(Duration::from_secs(10)), Some(0), "signal {signo}");
        assert!(c.closed_within(Duration::from_secs(5)));
    }
}

#[test]
fn sighup_is_ignored() {
    let mut server = ServerProcess::ours().start();
    server.signal(libc::SIGHUP);
    std::thread::sleep(Duration::from_millis(200));
    assert!(server.is_running(), "SIGHUP must not stop the server");
    let mut c = server.connect();
    c.roundtrip("version\r\n", "VERSION 1.6.18\r\n");
}

#[test]
fn sigusr1_stops_gracefully_and_removes_the_unix_socket() {
    let mut server = ServerProcess::ours().unix().args(["-vv"]).start();
    let path = server.unix_path.clone().expect("path");
    let mut c = server.connect();
    c.roundtrip("version\r\n", "VERSION 1.6.18\r\n");
    server.signal(libc::SIGUSR1);
    assert_eq!(server.wait_exit(Duration::from_secs(15)), Some(0));
    assert!(!path.exists(), "the UNIX socket file is removed on exit");
    assert!(server.log().contains("Gracefully stopping"), "{}", server.log());
}

#[test]
fn shutdown_command_needs_dash_a() {
    let mut server = ServerProcess::ours().args(["-A"]).start();
    let mut c = server.connect();
    c.roundtrip("shutdown foo\r\n", "CLIENT_ERROR invalid shutdown mode\r\n");
    c.send("shutdown\r\n");
    assert_eq!(server.wait_exit(Duration::from_secs(10)), Some(0));

    let mut graceful = ServerProcess::ours().args(["-A"]).start();
    let mut c = graceful.connect();
    c.send("shutdown graceful\r\n");
    assert_eq!(graceful.wait_exit(Duration::from_secs(15)), Some(0));
}

#[test]
fn threads_and_reqs_per_event_are_honoured() {
    let server = ServerProcess::ours().args(["-t", "2", "-R", "1"]).start();
    let mut c = server.connect();
    assert_eq!(c.stat("", "threads").as_deref(), Some("2"));
    assert_eq!(c.stat("settings", "reqs_per_event").as_deref(), Some("1"));
    // With -R 1 a pipelined batch is served one request per turn (conn_yields counts them),
    // and every reply still arrives in order.
    let batch = "version\r\n".repeat(50);
    c.roundtrip(&batch, "VERSION 1.6.18\r\n".repeat(50));
    let yields: u64 = c.stat("", "conn_yields").expect("conn_yields").parse().expect("number");
    assert!(yields > 0, "conn_yields should count -R yields");
}

#[test]
fn verbose_logging_goes_to_stderr() {
    let server = ServerProcess::ours().args(["-vv"]).start();
    let mut c = server.connect();
    c.roundtrip("version\r\n", "VERSION 1.6.18\r\n");
    drop(c);
    std::thread::sleep(Duration::from_millis(300));
    let log = server.log();
    assert!(log.contains("new auto-negotiating client connection"), "{log}");
    assert!(log.contains(" version\n"), "{log}");
    assert!(log.contains(" VERSION 1.6.18\n"), "{log}");
    assert!(log.contains("connection closed."), "{log}");
}

#[test]
fn maintenance_tick_reclaims_expired_items_without_access() {
    let server = ServerProcess::ours().start();
    let mut c = server.connect();
    let mut batch = String::new();
    for i in 0..200 {
        batch.push_str(&format!("set exp{i} 0 1 1 noreply\r\nx\r\n"));
    }
    batch.push_str("set keep 0 0 1\r\ny\r\n");
    c.roundtrip(&batch, "STORED\r\n");
    assert_eq!(c.stat("", "curr_items").as_deref(), Some("201"));
    // Nothing reads the expired keys: only the background reclaimer can free them.
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while c.stat("", "curr_items").as_deref() != Some("1") {
        assert!(std::time::Instant::now() < deadline, "expired items were never reclaimed");
        std::thread::sleep(Duration::from_millis(200));
    }
    let reclaimed: u64 = c.stat("", "crawler_reclaimed").expect("stat").parse().expect("number");
    assert!(reclaimed >= 200, "crawler_reclaimed {reclaimed}");
    c.roundtrip("get keep\r\n", "VALUE keep 0 1\r\ny\r\nEND\r\n");
}
