//! Crash at any instant: a pruner killed with SIGKILL leaves every file either
//! as it was or as it should be after the prune, never torn; the next run
//! cleans up what the dead one left and prunes normally.
//!
//! The pruner is this test binary re-run for the killing test alone, in the
//! pruner's part (`v0_prune_testkit::child`; see [`pruner`]), running
//! `prune::run` over a generated build directory while the parent kills it
//! after a seeded random delay. The
//! expected state after a prune comes from a model written here from the
//! contract's rules, independent of the engine.
//!
//! `V0_PRUNE_CRASH_ITERATIONS` (default 30) and `V0_PRUNE_CRASH_SEED` make
//! longer or different campaigns.

mod support;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use jiff::Timestamp;
use support::one_at_a_time;
use v0_prune_shared::demo::{self, DemoSpec, SplitMix};
use v0_prune_shared::paths::BuildDir;
use v0_prune_shared::platform;
use v0_prune_shared::prune::{self, Cutoff, LogMethod, RunOptions, ignore_events};
use v0_prune_testkit::{child, files_under};

const NOW: &str = "2026-11-28T12:00:00Z";
const CUTOFF: &str = "2026-11-28T06:00:00Z";
const READY: &str = "V0-PRUNE-PRUNER-READY";
/// What the pruner prints after each complete run.
const PRUNED: &str = "V0-PRUNE-PRUNER-PRUNED";

fn cutoff() -> Cutoff {
    Cutoff::at(CUTOFF.parse::<Timestamp>().expect("time"))
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The killing test, whose pruner children are this binary re-run for it alone.
const KILLED: &str = "a_pruner_killed_at_any_instant_leaves_each_file_before_or_after_never_torn";
/// The part a re-run plays: the pruner that is killed.
const PRUNER: &str = "pruner";

/// The pruner child: prunes the build directory `V0_PRUNE_TEST_PRUNER`
/// names over and over until it is killed.
fn pruner() {
    let build = BuildDir::new(std::env::var("V0_PRUNE_TEST_PRUNER").expect("the build dir"));
    let options = RunOptions {
        cutoff: cutoff(),
        dry_run: false,
    };
    println!("{READY}");
    // Bounded, so an orphan (the parent died) does not run forever.
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        prune::run(&build, &options, &mut ignore_events).expect("run");
        // The parent may have stopped reading: a failed print is no reason to stop.
        let _ = writeln!(std::io::stdout(), "{PRUNED}");
    }
}

// ---------------------------------------------------------------- the model

/// The 20 timestamp bytes of `[YYYY-MM-DDTHH:MM:SSZ]` if the line starts with
/// a real instant (the contract: anything else is a continuation).
fn entry_stamp(line: &[u8]) -> Option<Timestamp> {
    if line.len() < 22 || line[0] != b'[' || line[21] != b']' {
        return None;
    }
    let text = std::str::from_utf8(&line[1..21]).ok()?;
    let b = text.as_bytes();
    let shape = b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && b[16] == b':'
        && b[19] == b'Z';
    let digits = [0..4, 5..7, 8..10, 11..13, 14..16, 17..19]
        .iter()
        .all(|r| b[r.clone()].iter().all(u8::is_ascii_digit));
    // jiff would read second 60 as a leap second; the contract calls it impossible.
    if !shape || !digits || &b[17..19] >= b"60".as_slice() {
        return None;
    }
    text.parse().ok()
}

/// The contract's log rule on whole bytes.
fn model_log(bytes: &[u8], cutoff: Timestamp) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut keep = true;
    for line in bytes.split_inclusive(|b| *b == b'\n') {
        if let Some(at) = entry_stamp(line) {
            keep = at >= cutoff;
        }
        if keep {
            out.extend_from_slice(line);
        }
    }
    out
}

/// Where the expired head of `bytes` ends (the first current entry, or the
/// end) and where its first entry starts, if its expired lines form a head
/// (no expired entry after the first current one); `None` otherwise.
fn expired_head(bytes: &[u8], cutoff: Timestamp) -> Option<(usize, usize)> {
    let (mut offset, mut first_entry, mut head_end) = (0, None, None);
    for line in bytes.split_inclusive(|b| *b == b'\n') {
        if let Some(at) = entry_stamp(line) {
            first_entry.get_or_insert(offset);
            match (at >= cutoff, head_end) {
                (true, None) => head_end = Some(offset),
                (false, Some(_)) => return None,
                _ => {}
            }
        }
        offset += line.len();
    }
    let first_entry = first_entry?;
    Some((first_entry, head_end.unwrap_or(bytes.len())))
}

/// Whether `now` is what an in-place prune of `before` leaves, whole or cut
/// short by a crash between its overwrite and its collapse:
/// - whole: the pre-entry lines, one padding line stamped with an expired
///   time (ours: `v0-prune: ...`), the kept tail untouched;
/// - crashed: the old file's first `c` bytes (`c` past its first entry, so
///   what follows is expired to the log rule), then the same.
///
/// `head` is [`expired_head`] of `before`; `complete`: only the whole state.
fn in_place_state(
    before: &[u8],
    head: Option<(usize, usize)>,
    now: &[u8],
    cutoff: Timestamp,
    complete: bool,
) -> bool {
    let Some((first_entry, head_end)) = head else {
        return false;
    };
    let (preamble, tail) = (&before[..first_entry], &before[head_end..]);
    let Some(head) = now.strip_suffix(tail) else {
        return false;
    };
    let marker = b"] v0-prune: ";
    let Some(at) = head.windows(marker.len()).rposition(|w| w == marker) else {
        return false;
    };
    let Some(padding_start) = at.checked_sub(21) else {
        return false;
    };
    if !is_padding_line(&head[padding_start..], cutoff) {
        return false;
    }
    let rest = &head[..padding_start];
    if complete {
        return rest == preamble;
    }
    rest == preamble
        || rest.strip_suffix(preamble).is_some_and(|old| {
            old.len() > first_entry && old.len() <= head_end && before.starts_with(old)
        })
}

/// Whether `now` is what a rewrite of `before` leaves when it copies a long
/// run of current lines at its old offset within a page: the model's bytes
/// (`after`) with one padding line stamped with an expired time (ours:
/// `v0-prune: ...`) after the pre-entry lines.
fn aligned_rewrite_state(before: &[u8], after: &[u8], now: &[u8], cutoff: Timestamp) -> bool {
    let mut offset = 0;
    let Some(first_entry) = before.split_inclusive(|b| *b == b'\n').find_map(|line| {
        let start = offset;
        offset += line.len();
        entry_stamp(line).map(|_| start)
    }) else {
        return false;
    };
    let preamble = &before[..first_entry];
    let (Some(rest), Some(kept)) = (now.strip_prefix(preamble), after.strip_prefix(preamble))
    else {
        return false;
    };
    rest.strip_suffix(kept)
        .is_some_and(|padding| is_padding_line(padding, cutoff))
}

/// Whether `line` is one whole line of ours, stamped with an expired time.
fn is_padding_line(line: &[u8], cutoff: Timestamp) -> bool {
    let marker = b"] v0-prune: ";
    entry_stamp(line).is_some_and(|stamp| stamp < cutoff)
        && line.windows(marker.len()).any(|w| w == marker)
        && line.iter().position(|b| *b == b'\n') == Some(line.len() - 1)
}

/// A merge queue in jq's layout, and the same queue after the contract's rule
/// (terminal and older than the cutoff by `updated_at`, else `enqueued_at`,
/// goes; a terminal entry with neither goes too), built side by side.
fn queue_before_and_after(entries: usize, cutoff: Timestamp) -> (Vec<u8>, Vec<u8>) {
    let statuses = [
        "pending",
        "processing",
        "completed",
        "failed",
        "conflict",
        "merged",
    ];
    let times = [
        "2026-11-27T10:00:00Z",
        "2026-11-28T05:59:59Z",
        "2026-11-28T06:00:00Z",
        "2026-11-28T11:00:00Z",
    ];
    let (mut all, mut kept) = (Vec::new(), Vec::new());
    for i in 0..entries {
        let status = statuses[i % statuses.len()];
        let at = times[(i / statuses.len()) % times.len()];
        let (fields, stamp) = match i % 7 {
            0 => (format!(r#""enqueued_at": "{at}""#), Some(at)),
            1 => (String::new(), None),
            2 => (
                format!(r#""updated_at": null, "enqueued_at": "{at}""#),
                Some(at),
            ),
            _ => (
                format!(r#""enqueued_at": "2020-01-01T00:00:00Z", "updated_at": "{at}""#),
                Some(at),
            ),
        };
        let sep = if fields.is_empty() { "" } else { ", " };
        let line = format!(
            r#"    {{"id": "mq-{i:05}", "status": "{status}"{sep}{fields}, "note": "{}"}}"#,
            "n".repeat(i % 90)
        );
        let terminal = matches!(status, "completed" | "failed" | "conflict");
        let expired = stamp.is_none_or(|at| at.parse::<Timestamp>().expect("time") < cutoff);
        if !(terminal && expired) {
            kept.push(line.clone());
        }
        all.push(line);
    }
    let text = |entries: &[String]| {
        format!(
            "{{\n  \"version\": 1,\n  \"entries\": [\n{}\n  ]\n}}\n",
            entries.join(",\n")
        )
        .into_bytes()
    };
    (text(&all), text(&kept))
}

fn is_log(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "log")
}

/// Every regular file under `root`, by relative path.
fn files(root: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    files_under(root)
        .into_iter()
        .map(|path| {
            let bytes = std::fs::read(&path).expect("read");
            (
                path.strip_prefix(root).expect("inside").to_path_buf(),
                bytes,
            )
        })
        .collect()
}

/// A generated build directory and what each file must be before and after a prune.
struct Campaign {
    _dir: tempfile::TempDir,
    build: BuildDir,
    before: BTreeMap<PathBuf, Vec<u8>>,
    after: BTreeMap<PathBuf, Vec<u8>>,
    /// Each log's [`expired_head`] before the prune, found once: the checks
    /// after each kill need it, and finding it reads the whole log.
    heads: BTreeMap<PathBuf, Option<(usize, usize)>>,
}

impl Campaign {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let spec = DemoSpec {
            now: NOW.parse().expect("time"),
            logs: 12,
            lines_per_log: 6_000,
            queue_entries: 8_000,
            operations_per_phase: 1,
            seed: 11,
            ..DemoSpec::default()
        };
        let project = demo::generate(dir.path(), &spec).expect("generate");
        let build = project.build_dir;
        // Two large logs, so many kills land in the middle of a long copy.
        for (n, lines) in [(0, 120_000), (1, 60_000)] {
            let path = build.logs_dir().join(format!("large-{n}.log"));
            demo::write_log(&path, spec.now, lines, 0.5, 99 + n).expect("large log");
        }
        // One whose expired lines are not a head (an expired entry after the
        // current ones): it must be rewritten, while the others go in place.
        let late = build.logs_dir().join("large-2.log");
        demo::write_log(&late, spec.now, 40_000, 0.5, 101).expect("large log");
        let mut bytes = std::fs::read(&late).expect("read");
        bytes.extend_from_slice(b"[2026-11-28T01:00:00Z] a late expired entry\n");
        bytes.extend_from_slice(b"[2026-11-28T11:00:00Z] and a current one\n");
        std::fs::write(&late, bytes).expect("write");
        let cutoff = cutoff().timestamp();
        // Our own queue, so the model does not depend on how the demo lays it out.
        let (queue, queue_after) = queue_before_and_after(8_000, cutoff);
        std::fs::write(build.queue_file(), &queue).expect("queue");
        let before = files(build.root());
        let after = before
            .iter()
            .map(|(path, bytes)| {
                let expected = if path.ends_with("mergeq/queue.json") {
                    queue_after.clone()
                } else if path.extension().is_some_and(|e| e == "log") {
                    model_log(bytes, cutoff)
                } else {
                    bytes.clone()
                };
                (path.clone(), expected)
            })
            .collect::<BTreeMap<_, _>>();
        let changed = before.iter().filter(|(p, b)| after[*p] != **b).count();
        assert!(changed >= 10, "the model must expect real work: {changed}");
        let heads = before
            .iter()
            .filter(|(path, _)| is_log(path))
            .map(|(path, bytes)| (path.clone(), expired_head(bytes, cutoff)))
            .collect();
        Self {
            _dir: dir,
            build,
            before,
            after,
            heads,
        }
    }

    fn restore(&self) {
        for (path, bytes) in &self.before {
            std::fs::write(self.build.root().join(path), bytes).expect("restore");
        }
    }

    /// Files the engine may leave behind that are neither logs nor the queue.
    fn is_state(path: &Path) -> bool {
        path == Path::new(".prune-daemon.lock") || path == Path::new(".prune-daemon/log-index")
    }

    /// Checks the tree: every known file is its before or its after state;
    /// returns the other files found (leftovers of a crash).
    fn check_before_or_after(&self, context: &str) -> Vec<PathBuf> {
        let now = files(self.build.root());
        for (path, before) in &self.before {
            let bytes = now
                .get(path)
                .unwrap_or_else(|| panic!("{context}: {} is gone", path.display()));
            let after = &self.after[path];
            let cutoff = cutoff().timestamp();
            // The model's checks only where the bytes are neither (they are slow).
            let in_place = || {
                is_log(path)
                    && (in_place_state(before, self.heads[path], bytes, cutoff, false)
                        || aligned_rewrite_state(before, after, bytes, cutoff))
            };
            assert!(
                bytes == before || bytes == after || in_place(),
                "{context}: {} is torn: {} bytes, before {} bytes, after {} bytes",
                path.display(),
                bytes.len(),
                before.len(),
                self.after[path].len()
            );
        }
        now.keys()
            .filter(|p| !self.before.contains_key(*p) && !Self::is_state(p))
            .cloned()
            .collect()
    }

    /// Whether `bytes` is what a whole prune leaves at `path`: the model's
    /// after, or for a log the same with the one padding line a prune in
    /// place, or a rewrite copying a long current run, leaves.
    fn is_after(&self, path: &Path, bytes: &[u8]) -> bool {
        let (before, after) = (&self.before[path], &self.after[path]);
        let cutoff = cutoff().timestamp();
        bytes == after.as_slice()
            || is_log(path)
                && (in_place_state(before, self.heads[path], bytes, cutoff, true)
                    || aligned_rewrite_state(before, after, bytes, cutoff))
    }

    fn check_after(&self, context: &str) {
        let now = files(self.build.root());
        for path in self.after.keys() {
            assert!(
                now.get(path)
                    .is_some_and(|bytes| self.is_after(path, bytes)),
                "{context}: {} is not in its after state",
                path.display()
            );
        }
        let extra: Vec<_> = now
            .keys()
            .filter(|p| !self.before.contains_key(*p) && !Self::is_state(p))
            .collect();
        assert!(extra.is_empty(), "{context}: left behind: {extra:?}");
    }

    fn prune_normally(&self, context: &str) -> prune::RunReport {
        let options = RunOptions {
            cutoff: cutoff(),
            dry_run: false,
        };
        let report = prune::run(&self.build, &options, &mut ignore_events).expect("run");
        assert!(report.errors.is_empty(), "{context}: {:?}", report.errors);
        assert!(
            report.logs.skipped.is_empty() && report.queue.skipped.is_empty(),
            "{context}: skipped {:?} {:?}",
            report.logs.skipped,
            report.queue.skipped
        );
        report
    }
}

/// A pruner child, started and past its start-up, with the lines it prints
/// from then on (one [`PRUNED`] per complete run).
type Pruner = (
    std::process::Child,
    Instant,
    std::io::Lines<BufReader<std::process::ChildStdout>>,
);

fn spawn_pruner(build: &BuildDir) -> Pruner {
    let mut child = child::command(KILLED, PRUNER)
        .env("V0_PRUNE_TEST_PRUNER", build.root())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn pruner");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    loop {
        let line = lines
            .next()
            .expect("the pruner says it is ready")
            .expect("read");
        if line.contains(READY) {
            break;
        }
    }
    (child, Instant::now(), lines)
}

/// When to kill a pruner.
#[derive(Debug, Clone, Copy)]
enum Kill {
    /// This long after it is ready.
    After(Duration),
    /// Once it has said its first run is complete.
    OnceDone,
}

#[test]
fn a_pruner_killed_at_any_instant_leaves_each_file_before_or_after_never_torn() {
    if child::role() == Some(PRUNER) {
        return pruner();
    }
    let _serial = one_at_a_time();
    let iterations = env_number("V0_PRUNE_CRASH_ITERATIONS", 30);
    let seed = env_number("V0_PRUNE_CRASH_SEED", 0x5EED);
    let campaign = Campaign::new();

    // The model is right, and one run takes this long: kills are spread over it.
    let started = Instant::now();
    let reference = campaign.prune_normally("reference run");
    let run_time = started.elapsed();
    campaign.check_after("reference run");
    // Kills land in both methods a log nobody holds may get.
    let method_of = |name: &str| {
        reference
            .logs
            .pruned
            .iter()
            .find(|p| p.path.ends_with(name))
            .map(|p| p.method)
    };
    let collapse = platform::supports_collapse(
        &std::fs::File::open(campaign.build.logs_dir().join("large-0.log")).expect("open"),
    );
    let expected_large = if collapse {
        LogMethod::InPlaceUnheld
    } else {
        LogMethod::Rewrite
    };
    assert_eq!(method_of("large-0.log"), Some(expected_large));
    assert_eq!(method_of("large-2.log"), Some(LogMethod::Rewrite));
    eprintln!("crash model: one full run takes {run_time:?}; seed {seed:#x}");

    let mut rng = SplitMix::new(seed);
    let mut leftovers_seen = BTreeMap::<String, u32>::new();
    let mut outcomes = (0, 0, 0); // untouched, partly pruned, fully pruned
    let window = run_time.as_micros() as u64 * 13 / 10 + 1;
    let mut kill_at = |kill: Kill, context: &str, outcomes: &mut (u32, u32, u32)| {
        campaign.restore();
        let (mut child, ready_at, mut lines) = spawn_pruner(&campaign.build);
        match kill {
            Kill::After(delay) => std::thread::sleep(delay.saturating_sub(ready_at.elapsed())),
            Kill::OnceDone => {
                let done = lines
                    .by_ref()
                    .map_while(Result::ok)
                    .any(|l| l.contains(PRUNED));
                assert!(done, "{context}: the pruner never finished a run");
            }
        }
        child.kill().expect("SIGKILL");
        // Reaped before anything looks at its pid: a dead pid's files are leftovers.
        child.wait().expect("reap");
        drop(lines);

        let extra = campaign.check_before_or_after(context);
        for path in &extra {
            let name = path.file_name().unwrap_or_default().to_string_lossy();
            let kind = if name.ends_with(".v0-prune-tmp") {
                "log temp file"
            } else if name.starts_with(".queue.json.v0-prune.") {
                "queue temp file"
            } else if name == ".queue.lock" {
                "queue lock"
            } else if name.starts_with("log-index.tmp.") {
                // Killed while saving the log index (a cache): the next save removes it.
                "log index temp file"
            } else {
                panic!("{context}: unexpected file left behind: {}", path.display());
            };
            *leftovers_seen.entry(kind.to_owned()).or_default() += 1;
        }
        // Where the kill landed: before any file was pruned, after every
        // one was (a log pruned in place, or rewritten around a long current
        // run, with its padding line), or in between.
        let now = files(campaign.build.root());
        let changing: Vec<&PathBuf> = campaign
            .before
            .keys()
            .filter(|p| campaign.before[*p] != campaign.after[*p])
            .collect();
        let pruned = changing
            .iter()
            .filter(|p| campaign.is_after(p, &now[**p]))
            .count();
        match pruned {
            0 => outcomes.0 += 1,
            n if n == changing.len() => outcomes.2 += 1,
            _ => outcomes.1 += 1,
        }

        // The next run cleans up after the dead one and finishes its work.
        campaign.prune_normally(context);
        campaign.check_after(context);
    };
    for iteration in 0..iterations {
        let delay = Duration::from_micros(rng.below(window));
        let context = format!("iteration {iteration} (kill after {delay:?}, seed {seed:#x})");
        kill_at(Kill::After(delay), &context, &mut outcomes);
    }
    // A loaded machine can stretch the pruner's run past the window, or
    // squeeze it: where the spread missed a class, kills aimed at it follow
    // (at once, half-way, once a run is complete), a few at most.
    if iterations >= 20 {
        for extra in 0..6 {
            let kill = match outcomes {
                (0, _, _) => Kill::After(Duration::ZERO),
                (_, 0, _) => Kill::After(Duration::from_micros(window / 3)),
                (_, _, 0) => Kill::OnceDone,
                _ => break,
            };
            let context = format!("aimed kill {extra} ({kill:?}, seed {seed:#x})");
            kill_at(kill, &context, &mut outcomes);
        }
    }
    eprintln!(
        "crash model: {} kills: {} before any file was replaced, {} mid-run, {} after the run; leftovers cleaned: {leftovers_seen:?}",
        outcomes.0 + outcomes.1 + outcomes.2,
        outcomes.0,
        outcomes.1,
        outcomes.2
    );
    // The campaign must have killed pruners before they changed anything,
    // in the middle of a run and after it (kills are spread over 1.3 runs).
    if iterations >= 20 {
        let (before, mid_run, after) = outcomes;
        assert!(before > 0, "no kill landed before the run: {outcomes:?}");
        assert!(mid_run > 0, "no kill landed mid-run: {outcomes:?}");
        assert!(after > 0, "no kill landed after the run: {outcomes:?}");
    }
}

/// The state a crash leaves at each step of a rewrite, a queue replace and
/// an index save, laid out by hand: the next run must clean all of it.
#[test]
fn every_leftover_of_a_crashed_run_is_cleaned_by_the_next_run() {
    let _serial = one_at_a_time();
    let campaign = Campaign::new();
    let root = campaign.build.root();
    let mut gone = Command::new("true").spawn().expect("spawn true");
    let dead = gone.id();
    gone.wait().expect("reap");
    let leftovers = [
        // A temp log half written, and one complete but not yet renamed.
        format!("logs/.large-0.log.{dead}.0.v0-prune-tmp"),
        format!("logs/.events-3.log.{dead}.1.v0-prune-tmp"),
        format!("mergeq/.queue.json.v0-prune.{dead}.0.tmp"),
        format!(".prune-daemon/log-index.tmp.{dead}"),
    ];
    std::fs::create_dir_all(root.join(".prune-daemon")).expect("state dir");
    for path in &leftovers {
        std::fs::write(root.join(path), b"[2026-11-28T07:00:00Z] half a line with").expect("write");
    }
    // The dead pruner held the merge-queue lock, and its index is garbage.
    std::fs::write(
        campaign.build.queue_lock(),
        format!("v0-prune (pid {dead})\n"),
    )
    .expect("lock");
    std::fs::write(root.join(".prune-daemon/log-index"), b"\x01\xff torn").expect("index");

    // Killed between the overwrite and the collapse of an in-place prune:
    // large-0.log's expired head partly replaced by the pre-entry lines and
    // one padding line, the blocks before them not yet collapsed.
    let log = PathBuf::from("logs/large-0.log");
    let before = &campaign.before[&log];
    let (first_entry, head_end) = campaign.heads[&log].expect("an expired head");
    let preamble = &before[..first_entry];
    let collapse = (head_end - preamble.len() - 80) / 4096 * 4096;
    assert!(collapse > first_entry);
    let mut torn = before[..collapse].to_vec();
    torn.extend_from_slice(preamble);
    let mut padding = b"[2026-11-28T05:59:59Z] v0-prune: 9 expired lines removed in place".to_vec();
    padding.resize(head_end - collapse - preamble.len() - 1, b' ');
    padding.push(b'\n');
    torn.extend_from_slice(&padding);
    torn.extend_from_slice(&before[head_end..]);
    assert_eq!(torn.len(), before.len());
    std::fs::write(root.join(&log), &torn).expect("write");
    assert!(
        campaign.check_before_or_after("killed mid-collapse").len() == leftovers.len() + 1,
        "the torn head is one of the states a crash may leave"
    );
    assert_eq!(model_log(&torn, cutoff().timestamp()), campaign.after[&log]);

    campaign.prune_normally("after a crash");
    campaign.check_after("after a crash");
}

/// A pruner killed between creating `.queue.lock` and writing its pid into it
/// would leave a lock nobody can attribute, which v0's mergeq and every later
/// prune must treat as held: the queue would never be pruned again. So the
/// lock must never exist without its holder's pid, not even for a moment.
#[test]
fn the_queue_lock_never_exists_without_its_holders_pid() {
    let _serial = one_at_a_time();
    let dir = tempfile::tempdir().expect("tempdir");
    let build = BuildDir::new(dir.path());
    std::fs::create_dir_all(build.mergeq_dir()).expect("mergeq");
    let queue = br#"{"version":1,"entries":[
    {"id":"old","status":"completed","updated_at":"2026-11-27T00:00:00Z"},
    {"id":"new","status":"pending","enqueued_at":"2026-11-28T11:00:00Z"}
]}
"#;
    let options = RunOptions {
        cutoff: cutoff(),
        dry_run: false,
    };
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watcher = {
        let (lock, stop) = (build.queue_lock(), std::sync::Arc::clone(&stop));
        std::thread::spawn(move || {
            // Reads that found the lock, acquisitions seen (the lock there
            // after a read that found none), and reads without a pid.
            let (mut seen, mut acquisitions, mut anonymous) = (0u64, 0u64, 0u64);
            let mut held = false;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                match std::fs::read_to_string(&lock) {
                    Ok(content) => {
                        seen += 1;
                        acquisitions += u64::from(!held);
                        held = true;
                        if !content.contains("(pid ") {
                            anonymous += 1;
                        }
                    }
                    Err(_) => held = false,
                }
            }
            (seen, acquisitions, anonymous)
        })
    };
    // At least 1000 acquisitions, and at least 2 s of them.
    const ACQUISITIONS: u64 = 1000;
    let deadline = Instant::now() + Duration::from_secs(2);
    let mut runs = 0;
    while runs < ACQUISITIONS || Instant::now() < deadline {
        std::fs::write(build.queue_file(), queue).expect("queue");
        let report = prune::queue::prune(&build, &options, &mut ignore_events).expect("prune");
        assert_eq!(report.removed.len(), 1);
        runs += 1;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (seen, acquisitions, anonymous) = watcher.join().expect("watcher");
    eprintln!(
        "queue lock: {runs} acquisitions, {acquisitions} of them seen, the lock read {seen} times, {anonymous} without a pid"
    );
    assert!(runs >= ACQUISITIONS);
    // The watcher looked throughout, not at one acquisition by chance: a
    // lock created empty and then written is caught only by many looks.
    assert!(
        acquisitions >= runs / 10,
        "the watcher saw only {acquisitions} of {runs} acquisitions"
    );
    assert_eq!(
        anonymous, 0,
        "the lock was visible without its holder's pid"
    );
}
