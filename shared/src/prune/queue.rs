//! The merge-queue job: drop old terminal entries from `mergeq/queue.json`.
//!
//! v0's bash pruner rewrites the queue without taking its lock, so an entry
//! the merge queue adds meanwhile can vanish. We read without the lock to see
//! whether anything is to go (so a routine run never contends with mergeq),
//! then take `.queue.lock` ([`lock`]), read again, and replace the file
//! atomically. The kept text is spliced from the original bytes ([`plan`]),
//! never re-serialised. Just before the rename we check that the file is
//! still what we read, in case a writer ignores the lock; if not we start
//! over, a bounded number of times.
//!
//! One window is left: a lock-ignoring writer that renames its file between
//! our last check and our rename loses its update. No rename on Linux is
//! conditional on the target's content, so only the lock can close it.

mod lock;
mod plan;
#[cfg(test)]
mod tests;

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use self::lock::QueueLock;
use self::plan::Plan;
use super::{EventSink, Job, PruneError, PruneEvent, QueueReport, RunOptions, Skipped};
use crate::paths::BuildDir;
use crate::platform::{self, FileId};

/// How long we wait for mergeq to release `.queue.lock`.
const LOCK_WAIT: Duration = Duration::from_secs(10);

/// How many times we read and replace before giving up on a lock-ignoring writer.
const ATTEMPTS: u32 = 5;

/// Our temp files in `mergeq/` start with this, then `<pid>.<n>.tmp`.
const TEMP_PREFIX: &str = ".queue.json.v0-prune.";

/// Numbers temp files, so concurrent replaces in one process never collide.
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Removes old terminal entries from `mergeq/queue.json` under its lock.
///
/// A missing queue is not an error (`present: false`). A queue that is not
/// valid JSON or not `{"entries": [...]}` is [`PruneError::CorruptQueue`] and
/// is left byte for byte as it was. A dry run reads without the lock and
/// writes nothing.
pub fn prune(
    build: &BuildDir,
    options: &RunOptions,
    events: EventSink<'_>,
) -> Result<QueueReport, PruneError> {
    prune_with(build, options, events, &mut Tuning::default())
}

/// Knobs the tests turn: time limits, and a hook between our read and our rename.
struct Tuning {
    lock_wait: Duration,
    attempts: u32,
    /// Called with the attempt number after the temp file is written, before
    /// the last check and the rename: where a lock-ignoring writer strikes.
    #[cfg(test)]
    before_rename: Option<Box<dyn FnMut(u32)>>,
}

impl Default for Tuning {
    fn default() -> Self {
        Self {
            lock_wait: LOCK_WAIT,
            attempts: ATTEMPTS,
            #[cfg(test)]
            before_rename: None,
        }
    }
}

fn prune_with(
    build: &BuildDir,
    options: &RunOptions,
    events: EventSink<'_>,
    tuning: &mut Tuning,
) -> Result<QueueReport, PruneError> {
    let path = build.queue_file();
    let Some(unlocked) = Snapshot::read(&path)? else {
        return Ok(absent(events, 0));
    };
    let plan = plan_for(&path, &unlocked, options)?;
    if plan.output.is_none() || options.dry_run {
        if !options.dry_run {
            // What a killed pruner left; the locked path below does the same.
            lock::clear_stale(&build.queue_lock());
            sweep_stale_temps(&build.mergeq_dir());
        }
        return Ok(finish(plan, &unlocked, events, 0));
    }

    let _lock = QueueLock::acquire(&build.queue_lock(), tuning.lock_wait)?;
    sweep_stale_temps(&build.mergeq_dir());
    let mut retries = 0;
    let mut unlocked = Some((unlocked, plan));
    loop {
        // mergeq may have written between our first read and the lock.
        let Some(snapshot) = Snapshot::read(&path)? else {
            return Ok(absent(events, retries));
        };
        let plan = match unlocked.take() {
            // Unchanged since the first read: its plan stands (half the parsing).
            Some((first, plan)) if first.same_as(&snapshot) => plan,
            _ => plan_for(&path, &snapshot, options)?,
        };
        let Some(output) = &plan.output else {
            return Ok(finish(plan, &snapshot, events, retries));
        };
        let replaced = match replace(&path, &snapshot, output, tuning, retries) {
            Ok(replaced) => replaced,
            // The disk, not the queue, is at fault: the queue stays as it was
            // and the report says it could not be pruned, and why.
            Err(PruneError::Io { path: at, source }) => match super::could_not_prune(&source) {
                Some(reason) => {
                    let item = super::relative_display(build, &path);
                    return Ok(failed(plan, &snapshot, events, retries, item, reason));
                }
                None => return Err(PruneError::Io { path: at, source }),
            },
            Err(err) => return Err(err),
        };
        if replaced {
            return Ok(finish(plan, &snapshot, events, retries));
        }
        retries += 1;
        tracing::info!(
            "{} changed while we pruned it (a writer ignoring .queue.lock); reading it again",
            path.display()
        );
        if retries >= tuning.attempts {
            return Err(PruneError::QueueKeptChanging {
                path: path.display().to_string(),
                retries,
            });
        }
        std::thread::sleep(Duration::from_millis(10) * retries);
    }
}

/// The queue file as we read it, and what identifies that version of it.
#[derive(Debug)]
struct Snapshot {
    bytes: Vec<u8>,
    id: FileId,
    mtime: (i64, i64),
    mode: u32,
    owner: (u32, u32),
}

impl Snapshot {
    /// Reads the queue; `None` when it (or `mergeq/`) does not exist.
    fn read(path: &Path) -> Result<Option<Self>, PruneError> {
        // O_NONBLOCK: a FIFO planted at the path must not hang us.
        let opened = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
            .open(path);
        let mut file = match opened {
            Ok(file) => file,
            Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(err) if err.raw_os_error() == Some(libc::ELOOP) => {
                return Err(corrupt(path, "it is a symbolic link, not a regular file"));
            }
            Err(err) => return Err(PruneError::io(path, err)),
        };
        let meta = file.metadata().map_err(|err| PruneError::io(path, err))?;
        if !meta.is_file() {
            return Err(corrupt(path, "it is not a regular file"));
        }
        let mut bytes = Vec::with_capacity(meta.len() as usize);
        file.read_to_end(&mut bytes)
            .map_err(|err| PruneError::io(path, err))?;
        Ok(Some(Self {
            bytes,
            id: (meta.dev(), meta.ino()),
            mtime: (meta.mtime(), meta.mtime_nsec()),
            mode: meta.permissions().mode(),
            owner: (meta.uid(), meta.gid()),
        }))
    }

    /// Whether `other` is the same version of the file: same inode, same time, same bytes.
    fn same_as(&self, other: &Self) -> bool {
        self.id == other.id && self.mtime == other.mtime && self.bytes == other.bytes
    }
}

fn plan_for(path: &Path, snapshot: &Snapshot, options: &RunOptions) -> Result<Plan, PruneError> {
    plan::plan(&snapshot.bytes, &options.cutoff)
        .map_err(|plan::Corrupt(message)| corrupt(path, &message))
}

fn corrupt(path: &Path, message: &str) -> PruneError {
    PruneError::CorruptQueue {
        path: path.display().to_string(),
        message: message.to_string(),
    }
}

/// Writes `output` beside the queue and renames it over, unless the queue
/// changed since `snapshot`; returns whether it replaced the file.
fn replace(
    path: &Path,
    snapshot: &Snapshot,
    output: &[u8],
    tuning: &mut Tuning,
    attempt: u32,
) -> Result<bool, PruneError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut temp = TempFile::create(dir)?;
    let io_err = |err| PruneError::io(&temp.path, err);
    temp.file.write_all(output).map_err(io_err)?;
    let meta = temp.file.metadata().map_err(io_err)?;
    if (meta.uid(), meta.gid()) != snapshot.owner {
        // Run as root, we must not hand mergeq a queue it cannot write. An
        // unprivileged pruner may not chown; the queue then becomes its own,
        // as with any rewrite-and-rename, and keeps its mode bits.
        if let Err(err) =
            std::os::unix::fs::fchown(&temp.file, Some(snapshot.owner.0), Some(snapshot.owner.1))
        {
            tracing::debug!("could not give {} its owner back: {err}", path.display());
        }
    }
    temp.file
        .set_permissions(fs::Permissions::from_mode(snapshot.mode & 0o7777))
        .map_err(io_err)?;
    platform::sync_all(&temp.file).map_err(io_err)?;

    #[cfg(test)]
    if let Some(hook) = tuning.before_rename.as_mut() {
        hook(attempt);
    }
    #[cfg(not(test))]
    let _ = (tuning, attempt);

    match Snapshot::read(path)? {
        Some(now) if now.same_as(snapshot) => {}
        _ => return Ok(false),
    }
    fs::rename(&temp.path, path).map_err(|err| PruneError::io(path, err))?;
    temp.renamed = true;
    File::open(dir)
        .and_then(|dir| platform::sync_all(&dir))
        .map_err(|err| PruneError::io(dir, err))?;
    Ok(true)
}

/// Our temp file in `mergeq/`; removed when dropped unless it was renamed into place.
struct TempFile {
    path: PathBuf,
    file: File,
    renamed: bool,
}

impl TempFile {
    fn create(dir: &Path) -> Result<Self, PruneError> {
        let pid = std::process::id();
        loop {
            let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
            let path = dir.join(format!("{TEMP_PREFIX}{pid}.{n}.tmp"));
            match OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&path)
            {
                Ok(file) => {
                    return Ok(Self {
                        path,
                        file,
                        renamed: false,
                    });
                }
                // A leftover of an earlier process that had our pid.
                Err(err) if err.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(err) => return Err(PruneError::io(&path, err)),
            }
        }
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.renamed {
            if let Err(err) = fs::remove_file(&self.path) {
                tracing::warn!("could not remove {}: {err}", self.path.display());
            }
        }
    }
}

/// Removes temp files left by a pruner that was killed mid-write.
fn sweep_stale_temps(dir: &Path) {
    let Ok(listing) = fs::read_dir(dir) else {
        return;
    };
    for entry in listing.flatten() {
        let name = entry.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix(TEMP_PREFIX)) else {
            continue;
        };
        let pid = rest.split('.').next().and_then(|p| p.parse::<u32>().ok());
        if rest.ends_with(".tmp")
            && pid.is_some_and(|pid| platform::temp_file_abandoned(&entry.path(), pid))
        {
            let _ = fs::remove_file(entry.path());
        }
    }
}

/// The report of a run that found no queue.
fn absent(events: EventSink<'_>, retries: u32) -> QueueReport {
    events(&PruneEvent::JobStarted {
        job: Job::Queue,
        total: 0,
    });
    events(&PruneEvent::Progress {
        job: Job::Queue,
        done: 0,
        total: 0,
        bytes_reclaimed: 0,
    });
    QueueReport {
        retries,
        ..QueueReport::default()
    }
}

/// The report of a prune whose new queue could not be written: nothing
/// removed, the queue as it was, and the failure.
fn failed(
    plan: Plan,
    snapshot: &Snapshot,
    events: EventSink<'_>,
    retries: u32,
    item: String,
    reason: String,
) -> QueueReport {
    let total = plan.entries;
    announce(&plan, events);
    let failed = Skipped { item, reason };
    events(&PruneEvent::ItemFailed {
        job: Job::Queue,
        failed: failed.clone(),
    });
    events(&PruneEvent::Progress {
        job: Job::Queue,
        done: total,
        total,
        bytes_reclaimed: 0,
    });
    let bytes = snapshot.bytes.len() as u64;
    QueueReport {
        present: true,
        entries_before: total,
        removed: Vec::new(),
        skipped: plan.skipped,
        statuses_before: plan.statuses,
        failed: vec![failed],
        bytes_before: bytes,
        bytes_after: bytes,
        retries,
    }
}

/// The job's start and what its plan leaves alone, as events: how every
/// report of this job begins, whether the new queue was written or not.
fn announce(plan: &Plan, events: EventSink<'_>) {
    events(&PruneEvent::JobStarted {
        job: Job::Queue,
        total: plan.entries,
    });
    for skipped in &plan.skipped {
        events(&PruneEvent::ItemSkipped {
            job: Job::Queue,
            skipped: skipped.clone(),
        });
    }
}

/// Turns the plan that was carried out (or, in a dry run, would be) into events and a report.
fn finish(plan: Plan, snapshot: &Snapshot, events: EventSink<'_>, retries: u32) -> QueueReport {
    let total = plan.entries;
    announce(&plan, events);
    for (entry, bytes) in &plan.removed {
        events(&PruneEvent::ItemPruned {
            job: Job::Queue,
            item: entry.label.clone(),
            detail: entry.status.clone(),
            bytes_reclaimed: *bytes,
        });
    }
    let bytes_before = snapshot.bytes.len() as u64;
    let bytes_after = plan
        .output
        .as_ref()
        .map_or(bytes_before, |o| o.len() as u64);
    events(&PruneEvent::Progress {
        job: Job::Queue,
        done: total,
        total,
        bytes_reclaimed: bytes_before.saturating_sub(bytes_after),
    });
    QueueReport {
        present: true,
        entries_before: total,
        removed: plan.removed.into_iter().map(|(entry, _)| entry).collect(),
        skipped: plan.skipped,
        failed: Vec::new(),
        bytes_before,
        bytes_after,
        retries,
        statuses_before: plan.statuses,
    }
}
