//! Pruning a log that no process holds for writing: rewrite beside it, then rename.
//!
//! Crash safety: the kept lines go to a temp file in the same directory, which
//! is fsynced before it is renamed over the log, so at any instant the path
//! names either the old file or the complete new one.
//!
//! Writers that open, append and close (`echo ... >> x.log`) may strike at any
//! moment. Lines they append while we copy are read and filtered like the rest
//! (we read to the end again after taking the lease). The dangerous window is
//! the rename: a writer that opened the old file just before it would write
//! into the unlinked inode. A write lease closes that window: the kernel grants
//! it only while nobody else has the file open, makes any `open()` during the
//! rename wait for us, and tells us it happened (the lease is "broken"). We
//! hold a second lease on the new file so nobody writes there before the
//! late writer's lines have been carried over, which keeps them in order.
//!
//! Without leases (macOS, and the test-only portable build:
//! [`platform::LEASES_AVAILABLE`]) we look for holders once more right before
//! the rename, write the new file with O_APPEND, and after the rename drain
//! the old file until two holder scans [`DRAIN_GAP`] apart find no writer on
//! it. Writers may append to the new file meanwhile, so what goes in after
//! the rename is whole lines, each batch in one write, and the new file never
//! ends inside a line at the rename. ARCHITECTURE.md ("Platform") states what
//! that leaves open.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::checkpoints::Checkpoints;
use super::filter::{CountingSink, FilterStats, KeptSink, LineFilter};
use super::index::Verified;
use super::padding::{alignment_padding, padding_line};
use crate::platform::{self, Access, Holder, Lease};
use crate::prune::Cutoff;

/// Suffix of our temp files; a crashed run's leftovers are found by it.
pub const TEMP_SUFFIX: &str = ".v0-prune-tmp";

/// How long we wait for a late opener of the old file to finish writing.
const LATE_WRITER_WAIT: Duration = Duration::from_millis(500);

/// How long we retry the lease while only readers or short-lived writers hold the file.
const LEASE_RETRY: Duration = Duration::from_millis(50);

/// Without leases: how far apart two holder scans of the old file must both
/// find no writer before we stop draining it. A writer whose `open()` of the
/// old path began before the rename has its descriptor in place by the second
/// scan unless that one system call took longer than this.
pub const DRAIN_GAP: Duration = Duration::from_millis(10);

/// What a rewrite did.
#[derive(Debug)]
pub enum Rewrite {
    /// Nothing expired: the file was only read.
    Unchanged(FilterStats, Verified),
    /// Rewritten and renamed over the log.
    Replaced(FilterStats, Verified),
    /// A writer that holds the file open appeared; nothing was changed.
    HeldBy(Vec<Holder>),
}

/// What a pass over a log found before its first expired entry after a
/// current one ([`FilterStats::before_drop_after_current`]), with the file
/// it read: a rewrite of it copies that part in the kernel, leaving the
/// expired head out, and reads only from there on. Where the current run
/// is long, the head's last bytes become one expired padding line
/// ([`super::padding`]), so the run keeps its offset within a page and the
/// kernel copies it page to page.
#[derive(Debug)]
pub struct KnownStart {
    /// The log the pass read, still open, so the rewrite reads the same file.
    pub file: File,
    /// The pass's statistics of the part, which ends at `stats.bytes_in`.
    pub stats: FilterStats,
}

/// Why a rewrite gives up on a log that shrank under it: renaming our copy
/// over it would bring back what someone else removed.
pub const TRUNCATED: &str = "truncated by another process while we pruned it; left as they left it";

/// Rewrites `path` without its expired lines, carrying over concurrent
/// appends; `known` (a pass over the file `path` names) spares reading its
/// start again.
pub fn rewrite(path: &Path, cutoff: Cutoff, known: Option<KnownStart>) -> io::Result<Rewrite> {
    rewrite_with(path, cutoff, known, &|| {})
}

/// [`rewrite`], with `before_lease` run once the file has been read to its
/// end, before the lease on it is taken (tests truncate the log there).
fn rewrite_with(
    path: &Path,
    cutoff: Cutoff,
    known: Option<KnownStart>,
    before_lease: &dyn Fn(),
) -> io::Result<Rewrite> {
    let (source, known) = match known {
        Some(KnownStart { file, stats }) => (file, Some(stats)),
        // O_NONBLOCK: a FIFO swapped in since the walk must not block us
        // (it means nothing to a regular file's reads).
        None => (
            OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
                .open(path)?,
            None,
        ),
    };
    let meta = source.metadata()?;
    if !meta.is_file() {
        return Err(io::Error::other("not a regular file (any more)"));
    }
    let mut sink = TempSink::new(path, &source, &meta)?;
    // Shorter than the part: cut since the scan, so it is all read again.
    let mut filter = match known.filter(|known| known.bytes_in <= meta.len()) {
        Some(mut known) => {
            if let (Some(first_drop), Some(first_current)) = (known.first_drop, known.first_current)
            {
                // Kept: the prefix, then the current run after the expired head.
                sink.start(first_drop)?;
                let padding = alignment_padding(
                    first_drop,
                    first_current,
                    known.bytes_in,
                    platform::copy_alignment(),
                );
                if let (true, Some(stamp)) = (padding > 0, known.head_last_expired) {
                    // Part of the expired head becomes one expired line, so the run
                    // is copied page to page; the output offsets count it.
                    let lines = known.head_lines.unwrap_or(known.lines_removed);
                    sink.write(&padding_line(&stamp, lines, "by a rewrite", padding))?;
                    known.bytes_out += padding;
                    known.output_complete += padding;
                }
                sink.copy_source_range(first_current, known.bytes_in)?;
            }
            (&source).seek(SeekFrom::Start(known.bytes_in))?;
            LineFilter::resume_after(cutoff, known, meta.len())
        }
        None => LineFilter::for_len(cutoff, meta.len()),
    };
    filter.pump(&mut &source, &mut sink)?;
    if filter.stats().first_drop.is_none() {
        let stats = filter.stats().clone();
        let verified = Verified::record(
            &source,
            &meta,
            stats.input_complete,
            stats.earliest_kept,
            stats.checkpoints.clone(),
        );
        return Ok(Rewrite::Unchanged(stats, verified));
    }

    before_lease();
    let mut source_lease = if platform::LEASES_AVAILABLE {
        match take_lease_or_classify(&source, &meta)? {
            LeaseOutcome::Taken(lease) => Some(lease),
            LeaseOutcome::Unavailable => None,
            LeaseOutcome::Writers(holders) => return Ok(Rewrite::HeldBy(holders)),
        }
    } else {
        // No lease to take: the holder check comes after the fsync, as late as possible.
        None
    };
    // Lines appended before the lease was granted.
    filter.pump(&mut &source, &mut sink)?;
    if !platform::LEASES_AVAILABLE {
        // Nothing will keep writers off the new file, whose lines would
        // follow a line of ours that ends short.
        read_to_a_line_end(&source, &mut filter, &mut sink)?;
    }
    filter.finish(&mut sink)?;
    if source.metadata()?.len() < filter.stats().bytes_in {
        // Someone truncated it (`: > x.log`, copytruncate) while we read it:
        // renaming our copy over it would bring back what they removed.
        return Err(io::Error::other(TRUNCATED));
    }
    let mut temp = sink.into_temp()?;
    platform::sync_all(&temp.file)?;
    let target_file = temp.file.try_clone()?;
    // Without leases, what the new file holds is recorded now, before anyone
    // else can append to it; what the drain adds lies beyond and is read next run.
    let verified_before_rename = if platform::LEASES_AVAILABLE {
        None
    } else {
        let writers: Vec<Holder> = other_holders(&meta)
            .into_iter()
            .filter(|h| h.access != Access::Read)
            .collect();
        if !writers.is_empty() {
            // The temp file goes with `temp`; the log is untouched.
            return Ok(Rewrite::HeldBy(writers));
        }
        let stats = filter.stats();
        Some(Verified::record(
            &target_file,
            &target_file.metadata()?,
            stats.output_complete,
            stats.earliest_kept,
            // Noted at the old file's offsets: the next run reads it all.
            Checkpoints::default(),
        ))
    };
    let target_lease = Lease::try_take(&target_file)?;
    std::fs::rename(&temp.path, path)?;
    temp.keep = true;

    // Carry over what late writers put into the old inode, before anyone
    // may write to the new one (they wait on `target_lease`).
    let late_writer = match &source_lease {
        Some(lease) => lease.broken(),
        None => true,
    };
    if late_writer {
        let leases_available = source_lease.is_some();
        source_lease = None;
        wait_for_late_writers(&source, &meta, &mut filter, &mut temp, leases_available)?;
        filter.finish(&mut temp)?;
        temp.flush()?;
        platform::sync_data(&temp.file)?;
    }
    // Nobody else has written to the new file yet: record what it holds.
    temp.flush()?;
    let stats = filter.stats().clone();
    let verified = match verified_before_rename {
        Some(verified) => verified,
        None => Verified::record(
            &target_file,
            &target_file.metadata()?,
            stats.output_complete,
            stats.earliest_kept,
            Checkpoints::default(),
        ),
    };
    drop(target_lease);
    drop(source_lease);
    close_replaced(source, meta.len());
    // No directory fsync: after a crash that loses the rename, the path still
    // names the old, complete file (the next run prunes it again), and one
    // directory sync per file would double the cost of many small logs.
    Ok(Rewrite::Replaced(stats, verified))
}

/// From this size on, the replaced file is closed on a thread of its own.
const CLOSE_IN_BACKGROUND_FROM: u64 = 64 << 20;

/// Closes the replaced (now unlinked) log. Its last close frees its page
/// cache and its blocks, which for a large file costs about a quarter of the
/// rewrite (0.19 s of 0.82 s for 200 MB, measured phase by phase): that is
/// housekeeping after the prune is durable, so a large one is left to a
/// short-lived thread and the prune goes on (the daemon's next file, or
/// the CLI's report). Small files are closed here: a thread would cost more.
fn close_replaced(source: File, len: u64) {
    if len < CLOSE_IN_BACKGROUND_FROM {
        return;
    }
    // If the thread cannot start, the closure (and the file) is dropped here.
    let _ = std::thread::Builder::new()
        .name("close-replaced".into())
        .spawn(move || drop(source));
}

/// Reads a log from `offset` (a line start after verified content) without
/// writing anything: does the appended part hold anything to prune?
pub fn probe_from(file: &File, offset: u64, cutoff: Cutoff) -> io::Result<FilterStats> {
    let mut reader = file;
    reader.seek(SeekFrom::Start(offset))?;
    let mut filter = LineFilter::resume_at(cutoff, offset, file.metadata()?.len());
    filter.pump(&mut reader, &mut CountingSink)?;
    Ok(filter.stats().clone())
}

enum LeaseOutcome<'a> {
    Taken(Lease<'a>),
    /// Leases do not work here, or only readers hold the file: go on without.
    Unavailable,
    /// A process holds the file for writing: not ours to rewrite.
    Writers(Vec<Holder>),
}

fn take_lease_or_classify<'a>(
    source: &'a File,
    meta: &std::fs::Metadata,
) -> io::Result<LeaseOutcome<'a>> {
    let deadline = Instant::now() + LEASE_RETRY;
    loop {
        if let Some(lease) = Lease::try_take(source)? {
            return Ok(LeaseOutcome::Taken(lease));
        }
        let holders = other_holders(meta);
        let writers: Vec<Holder> = holders
            .iter()
            .filter(|h| h.access != Access::Read)
            .cloned()
            .collect();
        if writers.is_empty() && !holders.is_empty() {
            // Readers only (`tail -f`): a rename does not hurt them.
            return Ok(LeaseOutcome::Unavailable);
        }
        if Instant::now() >= deadline {
            // Still refused with no visible holder: leases are unavailable
            // (not our file, or a filesystem without them). A writer that
            // stays is a long-lived one and must not lose its lines.
            return Ok(if writers.is_empty() {
                LeaseOutcome::Unavailable
            } else {
                LeaseOutcome::Writers(writers)
            });
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Holders of the file other than this process's own read descriptors.
fn other_holders(meta: &std::fs::Metadata) -> Vec<Holder> {
    let id = (meta.dev(), meta.ino());
    let me = std::process::id();
    platform::open_files(&[id].into_iter().collect())
        .remove(&id)
        .unwrap_or_default()
        .into_iter()
        .filter(|h| !(h.pid == me && h.access == Access::Read))
        .collect()
}

/// Lets writers that opened the old file during the rename finish, copying
/// what they write, until a lease held for a moment stays unbroken (or,
/// without leases, two holder scans [`DRAIN_GAP`] apart find no writer): then
/// nobody is left who could still write to the old file.
fn wait_for_late_writers(
    source: &File,
    meta: &std::fs::Metadata,
    filter: &mut LineFilter,
    temp: &mut Temp,
    leases_available: bool,
) -> io::Result<()> {
    // With leases nobody writes to the new file before we are done with it;
    // without, writers already append to it, so only whole lines go in.
    let drain = |filter: &mut LineFilter, temp: &mut Temp, to_the_end: bool| {
        if leases_available {
            filter.pump(&mut &*source, temp)
        } else {
            drain_whole_lines(source, filter, temp, to_the_end)
        }
    };
    let deadline = Instant::now() + LATE_WRITER_WAIT;
    let mut clean_since: Option<Instant> = None;
    loop {
        drain(filter, temp, false)?;
        match Lease::try_take(source)? {
            Some(lease) => {
                // A writer released a moment ago may not have reached its
                // open() yet; when it does, it breaks this lease.
                std::thread::sleep(Duration::from_micros(500));
                if !lease.broken() {
                    return drain(filter, temp, true);
                }
            }
            None if !leases_available => {
                if other_holders(meta).iter().all(|h| h.access == Access::Read) {
                    let first_clean = *clean_since.get_or_insert_with(Instant::now);
                    if first_clean.elapsed() >= DRAIN_GAP {
                        // No writer in sight twice, far enough apart: drain once more and go.
                        return drain(filter, temp, true);
                    }
                } else {
                    clean_since = None;
                }
            }
            None => {}
        }
        if Instant::now() >= deadline {
            return drain(filter, temp, true);
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Without leases: how long the read before the rename waits for a line
/// the file ends inside to be finished (a writer's `write` seen half done;
/// a file whose last line never ends costs this once per run).
const LINE_END_WAIT: Duration = Duration::from_millis(20);

/// Reads on until what the filter has read ends at a line end, for at most
/// [`LINE_END_WAIT`]: a reader can see a writer's line half written (a
/// write that crosses a page is copied page by page), and the rest of it
/// must reach the new file together with its start, before the rename.
fn read_to_a_line_end<S: KeptSink>(
    source: &File,
    filter: &mut LineFilter,
    sink: &mut S,
) -> io::Result<()> {
    let deadline = Instant::now() + LINE_END_WAIT;
    while filter.stats().input_complete < filter.stats().bytes_in && Instant::now() < deadline {
        std::thread::sleep(Duration::from_micros(200));
        filter.pump(&mut &*source, sink)?;
    }
    Ok(())
}

/// The most [`drain_whole_lines`] reads and writes at once: memory stays
/// bounded whatever a late writer appends; a line longer than this goes in
/// pieces.
const DRAIN_BATCH: u64 = 8 << 20;

/// Drains the old file into the new one while other writers may append to
/// the new one too (no leases; both O_APPEND): reads the old file's whole
/// lines beyond what the filter has read (`to_the_end`: all of it, once no
/// writer is left) and appends what is kept, each batch in one `write`, so
/// no line of theirs lands inside one of ours.
fn drain_whole_lines(
    source: &File,
    filter: &mut LineFilter,
    temp: &mut Temp,
    to_the_end: bool,
) -> io::Result<()> {
    let len = source.metadata()?.len();
    let mut batch = Batch::default();
    loop {
        let start = filter.stats().bytes_in;
        let limit = len.min(start + DRAIN_BATCH);
        let mut end = last_line_end(source, start, limit)?;
        if end == start && (to_the_end || limit < len) {
            // The last line of a finished file, or a line longer than a batch.
            end = limit;
        }
        if end <= start {
            // Nothing left, or only a line still being written.
            break;
        }
        let mut reader = source;
        reader.seek(SeekFrom::Start(start))?;
        filter.pump(&mut reader.take(end - start), &mut batch)?;
        temp.append_at_once(&batch.0)?;
        batch.0.clear();
        if filter.stats().bytes_in == start {
            // Cut short behind our back since `len` was read: nothing more to drain.
            break;
        }
    }
    if to_the_end {
        filter.finish(&mut batch)?;
        temp.append_at_once(&batch.0)?;
    }
    Ok(())
}

/// The offset just after the last newline in `[start, len)` of `file`, or
/// `start` if there is none (a file cut short meanwhile has fewer bytes to
/// look at, never an error).
fn last_line_end(file: &File, start: u64, len: u64) -> io::Result<u64> {
    use std::os::unix::fs::FileExt;
    if len <= start {
        // The drain asks every millisecond; most times nothing is new.
        return Ok(start);
    }
    let mut buf = vec![
        0;
        usize::try_from(len - start)
            .unwrap_or(usize::MAX)
            .min(64 << 10)
    ];
    let mut end = len;
    while end > start {
        let from = end.saturating_sub(buf.len() as u64).max(start);
        let chunk = &mut buf[..usize::try_from(end - from).unwrap_or(0)];
        let read = file.read_at(chunk, from)?;
        if let Some(at) = memchr::memrchr(b'\n', &chunk[..read]) {
            return Ok(from + at as u64 + 1);
        }
        end = from;
    }
    Ok(start)
}

/// Kept bytes gathered to be written at once ([`drain_whole_lines`]).
#[derive(Default)]
struct Batch(Vec<u8>);

impl KeptSink for Batch {
    fn start(&mut self, _prefix_len: u64) -> io::Result<()> {
        Ok(())
    }

    fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.0.extend_from_slice(bytes);
        Ok(())
    }
}

/// The temp file beside the log, created at the first dropped line.
struct TempSink<'a> {
    log: &'a Path,
    source: &'a File,
    mode: u32,
    owner: (u32, u32),
    /// The log's size when opened: sizes the write buffer.
    len: u64,
    temp: Option<Temp>,
}

impl<'a> TempSink<'a> {
    fn new(log: &'a Path, source: &'a File, meta: &std::fs::Metadata) -> io::Result<Self> {
        Ok(Self {
            log,
            source,
            mode: meta.permissions().mode() & 0o7777,
            owner: (meta.uid(), meta.gid()),
            len: meta.len(),
            temp: None,
        })
    }

    /// Copies `[from, to)` of the source after what the temp file holds,
    /// in the kernel where the platform can (the sink must have started).
    fn copy_source_range(&mut self, from: u64, to: u64) -> io::Result<()> {
        let temp = self
            .temp
            .as_mut()
            .ok_or_else(|| io::Error::other("internal: copy before start"))?;
        temp.flush()?;
        let at = (&temp.file).stream_position()?;
        copy_range(self.source, &temp.file, from, at, to - from)
    }

    fn into_temp(self) -> io::Result<Temp> {
        let mut temp = self
            .temp
            .ok_or_else(|| io::Error::other("internal: rewrite without a temp file"))?;
        temp.flush()?;
        Ok(temp)
    }
}

impl KeptSink for TempSink<'_> {
    fn start(&mut self, prefix_len: u64) -> io::Result<()> {
        let temp = Temp::create(self.log, self.mode, self.owner, self.len)?;
        copy_prefix(self.source, &temp.file, prefix_len)?;
        self.temp = Some(temp);
        Ok(())
    }

    fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        match &mut self.temp {
            Some(temp) => temp.write(bytes),
            None => Err(io::Error::other("internal: write before start")),
        }
    }
}

/// Copies the untouched prefix in the kernel (no trip through our memory)
/// where the platform can, else by reading and writing.
fn copy_prefix(source: &File, target: &File, len: u64) -> io::Result<()> {
    copy_range(source, target, 0, 0, len)
}

/// Copies `len` bytes of `source` from `from` to `target` at `to`, and
/// leaves `target`'s offset after them: in the kernel where the platform
/// can, else by reading and writing. The copy goes in chunks of
/// [`WRITEBACK_EVERY`], each whole one sent on to the disk at once, so the
/// disk writes while the next one is copied and the fsync only waits for
/// the last.
fn copy_range(source: &File, target: &File, from: u64, to: u64, len: u64) -> io::Result<()> {
    let (mut off_in, mut off_out) = (from, to);
    let end = from + len;
    while off_in < end {
        let chunk = usize::try_from((end - off_in).min(WRITEBACK_EVERY)).unwrap_or(usize::MAX);
        let result = platform::copy_file_range(source, &mut off_in, target, &mut off_out, chunk);
        // A whole chunk: not for the few bytes of a small log's prefix,
        // which the fsync writes with the rest.
        if matches!(result, Ok(n) if n as u64 >= WRITEBACK_EVERY) {
            platform::start_writeback(target);
        }
        match result {
            // Cut short while we copied it: the same as above.
            Ok(0) => return Err(io::Error::new(io::ErrorKind::UnexpectedEof, TRUNCATED)),
            Ok(_) => {}
            Err(_) => return copy_by_reading(source, target, off_in, off_out, end),
        }
    }
    let mut target = target;
    target.seek(SeekFrom::Start(off_out))?;
    Ok(())
}

/// [`copy_range`]'s fallback: `[from, end)` of `source` to `target` at `to`.
fn copy_by_reading(source: &File, target: &File, from: u64, to: u64, end: u64) -> io::Result<()> {
    let mut reader = source.try_clone()?;
    let mut writer = target.try_clone()?;
    writer.seek(SeekFrom::Start(to))?;
    // A cloned descriptor shares the offset: remember and restore it.
    let resume_at = reader.stream_position()?;
    reader.seek(SeekFrom::Start(from))?;
    io::copy(&mut (&mut reader).take(end - from), &mut writer)?;
    reader.seek(SeekFrom::Start(resume_at))?;
    Ok(())
}

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// How much we write before asking the kernel to start writing it to disk.
const WRITEBACK_EVERY: u64 = 8 << 20;

/// A temp file that removes itself unless it was renamed into place.
struct Temp {
    path: PathBuf,
    file: File,
    writer: Option<BufWriter<File>>,
    keep: bool,
    /// Bytes written since writeback was last started.
    unsynced: u64,
}

impl Temp {
    /// Creates the temp file beside `log`, with a write buffer for about `len` bytes.
    fn create(log: &Path, mode: u32, owner: (u32, u32), len: u64) -> io::Result<Self> {
        let dir = log.parent().unwrap_or(Path::new("."));
        let name = log
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
        let path = dir.join(format!(".{name}.{}.{n}{TEMP_SUFFIX}", std::process::id()));
        // Without leases nothing keeps writers off the new file while we drain
        // the old one into it: O_APPEND puts our lines after theirs, never over them.
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .append(!platform::LEASES_AVAILABLE)
            .create_new(true)
            .mode(0o600)
            .open(&path)?;
        let mut temp = Self {
            path,
            file,
            writer: None,
            keep: false,
            unsynced: 0,
        };
        // Same owner and mode as the log; chown only succeeds for root, which is the case that needs it.
        let _ = std::os::unix::fs::fchown(&temp.file, Some(owner.0), Some(owner.1));
        temp.file
            .set_permissions(std::fs::Permissions::from_mode(mode))?;
        let capacity = usize::try_from(len)
            .unwrap_or(usize::MAX)
            .clamp(4 << 10, 1 << 20);
        temp.writer = Some(BufWriter::with_capacity(capacity, temp.file.try_clone()?));
        Ok(temp)
    }

    fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        let Some(writer) = &mut self.writer else {
            return Err(io::Error::other("internal: temp writer closed"));
        };
        writer.write_all(bytes)?;
        self.unsynced += bytes.len() as u64;
        if self.unsynced >= WRITEBACK_EVERY {
            // Overlap the disk writes with the rest of the filtering.
            writer.flush()?;
            platform::start_writeback(&self.file);
            self.unsynced = 0;
        }
        Ok(())
    }

    /// Writes `bytes` after everything buffered, in one `write` (a short
    /// write only on a full disk or an interrupted call).
    fn append_at_once(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.flush()?;
        if bytes.is_empty() {
            return Ok(());
        }
        (&self.file).write_all(bytes)
    }

    fn flush(&mut self) -> io::Result<()> {
        match &mut self.writer {
            Some(writer) => writer.flush(),
            None => Ok(()),
        }
    }
}

impl KeptSink for Temp {
    fn start(&mut self, _prefix_len: u64) -> io::Result<()> {
        Ok(())
    }

    fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        Temp::write(self, bytes)
    }
}

impl Drop for Temp {
    fn drop(&mut self) {
        let _ = self.flush();
        if !self.keep {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cutoff() -> Cutoff {
        Cutoff::at("2026-11-28T06:00:00Z".parse().expect("valid"))
    }

    /// Someone truncates the log (`: > x.log`, copytruncate; then perhaps
    /// writes a line to it) after we read it to its end, before our lease
    /// and rename: we give up with the reason, leave the log as they left
    /// it, and remove our temp file.
    #[test]
    fn a_log_truncated_after_our_read_is_left_as_they_left_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = dir.path().join("t.log");
        let text: String = (0..100)
            .map(|i| {
                let hour = if i < 50 { 1 } else { 7 };
                format!("[2026-11-28T0{hour}:00:00Z] line {i}\n")
            })
            .collect();
        for refill in ["", "[2026-11-28T08:00:00Z] written after the truncation\n"] {
            std::fs::write(&log, &text).expect("write");
            let truncated = std::cell::Cell::new(false);
            let outcome = rewrite_with(&log, cutoff(), None, &|| {
                // Opened with O_TRUNC, as the shell's `>` does.
                std::fs::write(&log, refill).expect("truncate");
                truncated.set(true);
            });
            assert!(truncated.get(), "the hook ran");
            let err = outcome.expect_err("given up");
            assert_eq!(err.to_string(), TRUNCATED);
            assert_eq!(std::fs::read_to_string(&log).expect("read"), refill);
            let names: Vec<_> = std::fs::read_dir(dir.path())
                .expect("list")
                .map(|e| e.expect("entry").file_name())
                .collect();
            assert_eq!(names, ["t.log"], "our temp file is gone");
        }
    }

    #[test]
    fn the_last_line_end_is_found_across_chunks_and_in_a_file_cut_short() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("l.log");
        let mut bytes = b"0123456789\n".to_vec();
        bytes.resize(200 << 10, b'x');
        std::fs::write(&path, &bytes).expect("write");
        let file = File::open(&path).expect("open");
        assert_eq!(
            last_line_end(&file, 0, bytes.len() as u64).expect("scan"),
            11
        );
        assert_eq!(
            last_line_end(&file, 11, bytes.len() as u64).expect("scan"),
            11
        );
        // Told of more bytes than the file still has: no error.
        assert_eq!(last_line_end(&file, 0, 1 << 20).expect("scan"), 11);
    }

    /// Without leases, writers append to the new file while the old one is
    /// drained into it: a line still being written in the old file stays
    /// behind until it is whole, and then goes in with one write.
    #[test]
    fn a_drain_appends_only_whole_lines_until_the_end() {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = dir.path().join("d.log");
        let old = "[2026-11-28T01:00:00Z] expired\n[2026-11-28T07:00:00Z] kept 1\n[2026-11-28T07:00:01Z] kep";
        std::fs::write(&log, old).expect("write");
        let source = File::open(&log).expect("open");
        let mut filter = LineFilter::for_len(cutoff(), old.len() as u64);
        let mut temp = Temp::create(&log, 0o644, (0, 0), 0).expect("temp");

        drain_whole_lines(&source, &mut filter, &mut temp, false).expect("drain");
        temp.flush().expect("flush");
        assert_eq!(
            std::fs::read_to_string(&temp.path).expect("read"),
            "[2026-11-28T07:00:00Z] kept 1\n"
        );
        // Without leases someone else may append to the new file now (with
        // them, nobody can open it until we are done).
        let theirs = if platform::LEASES_AVAILABLE {
            ""
        } else {
            "[2026-11-28T07:00:05Z] theirs\n"
        };
        std::fs::OpenOptions::new()
            .append(true)
            .open(&temp.path)
            .and_then(|mut f| f.write_all(theirs.as_bytes()))
            .expect("their append");
        // The old file's line is finished.
        std::fs::OpenOptions::new()
            .append(true)
            .open(&log)
            .and_then(|mut f| f.write_all(b"t 2\n[2026-11-28T07:00:02Z] no newline"))
            .expect("finish the line");
        drain_whole_lines(&source, &mut filter, &mut temp, false).expect("drain");
        drain_whole_lines(&source, &mut filter, &mut temp, true).expect("drain to the end");
        temp.flush().expect("flush");
        assert_eq!(
            std::fs::read_to_string(&temp.path).expect("read"),
            format!(
                "[2026-11-28T07:00:00Z] kept 1\n{theirs}\
                 [2026-11-28T07:00:01Z] kept 2\n[2026-11-28T07:00:02Z] no newline"
            )
        );
    }
}
