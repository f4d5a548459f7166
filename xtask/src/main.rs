//! `cargo xtask <command>`: the project's automation, written in Rust so it runs wherever
//! cargo does.
//!
//! - `ci`: `setup`, then `cargo fmt --check`, `cargo clippy -D warnings`, `cargo test` for the
//!   whole workspace. This is the README's test command and what `.ci/run` calls.
//! - `bench [--quick]`: our server and Debian's memcached side by side (see `bench.rs`).
//! - `setup`: installs the Debian packages the tests talk to (the reference memcached, the real
//!   clients, keepalived, twemproxy) when they are missing and we are root.

mod bench;

use std::process::{Command, ExitCode};

/// Debian packages the test suite needs, with one binary that proves each is installed.
const TEST_PACKAGES: &[(&str, &str)] = &[
    ("memcached", "/usr/bin/memcached"),
    ("php-cli", "/usr/bin/php"),
    ("php-memcached", "/usr/share/doc/php-memcached"),
    ("python3-pymemcache", "/usr/lib/python3/dist-packages/pymemcache"),
    ("libmemcached-tools", "/usr/bin/memccapable"),
    ("keepalived", "/usr/sbin/keepalived"),
    ("nutcracker", "/usr/sbin/nutcracker"),
    ("iproute2", "/usr/sbin/ip"),
];

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("ci") => ci(),
        Some("setup") => setup(),
        Some("bench") => bench::bench(&args[1..]),
        _ => {
            eprintln!("usage: cargo xtask <ci|setup|bench [--quick]>");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask: {message}");
            ExitCode::FAILURE
        }
    }
}

fn ci() -> Result<(), String> {
    setup()?;
    run("cargo", &["fmt", "--all", "--", "--check"])?;
    run("cargo", &["clippy", "--workspace", "--all-targets", "--", "-D", "warnings"])?;
    run("cargo", &["test", "--workspace", "--all-targets"])?;
    run("cargo", &["test", "--workspace", "--doc"])
}

/// Installs the missing test packages with apt-get when running as root; otherwise says what is
/// missing and carries on (the tests that need a package fail and name it).
fn setup() -> Result<(), String> {
    let missing: Vec<&str> = TEST_PACKAGES
        .iter()
        .filter(|(_, probe)| !std::path::Path::new(probe).exists())
        .map(|(package, _)| *package)
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    if !is_root() {
        eprintln!("xtask: not root, so not installing: {}", missing.join(" "));
        return Ok(());
    }
    run("apt-get", &["update", "-qq"])?;
    let mut install = vec!["install", "-y", "-qq"];
    install.extend(missing.iter().copied());
    let status = Command::new("apt-get")
        .args(&install)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .status()
        .map_err(|e| format!("apt-get: {e}"))?;
    if !status.success() {
        return Err(format!("apt-get install {} failed: {status}", missing.join(" ")));
    }
    Ok(())
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
        .unwrap_or(false)
}

fn run(program: &str, args: &[&str]) -> Result<(), String> {
    eprintln!("xtask: running {program} {}", args.join(" "));
    let status =
        Command::new(program).args(args).status().map_err(|e| format!("{program}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{program} {} failed: {status}", args.join(" ")))
    }
}
