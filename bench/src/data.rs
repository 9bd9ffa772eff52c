//! The benchmark's inputs, made by the project's own generator (`shared::demo`).
//!
//! Data is generated around a fixed instant so every run prunes the same
//! bytes, which keeps runs comparable; the cutoff is that instant minus the
//! generator's 6 h retention.

use std::fs::OpenOptions;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use jiff::Timestamp;
use v0_prune_shared::demo;
use v0_prune_shared::paths::BuildDir;
use v0_prune_shared::prune::Cutoff;
use v0_prune_shared::prune::logs;

/// The instant the data is generated around.
pub const NOW: &str = "2026-11-28T12:00:00Z";

/// The retention `demo::write_log` ages its lines against.
pub const RETENTION: Duration = Duration::from_secs(6 * 3600);

/// Lines in the sample used to learn the generator's bytes per line.
const SAMPLE_LINES: usize = 20_000;

/// The fixed "now" of the generated data.
pub fn now() -> Result<Timestamp> {
    NOW.parse().context("parsing the bench's fixed instant")
}

/// The cutoff that splits the generated data at its expired fraction.
pub fn cutoff() -> Result<Cutoff> {
    Ok(Cutoff::before(now()?, RETENTION))
}

/// Writes a chronological log of about `bytes` bytes with `demo::write_log`,
/// `expired_fraction` of its entries expired; returns its real size.
///
/// The generator takes a line count, so a sample tells the bytes per line;
/// the line numbers in the text grow longer with the count, which is
/// corrected for so the size lands within a few percent.
pub fn log_of_size(
    path: &Path,
    scratch: &Path,
    bytes: u64,
    expired_fraction: f64,
    seed: u64,
) -> Result<u64> {
    let now = now()?;
    let sample = scratch.join("sample.log");
    demo::write_log(&sample, now, SAMPLE_LINES, expired_fraction, seed)
        .with_context(|| format!("writing {}", sample.display()))?;
    let per_line = size_of(&sample)? as f64 / SAMPLE_LINES as f64;
    std::fs::remove_file(&sample).with_context(|| format!("removing {}", sample.display()))?;
    let first_guess = (bytes as f64 / per_line) as usize;
    // Each entry and its ~0.2 continuation lines carry the entry number.
    let extra_digits = mean_digits(first_guess) - mean_digits(SAMPLE_LINES);
    let lines = (bytes as f64 / (per_line + 1.2 * extra_digits)).max(1.0) as usize;
    demo::write_log(path, now, lines, expired_fraction, seed)
        .with_context(|| format!("writing {}", path.display()))?;
    size_of(path)
}

/// The retention that puts a daemon's cutoff (real now − retention) at the
/// data's cutoff ([`NOW`] − [`RETENTION`]), in whole seconds: daemons prune
/// against the clock, the data is aged around a fixed instant.
pub fn daemon_retention() -> Result<u64> {
    let since = Timestamp::now().as_second() - now()?.as_second();
    let since = u64::try_from(since).ok().with_context(|| {
        format!(
            "the clock ({}) is before the data's instant {NOW}",
            Timestamp::now()
        )
    })?;
    Ok(since + RETENTION.as_secs())
}

/// Writes a log of 1000 lines (half expired) followed by one current entry
/// of `len` bytes: memory must not follow line length.
pub fn long_line_log(path: &Path, len: u64) -> Result<()> {
    demo::write_log(path, now()?, 1000, 0.5, 9)
        .with_context(|| format!("writing {}", path.display()))?;
    append_long_line(path, len)
}

/// Mean number of decimal digits of 0..n.
fn mean_digits(n: usize) -> f64 {
    let (mut total, mut start, mut digits) = (0u128, 0usize, 1u32);
    while start < n {
        let end = 10usize.saturating_pow(digits).min(n);
        total += (end - start) as u128 * u128::from(digits);
        start = end;
        digits += 1;
    }
    total as f64 / n.max(1) as f64
}

/// Appends one current entry whose line is `len` bytes long (message of `x`s).
pub fn append_long_line(path: &Path, len: u64) -> Result<()> {
    let line = demo::log_line(now()?, "");
    let stamp = line.trim_end_matches('\n');
    let file = OpenOptions::new()
        .append(true)
        .open(path)
        .with_context(|| format!("opening {}", path.display()))?;
    let mut out = BufWriter::with_capacity(1 << 20, file);
    out.write_all(stamp.as_bytes())?;
    let chunk = vec![b'x'; 1 << 20];
    let mut left = len.saturating_sub(stamp.len() as u64 + 1);
    while left > 0 {
        let n = left.min(chunk.len() as u64) as usize;
        out.write_all(&chunk[..n])?;
        left -= n as u64;
    }
    out.write_all(b"\n")?;
    out.flush()
        .with_context(|| format!("writing {}", path.display()))
}

/// Appends `count` current entries (what a live daemon adds between runs).
pub fn append_current_lines(path: &Path, count: usize) -> Result<()> {
    let now = now()?;
    let mut file = OpenOptions::new()
        .append(true)
        .open(path)
        .with_context(|| format!("opening {}", path.display()))?;
    let mut text = String::new();
    for i in 0..count {
        text.push_str(&demo::log_line(now, &format!("bench: appended line {i}")));
    }
    file.write_all(text.as_bytes())
        .with_context(|| format!("appending to {}", path.display()))
}

/// A file's size.
pub fn size_of(path: &Path) -> Result<u64> {
    Ok(std::fs::metadata(path)
        .with_context(|| format!("reading the size of {}", path.display()))?
        .len())
}

/// A spec for `demo::generate` with nothing in it; cases fill in what they need.
pub fn empty_spec(seed: u64) -> Result<demo::DemoSpec> {
    Ok(demo::DemoSpec {
        now: now()?,
        retention: RETENTION,
        logs: 0,
        lines_per_log: 0,
        expired_fraction: 0.0,
        queue_entries: 0,
        operations_per_phase: 0,
        seed,
    })
}

/// Bytes as decimal megabytes, for sizes the issue states that way ("a 100 MB line").
pub fn megabytes(bytes: u64) -> String {
    format!("{:.0} MB", bytes as f64 / 1e6)
}

/// Bytes as MiB/GiB for titles.
pub fn human_bytes(bytes: u64) -> String {
    const MIB: f64 = 1024.0 * 1024.0;
    let mib = bytes as f64 / MIB;
    if mib >= 1024.0 {
        format!("{:.2} GiB", mib / 1024.0)
    } else if mib >= 10.0 {
        format!("{mib:.0} MiB")
    } else {
        format!("{mib:.1} MiB")
    }
}

/// Many small logs in the demo layout, one in [`SMALL_PRUNABLE_EVERY`] with
/// expired entries, as the many-logs and files-view cases time them.
pub struct SmallLogs {
    /// The generated build directory.
    pub build: BuildDir,
    /// Every log, in walk order.
    pub paths: Vec<PathBuf>,
    /// (pristine copy, log) of each log with expired entries.
    pub prunable: Vec<(PathBuf, PathBuf)>,
}

/// One log in this many has expired entries.
pub const SMALL_PRUNABLE_EVERY: usize = 10;

impl SmallLogs {
    /// Generates `count` logs of `lines` lines under `dir`; `seed` varies
    /// the layout and the expired entries from one case to another.
    pub fn generate(dir: &Path, count: usize, lines: usize, seed: u64) -> Result<Self> {
        let spec = demo::DemoSpec {
            logs: count,
            lines_per_log: lines,
            ..empty_spec(seed)?
        };
        eprintln!("  generating {} logs...", spec.logs);
        let project = demo::generate(&dir.join("project"), &spec).context("generating logs")?;
        let build = project.build_dir;
        let walk = logs::walk(build.root()).context("listing the generated logs")?;
        let paths: Vec<PathBuf> = walk.logs.iter().map(|log| log.path.clone()).collect();
        let pristine_dir = dir.join("pristine");
        std::fs::create_dir_all(&pristine_dir)?;
        let mut prunable = Vec::new();
        for (i, path) in paths.iter().enumerate().step_by(SMALL_PRUNABLE_EVERY) {
            demo::write_log(
                path,
                spec.now,
                spec.lines_per_log,
                0.3,
                seed * 100 + i as u64,
            )
            .with_context(|| format!("writing {}", path.display()))?;
            let copy = pristine_dir.join(format!("{i}.log"));
            std::fs::copy(path, &copy)?;
            prunable.push((copy, path.clone()));
        }
        Ok(Self {
            build,
            paths,
            prunable,
        })
    }

    /// Puts the logs with expired entries back and forgets the log index,
    /// so the next timed round has the same work to do.
    pub fn restore(&self) -> Result<()> {
        crate::measure::remove_if_present(&self.build.log_index())?;
        for (pristine, path) in &self.prunable {
            crate::measure::fresh_copy(pristine, path)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_digits_counts_every_number_below_n() {
        assert_eq!(mean_digits(10), 1.0);
        assert_eq!(mean_digits(100), (10.0 + 90.0 * 2.0) / 100.0);
    }

    #[test]
    fn a_log_of_size_lands_near_the_requested_size() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("x.log");
        let size = log_of_size(&path, dir.path(), 4 << 20, 0.5, 3).expect("generate");
        let wanted = (4 << 20) as f64;
        assert!(
            (size as f64 - wanted).abs() / wanted < 0.05,
            "{size} is not within 5% of {wanted}"
        );
        assert!(!dir.path().join("sample.log").exists());
    }

    #[test]
    fn a_long_line_is_one_current_entry_of_the_given_length() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("x.log");
        std::fs::write(&path, "").expect("create");
        append_long_line(&path, 3 << 20).expect("append");
        let text = std::fs::read(&path).expect("read");
        assert_eq!(text.len(), 3 << 20);
        assert_eq!(text.iter().filter(|&&b| b == b'\n').count(), 1);
        assert!(text.starts_with(b"[2026-11-28T12:00:00Z] x"));
    }
}
