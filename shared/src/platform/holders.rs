//! Who holds a file, in terms every OS shares: how a process holds a file
//! ([`Access`]), a holder ([`Holder`]), and the rule that turns a process
//! list ([`Process`], from libproc on macOS or procfs in the portable build)
//! into holders ([`holders`]). A leaf: it imports no other platform module,
//! and the OS modules only produce [`Process`]es for it.
//!
//! What counts as unknown: only a process whose descriptor table cannot be
//! read at all ([`Table::Denied`]). An error inspecting one descriptor means
//! that descriptor is not one of our logs: we own each log and have just
//! stat'ed it, so its vnode passes the checks the inspection makes for us
//! (lsof treats such an error per descriptor too). On macOS
//! `proc_pidfdinfo` fails with EPERM for files in data vaults held open by
//! the user's own agents; counting such a process as a writer of every log
//! would skip every log on a normal Mac.

use std::collections::{HashMap, HashSet};

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
    /// A process the system will not let us inspect (macOS and the portable
    /// build): it may hold the file for writing, so it counts as a writer.
    Unknown,
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

/// One process and what its descriptor table showed us.
#[cfg_attr(all(target_os = "linux", not(feature = "portable")), allow(dead_code))]
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
#[cfg_attr(all(target_os = "linux", not(feature = "portable")), allow(dead_code))]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Table {
    /// The files it has open (only those of interest), with how.
    Files(Vec<(FileId, Access)>),
    /// The system refused to show the table itself (another user's process,
    /// a sandbox) or failed; not a refusal about one descriptor.
    Denied,
}

/// Turns the OS's process list into holders of the `wanted` files.
#[cfg_attr(all(target_os = "linux", not(feature = "portable")), allow(dead_code))]
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
}
