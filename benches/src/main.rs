//! `loadgen`: a closed-loop load generator for memcached-compatible servers.
//!
//! Each thread runs one mio event loop over several connections. A connection sends a batch of
//! `--depth` requests in one write, waits for all replies, records the batch's latency for each
//! request in it, then sends the next batch. Request bytes are built into a reused buffer, so the
//! generator allocates nothing per request.
//!
//! ```text
//!   thread 1: poll ─┬─ conn 1: [write depth reqs] -> [read depth replies] -> repeat
//!                   ├─ conn 2: ...
//!                   └─ conn C
//!   thread T: ...                       results merged: ops/s, p50/p99/p999, hits, misses
//! ```
//!
//! With `--rate OPS` the load is fixed instead: every connection sends its next batch on a
//! schedule (OPS spread over all connections; a connection that falls behind sends at once and
//! keeps the schedule), so two servers can be compared at the same offered load. The poll
//! timeout has millisecond resolution, so sends due within one millisecond go out together.
//!
//! Output is one line of `name=value` pairs for `cargo xtask bench` to parse.

mod histogram;
mod load;
mod options;
mod response;

use std::process::ExitCode;

fn main() -> ExitCode {
    let options = match options::Options::parse(std::env::args().skip(1)) {
        Ok(options) => options,
        Err(message) => {
            eprintln!("loadgen: {message}\n\n{}", options::USAGE);
            return ExitCode::from(2);
        }
    };
    match load::run(&options) {
        Ok(report) => {
            println!("{report}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("loadgen: {error}");
            ExitCode::FAILURE
        }
    }
}
