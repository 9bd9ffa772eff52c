//! The size budget: `V0_PRUNE_MAX_SIZE` caps the logs of a build directory
//! together, as journald's `SystemMaxUse` caps its journal.
//!
//! When the logs exceed the cap after the age rule, the run removes the
//! oldest entries across all logs, globally oldest first, until the total is
//! within the cap; never an entry younger than `V0_PRUNE_MIN_KEEP`. It does so
//! by raising the run's one cutoff: a read pass over the logs sums the bytes
//! of their entries by timestamp second into a bounded histogram, which
//! gives the earliest instant `T` whose removal brings the total within the
//! cap (clamped to now − min keep). The ordinary per-file prune then runs
//! with the cutoff `max(age cutoff, T)`, by the same lossless paths
//! (rewrite, collapse in place under an appender, nothing under a positional
//! writer), so "globally oldest first" is exactly "older than `T`".
//!
//! What each log allows is counted truthfully in that pass:
//! - a log nobody writes to loses every entry older than the cutoff;
//! - a log held by an O_APPEND writer loses only its head, up to its first
//!   entry not older than the cutoff: an entry counts at the newest stamp
//!   from the file's start to it. The collapse works in whole blocks and
//!   leaves a padding line, so one block and a padding line of each such
//!   log are reserved;
//! - a log under a positional writer (or one whose holders we cannot see),
//!   lines before a log's first entry, and an appender's log where ranges
//!   cannot be collapsed lose nothing.

use std::collections::HashSet;
use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::os::unix::fs::OpenOptionsExt;
use std::time::Duration;

use jiff::Timestamp;
use memchr::memchr;
use serde::{Deserialize, Serialize};

use super::method::{self, Reach};
use super::stamp::{LineKind, classify};
use super::{LogFile, Walk};
use crate::platform::{self, FileId, Holder};
use crate::prune::{Cutoff, LogsReport, RunOptions};
use crate::units::{human_bytes, human_duration};

/// The most histogram buckets: the span from the age cutoff to now − min keep
/// is divided into at most this many (one second each for spans up to 18 h,
/// wider ones beyond), so memory stays at 512 KiB whatever the retention.
const MAX_BUCKETS: i64 = 1 << 16;

/// What a collapse in place may leave of a head it removes, beyond one
/// block: the padding line (at least 80 bytes) with room to spare.
const COLLAPSE_RESERVE: u64 = 256;

/// A size budget for one run: the cap, and the instant before which entries
/// may go for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// `V0_PRUNE_MAX_SIZE`: all logs together, in bytes.
    pub max_bytes: u64,
    /// `V0_PRUNE_MIN_KEEP`.
    pub min_keep: Duration,
    /// Now − min keep: the budget never removes an entry stamped at or after it.
    pub floor: Cutoff,
}

impl Budget {
    /// The budget of a run starting at `now`.
    pub fn new(max_bytes: u64, now: Timestamp, min_keep: Duration) -> Self {
        Self {
            max_bytes,
            min_keep,
            floor: Cutoff::before(now, min_keep),
        }
    }
}

/// What the size budget did in one run: how much went for age and how much
/// for the budget, and whether the logs are still over it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BudgetReport {
    /// The cap, in bytes.
    pub max_bytes: u64,
    /// `V0_PRUNE_MIN_KEEP` in seconds.
    pub min_keep_secs: u64,
    /// The logs' total size before the run.
    pub bytes_before: u64,
    /// Their total size after it (as the run left them; later appends not counted).
    pub bytes_after: u64,
    /// Bytes removed that the age rule alone would have removed.
    pub bytes_for_age: u64,
    /// Bytes removed beyond those, to bring the logs within the cap.
    pub bytes_for_budget: u64,
    /// The cutoff the budget raised the run's to (`YYYY-MM-DDTHH:MM:SSZ`),
    /// when it did.
    pub cutoff: Option<String>,
    /// Bytes the budget may not remove because they are younger than the
    /// minimum kept (counted only when the logs were over the cap).
    pub bytes_too_young: u64,
    /// Bytes it cannot remove because of how the logs are held: positional
    /// writers, an appender past its log's head, lines before the first
    /// entry (counted only when the logs were over the cap).
    pub bytes_held: u64,
    /// Even removing everything it may, the logs stay over the cap.
    pub exhausted: bool,
}

impl BudgetReport {
    /// Whether the logs were still over the cap when the run ended.
    pub fn over(&self) -> bool {
        self.bytes_after > self.max_bytes
    }

    /// What to warn of when the logs are still over the cap, saying why;
    /// none when they are within it.
    pub fn warning(&self) -> Option<String> {
        if !self.over() {
            return None;
        }
        let head = format!(
            "logs total {}, over the {} budget (V0_PRUNE_MAX_SIZE)",
            human_bytes(self.bytes_after),
            human_bytes(self.max_bytes)
        );
        Some(if self.exhausted {
            let mut why = Vec::new();
            if self.bytes_too_young > 0 {
                why.push(format!(
                    "{} is younger than {} (V0_PRUNE_MIN_KEEP)",
                    human_bytes(self.bytes_too_young),
                    human_duration(Duration::from_secs(self.min_keep_secs))
                ));
            }
            if self.bytes_held > 0 {
                why.push(format!(
                    "{} is held by writers it cannot prune under or precedes a log's first entry",
                    human_bytes(self.bytes_held)
                ));
            }
            format!(
                "{head}, with nothing left it may remove: {}",
                why.join(", and ")
            )
        } else {
            format!("{head}: the logs grew while it ran; the next run removes more")
        })
    }

    /// `logs 300 MiB -> 99 MiB (budget 100 MiB): 75 MiB for age, 126 MiB
    /// for the budget`: one phrase for the CLI, `status` and the daemon's log.
    pub fn summary(&self) -> String {
        format!(
            "logs {} -> {} (budget {}): {} for age, {} for the budget",
            human_bytes(self.bytes_before),
            human_bytes(self.bytes_after),
            human_bytes(self.max_bytes),
            human_bytes(self.bytes_for_age),
            human_bytes(self.bytes_for_budget)
        )
    }
}

/// The budget's decision for one run: the options to prune with (the
/// cutoff raised, if need be), and what to report once the run is done.
#[derive(Debug)]
pub(crate) struct Plan {
    /// The run's options, with the cutoff the budget needs.
    pub options: RunOptions,
    report: Option<BudgetReport>,
    /// Bytes the age rule alone would have removed, when the cutoff was raised.
    age_estimate: Option<u64>,
}

impl Plan {
    /// Completes the report from what the per-file prune did, and attaches it.
    pub fn finish(self, logs: &mut LogsReport) {
        let Some(mut budget) = self.report else {
            return;
        };
        let reclaimed = logs.bytes_reclaimed();
        budget.bytes_before = logs.bytes_before;
        budget.bytes_after = logs.bytes_after;
        budget.bytes_for_age = match self.age_estimate {
            Some(estimate) => reclaimed.min(estimate),
            None => reclaimed,
        };
        budget.bytes_for_budget = reclaimed - budget.bytes_for_age;
        logs.budget = Some(budget);
    }
}

/// Decides the run's cutoff under `budget`: unchanged when the logs are
/// within the cap after the age rule (found from their sizes alone when they
/// are within it before, so a run under budget reads nothing more).
pub(crate) fn plan(walk: &Walk, options: &RunOptions, budget: Option<&Budget>) -> Plan {
    let Some(budget) = budget else {
        return Plan {
            options: options.clone(),
            report: None,
            age_estimate: None,
        };
    };
    let mut report = BudgetReport {
        max_bytes: budget.max_bytes,
        min_keep_secs: budget.min_keep.as_secs(),
        ..BudgetReport::default()
    };
    let walked: u64 = walk.logs.iter().map(|log| log.len).sum();
    if walked <= budget.max_bytes {
        return Plan {
            options: options.clone(),
            report: Some(report),
            age_estimate: None,
        };
    }
    let census = Census::take(&walk.logs, options.cutoff, budget.floor);
    report.bytes_too_young = census.young;
    report.bytes_held = census.held;
    let (raised, exhausted) = census.cutoff_for(budget.max_bytes);
    report.exhausted = exhausted;
    let mut options = options.clone();
    let mut age_estimate = None;
    if let Some(at) = raised.filter(|at| at.timestamp() > options.cutoff.timestamp()) {
        report.cutoff = Some(at.to_string());
        options.cutoff = at;
        age_estimate = Some(census.below_age);
    }
    Plan {
        options,
        report: Some(report),
        age_estimate,
    }
}

/// The bytes of every log's entries, by the instant from which a cutoff
/// removes them, between the age cutoff and the floor.
#[derive(Debug)]
struct Census {
    /// The age cutoff, unix seconds.
    age: i64,
    /// The floor, unix seconds.
    floor: i64,
    /// Seconds per bucket.
    width: i64,
    /// Bucket `i` holds entries removed by a cutoff after `age + i * width`.
    buckets: Vec<u64>,
    /// Removed by the age cutoff already.
    below_age: u64,
    /// At or after the floor: never removed for the budget.
    young: u64,
    /// Never removable, whatever the cutoff.
    held: u64,
    /// Every log's size when read.
    total: u64,
    /// Bytes reserved for collapses that leave part of a block.
    reserve: u64,
}

impl Census {
    fn take(logs: &[LogFile], age: Cutoff, floor: Cutoff) -> Self {
        let (age, floor) = (age.timestamp().as_second(), floor.timestamp().as_second());
        let span = floor.saturating_sub(age).max(0);
        let width = ((span + MAX_BUCKETS - 1) / MAX_BUCKETS).max(1);
        let count = usize::try_from((span + width - 1) / width).unwrap_or(0);
        let mut census = Self {
            age,
            floor,
            width,
            buckets: vec![0; count],
            below_age: 0,
            young: 0,
            held: 0,
            total: 0,
            reserve: 0,
        };
        let ids: HashSet<FileId> = logs.iter().map(|log| log.id).collect();
        let mut holders = platform::open_files(&ids);
        for log in logs {
            let holders = holders.remove(&log.id).unwrap_or_default();
            // A log that vanished or cannot be read is skipped by the prune as well.
            let _ = census.read(log, &holders);
        }
        census
    }

    /// Adds one log's entries.
    fn read(&mut self, log: &LogFile, holders: &[Holder]) -> io::Result<()> {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
            .open(&log.path)?;
        let meta = file.metadata()?;
        if !meta.is_file() {
            return Ok(());
        }
        let own = super::own_log()
            .and_then(|own| own.file_id())
            .is_some_and(|id| id == log.id);
        let collapse = platform::supports_collapse(&file);
        // What the run will be able to remove, by the run's own rules.
        let (in_place, may_collapse) = match method::reach(holders, own, collapse, meta.len()) {
            Reach::Nothing => {
                self.total += meta.len();
                self.held += meta.len();
                return Ok(());
            }
            Reach::Head => (true, true),
            Reach::Any { may_collapse } => (false, may_collapse),
        };
        let block = if may_collapse {
            platform::block_size(&file)?
        } else {
            0
        };
        let mut scan = FileScan {
            any_cutoff: Cutoff::at(Timestamp::UNIX_EPOCH),
            census: self,
            head_only: in_place,
            newest: i64::MIN,
            entry: None,
            removable: false,
        };
        let len = scan.lines(file)?;
        let removable = scan.removable;
        self.total += len;
        if may_collapse && removable {
            self.reserve += block + COLLAPSE_RESERVE;
        }
        Ok(())
    }

    /// Counts `bytes` of an entry removed by any cutoff after `key`.
    fn add(&mut self, key: i64, bytes: u64) {
        if key < self.age {
            self.below_age += bytes;
        } else if key >= self.floor {
            self.young += bytes;
        } else {
            let i = usize::try_from((key - self.age) / self.width).unwrap_or(usize::MAX);
            match self.buckets.get_mut(i) {
                Some(bucket) => *bucket += bytes,
                None => self.young += bytes,
            }
        }
    }

    /// The earliest cutoff that brings the total within `max` (none when the
    /// age cutoff does), and whether even the floor leaves it over.
    fn cutoff_for(&self, max: u64) -> (Option<Cutoff>, bool) {
        let mut after = (self.total + self.reserve).saturating_sub(self.below_age);
        if after <= max {
            return (None, false);
        }
        for (i, bytes) in self.buckets.iter().enumerate() {
            after = after.saturating_sub(*bytes);
            if after <= max {
                let end = self.age + (i as i64 + 1) * self.width;
                return (Some(cutoff_at(end.min(self.floor))), false);
            }
        }
        if self.buckets.is_empty() {
            return (None, true);
        }
        (Some(cutoff_at(self.floor)), true)
    }
}

fn cutoff_at(second: i64) -> Cutoff {
    Cutoff::at(Timestamp::from_second(second).unwrap_or(Timestamp::MIN))
}

/// One log being read line by line.
struct FileScan<'a> {
    /// Any cutoff: [`classify`] finds the stamp, its verdict is not used.
    any_cutoff: Cutoff,
    census: &'a mut Census,
    /// Held by an appender: only the head can go, so an entry counts at the
    /// newest stamp from the start of the file to it.
    head_only: bool,
    /// The newest stamp so far (for `head_only`).
    newest: i64,
    /// The entry being read: its key and bytes so far.
    entry: Option<(i64, u64)>,
    /// Some entry is older than the floor.
    removable: bool,
}

impl FileScan<'_> {
    /// Reads the whole file; returns its length.
    fn lines(&mut self, file: File) -> io::Result<u64> {
        let mut reader = BufReader::with_capacity(1 << 20, file);
        let mut len = 0u64;
        let mut prefix = [0u8; 22];
        loop {
            // The line's first 22 bytes, which may span two reads.
            let mut have = 0;
            let mut line_len = 0u64;
            let mut ended = false;
            loop {
                let chunk = reader.fill_buf()?;
                if chunk.is_empty() {
                    break;
                }
                let end = memchr(b'\n', chunk);
                let take = end.map_or(chunk.len(), |i| i + 1);
                if have < prefix.len() {
                    let copy = (prefix.len() - have).min(take);
                    prefix[have..have + copy].copy_from_slice(&chunk[..copy]);
                    have += copy;
                }
                line_len += take as u64;
                reader.consume(take);
                if end.is_some() {
                    ended = true;
                    break;
                }
            }
            if line_len == 0 {
                break;
            }
            len += line_len;
            self.line(&prefix[..have], line_len, ended);
        }
        if let Some((key, bytes)) = self.entry.take() {
            self.census.add(key, bytes);
        }
        Ok(len)
    }

    fn line(&mut self, prefix: &[u8], bytes: u64, ended: bool) {
        if self.head_only && !ended {
            // The writer is mid-line: a collapse stops before it.
            if let Some((key, bytes)) = self.entry.take() {
                self.census.add(key, bytes);
            }
            self.census.held += bytes;
            return;
        }
        let stamp = match classify(prefix, &self.any_cutoff) {
            LineKind::Expired(stamp) | LineKind::Current(stamp) => Some(stamp),
            LineKind::Continuation => None,
        };
        match stamp.map(stamp_seconds) {
            Some(second) => {
                if let Some((key, bytes)) = self.entry.take() {
                    self.census.add(key, bytes);
                }
                let key = if self.head_only {
                    self.newest = self.newest.max(second);
                    self.newest
                } else {
                    second
                };
                self.removable |= key < self.census.floor;
                self.entry = Some((key, bytes));
            }
            None => match &mut self.entry {
                Some((_, entry_bytes)) => *entry_bytes += bytes,
                None => self.census.held += bytes,
            },
        }
    }
}

/// Unix seconds of a valid `YYYY-MM-DDTHH:MM:SSZ`.
fn stamp_seconds(stamp: [u8; 20]) -> i64 {
    let number = |range: std::ops::Range<usize>| {
        stamp[range]
            .iter()
            .fold(0i64, |acc, b| acc * 10 + i64::from(b - b'0'))
    };
    let (year, month, day) = (number(0..4), number(5..7), number(8..10));
    let (hour, minute, second) = (number(11..13), number(14..16), number(17..19));
    // Days from 1970-01-01 to the civil date (Howard Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    days * 86_400 + hour * 3600 + minute * 60 + second
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_convert_like_jiff() {
        for text in [
            "1970-01-01T00:00:00Z",
            "2000-02-29T23:59:59Z",
            "2026-11-28T06:00:00Z",
            "2100-03-01T00:00:01Z",
            "0001-01-01T00:00:00Z",
            "9999-12-30T00:00:00Z",
        ] {
            let stamp: [u8; 20] = text.as_bytes().try_into().expect("20 bytes");
            let expected: Timestamp = text.parse().expect("valid");
            assert_eq!(stamp_seconds(stamp), expected.as_second(), "{text}");
        }
    }

    fn census(age: i64, floor: i64, buckets: Vec<u64>, width: i64) -> Census {
        Census {
            age,
            floor,
            width,
            buckets,
            below_age: 0,
            young: 0,
            held: 0,
            total: 0,
            reserve: 0,
        }
    }

    #[test]
    fn the_cutoff_is_the_first_bucket_end_within_the_cap() {
        let mut c = census(1000, 1010, vec![0; 10], 1);
        c.add(999, 100); // age
        c.add(1000, 10);
        c.add(1003, 20);
        c.add(1009, 30);
        c.add(1010, 40); // young
        c.total = 100 + 10 + 20 + 30 + 40 + 7; // 7 held
        c.held = 7;
        assert_eq!((c.below_age, c.young), (100, 40));
        // After age: 107. Within 200: nothing more.
        assert_eq!(c.cutoff_for(200).0, None);
        // 97 needs bucket 1000 gone: cutoff 1001.
        assert_eq!(
            c.cutoff_for(97).0.map(|c| c.timestamp().as_second()),
            Some(1001)
        );
        assert_eq!(
            c.cutoff_for(77).0.map(|c| c.timestamp().as_second()),
            Some(1004)
        );
        // 47 needs everything up to the floor, and is met there.
        assert_eq!(c.cutoff_for(47), (Some(cutoff_at(1010)), false));
        // 46 cannot be met: the floor, exhausted.
        assert_eq!(c.cutoff_for(46), (Some(cutoff_at(1010)), true));
        c.reserve = 5;
        assert_eq!(
            c.cutoff_for(97).0.map(|c| c.timestamp().as_second()),
            Some(1004)
        );
    }

    #[test]
    fn wide_spans_get_wider_buckets_and_never_pass_the_floor() {
        let span = 30 * 86_400;
        let age = 1_000_000;
        let mut c = census(age, age + span, Vec::new(), 1);
        let width = ((span + MAX_BUCKETS - 1) / MAX_BUCKETS).max(1);
        c.width = width;
        c.buckets = vec![0; usize::try_from((span + width - 1) / width).expect("fits")];
        assert!(c.buckets.len() as i64 <= MAX_BUCKETS);
        c.add(age + span - 1, 50);
        c.total = 50;
        let (cutoff, exhausted) = c.cutoff_for(0);
        assert!(!exhausted);
        assert_eq!(cutoff, Some(cutoff_at(age + span)));
    }
}
