//! Process-level steps taken by `main` before serving, in memcached's order:
//!
//! ```text
//!   enable_core_dumps (-r)  ->  raise_open_files_limit (-c)  ->  drop_privileges (-u)
//!     ->  daemonize (-d, before any thread is started)  ->  lock_memory (-k)
//!     ->  bind listeners  ->  write_pidfile (-P)  ...  remove_pidfile on exit
//! ```
//!
//! Each is a thin, documented wrapper over libc; `unsafe` is confined to the calls themselves.

use std::ffi::CString;
use std::io;
use std::path::{Path, PathBuf};

use super::error::{SettingsError, EX_OSERR, EX_USAGE};

fn os_error(message: String) -> SettingsError {
    SettingsError::Process { message, exit_code: EX_OSERR }
}

/// `-d`: detaches from the terminal the classic way: SIGHUP ignored (as memcached does),
/// `fork` (the parent exits 0), `setsid`,
/// `chdir("/")` unless `keep_cwd` (memcached keeps it with `-r` so cores land there), and
/// stdin/stdout/stderr to `/dev/null` unless `keep_stdio` (memcached keeps them with `-v`).
///
/// Must be called before any thread is spawned: only the calling thread survives `fork`.
pub fn daemonize(keep_cwd: bool, keep_stdio: bool) -> Result<(), SettingsError> {
    // SAFETY: installing SIG_IGN has no handler code to run and no memory to reference.
    if unsafe { libc::signal(libc::SIGHUP, libc::SIG_IGN) } == libc::SIG_ERR {
        return Err(os_error("Failed to ignore SIGHUP".to_string()));
    }
    // SAFETY: fork has no memory-safety preconditions; the caller guarantees the process is
    // still single-threaded, so the child's copy of the address space is consistent.
    match unsafe { libc::fork() } {
        -1 => return Err(os_error(format!("fork: {}", io::Error::last_os_error()))),
        0 => {}
        // SAFETY: _exit ends the parent at once without running destructors or atexit
        // handlers that belong to the child from now on.
        _ => unsafe { libc::_exit(0) },
    }
    // SAFETY: setsid takes no arguments and only changes this process's session.
    if unsafe { libc::setsid() } == -1 {
        return Err(os_error(format!("setsid: {}", io::Error::last_os_error())));
    }
    if !keep_cwd {
        std::env::set_current_dir("/").map_err(|e| os_error(format!("chdir(\"/\"): {e}")))?;
    }
    if !keep_stdio {
        let null = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/null")
            .map_err(|e| os_error(format!("open(\"/dev/null\"): {e}")))?;
        use std::os::fd::AsRawFd;
        for fd in 0..=2 {
            // SAFETY: both descriptors are valid: `null` is open for the whole loop and 0..=2
            // are the standard descriptors; dup2 only replaces what fd refers to.
            if unsafe { libc::dup2(null.as_raw_fd(), fd) } == -1 {
                return Err(os_error(format!("dup2: {}", io::Error::last_os_error())));
            }
        }
    }
    Ok(())
}

/// `-P`: writes `pid` followed by a newline to `path`, through `path.tmp` and a rename (as
/// memcached does), so a reader never sees a half-written file.
pub fn write_pidfile(path: &Path, pid: u32) -> Result<(), SettingsError> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let failed = |e: io::Error| {
        os_error(format!("Could not open the pid file {} for writing: {e}", path.display()))
    };
    std::fs::write(&tmp, format!("{pid}\n")).map_err(failed)?;
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        failed(e)
    })
}

/// Removes the pidfile at shutdown; a missing file is not an error.
pub fn remove_pidfile(path: &Path) -> Result<(), SettingsError> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => {
            Err(os_error(format!("Could not remove the pid file {}: {e}", path.display())))
        }
        _ => Ok(()),
    }
}

/// `-u`: when running as root, switches to `user` (its primary group, no supplementary
/// groups). `None` as root is refused with memcached's "can't run as root without the -u
/// switch"; [`crate::startup::run`] calls this only when `-u` was given, so the server itself
/// starts as root without `-u` (warning under `-v`). Not root: nothing happens (memcached
/// ignores `-u` then).
pub fn drop_privileges(user: Option<&str>) -> Result<(), SettingsError> {
    // SAFETY: getuid/geteuid take no arguments and cannot fail.
    let is_root = unsafe { libc::getuid() == 0 || libc::geteuid() == 0 };
    if !is_root {
        return Ok(());
    }
    let Some(name) = user.filter(|u| !u.is_empty()) else {
        return Err(SettingsError::Process {
            message: "can't run as root without the -u switch".to_string(),
            exit_code: EX_USAGE,
        });
    };
    let not_found = || SettingsError::Process {
        message: format!("can't find the user {name} to switch to"),
        exit_code: EX_USAGE,
    };
    let c_name = CString::new(name).map_err(|_| not_found())?;
    let (uid, gid) = lookup_user(&c_name).ok_or_else(not_found)?;
    let failed = || os_error(format!("failed to assume identity of user {name}"));
    // SAFETY: setgroups with a count of 0 does not read the (null) list.
    if unsafe { libc::setgroups(0, std::ptr::null()) } != 0 {
        return Err(failed());
    }
    // SAFETY: setgid/setuid take plain integers; the group is changed while still root.
    if unsafe { libc::setgid(gid) } != 0 || unsafe { libc::setuid(uid) } != 0 {
        return Err(failed());
    }
    Ok(())
}

/// The uid and primary gid of a user name, via the re-entrant `getpwnam_r`.
fn lookup_user(name: &CString) -> Option<(libc::uid_t, libc::gid_t)> {
    let mut buf = vec![0 as libc::c_char; 16 * 1024];
    // SAFETY: passwd is a plain C struct for which all-zero bytes is a valid value.
    let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
    let mut result: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: every pointer refers to live, writable memory of the advertised size; on
    // success `result` points at `pwd`, whose strings point into `buf`, both still alive.
    let rc = unsafe {
        libc::getpwnam_r(name.as_ptr(), &mut pwd, buf.as_mut_ptr(), buf.len(), &mut result)
    };
    if rc != 0 || result.is_null() {
        return None;
    }
    Some((pwd.pw_uid, pwd.pw_gid))
}

/// `-k`: locks all current and future pages in memory. memcached only warns when this
/// fails; so do we: the returned `Err` text is the warning to print, and serving goes on.
pub fn lock_memory() -> Result<(), String> {
    // SAFETY: mlockall takes flags only.
    if unsafe { libc::mlockall(libc::MCL_CURRENT | libc::MCL_FUTURE) } != 0 {
        return Err(format!(
            "warning: -k invalid, mlockall() failed: {}",
            io::Error::last_os_error()
        ));
    }
    Ok(())
}

/// `-r`: raises the core file size limit as far as allowed (memcached's `-r`).
pub fn enable_core_dumps() -> Result<(), SettingsError> {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: `limit` is a valid, writable rlimit.
    if unsafe { libc::getrlimit(libc::RLIMIT_CORE, &mut limit) } != 0 {
        return Err(os_error("failed to ensure corefile creation".to_string()));
    }
    let unlimited = libc::rlimit { rlim_cur: libc::RLIM_INFINITY, rlim_max: libc::RLIM_INFINITY };
    // SAFETY: the rlimit values are read from valid structs.
    if unsafe { libc::setrlimit(libc::RLIMIT_CORE, &unlimited) } != 0 {
        let at_hard = libc::rlimit { rlim_cur: limit.rlim_max, rlim_max: limit.rlim_max };
        // SAFETY: as above.
        unsafe { libc::setrlimit(libc::RLIMIT_CORE, &at_hard) };
    }
    // SAFETY: `limit` is a valid, writable rlimit.
    if unsafe { libc::getrlimit(libc::RLIMIT_CORE, &mut limit) } != 0 || limit.rlim_cur == 0 {
        return Err(os_error("failed to ensure corefile creation".to_string()));
    }
    Ok(())
}

/// `-c`: makes sure the open-files limit allows `max_connections` connections plus
/// `reserve` other descriptors (listeners, pipes, files), raising the soft limit (and the
/// hard one when root). Fails with memcached's message when the system refuses.
pub fn raise_open_files_limit(max_connections: u32, reserve: u32) -> Result<(), SettingsError> {
    let wanted = libc::rlim_t::from(max_connections) + libc::rlim_t::from(reserve);
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: `limit` is a valid, writable rlimit.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return Err(os_error("failed to getrlimit number of files".to_string()));
    }
    if limit.rlim_cur >= wanted {
        return Ok(());
    }
    let raised = libc::rlimit { rlim_cur: wanted, rlim_max: limit.rlim_max.max(wanted) };
    // SAFETY: `raised` is a valid rlimit.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } != 0 {
        return Err(os_error(
            "failed to set rlimit for open files. Try starting as root or requesting \
             smaller maxconns value."
                .to_string(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pidfile_is_written_whole_and_removed() {
        let path = std::env::temp_dir().join(format!("mc-settings-{}.pid", std::process::id()));
        write_pidfile(&path, 4242).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "4242\n");
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(".tmp");
        assert!(!Path::new(&tmp).exists(), "the temporary file is renamed away");
        remove_pidfile(&path).unwrap();
        assert!(!path.exists());
        remove_pidfile(&path).expect("a missing pidfile is fine");
    }

    #[test]
    fn pidfile_in_a_missing_directory_fails_clearly() {
        let e = write_pidfile(Path::new("/nonexistent-dir/mc.pid"), 1).unwrap_err();
        assert!(e.to_string().contains("/nonexistent-dir/mc.pid"), "{e}");
        assert_eq!(e.exit_code(), EX_OSERR);
    }

    #[test]
    fn root_needs_dash_u_and_others_are_left_alone() {
        // SAFETY: getuid/geteuid cannot fail.
        let is_root = unsafe { libc::getuid() == 0 || libc::geteuid() == 0 };
        let result = drop_privileges(None);
        if is_root {
            let e = result.unwrap_err();
            assert_eq!(e.to_string(), "can't run as root without the -u switch");
            assert_eq!(e.exit_code(), EX_USAGE);
            let e = drop_privileges(Some("no-such-user-xyz")).unwrap_err();
            assert_eq!(e.to_string(), "can't find the user no-such-user-xyz to switch to");
        } else {
            result.expect("not root: nothing to drop");
        }
    }

    #[test]
    fn known_users_are_found() {
        let (uid, gid) = lookup_user(&CString::new("root").unwrap()).expect("root exists");
        assert_eq!((uid, gid), (0, 0));
        assert!(lookup_user(&CString::new("no-such-user-xyz").unwrap()).is_none());
    }

    #[test]
    fn open_files_limit_is_raised_when_allowed() {
        let mut before = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        // SAFETY: `before` is a valid, writable rlimit.
        assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut before) }, 0);
        // Asking for no more than the current soft limit never fails.
        raise_open_files_limit(0, 0).unwrap();
        let target = u32::try_from(before.rlim_max.min(1 << 20)).unwrap_or(1024);
        raise_open_files_limit(target, 0).expect("up to the hard limit is allowed");
        let mut after = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        // SAFETY: `after` is a valid, writable rlimit.
        assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut after) }, 0);
        assert!(after.rlim_cur >= libc::rlim_t::from(target));
    }
}
