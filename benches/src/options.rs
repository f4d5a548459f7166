//! Command-line options of the load generator.

use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;

pub const USAGE: &str = "usage: loadgen --server HOST:PORT [--threads N] [--conns N] [--depth N]
       [--get-ratio F] [--keys N] [--key-size N] [--value-size N] [--mget N]
       [--duration SECS] [--warmup SECS] [--rate OPS] [--fill] [--fill-only]
  --conns is per thread; --mget N makes every get a multi-get of N keys;
  --rate caps the offered load at OPS operations per second over all connections (each
  connection sends its next batch on a fixed schedule; latency counts from the send);
  --fill sets every key once before measuring; --fill-only stops after that.";

/// What to send, to whom, for how long.
#[derive(Debug, Clone)]
pub struct Options {
    pub server: SocketAddr,
    pub threads: usize,
    pub conns_per_thread: usize,
    pub depth: usize,
    pub get_ratio: f64,
    pub keys: u64,
    pub key_size: usize,
    pub value_size: usize,
    pub mget: usize,
    pub duration: Duration,
    pub warmup: Duration,
    /// Operations per second over all connections; 0 = as fast as the replies come back.
    pub rate: f64,
    pub fill: bool,
    pub fill_only: bool,
}

impl Options {
    pub fn parse(args: impl Iterator<Item = String>) -> Result<Options, String> {
        let mut options = Options {
            server: "127.0.0.1:11211".parse().expect("literal address"),
            threads: 1,
            conns_per_thread: 8,
            depth: 1,
            get_ratio: 0.9,
            keys: 100_000,
            key_size: 10,
            value_size: 32,
            mget: 0,
            duration: Duration::from_secs(5),
            warmup: Duration::from_secs(1),
            rate: 0.0,
            fill: false,
            fill_only: false,
        };
        let mut args = args.peekable();
        while let Some(flag) = args.next() {
            if flag == "--fill" {
                options.fill = true;
                continue;
            }
            if flag == "--fill-only" {
                options.fill = true;
                options.fill_only = true;
                continue;
            }
            let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
            match flag.as_str() {
                "--server" => {
                    options.server = value
                        .to_socket_addrs()
                        .map_err(|e| format!("--server {value}: {e}"))?
                        .next()
                        .ok_or_else(|| format!("--server {value}: no address"))?
                }
                "--threads" => options.threads = number(&flag, &value)?,
                "--conns" => options.conns_per_thread = number(&flag, &value)?,
                "--depth" => options.depth = number(&flag, &value)?,
                "--keys" => options.keys = number(&flag, &value)?,
                "--key-size" => options.key_size = number(&flag, &value)?,
                "--value-size" => options.value_size = number(&flag, &value)?,
                "--mget" => options.mget = number(&flag, &value)?,
                "--duration" => options.duration = Duration::from_secs_f64(number(&flag, &value)?),
                "--warmup" => options.warmup = Duration::from_secs_f64(number(&flag, &value)?),
                "--get-ratio" => options.get_ratio = number(&flag, &value)?,
                "--rate" => options.rate = number(&flag, &value)?,
                _ => return Err(format!("unknown option {flag}")),
            }
        }
        if options.threads == 0 || options.conns_per_thread == 0 || options.depth == 0 {
            return Err("--threads, --conns and --depth must be at least 1".into());
        }
        if !(options.rate >= 0.0 && options.rate.is_finite()) {
            return Err("--rate must be a non-negative number".into());
        }
        if !(0.0..=1.0).contains(&options.get_ratio) {
            return Err("--get-ratio must be within 0..=1".into());
        }
        let digits = options.keys.max(1).to_string().len();
        if options.key_size < digits + 1 || options.key_size > 250 {
            return Err(format!(
                "--key-size must be within {}..=250 for {} keys",
                digits + 1,
                options.keys
            ));
        }
        Ok(options)
    }
}

fn number<T: std::str::FromStr>(flag: &str, value: &str) -> Result<T, String> {
    value.parse().map_err(|_| format!("{flag}: not a number: {value}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Options, String> {
        Options::parse(args.iter().map(|s| s.to_string()))
    }

    #[test]
    fn flags_set_fields() {
        let options =
            parse(&["--depth", "16", "--get-ratio", "0.5", "--mget", "100", "--fill"]).unwrap();
        assert_eq!(options.depth, 16);
        assert_eq!(options.get_ratio, 0.5);
        assert_eq!(options.mget, 100);
        assert!(options.fill && !options.fill_only);
    }

    #[test]
    fn bad_values_are_refused() {
        assert!(parse(&["--depth", "0"]).is_err());
        assert!(parse(&["--get-ratio", "2"]).is_err());
        assert!(parse(&["--keys", "1000000", "--key-size", "5"]).is_err());
        assert!(parse(&["--bogus", "1"]).is_err());
        assert!(parse(&["--depth"]).is_err());
    }
}
