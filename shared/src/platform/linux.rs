//! Linux: procfs for who holds a file, collapse-range for in-place pruning,
//! and write leases to know that nobody else has a file open.
//!
//! In the test-only `portable` build only [`processes`] (procfs in the shape
//! of macOS's process list) and [`lower_thread_priority`] are used; the rest
//! is replaced by `portable.rs`.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, AsRawFd};
use std::sync::Once;

use rustix::fs::{FallocateFlags, fallocate};

use super::holders::{Access, FileId, Holder};

/// Finds every process holding one of `files` open, with how it holds it.
///
/// One pass over `/proc/*/fd`: a `stat` per descriptor (which follows the
/// magic link to the open inode, renamed or not), and `fdinfo` flags only for
/// the descriptors that match. Processes we may not inspect (other users')
/// are skipped: their files are not ours to prune anyway.
pub fn open_files(files: &HashSet<FileId>) -> HashMap<FileId, Vec<Holder>> {
    let mut found: HashMap<FileId, Vec<Holder>> = HashMap::new();
    if files.is_empty() {
        return found;
    }
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return found;
    };
    for proc_entry in procs.flatten() {
        let name = proc_entry.file_name();
        let Some(pid) = name.to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let fd_dir = proc_entry.path().join("fd");
        let Ok(fds) = std::fs::read_dir(&fd_dir) else {
            continue;
        };
        for fd_entry in fds.flatten() {
            let Ok(stat) = rustix::fs::stat(fd_entry.path()) else {
                continue;
            };
            let id = (stat.st_dev, stat.st_ino);
            if !files.contains(&id) {
                continue;
            }
            let fdinfo = proc_entry.path().join("fdinfo").join(fd_entry.file_name());
            let access = std::fs::read_to_string(fdinfo)
                .ok()
                .and_then(|info| access_from_fdinfo(&info));
            let Some(access) = access else { continue };
            let command = std::fs::read_to_string(proc_entry.path().join("comm"))
                .map(|s| s.trim_end().to_string())
                .unwrap_or_else(|_| "?".to_string());
            found.entry(id).or_default().push(Holder {
                pid,
                command,
                access,
            });
        }
    }
    found
}

/// Every process's open files among `wanted`, in the shape macOS's libproc
/// scan produces (portable build only): `/proc/<pid>/fd` (a `stat` per
/// descriptor, `fdinfo` flags for those that match), the effective uid from
/// `/proc/<pid>/status`. Where the table cannot be read (another user's
/// process, a non-dumpable one) the process is [`Table::Denied`], and
/// `holders.rs` decides whether it counts as a writer. A descriptor that
/// cannot be stat'ed is not one of our logs and is passed over, as macOS's
/// scan passes over one `proc_pidfdinfo` refuses; one of our logs whose open
/// flags cannot be read is held with [`Access::Unknown`].
#[cfg(feature = "portable")]
pub fn processes(wanted: &HashSet<FileId>) -> Vec<super::holders::Process> {
    use super::holders::{Process, Table};
    let mut list = Vec::new();
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return list;
    };
    for proc_entry in procs.flatten() {
        let name = proc_entry.file_name();
        let Some(pid) = name.to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let dir = proc_entry.path();
        let uid = std::fs::read_to_string(dir.join("status"))
            .ok()
            .and_then(|status| {
                let line = status.lines().find_map(|l| l.strip_prefix("Uid:"))?;
                line.split_whitespace().nth(1)?.parse::<u32>().ok()
            });
        let command = std::fs::read_to_string(dir.join("comm"))
            .map(|s| s.trim_end().to_string())
            .unwrap_or_else(|_| "?".to_string());
        let table = match std::fs::read_dir(dir.join("fd")) {
            Err(err) if err.kind() == io::ErrorKind::NotFound => continue, // exited
            Err(_) => Table::Denied,
            Ok(fds) => {
                let mut files = Vec::new();
                for fd_entry in fds.flatten() {
                    let stat = match injected::error(pid, &fd_entry.file_name()) {
                        Some(errno) => Err(errno),
                        None => rustix::fs::stat(fd_entry.path()),
                    };
                    // Closed meanwhile, or not ours to stat: not one of our logs.
                    let Ok(stat) = stat else { continue };
                    let id = (stat.st_dev, stat.st_ino);
                    if !wanted.contains(&id) {
                        continue;
                    }
                    let fdinfo = dir.join("fdinfo").join(fd_entry.file_name());
                    let access = match std::fs::read_to_string(fdinfo) {
                        Err(err) if err.kind() == io::ErrorKind::NotFound => continue,
                        Err(_) => None,
                        Ok(info) => access_from_fdinfo(&info),
                    };
                    files.push((id, access.unwrap_or(Access::Unknown)));
                }
                Table::Files(files)
            }
        };
        list.push(Process {
            pid,
            uid,
            command,
            table,
        });
    }
    list
}

/// Errors injected into the portable build's descriptor scan, so a test can
/// play a Mac's `proc_pidfdinfo` refusing one descriptor (EPERM). Only in
/// the test-only `portable` feature; never shipped.
#[cfg(feature = "portable")]
pub mod injected {
    use std::ffi::OsStr;
    use std::sync::Mutex;

    /// (pid, descriptor number, errno) to fail with.
    static ERRORS: Mutex<Vec<(u32, String, rustix::io::Errno)>> = Mutex::new(Vec::new());

    /// Makes inspecting descriptor `fd` of process `pid` fail with `errno`
    /// until [`clear`].
    pub fn descriptor_error(pid: u32, fd: i32, errno: i32) {
        let mut errors = ERRORS
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        errors.push((
            pid,
            fd.to_string(),
            rustix::io::Errno::from_raw_os_error(errno),
        ));
    }

    /// Removes every injected error.
    pub fn clear() {
        ERRORS
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clear();
    }

    pub(super) fn error(pid: u32, fd: &OsStr) -> Option<rustix::io::Errno> {
        let errors = ERRORS
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        errors
            .iter()
            .find(|(p, f, _)| *p == pid && OsStr::new(f) == fd)
            .map(|(_, _, errno)| *errno)
    }
}

/// A process's arguments from `/proc/<pid>/cmdline`, one string each.
pub fn process_args(pid: u32) -> Option<Vec<String>> {
    let bytes = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    Some(
        bytes
            .split(|b| *b == 0)
            .filter(|arg| !arg.is_empty())
            .map(|arg| String::from_utf8_lossy(arg).into_owned())
            .collect(),
    )
}

/// Whether `pid` is a zombie (state `Z` in `/proc/<pid>/stat`); `None` when
/// it is not there to ask.
pub fn is_zombie(pid: u32) -> Option<bool> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The state follows the command name, which is in parentheses.
    let after = stat.rsplit_once(')')?.1;
    after.split_whitespace().next().map(|state| state == "Z")
}

/// Reads the open flags (octal) from an fdinfo text.
fn access_from_fdinfo(info: &str) -> Option<Access> {
    let flags = info
        .lines()
        .find_map(|line| line.strip_prefix("flags:"))?
        .trim();
    let flags = u32::from_str_radix(flags, 8).ok()?;
    let mode = flags & libc::O_ACCMODE as u32;
    if mode == libc::O_RDONLY as u32 {
        Some(Access::Read)
    } else if flags & libc::O_APPEND as u32 != 0 {
        Some(Access::Append)
    } else {
        Some(Access::Positional)
    }
}

/// Asks the kernel to start writing the file's dirty pages to disk now,
/// without waiting: a rewrite calls it as it goes, so the fsync before its
/// rename waits for the last few megabytes instead of the whole file.
/// Best effort: an error only means the fsync will do all the work.
pub fn start_writeback(file: &File) {
    use std::os::fd::AsRawFd;
    // SAFETY: a plain syscall on a descriptor we own; offset 0 and length 0
    // mean the whole file; SYNC_FILE_RANGE_WRITE does not wait.
    let _ = unsafe { libc::sync_file_range(file.as_raw_fd(), 0, 0, libc::SYNC_FILE_RANGE_WRITE) };
}

/// Lowers the calling thread's CPU priority to nice 10 (threads it spawns
/// afterwards inherit it). On Linux the nice value belongs to the thread, so
/// the rest of the process is not affected. Best effort: raising one's own
/// nice value is always allowed, and failing only means the prune competes
/// as an equal.
pub fn lower_thread_priority() {
    // SAFETY: plain syscalls on this thread's own id.
    let _ = unsafe { libc::setpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t, 10) };
}

/// Whether [`Lease`] works here: yes (on filesystems and files that allow it).
pub const LEASES_AVAILABLE: bool = true;

/// How long the kernel makes another process's `open()` wait for a [`Lease`]
/// we hold before it breaks the lease by force (`/proc/sys/fs/lease-break-time`,
/// 45 s by default). In-place pruning of a log nobody holds writes only while
/// well within this time of the last moment it knew nobody was waiting.
pub fn lease_break_time() -> std::time::Duration {
    let seconds = std::fs::read_to_string("/proc/sys/fs/lease-break-time")
        .ok()
        .and_then(|text| text.trim().parse::<u64>().ok())
        .unwrap_or(45);
    std::time::Duration::from_secs(seconds)
}

/// Why a log held by an O_APPEND writer cannot be pruned in place (when
/// [`supports_collapse`] says no).
pub const WHY_NO_COLLAPSE: &str =
    "on a filesystem that cannot collapse ranges (only ext4 and xfs can)";

/// Copies `len` bytes between two files inside the kernel
/// (`copy_file_range(2)`), advancing both offsets; an error (an old kernel,
/// two filesystems) makes the engine copy by reading instead.
pub fn copy_file_range(
    source: &File,
    off_in: &mut u64,
    target: &File,
    off_out: &mut u64,
    len: usize,
) -> io::Result<usize> {
    rustix::fs::copy_file_range(source, Some(off_in), target, Some(off_out), len)
        .map_err(io::Error::from)
}

/// The unit an in-kernel range copy wants its two offsets to agree in
/// (the page size): a copy whose source and target sit at different offsets
/// within their pages moves every page as two pieces, and took 1.4 to 2.4
/// times as long here (bench/README.md, "Rewrite").
pub fn copy_alignment() -> Option<u64> {
    Some(rustix::param::page_size() as u64)
}

/// The id of the mount `path` is on (`statx(STATX_MNT_ID)`, Linux 5.8+),
/// `None` where the kernel does not say. A bind mount has the `st_dev` of its
/// filesystem; only the mount id tells it apart.
pub fn mount_id(path: &std::path::Path) -> Option<u64> {
    use rustix::fs::{AtFlags, CWD, StatxFlags, statx};
    let stat = statx(CWD, path, AtFlags::SYMLINK_NOFOLLOW, StatxFlags::MNT_ID).ok()?;
    (stat.stx_mask & StatxFlags::MNT_ID.bits() != 0).then_some(stat.stx_mnt_id)
}

/// The unit collapse-range works in (the filesystem block size).
pub fn block_size(file: &File) -> io::Result<u64> {
    let vfs = rustix::fs::fstatvfs(file)?;
    Ok(if vfs.f_bsize == 0 { 4096 } else { vfs.f_bsize })
}

/// Whether the file's filesystem is known to collapse ranges atomically with
/// respect to O_APPEND writers (ext4 and xfs). Asked before anything is
/// written, so an unsupported filesystem never sees a half-done prune.
pub fn supports_collapse(file: &File) -> bool {
    const EXT4_SUPER_MAGIC: u64 = 0xEF53;
    const XFS_SUPER_MAGIC: u64 = 0x5846_5342;
    match rustix::fs::fstatfs(file) {
        Ok(fs) => matches!(fs.f_type as u64, EXT4_SUPER_MAGIC | XFS_SUPER_MAGIC),
        Err(_) => false,
    }
}

/// Removes the first `len` bytes of the file (a block multiple), shifting the
/// rest down; the kernel does it under the inode lock, so a concurrent
/// O_APPEND write lands either before (and is shifted) or after (at the new end).
pub fn collapse_head(file: &File, len: u64) -> io::Result<()> {
    fallocate(file, FallocateFlags::COLLAPSE_RANGE, 0, len).map_err(io::Error::from)
}

/// A write lease on a file: proof that no other process has it open, and a
/// gate that makes anyone who opens it meanwhile wait until we release it.
///
/// The kernel grants a write lease only when no other descriptor is open on
/// the inode. While we hold it, another process's `open()` blocks (for at
/// most `/proc/sys/fs/lease-break-time`) and the lease is marked as broken,
/// which we can see. Lease-break signals are ignored process-wide: we poll
/// the lease state instead.
#[derive(Debug)]
pub struct Lease<'a> {
    file: &'a File,
}

impl<'a> Lease<'a> {
    /// Takes a write lease. `Ok(None)` means someone else has the file open
    /// (or leases are unavailable here: not the owner, unsupported filesystem).
    pub fn try_take(file: &'a File) -> io::Result<Option<Self>> {
        ignore_lease_signals();
        // SAFETY: fcntl on a descriptor we own, with integer arguments only.
        let rc = unsafe { libc::fcntl(file.as_fd().as_raw_fd(), libc::F_SETLEASE, libc::F_WRLCK) };
        if rc == 0 {
            return Ok(Some(Self { file }));
        }
        let err = io::Error::last_os_error();
        match err.raw_os_error() {
            Some(libc::EAGAIN) | Some(libc::EBUSY) | Some(libc::EACCES) | Some(libc::EINVAL) => {
                Ok(None)
            }
            _ => Err(err),
        }
    }

    /// Whether another process tried to open the file since we took the lease.
    pub fn broken(&self) -> bool {
        // SAFETY: as above.
        let state = unsafe { libc::fcntl(self.file.as_fd().as_raw_fd(), libc::F_GETLEASE) };
        state != libc::F_WRLCK
    }
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        // SAFETY: as above; releasing lets any blocked opener proceed.
        unsafe {
            libc::fcntl(
                self.file.as_fd().as_raw_fd(),
                libc::F_SETLEASE,
                libc::F_UNLCK,
            )
        };
    }
}

fn ignore_lease_signals() {
    static IGNORE: Once = Once::new();
    IGNORE.call_once(|| {
        // SAFETY: setting a signal disposition to SIG_IGN has no handler to be unsafe in.
        unsafe { libc::signal(libc::SIGIO, libc::SIG_IGN) };
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::unix::fs::MetadataExt;
    use std::process::{Command, Stdio};

    #[test]
    fn fdinfo_flags_tell_append_from_positional() {
        assert_eq!(
            access_from_fdinfo("pos:\t0\nflags:\t0102001\n"),
            Some(Access::Append)
        );
        assert_eq!(
            access_from_fdinfo("pos:\t0\nflags:\t0100001\n"),
            Some(Access::Positional)
        );
        assert_eq!(
            access_from_fdinfo("pos:\t0\nflags:\t0100002\n"),
            Some(Access::Positional)
        );
        assert_eq!(
            access_from_fdinfo("pos:\t0\nflags:\t0100000\n"),
            Some(Access::Read)
        );
        assert_eq!(access_from_fdinfo("garbage"), None);
    }

    #[test]
    fn procfs_finds_a_child_holding_a_file_and_how() {
        let dir = tempfile::tempdir().expect("tempdir");
        let append = dir.path().join("append.log");
        let positional = dir.path().join("positional.log");
        std::fs::write(&append, b"").expect("write");
        std::fs::write(&positional, b"").expect("write");
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "exec 3>>'{}' 4>'{}'; exec sleep 30",
                append.display(),
                positional.display()
            ))
            .stdin(Stdio::null())
            .spawn()
            .expect("spawn sh");
        let id = |p: &std::path::Path| {
            let m = std::fs::metadata(p).expect("metadata");
            (m.dev(), m.ino())
        };
        let wanted: HashSet<FileId> = [id(&append), id(&positional)].into_iter().collect();
        let mut holders = HashMap::new();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while std::time::Instant::now() < deadline {
            holders = open_files(&wanted);
            if holders.len() == 2 {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let _ = child.kill();
        let _ = child.wait();
        let access_of = |p| {
            holders
                .get(&id(p))
                .map(|h: &Vec<Holder>| h.iter().map(|h| h.access).collect::<Vec<_>>())
        };
        assert_eq!(access_of(&append), Some(vec![Access::Append]));
        assert_eq!(access_of(&positional), Some(vec![Access::Positional]));
    }

    #[test]
    fn a_lease_is_refused_while_another_process_holds_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("x.log");
        std::fs::write(&path, b"x\n").expect("write");
        let file = File::open(&path).expect("open");
        assert!(
            Lease::try_take(&file).expect("lease").is_some(),
            "nobody else holds it"
        );
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "exec 3>>'{}'; echo ready; sleep 30",
                path.display()
            ))
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn sh");
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(child.stdout.take().expect("stdout")),
            &mut line,
        )
        .expect("ready");
        let refused = Lease::try_take(&file).expect("lease").is_none();
        let _ = child.kill();
        let _ = child.wait();
        assert!(refused, "a writer holds it");
    }

    #[test]
    #[cfg_attr(
        not(v0_prune_has_collapse),
        ignore = "needs collapse-range in the temp dir: set TMPDIR to a directory on ext4 or xfs"
    )]
    fn collapse_removes_whole_blocks_from_the_head_on_ext4() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("c.log");
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(true)
            .read(true)
            .write(true)
            .open(&path)
            .expect("open");
        assert!(
            supports_collapse(&file),
            "the build found the temp dir collapses ranges; {} does not",
            dir.path().display()
        );
        let block = block_size(&file).expect("block size") as usize;
        file.write_all(&vec![b'a'; block]).expect("write");
        file.write_all(b"kept\n").expect("write");
        collapse_head(&file, block as u64).expect("collapse");
        assert_eq!(std::fs::read(&path).expect("read"), b"kept\n");
    }
}
