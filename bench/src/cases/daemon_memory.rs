//! The daemon's own memory: its RSS when idle, and its peak while pruning
//! the large log and a file with one huge line, read from
//! `/proc/<pid>/status` of the real `v0-prune-daemon` process.
//!
//! Each sample is a fresh daemon on a fresh generated project: once its
//! start-up run is done and it is idle, `VmRSS` is its idle size; then a
//! fresh copy of the big file is put in `logs/`, a run is requested over the
//! socket and waited for, and `VmHWM` (the peak since the process started,
//! so the start-up run is included) is its peak.

use std::path::Path;

use anyhow::{Result, ensure};
use v0_prune_shared::client::Client;

use super::{Case, Ctx, Sizes};
use crate::data;
use crate::measure::fresh_copy;
use crate::procs::{self, Binaries, Daemon, Project};
use crate::report::{Measured, Outcome, Row, Target, Unit};

/// The daemon's RSS, idle and at its peak.
pub struct DaemonMemory;

/// The limit for an idle daemon, MB.
const IDLE_LIMIT_MB: f64 = 15.0;

/// The limit while pruning the large log, MB.
const PEAK_LIMIT_MB: f64 = 40.0;

/// What one daemon showed.
struct Sample {
    idle: f64,
    peak: f64,
    after: f64,
}

impl Case for DaemonMemory {
    fn id(&self) -> &'static str {
        "daemon-memory"
    }

    fn title(&self, sizes: &Sizes) -> String {
        format!(
            "daemon RSS idle / peak pruning the {} log; one {} line",
            data::human_bytes(sizes.large_log_bytes),
            data::megabytes(sizes.long_line_bytes)
        )
    }

    fn needs_binaries(&self) -> bool {
        true
    }

    fn run(&self, ctx: &mut Ctx, notes: &mut Vec<String>) -> Result<Outcome> {
        let binaries = match ctx.binaries(notes) {
            Ok(binaries) => binaries,
            Err(needs) => return Ok(super::not_measured("≤ 15 MB idle, ≤ 40 MB peak", needs)),
        };
        let large = ctx.large_log()?;
        let dir = ctx.case_dir(self.id())?;
        let long = dir.join("long-line.master.log");
        data::long_line_log(&long, ctx.sizes.long_line_bytes)?;
        let rt = procs::runtime()?;
        // Peak memory hardly varies between runs: a few are enough.
        let runs = ctx.rounds.iterations.clamp(1, 3);
        let (mut idle, mut large_peak, mut long_peak, mut after) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for i in 0..runs {
            let sample = one_daemon(&binaries, &rt, &dir.join(format!("large-{i}")), &large)?;
            idle.push(sample.idle);
            large_peak.push(sample.peak);
            after.push(sample.after);
            let sample = one_daemon(&binaries, &rt, &dir.join(format!("long-{i}")), &long)?;
            idle.push(sample.idle);
            long_peak.push(sample.peak);
        }
        notes.push(format!(
            "{} daemons, each on a fresh generated project (8 logs, a queue of 40): VmRSS once its start-up run is done, then VmHWM after a requested run over a fresh copy of the big file in logs/ (the run is checked to have pruned it)",
            2 * runs
        ));
        Ok(Outcome::Measured {
            rows: vec![
                Row::alone(
                    Measured::new("daemon idle (VmRSS)", Unit::Mb, idle),
                    Target::AtMost(IDLE_LIMIT_MB),
                )
                .with_note("after its start-up run on the generated project"),
                Row::alone(
                    Measured::new(
                        format!(
                            "daemon peak pruning the {} log (VmHWM)",
                            data::human_bytes(data::size_of(&large)?)
                        ),
                        Unit::Mb,
                        large_peak,
                    ),
                    Target::AtMost(PEAK_LIMIT_MB),
                ),
                Row::alone(
                    Measured::new(
                        format!(
                            "daemon peak pruning a {} line (VmHWM)",
                            data::megabytes(ctx.sizes.long_line_bytes)
                        ),
                        Unit::Mb,
                        long_peak,
                    ),
                    Target::AtMost(PEAK_LIMIT_MB),
                ),
                Row::alone(
                    Measured::new("daemon idle after the large run (VmRSS)", Unit::Mb, after),
                    Target::Info,
                )
                .with_note("what it keeps once the big run is over"),
            ],
        })
    }
}

/// Starts a daemon on a fresh project in `dir`, measures it idle, has it
/// prune a fresh copy of `big` and measures its peak; stops it.
fn one_daemon(
    binaries: &Binaries,
    rt: &tokio::runtime::Runtime,
    dir: &Path,
    big: &Path,
) -> Result<Sample> {
    let project = Project::demo(dir, 73)?;
    let daemon = Daemon::start(binaries, &project, rt)?;
    daemon.wait_idle_after_startup(rt)?;
    let idle = procs::status_mb(daemon.pid(), "VmRSS")?;
    let target = project.build.logs_dir().join("big.log");
    fresh_copy(big, &target)?;
    let requested = rt.block_on(async {
        Client::connect(&project.build, "v0-prune-bench")
            .await?
            .run_now()
            .await
    })?;
    let snapshot = daemon.wait_idle_after_run(rt, requested.run_id)?;
    let peak = procs::status_mb(daemon.pid(), "VmHWM")?;
    let after = procs::status_mb(daemon.pid(), "VmRSS")?;
    let run = snapshot.last_run.as_ref();
    ensure!(
        run.is_some_and(|r| r.log_lines_removed > 0 && r.errors.is_empty()),
        "the daemon's run did not prune {}: {run:?}",
        big.display()
    );
    daemon.stop()?;
    std::fs::remove_dir_all(dir)?;
    Ok(Sample { idle, peak, after })
}
