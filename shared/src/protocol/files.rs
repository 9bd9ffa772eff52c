//! What is using the space: the logs and the merge queue of a build
//! directory, file by file, as the daemon last saw them (or as `v0-prune ls`
//! computes them without a daemon).
//!
//! The daemon publishes a [`FilesView`] in its [`super::Snapshot`] and, when
//! it changes, as [`super::Event::Files`]. A build directory may hold tens of
//! thousands of logs, so the view is bounded: the [`FILES_IN_VIEW`] largest
//! files, the skipped files that are not among them (at most
//! [`SKIPPED_IN_VIEW`]), and totals over every file.
//!
//! Timestamps are unix milliseconds (UTC), sizes bytes, like the rest of the
//! protocol.

use serde::{Deserialize, Serialize};

/// How many of the largest logs a [`FilesView`] lists: enough to fill a tall
/// terminal, few enough that 10,000 logs still make a small snapshot.
pub const FILES_IN_VIEW: usize = 100;

/// How many skipped logs outside the largest a [`FilesView`] also lists, so a
/// small log that cannot be pruned (a positional writer) still shows its reason.
pub const SKIPPED_IN_VIEW: usize = 20;

/// How many holders of one file a [`FileInfo`] lists (writers first).
pub const HOLDERS_PER_FILE: usize = 4;

/// The longest command or command line of a [`FileHolder`], in bytes
/// (clipped with [`super::clip_text_to`]).
pub const HOLDER_TEXT_LEN: usize = 256;

/// How many recent runs a [`FileInfo`] carries for its file.
pub const RUNS_PER_FILE: usize = 8;

/// How many distinct statuses a [`QueueInfo`] lists; the rest are counted
/// under `other`.
pub const QUEUE_STATUSES: usize = 16;

/// The logs and merge queue of a build directory, bounded whatever their number.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FilesView {
    /// When these facts were gathered (the end of the run that saw them, or
    /// the moment `ls` looked), unix milliseconds.
    pub as_of_ms: i64,
    /// The daemon run that gathered them; `None` when `v0-prune ls` computed
    /// them itself (then nothing was pruned: `lines_removed` and
    /// `bytes_reclaimed` are 0 and `method` says what a run would do).
    pub run_id: Option<u64>,
    /// The [`FILES_IN_VIEW`] largest logs, largest first (ties by path).
    pub largest: Vec<FileInfo>,
    /// Logs left alone ([`FileMethod::Skipped`]) that are not in `largest`,
    /// largest first, at most [`SKIPPED_IN_VIEW`].
    pub skipped: Vec<FileInfo>,
    /// Every `*.log` file seen, listed or not.
    pub total_files: u64,
    /// Their sizes together, bytes.
    pub total_bytes: u64,
    /// Logs left alone, listed or not.
    pub total_skipped: u64,
    /// Bytes the last run gave back over all logs (0 for `ls`).
    pub total_reclaimed: u64,
    /// Bytes the next run would give back over all logs, when known for every
    /// log (see [`FileInfo::next_reclaim`]).
    pub total_next_reclaim: Option<u64>,
    /// How fast the logs grow together, bytes per hour, over the logs whose
    /// growth is known; `None` when none is known yet.
    pub total_growth_per_hour: Option<i64>,
    /// The merge queue, `None` when there is no `mergeq/queue.json`.
    pub queue: Option<QueueInfo>,
}

/// One log file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileInfo {
    /// Path relative to the build directory (clipped to
    /// [`super::MAX_TEXT_LEN`]).
    pub path: String,
    /// Size in bytes, after the last run.
    pub size: u64,
    /// Lines the last run removed from it.
    pub lines_removed: u64,
    /// Bytes the last run gave back from it.
    pub bytes_reclaimed: u64,
    /// The timestamp of the oldest entry still in it, unix milliseconds;
    /// `None` when it has no timestamped entry or was not read (skipped).
    pub oldest_entry_ms: Option<i64>,
    /// Who holds it open, writers first, at most [`HOLDERS_PER_FILE`].
    pub holders: Vec<FileHolder>,
    /// How the last run dealt with it (for `ls` without a daemon: how a run
    /// now would).
    pub method: FileMethod,
    /// Bytes the next run would give back: exact when `ls` computed it by
    /// reading the file (for a run now), `Some(0)` when its oldest entry will
    /// not have expired by the next run or it is skipped, `None` when it
    /// cannot be known without reading it.
    pub next_reclaim: Option<u64>,
    /// How fast it grows, bytes per hour, from its sizes over the last runs
    /// (what was written, not counting what the runs removed); negative when
    /// something other than a run shrank it. `None` until two runs saw it.
    pub growth_per_hour: Option<i64>,
    /// What the last runs (at most [`RUNS_PER_FILE`], oldest first) found and
    /// removed in it, the ground of `growth_per_hour`; empty for `ls`.
    pub recent: Vec<FileRun>,
}

/// One run's look at one log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileRun {
    /// The run.
    pub run_id: u64,
    /// When the run looked at it, unix milliseconds.
    pub at_ms: i64,
    /// Its size when the run looked, bytes.
    pub size_before: u64,
    /// Bytes the run gave back from it.
    pub bytes_reclaimed: u64,
}

/// A process holding a log open: one per process, however many of its
/// descriptors refer to the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileHolder {
    /// Its pid.
    pub pid: u32,
    /// How many of its descriptors refer to the log (the prune daemon holds
    /// its own log three times: stdout, stderr and its log writer).
    pub descriptors: u32,
    /// It is this build directory's prune daemon itself.
    pub daemon: bool,
    /// Its command name (`/proc/<pid>/comm`), clipped to [`HOLDER_TEXT_LEN`].
    pub command: String,
    /// Its full command line, arguments separated by spaces, clipped to
    /// [`HOLDER_TEXT_LEN`], when the system lets us read it.
    pub command_line: Option<String>,
    /// How it holds the file (the strongest of its descriptors: a writer
    /// before a reader).
    pub access: HolderAccess,
}

impl FileHolder {
    /// Who it is, in a few words: `v0-prune-daemon 4242 (the daemon)`,
    /// `python 4711`; with its descriptors when more than one (`3 fds`).
    pub fn who(&self) -> String {
        let mut text = format!("{} {}", self.command, self.pid);
        if self.daemon {
            text.push_str(" (the daemon)");
        }
        text
    }
}

/// How a process holds a log open, which decides how the log may be pruned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HolderAccess {
    /// Reading only (`tail -f`): harmless.
    Read,
    /// Writing with O_APPEND (`cmd >> x.log`): pruned in place under it.
    Append,
    /// Writing at its own offset (`cmd > x.log`): the log is skipped.
    Positional,
    /// The system will not say (macOS, another user): counts as a writer.
    Unknown,
}

impl HolderAccess {
    /// A short word for tables: `read`, `append`, `positional`, `unknown`.
    pub fn label(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Append => "append",
            Self::Positional => "positional",
            Self::Unknown => "unknown",
        }
    }
}

impl From<crate::platform::Access> for HolderAccess {
    fn from(access: crate::platform::Access) -> Self {
        use crate::platform::Access;
        match access {
            Access::Read => Self::Read,
            Access::Append => Self::Append,
            Access::Positional => Self::Positional,
            Access::Unknown => Self::Unknown,
        }
    }
}

/// How a run dealt (or would deal) with a log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileMethod {
    /// Expired entries removed by writing the kept lines to a temp file and
    /// renaming it over the log.
    Rewrite,
    /// Expired head removed in place (the file stays the same inode), as under
    /// an O_APPEND writer.
    InPlace,
    /// Left alone.
    Skipped {
        /// Why, in words a user can act on (clipped to [`super::MAX_TEXT_LEN`]).
        reason: String,
    },
    /// Nothing in it had expired.
    NothingToDo,
}

impl FileMethod {
    /// A short word for tables: `rewrite`, `in place`, `skipped`, `-`.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Rewrite => "rewrite",
            Self::InPlace => "in place",
            Self::Skipped { .. } => "skipped",
            Self::NothingToDo => "-",
        }
    }

    /// What it means, in a sentence, for details panes and `ls --help`.
    pub fn meaning(&self) -> String {
        match self {
            Self::Rewrite => {
                "pruned by rewriting: kept lines copied to a new file renamed over the log".into()
            }
            Self::InPlace => {
                "pruned in place: the expired head removed from the same file, under its writer"
                    .into()
            }
            Self::Skipped { reason } => format!("skipped: {reason}"),
            Self::NothingToDo => "nothing to do: no entry in it has expired".into(),
        }
    }
}

/// The merge queue (`mergeq/queue.json`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueInfo {
    /// Path relative to the build directory.
    pub path: String,
    /// Size in bytes.
    pub size: u64,
    /// Entries in it.
    pub entries: u64,
    /// Entries per status, most first (ties by status), at most
    /// [`QUEUE_STATUSES`], the rest summed under `other`.
    pub by_status: Vec<StatusCount>,
    /// Entries the last run removed (0 for `ls`).
    pub entries_removed: u64,
    /// Bytes the last run gave back (0 for `ls`).
    pub bytes_reclaimed: u64,
    /// Entries a run now would remove (finished and older than the
    /// retention), when known.
    pub next_removable: Option<u64>,
}

/// How many queue entries have one status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusCount {
    /// The status as v0 writes it (`completed`, `pending`, ...; clipped).
    pub status: String,
    /// Entries with it.
    pub entries: u64,
}
