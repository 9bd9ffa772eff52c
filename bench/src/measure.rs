//! Timing: warm-up rounds, interleaved contenders, medians.
//!
//! On a shared machine absolute times drift with the neighbours' load, so the
//! contenders of a case take turns within each round (ours, then each
//! baseline) instead of running back to back: a slow minute hurts all of them
//! alike and the ratio survives. Before every timed run the setup prepares a
//! fresh input (untimed) and `sync()` writes back dirty pages, so no run pays
//! for the previous one's writeback. The page cache stays warm: inputs are
//! freshly written or already read.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use v0_prune_testkit::invoke::quiet_status;

/// How many rounds a case runs: `warmup` discarded, then `iterations` kept.
#[derive(Debug, Clone, Copy)]
pub struct Rounds {
    /// Rounds run first and thrown away (cold caches, lazy allocations).
    pub warmup: usize,
    /// Rounds whose times are kept.
    pub iterations: usize,
}

impl Rounds {
    /// Every round, each with whether it is kept.
    pub fn each(&self) -> impl Iterator<Item = bool> {
        (0..self.warmup + self.iterations).map(move |round| round >= self.warmup)
    }
}

/// One thing being timed in a case: our code or a baseline tool.
pub struct Contender<'a> {
    /// Its name in the table (`prune_all`, `cp`, `awk filter`, ...).
    pub name: String,
    /// Untimed: puts a fresh input in place.
    pub setup: Box<dyn FnMut() -> Result<()> + 'a>,
    /// Timed.
    pub run: Box<dyn FnMut() -> Result<()> + 'a>,
}

impl<'a> Contender<'a> {
    /// A contender from its name, setup and timed run.
    pub fn new(
        name: impl Into<String>,
        setup: impl FnMut() -> Result<()> + 'a,
        run: impl FnMut() -> Result<()> + 'a,
    ) -> Self {
        Self {
            name: name.into(),
            setup: Box::new(setup),
            run: Box::new(run),
        }
    }
}

/// Runs the contenders in turn for every round; returns each one's kept times
/// in milliseconds, in the contenders' order.
pub fn race(rounds: Rounds, contenders: &mut [Contender<'_>]) -> Result<Vec<Vec<f64>>> {
    let mut samples = vec![Vec::new(); contenders.len()];
    for keep in rounds.each() {
        for (contender, samples) in contenders.iter_mut().zip(&mut samples) {
            (contender.setup)().with_context(|| format!("preparing {}", contender.name))?;
            settle();
            let elapsed = time(|| (contender.run)())
                .with_context(|| format!("running {}", contender.name))?;
            if keep {
                samples.push(elapsed);
            }
        }
    }
    Ok(samples)
}

/// Milliseconds `work` took.
pub fn time(work: impl FnOnce() -> Result<()>) -> Result<f64> {
    let start = Instant::now();
    work()?;
    Ok(millis(start.elapsed()))
}

fn millis(elapsed: Duration) -> f64 {
    elapsed.as_secs_f64() * 1e3
}

/// Writes back dirty pages, so the next timed run does not pay for earlier writes.
pub fn settle() {
    rustix::fs::sync();
}

/// The median of `samples` (the mean of the middle two for an even count).
pub fn median(samples: &[f64]) -> Option<f64> {
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(sorted[n / 2]),
        _ => Some((sorted[n / 2 - 1] + sorted[n / 2]) / 2.0),
    }
}

/// Runs an external command to completion, its stdout to `stdout` (or
/// discarded), failing with its stderr if it fails.
pub fn run_tool(command: &mut Command, stdout: Option<&Path>) -> Result<()> {
    let out = match stdout {
        Some(path) => Stdio::from(
            std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?,
        ),
        None => Stdio::null(),
    };
    let output = command
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(Stdio::piped())
        .output()
        .with_context(|| format!("starting {command:?}"))?;
    if !output.status.success() {
        bail!(
            "{:?} failed ({}): {}",
            command.get_program(),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(())
}

/// Whether a tool can be started (`tool --version` or `-W version` runs).
pub fn tool_available(tool: &str) -> bool {
    quiet_status(Command::new(tool).arg("--version")).is_some()
}

/// Removes a file if it exists; a missing file is not an error.
pub fn remove_if_present(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(err) => Err(err).with_context(|| format!("removing {}", path.display())),
    }
}

/// Puts a fresh copy of `from` at `to` (a new inode, as a log rotated in would be).
pub fn fresh_copy(from: &Path, to: &Path) -> Result<()> {
    remove_if_present(to)?;
    std::fs::copy(from, to)
        .with_context(|| format!("copying {} to {}", from.display(), to.display()))?;
    // On disk before the timed part starts, as a log the daemon finds is: it
    // was written over hours, and the kernel wrote it back long ago. A dirty
    // copy would have the kernel flush it during our run (collapse-range
    // writes back the whole file first), timing the setup instead of us.
    std::fs::File::open(to)
        .and_then(|file| file.sync_all())
        .with_context(|| format!("syncing {}", to.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(median(&[]), None);
    }

    #[test]
    fn race_keeps_only_the_rounds_after_warmup_and_interleaves() {
        let order = std::cell::RefCell::new(Vec::new());
        let mut contenders = vec![
            Contender::new(
                "a",
                || Ok(()),
                || {
                    order.borrow_mut().push("a");
                    Ok(())
                },
            ),
            Contender::new(
                "b",
                || Ok(()),
                || {
                    order.borrow_mut().push("b");
                    Ok(())
                },
            ),
        ];
        let rounds = Rounds {
            warmup: 1,
            iterations: 2,
        };
        let samples = race(rounds, &mut contenders).expect("race");
        drop(contenders);
        assert_eq!(samples.iter().map(Vec::len).collect::<Vec<_>>(), [2, 2]);
        assert_eq!(order.into_inner(), ["a", "b", "a", "b", "a", "b"]);
    }

    #[test]
    fn a_failing_tool_reports_its_stderr() {
        let err = run_tool(
            Command::new("sh").args(["-c", "echo nope >&2; exit 3"]),
            None,
        )
        .expect_err("fails");
        assert!(format!("{err:#}").contains("nope"), "{err:#}");
    }
}
