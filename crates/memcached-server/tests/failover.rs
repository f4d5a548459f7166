//! `--vrrp` against Debian's keepalived 2.2.7: our server in one network namespace, keepalived
//! in another (the lab of memcached-failover's interop tests), the VIP on whichever is master.
//! Clients reach the cache through the VIP; the VIP moves to keepalived when our server stops
//! or stops answering, and comes back when it answers again. Needs root, `ip` and keepalived.

#![cfg(target_os = "linux")]

#[path = "../../memcached-failover/tests/lab/mod.rs"]
mod lab;

mod common;

use std::path::Path;
use std::time::Duration;

use lab::Lab;

/// Starts our server in namespace a with a VRRP instance on `va` (priority 150, v3, 0.1 s
/// adverts, a `version` check of its own port every 100 ms).
fn start_ours(lab: &mut Lab, extra: &[&str]) -> usize {
    start_ours_with(lab, "", extra)
}

/// [`start_ours`] with more `--vrrp` settings (`setting`, comma-separated).
fn start_ours_with(lab: &mut Lab, setting: &str, extra: &[&str]) -> usize {
    let vrrp = format!(
        "interface=va,vrid=77,priority=150,vip={}/24,version=3,advert_int=0.1,\
         check_interval=0.1,fall=2,rise=2,{setting}",
        lab.vip()
    );
    let mut args = vec!["-p", "11211", "-U", "0", "-m", "16", "--vrrp", vrrp.as_str()];
    args.extend_from_slice(extra);
    let ns = lab.ns_a.clone();
    lab.spawn("memcached-server", &ns, &common::our_binary(), &args)
}

/// Sends `request` (ending with `quit`) through the VIP from namespace b (keepalived's side)
/// with bash's /dev/tcp, and returns everything the server answered.
fn ask_through_vip(lab: &Lab, request: &str) -> String {
    ask(lab, &lab.vip(), request)
}

/// Sends `request` to `address`:11211 from namespace b and returns the answer.
fn ask(lab: &Lab, address: &str, request: &str) -> String {
    let script = format!(
        "exec 3<>/dev/tcp/{address}/11211 && printf '{}' >&3 && cat <&3",
        request.replace("\r\n", "\\r\\n")
    );
    let out = std::process::Command::new("timeout")
        .args(["2", "ip", "netns", "exec", &lab.ns_b, "bash", "-c", &script])
        .output()
        .expect("run bash in the namespace");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Notify programs (keepalived's `notify` and `notify_master`) that append their arguments
/// (or `became master`) to a file: the `--vrrp` settings for them, and the files to remove
/// afterwards (the record first).
fn notify_recorder() -> (String, Vec<std::path::PathBuf>) {
    use std::os::unix::fs::PermissionsExt;
    let log = common::temp_path("notify-calls");
    let notify = common::temp_path("notify.sh");
    let master = common::temp_path("notify-master.sh");
    for (script, text) in [(&notify, "\"$@\""), (&master, "became master \"$@\"")] {
        std::fs::write(script, format!("#!/bin/sh\necho {text} >> {}\n", log.display())).unwrap();
        std::fs::set_permissions(script, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let settings =
        format!("notify={},notify_master={} vip 77,name=cache", notify.display(), master.display());
    (settings, vec![log, notify, master])
}

#[test]
fn the_vip_follows_the_answering_server_and_leaves_on_a_graceful_stop() {
    let mut lab = Lab::new("srv", 171);
    let (notify, files) = notify_recorder();
    let ours = start_ours_with(&mut lab, &notify, &[]);
    lab.start_keepalived("    priority 100\n    advert_int 0.1\n    version 3");
    lab.expect_ours_master(Duration::from_secs(10));
    assert!(!lab.keepalived_holds_vip(), "both hold the VIP\n{}", lab.logs());
    let reply = ask_through_vip(&lab, "version\r\nquit\r\n");
    assert!(reply.starts_with("VERSION 1.6.18"), "through the VIP: {reply:?}\n{}", lab.logs());
    let stats = ask_through_vip(&lab, "stats\r\nquit\r\n");
    for line in ["STAT vrrp_state MASTER\r\n", "STAT vrrp_vips 192.168.171.100/24\r\n"] {
        assert!(stats.contains(line), "{line:?} missing from stats: {stats}");
    }

    // SIGTERM: the server resigns (priority 0), keepalived takes the VIP after its skew time.
    let status = lab.terminate(ours);
    assert!(status.is_some_and(|s| s.success()), "exit: {status:?}\n{}", lab.logs());
    let moved = lab.wait_for(Duration::from_secs(3), |l| l.keepalived_holds_vip());
    assert!(moved.is_some(), "keepalived did not take the VIP\n{}", lab.logs());
    assert!(!lab.ours_holds_vip(), "the VIP stayed on the stopped server\n{}", lab.logs());

    // The notify program heard of every change of state, in order, as keepalived's would.
    let calls = std::fs::read_to_string(&files[0]).unwrap_or_default();
    for file in &files {
        let _ = std::fs::remove_file(file);
    }
    // (The programs run in the background: BACKUP's and MASTER's lines could land in either
    // order on a loaded machine; STOP is waited for at exit.)
    let mut states: Vec<&str> = calls.lines().filter(|l| l.starts_with("INSTANCE")).collect();
    assert_eq!(states.pop(), Some("INSTANCE cache STOP 150"), "notify calls: {calls:?}");
    states.sort_unstable();
    assert_eq!(
        states,
        ["INSTANCE cache BACKUP 150", "INSTANCE cache MASTER 150"],
        "notify calls: {calls:?}"
    );
    assert_eq!(calls.lines().filter(|l| *l == "became master vip 77").count(), 1, "{calls:?}");
}

#[test]
fn a_server_that_stops_answering_gives_the_vip_away_until_it_answers_again() {
    let mut lab = Lab::new("srvh", 172);
    // -c 16: connections beyond the limit are refused, so a client that holds many of them
    // makes the health check fail while the process (and its VRRP thread) keeps running.
    start_ours(&mut lab, &["-c", "16"]);
    lab.start_keepalived("    priority 100\n    advert_int 0.1\n    version 3");
    lab.expect_ours_master(Duration::from_secs(10));
    let hog = format!(
        "for i in $(seq 3 40); do eval \"exec $i<>/dev/tcp/192.168.{}.1/11211\" || break; done; \
         sleep 3",
        lab.subnet
    );
    let ns_b = lab.ns_b.clone();
    let hog = lab.spawn("connection-hog", &ns_b, Path::new("/bin/bash"), &["-c", &hog]);
    let moved = lab.wait_for(Duration::from_secs(3), |l| l.keepalived_holds_vip());
    assert!(moved.is_some(), "keepalived did not take the VIP\n{}", lab.logs());
    assert!(!lab.ours_holds_vip(), "both hold the VIP\n{}", lab.logs());

    // The hog lets go: the check passes again and we (priority 150) preempt.
    lab.kill(hog);
    let back = lab.wait_for(Duration::from_secs(6), |l| l.ours_holds_vip());
    assert!(back.is_some(), "our server did not take the VIP back\n{}", lab.logs());
    assert!(
        lab.wait_for(Duration::from_secs(3), |l| !l.keepalived_holds_vip()).is_some(),
        "keepalived kept the VIP\n{}",
        lab.logs()
    );
}

#[test]
fn vrrp_settings_are_checked_at_startup() {
    let run = |args: &[&str]| {
        let mut command = std::process::Command::new(common::our_binary());
        command.args(args);
        common::run_with_timeout("server", command, Duration::from_secs(10))
    };
    let o = run(&["-p", "0", "--vrrp", "interface=lo,vip=10.0.0.1"]);
    assert_eq!(o.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&o.stderr).contains("vrid"));
    let o = run(&["-p", "0", "--vrrp", "interface=lo,vrid=1,vip=10.0.0.1", "-u", "nobody"]);
    assert_eq!(o.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&o.stderr).contains("-u"));
    let port = common::free_port().to_string();
    let spec = "interface=no-such-if0,vrid=1,vip=10.0.0.1";
    let o = run(&["--vrrp", spec, "-l", "127.0.0.1", "-p", &port]);
    assert_eq!(o.status.code(), Some(71), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no-such-if0"));
}

#[test]
fn a_replicated_pair_behind_the_vip_keeps_serving_the_data_when_the_master_dies() {
    let mut lab = Lab::new("ha", 173);
    let vrrp = |dev: &str, priority: u32| {
        format!(
            "interface={dev},vrid=77,priority={priority},vip={}/24,version=3,advert_int=0.1,\
             check_interval=0.1,fall=2,rise=2",
            lab.vip()
        )
    };
    let (vrrp_a, vrrp_b) = (vrrp("va", 150), vrrp("vb", 100));
    let peer_of_a = format!("192.168.{}.2", lab.subnet);
    let peer_of_b = format!("192.168.{}.1", lab.subnet);
    let binary = common::our_binary();
    let (ns_a, ns_b) = (lab.ns_a.clone(), lab.ns_b.clone());
    let node = |peer: &str, vrrp: &str| -> Vec<String> {
        ["-p", "11211", "-U", "0", "-m", "16", "-v", "-x", peer, "--vrrp", vrrp]
            .map(str::to_owned)
            .to_vec()
    };
    let args_a = node(&peer_of_a, &vrrp_a);
    let args_b = node(&peer_of_b, &vrrp_b);
    let first =
        lab.spawn("node-a", &ns_a, &binary, &args_a.iter().map(String::as_str).collect::<Vec<_>>());
    lab.spawn("node-b", &ns_b, &binary, &args_b.iter().map(String::as_str).collect::<Vec<_>>());
    lab.expect_ours_master(Duration::from_secs(10));
    let linked = lab.wait_for(Duration::from_secs(10), |l| {
        ask_through_vip(l, "stats\r\nquit\r\n").contains("STAT repl_link up\r\n")
    });
    assert!(linked.is_some(), "the pair never linked\n{}", lab.logs());

    // A client writes through the VIP (node a); the value reaches node b.
    let stored = ask_through_vip(&lab, "set session:42 7 0 5\r\nhello\r\nquit\r\n");
    assert_eq!(stored, "STORED\r\n", "{}", lab.logs());

    let replicated = lab.wait_for(Duration::from_secs(5), |l| {
        ask(l, &peer_of_a, "get session:42\r\nquit\r\n").contains("hello")
    });
    assert!(replicated.is_some(), "node b never got the value\n{}", lab.logs());

    // Node a dies without a word: node b takes the VIP and serves the data.
    lab.kill(first);
    let moved = lab.wait_for(Duration::from_secs(3), |l| l.keepalived_holds_vip());
    assert!(moved.is_some(), "node b did not take the VIP\n{}", lab.logs());
    eprintln!("node b held the VIP {:?} after node a was killed", moved.unwrap());
    let read = ask_through_vip(&lab, "get session:42\r\nquit\r\n");
    assert_eq!(read, "VALUE session:42 7 5\r\nhello\r\nEND\r\n", "{}", lab.logs());
}
