//! Property tests: encode-then-decode round trips for every request and
//! response type, proper prefixes decode to `Ok(None)`, and arbitrary bytes
//! never panic either decoder.

use bytes::{Bytes, BytesMut};
use memcached_codec::*;
use proptest::prelude::*;

fn config() -> ProptestConfig {
    ProptestConfig { cases: 256, ..ProptestConfig::default() }
}

/// Key bytes memcached's tokenizer keeps in one token.
fn key_strategy() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(
        any::<u8>().prop_filter("token byte", |b| ![b' ', b'\n', 0].contains(b)),
        1..=250,
    )
}

fn small_key() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(
        prop::sample::select(b"abcdefghijklmnopqrstuvwxyz0123456789_:-.".to_vec()),
        1..=40,
    )
}

/// An owned description of a request; `as_request` borrows it.
#[derive(Debug, Clone)]
enum Owned {
    Storage(StorageCommand, Vec<u8>, u32, i32, u64, bool, Vec<u8>),
    Retrieval(RetrievalCommand, i32, Vec<u8>),
    Delete(Vec<u8>, bool),
    Arith(ArithmeticCommand, Vec<u8>, u64, bool),
    Touch(Vec<u8>, i32, bool),
    /// (command word, key token, flag text, data, base64 key)
    Meta(&'static str, Vec<u8>, Vec<u8>, Vec<u8>, bool),
    Stats(StatsRequest),
    Admin(AdminOwned),
}

#[derive(Debug, Clone)]
enum AdminOwned {
    Flush(Option<i32>, bool),
    Version,
    Quit,
    Verbosity(u32, bool),
    Shutdown(ShutdownMode),
    Memlimit(u32, bool),
    Reassign(i32, i32),
    Automove(SlabsAutomove, bool),
    Lru(LruCommand, bool),
    Crawler(u8, u32),
    Watch(u16),
}

impl Owned {
    fn as_request(&self) -> Request<'_> {
        match self {
            Owned::Storage(command, key, flags, exptime, cas, noreply, data) => {
                Request::Storage(StorageRequest {
                    command: *command,
                    key,
                    flags: *flags,
                    exptime: *exptime,
                    cas_unique: if *command == StorageCommand::Cas { *cas } else { 0 },
                    noreply: *noreply,
                    data,
                })
            }
            Owned::Retrieval(command, exptime, joined) => Request::Retrieval(RetrievalRequest {
                command: *command,
                exptime: command.touches().then_some(*exptime),
                keys: Keys::new(joined),
            }),
            Owned::Delete(key, noreply) => {
                Request::Delete(DeleteRequest { key, noreply: *noreply })
            }
            Owned::Arith(command, key, delta, noreply) => Request::Arithmetic(ArithmeticRequest {
                command: *command,
                key,
                delta: *delta,
                noreply: *noreply,
            }),
            Owned::Touch(key, exptime, noreply) => {
                Request::Touch(TouchRequest { key, exptime: *exptime, noreply: *noreply })
            }
            Owned::Meta(word, key, flags, data, b64) => {
                let key = if *b64 { MetaKey::base64(key).unwrap() } else { MetaKey::plain(key) };
                let flags = MetaFlags::parse(flags).unwrap();
                match *word {
                    "mg" => Request::MetaGet(MetaRequest { key, flags }),
                    "md" => Request::MetaDelete(MetaRequest { key, flags }),
                    "ma" => Request::MetaArithmetic(MetaArithmeticRequest {
                        key,
                        flags,
                        mode: match flags.mode() {
                            Some(b'D') | Some(b'-') => MetaArithmeticMode::Decr,
                            _ => MetaArithmeticMode::Incr,
                        },
                    }),
                    "ms" => Request::MetaSet(MetaSetRequest {
                        key,
                        flags,
                        mode: match flags.mode() {
                            Some(b'E') => MetaSetMode::Add,
                            Some(b'A') => MetaSetMode::Append,
                            Some(b'P') => MetaSetMode::Prepend,
                            Some(b'R') => MetaSetMode::Replace,
                            _ => MetaSetMode::Set,
                        },
                        data,
                    }),
                    "me" => Request::MetaDebug(MetaDebugRequest { key }),
                    _ => Request::MetaNoop,
                }
            }
            Owned::Stats(s) => Request::Stats(*s),
            Owned::Admin(a) => match a {
                AdminOwned::Flush(delay, noreply) => {
                    Request::FlushAll { delay: *delay, noreply: *noreply }
                }
                AdminOwned::Version => Request::Version,
                AdminOwned::Quit => Request::Quit,
                AdminOwned::Verbosity(level, noreply) => {
                    Request::Verbosity { level: *level, noreply: *noreply }
                }
                AdminOwned::Shutdown(mode) => Request::Shutdown { mode: *mode },
                AdminOwned::Memlimit(mb, noreply) => {
                    Request::CacheMemlimit { megabytes: *mb, noreply: *noreply }
                }
                AdminOwned::Reassign(s, d) => {
                    Request::SlabsReassign { source: *s, destination: *d }
                }
                AdminOwned::Automove(setting, noreply) => {
                    Request::SlabsAutomove { setting: *setting, noreply: *noreply }
                }
                AdminOwned::Lru(command, noreply) => {
                    Request::Lru { command: *command, noreply: *noreply }
                }
                AdminOwned::Crawler(which, n) => Request::LruCrawler(match which % 6 {
                    0 => LruCrawlerCommand::Enable,
                    1 => LruCrawlerCommand::Disable,
                    2 => LruCrawlerCommand::Crawl(b"all"),
                    3 => LruCrawlerCommand::Metadump(b"1,2,3"),
                    4 => LruCrawlerCommand::Tocrawl(*n),
                    _ => LruCrawlerCommand::Sleep(*n % 1_000_001),
                }),
                AdminOwned::Watch(bits) => Request::Watch(if *bits == 0 {
                    WatchFlags::FETCHERS
                } else {
                    WatchFlags(*bits)
                }),
            },
        }
    }
}

fn storage_strategy() -> impl Strategy<Value = Owned> {
    (
        prop::sample::select(vec![
            StorageCommand::Set,
            StorageCommand::Add,
            StorageCommand::Replace,
            StorageCommand::Append,
            StorageCommand::Prepend,
            StorageCommand::Cas,
        ]),
        key_strategy(),
        any::<u32>(),
        any::<i32>(),
        any::<u64>(),
        any::<bool>(),
        prop::collection::vec(any::<u8>(), 0..300),
    )
        .prop_map(|(c, k, f, e, cas, n, d)| Owned::Storage(c, k, f, e, cas, n, d))
}

fn retrieval_strategy() -> impl Strategy<Value = Owned> {
    (
        prop::sample::select(vec![
            RetrievalCommand::Get,
            RetrievalCommand::Gets,
            RetrievalCommand::Gat,
            RetrievalCommand::Gats,
        ]),
        any::<i32>(),
        prop::collection::vec(key_strategy(), 1..40),
    )
        .prop_map(|(c, e, keys)| Owned::Retrieval(c, e, keys.join(&b' ')))
}

/// Meta flag tokens that are valid for `word`, unique letters, in random order.
fn meta_flags_strategy(word: &'static str) -> impl Strategy<Value = Vec<u8>> {
    let opaque = prop::collection::vec(prop::sample::select(b"abcXYZ0123456789".to_vec()), 0..=31);
    (
        prop::collection::vec(any::<bool>(), 20),
        opaque,
        any::<i32>(),
        any::<i32>(),
        any::<i32>(),
        any::<u32>(),
        any::<u64>(),
        any::<u64>(),
        any::<u64>(),
        0usize..4,
    )
        .prop_map(move |(on, opaque, t, n, r, f, c, j, d, mode_pick)| {
            let mut tokens: Vec<Vec<u8>> = Vec::new();
            let simple: &[u8] = b"cfhklqstuvIPL";
            for (i, &letter) in simple.iter().enumerate() {
                if on[i] {
                    tokens.push(vec![letter]);
                }
            }
            if on[13] {
                tokens.push([b"O".as_slice(), &opaque].concat());
            }
            if on[14] {
                tokens.push(format!("T{t}").into_bytes());
            }
            if on[15] {
                tokens.push(format!("N{n}").into_bytes());
            }
            if on[16] {
                tokens.push(format!("R{r}").into_bytes());
            }
            if on[17] {
                tokens.push(format!("F{f}").into_bytes());
            }
            if on[18] {
                tokens.push(format!("C{c}").into_bytes());
            }
            if on[19] {
                tokens.push(format!("J{j}").into_bytes());
                tokens.push(format!("D{d}").into_bytes());
            }
            let modes: &[u8] = match word {
                "ms" => b"SEAPR",
                "ma" => b"ID+-",
                _ => b"",
            };
            if !modes.is_empty() && mode_pick > 0 {
                tokens.push(vec![b'M', modes[mode_pick % modes.len()]]);
            }
            // At most 14 flags (plus `b` later) keeps ms under the 20-token cap.
            tokens.truncate(14);
            tokens.join(&b' ')
        })
}

fn meta_strategy() -> impl Strategy<Value = Owned> {
    prop::sample::select(vec!["mg", "ms", "md", "ma", "me", "mn"]).prop_flat_map(|word| {
        (
            small_key(),
            prop::collection::vec(any::<u8>(), 1..180),
            any::<bool>(),
            meta_flags_strategy(word),
            prop::collection::vec(any::<u8>(), 0..200),
        )
            .prop_map(move |(plain, binary, b64, mut flags, data)| {
                let key = if b64 {
                    let mut enc = Vec::new();
                    base64::encode_key(&binary, &mut enc);
                    if word != "me" {
                        flags = if flags.is_empty() {
                            b"b".to_vec()
                        } else {
                            [flags.as_slice(), b" b"].concat()
                        };
                    }
                    enc
                } else {
                    plain
                };
                Owned::Meta(word, key, flags, data, b64)
            })
    })
}

fn stats_strategy() -> impl Strategy<Value = Owned> {
    (0u8..14, 0u32..64, any::<u32>()).prop_map(|(i, class_id, limit)| {
        Owned::Stats(match i {
            0 => StatsRequest::General,
            1 => StatsRequest::Settings,
            2 => StatsRequest::Items,
            3 => StatsRequest::Slabs,
            4 => StatsRequest::Sizes,
            5 => StatsRequest::SizesEnable,
            6 => StatsRequest::SizesDisable,
            7 => StatsRequest::Conns,
            8 => StatsRequest::Extstore,
            9 => StatsRequest::Reset,
            10 => StatsRequest::Detail(StatsDetail::On),
            11 => StatsRequest::Detail(StatsDetail::Off),
            12 => StatsRequest::Detail(StatsDetail::Dump),
            _ => StatsRequest::Cachedump { class_id, limit },
        })
    })
}

fn admin_strategy() -> impl Strategy<Value = Owned> {
    prop_oneof![
        (any::<Option<i32>>(), any::<bool>()).prop_map(|(d, n)| AdminOwned::Flush(d, n)),
        Just(AdminOwned::Version),
        Just(AdminOwned::Quit),
        (any::<u32>(), any::<bool>()).prop_map(|(l, n)| AdminOwned::Verbosity(l, n)),
        prop::sample::select(vec![
            ShutdownMode::Immediate,
            ShutdownMode::Graceful,
            ShutdownMode::Invalid
        ])
        .prop_map(AdminOwned::Shutdown),
        (any::<u32>(), any::<bool>()).prop_map(|(m, n)| AdminOwned::Memlimit(m, n)),
        (any::<i32>(), any::<i32>()).prop_map(|(s, d)| AdminOwned::Reassign(s, d)),
        (0u32..3, any::<bool>())
            .prop_map(|(l, n)| AdminOwned::Automove(SlabsAutomove::Level(l), n)),
        (-1e6f64..1e6, any::<bool>())
            .prop_map(|(r, n)| AdminOwned::Automove(SlabsAutomove::Ratio(r), n)),
        (0u32..40, 0u32..40, 0.001f64..100.0, 0.001f64..100.0, any::<bool>()).prop_map(
            |(h, w, hf, wf, n)| {
                AdminOwned::Lru(
                    LruCommand::Tune {
                        hot_percent: h,
                        warm_percent: w,
                        hot_max_factor: hf,
                        warm_max_factor: wf,
                    },
                    n,
                )
            }
        ),
        (any::<bool>(), any::<bool>()).prop_map(|(f, n)| AdminOwned::Lru(
            if f { LruCommand::Flat } else { LruCommand::Segmented },
            n
        )),
        (any::<i32>(), any::<bool>()).prop_map(|(t, n)| AdminOwned::Lru(LruCommand::TempTtl(t), n)),
        (any::<u8>(), any::<u32>()).prop_map(|(w, n)| AdminOwned::Crawler(w, n)),
        (0u16..512).prop_map(AdminOwned::Watch),
    ]
    .prop_map(Owned::Admin)
}

fn request_strategy() -> impl Strategy<Value = Owned> {
    prop_oneof![
        storage_strategy(),
        retrieval_strategy(),
        (key_strategy(), any::<bool>()).prop_map(|(k, n)| Owned::Delete(k, n)),
        (
            prop::sample::select(vec![ArithmeticCommand::Incr, ArithmeticCommand::Decr]),
            key_strategy(),
            any::<u64>(),
            any::<bool>()
        )
            .prop_map(|(c, k, d, n)| Owned::Arith(c, k, d, n)),
        (key_strategy(), any::<i32>(), any::<bool>()).prop_map(|(k, e, n)| Owned::Touch(k, e, n)),
        meta_strategy(),
        stats_strategy(),
        admin_strategy(),
    ]
}

fn value_strategy() -> impl Strategy<Value = Response> {
    (key_strategy(), any::<u32>(), any::<Option<u64>>(), prop::collection::vec(any::<u8>(), 0..300))
        .prop_map(|(k, f, cas, d)| {
            Response::Value(Value { key: Bytes::from(k), flags: f, cas, data: Bytes::from(d) })
        })
}

fn text_strategy() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(prop::sample::select(b"abcdefgXYZ019_:=. ".to_vec()), 1..60).prop_map(
        |mut v| {
            v.retain(|&b| b != b' ');
            if v.is_empty() {
                v.push(b'z');
            }
            v
        },
    )
}

fn response_strategy() -> impl Strategy<Value = Response> {
    prop_oneof![
        value_strategy(),
        prop::sample::select(StatusLine::ALL.to_vec()).prop_map(Response::Status),
        any::<u64>().prop_map(Response::Number),
        (text_strategy(), text_strategy())
            .prop_map(|(n, v)| Response::Stat { name: n.into(), value: v.into() }),
        text_strategy().prop_map(|v| Response::Version(v.into())),
        prop::sample::select(
            ErrorKind::ALL
                .iter()
                .copied()
                .filter(|k| *k != ErrorKind::LineTooLong)
                .collect::<Vec<_>>()
        )
        .prop_map(Response::Error),
        text_strategy().prop_map(|m| Response::ClientError([b"x_".as_slice(), &m].concat().into())),
        text_strategy().prop_map(|m| Response::ServerError([b"x_".as_slice(), &m].concat().into())),
        (
            prop::sample::select(vec![
                MetaStatus::Stored,
                MetaStatus::Miss,
                MetaStatus::NotStored,
                MetaStatus::Exists,
                MetaStatus::NotFound,
                MetaStatus::Noop,
                MetaStatus::Debug,
            ]),
            prop::collection::vec(text_strategy(), 0..6),
        )
            .prop_map(|(status, flags)| Response::Meta(MetaResponse {
                status,
                flags: flags.join(&b' ').into(),
                data: None
            })),
        (prop::collection::vec(text_strategy(), 0..6), prop::collection::vec(any::<u8>(), 0..200))
            .prop_map(|(flags, d)| {
                Response::Meta(MetaResponse {
                    status: MetaStatus::Value,
                    flags: flags.join(&b' ').into(),
                    data: Some(d.into()),
                })
            }),
        text_strategy().prop_map(|t| Response::Other([b"ITEM_".as_slice(), &t].concat().into())),
    ]
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn request_round_trip_and_prefixes(owned in request_strategy()) {
        let request = owned.as_request();
        let mut wire = Vec::new();
        request.encode(&mut wire);
        let limits = Limits::default();
        let decoded = decode_request(&wire, &limits);
        prop_assert_eq!(decoded, Ok(Some((request, wire.len()))), "{:?}", String::from_utf8_lossy(&wire));
        for cut in 0..wire.len() {
            let prefix = &wire[..cut];
            // A non-get line longer than the limit without its newline closes the connection.
            if cut > limits.max_line_len && !prefix.contains(&b'\n') {
                continue;
            }
            prop_assert_eq!(decode_request(prefix, &limits), Ok(None), "prefix {}", cut);
        }
    }

    #[test]
    fn response_round_trip_and_prefixes(response in response_strategy()) {
        let mut wire = BytesMut::new();
        response.encode(&mut wire);
        let full = wire.clone();
        let decoded = decode_response(&mut wire);
        prop_assert_eq!(decoded, Ok(Some(response)));
        prop_assert!(wire.is_empty());
        for cut in 0..full.len() {
            let mut prefix = BytesMut::from(&full[..cut]);
            prop_assert_eq!(decode_response(&mut prefix), Ok(None), "prefix {}", cut);
            prop_assert_eq!(prefix.len(), cut);
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic_the_request_decoder(data in prop::collection::vec(any::<u8>(), 0..600)) {
        let limits = Limits { item_size_max: 200, max_line_len: 100, ..Limits::default() };
        for limits in [Limits::default(), limits] {
            let mut pos = 0;
            while pos < data.len() {
                match decode_request(&data[pos..], &limits) {
                    Ok(Some((_, used))) => {
                        prop_assert!(used > 0 && used <= data.len() - pos);
                        pos += used;
                    }
                    Ok(None) => break,
                    Err(e) => match e.recovery {
                        Recovery::Discard(n) => { prop_assert!(n > 0); pos = pos.saturating_add(n); }
                        Recovery::Close => break,
                    },
                }
            }
        }
    }

    #[test]
    fn command_like_bytes_never_panic(words in prop::collection::vec(prop::sample::select(vec![
        "get", "gets", "gat", "set", "cas", "mg", "ms", "md", "ma", "me", "mn", "stats", "delete", "incr",
        "k", "0", "-1", "5", "noreply", "v", "b", "T1", "Tx", "O1", "MX", "q", "\r\n", "\n", " ", "a2V5",
        "99999999999999999999", "lru", "tune", "watch", "slabs", "automove", "flush_all", "abc",
    ]), 0..30)) {
        let data = words.concat();
        let mut pos = 0;
        let limits = Limits::default();
        while pos < data.len() {
            match decode_request(&data.as_bytes()[pos..], &limits) {
                Ok(Some((_, used))) => pos += used,
                Ok(None) => break,
                Err(e) => match e.recovery {
                    Recovery::Discard(n) => pos = pos.saturating_add(n),
                    Recovery::Close => break,
                },
            }
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic_the_response_decoder(data in prop::collection::vec(any::<u8>(), 0..600)) {
        let mut buf = BytesMut::from(&data[..]);
        loop {
            let before = buf.len();
            match decode_response(&mut buf) {
                Ok(Some(_)) => prop_assert!(buf.len() < before),
                Ok(None) | Err(_) => { prop_assert_eq!(buf.len(), before); break; }
            }
        }
    }
}
