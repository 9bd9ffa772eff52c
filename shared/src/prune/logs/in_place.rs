//! Pruning a log in place: its expired head is cut off, the file never moves.
//!
//! Two callers:
//! - [`prune_head`]: a log held open by an O_APPEND writer. `nohup daemon >>
//!   x.log` keeps its descriptor for life; a rename would send all its later
//!   lines into an unlinked file (v0's bug).
//! - [`prune_unheld`]: a log nobody holds, whose expired lines form a head
//!   (no expired entry after the first current one) of at least a block. No
//!   copy, no fsync of a new file: the fastest method there is, and the only
//!   one that works on a full disk.
//!
//! Both remove the head with `fallocate(COLLAPSE_RANGE)`, which the kernel
//! performs under the inode lock: an append lands either before the
//! collapse (and is shifted down with the rest) or after it (at the new end).
//! The writer never notices; no NUL bytes, nothing duplicated or lost.
//!
//! Collapse works in whole filesystem blocks. The expired head rarely ends on
//! a block boundary, so the bytes between the last boundary and the first
//! kept line are overwritten first with the lines kept before the first entry
//! (`nohup: ignoring input`) and one padding line stamped with the last removed
//! entry's (expired) time, which a later run removes in turn. Only the head can
//! go this way: expired lines after the first current entry stay until the
//! writer lets go of the file (held), or the file is rewritten (unheld).
//!
//! **Writers that appear mid-way (unheld logs).** Nobody held the file at the
//! run's scan for holders, but v0 writes with `>> log` (open, append, close)
//! at any moment, and a positional writer (`> log`, `exec 3<>log`) could open
//! it too. A positional write between our decision and the collapse could
//! land in bytes we are about to cut, or a truncation could make our
//! overwrite leave a hole. So [`prune_unheld`] takes a write lease before it
//! reads the first byte and holds it until after the collapse: the kernel
//! grants it only while no other process has the file open (else we rewrite,
//! as before), and any `open()` or `truncate()` by another process while we
//! hold it waits until we release it. Such a process waits at most
//! `fs.lease-break-time` (45 s by default); we see that one is waiting (the
//! lease is "broken") and write (the overwrite, then the collapse) only while
//! it has waited less than half of that time, else we put back what we wrote
//! and leave the file to the rewrite. So no other process has the file open
//! from before our first read until after the collapse: nothing it does can
//! interleave with ours. An O_APPEND writer that waited then appends to the
//! pruned file; its line is neither lost nor torn.
//!
//! Crash window: between the overwrite and the collapse (two syscalls) a crash
//! leaves the expired head partly replaced by a second copy of the pre-entry
//! lines and the padding line, both after expired lines, so both are expired
//! to the log rule; no kept entry is ever touched (RELIABILITY.md).

use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::checkpoints::CurrentRun;
use super::filter::{CountingSink, FilterStats, LineFilter};
use super::index::Verified;
use super::method::IN_PLACE_FROM;
use super::newlines::Newlines;
use super::padding::{MIN_PADDING, padding_line};
use super::rewrite::KnownStart;
use super::stamp::{LineKind, STAMP_PREFIX_LEN, classify};
use crate::platform::{self, Lease};
use crate::prune::Cutoff;

/// Lines before the first entry are rewritten as part of the head; more than this is refused.
const HEAD_MAX: u64 = 1 << 20;

/// What an in-place prune did.
#[derive(Debug, PartialEq, Eq)]
pub enum InPlace {
    /// Nothing expired at the head (or less than a block of it).
    Nothing,
    /// The head was collapsed.
    Collapsed {
        /// Lines removed (the padding line not counted).
        lines_removed: u64,
        /// Size when we started.
        bytes_before: u64,
        /// Bytes removed from the file.
        bytes_removed: u64,
    },
    /// In-place pruning is not possible here; the reason says why.
    Refused(String),
}

/// The expired head of a log, as found by [`scan_head`].
#[derive(Debug, Default, PartialEq, Eq)]
struct Head {
    /// Bytes before the first timestamped line (kept).
    preamble: Vec<u8>,
    /// End of the expired run: offset of the first kept entry, or of an unfinished last line.
    expired_end: u64,
    /// Lines in the expired run.
    lines: u64,
    /// The last expired entry's stamp, reused for the padding line.
    last_stamp: Option<[u8; 20]>,
}

/// Collapses the expired head of `path` while its appender keeps writing.
pub fn prune_head(path: &Path, cutoff: Cutoff) -> io::Result<InPlace> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)?;
    if !platform::supports_collapse(&file) {
        return Ok(InPlace::Refused(format!(
            "held open by an appender {}; rewriting it would lose the writer's next lines",
            platform::WHY_NO_COLLAPSE
        )));
    }
    let bytes_before = file.metadata()?.len();
    let head = match scan_head(&file, cutoff)? {
        Ok(head) => head,
        Err(refusal) => return Ok(InPlace::Refused(refusal)),
    };
    let Some(stamp) = head.last_stamp else {
        return Ok(InPlace::Nothing);
    };
    let block = platform::block_size(&file)?;
    let collapsed = match collapse_expired_head(
        &file,
        &head.preamble,
        head.expired_end,
        head.lines,
        &stamp,
        block,
        &|| true,
    )? {
        Collapse::TooSmall => return Ok(InPlace::Nothing),
        Collapse::Failed(reason) => return Ok(InPlace::Refused(reason)),
        Collapse::Done {
            bytes_removed,
            len_before,
        } => (bytes_removed, len_before),
    };
    // The writer kept appending while we scanned: the size just before the collapse counts.
    Ok(InPlace::Collapsed {
        lines_removed: head.lines,
        bytes_before: collapsed.1.max(bytes_before),
        bytes_removed: collapsed.0,
    })
}

/// What [`prune_unheld`] did with a log nobody holds open.
#[derive(Debug)]
pub enum Unheld {
    /// Nothing expired: the file was only read.
    Nothing {
        /// Its size.
        len: u64,
        /// What this read verified, for the next run.
        verified: Verified,
    },
    /// The expired head was collapsed in place.
    Collapsed {
        /// Lines removed (the padding line not counted).
        lines_removed: u64,
        /// Size before.
        bytes_before: u64,
        /// Bytes removed from the file.
        bytes_removed: u64,
        /// What the file now holds, verified for the next run (our padding
        /// line is not counted as an entry: it goes with the next head).
        verified: Verified,
    },
    /// Not pruned in place, and nothing was written; the reason says why,
    /// and the caller rewrites the file instead.
    Rewrite(String),
    /// An expired entry follows a current one, so only a rewrite prunes
    /// it; nothing was written. What the scan found before that entry is
    /// handed on, so the rewrite does not read it again.
    NotAHead {
        /// Why, with the two offsets.
        reason: String,
        /// The scanned part up to the expired entry.
        known: KnownStart,
    },
}

/// How long we retry the lease while a short-lived writer (`echo >> x.log`)
/// has the file open for a moment.
const LEASE_RETRY: Duration = Duration::from_millis(50);

/// How much of the file one read round covers before we look whether an
/// expired entry after a current one already decided for a rewrite.
const SCAN_ROUND: u64 = 16 << 20;

/// Prunes a log that nobody holds open by collapsing its expired head in
/// place, when that is possible and safe; otherwise says why not, having
/// written nothing, so the caller can rewrite it.
///
/// Possible: the filesystem collapses ranges, the expired lines form a head
/// (no expired entry after the first current one), and at least one block
/// of it can go. Safe: a write lease is held from before the first byte is
/// read until after the collapse, so no other process has the file open
/// while we decide and write; one that opens it meanwhile (`echo >> x.log`,
/// or a positional writer) waits in `open()` until we are done. The kernel
/// lets it wait at most `fs.lease-break-time` (45 s by default); we write
/// only while we know it has waited less than half of that, so the writes
/// and the collapse finish before it can get in (the module doc's argument).
///
/// `current`: a stretch the log index vouches for, all current entries up
/// to the verified end; if it still holds under the lease, it is not read.
pub fn prune_unheld(
    path: &Path,
    cutoff: Cutoff,
    current: Option<&CurrentRun>,
) -> io::Result<Unheld> {
    prune_unheld_with(path, cutoff, current, &platform::lease_break_time, &|| {})
}

/// [`prune_unheld`] with the kernel's lease-break time given (asked for
/// only once a lease is held: most logs are small and never get one), and
/// `after_scan` run between the read and the first write (tests make a
/// writer appear there).
fn prune_unheld_with(
    path: &Path,
    cutoff: Cutoff,
    current: Option<&CurrentRun>,
    lease_break_time: &dyn Fn() -> Duration,
    after_scan: &dyn Fn(),
) -> io::Result<Unheld> {
    if std::fs::symlink_metadata(path)?.len() < IN_PLACE_FROM {
        return Ok(Unheld::Rewrite(
            "rewritten: a small log, whose copy costs less than an in-place prune's two syncs"
                .into(),
        ));
    }
    let file = match OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
    {
        Ok(file) => file,
        Err(err) if err.kind() == io::ErrorKind::PermissionDenied => {
            return Ok(Unheld::Rewrite(format!(
                "rewritten: we may not write to it in place ({err})"
            )));
        }
        Err(err) => return Err(err),
    };
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(io::Error::other("not a regular file (any more)"));
    }
    if !platform::supports_collapse(&file) {
        return Ok(Unheld::Rewrite(format!(
            "rewritten: nobody holds it, but it is {}",
            platform::WHY_NO_COLLAPSE.trim_start_matches("and ")
        )));
    }
    let block = platform::block_size(&file)?;
    if meta.len() < block + MIN_PADDING {
        return Ok(Unheld::Rewrite(
            "rewritten: smaller than one filesystem block, the unit of an in-place prune".into(),
        ));
    }
    let deadline = Instant::now() + LEASE_RETRY;
    let lease = loop {
        if let Some(lease) = Lease::try_take(&file)? {
            break lease;
        }
        if Instant::now() >= deadline {
            return Ok(Unheld::Rewrite(
                "rewritten: another process has it open (a reader, or a writer that appeared since the scan for holders), so it is not changed in place under it".into(),
            ));
        }
        std::thread::sleep(Duration::from_millis(1));
    };
    // Nobody else had the file open when the lease was granted.
    let clear_at = std::cell::Cell::new(Instant::now());
    let half_break = lease_break_time() / 2;
    // Whether an opener that may have arrived since has waited under half
    // the break time: then we may still write before it gets in.
    let may_write = || {
        if !lease.broken() {
            clear_at.set(Instant::now());
            return true;
        }
        clear_at.get().elapsed() < half_break
    };

    // A head shorter than this cannot give a block back.
    let min_head = block + MIN_PADDING;
    // Checked under the lease: nobody can change the file from here on.
    let stats = match current.filter(|run| run.still_holds(&file, &cutoff)) {
        Some(run) => scan_around(&file, cutoff, min_head, run)?,
        None => scan_unheld(&file, cutoff, meta.len(), min_head)?,
    };
    if stats.first_current.is_some_and(|at| at < min_head) {
        // Stopped early: the head (if any) is too short, and the rewrite
        // reads the file anyway; reading it all here would double the cost.
        return Ok(Unheld::Rewrite(
            "rewritten: its expired lines, if any, do not start with a head of one filesystem block or more".into(),
        ));
    }
    let Some(first_drop) = stats.first_drop else {
        let verified = Verified::record(
            &file,
            &meta,
            stats.input_complete,
            stats.earliest_kept,
            stats.checkpoints,
        );
        return Ok(Unheld::Nothing {
            len: stats.bytes_in,
            verified,
        });
    };
    if let Some(at) = stats.drop_after_current {
        let reason = format!(
            "rewritten: an expired entry (byte {at}) follows a current one (byte {}), so the expired lines are not one head",
            stats.first_current.unwrap_or(0)
        );
        let Some(part) = stats.before_drop_after_current() else {
            return Ok(Unheld::Rewrite(reason));
        };
        // The rewrite takes its own lease, on this descriptor.
        drop(lease);
        return Ok(Unheld::NotAHead {
            reason,
            known: KnownStart { file, stats: part },
        });
    }
    if first_drop > HEAD_MAX {
        return Ok(Unheld::Rewrite(
            "rewritten: more than 1 MiB precedes its first timestamped line".into(),
        ));
    }
    let Some(stamp) = stats.last_expired else {
        return Ok(Unheld::Rewrite(
            "rewritten: internal: lines dropped without an expired entry".into(),
        ));
    };
    // With no current entry the head runs to the end of the file.
    let head_end = stats.first_current.unwrap_or(stats.bytes_in);
    let mut preamble = vec![0; usize::try_from(first_drop).unwrap_or(0)];
    file.read_exact_at(&mut preamble, 0)?;
    after_scan();
    if !may_write() {
        return Ok(Unheld::Rewrite(
            "rewritten: another process opened it while we read it, and has waited too long for us to write in place".into(),
        ));
    }
    let (bytes_removed, len_before) = match collapse_expired_head(
        &file,
        &preamble,
        head_end,
        stats.lines_removed,
        &stamp,
        block,
        &may_write,
    )? {
        Collapse::TooSmall => {
            return Ok(Unheld::Rewrite(
                "rewritten: its expired head is under one filesystem block, the unit of an in-place prune".into(),
            ));
        }
        Collapse::Failed(reason) => return Ok(Unheld::Rewrite(format!("rewritten: {reason}"))),
        Collapse::Done {
            bytes_removed,
            len_before,
        } => (bytes_removed, len_before),
    };
    // Still under the lease: nobody has appended; record what the file holds.
    let verified = Verified::record(
        &file,
        &file.metadata()?,
        stats.input_complete.max(head_end) - bytes_removed,
        stats.earliest_kept,
        stats.checkpoints.after_collapse(head_end, bytes_removed),
    );
    drop(lease);
    Ok(Unheld::Collapsed {
        lines_removed: stats.lines_removed,
        bytes_before: len_before,
        bytes_removed,
        verified,
    })
}

/// From this size on, a log nobody holds is scanned by two threads, each
/// over one half, when there are two cores: the scan is most of an in-place
/// prune's time (the collapse itself writes almost nothing).
/// The unit tests use small files, so for them most files count.
const TWO_THREADS_FROM: u64 = if cfg!(test) { 1 << 12 } else { 64 << 20 };

/// How far past the middle we look for a timestamped line to split at.
const SPLIT_SEARCH: usize = 1 << 20;

/// One filter pass over the whole file (each byte read once), stopped early
/// once a rewrite is decided: an expired entry after a current one, or a
/// current entry before `min_head` (no head of a block is possible). A large
/// file is read as two halves at once, split at a timestamped line, and the
/// two passes joined ([`FilterStats::joined`]).
///
/// The pass covers every byte before the expired entry it stops at (the
/// rewrite then copies them unread): the later half stops itself there, but
/// only the earlier half's finds stop the other.
fn scan_unheld(file: &File, cutoff: Cutoff, len: u64, min_head: u64) -> io::Result<FilterStats> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let split = if len >= TWO_THREADS_FROM && cores >= 2 {
        entry_start_after(file, len / 2, &cutoff)?
    } else {
        None
    };
    let stop = AtomicBool::new(false);
    let one_pass = || {
        let filter = LineFilter::for_len(cutoff, len);
        scan_part(file, filter, 0, u64::MAX, min_head, &stop, true)
    };
    let Some(split) = split else {
        return one_pass();
    };
    std::thread::scope(|scope| {
        let later = std::thread::Builder::new()
            .name("v0-prune-scan".into())
            .spawn_scoped(scope, || {
                let filter = LineFilter::resume_at(cutoff, split, len);
                scan_part(file, filter, split, u64::MAX, min_head, &stop, false)
            });
        // No thread to be had (a process or memory limit): one pass here.
        let Ok(later) = later else {
            return one_pass();
        };
        let filter = LineFilter::for_len(cutoff, split);
        let earlier = scan_part(file, filter, 0, split, min_head, &stop, true);
        let later = later
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("internal: the scanning thread panicked")));
        Ok(earlier?.joined(later?, split))
    })
}

/// Filters `[from, end)` of `file` (`end` past the end of file: to its end)
/// in rounds, and stops early once the part alone decides for a rewrite, or
/// the other part did (`stop`, which this part sets if `stops_others`).
fn scan_part(
    file: &File,
    mut filter: LineFilter,
    from: u64,
    end: u64,
    min_head: u64,
    stop: &AtomicBool,
    stops_others: bool,
) -> io::Result<FilterStats> {
    let mut reader = RangeReader {
        file,
        at: from,
        end,
    };
    loop {
        let before = filter.stats().bytes_in;
        filter.pump(&mut (&mut reader).take(SCAN_ROUND), &mut CountingSink)?;
        let stats = filter.stats();
        if stats.drop_after_current.is_some() || stats.first_current.is_some_and(|at| at < min_head)
        {
            if stops_others {
                stop.store(true, Ordering::Relaxed);
            }
            return Ok(stats.clone());
        }
        if stop.load(Ordering::Relaxed) {
            return Ok(stats.clone());
        }
        if filter.stats().bytes_in == before {
            break;
        }
    }
    filter.finish(&mut CountingSink)
}

/// [`scan_unheld`] for a file whose `run` the log index vouches for: the
/// part before it is read, then (unless that part decided already) the run
/// is taken as the filter would have found it, and the rest is read.
fn scan_around(
    file: &File,
    cutoff: Cutoff,
    min_head: u64,
    run: &CurrentRun,
) -> io::Result<FilterStats> {
    let stop = AtomicBool::new(false);
    let filter = LineFilter::for_len(cutoff, run.from);
    let before = scan_part(file, filter, 0, run.from, min_head, &stop, false)?;
    if before.drop_after_current.is_some() || before.first_current.is_some_and(|at| at < min_head) {
        return Ok(before);
    }
    let len = file.metadata()?.len();
    let filter = LineFilter::resume_after(cutoff, before.then_current(run), len);
    scan_part(file, filter, run.to, u64::MAX, min_head, &stop, false)
}

/// The start of the first timestamped line after `offset` (within
/// [`SPLIT_SEARCH`] bytes), if any: a place to split a scan in two.
fn entry_start_after(file: &File, offset: u64, cutoff: &Cutoff) -> io::Result<Option<u64>> {
    let mut buf = vec![0; SPLIT_SEARCH];
    let mut reader = RangeReader {
        file,
        at: offset,
        end: u64::MAX,
    };
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
    }
    let buf = &buf[..filled];
    let start = Newlines::new(buf).map(|i| i + 1).find(|&at| {
        let prefix = &buf[at..buf.len().min(at + STAMP_PREFIX_LEN)];
        prefix.len() == STAMP_PREFIX_LEN && classify(prefix, cutoff) != LineKind::Continuation
    });
    Ok(start.map(|at| offset + at as u64))
}

/// Reads `[at, end)` of a file with positioned reads, so that two threads
/// can read one descriptor at once without sharing its offset.
struct RangeReader<'a> {
    file: &'a File,
    at: u64,
    end: u64,
}

impl Read for RangeReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let want = usize::try_from(self.end.saturating_sub(self.at))
            .unwrap_or(usize::MAX)
            .min(buf.len());
        if want == 0 {
            return Ok(0);
        }
        let read = self.file.read_at(&mut buf[..want], self.at)?;
        self.at += read as u64;
        Ok(read)
    }
}

/// What [`collapse_expired_head`] did.
#[derive(Debug)]
enum Collapse {
    /// Less than a block of the head could go: nothing was written.
    TooSmall,
    /// The collapse-range call failed; the overwritten bytes were put back.
    Failed(String),
    /// The first `bytes_removed` bytes are gone.
    Done {
        /// Bytes removed from the start of the file (a block multiple).
        bytes_removed: u64,
        /// The file's size just before the collapse.
        len_before: u64,
    },
}

/// Removes the expired head `[preamble.len(), head_end)` of `file` in whole
/// blocks: the bytes between the last block boundary and `head_end` are
/// overwritten with the preamble (the lines before the first entry, kept)
/// and one padding line stamped with `stamp` (expired), then the blocks
/// before them are collapsed away.
fn collapse_expired_head(
    file: &File,
    preamble: &[u8],
    head_end: u64,
    lines: u64,
    stamp: &[u8; 20],
    block: u64,
    may_collapse: &dyn Fn() -> bool,
) -> io::Result<Collapse> {
    let preamble_len = preamble.len() as u64;
    let removable = head_end.saturating_sub(preamble_len + MIN_PADDING);
    let collapse = removable / block * block;
    // At least the first entry's start goes: a crash before the collapse then
    // leaves the preamble's copy after an expired line (expired with it),
    // never a second kept copy of it.
    if collapse <= preamble_len {
        return Ok(Collapse::TooSmall);
    }
    // [collapse, head_end) becomes preamble + padding, then [0, collapse) goes.
    let padding_len = head_end - collapse - preamble_len;
    let mut replacement = preamble.to_vec();
    replacement.extend_from_slice(&padding_line(stamp, lines, "in place", padding_len));
    let mut original = vec![0; replacement.len()];
    file.read_exact_at(&mut original, collapse)?;
    file.write_all_at(&replacement, collapse)?;
    platform::sync_data(file)?;
    let len_before = file.metadata()?.len();
    if !may_collapse() {
        file.write_all_at(&original, collapse)?;
        return Ok(Collapse::Failed(
            "another process opened it while we wrote, and has waited too long for us to finish; left unchanged".into(),
        ));
    }
    if let Err(err) = platform::collapse_head(file, collapse) {
        // Put the expired bytes back: the file is exactly as before.
        file.write_all_at(&original, collapse)?;
        // Splitting an extent can need a block: on a full disk the collapse
        // fails, and the log could not be pruned (not refused on purpose).
        if matches!(
            err.raw_os_error(),
            Some(libc::ENOSPC | libc::EDQUOT | libc::EIO | libc::EROFS)
        ) {
            return Err(err);
        }
        return Ok(Collapse::Failed(format!(
            "collapse-range failed ({err}); left unchanged"
        )));
    }
    platform::sync_all(file)?;
    Ok(Collapse::Done {
        bytes_removed: collapse,
        len_before,
    })
}

/// Reads the file from the start to the end of its expired head (in rounds,
/// with the log filter, until the first current entry).
/// The inner `Err` is a refusal (a reason), not an I/O error.
fn scan_head(file: &File, cutoff: Cutoff) -> io::Result<Result<Head, String>> {
    let too_long = || {
        Ok(Err(
            "held open by an appender and more than 1 MiB precedes its first timestamped line"
                .to_string(),
        ))
    };
    let mut filter = LineFilter::for_len(cutoff, file.metadata()?.len());
    let mut reader = RangeReader {
        file,
        at: 0,
        end: u64::MAX,
    };
    let stats = loop {
        let before = filter.stats().bytes_in;
        filter.pump(&mut (&mut reader).take(SCAN_ROUND), &mut CountingSink)?;
        let stats = filter.stats();
        if stats.first_current.is_some() {
            break stats.clone();
        }
        if stats.first_drop.is_none() && stats.bytes_in > HEAD_MAX {
            return too_long();
        }
        if stats.bytes_in == before {
            break filter.finish(&mut CountingSink)?;
        }
    };
    // The head's last expired entry (not one after the first current entry).
    let head_stamp = match stats.first_current {
        Some(_) => stats.head_last_expired,
        None => stats.last_expired,
    };
    let (Some(first_drop), Some(last_stamp)) = (stats.first_drop, head_stamp) else {
        return Ok(Ok(Head::default()));
    };
    if first_drop > HEAD_MAX {
        return too_long();
    }
    let (expired_end, lines) = match stats.first_current {
        // The first entry is current: no expired head.
        Some(current) if current < first_drop => return Ok(Ok(Head::default())),
        Some(current) => (current, stats.head_lines.unwrap_or(stats.lines_removed)),
        // Expired to the end. An unfinished last line (the writer is
        // mid-line) is never touched, nor counted.
        None => {
            let unfinished = stats.input_complete < stats.bytes_in;
            let lines =
                stats.lines_removed - u64::from(unfinished && stats.input_complete >= first_drop);
            (stats.input_complete, lines)
        }
    };
    let mut preamble = vec![0; usize::try_from(first_drop).unwrap_or(0)];
    file.read_exact_at(&mut preamble, 0)?;
    Ok(Ok(Head {
        preamble,
        expired_end,
        lines,
        last_stamp: Some(last_stamp),
    }))
}

#[cfg(test)]
mod tests;
