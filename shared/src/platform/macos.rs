//! macOS: libproc for who holds a file; everything else is `portable.rs`
//! (no collapse-range on APFS, no leases, no range copy), plus a QoS class for
//! the prune thread.
//!
//! The layouts below are from `<sys/proc_info.h>` (xnu `bsd/sys/proc_info.h`);
//! `libc` 0.2.191 has `vnode_info`, `proc_fdinfo` and `proc_bsdshortinfo` but
//! not `proc_fileinfo` or `vnode_fdinfo`. The size assertions run in the macOS
//! type-check (`.ci/run`), so a layout that drifted would stop the build.

use std::collections::HashSet;
use std::ffi::c_int;
use std::io;
use std::mem::size_of;

use super::holders::{FileId, Process, Table, access_from_bsd_flags};

/// `proc_pidfdinfo` flavour: a vnode descriptor's open flags and `stat`
/// (`struct vnode_fdinfo`). We match files by device and inode, never by path,
/// so the `PROC_PIDFDVNODEPATHINFO` flavour (the same plus the path) would only
/// add a path lookup and a MAC "fsgetpath" check per descriptor.
const PROC_PIDFDVNODEINFO: c_int = 1;

/// `struct proc_fileinfo`: the open file behind a descriptor.
#[repr(C)]
#[allow(dead_code)] // filled in by the kernel; only the flags are read
#[derive(Clone, Copy)]
struct ProcFileInfo {
    /// The file's `fg_flag`: FREAD, FWRITE, O_APPEND, ...
    fi_openflags: u32,
    fi_status: u32,
    fi_offset: libc::off_t,
    fi_type: i32,
    fi_guardflags: u32,
}

/// `struct vnode_fdinfo`: what `PROC_PIDFDVNODEINFO` fills in.
#[repr(C)]
#[allow(dead_code)] // filled in by the kernel
#[derive(Clone, Copy)]
struct VnodeFdInfo {
    pfi: ProcFileInfo,
    pvi: libc::vnode_info,
}

const _: () = assert!(size_of::<ProcFileInfo>() == 24);
const _: () = assert!(size_of::<libc::vinfo_stat>() == 136);
const _: () = assert!(size_of::<libc::vnode_info>() == 152);
const _: () = assert!(size_of::<VnodeFdInfo>() == 176);
const _: () = assert!(size_of::<libc::proc_fdinfo>() == 8);
const _: () = assert!(size_of::<libc::proc_bsdshortinfo>() == 64);

/// Most processes we ever expect to list, and descriptors per process: a
/// bound on the retry-with-a-larger-buffer loops.
const MAX_ENTRIES: usize = 1 << 20;

/// Every process and its open files among `wanted`:
/// `proc_listallpids`, then per process `proc_pidinfo(PROC_PIDLISTFDS)` and,
/// per vnode descriptor, `proc_pidfdinfo(PROC_PIDFDVNODEINFO)` for its
/// device, inode and open flags; a descriptor that cannot be inspected is
/// not one of ours (holders.rs). A process whose table the system will not
/// show (another user's unless we are root, a sandbox's refusal) is
/// [`Table::Denied`], with its uid from `proc_pidinfo(PROC_PIDT_SHORTBSDINFO)`
/// (which needs no privilege). If even the process list fails, one denied
/// pseudo-process of unknown uid is returned: nothing is known, so every log
/// counts as held.
pub fn processes(wanted: &HashSet<FileId>) -> Vec<Process> {
    let Ok(pids) = list_pids() else {
        return vec![Process {
            pid: 0,
            uid: None,
            command: "(the process list is unavailable)".into(),
            table: Table::Denied,
        }];
    };
    pids.into_iter()
        // pid 0 is the kernel, which holds no descriptors.
        .filter(|pid| *pid > 0)
        .filter_map(|pid| inspect(pid, wanted))
        .collect()
}

/// One process, or `None` if it exited while we looked.
fn inspect(pid: libc::pid_t, wanted: &HashSet<FileId>) -> Option<Process> {
    let denied = |pid| {
        let (uid, command) = short_info(pid);
        Process {
            pid: pid as u32,
            uid,
            command,
            table: Table::Denied,
        }
    };
    let fds = match list_fds(pid) {
        Ok(fds) => fds,
        Err(err) if err.raw_os_error() == Some(libc::ESRCH) => return None,
        Err(_) => return Some(denied(pid)),
    };
    let mut files = Vec::new();
    for fd in fds
        .iter()
        .filter(|fd| fd.proc_fdtype == libc::PROX_FDTYPE_VNODE as u32)
    {
        match vnode_info(pid, fd.proc_fd) {
            Ok(info) => {
                let stat = &info.pvi.vi_stat;
                // std's `MetadataExt::dev` widens macOS's signed `dev_t`; do the same.
                let dev = i32::from_ne_bytes(stat.vst_dev.to_ne_bytes()) as u64;
                let id = (dev, stat.vst_ino);
                if wanted.contains(&id) {
                    files.push((id, access_from_bsd_flags(info.pfi.fi_openflags)));
                }
            }
            Err(err) => match err.raw_os_error() {
                // The process exited meanwhile.
                Some(libc::ESRCH) => return None,
                // Closed or reused for a non-file (EBADF), its vnode recycled
                // (ENOENT), or one we may not stat (EPERM: a data vault's
                // file, held by the user's own agents): not one of our logs,
                // which we own and have just stat'ed (holders.rs).
                _ => continue,
            },
        }
    }
    let command = if files.is_empty() {
        String::new()
    } else {
        short_info(pid).1
    };
    Some(Process {
        pid: pid as u32,
        uid: None,
        command,
        table: Table::Files(files),
    })
}

/// Clears `errno`: libproc calls report some failures as a 0 return with
/// `errno` set, and a 0 can also mean an empty answer.
fn clear_errno() {
    // SAFETY: `__error` returns this thread's errno location, always valid.
    unsafe { *libc::__error() = 0 };
}

/// The error of a libproc call that returned `rc` (negative or 0 with errno set).
fn failed(rc: c_int) -> Option<io::Error> {
    let err = io::Error::last_os_error();
    (rc < 0 || (rc == 0 && err.raw_os_error().is_some_and(|e| e != 0))).then_some(err)
}

/// `proc_listallpids`: every pid, growing the buffer until it is not full.
fn list_pids() -> io::Result<Vec<libc::pid_t>> {
    clear_errno();
    // SAFETY: a null buffer asks for the current count only.
    let estimate = unsafe { libc::proc_listallpids(std::ptr::null_mut(), 0) };
    if let Some(err) = failed(estimate) {
        return Err(err);
    }
    let mut capacity = usize::try_from(estimate).unwrap_or(0) + 64;
    while capacity <= MAX_ENTRIES {
        let mut pids: Vec<libc::pid_t> = vec![0; capacity];
        let bytes = c_int::try_from(capacity * size_of::<libc::pid_t>()).unwrap_or(c_int::MAX);
        clear_errno();
        // SAFETY: the buffer holds `bytes` bytes of pid_t.
        let count = unsafe { libc::proc_listallpids(pids.as_mut_ptr().cast(), bytes) };
        if let Some(err) = failed(count) {
            return Err(err);
        }
        let count = usize::try_from(count).unwrap_or(0);
        if count < capacity {
            pids.truncate(count);
            return Ok(pids);
        }
        capacity *= 2;
    }
    Err(io::Error::other("the process list keeps growing"))
}

/// `proc_pidinfo(PROC_PIDLISTFDS)`: the process's descriptors and their
/// types. The call fills only the buffer given, with no sign of more, so a
/// full buffer is retried larger.
fn list_fds(pid: libc::pid_t) -> io::Result<Vec<libc::proc_fdinfo>> {
    const ENTRY: usize = size_of::<libc::proc_fdinfo>();
    clear_errno();
    // SAFETY: a null buffer asks for the size of the table only.
    let estimate =
        unsafe { libc::proc_pidinfo(pid, libc::PROC_PIDLISTFDS, 0, std::ptr::null_mut(), 0) };
    if let Some(err) = failed(estimate) {
        return Err(err);
    }
    let mut capacity = usize::try_from(estimate).unwrap_or(0) / ENTRY + 32;
    while capacity <= MAX_ENTRIES {
        let mut fds = vec![
            libc::proc_fdinfo {
                proc_fd: 0,
                proc_fdtype: 0,
            };
            capacity
        ];
        let bytes = c_int::try_from(capacity * ENTRY).unwrap_or(c_int::MAX);
        clear_errno();
        // SAFETY: the buffer holds `bytes` bytes of proc_fdinfo.
        let filled = unsafe {
            libc::proc_pidinfo(
                pid,
                libc::PROC_PIDLISTFDS,
                0,
                fds.as_mut_ptr().cast(),
                bytes,
            )
        };
        if let Some(err) = failed(filled) {
            return Err(err);
        }
        let count = usize::try_from(filled).unwrap_or(0) / ENTRY;
        if count < capacity {
            fds.truncate(count);
            return Ok(fds);
        }
        capacity *= 2;
    }
    Err(io::Error::other("the descriptor table keeps growing"))
}

/// `proc_pidfdinfo(PROC_PIDFDVNODEINFO)` for one descriptor.
fn vnode_info(pid: libc::pid_t, fd: i32) -> io::Result<VnodeFdInfo> {
    // SAFETY: all-integer C structs, for which all zeroes is a valid value.
    let mut info: VnodeFdInfo = unsafe { std::mem::zeroed() };
    let size = size_of::<VnodeFdInfo>() as c_int;
    clear_errno();
    // SAFETY: the buffer is one VnodeFdInfo of `size` bytes.
    let filled =
        unsafe { libc::proc_pidfdinfo(pid, fd, PROC_PIDFDVNODEINFO, (&raw mut info).cast(), size) };
    if filled == size {
        return Ok(info);
    }
    Err(failed(filled).unwrap_or_else(|| io::Error::other("short vnode info")))
}

/// `proc_pidinfo(PROC_PIDT_SHORTBSDINFO)`: what the system shows of any
/// process without privilege. A non-zero `arg` asks for zombies too (xnu
/// looks them up with `proc_find_zombref`).
fn short_bsd_info(pid: libc::pid_t, arg: u64) -> Option<libc::proc_bsdshortinfo> {
    // SAFETY: an all-integer C struct, for which all zeroes is a valid value.
    let mut info: libc::proc_bsdshortinfo = unsafe { std::mem::zeroed() };
    let size = size_of::<libc::proc_bsdshortinfo>() as c_int;
    clear_errno();
    // SAFETY: the buffer is one proc_bsdshortinfo of `size` bytes.
    let filled = unsafe {
        libc::proc_pidinfo(
            pid,
            libc::PROC_PIDT_SHORTBSDINFO,
            arg,
            (&raw mut info).cast(),
            size,
        )
    };
    (filled == size).then_some(info)
}

/// The effective uid and command name, which the system shows for any process.
fn short_info(pid: libc::pid_t) -> (Option<u32>, String) {
    let Some(info) = short_bsd_info(pid, 0) else {
        return (None, "?".into());
    };
    let comm: Vec<u8> = info
        .pbsi_comm
        .iter()
        .take_while(|c| **c != 0)
        .map(|c| *c as u8)
        .collect();
    (
        Some(info.pbsi_uid),
        String::from_utf8_lossy(&comm).into_owned(),
    )
}

unsafe extern "C" {
    /// `<pthread/qos.h>`: sets the calling thread's quality-of-service class.
    fn pthread_set_qos_class_self_np(qos_class: u32, relative_priority: c_int) -> c_int;
}

/// `QOS_CLASS_UTILITY` from `<sys/qos.h>`: long-running work the user does
/// not wait on; lower CPU and I/O priority than the default class.
const QOS_CLASS_UTILITY: u32 = 0x11;

/// Moves the calling thread to the utility QoS class
/// (`pthread_set_qos_class_self_np`): on macOS `setpriority` would renice the
/// whole process, the QoS class belongs to the thread (and threads it creates
/// start in it). Best effort: failing only means the prune competes as an equal.
pub fn lower_thread_priority() {
    // SAFETY: a plain call with integer arguments about this thread.
    let _ = unsafe { pthread_set_qos_class_self_np(QOS_CLASS_UTILITY, 0) };
}

/// `SZOMB` from `<sys/proc.h>`: exited, not yet reaped by its parent.
const SZOMB: u32 = 5;

/// Whether `pid` is a zombie: `proc_pidinfo(PROC_PIDT_SHORTBSDINFO)` with a
/// non-zero `arg`, which xnu answers for zombies too (`proc_find_zombref`),
/// and its `pbsi_status`. `None` when the process is not there to ask.
pub fn is_zombie(pid: u32) -> Option<bool> {
    let pid = libc::pid_t::try_from(pid).ok()?;
    short_bsd_info(pid, 1).map(|info| info.pbsi_status == SZOMB)
}

/// The longest argument area the kernel keeps (`kern.argmax`), else 1 MiB.
fn arg_max() -> usize {
    let mut mib = [libc::CTL_KERN, libc::KERN_ARGMAX];
    let mut value: c_int = 0;
    let mut size = size_of::<c_int>();
    // SAFETY: `value` holds `size` bytes; no new value is set.
    let rc = unsafe {
        libc::sysctl(
            mib.as_mut_ptr(),
            2,
            (&raw mut value).cast(),
            &mut size,
            std::ptr::null_mut(),
            0,
        )
    };
    match usize::try_from(value) {
        Ok(max) if rc == 0 && max > 0 => max,
        _ => 1 << 20,
    }
}

/// A process's arguments, one string each: `sysctl(KERN_PROCARGS2)`,
/// parsed by `procargs.rs`. `None` when the process is gone or not ours.
pub fn process_args(pid: u32) -> Option<Vec<String>> {
    let pid = c_int::try_from(pid).ok()?;
    let mut mib = [libc::CTL_KERN, libc::KERN_PROCARGS2, pid];
    let mut buffer = vec![0u8; arg_max()];
    let mut size = buffer.len();
    // SAFETY: `buffer` holds `size` bytes; the kernel writes at most that
    // and sets `size` to what it wrote; no new value is set.
    let rc = unsafe {
        libc::sysctl(
            mib.as_mut_ptr(),
            3,
            buffer.as_mut_ptr().cast(),
            &mut size,
            std::ptr::null_mut(),
            0,
        )
    };
    if rc != 0 {
        return None;
    }
    buffer.truncate(size);
    super::procargs::parse_procargs2(&buffer)
}
