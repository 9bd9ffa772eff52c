//! Files in a test's tree: every regular one under a directory (to look for
//! leftovers), and special ones a log walk must survive.

use std::path::{Path, PathBuf};

/// Every regular file under `root`, recursively, without following
/// symlinks; directories that cannot be read are passed over.
pub fn files_under(root: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            match entry.file_type() {
                Ok(kind) if kind.is_dir() => pending.push(entry.path()),
                Ok(kind) if kind.is_file() => found.push(entry.path()),
                _ => {}
            }
        }
    }
    found
}

/// Makes a FIFO at `path` (mode 0600): a "log" that blocks whoever opens it.
/// libc's mkfifo(3): rustix's `mknodat` is Linux's, and the tests also
/// type-check for macOS.
pub fn mkfifo(path: &Path) -> std::io::Result<()> {
    let path = std::ffi::CString::new(std::os::unix::ffi::OsStrExt::as_bytes(path.as_os_str()))
        .map_err(std::io::Error::other)?;
    // SAFETY: a valid NUL-terminated path.
    if unsafe { libc::mkfifo(path.as_ptr(), 0o600) } == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}
