//! A two-namespace VRRP lab shared by the keepalived interop tests of memcached-failover and
//! memcached-server (included there with `#[path]`):
//!
//! ```text
//!   netns <id>a                                   netns <id>b
//!   ours   va 192.168.<subnet>.1/24 ══ veth ══ vb 192.168.<subnet>.2/24   keepalived
//!                  VIP 192.168.<subnet>.100/24 on whichever is MASTER
//! ```
//!
//! Needs root, `ip` and /usr/sbin/keepalived; fails with a clear message otherwise. Every
//! process is killed by PID and both namespaces are deleted in `Drop`, also when an assertion
//! fails.

#![allow(dead_code)]

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const KEEPALIVED: &str = "/usr/sbin/keepalived";
pub const MEMCACHED: &str = "/usr/bin/memcached";

pub fn require_root_and_keepalived() {
    // SAFETY: geteuid has no preconditions.
    let euid = unsafe { libc::geteuid() };
    assert_eq!(
        euid, 0,
        "the keepalived interop test needs root (network namespaces, raw sockets); run it as root"
    );
    assert!(
        Path::new(KEEPALIVED).is_file(),
        "{KEEPALIVED} not found: install Debian's keepalived package (apt-get install keepalived)"
    );
    let ip = Command::new("ip").arg("-V").output();
    assert!(ip.is_ok_and(|o| o.status.success()), "the `ip` command (iproute2) is missing");
}

pub fn run(program: &str, args: &[&str]) -> String {
    let output = Command::new(program).args(args).output().expect("spawn");
    assert!(
        output.status.success(),
        "{program} {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub struct Process {
    pub name: &'static str,
    pub child: Child,
    pub log: PathBuf,
}

/// Two namespaces, a veth pair, and the processes started in them.
pub struct Lab {
    pub ns_a: String,
    pub ns_b: String,
    pub subnet: u8,
    pub dir: PathBuf,
    pub processes: Vec<Process>,
}

impl Lab {
    pub fn new(tag: &str, subnet: u8) -> Lab {
        require_root_and_keepalived();
        let id = format!("mcfo{}{tag}", std::process::id());
        let dir = std::env::temp_dir().join(&id);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let lab = Lab {
            ns_a: format!("{id}a"),
            ns_b: format!("{id}b"),
            subnet,
            dir,
            processes: Vec::new(),
        };
        run("ip", &["netns", "add", &lab.ns_a]);
        run("ip", &["netns", "add", &lab.ns_b]);
        // Created inside namespace a with its peer straight in b: nothing touches the host.
        run(
            "ip",
            &[
                "-n", &lab.ns_a, "link", "add", "va", "type", "veth", "peer", "name", "vb",
                "netns", &lab.ns_b,
            ],
        );
        for (ns, dev, host) in [(&lab.ns_a, "va", 1), (&lab.ns_b, "vb", 2)] {
            let address = format!("192.168.{subnet}.{host}/24");
            run("ip", &["-n", ns, "addr", "add", &address, "dev", dev]);
            run("ip", &["-n", ns, "link", "set", dev, "up"]);
            run("ip", &["-n", ns, "link", "set", "lo", "up"]);
        }
        lab
    }

    pub fn vip(&self) -> String {
        format!("192.168.{}.100", self.subnet)
    }

    pub fn spawn(&mut self, name: &'static str, ns: &str, program: &Path, args: &[&str]) -> usize {
        let log = self.dir.join(format!("{name}-{}.log", self.processes.len()));
        let out = File::create(&log).unwrap();
        let child = Command::new("ip")
            .args(["netns", "exec", ns])
            .arg(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .expect("spawn ip netns exec");
        self.processes.push(Process { name, child, log });
        self.processes.len() - 1
    }

    pub fn start_keepalived(&mut self, instance_options: &str) -> usize {
        let conf = self.dir.join("keepalived.conf");
        let text = format!(
            "global_defs {{\n    router_id mcfo_interop\n}}\n\
             vrrp_instance MC {{\n    state BACKUP\n    interface vb\n    virtual_router_id 77\n\
             {instance_options}\n    virtual_ipaddress {{\n        {}/24 dev vb\n    }}\n}}\n",
            self.vip()
        );
        std::fs::write(&conf, text).unwrap();
        let pid = |f: &str| self.dir.join(f).to_string_lossy().into_owned();
        let (p, r, c) = (pid("keepalived.pid"), pid("vrrp.pid"), pid("checkers.pid"));
        let conf = conf.to_string_lossy().into_owned();
        let args = ["-n", "-l", "-P", "-f", &conf, "-p", &p, "-r", &r, "-c", &c];
        let ns = self.ns_b.clone();
        self.spawn("keepalived", &ns, Path::new(KEEPALIVED), &args)
    }

    pub fn log(&self, process: usize) -> String {
        std::fs::read_to_string(&self.processes[process].log).unwrap_or_default()
    }

    pub fn logs(&self) -> String {
        self.processes
            .iter()
            .enumerate()
            .map(|(i, p)| format!("--- {} log:\n{}", p.name, self.log(i)))
            .collect()
    }

    pub fn holds_vip(&self, ns: &str, dev: &str) -> bool {
        let out = run("ip", &["-n", ns, "-4", "-o", "addr", "show", "dev", dev]);
        out.contains(&format!("inet {}/", self.vip()))
    }

    pub fn ours_holds_vip(&self) -> bool {
        self.holds_vip(&self.ns_a, "va")
    }

    pub fn keepalived_holds_vip(&self) -> bool {
        self.holds_vip(&self.ns_b, "vb")
    }

    /// Polls `condition` every 10 ms until it holds (returns the time taken) or `limit` passes.
    pub fn wait_for(
        &self,
        limit: Duration,
        mut condition: impl FnMut(&Lab) -> bool,
    ) -> Option<Duration> {
        let start = Instant::now();
        while start.elapsed() < limit {
            if condition(self) {
                return Some(start.elapsed());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        None
    }

    /// Waits (up to `limit`) until our side holds the VIP; fails the test otherwise.
    pub fn expect_ours_master(&self, limit: Duration) {
        let became_master = self.wait_for(limit, Lab::ours_holds_vip);
        assert!(became_master.is_some(), "ours never took the VIP\n{}", self.logs());
    }

    /// Starts keepalived with `instance_options` and waits until it reports BACKUP.
    pub fn start_keepalived_backup(&mut self, instance_options: &str) -> usize {
        let keepalived = self.start_keepalived(instance_options);
        let backup = self.wait_for(Duration::from_secs(5), |lab| {
            lab.log(keepalived).contains("Entering BACKUP STATE")
        });
        assert!(backup.is_some(), "keepalived did not start\n{}", self.logs());
        keepalived
    }

    /// keepalived stays BACKUP for `window` (longer than its Master_Down_Interval): it accepts
    /// our adverts. `what` names them in the failure message.
    pub fn expect_keepalived_stays_backup(&self, keepalived: usize, window: Duration, what: &str) {
        let split = self.wait_for(window, |lab| {
            lab.keepalived_holds_vip() || lab.log(keepalived).contains("Entering MASTER STATE")
        });
        assert!(split.is_none(), "keepalived ignored {what} and became MASTER\n{}", self.logs());
    }

    /// Starts Debian's memcached on 127.0.0.1:11211 inside namespace a (its own loopback:
    /// nothing on the host is touched).
    pub fn start_memcached(&mut self) -> usize {
        assert!(
            Path::new(MEMCACHED).is_file(),
            "{MEMCACHED} not found: install Debian's memcached package"
        );
        let ns = self.ns_a.clone();
        let args = ["-u", "root", "-l", "127.0.0.1", "-p", "11211", "-U", "0", "-m", "16"];
        self.spawn("memcached", &ns, Path::new(MEMCACHED), &args)
    }

    /// SIGKILL: the process dies without any chance to clean up.
    pub fn kill(&mut self, process: usize) {
        let child = &mut self.processes[process].child;
        let _ = child.kill();
        let _ = child.wait();
    }

    /// Sends SIGTERM to a process and waits (bounded) for it to exit.
    pub fn terminate(&mut self, process: usize) -> Option<std::process::ExitStatus> {
        let child = &mut self.processes[process].child;
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        // SAFETY: kill(2) on the PID of a child we spawned and have not reaped.
        unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(3) {
            if let Ok(Some(status)) = child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = child.kill();
        let _ = child.wait();
        None
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for i in 0..self.processes.len() {
            self.terminate(i);
        }
        // keepalived's VRRP child normally exits with its parent; if the parent had to be
        // killed, the child's pidfile is still there: kill that PID too.
        for pidfile in ["vrrp.pid", "checkers.pid"] {
            let pid = std::fs::read_to_string(self.dir.join(pidfile)).ok();
            let pid = pid.and_then(|p| p.trim().parse::<libc::pid_t>().ok());
            let comm =
                |pid| std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
            if let Some(pid) = pid.filter(|&pid| comm(pid).trim() == "keepalived") {
                // SAFETY: kill(2) with a PID keepalived wrote for this lab.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        }
        for ns in [&self.ns_a, &self.ns_b] {
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
