//! Everything that depends on the operating system, in one place so macOS can follow.
//!
//! Linux is the platform we test on: who holds a file open comes from procfs
//! ([`open_files`]), in-place pruning uses `fallocate(FALLOC_FL_COLLAPSE_RANGE)`
//! ([`collapse_head`]), and "is anybody else holding this file?" is answered
//! by a file lease ([`Lease`]). Another platform provides the same functions;
//! where it cannot (no collapse, no leases) the engine falls back to skipping
//! held files and to a short drain after rename, as documented in ARCHITECTURE.md.

#[cfg(target_os = "linux")]
mod linux;
#[cfg(target_os = "linux")]
pub use linux::{Lease, block_size, collapse_head, open_files, supports_collapse};

use rustix::process::{Pid, test_kill_process};

/// How another process holds a file open, which decides how we may prune it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Access {
    /// Open for reading only (`tail -f`): harmless to every pruning method.
    Read,
    /// Open for writing with O_APPEND (`nohup cmd >> file.log`): every write
    /// lands at the current end, so the file may shrink under it in place.
    Append,
    /// Open for writing at its own offset (`cmd > file.log`, `script`): any
    /// change under it leaves a hole of NULs or loses lines.
    Positional,
}

/// A process holding a file open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    /// Its pid.
    pub pid: u32,
    /// Its command name (`/proc/<pid>/comm`), for messages.
    pub command: String,
    /// How it holds the file.
    pub access: Access,
}

/// A file's identity: device and inode. Paths change under renames; this does not.
pub type FileId = (u64, u64);

/// Whether a process with this pid exists (kill -0). EPERM counts as alive.
pub fn pid_alive(pid: u32) -> bool {
    let Ok(raw) = i32::try_from(pid) else {
        return false;
    };
    let Some(pid) = Pid::from_raw(raw) else {
        return false;
    };
    match test_kill_process(pid) {
        Ok(()) => true,
        Err(err) => err == rustix::io::Errno::PERM,
    }
}

/// Makes a write past the file-size limit (RLIMIT_FSIZE) fail with EFBIG, which
/// the engine reports and recovers from, instead of killing the process.
pub fn ignore_file_size_signal() {
    // SAFETY: setting a disposition to SIG_IGN installs no handler.
    unsafe { libc::signal(libc::SIGXFSZ, libc::SIG_IGN) };
}

/// This machine's host name, as v0 records it in an operation's `machine` field.
pub fn hostname() -> String {
    rustix::system::uname()
        .nodename()
        .to_string_lossy()
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_own_pid_is_alive_and_an_absurd_one_is_not() {
        assert!(pid_alive(std::process::id()));
        assert!(!pid_alive(u32::MAX));
        assert!(!pid_alive(0));
    }
}
