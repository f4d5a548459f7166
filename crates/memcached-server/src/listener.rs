//! Listening sockets (TCP with `-l`/`-p`/`-b`, UNIX with `-s`/`-a`, UDP with `-U`) and the
//! accept path that spreads new connections over the workers.
//!
//! ```text
//!   TCP/UNIX listeners ──accept──> Acceptor ──round robin──> worker k: channel.send + waker.wake
//!                                     │
//!                                     └─ over -c?  write "ERROR Too many open connections\r\n",
//!                                        close, rejected_connections += 1 (memcached 1.6)
//! ```

use std::io::{self, Write};
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use crossbeam_channel::Sender;
use mio::Waker;

use crate::connection::Stream;
use crate::shared::{ConnEntry, Shared};
use crate::worker::NewConnection;

/// A listening stream socket.
#[derive(Debug)]
pub enum Listener {
    /// TCP.
    Tcp(mio::net::TcpListener, String),
    /// UNIX domain.
    Unix(mio::net::UnixListener, String),
}

impl Listener {
    /// The socket as a mio event source.
    pub fn source(&mut self) -> &mut dyn mio::event::Source {
        match self {
            Listener::Tcp(l, _) => l,
            Listener::Unix(l, _) => l,
        }
    }

    /// `tcp:0.0.0.0:11211` or `unix:/path`.
    pub fn description(&self) -> &str {
        match self {
            Listener::Tcp(_, d) | Listener::Unix(_, d) => d,
        }
    }

    /// The raw descriptor (for `stats conns`).
    pub fn fd(&self) -> i32 {
        match self {
            Listener::Tcp(l, _) => l.as_raw_fd(),
            Listener::Unix(l, _) => l.as_raw_fd(),
        }
    }
}

fn sockaddr_description(addr: &SocketAddr) -> String {
    match addr {
        SocketAddr::V4(a) => format!("{}:{}", a.ip(), a.port()),
        SocketAddr::V6(a) => format!("[{}]:{}", a.ip(), a.port()),
    }
}

fn setsockopt_int(fd: i32, level: i32, name: i32, value: i32) -> io::Result<()> {
    // SAFETY: `value` outlives the call and its size is passed correctly.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (&value as *const i32).cast(),
            std::mem::size_of::<i32>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

fn raw_socket(addr: &SocketAddr, kind: i32) -> io::Result<OwnedFd> {
    let domain = if addr.is_ipv4() { libc::AF_INET } else { libc::AF_INET6 };
    // SAFETY: plain socket(2) call; the result is checked before use.
    let fd = unsafe { libc::socket(domain, kind | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is a freshly created descriptor that nothing else owns.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    setsockopt_int(fd, libc::SOL_SOCKET, libc::SO_REUSEADDR, 1)?;
    if addr.is_ipv6() {
        setsockopt_int(fd, libc::IPPROTO_IPV6, libc::IPV6_V6ONLY, 1)?;
    }
    let (storage, len) = sockaddr_of(addr);
    // SAFETY: `storage` holds a valid sockaddr of `len` bytes for this address family.
    let rc = unsafe { libc::bind(fd, (&storage as *const libc::sockaddr_storage).cast(), len) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(owned)
}

fn sockaddr_of(addr: &SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: sockaddr_storage is plain old data; all-zero is a valid value.
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    match addr {
        SocketAddr::V4(a) => {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: a.port().to_be(),
                sin_addr: libc::in_addr { s_addr: u32::from_ne_bytes(a.ip().octets()) },
                sin_zero: [0; 8],
            };
            // SAFETY: sockaddr_in fits in sockaddr_storage, which is suitably aligned.
            unsafe {
                std::ptr::write((&mut storage as *mut libc::sockaddr_storage).cast(), sin);
            }
            (storage, std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t)
        }
        SocketAddr::V6(a) => {
            let sin6 = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: a.port().to_be(),
                sin6_flowinfo: a.flowinfo(),
                sin6_addr: libc::in6_addr { s6_addr: a.ip().octets() },
                sin6_scope_id: a.scope_id(),
            };
            // SAFETY: sockaddr_in6 fits in sockaddr_storage, which is suitably aligned.
            unsafe {
                std::ptr::write((&mut storage as *mut libc::sockaddr_storage).cast(), sin6);
            }
            (storage, std::mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t)
        }
    }
}

/// Binds and listens on a TCP address with the given backlog (`-b`).
pub fn bind_tcp(addr: &SocketAddr, backlog: i32) -> io::Result<Listener> {
    let fd = raw_socket(addr, libc::SOCK_STREAM)?;
    // SAFETY: `fd` is a bound stream socket we own.
    if unsafe { libc::listen(fd.as_raw_fd(), backlog.max(1)) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let std_listener = std::net::TcpListener::from(fd);
    let local = std_listener.local_addr().unwrap_or(*addr);
    Ok(Listener::Tcp(
        mio::net::TcpListener::from_std(std_listener),
        format!("tcp:{}", sockaddr_description(&local)),
    ))
}

/// Binds a UDP socket (`-U`).
pub fn bind_udp(addr: &SocketAddr) -> io::Result<std::net::UdpSocket> {
    let fd = raw_socket(addr, libc::SOCK_DGRAM)?;
    Ok(std::net::UdpSocket::from(fd))
}

/// Binds a UNIX socket at `path` with permission bits `mask` (`-s`, `-a`), replacing a
/// stale socket file.
pub fn bind_unix(path: &Path, mask: u32) -> io::Result<Listener> {
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        use std::os::unix::fs::FileTypeExt;
        if meta.file_type().is_socket() {
            let _ = std::fs::remove_file(path);
        }
    }
    let listener = std::os::unix::net::UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mask & 0o777))?;
    listener.set_nonblocking(true)?;
    Ok(Listener::Unix(
        mio::net::UnixListener::from_std(listener),
        format!("unix:{}", path.display()),
    ))
}

/// Hands accepted connections to workers in turn.
#[derive(Debug)]
pub struct Acceptor {
    workers: Vec<(Sender<NewConnection>, Arc<Waker>)>,
    next: usize,
    next_id: u64,
    shared: Arc<Shared>,
}

/// memcached 1.6's answer to a connection over `-c`.
pub const TOO_MANY_CONNECTIONS: &[u8] = b"ERROR Too many open connections\r\n";

impl Acceptor {
    /// An acceptor feeding the given workers.
    pub fn new(workers: Vec<(Sender<NewConnection>, Arc<Waker>)>, shared: Arc<Shared>) -> Self {
        Self { workers, next: 0, next_id: 1, shared }
    }

    /// Accepts until the listener has no pending connection. Returns false when accepting
    /// must pause (out of descriptors, or at `-c` without `maxconns_fast`); the caller
    /// retries a little later.
    pub fn accept_all(&mut self, listener: &Listener) -> bool {
        let shared = Arc::clone(&self.shared);
        loop {
            // `-o no_maxconns_fast`: at the limit, stop accepting (connections wait in the
            // backlog) instead of rejecting them, as memcached does.
            if !shared.config.maxconns_fast
                && shared.connections.current.load(Ordering::Relaxed) as usize
                    >= shared.config.max_connections
            {
                if shared.accepting.swap(0, Ordering::Relaxed) == 1 {
                    shared.connections.listen_disabled.fetch_add(1, Ordering::Relaxed);
                }
                return false;
            }
            shared.accepting.store(1, Ordering::Relaxed);
            let accepted = match listener {
                Listener::Tcp(l, _) => l.accept().map(|(s, _)| {
                    let _ = s.set_nodelay(true);
                    Stream::Tcp(s)
                }),
                Listener::Unix(l, _) => l.accept().map(|(s, _)| Stream::Unix(s)),
            };
            match accepted {
                Ok(stream) => self.hand_out(stream, listener.description()),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return true,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE)) => {
                    self.shared.connections.listen_disabled.fetch_add(1, Ordering::Relaxed);
                    if self.shared.verbosity() >= 1 {
                        eprintln!("Too many open connections");
                    }
                    return false;
                }
                Err(e) => {
                    if self.shared.verbosity() >= 1 {
                        eprintln!("accept(): {e}");
                    }
                    return true;
                }
            }
        }
    }

    fn hand_out(&mut self, mut stream: Stream, listen_addr: &str) {
        let connections = &self.shared.connections;
        if connections.current.load(Ordering::Relaxed) as usize
            >= self.shared.config.max_connections
        {
            let _ = stream.write(TOO_MANY_CONNECTIONS);
            connections.rejected.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let fd = match &stream {
            Stream::Tcp(s) => s.as_raw_fd(),
            Stream::Unix(s) => s.as_raw_fd(),
        };
        let addr = match &stream {
            Stream::Tcp(_) => format!("tcp:{}", stream.peer_description()),
            Stream::Unix(_) => format!("unix:{}", stream.peer_description()),
        };
        let entry = Arc::new(ConnEntry {
            addr,
            listen_addr: listen_addr.to_owned(),
            last_cmd: std::sync::atomic::AtomicU32::new(self.shared.clock.now()),
        });
        connections.open(fd, Arc::clone(&entry));
        let id = self.next_id;
        self.next_id += 1;
        let (sender, waker) = &self.workers[self.next % self.workers.len()];
        self.next = self.next.wrapping_add(1);
        if sender.send(NewConnection { stream, entry, id }).is_err() {
            connections.close(fd);
            return;
        }
        let _ = waker.wake();
    }
}
