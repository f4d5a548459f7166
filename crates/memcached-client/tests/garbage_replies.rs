//! Whatever bytes a server sends back, the client returns a value or an error naming the
//! server, and never panics or hangs past its I/O timeout.

use memcached_client::{Client, StoreOptions};
use proptest::prelude::*;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::Duration;

/// Serves one connection: reads a request, writes `reply`, closes.
fn one_shot_server(reply: Vec<u8>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        if let Ok((mut stream, _)) = listener.accept() {
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf);
            let _ = stream.write_all(&reply);
        }
    });
    addr
}

/// Replies built from pieces of real replies, so the decoder gets deep as well as shallow.
fn reply() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        Just(b"VALUE k 0 3\r\nabc\r\n".to_vec()),
        Just(b"VALUE k 4294967296 1\r\nx\r\n".to_vec()),
        Just(b"VALUE k 0 99999999999999999999\r\n".to_vec()),
        Just(b"END\r\n".to_vec()),
        Just(b"STORED\r\n".to_vec()),
        Just(b"VA 2 f1\r\nhi\r\n".to_vec()),
        Just(b"HD c1\r\n".to_vec()),
        Just(b"EN\r\n".to_vec()),
        Just(b"MN\r\n".to_vec()),
        Just(b"SERVER_ERROR x\r\n".to_vec()),
        Just(b"\r\n".to_vec()),
        Just(b"\n".to_vec()),
        proptest::collection::vec(any::<u8>(), 0..40),
    ];
    proptest::collection::vec(piece, 0..6).prop_map(|pieces| pieces.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn any_reply_is_handled(reply in reply(), command in 0u8..4) {
        let addr = one_shot_server(reply);
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let client = Client::builder()
            .server(&addr)
            .io_timeout(Duration::from_millis(300))
            .build()
            .unwrap();
        let outcome = runtime.block_on(async {
            match command {
                0 => client.get("k").await.map(|_| ()),
                1 => client.set("k", "v", StoreOptions::default()).await.map(|_| ()),
                2 => client.meta_get("k", &["v"]).await.map(|_| ()),
                _ => client.get_multi(&["k", "l"]).await.map(|_| ()),
            }
        });
        if let Err(e) = outcome {
            // Local validation cannot fail here, so every error is the server's.
            prop_assert_eq!(e.server(), Some(addr.as_str()));
        }
    }
}
