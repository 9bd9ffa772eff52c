//! Case 4: a second run right after the first, with nothing new expired, on a
//! large log of fresh lines. Steady-state cost must follow what changed, not
//! the total size: the target is ≤ 2% of the first run.
//!
//! Each round removes the log index (so the first run reads everything), then
//! times `prune_all` twice in a row. A context row shows the second run after
//! a few lines were appended, which must read only those.

use std::collections::HashSet;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use anyhow::{Context, Result, ensure};
use v0_prune_shared::paths::BuildDir;
use v0_prune_shared::platform;
use v0_prune_shared::prune::{RunOptions, ignore_events, logs};

use super::{Case, Ctx, Sizes};
use crate::data;
use crate::measure::{remove_if_present, settle, time};
use crate::report::{Measured, Outcome, Row, Target, Unit};

/// Case 4.
pub struct SecondRun;

/// Lines appended before the "after an append" second run.
const APPENDED: usize = 100;

impl Case for SecondRun {
    fn id(&self) -> &'static str {
        "second-run"
    }

    fn title(&self, sizes: &Sizes) -> String {
        format!(
            "second run, nothing new expired ({} of fresh lines)",
            data::human_bytes(sizes.large_log_bytes)
        )
    }

    fn run(&self, ctx: &mut Ctx, notes: &mut Vec<String>) -> Result<Outcome> {
        let dir = ctx.case_dir(self.id())?;
        let build = BuildDir::new(dir.join("build"));
        std::fs::create_dir_all(build.logs_dir())?;
        let log = build.logs_dir().join("fresh.log");
        eprintln!(
            "  generating a {} log of fresh lines...",
            data::human_bytes(ctx.sizes.large_log_bytes)
        );
        let size = data::log_of_size(&log, &dir, ctx.sizes.large_log_bytes, 0.0, 23)?;
        notes.push(format!("input: {size} bytes, no entry expired"));
        let options = ctx.options();
        let meta = std::fs::metadata(&log)?;
        let ids: HashSet<_> = [(meta.dev(), meta.ino())].into_iter().collect();
        let (mut first, mut second, mut appended) = (Vec::new(), Vec::new(), Vec::new());
        let mut scan = Vec::new();
        for keep in ctx.rounds.each() {
            remove_if_present(&build.log_index())?;
            settle();
            let t1 = time(|| unchanged_run(&build, &options))?;
            let t2 = time(|| unchanged_run(&build, &options))?;
            data::append_current_lines(&log, APPENDED)?;
            settle();
            let t3 = time(|| unchanged_run(&build, &options))?;
            // The floor of every run: one pass over /proc/*/fd for holders.
            let t4 = time(|| {
                platform::open_files(&ids);
                Ok(())
            })?;
            if keep {
                scan.push(t4);
                first.push(t1);
                second.push(t2);
                appended.push(t3);
            }
        }
        notes.push(format!(
            "the log index ({}) is removed before each first run",
            build
                .log_index()
                .strip_prefix(build.root())
                .unwrap_or(Path::new("?"))
                .display()
        ));
        let first = Measured::new("first run", Unit::Ms, first);
        Ok(Outcome::Measured {
            rows: vec![
                Row::compare(
                    Measured::new("second run", Unit::Ms, second),
                    first.clone(),
                    Target::RatioAtMost(0.02),
                ),
                Row::compare(
                    Measured::new(
                        format!("after {APPENDED} appended lines"),
                        Unit::Ms,
                        appended,
                    ),
                    first.clone(),
                    Target::Info,
                )
                .with_note("a second run that has to read only the appended bytes"),
                Row::compare(
                    Measured::new("procfs holder scan alone", Unit::Ms, scan),
                    first,
                    Target::Info,
                )
                .with_note(format!(
                    "the fixed floor of any run: /proc/*/fd of {} processes",
                    process_count()
                )),
            ],
        })
    }
}

/// One `prune_all` that must find nothing to prune.
fn unchanged_run(build: &BuildDir, options: &RunOptions) -> Result<()> {
    let report =
        logs::prune_all(build, options, &mut ignore_events).context("pruning the fresh log")?;
    ensure!(
        report.pruned.is_empty() && report.skipped.is_empty() && report.files_examined == 1,
        "expected one unchanged log; got pruned {:?}, skipped {:?}",
        report.pruned,
        report.skipped
    );
    Ok(())
}

/// Processes visible in /proc now.
fn process_count() -> usize {
    std::fs::read_dir("/proc").map_or(0, |dir| {
        dir.flatten()
            .filter(|e| {
                e.file_name()
                    .to_str()
                    .is_some_and(|n| n.parse::<u32>().is_ok())
            })
            .count()
    })
}
