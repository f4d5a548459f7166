//! keepalived's notify programs: `notify` hears of every change of state with
//! `INSTANCE <name> <state> <priority>` after its own arguments; `notify_master`,
//! `notify_backup`, `notify_fault` and `notify_stop` run, with their own arguments only, on
//! entering their state. A setting's value is the program and its arguments, split at
//! whitespace (as keepalived splits `notify "/path/script arg"`). They run in the background
//! (a slow program must not delay adverts); a thread reaps each one.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The notify programs of one VRRP instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notify {
    /// The instance name `notify` is given (`name=`, default `VI_<vrid>`).
    pub instance: String,
    /// `(setting, program and arguments)`: `notify`, `notify_master`, `notify_backup`,
    /// `notify_fault` or `notify_stop`, in the order given.
    pub programs: Vec<(String, String)>,
}

impl Notify {
    /// The programs of `instance`.
    pub fn new(instance: String, programs: Vec<(String, String)>) -> Self {
        Notify { instance, programs }
    }

    /// Tells the programs concerned that the instance entered `state` (`MASTER`, `BACKUP`,
    /// `FAULT`, `STOP`), without waiting for them.
    pub fn run(&self, state: &str, priority: u8) {
        for child in self.spawn(state, priority) {
            let _ = std::thread::Builder::new().name("mc-notify".into()).spawn(move || {
                let mut child = child;
                let _ = child.wait();
            });
        }
    }

    /// Like [`run`](Self::run), waiting at most `limit` for them (for `STOP`, when the process
    /// is about to exit).
    pub fn run_and_wait(&self, state: &str, priority: u8, limit: Duration) {
        let deadline = Instant::now() + limit;
        for mut child in self.spawn(state, priority) {
            while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }

    fn spawn(&self, state: &str, priority: u8) -> Vec<Child> {
        let own_setting = format!("notify_{}", state.to_ascii_lowercase());
        let mut children = Vec::new();
        for (setting, line) in &self.programs {
            let mut words = line.split_whitespace();
            let Some(program) = words.next() else { continue };
            let mut command = Command::new(program);
            command.args(words);
            if setting == "notify" {
                command.args(["INSTANCE", &self.instance, state, &priority.to_string()]);
            } else if *setting != own_setting {
                continue;
            }
            match command.stdin(Stdio::null()).stdout(Stdio::null()).spawn() {
                Ok(child) => children.push(child),
                Err(e) => eprintln!("vrrp: cannot run {setting} {program}: {e}"),
            }
        }
        children
    }
}
