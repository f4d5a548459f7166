//! Client scenarios run against every server implementation (Debian's memcached 1.6.18 and
//! ours): each takes three freshly started servers.

#![allow(dead_code)]

use crate::support::{set_named_keys, ServerProcess};
use memcached_client::{
    AdminReply, BlockingClient, Client, Error, LruCrawlerCommand, MetaCode, PipelineReply, Request,
    RouterConfig, ServerErrorKind, SlabsAutomove, StatsDetail, StatsRequest, StoreCommand,
    StoreOptions, StoreOutcome,
};
use std::time::Duration;

/// Declares one `#[test]` per scenario, each with three servers from `$start`.
#[macro_export]
macro_rules! scenario_tests {
    ($start:expr) => {
        $crate::scenario_tests!(@async $start;
            classic_commands_round_trip,
            noreply_then_answered_commands_stay_in_step,
            admin_commands_reach_every_server,
            meta_commands,
            multi_get_spans_all_servers_and_reports_a_dead_one,
            pipeline_runs_many_commands_per_round_trip,
            modula_routes_like_libmemcached_default,
            replication_writes_k_copies_and_reads_fail_over,
            admin_commands_of_the_codec,
            idle_connections_are_replaced,
        );
        #[test]
        fn blocking_client_works_from_plain_threads() {
            scenarios::blocking_client_works_from_plain_threads((0..3).map(|_| $start).collect())
        }
    };
    (@async $start:expr; $($scenario:ident,)*) => {
        $(
            #[tokio::test]
            async fn $scenario() {
                scenarios::$scenario((0..3).map(|_| $start).collect()).await
            }
        )*
    };
}

fn client(servers: &[ServerProcess]) -> Client {
    Client::builder()
        .servers(servers.iter().map(ServerProcess::spec))
        .connect_timeout(Duration::from_millis(500))
        .io_timeout(Duration::from_secs(2))
        .build()
        .unwrap()
}

pub async fn classic_commands_round_trip(servers: Vec<ServerProcess>) {
    let c = client(&servers);
    let opts = StoreOptions::default();
    assert_eq!(c.set("k1", "hello", opts.with_flags(42)).await.unwrap(), StoreOutcome::Stored);
    let item = c.get("k1").await.unwrap().unwrap();
    assert_eq!((item.value.as_ref(), item.flags, item.cas), (&b"hello"[..], 42, None));
    assert_eq!(c.get("missing").await.unwrap(), None);

    assert_eq!(c.add("k1", "x", opts).await.unwrap(), StoreOutcome::NotStored);
    assert_eq!(c.add("k2", "2", opts).await.unwrap(), StoreOutcome::Stored);
    assert_eq!(c.replace("nope", "x", opts).await.unwrap(), StoreOutcome::NotStored);
    assert_eq!(c.replace("k2", "3", opts).await.unwrap(), StoreOutcome::Stored);
    assert_eq!(c.append("k1", " world", opts).await.unwrap(), StoreOutcome::Stored);
    assert_eq!(c.prepend("k1", ">", opts).await.unwrap(), StoreOutcome::Stored);
    assert_eq!(c.get("k1").await.unwrap().unwrap().value.as_ref(), b">hello world");

    let unique = c.gets("k1").await.unwrap().unwrap().cas.expect("gets returns cas");
    assert_eq!(c.cas("k1", "v2", unique + 1000, opts).await.unwrap(), StoreOutcome::Exists);
    assert_eq!(c.cas("k1", "v2", unique, opts).await.unwrap(), StoreOutcome::Stored);
    assert_eq!(c.cas("gone", "v", 1, opts).await.unwrap(), StoreOutcome::NotFound);

    assert_eq!(c.incr("k2", 5).await.unwrap(), Some(8));
    assert_eq!(c.decr("k2", 100).await.unwrap(), Some(0));
    assert_eq!(c.incr("nokey", 1).await.unwrap(), None);

    assert!(c.touch("k1", 100).await.unwrap());
    assert!(!c.touch("nokey", 100).await.unwrap());
    assert_eq!(c.gat(200, "k1").await.unwrap().unwrap().value.as_ref(), b"v2");
    assert!(c.gats(200, "k1").await.unwrap().unwrap().cas.is_some());

    assert!(c.delete("k1").await.unwrap());
    assert!(!c.delete("k1").await.unwrap());

    // Errors from the server are reported with the server's name.
    let err = c.incr("k2-text", 1).await;
    assert!(matches!(err, Ok(None)));
    c.set("text", "abc", opts).await.unwrap();
    match c.incr("text", 1).await {
        Err(Error::Server { server, kind: ServerErrorKind::Reply(line) }) => {
            assert!(line.starts_with("CLIENT_ERROR"), "{line}");
            assert_eq!(Some(server), c.server_for_key(b"text"));
        }
        other => panic!("expected CLIENT_ERROR, got {other:?}"),
    }
    // The connection is still in step after an error reply.
    assert_eq!(c.get("text").await.unwrap().unwrap().value.as_ref(), b"abc");

    // Keys are checked before anything is sent.
    assert!(matches!(c.get("bad key").await, Err(Error::BadKey(_))));
    assert!(matches!(c.get("").await, Err(Error::BadKey(_))));
    assert!(matches!(c.get(vec![b'a'; 251]).await, Err(Error::BadKey(_))));
}

pub async fn noreply_then_answered_commands_stay_in_step(servers: Vec<ServerProcess>) {
    let c = client(&servers);
    for i in 0..50 {
        let outcome = c
            .set(format!("nr{i}"), format!("v{i}"), StoreOptions::default().noreply())
            .await
            .unwrap();
        assert_eq!(outcome, StoreOutcome::Sent);
    }
    // A noreply command that makes memcached send an error line anyway.
    c.set("nrtext", "abc", StoreOptions::default()).await.unwrap();
    c.incr_noreply("nrtext", 1, false).await.unwrap();
    assert!(c.delete_with("nr0", true).await.unwrap());
    for i in 1..50 {
        assert_eq!(
            c.get(format!("nr{i}")).await.unwrap().unwrap().value,
            format!("v{i}").as_bytes()
        );
    }
    assert_eq!(c.get("nr0").await.unwrap(), None);
    assert_eq!(c.get("nrtext").await.unwrap().unwrap().value.as_ref(), b"abc");
}

pub async fn admin_commands_reach_every_server(servers: Vec<ServerProcess>) {
    let c = client(&servers);
    let versions = c.version().await;
    assert_eq!(versions.len(), 3);
    for (server, version) in &versions {
        assert!(version.as_ref().unwrap().starts_with("1.6"), "{server}: {version:?}");
    }
    let stats = c.stats(None).await;
    assert!(stats.iter().all(|(_, s)| s.as_ref().unwrap().iter().any(|(k, _)| k == "curr_items")));
    let settings = c.stats(Some("settings")).await;
    assert!(settings.iter().all(|(_, s)| s.as_ref().unwrap().iter().any(|(k, _)| k == "maxbytes")));
    assert!(c.verbosity(1).await.iter().all(|(_, r)| r.is_ok()));
    c.set("f", "1", StoreOptions::default()).await.unwrap();
    assert!(c.flush_all(None).await.iter().all(|(_, r)| r.is_ok()));
    assert_eq!(c.get("f").await.unwrap(), None);
    assert!(c.meta_noop().await.iter().all(|(_, r)| r.is_ok()));
}

pub async fn meta_commands(servers: Vec<ServerProcess>) {
    let c = client(&servers);
    let set = c.meta_set("m1", b"meta-value", &["T0", "F7", "c"]).await.unwrap();
    assert_eq!(set.code, MetaCode::Hd);
    assert!(set.flag_u64(b'c').is_some());
    let got = c.meta_get("m1", &["v", "f", "c", "s"]).await.unwrap();
    assert_eq!(got.code, MetaCode::Va);
    assert_eq!(got.value.as_deref(), Some(&b"meta-value"[..]));
    assert_eq!(got.flag_u64(b'f'), Some(7));
    assert_eq!(got.flag_u64(b's'), Some(10));
    let hd = c.meta_get("m1", &["k"]).await.unwrap();
    assert_eq!((hd.code, hd.flag(b'k')), (MetaCode::Hd, Some(&b"m1"[..])));
    assert_eq!(c.meta_get("nope", &["v"]).await.unwrap().code, MetaCode::En);
    // CAS mismatch on ms.
    let wrong = c.meta_set("m1", b"x", &["C999999"]).await.unwrap();
    assert_eq!(wrong.code, MetaCode::Ex);
    // Arithmetic with auto-create.
    let ma = c.meta_arithmetic("counter", &["N0", "J10", "v"]).await.unwrap();
    assert_eq!(ma.value.as_deref(), Some(&b"10"[..]));
    let ma = c.meta_arithmetic("counter", &["D5", "v"]).await.unwrap();
    assert_eq!(ma.value.as_deref(), Some(&b"15"[..]));
    assert_eq!(c.meta_delete("m1", &[]).await.unwrap().code, MetaCode::Hd);
    assert_eq!(c.meta_delete("m1", &[]).await.unwrap().code, MetaCode::Nf);
    let debug = c.meta("me", "counter", None, &[]).await.unwrap();
    assert_eq!(debug.code, MetaCode::Me);
    assert!(matches!(c.meta("me", "m1", None, &["q"]).await, Err(Error::BadArgument(_))));
    // Quiet mode: what memcached suppresses comes back as its code, the rest as sent.
    assert_eq!(c.meta_get("m1", &["v", "q"]).await.unwrap().code, MetaCode::En);
    assert_eq!(c.meta_set("mq", b"quiet", &["q", "T0"]).await.unwrap().code, MetaCode::Hd);
    let hit = c.meta_get("mq", &["v", "q"]).await.unwrap();
    assert_eq!((hit.code, hit.value.as_deref()), (MetaCode::Va, Some(&b"quiet"[..])));
    assert_eq!(c.meta_set("mq", b"x", &["q", "C999999"]).await.unwrap().code, MetaCode::Ex);
    assert_eq!(c.meta_set("absent", b"x", &["q", "MR"]).await.unwrap().code, MetaCode::Ns);
    assert_eq!(c.meta_delete("mq", &["q"]).await.unwrap().code, MetaCode::Hd);
    assert_eq!(c.meta_delete("mq", &["q"]).await.unwrap().code, MetaCode::Nf);
    assert_eq!(c.meta_arithmetic("absent", &["q"]).await.unwrap().code, MetaCode::Nf);
    assert_eq!(c.meta_arithmetic("counter", &["q", "v"]).await.unwrap().code, MetaCode::Hd);
    // An error answer to a quiet call leaves the connection in step: the next call is fine.
    let long_opaque = format!("O{}", "x".repeat(40));
    assert!(matches!(c.meta_get("counter", &["q", &long_opaque]).await, Err(Error::Server { .. })));
    let after = c.meta_get("counter", &["v"]).await.unwrap();
    assert_eq!(after.value.as_deref(), Some(&b"16"[..]));
    assert!(matches!(c.meta_get("m1", &["a b"]).await, Err(Error::BadArgument(_))));
}

pub async fn multi_get_spans_all_servers_and_reports_a_dead_one(mut servers: Vec<ServerProcess>) {
    let c = Client::builder()
        .servers(servers.iter().map(ServerProcess::spec))
        .connect_timeout(Duration::from_millis(300))
        .io_timeout(Duration::from_secs(2))
        .failure_limit(100) // keep the dead server on the ring for this test
        .down_on_refused(false)
        .build()
        .unwrap();
    let keys = set_named_keys(&c, "mk", 600).await;
    let all = c.get_multi(&keys).await.unwrap();
    assert!(all.failures.is_empty(), "{:?}", all.failures);
    assert_eq!(all.items.len(), keys.len());
    assert!(keys.iter().all(|k| all.items[k.as_bytes()].value == k.as_bytes()));
    let with_cas = c.gets_multi(&keys[..10]).await.unwrap();
    assert!(with_cas.items.values().all(|i| i.cas.is_some()));

    let dead = servers[1].spec();
    servers[1].kill();
    let partial = c.get_multi(&keys).await.unwrap();
    assert_eq!(partial.failures.len(), 1, "{:?}", partial.failures);
    assert_eq!(partial.failures[0].server, dead);
    assert_eq!(partial.failures[0].error.server(), Some(dead.as_str()));
    let expected_alive = keys
        .iter()
        .filter(|k| c.server_for_key(k.as_bytes()).as_deref() != Some(dead.as_str()))
        .count();
    assert_eq!(partial.items.len(), expected_alive);
    assert!(expected_alive > 0 && expected_alive < keys.len());
}

pub async fn pipeline_runs_many_commands_per_round_trip(servers: Vec<ServerProcess>) {
    let c = client(&servers);
    let mut p = c.pipeline();
    for i in 0..200 {
        p.set(format!("p{i}"), format!("v{i}"), StoreOptions::default());
    }
    p.store(StoreCommand::Add, "p0", "again", StoreOptions::default());
    let results = p.execute().await;
    assert_eq!(results.len(), 201);
    assert!(results[..200]
        .iter()
        .all(|r| matches!(r, Ok(PipelineReply::Store(StoreOutcome::Stored)))));
    assert!(matches!(results[200], Ok(PipelineReply::Store(StoreOutcome::NotStored))));
    let mut p = c.pipeline();
    for i in 0..200 {
        p.get(format!("p{i}"));
    }
    p.get("absent").delete("p1").delete("absent");
    let results = p.execute().await;
    for (i, r) in results[..200].iter().enumerate() {
        match r {
            Ok(PipelineReply::Item(Some(item))) => {
                assert_eq!(item.value, format!("v{i}").as_bytes())
            }
            other => panic!("{i}: {other:?}"),
        }
    }
    assert!(matches!(results[200], Ok(PipelineReply::Item(None))));
    assert!(matches!(results[201], Ok(PipelineReply::Deleted(true))));
    assert!(matches!(results[202], Ok(PipelineReply::Deleted(false))));

    // Other command kinds, and an error reply that fails only its own command.
    c.set("num", "10", StoreOptions::default()).await.unwrap();
    let mut p = c.pipeline();
    p.incr("num", 5, false)
        .incr("p2", 1, false) // "v2" is not a number: CLIENT_ERROR for this one only
        .incr("nonum", 1, true)
        .touch("p3", 100)
        .touch("nonum", 100)
        .meta("mg", "p4", None, &["v", "f"])
        .meta("ms", "p5", Some("meta".into()), &["F3"])
        .meta("mg", "p5", None, &["v", "f"])
        .meta("mg", "p6", None, &["q", "v"])
        .meta("mg", "no-such-key", None, &["q", "v"])
        .get("p7");
    let r = p.execute().await;
    assert_eq!(r.len(), 11);
    assert!(matches!(r[0], Ok(PipelineReply::Number(Some(15)))), "{:?}", r[0]);
    match &r[1] {
        Err(Error::Server { kind: ServerErrorKind::Reply(line), .. }) => {
            assert!(line.starts_with("CLIENT_ERROR"), "{line}")
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(r[2], Ok(PipelineReply::Number(None))));
    assert!(matches!(r[3], Ok(PipelineReply::Touched(true))));
    assert!(matches!(r[4], Ok(PipelineReply::Touched(false))));
    match &r[5] {
        Ok(PipelineReply::Meta(m)) => assert_eq!(m.value.as_deref(), Some(&b"v4"[..])),
        other => panic!("{other:?}"),
    }
    assert!(matches!(&r[6], Ok(PipelineReply::Meta(m)) if m.code == MetaCode::Hd));
    match &r[7] {
        Ok(PipelineReply::Meta(m)) => {
            assert_eq!((m.value.as_deref(), m.flag_u64(b'f')), (Some(&b"meta"[..]), Some(3)))
        }
        other => panic!("{other:?}"),
    }
    // Quiet meta in a pipeline: a hit answers, a miss is told by the `mn` after it.
    assert!(matches!(&r[8], Ok(PipelineReply::Meta(m)) if m.value.as_deref() == Some(&b"v6"[..])));
    assert!(matches!(&r[9], Ok(PipelineReply::Meta(m)) if m.code == MetaCode::En));
    assert!(matches!(&r[10], Ok(PipelineReply::Item(Some(item))) if item.value == "v7".as_bytes()));

    // A value over the item size limit fails alone; the replies after it stay in step, even
    // when it was queued with noreply (which pipelines ignore).
    let mut p = c.pipeline();
    p.set("p8", vec![b'x'; 2 << 20], StoreOptions::default().noreply()).get("p8").get("p9");
    let r = p.execute().await;
    match &r[0] {
        Err(Error::Server { kind: ServerErrorKind::Reply(line), .. }) => {
            assert!(line.starts_with("SERVER_ERROR"), "{line}")
        }
        other => panic!("{other:?}"),
    }
    // (memcached 1.6.18 also unlinks the old p8 when a set fails for size; whether the
    // server does is its business, the client only has to stay in step.)
    assert!(matches!(&r[1], Ok(PipelineReply::Item(_))), "{:?}", r[1]);
    assert!(matches!(&r[2], Ok(PipelineReply::Item(Some(item))) if item.value == "v9".as_bytes()));
}

pub fn blocking_client_works_from_plain_threads(servers: Vec<ServerProcess>) {
    let c = BlockingClient::builder()
        .servers(servers.iter().map(ServerProcess::spec))
        .build_blocking()
        .unwrap();
    c.set("b1", "blocking", StoreOptions::default()).unwrap();
    assert_eq!(c.get("b1").unwrap().unwrap().value.as_ref(), b"blocking");
    assert!(c.incr("b1", 1).unwrap_err().to_string().contains("CLIENT_ERROR"));
    let c = std::sync::Arc::new(c);
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let c = std::sync::Arc::clone(&c);
            std::thread::spawn(move || {
                for i in 0..100 {
                    let key = format!("t{t}-{i}");
                    c.set(&key, &key, StoreOptions::default()).unwrap();
                    assert_eq!(c.get(&key).unwrap().unwrap().value, key.as_bytes());
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let keys: Vec<String> = (0..100).map(|i| format!("t3-{i}")).collect();
    assert_eq!(c.get_multi(&keys).unwrap().items.len(), 100);
    assert_eq!(c.meta_get("b1", &["v"]).unwrap().value.as_deref(), Some(&b"blocking"[..]));
}

pub async fn modula_routes_like_libmemcached_default(servers: Vec<ServerProcess>) {
    let c = Client::builder()
        .servers(servers.iter().map(ServerProcess::spec))
        .distribution(RouterConfig::modula())
        .build()
        .unwrap();
    for i in 0..100 {
        c.set(format!("mod{i}"), "x", StoreOptions::default()).await.unwrap();
    }
    // Each key is on exactly the server the router names.
    for (index, server) in servers.iter().enumerate() {
        let single = Client::builder().server(&server.spec()).build().unwrap();
        for i in 0..100 {
            let key = format!("mod{i}");
            let here = single.get(&key).await.unwrap().is_some();
            assert_eq!(
                here,
                c.server_for_key(key.as_bytes()) == Some(servers[index].spec()),
                "{key}"
            );
        }
    }
}

pub async fn replication_writes_k_copies_and_reads_fail_over(mut servers: Vec<ServerProcess>) {
    let c = Client::builder()
        .servers(servers.iter().map(ServerProcess::spec))
        .replicas(1)
        .connect_timeout(Duration::from_millis(300))
        .failure_limit(1000) // no ejection: reads must fail over by themselves
        .down_on_refused(false)
        .build()
        .unwrap();
    let keys = set_named_keys(&c, "rep", 60).await;
    // Every key is on exactly two servers.
    let singles: Vec<Client> =
        servers.iter().map(|s| Client::builder().server(&s.spec()).build().unwrap()).collect();
    for key in &keys {
        let mut copies = 0;
        for single in &singles {
            copies += single.get(key).await.unwrap().is_some() as usize;
        }
        assert_eq!(copies, 2, "{key}");
    }
    servers[0].kill();
    for key in &keys {
        assert_eq!(c.get(key).await.unwrap().unwrap().value, key.as_bytes(), "{key}");
        let meta = c.meta_get(key, &["v"]).await.unwrap();
        assert_eq!(meta.value.as_deref(), Some(key.as_bytes()), "mg {key}");
    }
    let multi = c.get_multi(&keys).await.unwrap();
    assert_eq!(multi.items.len(), keys.len());
}

pub async fn admin_commands_of_the_codec(servers: Vec<ServerProcess>) {
    let c = client(&servers);
    let ok = |replies: Vec<(String, memcached_client::Result<AdminReply>)>| {
        assert_eq!(replies.len(), 3);
        for (server, reply) in replies {
            assert_eq!(reply.unwrap(), AdminReply::Line("OK".into()), "{server}");
        }
    };
    ok(c.admin(&Request::CacheMemlimit { megabytes: 100, noreply: false }).await.unwrap());
    ok(c.admin(&Request::Stats(StatsRequest::Detail(StatsDetail::On))).await.unwrap());
    ok(c.admin(&Request::SlabsAutomove { setting: SlabsAutomove::Level(0), noreply: false })
        .await
        .unwrap());
    for i in 0..30 {
        c.set(format!("adm{i}"), "v", StoreOptions::default()).await.unwrap();
    }
    let dump = c.admin(&Request::LruCrawler(LruCrawlerCommand::Metadump(b"all"))).await.unwrap();
    let mut dumped = 0;
    for (server, reply) in dump {
        match reply.unwrap() {
            AdminReply::Lines(lines) => {
                for line in &lines {
                    assert!(line.starts_with("key="), "{server}: {line}");
                    let key = line[4..].split(' ').next().unwrap();
                    assert_eq!(c.server_for_key(key.as_bytes()), Some(server.clone()), "{key}");
                }
                dumped += lines.len();
            }
            other => panic!("{server}: {other:?}"),
        }
    }
    assert_eq!(dumped, 30, "metadump lists every key once, on its own server");
    let general = c.admin(&Request::Stats(StatsRequest::General)).await.unwrap();
    for (server, reply) in general {
        let AdminReply::Lines(lines) = reply.unwrap() else { panic!("{server}") };
        assert!(lines.iter().any(|l| l.starts_with("STAT pid ")), "{server}");
    }
    assert!(matches!(c.admin(&Request::Quit).await, Err(Error::BadArgument(_))));
    assert!(matches!(c.admin(&Request::Version).await, Err(Error::BadArgument(_))));
}

pub async fn idle_connections_are_replaced(servers: Vec<ServerProcess>) {
    let c = Client::builder()
        .server(&servers[0].spec())
        .max_connections_per_server(1)
        .idle_timeout(Duration::from_millis(1000))
        .build()
        .unwrap();
    let total_connections = || async {
        let stats = c.stats(None).await.remove(0).1.unwrap();
        let value = stats.iter().find(|(k, _)| k == "total_connections").unwrap().1.clone();
        value.parse::<u64>().unwrap()
    };
    let first = total_connections().await;
    assert_eq!(total_connections().await, first, "a fresh pooled connection is reused");
    tokio::time::sleep(Duration::from_millis(1300)).await;
    let after_idle = total_connections().await;
    assert_eq!(after_idle, first + 1, "the idle connection was replaced by a new one");
    let status = &c.server_status()[0];
    assert!(status.requests >= 3 && status.failures == 0, "{status:?}");
}
