//! libhashkit's key hashes, bit for bit as Debian's x86-64 `libhashkit.so.2` computes them.
//!
//! Every function takes the key bytes exactly as the application passed them and returns the
//! `u32` libhashkit returns. Three libhashkit habits are reproduced on purpose:
//!
//! * **signed `char`**: `one_at_a_time`, `fnv1_32`, `fnv1a_32`, `fnv1_64` and `fnv1a_64` read
//!   each byte through a (signed, on x86-64) `const char *` and widen it, so a byte `0x80`
//!   enters the hash as `0xFFFF_FF80`. [`sign_extend`] does that widening.
//! * **15-bit crc**: libhashkit's "crc" is `(crc32(key) >> 16) & 0x7fff`.
//! * **32-bit "fnv1a_64"**: the 64-bit FNV constants truncated to 32 bits.
//!
//! `murmur` (MurmurHash2) and `murmur3` (MurmurHash3 x86_32) are seeded with
//! `0xdeadbeef * len`; `jenkins` is lookup3 `hashlittle` with the initial value 13.
//!
//! ```text
//! key bytes ──► HashAlgorithm::hash ──► u32 ──► modula: % n
//!                                         └──► consistent: lower_bound on the continuum
//! ```

/// A libhashkit key hash (`memcached_hash_t`, php-memcached `OPT_HASH`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum HashAlgorithm {
    /// `HASH_DEFAULT`: Bob Jenkins' one-at-a-time, signed-char widening (libmemcached default).
    #[default]
    OneAtATime,
    /// `HASH_MD5`: the first four bytes of the MD5 digest, little-endian.
    Md5,
    /// `HASH_CRC`: `(crc32(key) >> 16) & 0x7fff`.
    Crc,
    /// `HASH_FNV1_64`: 64-bit FNV-1 state, truncated to 32 bits at the end.
    Fnv1_64,
    /// `HASH_FNV1A_64`: really 32-bit FNV-1a with the 64-bit constants truncated.
    Fnv1a64,
    /// `HASH_FNV1_32`.
    Fnv1_32,
    /// `HASH_FNV1A_32`.
    Fnv1a32,
    /// `HASH_MURMUR`: MurmurHash2, seed `0xdeadbeef * len`.
    Murmur,
    /// `HASH_JENKINS`: lookup3 `hashlittle`, initial value 13.
    Jenkins,
    /// `HASH_MURMUR3`: MurmurHash3 x86_32, seed `0xdeadbeef * len`.
    Murmur3,
}

impl HashAlgorithm {
    /// Hashes `key` the way libhashkit does.
    pub fn hash(self, key: &[u8]) -> u32 {
        match self {
            HashAlgorithm::OneAtATime => one_at_a_time(key),
            HashAlgorithm::Md5 => md5_le32(key, 0),
            HashAlgorithm::Crc => crc(key),
            HashAlgorithm::Fnv1_64 => fnv1_64(key),
            HashAlgorithm::Fnv1a64 => fnv1a_64(key),
            HashAlgorithm::Fnv1_32 => fnv1_32(key),
            HashAlgorithm::Fnv1a32 => fnv1a_32(key),
            HashAlgorithm::Murmur => murmur(key),
            HashAlgorithm::Jenkins => jenkins(key),
            HashAlgorithm::Murmur3 => murmur3(key),
        }
    }

    /// The lowercase name used by the `route` example and the vector files.
    pub fn name(self) -> &'static str {
        match self {
            HashAlgorithm::OneAtATime => "one_at_a_time",
            HashAlgorithm::Md5 => "md5",
            HashAlgorithm::Crc => "crc",
            HashAlgorithm::Fnv1_64 => "fnv1_64",
            HashAlgorithm::Fnv1a64 => "fnv1a_64",
            HashAlgorithm::Fnv1_32 => "fnv1_32",
            HashAlgorithm::Fnv1a32 => "fnv1a_32",
            HashAlgorithm::Murmur => "murmur",
            HashAlgorithm::Jenkins => "jenkins",
            HashAlgorithm::Murmur3 => "murmur3",
        }
    }

    /// Parses a name as printed by [`HashAlgorithm::name`] (`default` means one_at_a_time).
    pub fn from_name(name: &str) -> Option<HashAlgorithm> {
        const ALL: [HashAlgorithm; 10] = [
            HashAlgorithm::OneAtATime,
            HashAlgorithm::Md5,
            HashAlgorithm::Crc,
            HashAlgorithm::Fnv1_64,
            HashAlgorithm::Fnv1a64,
            HashAlgorithm::Fnv1_32,
            HashAlgorithm::Fnv1a32,
            HashAlgorithm::Murmur,
            HashAlgorithm::Jenkins,
            HashAlgorithm::Murmur3,
        ];
        if name == "default" {
            return Some(HashAlgorithm::OneAtATime);
        }
        ALL.into_iter().find(|a| a.name() == name)
    }
}

/// Widens a byte the way x86-64 C widens a `char` (signed) to `uint32_t`.
#[inline]
pub fn sign_extend(byte: u8) -> u32 {
    byte as i8 as i32 as u32
}

/// libhashkit `hashkit_one_at_a_time` (signed-char widening).
pub fn one_at_a_time(key: &[u8]) -> u32 {
    let mut value: u32 = 0;
    for &byte in key {
        value = value.wrapping_add(sign_extend(byte));
        value = value.wrapping_add(value << 10);
        value ^= value >> 6;
    }
    value = value.wrapping_add(value << 3);
    value ^= value >> 11;
    value.wrapping_add(value << 15)
}

/// The 16-byte MD5 digest of `bytes`.
#[inline]
pub fn md5_digest(bytes: &[u8]) -> [u8; 16] {
    use md5::{Digest, Md5};
    Md5::digest(bytes).into()
}

/// Little-endian `u32` taken from bytes `4*word .. 4*word+4` of a digest (`word` in 0..4).
#[inline]
pub fn digest_le32(digest: &[u8; 16], word: usize) -> u32 {
    let at = word * 4;
    u32::from_le_bytes([digest[at], digest[at + 1], digest[at + 2], digest[at + 3]])
}

/// `md5_le32(bytes, word)`: libmemcached's `ketama_server_hash` (and, with `word == 0`,
/// libhashkit's md5 key hash).
#[inline]
pub fn md5_le32(bytes: &[u8], word: usize) -> u32 {
    digest_le32(&md5_digest(bytes), word)
}

/// The reflected CRC-32 (IEEE 802.3) table, computed at compile time.
const CRC32_TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut bit = 0;
        while bit < 8 {
            c = if c & 1 != 0 { 0xEDB8_8320 ^ (c >> 1) } else { c >> 1 };
            bit += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
};

/// Plain CRC-32 (IEEE) of `bytes`.
pub fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = u32::MAX;
    for &byte in bytes {
        crc = (crc >> 8) ^ CRC32_TABLE[((crc ^ byte as u32) & 0xff) as usize];
    }
    !crc
}

/// libhashkit `hashkit_crc32`: only 15 bits of the CRC survive.
pub fn crc(key: &[u8]) -> u32 {
    (crc32(key) >> 16) & 0x7fff
}

const FNV_64_INIT: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_64_PRIME: u64 = 0x0000_0100_0000_01b3;
const FNV_32_INIT: u32 = 2_166_136_261;
const FNV_32_PRIME: u32 = 16_777_619;

/// libhashkit `hashkit_fnv1_64`: 64-bit state, sign-extended bytes, truncated result.
pub fn fnv1_64(key: &[u8]) -> u32 {
    let mut hash = FNV_64_INIT;
    for &byte in key {
        hash = hash.wrapping_mul(FNV_64_PRIME);
        hash ^= byte as i8 as i64 as u64;
    }
    hash as u32
}

/// libhashkit `hashkit_fnv1a_64`: a 32-bit FNV-1a with the 64-bit constants truncated.
pub fn fnv1a_64(key: &[u8]) -> u32 {
    let mut hash = FNV_64_INIT as u32;
    for &byte in key {
        hash ^= sign_extend(byte);
        hash = hash.wrapping_mul(FNV_64_PRIME as u32);
    }
    hash
}

/// libhashkit `hashkit_fnv1_32`.
pub fn fnv1_32(key: &[u8]) -> u32 {
    let mut hash = FNV_32_INIT;
    for &byte in key {
        hash = hash.wrapping_mul(FNV_32_PRIME);
        hash ^= sign_extend(byte);
    }
    hash
}

/// libhashkit `hashkit_fnv1a_32`.
pub fn fnv1a_32(key: &[u8]) -> u32 {
    let mut hash = FNV_32_INIT;
    for &byte in key {
        hash ^= sign_extend(byte);
        hash = hash.wrapping_mul(FNV_32_PRIME);
    }
    hash
}

/// Little-endian `u32` from up to 4 bytes (missing high bytes are zero), as MurmurHash and
/// lookup3 read their input words.
#[inline]
fn le_word(bytes: &[u8]) -> u32 {
    bytes.iter().take(4).enumerate().fold(0, |w, (i, &b)| w | (b as u32) << (8 * i))
}

/// libhashkit `hashkit_murmur`: MurmurHash2 (little-endian reads), seed `0xdeadbeef * len`.
pub fn murmur(key: &[u8]) -> u32 {
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    let length = key.len() as u32;
    let seed = 0xdead_beef_u32.wrapping_mul(length);
    let mut h = seed ^ length;
    let mut chunks = key.chunks_exact(4);
    for chunk in &mut chunks {
        let mut k = le_word(chunk).wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let tail = chunks.remainder();
    if !tail.is_empty() {
        h ^= le_word(tail);
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h
}

/// libhashkit `hashkit_jenkins`: lookup3 `hashlittle` with initial value 13.
///
/// lookup3's `mix` and `final` are runs of one step each, applied to (a, b, c) in rotation:
///
/// ```text
/// mix step   x -= z; x ^= rot(z, r); z += y      r = 4, 6, 8, 16, 19, 4
/// final step x ^= y; x -= rot(y, r)              r = 14, 11, 25, 16, 4, 14, 24
/// ```
pub fn jenkins(key: &[u8]) -> u32 {
    /// One `mix` step: returns the new (x, z).
    #[inline]
    fn mix_step(x: u32, y: u32, z: u32, r: u32) -> (u32, u32) {
        (x.wrapping_sub(z) ^ z.rotate_left(r), z.wrapping_add(y))
    }
    /// One `final` step: returns the new x.
    #[inline]
    fn final_step(x: u32, y: u32, r: u32) -> u32 {
        (x ^ y).wrapping_sub(y.rotate_left(r))
    }
    let init = 0xdead_beef_u32.wrapping_add(key.len() as u32).wrapping_add(13);
    let (mut a, mut b, mut c) = (init, init, init);
    let mut rest = key;
    while rest.len() > 12 {
        a = a.wrapping_add(le_word(&rest[0..4]));
        b = b.wrapping_add(le_word(&rest[4..8]));
        c = c.wrapping_add(le_word(&rest[8..12]));
        (a, c) = mix_step(a, b, c, 4);
        (b, a) = mix_step(b, c, a, 6);
        (c, b) = mix_step(c, a, b, 8);
        (a, c) = mix_step(a, b, c, 16);
        (b, a) = mix_step(b, c, a, 19);
        (c, b) = mix_step(c, a, b, 4);
        rest = &rest[12..];
    }
    if rest.is_empty() {
        return c;
    }
    a = a.wrapping_add(le_word(rest));
    if rest.len() > 4 {
        b = b.wrapping_add(le_word(&rest[4..]));
    }
    if rest.len() > 8 {
        c = c.wrapping_add(le_word(&rest[8..]));
    }
    c = final_step(c, b, 14);
    a = final_step(a, c, 11);
    b = final_step(b, a, 25);
    c = final_step(c, b, 16);
    a = final_step(a, c, 4);
    b = final_step(b, a, 14);
    final_step(c, b, 24)
}

/// libhashkit `hashkit_murmur3`: MurmurHash3 x86_32, seed `0xdeadbeef * len`.
pub fn murmur3(key: &[u8]) -> u32 {
    murmur3_x86_32(key, 0xdead_beef_u32.wrapping_mul(key.len() as u32))
}

/// MurmurHash3 x86_32 with an explicit seed (pymemcache's rendezvous hash uses seed 0).
pub fn murmur3_x86_32(key: &[u8], seed: u32) -> u32 {
    const C1: u32 = 0xcc9e_2d51;
    const C2: u32 = 0x1b87_3593;
    let length = key.len() as u32;
    let mut h1 = seed;
    let mut chunks = key.chunks_exact(4);
    for chunk in &mut chunks {
        let k1 = le_word(chunk).wrapping_mul(C1).rotate_left(15).wrapping_mul(C2);
        h1 ^= k1;
        h1 = h1.rotate_left(13).wrapping_mul(5).wrapping_add(0xe654_6b64);
    }
    let tail = chunks.remainder();
    if !tail.is_empty() {
        h1 ^= le_word(tail).wrapping_mul(C1).rotate_left(15).wrapping_mul(C2);
    }
    h1 ^= length;
    h1 ^= h1 >> 16;
    h1 = h1.wrapping_mul(0x85eb_ca6b);
    h1 ^= h1 >> 13;
    h1 = h1.wrapping_mul(0xc2b2_ae35);
    h1 ^= h1 >> 16;
    h1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_vector_row_matches_libhashkit() {
        // key:0 row of hashes_libhashkit.tsv.
        let key = b"key:0";
        assert_eq!(one_at_a_time(key), 3_235_172_033);
        assert_eq!(md5_le32(key, 0), 2_192_279_263);
        assert_eq!(crc(key), 31_848);
        assert_eq!(fnv1_64(key), 4_257_821_444);
        assert_eq!(fnv1a_64(key), 2_519_685_398);
        assert_eq!(fnv1_32(key), 2_305_095_588);
        assert_eq!(fnv1a_32(key), 1_460_932_118);
        assert_eq!(murmur(key), 1_895_216_676);
        assert_eq!(jenkins(key), 232_089_112);
        assert_eq!(murmur3(key), 3_747_422_412);
    }

    #[test]
    fn high_bytes_are_sign_extended() {
        assert_eq!(sign_extend(0x80), 0xFFFF_FF80);
        assert_eq!(sign_extend(0x7f), 0x7f);
        // Unsigned widening would give a different one_at_a_time value.
        let unsigned = {
            let mut v: u32 = 0x80;
            v = v.wrapping_add(v << 10);
            v ^= v >> 6;
            v = v.wrapping_add(v << 3);
            v ^= v >> 11;
            v.wrapping_add(v << 15)
        };
        assert_ne!(one_at_a_time(&[0x80]), unsigned);
    }

    #[test]
    fn names_round_trip() {
        for name in [
            "one_at_a_time",
            "md5",
            "crc",
            "fnv1_64",
            "fnv1a_64",
            "fnv1_32",
            "fnv1a_32",
            "murmur",
            "jenkins",
            "murmur3",
        ] {
            assert_eq!(HashAlgorithm::from_name(name).map(HashAlgorithm::name), Some(name));
        }
        assert_eq!(HashAlgorithm::from_name("hsieh"), None);
    }
}
