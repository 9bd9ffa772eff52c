//! The size budget (`V0_PRUNE_MAX_SIZE`): three logs of 300 MB together, a
//! budget of 100 MB and a retention of 6 h leave under 100 MB, having removed
//! only the globally oldest entries, as a reference model says, nothing
//! younger than the minimum kept, while a live O_APPEND writer on one of
//! them loses nothing.
//!
//! The writer is this test binary re-run for the test alone, in the
//! writer's part (`v0_prune_testkit::child`; see [`live_writer`]): a
//! separate process holding its own O_APPEND descriptor, as
//! `nohup worker >> x.log` does.

mod support;

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use jiff::Timestamp;
use support::one_at_a_time;
use v0_prune_shared::paths::BuildDir;
use v0_prune_shared::platform::{self, Access};
use v0_prune_shared::prune::{
    Budget, BudgetReport, Cutoff, RunOptions, RunReport, ignore_events, run_within,
};
use v0_prune_testkit::{PATIENCE, child, wait_until, wait_until_held};

const MIB: u64 = 1 << 20;
const RETENTION: Duration = Duration::from_secs(6 * 3600);
const MIN_KEEP: Duration = Duration::from_secs(600);
/// Entries per log: about 12.7 KiB each, so 100 MiB per log.
const ENTRIES: u64 = 8250;
/// The generated entries span the last 8 hours.
const SPAN: i64 = 8 * 3600;
/// What the budget reserves per log it collapses in place, beyond one block.
const COLLAPSE_RESERVE: u64 = 256;

/// The test whose writer child is this binary re-run for it alone.
const WITH_WRITER: &str =
    "three_logs_of_300_mb_fit_a_100_mb_budget_oldest_first_losing_no_live_line";
/// The part the re-run plays.
const WRITER: &str = "live writer";

/// The live writer child: appends numbered lines stamped now, one every
/// 2 ms (a steady writer, not a flood), until the stop file appears, then
/// prints how many it wrote.
fn live_writer() {
    let path = std::env::var("V0_PRUNE_TEST_BUDGET_LOG").expect("log path");
    let stop = PathBuf::from(std::env::var("V0_PRUNE_TEST_BUDGET_STOP").expect("stop path"));
    let mut file = OpenOptions::new()
        .append(true)
        .open(&path)
        .expect("open the log O_APPEND");
    let mut n = 0u64;
    while !stop.exists() {
        file.write_all(writer_line(n).as_bytes()).expect("write");
        n += 1;
        std::thread::sleep(Duration::from_millis(2));
    }
    println!("{n}");
}

fn writer_line(n: u64) -> String {
    format!(
        "[{}] live writer line {n:06}\n",
        stamp(Timestamp::now().as_second())
    )
}

fn stamp(second: i64) -> String {
    Timestamp::from_second(second)
        .expect("valid time")
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// One generated entry: its stamp, its text (a timestamped line
/// and continuation lines).
#[derive(Debug, Clone)]
struct Entry {
    second: i64,
    text: String,
}

/// A small deterministic generator, so a failure can be reproduced.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, below: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % below
    }
}

/// The three logs' entries, in file order. `c.log` (index 2) has one entry
/// out of order: stamped 30 minutes ago, 30% of the way into the file.
fn generate(now: i64) -> Vec<Vec<Entry>> {
    let filler = "abcdefghijklmnopqrstuvwxyz0123456789".repeat(600);
    let mut rng = Lcg(0x5eed);
    (0..3)
        .map(|log| {
            (0..ENTRIES)
                .map(|i| {
                    let mut second =
                        now - SPAN + (i as i64 * SPAN) / ENTRIES as i64 + rng.next(3) as i64;
                    if log == 2 && i == ENTRIES * 3 / 10 {
                        second = now - 1800;
                    }
                    // Stay clear of the last minute, where the writer's lines are.
                    second = second.min(now - 60);
                    let head = 200 + rng.next(6000) as usize;
                    let continuation = rng.next(19_000) as usize;
                    let text = format!(
                        "[{}] log {log} entry {i:05} {}\n  continued {}\n",
                        stamp(second),
                        &filler[..head],
                        &filler[..continuation]
                    );
                    Entry { second, text }
                })
                .collect()
        })
        .collect()
}

const PREAMBLE: &str = "nohup: ignoring input\n";

fn write_logs(dir: &Path, logs: &[Vec<Entry>]) -> Vec<PathBuf> {
    let logs_dir = dir.join("logs");
    std::fs::create_dir_all(&logs_dir).expect("mkdir");
    logs.iter()
        .enumerate()
        .map(|(i, entries)| {
            let path = logs_dir.join(format!("{}.log", ["a", "b", "c"][i]));
            let mut out = BufWriter::with_capacity(4 << 20, File::create(&path).expect("create"));
            if i == 2 {
                out.write_all(PREAMBLE.as_bytes()).expect("write");
            }
            for entry in entries {
                out.write_all(entry.text.as_bytes()).expect("write");
            }
            out.into_inner().expect("flush").sync_all().expect("sync");
            path
        })
        .collect()
}

/// The reference model: entries go globally oldest first. An entry of a log
/// nobody writes to goes at any cutoff after its stamp; an entry of the
/// appender's log only with the whole head before it, so at any cutoff
/// after the newest stamp up to it. The budget's cutoff is the earliest
/// second after the age cutoff at which what remains (plus a block and a
/// padding line for a log collapsed in place) is within the cap, and never
/// after now − min keep.
struct Model {
    /// Per log, per entry: the second after which a cutoff removes it.
    keys: Vec<Vec<i64>>,
    /// Every entry's key and size, by key, and the running sum of the sizes.
    by_key: Vec<(i64, u64)>,
    sums: Vec<u64>,
    /// Bytes in the logs that no cutoff removes.
    fixed: u64,
    /// Bytes reserved for the collapse in place.
    reserve: u64,
}

impl Model {
    fn new(logs: &[Vec<Entry>], appender: Option<usize>, fixed: u64, reserve: u64) -> Self {
        let keys: Vec<Vec<i64>> = logs
            .iter()
            .enumerate()
            .map(|(i, entries)| {
                let mut newest = i64::MIN;
                entries
                    .iter()
                    .map(|e| {
                        newest = newest.max(e.second);
                        if Some(i) == appender {
                            newest
                        } else {
                            e.second
                        }
                    })
                    .collect()
            })
            .collect();
        let mut by_key: Vec<(i64, u64)> = keys
            .iter()
            .zip(logs)
            .flat_map(|(keys, entries)| {
                keys.iter()
                    .zip(entries)
                    .map(|(key, e)| (*key, e.text.len() as u64))
            })
            .collect();
        by_key.sort_unstable();
        let sums = by_key
            .iter()
            .scan(0, |sum, (_, size)| {
                *sum += size;
                Some(*sum)
            })
            .collect();
        Self {
            keys,
            by_key,
            sums,
            fixed,
            reserve,
        }
    }

    /// Bytes removed by a cutoff at `t`: every entry whose key is before it.
    fn removed(&self, t: i64) -> u64 {
        match self.by_key.partition_point(|(key, _)| *key < t) {
            0 => 0,
            n => self.sums[n - 1],
        }
    }

    /// Bytes left by a cutoff at `t`, reserve included.
    fn after(&self, t: i64) -> u64 {
        self.sums.last().copied().unwrap_or(0) - self.removed(t) + self.fixed + self.reserve
    }

    /// The budget's cutoff, if the age cutoff is not enough; and whether
    /// even the floor leaves the logs over the cap.
    fn budget_cutoff(&self, age: i64, floor: i64, cap: u64) -> (Option<i64>, bool) {
        if self.after(age) <= cap {
            return (None, false);
        }
        // Only a second at which some entry's key falls changes anything.
        let mut candidates: Vec<i64> = self
            .keys
            .iter()
            .flatten()
            .map(|key| key + 1)
            .filter(|t| *t > age && *t <= floor)
            .collect();
        candidates.sort_unstable();
        candidates.dedup();
        for t in candidates {
            if self.after(t) <= cap {
                return (Some(t), false);
            }
        }
        (Some(floor), true)
    }
}

fn spawn_writer(log: &Path, stop: &Path) -> Child {
    child::command(WITH_WRITER, WRITER)
        .env("V0_PRUNE_TEST_BUDGET_LOG", log)
        .env("V0_PRUNE_TEST_BUDGET_STOP", stop)
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn writer")
}

/// How many lines the writer wrote (its last line of output).
fn stop_writer(mut writer: Child, stop: &Path) -> u64 {
    std::fs::write(stop, b"").expect("stop file");
    let status = writer.wait().expect("wait");
    assert!(status.success(), "the writer failed: {status}");
    let mut out = String::new();
    writer
        .stdout
        .take()
        .expect("stdout")
        .read_to_string(&mut out)
        .expect("read");
    out.lines()
        .filter_map(|l| l.trim().parse().ok())
        .next_back()
        .unwrap_or_else(|| panic!("no count from the writer: {out:?}"))
}

/// The number of the live writer's last line in `log` (its tail).
fn last_writer_line(log: &Path) -> u64 {
    use std::io::{Seek, SeekFrom};
    let mut file = File::open(log).expect("open");
    let len = file.metadata().expect("meta").len();
    file.seek(SeekFrom::Start(len.saturating_sub(4096)))
        .expect("seek");
    let mut tail = Vec::new();
    file.read_to_end(&mut tail).expect("read");
    String::from_utf8_lossy(&tail)
        .lines()
        .filter_map(|l| l.split("live writer line ").nth(1)?.parse().ok())
        .next_back()
        .expect("a line of the writer at the end")
}

fn total_size(paths: &[PathBuf]) -> u64 {
    paths
        .iter()
        .map(|p| std::fs::metadata(p).expect("meta").len())
        .sum()
}

fn budget_of(report: &RunReport) -> &BudgetReport {
    report.logs.budget.as_ref().expect("a budget report")
}

#[test]
fn three_logs_of_300_mb_fit_a_100_mb_budget_oldest_first_losing_no_live_line() {
    if child::role() == Some(WRITER) {
        return live_writer();
    }
    let _serial = one_at_a_time();
    let started = Instant::now();
    let dir = tempfile::tempdir().expect("tempdir");
    let build = BuildDir::new(dir.path());
    let now = Timestamp::now();
    let logs = generate(now.as_second());
    let paths = write_logs(dir.path(), &logs);
    let initial = total_size(&paths);
    assert!(
        (295 * MIB..=305 * MIB).contains(&initial),
        "{} MiB",
        initial / MIB
    );
    let collapse = platform::supports_collapse(&File::open(&paths[2]).expect("open"));
    let block = platform::block_size(&File::open(&paths[2]).expect("open")).expect("block size");
    eprintln!("generated {} MiB in {:?}", initial / MIB, started.elapsed());

    let stop = dir.path().join("stop");
    let writer = spawn_writer(&paths[2], &stop);
    // The writer holds c.log with O_APPEND, as the engine's holder scan
    // sees it, and has written before the prune starts.
    assert!(
        wait_until_held(&paths[2], writer.id(), Access::Append),
        "the writer never held c.log"
    );
    assert!(
        wait_until(PATIENCE, || total_size(&paths) >= initial + 200),
        "the writer never wrote"
    );
    let written_before = total_size(&paths) - initial;
    let last_before = last_writer_line(&paths[2]);

    let cap = 100 * MIB;
    let options = RunOptions {
        cutoff: Cutoff::before(now, RETENTION),
        dry_run: false,
    };
    let budget = Budget::new(cap, now, MIN_KEEP);
    let prune_started = Instant::now();
    let report = run_within(&build, &options, Some(&budget), &mut ignore_events).expect("run");
    let prune_took = prune_started.elapsed();
    let last_after = last_writer_line(&paths[2]);
    let lines = stop_writer(writer, &stop);
    assert!(
        last_after > last_before,
        "the writer wrote nothing during the prune (line {last_before} before, {last_after} after)"
    );
    let written: u64 = (0..lines).map(|n| writer_line(n).len() as u64).sum();

    // The reference model, once with the writer's bytes before the prune and
    // once with all of them: the engine read the file somewhere in between.
    let age = options.cutoff.timestamp().as_second();
    let floor = budget.floor.timestamp().as_second();
    let appender = collapse.then_some(2);
    let fixed_without_writer = if collapse {
        PREAMBLE.len() as u64
    } else {
        // Where ranges cannot be collapsed, the appender's log is left whole.
        logs[2].iter().map(|e| e.text.len() as u64).sum::<u64>() + PREAMBLE.len() as u64
    };
    let mut model_logs = logs.clone();
    if !collapse {
        model_logs[2].clear();
    }
    // Every log may be collapsed in place (nobody's too, when its expired
    // part is a head), so the budget reserves what a collapse leaves, per log.
    let reserve = if collapse {
        paths.len() as u64 * (block + COLLAPSE_RESERVE)
    } else {
        0
    };
    let model_low = Model::new(
        &model_logs,
        appender,
        fixed_without_writer + written_before,
        reserve,
    );
    let model_high = Model::new(
        &model_logs,
        appender,
        fixed_without_writer + written,
        reserve,
    );
    let (low, _) = model_low.budget_cutoff(age, floor, cap);
    let (high, _) = model_high.budget_cutoff(age, floor, cap);
    let (low, high) = (
        low.expect("the model needs the budget"),
        high.expect("the model needs the budget"),
    );

    let budget_report = budget_of(&report);
    let cutoff_text = budget_report
        .cutoff
        .clone()
        .expect("the budget raised the cutoff");
    let t: i64 = cutoff_text
        .parse::<Timestamp>()
        .expect("a cutoff")
        .as_second();
    assert!(
        (low..=high).contains(&t),
        "the engine's budget cutoff {cutoff_text} is not the model's ({} .. {})",
        stamp(low),
        stamp(high)
    );
    assert!(t > age, "the budget went past the age rule");
    assert!(t <= floor, "nothing younger than the minimum kept may go");
    // Where ranges cannot be collapsed (the portable build, macOS), the
    // appender's log is left whole: over 100 MiB by itself, it keeps the logs
    // over the cap, and the budget says it is exhausted.
    assert_eq!(budget_report.exhausted, !collapse, "{budget_report:?}");
    if !collapse {
        assert!(
            budget_report.bytes_held >= fixed_without_writer,
            "{budget_report:?}"
        );
    }

    // Every log holds exactly the entries the model keeps at that cutoff,
    // in their order: only the globally oldest went.
    let model = Model::new(&model_logs, appender, 0, 0);
    for (i, path) in paths.iter().enumerate() {
        let text = std::fs::read_to_string(path).expect("read log");
        assert!(!text.contains('\0'), "NUL bytes in {}", path.display());
        let mut expected = String::new();
        if i == 2 {
            expected.push_str(PREAMBLE);
        }
        let keys = if i == 2 && !collapse {
            None
        } else {
            Some(&model.keys[i])
        };
        for (n, entry) in logs[i].iter().enumerate() {
            if keys.is_none_or(|keys| keys[n] >= t) {
                expected.push_str(&entry.text);
            }
        }
        let mut actual = text.as_str();
        if i == 2 {
            // The writer's lines, all of them, in order, at the end.
            let first_live = actual
                .find("] live writer line 000000\n")
                .map(|at| at - 21)
                .expect("the writer's first line is there");
            let tail = &actual[first_live..];
            let numbers: Vec<u64> = tail
                .lines()
                .map(|l| {
                    l.split("live writer line ")
                        .nth(1)
                        .and_then(|n| n.parse().ok())
                        .unwrap_or_else(|| panic!("not a writer line: {l:?}"))
                })
                .collect();
            assert_eq!(
                numbers,
                (0..lines).collect::<Vec<_>>(),
                "the live writer lost or reordered lines"
            );
            actual = &actual[..first_live];
            // The collapse's padding line, stamped with an expired time, right
            // after the preamble.
            if collapse
                && let Some(rest) = actual.strip_prefix(PREAMBLE)
                && let Some(end) = rest.find('\n')
                && rest[..end].contains("] v0-prune: ")
            {
                let padding_stamp: i64 =
                    rest[1..21].parse::<Timestamp>().expect("stamp").as_second();
                assert!(padding_stamp < t, "the padding line is expired");
                let kept = format!("{PREAMBLE}{}", &rest[end + 1..]);
                assert_eq!(kept.len(), expected.len(), "c.log differs from the model");
                assert!(kept == expected, "c.log differs from the model");
                continue;
            }
        }
        // A log nobody holds, pruned in place, starts with the padding line.
        if collapse
            && i != 2
            && let Some(end) = actual.find('\n')
            && actual[..end].contains("] v0-prune: ")
        {
            let padding_stamp: i64 = actual[1..21]
                .parse::<Timestamp>()
                .expect("stamp")
                .as_second();
            assert!(padding_stamp < t, "the padding line is expired");
            actual = &actual[end + 1..];
        }
        assert_eq!(
            actual.len(),
            expected.len(),
            "{} differs from the model",
            path.display()
        );
        assert!(
            actual == expected,
            "{} differs from the model",
            path.display()
        );
    }

    // Under the cap, but for what the writer appended after the engine read.
    let after = total_size(&paths);
    let left_whole = if collapse { 0 } else { fixed_without_writer };
    assert!(
        after - written - left_whole <= cap,
        "{after} bytes left ({} of them the writer's), over the {cap}-byte cap",
        written
    );

    // How much went for which: age as the model says, the rest for the budget.
    let reclaimed = report.logs.bytes_reclaimed();
    assert_eq!(
        budget_report.bytes_for_age + budget_report.bytes_for_budget,
        reclaimed
    );
    assert_eq!(budget_report.bytes_for_age, model.removed(age));
    assert!(
        budget_report.bytes_for_budget > 100 * MIB,
        "{budget_report:?}"
    );
    assert_eq!(budget_report.max_bytes, cap);
    assert_eq!(budget_report.min_keep_secs, 600);
    eprintln!(
        "pruned {} MiB to {} MiB in {prune_took:?} ({} MiB for age, {} MiB for the budget, cutoff {cutoff_text}); \
         the writer wrote {lines} lines; {:?} in all",
        initial / MIB,
        after / MIB,
        budget_report.bytes_for_age / MIB,
        budget_report.bytes_for_budget / MIB,
        started.elapsed()
    );
}

/// Over budget with nothing left it may remove: the older entries go, every
/// entry younger than the minimum kept stays, and the report says the logs
/// are still over the cap and why.
#[test]
fn over_budget_with_only_young_entries_left_says_so_and_keeps_them() {
    let _serial = one_at_a_time();
    let dir = tempfile::tempdir().expect("tempdir");
    let build = BuildDir::new(dir.path());
    let now = Timestamp::now();
    let entry = |second: i64, what: &str, i: usize| {
        format!("[{}] {what} entry {i} {}\n", stamp(second), "y".repeat(200))
    };
    let mut old = String::new();
    let mut young = String::new();
    for i in 0..10 {
        // An hour old: well within the 6 h retention, older than the 10 min kept.
        old.push_str(&entry(now.as_second() - 3600 + i as i64, "old", i));
        // Two minutes old: younger than the 10 min kept.
        young.push_str(&entry(now.as_second() - 120 + i as i64, "young", i));
    }
    let a = dir.path().join("a.log");
    let b = dir.path().join("b.log");
    std::fs::write(&a, format!("{old}{young}")).expect("write");
    std::fs::write(&b, &young).expect("write");
    let options = RunOptions {
        cutoff: Cutoff::before(now, RETENTION),
        dry_run: false,
    };
    let budget = Budget::new(1024, now, MIN_KEEP);
    let report = run_within(&build, &options, Some(&budget), &mut ignore_events).expect("run");
    let budget_report = budget_of(&report);
    assert_eq!(std::fs::read_to_string(&a).expect("read"), young);
    assert_eq!(std::fs::read_to_string(&b).expect("read"), young);
    assert!(budget_report.exhausted, "{budget_report:?}");
    assert!(budget_report.over(), "{budget_report:?}");
    assert_eq!(budget_report.bytes_too_young, 2 * young.len() as u64);
    assert_eq!(budget_report.bytes_for_budget, old.len() as u64);
    assert_eq!(budget_report.bytes_for_age, 0);
    assert_eq!(budget_report.bytes_after, 2 * young.len() as u64);
    assert_eq!(
        budget_report.cutoff.as_deref(),
        Some(budget.floor.to_string().as_str())
    );

    // Within the budget: nothing read for it, nothing removed for it.
    let report = run_within(
        &build,
        &options,
        Some(&Budget::new(1 << 20, now, MIN_KEEP)),
        &mut ignore_events,
    )
    .expect("run");
    let budget_report = budget_of(&report);
    assert!(!budget_report.over() && !budget_report.exhausted);
    assert_eq!(budget_report.cutoff, None);
    assert_eq!(budget_report.bytes_for_budget, 0);
    assert_eq!(std::fs::read_to_string(&a).expect("read"), young);
}
