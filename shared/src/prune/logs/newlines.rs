//! Every line end in a buffer, found 64 bytes at a time.
//!
//! v0's log lines average about 50 bytes. A `memchr` call per line pays its
//! setup for each one, and that was the log filter's largest cost. Here each
//! 64-byte block becomes one bit mask of its newlines and the positions are
//! handed out from the mask in order. The mask comes from SSE2 compares on
//! x86_64 (part of its baseline, so always there), elsewhere from plain
//! integer arithmetic on 8-byte words (SWAR), which the tests check here too.

/// `\n` in every byte of a word.
const NEWLINES: u64 = u64::from_ne_bytes([b'\n'; 8]);
/// The low seven bits of every byte.
const LOW7: u64 = u64::from_ne_bytes([0x7f; 8]);
/// Moves bit 8k of a word (k = 0..8) to bit 56 + k.
const GATHER: u64 = 0x0102_0408_1020_4080;

/// The positions of `\n` in a buffer, in increasing order.
pub struct Newlines<'a> {
    buf: &'a [u8],
    /// Start of the 64-byte block `mask` describes.
    block: usize,
    /// Bit i set: `buf[block + i]` is a newline not yet returned.
    mask: u64,
}

impl<'a> Newlines<'a> {
    /// The newlines of `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Self {
            buf,
            block: 0,
            mask: block_mask(buf),
        }
    }
}

impl Iterator for Newlines<'_> {
    type Item = usize;

    #[inline]
    fn next(&mut self) -> Option<usize> {
        while self.mask == 0 {
            self.block += 64;
            let rest = self.buf.get(self.block..).filter(|rest| !rest.is_empty())?;
            self.mask = block_mask(rest);
        }
        let at = self.block + self.mask.trailing_zeros() as usize;
        self.mask &= self.mask - 1;
        Some(at)
    }
}

/// Bit i set where `bytes[i]` is a newline, for the first 64 bytes.
#[inline]
fn block_mask(bytes: &[u8]) -> u64 {
    let Some(block) = bytes.first_chunk::<64>() else {
        return bytes
            .iter()
            .enumerate()
            .fold(0, |mask, (i, &b)| mask | u64::from(b == b'\n') << i);
    };
    #[cfg(target_arch = "x86_64")]
    return sse2::block_mask(block);
    #[cfg(not(target_arch = "x86_64"))]
    return swar_block_mask(block);
}

/// [`block_mask`] for a whole block, with 8-byte integer arithmetic.
#[cfg_attr(target_arch = "x86_64", allow(dead_code))]
#[inline]
fn swar_block_mask(block: &[u8; 64]) -> u64 {
    let mut mask = 0;
    for (k, word) in block.chunks_exact(8).enumerate() {
        let word = u64::from_le_bytes(word.try_into().unwrap_or_default());
        mask |= word_mask(word) << (8 * k);
    }
    mask
}

#[cfg(target_arch = "x86_64")]
mod sse2 {
    use std::arch::x86_64::{
        __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_set1_epi8,
    };

    /// Bit i set where `block[i]` is a newline: four 16-byte compares.
    #[inline]
    pub(super) fn block_mask(block: &[u8; 64]) -> u64 {
        let mut mask = 0;
        for (k, lane) in block.chunks_exact(16).enumerate() {
            // SAFETY: SSE2 is part of the x86_64 baseline, so these
            // instructions exist on every CPU this code is built for; `lane`
            // is 16 readable bytes and `loadu` needs no alignment.
            let hits = unsafe {
                let bytes = _mm_loadu_si128(lane.as_ptr().cast::<__m128i>());
                _mm_movemask_epi8(_mm_cmpeq_epi8(bytes, _mm_set1_epi8(b'\n' as i8)))
            };
            mask |= u64::from(hits as u16) << (16 * k);
        }
        mask
    }
}

/// Bit i set where byte i (little-endian order) of `word` is a newline.
#[inline]
fn word_mask(word: u64) -> u64 {
    // Zero bytes where `word` has a newline; then 0x80 in exactly those
    // bytes (adding 0x7f to the low bits carries into bit 7 unless they are
    // all zero; or-ing in the byte itself catches a set bit 7).
    let x = word ^ NEWLINES;
    let high = !(((x & LOW7).wrapping_add(LOW7)) | x | LOW7);
    // One bit per byte, gathered into the top byte, then moved down.
    ((high >> 7).wrapping_mul(GATHER)) >> 56
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn naive(buf: &[u8]) -> Vec<usize> {
        buf.iter()
            .enumerate()
            .filter_map(|(i, &b)| (b == b'\n').then_some(i))
            .collect()
    }

    #[test]
    fn edge_cases() {
        for buf in [
            &b""[..],
            b"\n",
            b"no newline at all",
            &[b'\n'; 200],
            &[0x8a; 130], // newline's low bits with bit 7 set
            &[0x0b; 70],
            &[0xff; 64],
        ] {
            assert_eq!(
                Newlines::new(buf).collect::<Vec<_>>(),
                naive(buf),
                "{buf:?}"
            );
        }
    }

    #[test]
    fn both_block_masks_agree() {
        let mut block = [0u8; 64];
        for seed in 0..2000u64 {
            for (i, b) in block.iter_mut().enumerate() {
                let r = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add((i as u64).wrapping_mul(1442695040888963407))
                    >> 57;
                *b = [b'\n', 0x8a, 0x0b, b'a', 0xff, 0][(r % 6) as usize];
            }
            let expected = naive(&block).iter().fold(0u64, |m, &i| m | 1 << i);
            assert_eq!(swar_block_mask(&block), expected);
            assert_eq!(block_mask(&block), expected);
        }
    }

    proptest! {
        #[test]
        fn finds_exactly_the_newlines(
            buf in proptest::collection::vec(
                prop_oneof![Just(b'\n'), Just(0x8a_u8), Just(0x0a ^ 0x80), any::<u8>()],
                0..600,
            ),
            start in 0usize..70,
        ) {
            let buf = buf.get(start..).unwrap_or(&[]);
            prop_assert_eq!(Newlines::new(buf).collect::<Vec<_>>(), naive(buf));
        }
    }
}
