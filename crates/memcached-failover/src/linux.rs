//! A thin Linux driver for [`VrrpInstance`]: raw sockets, `ip addr`, packet-socket GARPs and a
//! TCP health check of the memcached port. The only module of the crate that does I/O; the
//! server may reuse the pieces or drive the sans-IO core from its own event loop.
//!
//! ```text
//!  ┌──────────────────────── VrrpDaemon::run (one thread) ───────────────────────┐
//!  │ poll(raw socket, wake pipe, timeout = min(instance timer, health timer))    │
//!  │   raw socket ─► Ipv4Datagram::parse ─► decode ─► handle_advertisement       │
//!  │   timers ─────► handle_timeout / HealthTracker::poll_start ──► check thread │
//!  │   check thread result ─(channel + pipe byte)─► record ─► apply_health       │
//!  │   actions ────► sendto 224.0.0.18 or each unicast peer (IP_HDRINCL, TTL 255)│
//!  │                 `ip addr add|del VIP dev IF`, AF_PACKET gratuitous ARP      │
//!  │   SIOCGIFFLAGS every wake-up: link down/no carrier ─► FAULT (keepalived)    │
//!  │ stop flag (e.g. SIGTERM) ─► shutdown: priority-0 advert, VIPs removed       │
//!  └─────────────────────────────────────────────────────────────────────────────┘
//! ```
//!
//! Socket options follow keepalived (`vrrp_if.c`): one `SOCK_RAW` socket for protocol 112 with
//! `IP_HDRINCL` (we write TTL 255, TOS 0xc0 and the ID ourselves), `IP_MULTICAST_LOOP 0`,
//! `IP_MULTICAST_IF` and `SO_BINDTODEVICE` on the interface, `IP_ADD_MEMBERSHIP 224.0.0.18`
//! and `IP_MULTICAST_ALL 0`. Needs CAP_NET_RAW and CAP_NET_ADMIN (root).

use std::ffi::CString;
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::arp::gratuitous_arp;
use crate::config::VirtualAddress;
use crate::health::{CheckOutcome, HealthPolicy, HealthTracker, TrackEffect};
use crate::instance::{Action, VrrpInstance, VrrpState};
use crate::packet::{
    Advertisement, Ipv4Datagram, MAX_VRRP_MESSAGE_LEN, VRRP_IP_PROTOCOL, VRRP_MULTICAST_GROUP,
    VRRP_TOS, VRRP_TTL,
};

fn check(result: libc::c_int) -> io::Result<libc::c_int> {
    if result < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(result)
    }
}

/// `sendto(2)` of `data` to the socket address `to` (a `sockaddr_in`, `sockaddr_ll`, ...).
fn send_to<A>(fd: &OwnedFd, data: &[u8], to: &A) -> io::Result<()> {
    // SAFETY: `data` is valid for data.len() bytes and `to` for size_of::<A>() bytes, the
    // length passed; the caller passes a sockaddr type.
    let sent = unsafe {
        libc::sendto(
            fd.as_raw_fd(),
            data.as_ptr().cast(),
            data.len(),
            0,
            (to as *const A).cast(),
            std::mem::size_of::<A>() as libc::socklen_t,
        )
    };
    if sent < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn set_option<T>(fd: RawFd, level: libc::c_int, name: libc::c_int, value: &T) -> io::Result<()> {
    // SAFETY: `value` points to a live T of the given size for the duration of the call.
    check(unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (value as *const T).cast(),
            std::mem::size_of::<T>() as libc::socklen_t,
        )
    })
    .map(drop)
}

fn in_addr(address: Ipv4Addr) -> libc::in_addr {
    libc::in_addr { s_addr: u32::from(address).to_be() }
}

/// The kernel index of `interface`.
pub fn interface_index(interface: &str) -> io::Result<u32> {
    let name =
        CString::new(interface).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    // SAFETY: `name` is a valid NUL-terminated string.
    let index = unsafe { libc::if_nametoindex(name.as_ptr()) };
    if index == 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(index)
}

/// True when `interface` is administratively up and has carrier (`IFF_UP` and `IFF_RUNNING`);
/// `socket` is any socket, used for the `SIOCGIFFLAGS` ioctl.
pub fn interface_is_running(socket: &impl AsRawFd, interface: &str) -> io::Result<bool> {
    // SAFETY: ifreq is plain data; all-zero is a valid value.
    let mut request: libc::ifreq = unsafe { std::mem::zeroed() };
    let name = interface.as_bytes();
    if name.len() >= request.ifr_name.len() {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "interface name too long"));
    }
    for (slot, byte) in request.ifr_name.iter_mut().zip(name) {
        *slot = *byte as libc::c_char;
    }
    // SAFETY: SIOCGIFFLAGS reads the NUL-terminated name and writes the flags into `request`.
    check(unsafe { libc::ioctl(socket.as_raw_fd(), libc::SIOCGIFFLAGS as _, &mut request) })?;
    // SAFETY: SIOCGIFFLAGS filled the flags member of the union.
    let flags = libc::c_int::from(unsafe { request.ifr_ifru.ifru_flags } as u16);
    Ok(flags & libc::IFF_UP != 0 && flags & libc::IFF_RUNNING != 0)
}

/// What `getifaddrs` says about one interface.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InterfaceAddresses {
    /// IPv4 addresses in kernel order (primary addresses first).
    pub ipv4: Vec<Ipv4Addr>,
    /// Hardware address, if the interface has one.
    pub mac: Option<[u8; 6]>,
}

impl InterfaceAddresses {
    /// The interface's IPv4 addresses and MAC.
    pub fn of(interface: &str) -> io::Result<InterfaceAddresses> {
        let mut list: *mut libc::ifaddrs = std::ptr::null_mut();
        // SAFETY: getifaddrs writes a list head into `list`, freed below with freeifaddrs.
        check(unsafe { libc::getifaddrs(&mut list) })?;
        let mut found = InterfaceAddresses::default();
        let mut cursor = list;
        while !cursor.is_null() {
            // SAFETY: `cursor` is a node of the list getifaddrs returned, not yet freed.
            let entry = unsafe { &*cursor };
            cursor = entry.ifa_next;
            if entry.ifa_name.is_null() || entry.ifa_addr.is_null() {
                continue;
            }
            // SAFETY: ifa_name is a NUL-terminated string owned by the list.
            let name = unsafe { std::ffi::CStr::from_ptr(entry.ifa_name) };
            if name.to_bytes() != interface.as_bytes() {
                continue;
            }
            // SAFETY: ifa_addr is non-null and at least a sockaddr.
            let family = i32::from(unsafe { (*entry.ifa_addr).sa_family });
            if family == libc::AF_INET {
                // SAFETY: for AF_INET the address is a sockaddr_in.
                let sin = unsafe { &*(entry.ifa_addr as *const libc::sockaddr_in) };
                found.ipv4.push(Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr)));
            } else if family == libc::AF_PACKET {
                // SAFETY: for AF_PACKET the address is a sockaddr_ll.
                let sll = unsafe { &*(entry.ifa_addr as *const libc::sockaddr_ll) };
                if sll.sll_halen == 6 {
                    let mut mac = [0u8; 6];
                    mac.copy_from_slice(&sll.sll_addr[..6]);
                    found.mac = Some(mac);
                }
            }
        }
        // SAFETY: `list` came from getifaddrs and is freed once.
        unsafe { libc::freeifaddrs(list) };
        Ok(found)
    }

    /// The first IPv4 address that is not one of the VIPs: the adverts' source address.
    pub fn primary_ipv4(&self, virtual_addresses: &[VirtualAddress]) -> Option<Ipv4Addr> {
        self.ipv4.iter().copied().find(|a| !virtual_addresses.iter().any(|vip| vip.address == *a))
    }
}

/// The raw IPv4 socket for protocol 112, joined to 224.0.0.18 on one interface.
#[derive(Debug)]
pub struct VrrpSocket {
    fd: OwnedFd,
}

impl VrrpSocket {
    /// Opens and configures the socket (non-blocking).
    pub fn open(interface: &str) -> io::Result<VrrpSocket> {
        let ifindex = interface_index(interface)?;
        // SAFETY: plain socket(2) call; the result is checked and owned below.
        let raw = check(unsafe {
            libc::socket(
                libc::AF_INET,
                libc::SOCK_RAW | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
                libc::c_int::from(VRRP_IP_PROTOCOL),
            )
        })?;
        // SAFETY: `raw` is a fresh descriptor nobody else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let sock = fd.as_raw_fd();
        let one: libc::c_int = 1;
        let zero: libc::c_int = 0;
        set_option(sock, libc::IPPROTO_IP, libc::IP_HDRINCL, &one)?;
        set_option(sock, libc::IPPROTO_IP, libc::IP_MULTICAST_LOOP, &zero)?;
        set_option(sock, libc::IPPROTO_IP, libc::IP_MULTICAST_ALL, &zero)?;
        let ttl: libc::c_int = libc::c_int::from(VRRP_TTL);
        set_option(sock, libc::IPPROTO_IP, libc::IP_MULTICAST_TTL, &ttl)?;
        let mreq = libc::ip_mreqn {
            imr_multiaddr: in_addr(VRRP_MULTICAST_GROUP),
            imr_address: in_addr(Ipv4Addr::UNSPECIFIED),
            imr_ifindex: ifindex as libc::c_int,
        };
        set_option(sock, libc::IPPROTO_IP, libc::IP_MULTICAST_IF, &mreq)?;
        set_option(sock, libc::IPPROTO_IP, libc::IP_ADD_MEMBERSHIP, &mreq)?;
        let name = interface.as_bytes();
        // SAFETY: `name` is valid for name.len() bytes.
        check(unsafe {
            libc::setsockopt(
                sock,
                libc::SOL_SOCKET,
                libc::SO_BINDTODEVICE,
                name.as_ptr().cast(),
                name.len() as libc::socklen_t,
            )
        })?;
        Ok(VrrpSocket { fd })
    }

    /// Sends a complete IPv4 datagram (header included) to `destination` (224.0.0.18, or a
    /// unicast peer).
    pub fn send(&self, datagram: &[u8], destination: Ipv4Addr) -> io::Result<()> {
        let mut to: libc::sockaddr_in =
            // SAFETY: sockaddr_in is plain data; all-zero is a valid value.
            unsafe { std::mem::zeroed() };
        to.sin_family = libc::AF_INET as libc::sa_family_t;
        to.sin_addr = in_addr(destination);
        send_to(&self.fd, datagram, &to)
    }

    /// Receives one datagram (IP header included); `WouldBlock` when none is queued.
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        // SAFETY: `buf` is valid for writes of buf.len() bytes.
        let n = unsafe { libc::recv(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(n as usize)
    }
}

impl AsRawFd for VrrpSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

/// An `AF_PACKET` socket for gratuitous ARPs on one interface.
#[derive(Debug)]
pub struct ArpSocket {
    fd: OwnedFd,
    ifindex: u32,
    mac: [u8; 6],
}

impl ArpSocket {
    /// Opens a send-only packet socket (protocol 0: it receives nothing).
    pub fn open(interface: &str, mac: [u8; 6]) -> io::Result<ArpSocket> {
        let ifindex = interface_index(interface)?;
        // SAFETY: plain socket(2) call; the result is checked and owned below.
        let raw = check(unsafe {
            libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0)
        })?;
        // SAFETY: `raw` is a fresh descriptor nobody else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        Ok(ArpSocket { fd, ifindex, mac })
    }

    /// Broadcasts one gratuitous ARP for `address`.
    pub fn announce(&self, address: Ipv4Addr) -> io::Result<()> {
        let frame = gratuitous_arp(self.mac, address);
        // SAFETY: sockaddr_ll is plain data; all-zero is a valid value.
        let mut to: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        to.sll_family = libc::AF_PACKET as u16;
        to.sll_protocol = 0x0806u16.to_be();
        to.sll_ifindex = self.ifindex as libc::c_int;
        to.sll_halen = 6;
        to.sll_addr[..6].fill(0xff);
        send_to(&self.fd, &frame, &to)
    }
}

fn run_ip(args: &[&str]) -> io::Result<()> {
    let output = Command::new("ip").args(args).output()?;
    if output.status.success() {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        )))
    }
}

/// `ip addr add VIP/len dev IF` (an address already present is not an error).
pub fn add_virtual_address(interface: &str, vip: &VirtualAddress) -> io::Result<()> {
    let vip = vip.to_string();
    match run_ip(&["-4", "addr", "add", &vip, "dev", interface]) {
        Err(e) if e.to_string().contains("File exists") => Ok(()),
        other => other,
    }
}

/// `ip addr del VIP/len dev IF` (an address already absent is not an error).
pub fn remove_virtual_address(interface: &str, vip: &VirtualAddress) -> io::Result<()> {
    let vip = vip.to_string();
    match run_ip(&["-4", "addr", "del", &vip, "dev", interface]) {
        Err(e)
            if ["Cannot assign", "Address not found"].iter().any(|m| e.to_string().contains(m)) =>
        {
            Ok(())
        }
        other => other,
    }
}

/// The memcached health check: connect, send `version\r\n`, expect a line starting with
/// `VERSION ` before `timeout`.
pub fn check_memcached(address: SocketAddr, timeout: Duration) -> CheckOutcome {
    let started = Instant::now();
    let attempt = || -> io::Result<bool> {
        let mut stream = TcpStream::connect_timeout(&address, timeout)?;
        let left = timeout.saturating_sub(started.elapsed()).max(Duration::from_millis(1));
        stream.set_read_timeout(Some(left))?;
        stream.set_write_timeout(Some(left))?;
        stream.write_all(b"version\r\n")?;
        let mut reply = [0u8; 64];
        let mut len = 0;
        while len < reply.len() {
            let n = stream.read(&mut reply[len..])?;
            if n == 0 {
                break;
            }
            len += n;
            if reply[..len].contains(&b'\n') {
                break;
            }
        }
        Ok(reply[..len].starts_with(b"VERSION ") && reply[..len].ends_with(b"\r\n"))
    };
    match attempt() {
        Ok(true) => CheckOutcome::Passed,
        _ => CheckOutcome::Failed,
    }
}

/// How the daemon reports what happens (transitions, rejected adverts, I/O errors).
pub trait DaemonLog {
    /// One line of text.
    fn line(&mut self, text: &str);

    /// The instance entered `state` with `priority` (after the line that says so). The
    /// default ignores it; a server reports it in its stats.
    fn state(&mut self, _state: VrrpState, _priority: u8) {}
}

/// Logs to stderr, prefixed with the instance name.
#[derive(Debug, Clone)]
pub struct StderrLog {
    /// Prefix of each line.
    pub prefix: String,
}

impl DaemonLog for StderrLog {
    fn line(&mut self, text: &str) {
        eprintln!("{}: {}", self.prefix, text);
    }
}

/// A running instance: sockets, the state machine, an optional memcached health check.
#[derive(Debug)]
pub struct VrrpDaemon {
    instance: VrrpInstance,
    socket: VrrpSocket,
    arp: ArpSocket,
    health: Option<(HealthTracker, SocketAddr)>,
    /// keepalived tracks the instance's own interface: no carrier (or down) means FAULT.
    link_running: bool,
    last_error_logged: Option<Instant>,
    ip_id: u16,
    verbose: bool,
}

impl VrrpDaemon {
    /// Opens the sockets for `instance`'s interface. `health` adds a memcached check of the
    /// given address with the given policy.
    pub fn new(
        instance: VrrpInstance,
        health: Option<(HealthPolicy, SocketAddr)>,
        verbose: bool,
    ) -> io::Result<VrrpDaemon> {
        let interface = instance.config().interface.clone();
        let addresses = InterfaceAddresses::of(&interface)?;
        let mac = addresses.mac.ok_or_else(|| {
            io::Error::new(io::ErrorKind::NotFound, format!("{interface} has no MAC address"))
        })?;
        let socket = VrrpSocket::open(&interface)?;
        let arp = ArpSocket::open(&interface, mac)?;
        let now = Instant::now();
        let health = health.map(|(policy, address)| (HealthTracker::new(policy, now), address));
        let link_running = interface_is_running(&socket, &interface)?;
        Ok(VrrpDaemon {
            instance,
            socket,
            arp,
            health,
            link_running,
            last_error_logged: None,
            ip_id: 0,
            verbose,
        })
    }

    /// The state machine.
    pub fn instance(&self) -> &VrrpInstance {
        &self.instance
    }

    /// The health check and the link state combined, as keepalived combines its trackers.
    fn tracked_effect(&self) -> TrackEffect {
        let health = self.health.as_ref().map(|(tracker, _)| tracker.effect()).unwrap_or_default();
        health.combine(TrackEffect { fault: !self.link_running, priority_delta: 0 })
    }

    /// Runs until `stop` is set, then resigns (priority-0 advert if master), removes the VIPs
    /// and returns.
    pub fn run(&mut self, stop: &AtomicBool, log: &mut dyn DaemonLog) -> io::Result<()> {
        let (request_tx, request_rx) = mpsc::channel::<(SocketAddr, Duration)>();
        let (result_tx, result_rx) = mpsc::channel::<CheckOutcome>();
        let mut pipe = [0 as libc::c_int; 2];
        // SAFETY: `pipe` has room for the two descriptors pipe2 writes.
        check(unsafe { libc::pipe2(pipe.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) })?;
        // SAFETY: both descriptors are fresh and owned from here on.
        let (wake_read, wake_write) =
            unsafe { (OwnedFd::from_raw_fd(pipe[0]), OwnedFd::from_raw_fd(pipe[1])) };
        let mut wake_writer = std::fs::File::from(wake_write);
        let checker = std::thread::Builder::new().name("vrrp-health".into()).spawn(move || {
            for (address, timeout) in request_rx {
                if result_tx.send(check_memcached(address, timeout)).is_err() {
                    break;
                }
                let _ = wake_writer.write(&[1]);
            }
        })?;

        let now = Instant::now();
        // A down link, init_fail or a positive weight apply from the start.
        self.instance.apply_health(now, self.tracked_effect());
        self.instance.start(now);
        let result = self.event_loop(stop, log, &request_tx, &result_rx, &wake_read);
        self.instance.shutdown(Instant::now());
        self.carry_out_actions(log);
        drop(request_tx);
        let _ = checker.join();
        result
    }

    fn event_loop(
        &mut self,
        stop: &AtomicBool,
        log: &mut dyn DaemonLog,
        requests: &mpsc::Sender<(SocketAddr, Duration)>,
        results: &mpsc::Receiver<CheckOutcome>,
        wake: &OwnedFd,
    ) -> io::Result<()> {
        let mut buf = vec![0u8; 60 + MAX_VRRP_MESSAGE_LEN];
        while !stop.load(Ordering::SeqCst) {
            self.carry_out_actions(log);
            let now = Instant::now();
            let deadline = [
                self.instance.poll_timeout(),
                self.health.as_ref().and_then(|(h, _)| h.poll_timeout()),
            ]
            .into_iter()
            .flatten()
            .min();
            // Wake at least every 100 ms to notice `stop`.
            let wait = deadline
                .map_or(Duration::from_millis(100), |d| d.saturating_duration_since(now))
                .min(Duration::from_millis(100));
            let mut fds = [
                libc::pollfd { fd: self.socket.as_raw_fd(), events: libc::POLLIN, revents: 0 },
                libc::pollfd { fd: wake.as_raw_fd(), events: libc::POLLIN, revents: 0 },
            ];
            let timeout_ms = wait.as_micros().div_ceil(1000) as libc::c_int;
            // SAFETY: `fds` is a valid array of two pollfd.
            let ready = unsafe { libc::poll(fds.as_mut_ptr(), 2, timeout_ms) };
            if ready < 0 {
                let error = io::Error::last_os_error();
                if error.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(error);
            }
            let now = Instant::now();
            if fds[0].revents & libc::POLLIN != 0 {
                self.receive_adverts(now, &mut buf, log)?;
            }
            if fds[1].revents & libc::POLLIN != 0 {
                let mut drain = [0u8; 64];
                // SAFETY: `drain` is valid for writes of its length.
                unsafe { libc::read(wake.as_raw_fd(), drain.as_mut_ptr().cast(), drain.len()) };
            }
            if let Some((tracker, address)) = self.health.as_mut() {
                let mut changed = false;
                for outcome in results.try_iter() {
                    changed |= tracker.record(now, outcome).is_some();
                }
                changed |= tracker.handle_timeout(now).is_some();
                if let Some(deadline) = tracker.poll_start(now) {
                    let _ = requests.send((*address, deadline.saturating_duration_since(now)));
                }
                if changed {
                    log.line(&format!("health check of {address}: {:?}", tracker.status()));
                    let effect = self.tracked_effect();
                    self.instance.apply_health(now, effect);
                }
            }
            let interface = &self.instance.config().interface;
            let running = interface_is_running(&self.socket, interface).unwrap_or(false);
            if running != self.link_running {
                self.link_running = running;
                log.line(&format!("{interface}: link {}", if running { "up" } else { "down" }));
                let effect = self.tracked_effect();
                self.instance.apply_health(now, effect);
            }
            if self.instance.poll_timeout().is_some_and(|t| t <= now) {
                self.instance.handle_timeout(now);
            }
        }
        Ok(())
    }

    fn receive_adverts(
        &mut self,
        now: Instant,
        buf: &mut [u8],
        log: &mut dyn DaemonLog,
    ) -> io::Result<()> {
        loop {
            let len = match self.socket.recv(buf) {
                Ok(len) => len,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            let unicast = !self.instance.config().unicast_peers.is_empty();
            let decoded = Ipv4Datagram::parse(&buf[..len]).and_then(|(_, packet)| {
                // keepalived checks TTL 255 in multicast mode only.
                let advert = if unicast {
                    Advertisement::decode(packet.payload, packet.source, packet.destination)
                } else {
                    packet.decode()
                };
                advert.map(|advert| (packet, advert))
            });
            match decoded {
                Ok((packet, _)) if (packet.destination == VRRP_MULTICAST_GROUP) == unicast => {
                    // keepalived: an instance drops adverts of the other mode.
                    if self.verbose {
                        let mode = if unicast { "multicast" } else { "unicast" };
                        log.line(&format!("{mode} advert from {} discarded", packet.source));
                    }
                }
                Ok((packet, advert)) => {
                    let source = packet.source;
                    if let Err(rejection) = self.instance.handle_advertisement(now, source, &advert)
                    {
                        if self.verbose {
                            log.line(&format!("advert from {source} discarded: {rejection}"));
                        }
                    }
                }
                Err(error) => {
                    if self.verbose {
                        log.line(&format!("invalid vrrp packet: {error}"));
                    }
                }
            }
        }
    }

    fn carry_out_actions(&mut self, log: &mut dyn DaemonLog) {
        let interface = self.instance.config().interface.clone();
        let source = self.instance.primary_address();
        while let Some(action) = self.instance.poll_action() {
            let result = match &action {
                Action::SendAdvertisement(advert) => {
                    let mut result = Ok(());
                    for destination in self.instance.config().advert_destinations() {
                        self.ip_id = self.ip_id.wrapping_add(1);
                        let header = Ipv4Datagram {
                            tos: VRRP_TOS,
                            identification: self.ip_id,
                            ttl: VRRP_TTL,
                            source,
                            destination,
                        };
                        // The v3 checksum covers the destination: one encoding per peer.
                        let mut datagram = [0u8; 20 + MAX_VRRP_MESSAGE_LEN];
                        let sent = advert
                            .encode_into(source, destination, &mut datagram[20..])
                            .map_err(io::Error::other)
                            .and_then(|len| {
                                datagram[..20].copy_from_slice(&header.encode_header(len));
                                self.socket.send(&datagram[..20 + len], destination)
                            });
                        result = result.and(sent);
                    }
                    result
                }
                Action::AddVirtualAddresses => self
                    .instance
                    .config()
                    .virtual_addresses
                    .iter()
                    .try_for_each(|vip| add_virtual_address(&interface, vip)),
                Action::RemoveVirtualAddresses => self
                    .instance
                    .config()
                    .virtual_addresses
                    .iter()
                    .try_for_each(|vip| remove_virtual_address(&interface, vip)),
                Action::SendGratuitousArp { repeat, interval } => {
                    let mut result = Ok(());
                    for round in 0..*repeat {
                        if round > 0 && !interval.is_zero() {
                            std::thread::sleep(*interval);
                        }
                        for vip in &self.instance.config().virtual_addresses {
                            result = result.and(self.arp.announce(vip.address));
                        }
                    }
                    result
                }
                Action::Transition(t) => {
                    log.line(&format!(
                        "{} -> {} ({:?}, priority {})",
                        t.from,
                        t.to,
                        t.reason,
                        self.instance.effective_priority()
                    ));
                    log.state(t.to, self.instance.effective_priority());
                    Ok(())
                }
            };
            if let Err(error) = result {
                // A missing route or a dead link fails every advert: one line per second.
                let now = Instant::now();
                if self
                    .last_error_logged
                    .is_none_or(|t| now.duration_since(t) >= Duration::from_secs(1))
                {
                    self.last_error_logged = Some(now);
                    log.line(&format!("{action:?} failed: {error}"));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    /// A one-connection server answering the check's `version\r\n` with `reply`.
    fn fake_server(reply: &'static [u8]) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            if let Ok((mut stream, _)) = listener.accept() {
                let mut request = [0u8; 9];
                if stream.read_exact(&mut request).is_ok() && &request == b"version\r\n" {
                    let _ = stream.write_all(reply);
                }
            }
        });
        address
    }

    #[test]
    fn memcached_check_passes_only_on_a_version_line() {
        let timeout = Duration::from_secs(2);
        assert_eq!(
            check_memcached(fake_server(b"VERSION 1.6.18\r\n"), timeout),
            CheckOutcome::Passed
        );
        assert_eq!(check_memcached(fake_server(b"ERROR\r\n"), timeout), CheckOutcome::Failed);
        assert_eq!(check_memcached(fake_server(b""), timeout), CheckOutcome::Failed);
        // Nobody listening: refused.
        let closed = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
        assert_eq!(check_memcached(closed, timeout), CheckOutcome::Failed);
    }

    #[test]
    fn memcached_check_times_out_on_a_silent_server() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        let started = Instant::now();
        assert_eq!(check_memcached(address, Duration::from_millis(200)), CheckOutcome::Failed);
        assert!(started.elapsed() < Duration::from_secs(2));
        drop(listener);
    }

    #[test]
    fn loopback_has_127_0_0_1() {
        let lo = InterfaceAddresses::of("lo").unwrap();
        assert!(lo.ipv4.contains(&Ipv4Addr::LOCALHOST), "{lo:?}");
        assert_eq!(lo.primary_ipv4(&[]), Some(Ipv4Addr::LOCALHOST));
        let vip = VirtualAddress::host(Ipv4Addr::LOCALHOST);
        assert_eq!(lo.primary_ipv4(&[vip]), None);
    }
}
