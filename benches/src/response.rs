//! Counting complete replies in a read buffer without copying or allocating.
//!
//! The load generator only needs to know where each reply ends and how many values it carried:
//!
//! ```text
//!   get reply:  VALUE <key> <flags> <bytes>\r\n<data>\r\n ... END\r\n
//!   set reply:  STORED\r\n   (or any other single line: NOT_STORED, SERVER_ERROR ..., ...)
//! ```

/// One complete reply found at the front of a buffer.
#[derive(Debug, PartialEq, Eq)]
pub struct Reply {
    /// Bytes the reply occupies.
    pub len: usize,
    /// VALUE blocks it carried (hits).
    pub values: usize,
    /// True when the reply was an error line (`ERROR`, `CLIENT_ERROR ...`, `SERVER_ERROR ...`).
    pub error: bool,
}

/// Finds the first complete reply in `buf`; `None` when more bytes are needed.
pub fn next_reply(buf: &[u8]) -> Option<Reply> {
    let mut at = 0;
    let mut values = 0;
    loop {
        let line_end = find_crlf(&buf[at..])? + at;
        let line = &buf[at..line_end];
        if let Some(header) = line.strip_prefix(b"VALUE ") {
            let data_len = last_number(header)?;
            let block_end = line_end + 2 + data_len + 2;
            if buf.len() < block_end {
                return None;
            }
            values += 1;
            at = block_end;
            continue;
        }
        let error = line.starts_with(b"ERROR")
            || line.starts_with(b"CLIENT_ERROR")
            || line.starts_with(b"SERVER_ERROR");
        return Some(Reply { len: line_end + 2, values, error });
    }
}

/// Offset of the first `\r\n` (found by its `\n` with memchr, so long replies scan fast).
fn find_crlf(buf: &[u8]) -> Option<usize> {
    let mut from = 0;
    loop {
        let newline = memchr::memchr(b'\n', &buf[from..])? + from;
        if newline > 0 && buf[newline - 1] == b'\r' {
            return Some(newline - 1);
        }
        from = newline + 1;
    }
}

/// The last space-separated decimal number of a VALUE header (`<key> <flags> <bytes> [<cas>]`
/// has the length third; gets adds a cas after it, so read the third token).
fn last_number(header: &[u8]) -> Option<usize> {
    let token = header.split(|&b| b == b' ').nth(2)?;
    let mut n: usize = 0;
    for &digit in token {
        if !digit.is_ascii_digit() {
            return None;
        }
        n = n.checked_mul(10)?.checked_add(usize::from(digit - b'0'))?;
    }
    Some(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_line_replies() {
        assert_eq!(next_reply(b"STORED\r\nEND"), Some(Reply { len: 8, values: 0, error: false }));
        assert_eq!(next_reply(b"END\r\n"), Some(Reply { len: 5, values: 0, error: false }));
        assert_eq!(next_reply(b"ERROR\r\n").map(|r| r.error), Some(true));
        assert_eq!(next_reply(b"STOR"), None);
    }

    #[test]
    fn value_blocks_are_skipped_by_length() {
        let reply = b"VALUE k 0 4\r\nEND\r\r\nVALUE k2 5 1 77\r\nx\r\nEND\r\n";
        assert_eq!(next_reply(reply), Some(Reply { len: reply.len(), values: 2, error: false }));
        for cut in 0..reply.len() {
            assert_eq!(next_reply(&reply[..cut]), None, "prefix of {cut} bytes");
        }
    }
}
