//! What every platform without Linux's collapse-range and leases does: macOS,
//! and Linux itself when built with the test-only `portable` feature.
//!
//! - Who holds a file: the OS lists each process's descriptors (`macos.rs`
//!   with libproc or, in the portable Linux build, `linux.rs` with procfs),
//!   and `holders.rs` turns that into [`Holder`]s (one rule for both).
//! - No collapse-range: a log held by an O_APPEND writer is skipped with
//!   [`WHY_NO_COLLAPSE`].
//! - No leases: [`Lease::try_take`] always answers "unavailable", and the
//!   engine falls back to a holder check just before the rename and a drain of
//!   the old file after it (ARCHITECTURE.md, "Platform", states the window).
//! - No in-kernel range copy: [`copy_file_range`] says `Unsupported` and the
//!   engine copies by reading and writing.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io;

use super::holders::{FileId, Holder, holders};

/// Whether [`Lease`] can ever be taken here: no.
pub const LEASES_AVAILABLE: bool = false;

/// Why a log held by an O_APPEND writer cannot be pruned in place here.
#[cfg(target_os = "macos")]
pub const WHY_NO_COLLAPSE: &str =
    "and macOS cannot cut the head off a file in place (APFS has no collapse-range)";

/// Why a log held by an O_APPEND writer cannot be pruned in place here.
#[cfg(not(target_os = "macos"))]
pub const WHY_NO_COLLAPSE: &str = "and this portable build cannot cut the head off a file in place (no collapse-range, as on macOS)";

/// Finds every process holding one of `files` open, with how it holds it:
/// [`holders`] over the OS's process list.
pub fn open_files(files: &HashSet<FileId>) -> HashMap<FileId, Vec<Holder>> {
    if files.is_empty() {
        return HashMap::new();
    }
    let euid = rustix::process::geteuid().as_raw();
    holders(processes(files), files, euid)
}

#[cfg(target_os = "linux")]
use super::linux::processes;
/// The process list: macOS's libproc scan, or in the portable Linux build
/// procfs read into the same shape, so [`holders`] is the code under test.
#[cfg(target_os = "macos")]
use super::macos::processes;

/// A lease that is never granted: this platform has none.
#[derive(Debug)]
pub struct Lease<'a> {
    _file: std::marker::PhantomData<&'a File>,
}

impl<'a> Lease<'a> {
    /// Always `Ok(None)`: "someone may have it open" is all we can say here.
    pub fn try_take(_file: &'a File) -> io::Result<Option<Self>> {
        Ok(None)
    }

    /// Never broken: a lease that does not exist cannot be.
    pub fn broken(&self) -> bool {
        false
    }
}

/// Same shape as Linux's lease, which is released on drop: nothing to release here.
impl Drop for Lease<'_> {
    fn drop(&mut self) {}
}

/// No lease is ever held here, so none is ever broken by force.
pub fn lease_break_time() -> std::time::Duration {
    std::time::Duration::ZERO
}

/// No filesystem here collapses ranges.
pub fn supports_collapse(_file: &File) -> bool {
    false
}

/// The filesystem's preferred I/O size (`fstat`'s `st_blksize`); only
/// collapse needs it, and collapse is unavailable here.
pub fn block_size(file: &File) -> io::Result<u64> {
    use std::os::unix::fs::MetadataExt;
    let size = file.metadata()?.blksize();
    Ok(if size == 0 { 4096 } else { size })
}

/// Always fails: there is no collapse-range here ([`supports_collapse`] says so first).
pub fn collapse_head(_file: &File, _len: u64) -> io::Result<()> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "no collapse-range on this platform",
    ))
}

/// Nothing to align: without an in-kernel range copy
/// ([`copy_file_range`]), a copy goes through our buffers at any offset.
pub fn copy_alignment() -> Option<u64> {
    None
}

/// No in-kernel copy of a byte range here: `fcopyfile` copies whole files
/// from the current offset, and a rewrite needs only the kept prefix. The
/// engine copies by reading and writing instead.
pub fn copy_file_range(
    _source: &File,
    _off_in: &mut u64,
    _target: &File,
    _off_out: &mut u64,
    _len: usize,
) -> io::Result<usize> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "no range copy on this platform",
    ))
}

/// No way to start writeback early here: the fsync before the rename does all the writing.
pub fn start_writeback(_file: &File) {}

/// Only Linux tells bind mounts apart (statx's mount id); here the walk
/// compares `st_dev` alone.
pub fn mount_id(_path: &std::path::Path) -> Option<u64> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_leases_no_collapse_no_range_copy() {
        let file = tempfile::tempfile().expect("tempfile");
        assert!(Lease::try_take(&file).expect("lease").is_none());
        assert!(!supports_collapse(&file));
        assert_eq!(
            collapse_head(&file, 4096).expect_err("no collapse").kind(),
            io::ErrorKind::Unsupported
        );
        let (mut a, mut b) = (0, 0);
        assert_eq!(
            copy_file_range(&file, &mut a, &file, &mut b, 1)
                .expect_err("no range copy")
                .kind(),
            io::ErrorKind::Unsupported
        );
        assert!(block_size(&file).expect("block size") > 0);
    }
}
