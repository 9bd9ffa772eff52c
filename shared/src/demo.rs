//! Realistic v0 projects on disk, for tests, benchmarks and the demo.
//!
//! [`generate`] lays out what v0 leaves behind in a build directory: daemon
//! logs (with nohup's head line), operation logs with multi-line entries, a
//! log without timestamps, a jq-style merge queue with every status on both
//! sides of the cutoff, and an operation in every phase. Output is
//! deterministic for a given spec (including `now`).

use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use jiff::Timestamp;

use crate::paths::BuildDir;

/// What demo project to build.
#[derive(Debug, Clone)]
pub struct DemoSpec {
    /// The moment the data is generated around.
    pub now: Timestamp,
    /// The retention the data is aged against.
    pub retention: Duration,
    /// Number of log files.
    pub logs: usize,
    /// Timestamped lines per log.
    pub lines_per_log: usize,
    /// Share of timestamped lines older than `now - retention`.
    pub expired_fraction: f64,
    /// Merge-queue entries.
    pub queue_entries: usize,
    /// Operations per phase.
    pub operations_per_phase: usize,
    /// Seed of the deterministic generator.
    pub seed: u64,
}

impl Default for DemoSpec {
    fn default() -> Self {
        Self {
            now: Timestamp::now(),
            retention: Duration::from_secs(6 * 3600),
            logs: 8,
            lines_per_log: 400,
            expired_fraction: 0.5,
            queue_entries: 40,
            operations_per_phase: 1,
            seed: 7,
        }
    }
}

/// A generated project.
#[derive(Debug, Clone)]
pub struct DemoProject {
    /// The directory holding `.v0.rc`.
    pub root: PathBuf,
    /// Its build directory (`.v0/build`).
    pub build_dir: BuildDir,
}

/// Every phase v0 knows.
pub const PHASES: [&str; 11] = [
    "init",
    "planned",
    "queued",
    "executing",
    "completed",
    "pending_merge",
    "merged",
    "failed",
    "conflict",
    "interrupted",
    "cancelled",
];

/// Every merge-queue status the demo writes.
pub const STATUSES: [&str; 5] = ["pending", "processing", "completed", "failed", "conflict"];

/// A tiny deterministic generator (splitmix64): no dependency, stable output.
#[derive(Debug, Clone)]
pub struct SplitMix(u64);

impl SplitMix {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..bound` (bound > 0).
    pub fn below(&mut self, bound: u64) -> u64 {
        self.next_u64() % bound.max(1)
    }
}

/// `[YYYY-MM-DDTHH:MM:SSZ] message\n`, v0's log line.
pub fn log_line(ts: Timestamp, message: &str) -> String {
    format!("[{}] {message}\n", ts.strftime("%Y-%m-%dT%H:%M:%SZ"))
}

fn iso(ts: Timestamp) -> String {
    ts.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

const MESSAGES: [&str; 8] = [
    "mergeq: processing entry",
    "worker: running tests",
    "nudge: agent idle, sending reminder",
    "monitor: session alive",
    "mergeq: merged branch into main",
    "worker: command finished with status 0",
    "prune: Sleeping for 3600s until next prune cycle",
    "hook: post-commit ran",
];

/// Writes a chronological log of `lines` timestamped lines: the first
/// `expired_fraction` of them older than `now - retention` (for a 6 h
/// retention), the rest newer; about one entry in ten has continuation lines.
pub fn write_log(
    path: &Path,
    now: Timestamp,
    lines: usize,
    expired_fraction: f64,
    seed: u64,
) -> io::Result<()> {
    write_log_with(
        path,
        now,
        Duration::from_secs(6 * 3600),
        lines,
        expired_fraction,
        seed,
        None,
    )
}

fn write_log_with(
    path: &Path,
    now: Timestamp,
    retention: Duration,
    lines: usize,
    expired_fraction: f64,
    seed: u64,
    head: Option<&str>,
) -> io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut out = BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
    if let Some(head) = head {
        out.write_all(head.as_bytes())?;
    }
    let mut rng = SplitMix::new(seed);
    let expired = ((lines as f64) * expired_fraction.clamp(0.0, 1.0)).round() as usize;
    let retention = retention.as_secs() as i64;
    // Expired lines spread over the retention before the cutoff; fresh ones
    // over the retention after it (but never in the future).
    let span = retention.max(2);
    for i in 0..lines {
        let age = if i < expired {
            let step = span * (expired - i) as i64 / expired.max(1) as i64;
            retention + 1 + step
        } else {
            let fresh = lines - expired;
            (span - 1) * (lines - i) as i64 / fresh.max(1) as i64 / 2
        };
        let ts = now
            .checked_sub(jiff::SignedDuration::from_secs(age))
            .unwrap_or(now);
        let message = MESSAGES[rng.below(MESSAGES.len() as u64) as usize];
        out.write_all(log_line(ts, &format!("{message} #{i}")).as_bytes())?;
        if rng.below(10) == 0 {
            for depth in 0..1 + rng.below(3) {
                writeln!(out, "    at frame {depth} of entry {i}")?;
            }
        }
    }
    out.flush()
}

/// Builds a demo project in `dir` (created if needed).
pub fn generate(dir: &Path, spec: &DemoSpec) -> io::Result<DemoProject> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(
        dir.join(".v0.rc"),
        "# v0 project configuration (generated demo)\nPROJECT=\"demo\"\nISSUE_PREFIX=\"demo\"\n",
    )?;
    let build = BuildDir::new(dir.join(".v0").join("build"));
    let mut rng = SplitMix::new(spec.seed);
    for i in 0..spec.logs {
        let (path, head) = match i % 4 {
            0 => (
                build.logs_dir().join(format!("daemon-{i}.log")),
                Some("nohup: ignoring input\n"),
            ),
            1 => (
                build
                    .mergeq_dir()
                    .join("logs")
                    .join(format!("merge-{i}.log")),
                None,
            ),
            2 => (
                build
                    .operations_dir()
                    .join(format!("op-{i}"))
                    .join("logs")
                    .join("worker.log"),
                None,
            ),
            _ => (build.logs_dir().join(format!("events-{i}.log")), None),
        };
        let seed = rng.next_u64();
        write_log_with(
            &path,
            spec.now,
            spec.retention,
            spec.lines_per_log,
            spec.expired_fraction,
            seed,
            head,
        )?;
    }
    std::fs::create_dir_all(build.logs_dir())?;
    std::fs::write(
        build.logs_dir().join("plain.log"),
        "no timestamps here\njust output\n",
    )?;
    write_queue(&build, spec, &mut rng)?;
    write_operations(&build, spec)?;
    Ok(DemoProject {
        root: dir.to_path_buf(),
        build_dir: build,
    })
}

fn write_queue(build: &BuildDir, spec: &DemoSpec, rng: &mut SplitMix) -> io::Result<()> {
    std::fs::create_dir_all(build.mergeq_dir())?;
    let retention = spec.retention.as_secs() as i64;
    let mut entries = Vec::new();
    for i in 0..spec.queue_entries {
        let status = STATUSES[i % STATUSES.len()];
        // Alternate old and recent entries so every status exists on both sides of the cutoff.
        let old = (i / STATUSES.len()) % 2 == 0;
        let age = if old {
            retention + 60 + rng.below(3600) as i64
        } else {
            rng.below(retention.max(2) as u64 / 2) as i64
        };
        let ts = spec
            .now
            .checked_sub(jiff::SignedDuration::from_secs(age))
            .unwrap_or(spec.now);
        let mut entry = serde_json::Map::new();
        entry.insert("id".into(), format!("mq-{i:04}").into());
        entry.insert("operation".into(), format!("op-{i}").into());
        entry.insert("branch".into(), format!("feature/demo-{i}").into());
        entry.insert("status".into(), status.into());
        entry.insert("enqueued_at".into(), iso(ts).into());
        if i % 3 != 0 {
            entry.insert("updated_at".into(), iso(ts).into());
        }
        if i % 4 == 0 {
            entry.insert("priority".into(), (i % 5).into());
            entry.insert(
                "x_custom".into(),
                serde_json::json!({"note": "unknown fields are kept", "n": 1.50}),
            );
        }
        entries.push(serde_json::Value::Object(entry));
    }
    let queue = serde_json::json!({ "version": 1, "entries": entries });
    let mut text = serde_json::to_string_pretty(&queue).map_err(io::Error::other)?;
    text.push('\n');
    std::fs::write(build.queue_file(), text)
}

fn write_operations(build: &BuildDir, spec: &DemoSpec) -> io::Result<()> {
    let host = crate::platform::hostname();
    for phase in PHASES {
        for n in 0..spec.operations_per_phase {
            let name = format!("{}-{n}", phase.replace('_', "-"));
            let dir = build.operations_dir().join(&name);
            std::fs::create_dir_all(&dir)?;
            let merged = matches!(phase, "merged")
                || (matches!(phase, "completed" | "pending_merge") && n % 2 == 0);
            let state = serde_json::json!({
                "name": name,
                "phase": phase,
                "merge_status": if merged { "merged" } else { "pending" },
                "tmux_session": format!("v0-demo-{name}"),
                "machine": host,
                "created_at": iso(spec.now),
            });
            let text = serde_json::to_string_pretty(&state).map_err(io::Error::other)?;
            std::fs::write(dir.join("state.json"), text)?;
        }
    }
    Ok(())
}

/// Appends `count` fresh lines to the demo's daemon logs, so a long-running
/// demo keeps producing data that will age past the retention.
pub fn append_fresh_lines(build: &BuildDir, now: Timestamp, count: usize) -> io::Result<u64> {
    let mut written = 0u64;
    let logs = build.logs_dir();
    let mut targets: Vec<PathBuf> = std::fs::read_dir(&logs)?
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("events-"))
        })
        .collect();
    targets.sort();
    if targets.is_empty() {
        targets.push(logs.join("events-live.log"));
    }
    for i in 0..count {
        let path = &targets[i % targets.len()];
        let line = log_line(now, &format!("{} (live)", MESSAGES[i % MESSAGES.len()]));
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        file.write_all(line.as_bytes())?;
        written += line.len() as u64;
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prune::Cutoff;
    use crate::prune::logs::filter::{LineKind, classify};

    fn spec() -> DemoSpec {
        DemoSpec {
            now: "2026-11-28T12:00:00Z".parse().expect("time"),
            ..DemoSpec::default()
        }
    }

    #[test]
    fn the_tree_has_what_v0_leaves_behind() {
        let dir = tempfile::tempdir().expect("tempdir");
        let project = generate(dir.path(), &spec()).expect("generate");
        assert!(project.root.join(".v0.rc").is_file());
        let build = project.build_dir;
        assert!(build.queue_file().is_file());
        for phase in PHASES {
            assert!(
                build
                    .operations_dir()
                    .join(format!("{}-0", phase.replace('_', "-")))
                    .join("state.json")
                    .is_file()
            );
        }
        let daemon_log =
            std::fs::read_to_string(build.logs_dir().join("daemon-0.log")).expect("read");
        assert!(daemon_log.starts_with("nohup: ignoring input\n"));
        assert!(
            daemon_log.lines().any(|l| l.starts_with("    at frame")),
            "continuation lines exist"
        );
        let queue: serde_json::Value =
            serde_json::from_slice(&std::fs::read(build.queue_file()).expect("read"))
                .expect("json");
        let entries = queue["entries"].as_array().expect("entries");
        assert_eq!(entries.len(), 40);
        for status in STATUSES {
            assert!(entries.iter().any(|e| e["status"] == status), "{status}");
        }
    }

    #[test]
    fn about_the_requested_share_of_lines_is_expired() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("x.log");
        let now: Timestamp = "2026-11-28T12:00:00Z".parse().expect("time");
        write_log(&path, now, 1000, 0.3, 1).expect("write");
        let cutoff = Cutoff::before(now, Duration::from_secs(6 * 3600));
        let text = std::fs::read_to_string(&path).expect("read");
        let (mut expired, mut current) = (0, 0);
        for line in text.lines() {
            match classify(line.as_bytes(), &cutoff) {
                LineKind::Expired(_) => expired += 1,
                LineKind::Current(_) => current += 1,
                LineKind::Continuation => {}
            }
        }
        assert_eq!(expired + current, 1000);
        assert_eq!(expired, 300);
    }

    #[test]
    fn the_same_seed_gives_the_same_bytes() {
        let (a, b) = (
            tempfile::tempdir().expect("tempdir"),
            tempfile::tempdir().expect("tempdir"),
        );
        generate(a.path(), &spec()).expect("generate");
        generate(b.path(), &spec()).expect("generate");
        for rel in [
            "logs/daemon-0.log",
            "mergeq/queue.json",
            "mergeq/logs/merge-1.log",
        ] {
            let read = |d: &Path| std::fs::read(d.join(".v0/build").join(rel)).expect("read");
            assert_eq!(read(a.path()), read(b.path()), "{rel}");
        }
    }
}
