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
        "slab_sizes" => {
            let v = required(name, value)?;
            for size in v.split('-') {
                match size.trim().parse::<u32>() {
                    Ok(n) if (48..=SLAB_PAGE_SIZE).contains(&n) => {}
                    _ => {
                        return Err(SettingsError::usage_value(format!(
                            "slab size {} is out of valid range",
                            size.trim().parse::<u64>().unwrap_or(0)
                        )))
                    }
                }
            }
            s.slab_sizes = Some(v.to_string());
        }
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
        "resp_obj_mem_limit" => s.warnings.push(
            "DEPRECATED: resp_obj_mem_limit no longer used. See read_buf_mem_limit,\n\
             now in megabytes, which limits both read and response object buffers."
                .to_string(),
        ),
        "read_buf_mem_limit" => s.read_buf_mem_limit = number(name, value)?,
        "sock_cookie_id" => {
            s.sock_cookie_id = Some(number(name, value)?);
            s.warnings.push("-o sock_cookie_id has no effect in this server".to_string());
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

fn warn_unsupported(s: &mut Settings, name: &str, feature: &str) {
    s.warnings.push(format!("-o {name}: {feature} is not supported by this server; ignored"));
}
