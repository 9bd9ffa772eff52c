//! The table of cases: one entry per row group of the target table.
//!
//! A case is anything implementing [`Case`]. The engine cases call the
//! library in this process; the daemon, CLI and dashboard cases run the real
//! binaries (`v0-prune`, `v0-prune-daemon`) as separate processes on
//! generated projects (see [`crate::procs`]).

mod all_projects;
mod cli;
mod daemon_memory;
mod dashboard;
mod events;
mod files_view;
mod large_log;
mod many_logs;
pub mod memory;
mod queue;
mod second_run;

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use v0_prune_shared::prune::{Cutoff, RunOptions};

use crate::data;
use crate::measure::Rounds;
use crate::procs::{Binaries, Prepared};
use crate::report::{CaseResult, Outcome};

/// The row of a case that needs the real binaries when they are missing:
/// its target, and the command that builds them.
pub(crate) fn not_measured(target: &str, needs: String) -> Outcome {
    Outcome::NotMeasured {
        target: target.into(),
        needs,
    }
}

/// Sizes of the generated inputs; the mode (`--quick`, default, `--full`) picks them.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Sizes {
    /// The one large log of cases 1, 2, 4 and 6.
    pub large_log_bytes: u64,
    /// A 256 MiB log for cases 1 and 2 again, where the large log is larger
    /// (`--full`): the issue has targets at both sizes.
    pub mid_log_bytes: Option<u64>,
    /// How many small logs case 3 prunes.
    pub small_logs: usize,
    /// Timestamped lines in each small log.
    pub small_log_lines: usize,
    /// Entries in case 5's queue.json.
    pub queue_entries: usize,
    /// Length of the single line of case 6.
    pub long_line_bytes: u64,
    /// Registered projects, each with a running daemon, that
    /// `v0-prune status --all-projects` asks.
    pub projects: usize,
}

/// What every case gets: where to put data, how big, how often to run.
pub struct Ctx {
    /// Scratch directory for all data (removed at the end).
    pub dir: PathBuf,
    /// Input sizes.
    pub sizes: Sizes,
    /// Warm-up and kept rounds.
    pub rounds: Rounds,
    /// The cutoff the data was generated around.
    pub cutoff: Cutoff,
    /// This executable, re-run as a child to measure memory.
    pub exe: PathBuf,
    large_log: Option<PathBuf>,
    mid_log: Option<PathBuf>,
    binaries: Prepared,
}

impl Ctx {
    /// A context generating into `dir`.
    pub fn new(dir: PathBuf, sizes: Sizes, rounds: Rounds) -> Result<Self> {
        Ok(Self {
            dir,
            sizes,
            rounds,
            cutoff: data::cutoff()?,
            exe: std::env::current_exe().context("finding this executable")?,
            large_log: None,
            mid_log: None,
            binaries: Prepared {
                binaries: Err("needs the binaries: not looked for".into()),
                warning: None,
            },
        })
    }

    /// What [`crate::procs::prepare`] found, for the cases that run binaries.
    pub fn set_binaries(&mut self, prepared: Prepared) {
        self.binaries = prepared;
    }

    /// The binaries for a process case, or what it needs (its
    /// `NotMeasured` text); a warning about them goes to `notes`.
    pub fn binaries(&self, notes: &mut Vec<String>) -> Result<Binaries, String> {
        if let Some(warning) = &self.binaries.warning {
            notes.push(warning.clone());
        }
        self.binaries.binaries.clone()
    }

    /// The prune options every case uses.
    pub fn options(&self) -> RunOptions {
        RunOptions {
            cutoff: self.cutoff,
            dry_run: false,
        }
    }

    /// The large, half-expired log, generated on first use and shared by the
    /// cases that read it (never pruned itself: they prune copies).
    pub fn large_log(&mut self) -> Result<PathBuf> {
        if let Some(path) = &self.large_log {
            return Ok(path.clone());
        }
        let dir = self.dir.join("shared");
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let path = dir.join("large-half-expired.log");
        eprintln!(
            "  generating a {} log, half expired...",
            data::human_bytes(self.sizes.large_log_bytes)
        );
        data::log_of_size(&path, &dir, self.sizes.large_log_bytes, 0.5, 11)?;
        self.large_log = Some(path.clone());
        Ok(path)
    }

    /// The 256 MiB half-expired log (`--full` only), generated on first use.
    pub fn mid_log(&mut self) -> Result<PathBuf> {
        if let Some(path) = &self.mid_log {
            return Ok(path.clone());
        }
        let bytes = self
            .sizes
            .mid_log_bytes
            .context("internal: no mid-size log in this mode")?;
        let dir = self.dir.join("shared");
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let path = dir.join("mid-half-expired.log");
        eprintln!(
            "  generating a {} log, half expired...",
            data::human_bytes(bytes)
        );
        data::log_of_size(&path, &dir, bytes, 0.5, 13)?;
        self.mid_log = Some(path.clone());
        Ok(path)
    }

    /// The large log with one expired entry (and a current one) appended:
    /// its expired lines are no longer a head, so only a rewrite prunes it.
    pub fn late_expired_log(&mut self) -> Result<PathBuf> {
        let large = self.large_log()?;
        let path = self.dir.join("shared").join("large-late-expired.log");
        if !path.exists() {
            std::fs::copy(&large, &path).with_context(|| format!("copying {}", large.display()))?;
            // Around the cutoff of the data ([`data::NOW`] − 6 h).
            let late = "[2026-11-28T05:00:00Z] a late expired entry\n[2026-11-28T11:59:00Z] and a current one\n";
            std::fs::OpenOptions::new()
                .append(true)
                .open(&path)
                .and_then(|mut file| std::io::Write::write_all(&mut file, late.as_bytes()))
                .with_context(|| format!("appending to {}", path.display()))?;
        }
        Ok(path)
    }

    /// A fresh, empty directory for one case.
    pub fn case_dir(&self, id: &str) -> Result<PathBuf> {
        let dir = self.dir.join(id);
        if dir.exists() {
            std::fs::remove_dir_all(&dir).with_context(|| format!("clearing {}", dir.display()))?;
        }
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        Ok(dir)
    }
}

/// One benchmark case.
pub trait Case {
    /// Stable identifier (JSON key, `--only`).
    fn id(&self) -> &'static str;
    /// What it measures, with its sizes.
    fn title(&self, sizes: &Sizes) -> String;
    /// Generates its data, runs, and returns its rows; observations go to `notes`.
    fn run(&self, ctx: &mut Ctx, notes: &mut Vec<String>) -> Result<Outcome>;
    /// Whether it runs `v0-prune` or `v0-prune-daemon` (which are then
    /// located, and built if needed, before the cases run).
    fn needs_binaries(&self) -> bool {
        false
    }
    /// Whether it has anything to measure at these sizes.
    fn runs_with(&self, _sizes: &Sizes) -> bool {
        true
    }
}

/// Every case, in the order of the table.
pub fn all() -> Vec<Box<dyn Case>> {
    vec![
        Box::new(large_log::Unheld(large_log::LogSize::Large)),
        Box::new(large_log::Unheld(large_log::LogSize::Mid)),
        Box::new(large_log::InPlace(large_log::LogSize::Large)),
        Box::new(large_log::InPlace(large_log::LogSize::Mid)),
        Box::new(large_log::Rewrite),
        Box::new(large_log::LaterRun),
        Box::new(many_logs::ManyLogs),
        Box::new(second_run::SecondRun),
        Box::new(queue::Queue),
        Box::new(cli::CliReturn),
        Box::new(cli::ShutdownReturn),
        Box::new(events::EventLatency),
        Box::new(events::WatcherLoad),
        Box::new(memory::Memory),
        Box::new(daemon_memory::DaemonMemory),
        Box::new(dashboard::Dashboard),
        Box::new(files_view::FilesViewCase),
        Box::new(all_projects::AllProjects),
    ]
}

/// Runs the selected cases (all when `only` is empty) and collects their results.
pub fn run_all(ctx: &mut Ctx, only: &[String]) -> Vec<CaseResult> {
    let mut results = Vec::new();
    for case in all() {
        if !only.is_empty() && !only.iter().any(|id| id == case.id()) {
            continue;
        }
        if !case.runs_with(&ctx.sizes) {
            continue;
        }
        let title = case.title(&ctx.sizes);
        eprintln!("case {}: {title}", case.id());
        let started = Instant::now();
        let mut notes = Vec::new();
        let outcome = case.run(ctx, &mut notes).unwrap_or_else(|err| {
            eprintln!("  failed: {err:#}");
            Outcome::Failed {
                error: format!("{err:#}"),
            }
        });
        // Case data can be gigabytes: do not let it pile up across cases.
        let _ = std::fs::remove_dir_all(ctx.dir.join(case.id()));
        results.push(CaseResult {
            id: case.id().to_string(),
            title,
            outcome,
            notes,
            seconds: started.elapsed().as_secs_f64(),
        });
    }
    results
}

/// Whether any selected case (all when `only` is empty) runs the binaries.
pub fn need_binaries(only: &[String]) -> bool {
    all()
        .iter()
        .filter(|case| only.is_empty() || only.iter().any(|id| id == case.id()))
        .any(|case| case.needs_binaries())
}

/// The ids of every case, for `--only` validation.
pub fn ids() -> Vec<&'static str> {
    all().iter().map(|case| case.id()).collect()
}
