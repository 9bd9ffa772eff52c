//! The 64-bit FNV-1a hash: socket names (`socket.rs`) and log fingerprints
//! (`prune/logs/fingerprint.rs`) must be the same on every machine and Rust
//! version, which `DefaultHasher` does not promise. A leaf.

/// The 64-bit FNV-1a hash, written out so that socket names never change
/// with the Rust version (`DefaultHasher` makes no such promise).
pub fn fnv1a_64(bytes: &[u8]) -> u64 {
    const OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    bytes.iter().fold(OFFSET_BASIS, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(PRIME)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a_matches_the_published_test_vectors() {
        assert_eq!(fnv1a_64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a_64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a_64(b"foobar"), 0x8594_4171_f739_67e8);
    }
}
