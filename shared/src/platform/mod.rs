//! Everything that depends on the operating system, in one place so macOS can follow.
//!
//! Linux is the platform we test on: who holds a file open comes from procfs,
//! in-place pruning uses `fallocate(FALLOC_FL_COLLAPSE_RANGE)`, and "is anybody
//! else holding this file?" is answered by a file lease.

use rustix::process::{Pid, test_kill_process};

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
