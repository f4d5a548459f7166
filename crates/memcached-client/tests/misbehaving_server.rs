//! Servers that hang, talk nonsense, hang up or dribble: the client times out, reports the
//! server by name, counts the failures, and never panics.

use memcached_client::{Client, Error, ServerErrorKind, StoreOptions};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

/// A scripted server on 127.0.0.1:0: `reply` gets each accepted connection.
fn scripted(reply: fn(TcpStream)) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || reply(stream));
        }
    });
    addr
}

fn read_request(stream: &mut TcpStream) -> bool {
    let mut buf = [0u8; 4096];
    matches!(stream.read(&mut buf), Ok(n) if n > 0)
}

fn client(addr: SocketAddr) -> Client {
    Client::builder()
        .server(&addr.to_string())
        .connect_timeout(Duration::from_millis(300))
        .io_timeout(Duration::from_millis(200))
        .failure_limit(2)
        .retry_interval(Duration::from_secs(60))
        .eject_failed_servers(false)
        .build()
        .unwrap()
}

fn kind(error: Error) -> ServerErrorKind {
    match error {
        Error::Server { kind, .. } => kind,
        other => panic!("expected a server error, got {other}"),
    }
}

#[tokio::test]
async fn a_silent_server_times_out_and_is_marked_down() {
    let addr = scripted(|mut s| while read_request(&mut s) {});
    let c = client(addr);
    let first = c.get("k").await.unwrap_err();
    assert_eq!(first.server(), Some(addr.to_string().as_str()));
    assert!(matches!(kind(first), ServerErrorKind::Timeout(_)));
    assert!(matches!(kind(c.get("k").await.unwrap_err()), ServerErrorKind::Timeout(_)));
    // failure_limit = 2: now marked down, no more connect attempts.
    assert!(matches!(kind(c.get("k").await.unwrap_err()), ServerErrorKind::MarkedDown(_)));
    assert!(!c.server_status()[0].up);
}

#[tokio::test]
async fn nonsense_is_a_protocol_error() {
    let addr = scripted(|mut s| {
        while read_request(&mut s) {
            let _ = s.write_all(b"HELLO THERE\r\n");
        }
    });
    let c = client(addr);
    let e = c.get("k").await.unwrap_err();
    assert!(matches!(kind(e), ServerErrorKind::Protocol(_)));
    let e = c.set("k", "v", StoreOptions::default()).await.unwrap_err();
    assert!(matches!(kind(e), ServerErrorKind::Protocol(_)));
}

#[tokio::test]
async fn a_broken_value_header_is_a_protocol_error() {
    let addr = scripted(|mut s| {
        while read_request(&mut s) {
            let _ = s.write_all(b"VALUE k notanumber 3\r\nabc\r\nEND\r\n");
        }
    });
    let e = client(addr).get("k").await.unwrap_err();
    assert!(matches!(kind(e), ServerErrorKind::Protocol(_)));
}

#[tokio::test]
async fn hanging_up_is_an_io_error() {
    let addr = scripted(|mut s| {
        read_request(&mut s);
        drop(s);
    });
    let e = client(addr).get("k").await.unwrap_err();
    assert!(matches!(kind(e), ServerErrorKind::Io(_)), "closed connection");
}

#[tokio::test]
async fn a_reply_in_dribbles_is_reassembled() {
    let addr = scripted(|mut s| {
        s.set_nodelay(true).unwrap();
        while read_request(&mut s) {
            for piece in [&b"VAL"[..], b"UE k 7 1", b"1\r\nhello", b" world\r", b"\nEN", b"D\r\n"] {
                let _ = s.write_all(piece);
                std::thread::sleep(Duration::from_millis(5));
            }
        }
    });
    let item = client(addr).get("k").await.unwrap().unwrap();
    assert_eq!((item.value.as_ref(), item.flags), (&b"hello world"[..], 7));
}

#[tokio::test]
async fn a_full_pool_makes_callers_wait_then_give_up() {
    let addr = scripted(|mut s| while read_request(&mut s) {});
    let c = Client::builder()
        .server(&addr.to_string())
        .max_connections_per_server(1)
        .io_timeout(Duration::from_millis(400))
        .pool_timeout(Duration::from_millis(50))
        .failure_limit(100)
        .build()
        .unwrap();
    let (a, b) = tokio::join!(c.get("a"), c.get("b"));
    let kinds = [kind(a.unwrap_err()), kind(b.unwrap_err())];
    assert!(kinds.iter().any(|k| matches!(k, ServerErrorKind::PoolExhausted(_))), "{kinds:?}");
    assert!(kinds.iter().any(|k| matches!(k, ServerErrorKind::Timeout(_))), "{kinds:?}");
}

#[tokio::test]
async fn nothing_listening_is_a_connect_error() {
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let c = Client::builder()
        .server(&format!("127.0.0.1:{port}"))
        .down_on_refused(true)
        .build()
        .unwrap();
    let e = c.get("k").await.unwrap_err();
    assert!(e.to_string().contains(&format!("127.0.0.1:{port}")), "{e}");
    assert!(matches!(kind(e), ServerErrorKind::Connect(_)));
    // A refused connection is a hard failure: down at once, not after failure_limit tries.
    assert!(!c.server_status()[0].up);
    // Ejected (the default): the ring is empty until a probe finds the server again.
    assert!(matches!(c.get("k").await, Err(Error::NoServer)));
}
