//! Keys written by php-memcached with `OPT_LIBKETAMA_COMPATIBLE` to three servers are all found
//! by this client on the same servers, and the reverse. Needs /usr/bin/php with the memcached
//! extension and /usr/bin/memcached.

mod support;

use memcached_client::{Client, StoreOptions};
use std::collections::HashMap;
use support::{run_script, ServerProcess};

const PHP: &str = "/usr/bin/php";

fn php(script: &str) -> String {
    run_script(PHP, &["-r"], script, "php-cli and php-memcached")
}

fn php_client(servers: &[ServerProcess]) -> String {
    let mut s = String::from(
        "if (!class_exists('Memcached')) { fwrite(STDERR, 'php-memcached missing'); exit(2); }\n\
         $m = new Memcached();\n$m->setOption(Memcached::OPT_LIBKETAMA_COMPATIBLE, true);\n",
    );
    for server in servers {
        s.push_str(&format!("$m->addServer('127.0.0.1', {});\n", server.port));
    }
    s
}

/// Parses `key\thost:port\tvalue` lines.
fn lines(out: &str) -> Vec<(String, String, String)> {
    out.lines()
        .filter(|l| !l.is_empty())
        .map(|l| {
            let mut parts = l.splitn(3, '\t');
            (
                parts.next().unwrap().into(),
                parts.next().unwrap_or("").into(),
                parts.next().unwrap_or("").into(),
            )
        })
        .collect()
}

#[tokio::test]
async fn php_writes_rust_reads_and_back_on_memcached() {
    php_writes_rust_reads_and_back(ServerProcess::memcached).await
}

#[tokio::test]
async fn php_writes_rust_reads_and_back_on_our_server() {
    php_writes_rust_reads_and_back(ServerProcess::ours).await
}

async fn php_writes_rust_reads_and_back(start: fn() -> ServerProcess) {
    let servers: Vec<ServerProcess> = (0..3).map(|_| start()).collect();
    let client =
        Client::builder().servers(servers.iter().map(ServerProcess::spec)).build().unwrap();
    let singles: HashMap<String, Client> = servers
        .iter()
        .map(|s| (s.spec(), Client::builder().server(&s.spec()).build().unwrap()))
        .collect();

    // php → rust
    let script = php_client(&servers)
        + "for ($i = 0; $i < 1000; $i++) { $k = \"php:key:$i\"; if (!$m->set($k, \"v$i\")) { fwrite(STDERR, $m->getResultMessage()); exit(3); }\n\
           $s = $m->getServerByKey($k); echo $k, \"\\t\", $s['host'], ':', $s['port'], \"\\n\"; }";
    let written = lines(&php(&script));
    assert_eq!(written.len(), 1000);
    let keys: Vec<&str> = written.iter().map(|(k, _, _)| k.as_str()).collect();
    let found = client.get_multi(&keys).await.unwrap();
    assert!(found.failures.is_empty(), "{:?}", found.failures);
    assert_eq!(found.items.len(), 1000, "every php key is found by the rust client");
    let mut per_server: HashMap<&str, usize> = HashMap::new();
    for (i, (key, server, _)) in written.iter().enumerate() {
        assert_eq!(found.items[key.as_bytes()].value, format!("v{i}").as_bytes());
        assert_eq!(
            client.server_for_key(key.as_bytes()).as_deref(),
            Some(server.as_str()),
            "{key}"
        );
        assert!(singles[server].get(key.as_str()).await.unwrap().is_some(), "{key} is on {server}");
        *per_server.entry(server).or_default() += 1;
    }
    assert_eq!(per_server.len(), 3, "keys spread over all three servers: {per_server:?}");

    // rust → php
    for i in 0..1000 {
        client
            .set(format!("rust:key:{i}"), format!("r{i}"), StoreOptions::default())
            .await
            .unwrap();
    }
    let script = php_client(&servers)
        + "$keys = []; for ($i = 0; $i < 1000; $i++) $keys[] = \"rust:key:$i\";\n\
           $got = $m->getMulti($keys);\n\
           foreach ($keys as $k) { $s = $m->getServerByKey($k); echo $k, \"\\t\", $s['host'], ':', $s['port'], \"\\t\", $got[$k] ?? 'MISSING', \"\\n\"; }";
    let read = lines(&php(&script));
    assert_eq!(read.len(), 1000);
    for (i, (key, server, value)) in read.iter().enumerate() {
        assert_eq!(value, &format!("r{i}"), "php found {key}");
        assert_eq!(
            client.server_for_key(key.as_bytes()).as_deref(),
            Some(server.as_str()),
            "{key}"
        );
    }

    // With a namespace (php OPT_PREFIX_KEY; the prefix is not hashed, as in libmemcached).
    let script = php_client(&servers)
        + "$m->setOption(Memcached::OPT_PREFIX_KEY, 'app:');\n\
           for ($i = 0; $i < 300; $i++) { $k = \"ns:$i\"; if (!$m->set($k, \"n$i\")) exit(3);\n\
           $s = $m->getServerByKey($k); echo $k, \"\\t\", $s['host'], ':', $s['port'], \"\\n\"; }";
    let written = lines(&php(&script));
    assert_eq!(written.len(), 300);
    let namespaced = Client::builder()
        .servers(servers.iter().map(ServerProcess::spec))
        .key_prefix("app:")
        .build()
        .unwrap();
    let keys: Vec<&str> = written.iter().map(|(k, _, _)| k.as_str()).collect();
    let found = namespaced.get_multi(&keys).await.unwrap();
    assert_eq!(found.items.len(), 300, "multi-get results are keyed without the prefix");
    for (i, (key, server, _)) in written.iter().enumerate() {
        let expected = format!("n{i}");
        assert_eq!(found.items[key.as_bytes()].value, expected.as_bytes());
        assert_eq!(namespaced.get(key.as_str()).await.unwrap().unwrap().value, expected.as_bytes());
        assert_eq!(namespaced.server_for_key(key.as_bytes()).as_deref(), Some(server.as_str()));
        let stored_as = format!("app:{key}");
        assert!(
            singles[server].get(&stored_as).await.unwrap().is_some(),
            "{stored_as} on {server}"
        );
    }

    // Group keys (php setByKey / getByKey): the server is chosen by the group key.
    let script = php_client(&servers)
        + "foreach (['g1', 'g2', 'g3'] as $g) { for ($i = 0; $i < 50; $i++) { $k = \"$g:item:$i\";\n\
           if (!$m->setByKey($g, $k, \"$g-$i\")) exit(3); $s = $m->getServerByKey($g);\n\
           echo $k, \"\\t\", $s['host'], ':', $s['port'], \"\\t\", $g, \"\\n\"; } }";
    let written = lines(&php(&script));
    assert_eq!(written.len(), 150);
    for (key, server, group) in &written {
        let item = client.get_by_key(group.as_str(), key.as_str()).await.unwrap();
        assert!(item.is_some(), "{key} by group {group}");
        assert!(singles[server].get(key.as_str()).await.unwrap().is_some(), "{key} on {server}");
    }
    let g1: Vec<&str> = written.iter().filter(|w| w.2 == "g1").map(|w| w.0.as_str()).collect();
    assert_eq!(client.get_multi_by_key("g1", &g1).await.unwrap().items.len(), 50);
    // And back: rust setByKey, php getByKey.
    client.set_by_key("g9", "from-rust", "yes", StoreOptions::default()).await.unwrap();
    let script = php_client(&servers) + "echo $m->getByKey('g9', 'from-rust');";
    assert_eq!(php(&script), "yes");
    assert!(client.delete_by_key("g9", "from-rust").await.unwrap());
}

/// Values php-memcached compresses (FastLZ by default, zlib on request, levels 1 and 2 of
/// FastLZ by size) and its scalar types come back as PHP stored them through `php::decode`.
#[tokio::test]
async fn php_compressed_and_typed_values_decode() {
    use memcached_client::php::{self, PhpValue, FLAG_COMPRESSED, FLAG_FASTLZ, FLAG_ZLIB};

    let server = ServerProcess::ours();
    let mut script = php_client(std::slice::from_ref(&server));
    script.push_str(
        r#"
        mt_srand(42);
        $block = ''; for ($i = 0; $i < 10000; $i++) { $block .= chr(mt_rand(0, 255)); }
        $texts = [
            'small' => 'short text',
            'l1' => str_repeat('abcdefgh', 1000),
            'l1mixed' => str_repeat(substr($block, 0, 4000), 7),
            'l2' => str_repeat($block, 30),
        ];
        $raw = new Memcached(); $raw->addServer('127.0.0.1', $m->getServerList()[0]['port']);
        $raw->setOption(Memcached::OPT_COMPRESSION, false);
        foreach ($texts as $k => $v) {
            $m->setOption(Memcached::OPT_COMPRESSION_TYPE, Memcached::COMPRESSION_FASTLZ);
            $m->set("fastlz:$k", $v) or exit(1);
            $m->setOption(Memcached::OPT_COMPRESSION_TYPE, Memcached::COMPRESSION_ZLIB);
            $m->set("zlib:$k", $v) or exit(1);
            $raw->set("raw:$k", $v) or exit(1);
        }
        $m->set('long', -1234567890123) or exit(1);
        $m->set('double', 2.5) or exit(1);
        $m->set('true', true) or exit(1);
        $m->set('false', false) or exit(1);
        $m->set('array', ['a' => 1, 'b' => [2, 3]]) or exit(1);
        echo serialize(['a' => 1, 'b' => [2, 3]]), "\n";
        "#,
    );
    let serialized = php(&script);
    let client = Client::builder().server(&server.spec()).build().unwrap();
    for text in ["small", "l1", "l1mixed", "l2"] {
        let raw = client.get(format!("raw:{text}")).await.unwrap().unwrap();
        assert_eq!(raw.flags, 0, "the raw copy is stored plainly");
        for (codec, bit) in [("fastlz", FLAG_FASTLZ), ("zlib", FLAG_ZLIB)] {
            let item = client.get(format!("{codec}:{text}")).await.unwrap().unwrap();
            if text != "small" {
                assert_eq!(
                    item.flags & (FLAG_COMPRESSED | bit),
                    FLAG_COMPRESSED | bit,
                    "{codec}:{text}"
                );
            }
            match php::decode(&item).unwrap() {
                PhpValue::String(value) => assert!(value == raw.value, "{codec}:{text} differs"),
                other => panic!("{codec}:{text}: {other:?}"),
            }
        }
    }
    let value = |key: &'static str| {
        let client = &client;
        async move { php::decode(&client.get(key).await.unwrap().unwrap()).unwrap() }
    };
    assert_eq!(value("long").await, PhpValue::Long(-1_234_567_890_123));
    assert_eq!(value("double").await, PhpValue::Double(2.5));
    assert_eq!(value("true").await, PhpValue::Bool(true));
    assert_eq!(value("false").await, PhpValue::Bool(false));
    match value("array").await {
        PhpValue::Serialized(bytes) => assert_eq!(bytes.as_ref(), serialized.trim().as_bytes()),
        other => panic!("array: {other:?}"),
    }
}

/// The reverse: values this client stores with `php::encode` (typed, user flags, zlib above
/// the threshold) are what php-memcached reads.
#[tokio::test]
async fn values_encoded_for_php_read_back_in_php() {
    use bytes::Bytes;
    use memcached_client::php::{self, EncodeOptions, PhpValue};

    let server = ServerProcess::ours();
    let client = Client::builder().server(&server.spec()).build().unwrap();
    let long_text = "abcdefgh".repeat(1000);
    let values = [
        ("text", PhpValue::String(Bytes::from_static(b"short text"))),
        ("long_text", PhpValue::String(Bytes::from(long_text.clone()))),
        ("int", PhpValue::Long(-1_234_567_890_123)),
        ("float", PhpValue::Double(0.1)),
        ("huge", PhpValue::Double(1e300)),
        ("inf", PhpValue::Double(f64::NEG_INFINITY)),
        ("yes", PhpValue::Bool(true)),
        ("no", PhpValue::Bool(false)),
    ];
    let options = EncodeOptions { user_flags: 7, ..EncodeOptions::default() };
    for (key, value) in &values {
        let (flags, bytes) = php::encode(value, &options);
        let stored = StoreOptions::default().with_flags(flags);
        client.set(format!("enc:{key}"), bytes, stored).await.unwrap();
    }
    let stored = client.get("enc:long_text").await.unwrap().unwrap();
    assert_ne!(stored.flags & php::FLAG_COMPRESSED, 0, "8000 repetitive bytes go compressed");
    let keys: Vec<String> = values.iter().map(|(k, _)| format!("'enc:{k}'")).collect();
    let script = php_client(std::slice::from_ref(&server))
        + &format!(
            "foreach ([{}] as $k) {{ $r = $m->get($k, null, Memcached::GET_EXTENDED); \
             echo $k, ' ', var_export($r['value'], true), ' ', $r['flags'], \"\\n\"; }}",
            keys.join(", ")
        );
    let out = php(&script);
    let expected = format!(
        "enc:text 'short text' 7\nenc:long_text '{long_text}' 7\nenc:int -1234567890123 7\n\
         enc:float 0.1 7\nenc:huge 1.0E+300 7\nenc:inf -INF 7\nenc:yes true 7\nenc:no false 7\n"
    );
    assert_eq!(out, expected);
}
