//! What every platform without Linux's collapse-range and leases does: macOS,
//! and Linux itself when built with the test-only `portable` feature.
//!
//! - Who holds a file: the OS lists each process's descriptors ([`Process`],
//!   from `macos.rs` or, in the portable Linux build, from procfs); one pure
//!   function ([`holders`]) turns that into [`Holder`]s. A process whose
//!   descriptors the system will not show us counts as a writer of every log
//!   we ask about ([`Access::Unknown`]): we skip, we never guess.
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

use super::{Access, FileId, Holder};

/// Whether [`Lease`] can ever be taken here: no.
pub const LEASES_AVAILABLE: bool = false;

/// Why a log held by an O_APPEND writer cannot be pruned in place here.
#[cfg(target_os = "macos")]
pub const WHY_NO_COLLAPSE: &str =
    "and macOS cannot cut the head off a file in place (APFS has no collapse-range)";

/// Why a log held by an O_APPEND writer cannot be pruned in place here.
#[cfg(not(target_os = "macos"))]
pub const WHY_NO_COLLAPSE: &str = "and this portable build cannot cut the head off a file in place (no collapse-range, as on macOS)";

/// One process and what its descriptor table showed us.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Process {
    /// Its pid.
    pub pid: u32,
    /// The effective uid it runs as, when the system tells us.
    pub uid: Option<u32>,
    /// Its command name, for messages.
    pub command: String,
    /// Its open files, or why we could not see them.
    pub table: Table,
}

/// A process's descriptor table as far as we could read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Table {
    /// The files it has open (only those of interest), with how.
    Files(Vec<(FileId, Access)>),
    /// The system refused to show them (permissions, sandbox) or failed.
    Denied,
}

/// Turns the OS's process list into holders of the `wanted` files.
///
/// A process that showed its table holds what it showed. A process that did
/// not counts as a writer ([`Access::Unknown`]) of every wanted file when it
/// could write to our files: it runs as our effective uid, or its uid is
/// unknown, or we are root (then every file may be ours to prune). A process
/// of another user while we are not root is as invisible as on Linux, where
/// `/proc/<pid>/fd` of other users is unreadable; the walk already leaves
/// alone logs we do not own.
pub fn holders(
    processes: impl IntoIterator<Item = Process>,
    wanted: &HashSet<FileId>,
    euid: u32,
) -> HashMap<FileId, Vec<Holder>> {
    let mut found: HashMap<FileId, Vec<Holder>> = HashMap::new();
    if wanted.is_empty() {
        return found;
    }
    for process in processes {
        match process.table {
            Table::Files(files) => {
                for (id, access) in files {
                    if wanted.contains(&id) {
                        found.entry(id).or_default().push(Holder {
                            pid: process.pid,
                            command: process.command.clone(),
                            access,
                        });
                    }
                }
            }
            Table::Denied => {
                let could_write_ours = euid == 0 || process.uid.is_none_or(|uid| uid == euid);
                if could_write_ours {
                    for id in wanted {
                        found.entry(*id).or_default().push(Holder {
                            pid: process.pid,
                            command: process.command.clone(),
                            access: Access::Unknown,
                        });
                    }
                }
            }
        }
    }
    found
}

/// `FREAD` and `FWRITE` from `<sys/fcntl.h>`: the open-file flags (`fg_flag`)
/// macOS reports in `proc_fileinfo.fi_openflags` are `O_*` flags with the
/// access mode as two bits, not as `O_RDONLY`/`O_WRONLY`/`O_RDWR`.
#[cfg(test)]
const FREAD: u32 = 0x1;
#[cfg_attr(not(target_os = "macos"), allow(dead_code))]
const FWRITE: u32 = 0x2;
/// `O_APPEND` on BSD and macOS (Linux's is 0o2000).
#[cfg_attr(not(target_os = "macos"), allow(dead_code))]
const BSD_O_APPEND: u32 = 0x8;

#[cfg(target_os = "macos")]
const _: () = assert!(libc::O_APPEND as u32 == BSD_O_APPEND);

/// How a descriptor with BSD open-file flags (`fi_openflags`) holds its file
/// (used by `macos.rs`; its test runs everywhere).
#[cfg_attr(not(target_os = "macos"), allow(dead_code))]
pub fn access_from_bsd_flags(flags: u32) -> Access {
    if flags & FWRITE == 0 {
        Access::Read
    } else if flags & BSD_O_APPEND != 0 {
        Access::Append
    } else {
        Access::Positional
    }
}

/// Finds every process holding one of `files` open, with how it holds it:
/// [`holders`] over the OS's process list.
pub fn open_files(files: &HashSet<FileId>) -> HashMap<FileId, Vec<Holder>> {
    if files.is_empty() {
        return HashMap::new();
    }
    let euid = rustix::process::geteuid().as_raw();
    holders(processes(files), files, euid)
}

#[cfg(target_os = "macos")]
use super::macos::processes;

/// The portable Linux build's process list: procfs, read into the same
/// [`Process`] shape as macOS's libproc list, so [`holders`] is the code
/// under test. A `/proc/<pid>/fd` we may not read is [`Table::Denied`].
#[cfg(target_os = "linux")]
fn processes(wanted: &HashSet<FileId>) -> Vec<Process> {
    super::linux::processes(wanted)
}

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

    fn process(pid: u32, uid: Option<u32>, table: Table) -> Process {
        Process {
            pid,
            uid,
            command: format!("cmd{pid}"),
            table,
        }
    }

    #[test]
    fn shown_tables_give_their_holders_and_nothing_else() {
        let (a, b, other) = ((1, 10), (1, 11), (1, 99));
        let wanted: HashSet<FileId> = [a, b].into_iter().collect();
        let found = holders(
            [
                process(
                    100,
                    Some(501),
                    Table::Files(vec![(a, Access::Append), (other, Access::Positional)]),
                ),
                process(101, Some(501), Table::Files(vec![(b, Access::Read)])),
            ],
            &wanted,
            501,
        );
        assert_eq!(found.len(), 2);
        assert_eq!(found[&a][0].pid, 100);
        assert_eq!(found[&a][0].access, Access::Append);
        assert_eq!(found[&b][0].access, Access::Read);
        assert!(!found.contains_key(&other));
    }

    #[test]
    fn a_process_we_may_not_inspect_counts_as_a_writer_of_every_log() {
        let (a, b) = ((1, 10), (1, 11));
        let wanted: HashSet<FileId> = [a, b].into_iter().collect();
        // Our own uid, or an unknown one: it may be writing to any of them.
        for uid in [Some(501), None] {
            let found = holders([process(7, uid, Table::Denied)], &wanted, 501);
            for id in [a, b] {
                assert_eq!(found[&id].len(), 1, "{uid:?}");
                assert_eq!(found[&id][0].access, Access::Unknown);
                assert_eq!(found[&id][0].pid, 7);
            }
        }
        // Another user's process while we are not root: invisible, as on Linux.
        assert!(holders([process(8, Some(0), Table::Denied)], &wanted, 501).is_empty());
        // As root every log may be ours to prune: anyone hidden counts.
        let as_root = holders([process(8, Some(502), Table::Denied)], &wanted, 0);
        assert_eq!(as_root[&a][0].access, Access::Unknown);
        // Nothing wanted, nothing found.
        assert!(holders([process(7, None, Table::Denied)], &HashSet::new(), 501).is_empty());
    }

    #[test]
    fn bsd_open_flags_tell_read_append_and_positional() {
        assert_eq!(access_from_bsd_flags(FREAD), Access::Read);
        // O_EVTONLY (0x8000) descriptors only watch a file.
        assert_eq!(access_from_bsd_flags(0x8000 | FREAD), Access::Read);
        assert_eq!(access_from_bsd_flags(FWRITE | BSD_O_APPEND), Access::Append);
        assert_eq!(
            access_from_bsd_flags(FREAD | FWRITE | BSD_O_APPEND),
            Access::Append
        );
        assert_eq!(access_from_bsd_flags(FWRITE), Access::Positional);
        assert_eq!(access_from_bsd_flags(FREAD | FWRITE), Access::Positional);
    }

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
