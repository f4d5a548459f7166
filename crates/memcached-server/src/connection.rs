//! One client connection: its socket, reusable input/output buffers, and the loop that turns
//! received bytes into responses with pipelining, fairness and backpressure.
//!
//! ```text
//!            read(2) until EAGAIN                    execute() per request        write(2)
//!  socket ─────────────────────> InputBuffer ──────────────────────────────> output ───────> socket
//!                                [start..end)   (stops while output > cap:     Vec<u8>
//!                                               the client must read first)    (one write per batch)
//! ```
//!
//! `drive` runs the cycle: handle every complete request already buffered (at most
//! `reqs_per_event`, then yield), write all responses of the batch at once, and only read more
//! when the pending output is below the cap. A client that never reads its replies therefore
//! stops being read from; its memory stays bounded by the cap plus one response.

use std::io::{self, Read, Write};
use std::net::SocketAddr;

use crate::counters::{bump, WorkerCounters};
use memcached_codec::WatchFlags;

use crate::signals::StopKind;

/// Initial size of a connection's input buffer; it grows for large values and shrinks back.
pub const INPUT_BUFFER_INITIAL: usize = 16 * 1024;
/// Input buffers grown past this (for large values) are released once empty; smaller ones are
/// kept, so ordinary traffic never reallocates.
const INPUT_BUFFER_KEEP: usize = 256 * 1024;
/// Output buffers larger than this are released once they have been written out.
const OUTPUT_BUFFER_KEEP: usize = 256 * 1024;

/// The byte stream under a connection.
#[derive(Debug)]
pub enum Stream {
    /// A TCP client.
    Tcp(mio::net::TcpStream),
    /// A UNIX-domain socket client.
    Unix(mio::net::UnixStream),
}

impl Stream {
    /// The stream as a mio event source.
    pub fn source(&mut self) -> &mut dyn mio::event::Source {
        match self {
            Stream::Tcp(s) => s,
            Stream::Unix(s) => s,
        }
    }

    /// The peer's address as `stats conns` prints it.
    pub fn peer_description(&self) -> String {
        match self {
            Stream::Tcp(s) => match s.peer_addr() {
                Ok(SocketAddr::V4(a)) => format!("{}:{}", a.ip(), a.port()),
                Ok(SocketAddr::V6(a)) => format!("[{}]:{}", a.ip(), a.port()),
                Err(_) => "unknown".to_owned(),
            },
            Stream::Unix(s) => s
                .local_addr()
                .ok()
                .and_then(|a| a.as_pathname().map(|p| p.display().to_string()))
                .unwrap_or_else(|| "unix".to_owned()),
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.read(buf),
            Stream::Unix(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.write(buf),
            Stream::Unix(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// What executing one request asks the connection to do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum After {
    /// Go on with the next request.
    Continue,
    /// Discard this many more input bytes (the data block of a rejected storage command that
    /// has not fully arrived yet), then go on.
    Swallow(usize),
    /// Flush the output, then close (`quit`, fatal protocol errors).
    Close,
    /// Flush the output, then ask the server to stop (`shutdown`).
    Stop(StopKind),
    /// From now on this connection only receives log lines of these streams (`watch`).
    Watch(WatchFlags),
}

/// The result of offering buffered input to a [`RequestExecutor`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// The buffered bytes do not hold a whole request yet.
    NeedMore,
    /// The input holds a line that can never become a valid request: close the connection
    /// without a reply (endless line, absurd length).
    Hostile,
    /// One request was handled: `consumed` input bytes, and what to do next.
    Done {
        /// Bytes of input the request occupied (including any data block).
        consumed: usize,
        /// What the connection does next.
        after: After,
    },
}

/// Executes requests: parses one request at the front of `input`, appends its response to
/// `out`.
pub trait RequestExecutor {
    /// Handles at most one request from the front of `input`.
    fn execute(&mut self, session: &mut Session, input: &[u8], out: &mut Vec<u8>) -> Step;
}

/// Per-connection protocol state that commands may read or change.
#[derive(Debug, Clone, Default)]
pub struct Session {
    /// Server-wide connection number (for logs).
    pub id: u64,
    /// Set when the connection came in over UDP (some replies differ).
    pub udp: bool,
    /// The socket's descriptor (`stats conns` marks the asking connection).
    pub fd: i32,
    /// The client passed `-Y` authentication (meaningless when auth is off).
    pub authenticated: bool,
    /// The first byte arrived and was not the binary protocol's magic byte.
    pub negotiated: bool,
    /// UDP only: where the reply of one request splits into separately framed messages, as
    /// memcached sends one message per response object (see [`crate::udp`]).
    pub udp_marks: Vec<UdpMark>,
}

/// A message boundary in a UDP reply buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UdpMark {
    /// Offset in the reply buffer where the message ends.
    pub end: usize,
    /// Send the message even when it is empty (a multi-get miss), as memcached does.
    pub send_empty: bool,
}

/// Limits a worker applies to each of its connections.
#[derive(Debug, Clone, Copy)]
pub struct DriveLimits {
    /// Requests handled before yielding to other connections (`-R`).
    pub reqs_per_event: u32,
    /// Pending output above which input is not processed (backpressure).
    pub output_cap: usize,
    /// Largest input buffer a single request may need.
    pub max_input: usize,
}

/// Whether the connection stays open after [`Connection::drive`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Drive {
    /// Wait for the next readiness event.
    Open,
    /// More work is buffered but the request budget is spent: drive again soon.
    Yield,
    /// Close the connection now.
    Close,
    /// Close the connection and stop the server.
    Stop(StopKind),
}

/// Received bytes not yet consumed: `buf[start..end]`.
#[derive(Debug)]
struct InputBuffer {
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

impl InputBuffer {
    fn new() -> Self {
        Self { buf: vec![0; INPUT_BUFFER_INITIAL], start: 0, end: 0 }
    }

    fn pending(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    fn consume(&mut self, n: usize) {
        self.start = (self.start + n).min(self.end);
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
            if self.buf.len() > INPUT_BUFFER_KEEP {
                self.buf = vec![0; INPUT_BUFFER_INITIAL];
            }
        }
    }

    /// Makes room for more input; false when the buffer is at `max` already.
    fn make_room(&mut self, max: usize) -> bool {
        if self.end < self.buf.len() {
            return true;
        }
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
            return true;
        }
        if self.buf.len() >= max {
            return false;
        }
        let grown = (self.buf.len() * 2).min(max).max(self.buf.len() + 1);
        self.buf.resize(grown, 0);
        true
    }
}

/// A client connection owned by one worker.
#[derive(Debug)]
pub struct Connection {
    /// The socket.
    pub stream: Stream,
    /// Protocol state.
    pub session: Session,
    /// Coarse time of the last request (for the idle timeout and `stats conns`).
    pub last_active: u32,
    input: InputBuffer,
    output: Vec<u8>,
    written: usize,
    swallow: usize,
    closing: bool,
    stopping: Option<StopKind>,
    watching: bool,
    pending_watch: Option<WatchFlags>,
}

impl Connection {
    /// Wraps an accepted stream.
    pub fn new(stream: Stream, session: Session, now: u32) -> Self {
        Self {
            stream,
            session,
            last_active: now,
            input: InputBuffer::new(),
            output: Vec::with_capacity(INPUT_BUFFER_INITIAL),
            written: 0,
            swallow: 0,
            closing: false,
            stopping: None,
            watching: false,
            pending_watch: None,
        }
    }

    /// Bytes of output not yet written to the socket.
    pub fn pending_output(&self) -> usize {
        self.output.len() - self.written
    }

    /// Memory this connection's buffers hold (for tests and `stats`).
    pub fn buffer_bytes(&self) -> usize {
        self.input.buf.len() + self.output.capacity()
    }

    /// Handles everything that can be handled now: buffered requests, output, more input.
    ///
    /// `stop_on_short_read`: the caller got a readiness event that did not report the peer's
    /// close, so a short read proves the socket empty and the next arrival will raise a new
    /// event. Pass `false` when driving without such an event (new connection, yield) or when
    /// the event reported a close: then reads continue until EAGAIN or end of stream.
    pub fn drive<E: RequestExecutor>(
        &mut self,
        executor: &mut E,
        limits: &DriveLimits,
        counters: &WorkerCounters,
        now: u32,
        stop_on_short_read: bool,
    ) -> Drive {
        let mut handled = 0u32;
        let mut socket_drained = false;
        loop {
            // 1. Handle the complete requests already buffered, as long as output is below cap.
            let mut yielded = false;
            let mut capped = false;
            while !self.closing {
                if self.pending_output() >= limits.output_cap {
                    capped = true;
                    break;
                }
                if self.swallow > 0 {
                    let n = self.swallow.min(self.input.pending().len());
                    self.input.consume(n);
                    self.swallow -= n;
                    if self.swallow > 0 {
                        break;
                    }
                }
                if self.input.pending().is_empty() {
                    break;
                }
                if self.watching {
                    // A watching connection takes no more commands (memcached ignores them).
                    let n = self.input.pending().len();
                    self.input.consume(n);
                    break;
                }
                if handled >= limits.reqs_per_event {
                    yielded = true;
                    bump(&counters.conn_yields, 1);
                    break;
                }
                let step =
                    executor.execute(&mut self.session, self.input.pending(), &mut self.output);
                match step {
                    Step::NeedMore => break,
                    Step::Hostile => {
                        // Replies to the requests before it still go out, then the close.
                        self.closing = true;
                        break;
                    }
                    Step::Done { consumed, after } => {
                        handled += 1;
                        self.last_active = now;
                        self.input.consume(consumed);
                        match after {
                            After::Continue => {}
                            After::Swallow(n) => self.swallow = n,
                            After::Close => self.closing = true,
                            After::Stop(kind) => {
                                self.closing = true;
                                self.stopping = Some(kind);
                            }
                            After::Watch(flags) => {
                                self.watching = true;
                                self.pending_watch = Some(flags);
                            }
                        }
                    }
                }
            }

            // 2. Write the whole batch of responses.
            match self.flush_output(counters) {
                Ok(()) => {}
                Err(_) => return Drive::Close,
            }
            if self.closing {
                if self.pending_output() == 0 {
                    return match self.stopping {
                        Some(kind) => Drive::Stop(kind),
                        None => Drive::Close,
                    };
                }
                return Drive::Open;
            }
            if yielded {
                return Drive::Yield;
            }
            // 3. Backpressure: the client must read before we read more from it.
            if self.pending_output() >= limits.output_cap {
                return Drive::Open;
            }
            if capped {
                // The output drained while requests are still buffered: handle them first.
                continue;
            }
            // 4. Read more input. A short read means the socket was empty at that moment; with
            // edge-triggered readiness any later arrival raises a new event, so we stop here
            // instead of paying another read(2) just to see EAGAIN (memcached does the same).
            if socket_drained {
                return Drive::Open;
            }
            if !self.input.make_room(limits.max_input) {
                return Drive::Close;
            }
            let end = self.input.end;
            let room = self.input.buf.len() - end;
            match self.stream.read(&mut self.input.buf[end..]) {
                Ok(0) => {
                    // The peer closed its side; what it sent before was handled: flush the
                    // replies still pending, then close.
                    self.closing = true;
                }
                Ok(n) => {
                    self.input.end += n;
                    bump(&counters.bytes_read, n as u64);
                    socket_drained = stop_on_short_read && n < room;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Drive::Open,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return Drive::Close,
            }
        }
    }

    /// The `watch` streams this connection asked for since the last call, if any.
    pub fn take_pending_watch(&mut self) -> Option<WatchFlags> {
        self.pending_watch.take()
    }

    /// Appends bytes to the output (log lines for a watching connection).
    pub fn push_output(&mut self, bytes: &[u8]) {
        self.output.extend_from_slice(bytes);
    }

    /// Writes what is pending; an error means the connection is gone.
    pub fn flush(&mut self, counters: &WorkerCounters) -> io::Result<()> {
        self.flush_output(counters)
    }

    /// Writes pending output until done or the socket would block.
    fn flush_output(&mut self, counters: &WorkerCounters) -> io::Result<()> {
        while self.written < self.output.len() {
            match self.stream.write(&self.output[self.written..]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    self.written += n;
                    bump(&counters.bytes_written, n as u64);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.output.clear();
        self.written = 0;
        if self.output.capacity() > OUTPUT_BUFFER_KEEP {
            self.output = Vec::with_capacity(INPUT_BUFFER_INITIAL);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Answers every `\n`-terminated line with `reply_len` bytes of `r`.
    struct LineEcho {
        reply_len: usize,
        executed: usize,
    }

    impl RequestExecutor for LineEcho {
        fn execute(&mut self, _: &mut Session, input: &[u8], out: &mut Vec<u8>) -> Step {
            match input.iter().position(|&b| b == b'\n') {
                None => Step::NeedMore,
                Some(end) => {
                    self.executed += 1;
                    out.resize(out.len() + self.reply_len, b'r');
                    let after =
                        if &input[..end] == b"quit" { After::Close } else { After::Continue };
                    Step::Done { consumed: end + 1, after }
                }
            }
        }
    }

    fn pair() -> (Connection, std::os::unix::net::UnixStream) {
        let (ours, theirs) = std::os::unix::net::UnixStream::pair().expect("pair");
        ours.set_nonblocking(true).expect("nonblocking");
        let stream = Stream::Unix(mio::net::UnixStream::from_std(ours));
        (Connection::new(stream, Session::default(), 0), theirs)
    }

    const LIMITS: DriveLimits =
        DriveLimits { reqs_per_event: 1000, output_cap: 256 * 1024, max_input: 1 << 20 };

    #[test]
    fn a_client_that_does_not_read_stops_being_read() {
        let (mut conn, mut client) = pair();
        let counters = WorkerCounters::default();
        let mut exec = LineEcho { reply_len: 100 * 1024, executed: 0 };
        client.write_all(&b"x\n".repeat(100)).expect("write");
        assert_eq!(conn.drive(&mut exec, &LIMITS, &counters, 0, false), Drive::Open);
        assert!(exec.executed < 100, "all requests were executed without the client reading");
        assert!(conn.pending_output() >= LIMITS.output_cap);
        assert!(conn.pending_output() < LIMITS.output_cap + 100 * 1024);
        // Driving again without the client reading changes nothing.
        let before = exec.executed;
        assert_eq!(conn.drive(&mut exec, &LIMITS, &counters, 0, false), Drive::Open);
        assert_eq!(exec.executed, before);
        // Once the client reads, the rest is served.
        client.set_nonblocking(true).expect("nonblocking");
        let mut received = 0;
        let mut buf = vec![0u8; 1 << 20];
        while received < 100 * 100 * 1024 {
            match client.read(&mut buf) {
                Ok(n) => received += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    assert_ne!(conn.drive(&mut exec, &LIMITS, &counters, 0, false), Drive::Close);
                }
                Err(e) => panic!("{e}"),
            }
        }
        assert_eq!(exec.executed, 100);
        assert_eq!(conn.pending_output(), 0);
    }

    #[test]
    fn reqs_per_event_yields_and_resumes() {
        let (mut conn, mut client) = pair();
        let counters = WorkerCounters::default();
        let mut exec = LineEcho { reply_len: 1, executed: 0 };
        let limits = DriveLimits { reqs_per_event: 2, ..LIMITS };
        client.write_all(b"a\nb\nc\n").expect("write");
        assert_eq!(conn.drive(&mut exec, &limits, &counters, 0, false), Drive::Yield);
        assert_eq!(exec.executed, 2);
        assert_eq!(conn.drive(&mut exec, &limits, &counters, 0, false), Drive::Open);
        assert_eq!(exec.executed, 3);
        assert_eq!(counters.conn_yields.load(std::sync::atomic::Ordering::Relaxed), 1);
        let mut replies = [0u8; 3];
        client.read_exact(&mut replies).expect("replies");
    }

    #[test]
    fn partial_requests_wait_and_quit_closes_after_flush() {
        let (mut conn, mut client) = pair();
        let counters = WorkerCounters::default();
        let mut exec = LineEcho { reply_len: 2, executed: 0 };
        client.write_all(b"par").expect("write");
        assert_eq!(conn.drive(&mut exec, &LIMITS, &counters, 0, false), Drive::Open);
        assert_eq!(exec.executed, 0);
        client.write_all(b"tial\nquit\nignored\n").expect("write");
        assert_eq!(conn.drive(&mut exec, &LIMITS, &counters, 7, false), Drive::Close);
        assert_eq!(exec.executed, 2, "nothing after quit is executed");
        assert_eq!(conn.last_active, 7);
        let mut replies = [0u8; 4];
        client.read_exact(&mut replies).expect("replies written before closing");
    }

    #[test]
    fn oversized_input_closes() {
        let (mut conn, mut client) = pair();
        let counters = WorkerCounters::default();
        let mut exec = LineEcho { reply_len: 1, executed: 0 };
        let limits = DriveLimits { max_input: 64 * 1024, ..LIMITS };
        client.set_nonblocking(true).expect("nonblocking");
        let _ = client.write(&vec![b'z'; 100 * 1024]);
        assert_eq!(conn.drive(&mut exec, &limits, &counters, 0, false), Drive::Close);
    }
}
