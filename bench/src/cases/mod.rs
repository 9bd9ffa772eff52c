//! The table of cases: one entry per row group of the target table.
//!
//! A case is anything implementing [`Case`]. The daemon and dashboard cases
//! are [`Pending`] entries for now; measuring one means writing a `Case` for
//! it and replacing its `Pending` line in [`all`].

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
use crate::report::{CaseResult, Outcome};

/// Sizes of the generated inputs; the mode (`--quick`, default, `--full`) picks them.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Sizes {
    /// The one large log of cases 1, 2, 4 and 6.
    pub large_log_bytes: u64,
    /// How many small logs case 3 prunes.
    pub small_logs: usize,
    /// Timestamped lines in each small log.
    pub small_log_lines: usize,
    /// Entries in case 5's queue.json.
    pub queue_entries: usize,
    /// Length of the single line of case 6.
    pub long_line_bytes: u64,
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
        })
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
}

/// A case that cannot be measured yet, shown as such in the table.
pub struct Pending {
    id: &'static str,
    title: &'static str,
    target: &'static str,
    needs: &'static str,
}

impl Case for Pending {
    fn id(&self) -> &'static str {
        self.id
    }

    fn title(&self, _: &Sizes) -> String {
        self.title.to_string()
    }

    fn run(&self, _: &mut Ctx, _: &mut Vec<String>) -> Result<Outcome> {
        Ok(Outcome::NotMeasured {
            target: self.target.to_string(),
            needs: self.needs.to_string(),
        })
    }
}

/// Every case, in the order of the table.
pub fn all() -> Vec<Box<dyn Case>> {
    vec![
        Box::new(large_log::Rewrite),
        Box::new(large_log::InPlace),
        Box::new(many_logs::ManyLogs),
        Box::new(second_run::SecondRun),
        Box::new(queue::Queue),
        Box::new(Pending {
            id: "cli-return",
            title: "`v0-prune` return time, daemon running",
            target: "≤ 10 ms",
            needs: "needs the daemon",
        }),
        Box::new(Pending {
            id: "shutdown-return",
            title: "`v0-prune shutdown` return time, daemon idle",
            target: "≤ 50 ms",
            needs: "needs the daemon",
        }),
        Box::new(Pending {
            id: "event-latency",
            title: "event latency daemon → client, 50 subscribers",
            target: "≤ 1 ms median",
            needs: "needs the daemon",
        }),
        Box::new(memory::Memory),
        Box::new(Pending {
            id: "daemon-memory",
            title: "daemon RSS idle / peak while pruning the large log",
            target: "≤ 15 MB idle, ≤ 40 MB peak",
            needs: "needs the daemon",
        }),
        Box::new(Pending {
            id: "dashboard",
            title: "dashboard frame at 200×60; idle CPU",
            target: "≤ 2 ms per frame; < 1% CPU",
            needs: "needs the dashboard",
        }),
    ]
}

/// Runs the selected cases (all when `only` is empty) and collects their results.
pub fn run_all(ctx: &mut Ctx, only: &[String]) -> Vec<CaseResult> {
    let mut results = Vec::new();
    for case in all() {
        if !only.is_empty() && !only.iter().any(|id| id == case.id()) {
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

/// The ids of every case, for `--only` validation.
pub fn ids() -> Vec<&'static str> {
    all().iter().map(|case| case.id()).collect()
}
