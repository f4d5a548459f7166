//! [`SettingsError`]: why the flags, the config file or a process-level step were refused, with
//! the exit status memcached uses for the same failure.

use std::fmt;
use std::path::PathBuf;

/// `EX_USAGE` from `<sysexits.h>`: memcached's exit status for most rejected values.
pub const EX_USAGE: i32 = 64;
/// `EX_OSERR` from `<sysexits.h>`: memcached's exit status when the OS refuses something
/// (listening on an interface, switching user, raising a limit).
pub const EX_OSERR: i32 = 71;
/// `EX_CONFIG` from `<sysexits.h>`: a config file that cannot be read or has a bad entry.
pub const EX_CONFIG: i32 = 78;

/// A refused command line, config file or process-level step.
///
/// `Display` gives the text to print on stderr (memcached's wording where memcached has a
/// message for the same case); [`SettingsError::exit_code`] gives the process exit status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SettingsError {
    /// A command-line syntax problem: an unknown option, a missing argument, an ambiguous long
    /// option. memcached prints getopt's message and exits 1.
    Usage(String),
    /// A value memcached itself would refuse (`-c 0`, `-t 0`, `-I 2k`, `-o fooble`...), with
    /// memcached's exit status for it (1 or [`EX_USAGE`]).
    Invalid {
        /// The message, without a trailing newline.
        message: String,
        /// The process exit status.
        exit_code: i32,
    },
    /// A `-l` interface that does not resolve to an address (memcached exits [`EX_OSERR`]).
    Listen {
        /// The `-l` entry that failed.
        interface: String,
        /// What the resolver said.
        reason: String,
    },
    /// The TOML config file could not be read, is not TOML, or has an unknown key or a value of
    /// the wrong type.
    ConfigFile {
        /// The file given with `--config-file`.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// A process-level step failed: daemonizing, the pidfile, switching user, a resource limit.
    Process {
        /// The message, without a trailing newline.
        message: String,
        /// The process exit status.
        exit_code: i32,
    },
}

impl SettingsError {
    /// A value refused with exit status 1 (memcached's `exit(EXIT_FAILURE)` cases).
    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Self::Invalid { message: message.into(), exit_code: 1 }
    }

    /// A value refused with exit status [`EX_USAGE`].
    pub(crate) fn usage_value(message: impl Into<String>) -> Self {
        Self::Invalid { message: message.into(), exit_code: EX_USAGE }
    }

    /// The exit status memcached uses for this failure.
    pub fn exit_code(&self) -> i32 {
        match self {
            Self::Usage(_) => 1,
            Self::Invalid { exit_code, .. } | Self::Process { exit_code, .. } => *exit_code,
            Self::Listen { .. } => EX_OSERR,
            Self::ConfigFile { .. } => EX_CONFIG,
        }
    }
}

impl fmt::Display for SettingsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Usage(message) => {
                write!(f, "{message}\nTry `memcached-server -h` for the list of options.")
            }
            Self::Invalid { message, .. } | Self::Process { message, .. } => f.write_str(message),
            Self::Listen { interface, reason } => {
                write!(f, "failed to listen on one of interface(s) {interface}: {reason}")
            }
            Self::ConfigFile { path, message } => {
                write!(f, "config file {}: {message}", path.display())
            }
        }
    }
}

impl std::error::Error for SettingsError {}
