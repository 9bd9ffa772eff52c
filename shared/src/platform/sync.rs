//! Durable syncs that fall back to `fsync` where a volume refuses the full one.
//!
//! Rust's `File::sync_all` and `sync_data` call `fcntl(F_FULLFSYNC)` on
//! Apple platforms (through the drive's cache), which SMB volumes refuse with
//! `ENOTSUP` and macFUSE with `EINVAL`: every rewrite, and the merge-queue
//! prune after its rename, would fail there. On such a refusal we `fsync`
//! instead (to the drive, as on most Linux filesystems) and say so once in
//! the debug log. Linux runs the same code: `sync_all` is `fsync` there, and a
//! refusal is retried the same way.

use std::fs::File;
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};

/// Set once the fallback has been logged, so a volume that refuses every
/// full sync logs one line, not one per file.
static FALLBACK_SAID: AtomicBool = AtomicBool::new(false);

/// `file.sync_all()`, or `fsync` where the volume refuses the full sync.
pub fn sync_all(file: &File) -> io::Result<()> {
    with_fallback(file, File::sync_all)
}

/// `file.sync_data()`, or `fsync` where the volume refuses the full sync.
pub fn sync_data(file: &File) -> io::Result<()> {
    with_fallback(file, File::sync_data)
}

/// Runs `full`; on a refusal ([`refused`]) syncs with plain `fsync` instead.
fn with_fallback(file: &File, full: impl FnOnce(&File) -> io::Result<()>) -> io::Result<()> {
    match full(file) {
        Err(err) if refused(&err) => {
            if !FALLBACK_SAID.swap(true, Ordering::Relaxed) {
                tracing::debug!(
                    "this volume refuses a full sync ({err}); syncing with fsync instead, which \
                     flushes to the drive but perhaps not through its cache"
                );
            }
            rustix::fs::fsync(file).map_err(io::Error::from)
        }
        other => other,
    }
}

/// Whether `err` is a volume's refusal of the full sync rather than a failed
/// write: `ENOTSUP`/`EOPNOTSUPP` (SMB; distinct numbers on macOS) or `EINVAL`
/// (macFUSE).
fn refused(err: &io::Error) -> bool {
    // Compared one by one: on Linux ENOTSUP and EOPNOTSUPP are one number.
    err.raw_os_error().is_some_and(|code| {
        code == libc::ENOTSUP || code == libc::EOPNOTSUPP || code == libc::EINVAL
    })
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    #[test]
    fn a_refused_full_sync_falls_back_to_fsync_and_says_so_once() {
        let mut file = tempfile::tempfile().expect("tempfile");
        file.write_all(b"line\n").expect("write");
        for errno in [libc::ENOTSUP, libc::EOPNOTSUPP, libc::EINVAL] {
            let mut calls = 0;
            let synced = with_fallback(&file, |_| {
                calls += 1;
                Err(io::Error::from_raw_os_error(errno))
            });
            assert!(synced.is_ok(), "errno {errno}: {synced:?}");
            assert_eq!(calls, 1, "the full sync is tried once");
        }
        assert!(FALLBACK_SAID.load(Ordering::Relaxed), "said once");
    }

    #[test]
    fn a_failed_write_is_not_a_refusal() {
        let file = tempfile::tempfile().expect("tempfile");
        for errno in [libc::EIO, libc::ENOSPC, libc::EDQUOT] {
            let err = with_fallback(&file, |_| Err(io::Error::from_raw_os_error(errno)))
                .expect_err("passed on");
            assert_eq!(err.raw_os_error(), Some(errno));
        }
        sync_all(&file).expect("a real sync");
        sync_data(&file).expect("a real data sync");
    }
}
