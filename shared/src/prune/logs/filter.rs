//! The log rule, as a streaming filter over bytes.
//!
//! A line whose first bytes are `[YYYY-MM-DDTHH:MM:SSZ]` (a real date and
//! time) starts an entry; lines without one continue the entry above and share
//! its fate; lines before the first entry are kept. Only the first 22 bytes of
//! a line matter, so memory is one read buffer whatever the line length, and
//! bytes are never decoded: binary junk and invalid UTF-8 pass through as is.

use std::io::{self, Read};

use super::checkpoints::{Checkpoints, CurrentRun, due_after};
use super::newlines::Newlines;
use super::stamp::{LineKind, STAMP_PREFIX_LEN, classify};
use crate::prune::Cutoff;
use crate::prune::cutoff::StampKey;

/// Read buffer size: large reads for throughput, bounded memory.
const BUFFER_LEN: usize = 1 << 20;

/// The smallest read buffer: far more than a line prefix, and small enough
/// to come from the allocator's free lists, file after file.
const MIN_BUFFER_LEN: usize = 16 << 10;

/// A read buffer that holds `remaining` bytes in one read, within bounds.
fn buffer_len_for(remaining: u64) -> usize {
    usize::try_from(remaining.saturating_add(1))
        .unwrap_or(BUFFER_LEN)
        .clamp(MIN_BUFFER_LEN, BUFFER_LEN)
}

/// What a filter pass saw and did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FilterStats {
    /// Bytes read from the source.
    pub bytes_in: u64,
    /// Bytes kept (written, or that would be).
    pub bytes_out: u64,
    /// Lines dropped.
    pub lines_removed: u64,
    /// Offset of the first dropped byte, if any line was dropped.
    pub first_drop: Option<u64>,
    /// The earliest timestamp among kept entries: until the cutoff passes
    /// it, the kept content has nothing to prune.
    pub earliest_kept: Option<[u8; 20]>,
    /// Input offset just after the last complete line seen.
    pub input_complete: u64,
    /// Output length just after the last complete kept line.
    pub output_complete: u64,
    /// Offset of the first line that starts a current entry: where an
    /// expired head ends.
    pub first_current: Option<u64>,
    /// Offset of the first line dropped after [`FilterStats::first_current`]:
    /// if any, the expired lines do not form a head.
    pub drop_after_current: Option<u64>,
    /// The stamp of the last expired entry seen (an in-place prune stamps its
    /// padding line with it, so the padding is itself expired).
    pub last_expired: Option<[u8; 20]>,
    /// Lines dropped before [`FilterStats::first_current`], once it is
    /// known: the expired head's lines.
    pub head_lines: Option<u64>,
    /// The stamp of the last expired entry before
    /// [`FilterStats::first_current`], once that is known: an in-place
    /// prune stamps its padding line with the head's last removed entry.
    pub head_last_expired: Option<[u8; 20]>,
    /// Entry starts every few MiB and the age of the entries after each,
    /// for the log index ([`super::checkpoints`]).
    pub checkpoints: Checkpoints,
}

impl FilterStats {
    /// The statistics of one pass over a whole file, from two passes over
    /// its two parts, so both can be read at once on two cores. `self` is the
    /// pass over `[0, split)`, `later` the pass of a filter resumed at `split`
    /// ([`LineFilter::resume_at`]) over the rest. `split` must start a
    /// timestamped line, so the later part's first line decides its own fate
    /// whatever entry the earlier part ended in.
    pub fn joined(self, later: FilterStats, split: u64) -> FilterStats {
        let earliest_kept = match (self.earliest_kept, later.earliest_kept) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let drop_after_current = self.drop_after_current.or(if self.first_current.is_some() {
            later.first_drop
        } else {
            later.drop_after_current
        });
        let mut checkpoints = self.checkpoints;
        checkpoints.append(later.checkpoints);
        FilterStats {
            bytes_in: later.bytes_in,
            bytes_out: self.bytes_out + (later.bytes_out - split),
            lines_removed: self.lines_removed + later.lines_removed,
            first_drop: self.first_drop.or(later.first_drop),
            earliest_kept,
            input_complete: later.input_complete,
            output_complete: self.output_complete + (later.output_complete - split),
            first_current: self.first_current.or(later.first_current),
            drop_after_current,
            last_expired: later.last_expired.or(self.last_expired),
            head_lines: self
                .head_lines
                .or(later.head_lines.map(|lines| self.lines_removed + lines)),
            head_last_expired: match (self.head_lines, later.head_lines) {
                (Some(_), _) => self.head_last_expired,
                (None, Some(_)) => later.head_last_expired.or(self.last_expired),
                (None, None) => None,
            },
            checkpoints,
        }
    }

    /// These statistics of a pass that stopped at `run.from`, carried on
    /// over `run` as the filter would have, had it read it: all its lines
    /// kept, all its entries current. A filter resumed after it
    /// ([`LineFilter::resume_after`]) reads on.
    pub fn then_current(mut self, run: &CurrentRun) -> FilterStats {
        if self.first_current.is_none() {
            self.first_current = Some(run.from);
            self.head_lines = Some(self.lines_removed);
            self.head_last_expired = self.last_expired;
        }
        self.earliest_kept = Some(
            self.earliest_kept
                .map_or(run.earliest, |e| e.min(run.earliest)),
        );
        self.bytes_in = run.to;
        self.input_complete = run.to;
        self.bytes_out += run.to - run.from;
        self.output_complete = self.bytes_out;
        self.checkpoints.append(run.marks_from_start());
        self
    }

    /// What a pass that found [`FilterStats::drop_after_current`] knows of
    /// the file before that line, so a rewrite can copy it without reading
    /// it again: `[0, first_drop)` kept, then the expired head up to
    /// `first_current`, then current lines only. `None` without such a drop.
    ///
    /// `earliest_kept` is the whole pass's, which may have read beyond the
    /// drop: for the part alone a lower bound (a later run re-reads sooner,
    /// never later), and exact again once a filter resumed there with
    /// [`LineFilter::resume_after`] has read the rest of the file.
    pub fn before_drop_after_current(&self) -> Option<FilterStats> {
        let end = self.drop_after_current?;
        let first_current = self.first_current?;
        let first_drop = self.first_drop?;
        // Drops before the first current entry are the head; none follow it before `end`.
        let head = (first_drop < first_current).then_some(first_drop);
        let kept = match head {
            Some(first_drop) => first_drop + (end - first_current),
            None => end,
        };
        Some(FilterStats {
            bytes_in: end,
            bytes_out: kept,
            lines_removed: self.head_lines.unwrap_or(0),
            first_drop: head,
            earliest_kept: self.earliest_kept,
            input_complete: end,
            output_complete: kept,
            first_current: Some(first_current),
            drop_after_current: None,
            last_expired: self.head_last_expired,
            head_lines: self.head_lines,
            head_last_expired: self.head_last_expired,
            checkpoints: self.checkpoints.before(end),
        })
    }
}

/// Where kept bytes go. `start` is called once, at the first dropped line,
/// with the length of the untouched prefix (which the sink may copy in-kernel);
/// before that nothing is written, so a file with nothing to prune costs one read.
pub trait KeptSink {
    /// The first `prefix_len` bytes of the source are kept verbatim.
    fn start(&mut self, prefix_len: u64) -> io::Result<()>;
    /// Kept bytes after the prefix, in order.
    fn write(&mut self, bytes: &[u8]) -> io::Result<()>;
}

/// A sink that only counts: dry runs and "is there anything to prune?".
#[derive(Debug, Default)]
pub struct CountingSink;

impl KeptSink for CountingSink {
    fn start(&mut self, _prefix_len: u64) -> io::Result<()> {
        Ok(())
    }
    fn write(&mut self, _bytes: &[u8]) -> io::Result<()> {
        Ok(())
    }
}

/// A 22-byte line prefix as two integers (bytes 0..16 and 14..22), so that
/// "same prefix as the last line" is two compares, not a `memcmp` call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct PrefixKey(u128, u64);

impl PrefixKey {
    #[inline]
    fn of(prefix: &[u8; STAMP_PREFIX_LEN]) -> Self {
        let (head, _) = prefix.split_first_chunk::<16>().unwrap_or((&[0; 16], &[]));
        let (_, tail) = prefix.split_last_chunk::<8>().unwrap_or((&[], &[0; 8]));
        Self(u128::from_ne_bytes(*head), u64::from_ne_bytes(*tail))
    }
}

/// The filter's position in the line structure, kept across reads so a
/// writer's new lines can be filtered after we reached the old end of file.
#[derive(Debug)]
pub struct LineFilter {
    cutoff: Cutoff,
    buf: Vec<u8>,
    /// Fate of the line we are in the middle of; `None` at a line start.
    in_line: Option<bool>,
    /// Fate of the current entry (for continuation lines); `None` before the first entry.
    entry_kept: Option<bool>,
    stats: FilterStats,
    started: bool,
    /// Bytes carried over at a line start whose prefix is not complete yet.
    carry: usize,
    /// The verdict on the last timestamp seen.
    /// The last timestamp's line prefix: log lines come in bursts within
    /// one second, and a line repeating it shares its entry's fate with no
    /// validation or comparison (the filter's hottest path). Continuation
    /// lines never replace it.
    recent: Option<PrefixKey>,
    /// `stats.earliest_kept` as a key, for cheap comparison.
    earliest_key: Option<StampKey>,
    /// Where the next checkpoint is due ([`Checkpoints::note`]).
    due: u64,
}

impl LineFilter {
    /// A filter for one file, of any size.
    pub fn new(cutoff: Cutoff) -> Self {
        Self::build(cutoff, 0, BUFFER_LEN)
    }

    /// A filter for a file of about `len` bytes: a small file gets a small
    /// buffer (a zeroed 1 MiB per file would dominate a run over thousands
    /// of small logs). The file may still grow; reads just get more numerous.
    pub fn for_len(cutoff: Cutoff, len: u64) -> Self {
        Self::build(cutoff, 0, buffer_len_for(len))
    }

    /// A filter that starts at `offset`, a line boundary of a file of about
    /// `len` bytes whose content before `offset` is known to be kept (the
    /// source is positioned there).
    pub fn resume_at(cutoff: Cutoff, offset: u64, len: u64) -> Self {
        Self::build(cutoff, offset, buffer_len_for(len.saturating_sub(offset)))
    }

    /// A filter that goes on at `known.bytes_in`, a line start of a file
    /// of about `len` bytes, whose part before it a pass already filtered
    /// into `known` ([`FilterStats::before_drop_after_current`]): the
    /// statistics carry on from there, and if anything was dropped before
    /// it the sink has been started and given the kept bytes up to it.
    pub fn resume_after(cutoff: Cutoff, known: FilterStats, len: u64) -> Self {
        let offset = known.bytes_in;
        let mut filter = Self::build(cutoff, offset, buffer_len_for(len.saturating_sub(offset)));
        filter.started = known.first_drop.is_some();
        filter.entry_kept = match (known.first_current, known.first_drop) {
            (Some(_), _) => Some(true),
            (None, Some(_)) => Some(false),
            (None, None) => None,
        };
        filter.earliest_key = known.earliest_kept.as_ref().map(StampKey::of);
        filter.stats = known;
        filter
    }

    fn build(cutoff: Cutoff, offset: u64, buffer_len: usize) -> Self {
        let mut filter = Self {
            cutoff,
            buf: vec![0; buffer_len],
            in_line: None,
            entry_kept: None,
            stats: FilterStats::default(),
            started: false,
            carry: 0,
            recent: None,
            earliest_key: None,
            due: due_after(offset),
        };
        filter.stats.bytes_in = offset;
        filter.stats.bytes_out = offset;
        filter.stats.input_complete = offset;
        filter.stats.output_complete = offset;
        filter
    }

    /// What the filter has seen so far.
    pub fn stats(&self) -> &FilterStats {
        &self.stats
    }

    /// Reads `source` to its current end, sending kept bytes to `sink`.
    ///
    /// May be called again after the source grew: filtering resumes where it
    /// stopped. A final line without a newline is held back (up to 21 bytes)
    /// until [`LineFilter::finish`] if its timestamp is not complete yet.
    pub fn pump<R: Read + ?Sized, S: KeptSink + ?Sized>(
        &mut self,
        source: &mut R,
        sink: &mut S,
    ) -> io::Result<()> {
        loop {
            let read = match source.read(&mut self.buf[self.carry..]) {
                Ok(0) => return Ok(()),
                Ok(n) => n,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) => return Err(err),
            };
            self.stats.bytes_in += read as u64;
            let end = self.carry + read;
            self.carry = 0;
            let consumed = self.process(end, false, sink)?;
            if consumed < end {
                // An incomplete line prefix: move it to the front and read more.
                self.buf.copy_within(consumed..end, 0);
                self.carry = end - consumed;
            }
        }
    }

    /// Ends the file: a held-back short last line is classified as it is.
    pub fn finish<S: KeptSink + ?Sized>(&mut self, sink: &mut S) -> io::Result<FilterStats> {
        let end = self.carry;
        self.carry = 0;
        self.process(end, true, sink)?;
        Ok(self.stats.clone())
    }

    /// Processes `buf[..end]`; returns how far it got (less than `end` only
    /// when a line start's prefix is incomplete and more input may come).
    ///
    /// Millions of lines go through here: the per-line work is finding the
    /// line's end and, for a line that repeats the last timestamp (most of
    /// them), two integer compares; counters live in locals until the end.
    fn process<S: KeptSink + ?Sized>(
        &mut self,
        end: usize,
        at_eof: bool,
        sink: &mut S,
    ) -> io::Result<usize> {
        // Lent out so the line state can change while the bytes are read.
        let buf = std::mem::take(&mut self.buf);
        let processed = self.process_lines(&buf[..end], at_eof, sink);
        self.buf = buf;
        processed
    }

    /// [`LineFilter::process`] on the filled part of the buffer.
    fn process_lines<S: KeptSink + ?Sized>(
        &mut self,
        buf: &[u8],
        at_eof: bool,
        sink: &mut S,
    ) -> io::Result<usize> {
        let end = buf.len();
        let base = self.stats.bytes_in - (end as u64);
        let mut newlines = Newlines::new(buf);
        let mut pos = 0;
        let mut kept_from: Option<usize> = None;
        let mut bytes_out = self.stats.bytes_out;
        let mut lines_removed = self.stats.lines_removed;
        // End of the last complete line, and the output length there.
        let mut complete_at: Option<(usize, u64)> = None;
        // The last timestamp's prefix and the current entry's fate, in
        // registers. No stamp yet: a key only a line of NUL bytes matches,
        // and such a line is a continuation anyway.
        let mut recent = self.recent.unwrap_or(PrefixKey(0, 0));
        let mut entry_keep = self.entry_kept.unwrap_or(true);
        while pos < end {
            let (line_end, complete) = match newlines.next() {
                Some(i) => (i + 1, true),
                None => (end, false),
            };
            let at_start = self.in_line.is_none();
            let keep = match self.in_line.take() {
                Some(keep) => keep,
                None => match buf[pos..].first_chunk::<STAMP_PREFIX_LEN>() {
                    // Either it cannot be a timestamp (a continuation of the
                    // entry above), or it repeats the last timestamp (same
                    // second, same fate, every statistic already saw it).
                    // Either way the line shares the current entry's fate,
                    // and a dropped one is neither the first drop nor the
                    // first after a current entry: its entry's line was.
                    // Computed without branching: the two kinds interleave
                    // at random and a mispredicted branch costs more than
                    // the compares.
                    Some(prefix)
                        if (prefix[0] != b'[')
                            | (prefix[21] != b']')
                            | (PrefixKey::of(prefix) == recent) =>
                    {
                        entry_keep
                    }
                    _ => {
                        if end - pos < STAMP_PREFIX_LEN && !at_eof && !complete {
                            break;
                        }
                        let prefix = &buf[pos..end.min(pos + STAMP_PREFIX_LEN)];
                        let keep = self.classify_new(prefix, base + pos as u64);
                        if self.stats.head_lines.is_none() && self.stats.first_current.is_some() {
                            self.stats.head_lines = Some(lines_removed);
                            self.stats.head_last_expired = self.stats.last_expired;
                        }
                        recent = self.recent.unwrap_or(PrefixKey(0, 0));
                        entry_keep = self.entry_kept.unwrap_or(true);
                        if !keep && !self.started {
                            self.started = true;
                            self.stats.first_drop = Some(base + pos as u64);
                            sink.start(base + pos as u64)?;
                        }
                        keep
                    }
                },
            };
            if keep {
                bytes_out += (line_end - pos) as u64;
                if self.started && kept_from.is_none() {
                    kept_from = Some(pos);
                }
            } else if let Some(from) = kept_from.take() {
                sink.write(&buf[from..pos])?;
            }
            if complete {
                complete_at = Some((line_end, bytes_out));
            } else {
                self.in_line = Some(keep);
            }
            // A dropped line counts once, at its start.
            if !keep && at_start {
                lines_removed += 1;
            }
            pos = line_end;
        }
        if let Some(from) = kept_from {
            sink.write(&buf[from..pos])?;
        }
        self.stats.bytes_out = bytes_out;
        self.stats.lines_removed = lines_removed;
        if let Some((line_end, output)) = complete_at {
            self.stats.input_complete = base + line_end as u64;
            self.stats.output_complete = output;
        }
        Ok(pos)
    }

    /// Classifies a line start whose prefix is not the last timestamp's,
    /// updating the statistics that depend on timestamps; returns whether
    /// the line is kept.
    fn classify_new(&mut self, prefix: &[u8], offset: u64) -> bool {
        let kind = classify(prefix, &self.cutoff);
        if let (Some(full), false) = (
            prefix.first_chunk::<STAMP_PREFIX_LEN>(),
            kind == LineKind::Continuation,
        ) {
            self.recent = Some(PrefixKey::of(full));
        }
        let keep = match kind {
            LineKind::Expired(stamp) => {
                self.due = self.stats.checkpoints.note(offset, stamp, self.due);
                self.entry_kept = Some(false);
                self.stats.last_expired = Some(stamp);
                false
            }
            LineKind::Current(stamp) => {
                self.due = self.stats.checkpoints.note(offset, stamp, self.due);
                self.entry_kept = Some(true);
                if self.stats.first_current.is_none() {
                    self.stats.first_current = Some(offset);
                }
                let key = StampKey::of(&stamp);
                if self.earliest_key.is_none_or(|earliest| key < earliest) {
                    self.earliest_key = Some(key);
                    self.stats.earliest_kept = Some(stamp);
                }
                true
            }
            LineKind::Continuation => self.entry_kept.unwrap_or(true),
        };
        if !keep && self.stats.first_current.is_some() && self.stats.drop_after_current.is_none() {
            self.stats.drop_after_current = Some(offset);
        }
        keep
    }
}

#[cfg(test)]
pub(crate) mod tests;
