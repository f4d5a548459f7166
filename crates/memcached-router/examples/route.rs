//! Checks the router from the shell.
//!
//! ```text
//! cargo run --release -p memcached-router --example route -- \
//!     --distribution ketama|modula|consistent|ketama-spy|libketama-original|rendezvous \
//!     [--hash NAME] HOST:PORT[:WEIGHT]...
//! ```
//!
//! Reads keys as lowercase hex, one per line, on stdin and prints the chosen `HOST:PORT` for
//! each, one per line, in order. `ketama` is php-memcached's `OPT_LIBKETAMA_COMPATIBLE`
//! (weighted, MD5); `modula` is libmemcached's default (one_at_a_time); `libketama-original` is
//! last.fm's libketama and `rendezvous` pymemcache's `HashClient`. `--hash` overrides the
//! key hash (one_at_a_time, md5, crc, fnv1_64, fnv1a_64, fnv1_32, fnv1a_32, murmur, jenkins,
//! murmur3).

use memcached_router::{HashAlgorithm, Router, RouterConfig, Server};
use std::io::{BufRead, BufWriter, Write};
use std::process::ExitCode;

fn usage() -> ExitCode {
    eprintln!(
        "usage: route --distribution \
         ketama|modula|consistent|ketama-spy|libketama-original|rendezvous [--hash NAME] \
         HOST:PORT[:WEIGHT]...\n  reads hex keys on stdin, prints HOST:PORT per key"
    );
    ExitCode::from(2)
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if text.len() % 2 != 0 {
        return None;
    }
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok()).collect()
}

fn main() -> ExitCode {
    let mut config = None;
    let mut hash = None;
    let mut servers = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        match flag.as_str() {
            "--distribution" | "-d" => {
                let Some(value) = inline.or_else(|| args.next()) else { return usage() };
                let Some(c) = RouterConfig::from_name(&value) else {
                    eprintln!("route: unknown distribution {value:?}");
                    return usage();
                };
                config = Some(c);
            }
            "--hash" => {
                let Some(value) = inline.or_else(|| args.next()) else { return usage() };
                let Some(h) = HashAlgorithm::from_name(&value) else {
                    eprintln!("route: unknown hash {value:?}");
                    return usage();
                };
                hash = Some(h);
            }
            "--help" | "-h" => return usage(),
            _ if arg.starts_with("--") => {
                eprintln!("route: unknown option {arg}");
                return usage();
            }
            _ => match Server::parse(&arg) {
                Ok(server) => servers.push(server),
                Err(e) => {
                    eprintln!("route: {e}");
                    return usage();
                }
            },
        }
    }
    let Some(mut config) = config else {
        eprintln!("route: --distribution is required");
        return usage();
    };
    if let Some(hash) = hash {
        config = config.with_key_hash(hash);
    }
    let router = match Router::new(servers, config) {
        Ok(router) => router,
        Err(e) => {
            eprintln!("route: {e}");
            return usage();
        }
    };
    let stdin = std::io::stdin().lock();
    let mut out = BufWriter::new(std::io::stdout().lock());
    for (number, line) in stdin.lines().enumerate() {
        let line = match line {
            Ok(line) => line,
            Err(e) => {
                eprintln!("route: reading stdin: {e}");
                return ExitCode::FAILURE;
            }
        };
        let text = line.trim();
        let Some(key) = decode_hex(text).filter(|k| !k.is_empty()) else {
            eprintln!("route: line {}: not a non-empty hex key: {text:?}", number + 1);
            return ExitCode::FAILURE;
        };
        let written = match router.server_for(&key) {
            Some(server) => writeln!(out, "{server}"),
            None => writeln!(out, "-"),
        };
        if written.is_err() {
            return ExitCode::FAILURE;
        }
    }
    if out.flush().is_err() {
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
