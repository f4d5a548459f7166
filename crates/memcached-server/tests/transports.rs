//! UNIX-domain sockets (`-s`, `-a`) and UDP (`-U`, 8-byte frame header).

mod common;

use std::os::unix::fs::PermissionsExt;

use common::{get_reply, set_request, ServerProcess};

#[test]
fn unix_socket_serves_and_has_the_requested_mode() {
    let server = ServerProcess::ours().unix().args(["-a", "0755"]).start();
    let path = server.unix_path.clone().expect("path");
    let mode = std::fs::metadata(&path).expect("socket file").permissions().mode() & 0o777;
    assert_eq!(mode, 0o755);
    let mut c = server.connect();
    c.roundtrip("set k 0 0 2\r\nhi\r\nget k\r\n", "STORED\r\nVALUE k 0 2\r\nhi\r\nEND\r\n");
    let conns = c.stats("conns");
    assert!(conns.iter().any(|(k, v)| k.ends_with(":addr") && v.starts_with("unix:")), "{conns:?}");
}

fn udp_request(id: u16, payload: &[u8]) -> Vec<u8> {
    let mut datagram = vec![(id >> 8) as u8, id as u8, 0, 0, 0, 1, 0, 0];
    datagram.extend_from_slice(payload);
    datagram
}

#[test]
fn udp_frames_requests_and_responses() {
    let server = ServerProcess::ours().udp().start();
    let socket = server.udp_client();
    socket.send(&udp_request(0x1234, b"set u 7 0 3\r\nabc\r\n")).expect("send");
    let mut buf = [0u8; 2048];
    let n = socket.recv(&mut buf).expect("reply");
    assert_eq!(&buf[..8], &[0x12, 0x34, 0, 0, 0, 1, 0, 0]);
    assert_eq!(&buf[8..n], b"STORED\r\n");

    socket.send(&udp_request(7, b"get u\r\n")).expect("send");
    let n = socket.recv(&mut buf).expect("reply");
    assert_eq!(&buf[..8], &[0, 7, 0, 0, 0, 1, 0, 0]);
    assert_eq!(&buf[8..n], b"VALUE u 7 3\r\nabc\r\nEND\r\n");

    // A TCP client sees what UDP stored.
    let mut c = server.connect();
    c.roundtrip("get u\r\n", "VALUE u 7 3\r\nabc\r\nEND\r\n");
}

#[test]
fn udp_large_response_spans_numbered_datagrams() {
    let server = ServerProcess::ours().udp().start();
    let mut c = server.connect();
    let value = vec![b'q'; 5000];
    c.roundtrip(set_request("big", 0, &value), "STORED\r\n");

    let socket = server.udp_client();
    socket.send(&udp_request(99, b"get big\r\n")).expect("send");
    let mut parts: Vec<(u16, Vec<u8>)> = Vec::new();
    let mut total = None;
    let mut buf = [0u8; 65536];
    while total.is_none_or(|t| parts.len() < usize::from(t)) {
        let n = socket.recv(&mut buf).expect("datagram");
        assert!(n <= 1400, "datagram of {n} bytes");
        assert_eq!(u16::from_be_bytes([buf[0], buf[1]]), 99);
        total = Some(u16::from_be_bytes([buf[4], buf[5]]));
        parts.push((u16::from_be_bytes([buf[2], buf[3]]), buf[8..n].to_vec()));
    }
    parts.sort_by_key(|(seq, _)| *seq);
    let body: Vec<u8> = parts.into_iter().flat_map(|(_, p)| p).collect();
    assert_eq!(body, get_reply("big", 0, &value));
}

#[test]
fn udp_multi_datagram_requests_are_dropped() {
    let server = ServerProcess::ours().udp().start();
    let socket = server.udp_client();
    // total = 2: memcached drops it silently.
    let mut bad = vec![0, 1, 0, 0, 0, 2, 0, 0];
    bad.extend_from_slice(b"version\r\n");
    socket.send(&bad).expect("send");
    socket.send(&udp_request(2, b"version\r\n")).expect("send");
    let mut buf = [0u8; 2048];
    let n = socket.recv(&mut buf).expect("reply");
    assert_eq!(&buf[..2], &[0, 2], "only the single-datagram request is answered");
    assert_eq!(&buf[8..n], b"VERSION 1.6.18\r\n");
}

/// Every datagram answering one request: (sequence, total, payload), in arrival order.
fn udp_exchange(socket: &std::net::UdpSocket, id: u16, payload: &[u8]) -> Vec<(u16, u16, Vec<u8>)> {
    socket.send(&udp_request(id, payload)).expect("send");
    socket.set_read_timeout(Some(std::time::Duration::from_millis(200))).expect("timeout");
    let mut got = Vec::new();
    let mut buf = [0u8; 65536];
    while let Ok(n) = socket.recv(&mut buf) {
        assert_eq!(u16::from_be_bytes([buf[0], buf[1]]), id);
        got.push((
            u16::from_be_bytes([buf[2], buf[3]]),
            u16::from_be_bytes([buf[4], buf[5]]),
            buf[8..n].to_vec(),
        ));
    }
    got
}

#[test]
fn udp_messages_split_like_memcached() {
    let reference = ServerProcess::memcached().udp().start();
    let ours = ServerProcess::ours().udp().start();
    for server in [&reference, &ours] {
        server.connect().roundtrip("set a 0 0 1\r\n1\r\n", "STORED\r\n");
    }
    for payload in [
        &b"get nope\r\nversion\r\n"[..],
        b"get a nope\r\n",
        b"get nope a\r\n",
        b"get nope a nope\r\n",
        b"get a a a\r\n",
        b"set b 0 0 1 noreply\r\n2\r\nget b\r\n",
        b"mg a v\r\nmn\r\n",
    ] {
        let theirs = udp_exchange(&reference.udp_client(), 9, payload);
        let mine = udp_exchange(&ours.udp_client(), 9, payload);
        assert_eq!(mine, theirs, "UDP reply to {:?}", String::from_utf8_lossy(payload));
    }
}

#[test]
fn unix_socket_replies_match_memcached() {
    let reference = ServerProcess::memcached().unix().start();
    let ours = ServerProcess::ours().unix().start();
    let script =
        "set a 1 0 3\r\nabc\r\nget a nope\r\nincr a 1\r\nmg a v f\r\ndelete a\r\nget a\r\n";
    let theirs = reference.connect().script(script);
    let mine = ours.connect().script(script);
    assert_eq!(String::from_utf8_lossy(&mine), String::from_utf8_lossy(&theirs));
    // `stats conns` gives the listening path (memcached 1.6.18 truncates long paths and shows
    // UNIX clients as `?:<AF 0>`; we print the full path for both).
    let conns = ours.connect().stats("conns");
    let path = ours.unix_path.clone().expect("path").display().to_string();
    assert!(conns.iter().any(|(k, v)| k.ends_with(":listen_addr") && *v == format!("unix:{path}")));
}
