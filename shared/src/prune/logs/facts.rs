//! What a run learns about each log on its way ([`crate::prune::LogFacts`]),
//! and the few cheap looks that complete it for the files a view lists.
//!
//! The facts cost no extra read: sizes, lines removed, holders and the method
//! come from the prune itself, the oldest entry from what the filter verified
//! (the log index). Only for a log the run did not read whole (held by an
//! appender, skipped) does [`first_entry_stamp`] look at its first few KiB,
//! and only for the logs a view shows.
//!
//! What the *next* run would free from a log is known without reading it
//! when its oldest entry will still be current then (nothing). Otherwise
//! [`scan`] reads it once, at most [`VIEW_READ_LIMIT`] bytes, line starts
//! only (the first 22 bytes of a line decide its fate): the bytes of the
//! entries the next cutoff expires, and the earliest entry wherever it lies.
//! A longer log is read from the last of its index checkpoints before the
//! next cutoff ([`scan_from_marks`]): in a log written in order, everything
//! before it expires, and one stretch of at most 4 MiB is read.

use std::cell::Cell;
use std::io::{self, Read};
use std::path::Path;

use super::FileOutcome;
use super::stamp::{LineKind, classify};
use crate::platform::Holder;
use crate::prune::{Cutoff, LogFacts, LogFate};

/// How much of a log's head [`first_entry_stamp`] reads: enough for the
/// preamble some writers print before their first entry (`nohup: ignoring input`).
pub const HEAD_LEN: usize = 4096;

thread_local! {
    static COLLECT: Cell<bool> = const { Cell::new(true) };
}

/// Runs `f` (a prune on this thread) without collecting per-file facts, so
/// that a benchmark can weigh what collecting them costs a run.
pub fn without_file_facts<R>(f: impl FnOnce() -> R) -> R {
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            COLLECT.with(|collect| collect.set(self.0));
        }
    }
    let _restore = Restore(COLLECT.with(|collect| collect.replace(false)));
    f()
}

/// Whether runs on this thread collect per-file facts (yes, unless inside
/// [`without_file_facts`]).
pub fn collecting() -> bool {
    COLLECT.with(Cell::get)
}

/// The timestamp of the first entry in the first [`HEAD_LEN`] bytes of a
/// log: in a log written in order, its oldest entry. `None` when there is
/// none there or the file cannot be read; never follows a symlink.
pub fn first_entry_stamp(path: &Path) -> Option<[u8; 20]> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
        .ok()?;
    if !file.metadata().ok()?.is_file() {
        return None;
    }
    let mut head = Vec::with_capacity(HEAD_LEN);
    file.take(HEAD_LEN as u64).read_to_end(&mut head).ok()?;
    first_stamp_in(&head)
}

/// The first entry timestamp among the lines of `bytes`.
fn first_stamp_in(bytes: &[u8]) -> Option<[u8; 20]> {
    // Any cutoff tells a stamp from a continuation; which one does not matter.
    let cutoff = Cutoff::at(jiff::Timestamp::UNIX_EPOCH);
    bytes
        .split(|&b| b == b'\n')
        .find_map(|line| match classify(line, &cutoff) {
            LineKind::Expired(stamp) | LineKind::Current(stamp) => Some(stamp),
            LineKind::Continuation => None,
        })
}

/// A log timestamp (`YYYY-MM-DDTHH:MM:SSZ`) as unix milliseconds.
pub fn stamp_ms(stamp: &[u8; 20]) -> Option<i64> {
    let text = std::str::from_utf8(stamp).ok()?;
    let at: jiff::Timestamp = text.parse().ok()?;
    Some(at.as_millisecond())
}

/// The most of one log [`scan`] reads for a view; beyond it the index's
/// checkpoints bound the read ([`scan_from_marks`]).
pub const VIEW_READ_LIMIT: u64 = 64 << 20;

/// What a read of one log tells a view about a prune at a given cutoff.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Scan {
    /// The earliest entry stamp in what was read, wherever it lies (not
    /// only the first entry: an older entry may come later).
    pub earliest: Option<[u8; 20]>,
    /// The bytes a prune at the cutoff would remove: every expired entry
    /// with the lines under it; the lines before the first entry stay.
    pub expiring: u64,
}

/// Reads `path` from its start (never through a symbolic link) and says
/// what a prune at `cutoff` would remove and which entry is the oldest.
/// `None` when it cannot be read or is longer than `limit` bytes.
pub fn scan(path: &Path, cutoff: &Cutoff, limit: u64) -> Option<Scan> {
    let file = open_log(path)?;
    if file.metadata().ok()?.len() > limit {
        return None;
    }
    let mut scan = Scan::default();
    let mut expired_entry = false;
    read_lines(file, 0, limit, &mut |prefix, len| {
        match classify(prefix, cutoff) {
            LineKind::Expired(stamp) => {
                scan.earliest = Some(scan.earliest.map_or(stamp, |e| e.min(stamp)));
                expired_entry = true;
            }
            LineKind::Current(stamp) => {
                scan.earliest = Some(scan.earliest.map_or(stamp, |e| e.min(stamp)));
                expired_entry = false;
            }
            LineKind::Continuation => {}
        }
        if expired_entry {
            scan.expiring += len;
        }
        true
    })?;
    Some(scan)
}

/// [`scan`] for a log longer than the read limit, from its index
/// checkpoints (`marks`: entry starts with their stamps, in order of
/// offset). Assumes the log is written in order, as logs are: the bytes
/// from the first entry up to the first mark whose entry is current at
/// `cutoff` all expire, bar the stretch before that mark, which is read
/// (at most one checkpoint spacing) up to the first current entry.
/// `earliest` is the index's earliest entry. `None` without marks, or when
/// the file cannot be read.
pub fn scan_from_marks(
    path: &Path,
    cutoff: &Cutoff,
    marks: &[super::checkpoints::Mark],
    earliest: Option<[u8; 20]>,
) -> Option<Scan> {
    let first_current = marks
        .iter()
        .position(|mark| !cutoff.expires_log_stamp(&mark.stamp));
    // The stretch to read: from the last mark before the boundary to it.
    let (from, to) = match first_current {
        Some(0) => (0, Some(marks[0].offset)),
        Some(k) => (marks[k - 1].offset, Some(marks[k].offset)),
        None => (marks.last()?.offset, None),
    };
    let file = open_log(path)?;
    let len = file.metadata().ok()?.len();
    // Up to `from`, all expires but what stands before the first entry.
    let preamble = if from == 0 {
        0
    } else {
        first_entry_offset(path).unwrap_or(0)
    };
    let mut expiring = from.saturating_sub(preamble);
    let mut in_entry = from > 0;
    let stretch = to.unwrap_or(len).saturating_sub(from);
    read_lines(file, from, stretch, &mut |prefix, n| {
        match classify(prefix, cutoff) {
            LineKind::Current(_) => return false,
            LineKind::Expired(_) => in_entry = true,
            LineKind::Continuation => {}
        }
        if in_entry {
            expiring += n;
        }
        true
    })?;
    Some(Scan { earliest, expiring })
}

/// The bytes of a log's head before its first entry (its preamble), from
/// its first [`HEAD_LEN`] bytes; `None` when no entry starts there.
fn first_entry_offset(path: &Path) -> Option<u64> {
    let file = open_log(path)?;
    let mut offset = None;
    let mut at = 0u64;
    read_lines(file, 0, HEAD_LEN as u64, &mut |prefix, len| {
        if crate::prune::logs::stamp::parse_stamp(prefix).is_some() {
            offset = Some(at);
            return false;
        }
        at += len;
        true
    })?;
    offset
}

fn open_log(path: &Path) -> Option<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
        .ok()?;
    file.metadata().ok()?.is_file().then_some(file)
}

/// Calls `line(prefix, len)` for each line of `file` from `from`, for at
/// most `limit` bytes: its first [`STAMP_PREFIX_LEN`] bytes (fewer for a
/// short line) and its length with the newline; a last line without one
/// counts too. Stops when `line` returns false. `None` on a read error.
fn read_lines(
    mut file: std::fs::File,
    from: u64,
    limit: u64,
    line: &mut dyn FnMut(&[u8], u64) -> bool,
) -> Option<()> {
    use super::stamp::STAMP_PREFIX_LEN;
    use std::io::{BufRead, BufReader, Seek, SeekFrom};
    file.seek(SeekFrom::Start(from)).ok()?;
    let mut reader = BufReader::with_capacity(64 * 1024, file.take(limit));
    let mut prefix: Vec<u8> = Vec::with_capacity(STAMP_PREFIX_LEN);
    let mut len = 0u64;
    loop {
        let buf = reader.fill_buf().ok()?;
        if buf.is_empty() {
            if len > 0 {
                line(&prefix, len);
            }
            return Some(());
        }
        let (taken, end) = match memchr::memchr(b'\n', buf) {
            Some(at) => (at + 1, true),
            None => (buf.len(), false),
        };
        let room = STAMP_PREFIX_LEN.saturating_sub(prefix.len());
        prefix.extend_from_slice(&buf[..taken.min(room)]);
        len += taken as u64;
        reader.consume(taken);
        if end {
            if !line(&prefix, len) {
                return Some(());
            }
            prefix.clear();
            len = 0;
        }
    }
}

/// Reads nothing: the size of a file the walk left alone, for its facts.
pub(super) fn size_of(path: &Path) -> io::Result<u64> {
    Ok(std::fs::symlink_metadata(path)?.len())
}

/// The facts of one log from what its prune returned (`walked_len`: its
/// size when walked, for a log the prune did not measure).
pub(super) fn of_outcome(
    path: &str,
    walked_len: u64,
    oldest: Option<[u8; 20]>,
    holders: Option<Vec<Holder>>,
    outcome: &io::Result<FileOutcome>,
) -> LogFacts {
    let (size_before, size_after, lines_removed, fate) = match outcome {
        Ok(FileOutcome::Pruned {
            lines_removed,
            bytes_before,
            bytes_after,
            method,
            ..
        }) => (
            *bytes_before,
            *bytes_after,
            *lines_removed,
            LogFate::Pruned(*method),
        ),
        Ok(FileOutcome::Unchanged { len }) => (*len, *len, 0, LogFate::Unchanged),
        Ok(FileOutcome::Skipped(reason)) => {
            return skipped(path.to_owned(), walked_len, holders, reason.clone());
        }
        Err(err) => {
            // What the report says of it: the failure with what to do, or
            // why an error was no failure (the log vanished).
            let reason = match crate::prune::could_not_prune(err) {
                Some(failure) => format!("could not prune: {failure}"),
                None if err.kind() == io::ErrorKind::NotFound => {
                    "vanished while we pruned it".to_string()
                }
                None => format!("error: {err}"),
            };
            return skipped(path.to_owned(), walked_len, holders, reason);
        }
    };
    LogFacts {
        path: path.to_owned(),
        size_before,
        size_after,
        lines_removed,
        oldest_entry: oldest,
        holders,
        fate,
    }
}

/// The facts of a log left alone.
pub(super) fn skipped(
    path: String,
    size: u64,
    holders: Option<Vec<Holder>>,
    reason: String,
) -> LogFacts {
    LogFacts {
        path,
        size_before: size,
        size_after: size,
        lines_removed: 0,
        oldest_entry: None,
        holders,
        fate: LogFate::Skipped(reason),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_stamped_line_after_a_preamble_is_the_first_entry() {
        let head = b"nohup: ignoring input\n  at frame 3\n[2026-11-28T10:00:00Z] start\n[2026-11-28T09:00:00Z] older, later\n";
        assert_eq!(first_stamp_in(head), Some(*b"2026-11-28T10:00:00Z"));
        assert_eq!(first_stamp_in(b"no entries\n"), None);
        assert_eq!(first_stamp_in(b"[2026-02-30T10:00:00Z] not a date\n"), None);
    }

    #[test]
    fn a_stamp_is_its_instant_in_milliseconds() {
        assert_eq!(stamp_ms(b"1970-01-01T00:00:01Z"), Some(1000));
        assert_eq!(stamp_ms(b"2026-11-28T10:00:00Z"), Some(1_795_860_000_000));
    }

    #[test]
    fn first_entry_stamp_reads_only_the_head() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("a.log");
        let mut text = "x".repeat(HEAD_LEN);
        text.push_str("\n[2026-11-28T10:00:00Z] too far\n");
        std::fs::write(&path, &text).expect("write");
        assert_eq!(first_entry_stamp(&path), None);
        std::fs::write(&path, "[2026-11-28T10:00:00Z] near\n").expect("write");
        assert_eq!(first_entry_stamp(&path), Some(*b"2026-11-28T10:00:00Z"));
        assert_eq!(first_entry_stamp(&dir.path().join("missing.log")), None);
    }

    #[test]
    fn without_file_facts_is_scoped() {
        assert!(collecting());
        without_file_facts(|| assert!(!collecting()));
        assert!(collecting());
    }
}
