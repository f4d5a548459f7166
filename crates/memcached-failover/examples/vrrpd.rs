//! vrrpd: one VRRP instance from command-line flags (Linux, root), interoperable with
//! keepalived. SIGTERM/SIGINT resign (priority-0 advert) and remove the VIPs.
//!
//! ```text
//! vrrpd --interface eth0 --vrid 77 --priority 150 --vip 10.77.0.100/24 \
//!       [--version 2|3] [--advert-int 1] [--auth-pass memc1234] [--nopreempt]
//!       [--preempt-delay S] [--source ADDR] [--name NAME] [-v]
//!       [--check 127.0.0.1:11211 [--check-interval S] [--check-timeout S]
//!        [--rise N] [--fall N] [--weight W]]
//!       [--garp-master-delay S] [--garp-master-repeat N] [--unicast-peer ADDR ...]
//! ```

#[cfg(target_os = "linux")]
mod daemon {
    use std::net::{Ipv4Addr, SocketAddr};
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Duration;

    use memcached_failover::linux::{InterfaceAddresses, StderrLog, VrrpDaemon};
    use memcached_failover::{
        Centiseconds, HealthPolicy, InstanceConfig, VirtualAddress, VrrpInstance, VrrpVersion,
    };

    static STOP: AtomicBool = AtomicBool::new(false);

    extern "C" fn on_signal(_: libc::c_int) {
        STOP.store(true, Ordering::SeqCst);
    }

    fn seconds(value: &str, flag: &str) -> Result<Duration, String> {
        value
            .parse::<f64>()
            .ok()
            .filter(|s| s.is_finite() && *s >= 0.0)
            .map(Duration::from_secs_f64)
            .ok_or_else(|| format!("{flag}: not a number of seconds: {value}"))
    }

    fn number<T: std::str::FromStr>(value: &str, flag: &str) -> Result<T, String> {
        value.parse().map_err(|_| format!("{flag}: invalid value {value}"))
    }

    struct Options {
        config: InstanceConfig,
        source: Option<Ipv4Addr>,
        check: Option<(HealthPolicy, SocketAddr)>,
        verbose: bool,
    }

    fn parse(args: &[String]) -> Result<Options, String> {
        let mut interface = None;
        let mut vrid = None;
        let mut vips = Vec::new();
        let mut priority = 100u8;
        let mut advert_secs = 1.0f64;
        let mut version = VrrpVersion::V2;
        let mut auth_pass = None;
        let mut preempt = true;
        let mut preempt_delay = Duration::ZERO;
        let mut name = None;
        let mut source = None;
        let mut check_address = None;
        let mut policy = HealthPolicy::default();
        let mut timeout_given = false;
        let mut garp_delay = None;
        let mut garp_repeat = None;
        let mut verbose = false;
        let mut unicast_peers = Vec::new();
        let mut i = 0;
        while i < args.len() {
            let flag = args[i].as_str();
            let mut value = || {
                i += 1;
                args.get(i).cloned().ok_or_else(|| format!("{flag} needs a value"))
            };
            match flag {
                "--interface" => interface = Some(value()?),
                "--vrid" => vrid = Some(number::<u8>(&value()?, flag)?),
                "--priority" => priority = number(&value()?, flag)?,
                "--vip" => {
                    vips.push(value()?.parse::<VirtualAddress>().map_err(|e| e.to_string())?)
                }
                "--advert-int" => advert_secs = seconds(&value()?, flag)?.as_secs_f64(),
                "--version" => {
                    version = match value()?.as_str() {
                        "2" => VrrpVersion::V2,
                        "3" => VrrpVersion::V3,
                        other => return Err(format!("--version: 2 or 3, not {other}")),
                    }
                }
                "--auth-pass" => auth_pass = Some(value()?.into_bytes()),
                "--nopreempt" => preempt = false,
                "--preempt-delay" => preempt_delay = seconds(&value()?, flag)?,
                "--name" => name = Some(value()?),
                "--source" => source = Some(number(&value()?, flag)?),
                "--check" => check_address = Some(number::<SocketAddr>(&value()?, flag)?),
                "--check-interval" => policy.interval = seconds(&value()?, flag)?,
                "--check-timeout" => {
                    policy.timeout = seconds(&value()?, flag)?;
                    timeout_given = true;
                }
                "--rise" => policy.rise = number(&value()?, flag)?,
                "--fall" => policy.fall = number(&value()?, flag)?,
                "--weight" => policy.weight = number(&value()?, flag)?,
                "--garp-master-delay" => garp_delay = Some(seconds(&value()?, flag)?),
                "--garp-master-repeat" => garp_repeat = Some(number(&value()?, flag)?),
                "--unicast-peer" => unicast_peers.push(number(&value()?, flag)?),
                "-v" | "--verbose" => verbose = true,
                other => return Err(format!("unknown flag {other}")),
            }
            i += 1;
        }
        let interface = interface.ok_or("--interface is required")?;
        let vrid = vrid.ok_or("--vrid is required")?;
        let mut config = InstanceConfig::new(interface, vrid, vips);
        config.priority = priority;
        let cs = (advert_secs * 100.0).round();
        if !(0.0..=f64::from(u16::MAX)).contains(&cs) {
            return Err("--advert-int out of range".into());
        }
        config.advert_interval = Centiseconds(cs as u16);
        config.version = version;
        config.auth_pass = auth_pass;
        config.preempt = preempt;
        config.preempt_delay = preempt_delay;
        config.unicast_peers = unicast_peers;
        if let Some(name) = name {
            config.name = name;
        }
        if let Some(delay) = garp_delay {
            config.garp.master_delay = delay;
        }
        if let Some(repeat) = garp_repeat {
            config.garp.master_repeat = repeat;
        }
        if !timeout_given {
            policy.timeout = policy.interval;
        }
        config.validate().map_err(|e| e.to_string())?;
        Ok(Options { config, source, check: check_address.map(|a| (policy, a)), verbose })
    }

    pub fn main() -> i32 {
        let args: Vec<String> = std::env::args().skip(1).collect();
        let options = match parse(&args) {
            Ok(options) => options,
            Err(error) => {
                eprintln!("vrrpd: {error}");
                return 2;
            }
        };
        let config = options.config;
        let source = match options.source {
            Some(source) => source,
            None => match InterfaceAddresses::of(&config.interface)
                .map(|a| a.primary_ipv4(&config.virtual_addresses))
            {
                Ok(Some(address)) => address,
                Ok(None) => {
                    eprintln!("vrrpd: {} has no IPv4 address", config.interface);
                    return 1;
                }
                Err(error) => {
                    eprintln!("vrrpd: {}: {error}", config.interface);
                    return 1;
                }
            },
        };
        let name = config.name.clone();
        let instance = match VrrpInstance::new(config, source) {
            Ok(instance) => instance,
            Err(error) => {
                eprintln!("vrrpd: {error}");
                return 2;
            }
        };
        for signal in [libc::SIGTERM, libc::SIGINT] {
            // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
            unsafe { libc::signal(signal, on_signal as *const () as libc::sighandler_t) };
        }
        let mut daemon = match VrrpDaemon::new(instance, options.check, options.verbose) {
            Ok(daemon) => daemon,
            Err(error) => {
                eprintln!("vrrpd: cannot open sockets (root needed): {error}");
                return 1;
            }
        };
        let mut log = StderrLog { prefix: format!("vrrpd[{name}]") };
        eprintln!("vrrpd[{name}]: started, source {source}");
        match daemon.run(&STOP, &mut log) {
            Ok(()) => {
                eprintln!("vrrpd[{name}]: stopped");
                0
            }
            Err(error) => {
                eprintln!("vrrpd[{name}]: {error}");
                1
            }
        }
    }
}

#[cfg(target_os = "linux")]
fn main() {
    std::process::exit(daemon::main());
}

#[cfg(not(target_os = "linux"))]
fn main() {
    eprintln!("vrrpd runs on Linux only");
    std::process::exit(1);
}
