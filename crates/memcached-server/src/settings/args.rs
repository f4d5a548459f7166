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
    ReplSecretFile,
    Vrrp,
    ConfigFile,
}

impl Opt {
    /// `-h`, `-V`, `-i`: print something and exit 0.
    fn prints_and_exits(self) -> bool {
        matches!(self, Self::Help | Self::Version | Self::License)
    }
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
    spec(Opt::ReplSecretFile, None, Some("repl-secret-file"), Arg::Required),
    spec(Opt::Vrrp, None, Some("vrrp"), Arg::Required),
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
        match config_file::apply_file(&mut settings, &path) {
            Ok(file_state) => state.slab_chunk_max_set = file_state.slab_chunk_max_set,
            // `-h`/`-V`/`-i` still work with a broken config file: the loop below returns at
            // them (an invalid flag before them still fails first, as in memcached).
            Err(_) if occurrences.iter().flatten().any(|o| o.opt.prints_and_exits()) => {}
            Err(e) => return Err(e),
        }
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
            s.warn("-L (large pages) has no effect in this server".to_string());
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
                s.warn(
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
                "binary" => {
                    s.warn(
                        "-B binary: this server speaks memcached's text protocol only; binary \
                         protocol clients will be refused"
                            .to_string(),
                    );
                    BindingProtocol::Binary
                }
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
            s.warn(
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
            s.warn("-N (napi ids) has no effect in this server".to_string());
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
        Opt::ReplSecretFile => {
            let v = value_of(opt, value).trim();
            if v.is_empty() {
                return Err(SettingsError::invalid("--repl-secret-file needs a file name"));
            }
            s.repl_secret_file = Some(PathBuf::from(v));
        }
        Opt::Vrrp => s.vrrp = Some(value_of(opt, value).trim().to_string()),
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
    extended::check_slab_sizes(s)?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::{HashAlgorithm, EX_USAGE};

    fn args(line: &str) -> Vec<String> {
        line.split_whitespace().map(str::to_string).collect()
    }

    fn run(line: &str) -> Settings {
        match parse_args(args(line)) {
            Ok(Command::Run(s)) => *s,
            other => panic!("{line:?}: expected Run, got {other:?}"),
        }
    }

    fn fail(line: &str) -> SettingsError {
        match parse_args(args(line)) {
            Err(e) => e,
            Ok(other) => panic!("{line:?}: expected an error, got {other:?}"),
        }
    }

    #[test]
    fn no_arguments_give_memcached_defaults() {
        let s = run("");
        assert_eq!(s, Settings::default());
        assert_eq!(s.tcp_port, 11211);
        assert_eq!(s.udp_port, 0);
        assert_eq!(s.memory_limit_bytes(), 64 * 1024 * 1024);
        assert_eq!(s.max_connections, 1024);
        assert_eq!(s.threads, 4);
        assert_eq!(s.reqs_per_event, 20);
        assert_eq!(s.backlog, 1024);
        assert_eq!(s.growth_factor, 1.25);
        assert_eq!(s.chunk_size_min, 48);
        assert_eq!(s.item_size_max, 1024 * 1024);
        assert_eq!(s.idle_timeout, 0);
        assert_eq!(s.repl_port, 11212);
        assert!(s.evict && s.cas_enabled && s.flush_enabled && s.dump_enabled);
        assert!(!s.enable_shutdown && !s.daemonize);
    }

    #[test]
    fn every_short_flag_with_a_value() {
        let s = run("-p 1234 -U 1235 -s /tmp/x.sock -a 755 -l 127.0.0.1 -u nobody -m 128 \
                     -c 10 -P /tmp/mc.pid -f 1.5 -n 64 -t 2 -R 5 -b 64 -B ascii -I 2m \
                     -e /tmp/mem -N 3 -x peer.example -X 31212 -D #");
        assert_eq!(s.tcp_port, 1234);
        assert_eq!(s.udp_port, 1235);
        assert_eq!(s.unix_socket, Some(PathBuf::from("/tmp/x.sock")));
        assert_eq!(s.unix_mask, 0o755);
        assert_eq!(s.listen, vec!["127.0.0.1".to_string()]);
        assert_eq!(s.user.as_deref(), Some("nobody"));
        assert_eq!(s.memory_limit_mb, 128);
        assert_eq!(s.max_connections, 10);
        assert_eq!(s.pidfile, Some(PathBuf::from("/tmp/mc.pid")));
        assert_eq!(s.growth_factor, 1.5);
        assert_eq!(s.chunk_size_min, 64);
        assert_eq!(s.threads, 2);
        assert_eq!(s.reqs_per_event, 5);
        assert_eq!(s.backlog, 64);
        assert_eq!(s.binding_protocol, BindingProtocol::Ascii);
        assert_eq!(s.item_size_max, 2 * 1024 * 1024);
        assert_eq!(s.memory_file, Some(PathBuf::from("/tmp/mem")));
        assert_eq!(s.napi_ids, Some(3));
        assert_eq!(s.repl_peer.as_deref(), Some("peer.example"));
        assert_eq!(s.repl_port, 31212);
        assert_eq!(s.prefix_delimiter, '#');
        assert!(s.detail_enabled);
    }

    #[test]
    fn every_short_switch() {
        let s = run("-A -d -r -M -k -v -L -C -F -W");
        assert!(s.enable_shutdown);
        assert!(s.daemonize);
        assert!(s.enable_coredumps);
        assert!(!s.evict);
        assert!(s.lock_memory);
        assert_eq!(s.verbosity, 1);
        assert!(s.large_pages);
        assert!(!s.cas_enabled);
        assert!(!s.flush_enabled);
        assert!(!s.watch_enabled);
        assert!(s.dump_enabled, "-X is the replication port, not --disable-dumping");
        assert!(s.warnings.iter().any(|w| w.contains("-L")));
    }

    #[test]
    fn bundled_switches_and_attached_values() {
        let s = run("-vvv -dM -p11300 -unobody -Iz".replace("-Iz", "-I512k").as_str());
        assert_eq!(s.verbosity, 3);
        assert!(s.daemonize && !s.evict);
        assert_eq!(s.tcp_port, 11300);
        assert_eq!(s.user.as_deref(), Some("nobody"));
        assert_eq!(s.item_size_max, 512 * 1024);
        // A switch bundled before an option that takes the rest of the word as its value.
        let s = run("-vp2000");
        assert_eq!((s.verbosity, s.tcp_port), (1, 2000));
    }

    #[test]
    fn every_long_form() {
        let s = run("--port=1 --udp-port=0 --unix-socket=/tmp/s --unix-mask=711 \
                     --enable-shutdown --listen=127.0.0.1 --daemon --enable-coredumps \
                     --user=nobody --memory-limit=100 --disable-evictions --conn-limit=7 \
                     --lock-memory --verbose --verbose=2 --pidfile=/p --slab-growth-factor=2 \
                     --slab-min-size=60 --enable-largepages --threads=3 \
                     --max-reqs-per-event=9 --disable-cas --listen-backlog=10 \
                     --protocol=binary --max-item-size=4m --disable-flush-all \
                     --disable-dumping --disable-watch --memory-file=/m \
                     --extended=idle_timeout=9 --napi-ids=2 --repl-peer=10.0.0.2 \
                     --repl-port=2000");
        assert_eq!((s.tcp_port, s.udp_port), (1, 0));
        assert_eq!(s.unix_socket, Some(PathBuf::from("/tmp/s")));
        assert_eq!(s.unix_mask, 0o711);
        assert!(s.enable_shutdown && s.daemonize && s.enable_coredumps && s.lock_memory);
        assert_eq!(s.listen, vec!["127.0.0.1"]);
        assert_eq!(s.user.as_deref(), Some("nobody"));
        assert_eq!(s.memory_limit_mb, 100);
        assert!(!s.evict);
        assert_eq!(s.max_connections, 7);
        assert_eq!(s.verbosity, 2);
        assert_eq!(s.pidfile, Some(PathBuf::from("/p")));
        assert_eq!(s.growth_factor, 2.0);
        assert_eq!(s.chunk_size_min, 60);
        assert!(s.large_pages);
        assert_eq!((s.threads, s.reqs_per_event, s.backlog), (3, 9, 10));
        assert!(!s.cas_enabled && !s.flush_enabled && !s.dump_enabled && !s.watch_enabled);
        assert_eq!(s.binding_protocol, BindingProtocol::Binary);
        assert_eq!(s.item_size_max, 4 * 1024 * 1024);
        assert_eq!(s.memory_file, Some(PathBuf::from("/m")));
        assert_eq!(s.idle_timeout, 9);
        assert_eq!(s.napi_ids, Some(2));
        assert_eq!(s.repl_peer.as_deref(), Some("10.0.0.2"));
        assert_eq!(s.repl_port, 2000);
    }

    #[test]
    fn long_forms_take_separate_values_and_unambiguous_prefixes() {
        let s = run("--port 1300 --memory-l 32 --conn 50 --thr 2");
        assert_eq!(s.tcp_port, 1300);
        assert_eq!(s.memory_limit_mb, 32);
        assert_eq!(s.max_connections, 50);
        assert_eq!(s.threads, 2);
        let e = fail("--p 0");
        assert_eq!(e.exit_code(), 1);
        let text = e.to_string();
        assert!(text.contains("option '--p' is ambiguous"), "{text}");
        assert!(text.contains("'--port'") && text.contains("'--pidfile'"), "{text}");
    }

    #[test]
    fn help_version_and_license_stop_parsing_in_order() {
        assert!(matches!(parse_args(args("-h")), Ok(Command::Help(t)) if t.contains("-p, --port")));
        assert!(matches!(parse_args(args("--help")), Ok(Command::Help(_))));
        assert!(matches!(parse_args(args("-h -c 0")), Ok(Command::Help(_))));
        assert!(matches!(parse_args(args("-h -z")), Ok(Command::Help(_))));
        assert!(parse_args(args("-c 0 -h")).is_err());
        assert!(matches!(parse_args(args("-V")), Ok(Command::Version(t)) if t.contains("1.6.18")));
        assert!(matches!(parse_args(args("--version -t 0")), Ok(Command::Version(_))));
        assert!(matches!(parse_args(args("-i")), Ok(Command::License(_))));
    }

    #[test]
    fn non_option_arguments_are_ignored_and_double_dash_ends_options() {
        let s = run("memcached-server -p 1400 stray -- -p 1500");
        assert_eq!(s.tcp_port, 1400);
    }

    #[test]
    fn syntax_errors_mirror_getopt() {
        let e = fail("-z");
        assert_eq!(e.exit_code(), 1);
        assert!(e.to_string().starts_with("memcached-server: invalid option -- 'z'"), "{e}");
        let e = fail("--fooble");
        assert!(e.to_string().contains("unrecognized option '--fooble'"), "{e}");
        let e = fail("-p");
        assert!(e.to_string().contains("option requires an argument -- 'p'"), "{e}");
        let e = fail("--port");
        assert!(e.to_string().contains("option '--port' requires an argument"), "{e}");
        let e = fail("--daemon=yes");
        assert!(e.to_string().contains("doesn't allow an argument"), "{e}");
    }

    #[test]
    fn memcached_value_checks_and_exit_codes() {
        let cases: &[(&str, &str, i32)] = &[
            ("-c 0", "Maximum connections must be greater than 0", 1),
            ("-c abc", "Maximum connections must be greater than 0", 1),
            ("-c -1", "Maximum connections must be greater than 0", 1),
            ("-t 0", "Number of threads must be greater than 0", 1),
            ("-t -1", "Number of threads must be greater than 0", 1),
            ("-R 0", "Number of requests per event must be greater than 0", 1),
            ("-f 0.5", "Factor must be greater than 1", 1),
            ("-f 1", "Factor must be greater than 1", 1),
            ("-f abc", "Factor must be greater than 1", 1),
            ("-n 0", "Chunk size must be greater than 0", 1),
            ("-I 512", "Item max size cannot be less than 1024 bytes.", EX_USAGE),
            ("-I 1025m -m 4096", "Cannot set item size limit higher than a gigabyte.", EX_USAGE),
            ("-I 2g -m 8192", "Cannot set item size limit higher than a gigabyte.", EX_USAGE),
            ("-m 0", "Cannot set item size limit higher than 1/2 of memory max.", EX_USAGE),
            ("-m 1", "Cannot set item size limit higher than 1/2 of memory max.", EX_USAGE),
            ("-I 2g", "Cannot set item size limit higher than 1/2 of memory max.", EX_USAGE),
            (
                "-I 2k",
                "slab_chunk_max (bytes: 524288) cannot be larger than -I (item_size_max 2048)",
                EX_USAGE,
            ),
            (
                "-I 600k",
                "-I (item_size_max: 614400) must be evenly divisible by slab_chunk_max \
                 (bytes: 524288)",
                EX_USAGE,
            ),
            ("-B foo", "Invalid value for binding protocol: foo", EX_USAGE),
            ("-p 70000", "ERROR: Invalid port number 70000.", EX_USAGE),
            ("-U 70000", "ERROR: Invalid port number 70000.", EX_USAGE),
            ("-p abc", "ERROR: Invalid port number abc.", EX_USAGE),
            ("-S", "This server is not built with SASL support.", EX_USAGE),
            ("-Z", "TLS", EX_USAGE),
            ("-Y /tmp/auth -U 11211", "Cannot use UDP with ascii authentication", EX_USAGE),
            ("-a 999", "Invalid unix socket mask", EX_USAGE),
            ("-X 0", "Invalid replication port number 0", EX_USAGE),
        ];
        for (line, message, code) in cases {
            let e = fail(line);
            assert!(e.to_string().contains(message), "{line}: {e}");
            assert_eq!(e.exit_code(), *code, "{line}: {e}");
        }
    }

    #[test]
    fn item_sizes_parse_like_memcached() {
        assert_eq!(run("-I 1024 -o slab_chunk_max=1024").item_size_max, 1024);
        assert_eq!(run("-I 1m").item_size_max, 1024 * 1024);
        assert_eq!(run("-I 1M").item_size_max, 1024 * 1024);
        assert_eq!(run("-I 512k").item_size_max, 512 * 1024);
        assert_eq!(run("-I 1024K").item_size_max, 1024 * 1024);
        assert_eq!(run("-I 1048576").item_size_max, 1024 * 1024);
        assert_eq!(run("-I 1024m -m 4096").item_size_max, 1024 * 1024 * 1024);
        assert_eq!(run("-I 1g -m 4096").item_size_max, 1024 * 1024 * 1024);
        // Above 1m, slab_chunk_max stays half a page and items are chained.
        let s = run("-I 2m");
        assert_eq!(s.slab_chunk_max, 512 * 1024);
        let e = fail("-I abc");
        assert!(e.to_string().contains("Invalid max item size"), "{e}");
        assert_eq!(e.exit_code(), EX_USAGE);
        // Small -I works with a small enough slab_chunk_max, as in memcached.
        let s = run("-I 1k -o slab_chunk_max=512");
        assert_eq!((s.item_size_max, s.slab_chunk_max), (1024, 512));
    }

    #[test]
    fn memory_limit_is_megabytes() {
        assert_eq!(run("-m 2").memory_limit_bytes(), 2 * 1024 * 1024);
        assert_eq!(run("-m 100").memory_limit_mb, 100);
        assert_eq!(run("-m 100M").memory_limit_mb, 100);
        assert_eq!(run("-m 2g").memory_limit_mb, 2048);
        assert_eq!(fail("-m abc").exit_code(), EX_USAGE);
        assert_eq!(fail("-m 1.5").exit_code(), EX_USAGE);
    }

    #[test]
    fn listen_entries_accumulate_and_must_resolve() {
        let s = run("-l 127.0.0.1,127.0.0.2:1300 -l [::1]:1301 -l localhost");
        assert_eq!(s.listen, vec!["127.0.0.1", "127.0.0.2:1300", "[::1]:1301", "localhost"]);
        let addrs = s.tcp_listen_addrs().unwrap();
        assert!(addrs.contains(&"127.0.0.1:11211".parse().unwrap()));
        assert!(addrs.contains(&"127.0.0.2:1300".parse().unwrap()));
        assert!(addrs.contains(&"[::1]:1301".parse().unwrap()));
        let e = fail("-l fooble.invalid");
        assert_eq!(e.exit_code(), crate::settings::EX_OSERR);
        let text = e.to_string();
        assert!(
            text.starts_with("failed to listen on one of interface(s) fooble.invalid"),
            "{text}"
        );
        assert!(fail("-l 127.0.0.1:99999").to_string().contains("invalid port"));
        assert!(fail("-l [::1").to_string().contains("invalid IPv6"));
    }

    #[test]
    fn listen_addresses_default_to_all_interfaces_and_follow_ports() {
        let s = run("-p 1400 -U 1401");
        assert_eq!(s.tcp_listen_addrs().unwrap(), vec!["0.0.0.0:1400".parse().unwrap()]);
        assert_eq!(s.udp_listen_addrs().unwrap(), vec!["0.0.0.0:1401".parse().unwrap()]);
        assert!(run("").udp_listen_addrs().unwrap().is_empty(), "UDP is off by default");
        let s = run("-s /tmp/sock -p 1400");
        assert!(s.uses_unix_socket());
        assert!(s.tcp_listen_addrs().unwrap().is_empty(), "-s disables TCP");
        let s = run("-l notls:127.0.0.1 -p 1402");
        assert_eq!(s.tcp_listen_addrs().unwrap(), vec!["127.0.0.1:1402".parse().unwrap()]);
    }

    #[test]
    fn later_flags_override_earlier_ones() {
        let s = run("-p 1 -p 2 -m 10 -m 20 -o hash_algorithm=xxh3 -o hash_algorithm=jenkins");
        assert_eq!((s.tcp_port, s.memory_limit_mb), (2, 20));
        assert_eq!(s.hash_algorithm, HashAlgorithm::Jenkins);
    }

    #[test]
    fn high_thread_counts_warn_like_memcached() {
        let s = run("-t 65");
        assert_eq!(s.threads, 65);
        assert!(s.warnings.iter().any(|w| w.contains("high number of worker threads")));
        assert!(run("-t 64").warnings.is_empty());
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        /// Option words (no -l, --listen or --config-file: those reach DNS and the disk).
        fn word() -> impl Strategy<Value = String> {
            prop_oneof![
                prop::sample::select(vec![
                    "-p",
                    "-U",
                    "-s",
                    "-a",
                    "-A",
                    "-d",
                    "-r",
                    "-u",
                    "-m",
                    "-M",
                    "-c",
                    "-k",
                    "-v",
                    "-vv",
                    "-P",
                    "-f",
                    "-n",
                    "-L",
                    "-D",
                    "-t",
                    "-R",
                    "-C",
                    "-b",
                    "-B",
                    "-I",
                    "-S",
                    "-F",
                    "-W",
                    "-Y",
                    "-e",
                    "-Z",
                    "-o",
                    "-N",
                    "-x",
                    "-X",
                    "--port",
                    "--threads=",
                    "--max-item-size",
                    "--disable-dumping",
                    "--extended",
                    "--",
                    "-",
                    "--th",
                ])
                .prop_map(str::to_string),
                "[-a-z0-9=,.:]{0,12}",
                (0u64..5_000_000).prop_map(|n| n.to_string()),
                prop::sample::select(vec![
                    "1m",
                    "2k",
                    "512k",
                    "1g",
                    "2g",
                    "0",
                    "-1",
                    "idle_timeout=5"
                ])
                .prop_map(str::to_string),
            ]
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(256))]

            #[test]
            fn any_command_line_is_parsed_or_refused_without_panicking(
                words in prop::collection::vec(word(), 0..12)
            ) {
                match parse_args(words.clone()) {
                    Ok(Command::Run(s)) => {
                        prop_assert!(s.item_size_max >= 1024);
                        prop_assert!(u64::from(s.item_size_max) <= s.memory_limit_bytes() / 2);
                        prop_assert!(s.threads > 0 && s.max_connections > 0);
                        prop_assert!(s.growth_factor > 1.0);
                        prop_assert!(s.item_size_max % s.slab_chunk_max == 0);
                    }
                    Ok(_) => {}
                    Err(e) => {
                        prop_assert_ne!(e.exit_code(), 0);
                        prop_assert!(!e.to_string().is_empty());
                    }
                }
            }

            #[test]
            fn ports_round_trip(port in any::<u16>(), repl in 1u16..) {
                let s = run(&format!("-p {port} -U {port} -X {repl}"));
                prop_assert_eq!((s.tcp_port, s.udp_port, s.repl_port), (port, port, repl));
            }
        }
    }

    #[test]
    fn relative_pidfile_is_made_absolute() {
        let s = run("-P mc.pid");
        let pidfile = s.pidfile.unwrap();
        assert!(pidfile.is_absolute());
        assert!(pidfile.ends_with("mc.pid"));
    }
}
