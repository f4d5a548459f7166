//! Stop requests: SIGTERM/SIGINT (stop now), SIGUSR1 (graceful stop) and the `shutdown` command,
//! delivered to the control loop through a self-pipe.
//!
//! ```text
//!  SIGTERM/SIGINT ─┐                     ┌──────────── StopLatch ────────────┐
//!  SIGUSR1 ────────┼─ sigaction handler ─┤ kind: AtomicU8 (first stop wins)  │
//!  `shutdown` cmd ─┘   (async-signal-    │ pipe: write(1 byte), non-blocking │──> control loop's
//!   (any worker)        safe: atomics +  └───────────────────────────────────┘    mio Poll wakes
//!                       write(2) only)
//! ```
//!
//! No crate is needed for this: the handler only touches an atomic and writes one byte.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicI32, AtomicU8, Ordering};
use std::sync::Arc;
use std::sync::OnceLock;

/// How the server was asked to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopKind {
    /// SIGTERM, SIGINT or `shutdown`: close every connection and exit now.
    Immediate,
    /// SIGUSR1 or `shutdown graceful`: stop accepting, finish buffered requests, then exit.
    Graceful,
}

const NOT_STOPPING: u8 = 0;
const STOP_IMMEDIATE: u8 = 1;
const STOP_GRACEFUL: u8 = 2;

/// The one place a stop request is recorded; readable from any thread.
#[derive(Debug)]
pub struct StopLatch {
    kind: AtomicU8,
    /// The signal that caused the stop (0 when it came from a command).
    signal: AtomicI32,
    read_end: OwnedFd,
    write_end: OwnedFd,
}

impl StopLatch {
    /// Creates the latch and its non-blocking self-pipe.
    pub fn new() -> io::Result<Self> {
        let mut fds = [0 as RawFd; 2];
        // SAFETY: `fds` is a valid two-element array for pipe2 to fill.
        let rc = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_NONBLOCK | libc::O_CLOEXEC) };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: pipe2 succeeded, so both descriptors are open and owned by nobody else.
        let (read_end, write_end) =
            unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        Ok(Self {
            kind: AtomicU8::new(NOT_STOPPING),
            signal: AtomicI32::new(0),
            read_end,
            write_end,
        })
    }

    /// Records a stop request (the first one wins, except that an immediate stop overrides a
    /// graceful one) and wakes the control loop. Async-signal-safe.
    pub fn request(&self, kind: StopKind) {
        let value = match kind {
            StopKind::Immediate => STOP_IMMEDIATE,
            StopKind::Graceful => STOP_GRACEFUL,
        };
        let _ = self.kind.compare_exchange(NOT_STOPPING, value, Ordering::SeqCst, Ordering::SeqCst);
        if value == STOP_IMMEDIATE {
            self.kind.store(STOP_IMMEDIATE, Ordering::SeqCst);
        }
        let byte = 1u8;
        // SAFETY: writing one byte from a valid stack buffer to our own pipe; the result is
        // ignored on purpose (a full pipe already carries a wake-up).
        unsafe {
            libc::write(self.write_end.as_raw_fd(), (&byte as *const u8).cast(), 1);
        }
    }

    /// The pending stop request, if any.
    pub fn requested(&self) -> Option<StopKind> {
        match self.kind.load(Ordering::SeqCst) {
            STOP_IMMEDIATE => Some(StopKind::Immediate),
            STOP_GRACEFUL => Some(StopKind::Graceful),
            _ => None,
        }
    }

    /// The signal number that caused the stop, if a signal did.
    pub fn signal(&self) -> Option<i32> {
        match self.signal.load(Ordering::SeqCst) {
            0 => None,
            n => Some(n),
        }
    }

    /// The pipe's read end, to register with a `mio::Poll` (readable = a request arrived).
    pub fn wake_fd(&self) -> RawFd {
        self.read_end.as_raw_fd()
    }

    /// Empties the pipe after a wake-up.
    pub fn drain(&self) {
        let mut buf = [0u8; 64];
        loop {
            // SAFETY: reading into a valid stack buffer of the given length from our own pipe.
            let n = unsafe { libc::read(self.read_end.as_raw_fd(), buf.as_mut_ptr().cast(), 64) };
            if n <= 0 {
                break;
            }
        }
    }
}

static INSTALLED: OnceLock<Arc<StopLatch>> = OnceLock::new();

extern "C" fn on_signal(signo: libc::c_int) {
    if let Some(latch) = INSTALLED.get() {
        latch.signal.store(signo, Ordering::SeqCst);
        let kind = if signo == libc::SIGUSR1 { StopKind::Graceful } else { StopKind::Immediate };
        latch.request(kind);
    }
}

/// Routes SIGTERM, SIGINT and SIGUSR1 to `latch` and ignores SIGPIPE and SIGHUP. Only the first latch
/// installed in a process receives signals.
pub fn install(latch: &Arc<StopLatch>) -> io::Result<()> {
    let _ = INSTALLED.set(Arc::clone(latch));
    for signo in [libc::SIGTERM, libc::SIGINT, libc::SIGUSR1] {
        // SAFETY: a zeroed sigaction is a valid starting value; we set a plain handler that only
        // performs async-signal-safe operations (atomics and write(2)).
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
            action.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut action.sa_mask);
            if libc::sigaction(signo, &action, std::ptr::null_mut()) != 0 {
                return Err(io::Error::last_os_error());
            }
        }
    }
    // SAFETY: setting SIGPIPE and SIGHUP to SIG_IGN is always valid: broken pipes then surface
    // as EPIPE, and a closed terminal does not stop the server (memcached ignores SIGHUP too).
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
        libc::signal(libc::SIGHUP, libc::SIG_IGN);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn immediate_overrides_graceful_and_pipe_wakes() {
        let latch = StopLatch::new().expect("pipe");
        assert_eq!(latch.requested(), None);
        latch.request(StopKind::Graceful);
        assert_eq!(latch.requested(), Some(StopKind::Graceful));
        latch.request(StopKind::Immediate);
        assert_eq!(latch.requested(), Some(StopKind::Immediate));
        latch.request(StopKind::Graceful);
        assert_eq!(latch.requested(), Some(StopKind::Immediate));
        let mut byte = 0u8;
        // SAFETY: valid one-byte buffer, our own pipe.
        let n = unsafe { libc::read(latch.wake_fd(), (&mut byte as *mut u8).cast(), 1) };
        assert_eq!(n, 1);
        latch.drain();
        // SAFETY: as above.
        let n = unsafe { libc::read(latch.wake_fd(), (&mut byte as *mut u8).cast(), 1) };
        assert_eq!(n, -1, "pipe should be empty after drain");
    }
}
