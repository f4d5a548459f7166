//! Starting and stopping a server: bind listeners, start the clock thread and the workers,
//! run the accept/control loop until a stop request, then take everything down.
//!
//! ```text
//!  control thread (caller of `serve`)      clock thread              worker threads (-t N)
//!  ┌──────────────────────────────┐   ┌──────────────────────┐   ┌──────────────────────┐
//!  │ mio Poll:                    │   │ every second:        │   │ mio Poll per worker  │
//!  │  TCP/UNIX listeners -> accept├──>│  clock.refresh()     │   │ (see worker.rs)      │
//!  │  stop pipe (signals,         │   │  maintenance(now)    │   │ UDP socket shared by │
//!  │   `shutdown`)                │   │  (reclaim expired,   │   │ all workers          │
//!  └──────────────┬───────────────┘   │   slab automove)     │   └──────────────────────┘
//!                 │ round robin       └──────────────────────┘              ^
//!                 └─────── channel + Waker ─────────────────────────────────┘
//! ```

use std::io;
use std::net::{Ipv6Addr, SocketAddr};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token, Waker};

use crate::connection::RequestExecutor;
use crate::counters::WorkerCounters;
use crate::listener::{bind_tcp, bind_udp, bind_unix, Acceptor, Listener};
use crate::shared::Shared;
use crate::signals::StopKind;
use crate::worker::{Worker, WorkerControl, WAKER_TOKEN};

const STOP_TOKEN: Token = Token(usize::MAX);

/// Why `serve` could not start.
#[derive(Debug)]
pub struct StartError {
    /// What failed, in memcached's words where it has them.
    pub message: String,
    /// The underlying error.
    pub source: io::Error,
}

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.message, self.source)
    }
}

impl std::error::Error for StartError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

fn start_error(message: impl Into<String>) -> impl FnOnce(io::Error) -> StartError {
    let message = message.into();
    move |source| StartError { message, source }
}

/// Sockets bound before any thread starts (so bind errors are reported synchronously).
#[derive(Debug)]
pub struct BoundSockets {
    /// TCP and UNIX listeners.
    pub listeners: Vec<Listener>,
    /// UDP sockets.
    pub udp: Vec<std::net::UdpSocket>,
}

/// Binds every socket the configuration asks for.
pub fn bind_sockets(shared: &Shared) -> Result<BoundSockets, StartError> {
    let config = &shared.config;
    let mut listeners = Vec::new();
    let mut udp = Vec::new();
    if let Some(path) = &config.unix_socket {
        let listener = bind_unix(path, config.unix_socket_mask)
            .map_err(start_error(format!("failed to listen on UNIX socket {}", path.display())))?;
        listeners.push(listener);
    }
    for addr in &config.tcp_addrs {
        let listener = bind_tcp(addr, config.backlog)
            .map_err(start_error(format!("failed to listen on TCP port {}", addr.port())))?;
        listeners.push(listener);
    }
    for addr in &config.udp_addrs {
        let socket = bind_udp(addr)
            .map_err(start_error(format!("failed to listen on UDP port {}", addr.port())))?;
        udp.push(socket);
    }
    if config.ipv6_wildcard {
        let any6 = |port: u16| SocketAddr::from((Ipv6Addr::UNSPECIFIED, port));
        let v4_wildcards = |addrs: &[SocketAddr]| {
            addrs
                .iter()
                .filter(|a| a.ip().is_unspecified() && a.is_ipv4())
                .map(|a| a.port())
                .collect::<Vec<_>>()
        };
        for port in v4_wildcards(&config.tcp_addrs) {
            if let Ok(listener) = bind_tcp(&any6(port), config.backlog) {
                listeners.push(listener);
            }
        }
        for port in v4_wildcards(&config.udp_addrs) {
            if let Ok(socket) = bind_udp(&any6(port)) {
                udp.push(socket);
            }
        }
    }
    for listener in &listeners {
        shared.connections.add_listener(listener.fd(), listener.description().to_owned());
    }
    for socket in &udp {
        if let Ok(addr) = socket.local_addr() {
            shared.connections.add_listener(socket.as_raw_fd(), format!("udp:{addr}"));
        }
    }
    Ok(BoundSockets { listeners, udp })
}

/// Runs a server on already bound sockets until a stop request; returns how it stopped.
///
/// `make_executor(worker_index, counters)` builds each worker's request executor;
/// `maintenance(now)` runs on the clock thread about once a second.
pub fn serve<E, F, M>(
    shared: Arc<Shared>,
    sockets: BoundSockets,
    mut make_executor: F,
    mut maintenance: M,
) -> io::Result<StopKind>
where
    E: RequestExecutor + Send + 'static,
    F: FnMut(usize, Arc<WorkerCounters>) -> E,
    M: FnMut(u32) + Send + 'static,
{
    let BoundSockets { mut listeners, udp } = sockets;
    let threads = shared.config.threads.max(1);
    let listener_structures = (listeners.len() + udp.len() * threads) as u64;
    shared.connections.listener_structures.store(listener_structures, Ordering::Relaxed);
    shared.connections.total.fetch_add(listener_structures, Ordering::Relaxed);
    let counters: Vec<Arc<WorkerCounters>> =
        (0..threads).map(|_| Arc::new(WorkerCounters::default())).collect();
    let _ = shared.workers.set(counters.clone());

    // Clock and maintenance.
    let clock_stop = Arc::new(AtomicBool::new(false));
    let clock_thread = {
        let shared = Arc::clone(&shared);
        let stop = Arc::clone(&clock_stop);
        std::thread::Builder::new().name("mc-clock".into()).spawn(move || {
            let mut last = shared.clock.now();
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(crate::clock::until_next_tick());
                shared.clock.refresh();
                let now = shared.clock.now();
                if now != last {
                    last = now;
                    maintenance(now);
                }
            }
        })?
    };

    // Workers.
    let mut workers: Vec<(JoinHandle<()>, Arc<WorkerControl>, Arc<Waker>)> = Vec::new();
    let mut handoff = Vec::new();
    for (index, worker_counters) in counters.iter().enumerate() {
        let poll = Poll::new()?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKER_TOKEN)?);
        let (sender, receiver) = crossbeam_channel::unbounded();
        let control = Arc::new(WorkerControl::default());
        let mut udp_sockets = Vec::new();
        for socket in &udp {
            let clone = socket.try_clone()?;
            clone.set_nonblocking(true)?;
            udp_sockets.push(mio::net::UdpSocket::from_std(clone));
        }
        let executor = make_executor(index, Arc::clone(worker_counters));
        let worker = Worker::new(
            poll,
            receiver,
            executor,
            Arc::clone(&shared),
            Arc::clone(worker_counters),
            Arc::clone(&control),
            udp_sockets,
            Arc::clone(&waker),
        )?;
        let handle =
            std::thread::Builder::new().name(format!("mc-worker-{index}")).spawn(move || {
                worker.run();
            })?;
        handoff.push((sender, Arc::clone(&waker)));
        workers.push((handle, control, waker));
    }
    drop(udp);
    let mut acceptor = Acceptor::new(handoff, Arc::clone(&shared));

    // Control loop.
    let mut poll = Poll::new()?;
    let stop_fd = shared.stop.wake_fd();
    poll.registry().register(&mut SourceFd(&stop_fd), STOP_TOKEN, Interest::READABLE)?;
    for (index, listener) in listeners.iter_mut().enumerate() {
        poll.registry().register(listener.source(), Token(index), Interest::READABLE)?;
    }
    let mut events = Events::with_capacity(256);
    let mut paused = false;
    let kind = loop {
        if let Some(kind) = shared.stop.requested() {
            break kind;
        }
        let timeout = if paused { Duration::from_millis(10) } else { Duration::from_secs(1) };
        if let Err(e) = poll.poll(&mut events, Some(timeout)) {
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
        let mut retry = paused;
        for event in events.iter() {
            match event.token() {
                STOP_TOKEN => shared.stop.drain(),
                Token(index) => retry |= index < listeners.len(),
            }
        }
        if retry {
            paused = false;
            for listener in &listeners {
                if !acceptor.accept_all(listener) {
                    paused = true;
                }
            }
        }
    };
    if shared.verbosity() >= 1 {
        match shared.stop.signal() {
            Some(libc::SIGINT) => eprintln!("Signal handled: Interrupt."),
            Some(libc::SIGTERM) => eprintln!("Signal handled: Terminated."),
            Some(libc::SIGUSR1) => eprintln!("Signal handled: User defined signal 1."),
            _ => {}
        }
        if kind == StopKind::Graceful {
            eprintln!("Gracefully stopping");
        }
    }

    // Stop accepting, then stop the workers.
    shared.accepting.store(0, Ordering::Relaxed);
    for listener in &mut listeners {
        let _ = poll.registry().deregister(listener.source());
    }
    drop(listeners);
    for (_, control, waker) in &workers {
        control.request(kind);
        let _ = waker.wake();
    }
    for (handle, _, _) in workers {
        let _ = handle.join();
    }
    clock_stop.store(true, Ordering::Relaxed);
    let _ = clock_thread.join();
    if let Some(path) = &shared.config.unix_socket {
        let _ = std::fs::remove_file(path);
    }
    Ok(kind)
}
