//! Cases 1 and 2: one large half-expired log, pruned by rewrite (nobody holds
//! it) and in place (an O_APPEND writer holds it).
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
use v0_prune_shared::paths::BuildDir;
use v0_prune_shared::platform::{self, Access};
use v0_prune_shared::prune::{LogMethod, LogsReport, RunOptions, ignore_events, logs};

use super::{Case, Ctx, Sizes};
use crate::data;
use crate::measure::{Contender, fresh_copy, race, remove_if_present, run_tool, tool_available};
use crate::report::{Measured, Outcome, Row, Target, Unit};

/// Case 1: nobody holds the log; it is rewritten and renamed.
pub struct Rewrite;

/// Case 2: an O_APPEND writer holds the log; its expired head is collapsed.
pub struct InPlace;

impl Case for Rewrite {
    fn id(&self) -> &'static str {
        "large-log-rewrite"
    }

    fn title(&self, sizes: &Sizes) -> String {
        format!(
            "1 log of {}, half expired, nobody holding it",
            data::human_bytes(sizes.large_log_bytes)
        )
    }

    fn run(&self, ctx: &mut Ctx, notes: &mut Vec<String>) -> Result<Outcome> {
        let master = ctx.large_log()?;
        let setup = Setup::new(ctx, self.id(), &master)?;
        notes.push(format!(
            "input: {} bytes; cutoff {}",
            data::size_of(&master)?,
            ctx.cutoff
        ));
        let last = RefCell::new(None);
        let mut contenders = vec![Contender::new(
            "prune_all (rewrite)",
            || setup.fresh_log(),
            || {
                let report = setup.prune(&ctx.options())?;
                expect_method(&report, LogMethod::InPlaceUnheld)?;
                *last.borrow_mut() = Some(report);
                Ok(())
            },
        )];
        let baselines = setup.baselines(ctx, true);
        contenders.extend(baselines.contenders);
        let samples = race(ctx.rounds, &mut contenders)?;
        drop(contenders);
        if let Some(report) = last.into_inner() {
            notes.push(describe(&report));
        }
        let mut samples = samples.into_iter();
        let ours = Measured::new("prune_all (rewrite)", Unit::Ms, next(&mut samples)?);
        let mut rows = Vec::new();
        for (name, target, note) in [
            ("cp", Target::RatioAtMost(1.0), None),
            (
                "cp + fsync",
                Target::Info,
                Some("our rewrite fsyncs its output before the rename; plain cp does not"),
            ),
            ("awk filter", Target::FasterBy(3.0), None),
            ("cat > /dev/null", Target::Info, Some("reading alone")),
        ] {
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
        Ok(Outcome::Measured { rows })
    }
}

impl Case for InPlace {
    fn id(&self) -> &'static str {
        "large-log-in-place"
    }

    fn title(&self, sizes: &Sizes) -> String {
        format!(
            "the same {} log held by an O_APPEND writer (in place)",
            data::human_bytes(sizes.large_log_bytes)
        )
    }

    fn run(&self, ctx: &mut Ctx, notes: &mut Vec<String>) -> Result<Outcome> {
        let master = ctx.large_log()?;
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
                Row::compare(ours.clone(), cp, Target::RatioAtMost(0.5)),
                Row::compare(ours, cat, Target::Info).with_note("reading alone"),
            ],
        })
    }
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
