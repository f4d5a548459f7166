//! The command line: a getopt_long-compatible tokenizer (bundled short flags `-vvM`, attached
//! values `-p11211`, `--name=value` / `--name value`, unambiguous long prefixes `--mem`, `--`)
//! and the code that applies each option to [`Settings`] with memcached's checks.

use std::path::{Path, PathBuf};

use super::error::SettingsError;
use super::{config_file, extended, help, BindingProtocol, Command, Settings, SLAB_PAGE_SIZE};

/// Every option the binary knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Opt {
    Port,
    UdpPort,
    UnixSocket,
    UnixMask,
    EnableShutdown,
    Listen,
    Daemon,
    EnableCoredumps,
    User,
    MemoryLimit,
    DisableEvictions,
    ConnLimit,
    LockMemory,
    Verbose,
    Help,
    License,
    Version,
    Pidfile,
    GrowthFactor,
    SlabMinSize,
    LargePages,
    Delimiter,
    Threads,
    ReqsPerEvent,
    DisableCas,
    Backlog,
    Protocol,
    MaxItemSize,
    Sasl,
    DisableFlushAll,
    DisableDumping,
    DisableWatch,
    AuthFile,
    MemoryFile,
    Ssl,
    Extended,
    NapiIds,
    ReplPeer,
    ReplPort,
    ConfigFile,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Arg {
    None,
    Required,
    /// Long form takes an optional `=value`; the short form takes none (`-v`).
    Optional,
}

struct OptSpec {
    opt: Opt,
    short: Option<char>,
    long: Option<&'static str>,
    arg: Arg,
}

const fn spec(opt: Opt, short: Option<char>, long: Option<&'static str>, arg: Arg) -> OptSpec {
    OptSpec { opt, short, long, arg }
}

/// memcached 1.6.18's options (its long names), with repcached's `-x`/`-X` and our
/// `--config-file`.
const OPTIONS: &[OptSpec] = &[
    spec(Opt::Port, Some('p'), Some("port"), Arg::Required),
    spec(Opt::UdpPort, Some('U'), Some("udp-port"), Arg::Required),
    spec(Opt::UnixSocket, Some('s'), Some("unix-socket"), Arg::Required),
    spec(Opt::UnixMask, Some('a'), Some("unix-mask"), Arg::Required),
    spec(Opt::EnableShutdown, Some('A'), Some("enable-shutdown"), Arg::None),
    spec(Opt::Listen, Some('l'), Some("listen"), Arg::Required),
    spec(Opt::Daemon, Some('d'), Some("daemon"), Arg::None),
    spec(Opt::EnableCoredumps, Some('r'), Some("enable-coredumps"), Arg::None),
    spec(Opt::User, Some('u'), Some("user"), Arg::Required),
    spec(Opt::MemoryLimit, Some('m'), Some("memory-limit"), Arg::Required),
    spec(Opt::DisableEvictions, Some('M'), Some("disable-evictions"), Arg::None),
    spec(Opt::ConnLimit, Some('c'), Some("conn-limit"), Arg::Required),
    spec(Opt::LockMemory, Some('k'), Some("lock-memory"), Arg::None),
    spec(Opt::Verbose, Some('v'), Some("verbose"), Arg::Optional),
    spec(Opt::Help, Some('h'), Some("help"), Arg::None),
    spec(Opt::License, Some('i'), Some("license"), Arg::None),
    spec(Opt::Version, Some('V'), Some("version"), Arg::None),
    spec(Opt::Pidfile, Some('P'), Some("pidfile"), Arg::Required),
    spec(Opt::GrowthFactor, Some('f'), Some("slab-growth-factor"), Arg::Required),
    spec(Opt::SlabMinSize, Some('n'), Some("slab-min-size"), Arg::Required),
    spec(Opt::LargePages, Some('L'), Some("enable-largepages"), Arg::None),
    spec(Opt::Delimiter, Some('D'), None, Arg::Required),
    spec(Opt::Threads, Some('t'), Some("threads"), Arg::Required),
    spec(Opt::ReqsPerEvent, Some('R'), Some("max-reqs-per-event"), Arg::Required),
    spec(Opt::DisableCas, Some('C'), Some("disable-cas"), Arg::None),
    spec(Opt::Backlog, Some('b'), Some("listen-backlog"), Arg::Required),
    spec(Opt::Protocol, Some('B'), Some("protocol"), Arg::Required),
    spec(Opt::MaxItemSize, Some('I'), Some("max-item-size"), Arg::Required),
    spec(Opt::Sasl, Some('S'), Some("enable-sasl"), Arg::None),
    spec(Opt::DisableFlushAll, Some('F'), Some("disable-flush-all"), Arg::None),
    spec(Opt::DisableDumping, None, Some("disable-dumping"), Arg::None),
    spec(Opt::DisableWatch, Some('W'), Some("disable-watch"), Arg::None),
    spec(Opt::AuthFile, Some('Y'), Some("auth-file"), Arg::Required),
    spec(Opt::MemoryFile, Some('e'), Some("memory-file"), Arg::Required),
    spec(Opt::Ssl, Some('Z'), Some("enable-ssl"), Arg::None),
    spec(Opt::Extended, Some('o'), Some("extended"), Arg::Required),
    spec(Opt::NapiIds, Some('N'), Some("napi-ids"), Arg::Required),
    spec(Opt::ReplPeer, Some('x'), Some("repl-peer"), Arg::Required),
    spec(Opt::ReplPort, Some('X'), Some("repl-port"), Arg::Required),
    spec(Opt::ConfigFile, None, Some("config-file"), Arg::Required),
];

/// One option occurrence on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Occurrence {
    pub(crate) opt: Opt,
    pub(crate) value: Option<String>,
}

fn find_long(name: &str) -> Result<&'static OptSpec, SettingsError> {
    if let Some(exact) = OPTIONS.iter().find(|s| s.long == Some(name)) {
        return Ok(exact);
    }
    let candidates: Vec<&OptSpec> =
        OPTIONS.iter().filter(|s| s.long.is_some_and(|l| l.starts_with(name))).collect();
    match candidates.as_slice() {
        [one] => Ok(one),
        [] => {
            Err(SettingsError::Usage(format!("memcached-server: unrecognized option '--{name}'")))
        }
        many => {
            let names: Vec<String> =
                many.iter().filter_map(|s| s.long).map(|l| format!("'--{l}'")).collect();
            Err(SettingsError::Usage(format!(
                "memcached-server: option '--{name}' is ambiguous; possibilities: {}",
                names.join(" ")
            )))
        }
    }
}

/// Splits the arguments into option occurrences, getopt_long style. Non-option arguments are
/// ignored, as memcached ignores them. Stops at the first syntax error, which becomes the
/// last element, so that options before it still take effect in order (`-h -z` prints help).
pub(crate) fn tokenize(args: &[String]) -> Vec<Result<Occurrence, SettingsError>> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let arg = &args[i];
        i += 1;
        if arg == "--" {
            break;
        }
        if let Some(long) = arg.strip_prefix("--") {
            let (name, inline) = match long.split_once('=') {
                Some((n, v)) => (n, Some(v.to_string())),
                None => (long, None),
            };
            let spec = match find_long(name) {
                Ok(spec) => spec,
                Err(e) => {
                    out.push(Err(e));
                    return out;
                }
            };
            let full = spec.long.unwrap_or(name);
            let value = match (spec.arg, inline) {
                (Arg::None, Some(_)) => {
                    out.push(Err(SettingsError::Usage(format!(
                        "memcached-server: option '--{full}' doesn't allow an argument"
                    ))));
                    return out;
                }
                (Arg::None, None) | (Arg::Optional, None) => None,
                (Arg::Optional, Some(v)) | (Arg::Required, Some(v)) => Some(v),
                (Arg::Required, None) => match args.get(i) {
                    Some(next) => {
                        i += 1;
                        Some(next.clone())
                    }
                    None => {
                        out.push(Err(SettingsError::Usage(format!(
                            "memcached-server: option '--{full}' requires an argument"
                        ))));
                        return out;
                    }
                },
            };
            out.push(Ok(Occurrence { opt: spec.opt, value }));
            continue;
        }
        let Some(shorts) = arg.strip_prefix('-').filter(|s| !s.is_empty()) else {
            continue; // a non-option argument (or a lone "-"): ignored, like memcached
        };
        for (pos, c) in shorts.char_indices() {
            let Some(spec) = OPTIONS.iter().find(|s| s.short == Some(c)) else {
                out.push(Err(SettingsError::Usage(format!(
                    "memcached-server: invalid option -- '{c}'"
                ))));
                return out;
            };
            if spec.arg != Arg::Required {
                out.push(Ok(Occurrence { opt: spec.opt, value: None }));
                continue;
            }
            let attached = &shorts[pos + c.len_utf8()..];
            let value = if !attached.is_empty() {
                attached.to_string()
            } else if let Some(next) = args.get(i) {
                i += 1;
                next.clone()
            } else {
                out.push(Err(SettingsError::Usage(format!(
                    "memcached-server: option requires an argument -- '{c}'"
                ))));
                return out;
            };
            out.push(Ok(Occurrence { opt: spec.opt, value: Some(value) }));
            break;
        }
    }
    out
}

/// Parses the command line (WITHOUT the program name: pass `std::env::args().skip(1)`; a
/// leftover program name would be ignored anyway, as a non-option argument).
///
/// Order of precedence: memcached's defaults, then the `--config-file` TOML file, then the
/// flags. Options take effect in command-line order (`-h` and `-V` return at once, so
/// `-h -c 0` prints the help while `-c 0 -h` fails); the checks relating several options run
/// last. Warnings about accepted-but-ineffective options land in [`Settings::warnings`].
pub fn parse_args<I: IntoIterator<Item = String>>(args: I) -> Result<Command, SettingsError> {
    let args: Vec<String> = args.into_iter().collect();
    let occurrences = tokenize(&args);

    let mut settings = Settings::default();
    let mut state = ParseState::default();
    // The config file is read before any flag is applied, so that flags win wherever they are.
    let config_path = occurrences
        .iter()
        .map_while(|o| o.as_ref().ok())
        .filter(|o| o.opt == Opt::ConfigFile)
        .filter_map(|o| o.value.clone())
        .last();
    if let Some(path) = config_path {
        let path = PathBuf::from(path);
        let file_state = config_file::apply_file(&mut settings, &path)?;
        state.slab_chunk_max_set = file_state.slab_chunk_max_set;
        settings.config_file = Some(path);
    }

    for occurrence in occurrences {
        let Occurrence { opt, value } = occurrence?;
        match opt {
            Opt::Help => return Ok(Command::Help(help::help_text())),
            Opt::Version => return Ok(Command::Version(help::version_text())),
            Opt::License => return Ok(Command::License(help::license_text())),
            Opt::ConfigFile => {}
            _ => apply_option(&mut settings, &mut state, opt, value.as_deref())?,
        }
    }
    finish(&mut settings, &state)?;
    Ok(Command::Run(Box::new(settings)))
}

/// What the final checks need to know about how values were set.
#[derive(Debug, Default)]
pub(crate) struct ParseState {
    /// `-o slab_chunk_max` was given (otherwise `-I` above 1m resets it to half a page).
    pub(crate) slab_chunk_max_set: bool,
    /// `-l` was given on the command line: it replaces the config file's list instead of
    /// adding to it.
    pub(crate) listen_from_flags: bool,
}

fn value_of(opt: Opt, value: Option<&str>) -> &str {
    // Options with Arg::Required always carry a value (the tokenizer guarantees it); the
    // config file passes one too.
    debug_assert!(value.is_some(), "{opt:?} without a value");
    value.unwrap_or("")
}

fn parse_port(value: &str) -> Result<u16, SettingsError> {
    value
        .trim()
        .parse::<u16>()
        .map_err(|_| SettingsError::usage_value(format!("ERROR: Invalid port number {value}.")))
}

/// A positive integer, or memcached's message for a value that is not one.
fn positive(value: &str, message: &str) -> Result<u32, SettingsError> {
    match value.trim().parse::<u32>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(SettingsError::invalid(message)),
    }
}

/// `-m`: megabytes, as memcached reads it; an `m`/`M` suffix is accepted, and `g`/`G` means
/// gigabytes (memcached 1.6.18 would silently read `1g` as 1 MB).
pub(crate) fn parse_memory_mb(value: &str) -> Result<u64, SettingsError> {
    let v = value.trim();
    let (digits, scale) = match v.char_indices().last() {
        Some((i, 'm' | 'M')) => (&v[..i], 1),
        Some((i, 'g' | 'G')) => (&v[..i], 1024),
        _ => (v, 1),
    };
    digits.parse::<u64>().ok().and_then(|n| n.checked_mul(scale)).ok_or_else(|| {
        SettingsError::usage_value(format!(
            "Invalid memory limit \"{value}\": expected megabytes, e.g. -m 64 (or 2g)"
        ))
    })
}

/// `-I`: bytes, or a number with a `k`/`m` suffix (memcached's), or `g` (so that `-I 2g` is
/// refused as too large instead of being read as 2 bytes).
pub(crate) fn parse_item_size(value: &str) -> Result<u64, SettingsError> {
    let v = value.trim();
    let (digits, scale) = match v.char_indices().last() {
        Some((i, 'k' | 'K')) => (&v[..i], 1024u64),
        Some((i, 'm' | 'M')) => (&v[..i], 1024 * 1024),
        Some((i, 'g' | 'G')) => (&v[..i], 1024 * 1024 * 1024),
        _ => (v, 1),
    };
    digits.parse::<u64>().ok().and_then(|n| n.checked_mul(scale)).ok_or_else(|| {
        SettingsError::usage_value(format!(
            "Invalid max item size \"{value}\": expected bytes or a number with a k or m \
             suffix, e.g. -I 2m"
        ))
    })
}

/// Applies one option (from the command line or the config file).
pub(crate) fn apply_option(
    s: &mut Settings,
    state: &mut ParseState,
    opt: Opt,
    value: Option<&str>,
) -> Result<(), SettingsError> {
    match opt {
        Opt::Port => s.tcp_port = parse_port(value_of(opt, value))?,
        Opt::UdpPort => s.udp_port = parse_port(value_of(opt, value))?,
        Opt::UnixSocket => s.unix_socket = Some(PathBuf::from(value_of(opt, value))),
        Opt::UnixMask => {
            let v = value_of(opt, value);
            s.unix_mask =
                u32::from_str_radix(v.trim(), 8).ok().filter(|m| *m <= 0o777).ok_or_else(|| {
                    SettingsError::usage_value(format!(
                        "Invalid unix socket mask \"{v}\": expected octal permission bits, e.g. 700"
                    ))
                })?;
        }
        Opt::EnableShutdown => s.enable_shutdown = true,
        Opt::Listen => {
            if !state.listen_from_flags {
                state.listen_from_flags = true;
                s.listen.clear();
            }
            let v = value_of(opt, value);
            for entry in v.split(',') {
                let entry = entry.trim();
                if entry.is_empty() {
                    continue;
                }
                // Resolve now, so `-l fooble` fails at startup with a clear message.
                super::resolve_listen_entry(entry, s.tcp_port)?;
                s.listen.push(entry.to_string());
            }
        }
        Opt::Daemon => s.daemonize = true,
        Opt::EnableCoredumps => s.enable_coredumps = true,
        Opt::User => s.user = Some(value_of(opt, value).to_string()),
        Opt::MemoryLimit => s.memory_limit_mb = parse_memory_mb(value_of(opt, value))?,
        Opt::DisableEvictions => s.evict = false,
        Opt::ConnLimit => {
            s.max_connections =
                positive(value_of(opt, value), "Maximum connections must be greater than 0")?;
        }
        Opt::LockMemory => s.lock_memory = true,
        Opt::Verbose => s.verbosity = s.verbosity.saturating_add(1),
        Opt::Pidfile => s.pidfile = Some(PathBuf::from(value_of(opt, value))),
        Opt::GrowthFactor => {
            match value_of(opt, value).trim().parse::<f64>() {
                Ok(f) if f > 1.0 && f.is_finite() => s.growth_factor = f,
                _ => return Err(SettingsError::invalid("Factor must be greater than 1")),
            };
        }
        Opt::SlabMinSize => {
            s.chunk_size_min = positive(value_of(opt, value), "Chunk size must be greater than 0")?;
        }
        Opt::LargePages => {
            s.large_pages = true;
            s.warnings.push("-L (large pages) has no effect in this server".to_string());
        }
        Opt::Delimiter => {
            let v = value_of(opt, value);
            let mut chars = v.chars();
            match (chars.next(), chars.next()) {
                (Some(c), None) => {
                    s.prefix_delimiter = c;
                    s.detail_enabled = true;
                }
                (None, _) => return Err(SettingsError::invalid("No delimiter specified")),
                (Some(_), Some(_)) => {
                    return Err(SettingsError::invalid(format!(
                        "Invalid delimiter \"{v}\": expected one character"
                    )))
                }
            }
        }
        Opt::Threads => {
            s.threads = positive(value_of(opt, value), "Number of threads must be greater than 0")?;
            if s.threads > 64 {
                s.warnings.push(
                    "WARNING: Setting a high number of worker threads is not recommended.\n \
                     Set this value to the number of cores in your machine or less."
                        .to_string(),
                );
            }
        }
        Opt::ReqsPerEvent => {
            s.reqs_per_event = positive(
                value_of(opt, value),
                "Number of requests per event must be greater than 0",
            )?;
        }
        Opt::DisableCas => s.cas_enabled = false,
        Opt::Backlog => {
            s.backlog = positive(value_of(opt, value), "Listen backlog must be greater than 0")?;
        }
        Opt::Protocol => {
            let v = value_of(opt, value);
            s.binding_protocol = match v {
                "auto" => BindingProtocol::Auto,
                "ascii" => BindingProtocol::Ascii,
                "binary" => BindingProtocol::Binary,
                _ => {
                    return Err(SettingsError::usage_value(format!(
                        "Invalid value for binding protocol: {v}\n \
                         -- should be one of auto, binary, or ascii"
                    )))
                }
            };
        }
        Opt::MaxItemSize => {
            let bytes = parse_item_size(value_of(opt, value))?;
            s.item_size_max = u32::try_from(bytes).unwrap_or(u32::MAX);
        }
        Opt::Sasl => {
            return Err(SettingsError::usage_value("This server is not built with SASL support."))
        }
        Opt::DisableFlushAll => s.flush_enabled = false,
        Opt::DisableDumping => s.dump_enabled = false,
        Opt::DisableWatch => s.watch_enabled = false,
        Opt::AuthFile => s.auth_file = Some(PathBuf::from(value_of(opt, value))),
        Opt::MemoryFile => {
            s.memory_file = Some(PathBuf::from(value_of(opt, value)));
            s.warnings.push(
                "-e (memory file): restartable caches are not supported; the cache starts empty"
                    .to_string(),
            );
        }
        Opt::Ssl => {
            return Err(SettingsError::usage_value(
                "-Z: this server is not built with TLS support.",
            ))
        }
        Opt::Extended => extended::apply_list(s, state, value_of(opt, value))?,
        Opt::NapiIds => {
            let v = value_of(opt, value);
            s.napi_ids = Some(v.trim().parse::<u32>().map_err(|_| {
                SettingsError::invalid(format!("Invalid number of napi ids \"{v}\""))
            })?);
            s.warnings.push("-N (napi ids) has no effect in this server".to_string());
        }
        Opt::ReplPeer => {
            let v = value_of(opt, value).trim();
            if v.is_empty() {
                return Err(SettingsError::invalid("-x needs the replication peer's address"));
            }
            s.repl_peer = Some(v.to_string());
        }
        Opt::ReplPort => {
            let v = value_of(opt, value);
            s.repl_port = match v.trim().parse::<u16>() {
                Ok(p) if p > 0 => p,
                _ => {
                    return Err(SettingsError::usage_value(format!(
                        "ERROR: Invalid replication port number {v}."
                    )))
                }
            };
        }
        Opt::Help | Opt::Version | Opt::License | Opt::ConfigFile => {}
    }
    Ok(())
}

/// The checks memcached runs after its getopt loop, in memcached's order.
pub(crate) fn finish(s: &mut Settings, state: &ParseState) -> Result<(), SettingsError> {
    let item = u64::from(s.item_size_max);
    if item < 1024 {
        return Err(SettingsError::usage_value("Item max size cannot be less than 1024 bytes."));
    }
    if item > s.memory_limit_bytes() / 2 {
        return Err(SettingsError::usage_value(
            "Cannot set item size limit higher than 1/2 of memory max.",
        ));
    }
    if item > 1024 * 1024 * 1024 {
        return Err(SettingsError::usage_value(
            "Cannot set item size limit higher than a gigabyte.",
        ));
    }
    if item > 1024 * 1024 && !state.slab_chunk_max_set {
        s.slab_chunk_max = SLAB_PAGE_SIZE / 2;
    }
    if s.slab_chunk_max == 0 {
        return Err(SettingsError::usage_value("slab_chunk_max must be greater than 0"));
    }
    if s.slab_chunk_max > s.item_size_max {
        return Err(SettingsError::usage_value(format!(
            "slab_chunk_max (bytes: {}) cannot be larger than -I (item_size_max {})",
            s.slab_chunk_max, s.item_size_max
        )));
    }
    if s.item_size_max % s.slab_chunk_max != 0 {
        return Err(SettingsError::usage_value(format!(
            "-I (item_size_max: {}) must be evenly divisible by slab_chunk_max (bytes: {})",
            s.item_size_max, s.slab_chunk_max
        )));
    }
    if SLAB_PAGE_SIZE % s.slab_chunk_max != 0 {
        return Err(SettingsError::usage_value(format!(
            "slab_chunk_max (bytes: {}) must divide evenly into {} (slab_page_size)",
            s.slab_chunk_max, SLAB_PAGE_SIZE
        )));
    }
    if s.hot_lru_pct + s.warm_lru_pct > 80 {
        return Err(SettingsError::usage_value(
            "hot_lru_pct + warm_lru_pct cannot be more than 80% combined",
        ));
    }
    if s.auth_file.is_some() && s.udp_port != 0 {
        return Err(SettingsError::usage_value(
            "Cannot use UDP with ascii authentication enabled (-U 0 to disable)",
        ));
    }
    if let Some(pidfile) = &s.pidfile {
        s.pidfile = Some(absolute(pidfile));
    }
    Ok(())
}

fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}
