//! FastLZ decompression (levels 1 and 2), the default compression of php-memcached.
//!
//! ```text
//!   stream  = instruction*            the first byte's top 3 bits: level - 1 (0 or 1)
//!   literal = ctrl(000nnnnn) + n+1 bytes to copy
//!   match   = ctrl(LLLooooo) [len bytes] distance byte [16-bit distance]
//!             length = L + 2 (L = 7: + following length byte(s)), copied from
//!             `distance + 1` bytes back in the output (byte by byte: may overlap)
//!   level 1: one extra length byte;  level 2: length bytes until one is not 255, and a
//!            distance of 31 << 8 | 255 means "a 16-bit distance follows, plus 8191"
//! ```
//!
//! Hostile input never panics: every read and every back reference is checked, and the
//! output is capped at `max_output` bytes.

use thiserror::Error;

/// Why a FastLZ stream could not be decompressed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum FastLzError {
    /// The stream ends inside an instruction.
    #[error("fastlz stream truncated")]
    Truncated,
    /// A match refers to bytes before the start of the output.
    #[error("fastlz match reaches before the output")]
    BadDistance,
    /// The first byte names a level other than 1 or 2.
    #[error("fastlz level {0} is not known")]
    UnknownLevel(u8),
    /// The output would exceed the limit the caller set.
    #[error("fastlz output larger than {0} bytes")]
    TooLarge(usize),
}

/// Longest distance of a level-2 match without the 16-bit extension.
const MAX_L2_DISTANCE: usize = 8191;

/// Decompresses a whole FastLZ stream, producing at most `max_output` bytes.
pub fn decompress(input: &[u8], max_output: usize) -> Result<Vec<u8>, FastLzError> {
    let Some(&first) = input.first() else {
        return Ok(Vec::new());
    };
    let level = (first >> 5) + 1;
    if level > 2 {
        return Err(FastLzError::UnknownLevel(level));
    }
    let mut out = Vec::new();
    let mut pos = 1;
    let mut ctrl = usize::from(first & 31);
    let next = |pos: &mut usize| -> Result<usize, FastLzError> {
        let byte = *input.get(*pos).ok_or(FastLzError::Truncated)?;
        *pos += 1;
        Ok(usize::from(byte))
    };
    loop {
        if ctrl < 32 {
            let literal = input.get(pos..pos + ctrl + 1).ok_or(FastLzError::Truncated)?;
            if out.len() + literal.len() > max_output {
                return Err(FastLzError::TooLarge(max_output));
            }
            out.extend_from_slice(literal);
            pos += ctrl + 1;
        } else {
            let mut len = (ctrl >> 5) - 1;
            let high = (ctrl & 31) << 8;
            let back = if level == 1 {
                if len == 6 {
                    len += next(&mut pos)?;
                }
                high + next(&mut pos)? + 1
            } else {
                if len == 6 {
                    loop {
                        let code = next(&mut pos)?;
                        len += code;
                        if code != 255 {
                            break;
                        }
                    }
                }
                let low = next(&mut pos)?;
                if low == 255 && high == 31 << 8 {
                    let far = (next(&mut pos)? << 8) + next(&mut pos)?;
                    far + MAX_L2_DISTANCE + 1
                } else {
                    high + low + 1
                }
            };
            len += 3;
            let start = out.len().checked_sub(back).ok_or(FastLzError::BadDistance)?;
            if out.len() + len > max_output {
                return Err(FastLzError::TooLarge(max_output));
            }
            // Byte by byte: a match may overlap what it produces (a run).
            for i in 0..len {
                let byte = out[start + i];
                out.push(byte);
            }
        }
        if pos >= input.len() {
            return Ok(out);
        }
        ctrl = next(&mut pos)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_runs_and_overlapping_matches() {
        // "abc" literal, then a match of 6 bytes at distance 3: "abcabcabc".
        let stream = [0x02, b'a', b'b', b'c', (4 << 5), 2];
        assert_eq!(decompress(&stream, 100).unwrap(), b"abcabcabc");
        // Level 2 with a long length (7 + 255 + 1) at distance 1.
        let stream = [0x20, b'x', (7 << 5), 255, 1, 0];
        assert_eq!(decompress(&stream, 1000).unwrap(), vec![b'x'; 1 + 6 + 255 + 1 + 3]);
    }

    #[test]
    fn hostile_streams_are_refused() {
        assert_eq!(decompress(&[0x05, b'a'], 100), Err(FastLzError::Truncated));
        assert_eq!(decompress(&[0x00, b'a', (1 << 5), 5], 100), Err(FastLzError::BadDistance));
        assert_eq!(decompress(&[0x60], 100), Err(FastLzError::UnknownLevel(4)));
        assert_eq!(decompress(&[0x02, 1, 2, 3], 2), Err(FastLzError::TooLarge(2)));
        assert_eq!(decompress(&[], 0), Ok(Vec::new()));
    }
}
