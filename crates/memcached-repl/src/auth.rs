//! The shared-secret proof of the handshake: HMAC-MD5 (RFC 2104) over a label, the prover's and
//! the verifier's node ids and the verifier's nonce. Binding both ids stops a reflection attack
//! (an attacker replaying our own challenge back to us on a second connection gets a proof for
//! the wrong prover); a fresh nonce per connection stops a replay of an old proof.

use md5::{Digest, Md5};

const BLOCK: usize = 64;
const LABEL: &[u8] = b"mcrepl-auth-v1";

/// HMAC-MD5(key, parts concatenated).
fn hmac_md5(key: &[u8], parts: &[&[u8]]) -> [u8; 16] {
    let mut k = [0u8; BLOCK];
    if key.len() > BLOCK {
        k[..16].copy_from_slice(&Md5::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let mut inner = Md5::new();
    inner.update(k.map(|b| b ^ 0x36));
    for p in parts {
        inner.update(p);
    }
    let mut outer = Md5::new();
    outer.update(k.map(|b| b ^ 0x5c));
    outer.update(inner.finalize());
    outer.finalize().into()
}

/// The proof `prover` sends to `verifier`, whose Hello carried `verifier_nonce`.
pub(crate) fn proof(
    secret: &[u8],
    prover: u64,
    verifier: u64,
    verifier_nonce: &[u8; 16],
) -> [u8; 16] {
    hmac_md5(secret, &[LABEL, &prover.to_be_bytes(), &verifier.to_be_bytes(), verifier_nonce])
}

/// Constant-time comparison of two proofs.
pub(crate) fn proofs_equal(a: &[u8; 16], b: &[u8; 16]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A per-connection challenge: a digest of a per-session random seed, the node id, the time and
/// a connection counter (never repeats within a process; not guessable without the seed).
pub(crate) fn nonce(seed: u64, node: u64, unix_ms: u64, counter: u64) -> [u8; 16] {
    let mut h = Md5::new();
    for v in [seed, node, unix_ms, counter] {
        h.update(v.to_be_bytes());
    }
    h.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_md5_matches_rfc2202_vectors() {
        // RFC 2202 test case 2.
        let mac = hmac_md5(b"Jefe", &[b"what do ya want ", b"for nothing?"]);
        assert_eq!(
            mac,
            [
                0x75, 0x0c, 0x78, 0x3e, 0x6a, 0xb0, 0xb5, 0x03, 0xea, 0xa8, 0x6e, 0x31, 0x0a, 0x5d,
                0xb7, 0x38
            ]
        );
        // RFC 2202 test case 6: a key longer than the block.
        let mac =
            hmac_md5(&[0xaa; 80], &[b"Test Using Larger Than Block-Size Key - Hash Key First"]);
        assert_eq!(
            mac,
            [
                0x6b, 0x1a, 0xb7, 0xfe, 0x4b, 0xd7, 0xbf, 0x8f, 0x0b, 0x62, 0xe6, 0xce, 0x61, 0xb9,
                0xd0, 0xcd
            ]
        );
    }

    #[test]
    fn proof_depends_on_direction_and_nonce() {
        let n = [3u8; 16];
        let p = proof(b"s", 1, 2, &n);
        assert!(proofs_equal(&p, &proof(b"s", 1, 2, &n)));
        assert!(!proofs_equal(&p, &proof(b"s", 2, 1, &n)));
        assert!(!proofs_equal(&p, &proof(b"t", 1, 2, &n)));
        assert!(!proofs_equal(&p, &proof(b"s", 1, 2, &[4; 16])));
        assert_ne!(nonce(1, 2, 3, 4), nonce(1, 2, 3, 5));
    }
}
