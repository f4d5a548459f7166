//! A worker thread: one mio event loop driving its own connections (and, with `-U`, reading
//! from the shared UDP socket).
//!
//! ```text
//!   control thread ── NewConnection ──> crossbeam channel ──┐
//!                  └─ Waker::wake() ──────────────────────┐  │
//!                                                         v  v
//!   ┌──────────────── worker N (plain thread) ───────────────────────────────┐
//!   │ loop {                                                                 │
//!   │   poll(events, 1s or 0 if some connection yielded)                     │
//!   │   WAKER  -> take new connections, check stop requests                  │
//!   │   UDP    -> read datagrams, answer them (udp.rs)                       │
//!   │   conn i -> Connection::drive (read, execute, batch-write, backpressure)│
//!   │   yielded connections (hit -R) -> drive again after the others         │
//!   │   once a second -> close connections idle past -o idle_timeout         │
//!   │ }                                                                      │
//!   └────────────────────────────────────────────────────────────────────────┘
//! ```
//!
//! No work stealing: a connection lives on the worker that received it until it closes.

use std::io;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;
use mio::{Events, Interest, Poll, Token, Waker};

use crate::connection::{Connection, Drive, DriveLimits, RequestExecutor, Session, Stream};
use crate::counters::{bump, WorkerCounters};
use crate::shared::{ConnEntry, Shared};
use crate::signals::StopKind;
use crate::udp::UdpEndpoint;
use crate::watch::{stream, Subscription};

/// Token of the waker that announces new connections and stop requests.
pub const WAKER_TOKEN: Token = Token(usize::MAX);
/// Tokens of the UDP sockets count down from here.
const UDP_TOKEN_BASE: usize = usize::MAX - 1;
/// Connection tokens stay below this.
const MAX_UDP_SOCKETS: usize = 64;

/// A connection handed from the listener to a worker.
#[derive(Debug)]
pub struct NewConnection {
    /// The accepted stream.
    pub stream: Stream,
    /// Its entry in the server's connection table (already registered there).
    pub entry: Arc<ConnEntry>,
    /// Server-wide connection number.
    pub id: u64,
}

/// What a worker is told to do by the control thread.
#[derive(Debug, Default)]
pub struct WorkerControl {
    /// 0 = run, 1 = stop now, 2 = stop gracefully.
    pub stop: AtomicU8,
}

impl WorkerControl {
    fn requested(&self) -> Option<StopKind> {
        match self.stop.load(Ordering::SeqCst) {
            1 => Some(StopKind::Immediate),
            2 => Some(StopKind::Graceful),
            _ => None,
        }
    }

    /// Asks the worker to stop.
    pub fn request(&self, kind: StopKind) {
        let value = match kind {
            StopKind::Immediate => 1,
            StopKind::Graceful => 2,
        };
        self.stop.store(value, Ordering::SeqCst);
    }
}

struct Slot {
    conn: Connection,
    entry: Arc<ConnEntry>,
    fd: i32,
    watch: Option<Subscription>,
}

/// One worker's event loop and connections.
pub struct Worker<E: RequestExecutor> {
    poll: Poll,
    slots: Vec<Option<Slot>>,
    free: Vec<usize>,
    incoming: Receiver<NewConnection>,
    executor: E,
    shared: Arc<Shared>,
    counters: Arc<WorkerCounters>,
    control: Arc<WorkerControl>,
    udp: Vec<UdpEndpoint>,
    yielded: Vec<usize>,
    yielded_spare: Vec<usize>,
    limits: DriveLimits,
    waker: Arc<Waker>,
    watching: Vec<usize>,
}

impl<E: RequestExecutor> Worker<E> {
    /// Creates a worker around an existing poll (whose waker the listener holds).
    // Every argument is a distinct piece the server wires together once per worker.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        poll: Poll,
        incoming: Receiver<NewConnection>,
        executor: E,
        shared: Arc<Shared>,
        counters: Arc<WorkerCounters>,
        control: Arc<WorkerControl>,
        udp: Vec<mio::net::UdpSocket>,
        waker: Arc<Waker>,
    ) -> io::Result<Self> {
        let config = &shared.config;
        let limits = DriveLimits {
            reqs_per_event: config.reqs_per_event.max(1),
            output_cap: config.output_cap.max(4096),
            max_input: (config.item_size_max * 2).max(2 * 1024 * 1024),
        };
        let mut endpoints = Vec::new();
        for (i, mut socket) in udp.into_iter().enumerate() {
            poll.registry().register(&mut socket, Token(UDP_TOKEN_BASE - i), Interest::READABLE)?;
            endpoints.push(UdpEndpoint::new(socket));
        }
        Ok(Self {
            poll,
            slots: Vec::new(),
            free: Vec::new(),
            incoming,
            executor,
            shared,
            counters,
            control,
            udp: endpoints,
            yielded: Vec::new(),
            yielded_spare: Vec::new(),
            limits,
            waker,
            watching: Vec::new(),
        })
    }

    /// Runs until the control thread asks this worker to stop.
    pub fn run(mut self) {
        let mut events = Events::with_capacity(1024);
        let mut last_sweep = Instant::now();
        let mut graceful_deadline: Option<Instant> = None;
        loop {
            let timeout =
                if self.yielded.is_empty() { Duration::from_millis(500) } else { Duration::ZERO };
            if let Err(e) = self.poll.poll(&mut events, Some(timeout)) {
                if e.kind() != io::ErrorKind::Interrupted {
                    self.log(1, &format!("worker poll failed: {e}"));
                    break;
                }
            }
            for event in events.iter() {
                match event.token() {
                    WAKER_TOKEN => self.take_new_connections(),
                    Token(t) if t > UDP_TOKEN_BASE - MAX_UDP_SOCKETS => {
                        if let Some(udp) = self.udp.get_mut(UDP_TOKEN_BASE - t) {
                            udp.serve(&mut self.executor, &self.counters);
                        }
                    }
                    Token(index) => {
                        let trust = !event.is_read_closed() && !event.is_error();
                        self.drive(index, trust);
                    }
                }
            }
            if !self.yielded.is_empty() {
                std::mem::swap(&mut self.yielded, &mut self.yielded_spare);
                let mut again = std::mem::take(&mut self.yielded_spare);
                for index in again.drain(..) {
                    self.drive(index, false);
                }
                self.yielded_spare = again;
            }
            if !self.watching.is_empty() {
                self.feed_watchers();
            }
            match self.control.requested() {
                Some(StopKind::Immediate) => break,
                Some(StopKind::Graceful) => {
                    let deadline = *graceful_deadline
                        .get_or_insert_with(|| Instant::now() + Duration::from_secs(5));
                    self.close_quiet_connections();
                    if self.slots.iter().all(Option::is_none) || Instant::now() >= deadline {
                        break;
                    }
                }
                None => {}
            }
            if last_sweep.elapsed() >= Duration::from_secs(1) {
                last_sweep = Instant::now();
                self.close_idle_connections();
            }
        }
        for index in 0..self.slots.len() {
            self.close(index);
        }
    }

    fn log(&self, level: u32, message: &str) {
        if self.shared.verbosity() >= level {
            eprintln!("{message}");
        }
    }

    fn take_new_connections(&mut self) {
        while let Ok(new) = self.incoming.try_recv() {
            let index = match self.free.pop() {
                Some(index) => index,
                None => {
                    self.slots.push(None);
                    self.slots.len() - 1
                }
            };
            let now = self.shared.clock.now();
            let fd = match &new.stream {
                Stream::Tcp(s) => s.as_raw_fd(),
                Stream::Unix(s) => s.as_raw_fd(),
            };
            let session = Session {
                id: new.id,
                udp: false,
                fd,
                authenticated: false,
                negotiated: false,
                udp_marks: Vec::new(),
            };
            let mut conn = Connection::new(new.stream, session, now);
            if let Err(e) = self.poll.registry().register(
                conn.stream.source(),
                Token(index),
                Interest::READABLE | Interest::WRITABLE,
            ) {
                self.log(1, &format!("cannot register connection: {e}"));
                self.shared.connections.close(fd);
                self.free.push(index);
                continue;
            }
            if self.shared.verbosity() >= 2 {
                eprintln!("<{fd} new auto-negotiating client connection");
            }
            if self.shared.log.active() {
                let (rip, rport) = split_addr(&new.entry.addr);
                self.shared.log.emit(
                    stream::CONNEVENTS,
                    format_args!(
                        "type=conn_new rip={rip} rport={rport} transport={} cfd={fd}",
                        transport(&new.entry.addr)
                    ),
                );
            }
            self.slots[index] = Some(Slot { conn, entry: new.entry, fd, watch: None });
            // The socket may already hold a request whose readiness edge fired before it was
            // registered here: look at it now.
            self.drive(index, false);
        }
    }

    fn drive(&mut self, index: usize, stop_on_short_read: bool) {
        let now = self.shared.clock.now();
        let Some(Some(slot)) = self.slots.get_mut(index) else {
            return;
        };
        let before = slot.conn.last_active;
        let outcome = slot.conn.drive(
            &mut self.executor,
            &self.limits,
            &self.counters,
            now,
            stop_on_short_read,
        );
        if slot.conn.last_active != before {
            slot.entry.last_cmd.store(slot.conn.last_active, Ordering::Relaxed);
        }
        if let Some(flags) = slot.conn.take_pending_watch() {
            slot.watch = Some(self.shared.log.subscribe(flags, Arc::clone(&self.waker)));
            self.watching.push(index);
        }
        match outcome {
            Drive::Open => {}
            Drive::Yield => self.yielded.push(index),
            Drive::Close => self.close(index),
            Drive::Stop(kind) => {
                self.close(index);
                self.shared.stop.request(kind);
            }
        }
    }

    fn close(&mut self, index: usize) {
        let Some(slot) = self.slots.get_mut(index).and_then(Option::take) else {
            return;
        };
        let mut conn = slot.conn;
        if let Some(watch) = slot.watch {
            self.shared.log.unsubscribe(watch.id);
            self.watching.retain(|&i| i != index);
        }
        if self.shared.log.active() {
            let (rip, rport) = split_addr(&slot.entry.addr);
            self.shared.log.emit(
                stream::CONNEVENTS,
                format_args!(
                    "type=conn_close rip={rip} rport={rport} transport={} reason=normal cfd={}",
                    transport(&slot.entry.addr),
                    slot.fd
                ),
            );
        }
        let _ = self.poll.registry().deregister(conn.stream.source());
        self.shared.connections.close(slot.fd);
        if self.shared.verbosity() >= 2 {
            eprintln!("<{} connection closed.", slot.fd);
        }
        drop(conn);
        self.free.push(index);
    }

    /// Moves queued log lines into the watching connections' output (up to the output cap;
    /// the rest waits in the bounded queue, where new lines are dropped when it is full).
    fn feed_watchers(&mut self) {
        let mut gone = Vec::new();
        for &index in &self.watching {
            let Some(Some(slot)) = self.slots.get_mut(index) else {
                continue;
            };
            let Some(watch) = &slot.watch else {
                continue;
            };
            while slot.conn.pending_output() < self.limits.output_cap {
                match watch.lines.try_recv() {
                    Ok(line) => slot.conn.push_output(&line),
                    Err(_) => break,
                }
            }
            if slot.conn.flush(&self.counters).is_err() {
                gone.push(index);
            }
        }
        for index in gone {
            self.close(index);
        }
    }

    fn close_idle_connections(&mut self) {
        let timeout = self.shared.config.idle_timeout;
        if timeout == 0 {
            return;
        }
        let now = self.shared.clock.now();
        for index in 0..self.slots.len() {
            let idle = match &self.slots[index] {
                Some(slot) => now.saturating_sub(slot.conn.last_active) > timeout,
                None => false,
            };
            if idle {
                bump(&self.counters.idle_kicks, 1);
                self.close(index);
            }
        }
    }

    fn close_quiet_connections(&mut self) {
        for index in 0..self.slots.len() {
            let quiet = match &self.slots[index] {
                Some(slot) => slot.conn.pending_output() == 0,
                None => false,
            };
            if quiet {
                self.close(index);
            }
        }
    }
}

/// `tcp:1.2.3.4:5678` -> ("1.2.3.4", "5678"); other forms -> (whole, "0").
fn split_addr(addr: &str) -> (&str, &str) {
    let bare = addr.split_once(':').map_or(addr, |(_, rest)| rest);
    match bare.rsplit_once(':') {
        Some((ip, port)) if addr.starts_with("tcp:") => (ip.trim_matches(['[', ']']), port),
        _ => (bare, "0"),
    }
}

/// `tcp` or `unix`, from a connection address.
fn transport(addr: &str) -> &str {
    addr.split_once(':').map_or("tcp", |(t, _)| t)
}
