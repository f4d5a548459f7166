//! The TOML config file (`--config-file PATH`): every key optional, defaults are memcached's,
//! and command-line flags win over it.
//!
//! Keys are the [`Settings`] field names (`tcp_port = 11211`, `memory_limit_mb = 64`,
//! `listen = ["127.0.0.1"]`, `evict = false`...). Every `-o` name is a key too, with the `-o`
//! units (`idle_timeout = 30`, `watcher_logbuf_size = 256` in KB, `maxconns_fast = false`),
//! and `extended = "a=1,b"` (or a list of such strings) takes memcached's `-o` syntax as is.
//! Values go through the same checks as the flags. See `memcached-server.example.toml`.

use std::path::Path;

use super::args::{apply_option, Opt, ParseState};
use super::error::SettingsError;
use super::extended;
use super::Settings;

/// Reads and applies the file at `path`; returns what the final checks need to know.
pub(crate) fn apply_file(s: &mut Settings, path: &Path) -> Result<ParseState, SettingsError> {
    let text = std::fs::read_to_string(path).map_err(|e| SettingsError::ConfigFile {
        path: path.to_path_buf(),
        message: format!("cannot read it: {e}"),
    })?;
    apply_str(s, &text)
        .map_err(|message| SettingsError::ConfigFile { path: path.to_path_buf(), message })
}

/// A TOML value, converted from the parser's borrowed form (the server crate uses the `toml`
/// crate without serde, so `Value` is not available).
#[derive(Debug, Clone, PartialEq)]
enum Value {
    String(String),
    Integer(i64),
    Float(f64),
    Boolean(bool),
    Array(Vec<Value>),
    /// A datetime or a table: never valid here.
    Other(&'static str),
}

impl Value {
    fn from_toml(value: &toml::de::DeValue<'_>) -> Result<Self, String> {
        use toml::de::DeValue;
        Ok(match value {
            DeValue::String(v) => Self::String(v.to_string()),
            DeValue::Integer(v) => Self::Integer(
                i64::from_str_radix(v.as_str(), v.radix())
                    .map_err(|_| format!("integer {v} does not fit in 64 bits"))?,
            ),
            DeValue::Float(v) => {
                Self::Float(v.as_str().parse().map_err(|_| format!("bad float {v}"))?)
            }
            DeValue::Boolean(v) => Self::Boolean(*v),
            DeValue::Array(items) => Self::Array(
                items.iter().map(|i| Self::from_toml(i.get_ref())).collect::<Result<_, _>>()?,
            ),
            DeValue::Datetime(_) => Self::Other("a datetime"),
            DeValue::Table(_) => Self::Other("a table"),
        })
    }

    fn type_str(&self) -> &'static str {
        match self {
            Self::String(_) => "a string",
            Self::Integer(_) => "an integer",
            Self::Float(_) => "a float",
            Self::Boolean(_) => "a boolean",
            Self::Array(_) => "an array",
            Self::Other(what) => what,
        }
    }

    fn as_bool(&self) -> Option<bool> {
        match self {
            Self::Boolean(b) => Some(*b),
            _ => None,
        }
    }

    fn as_str(&self) -> Option<&str> {
        match self {
            Self::String(v) => Some(v),
            _ => None,
        }
    }
}

/// The 1-based line of a byte offset, for error messages.
fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())].iter().filter(|b| **b == b'\n').count() + 1
}

/// Applies TOML text; errors are plain messages (the caller adds the path).
pub(crate) fn apply_str(s: &mut Settings, text: &str) -> Result<ParseState, String> {
    let table = toml::de::DeTable::parse(text).map_err(|e| e.to_string())?;
    let mut state = ParseState::default();
    for (key, value) in table.get_ref().iter() {
        let name = key.get_ref().as_ref();
        let line = line_of(text, key.span().start);
        let value = Value::from_toml(value.get_ref())
            .map_err(|e| format!("line {line}, key `{name}`: {e}"))?;
        apply_key(s, &mut state, name, &value)
            .map_err(|e| format!("line {line}, key `{name}`: {e}"))?;
    }
    Ok(state)
}

/// A flag option whose TOML value is a scalar, passed to the flag's own parser.
fn flag_for_key(key: &str) -> Option<Opt> {
    Some(match key {
        "tcp_port" => Opt::Port,
        "udp_port" => Opt::UdpPort,
        "unix_socket" => Opt::UnixSocket,
        "user" => Opt::User,
        "pidfile" => Opt::Pidfile,
        "memory_limit_mb" => Opt::MemoryLimit,
        "max_connections" => Opt::ConnLimit,
        "growth_factor" => Opt::GrowthFactor,
        "chunk_size_min" => Opt::SlabMinSize,
        "threads" => Opt::Threads,
        "reqs_per_event" => Opt::ReqsPerEvent,
        "backlog" => Opt::Backlog,
        "binding_protocol" => Opt::Protocol,
        "item_size_max" => Opt::MaxItemSize,
        "auth_file" => Opt::AuthFile,
        "memory_file" => Opt::MemoryFile,
        "prefix_delimiter" => Opt::Delimiter,
        "napi_ids" => Opt::NapiIds,
        "repl_peer" => Opt::ReplPeer,
        "repl_port" => Opt::ReplPort,
        "repl_secret_file" => Opt::ReplSecretFile,
        "vrrp" => Opt::Vrrp,
        _ => return None,
    })
}

fn scalar(value: &Value) -> Result<String, String> {
    match value {
        Value::String(v) => Ok(v.clone()),
        Value::Integer(v) => Ok(v.to_string()),
        Value::Float(v) => Ok(v.to_string()),
        other => Err(format!("expected a string or a number, found {}", other.type_str())),
    }
}

fn boolean(value: &Value) -> Result<bool, String> {
    value.as_bool().ok_or_else(|| format!("expected true or false, found {}", value.type_str()))
}

fn strings(value: &Value) -> Result<Vec<String>, String> {
    match value {
        Value::String(v) => Ok(vec![v.clone()]),
        Value::Array(items) => items
            .iter()
            .map(|item| {
                item.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| format!("expected strings, found {}", item.type_str()))
            })
            .collect(),
        other => Err(format!("expected a string or a list of strings, found {}", other.type_str())),
    }
}

fn apply_key(
    s: &mut Settings,
    state: &mut ParseState,
    key: &str,
    value: &Value,
) -> Result<(), String> {
    let err = |e: SettingsError| e.to_string();
    if let Some(opt) = flag_for_key(key) {
        let v = scalar(value)?;
        return apply_option(s, state, opt, Some(&v)).map_err(err);
    }
    match key {
        "unix_mask" => {
            // A string is octal as on the command line ("700"); an integer is taken as is
            // (write it 0o700).
            let v = match value {
                Value::Integer(n) => format!("{n:o}"),
                other => scalar(other)?,
            };
            apply_option(s, state, Opt::UnixMask, Some(&v)).map_err(err)?;
        }
        "listen" => {
            for entry in strings(value)? {
                apply_option(s, state, Opt::Listen, Some(&entry)).map_err(err)?;
            }
        }
        "extended" => {
            for list in strings(value)? {
                extended::apply_list(s, state, &list).map_err(err)?;
            }
        }
        "verbosity" => {
            let n = match value {
                Value::Integer(n) => u8::try_from(*n).ok(),
                _ => None,
            }
            .filter(|n| *n <= 3)
            .ok_or("expected an integer from 0 to 3")?;
            s.verbosity = n;
        }
        "daemonize" => s.daemonize = boolean(value)?,
        "lock_memory" => s.lock_memory = boolean(value)?,
        "enable_coredumps" => s.enable_coredumps = boolean(value)?,
        "large_pages" => {
            if boolean(value)? {
                apply_option(s, state, Opt::LargePages, None).map_err(err)?;
            }
        }
        "evict" => s.evict = boolean(value)?,
        "cas_enabled" => s.cas_enabled = boolean(value)?,
        "enable_shutdown" => s.enable_shutdown = boolean(value)?,
        "flush_enabled" => s.flush_enabled = boolean(value)?,
        "dump_enabled" => s.dump_enabled = boolean(value)?,
        "watch_enabled" => s.watch_enabled = boolean(value)?,
        "detail_enabled" => s.detail_enabled = boolean(value)?,
        // Field names that differ from their -o name.
        "hashpower_init" => {
            let v = scalar(value)?;
            if v != "0" {
                extended::apply_one(s, state, "hashpower", Some(&v)).map_err(err)?;
            }
        }
        "hash_expand" => s.hash_expand = boolean(value)?,
        "inline_ascii_response" => s.inline_ascii_response = boolean(value)?,
        "lru_segmented" => s.lru_segmented = boolean(value)?,
        "temp_lru" => s.temp_lru = boolean(value)?,
        _ if extended::is_known_name(key) => match value {
            Value::Boolean(true) => {
                extended::apply_one(s, state, key, None).map_err(err)?;
            }
            Value::Boolean(false) => {
                let negated = format!("no_{key}");
                if extended::is_known_name(&negated) {
                    extended::apply_one(s, state, &negated, None).map_err(err)?;
                } else if key == "track_sizes" {
                    s.track_sizes = false;
                }
                // Otherwise the switch is off by default (`modern`, `ext_drop_unread`,
                // `no_hashexpand`...): `false` leaves it off.
            }
            other => {
                let v = scalar(other)?;
                extended::apply_one(s, state, key, Some(&v)).map_err(err)?;
            }
        },
        _ => return Err("unknown key".to_string()),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::{parse_args, BindingProtocol, Command, HashAlgorithm};
    use std::path::PathBuf;

    /// A TOML file in the temp dir, removed on drop.
    struct TempConfig(PathBuf);

    impl TempConfig {
        fn new(name: &str, text: &str) -> Self {
            let path = std::env::temp_dir()
                .join(format!("memcached-server-{}-{name}.toml", std::process::id()));
            std::fs::write(&path, text).unwrap();
            Self(path)
        }

        fn arg(&self) -> String {
            format!("--config-file={}", self.0.display())
        }
    }

    impl Drop for TempConfig {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    fn run(args: &[String]) -> Settings {
        match parse_args(args.iter().cloned()) {
            Ok(Command::Run(s)) => *s,
            other => panic!("{args:?}: expected Run, got {other:?}"),
        }
    }

    fn apply(text: &str) -> Result<Settings, String> {
        let mut s = Settings::default();
        apply_str(&mut s, text)?;
        Ok(s)
    }

    #[test]
    fn an_empty_file_keeps_every_default() {
        assert_eq!(apply("").unwrap(), Settings::default());
    }

    #[test]
    fn every_key_is_read() {
        let s = apply(
            r##"
            tcp_port = 1300
            udp_port = 1301
            unix_socket = "/tmp/mc.sock"
            unix_mask = "755"
            listen = ["127.0.0.1", "127.0.0.2:1400"]
            backlog = 100
            max_connections = 50
            idle_timeout = 30
            binding_protocol = "ascii"
            threads = 2
            reqs_per_event = 7
            daemonize = true
            user = "nobody"
            pidfile = "/run/mc.pid"
            lock_memory = true
            enable_coredumps = true
            verbosity = 2
            memory_limit_mb = 128
            evict = false
            growth_factor = 1.5
            chunk_size_min = 96
            item_size_max = "2m"
            cas_enabled = false
            enable_shutdown = true
            flush_enabled = false
            dump_enabled = false
            watch_enabled = false
            prefix_delimiter = "#"
            hash_algorithm = "jenkins"
            maxconns_fast = false
            lru_crawler = false
            hashpower_init = 16
            hash_expand = false
            repl_peer = "10.0.0.2"
            repl_port = 31212
            "##,
        )
        .unwrap();
        assert_eq!((s.tcp_port, s.udp_port), (1300, 1301));
        assert_eq!(s.unix_socket, Some(PathBuf::from("/tmp/mc.sock")));
        assert_eq!(s.unix_mask, 0o755);
        assert_eq!(s.listen, vec!["127.0.0.1", "127.0.0.2:1400"]);
        assert_eq!((s.backlog, s.max_connections, s.idle_timeout), (100, 50, 30));
        assert_eq!(s.binding_protocol, BindingProtocol::Ascii);
        assert_eq!((s.threads, s.reqs_per_event), (2, 7));
        assert!(s.daemonize && s.lock_memory && s.enable_coredumps && s.enable_shutdown);
        assert_eq!(s.user.as_deref(), Some("nobody"));
        assert_eq!(s.pidfile, Some(PathBuf::from("/run/mc.pid")));
        assert_eq!(s.verbosity, 2);
        assert_eq!(s.memory_limit_mb, 128);
        assert!(!s.evict && !s.cas_enabled && !s.flush_enabled && !s.dump_enabled);
        assert!(!s.watch_enabled && !s.maxconns_fast && !s.lru_crawler && !s.hash_expand);
        assert_eq!(s.growth_factor, 1.5);
        assert_eq!(s.chunk_size_min, 96);
        assert_eq!(s.item_size_max, 2 * 1024 * 1024);
        assert_eq!(s.prefix_delimiter, '#');
        assert_eq!(s.hash_algorithm, HashAlgorithm::Jenkins);
        assert_eq!(s.hashpower_init, 16);
        assert_eq!(s.repl_peer.as_deref(), Some("10.0.0.2"));
        assert_eq!(s.repl_port, 31212);
    }

    #[test]
    fn integers_work_for_sizes_and_masks() {
        let s = apply("item_size_max = 524288\nunix_mask = 0o711\ngrowth_factor = 2").unwrap();
        assert_eq!(s.item_size_max, 512 * 1024);
        assert_eq!(s.unix_mask, 0o711);
        assert_eq!(s.growth_factor, 2.0);
    }

    #[test]
    fn switches_can_be_turned_off_by_name() {
        let s = apply("maxconns_fast = false\nslab_reassign = false\ntrack_sizes = false").unwrap();
        assert!(!s.maxconns_fast && !s.slab_reassign && !s.track_sizes);
        let s = apply("track_sizes = true\nno_hashexpand = true\nmodern = false").unwrap();
        assert!(s.track_sizes && !s.hash_expand);
    }

    #[test]
    fn extended_takes_memcached_syntax() {
        let s = apply(r#"extended = "idle_timeout=5,track_sizes""#).unwrap();
        assert_eq!(s.idle_timeout, 5);
        assert!(s.track_sizes);
        let s = apply(r#"extended = ["idle_timeout=6", "no_lru_maintainer"]"#).unwrap();
        assert_eq!(s.idle_timeout, 6);
        assert!(!s.lru_maintainer);
    }

    #[test]
    fn bad_files_are_refused_with_the_line() {
        let e = apply("tcp_port = 1\nfooble = 3\n").unwrap_err();
        assert!(e.contains("line 2") && e.contains("`fooble`") && e.contains("unknown key"), "{e}");
        let e = apply("threads = 0").unwrap_err();
        assert!(e.contains("Number of threads must be greater than 0"), "{e}");
        let e = apply("daemonize = \"yes\"").unwrap_err();
        assert!(e.contains("expected true or false"), "{e}");
        let e = apply("tcp_port = [1]").unwrap_err();
        assert!(e.contains("expected a string or a number"), "{e}");
        let e = apply("listen = [1]").unwrap_err();
        assert!(e.contains("expected strings"), "{e}");
        let e = apply("verbosity = 9").unwrap_err();
        assert!(e.contains("0 to 3"), "{e}");
        assert!(apply("tcp_port = ").is_err());
        assert!(apply("hashpower = 1.5").is_err());
        assert!(apply("[section]\nkey = 1").is_err(), "tables are refused");
    }

    #[test]
    fn flags_win_over_the_file_wherever_they_are() {
        let file = TempConfig::new(
            "flags-win",
            "tcp_port = 1300\nmemory_limit_mb = 128\nlisten = [\"127.0.0.2\"]\nthreads = 8\n",
        );
        let s = run(&["-p".into(), "1500".into(), file.arg(), "-l".into(), "127.0.0.3".into()]);
        assert_eq!(s.tcp_port, 1500, "flag before --config-file still wins");
        assert_eq!(s.memory_limit_mb, 128, "file value where no flag is given");
        assert_eq!(s.threads, 8);
        assert_eq!(s.listen, vec!["127.0.0.3"], "-l replaces the file's list");
        assert_eq!(s.config_file, Some(file.0.clone()));
    }

    #[test]
    fn the_file_goes_through_the_final_checks() {
        let file = TempConfig::new("final-checks", "item_size_max = \"64m\"\n");
        let e = parse_args([file.arg()]).unwrap_err();
        assert!(e.to_string().contains("1/2 of memory max"), "{e}");
        // ...which a flag can fix.
        let s = run(&[file.arg(), "-m".into(), "128".into()]);
        assert_eq!(s.item_size_max, 64 * 1024 * 1024);
    }

    #[test]
    fn a_missing_file_is_a_config_error() {
        let e = parse_args(["--config-file".to_string(), "/nonexistent/mc.toml".to_string()])
            .unwrap_err();
        assert_eq!(e.exit_code(), crate::settings::EX_CONFIG);
        assert!(e.to_string().contains("/nonexistent/mc.toml"), "{e}");
        // ...but -h and -V still answer.
        let help = parse_args(["--config-file=/nonexistent/mc.toml".to_string(), "-h".to_string()]);
        assert!(matches!(help, Ok(Command::Help(_))), "{help:?}");
        let version = parse_args(["-V".to_string(), "--config-file=/nonexistent".to_string()]);
        assert!(matches!(version, Ok(Command::Version(_))), "{version:?}");
    }

    #[test]
    fn the_example_file_in_the_repository_parses_to_the_defaults() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../memcached-server.example.toml");
        let text = std::fs::read_to_string(path).expect("memcached-server.example.toml");
        let s = apply(&text).unwrap();
        assert_eq!(s, Settings::default(), "the example documents the defaults");
    }
}
