//! Case 6: peak memory of pruning, independent of file size and line length.
//!
//! Each prune runs in a child process (this executable, `child prune-log
//! PATH`), which reports its own peak RSS (`VmHWM` in /proc/self/status) just
//! before it exits; the parent's memory, which holds nothing big either, is
//! not involved. A child that prunes nothing shows the process's own floor.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail, ensure};
use serde::{Deserialize, Serialize};
use v0_prune_shared::prune::RunOptions;
use v0_prune_shared::prune::logs::{self, FileOutcome};

use super::{Case, Ctx, Sizes};
use crate::data;
use crate::measure::fresh_copy;
use crate::report::{Measured, Outcome, Row, Target, Unit};

/// Case 6.
pub struct Memory;

/// The limit for a prune of the large log, MB.
const PEAK_LIMIT_MB: f64 = 40.0;

/// The small log that shows memory does not follow file size.
const SMALL_LOG_BYTES: u64 = 1 << 20;

/// What a child reports on stdout.
#[derive(Debug, Serialize, Deserialize)]
pub struct ChildReport {
    /// Peak resident set size, kB (`VmHWM`).
    pub vm_hwm_kb: u64,
    /// What the prune did, for the sanity check.
    pub outcome: String,
}

/// A task for the child process.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum ChildTask {
    /// Prune one log (nobody holding it) with the bench's cutoff.
    PruneLog {
        /// The log.
        path: PathBuf,
    },
    /// Do nothing: the process's own footprint.
    Idle,
}

/// Runs a child task and prints its [`ChildReport`] as JSON.
pub fn child(task: ChildTask) -> Result<()> {
    let outcome = match task {
        ChildTask::PruneLog { path } => {
            let options = RunOptions {
                cutoff: data::cutoff()?,
                dry_run: false,
            };
            let (outcome, _) = logs::prune_file(&path, &[], &options, None)
                .with_context(|| format!("pruning {}", path.display()))?;
            ensure!(
                matches!(outcome, FileOutcome::Pruned { .. }),
                "expected {} to be pruned; got {outcome:?}",
                path.display()
            );
            format!("{outcome:?}")
        }
        ChildTask::Idle => "idle".into(),
    };
    let report = ChildReport {
        vm_hwm_kb: vm_hwm_kb()?,
        outcome,
    };
    println!("{}", serde_json::to_string(&report)?);
    Ok(())
}

fn vm_hwm_kb() -> Result<u64> {
    let status =
        std::fs::read_to_string("/proc/self/status").context("reading /proc/self/status")?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .context("no VmHWM in /proc/self/status")
}

impl Case for Memory {
    fn id(&self) -> &'static str {
        "memory"
    }

    fn title(&self, sizes: &Sizes) -> String {
        format!(
            "peak RSS of one prune ({} log; one {} line)",
            data::human_bytes(sizes.large_log_bytes),
            data::megabytes(sizes.long_line_bytes)
        )
    }

    fn run(&self, ctx: &mut Ctx, notes: &mut Vec<String>) -> Result<Outcome> {
        let master = ctx.large_log()?;
        let dir = ctx.case_dir(self.id())?;
        let small = dir.join("small.master.log");
        data::log_of_size(&small, &dir, SMALL_LOG_BYTES, 0.5, 5)?;
        let long = dir.join("long-line.master.log");
        data::long_line_log(&long, ctx.sizes.long_line_bytes)?;
        notes.push(format!(
            "the long-line file: 1000 lines (half expired), then one current entry of {} bytes",
            ctx.sizes.long_line_bytes
        ));
        let work = dir.join("work.log");
        // Peak memory hardly varies between runs: a few are enough.
        let runs = ctx.rounds.iterations.clamp(1, 3);
        let measure = |name: &str, master: Option<&Path>| -> Result<Measured> {
            let mut samples = Vec::new();
            for _ in 0..runs {
                let task = match master {
                    Some(master) => {
                        fresh_copy(master, &work)?;
                        vec!["prune-log".into(), work.clone().into_os_string()]
                    }
                    None => vec!["idle".into()],
                };
                let report = run_child(&ctx.exe, &task)?;
                samples.push(report.vm_hwm_kb as f64 * 1024.0 / 1e6);
            }
            Ok(Measured::new(name, Unit::Mb, samples))
        };
        let idle = measure("child doing nothing", None)?;
        let small_row = measure(
            &format!("prune {} log", data::human_bytes(data::size_of(&small)?)),
            Some(&small),
        )?;
        let large_row = measure(
            &format!("prune {} log", data::human_bytes(data::size_of(&master)?)),
            Some(&master),
        )?;
        let long_row = measure(
            &format!(
                "prune file with a {} line",
                data::megabytes(ctx.sizes.long_line_bytes)
            ),
            Some(&long),
        )?;
        notes.push(
            "the engine in a minimal process (this bench re-run as a child); the daemon's own RSS is the daemon-memory case"
                .into(),
        );
        Ok(Outcome::Measured {
            rows: vec![
                Row::alone(large_row, Target::AtMost(PEAK_LIMIT_MB)),
                Row::alone(long_row, Target::AtMost(PEAK_LIMIT_MB)),
                Row::alone(small_row, Target::Info)
                    .with_note("compare with the large log: memory must not follow file size"),
                Row::alone(idle, Target::Info).with_note("the process's floor"),
            ],
        })
    }
}

/// Runs `exe child <task...>` and reads its report.
fn run_child(exe: &Path, task: &[std::ffi::OsString]) -> Result<ChildReport> {
    let output = Command::new(exe)
        .arg("child")
        .args(task)
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .with_context(|| format!("starting {}", exe.display()))?;
    if !output.status.success() {
        bail!(
            "the memory child failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    serde_json::from_slice(&output.stdout).context("reading the memory child's report")
}
