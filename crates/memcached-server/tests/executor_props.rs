//! Properties of the request path, in process: any byte stream is handled without a panic and
//! always makes progress, and the replies do not depend on how the stream is cut into reads.

mod common;

use proptest::prelude::*;

use memcached_server::commands::CommandExecutor;
use memcached_server::config::ServerConfig;
use memcached_server::connection::{After, RequestExecutor, Session, Step};
use memcached_store::StoreConfig;

fn executor() -> CommandExecutor {
    let config = ServerConfig { item_size_max: 4096, ..ServerConfig::default() };
    let store = StoreConfig { memory_limit_bytes: 8 << 20, ..StoreConfig::default() };
    common::in_process::executor(config, store).0
}

/// What a connection does with its input, without a socket: append each chunk, run every
/// complete request, honour swallow and close. Returns the replies and whether it closed.
fn feed(chunks: &[&[u8]]) -> (Vec<u8>, bool) {
    let mut exec = executor();
    let mut session = Session::default();
    let mut buffer: Vec<u8> = Vec::new();
    let mut out = Vec::new();
    let mut swallow = 0usize;
    for chunk in chunks {
        buffer.extend_from_slice(chunk);
        loop {
            if swallow > 0 {
                let n = swallow.min(buffer.len());
                buffer.drain(..n);
                swallow -= n;
                if swallow > 0 {
                    break;
                }
            }
            if buffer.is_empty() {
                break;
            }
            match exec.execute(&mut session, &buffer, &mut out) {
                Step::NeedMore => break,
                Step::Hostile => return (out, true),
                Step::Done { consumed, after } => {
                    assert!(consumed > 0, "a request must consume input");
                    assert!(consumed <= buffer.len());
                    buffer.drain(..consumed);
                    match after {
                        After::Continue => {}
                        After::Swallow(n) => swallow = n,
                        After::Close | After::Stop(_) | After::Watch(_) => return (out, true),
                    }
                }
            }
        }
    }
    (out, false)
}

/// Commands whose replies are deterministic (no CAS values, no stats, no times).
fn command() -> impl Strategy<Value = Vec<u8>> {
    let key = prop::sample::select(vec!["a", "b", "c", "n", "user:1"]);
    let value = prop::collection::vec(prop::sample::select(b"0123456789xyz ".to_vec()), 0..40);
    prop_oneof![
        (
            prop::sample::select(vec!["set", "add", "replace", "append", "prepend"]),
            key.clone(),
            value.clone(),
            any::<bool>()
        )
            .prop_map(|(cmd, k, v, noreply)| {
                let mut line = format!(
                    "{cmd} {k} 3 0 {}{}\r\n",
                    v.len(),
                    if noreply { " noreply" } else { "" }
                )
                .into_bytes();
                line.extend_from_slice(&v);
                line.extend_from_slice(b"\r\n");
                line
            }),
        (key.clone(), key.clone()).prop_map(|(a, b)| format!("get {a} {b}\r\n").into_bytes()),
        key.clone().prop_map(|k| format!("delete {k}\r\n").into_bytes()),
        (prop::sample::select(vec!["incr", "decr"]), key.clone(), 0u64..1000)
            .prop_map(|(cmd, k, d)| format!("{cmd} {k} {d}\r\n").into_bytes()),
        (key.clone(), value.clone()).prop_map(|(k, v)| {
            let mut line = format!("ms {k} {} T0 F7\r\n", v.len()).into_bytes();
            line.extend_from_slice(&v);
            line.extend_from_slice(b"\r\n");
            line
        }),
        key.clone().prop_map(|k| format!("mg {k} v f k s\r\n").into_bytes()),
        key.clone().prop_map(|k| format!("md {k} q\r\n").into_bytes()),
        key.clone().prop_map(|k| format!("ma {k} N0 J1 v\r\n").into_bytes()),
        Just(b"mn\r\n".to_vec()),
        Just(b"version\r\n".to_vec()),
        Just(b"set big 0 0 5000\r\n".to_vec()),
        prop::collection::vec(any::<u8>(), 0..64),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(input in prop::collection::vec(any::<u8>(), 0..4096)) {
        let _ = feed(&[&input]);
    }

    #[test]
    fn replies_do_not_depend_on_read_boundaries(
        commands in prop::collection::vec(command(), 1..40),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..12),
    ) {
        let stream: Vec<u8> = commands.concat();
        let whole = feed(&[&stream]);
        let mut points: Vec<usize> = cuts.iter().map(|i| i.index(stream.len() + 1)).collect();
        points.sort_unstable();
        let mut chunks: Vec<&[u8]> = Vec::new();
        let mut last = 0;
        for p in points {
            chunks.push(&stream[last..p]);
            last = p;
        }
        chunks.push(&stream[last..]);
        let split = feed(&chunks);
        prop_assert_eq!(String::from_utf8_lossy(&split.0), String::from_utf8_lossy(&whole.0));
        prop_assert_eq!(split.1, whole.1);
    }
}
