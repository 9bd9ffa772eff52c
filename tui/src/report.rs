//! Turning prune reports into v0's messages for people, or one JSON document
//! for scripts.
//!
//! The sentences that v0 prints (`Pruned: <name> (<phase>)`, `Would prune N
//! mergeq entries`, ...) are kept word for word; what v0 never printed (bytes
//! reclaimed, skipped items and why) is added around them.

use std::io::{self, Write};
use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;
use v0_prune_shared::prune::{
    BudgetReport, LogsReport, OperationsReport, QueueReport, RunReport, Skipped,
};
use v0_prune_shared::units::human_bytes;
use v0_prune_shared::words::{counted, plural};

/// Which operations the user asked for; it decides v0's wording.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SelectionKind {
    /// No names: every finished operation.
    Finished,
    /// Operations named on the command line.
    Named,
    /// `--all`.
    All,
}

/// Everything one `v0-prune` did, as `--json` prints it.
#[derive(Debug, Clone, Serialize)]
pub struct CommandReport {
    /// The build directory that was pruned.
    pub build_dir: PathBuf,
    /// False when the build directory did not exist (nothing to prune yet).
    pub build_dir_exists: bool,
    /// Nothing was changed.
    pub dry_run: bool,
    /// Which operations were asked for.
    pub selection: SelectionKind,
    /// The operations job; absent if it failed.
    pub operations: Option<OperationsReport>,
    /// The logs and merge-queue run; absent if it did not run.
    pub run: Option<RunReport>,
    /// Errors from any job; the exit status is `Exit::Error` when this is not empty.
    pub errors: Vec<String>,
    /// Items that could not be pruned because of an error (a full disk, an
    /// I/O error, a permission): `run.logs.failed` and `run.queue.failed`
    /// counted. The exit status is `Exit::NotPruned` when this is not 0 and
    /// `errors` is empty.
    pub not_pruned: u64,
}

/// The text of an item that could not be pruned: `Could not prune <item>:
/// <error>: <what to do>`.
pub(crate) fn write_failures(out: &mut dyn Write, failed: &[Skipped]) -> io::Result<()> {
    for failure in failed {
        writeln!(out, "Could not prune {}: {}", failure.item, failure.reason)?;
    }
    Ok(())
}

/// The last line of a run that could not prune everything, in place of any
/// "nothing to prune": how many, and why.
pub(crate) fn write_not_pruned(out: &mut dyn Write, summary: Option<String>) -> io::Result<()> {
    match summary {
        Some(summary) => writeln!(
            out,
            "Incomplete: {summary}; what to do is on each \"Could not prune\" line above"
        ),
        None => Ok(()),
    }
}

/// Prints v0's default prune (finished operations) in its words:
/// `Pruned: <name> (<phase>)` per operation and `Pruned N operation(s)`, or
/// `Would prune: <name> (<phase>)` in a dry run, or `No completed or
/// cancelled operations to prune`. Our addition: `Skipped: <name> (<why>)`
/// for operations left alone (unreadable state, symbolic links).
pub fn write_finished(
    out: &mut dyn Write,
    report: &OperationsReport,
    dry_run: bool,
) -> io::Result<()> {
    let verb = if dry_run { "Would prune" } else { "Pruned" };
    for operation in &report.pruned {
        writeln!(out, "{verb}: {} ({})", operation.name, operation.phase)?;
    }
    for skipped in &report.skipped {
        writeln!(out, "Skipped: {} ({})", skipped.item, skipped.reason)?;
    }
    let count = report.pruned.len();
    if count == 0 {
        writeln!(out, "No completed or cancelled operations to prune")?;
    } else if !dry_run {
        writeln!(out, "Pruned {count} operation(s)")?;
    }
    Ok(())
}

/// The retention in v0's words: `6 hours` as in `older than 6 hours`, and
/// the same form for a configured one (`1 hour`, `90 minutes`, `45 seconds`).
pub fn retention_words(retention: Duration) -> String {
    let seconds = retention.as_secs();
    let (count, one, many) = if seconds > 0 && seconds % 3600 == 0 {
        (seconds / 3600, "hour", "hours")
    } else if seconds > 0 && seconds % 60 == 0 {
        (seconds / 60, "minute", "minutes")
    } else {
        (seconds, "second", "seconds")
    };
    // Without thousands separators, as v0 writes the number.
    format!("{count} {}", plural(count, one, many))
}

/// Prints the logs and merge-queue part as v0's synchronous prune does
/// (`v0_prune_mergeq`, then `v0_prune_logs`, under their headings), and
/// after each job our additions: what was skipped and why, then the bytes
/// reclaimed. `retention` is [`retention_words`] of the retention.
pub fn write_sections(out: &mut dyn Write, run: &RunReport, retention: &str) -> io::Result<()> {
    writeln!(out, "Pruning old mergeq entries...")?;
    write_v0_mergeq(out, &run.queue, run.dry_run, retention)?;
    writeln!(out)?;
    writeln!(out, "Pruning old log entries...")?;
    write_v0_logs(out, &run.logs, run.dry_run, retention)?;
    let entries = run.queue.removed.len();
    let files = run.logs.pruned.len();
    if files > 0 || entries > 0 {
        let bytes = human_bytes(run.bytes_reclaimed());
        let total = run_total(run.logs.lines_removed, files as u64, entries as u64);
        if run.dry_run {
            writeln!(out, "Would reclaim {bytes} ({total})")?;
        } else {
            writeln!(out, "Reclaimed {bytes} ({total})")?;
        }
    }
    write_budget(out, run.logs.budget.as_ref(), run.dry_run)?;
    write_not_pruned(out, run.not_pruned_summary())
}

/// The size budget's line, when it removed anything (how much went for age
/// and how much for the budget), and its warning when the logs are still
/// over it. Nothing when no budget is set or it had nothing to do.
pub fn write_budget(
    out: &mut dyn Write,
    budget: Option<&BudgetReport>,
    dry_run: bool,
) -> io::Result<()> {
    let Some(budget) = budget else {
        return Ok(());
    };
    if budget.bytes_for_budget > 0 || budget.over() {
        let would = if dry_run { " (would be)" } else { "" };
        writeln!(out, "Size budget{would}: {}", budget.summary())?;
    }
    if let Some(warning) = budget.warning() {
        writeln!(out, "Warning: {warning}")?;
    }
    Ok(())
}

/// What v0's `v0_prune_mergeq [--dry-run]` prints, plus the entries we kept
/// on purpose and why. Nothing without a queue or with an empty one, as v0.
pub fn write_v0_mergeq(
    out: &mut dyn Write,
    queue: &QueueReport,
    dry_run: bool,
    age: &str,
) -> io::Result<()> {
    if queue.present && queue.entries_before > 0 {
        match (queue.removed.len(), dry_run) {
            (0, false) => {}
            // Never "nothing to prune" when the queue could not be pruned.
            (0, true) if !queue.failed.is_empty() => {}
            (0, true) => writeln!(out, "No mergeq entries older than {age} to prune")?,
            (n, false) => writeln!(out, "Pruned {n} mergeq entries older than {age}")?,
            (n, true) => writeln!(out, "Would prune {n} mergeq entries older than {age}")?,
        }
    }
    write_skips(out, &queue.skipped)?;
    write_failures(out, &queue.failed)
}

/// What v0's `v0_prune_logs [--dry-run]` prints, plus the files we left
/// alone and why. Nothing when there is no `*.log` at all, as v0.
pub fn write_v0_logs(
    out: &mut dyn Write,
    logs: &LogsReport,
    dry_run: bool,
    age: &str,
) -> io::Result<()> {
    if logs.files_examined == 0 && logs.skipped.is_empty() && logs.failed.is_empty() {
        return Ok(());
    }
    let verb = if dry_run { "Would prune" } else { "Pruned" };
    for log in &logs.pruned {
        writeln!(out, "{verb} {} lines from: {}", log.lines_removed, log.path)?;
    }
    // Never "nothing to prune" when a log could not be looked at.
    if logs.pruned.is_empty() && dry_run && logs.failed.is_empty() {
        writeln!(out, "No log entries older than {age} to prune")?;
    }
    write_skips(out, &logs.skipped)?;
    write_failures(out, &logs.failed)
}

fn write_skips(out: &mut dyn Write, skipped: &[Skipped]) -> io::Result<()> {
    for skip in skipped {
        writeln!(out, "Skipped {}: {}", skip.item, skip.reason)?;
    }
    Ok(())
}

/// Prints the logs and merge-queue part in one block: per item, then a
/// total with bytes reclaimed (`v0-prune shutdown`'s report). Errors are not
/// printed here; they go to stderr.
pub fn write_run(out: &mut dyn Write, report: &RunReport) -> io::Result<()> {
    let verb = if report.dry_run {
        "Would prune"
    } else {
        "Pruned"
    };
    for log in &report.logs.pruned {
        let bytes = log.bytes_before.saturating_sub(log.bytes_after);
        writeln!(
            out,
            "{verb} {} from {} ({})",
            counted(log.lines_removed, "line", "lines"),
            log.path,
            human_bytes(bytes)
        )?;
    }
    let entries = report.queue.removed.len();
    if report.queue.present && (report.dry_run || entries > 0) {
        let entries = counted(entries as u64, "mergeq entry", "mergeq entries");
        writeln!(out, "{verb} {entries}")?;
    }
    for skipped in report.logs.skipped.iter().chain(&report.queue.skipped) {
        writeln!(out, "Skipped {}: {}", skipped.item, skipped.reason)?;
    }
    write_failures(out, &report.logs.failed)?;
    write_failures(out, &report.queue.failed)?;
    let files = report.logs.pruned.len();
    let not_pruned = report.not_pruned_summary();
    if files == 0 && entries == 0 {
        if not_pruned.is_none() {
            writeln!(out, "No expired log lines or mergeq entries to prune")?;
        }
        write_budget(out, report.logs.budget.as_ref(), report.dry_run)?;
        return write_not_pruned(out, not_pruned);
    }
    let total = run_total(report.logs.lines_removed, files as u64, entries as u64);
    let bytes = human_bytes(report.bytes_reclaimed());
    if report.dry_run {
        writeln!(out, "Would reclaim {bytes} ({total})")?;
    } else {
        writeln!(out, "Reclaimed {bytes} ({total})")?;
    }
    write_budget(out, report.logs.budget.as_ref(), report.dry_run)?;
    write_not_pruned(out, not_pruned)
}

/// `120 log lines from 3 files, 2 mergeq entries` (`1 log line from 1
/// file, 0 mergeq entries`): a run's total in our additions' words, after
/// `Reclaimed <bytes>` (v0's own lines keep v0's words).
pub fn run_total(lines: u64, files: u64, entries: u64) -> String {
    format!(
        "{} from {}, {}",
        counted(lines, "log line", "log lines"),
        counted(files, "file", "files"),
        counted(entries, "mergeq entry", "mergeq entries")
    )
}

/// Prints the whole report as one pretty JSON document.
pub fn write_json(out: &mut dyn Write, report: &CommandReport) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, report)?;
    writeln!(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use v0_prune_shared::prune::{
        LogMethod, LogOutcome, LogsReport, PrunedOperation, QueueReport, RemovedEntry, Skipped,
    };

    fn ops(names: &[(&str, &str)]) -> OperationsReport {
        OperationsReport {
            present: true,
            examined: names.len() as u64,
            pruned: names
                .iter()
                .map(|(name, phase)| PrunedOperation {
                    name: (*name).to_owned(),
                    phase: (*phase).to_owned(),
                    bytes: 10,
                })
                .collect(),
            skipped: Vec::new(),
        }
    }

    fn text(write: impl FnOnce(&mut dyn Write) -> io::Result<()>) -> String {
        let mut buffer = Vec::new();
        write(&mut buffer).expect("writing to a Vec");
        String::from_utf8(buffer).expect("utf-8")
    }

    #[test]
    fn finished_operations_in_v0_words() {
        let report = ops(&[("a", "merged"), ("b", "cancelled")]);
        let printed = text(|out| write_finished(out, &report, false));
        assert_eq!(
            printed,
            "Pruned: a (merged)\nPruned: b (cancelled)\nPruned 2 operation(s)\n"
        );
        // v0's dry run lists them and gives no total.
        let dry = text(|out| write_finished(out, &report, true));
        assert_eq!(dry, "Would prune: a (merged)\nWould prune: b (cancelled)\n");
        let none = text(|out| write_finished(out, &ops(&[]), false));
        assert_eq!(none, "No completed or cancelled operations to prune\n");
    }

    #[test]
    fn unreadable_operation_is_skipped_beside_the_v0_message() {
        let mut report = ops(&[]);
        report.skipped.push(Skipped {
            item: "broken".into(),
            reason: "state.json is not valid JSON".into(),
        });
        let printed = text(|out| write_finished(out, &report, false));
        assert_eq!(
            printed,
            "Skipped: broken (state.json is not valid JSON)\n\
             No completed or cancelled operations to prune\n"
        );
    }

    #[test]
    fn retention_in_v0_words() {
        assert_eq!(retention_words(Duration::from_secs(6 * 3600)), "6 hours");
        assert_eq!(retention_words(Duration::from_secs(3600)), "1 hour");
        assert_eq!(retention_words(Duration::from_secs(90 * 60)), "90 minutes");
        assert_eq!(retention_words(Duration::from_secs(60)), "1 minute");
        assert_eq!(retention_words(Duration::from_secs(45)), "45 seconds");
        assert_eq!(retention_words(Duration::from_secs(2 * 86_400)), "48 hours");
        assert_eq!(retention_words(Duration::from_secs(3601)), "3601 seconds");
    }

    #[test]
    fn sections_say_what_v0_says_then_our_additions() {
        let printed = text(|out| write_sections(out, &run_report(false), "6 hours"));
        assert_eq!(
            printed,
            "Pruning old mergeq entries...\n\
             Pruned 1 mergeq entries older than 6 hours\n\
             \n\
             Pruning old log entries...\n\
             Pruned 120 lines from: logs/mergeq.log\n\
             Skipped logs/worker.log: held open by a writer without O_APPEND (pid 7)\n\
             Reclaimed 3.2 KiB (120 log lines from 1 file, 1 mergeq entry)\n"
        );
        let dry = text(|out| write_sections(out, &run_report(true), "2 hours"));
        assert!(
            dry.contains("\nWould prune 1 mergeq entries older than 2 hours\n"),
            "{dry}"
        );
        assert!(
            dry.contains("\nWould prune 120 lines from: logs/mergeq.log\n"),
            "{dry}"
        );
        assert!(
            dry.ends_with("Would reclaim 3.2 KiB (120 log lines from 1 file, 1 mergeq entry)\n")
        );
    }

    #[test]
    fn an_empty_dry_run_says_v0_s_nothing_lines_and_a_real_run_says_nothing() {
        let mut report = RunReport {
            dry_run: true,
            ..RunReport::default()
        };
        report.queue.present = true;
        report.queue.entries_before = 2;
        report.logs.files_examined = 1;
        assert_eq!(
            text(|out| write_sections(out, &report, "6 hours")),
            "Pruning old mergeq entries...\n\
             No mergeq entries older than 6 hours to prune\n\
             \n\
             Pruning old log entries...\n\
             No log entries older than 6 hours to prune\n"
        );
        report.queue.entries_before = 0;
        assert!(
            !text(|out| write_sections(out, &report, "6 hours")).contains("mergeq entries older")
        );
        // No `*.log` at all: v0's find comes back empty and it says nothing.
        report.logs.files_examined = 0;
        assert!(!text(|out| write_sections(out, &report, "6 hours")).contains("log entries older"));
        report.dry_run = false;
        assert_eq!(
            text(|out| write_sections(out, &report, "6 hours")),
            "Pruning old mergeq entries...\n\nPruning old log entries...\n"
        );
    }

    fn run_report(dry_run: bool) -> RunReport {
        RunReport {
            dry_run,
            cutoff: "2026-11-28T06:00:00Z".into(),
            logs: LogsReport {
                files_examined: 3,
                pruned: vec![LogOutcome {
                    path: "logs/mergeq.log".into(),
                    lines_removed: 120,
                    bytes_before: 4096,
                    bytes_after: 1024,
                    method: LogMethod::Rewrite,
                    reason: String::new(),
                }],
                skipped: vec![Skipped {
                    item: "logs/worker.log".into(),
                    reason: "held open by a writer without O_APPEND (pid 7)".into(),
                }],
                failed: Vec::new(),
                lines_removed: 120,
                bytes_before: 8192,
                bytes_after: 5120,
                files: Vec::new(),
                budget: None,
            },
            queue: QueueReport {
                present: true,
                entries_before: 5,
                removed: vec![RemovedEntry {
                    label: "op-1".into(),
                    status: "completed".into(),
                }],
                bytes_before: 600,
                bytes_after: 400,
                ..QueueReport::default()
            },
            errors: Vec::new(),
        }
    }

    #[test]
    fn run_summary_names_files_entries_skips_and_bytes() {
        let printed = text(|out| write_run(out, &run_report(false)));
        assert_eq!(
            printed,
            "Pruned 120 lines from logs/mergeq.log (3.0 KiB)\n\
             Pruned 1 mergeq entry\n\
             Skipped logs/worker.log: held open by a writer without O_APPEND (pid 7)\n\
             Reclaimed 3.2 KiB (120 log lines from 1 file, 1 mergeq entry)\n"
        );
        let dry = text(|out| write_run(out, &run_report(true)));
        assert!(dry.starts_with("Would prune 120 lines from logs/mergeq.log (3.0 KiB)\n"));
        assert!(dry.contains("Would prune 1 mergeq entry\n"));
        assert!(
            dry.ends_with("Would reclaim 3.2 KiB (120 log lines from 1 file, 1 mergeq entry)\n")
        );
    }

    #[test]
    fn empty_run_says_so() {
        let report = RunReport::default();
        assert_eq!(
            text(|out| write_run(out, &report)),
            "No expired log lines or mergeq entries to prune\n"
        );
    }

    fn full_disk() -> Skipped {
        let enospc = io::Error::from_raw_os_error(libc::ENOSPC);
        Skipped {
            item: "logs/big.log".into(),
            reason: v0_prune_shared::prune::could_not_prune(&enospc).expect("a failure"),
        }
    }

    /// A log that could not be rewritten (a full disk) is never "nothing to
    /// prune": its own line says why and what to do, and the last line how
    /// many could not be pruned.
    #[test]
    fn a_log_that_could_not_be_pruned_is_never_nothing_to_prune() {
        let mut report = RunReport::default();
        report.logs.files_examined = 1;
        report.logs.failed.push(full_disk());
        let printed = text(|out| write_run(out, &report));
        assert!(!printed.contains("No expired"), "{printed}");
        assert!(
            printed.starts_with(
                "Could not prune logs/big.log: no space left on device: pruning it here needs room"
            ),
            "{printed}"
        );
        assert!(
            printed.ends_with(
                "Incomplete: 1 log could not be pruned (no space left on device); \
                 what to do is on each \"Could not prune\" line above\n"
            ),
            "{printed}"
        );
        let sections = text(|out| write_sections(out, &report, "6 hours"));
        assert!(
            sections.contains("Pruning old log entries...\nCould not prune logs/big.log: "),
            "{sections}"
        );
        assert!(sections.ends_with("line above\n"), "{sections}");
        // A dry run that could not read a log does not say v0's "No log entries".
        report.dry_run = true;
        let dry = text(|out| write_sections(out, &report, "6 hours"));
        assert!(!dry.contains("No log entries"), "{dry}");
        // Skipped on purpose is not "could not be pruned".
        report.logs.skipped.push(report.logs.failed.remove(0));
        report.dry_run = false;
        let skipped = text(|out| write_run(out, &report));
        assert!(!skipped.contains("Incomplete"), "{skipped}");
        assert!(skipped.ends_with("No expired log lines or mergeq entries to prune\n"));
    }

    #[test]
    fn json_is_one_parseable_document() {
        let report = CommandReport {
            build_dir: PathBuf::from("/p/.v0/build"),
            build_dir_exists: true,
            dry_run: false,
            selection: SelectionKind::Finished,
            operations: Some(ops(&[("a", "merged")])),
            run: Some(run_report(false)),
            errors: vec!["merge queue: broken".into()],
            not_pruned: 0,
        };
        let printed = text(|out| write_json(out, &report));
        let value: serde_json::Value = serde_json::from_str(&printed).expect("valid JSON");
        assert_eq!(value["operations"]["pruned"][0]["name"], "a");
        assert_eq!(value["run"]["queue"]["removed"][0]["status"], "completed");
        assert_eq!(value["selection"], "finished");
        assert_eq!(value["errors"][0], "merge queue: broken");
    }

    /// The summaries say how much went for age and how much for the budget,
    /// and warn when the logs are still over it; silent when it had nothing to do.
    #[test]
    fn the_budget_says_what_went_for_it_and_warns_when_still_over() {
        let mut report = run_report(false);
        report.logs.budget = Some(BudgetReport {
            max_bytes: 4096,
            min_keep_secs: 600,
            bytes_before: 8192,
            bytes_after: 5120,
            bytes_for_age: 1024,
            bytes_for_budget: 2048,
            cutoff: Some("2026-11-28T08:00:00Z".into()),
            bytes_too_young: 4096,
            bytes_held: 1024,
            exhausted: true,
        });
        let line = "Size budget: logs 8.0 KiB -> 5.0 KiB (budget 4.0 KiB): 1.0 KiB for age, \
                    2.0 KiB for the budget\n";
        let warning = "Warning: logs total 5.0 KiB, over the 4.0 KiB budget (V0_PRUNE_MAX_SIZE), \
                       with nothing left it may remove: 4.0 KiB is younger than 10m \
                       (V0_PRUNE_MIN_KEEP), and 1.0 KiB is held by writers it cannot prune under or \
                       precedes a log's first entry\n";
        for printed in [
            text(|out| write_sections(out, &report, "6 hours")),
            text(|out| write_run(out, &report)),
        ] {
            assert!(printed.ends_with(&format!("{line}{warning}")), "{printed}");
        }
        // Within the budget after the run: the line, no warning.
        if let Some(budget) = report.logs.budget.as_mut() {
            budget.bytes_after = 4000;
            budget.exhausted = false;
        }
        let printed = text(|out| write_run(out, &report));
        assert!(printed.contains("for the budget"), "{printed}");
        assert!(!printed.contains("Warning"), "{printed}");
        // The budget removed nothing: no word of it.
        if let Some(budget) = report.logs.budget.as_mut() {
            budget.bytes_for_budget = 0;
        }
        assert!(!text(|out| write_run(out, &report)).contains("budget"));
    }
}
