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
mod tests {
    use super::*;
    use crate::prune::logs::checkpoints::SPACING;
    use crate::prune::logs::index::Plan;
    use std::io::Write;

    fn cutoff() -> Cutoff {
        Cutoff::at("2026-11-28T06:00:00Z".parse().expect("valid"))
    }

    fn old(i: usize) -> String {
        format!("[2026-11-28T01:00:00Z] old line {i:06} with some padding to make it longer\n")
    }

    fn new(i: usize) -> String {
        format!("[2026-11-28T07:00:00Z] new line {i:06}\n")
    }

    #[test]
    fn the_expired_head_goes_and_the_preamble_and_current_lines_stay() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("d.log");
        let mut content = String::from("nohup: ignoring input\n");
        for i in 0..500 {
            content.push_str(&old(i));
        }
        for i in 0..10 {
            content.push_str(&new(i));
        }
        std::fs::write(&path, &content).expect("write");
        let file = File::open(&path).expect("open");
        if !platform::supports_collapse(&file) {
            return;
        }
        let outcome = prune_head(&path, cutoff()).expect("prune");
        let InPlace::Collapsed {
            bytes_removed,
            lines_removed,
            ..
        } = outcome
        else {
            panic!("{outcome:?}")
        };
        assert_eq!(lines_removed, 500);
        assert_eq!(bytes_removed % 4096, 0);
        let after = std::fs::read_to_string(&path).expect("read");
        let lines: Vec<&str> = after.lines().collect();
        assert_eq!(lines[0], "nohup: ignoring input");
        assert!(
            lines[1]
                .starts_with("[2026-11-28T01:00:00Z] v0-prune: 500 expired lines removed in place"),
            "{}",
            lines[1]
        );
        assert_eq!(
            lines[2..].join("\n") + "\n",
            (0..10).map(new).collect::<String>()
        );
        assert!(!after.contains('\0'));
        // The padding line is expired: a second prune leaves it (less than a block) or takes it.
        let again = prune_head(&path, cutoff()).expect("prune again");
        assert_eq!(again, InPlace::Nothing);
    }

    #[test]
    fn the_padding_line_has_the_heads_stamp_not_a_later_expired_one() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("d.log");
        let mut content: String = (0..500).map(old).collect();
        content.push_str(&new(0));
        // Expired, but after the first current entry: not part of the head.
        content.push_str("[2026-11-28T02:00:00Z] a late expired entry\n");
        content.extend((1..10).map(new));
        std::fs::write(&path, &content).expect("write");
        if !platform::supports_collapse(&File::open(&path).expect("open")) {
            return;
        }
        let outcome = prune_head(&path, cutoff()).expect("prune");
        let InPlace::Collapsed { lines_removed, .. } = outcome else {
            panic!("{outcome:?}")
        };
        assert_eq!(lines_removed, 500);
        let after = std::fs::read_to_string(&path).expect("read");
        let padding = after.lines().next().expect("a padding line");
        assert!(
            padding.starts_with("[2026-11-28T01:00:00Z] v0-prune: 500 expired"),
            "{padding}"
        );
        assert!(after.contains("[2026-11-28T02:00:00Z] a late expired entry"));
    }

    #[test]
    fn nothing_to_do_when_the_head_is_current_or_small() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("d.log");
        std::fs::write(&path, format!("{}{}", new(1), old(2))).expect("write");
        if !platform::supports_collapse(&File::open(&path).expect("open")) {
            return;
        }
        assert_eq!(
            prune_head(&path, cutoff()).expect("prune"),
            InPlace::Nothing
        );
        std::fs::write(&path, format!("{}{}", old(1), new(2))).expect("write");
        assert_eq!(
            prune_head(&path, cutoff()).expect("prune"),
            InPlace::Nothing
        );
        assert_eq!(
            std::fs::read_to_string(&path).expect("read"),
            format!("{}{}", old(1), new(2))
        );
    }

    #[test]
    fn an_unfinished_last_line_is_never_touched() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("d.log");
        let mut f = File::create(&path).expect("create");
        for i in 0..200 {
            f.write_all(old(i).as_bytes()).expect("write");
        }
        f.write_all(b"[2026-11-28T01:00:00Z] half a li")
            .expect("write");
        drop(f);
        if !platform::supports_collapse(&File::open(&path).expect("open")) {
            return;
        }
        let outcome = prune_head(&path, cutoff()).expect("prune");
        assert!(
            matches!(
                outcome,
                InPlace::Collapsed {
                    lines_removed: 200,
                    ..
                }
            ),
            "{outcome:?}"
        );
        let after = std::fs::read_to_string(&path).expect("read");
        assert!(
            after.ends_with("\n[2026-11-28T01:00:00Z] half a li"),
            "{after:?}"
        );
    }

    #[test]
    fn without_collapse_a_held_log_is_refused_with_the_reason_and_left_alone() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("d.log");
        let content = (0..200).map(old).collect::<String>() + &new(1);
        std::fs::write(&path, &content).expect("write");
        if platform::supports_collapse(&File::open(&path).expect("open")) {
            return;
        }
        let outcome = prune_head(&path, cutoff()).expect("prune");
        let InPlace::Refused(reason) = outcome else {
            panic!("{outcome:?}")
        };
        assert!(reason.contains(platform::WHY_NO_COLLAPSE), "{reason}");
        assert_eq!(std::fs::read_to_string(&path).expect("read"), content);
    }

    /// A log nobody holds: preamble, `old_lines` expired entries (some with
    /// continuation lines), then `new_lines` current ones.
    fn unheld_log(dir: &Path, old_lines: usize, new_lines: usize) -> (std::path::PathBuf, String) {
        let path = dir.join("u.log");
        let mut content = String::from("nohup: ignoring input\n");
        for i in 0..old_lines {
            content.push_str(&old(i));
            if i % 7 == 0 {
                content.push_str("    at a continuation of an old entry\n");
            }
        }
        for i in 0..new_lines {
            content.push_str(&new(i));
        }
        std::fs::write(&path, &content).expect("write");
        (path, content)
    }

    fn collapse_here(path: &Path) -> bool {
        let supported = platform::supports_collapse(&File::open(path).expect("open"));
        if !supported {
            eprintln!("skipping: filesystem without collapse-range");
        }
        supported
    }

    #[test]
    fn an_unheld_log_whose_expired_lines_form_a_head_is_collapsed_in_place() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (path, content) = unheld_log(dir.path(), 500, 10);
        if !collapse_here(&path) {
            return;
        }
        let ino = std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(&path).expect("stat"));
        let outcome = prune_unheld(&path, cutoff(), None).expect("prune");
        let Unheld::Collapsed {
            lines_removed,
            bytes_before,
            bytes_removed,
            ..
        } = outcome
        else {
            panic!("{outcome:?}")
        };
        assert_eq!(lines_removed, 500 + 500 / 7 + 1);
        assert_eq!(bytes_before, content.len() as u64);
        assert_eq!(bytes_removed % 4096, 0);
        let after = std::fs::read_to_string(&path).expect("read");
        assert_eq!(after.len() as u64, bytes_before - bytes_removed);
        let lines: Vec<&str> = after.lines().collect();
        assert_eq!(lines[0], "nohup: ignoring input");
        assert!(
            lines[1].starts_with("[2026-11-28T01:00:00Z] v0-prune: "),
            "{}",
            lines[1]
        );
        assert_eq!(
            lines[2..].join("\n") + "\n",
            (0..10).map(new).collect::<String>()
        );
        // The same file, not a copy renamed over it.
        let ino_after =
            std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(&path).expect("stat"));
        assert_eq!(ino, ino_after);
        // To the log rule the result is exactly the rewrite's.
        let model = super::super::filter::tests::reference_model(content.as_bytes(), &cutoff());
        assert_eq!(
            super::super::filter::tests::reference_model(after.as_bytes(), &cutoff()),
            model
        );
    }

    #[test]
    fn an_expired_entry_after_a_current_one_or_a_small_head_means_a_rewrite_and_nothing_written() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (path, mut content) = unheld_log(dir.path(), 500, 10);
        if !collapse_here(&path) {
            return;
        }
        content.push_str(&old(999));
        content.push_str(&new(999));
        std::fs::write(&path, &content).expect("write");
        let outcome = prune_unheld(&path, cutoff(), None).expect("prune");
        let Unheld::NotAHead { reason, known } = outcome else {
            panic!("{outcome:?}")
        };
        assert!(reason.contains("not one head"), "{reason}");
        assert_eq!(std::fs::read_to_string(&path).expect("read"), content);
        // The scan's descriptor, handed to the rewrite, is closed unused.
        drop(known);

        let (path, content) = unheld_log(dir.path(), 20, 200);
        let outcome = prune_unheld(&path, cutoff(), None).expect("prune");
        let Unheld::Rewrite(reason) = outcome else {
            panic!("{outcome:?}")
        };
        assert!(reason.contains("head of one filesystem block"), "{reason}");
        assert_eq!(std::fs::read_to_string(&path).expect("read"), content);
    }

    #[test]
    fn two_threads_over_two_halves_see_what_one_pass_sees() {
        let dir = tempfile::tempdir().expect("tempdir");
        let whole = |path: &Path| {
            let file = File::open(path).expect("open");
            let len = file.metadata().expect("stat").len();
            let filter = LineFilter::for_len(cutoff(), len);
            let stop = AtomicBool::new(false);
            scan_part(&file, filter, 0, u64::MAX, 0, &stop, true).expect("one pass")
        };
        let halves = |path: &Path| {
            let file = File::open(path).expect("open");
            let len = file.metadata().expect("stat").len();
            assert!(len >= TWO_THREADS_FROM);
            assert!(
                entry_start_after(&file, len / 2, &cutoff())
                    .expect("read")
                    .is_some()
            );
            scan_unheld(&file, cutoff(), len, 0).expect("two threads")
        };
        // Split in the expired head (with continuation lines), in the
        // current part, and with an expired entry late in the second half.
        for (old_lines, new_lines, late) in [(500, 10, false), (20, 500, false), (300, 300, true)] {
            let (path, mut content) = unheld_log(dir.path(), old_lines, new_lines);
            if late {
                content.push_str(&old(999));
                content.push_str("    a continuation of it\n");
                content.push_str(&new(999));
                std::fs::write(&path, &content).expect("write");
            }
            assert_eq!(
                halves(&path),
                whole(&path),
                "{old_lines}/{new_lines}/{late}"
            );
        }
    }

    #[test]
    fn an_expired_entry_in_either_half_after_a_current_one_means_a_rewrite() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("u.log");
        // The first current entry early; an expired one just after it (in
        // the first half), or as the very line the second half starts at
        // (which the second half alone cannot tell from a head).
        let mut early: String = (0..200).map(old).collect();
        early.push_str(&new(0));
        early.push_str(&old(200));
        early.extend((1..400).map(new));
        let mut at_split: String = (0..200).map(old).collect();
        at_split.extend((0..600).map(new));
        // The scan splits at the first line starting after the middle of
        // the final file; the expired entry goes exactly there.
        let middle = (at_split.len() + old(999).len()) / 2;
        let split = middle + at_split[middle..].find('\n').expect("a line end") + 1;
        assert!(
            split > 200 * old(0).len(),
            "the split is among current entries"
        );
        at_split.insert_str(split, &old(999));
        for content in [early, at_split] {
            std::fs::write(&path, &content).expect("write");
            if !collapse_here(&path) {
                return;
            }
            let outcome = prune_unheld(&path, cutoff(), None).expect("prune");
            let Unheld::NotAHead { reason, known } = outcome else {
                panic!("{outcome:?}")
            };
            assert!(reason.contains("not one head"), "{reason}");
            assert_eq!(std::fs::read_to_string(&path).expect("read"), content);
            rewrite_with_and_without(&path, known);
        }
    }

    /// Rewrites `path` with what the scan `known`, and a copy of it without:
    /// the same file and the same figures, which are the log rule's.
    fn rewrite_with_and_without(path: &Path, known: KnownStart) {
        use super::super::filter::tests::{checkpoints_hold, reference_model, without_checkpoints};
        use super::super::rewrite::{Rewrite, rewrite};
        let content = std::fs::read(path).expect("read");
        let copy = path.with_extension("copy");
        std::fs::write(&copy, &content).expect("write");
        let with = rewrite(path, cutoff(), Some(known));
        let Ok(Rewrite::Replaced(stats, _)) = with else {
            panic!("not rewritten with the scan: {with:?}")
        };
        let alone = rewrite(&copy, cutoff(), None);
        let Ok(Rewrite::Replaced(stats_unread, _)) = alone else {
            panic!("not rewritten alone: {alone:?}")
        };
        let after = std::fs::read(path).expect("read");
        assert!(
            after == std::fs::read(&copy).expect("read"),
            "the two rewrites differ"
        );
        assert!(
            after == reference_model(&content, &cutoff()),
            "not the log rule's result"
        );
        assert_eq!(
            without_checkpoints(&stats),
            without_checkpoints(&stats_unread)
        );
        assert_eq!(checkpoints_hold(&content, &stats.checkpoints), Ok(()));
    }

    #[test]
    fn a_rewrite_after_the_scan_reads_only_from_the_late_expired_entry() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("u.log");
        // A head, current entries, then an expired one (with a continuation
        // line) and current ones again.
        let mut content: String = (0..300).map(old).collect();
        content.extend((0..300).map(new));
        content.push_str(&old(999));
        content.push_str("    a continuation of it\n");
        content.extend((300..310).map(new));
        std::fs::write(&path, &content).expect("write");
        if !collapse_here(&path) {
            return;
        }
        let outcome = prune_unheld(&path, cutoff(), None).expect("prune");
        let Unheld::NotAHead { known, .. } = outcome else {
            panic!("{outcome:?}")
        };
        let at = content.find(&old(999)).expect("the late entry") as u64;
        assert_eq!(known.stats.bytes_in, at);
        rewrite_with_and_without(&path, known);

        // Bytes before it are copied, not read again: a change the scan
        // did not see shows through (the bytes are the log's, whatever
        // they are), while the part after it is filtered.
        std::fs::write(&path, &content).expect("write");
        let outcome = prune_unheld(&path, cutoff(), None).expect("prune");
        let Unheld::NotAHead { known, .. } = outcome else {
            panic!("{outcome:?}")
        };
        let first_current = known.stats.first_current.expect("a current entry");
        known
            .file
            .write_all_at(b"X", first_current + 1)
            .expect("write");
        let rewritten = super::super::rewrite::rewrite(&path, cutoff(), Some(known));
        assert!(
            matches!(rewritten, Ok(super::super::rewrite::Rewrite::Replaced(..))),
            "{rewritten:?}"
        );
        let after = std::fs::read_to_string(&path).expect("read");
        assert!(
            after.contains("[X026-11-28T"),
            "the copied part was read again"
        );
        assert!(!after.contains("a continuation of it"));
        assert!(after.ends_with(&new(309)));
    }

    /// A log with entries every minute from minute `start` of the day on,
    /// `minutes` long (two lines in that second, five every fifth minute,
    /// a continuation line now and then); with a preamble if `preamble`.
    fn minutes_log(start: usize, minutes: usize, preamble: bool) -> String {
        let mut content = String::new();
        if preamble {
            content.push_str("nohup: ignoring input\n");
        }
        for minute in start..start + minutes {
            let stamp = format!("2026-11-28T{:02}:{:02}:00Z", minute / 60, minute % 60);
            for repeat in 0..2 + usize::from(minute % 5 == 0) * 3 {
                content.push_str(&format!(
                    "[{stamp}] minute {minute} line {repeat}, with words to make it longer\n"
                ));
            }
            if minute % 11 == 0 {
                content.push_str("    a continuation line of that minute\n");
            }
        }
        content
    }

    fn at(time: &str) -> Cutoff {
        Cutoff::at(format!("2026-11-28T{time}Z").parse().expect("valid"))
    }

    /// What an unheld prune reports and leaves, for comparing two prunes.
    fn result_of(outcome: &Unheld, path: &Path) -> (String, u64, Option<[u8; 20]>) {
        let (lines, verified) = match outcome {
            Unheld::Collapsed {
                lines_removed,
                verified,
                ..
            } => (*lines_removed, verified),
            Unheld::Nothing { verified, .. } => (0, verified),
            other => panic!("{other:?}"),
        };
        (
            std::fs::read_to_string(path).expect("read"),
            lines,
            verified.earliest(),
        )
    }

    /// A second prune, an hour on, where the index vouches for the current
    /// stretch: the same file and figures as a prune without it, the next
    /// index as good, and the stretch unread (a change in it goes unseen).
    #[test]
    fn with_the_index_a_later_prune_reads_only_around_the_current_stretch() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("i.log");
        let copy = dir.path().join("copy.log");
        for (preamble, appended) in [(true, 0), (false, 30), (true, 300)] {
            // 05:00 to 09:00; the first prune (cutoff 06:00) removes an hour.
            std::fs::write(&path, minutes_log(300, 240, preamble)).expect("write");
            if !collapse_here(&path) {
                return;
            }
            let first = prune_unheld(&path, at("06:00:00"), None).expect("prune");
            let Unheld::Collapsed { verified, .. } = first else {
                panic!("{first:?}")
            };
            let mut log = OpenOptions::new().append(true).open(&path).expect("open");
            log.write_all(minutes_log(540, appended, false).as_bytes())
                .expect("append");
            drop(log);
            std::fs::copy(&path, &copy).expect("copy");
            let later = at("07:00:00");
            let file = File::open(&path).expect("open");
            let plan = verified.plan(&file, &file.metadata().expect("meta"), &later);
            drop(file); // a lease needs the file closed by everyone else
            let Plan::ReadAround(run) = plan else {
                panic!("the index should vouch for a current stretch: {plan:?}")
            };
            assert!(run.to - run.from > 4 * SPACING, "{run:?}");
            let with = prune_unheld(&path, later, Some(&run)).expect("prune");
            let without = prune_unheld(&copy, later, None).expect("prune");
            assert_eq!(result_of(&with, &path), result_of(&without, &copy));
            let (Unheld::Collapsed { verified: a, .. }, Unheld::Collapsed { verified: b, .. }) =
                (&with, &without)
            else {
                panic!("{with:?} {without:?}")
            };
            // The next index holds marks in the part that was not read.
            let content = std::fs::read(&path).expect("read");
            let at_eight = at("08:00:00");
            for (verified, file) in [(a, &path), (b, &copy)] {
                let file = File::open(file).expect("open");
                let next = verified.plan(&file, &file.metadata().expect("meta"), &at_eight);
                let Plan::ReadAround(next) = next else {
                    panic!("{next:?}")
                };
                assert!(next.marks.marks().len() > 2, "{next:?}");
                assert_eq!(
                    super::super::filter::tests::checkpoints_hold(&content, &next.marks),
                    Ok(())
                );
            }
        }

        // A byte changed inside the stretch does not show: it is not read.
        std::fs::write(&path, minutes_log(300, 240, true)).expect("write");
        let Unheld::Collapsed { verified, .. } =
            prune_unheld(&path, at("06:00:00"), None).expect("prune")
        else {
            panic!("not collapsed")
        };
        let file = File::open(&path).expect("open");
        let later = at("07:00:00");
        let Plan::ReadAround(run) = verified.plan(&file, &file.metadata().expect("meta"), &later)
        else {
            panic!("no stretch")
        };
        drop(file);
        let mut content = std::fs::read_to_string(&path).expect("read");
        let middle = usize::try_from((run.from + run.to) / 2).expect("small");
        let line = middle + content[middle..].find("\n[").expect("a line") + 1;
        content.replace_range(line + 12..line + 14, "00"); // an expired hour
        std::fs::write(&copy, &content).expect("write");
        std::fs::copy(&copy, &path).expect("copy");
        let with = prune_unheld(&path, later, Some(&run)).expect("prune");
        assert!(matches!(with, Unheld::Collapsed { .. }), "{with:?}");
        let without = prune_unheld(&copy, later, None).expect("prune");
        assert!(matches!(without, Unheld::NotAHead { .. }), "{without:?}");
        drop((with, without)); // the scan's descriptor, kept for a rewrite

        // What was appended after the stretch is read: an expired entry
        // there is found, at the same byte as without the index.
        std::fs::write(&path, minutes_log(300, 240, true)).expect("write");
        let Unheld::Collapsed { verified, .. } =
            prune_unheld(&path, at("06:00:00"), None).expect("prune")
        else {
            panic!("not collapsed")
        };
        let mut log = OpenOptions::new().append(true).open(&path).expect("open");
        log.write_all(minutes_log(0, 3, false).as_bytes())
            .expect("append");
        drop(log);
        std::fs::copy(&path, &copy).expect("copy");
        let file = File::open(&path).expect("open");
        let Plan::ReadAround(run) = verified.plan(&file, &file.metadata().expect("meta"), &later)
        else {
            panic!("no stretch")
        };
        drop(file);
        let with = prune_unheld(&path, later, Some(&run)).expect("prune");
        let without = prune_unheld(&copy, later, None).expect("prune");
        let (Unheld::NotAHead { reason: a, .. }, Unheld::NotAHead { reason: b, .. }) =
            (&with, &without)
        else {
            panic!("{with:?} {without:?}")
        };
        assert_eq!(a, b);
    }

    /// The index's stretch is used only while the file still has it: a mark
    /// that is no longer an entry start, or a changed verified end, means a
    /// full read.
    #[test]
    fn a_stretch_the_file_no_longer_has_is_not_trusted() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("t.log");
        std::fs::write(&path, minutes_log(300, 240, true)).expect("write");
        if !collapse_here(&path) {
            return;
        }
        let Unheld::Collapsed { verified, .. } =
            prune_unheld(&path, at("06:00:00"), None).expect("prune")
        else {
            panic!("not collapsed")
        };
        let later = at("07:00:00");
        let file = File::open(&path).expect("open");
        let Plan::ReadAround(run) = verified.plan(&file, &file.metadata().expect("meta"), &later)
        else {
            panic!("no stretch")
        };
        assert!(run.still_holds(&file, &later));
        let content = std::fs::read(&path).expect("read");
        let from = usize::try_from(run.from).expect("small");
        let to = usize::try_from(run.to).expect("small");
        // One byte inserted before the mark; one byte changed before the end.
        let mut shifted = content.clone();
        shifted.insert(from - 5, b'x');
        let mut changed = content.clone();
        changed[to - 3] = b'?';
        for (name, bytes) in [("shifted", shifted), ("changed", changed)] {
            std::fs::write(&path, &bytes).expect("write");
            let file = File::open(&path).expect("open");
            assert!(!run.still_holds(&file, &later), "{name}");
            assert_eq!(
                verified.plan(&file, &file.metadata().expect("meta"), &later),
                Plan::Full,
                "{name}"
            );
        }
    }

    #[test]
    fn a_log_someone_has_open_is_left_to_the_rewrite() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (path, content) = unheld_log(dir.path(), 500, 10);
        if !collapse_here(&path) {
            return;
        }
        let mut reader = std::process::Command::new("sh")
            .arg("-c")
            .arg(r#"exec 3<"$1"; echo ready; exec sleep 30"#)
            .arg("sh")
            .arg(&path)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("sh");
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(reader.stdout.take().expect("stdout")),
            &mut line,
        )
        .expect("ready");
        let outcome = prune_unheld(&path, cutoff(), None).expect("prune");
        let _ = reader.kill();
        let _ = reader.wait();
        let Unheld::Rewrite(reason) = outcome else {
            panic!("{outcome:?}")
        };
        assert!(reason.contains("another process has it open"), "{reason}");
        assert_eq!(std::fs::read_to_string(&path).expect("read"), content);
    }

    /// Starts `sh -c script` with the log as `$1` in the background and
    /// returns once it has been forked (it may be blocked in `open()`).
    fn start_writer(script: &str, path: &Path) -> std::process::Child {
        std::process::Command::new("sh")
            .arg("-c")
            .arg(script)
            .arg("sh")
            .arg(path)
            .spawn()
            .expect("sh")
    }

    /// The case the lease is for: a positional writer (`1<>`, no O_APPEND,
    /// writes at offset 0) opens the file after we read it and before we
    /// write. Its `open()` waits until the collapse is done, so its bytes
    /// land on the pruned file, not in the head we cut off.
    #[test]
    fn a_positional_writer_appearing_between_the_scan_and_the_collapse_waits_for_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (path, _) = unheld_log(dir.path(), 500, 10);
        if !collapse_here(&path) {
            return;
        }
        let writer = std::cell::RefCell::new(None);
        let outcome =
            prune_unheld_with(&path, cutoff(), None, &|| Duration::from_secs(45), &|| {
                *writer.borrow_mut() = Some(start_writer(r#"printf 'POSITIONAL' 1<>"$1""#, &path));
                // Long enough for its open() to be waiting on our lease.
                std::thread::sleep(Duration::from_millis(300));
            })
            .expect("prune");
        assert!(matches!(outcome, Unheld::Collapsed { .. }), "{outcome:?}");
        let status = writer.take().expect("writer").wait().expect("wait");
        assert!(status.success());
        let after = std::fs::read_to_string(&path).expect("read");
        assert!(
            after.starts_with("POSITIONALoring input\n[2026-11-28T01:00:00Z] v0-prune: "),
            "the write landed on the pruned file: {:?}",
            &after[..80]
        );
        assert!(after.ends_with(&new(9)));
    }

    /// If an opener has waited too long (here: a break time of zero), we
    /// write nothing and leave the file to the rewrite; the opener then goes on.
    #[test]
    fn an_opener_that_has_waited_too_long_makes_us_write_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (path, content) = unheld_log(dir.path(), 500, 10);
        if !collapse_here(&path) {
            return;
        }
        let writer = std::cell::RefCell::new(None);
        let outcome = prune_unheld_with(&path, cutoff(), None, &|| Duration::ZERO, &|| {
            *writer.borrow_mut() = Some(start_writer(
                r#"echo '[2026-11-28T08:00:00Z] appended' >>"$1""#,
                &path,
            ));
            std::thread::sleep(Duration::from_millis(300));
        })
        .expect("prune");
        let Unheld::Rewrite(reason) = outcome else {
            panic!("{outcome:?}")
        };
        assert!(reason.contains("waited too long"), "{reason}");
        assert!(
            writer
                .take()
                .expect("writer")
                .wait()
                .expect("wait")
                .success()
        );
        assert_eq!(
            std::fs::read_to_string(&path).expect("read"),
            content + "[2026-11-28T08:00:00Z] appended\n"
        );
    }
}
