//! Other processes as a test sees them: signalling one that is not our
//! child, whether it is gone, and what procfs and `getrusage` say about
//! its memory and CPU.

use std::time::Duration;

use rustix::process::{Pid, Signal};

use crate::wait::wait_until;

/// Whether `pid` has exited: no such process, or a zombie nobody reaped
/// (the engine's own check, on every OS).
pub use v0_prune_shared::platform::process_gone;

/// The uid and gid of `nobody`, who owns none of a test's files.
pub const NOBODY: u32 = 65534;

/// Makes this process `nobody`: no supplementary groups, then its gid, then
/// its uid. For a child between fork and exec (`Command::pre_exec`), where
/// only async-signal-safe calls are allowed, as these three are; needs root.
pub fn become_nobody() -> std::io::Result<()> {
    // SAFETY: plain system calls; the empty group list is a null pointer
    // with a length of 0.
    let failed = unsafe {
        libc::setgroups(0, std::ptr::null()) != 0
            || libc::setgid(NOBODY) != 0
            || libc::setuid(NOBODY) != 0
    };
    if failed {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// A directory for a test to hand to `nobody`: a new temporary directory
/// made `0755`, in the temp dir, whose ancestors must already let others
/// through (a test never changes the modes of what it did not create: with
/// `TMPDIR=/var/tmp`, chmodding the ancestors took the sticky bit off
/// `/var/tmp`). Panics, saying what to do, where they do not.
pub fn dir_for_nobody() -> tempfile::TempDir {
    use std::os::unix::fs::PermissionsExt as _;
    let temp = std::env::temp_dir();
    for dir in temp.ancestors() {
        let mode = std::fs::metadata(dir)
            .unwrap_or_else(|err| panic!("{}: {err}", dir.display()))
            .permissions()
            .mode();
        assert!(
            mode & 0o001 != 0,
            "uid {NOBODY} cannot pass through {} (mode {:o}): run the tests with TMPDIR set to a \
             directory others may enter, such as /tmp",
            dir.display(),
            mode & 0o7777
        );
    }
    let dir = tempfile::tempdir_in(&temp).expect("tempdir");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
        .expect("chmod our own directory");
    dir
}

/// Sends `signal` to `pid`, which need not be our child (a daemon started
/// through `nohup`, v0's bash daemon).
pub fn signal(pid: u32, signal: Signal) -> std::io::Result<()> {
    let pid = i32::try_from(pid)
        .ok()
        .and_then(Pid::from_raw)
        .ok_or_else(|| std::io::Error::other(format!("{pid} is not a pid")))?;
    rustix::process::kill_process(pid, signal).map_err(std::io::Error::from)
}

/// Kills `pid` (SIGKILL) and waits briefly for it to go: a test's clean-up,
/// so that a failing test leaves no daemon behind.
pub fn kill_and_wait(pid: u32) {
    let _ = signal(pid, Signal::KILL);
    wait_until(Duration::from_secs(5), || process_gone(pid));
}

/// This process's peak resident memory in KiB (`getrusage`: KiB on Linux,
/// bytes on macOS).
pub fn peak_rss_kib() -> u64 {
    // SAFETY: `getrusage` fills the zeroed struct it is given.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: a valid pointer to one rusage.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    assert_eq!(rc, 0, "getrusage");
    let max = u64::try_from(usage.ru_maxrss).unwrap_or(0);
    if cfg!(target_os = "macos") {
        max / 1024
    } else {
        max
    }
}

/// A `kB` field of `/proc/<pid>/status` (`VmRSS`, `VmHWM`); `None` when the
/// process or the field is not there (Linux only).
pub fn status_kib(pid: u32, field: &str) -> Option<u64> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
}

/// `utime + stime` of `/proc/<pid>/stat`, in clock ticks (all threads, also
/// exited ones); `None` when the process is not there (Linux only).
pub fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // After the command name, which is in parentheses and may hold spaces:
    // state is field 3, utime 14 and stime 15.
    let (_, rest) = stat.rsplit_once(')')?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |n: usize| fields.get(n - 3)?.parse::<u64>().ok();
    Some(field(14)? + field(15)?)
}

/// How many descriptors `pid` holds (`/proc/<pid>/fd`; 0 when unreadable).
pub fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |dir| dir.count())
}
