//! Base64 for meta-command keys (the `b` flag), as memcached 1.6.18 does it.
//!
//! memcached's decoder (from hostap) is lenient: bytes outside the alphabet
//! are skipped, the remaining symbols must come in groups of four, and the
//! first group holding `=` padding ends the input (1 or 2 pad symbols; more
//! is an error). A result of zero bytes counts as a failure. The encoder writes
//! standard padded base64 with no line breaks. Both work on caller buffers.

use bytes::BufMut;

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const INVALID: u8 = 0x80;

const fn decode_table() -> [u8; 256] {
    let mut table = [INVALID; 256];
    let mut i = 0;
    while i < 64 {
        table[ALPHABET[i] as usize] = i as u8;
        i += 1;
    }
    table[b'=' as usize] = 0;
    table
}

static DECODE: [u8; 256] = decode_table();

/// Decodes `src` into `out`; returns the decoded length, or `None` where
/// memcached's `base64_decode` returns 0 (bad length, bad padding, empty
/// result, or `out` too small).
pub fn decode_key(src: &[u8], out: &mut [u8]) -> Option<usize> {
    let symbols = src.iter().filter(|&&b| DECODE[b as usize] != INVALID).count();
    if symbols == 0 || symbols % 4 != 0 || symbols / 4 * 3 > out.len() {
        return None;
    }
    let mut pos = 0;
    let mut block = [0u8; 4];
    let mut count = 0;
    let mut pad = 0;
    for &b in src {
        let v = DECODE[b as usize];
        if v == INVALID {
            continue;
        }
        if b == b'=' {
            pad += 1;
        }
        block[count] = v;
        count += 1;
        if count == 4 {
            out[pos] = (block[0] << 2) | (block[1] >> 4);
            out[pos + 1] = (block[1] << 4) | (block[2] >> 2);
            out[pos + 2] = (block[2] << 6) | block[3];
            pos += 3;
            count = 0;
            if pad > 0 {
                match pad {
                    1 => pos -= 1,
                    2 => pos -= 2,
                    _ => return None,
                }
                break;
            }
        }
    }
    if pos == 0 {
        None
    } else {
        Some(pos)
    }
}

/// Appends the padded base64 form of `src`.
pub fn encode_key<B: BufMut>(src: &[u8], out: &mut B) {
    for chunk in src.chunks(3) {
        let b0 = chunk[0];
        let b1 = chunk.get(1).copied().unwrap_or(0);
        let b2 = chunk.get(2).copied().unwrap_or(0);
        out.put_u8(ALPHABET[(b0 >> 2) as usize]);
        out.put_u8(ALPHABET[(((b0 & 0x03) << 4) | (b1 >> 4)) as usize]);
        if chunk.len() > 1 {
            out.put_u8(ALPHABET[(((b1 & 0x0f) << 2) | (b2 >> 6)) as usize]);
        } else {
            out.put_u8(b'=');
        }
        if chunk.len() > 2 {
            out.put_u8(ALPHABET[(b2 & 0x3f) as usize]);
        } else {
            out.put_u8(b'=');
        }
    }
}

/// Length of the base64 form of `n` bytes.
pub fn encoded_len(n: usize) -> usize {
    n.div_ceil(3) * 4
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(s: &[u8]) -> Option<Vec<u8>> {
        let mut buf = [0u8; 256];
        decode_key(s, &mut buf).map(|n| buf[..n].to_vec())
    }

    #[test]
    fn decodes_like_memcached() {
        assert_eq!(dec(b"a2V5").as_deref(), Some(&b"key"[..]));
        assert_eq!(dec(b"aw==").as_deref(), Some(&b"k"[..]));
        assert_eq!(dec(b"a2s=").as_deref(), Some(&b"kk"[..]));
        // Bytes outside the alphabet are skipped.
        assert_eq!(dec(b"a!2V!5").as_deref(), Some(&b"key"[..]));
        assert_eq!(dec(b"!!!!"), None);
        assert_eq!(dec(b"abc"), None);
        assert_eq!(dec(b"a==="), None);
        assert_eq!(dec(b"===="), None);
        assert_eq!(dec(b""), None);
    }

    #[test]
    fn round_trips() {
        for len in 1..=200usize {
            let data: Vec<u8> = (0..len).map(|i| (i * 37 + 11) as u8).collect();
            let mut enc = Vec::new();
            encode_key(&data, &mut enc);
            assert_eq!(enc.len(), encoded_len(len));
            assert_eq!(dec(&enc).unwrap(), data);
        }
    }
}
