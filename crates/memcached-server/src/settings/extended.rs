//! `-o name[=value],name[=value]...`: memcached 1.6.18's extended options.
//!
//! Every name memcached 1.6.18 (Debian's build, with TLS and extstore) accepts is accepted here
//! with memcached's value checks; names for features this server does not have (extstore,
//! TLS, the seccomp sandbox...) add a warning to [`Settings::warnings`] and change nothing.
//! Unknown names are refused with memcached's `Illegal suboption "name"`.

use super::args::ParseState;
use super::error::SettingsError;
use super::{HashAlgorithm, Settings, SLAB_PAGE_SIZE};

/// The names memcached 1.6.18 knows (besides the `ext_*` and `ssl_*` families listed below).
pub(crate) const CORE_NAMES: &[&str] = &[
    "maxconns_fast",
    "no_maxconns_fast",
    "hashpower",
    "no_hashexpand",
    "slab_reassign",
    "no_slab_reassign",
    "slab_automove",
    "no_slab_automove",
    "slab_automove_ratio",
    "slab_automove_window",
    "tail_repair_time",
    "hash_algorithm",
    "lru_crawler",
    "no_lru_crawler",
    "lru_crawler_sleep",
    "lru_crawler_tocrawl",
    "lru_maintainer",
    "no_lru_maintainer",
    "hot_lru_pct",
    "warm_lru_pct",
    "hot_max_factor",
    "warm_max_factor",
    "temporary_ttl",
    "idle_timeout",
    "watcher_logbuf_size",
    "worker_logbuf_size",
    "slab_sizes",
    "slab_chunk_max",
    "track_sizes",
    "no_inline_ascii_resp",
    "inline_ascii_resp",
    "modern",
    "no_modern",
    "no_chunked_items",
    "drop_privileges",
    "no_drop_privileges",
    "resp_obj_mem_limit",
    "read_buf_mem_limit",
    "sock_cookie_id",
];

/// extstore's names: accepted, no effect (`ext_drop_unread` takes no value).
pub(crate) const EXTSTORE_NAMES: &[&str] = &[
    "ext_page_size",
    "ext_wbuf_size",
    "ext_threads",
    "ext_io_depth",
    "ext_path",
    "ext_item_size",
    "ext_item_age",
    "ext_low_ttl",
    "ext_recache_rate",
    "ext_compact_under",
    "ext_drop_under",
    "ext_max_sleep",
    "ext_max_frag",
    "ext_drop_unread",
    "slab_automove_freeratio",
];

/// TLS names: accepted, no effect (`ssl_session_cache` and `ssl_kernel_tls` take no value).
pub(crate) const TLS_NAMES: &[&str] = &[
    "ssl_chain_cert",
    "ssl_key",
    "ssl_verify_mode",
    "ssl_keyformat",
    "ssl_ciphers",
    "ssl_ca_cert",
    "ssl_wbuf_size",
    "ssl_session_cache",
    "ssl_kernel_tls",
    "ssl_min_version",
];

/// The `-o` names the server acts on today; every other accepted name is validated, shown in
/// `stats settings`, and warned about as having no effect (the store has its own eviction
/// and hash table, so memcached's LRU, hash and log-buffer tuning does not apply). Keep this
/// list in step with what `startup`/`commands` read from [`Settings`].
pub(crate) const EFFECTIVE_NAMES: &[&str] = &[
    "maxconns_fast",
    "idle_timeout",
    "track_sizes",
    "slab_reassign",
    "no_slab_reassign",
    "slab_automove",
    "no_slab_automove",
    "lru_crawler",
    "no_lru_crawler",
];

/// True if memcached 1.6.18 accepts `-o name`.
pub fn is_known_name(name: &str) -> bool {
    CORE_NAMES.contains(&name) || EXTSTORE_NAMES.contains(&name) || TLS_NAMES.contains(&name)
}

/// Applies a comma-separated `-o` list, left to right.
pub(crate) fn apply_list(
    s: &mut Settings,
    state: &mut ParseState,
    list: &str,
) -> Result<(), SettingsError> {
    for item in list.split(',') {
        if item.is_empty() {
            continue;
        }
        let (name, value) = match item.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (item, None),
        };
        apply_one(s, state, name, value)?;
    }
    Ok(())
}

fn required<'a>(name: &str, value: Option<&'a str>) -> Result<&'a str, SettingsError> {
    value.ok_or_else(|| SettingsError::invalid(format!("Missing {name} argument")))
}

fn number<T: std::str::FromStr>(name: &str, value: Option<&str>) -> Result<T, SettingsError> {
    let v = required(name, value)?;
    v.trim()
        .parse::<T>()
        .map_err(|_| SettingsError::invalid(format!("could not parse argument to {name}")))
}

fn in_range<T: std::str::FromStr + PartialOrd>(
    name: &str,
    value: Option<&str>,
    ok: impl Fn(&T) -> bool,
    message: &str,
) -> Result<T, SettingsError> {
    required(name, value)?;
    match number::<T>(name, value) {
        Ok(n) if ok(&n) => Ok(n),
        _ => Err(SettingsError::invalid(message)),
    }
}

/// Applies one `-o name[=value]`.
pub(crate) fn apply_one(
    s: &mut Settings,
    state: &mut ParseState,
    name: &str,
    value: Option<&str>,
) -> Result<(), SettingsError> {
    apply_value(s, state, name, value)?;
    let family_warned = EXTSTORE_NAMES.contains(&name)
        || TLS_NAMES.contains(&name)
        || matches!(name, "resp_obj_mem_limit" | "sock_cookie_id");
    if !family_warned && !EFFECTIVE_NAMES.contains(&name) {
        let warning = format!("-o {name}: accepted for compatibility; no effect in this server");
        s.warn(warning);
    }
    Ok(())
}

fn apply_value(
    s: &mut Settings,
    state: &mut ParseState,
    name: &str,
    value: Option<&str>,
) -> Result<(), SettingsError> {
    match name {
        "maxconns_fast" => s.maxconns_fast = true,
        "no_maxconns_fast" => s.maxconns_fast = false,
        "hashpower" => {
            let v = value
                .ok_or_else(|| SettingsError::invalid("Missing numeric argument for hashpower"))?;
            let n: u32 = v.trim().parse().unwrap_or(0);
            if n < 13 {
                return Err(SettingsError::invalid(format!(
                    "Initial hashtable multiplier of {n} is too low"
                )));
            }
            if n > 32 {
                return Err(SettingsError::invalid(format!(
                    "Initial hashtable multiplier of {n} is too high\n\
                     Choose a value based on \"STAT hash_power_level\" from a running instance"
                )));
            }
            s.hashpower_init = n as u8; // 13..=32 fits
        }
        "no_hashexpand" => s.hash_expand = false,
        "slab_reassign" => s.slab_reassign = true,
        "no_slab_reassign" => s.slab_reassign = false,
        "slab_automove" => {
            s.slab_automove = match value {
                None => 1,
                Some(_) => in_range(
                    name,
                    value,
                    |n: &u8| *n <= 2,
                    "slab_automove must be between 0 and 2",
                )?,
            }
        }
        "no_slab_automove" => s.slab_automove = 0,
        "slab_automove_ratio" => {
            s.slab_automove_ratio = in_range(
                name,
                value,
                |f: &f64| *f > 0.0 && *f < 1.0,
                "slab_automove_ratio must be > 0 and < 1",
            )?;
        }
        "slab_automove_window" => {
            s.slab_automove_window =
                in_range(name, value, |n: &u32| *n > 2, "slab_automove_window must be > 2")?;
        }
        "tail_repair_time" => {
            let v = value.ok_or_else(|| {
                SettingsError::invalid("Missing numeric argument for tail_repair_time")
            })?;
            match v.trim().parse::<u32>() {
                Ok(n) if n >= 10 => s.tail_repair_time = n,
                _ => {
                    return Err(SettingsError::invalid(
                        "Cannot set tail_repair_time to less than 10 seconds",
                    ))
                }
            }
        }
        "hash_algorithm" => {
            s.hash_algorithm = match required(name, value)? {
                "jenkins" => HashAlgorithm::Jenkins,
                "murmur3" => HashAlgorithm::Murmur3,
                "xxh3" => HashAlgorithm::Xxh3,
                _ => {
                    return Err(SettingsError::invalid(
                        "Unknown hash_algorithm option (jenkins, murmur3, xxh3)",
                    ))
                }
            }
        }
        "lru_crawler" => s.lru_crawler = true,
        "no_lru_crawler" => s.lru_crawler = false,
        "lru_crawler_sleep" => {
            let v =
                value.ok_or_else(|| SettingsError::invalid("Missing lru_crawler_sleep value"))?;
            match v.trim().parse::<u32>() {
                Ok(n) if n <= 1_000_000 => s.lru_crawler_sleep = n,
                _ => {
                    return Err(SettingsError::invalid(
                        "LRU crawler sleep must be between 0 and 1 second",
                    ))
                }
            }
        }
        "lru_crawler_tocrawl" => {
            let v =
                value.ok_or_else(|| SettingsError::invalid("Missing lru_crawler_tocrawl value"))?;
            s.lru_crawler_tocrawl = v.trim().parse().map_err(|_| {
                SettingsError::invalid("lru_crawler_tocrawl takes a numeric 32bit value")
            })?;
        }
        "lru_maintainer" => s.lru_maintainer = true,
        "no_lru_maintainer" => s.lru_maintainer = false,
        "hot_lru_pct" => {
            s.hot_lru_pct = in_range(
                name,
                value,
                |n: &u32| (1..80).contains(n),
                "hot_lru_pct must be > 1 and < 80",
            )?;
        }
        "warm_lru_pct" => {
            s.warm_lru_pct = in_range(
                name,
                value,
                |n: &u32| (1..80).contains(n),
                "warm_lru_pct must be > 1 and < 80",
            )?;
        }
        "hot_max_factor" => {
            s.hot_max_factor =
                in_range(name, value, |f: &f64| *f > 0.0, "hot_max_factor must be > 0")?;
        }
        "warm_max_factor" => {
            s.warm_max_factor =
                in_range(name, value, |f: &f64| *f > 0.0, "warm_max_factor must be > 0")?;
        }
        "temporary_ttl" => {
            s.temp_lru = true;
            s.temporary_ttl = number(name, value)?;
        }
        "idle_timeout" => {
            let v = value.ok_or_else(|| {
                SettingsError::invalid("Missing numeric argument for idle_timeout")
            })?;
            s.idle_timeout = v.trim().parse().map_err(|_| {
                SettingsError::invalid(format!(
                    "Invalid idle_timeout \"{v}\": expected seconds (0 = no timeout)"
                ))
            })?;
        }
        "watcher_logbuf_size" => {
            let kb: u32 = number(name, value)?;
            s.watcher_logbuf_size = kb.saturating_mul(1024);
        }
        "worker_logbuf_size" => {
            let kb: u32 = number(name, value)?;
            s.worker_logbuf_size = kb.saturating_mul(1024);
        }
        // Checked against -n and slab_chunk_max once all options are in (see
        // `check_slab_sizes`), as memcached does after its option loop.
        "slab_sizes" => s.slab_sizes = Some(required(name, value)?.to_string()),
        "slab_chunk_max" => {
            s.slab_chunk_max = number(name, value)?;
            state.slab_chunk_max_set = true;
        }
        "track_sizes" => s.track_sizes = true,
        "inline_ascii_resp" | "no_inline_ascii_resp" | "modern" => {}
        "no_modern" => {
            if !state.slab_chunk_max_set {
                s.slab_chunk_max = SLAB_PAGE_SIZE;
            }
            s.slab_reassign = false;
            s.slab_automove = 0;
            s.maxconns_fast = false;
            s.lru_segmented = false;
            s.hash_algorithm = HashAlgorithm::Jenkins;
            s.lru_crawler = false;
            s.lru_maintainer = false;
        }
        "no_chunked_items" => {
            if !state.slab_chunk_max_set {
                s.slab_chunk_max = SLAB_PAGE_SIZE;
            }
        }
        "drop_privileges" => s.drop_privileges = true,
        "no_drop_privileges" => s.drop_privileges = false,
        "resp_obj_mem_limit" => s.warn(
            "DEPRECATED: resp_obj_mem_limit no longer used. See read_buf_mem_limit,\n\
             now in megabytes, which limits both read and response object buffers."
                .to_string(),
        ),
        "read_buf_mem_limit" => s.read_buf_mem_limit = number(name, value)?,
        "sock_cookie_id" => {
            s.sock_cookie_id = Some(number(name, value)?);
            s.warn("-o sock_cookie_id has no effect in this server".to_string());
        }
        "slab_automove_freeratio" => {
            s.slab_automove_freeratio = number(name, value)?;
        }
        "ext_path" => {
            if value.is_none_or(str::is_empty) {
                return Err(SettingsError::invalid(
                    "missing argument to ext_path, ie: ext_path=/d/file:5G",
                ));
            }
            warn_unsupported(s, name, "external storage (extstore)");
        }
        "ext_drop_unread" => warn_unsupported(s, name, "external storage (extstore)"),
        "ssl_session_cache" | "ssl_kernel_tls" => warn_unsupported(s, name, "TLS"),
        _ if EXTSTORE_NAMES.contains(&name) => {
            required(name, value)?;
            warn_unsupported(s, name, "external storage (extstore)");
        }
        _ if TLS_NAMES.contains(&name) => {
            required(name, value)?;
            warn_unsupported(s, name, "TLS");
        }
        _ => return Err(SettingsError::invalid(format!("Illegal suboption \"{name}\""))),
    }
    Ok(())
}

/// `-o slab_sizes=a-b-c`: ascending sizes, each within `-n`..=`slab_chunk_max`; returns them.
pub(crate) fn check_slab_sizes(s: &Settings) -> Result<Vec<u32>, SettingsError> {
    let Some(list) = &s.slab_sizes else { return Ok(Vec::new()) };
    let mut sizes: Vec<u32> = Vec::new();
    for token in list.split('-').filter(|t| !t.is_empty()) {
        let size = token.trim().parse::<u32>().unwrap_or(0);
        if size < s.chunk_size_min || size > s.slab_chunk_max {
            return Err(SettingsError::usage_value(format!(
                "slab size {size} is out of valid range"
            )));
        }
        if sizes.last().is_some_and(|last| size <= *last) {
            return Err(SettingsError::usage_value(format!(
                "slab size {size} cannot be lower than or equal to a previous class size"
            )));
        }
        sizes.push(size);
    }
    if sizes.is_empty() {
        return Err(SettingsError::usage_value("slab_sizes lists no size"));
    }
    Ok(sizes)
}

impl Settings {
    /// The slab class sizes `-o slab_sizes` asks for, ascending, or `None` when memcached's
    /// `-n`/`-f` progression is to be used. Validated by [`parse_args`](super::parse_args).
    pub fn slab_class_sizes(&self) -> Option<Vec<u32>> {
        self.slab_sizes.as_ref().map(|_| check_slab_sizes(self).unwrap_or_default())
    }
}

fn warn_unsupported(s: &mut Settings, name: &str, feature: &str) {
    s.warn(format!("-o {name}: {feature} is not supported by this server; ignored"));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::{parse_args, Command};

    fn run(line: &str) -> Settings {
        match parse_args(line.split_whitespace().map(str::to_string)) {
            Ok(Command::Run(s)) => *s,
            other => panic!("{line:?}: expected Run, got {other:?}"),
        }
    }

    fn fail(line: &str) -> String {
        match parse_args(line.split_whitespace().map(str::to_string)) {
            Err(e) => {
                assert_ne!(e.exit_code(), 0);
                e.to_string()
            }
            Ok(other) => panic!("{line:?}: expected an error, got {other:?}"),
        }
    }

    /// A value each name accepts (memcached 1.6.18 accepted every one of these).
    fn sample_value(name: &str) -> Option<&'static str> {
        match name {
            "hashpower" => Some("16"),
            "slab_automove_ratio" | "hot_max_factor" => Some("0.5"),
            "warm_max_factor" | "ext_max_frag" | "slab_automove_freeratio" => Some("0.5"),
            "slab_automove_window" | "tail_repair_time" => Some("30"),
            "hash_algorithm" => Some("xxh3"),
            "hot_lru_pct" | "warm_lru_pct" => Some("10"),
            "slab_sizes" => Some("96-192-384"),
            "slab_chunk_max" => Some("16384"),
            "ext_path" => Some("/tmp/ext:64m"),
            "lru_crawler_sleep" | "lru_crawler_tocrawl" | "temporary_ttl" | "idle_timeout" => {
                Some("5")
            }
            "watcher_logbuf_size" | "worker_logbuf_size" | "read_buf_mem_limit" => Some("5"),
            "sock_cookie_id" => Some("5"),
            "slab_automove" => Some("2"),
            n if n.starts_with("ext_") && n != "ext_drop_unread" => Some("5"),
            n if n.starts_with("ssl_") && n != "ssl_session_cache" && n != "ssl_kernel_tls" => {
                Some("x")
            }
            _ => None,
        }
    }

    #[test]
    fn every_name_memcached_knows_is_accepted() {
        for name in CORE_NAMES.iter().chain(EXTSTORE_NAMES).chain(TLS_NAMES) {
            let item = match sample_value(name) {
                Some(v) => format!("{name}={v}"),
                None => name.to_string(),
            };
            let s = run(&format!("-o {item}"));
            if EXTSTORE_NAMES.contains(name) && *name != "slab_automove_freeratio"
                || TLS_NAMES.contains(name)
            {
                assert!(
                    s.warnings.iter().any(|w| w.contains(name) && w.contains("not supported")),
                    "{name}: {:?}",
                    s.warnings
                );
            }
        }
    }

    #[test]
    fn unknown_names_are_refused_like_memcached() {
        assert_eq!(fail("-o fooble"), "Illegal suboption \"fooble\"");
        assert_eq!(fail("-o idle_timeout=5,fooble"), "Illegal suboption \"fooble\"");
        // Names that only a proxy- or debug-enabled memcached build knows.
        assert_eq!(fail("-o proxy_config=x"), "Illegal suboption \"proxy_config\"");
        assert_eq!(fail("-o temp_lru"), "Illegal suboption \"temp_lru\"");
    }

    #[test]
    fn values_are_stored() {
        let s = run("-o maxconns_fast,hashpower=20,no_hashexpand,slab_reassign,slab_automove=2 \
                     -o slab_automove_ratio=0.5,slab_automove_window=10,tail_repair_time=60 \
                     -o hash_algorithm=xxh3,lru_crawler_sleep=200,lru_crawler_tocrawl=7 \
                     -o hot_lru_pct=30,warm_lru_pct=30,hot_max_factor=0.5,warm_max_factor=3 \
                     -o temporary_ttl=30,idle_timeout=600,watcher_logbuf_size=128 \
                     -o worker_logbuf_size=32,slab_sizes=100-200,track_sizes \
                     -o read_buf_mem_limit=16,sock_cookie_id=3,slab_automove_freeratio=0.02");
        assert!(s.maxconns_fast && !s.hash_expand && s.slab_reassign && s.track_sizes);
        assert_eq!(s.hashpower_init, 20);
        assert_eq!(s.slab_automove, 2);
        assert_eq!(s.slab_automove_ratio, 0.5);
        assert_eq!(s.slab_automove_window, 10);
        assert_eq!(s.tail_repair_time, 60);
        assert_eq!(s.hash_algorithm, HashAlgorithm::Xxh3);
        assert_eq!((s.lru_crawler_sleep, s.lru_crawler_tocrawl), (200, 7));
        assert_eq!((s.hot_lru_pct, s.warm_lru_pct), (30, 30));
        assert_eq!((s.hot_max_factor, s.warm_max_factor), (0.5, 3.0));
        assert!(s.temp_lru);
        assert_eq!(s.temporary_ttl, 30);
        assert_eq!(s.idle_timeout, 600);
        assert_eq!(s.watcher_logbuf_size, 128 * 1024);
        assert_eq!(s.worker_logbuf_size, 32 * 1024);
        assert_eq!(s.slab_sizes.as_deref(), Some("100-200"));
        assert_eq!(s.slab_class_sizes(), Some(vec![100, 200]));
        assert_eq!(run("-o slab_sizes=48--96-").slab_class_sizes(), Some(vec![48, 96]));
        assert_eq!(run("").slab_class_sizes(), None);
        assert_eq!(s.read_buf_mem_limit, 16);
        assert_eq!(s.sock_cookie_id, Some(3));
        assert_eq!(s.slab_automove_freeratio, 0.02);
    }

    #[test]
    fn no_prefixed_names_turn_things_off() {
        let s = run("-o no_maxconns_fast,no_slab_reassign,no_slab_automove,no_lru_crawler \
                     -o no_lru_maintainer,no_drop_privileges");
        assert!(!s.maxconns_fast && !s.slab_reassign && !s.lru_crawler && !s.lru_maintainer);
        assert!(!s.drop_privileges);
        assert_eq!(s.slab_automove, 0);
        let s = run("-o no_modern");
        assert!(!s.slab_reassign && !s.maxconns_fast && !s.lru_segmented);
        assert_eq!(s.hash_algorithm, HashAlgorithm::Jenkins);
        assert_eq!(s.slab_chunk_max, SLAB_PAGE_SIZE);
        assert_eq!(run("-o no_chunked_items").slab_chunk_max, SLAB_PAGE_SIZE);
        assert_eq!(run("-o slab_automove").slab_automove, 1);
    }

    #[test]
    fn value_checks_mirror_memcached() {
        let cases = [
            ("-o hashpower", "Missing numeric argument for hashpower"),
            ("-o hashpower=5", "Initial hashtable multiplier of 5 is too low"),
            ("-o hashpower=33", "Initial hashtable multiplier of 33 is too high"),
            ("-o hash_algorithm=foo", "Unknown hash_algorithm option (jenkins, murmur3, xxh3)"),
            ("-o hot_lru_pct=90", "hot_lru_pct must be > 1 and < 80"),
            ("-o warm_lru_pct=80", "warm_lru_pct must be > 1 and < 80"),
            ("-o warm_lru_pct=50,hot_lru_pct=40", "cannot be more than 80% combined"),
            ("-o hot_max_factor=0", "hot_max_factor must be > 0"),
            ("-o lru_crawler_sleep=2000000", "LRU crawler sleep must be between 0 and 1 second"),
            ("-o lru_crawler_tocrawl=abc", "lru_crawler_tocrawl takes a numeric 32bit value"),
            ("-o tail_repair_time=5", "Cannot set tail_repair_time to less than 10 seconds"),
            ("-o slab_automove=3", "slab_automove must be between 0 and 2"),
            ("-o slab_automove_ratio=abc", "slab_automove_ratio must be > 0 and < 1"),
            ("-o slab_automove_window=0", "slab_automove_window must be > 2"),
            ("-o idle_timeout", "Missing numeric argument for idle_timeout"),
            ("-o idle_timeout=abc", "Invalid idle_timeout"),
            ("-o worker_logbuf_size=abc", "could not parse argument to worker_logbuf_size"),
            ("-o slab_sizes=abc", "slab size 0 is out of valid range"),
            ("-o slab_sizes=47-200", "slab size 47 is out of valid range"),
            ("-n 100 -o slab_sizes=96-200", "slab size 96 is out of valid range"),
            ("-o slab_sizes=96-200,slab_chunk_max=128", "slab size 200 is out of valid range"),
            ("-o slab_sizes=100-90", "slab size 90 cannot be lower than or equal to a previous"),
            ("-o ext_path", "missing argument to ext_path"),
            ("-o ssl_key", "Missing ssl_key argument"),
            (
                "-o slab_chunk_max=2000",
                "-I (item_size_max: 1048576) must be evenly divisible by slab_chunk_max \
                 (bytes: 2000)",
            ),
        ];
        for (line, message) in cases {
            let text = fail(line);
            assert!(text.contains(message), "{line}: {text}");
        }
    }

    #[test]
    fn names_without_effect_here_warn_once() {
        let s = run("-o hashpower=20,hot_lru_pct=30 -o hot_lru_pct=25");
        let expected = [
            "-o hashpower: accepted for compatibility; no effect in this server",
            "-o hot_lru_pct: accepted for compatibility; no effect in this server",
        ];
        assert_eq!(s.warnings, expected);
        assert!(run("-o idle_timeout=5,track_sizes,no_lru_crawler").warnings.is_empty());
    }

    #[test]
    fn deprecated_resp_obj_mem_limit_only_warns() {
        let s = run("-o resp_obj_mem_limit=5");
        assert!(s.warnings.iter().any(|w| w.starts_with("DEPRECATED: resp_obj_mem_limit")));
    }
}
