//! Where a log's entries start, every few MiB, and how old each stretch is,
//! so a later run reads only the stretches that may have expired.
//!
//! A filter pass notes, at the first new timestamp at or after every
//! [`SPACING`] bytes of the file, a [`Mark`]: the entry's offset and stamp,
//! and the earliest stamp among the entries from there to the next mark.
//! The log index keeps them ([`super::index::Verified`]). When the cutoff
//! has passed a log's earliest entry, the stretch from the first mark whose
//! entries (and all after it) are still current up to the verified end
//! needs no reading: its lines are kept, whatever the filter would find
//! ([`Checkpoints::current_run`]). Only the head before it and what was
//! appended since are read.
//!
//! Why this is safe: the skipped bytes are never changed, only the head
//! before them, which is read. The run starts at a mark that must still be
//! an entry start with the recorded stamp after a newline, and end at the
//! verified end, whose fingerprint must still match
//! ([`super::index::Verified::plan`]); both are checked again under the
//! in-place prune's lease. An earliest stamp that is too low (a stretch read
//! past, as in [`super::filter::FilterStats::before_drop_after_current`])
//! only makes a later run read more.

use std::fs::File;
use std::os::unix::fs::FileExt;

use serde::{Deserialize, Serialize};

use super::fingerprint::fingerprint;
use super::stamp::{LineKind, STAMP_PREFIX_LEN, classify};
use crate::prune::Cutoff;

/// Bytes between marks: a 1 GiB log has 256 (12 KiB in the index), and a
/// run reads at most this much of the current part beyond its head. The
/// unit tests use small files, so for them marks come every KiB.
pub const SPACING: u64 = if cfg!(test) { 1 << 10 } else { 4 << 20 };

/// An entry start noted by a filter pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mark {
    /// Offset of the entry's first byte.
    pub offset: u64,
    /// The entry's own stamp: the line there must still start with it.
    pub stamp: [u8; 20],
    /// The earliest stamp among the entries from here to the next mark
    /// (or the end of what was read).
    pub earliest: [u8; 20],
}

/// The marks of one pass (or of passes joined end to end).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoints {
    /// The earliest stamp among entries read before the first mark: they
    /// belong to the stretch of whatever mark precedes this pass.
    leading: Option<[u8; 20]>,
    /// In order of offset.
    marks: Vec<Mark>,
}

/// The first grid offset after `offset`: where the next mark is due.
pub fn due_after(offset: u64) -> u64 {
    (offset / SPACING + 1) * SPACING
}

fn earlier(a: [u8; 20], b: [u8; 20]) -> [u8; 20] {
    a.min(b)
}

impl Checkpoints {
    /// Notes an entry stamped `stamp` starting at `offset`; a new mark if
    /// `offset` has reached `due` (then returns the next due offset).
    pub fn note(&mut self, offset: u64, stamp: [u8; 20], due: u64) -> u64 {
        if offset >= due {
            self.marks.push(Mark {
                offset,
                stamp,
                earliest: stamp,
            });
            return due_after(offset);
        }
        let slot = match self.marks.last_mut() {
            Some(mark) => &mut mark.earliest,
            None => self.leading.get_or_insert(stamp),
        };
        *slot = earlier(*slot, stamp);
        due
    }

    /// These marks followed by those of a pass that went on where this one
    /// stopped (at an entry start): its leading entries join our last stretch.
    pub fn append(&mut self, later: Checkpoints) {
        if let Some(stamp) = later.leading {
            let slot = match self.marks.last_mut() {
                Some(mark) => &mut mark.earliest,
                None => self.leading.get_or_insert(stamp),
            };
            *slot = earlier(*slot, stamp);
        }
        self.marks.extend(later.marks);
    }

    /// Checkpoints as noted elsewhere (a test's reference model).
    #[cfg(test)]
    pub(crate) fn from_parts(leading: Option<[u8; 20]>, marks: Vec<Mark>) -> Self {
        Self { leading, marks }
    }

    /// The marks without the leading entries' stamp: what the index keeps.
    /// (Entries before the first mark are read by every run, so that stamp
    /// is never used; without it a small log's record stays two bytes.)
    pub fn marks_only(self) -> Checkpoints {
        Checkpoints {
            leading: None,
            marks: self.marks,
        }
    }

    /// The marks, in order of offset.
    pub fn marks(&self) -> &[Mark] {
        &self.marks
    }

    /// The marks at or after `from`, moved `by` bytes towards the start:
    /// what they are after the bytes before `from` lost `by` bytes (an
    /// in-place prune collapsed the head). Entries before `from` are gone,
    /// so nothing leads.
    pub fn after_collapse(&self, from: u64, by: u64) -> Checkpoints {
        Checkpoints {
            leading: None,
            marks: self
                .marks
                .iter()
                .filter(|mark| mark.offset >= from)
                .map(|mark| Mark {
                    offset: mark.offset - by,
                    ..*mark
                })
                .collect(),
        }
    }

    /// The marks before `end`: what a pass knows of the part before it.
    pub fn before(&self, end: u64) -> Checkpoints {
        Checkpoints {
            leading: self.leading,
            ..self.within(0, end)
        }
    }

    /// The marks in `[from, to)`, with nothing leading: the part of a run
    /// that a pass skipped, to be put back between the parts it read.
    pub fn within(&self, from: u64, to: u64) -> Checkpoints {
        Checkpoints {
            leading: None,
            marks: self
                .marks
                .iter()
                .filter(|mark| (from..to).contains(&mark.offset))
                .copied()
                .collect(),
        }
    }

    /// The longest stretch up to `end` whose entries are all current under
    /// `cutoff`: from the first mark after which no earliest stamp has
    /// expired. `None` if even the last stretch holds an expired entry.
    /// `end_fingerprint` is the index's hash of the bytes before `end`.
    pub fn current_run(
        &self,
        end: u64,
        end_fingerprint: u64,
        cutoff: &Cutoff,
    ) -> Option<CurrentRun> {
        let mut run: Option<CurrentRun> = None;
        for mark in self
            .marks
            .iter()
            .rev()
            .skip_while(|mark| mark.offset >= end)
        {
            if cutoff.expires_log_stamp(&mark.earliest) {
                break;
            }
            let earliest = run
                .as_ref()
                .map_or(mark.earliest, |run| earlier(run.earliest, mark.earliest));
            run = Some(CurrentRun {
                from: mark.offset,
                stamp: mark.stamp,
                to: end,
                end_fingerprint,
                earliest,
                marks: Checkpoints::default(),
            });
        }
        run.map(|run| CurrentRun {
            marks: self.within(run.from, end),
            ..run
        })
    }
}

/// A stretch `[from, to)` of a log that an earlier pass read, whose entries
/// are all current: a scan may take its lines as kept without reading them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CurrentRun {
    /// An entry start (a mark).
    pub from: u64,
    /// The stamp of the entry at `from`.
    pub stamp: [u8; 20],
    /// The end of a complete line: the verified end.
    pub to: u64,
    /// The index's hash of the bytes before `to`.
    pub end_fingerprint: u64,
    /// The earliest stamp in the stretch (not expired).
    pub earliest: [u8; 20],
    /// The checkpoints in the stretch: a pass that skips it puts them back.
    pub marks: Checkpoints,
}

impl CurrentRun {
    /// The run's checkpoints, as a pass over it would hand them on: if the
    /// run does not start at a mark of its own (it does when it comes from
    /// the index), its entries before its first mark belong to the stretch
    /// before it, which gets the run's earliest stamp as a bound.
    pub fn marks_from_start(&self) -> Checkpoints {
        let mut marks = self.marks.clone();
        if marks.marks.first().map(|mark| mark.offset) != Some(self.from) {
            marks.leading = Some(
                marks
                    .leading
                    .map_or(self.earliest, |l| earlier(l, self.earliest)),
            );
        }
        marks
    }

    /// Whether `file` still has an entry start with the recorded stamp at
    /// [`CurrentRun::from`], current under `cutoff`, and a line end just
    /// before [`CurrentRun::to`], whose bytes hash as they did.
    pub fn still_holds(&self, file: &File, cutoff: &Cutoff) -> bool {
        if self.from == 0 || self.to <= self.from {
            return false;
        }
        let mut start = [0; STAMP_PREFIX_LEN + 1];
        let mut end = [0; 1];
        file.read_exact_at(&mut start, self.from - 1).is_ok()
            && file.read_exact_at(&mut end, self.to - 1).is_ok()
            && start[0] == b'\n'
            && end[0] == b'\n'
            && classify(&start[1..], cutoff) == LineKind::Current(self.stamp)
            && fingerprint(file, self.to).ok() == Some(self.end_fingerprint)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamp(s: &str) -> [u8; 20] {
        s.as_bytes().try_into().expect("20 bytes")
    }

    fn cutoff() -> Cutoff {
        Cutoff::at("2026-11-28T06:00:00Z".parse().expect("valid"))
    }

    #[test]
    fn the_current_run_starts_after_the_last_stretch_with_an_expired_entry() {
        let old = stamp("2026-11-28T05:00:00Z");
        let new = stamp("2026-11-28T07:00:00Z");
        let mut points = Checkpoints::default();
        let mut due = SPACING;
        // Leading, then marks at 1 KiB (expired), 2 KiB (an expired entry
        // late in its stretch), 3 KiB and 4 KiB (current).
        due = points.note(10, old, due);
        due = points.note(SPACING, old, due);
        due = points.note(2 * SPACING + 5, new, due);
        due = points.note(2 * SPACING + 100, old, due);
        due = points.note(3 * SPACING, new, due);
        due = points.note(4 * SPACING + 1, new, due);
        assert_eq!(due, 5 * SPACING);
        let offsets: Vec<u64> = points.marks().iter().map(|m| m.offset).collect();
        assert_eq!(
            offsets,
            [SPACING, 2 * SPACING + 5, 3 * SPACING, 4 * SPACING + 1]
        );
        assert_eq!(points.marks()[1].earliest, old);
        assert_eq!(points.marks()[1].stamp, new);
        let run = points
            .current_run(5 * SPACING, 0, &cutoff())
            .expect("a run");
        assert_eq!(
            (run.from, run.to, run.stamp, run.earliest),
            (3 * SPACING, 5 * SPACING, new, new)
        );
        // Nothing current from the last mark on: no run.
        let later = Cutoff::at("2026-11-28T08:00:00Z".parse().expect("valid"));
        assert_eq!(points.current_run(5 * SPACING, 0, &later), None);
        // A mark at or past the end is not part of the run.
        let run = points
            .current_run(4 * SPACING + 1, 0, &cutoff())
            .expect("a run");
        assert_eq!((run.from, run.to), (3 * SPACING, 4 * SPACING + 1));
    }

    #[test]
    fn a_later_pass_joins_its_leading_entries_to_the_last_stretch() {
        let old = stamp("2026-11-28T05:00:00Z");
        let new = stamp("2026-11-28T07:00:00Z");
        let mut first = Checkpoints::default();
        first.note(SPACING, new, SPACING);
        let mut second = Checkpoints::default();
        let due = second.note(SPACING + 10, old, due_after(SPACING + 10));
        second.note(2 * SPACING, new, due);
        first.append(second);
        assert_eq!(first.marks().len(), 2);
        assert_eq!(first.marks()[0].earliest, old, "the leading entry joined");
        assert_eq!(
            first.current_run(3 * SPACING, 0, &cutoff()).map(|r| r.from),
            Some(2 * SPACING)
        );
        let moved = first.after_collapse(2 * SPACING, 100);
        assert_eq!(moved.marks().len(), 1);
        assert_eq!(moved.marks()[0].offset, 2 * SPACING - 100);
        assert_eq!(first.within(0, 2 * SPACING).marks().len(), 1);
    }
}
