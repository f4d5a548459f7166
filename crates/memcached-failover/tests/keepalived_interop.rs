//! Interop with Debian's keepalived 2.2.7: our `vrrpd` example in one network namespace,
//! keepalived in another, joined by a veth pair; private addresses inside the namespaces only.
//!
//! ```text
//!   netns mcfo<pid><tag>a                       netns mcfo<pid><tag>b
//!   vrrpd  va 192.168.17x.1/24 ══ veth ══ vb 192.168.17x.2/24  keepalived
//!                     VIP 192.168.17x.100/24 on whichever is MASTER
//! ```
//!
//! Needs root and /usr/sbin/keepalived; fails with a clear message otherwise. Every process is
//! killed by PID and both namespaces are deleted in `Drop`, also when an assertion fails.

#![cfg(target_os = "linux")]

mod lab;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use lab::*;

/// Path of the `vrrpd` example next to this test binary, (re)built with cargo first: a test
/// run limited to this target (`--test keepalived_interop`) does not build examples, and a
/// stale binary would test old code.
fn vrrpd_binary() -> PathBuf {
    static BUILD: std::sync::Once = std::sync::Once::new();
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().and_then(Path::parent).unwrap().to_path_buf();
    let binary = profile_dir.join("examples/vrrpd");
    BUILD.call_once(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut build = Command::new(cargo);
        build.args(["build", "-q", "-p", "memcached-failover", "--example", "vrrpd"]);
        if profile_dir.file_name().is_some_and(|n| n == "release") {
            build.arg("--release");
        }
        // The same target directory as this test binary.
        if let Some(target) = profile_dir.parent() {
            build.env("CARGO_TARGET_DIR", target);
        }
        let status = build.status().expect("run cargo to build the vrrpd example");
        assert!(status.success(), "building the vrrpd example failed");
    });
    assert!(binary.is_file(), "vrrpd example not found at {}", binary.display());
    binary
}

/// Starts our `vrrpd` example in namespace a.
trait StartVrrpd {
    fn start_vrrpd(&mut self, extra: &[&str]) -> usize;
}

impl StartVrrpd for Lab {
    fn start_vrrpd(&mut self, extra: &[&str]) -> usize {
        let vip = format!("{}/24", self.vip());
        let mut args = vec!["--interface", "va", "--vrid", "77", "--vip", &vip, "-v"];
        args.extend_from_slice(extra);
        let ns = self.ns_a.clone();
        self.spawn("vrrpd", &ns, &vrrpd_binary(), &args)
    }
}

/// vrrpd as a fast v3 router (priority 150, 0.1 s adverts, no gratuitous ARP delay) with
/// `extra` flags.
fn start_fast_v3(lab: &mut Lab, extra: &[&str]) -> usize {
    let mut args = vec!["--version", "3", "--priority", "150", "--advert-int", "0.1"];
    args.extend_from_slice(&["--garp-master-delay", "0"]);
    args.extend_from_slice(extra);
    lab.start_vrrpd(&args)
}

#[test]
fn keepalived_v2_accepts_our_adverts_and_takes_over_on_our_resignation() {
    let mut lab = Lab::new("v2", 177);
    let ours = lab.start_vrrpd(&[
        "--priority",
        "150",
        "--advert-int",
        "1",
        "--auth-pass",
        "memc1234",
        "--garp-master-delay",
        "0",
    ]);
    // Alone on the link: Backup, then Master after 3 s + (256-150)/256 s.
    lab.expect_ours_master(Duration::from_secs(6));

    let keepalived = lab.start_keepalived_backup(
        "    priority 100\n    advert_int 1\n    authentication {\n        auth_type PASS\n        auth_pass memc1234\n    }",
    );

    // keepalived's Master_Down_Interval is 3.61 s: if it dropped our adverts it would be
    // MASTER within 4.5 s.
    lab.expect_keepalived_stays_backup(keepalived, Duration::from_millis(4500), "our adverts");
    assert!(lab.ours_holds_vip(), "vrrpd lost the VIP\n{}", lab.logs());

    // SIGTERM: priority-0 advert. keepalived takes over after its Skew_Time (0.61 s), far
    // sooner than its Master_Down_Interval (3.61 s) would allow without the resignation.
    let stopped = Instant::now();
    let status = lab.terminate(ours);
    assert!(status.is_some_and(|s| s.success()), "vrrpd did not exit cleanly\n{}", lab.logs());
    assert!(!lab.ours_holds_vip(), "vrrpd left the VIP behind\n{}", lab.logs());
    let took_over = lab.wait_for(Duration::from_secs(5), Lab::keepalived_holds_vip);
    let took_over = took_over.map(|_| stopped.elapsed());
    assert!(took_over.is_some(), "keepalived never took the VIP\n{}", lab.logs());
    let took_over = took_over.unwrap();
    assert!(
        took_over < Duration::from_millis(3000),
        "keepalived took {took_over:?}: it waited for Master_Down instead of honouring the \
         priority-0 advert\n{}",
        lab.logs()
    );
    eprintln!("keepalived v2 took over {took_over:?} after SIGTERM to vrrpd");
}

#[test]
fn keepalived_v3_interoperates_in_both_directions() {
    let mut lab = Lab::new("v3", 178);
    let ours = start_fast_v3(&mut lab, &[]);
    lab.expect_ours_master(Duration::from_secs(3));

    let keepalived =
        lab.start_keepalived_backup("    priority 100\n    advert_int 0.1\n    version 3");
    // keepalived's Master_Down_Interval is 0.36 s.
    lab.expect_keepalived_stays_backup(keepalived, Duration::from_millis(1000), "our v3 adverts");

    let stopped = Instant::now();
    let status = lab.terminate(ours);
    assert!(status.is_some_and(|s| s.success()), "vrrpd did not exit cleanly\n{}", lab.logs());
    let took_over = lab.wait_for(Duration::from_secs(3), Lab::keepalived_holds_vip);
    assert!(took_over.is_some(), "keepalived never took the VIP\n{}", lab.logs());
    eprintln!("keepalived v3 took over {:?} after SIGTERM to vrrpd", stopped.elapsed());

    // The other direction: our decoder accepts keepalived's v3 adverts (pseudo-header
    // checksum), so a lower-priority vrrpd stays BACKUP...
    let ours = lab.start_vrrpd(&["--version", "3", "--priority", "50", "--advert-int", "0.1"]);
    let started =
        lab.wait_for(Duration::from_secs(3), |lab| lab.log(ours).contains("INIT -> BACKUP"));
    assert!(started.is_some(), "vrrpd did not start\n{}", lab.logs());
    let split = lab.wait_for(Duration::from_millis(1000), |lab| {
        lab.ours_holds_vip() || lab.log(ours).contains("-> MASTER")
    });
    assert!(split.is_none(), "vrrpd ignored keepalived's adverts\n{}", lab.logs());
    assert!(lab.keepalived_holds_vip());

    // ...and takes over when keepalived stops (keepalived sends a priority-0 advert).
    lab.terminate(keepalived);
    let took_over = lab.wait_for(Duration::from_secs(3), Lab::ours_holds_vip);
    assert!(took_over.is_some(), "vrrpd never took the VIP from keepalived\n{}", lab.logs());
    assert!(lab.log(ours).contains("BACKUP -> MASTER (MasterDown"), "{}", lab.logs());
}

#[test]
fn killing_memcached_moves_the_vip_to_keepalived_and_back() {
    let mut lab = Lab::new("mk", 179);
    let memcached = lab.start_memcached();
    std::thread::sleep(Duration::from_millis(300));
    // Health check every 100 ms, 2 failures to fault, 2 successes to recover.
    let ours = start_fast_v3(
        &mut lab,
        &["--check", "127.0.0.1:11211", "--check-interval", "0.1", "--fall", "2", "--rise", "2"],
    );
    lab.expect_ours_master(Duration::from_secs(3));
    lab.start_keepalived_backup("    priority 100\n    advert_int 0.1\n    version 3");
    std::thread::sleep(Duration::from_millis(500));
    assert!(lab.ours_holds_vip() && !lab.keepalived_holds_vip(), "{}", lab.logs());

    // memcached dies: two failed checks (<= 0.2 s), FAULT, priority-0 advert, keepalived
    // takes over after its Skew_Time (61 ms).
    let killed = Instant::now();
    lab.kill(memcached);
    let took_over = lab.wait_for(Duration::from_secs(3), Lab::keepalived_holds_vip);
    let gap = killed.elapsed();
    assert!(took_over.is_some(), "keepalived never took the VIP\n{}", lab.logs());
    assert!(lab.log(ours).contains("MASTER -> FAULT (HealthFault"), "{}", lab.logs());
    assert!(!lab.ours_holds_vip(), "faulted vrrpd kept the VIP\n{}", lab.logs());
    eprintln!("memcached killed -> keepalived holds the VIP after {gap:?}");

    // memcached is back: two good checks, BACKUP, then vrrpd (150) preempts keepalived (100)
    // after its Master_Down_Interval.
    let restarted = Instant::now();
    lab.start_memcached();
    let back = lab.wait_for(Duration::from_secs(5), |lab| {
        lab.ours_holds_vip() && !lab.keepalived_holds_vip()
    });
    assert!(back.is_some(), "vrrpd did not take the VIP back\n{}", lab.logs());
    assert!(lab.log(ours).contains("FAULT -> BACKUP (HealthRecovered"), "{}", lab.logs());
    eprintln!("memcached restarted -> vrrpd holds the VIP again after {:?}", restarted.elapsed());
}

#[test]
fn link_down_faults_vrrpd_and_link_up_brings_it_back() {
    let mut lab = Lab::new("ln", 180);
    let ours = lab.start_vrrpd(&["--version", "3", "--priority", "150", "--advert-int", "0.1"]);
    lab.expect_ours_master(Duration::from_secs(3));

    // keepalived's default: an instance tracks its own interface and faults without carrier.
    run("ip", &["-n", &lab.ns_a, "link", "set", "va", "down"]);
    let fault = lab.wait_for(Duration::from_secs(2), |lab| {
        lab.log(ours).contains("MASTER -> FAULT") && !lab.ours_holds_vip()
    });
    assert!(fault.is_some(), "vrrpd did not fault on link down\n{}", lab.logs());

    run("ip", &["-n", &lab.ns_a, "link", "set", "va", "up"]);
    let back = lab.wait_for(Duration::from_secs(3), Lab::ours_holds_vip);
    assert!(back.is_some(), "vrrpd did not come back on link up\n{}", lab.logs());
    assert!(lab.log(ours).contains("FAULT -> BACKUP (HealthRecovered"), "{}", lab.logs());
}

#[test]
fn keepalived_unicast_mode_interoperates() {
    let mut lab = Lab::new("uc", 181);
    let ours = start_fast_v3(&mut lab, &["--unicast-peer", "192.168.181.2"]);
    lab.expect_ours_master(Duration::from_secs(3));
    let keepalived = lab.start_keepalived_backup(
        "    priority 100\n    advert_int 0.1\n    version 3\n    unicast_src_ip 192.168.181.2\n    unicast_peer {\n        192.168.181.1\n    }",
    );
    // If keepalived dropped our unicast adverts (mode mismatch, length, VIP list...) it would
    // be MASTER within its 0.36 s Master_Down_Interval. (keepalived 2.2.7 also accepts a v3
    // pseudo-header built with 224.0.0.18, its `old_unicast_checksum` compatibility, so this
    // does not pin down which destination our checksum uses; the second half does: our
    // decoder only accepts keepalived's unicast adverts if it uses the real destination.)
    lab.expect_keepalived_stays_backup(
        keepalived,
        Duration::from_millis(1000),
        "our unicast adverts",
    );

    let status = lab.terminate(ours);
    assert!(status.is_some_and(|s| s.success()), "vrrpd did not exit cleanly\n{}", lab.logs());
    let took_over = lab.wait_for(Duration::from_secs(3), Lab::keepalived_holds_vip);
    assert!(took_over.is_some(), "keepalived never took the VIP\n{}", lab.logs());

    // And a lower-priority vrrpd accepts keepalived's unicast adverts.
    let ours = lab.start_vrrpd(&[
        "--version",
        "3",
        "--priority",
        "50",
        "--advert-int",
        "0.1",
        "--unicast-peer",
        "192.168.181.2",
    ]);
    let started =
        lab.wait_for(Duration::from_secs(3), |lab| lab.log(ours).contains("INIT -> BACKUP"));
    assert!(started.is_some(), "vrrpd did not start\n{}", lab.logs());
    let split = lab.wait_for(Duration::from_millis(1000), |lab| {
        lab.ours_holds_vip() || lab.log(ours).contains("-> MASTER")
    });
    assert!(split.is_none(), "vrrpd ignored keepalived's unicast adverts\n{}", lab.logs());
}

#[test]
fn keepalived_v3_backup_adopts_our_interval_and_takes_over_when_we_die() {
    let mut lab = Lab::new("kl", 182);
    let ours = start_fast_v3(&mut lab, &[]);
    lab.expect_ours_master(Duration::from_secs(3));
    // keepalived is configured with 1 s; as BACKUP it adopts our 0.1 s (RFC 5798 §6.4.2).
    lab.start_keepalived_backup("    priority 100\n    advert_int 1\n    version 3");
    std::thread::sleep(Duration::from_millis(500));
    assert!(!lab.keepalived_holds_vip(), "{}", lab.logs());

    // SIGKILL: no priority-0 advert, keepalived must wait its Master_Down_Interval:
    // 3 · 0.1 s + (256 − 100) · 0.1 s / 256 = 0.36 s with our interval, 3.61 s with its own.
    let killed = Instant::now();
    lab.kill(ours);
    let took_over = lab.wait_for(Duration::from_secs(5), Lab::keepalived_holds_vip);
    let gap = killed.elapsed();
    assert!(took_over.is_some(), "keepalived never took the VIP\n{}", lab.logs());
    assert!(
        gap < Duration::from_millis(2000),
        "keepalived took {gap:?}: it did not adopt our 0.1 s advert interval\n{}",
        lab.logs()
    );
    eprintln!("vrrpd SIGKILLed -> keepalived holds the VIP after {gap:?}");
}
