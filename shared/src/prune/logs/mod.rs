//! The logs job: every `*.log` under the build directory loses its expired entries.
//!
//! How a file is pruned depends on who holds it open, found once per run
//! (procfs on Linux, libproc on macOS: [`crate::platform::open_files`]):
//! - nobody writing: [`rewrite`] to a temp file and rename (crash-safe, and
//!   open-append-close writers are carried over under a lease);
//! - an O_APPEND writer: [`in_place`] collapse of the expired head;
//! - a positional writer: skipped, with the reason;
//! - this very process's own log ([`OwnLog`], the daemon's
//!   `logs/prune-daemon.log`) on a filesystem that cannot collapse ranges,
//!   when no other process writes to it: rewritten while the process has let
//!   go of it, then taken up again at the new file.

pub mod budget;
pub mod checkpoints;
pub mod facts;
pub mod filter;
mod fingerprint;
pub mod in_place;
pub mod index;
pub mod method;
pub mod newlines;
pub mod padding;
pub mod rewrite;
pub mod stamp;

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::File;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};

use filter::{CountingSink, LineFilter};
use in_place::{InPlace, Unheld};
use index::{LogIndex, Plan, Verified};
use rewrite::{Rewrite, TEMP_SUFFIX};

use super::{
    Budget, EventSink, Job, LogMethod, LogOutcome, LogsReport, PruneError, PruneEvent, RunOptions,
    Skipped,
};
use crate::paths::BuildDir;
use crate::platform::{self, Access, FileId, Holder};

/// A log found by the walk.
#[derive(Debug, Clone)]
pub struct LogFile {
    /// Its path.
    pub path: PathBuf,
    /// Device and inode when walked.
    pub id: FileId,
    /// Size when walked.
    pub len: u64,
}

/// What the walk found: the logs, and what it could not look into.
#[derive(Debug, Default)]
pub struct Walk {
    /// Regular `*.log` files, in a stable order.
    pub logs: Vec<LogFile>,
    /// Entries left alone on purpose (not regular files, other mounts).
    pub skipped: Vec<(PathBuf, String)>,
    /// Directories that could not be read, with the error and what to do:
    /// any logs in them could not be pruned.
    pub failed: Vec<(PathBuf, String)>,
    /// Temp files left by a crashed prune (their pid gone): a run removes
    /// them, a dry run leaves them.
    pub abandoned_temps: Vec<PathBuf>,
}

/// Finds every regular `*.log` under `root`, never following symbolic links
/// and never crossing into another filesystem, and the temp files a crashed
/// prune left. It changes nothing.
pub fn walk(root: &Path) -> io::Result<Walk> {
    let root_dev = std::fs::symlink_metadata(root)?.dev();
    // A bind mount has the st_dev of its filesystem; only the mount id tells it apart.
    let root_mount = platform::mount_id(root);
    let euid = rustix::process::geteuid();
    let mut walk = Walk::default();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(err) => {
                match super::could_not_prune(&err) {
                    Some(reason) => {
                        let (kind, advice) = reason.split_once(": ").unwrap_or((&reason, ""));
                        let reason = format!(
                            "{kind}: cannot read this directory, so no log in it was pruned; {advice}"
                        );
                        walk.failed.push((dir, reason));
                    }
                    None => walk
                        .skipped
                        .push((dir, format!("cannot read directory: {err}"))),
                }
                continue;
            }
        };
        let mut children: Vec<_> = entries.flatten().collect();
        children.sort_by_key(|e| e.file_name());
        for entry in children {
            let path = entry.path();
            let Ok(meta) = entry.metadata() else { continue };
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if meta.is_dir() {
                let same_mount = root_mount.is_none() || platform::mount_id(&path) == root_mount;
                if meta.dev() == root_dev && same_mount {
                    stack.push(path);
                } else {
                    walk.skipped.push((
                        path,
                        "another filesystem is mounted here; not descending".into(),
                    ));
                }
            } else if name.ends_with(TEMP_SUFFIX) {
                if is_abandoned(&path, &name) {
                    walk.abandoned_temps.push(path);
                }
            } else if name.ends_with(".log") {
                if meta.file_type().is_symlink() {
                    walk.skipped
                        .push((path, "symbolic link; never followed".into()));
                } else if !meta.is_file() {
                    walk.skipped.push((path, "not a regular file".into()));
                } else if !euid.is_root() && meta.uid() != euid.as_raw() {
                    // Its writers' /proc entries are hidden from us: a rename
                    // could send their next lines into a deleted file.
                    let reason = format!(
                        "owned by uid {} and we run as uid {}: processes writing to it are invisible to us, so it is left alone",
                        meta.uid(),
                        euid.as_raw()
                    );
                    walk.skipped.push((path, reason));
                } else {
                    walk.logs.push(LogFile {
                        path,
                        id: (meta.dev(), meta.ino()),
                        len: meta.len(),
                    });
                }
            }
        }
    }
    walk.logs.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(walk)
}

/// A temp file `.name.<pid>.<n>.v0-prune-tmp` nobody works on any more is a crashed run's leftover.
fn is_abandoned(path: &Path, name: &str) -> bool {
    let stem = name.trim_end_matches(TEMP_SUFFIX);
    let pid = stem.rsplit('.').nth(1).and_then(|p| p.parse::<u32>().ok());
    pid.is_some_and(|pid| platform::temp_file_abandoned(path, pid))
}

/// A log that this very process appends to and can move to a new file by
/// itself: the daemon's `logs/prune-daemon.log`, which v0 also makes the
/// daemon's stdout and stderr (`nohup ... >> logs/prune-daemon.log 2>&1`).
///
/// Such a log is held open by an O_APPEND writer (us), so where ranges
/// cannot be collapsed it would be skipped like any other; but the writer
/// can stop writing, let go of the file and take up the new one, so the
/// engine may rewrite and rename it like a log nobody holds.
pub trait OwnLog: Send + Sync {
    /// The file this process appends to now, if it has one open.
    fn file_id(&self) -> Option<FileId>;

    /// Stops this process writing to the file (lines written meanwhile wait,
    /// in order) and closes every descriptor it has on it, runs `replace`,
    /// then points those descriptors at whatever file the path names
    /// afterwards and writes the waiting lines there. Errors only if the
    /// file could not be taken up again; `replace` runs at most once.
    fn replace_while_released(&self, replace: &mut dyn FnMut()) -> io::Result<()>;
}

thread_local! {
    static OWN_LOG: RefCell<Option<Arc<dyn OwnLog>>> = const { RefCell::new(None) };
}

/// Runs `f` (a prune on this thread) knowing that `own` is this process's
/// own log, which [`prune_all`] may then rewrite under it (see [`OwnLog`]).
/// Scoped to the thread, like `tracing`'s default dispatcher, so the
/// engine's options and every caller that has no own log stay as they are.
pub fn with_own_log<R>(own: Arc<dyn OwnLog>, f: impl FnOnce() -> R) -> R {
    struct Restore(Option<Arc<dyn OwnLog>>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let previous = self.0.take();
            OWN_LOG.with(|slot| *slot.borrow_mut() = previous);
        }
    }
    let _restore = Restore(OWN_LOG.with(|slot| slot.borrow_mut().replace(own)));
    f()
}

pub(crate) fn own_log() -> Option<Arc<dyn OwnLog>> {
    OWN_LOG.with(|slot| slot.borrow().clone())
}

/// Prunes every `*.log` under the build directory.
pub fn prune_all(
    build: &BuildDir,
    options: &RunOptions,
    events: EventSink<'_>,
) -> Result<LogsReport, PruneError> {
    prune_all_within(build, options, None, events)
}

/// [`prune_all`] under a size budget: when the logs exceed it after the age
/// rule, the cutoff is raised to remove the globally oldest entries
/// ([`budget`]), and the report says how much went for which.
pub fn prune_all_within(
    build: &BuildDir,
    options: &RunOptions,
    budget: Option<&Budget>,
    events: EventSink<'_>,
) -> Result<LogsReport, PruneError> {
    let root = build.root();
    let walk = walk(root).map_err(|err| PruneError::io(root, err))?;
    if !options.dry_run {
        for temp in &walk.abandoned_temps {
            let _ = std::fs::remove_file(temp);
        }
    }
    let budget = budget::plan(&walk, options, budget);
    let options = &budget.options;
    let index_path = build.log_index();
    let index = LogIndex::load(&index_path);
    // Who holds a file only matters for files we may change: in the steady
    // state every file is unchanged and unexpired, and the procfs scan (the
    // largest fixed cost of a run) is skipped.
    let ids: HashSet<FileId> = walk
        .logs
        .iter()
        .filter(|log| {
            let unchanged = index.get(&log.path).is_some_and(|verified| {
                std::fs::symlink_metadata(&log.path)
                    .is_ok_and(|meta| verified.is_unchanged(&meta, &options.cutoff))
            });
            !unchanged
        })
        .map(|log| log.id)
        .collect();
    let mut holders = platform::open_files(&ids);
    let mut verified_now = HashMap::new();
    let mut report = LogsReport::default();
    let collect_facts = facts::collecting();
    let mut skipped_logs = Vec::new();
    for (path, reason) in walk.skipped {
        if collect_facts && path.extension().is_some_and(|ext| ext == "log") {
            let size = facts::size_of(&path).unwrap_or(0);
            let display = super::relative_display(build, &path);
            skipped_logs.push(facts::skipped(display, size, None, reason.clone()));
        }
        let skipped = Skipped {
            item: super::relative_display(build, &path),
            reason,
        };
        events(&PruneEvent::ItemSkipped {
            job: Job::Logs,
            skipped: skipped.clone(),
        });
        report.skipped.push(skipped);
    }
    for (path, reason) in walk.failed {
        let item = super::relative_display(build, &path);
        fail(&mut report, events, item, reason);
    }
    let total = walk.logs.len() as u64;
    events(&PruneEvent::JobStarted {
        job: Job::Logs,
        total,
    });
    let previous: Vec<Option<&Verified>> =
        walk.logs.iter().map(|log| index.get(&log.path)).collect();
    let log_holders: Vec<Vec<Holder>> = walk
        .logs
        .iter()
        .map(|log| holders.remove(&log.id).unwrap_or_default())
        .collect();
    let own = own_log();
    let own = own.as_deref();
    let mut done = 0u64;
    for_each_in_parallel(
        walk.logs.len(),
        |i| {
            prune_one(
                &walk.logs[i].path,
                &log_holders[i],
                options,
                previous[i],
                own,
            )
        },
        |i, outcome| {
            let log = &walk.logs[i];
            let display = super::relative_display(build, &log.path);
            report.files_examined += 1;
            let mut oldest = None;
            let outcome = outcome.map(|(outcome, verified)| {
                if let Some(verified) = verified {
                    oldest = verified.earliest();
                    verified_now.insert(log.path.clone(), verified);
                }
                outcome
            });
            if collect_facts {
                // A dry run hands back the earlier record, which may hold expired entries.
                let oldest = oldest.filter(|_| !options.dry_run);
                let holders = ids.contains(&log.id).then(|| log_holders[i].clone());
                report.files.push(facts::of_outcome(
                    &display, log.len, oldest, holders, &outcome,
                ));
            }
            match outcome {
                Ok(FileOutcome::Pruned {
                    lines_removed,
                    bytes_before,
                    bytes_after,
                    method,
                    reason,
                }) => {
                    let log_path: &str = &display;
                    tracing::debug!(
                        "{log_path}: {lines_removed} lines removed, {bytes_before} -> {bytes_after} bytes, method {method:?}: {reason}"
                    );
                    report.bytes_before += bytes_before;
                    report.bytes_after += bytes_after;
                    report.lines_removed += lines_removed;
                    let bytes_reclaimed = bytes_before.saturating_sub(bytes_after);
                    events(&PruneEvent::ItemPruned {
                        job: Job::Logs,
                        item: display.clone(),
                        detail: format!("{lines_removed} lines"),
                        bytes_reclaimed,
                    });
                    report.pruned.push(LogOutcome {
                        path: display,
                        lines_removed,
                        bytes_before,
                        bytes_after,
                        method,
                        reason,
                    });
                }
                Ok(FileOutcome::Unchanged { len }) => {
                    report.bytes_before += len;
                    report.bytes_after += len;
                }
                Ok(FileOutcome::Skipped(reason)) => {
                    report.bytes_before += log.len;
                    report.bytes_after += log.len;
                    skip(&mut report, events, display, reason);
                }
                Err(err) => {
                    report.bytes_before += log.len;
                    report.bytes_after += log.len;
                    // A full disk, an I/O error: could not be pruned. A log
                    // that vanished or changed type: left alone on purpose.
                    match super::could_not_prune(&err) {
                        Some(reason) => fail(&mut report, events, display, reason),
                        None => skip(&mut report, events, display, left_alone(&err)),
                    }
                }
            }
            done += 1;
            events(&PruneEvent::Progress {
                job: Job::Logs,
                done,
                total,
                bytes_reclaimed: report.bytes_reclaimed(),
            });
        },
    );
    report.files.append(&mut skipped_logs);
    if !options.dry_run {
        // A cache: failing to save it only makes the next run read more.
        let _ = LogIndex::from_run(verified_now).save(&index_path);
    }
    budget.finish(&mut report);
    Ok(report)
}

/// How many files are pruned at once. Pruning a small file is mostly
/// waiting: for the fsync before its rename, for the filesystem to allocate
/// the temp file's inode. Overlapping those waits is what makes thousands of
/// small logs cheap (10,000 logs on 2 cores: 2 threads 2.05x the time of
/// `cat`, 4 threads 1.6x, 8 threads 1.35x). Each thread has a read and a
/// write buffer of at most 1 MiB, so memory stays bounded (16 MiB at most).
const PARALLEL_FILES: usize = 8;

/// Runs `work(i)` for every `i < count` on up to [`PARALLEL_FILES`]
/// threads, and hands each result to `done` on this thread, in order of
/// `i`: reports and events stay in walk order whatever finishes first.
fn for_each_in_parallel<T: Send>(
    count: usize,
    work: impl Fn(usize) -> T + Sync,
    mut done: impl FnMut(usize, T),
) {
    let workers = PARALLEL_FILES.min(count);
    if workers <= 1 {
        (0..count).for_each(|i| done(i, work(i)));
        return;
    }
    let next = AtomicUsize::new(0);
    let (sender, receiver) = mpsc::channel();
    std::thread::scope(|scope| {
        for _ in 0..workers {
            let (sender, next, work) = (sender.clone(), &next, &work);
            scope.spawn(move || {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= count || sender.send((i, work(i))).is_err() {
                        break;
                    }
                }
            });
        }
        drop(sender);
        let mut waiting = BTreeMap::new();
        let mut next_in_order = 0;
        for (i, result) in receiver {
            waiting.insert(i, result);
            while let Some(result) = waiting.remove(&next_in_order) {
                done(next_in_order, result);
                next_in_order += 1;
            }
        }
    });
}

/// Why a log is left alone after an error that is no failure ([`super::could_not_prune`]).
fn left_alone(err: &io::Error) -> String {
    match err.raw_os_error() {
        Some(libc::ENOENT) => "vanished while we pruned it".to_string(),
        Some(libc::ELOOP) => {
            "became a symbolic link while we pruned it; never followed".to_string()
        }
        Some(libc::EISDIR) => "not a regular file (any more)".to_string(),
        _ => err.to_string(),
    }
}

/// An error stopped the prune of `item`: reported as failed, never as skipped.
fn fail(report: &mut LogsReport, events: EventSink<'_>, item: String, reason: String) {
    let failed = Skipped { item, reason };
    events(&PruneEvent::ItemFailed {
        job: Job::Logs,
        failed: failed.clone(),
    });
    report.failed.push(failed);
}

fn skip(report: &mut LogsReport, events: EventSink<'_>, item: String, reason: String) {
    let skipped = Skipped { item, reason };
    events(&PruneEvent::ItemSkipped {
        job: Job::Logs,
        skipped: skipped.clone(),
    });
    report.skipped.push(skipped);
}

/// What happened to one file.
#[derive(Debug, PartialEq, Eq)]
pub enum FileOutcome {
    /// Lines were removed (or would be, in a dry run).
    Pruned {
        /// Lines removed.
        lines_removed: u64,
        /// Size before.
        bytes_before: u64,
        /// Size after.
        bytes_after: u64,
        /// How.
        method: LogMethod,
        /// Why that method.
        reason: String,
    },
    /// Nothing expired.
    Unchanged {
        /// Its size.
        len: u64,
    },
    /// Left alone, and why.
    Skipped(String),
}

/// Prunes one log, choosing the method from who holds it open; `previous` is
/// what an earlier run verified about it, so unchanged content is not re-read.
/// Returns what is now verified about the file, for the next run.
pub fn prune_file(
    path: &Path,
    holders: &[Holder],
    options: &RunOptions,
    previous: Option<&Verified>,
) -> io::Result<(FileOutcome, Option<Verified>)> {
    prune_one(path, holders, options, previous, own_log().as_deref())
}

/// [`prune_file`], told which log (if any) is this process's own.
fn prune_one(
    path: &Path,
    holders: &[Holder],
    options: &RunOptions,
    previous: Option<&Verified>,
    own: Option<&dyn OwnLog>,
) -> io::Result<(FileOutcome, Option<Verified>)> {
    let held = method::holding(holders);
    if let Some(reason) = held.skip_reason() {
        return Ok((FileOutcome::Skipped(reason), None));
    }
    let appender = held == method::Holding::Appended;
    // Set when the index already shows the expired lines are not a head, so
    // the in-place attempt (a pass over the whole file) is not made.
    let mut not_a_head = None;
    // Set when the index vouches for a stretch of current entries, so the
    // in-place attempt reads only around it.
    let mut current_run = None;
    if let Some(previous) = previous.filter(|_| !appender) {
        let file = open_regular(path)?;
        let meta = file.metadata()?;
        match previous.plan(&file, &meta, &options.cutoff) {
            Plan::Skip => {
                return Ok((
                    FileOutcome::Unchanged { len: meta.len() },
                    Some(previous.clone()),
                ));
            }
            Plan::ReadFrom(offset) => {
                let stats = rewrite::probe_from(&file, offset, options.cutoff)?;
                if stats.first_drop.is_none() {
                    let verified = previous.extended(
                        &file,
                        &meta,
                        stats.input_complete,
                        stats.earliest_kept,
                        stats.checkpoints,
                    );
                    return Ok((
                        FileOutcome::Unchanged {
                            len: stats.bytes_in,
                        },
                        Some(verified),
                    ));
                }
                if let (Some(at), true) = (stats.first_drop, previous.has_entries()) {
                    // The verified part holds current entries only (its
                    // earliest has not expired), and an expired one follows.
                    not_a_head = Some(format!(
                        "rewritten: an expired entry (byte {at}) follows current ones (the log index vouches for the {offset} bytes before), so the expired lines are not one head"
                    ));
                }
            }
            Plan::ReadAround(run) => current_run = Some(run),
            Plan::Full => {}
        }
    }
    if options.dry_run {
        return Ok((dry_run(path, options)?, previous.cloned()));
    }
    if !appender {
        let unheld = match not_a_head {
            Some(reason) => Unheld::Rewrite(reason),
            None => in_place::prune_unheld(path, options.cutoff, current_run.as_ref())?,
        };
        let (reason, known) = match unheld {
            Unheld::Nothing { len, verified } => {
                return Ok((FileOutcome::Unchanged { len }, Some(verified)));
            }
            Unheld::Collapsed {
                lines_removed,
                bytes_before,
                bytes_removed,
                verified,
            } => {
                let outcome = FileOutcome::Pruned {
                    lines_removed,
                    bytes_before,
                    bytes_after: bytes_before - bytes_removed,
                    method: LogMethod::InPlaceUnheld,
                    reason: "nobody holds it and its expired lines form a head: collapsed in place, nothing copied".into(),
                };
                return Ok((outcome, Some(verified)));
            }
            Unheld::Rewrite(reason) => (reason, None),
            Unheld::NotAHead { reason, known } => (reason, Some(known)),
        };
        match rewrite::rewrite(path, options.cutoff, known)? {
            Rewrite::Unchanged(stats, verified) => {
                return Ok((
                    FileOutcome::Unchanged {
                        len: stats.bytes_in,
                    },
                    Some(verified),
                ));
            }
            Rewrite::Replaced(stats, verified) => {
                let outcome = FileOutcome::Pruned {
                    lines_removed: stats.lines_removed,
                    bytes_before: stats.bytes_in,
                    bytes_after: stats.bytes_out,
                    method: LogMethod::Rewrite,
                    reason,
                };
                return Ok((outcome, Some(verified)));
            }
            Rewrite::HeldBy(writers) => {
                if let Some(writer) = writers
                    .iter()
                    .find(|h| matches!(h.access, Access::Positional | Access::Unknown))
                {
                    return prune_one(path, std::slice::from_ref(writer), options, None, own);
                }
                // Appenders only: the in-place method below, told who they are.
                return prune_one(path, &writers, options, None, own);
            }
        }
    }
    if let Some(own) = own
        && let Some(outcome) = prune_own_log(path, holders, options, own)?
    {
        return Ok(outcome);
    }
    let held_by = holders
        .iter()
        .find(|h| h.access == Access::Append)
        .map(|h| format!("pid {} ({})", h.pid, h.command))
        .unwrap_or_else(|| "a process that appeared while we pruned".into());
    let outcome = match in_place::prune_head(path, options.cutoff)? {
        InPlace::Nothing => FileOutcome::Unchanged {
            len: std::fs::metadata(path)?.len(),
        },
        InPlace::Collapsed {
            lines_removed,
            bytes_before,
            bytes_removed,
        } => FileOutcome::Pruned {
            lines_removed,
            bytes_before,
            bytes_after: bytes_before - bytes_removed,
            method: LogMethod::InPlace,
            reason: format!(
                "held open by an O_APPEND writer, {held_by}: expired head collapsed in place"
            ),
        },
        InPlace::Refused(reason) => FileOutcome::Skipped(reason),
    };
    Ok((outcome, None))
}

/// Our own log, where it cannot be collapsed in place and no other process
/// writes to it: rewritten and renamed while we have let go of it
/// ([`OwnLog::replace_while_released`]), so none of our lines is lost or
/// torn. `None`: not our log, or not this way (the caller goes on as for any
/// log held by an appender).
fn prune_own_log(
    path: &Path,
    holders: &[Holder],
    options: &RunOptions,
    own: &dyn OwnLog,
) -> io::Result<Option<(FileOutcome, Option<Verified>)>> {
    let file = open_regular(path)?;
    let meta = file.metadata()?;
    if own.file_id() != Some((meta.dev(), meta.ino())) {
        return Ok(None);
    }
    // Where ranges collapse, or with another writer (who would lose its
    // lines to a rename), the general rules apply.
    if !method::rewrites_own_log(holders, true, platform::supports_collapse(&file)) {
        return Ok(None);
    }
    // Let go of our log only when there is something to remove.
    let probe = rewrite::probe_from(&file, 0, options.cutoff)?;
    if probe.first_drop.is_none() {
        return Ok(Some((
            FileOutcome::Unchanged {
                len: probe.bytes_in,
            },
            None,
        )));
    }
    drop(file);
    let mut rewritten = None;
    own.replace_while_released(&mut || {
        rewritten = Some(rewrite::rewrite(path, options.cutoff, None));
    })?;
    let rewritten =
        rewritten.ok_or_else(|| io::Error::other("our own log is already being replaced"))??;
    Ok(Some(match rewritten {
        Rewrite::Unchanged(stats, verified) => (
            FileOutcome::Unchanged {
                len: stats.bytes_in,
            },
            Some(verified),
        ),
        Rewrite::Replaced(stats, verified) => (
            FileOutcome::Pruned {
                lines_removed: stats.lines_removed,
                bytes_before: stats.bytes_in,
                bytes_after: stats.bytes_out,
                method: LogMethod::Rewrite,
                reason: "our own log, on a filesystem that cannot collapse ranges: rewritten while we let go of it".into(),
            },
            Some(verified),
        ),
        Rewrite::HeldBy(writers) => {
            let who = writers
                .iter()
                .map(|h| format!("pid {} ({})", h.pid, h.command))
                .collect::<Vec<_>>()
                .join(", ");
            let reason = format!(
                "our own log is also held open for writing by {who}; renaming it would lose their lines"
            );
            (FileOutcome::Skipped(reason), None)
        }
    }))
}

/// Opens a log for reading without following a symlink or blocking on a FIFO
/// that replaced it since the walk, and refuses anything but a regular file.
fn open_regular(path: &Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)?;
    if !file.metadata()?.is_file() {
        return Err(io::Error::other("not a regular file (any more)"));
    }
    Ok(file)
}

fn dry_run(path: &Path, options: &RunOptions) -> io::Result<FileOutcome> {
    let mut file = open_regular(path)?;
    let mut filter = LineFilter::for_len(options.cutoff, file.metadata()?.len());
    filter.pump(&mut file, &mut CountingSink)?;
    let stats = filter.finish(&mut CountingSink)?;
    Ok(if stats.lines_removed == 0 {
        FileOutcome::Unchanged {
            len: stats.bytes_in,
        }
    } else {
        FileOutcome::Pruned {
            lines_removed: stats.lines_removed,
            bytes_before: stats.bytes_in,
            bytes_after: stats.bytes_out,
            method: LogMethod::DryRun,
            reason: "dry run: nothing written".into(),
        }
    })
}

#[cfg(test)]
mod tests;
