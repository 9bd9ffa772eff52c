//! Turning prune reports into v0's messages for people, or one JSON document
//! for scripts.
//!
//! The sentences that v0 prints (`Pruned: <name> (<phase>)`, `Would prune N
//! mergeq entries`, ...) are kept word for word; what v0 never printed (bytes
//! reclaimed, skipped items and why) is added around them.

use std::io::{self, Write};
use std::path::PathBuf;

use serde::Serialize;
use v0_prune_shared::prune::{OperationsReport, RunReport};
use v0_prune_shared::units::human_bytes;

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
    /// Errors from any job; the exit status is 1 when this is not empty.
    pub errors: Vec<String>,
}

/// Prints the operations part in v0's words.
pub fn write_operations(
    out: &mut dyn Write,
    report: &OperationsReport,
    selection: SelectionKind,
    dry_run: bool,
) -> io::Result<()> {
    if !report.present {
        return writeln!(out, "No operations to prune");
    }
    if report.pruned.is_empty() {
        match selection {
            SelectionKind::Finished => {
                writeln!(out, "No completed or cancelled operations to prune")?
            }
            // A declined session leaves a Named report empty; its skip says why.
            SelectionKind::Named if !report.skipped.is_empty() => {}
            SelectionKind::All | SelectionKind::Named => writeln!(out, "No operations to prune")?,
        }
        return write_operation_skips(out, report);
    }
    for operation in &report.pruned {
        match (dry_run, selection) {
            (true, _) => writeln!(out, "Would prune: {} ({})", operation.name, operation.phase)?,
            (false, SelectionKind::Named) => {
                writeln!(out, "Pruned operation '{}'", operation.name)?
            }
            (false, SelectionKind::Finished) => {
                writeln!(out, "Pruned: {} ({})", operation.name, operation.phase)?
            }
            // v0 says one sentence for --all, written below.
            (false, SelectionKind::All) => {}
        }
    }
    write_operation_skips(out, report)?;
    let count = report.pruned.len();
    match (dry_run, selection) {
        (true, SelectionKind::Named) => Ok(()),
        (true, _) => writeln!(out, "Would prune {count} operation(s)"),
        (false, SelectionKind::Finished) if count > 0 => {
            writeln!(out, "Pruned {count} operation(s)")
        }
        (false, SelectionKind::All) if count > 0 => writeln!(out, "Pruned all operations"),
        (false, _) => Ok(()),
    }
}

/// Operations left alone (unreadable state, symlinks, a declined session), and why.
fn write_operation_skips(out: &mut dyn Write, report: &OperationsReport) -> io::Result<()> {
    for skipped in &report.skipped {
        writeln!(out, "Skipped: {} ({})", skipped.item, skipped.reason)?;
    }
    Ok(())
}

/// Prints the logs and merge-queue part: per item, then a total with bytes
/// reclaimed. Errors are not printed here; they go to stderr.
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
            "{verb} {} lines from {} ({})",
            log.lines_removed,
            log.path,
            human_bytes(bytes)
        )?;
    }
    let entries = report.queue.removed.len();
    if report.queue.present && (report.dry_run || entries > 0) {
        writeln!(out, "{verb} {entries} mergeq entries")?;
    }
    for skipped in report.logs.skipped.iter().chain(&report.queue.skipped) {
        writeln!(out, "Skipped {}: {}", skipped.item, skipped.reason)?;
    }
    let files = report.logs.pruned.len();
    if files == 0 && entries == 0 {
        return writeln!(out, "No expired log lines or mergeq entries to prune");
    }
    let total = format!(
        "{} log lines from {files} file(s), {entries} mergeq entries",
        report.logs.lines_removed
    );
    let bytes = human_bytes(report.bytes_reclaimed());
    if report.dry_run {
        writeln!(out, "Would reclaim {bytes} ({total})")
    } else {
        writeln!(out, "Reclaimed {bytes} ({total})")
    }
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
        let printed = text(|out| write_operations(out, &report, SelectionKind::Finished, false));
        assert_eq!(
            printed,
            "Pruned: a (merged)\nPruned: b (cancelled)\nPruned 2 operation(s)\n"
        );
        let none = text(|out| write_operations(out, &ops(&[]), SelectionKind::Finished, false));
        assert_eq!(none, "No completed or cancelled operations to prune\n");
        let absent = OperationsReport::default();
        let printed = text(|out| write_operations(out, &absent, SelectionKind::Finished, false));
        assert_eq!(printed, "No operations to prune\n");
    }

    #[test]
    fn named_all_and_dry_run_in_v0_words() {
        let report = ops(&[("a", "executing")]);
        let named = text(|out| write_operations(out, &report, SelectionKind::Named, false));
        assert_eq!(named, "Pruned operation 'a'\n");
        let all = text(|out| write_operations(out, &report, SelectionKind::All, false));
        assert_eq!(all, "Pruned all operations\n");
        let dry = text(|out| write_operations(out, &report, SelectionKind::All, true));
        assert_eq!(
            dry,
            "Would prune: a (executing)\nWould prune 1 operation(s)\n"
        );
    }

    #[test]
    fn unreadable_operation_is_skipped_beside_the_v0_message() {
        let mut report = ops(&[]);
        report.skipped.push(Skipped {
            item: "broken".into(),
            reason: "state.json is not valid JSON".into(),
        });
        let printed = text(|out| write_operations(out, &report, SelectionKind::Finished, false));
        assert_eq!(
            printed,
            "No completed or cancelled operations to prune\n\
             Skipped: broken (state.json is not valid JSON)\n"
        );
    }

    #[test]
    fn declined_session_is_reported_as_skipped() {
        let mut report = ops(&[]);
        report.skipped.push(Skipped {
            item: "a".into(),
            reason: "its tmux session is running".into(),
        });
        let printed = text(|out| write_operations(out, &report, SelectionKind::Named, false));
        assert_eq!(printed, "Skipped: a (its tmux session is running)\n");
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
                }],
                skipped: vec![Skipped {
                    item: "logs/worker.log".into(),
                    reason: "held open by a writer without O_APPEND (pid 7)".into(),
                }],
                lines_removed: 120,
                bytes_before: 8192,
                bytes_after: 5120,
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
             Pruned 1 mergeq entries\n\
             Skipped logs/worker.log: held open by a writer without O_APPEND (pid 7)\n\
             Reclaimed 3.2 KiB (120 log lines from 1 file(s), 1 mergeq entries)\n"
        );
        let dry = text(|out| write_run(out, &run_report(true)));
        assert!(dry.starts_with("Would prune 120 lines from logs/mergeq.log (3.0 KiB)\n"));
        assert!(dry.contains("Would prune 1 mergeq entries\n"));
        assert!(
            dry.ends_with(
                "Would reclaim 3.2 KiB (120 log lines from 1 file(s), 1 mergeq entries)\n"
            )
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
        };
        let printed = text(|out| write_json(out, &report));
        let value: serde_json::Value = serde_json::from_str(&printed).expect("valid JSON");
        assert_eq!(value["operations"]["pruned"][0]["name"], "a");
        assert_eq!(value["run"]["queue"]["removed"][0]["status"], "completed");
        assert_eq!(value["selection"], "finished");
        assert_eq!(value["errors"][0], "merge queue: broken");
    }
}
