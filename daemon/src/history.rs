//! The run history, `BUILD_DIR/.prune-daemon/history.json`, kept across restarts.
//!
//! Written atomically (temp file, fsync, rename) after every run, so a crash
//! leaves either the old or the new history, never half of one. A file that
//! cannot be read as a history is renamed aside with a warning and the daemon
//! starts afresh: history is a convenience, never a reason not to prune.

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{self, Write as _};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use v0_prune_shared::paths::BuildDir;
use v0_prune_shared::platform;
use v0_prune_shared::protocol::{RunRecord, Totals};

/// Runs kept in the file; older ones only count in the totals.
pub const HISTORY_CAP: usize = 200;

/// The file's format version, bumped when its shape changes.
const FORMAT_VERSION: u32 = 1;

/// What the daemon remembers of its past runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct History {
    /// [`FORMAT_VERSION`] of the writer.
    pub version: u32,
    /// The id the next run gets, so run ids keep increasing across restarts.
    pub next_run_id: u64,
    /// Figures over every run ever recorded, including those dropped from `runs`.
    pub totals: Totals,
    /// The last [`HISTORY_CAP`] runs, oldest first.
    pub runs: VecDeque<RunRecord>,
}

impl Default for History {
    fn default() -> Self {
        Self {
            version: FORMAT_VERSION,
            next_run_id: 1,
            totals: Totals::default(),
            runs: VecDeque::new(),
        }
    }
}

/// Where the history of `build` lives.
pub fn history_path(build: &BuildDir) -> PathBuf {
    build.state_dir().join("history.json")
}

/// Removes the temp files of history saves that a killed daemon left
/// behind (`.history.json.<pid>.tmp`, nobody working on them any more).
/// Called by the daemon that holds the instance lock, before it loads.
pub fn sweep_abandoned_temps(path: &Path) {
    let Some(dir) = path.parent() else {
        return;
    };
    let Ok(listing) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in listing.flatten() {
        let name = entry.file_name();
        let pid = name
            .to_str()
            .and_then(|name| name.strip_prefix(".history.json."))
            .and_then(|rest| rest.strip_suffix(".tmp"))
            .and_then(|pid| pid.parse::<u32>().ok());
        if let Some(pid) = pid
            && pid != std::process::id()
            && platform::temp_file_abandoned(&entry.path(), pid)
        {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// A history file that could not be used, and what became of it.
#[derive(Debug)]
pub struct SetAside {
    /// Why it was not used.
    pub reason: String,
    /// Where it was moved (none if even the rename failed).
    pub moved_to: Option<PathBuf>,
}

impl History {
    /// Reads the history at `path`; a missing file is an empty history, an
    /// unusable one is renamed aside and reported.
    pub fn load(path: &Path) -> (Self, Option<SetAside>) {
        let bytes = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(err) if err.kind() == io::ErrorKind::NotFound => return (Self::default(), None),
            Err(err) => {
                let reason = format!("cannot read it: {err}");
                return (Self::default(), Some(set_aside(path, reason)));
            }
        };
        match serde_json::from_slice::<Self>(&bytes) {
            Ok(mut history) => {
                history.normalise();
                (history, None)
            }
            Err(err) => {
                let reason = format!("not a valid history: {err}");
                (Self::default(), Some(set_aside(path, reason)))
            }
        }
    }

    /// Restores the invariants a hand-edited or older file may break.
    fn normalise(&mut self) {
        while self.runs.len() > HISTORY_CAP {
            self.runs.pop_front();
        }
        let after_last = self.runs.back().map_or(1, |run| run.run_id + 1);
        self.next_run_id = self.next_run_id.max(after_last).max(1);
        self.version = FORMAT_VERSION;
    }

    /// Adds a finished run, forgetting the oldest beyond the cap.
    pub fn record(&mut self, record: RunRecord) {
        self.totals.add(&record);
        self.next_run_id = self.next_run_id.max(record.run_id + 1);
        self.runs.push_back(record);
        while self.runs.len() > HISTORY_CAP {
            self.runs.pop_front();
        }
    }

    /// Writes the history to `path` atomically.
    pub fn save(&self, path: &Path) -> io::Result<()> {
        let json = serde_json::to_vec_pretty(self).map_err(io::Error::other)?;
        let dir = path.parent().unwrap_or(Path::new("."));
        let tmp = dir.join(format!(".history.json.{}.tmp", std::process::id()));
        let written = (|| {
            let mut file = OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&tmp)?;
            file.write_all(&json)?;
            file.write_all(b"\n")?;
            platform::sync_all(&file)?;
            std::fs::rename(&tmp, path)
        })();
        if written.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        written?;
        // The rename is durable once the directory is synced.
        if let Ok(dir) = File::open(dir) {
            let _ = platform::sync_all(&dir);
        }
        Ok(())
    }
}

/// Moves an unusable history to `history.json.corrupt-<unix seconds>`.
fn set_aside(path: &Path, reason: String) -> SetAside {
    let stamp = jiff::Timestamp::now().as_second();
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".corrupt-{stamp}"));
    let target = PathBuf::from(name);
    let moved_to = std::fs::rename(path, &target).ok().map(|()| target);
    SetAside { reason, moved_to }
}

#[cfg(test)]
mod tests {
    use super::*;
    use v0_prune_shared::protocol::Trigger;
    use v0_prune_shared::prune::RunReport;

    fn record(run_id: u64) -> RunRecord {
        let mut report = RunReport::default();
        report.logs.lines_removed = 3;
        RunRecord::from_report(run_id, Trigger::Schedule, 1000, 1500, &report)
    }

    #[test]
    fn a_saved_history_loads_back_the_same() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("history.json");
        let mut history = History::default();
        history.record(record(1));
        history.record(record(2));
        history.save(&path).expect("save");
        let (loaded, aside) = History::load(&path);
        assert!(aside.is_none());
        assert_eq!(loaded, history);
        assert_eq!(loaded.next_run_id, 3);
        assert_eq!(loaded.totals.runs, 2);
        assert_eq!(loaded.totals.log_lines_removed, 6);
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .expect("list")
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(leftovers.len(), 1, "no temp file left: {leftovers:?}");
    }

    /// A history written before runs counted what could not be pruned
    /// loads as it was, those counts zero: no history is set aside for it.
    #[test]
    fn a_history_from_before_the_not_pruned_counts_still_loads() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("history.json");
        let mut history = History::default();
        history.record(record(1));
        let mut json = serde_json::to_value(&history).expect("json");
        for run in json["runs"].as_array_mut().expect("runs") {
            let run = run.as_object_mut().expect("a run");
            for key in ["failed", "failed_total", "log_files_failed"] {
                assert!(run.remove(key).is_some(), "{key}");
            }
        }
        std::fs::write(&path, serde_json::to_vec(&json).expect("bytes")).expect("write");
        let (loaded, aside) = History::load(&path);
        assert!(aside.is_none(), "{:?}", aside.map(|a| a.reason));
        assert_eq!(loaded, history);
    }

    #[test]
    fn the_file_keeps_only_the_last_runs_but_totals_count_all() {
        let mut history = History::default();
        for id in 1..=(HISTORY_CAP as u64 + 25) {
            history.record(record(id));
        }
        assert_eq!(history.runs.len(), HISTORY_CAP);
        assert_eq!(history.runs.front().map(|r| r.run_id), Some(26));
        assert_eq!(history.totals.runs, HISTORY_CAP as u64 + 25);
    }

    #[test]
    fn a_missing_file_is_an_empty_history() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (history, aside) = History::load(&dir.path().join("history.json"));
        assert!(aside.is_none());
        assert_eq!(history, History::default());
    }

    #[test]
    fn a_corrupt_file_is_set_aside_not_fatal() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("history.json");
        std::fs::write(&path, b"{\"version\": 1, \"runs\": [tru").expect("write");
        let (history, aside) = History::load(&path);
        assert_eq!(history, History::default());
        let aside = aside.expect("reported");
        assert!(
            aside.reason.contains("not a valid history"),
            "{}",
            aside.reason
        );
        let moved = aside.moved_to.expect("moved");
        assert!(!path.exists());
        assert_eq!(
            std::fs::read(&moved).expect("kept"),
            b"{\"version\": 1, \"runs\": [tru"
        );
    }

    #[test]
    fn run_ids_never_go_back_even_if_the_counter_was_edited() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("history.json");
        let mut history = History::default();
        history.record(record(41));
        history.next_run_id = 2;
        history.save(&path).expect("save");
        assert_eq!(History::load(&path).0.next_run_id, 42);
    }

    /// A daemon killed while saving leaves its temp file; the next one removes it.
    #[test]
    fn a_killed_daemons_temp_file_is_swept_and_ours_is_kept() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("history.json");
        let mut gone = std::process::Command::new("true").spawn().expect("spawn");
        let dead = gone.id();
        gone.wait().expect("reap");
        let abandoned = dir.path().join(format!(".history.json.{dead}.tmp"));
        let ours = dir
            .path()
            .join(format!(".history.json.{}.tmp", std::process::id()));
        let unrelated = dir.path().join("notes.tmp");
        for file in [&abandoned, &ours, &unrelated] {
            std::fs::write(file, b"{").expect("write");
        }
        sweep_abandoned_temps(&path);
        assert!(!abandoned.exists());
        assert!(ours.exists() && unrelated.exists());
    }
}
