//! Case 3: many small logs, one in ten with something to prune, against `cat`
//! reading all of them.
//!
//! `demo::generate` lays out the build directory with nothing expired; every
//! tenth log (in walk order) is then rewritten by `demo::write_log` with 30%
//! of its entries expired. Before each timed run those logs are restored
//! from pristine copies and the log index is removed, so each run is a first
//! run that finds the same work.

use std::cell::RefCell;
use std::path::PathBuf;
use std::process::Command;

use anyhow::{Result, ensure};
use v0_prune_shared::prune::{LogsReport, ignore_events, logs};

use super::{Case, Ctx, Sizes};
use crate::data;
use crate::measure::{Contender, race, run_tool};
use crate::report::{Measured, Outcome, Row, Target, Unit};

/// Case 3.
pub struct ManyLogs;

/// Most bytes of paths handed to one `cat` (the kernel's limit is 2 MiB with the environment).
const ARGS_BYTES: usize = 512 * 1024;

impl Case for ManyLogs {
    fn id(&self) -> &'static str {
        "many-small-logs"
    }

    fn title(&self, sizes: &Sizes) -> String {
        format!(
            "{} logs of ~{} lines, 10% with something to prune",
            sizes.small_logs, sizes.small_log_lines
        )
    }

    fn run(&self, ctx: &mut Ctx, notes: &mut Vec<String>) -> Result<Outcome> {
        let dir = ctx.case_dir(self.id())?;
        let small =
            data::SmallLogs::generate(&dir, ctx.sizes.small_logs, ctx.sizes.small_log_lines, 31)?;
        let (build, paths, prunable) = (&small.build, &small.paths, &small.prunable);
        let total_bytes: u64 = paths
            .iter()
            .map(|p| data::size_of(p))
            .sum::<Result<u64>>()?;
        notes.push(format!(
            "{} logs (demo layout, plus its plain.log), {} bytes in all; {} with expired entries",
            paths.len(),
            total_bytes,
            prunable.len()
        ));

        let restore = || small.restore();
        let last: RefCell<Option<LogsReport>> = RefCell::new(None);
        let options = ctx.options();
        let mut contenders = vec![
            Contender::new("prune_all", restore, || {
                let report = logs::prune_all(build, &options, &mut ignore_events)?;
                ensure!(
                    report.pruned.len() == prunable.len() && report.skipped.is_empty(),
                    "expected {} logs pruned and none skipped; got {} pruned, skipped {:?}",
                    prunable.len(),
                    report.pruned.len(),
                    report.skipped
                );
                *last.borrow_mut() = Some(report);
                Ok(())
            }),
            Contender::new("cat > /dev/null", restore, || {
                for chunk in arg_chunks(paths) {
                    run_tool(Command::new("cat").args(chunk), None)?;
                }
                Ok(())
            }),
        ];
        let samples = race(ctx.rounds, &mut contenders)?;
        drop(contenders);
        if let Some(report) = last.into_inner() {
            notes.push(format!(
                "last run: {} files examined, {} pruned, {} lines removed",
                report.files_examined,
                report.pruned.len(),
                report.lines_removed
            ));
        }
        notes.push(format!(
            "cat gets the paths as arguments ({} invocation(s)), no directory walk",
            arg_chunks(paths).len()
        ));
        let mut samples = samples.into_iter();
        let ours = Measured::new("prune_all", Unit::Ms, samples.next().unwrap_or_default());
        let cat = Measured::new(
            "cat > /dev/null",
            Unit::Ms,
            samples.next().unwrap_or_default(),
        );
        Ok(Outcome::Measured {
            rows: vec![Row::compare(ours, cat, Target::RatioAtMost(1.5))],
        })
    }
}

/// Splits the paths into argument lists that fit on one command line.
fn arg_chunks(paths: &[PathBuf]) -> Vec<&[PathBuf]> {
    let mut chunks = Vec::new();
    let (mut start, mut bytes) = (0, 0);
    for (i, path) in paths.iter().enumerate() {
        let len = path.as_os_str().len() + 1;
        if bytes + len > ARGS_BYTES && i > start {
            chunks.push(&paths[start..i]);
            (start, bytes) = (i, 0);
        }
        bytes += len;
    }
    if start < paths.len() {
        chunks.push(&paths[start..]);
    }
    chunks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arg_chunks_cover_every_path_once_within_the_limit() {
        let paths: Vec<PathBuf> = (0..20_000)
            .map(|i| PathBuf::from(format!("/tmp/some/long/directory/name/log-{i}.log")))
            .collect();
        let chunks = arg_chunks(&paths);
        assert!(chunks.len() > 1);
        assert_eq!(chunks.iter().map(|c| c.len()).sum::<usize>(), paths.len());
        for chunk in &chunks {
            let bytes: usize = chunk.iter().map(|p| p.as_os_str().len() + 1).sum();
            assert!(bytes <= ARGS_BYTES);
        }
    }
}
