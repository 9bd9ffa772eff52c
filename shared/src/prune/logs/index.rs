//! What earlier runs verified about each log, so a run reads only what changed.
//!
//! After a log is read, we know the earliest timestamp among its entries and
//! where its last complete line ends. Until the cutoff passes that timestamp,
//! nothing in that part of the file can expire. So a later run:
//! - skips the file when its identity, size and mtime are unchanged;
//! - reads only the appended bytes when it grew and the bytes just before the
//!   verified end still match (an append, not a rewrite);
//! - once the cutoff has passed the earliest entry, reads only around the
//!   stretch that its checkpoints show to be all current, up to the verified
//!   end ([`super::checkpoints`]): the expired head before it and what was
//!   appended after it;
//! - reads everything otherwise (new inode, shrunk, rewritten, no current
//!   stretch).
//!
//! The index lives in `BUILD_DIR/.prune-daemon/log-index` (postcard). It is a
//! cache: unreadable or from another version, it is ignored and rebuilt.

use std::collections::HashMap;
use std::fs::File;
use std::io;
use std::io::Write as _;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::checkpoints::{Checkpoints, CurrentRun};
use super::fingerprint::fingerprint;
use crate::prune::Cutoff;

/// Bump when the meaning of an entry changes; older indexes are discarded.
const INDEX_VERSION: u32 = 2;

/// What one earlier run verified about one log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verified {
    dev: u64,
    ino: u64,
    size: u64,
    mtime_ns: i64,
    /// End of the last complete line that was read.
    verified_len: u64,
    /// Earliest entry timestamp in `[0, verified_len)`; `None` if it has no entries.
    earliest: Option<[u8; 20]>,
    /// Hash of the bytes just before `verified_len`.
    fingerprint: u64,
    /// Entry starts in `[0, verified_len)` and the age of the entries after each.
    checkpoints: Checkpoints,
}

/// How much of a log this run has to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// Nothing changed and nothing can have expired.
    Skip,
    /// Only bytes from this offset (a line start) are new.
    ReadFrom(u64),
    /// The earliest entry expired, but this stretch up to the verified end
    /// holds current entries only: the bytes around it are to be read.
    ReadAround(CurrentRun),
    /// Read the whole file.
    Full,
}

impl Verified {
    /// Records a file read up to `verified_len` whose entries start at
    /// `earliest`, with the checkpoints the pass noted.
    pub fn record(
        file: &File,
        meta: &std::fs::Metadata,
        verified_len: u64,
        earliest: Option<[u8; 20]>,
        checkpoints: Checkpoints,
    ) -> Self {
        Self {
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.len(),
            mtime_ns: meta.mtime() * 1_000_000_000 + meta.mtime_nsec(),
            verified_len,
            earliest,
            fingerprint: fingerprint(file, verified_len).unwrap_or(0),
            checkpoints: checkpoints.marks_only(),
        }
    }

    /// Combines this record with what an incremental read of the rest
    /// (from the verified end) found.
    pub fn extended(
        &self,
        file: &File,
        meta: &std::fs::Metadata,
        verified_len: u64,
        earliest: Option<[u8; 20]>,
        checkpoints: Checkpoints,
    ) -> Self {
        let earliest = match (self.earliest, earliest) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let mut all = self.checkpoints.clone();
        all.append(checkpoints);
        Self::record(file, meta, verified_len, earliest, all)
    }

    /// Whether the verified part holds any entry: if so, and its earliest has
    /// not expired, an expired entry after it is not part of an expired head.
    pub fn has_entries(&self) -> bool {
        self.earliest.is_some()
    }

    /// Whether `meta` is the recorded file, at least as long as recorded (an
    /// appender may have written since): its earliest entry is still
    /// [`Verified::earliest`], as far as a log written in order goes.
    pub fn is_same_file(&self, meta: &std::fs::Metadata) -> bool {
        (meta.dev(), meta.ino()) == (self.dev, self.ino) && meta.len() >= self.size
    }

    /// Whether the file is exactly as recorded and nothing in it has expired:
    /// the cheap check [`Verified::plan`] starts with, from metadata alone.
    pub fn is_unchanged(&self, meta: &std::fs::Metadata, cutoff: &Cutoff) -> bool {
        (meta.dev(), meta.ino()) == (self.dev, self.ino)
            && !self
                .earliest
                .is_some_and(|earliest| cutoff.expires_log_stamp(&earliest))
            && meta.len() == self.size
            && meta.mtime() * 1_000_000_000 + meta.mtime_nsec() == self.mtime_ns
    }

    /// Decides how much of `file` (with `meta`) must be read under `cutoff`.
    pub fn plan(&self, file: &File, meta: &std::fs::Metadata, cutoff: &Cutoff) -> Plan {
        if (meta.dev(), meta.ino()) != (self.dev, self.ino) {
            return Plan::Full;
        }
        if self
            .earliest
            .is_some_and(|earliest| cutoff.expires_log_stamp(&earliest))
        {
            return match self.current_run(file, meta, cutoff) {
                Some(run) => Plan::ReadAround(run),
                None => Plan::Full,
            };
        }
        let mtime_ns = meta.mtime() * 1_000_000_000 + meta.mtime_nsec();
        if meta.len() == self.size && mtime_ns == self.mtime_ns {
            return Plan::Skip;
        }
        if meta.len() >= self.verified_len
            && fingerprint(file, self.verified_len).ok() == Some(self.fingerprint)
        {
            return Plan::ReadFrom(self.verified_len);
        }
        Plan::Full
    }

    /// The stretch up to the verified end that holds current entries only,
    /// if the file still holds what was verified (an append at most).
    fn current_run(
        &self,
        file: &File,
        meta: &std::fs::Metadata,
        cutoff: &Cutoff,
    ) -> Option<CurrentRun> {
        let run = self
            .checkpoints
            .current_run(self.verified_len, self.fingerprint, cutoff)?;
        (meta.len() >= self.verified_len && run.still_holds(file, cutoff)).then_some(run)
    }

    /// The earliest entry timestamp in the verified part of the file, if any.
    pub fn earliest(&self) -> Option<[u8; 20]> {
        self.earliest
    }

    /// The entry starts noted in the verified part, in order of offset (a
    /// view's bounded read of a long log starts at one).
    pub fn marks(&self) -> &[super::checkpoints::Mark] {
        self.checkpoints.marks()
    }
}

/// The per-build-directory index of verified logs.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct LogIndex {
    version: u32,
    files: HashMap<PathBuf, Verified>,
}

impl LogIndex {
    /// Loads the index, or an empty one if it is missing, corrupt or stale.
    pub fn load(path: &Path) -> Self {
        std::fs::read(path)
            .ok()
            .and_then(|bytes| postcard::from_bytes::<LogIndex>(&bytes).ok())
            .filter(|index| index.version == INDEX_VERSION)
            .unwrap_or_default()
    }

    /// What was verified about `log`.
    pub fn get(&self, log: &Path) -> Option<&Verified> {
        self.files.get(log)
    }

    /// Replaces the index with this run's knowledge (files not seen are dropped).
    pub fn from_run(files: HashMap<PathBuf, Verified>) -> Self {
        Self {
            version: INDEX_VERSION,
            files,
        }
    }

    /// Writes the index atomically (temp file + rename); failures only cost speed.
    pub fn save(&self, path: &Path) -> io::Result<()> {
        let bytes = postcard::to_stdvec(self).map_err(io::Error::other)?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        remove_abandoned_temps(path);
        let temp = path.with_extension(format!("tmp.{}", std::process::id()));
        // Private, whatever the umask: it lists every log's path.
        std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&temp)?
            .write_all(&bytes)?;
        std::fs::rename(&temp, path)
    }
}

/// Removes `log-index.tmp.<pid>` files whose pid is gone: a run killed while
/// saving leaves one, and nothing else would ever remove it.
fn remove_abandoned_temps(path: &Path) {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return;
    };
    let prefix = format!("{}.tmp.", name.to_string_lossy());
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        let pid = file_name
            .to_str()
            .and_then(|n| n.strip_prefix(&prefix))
            .and_then(|pid| pid.parse::<u32>().ok());
        if pid.is_some_and(|pid| crate::platform::temp_file_abandoned(&entry.path(), pid)) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}
