//! One TCP connection to one server: write requests, read replies in order (pipelining).
//!
//! ```text
//!   out buffer ──write_all──► socket ──► server
//!   read buffer ◄─read_buf── socket ◄── server
//!        │ memcached_codec::decode_response → one Response element (values split off
//!        │ the buffer as Bytes, no copy)
//!        ▼
//!   read_reply(Expect) → Reply
//! ```
//!
//! A connection that was last used for a `noreply` command may hold a late error line (memcached
//! sends errors even with `noreply`). Before its next request that expects an answer, the
//! connection writes `mn` first and discards everything up to the `MN` marker.

use crate::error::ServerErrorKind;
use crate::item::{Item, MetaResponse};
use crate::wire::{error_text, is_command_status, MetaCode};
use bytes::{Bytes, BytesMut};
use memcached_codec::{decode_response, MetaStatus, Response, StatusLine};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The reply a request expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Expect {
    /// A single status word (storage, delete, touch, flush_all, verbosity).
    Status,
    /// incr/decr: a number or NOT_FOUND.
    Number,
    /// VALUE* END.
    Values,
    /// At most one VALUE, then END (a single-key read: no list is allocated).
    Value,
    /// VERSION text.
    Version,
    /// STAT* END.
    Stats,
    /// One meta reply.
    Meta,
    /// A quiet meta call followed by `mn`: its reply (if memcached sends one) then `MN`; `MN`
    /// alone means the code given here. An error line is returned after its `MN` is read.
    QuietMeta(MetaCode),
    /// One status line of an administrative command (OK, BUSY …, MEMLIMIT_… ).
    AdminLine,
    /// Listing lines up to END (metadump, stats detail dump, cachedump, stats groups).
    AdminLines,
    /// Nothing (noreply).
    Nothing,
}

/// A parsed reply.
#[derive(Debug)]
pub(crate) enum Reply {
    /// A status word that passed [`is_command_status`].
    Status(StatusLine),
    Number(u64),
    Values(Vec<(Bytes, Item)>),
    Value(Option<Item>),
    Version(String),
    Stats(Vec<(String, String)>),
    Meta(MetaResponse),
    Line(String),
    Lines(Vec<String>),
    Nothing,
}

/// A connection with its buffers.
#[derive(Debug)]
pub(crate) struct Connection {
    stream: TcpStream,
    read: BytesMut,
    /// Request bytes to send; callers encode into it, `flush` sends and clears it.
    pub out: Vec<u8>,
    /// A noreply command was sent since the last synchronised reply.
    needs_sync: bool,
    /// Response elements decoded on this connection so far.
    pub units: u64,
    /// When the last request was sent (idle connections older than the idle timeout are
    /// dropped instead of reused).
    pub last_used: std::time::Instant,
}

fn io_kind(e: std::io::Error) -> ServerErrorKind {
    ServerErrorKind::Io(e)
}

impl Connection {
    /// Connects to `host:port` within `timeout`.
    pub async fn open(
        host: &str,
        port: u16,
        timeout: Duration,
    ) -> Result<Connection, ServerErrorKind> {
        let stream = match tokio::time::timeout(timeout, TcpStream::connect((host, port))).await {
            Err(_) => return Err(ServerErrorKind::ConnectTimeout(timeout)),
            Ok(Err(e)) => return Err(ServerErrorKind::Connect(e)),
            Ok(Ok(stream)) => stream,
        };
        let _ = stream.set_nodelay(true);
        Ok(Connection {
            stream,
            read: BytesMut::with_capacity(16 * 1024),
            out: Vec::with_capacity(1024),
            needs_sync: false,
            units: 0,
            last_used: std::time::Instant::now(),
        })
    }

    /// Sends the `out` buffer (after an `mn` resync if a noreply command left it unsure).
    /// `expects_reply` says whether the requests in `out` get answers.
    pub async fn flush(&mut self, expects_reply: bool) -> Result<(), ServerErrorKind> {
        self.last_used = std::time::Instant::now();
        let resync = self.needs_sync && expects_reply;
        if resync {
            self.stream.write_all(b"mn\r\n").await.map_err(io_kind)?;
        }
        self.stream.write_all(&self.out).await.map_err(io_kind)?;
        self.out.clear();
        if resync {
            // Everything before MN belongs to earlier noreply commands: late error lines.
            loop {
                if let Response::Meta(m) = self.next_response().await? {
                    if m.status == MetaStatus::Noop {
                        break;
                    }
                }
            }
            self.needs_sync = false;
        }
        if !expects_reply {
            self.needs_sync = true;
        }
        Ok(())
    }

    async fn next_response(&mut self) -> Result<Response, ServerErrorKind> {
        loop {
            match decode_response(&mut self.read) {
                Ok(Some(response)) => {
                    self.units += 1;
                    return Ok(response);
                }
                Ok(None) => {
                    if self.read.capacity() - self.read.len() < 4096 {
                        self.read.reserve(64 * 1024);
                    }
                    let n = self.stream.read_buf(&mut self.read).await.map_err(io_kind)?;
                    if n == 0 {
                        return Err(ServerErrorKind::Io(std::io::Error::new(
                            std::io::ErrorKind::UnexpectedEof,
                            "server closed the connection",
                        )));
                    }
                }
                Err(e) => return Err(ServerErrorKind::Protocol(e.to_string())),
            }
        }
    }

    /// The reply of a quiet meta call and the `mn` after it (see [`Expect::QuietMeta`]).
    async fn read_quiet_meta(&mut self, suppressed: MetaCode) -> Result<Reply, ServerErrorKind> {
        let mut answer = None;
        let mut error = None;
        loop {
            let response = self.next_response().await?;
            if let Some(text) = error_text(&response) {
                error.get_or_insert(text);
                continue;
            }
            match response {
                Response::Meta(m) if m.status == MetaStatus::Noop => {
                    if let Some(text) = error {
                        return Err(ServerErrorKind::Reply(text));
                    }
                    let said = answer.unwrap_or(MetaResponse {
                        code: suppressed,
                        flags: Bytes::new(),
                        value: None,
                    });
                    return Ok(Reply::Meta(said));
                }
                Response::Meta(m) if answer.is_none() => {
                    answer = Some(MetaResponse {
                        code: MetaCode::from_status(m.status),
                        flags: m.flags,
                        value: m.data,
                    });
                }
                other => {
                    return Err(ServerErrorKind::Protocol(format!(
                        "unexpected reply {other:?} for a quiet meta call"
                    )))
                }
            }
        }
    }

    /// Reads the reply of one request (one or more response elements).
    pub async fn read_reply(&mut self, expect: Expect) -> Result<Reply, ServerErrorKind> {
        if expect == Expect::Nothing {
            return Ok(Reply::Nothing);
        }
        let mut values = Vec::new();
        let mut single = None;
        let mut stats = Vec::new();
        let mut lines = Vec::new();
        if let Expect::QuietMeta(suppressed) = expect {
            return self.read_quiet_meta(suppressed).await;
        }
        loop {
            let response = self.next_response().await?;
            if let Some(text) = error_text(&response) {
                return Err(ServerErrorKind::Reply(text));
            }
            match (expect, response) {
                (Expect::Status | Expect::Number, Response::Status(line))
                    if is_command_status(line) =>
                {
                    return Ok(Reply::Status(line))
                }
                (Expect::Number, Response::Number(n)) => return Ok(Reply::Number(n)),
                (Expect::Value, Response::Value(v)) if single.is_none() => {
                    single = Some(Item { value: v.data, flags: v.flags, cas: v.cas });
                }
                (Expect::Value, Response::Status(StatusLine::End)) => {
                    return Ok(Reply::Value(single))
                }
                (Expect::Values, Response::Value(v)) => {
                    values.push((v.key, Item { value: v.data, flags: v.flags, cas: v.cas }));
                }
                (Expect::Values, Response::Status(StatusLine::End)) => {
                    return Ok(Reply::Values(values))
                }
                (Expect::Stats, Response::Status(StatusLine::End)) => {
                    return Ok(Reply::Stats(stats))
                }
                (Expect::Stats, Response::Stat { name, value }) => stats.push((
                    String::from_utf8_lossy(&name).into_owned(),
                    String::from_utf8_lossy(&value).into_owned(),
                )),
                (Expect::Version, Response::Version(text)) => {
                    return Ok(Reply::Version(String::from_utf8_lossy(&text).into_owned()))
                }
                (Expect::Meta, Response::Meta(m)) => {
                    return Ok(Reply::Meta(MetaResponse {
                        code: MetaCode::from_status(m.status),
                        flags: m.flags,
                        value: m.data,
                    }))
                }
                (Expect::AdminLine, Response::Status(line)) => {
                    let text = line.line_with_crlf();
                    let text = text.strip_suffix(b"\r\n").unwrap_or(text);
                    return Ok(Reply::Line(String::from_utf8_lossy(text).into_owned()));
                }
                (Expect::AdminLines, Response::Status(StatusLine::End)) => {
                    return Ok(Reply::Lines(lines))
                }
                (Expect::AdminLines, Response::Stat { name, value }) => lines.push(format!(
                    "STAT {} {}",
                    String::from_utf8_lossy(&name),
                    String::from_utf8_lossy(&value)
                )),
                (Expect::AdminLines, Response::Other(line)) => {
                    lines.push(String::from_utf8_lossy(&line).into_owned())
                }
                (_, response) => {
                    return Err(ServerErrorKind::Protocol(format!(
                        "unexpected reply {response:?} for {expect:?}"
                    )))
                }
            }
        }
    }
}
