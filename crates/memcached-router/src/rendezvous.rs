//! pymemcache's rendezvous (highest random weight) hashing, for pools shared with Python
//! services that use `pymemcache.client.hash.HashClient`.
//!
//! ```text
//!   for each live server s:  score(s) = murmur3_32(chars("host:port-" + key) & 0xff, seed 0)
//!   owner = argmax score   (ties: the larger "host:port" string, as pymemcache's max(str, str))
//! ```
//!
//! Removing a server moves only the keys it owned; no ring is kept, every lookup hashes the
//! key once per live server.

use crate::hash::murmur3_x86_32;

/// pymemcache's rendezvous score: `murmur3_32` (seed 0) over the characters of
/// `"{node}-{key}"`, each character taken `& 0xff` (pymemcache hashes Python `str` characters,
/// not UTF-8 bytes). A key that is not UTF-8 is taken byte by byte.
pub fn rendezvous_score(node: &str, key: &[u8]) -> u32 {
    let mut stack = [0u8; 1024];
    let mut heap = Vec::new();
    let mut len = 0;
    let mut push = |b: u8| {
        if len < stack.len() {
            stack[len] = b;
        } else {
            if heap.is_empty() {
                heap.extend_from_slice(&stack);
            }
            heap.push(b);
        }
        len += 1;
    };
    for c in node.chars() {
        push(c as u32 as u8);
    }
    push(b'-');
    match std::str::from_utf8(key) {
        Ok(text) => text.chars().for_each(|c| push(c as u32 as u8)),
        Err(_) => key.iter().for_each(|&b| push(b)),
    }
    let data = if len <= stack.len() { &stack[..len] } else { &heap[..] };
    murmur3_x86_32(data, 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_characters_not_utf8_bytes() {
        // "é" is one character (U+00E9 → 0xe9), two UTF-8 bytes.
        assert_eq!(rendezvous_score("h:1", "é".as_bytes()), murmur3_x86_32(b"h:1-\xe9", 0));
        assert_eq!(rendezvous_score("h:1", b"abc"), murmur3_x86_32(b"h:1-abc", 0));
        // Not UTF-8: byte by byte.
        assert_eq!(rendezvous_score("h:1", b"\xff"), murmur3_x86_32(b"h:1-\xff", 0));
    }

    #[test]
    fn long_inputs_spill_to_the_heap() {
        let key = vec![b'k'; 2000];
        let mut expected = b"h:1-".to_vec();
        expected.extend_from_slice(&key);
        assert_eq!(rendezvous_score("h:1", &key), murmur3_x86_32(&expected, 0));
    }
}
