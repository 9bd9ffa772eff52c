//! Cases 1 and 2: one large half-expired log, pruned in place although
//! nobody holds it (its expired lines are a head), in place under an
//! O_APPEND writer, and by rewrite (an expired entry after the current ones
//! forces it); in `--full` runs also the 256 MiB log, nobody holding it and
//! held. And the steady state: the large log pruned again later, reading
//! only what the log index does not vouch for.
//!
//! Our side runs `logs::prune_all` on a build directory holding only that log,
//! so the walk and the procfs scan for holders are included: that is what
//! the daemon pays. Every timed run prunes a fresh copy made untimed just
//! before; the baselines read the generated original, which stays in the
//! page cache because every setup reads it.

use std::cell::RefCell;
use std::collections::HashSet;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use jiff::Timestamp;
use v0_prune_shared::paths::BuildDir;
use v0_prune_shared::platform::{self, Access};
use v0_prune_shared::prune::{Cutoff, LogMethod, LogsReport, RunOptions, ignore_events, logs};

use super::{Case, Ctx, Sizes};
use crate::data;
use crate::measure::{Contender, fresh_copy, race, remove_if_present, run_tool, tool_available};
use crate::report::{Measured, Outcome, Row, Target, Unit};

/// The in-place cases' floor: the collapse syscall alone (`fallocate(1)`).
const COLLAPSE_ALONE: &str = "collapse alone";

/// Which half-expired log a case prunes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogSize {
    /// The mode's large log (256 MiB by default, 1 GiB with `--full`).
    Large,
    /// 256 MiB, as a case of its own only where the large log is larger.
    Mid,
}

impl LogSize {
    fn bytes(self, sizes: &Sizes) -> Option<u64> {
        match self {
            LogSize::Large => Some(sizes.large_log_bytes),
            LogSize::Mid => sizes.mid_log_bytes,
        }
    }

    fn master(self, ctx: &mut Ctx) -> Result<PathBuf> {
        match self {
            LogSize::Large => ctx.large_log(),
            LogSize::Mid => ctx.mid_log(),
        }
    }
}

/// Case 1: nobody holds the log, and its expired lines are a head: its head
/// is collapsed in place under a write lease.
pub struct Unheld(pub LogSize);

/// Case 1b: nobody holds the log, but an expired entry follows the current
/// ones: it is rewritten and renamed.
pub struct Rewrite;

/// Case 2: an O_APPEND writer holds the log; its expired head is collapsed.
pub struct InPlace(pub LogSize);

/// Case 1c: the log a first prune left, pruned again once the cutoff has
/// moved on, with the log index that first prune saved and without it.
pub struct LaterRun;

/// How far the later run's cutoff is past the data's: the generated current
/// entries span the last 3 h before [`data::NOW`], so this expires their
/// oldest sixth.
const LATER_BY: i64 = 3 * 3600 + 1800;

impl Case for Unheld {
    fn id(&self) -> &'static str {
        match self.0 {
            LogSize::Large => "large-log-unheld",
            LogSize::Mid => "mid-log-unheld",
        }
    }

    fn title(&self, sizes: &Sizes) -> String {
        format!(
            "1 log of {}, half expired, nobody holding it (in place)",
            data::human_bytes(self.0.bytes(sizes).unwrap_or(0))
        )
    }

    fn runs_with(&self, sizes: &Sizes) -> bool {
        self.0.bytes(sizes).is_some()
    }

    fn run(&self, ctx: &mut Ctx, notes: &mut Vec<String>) -> Result<Outcome> {
        let master = self.0.master(ctx)?;
        let bytes = data::size_of(&master)?;
        // The issue's targets: ≤ 1× cp at 1 GiB, ≤ 0.8× cp at 256 MiB.
        let cp_target = if bytes > 300 << 20 { 1.0 } else { 0.8 };
        unheld_or_rewrite(
            ctx,
            notes,
            self.id(),
            &master,
            LogMethod::InPlaceUnheld,
            [
                ("cp", Target::RatioAtMost(cp_target), None),
                (
                    "cp + fsync",
                    Target::Info,
                    Some("what a crash-safe copy costs; in place copies nothing"),
                ),
                ("awk filter", Target::FasterBy(5.0), None),
                ("cat > /dev/null", Target::Info, Some("reading alone")),
            ],
        )
    }
}

impl Case for Rewrite {
    fn id(&self) -> &'static str {
        "large-log-rewrite"
    }

    fn title(&self, sizes: &Sizes) -> String {
        format!(
            "the same {} log with an expired entry after the current ones (rewrite)",
            data::human_bytes(sizes.large_log_bytes)
        )
    }

    fn run(&self, ctx: &mut Ctx, notes: &mut Vec<String>) -> Result<Outcome> {
        let master = ctx.late_expired_log()?;
        unheld_or_rewrite(
            ctx,
            notes,
            self.id(),
            &master,
            LogMethod::Rewrite,
            [
                ("cp", Target::Info, None),
                (
                    "cp + fsync",
                    Target::RatioAtMost(1.0),
                    Some("our rewrite fsyncs its output before the rename; plain cp does not"),
                ),
                ("awk filter", Target::FasterBy(3.0), None),
                ("cat > /dev/null", Target::Info, Some("reading alone")),
            ],
        )
    }
}

/// Races `prune_all` on fresh copies of `master` (pruned by `method`)
/// against cp, cp + fsync, the awk filter and cat, with these targets.
fn unheld_or_rewrite(
    ctx: &Ctx,
    notes: &mut Vec<String>,
    id: &str,
    master: &Path,
    method: LogMethod,
    targets: [(&'static str, Target, Option<&'static str>); 4],
) -> Result<Outcome> {
    let setup = Setup::new(ctx, id, master)?;
    notes.push(format!(
        "input: {} bytes; cutoff {}",
        data::size_of(master)?,
        ctx.cutoff
    ));
    let last = RefCell::new(None);
    let label = format!("prune_all ({})", method_label(method));
    let mut contenders = vec![Contender::new(
        &label,
        || setup.fresh_log(),
        || {
            let report = setup.prune(&ctx.options())?;
            expect_method(&report, method)?;
            *last.borrow_mut() = Some(report);
            Ok(())
        },
    )];
    let baselines = setup.baselines(ctx, true);
    contenders.extend(baselines.contenders);
    let in_place = method == LogMethod::InPlaceUnheld;
    if in_place {
        contenders.push(setup.collapse_alone(&last));
    }
    let samples = race(ctx.rounds, &mut contenders)?;
    drop(contenders);
    if let Some(report) = last.into_inner() {
        notes.push(describe(&report));
    }
    let mut samples = samples.into_iter();
    let ours = Measured::new(&label, Unit::Ms, next(&mut samples)?);
    let mut rows = Vec::new();
    for (name, target, note) in targets {
        let row = match baselines.missing.iter().find(|(n, _)| *n == name) {
            Some((_, why)) => Row::skipped(ours.clone(), name, target, why.clone()),
            None => {
                let base = Measured::new(name, Unit::Ms, next(&mut samples)?);
                let row = Row::compare(ours.clone(), base, target);
                match note {
                    Some(note) => row.with_note(note),
                    None => row,
                }
            }
        };
        rows.push(row);
    }
    if in_place {
        rows.push(collapse_row(ours, next(&mut samples)?));
    }
    Ok(Outcome::Measured { rows })
}

/// Ours against the kernel's collapse of the same bytes alone.
fn collapse_row(ours: Measured, samples: Vec<f64>) -> Row {
    let collapse = Measured::new(COLLAPSE_ALONE, Unit::Ms, samples);
    Row::compare(ours, collapse, Target::Info)
        .with_note("the kernel's share: fallocate(COLLAPSE_RANGE) of the same bytes, nothing read")
}

fn method_label(method: LogMethod) -> &'static str {
    match method {
        LogMethod::Rewrite => "rewrite",
        LogMethod::InPlace => "in place",
        LogMethod::InPlaceUnheld => "in place, unheld",
        LogMethod::DryRun => "dry run",
    }
}

impl Case for InPlace {
    fn id(&self) -> &'static str {
        match self.0 {
            LogSize::Large => "large-log-in-place",
            LogSize::Mid => "mid-log-in-place",
        }
    }

    fn title(&self, sizes: &Sizes) -> String {
        format!(
            "the same {} log held by an O_APPEND writer (in place)",
            data::human_bytes(self.0.bytes(sizes).unwrap_or(0))
        )
    }

    fn runs_with(&self, sizes: &Sizes) -> bool {
        self.0.bytes(sizes).is_some()
    }

    fn run(&self, ctx: &mut Ctx, notes: &mut Vec<String>) -> Result<Outcome> {
        let master = self.0.master(ctx)?;
        let setup = Setup::new(ctx, self.id(), &master)?;
        let holder: RefCell<Option<AppendHolder>> = RefCell::new(None);
        let last = RefCell::new(None);
        let mut contenders = vec![Contender::new(
            "prune_all (in place)",
            || {
                // The previous round's writer lets go before its file is replaced.
                holder.borrow_mut().take();
                setup.fresh_log()?;
                *holder.borrow_mut() = Some(AppendHolder::spawn(&setup.log)?);
                Ok(())
            },
            || {
                let report = setup.prune(&ctx.options())?;
                expect_method(&report, LogMethod::InPlace)?;
                *last.borrow_mut() = Some(report);
                Ok(())
            },
        )];
        let baselines = setup.baselines(ctx, false);
        contenders.extend(baselines.contenders);
        contenders.push(setup.collapse_alone(&last));
        let samples = race(ctx.rounds, &mut contenders)?;
        drop(contenders);
        holder.borrow_mut().take();
        if let Some(report) = last.into_inner() {
            notes.push(describe(&report));
        }
        notes.push(
            "holder: `sh -c 'exec 3>>FILE; exec sleep 600'`; prune_all finds it in procfs (included in the time)"
                .into(),
        );
        let mut samples = samples.into_iter();
        let ours = Measured::new("prune_all (in place)", Unit::Ms, next(&mut samples)?);
        let cp = Measured::new("cp", Unit::Ms, next(&mut samples)?);
        let cat = Measured::new("cat > /dev/null", Unit::Ms, next(&mut samples)?);
        Ok(Outcome::Measured {
            rows: vec![
                Row::compare(ours.clone(), cp, Target::RatioAtMost(0.8)),
                Row::compare(ours.clone(), cat, Target::Info).with_note("reading alone"),
                collapse_row(ours, next(&mut samples)?),
            ],
        })
    }
}

impl Case for LaterRun {
    fn id(&self) -> &'static str {
        "large-log-later-run"
    }

    fn title(&self, sizes: &Sizes) -> String {
        format!(
            "the same {} log pruned in place, then again 3½ h later (with the log index)",
            data::human_bytes(sizes.large_log_bytes)
        )
    }

    fn run(&self, ctx: &mut Ctx, notes: &mut Vec<String>) -> Result<Outcome> {
        let master = ctx.large_log()?;
        let setup = Setup::new(ctx, self.id(), &master)?;
        let first = ctx.options();
        let later = RunOptions {
            cutoff: Cutoff::at(
                Timestamp::from_second(ctx.cutoff.timestamp().as_second() + LATER_BY)
                    .context("the later cutoff")?,
            ),
            dry_run: false,
        };
        // Untimed: a fresh copy pruned once, which saves the index; without
        // the index, the index is removed after that.
        let pruned_once = |keep_index: bool| {
            let (setup, first) = (&setup, &first);
            move || {
                setup.fresh_log()?;
                expect_method(&setup.prune(first)?, LogMethod::InPlaceUnheld)?;
                if !keep_index {
                    remove_if_present(&setup.build.log_index())?;
                }
                Ok(())
            }
        };
        let read = RefCell::new([0u64; 2]);
        let second_run = |which: usize| {
            let (setup, read, later) = (&setup, &read, &later);
            move || {
                let before = bytes_read_by_this_process();
                expect_method(&setup.prune(later)?, LogMethod::InPlaceUnheld)?;
                read.borrow_mut()[which] = bytes_read_by_this_process().saturating_sub(before);
                Ok(())
            }
        };
        let mut contenders = vec![
            Contender::new(
                "prune_all, with the index",
                pruned_once(true),
                second_run(0),
            ),
            Contender::new("prune_all, without it", pruned_once(false), second_run(1)),
        ];
        let samples = race(ctx.rounds, &mut contenders)?;
        drop(contenders);
        let [with, without] = read.into_inner();
        notes.push(format!(
            "input: {} bytes; first cutoff {}, later cutoff {}; the later run read {} with the index, {} without (rchar, last round)",
            data::size_of(&master)?,
            ctx.cutoff,
            later.cutoff,
            data::human_bytes(with),
            data::human_bytes(without),
        ));
        let mut samples = samples.into_iter();
        let ours = Measured::new("prune_all, with the index", Unit::Ms, next(&mut samples)?);
        let without = Measured::new("prune_all, without it", Unit::Ms, next(&mut samples)?);
        Ok(Outcome::Measured {
            rows: vec![Row::compare(ours, without, Target::Info).with_note(
                "the index vouches for the current entries after the new head: only the head and one 4 MiB stretch are read",
            )],
        })
    }
}

/// Bytes this process has read so far (`rchar` in `/proc/self/io`; 0 where
/// there is none).
fn bytes_read_by_this_process() -> u64 {
    std::fs::read_to_string("/proc/self/io")
        .ok()
        .and_then(|io| {
            io.lines()
                .find_map(|line| line.strip_prefix("rchar: "))
                .and_then(|n| n.trim().parse().ok())
        })
        .unwrap_or(0)
}

fn next(samples: &mut impl Iterator<Item = Vec<f64>>) -> Result<Vec<f64>> {
    samples
        .next()
        .context("internal: fewer sample sets than contenders")
}

fn expect_method(report: &LogsReport, method: LogMethod) -> Result<()> {
    match report.pruned.as_slice() {
        [outcome] if outcome.method == method && outcome.lines_removed > 0 => Ok(()),
        _ => bail!(
            "expected the log to be pruned by {method:?}; got pruned {:?}, skipped {:?}",
            report.pruned,
            report.skipped
        ),
    }
}

fn describe(report: &LogsReport) -> String {
    format!(
        "last run: {} lines removed, {} → {} bytes",
        report.lines_removed, report.bytes_before, report.bytes_after
    )
}

/// A build directory holding one copy of the large log, and the baselines' files.
struct Setup<'a> {
    master: &'a Path,
    build: BuildDir,
    log: PathBuf,
    out: PathBuf,
}

/// The baseline contenders a case could run, and those it could not (tool missing).
struct Baselines<'a> {
    contenders: Vec<Contender<'a>>,
    missing: Vec<(&'static str, String)>,
}

impl<'a> Setup<'a> {
    fn new(ctx: &Ctx, id: &str, master: &'a Path) -> Result<Self> {
        let dir = ctx.case_dir(id)?;
        let build = BuildDir::new(dir.join("build"));
        std::fs::create_dir_all(build.logs_dir())
            .with_context(|| format!("creating {}", build.logs_dir().display()))?;
        Ok(Self {
            master,
            log: build.logs_dir().join("large.log"),
            build,
            out: dir.join("baseline.out"),
        })
    }

    /// A fresh copy of the log, and no memory of earlier runs.
    fn fresh_log(&self) -> Result<()> {
        remove_if_present(&self.build.log_index())?;
        fresh_copy(self.master, &self.log)
    }

    fn prune(&self, options: &RunOptions) -> Result<LogsReport> {
        Ok(logs::prune_all(&self.build, options, &mut ignore_events)?)
    }

    /// The kernel's part of an in-place prune, timed alone: on a fresh copy
    /// (untimed), `fallocate --collapse-range` of as many bytes as our last
    /// run removed (ours runs first in every round). No reading, no
    /// deciding: a floor no in-place prune can go under on this filesystem.
    fn collapse_alone(&'a self, last: &'a RefCell<Option<LogsReport>>) -> Contender<'a> {
        let (master, out) = (self.master, self.out.as_path());
        Contender::new(
            COLLAPSE_ALONE,
            move || fresh_copy(master, out),
            move || {
                let removed = last
                    .borrow()
                    .as_ref()
                    .map(|report| report.bytes_before.saturating_sub(report.bytes_after))
                    .context("internal: the collapse baseline ran before our prune")?;
                run_tool(
                    Command::new("fallocate")
                        .args(["--collapse-range", "--offset", "0", "--length"])
                        .arg(removed.to_string())
                        .arg(out),
                    None,
                )
            },
        )
    }

    /// cp (and, for the rewrite case, cp + fsync and the awk filter), then cat.
    fn baselines(&'a self, ctx: &Ctx, rewrite_case: bool) -> Baselines<'a> {
        let mut contenders = Vec::new();
        let mut missing = Vec::new();
        let (master, out) = (self.master, self.out.as_path());
        let clear = move || remove_if_present(out);
        contenders.push(Contender::new("cp", clear, move || {
            run_tool(Command::new("cp").arg(master).arg(out), None)
        }));
        if rewrite_case {
            contenders.push(Contender::new("cp + fsync", clear, move || {
                run_tool(Command::new("cp").arg(master).arg(out), None)?;
                std::fs::File::open(out)
                    .and_then(|f| f.sync_all())
                    .with_context(|| format!("fsync {}", out.display()))
            }));
            if tool_available("awk") {
                // Fairly mirrors our rule: a line whose bracketed stamp sorts
                // below the cutoff goes (its continuation lines stay, though).
                let cutoff = format!("[{}]", ctx.cutoff);
                contenders.push(Contender::new("awk filter", clear, move || {
                    run_tool(
                        Command::new("awk")
                            .env("LC_ALL", "C")
                            .arg("-v")
                            .arg(format!("c={cutoff}"))
                            .arg(r#"substr($0,1,1)!="[" || substr($0,1,22) >= c"#)
                            .arg(master),
                        Some(out),
                    )
                }));
            } else {
                missing.push(("awk filter", "awk is not installed".to_string()));
            }
        }
        contenders.push(Contender::new(
            "cat > /dev/null",
            || Ok(()),
            move || run_tool(Command::new("cat").arg(master), None),
        ));
        Baselines {
            contenders,
            missing,
        }
    }
}

/// `sh -c 'exec 3>>FILE; exec sleep 600'`: a long-lived O_APPEND holder, like
/// `nohup daemon >> x.log`. Killed (by its pid) and reaped when dropped.
struct AppendHolder {
    child: Child,
}

impl AppendHolder {
    /// Starts the holder and waits until procfs shows it holding `path`.
    fn spawn(path: &Path) -> Result<Self> {
        let child = Command::new("sh")
            .arg("-c")
            .arg(r#"exec 3>>"$1"; exec sleep 600"#)
            .arg("sh")
            .arg(path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting the O_APPEND holder")?;
        let holder = Self { child };
        let meta = std::fs::metadata(path).with_context(|| format!("stat {}", path.display()))?;
        let id = (meta.dev(), meta.ino());
        let ids: HashSet<_> = [id].into_iter().collect();
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let holders = platform::open_files(&ids).remove(&id).unwrap_or_default();
            if holders
                .iter()
                .any(|h| h.pid == holder.child.id() && h.access == Access::Append)
            {
                return Ok(holder);
            }
            ensure!(
                Instant::now() < deadline,
                "the holder (pid {}) did not open {} within 5 s",
                holder.child.id(),
                path.display()
            );
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}

impl Drop for AppendHolder {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
