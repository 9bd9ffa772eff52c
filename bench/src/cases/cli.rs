//! How long the commands v0 runs take to return, with the real binaries on
//! a generated project and a real daemon:
//!
//! - `cli-return`: plain `v0-prune` with the daemon running and idle (the
//!   hand-off: it asks the daemon for a run and returns);
//! - `shutdown-return`: `v0-prune shutdown` with the daemon idle (drain,
//!   exit, then one more prune in the command's own process).
//!
//! The baselines are process spawns (`true`, `v0-prune --version`) and, for
//! shutdown, the same command with no daemon to stop, so the ratios show our
//! own cost beyond starting a process.

use std::cell::{Cell, RefCell};
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use anyhow::{Result, ensure};

use super::{Case, Ctx, Sizes, not_measured};
use crate::measure::{Contender, race};
use crate::procs::{self, Daemon, Project};
use crate::report::{Measured, Outcome, Row, Target, Unit};

/// `v0-prune` return time with the daemon running.
pub struct CliReturn;

/// `v0-prune shutdown` return time with the daemon idle.
pub struct ShutdownReturn;

/// What plain `v0-prune` prints when the daemon took the work.
const HANDED_OFF: &str = "Pruning logs in background...";

/// What `v0-prune shutdown` prints once the daemon is gone.
const STOPPED: &str = "Background pruning stopped";

/// What it prints when there was no daemon to stop.
const NONE_RUNNING: &str = "No prune daemon running";

/// `true`, the cheapest process there is: the floor of any command's time.
fn true_command() -> Command {
    let path = PathBuf::from("/bin/true");
    Command::new(if path.is_file() { path } else { "true".into() })
}

impl Case for CliReturn {
    fn id(&self) -> &'static str {
        "cli-return"
    }

    fn title(&self, _: &Sizes) -> String {
        "`v0-prune` return time, daemon running".into()
    }

    fn needs_binaries(&self) -> bool {
        true
    }

    fn run(&self, ctx: &mut Ctx, notes: &mut Vec<String>) -> Result<Outcome> {
        let binaries = match ctx.binaries(notes) {
            Ok(binaries) => binaries,
            Err(needs) => return Ok(not_measured("≤ 10 ms", needs)),
        };
        let dir = ctx.case_dir(self.id())?;
        let project = Project::demo(&dir.join("project"), 61)?;
        let rt = procs::runtime()?;
        let daemon = Daemon::start(&binaries, &project, &rt)?;
        let startup = daemon.wait_idle_after_startup(&rt)?;
        // The run the last hand-off asked for; every set-up waits it out, so
        // no timed command shares the CPUs with a prune.
        let first_run = startup_run(&startup);
        let awaited = Cell::new(first_run);
        let before = Cell::new(0u64);
        let wait_idle = || -> Result<()> {
            let snapshot = daemon.wait_idle_after_run(&rt, awaited.get())?;
            before.set(snapshot.last_run.map_or(0, |run| run.run_id));
            Ok(())
        };
        let mut contenders = vec![
            Contender::new("v0-prune (hand-off)", wait_idle, || {
                let output = procs::output_of(&mut procs::cli(&binaries, &project, &[])?)?;
                let stdout = String::from_utf8_lossy(&output.stdout);
                ensure!(
                    stdout.contains(HANDED_OFF),
                    "v0-prune did not hand off to the daemon: {stdout}{}",
                    String::from_utf8_lossy(&output.stderr)
                );
                awaited.set(before.get() + 1);
                Ok(())
            }),
            Contender::new("v0-prune --version", wait_idle, || {
                procs::output_of(&mut procs::cli(&binaries, &project, &["--version"])?)?;
                Ok(())
            }),
            Contender::new("true", wait_idle, || {
                procs::output_of(&mut true_command())?;
                Ok(())
            }),
        ];
        let samples = race(ctx.rounds, &mut contenders)?;
        drop(contenders);
        daemon.wait_idle_after_run(&rt, awaited.get())?;
        daemon.stop()?;
        notes.push(format!(
            "plain `v0-prune` in the project root of a generated project (8 logs, a queue of 40, an operation per phase), the daemon idle: discovery, removing finished operations (none left after the warm-up), connect + hello + RunNow round trip, two lines printed; {} runs handed off, each waited out (untimed) before the next round",
            awaited.get().saturating_sub(first_run)
        ));
        let mut samples = samples.into_iter();
        let mut next =
            |name: &str| Measured::new(name, Unit::Ms, samples.next().unwrap_or_default());
        let ours = next("v0-prune (hand-off)");
        let version = next("v0-prune --version");
        let spawn = next("true");
        Ok(Outcome::Measured {
            rows: vec![
                Row::compare(ours.clone(), spawn, Target::AtMost(10.0))
                    .with_note("the ratio is our cost over spawning any process"),
                Row::compare(ours, version, Target::Info).with_note(
                    "the same binary printing its version: start-up and argument parsing",
                ),
            ],
        })
    }
}

fn startup_run(snapshot: &v0_prune_shared::protocol::Snapshot) -> u64 {
    snapshot.last_run.as_ref().map_or(0, |run| run.run_id)
}

impl Case for ShutdownReturn {
    fn id(&self) -> &'static str {
        "shutdown-return"
    }

    fn title(&self, _: &Sizes) -> String {
        "`v0-prune shutdown` return time, daemon idle".into()
    }

    fn needs_binaries(&self) -> bool {
        true
    }

    fn run(&self, ctx: &mut Ctx, notes: &mut Vec<String>) -> Result<Outcome> {
        let binaries = match ctx.binaries(notes) {
            Ok(binaries) => binaries,
            Err(needs) => return Ok(not_measured("≤ 50 ms", needs)),
        };
        let dir = ctx.case_dir(self.id())?;
        let project = Project::demo(&dir.join("project"), 62)?;
        let rt = procs::runtime()?;
        // The daemon the last timed shutdown stopped, to reap (untimed).
        let stopped: RefCell<Option<Daemon>> = RefCell::new(None);
        let reap = || -> Result<()> {
            if let Some(mut daemon) = stopped.borrow_mut().take() {
                let status = daemon.reap(Duration::from_secs(10))?;
                ensure!(status.success(), "the drained daemon exited with {status}");
            }
            Ok(())
        };
        let started = Cell::new(0usize);
        let start_daemon = || -> Result<()> {
            reap()?;
            let daemon = Daemon::start(&binaries, &project, &rt)?;
            daemon.wait_idle_after_startup(&rt)?;
            *stopped.borrow_mut() = Some(daemon);
            started.set(started.get() + 1);
            Ok(())
        };
        let shutdown = |expect: &str| -> Result<()> {
            let output = procs::output_of(&mut procs::cli(&binaries, &project, &["shutdown"])?)?;
            let stdout = String::from_utf8_lossy(&output.stdout);
            ensure!(
                stdout.contains(expect),
                "v0-prune shutdown did not say {expect:?}: {stdout}"
            );
            Ok(())
        };
        let mut contenders = vec![
            Contender::new("v0-prune shutdown", start_daemon, || shutdown(STOPPED)),
            Contender::new("v0-prune shutdown, no daemon", reap, || {
                shutdown(NONE_RUNNING)
            }),
            Contender::new("true", reap, || {
                procs::output_of(&mut true_command())?;
                Ok(())
            }),
        ];
        let samples = race(ctx.rounds, &mut contenders)?;
        drop(contenders);
        reap()?;
        notes.push(format!(
            "each timed shutdown stops a fresh daemon ({} started) that has finished its start-up run and is idle; `v0-prune shutdown` connects and says hello, subscribes (to show progress), asks for a drain on a second connection, waits until the daemon process has exited (it publishes Exiting, flushes its subscribers, removes its pid file and socket), then prunes the logs and merge queue once more in its own process under the run lock (nothing left to prune here: the walk, the log index and the queue read)",
            started.get()
        ));
        let mut samples = samples.into_iter();
        let mut next =
            |name: &str| Measured::new(name, Unit::Ms, samples.next().unwrap_or_default());
        let ours = next("v0-prune shutdown, daemon idle");
        let alone = next("v0-prune shutdown, no daemon");
        let spawn = next("true");
        Ok(Outcome::Measured {
            rows: vec![
                Row::compare(ours.clone(), spawn, Target::AtMost(50.0))
                    .with_note("the ratio is our cost over spawning any process"),
                Row::compare(ours, alone, Target::Info).with_note(
                    "no daemon to stop: discovery and the final prune alone; the difference is the drain and the daemon's exit",
                ),
            ],
        })
    }
}
