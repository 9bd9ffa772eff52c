//! Generated logs: v0's line format, its writers' habits (nohup's head line,
//! multi-line entries), and ages on both sides of the cutoff.

use std::io::{self, Write};
use std::path::Path;
use std::time::Duration;

use jiff::Timestamp;

use super::{SplitMix, ago, log_line};
/// Which of v0's writers a log imitates: it decides the head line, the
/// messages and how often an entry runs over several lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogKind {
    /// A daemon under `nohup cmd >> file.log`: starts with nohup's head line.
    Daemon,
    /// A worker's output (`cmd > worker.log`): stack traces, compiler output.
    Worker,
    /// A merge's log: git output, some lines of it starting with `[`.
    Merge,
    /// Short appends (`echo "[ts] event" >> events.log`): one line per entry.
    Events,
}

impl LogKind {
    fn head(self) -> Option<&'static str> {
        (self == Self::Daemon).then_some("nohup: ignoring input\n")
    }

    pub(super) fn messages(self) -> &'static [&'static str] {
        match self {
            Self::Daemon => &[
                "checking for work",
                "processing entry",
                "fetched origin",
                "agent idle, sending reminder",
                "session alive",
                "worker exited with status 0",
            ],
            Self::Worker => &[
                "worker: running tests",
                "worker: command finished with status 0",
                "worker: command failed with status 101",
                "worker: agent requested review",
                "hook: post-commit ran",
            ],
            Self::Merge => &[
                "merge: fetching origin",
                "merge: merging into main",
                "merge: resolving conflicts",
                "merge: pushing main",
            ],
            Self::Events => &[
                "event: phase planned -> queued",
                "event: phase queued -> executing",
                "event: phase executing -> completed",
                "event: enqueued for merge",
            ],
        }
    }

    /// Lines that continue an entry: none of them starts with a valid timestamp.
    fn continuations(self) -> &'static [&'static str] {
        match self {
            Self::Daemon => &[
                "From github.com:demo/demo",
                "   1a2b3c4..5d6e7f8  main       -> origin/main",
            ],
            Self::Worker => &[
                "thread 'main' panicked at src/lib.rs:42:5:",
                "    at demo::parse (src/parse.rs:17)",
                "error[E0308]: mismatched types",
                "  --> src/main.rs:3:9",
                "[INFO] Compiling demo v0.1.0",
                "",
            ],
            Self::Merge => &[
                "Auto-merging src/lib.rs",
                "CONFLICT (content): Merge conflict in src/main.rs",
                "[main 5d6e7f8] Merge branch 'feature/demo'",
                " 3 files changed, 42 insertions(+), 7 deletions(-)",
            ],
            Self::Events => &[],
        }
    }

    /// One entry in `1 / n` has continuation lines.
    fn multi_line_one_in(self) -> u64 {
        match self {
            Self::Daemon => 20,
            Self::Worker => 6,
            Self::Merge => 3,
            Self::Events => 0,
        }
    }
}

/// One log to write: its writer, size and ages.
#[derive(Debug, Clone)]
pub struct LogSpec {
    /// The moment the lines are aged against.
    pub now: Timestamp,
    /// Lines older than `now - retention` are expired.
    pub retention: Duration,
    /// Timestamped lines (entries).
    pub lines: usize,
    /// Share of entries that are expired; they come first.
    pub expired_fraction: f64,
    /// Seed of the generator.
    pub seed: u64,
    /// The writer it imitates.
    pub kind: LogKind,
}

/// What a generated log holds, as the contract's log rule sees it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LogStats {
    /// Timestamped lines.
    pub entries: u64,
    /// Timestamped lines older than the cutoff.
    pub expired_entries: u64,
    /// Lines a prune removes (expired entries and their continuations).
    pub lines_removed: u64,
    /// The file's size.
    pub bytes: u64,
    /// Bytes a prune removes.
    pub bytes_removed: u64,
}

/// Writes a chronological worker log of `lines` timestamped lines for a 6 h
/// retention: the first `expired_fraction` of them older than `now - 6h`, the
/// rest newer; some entries have continuation lines. For benchmarks.
pub fn write_log(
    path: &Path,
    now: Timestamp,
    lines: usize,
    expired_fraction: f64,
    seed: u64,
) -> io::Result<()> {
    let spec = LogSpec {
        now,
        retention: Duration::from_secs(6 * 3600),
        lines,
        expired_fraction,
        seed,
        kind: LogKind::Worker,
    };
    write_log_spec(path, &spec).map(|_| ())
}

/// Writes one log as `spec` says (creating its directory) and counts what a
/// prune at `now - retention` removes from it.
pub fn write_log_spec(path: &Path, spec: &LogSpec) -> io::Result<LogStats> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut out = io::BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
    let mut stats = LogStats::default();
    let mut emit = |text: &str, removed: bool, stats: &mut LogStats| -> io::Result<()> {
        out.write_all(text.as_bytes())?;
        stats.bytes += text.len() as u64;
        if removed {
            stats.lines_removed += 1;
            stats.bytes_removed += text.len() as u64;
        }
        Ok(())
    };
    if let Some(head) = spec.kind.head() {
        emit(head, false, &mut stats)?;
    }
    let mut rng = SplitMix::new(spec.seed);
    let lines = spec.lines;
    let expired = ((lines as f64) * spec.expired_fraction.clamp(0.0, 1.0)).round() as usize;
    let retention = i64::try_from(spec.retention.as_secs()).unwrap_or(i64::MAX / 4);
    // Expired entries spread over one retention before the cutoff (at least a
    // second before it), fresh ones over the younger half of the retention.
    let span = retention.max(2);
    let (messages, continuations) = (spec.kind.messages(), spec.kind.continuations());
    for i in 0..lines {
        let is_expired = i < expired;
        let age = if is_expired {
            retention + 1 + span * (expired - i) as i64 / expired.max(1) as i64
        } else {
            (span - 1) * (lines - i) as i64 / (lines - expired).max(1) as i64 / 2
        };
        let message = format!("{} #{i}", rng.pick(messages));
        emit(
            &log_line(ago(spec.now, age), &message),
            is_expired,
            &mut stats,
        )?;
        stats.entries += 1;
        stats.expired_entries += u64::from(is_expired);
        let one_in = spec.kind.multi_line_one_in();
        if one_in > 0 && !continuations.is_empty() && rng.below(one_in) == 0 {
            // A run of consecutive lines, as a trace or a command's output reads.
            let first = rng.below(continuations.len() as u64) as usize;
            for k in 0..1 + rng.below(continuations.len() as u64) as usize {
                let line = continuations[(first + k) % continuations.len()];
                emit(&format!("{line}\n"), is_expired, &mut stats)?;
            }
        }
    }
    out.flush()?;
    Ok(stats)
}
