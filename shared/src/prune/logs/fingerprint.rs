//! A log's fingerprint: a hash of the bytes just before the end a run
//! verified, so a later run can tell that those bytes are still there (the
//! log was appended to, not rewritten under us). A leaf, shared by the log
//! index and its checkpoints.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

/// Bytes before the verified end that must still match for an append.
const FINGERPRINT_LEN: u64 = 64;

/// A hash of the [`FINGERPRINT_LEN`] bytes before `end`: whether the bytes
/// a run verified are still there.
pub(crate) fn fingerprint(file: &File, end: u64) -> io::Result<u64> {
    let start = end.saturating_sub(FINGERPRINT_LEN);
    let mut bytes = vec![0; (end - start) as usize];
    file.read_exact_at(&mut bytes, start)?;
    Ok(crate::hash::fnv1a_64(&bytes))
}
