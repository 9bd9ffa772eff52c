//! Everything that depends on the operating system, in one place.
//!
//! Linux (`linux.rs`): who holds a file open comes from procfs
//! ([`open_files`]), in-place pruning uses `fallocate(FALLOC_FL_COLLAPSE_RANGE)`
//! ([`collapse_head`]), and "is anybody else holding this file?" is answered
//! by a file lease ([`Lease`]).
//!
//! macOS (`macos.rs` + `portable.rs`): holders come from libproc; there is no
//! collapse-range and no lease, so a file held by an O_APPEND writer is
//! skipped with the reason, and a rewrite checks for holders just before its
//! rename and drains the old file after it (ARCHITECTURE.md, "Platform").
//!
//! The `portable` feature (test-only, never shipped) builds that macOS
//! fallback on Linux, with procfs standing in for libproc, so the engine's
//! tests exercise it here. The engine calls only the names exported below.

mod holders;
#[cfg(target_os = "linux")]
#[cfg_attr(feature = "portable", allow(dead_code))]
mod linux;
#[cfg(target_os = "macos")]
mod macos;
#[cfg(any(not(target_os = "linux"), feature = "portable"))]
mod portable;
mod procargs;
mod sync;

pub use holders::{Access, FileId, Holder};
pub use sync::{sync_all, sync_data};

/// Test-only error injection into the portable build's descriptor scan.
#[cfg(all(target_os = "linux", feature = "portable"))]
pub use linux::injected;
#[cfg(target_os = "linux")]
pub use linux::lower_thread_priority;
#[cfg(all(target_os = "linux", not(feature = "portable")))]
pub use linux::{
    LEASES_AVAILABLE, Lease, WHY_NO_COLLAPSE, block_size, collapse_head, copy_alignment,
    copy_file_range, lease_break_time, mount_id, open_files, start_writeback, supports_collapse,
};
#[cfg(target_os = "macos")]
pub use macos::lower_thread_priority;
#[cfg(any(not(target_os = "linux"), feature = "portable"))]
pub use portable::{
    LEASES_AVAILABLE, Lease, WHY_NO_COLLAPSE, block_size, collapse_head, copy_alignment,
    copy_file_range, lease_break_time, mount_id, open_files, start_writeback, supports_collapse,
};

/// Elsewhere the prune runs at the daemon's priority.
#[cfg(not(any(target_os = "linux", target_os = "macos")))]
pub fn lower_thread_priority() {}

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

/// Whether a temp file named after process `pid` was abandoned by a crashed
/// pruner. A dead pid says so; but pids are recycled (pid_max is often
/// 32768), so for a live pid we also ask whether anybody still has the file
/// open: a pruner keeps its temp file open until it renames it.
pub fn temp_file_abandoned(path: &std::path::Path, pid: u32) -> bool {
    if !pid_alive(pid) {
        return true;
    }
    if pid == std::process::id() {
        return false;
    }
    #[cfg(all(target_os = "linux", not(feature = "portable")))]
    {
        use std::os::unix::fs::OpenOptionsExt;
        let Ok(file) = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
            .open(path)
        else {
            return false;
        };
        matches!(Lease::try_take(&file), Ok(Some(_)))
    }
    #[cfg(any(not(target_os = "linux"), feature = "portable"))]
    {
        // No lease to ask: look for holders instead (one who may not be
        // inspected counts as one).
        use std::os::unix::fs::MetadataExt;
        let Ok(meta) = std::fs::symlink_metadata(path) else {
            return false;
        };
        let id = (meta.dev(), meta.ino());
        open_files(&[id].into_iter().collect())
            .get(&id)
            .is_none_or(|holders| holders.is_empty())
    }
}

/// A pidfd for `pid` (Linux's `pidfd_open`): signals sent through it cannot
/// reach a process that reused the pid. Elsewhere `NOSYS`, and callers use
/// the pid itself.
pub fn pidfd_open(pid: Pid) -> rustix::io::Result<std::os::fd::OwnedFd> {
    #[cfg(target_os = "linux")]
    {
        rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::empty())
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = pid;
        Err(rustix::io::Errno::NOSYS)
    }
}

/// Sends `signal` through a pidfd from [`pidfd_open`] (`pidfd_send_signal`).
pub fn pidfd_send_signal(
    pidfd: &std::os::fd::OwnedFd,
    signal: rustix::process::Signal,
) -> rustix::io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        rustix::process::pidfd_send_signal(pidfd, signal)
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (pidfd, signal);
        Err(rustix::io::Errno::NOSYS)
    }
}

/// Makes a write past the file-size limit (RLIMIT_FSIZE) fail with EFBIG, which
/// the engine reports and recovers from, instead of killing the process.
pub fn ignore_file_size_signal() {
    // SAFETY: setting a disposition to SIG_IGN installs no handler.
    unsafe { libc::signal(libc::SIGXFSZ, libc::SIG_IGN) };
}

/// Descriptors the daemon wants: every watcher, control and opening
/// connection at once (256 + 64 + 64), the files a run prunes, with room.
const WANTED_OPEN_FILES: u64 = 4096;

/// Raises this process's soft open-file limit towards [`WANTED_OPEN_FILES`]
/// (never above the hard limit, never lowering it), so a daemon serving
/// hundreds of watchers does not run out of descriptors where the default
/// is low (256 on macOS; 1024 on many Linux systems). Returns the soft limit
/// in force afterwards, `None` if it could not be read.
pub fn raise_open_file_limit() -> Option<u64> {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let current = getrlimit(Resource::Nofile);
    let soft = current.current?;
    let wanted = current
        .maximum
        .map_or(WANTED_OPEN_FILES, |hard| hard.min(WANTED_OPEN_FILES));
    if soft >= wanted {
        return Some(soft);
    }
    let raised = Rlimit {
        current: Some(wanted),
        maximum: current.maximum,
    };
    match setrlimit(Resource::Nofile, raised) {
        Ok(()) => Some(wanted),
        Err(_) => Some(soft),
    }
}

/// A process's arguments, one string each, to tell what a pid file names
/// (v0's bash daemon runs as `bash .../bin/v0-prune-daemon`):
/// `/proc/<pid>/cmdline` on Linux, `sysctl(KERN_PROCARGS2)` on macOS, so an
/// install path with a space stays one argument. `None` when the process is
/// gone or not ours to read.
pub fn process_args(pid: u32) -> Option<Vec<String>> {
    #[cfg(target_os = "linux")]
    {
        linux::process_args(pid)
    }
    #[cfg(target_os = "macos")]
    {
        macos::process_args(pid)
    }
    #[cfg(not(any(target_os = "linux", target_os = "macos")))]
    {
        let _ = pid;
        None
    }
}

/// Whether `pid` has exited: no such process, or a zombie nobody reaped
/// yet, which still answers kill -0 (procfs's state on Linux, the BSD
/// info's status on macOS).
pub fn process_gone(pid: u32) -> bool {
    if !pid_alive(pid) {
        return true;
    }
    #[cfg(target_os = "linux")]
    let zombie = linux::is_zombie(pid);
    #[cfg(target_os = "macos")]
    let zombie = macos::is_zombie(pid);
    #[cfg(not(any(target_os = "linux", target_os = "macos")))]
    let zombie: Option<bool> = None;
    zombie.unwrap_or(false)
}

/// A device id as `major:minor`, as `ls -l` and `/proc` show it. `device` is
/// `MetadataExt::dev`, which std widens from macOS's signed 32-bit `dev_t`
/// (sign-extended: the cast back recovers it) and gives as is on Linux.
pub fn device_name(device: u64) -> String {
    #[cfg(target_os = "macos")]
    let device = device as i32;
    format!(
        "{}:{}",
        rustix::fs::major(device),
        rustix::fs::minor(device)
    )
}

/// This machine's host name as v0 records it in an operation's `machine`
/// field: `hostname -s`, the node name cut at its first dot (a Mac's node
/// name is `Name.local`; a Linux host may have a dotted one).
pub fn hostname() -> String {
    short_host_name(&rustix::system::uname().nodename().to_string_lossy()).to_owned()
}

/// A host name without its domain part, as `hostname -s` prints it.
pub fn short_host_name(name: &str) -> &str {
    name.split_once('.').map_or(name, |(short, _)| short)
}

/// Whether an operation's recorded `machine` names the host whose node name
/// is `node`: both compared as `hostname -s` would print them, so `box`,
/// `box.local` and `box.example.com` are one machine.
pub fn same_host(recorded: &str, node: &str) -> bool {
    short_host_name(recorded) == short_host_name(node)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_own_arguments_are_read_and_a_gone_process_is_gone() {
        let args = process_args(std::process::id()).expect("our own arguments");
        let exe = std::env::current_exe().expect("the test's path");
        let name = exe.file_name().expect("a name").to_string_lossy();
        assert!(args[0].ends_with(name.as_ref()), "{args:?}");
        assert!(!process_gone(std::process::id()));
        let mut child = std::process::Command::new("true").spawn().expect("true");
        let pid = child.id();
        // Exited but not reaped: a zombie, gone all the same (and alive to kill -0).
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while !process_gone(pid) {
            assert!(std::time::Instant::now() < deadline, "true never exited");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert!(pid_alive(pid), "not reaped yet: a zombie");
        let _ = child.wait();
        assert!(process_gone(pid));
        assert_eq!(process_args(u32::MAX), None);
    }

    #[test]
    fn the_open_file_limit_is_raised_to_what_the_daemon_needs_or_the_hard_limit() {
        use rustix::process::{Resource, getrlimit};
        let soft = raise_open_file_limit().expect("a soft limit");
        let now = getrlimit(Resource::Nofile);
        assert_eq!(now.current, Some(soft), "the returned limit is in force");
        let cap = now
            .maximum
            .map_or(WANTED_OPEN_FILES, |hard| hard.min(WANTED_OPEN_FILES));
        assert!(soft >= cap, "soft {soft} below {cap}");
    }

    #[test]
    fn a_device_is_named_major_colon_minor() {
        use std::os::unix::fs::MetadataExt;
        let dev = std::fs::metadata("/").expect("/").dev();
        let name = device_name(dev);
        let (major, minor) = name.split_once(':').expect("major:minor");
        assert!(
            major.parse::<u32>().is_ok() && minor.parse::<u32>().is_ok(),
            "{name}"
        );
    }

    #[test]
    fn host_names_compare_as_hostname_s_prints_them() {
        assert_eq!(short_host_name("Mac-Studio.local"), "Mac-Studio");
        assert_eq!(short_host_name("build-7.eu.example.com"), "build-7");
        assert_eq!(short_host_name("plain"), "plain");
        assert!(same_host("Mac-Studio", "Mac-Studio.local"));
        assert!(same_host("build-7.eu.example.com", "build-7"));
        assert!(!same_host("build-7", "build-8.example.com"));
        assert!(!hostname().contains('.'), "{}", hostname());
    }

    #[test]
    fn our_own_pid_is_alive_and_an_absurd_one_is_not() {
        assert!(pid_alive(std::process::id()));
        assert!(!pid_alive(u32::MAX));
        assert!(!pid_alive(0));
    }

    #[test]
    fn a_temp_file_named_after_a_recycled_pid_is_abandoned_unless_held_open() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join(".x.log.1.0.v0-prune-tmp");
        std::fs::write(&path, b"partial").expect("write");
        // A live process that is not the pruner that made the file (pid reused).
        let mut bystander = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .expect("sleep");
        assert!(
            temp_file_abandoned(&path, bystander.id()),
            "nobody holds it: abandoned"
        );
        let _ = bystander.kill();
        let _ = bystander.wait();
        // A live process holding it open is still working on it.
        let mut holder = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!(
                "exec 3<'{}'; echo ready; exec sleep 30",
                path.display()
            ))
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("sh");
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(holder.stdout.take().expect("stdout")),
            &mut line,
        )
        .expect("ready");
        let held = temp_file_abandoned(&path, holder.id());
        let _ = holder.kill();
        let _ = holder.wait();
        assert!(!held, "held open by a live process: still in use");
        assert!(
            !temp_file_abandoned(&path, std::process::id()),
            "our own temp file"
        );
    }
}
