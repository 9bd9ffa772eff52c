//! What a run learns about each log on its way ([`crate::prune::LogFacts`]),
//! and the few cheap looks that complete it for the files a view lists.
//!
//! The facts cost no extra read: sizes, lines removed, holders and the method
//! come from the prune itself, the oldest entry from what the filter verified
//! (the log index). Only for a log the run did not read whole (held by an
//! appender, skipped) does [`first_entry_stamp`] look at its first few KiB,
//! and only for the logs a view shows.

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
