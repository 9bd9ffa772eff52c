//! From a run's per-file facts to the bounded [`FilesView`] that the
//! daemon publishes and `v0-prune ls` prints.
//!
//! The engine hands back one [`LogFacts`] per log ([`LogsReport::files`]),
//! gathered on its way at no extra read. This module keeps, per log, what
//! the last [`RUNS_PER_FILE`] runs saw (for the growth rate; files gone from
//! a run are forgotten, so memory follows the logs there are), picks the
//! largest [`FILES_IN_VIEW`] logs and the skipped ones, and completes only
//! those: their holders when the run did not look (one scan of open files),
//! their holders' command lines, one line per process with its descriptors
//! counted, the daemon marked as such, an exited process never. Every log,
//! listed or not, gets its figures: its oldest entry (wherever it lies) and
//! what the next run frees, from the run's facts when they suffice (its
//! oldest entry still current then: nothing), else from one bounded read
//! ([`facts::scan`], the index's checkpoints for a long log). Everything
//! else is a total.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::path::Path;

use crate::paths::BuildDir;
use crate::platform::{self, Access, Holder};
use crate::protocol::files::{HOLDER_TEXT_LEN, HOLDERS_PER_FILE, QUEUE_STATUSES, RUNS_PER_FILE};
use crate::protocol::{
    FILES_IN_VIEW, FileHolder, FileInfo, FileMethod, FileRun, FilesView, QueueInfo,
    SKIPPED_IN_VIEW, StatusCount, clip_text, clip_text_to,
};
use crate::prune::logs::facts::{self, Scan, VIEW_READ_LIMIT, stamp_ms};
use crate::prune::logs::index::LogIndex;
use crate::prune::{Cutoff, LogFacts, LogFate, LogMethod, QueueReport, RunReport};

/// What the view needs to know about the run besides its report.
#[derive(Debug, Clone, Copy)]
pub struct RunContext {
    /// The daemon's run id; `None` for `v0-prune ls`, which prunes nothing.
    pub run_id: Option<u64>,
    /// When the run ended (or `ls` looked), unix milliseconds.
    pub at_ms: i64,
    /// The cutoff the next run will use, unix milliseconds, when known: an
    /// entry at or after it will not go then.
    pub next_cutoff_ms: Option<i64>,
    /// The pid of this build directory's prune daemon, when one runs: its
    /// holder is marked as the daemon.
    pub daemon_pid: Option<u32>,
}

/// What the daemon remembers between runs, per log: the last runs' look at
/// it, and who held it when a run last looked. Bounded by the number of logs
/// times [`RUNS_PER_FILE`].
#[derive(Debug, Default)]
pub struct FileTracker {
    files: HashMap<String, Tracked>,
    /// Counts recorded runs; a log not seen by the latest is forgotten.
    generation: u64,
}

/// One log's memory.
#[derive(Debug, Default)]
struct Tracked {
    runs: VecDeque<FileRun>,
    /// The [`FileTracker::generation`] that last saw it.
    seen: u64,
    /// Its holders as last seen, for the runs that do not look (the file
    /// unchanged): a steady run then needs no scan of open files.
    holders: Option<Vec<Holder>>,
}

impl FileTracker {
    /// An empty tracker: growth is known from the second run on.
    pub fn new() -> Self {
        Self::default()
    }

    /// Logs remembered now.
    pub fn len(&self) -> usize {
        self.files.len()
    }

    /// Whether no log is remembered.
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// Records a run (not a dry run) that saw `facts`; logs it did not see
    /// are forgotten.
    fn record(&mut self, run_id: u64, at_ms: i64, facts: &[LogFacts]) {
        self.generation += 1;
        let generation = self.generation;
        for fact in facts {
            let tracked = match self.files.get_mut(&fact.path) {
                Some(tracked) => tracked,
                None => self.files.entry(fact.path.clone()).or_default(),
            };
            tracked.seen = generation;
            if let Some(holders) = &fact.holders {
                tracked.holders = Some(holders.clone());
            }
            let runs = &mut tracked.runs;
            if runs.len() == RUNS_PER_FILE {
                runs.pop_front();
            }
            runs.push_back(FileRun {
                run_id,
                at_ms,
                size_before: fact.size_before,
                bytes_reclaimed: fact.size_before.saturating_sub(fact.size_after),
            });
        }
        self.files.retain(|_, tracked| tracked.seen == generation);
    }

    /// Records the run and builds the view of what it left.
    pub fn update(
        &mut self,
        build: &BuildDir,
        context: RunContext,
        report: &RunReport,
    ) -> FilesView {
        if let (Some(run_id), false) = (context.run_id, report.dry_run) {
            self.record(run_id, context.at_ms, &report.logs.files);
        }
        let (view, scanned) = view_and_scan(build, context, report, Some(self));
        for (path, holders) in scanned {
            if let Some(tracked) = self.files.get_mut(&path) {
                tracked.holders = Some(holders);
            }
        }
        view
    }
}

/// Builds the view of a run's report; `tracker` supplies the last runs (the
/// daemon's), none for `v0-prune ls`.
pub fn build_view(
    build: &BuildDir,
    context: RunContext,
    report: &RunReport,
    tracker: Option<&FileTracker>,
) -> FilesView {
    view_and_scan(build, context, report, tracker).0
}

/// [`build_view`], and the holders it had to scan for (by path), for the
/// tracker to remember.
fn view_and_scan(
    build: &BuildDir,
    context: RunContext,
    report: &RunReport,
    tracker: Option<&FileTracker>,
) -> (FilesView, Vec<(String, Vec<Holder>)>) {
    let facts = &report.logs.files;
    let dry_run = report.dry_run;
    let growth: Vec<Option<i64>> = facts
        .iter()
        .map(|fact| {
            tracker
                .and_then(|t| t.files.get(&fact.path))
                .and_then(|t| growth_per_hour(&t.runs))
        })
        .collect();

    // A dry run changed nothing: a log's size is what it was.
    let size = |fact: &LogFacts| {
        if dry_run {
            fact.size_before
        } else {
            fact.size_after
        }
    };
    let mut order: Vec<usize> = (0..facts.len()).collect();
    let by_size = |&a: &usize, &b: &usize| {
        size(&facts[b])
            .cmp(&size(&facts[a]))
            .then_with(|| facts[a].path.cmp(&facts[b].path))
    };
    let shown = FILES_IN_VIEW.min(order.len());
    if shown < order.len() {
        order.select_nth_unstable_by(shown, by_size);
    }
    order[..shown].sort_unstable_by(by_size);
    let mut skipped: Vec<usize> = order[shown..]
        .iter()
        .copied()
        .filter(|&i| matches!(facts[i].fate, LogFate::Skipped(_)))
        .collect();
    skipped.sort_unstable_by(by_size);
    skipped.truncate(SKIPPED_IN_VIEW);
    let listed: Vec<usize> = order[..shown].iter().chain(&skipped).copied().collect();

    let (holders, scanned) = holders_of(build, facts, &listed, tracker);
    let next_cutoff = next_cutoff(context);
    let index = LogIndex::load(&build.log_index());
    let listed_set: HashSet<usize> = listed.iter().copied().collect();
    // Every log's oldest entry and next figure; the unlisted ones only count.
    let figures: Vec<Figures> = facts
        .iter()
        .enumerate()
        .map(|(i, fact)| {
            let want_oldest = listed_set.contains(&i);
            figures(
                build,
                fact,
                dry_run,
                next_cutoff.as_ref(),
                &index,
                want_oldest,
            )
        })
        .collect();
    let info = |i: usize| -> FileInfo {
        file_info(
            build,
            &facts[i],
            holders.get(&i).map_or(&[][..], Vec::as_slice),
            tracker.and_then(|t| t.files.get(&facts[i].path)),
            dry_run,
            figures[i],
            context.daemon_pid,
        )
    };
    let largest: Vec<FileInfo> = order[..shown].iter().map(|&i| info(i)).collect();
    let skipped_infos: Vec<FileInfo> = skipped.iter().map(|&i| info(i)).collect();
    let total_next = figures
        .iter()
        .try_fold(0u64, |sum, f| f.next.map(|n| sum.saturating_add(n)));
    let known_growth: Vec<i64> = growth.iter().flatten().copied().collect();
    let scanned = scanned
        .into_iter()
        .map(|i| {
            (
                facts[i].path.clone(),
                holders.get(&i).cloned().unwrap_or_default(),
            )
        })
        .collect();
    let view = FilesView {
        as_of_ms: context.at_ms,
        run_id: context.run_id,
        largest,
        skipped: skipped_infos,
        total_files: facts.len() as u64,
        total_bytes: facts.iter().map(size).sum(),
        total_skipped: facts
            .iter()
            .filter(|f| matches!(f.fate, LogFate::Skipped(_)))
            .count() as u64,
        total_reclaimed: if dry_run {
            0
        } else {
            facts
                .iter()
                .map(|f| f.size_before.saturating_sub(f.size_after))
                .sum()
        },
        total_next_reclaim: total_next,
        total_growth_per_hour: (!known_growth.is_empty())
            .then(|| known_growth.iter().fold(0i64, |a, b| a.saturating_add(*b))),
        queue: queue_info(build, &report.queue, dry_run),
    };
    (view, scanned)
}

/// Bytes written per hour over the runs remembered: what each run found
/// beyond what the previous one left, over the time between the first and
/// the last. Needs two runs at different times.
fn growth_per_hour(runs: &VecDeque<FileRun>) -> Option<i64> {
    let (first, last) = (runs.front()?, runs.back()?);
    let elapsed_ms = i128::from(last.at_ms) - i128::from(first.at_ms);
    if runs.len() < 2 || elapsed_ms <= 0 {
        return None;
    }
    let written: i128 = runs
        .iter()
        .zip(runs.iter().skip(1))
        .map(|(before, after)| {
            let left = i128::from(before.size_before) - i128::from(before.bytes_reclaimed);
            i128::from(after.size_before) - left
        })
        .sum();
    i64::try_from(written * 3_600_000 / elapsed_ms).ok()
}

/// Who holds each listed log: as the run found them; for the logs it did
/// not look at (unchanged since a run that did), as the tracker last saw
/// them, less the processes that have exited; else from one scan now. Also
/// returns which logs were scanned for.
fn holders_of(
    build: &BuildDir,
    facts: &[LogFacts],
    listed: &[usize],
    tracker: Option<&FileTracker>,
) -> (HashMap<usize, Vec<Holder>>, Vec<usize>) {
    use std::os::unix::fs::MetadataExt;
    let mut found = HashMap::new();
    let mut unknown = HashMap::new();
    for &i in listed {
        let remembered = tracker
            .and_then(|t| t.files.get(&facts[i].path))
            .and_then(|t| t.holders.as_ref());
        match (&facts[i].holders, remembered) {
            (Some(holders), _) => {
                found.insert(i, holders.clone());
            }
            (None, Some(holders)) => {
                let alive = holders.iter().filter(|h| platform::pid_alive(h.pid));
                found.insert(i, alive.cloned().collect());
            }
            (None, None) => {
                let path = build.root().join(&facts[i].path);
                if let Ok(meta) = std::fs::symlink_metadata(&path) {
                    unknown.insert((meta.dev(), meta.ino()), i);
                }
            }
        }
    }
    let mut scanned_for = Vec::with_capacity(unknown.len());
    if !unknown.is_empty() {
        let ids: HashSet<_> = unknown.keys().copied().collect();
        let mut scanned = platform::open_files(&ids);
        for (id, i) in unknown {
            found.insert(i, scanned.remove(&id).unwrap_or_default());
            scanned_for.push(i);
        }
    }
    (found, scanned_for)
}

fn file_info(
    build: &BuildDir,
    fact: &LogFacts,
    holders: &[Holder],
    tracked: Option<&Tracked>,
    dry_run: bool,
    figures: Figures,
    daemon_pid: Option<u32>,
) -> FileInfo {
    let runs = tracked.map(|t| &t.runs);
    let path = build.root().join(&fact.path);
    let method = method_of(fact, holders, &path);
    let (lines_removed, bytes_reclaimed) = if dry_run {
        (0, 0)
    } else {
        (
            fact.lines_removed,
            fact.size_before.saturating_sub(fact.size_after),
        )
    };
    let next = match &method {
        FileMethod::Skipped { .. } => Some(0),
        _ => figures.next,
    };
    FileInfo {
        path: clip_text(&fact.path),
        size: if dry_run {
            fact.size_before
        } else {
            fact.size_after
        },
        lines_removed,
        bytes_reclaimed,
        oldest_entry_ms: figures.oldest.as_ref().and_then(stamp_ms),
        holders: holder_infos(holders, daemon_pid),
        method,
        next_reclaim: next,
        growth_per_hour: runs.and_then(growth_per_hour),
        recent: runs
            .map(|r| r.iter().cloned().collect())
            .unwrap_or_default(),
    }
}

/// A log's oldest entry and what the next run frees from it.
#[derive(Debug, Clone, Copy, Default)]
struct Figures {
    oldest: Option<[u8; 20]>,
    next: Option<u64>,
}

/// [`Figures`] from the run's facts where they suffice, else from one
/// bounded read of the log: after a dry run (`ls`), the bytes it would
/// remove are exact and only the oldest entry is read for (`want_oldest`:
/// listed logs); after a real run, a log whose oldest entry will still be
/// current at the next cutoff frees nothing then, and any other is read
/// with that cutoff (the index's checkpoints bounding the read of a log
/// longer than [`VIEW_READ_LIMIT`]). `next` is `None` only for a log that
/// cannot be read.
fn figures(
    build: &BuildDir,
    fact: &LogFacts,
    dry_run: bool,
    next_cutoff: Option<&Cutoff>,
    index: &LogIndex,
    want_oldest: bool,
) -> Figures {
    let path = build.root().join(&fact.path);
    let skipped = matches!(fact.fate, LogFate::Skipped(_));
    // What the run verified, else what the index (just saved by the run)
    // says of the log: a log pruned in place under its appender is known
    // there too, and is not read again for the view.
    let known = fact.oldest_entry.or_else(|| {
        let verified = index.get(&path)?;
        let meta = std::fs::symlink_metadata(&path).ok()?;
        (!dry_run && verified.is_same_file(&meta))
            .then(|| verified.earliest())
            .flatten()
    });
    let read = |cutoff: &Cutoff| -> Option<Scan> {
        facts::scan(&path, cutoff, VIEW_READ_LIMIT).or_else(|| {
            let verified = index.get(&path)?;
            facts::scan_from_marks(&path, cutoff, verified.marks(), verified.earliest())
        })
    };
    if dry_run || skipped {
        let next = if skipped {
            Some(0)
        } else {
            Some(fact.size_before.saturating_sub(fact.size_after))
        };
        let oldest = match known {
            Some(oldest) => Some(oldest),
            None if want_oldest => dry_run_oldest(&path, index),
            None => None,
        };
        return Figures { oldest, next };
    }
    let Some(cutoff) = next_cutoff else {
        return Figures {
            oldest: known,
            next: None,
        };
    };
    if let Some(oldest) = known
        && !cutoff.expires_log_stamp(&oldest)
    {
        return Figures {
            oldest: Some(oldest),
            next: Some(0),
        };
    }
    match read(cutoff) {
        Some(scan) => Figures {
            oldest: known.or(scan.earliest),
            next: Some(scan.expiring),
        },
        None => Figures {
            oldest: known,
            next: None,
        },
    }
}

/// How the run dealt with the log; for a dry run (`ls`), how a run would:
/// under an appender in place, where the filesystem can, else skipped.
fn method_of(fact: &LogFacts, holders: &[Holder], path: &Path) -> FileMethod {
    match &fact.fate {
        LogFate::Skipped(reason) => FileMethod::Skipped {
            reason: clip_text(reason),
        },
        LogFate::Unchanged => FileMethod::NothingToDo,
        LogFate::Pruned(LogMethod::Rewrite) => FileMethod::Rewrite,
        LogFate::Pruned(LogMethod::InPlace | LogMethod::InPlaceUnheld) => FileMethod::InPlace,
        LogFate::Pruned(LogMethod::DryRun) => {
            if !holders.iter().any(|h| h.access == Access::Append) {
                return FileMethod::Rewrite;
            }
            let collapses =
                std::fs::File::open(path).is_ok_and(|f| platform::supports_collapse(&f));
            if collapses {
                FileMethod::InPlace
            } else {
                FileMethod::Skipped {
                    reason: clip_text(&format!(
                        "held open by an appender {}; rewriting it would lose the writer's next lines",
                        platform::WHY_NO_COLLAPSE
                    )),
                }
            }
        }
    }
}

/// How long a log a dry run's view reads again for its oldest entry; a
/// longer one (which the dry run has just read whole) is judged from its
/// head and the index instead, so that `ls` never reads a big log twice.
const DRY_RUN_OLDEST_READ: u64 = 8 << 20;

/// The oldest entry of a log the dry run did not report one for: a read
/// of a log up to [`DRY_RUN_OLDEST_READ`]; a longer one's first entry or
/// the index's earliest, whichever is older.
fn dry_run_oldest(path: &Path, index: &LogIndex) -> Option<[u8; 20]> {
    // Any cutoff tells entries apart; the oldest is what is wanted.
    let any = Cutoff::at(jiff::Timestamp::UNIX_EPOCH);
    if let Some(scan) = facts::scan(path, &any, DRY_RUN_OLDEST_READ) {
        return scan.earliest;
    }
    let head = facts::first_entry_stamp(path);
    let indexed = index.get(path).and_then(|verified| {
        let meta = std::fs::symlink_metadata(path).ok()?;
        verified
            .is_same_file(&meta)
            .then(|| verified.earliest())
            .flatten()
    });
    match (head, indexed) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// The next run's cutoff, from the context, for [`next_reclaim`].
fn next_cutoff(context: RunContext) -> Option<Cutoff> {
    let at = jiff::Timestamp::from_millisecond(context.next_cutoff_ms?).ok()?;
    Some(Cutoff::at(at))
}

/// One line per process (its descriptors counted, the strongest access
/// kept: a writer before a reader), writers first, the daemon marked, and
/// no process that has exited since it was seen.
fn holder_infos(holders: &[Holder], daemon_pid: Option<u32>) -> Vec<FileHolder> {
    let mut by_pid: BTreeMap<u32, (&Holder, Access, u32)> = BTreeMap::new();
    for holder in holders {
        let entry = by_pid
            .entry(holder.pid)
            .or_insert((holder, holder.access, 0));
        entry.1 = entry.1.max(holder.access);
        entry.2 += 1;
    }
    let mut processes: Vec<(&Holder, Access, u32)> = by_pid
        .into_values()
        .filter(|(holder, _, _)| platform::pid_alive(holder.pid))
        .collect();
    processes.sort_by_key(|(holder, access, _)| (std::cmp::Reverse(*access), holder.pid));
    processes
        .into_iter()
        .take(HOLDERS_PER_FILE)
        .map(|(h, access, descriptors)| FileHolder {
            pid: h.pid,
            descriptors,
            daemon: daemon_pid == Some(h.pid),
            command: clip_text_to(&h.command, HOLDER_TEXT_LEN),
            command_line: platform::process_args(h.pid)
                .filter(|args| !args.is_empty())
                .map(|args| clip_text_to(&args.join(" "), HOLDER_TEXT_LEN)),
            access: access.into(),
        })
        .collect()
}

/// Who holds the view's listed logs now (one scan of open files), in place
/// of who held them when the view was made: a client showing a daemon's
/// view (`ls`) shows the processes holding each file at this moment.
pub fn refresh_holders(build: &BuildDir, view: &mut FilesView, daemon_pid: Option<u32>) {
    use std::os::unix::fs::MetadataExt;
    let mut ids = HashMap::new();
    for (n, file) in view.largest.iter().chain(&view.skipped).enumerate() {
        if let Ok(meta) = std::fs::symlink_metadata(build.root().join(&file.path)) {
            ids.insert((meta.dev(), meta.ino()), n);
        }
    }
    let wanted: HashSet<_> = ids.keys().copied().collect();
    let mut found = platform::open_files(&wanted);
    let mut now: Vec<Vec<FileHolder>> = vec![Vec::new(); view.largest.len() + view.skipped.len()];
    for (id, n) in ids {
        now[n] = holder_infos(&found.remove(&id).unwrap_or_default(), daemon_pid);
    }
    for (file, holders) in view
        .largest
        .iter_mut()
        .chain(view.skipped.iter_mut())
        .zip(now)
    {
        file.holders = holders;
    }
}

fn queue_info(build: &BuildDir, queue: &QueueReport, dry_run: bool) -> Option<QueueInfo> {
    if !queue.present {
        return None;
    }
    let mut counts: BTreeMap<&str, u64> = queue
        .statuses_before
        .iter()
        .map(|(status, n)| (status.as_str(), *n))
        .collect();
    let removed = if dry_run {
        0
    } else {
        queue.removed.len() as u64
    };
    if !dry_run {
        for entry in &queue.removed {
            if let Some(n) = counts.get_mut(entry.status.as_str()) {
                *n = n.saturating_sub(1);
            }
        }
    }
    let mut by_status: Vec<StatusCount> = counts
        .into_iter()
        .filter(|(_, n)| *n > 0)
        .map(|(status, entries)| StatusCount {
            status: clip_text(if status.is_empty() { "(none)" } else { status }),
            entries,
        })
        .collect();
    by_status.sort_by(|a, b| {
        b.entries
            .cmp(&a.entries)
            .then_with(|| a.status.cmp(&b.status))
    });
    if by_status.len() > QUEUE_STATUSES {
        let other: u64 = by_status[QUEUE_STATUSES - 1..]
            .iter()
            .map(|s| s.entries)
            .sum();
        by_status.truncate(QUEUE_STATUSES - 1);
        by_status.push(StatusCount {
            status: "other".into(),
            entries: other,
        });
    }
    Some(QueueInfo {
        path: crate::prune::relative_display(build, &build.queue_file()),
        size: if dry_run {
            queue.bytes_before
        } else {
            queue.bytes_after
        },
        entries: queue.entries_before.saturating_sub(removed),
        by_status,
        entries_removed: removed,
        bytes_reclaimed: if dry_run { 0 } else { queue.bytes_reclaimed() },
        next_removable: dry_run.then_some(queue.removed.len() as u64),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prune::{LogsReport, RemovedEntry};

    fn fact(path: &str, before: u64, after: u64, fate: LogFate) -> LogFacts {
        LogFacts {
            path: path.into(),
            size_before: before,
            size_after: after,
            lines_removed: u64::from(before != after),
            oldest_entry: Some(*b"2026-11-28T10:00:00Z"),
            holders: Some(Vec::new()),
            fate,
        }
    }

    fn report(files: Vec<LogFacts>) -> RunReport {
        RunReport {
            logs: LogsReport {
                files,
                ..LogsReport::default()
            },
            ..RunReport::default()
        }
    }

    fn context(run_id: u64, at_ms: i64) -> RunContext {
        RunContext {
            run_id: Some(run_id),
            at_ms,
            next_cutoff_ms: None,
            daemon_pid: None,
        }
    }

    const HOUR: i64 = 3_600_000;

    #[test]
    fn growth_is_what_was_written_between_runs_per_hour() {
        let build = BuildDir::new("/nonexistent-build-dir");
        let mut tracker = FileTracker::new();
        // Run 1 finds 1000 bytes and leaves 400; an hour later run 2 finds
        // 1400 (1000 written), leaves it; another hour, 3400 (2000 written).
        let runs = [
            (1000, 400, LogFate::Pruned(LogMethod::Rewrite)),
            (1400, 1400, LogFate::Unchanged),
            (3400, 3400, LogFate::Unchanged),
        ];
        let mut growth = Vec::new();
        for (n, (before, after, fate)) in runs.into_iter().enumerate() {
            let view = tracker.update(
                &build,
                context(n as u64 + 1, n as i64 * HOUR),
                &report(vec![fact("logs/a.log", before, after, fate)]),
            );
            growth.push(view.largest[0].growth_per_hour);
            assert_eq!(view.largest[0].recent.len(), n + 1);
        }
        assert_eq!(growth, [None, Some(1000), Some(1500)]);
        // A log shrunk by something else grows negatively.
        let view = tracker.update(
            &build,
            context(4, 3 * HOUR),
            &report(vec![fact("logs/a.log", 0, 0, LogFate::Unchanged)]),
        );
        assert_eq!(view.largest[0].growth_per_hour, Some((3000 - 3400) / 3));
    }

    #[test]
    fn the_tracker_keeps_a_bounded_past_and_forgets_vanished_logs() {
        let build = BuildDir::new("/nonexistent-build-dir");
        let mut tracker = FileTracker::new();
        for run in 0..(RUNS_PER_FILE as u64 * 3) {
            let view = tracker.update(
                &build,
                context(run, run as i64 * HOUR),
                &report(vec![
                    fact("a.log", 10, 10, LogFate::Unchanged),
                    fact("b.log", 10, 10, LogFate::Unchanged),
                ]),
            );
            assert!(view.largest.iter().all(|f| f.recent.len() <= RUNS_PER_FILE));
        }
        assert_eq!(tracker.len(), 2);
        tracker.update(
            &build,
            context(99, 99 * HOUR),
            &report(vec![fact("a.log", 10, 10, LogFate::Unchanged)]),
        );
        assert_eq!(tracker.len(), 1);
    }

    #[test]
    fn a_run_that_did_not_look_shows_the_holders_last_seen_that_are_still_alive() {
        let build = BuildDir::new("/nonexistent-build-dir");
        let mut exited = std::process::Command::new("true").spawn().expect("spawn");
        let gone = exited.id();
        exited.wait().expect("wait");
        let holder = |pid: u32| Holder {
            pid,
            command: "w".into(),
            access: Access::Append,
        };
        let mut looked = fact("a.log", 10, 10, LogFate::Unchanged);
        looked.holders = Some(vec![holder(std::process::id()), holder(gone)]);
        let mut tracker = FileTracker::new();
        tracker.update(&build, context(1, 0), &report(vec![looked]));
        let mut unlooked = fact("a.log", 10, 10, LogFate::Unchanged);
        unlooked.holders = None;
        let view = tracker.update(&build, context(2, HOUR), &report(vec![unlooked]));
        let pids: Vec<u32> = view.largest[0].holders.iter().map(|h| h.pid).collect();
        assert_eq!(pids, [std::process::id()]);
    }

    #[test]
    fn ten_thousand_logs_make_a_bounded_view_with_exact_totals() {
        let build = BuildDir::new("/nonexistent-build-dir");
        let mut files: Vec<LogFacts> = (0..10_000u64)
            .map(|n| {
                fact(
                    &format!("logs/w{n:05}.log"),
                    n * 10,
                    n * 10,
                    LogFate::Unchanged,
                )
            })
            .collect();
        // A small log under a positional writer, far from the largest.
        files[3] = fact(
            "logs/w00003.log",
            30,
            30,
            LogFate::Skipped("held open for writing without O_APPEND by pid 9 (script)".into()),
        );
        let view = build_view(&build, context(1, 0), &report(files), None);
        assert_eq!(view.largest.len(), FILES_IN_VIEW);
        assert_eq!(view.largest[0].path, "logs/w09999.log");
        assert!(view.largest.windows(2).all(|w| w[0].size >= w[1].size));
        assert_eq!(view.skipped.len(), 1);
        assert_eq!(view.skipped[0].path, "logs/w00003.log");
        assert!(
            matches!(&view.skipped[0].method, FileMethod::Skipped { reason } if reason.contains("pid 9"))
        );
        assert_eq!(view.total_files, 10_000);
        assert_eq!(
            view.total_bytes,
            (0..10_000u64).map(|n| n * 10).sum::<u64>()
        );
        assert_eq!(view.total_skipped, 1);
        let bytes = postcard::to_stdvec(&view).expect("encode").len();
        assert!(bytes < 64 * 1024, "{bytes} bytes");
    }

    #[test]
    fn next_reclaim_is_zero_when_the_oldest_entry_outlives_the_next_cutoff() {
        let build = BuildDir::new("/nonexistent-build-dir");
        let oldest_ms = stamp_ms(b"2026-11-28T10:00:00Z").expect("stamp");
        let files = vec![fact("a.log", 10, 10, LogFate::Unchanged)];
        let mut ctx = context(1, 0);
        ctx.next_cutoff_ms = Some(oldest_ms - 1);
        let view = build_view(&build, ctx, &report(files.clone()), None);
        assert_eq!(view.largest[0].next_reclaim, Some(0));
        assert_eq!(view.total_next_reclaim, Some(0));
        ctx.next_cutoff_ms = Some(oldest_ms + 1000);
        let view = build_view(&build, ctx, &report(files), None);
        assert_eq!(view.largest[0].next_reclaim, None);
        assert_eq!(view.total_next_reclaim, None);
    }

    #[test]
    fn a_dry_run_says_what_a_run_would_do() {
        let build = BuildDir::new("/nonexistent-build-dir");
        let mut run = report(vec![
            fact("a.log", 100, 40, LogFate::Pruned(LogMethod::DryRun)),
            fact("b.log", 50, 50, LogFate::Unchanged),
        ]);
        run.dry_run = true;
        run.queue = QueueReport {
            present: true,
            entries_before: 4,
            removed: vec![RemovedEntry {
                label: "op".into(),
                status: "completed".into(),
            }],
            bytes_before: 300,
            bytes_after: 200,
            statuses_before: vec![("completed".into(), 3), ("pending".into(), 1)],
            ..QueueReport::default()
        };
        let ctx = RunContext {
            run_id: None,
            at_ms: 0,
            next_cutoff_ms: None,
            daemon_pid: None,
        };
        let view = build_view(&build, ctx, &run, None);
        let a = &view.largest[0];
        assert_eq!((a.path.as_str(), a.size), ("a.log", 100));
        assert_eq!((a.lines_removed, a.bytes_reclaimed), (0, 0));
        assert_eq!(a.method, FileMethod::Rewrite);
        assert_eq!(a.next_reclaim, Some(60));
        assert_eq!(view.largest[1].method, FileMethod::NothingToDo);
        assert_eq!(view.total_next_reclaim, Some(60));
        assert_eq!(view.total_reclaimed, 0);
        let queue = view.queue.expect("queue");
        assert_eq!(
            (queue.entries, queue.size, queue.next_removable),
            (4, 300, Some(1))
        );
        assert_eq!(queue.by_status[0].status, "completed");
        assert_eq!(queue.by_status[0].entries, 3);
    }

    #[test]
    fn a_real_run_counts_the_queue_after_its_removals() {
        let build = BuildDir::new("/b");
        let mut run = report(Vec::new());
        run.queue = QueueReport {
            present: true,
            entries_before: 3,
            removed: vec![
                RemovedEntry {
                    label: "x".into(),
                    status: "completed".into(),
                };
                2
            ],
            bytes_before: 300,
            bytes_after: 100,
            statuses_before: vec![("completed".into(), 2), ("pending".into(), 1)],
            ..QueueReport::default()
        };
        let view = build_view(&build, context(1, 0), &run, None);
        let queue = view.queue.expect("queue");
        assert_eq!(queue.path, "mergeq/queue.json");
        assert_eq!(
            (queue.entries, queue.entries_removed, queue.bytes_reclaimed),
            (1, 2, 200)
        );
        assert_eq!(
            queue.by_status,
            vec![StatusCount {
                status: "pending".into(),
                entries: 1
            }]
        );
    }
}
