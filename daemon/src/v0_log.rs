//! The daemon's log, `logs/prune-daemon.log`, in v0's line format.
//!
//! Every line is `[YYYY-MM-DDTHH:MM:SSZ] message` (UTC), the format v0 users
//! grep and our own pruner understands. Lines come from `tracing` events
//! through [`V0LogLayer`] and are written by a [`LogWriter`]:
//! - with one `write()` each, on a descriptor opened with `O_APPEND`, so the
//!   pruning engine can collapse the head of our own log in place while we
//!   hold it, without losing or tearing a line;
//! - echoed to stdout only when stdout is not that very file: v0 starts the
//!   daemon as `nohup v0-prune-daemon >> logs/prune-daemon.log 2>&1 &`, and a
//!   line must not appear twice;
//! - handed to a listener (the event hub), so subscribers see each line live.
//!
//! The writer is the engine's [`OwnLog`]: where the pruner cannot collapse
//! the log's head in place (tmpfs, macOS), it asks us to let go of the file.
//! We then hold our lines in memory, close our descriptor, and point stdout
//! and stderr, if they are the log, at a stand-in socket; the engine rewrites
//! and renames the log as if nobody held it; then all of them are pointed at
//! the new file (`dup2`), and what waited is written there, in order.

use std::fmt::{self, Write as _};
use std::fs::{DirBuilder, File, OpenOptions};
use std::io::Read as _;
use std::io::{self, Write as _};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::{Context, SubscriberExt};
use v0_prune_shared::platform::FileId;
use v0_prune_shared::prune::logs::OwnLog;

/// Called with each line written (without its newline); the daemon publishes
/// it as a `LogLine` event.
pub type LineListener = Arc<dyn Fn(&str) + Send + Sync>;

/// Writes finished lines to the log file (and maybe stdout) and tells the listener.
pub struct LogWriter {
    path: PathBuf,
    state: Mutex<State>,
    echo_stdout: AtomicBool,
    listener: Mutex<Option<LineListener>>,
    /// Descriptors that follow the log to a new file when they are that
    /// file: stdout and stderr (a test's own descriptor in unit tests).
    std_fds: Vec<RawFd>,
}

/// The log as the writer has it.
#[derive(Default)]
struct State {
    /// The descriptor we append to; `None` while released, or if it could
    /// not be opened (the next line tries again).
    log: Option<OpenLog>,
    /// The file is being replaced: lines wait in `waiting`.
    released: bool,
    /// Whole lines not yet written, oldest first; written before any newer line.
    waiting: Vec<u8>,
}

/// The descriptor we append to, and which file it is.
struct OpenLog {
    file: File,
    id: FileId,
}

impl OpenLog {
    fn open(path: &Path) -> io::Result<Self> {
        if let Some(dir) = path.parent() {
            DirBuilder::new().recursive(true).mode(0o755).create(dir)?;
        }
        let file = OpenOptions::new()
            .append(true)
            .create(true)
            .mode(0o644)
            .open(path)?;
        let meta = file.metadata()?;
        Ok(Self {
            file,
            id: (meta.dev(), meta.ino()),
        })
    }
}

impl fmt::Debug for LogWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LogWriter")
            .field("path", &self.path)
            .field("echo_stdout", &self.echo_stdout)
            .finish_non_exhaustive()
    }
}

impl LogWriter {
    /// Opens (creating it and its directory) the log at `path` for appending;
    /// with `echo`, lines also go to stdout unless stdout is that file.
    pub fn open(path: &Path, echo: bool) -> io::Result<Self> {
        let log = OpenLog::open(path)?;
        let echo = echo && !stdout_is(&log.file);
        Ok(Self {
            path: path.to_owned(),
            state: Mutex::new(State {
                log: Some(log),
                ..State::default()
            }),
            echo_stdout: AtomicBool::new(echo),
            listener: Mutex::new(None),
            std_fds: vec![libc::STDOUT_FILENO, libc::STDERR_FILENO],
        })
    }

    /// Treats `fds` instead of stdout and stderr as the descriptors that
    /// follow the log, so a test can watch them without touching its own stdout.
    #[cfg(test)]
    fn with_std_fds(mut self, fds: Vec<RawFd>) -> Self {
        self.std_fds = fds;
        self
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Sets who hears about each line from now on.
    pub fn set_listener(&self, listener: LineListener) {
        *self.listener.lock().unwrap_or_else(PoisonError::into_inner) = Some(listener);
    }

    /// Drops the listener (at exit, once nobody can receive events any more).
    pub fn clear_listener(&self) {
        *self.listener.lock().unwrap_or_else(PoisonError::into_inner) = None;
    }

    /// Writes one line; `line` carries no newline.
    pub fn write_line(&self, line: &str) {
        let mut bytes = Vec::with_capacity(line.len() + 1);
        bytes.extend_from_slice(line.as_bytes());
        bytes.push(b'\n');
        self.append(&bytes);
        if self.echo_stdout.load(Ordering::Relaxed) {
            let mut out = io::stdout().lock();
            if out.write_all(&bytes).and_then(|()| out.flush()).is_err() {
                // A closed terminal or pipe: stop trying, the file has it all.
                self.echo_stdout.store(false, Ordering::Relaxed);
            }
        }
        // Called without holding the lock: the listener may itself log (the
        // hub reports a subscriber it dropped), which comes back here.
        let listener = self
            .listener
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        if let Some(listener) = listener {
            listener(line);
        }
    }
}

impl LogWriter {
    /// Appends to the file now at our path. Our own pruner collapses the log
    /// in place (same file) or replaces it with our cooperation
    /// ([`OwnLog`]), but v0's bash pruner renames a new file over it, and a
    /// user may delete it: lines written to the old inode would be lost, so
    /// a replaced or missing log is reopened first (and stdout and stderr
    /// follow it when they were the old file).
    fn append(&self, bytes: &[u8]) {
        let mut state = self.lock();
        if state.released {
            state.waiting.extend_from_slice(bytes);
            return;
        }
        let current = std::fs::metadata(&self.path).ok();
        let open_id = state.log.as_ref().map(|log| log.id);
        let replaced = current.is_none_or(|meta| Some((meta.dev(), meta.ino())) != open_id);
        if replaced && let Ok(reopened) = OpenLog::open(&self.path) {
            if let Some(old) = open_id {
                for fd in self.fds_on(old) {
                    let _ = redirect(reopened.file.as_fd(), fd);
                }
            }
            state.log = Some(reopened);
        }
        let State { log, waiting, .. } = &mut *state;
        // A log that cannot be written must not take the daemon down; there
        // is nowhere better to report it.
        if let Some(log) = log {
            if !waiting.is_empty() && write_whole(&log.file, waiting).is_ok() {
                waiting.clear();
            }
            let _ = write_whole(&log.file, bytes);
        } else {
            // Not even a new file could be opened: keep the line for the next try.
            waiting.extend_from_slice(bytes);
        }
    }

    /// Which of [`LogWriter::std_fds`] are open on the file `id`.
    fn fds_on(&self, id: FileId) -> Vec<RawFd> {
        self.std_fds
            .iter()
            .copied()
            .filter(|&fd| {
                // SAFETY: stdout and stderr stay open for the life of the
                // process (as `std::io::stdout().as_fd()` assumes); one that
                // was closed fails fstat with EBADF and is left alone.
                let fd = unsafe { BorrowedFd::borrow_raw(fd) };
                // The casts are for macOS, where these fields are narrower.
                #[allow(clippy::unnecessary_cast)]
                rustix::fs::fstat(fd).is_ok_and(|st| (st.st_dev as u64, st.st_ino as u64) == id)
            })
            .collect()
    }
}

impl OwnLog for LogWriter {
    fn file_id(&self) -> Option<FileId> {
        self.lock().log.as_ref().map(|log| log.id)
    }

    fn replace_while_released(&self, replace: &mut dyn FnMut()) -> io::Result<()> {
        let Some(mut released) = self.release()? else {
            return Ok(());
        };
        replace();
        released.take_up()
    }
}

impl LogWriter {
    /// Lets go of the log: lines wait from now on, our descriptor is closed,
    /// and stdout and stderr, where they are the log, write to a stand-in.
    /// `None` if it is let go of already.
    fn release(&self) -> io::Result<Option<Released<'_>>> {
        let mut state = self.lock();
        if state.released {
            return Ok(None);
        }
        let fds = state
            .log
            .as_ref()
            .map(|log| self.fds_on(log.id))
            .unwrap_or_default();
        let stand_in = if fds.is_empty() {
            None
        } else {
            let (reader, writer) = UnixStream::pair()?;
            reader.set_nonblocking(true)?;
            for (n, &fd) in fds.iter().enumerate() {
                if let Err(err) = redirect(writer.as_fd(), fd) {
                    // Put back the ones already moved; the log stays as it is.
                    if let Some(log) = &state.log {
                        for &fd in &fds[..n] {
                            let _ = redirect(log.file.as_fd(), fd);
                        }
                    }
                    return Err(err);
                }
            }
            Some(StandIn { reader, writer })
        };
        state.released = true;
        state.log = None;
        Ok(Some(Released {
            writer: self,
            fds,
            stand_in,
            done: false,
        }))
    }
}

/// Stdout and stderr while the log is being replaced: a socket whose other
/// end we read afterwards, so whatever is written to them meanwhile (a
/// panic message) reaches the new file instead of a deleted one.
struct StandIn {
    reader: UnixStream,
    writer: UnixStream,
}

/// The log let go of; [`Released::take_up`] (or dropping it, if the
/// replacement panicked) takes up the file now at the path.
struct Released<'a> {
    writer: &'a LogWriter,
    fds: Vec<RawFd>,
    stand_in: Option<StandIn>,
    done: bool,
}

impl Released<'_> {
    /// Opens the file now at the path, points the released descriptors at
    /// it, and writes what waited: first what went to stdout and stderr
    /// meanwhile, then our lines, all before any later line.
    fn take_up(&mut self) -> io::Result<()> {
        if self.done {
            return Ok(());
        }
        self.done = true;
        let writer = self.writer;
        let mut state = writer.lock();
        state.released = false;
        let opened = OpenLog::open(&writer.path);
        // Without a log, somewhere harmless: nobody must block on a stand-in nobody reads.
        let dev_null = match &opened {
            Ok(_) => None,
            Err(_) => File::options().write(true).open("/dev/null").ok(),
        };
        let target = match (&opened, &dev_null) {
            (Ok(log), _) => Some(log.file.as_fd()),
            (Err(_), Some(dev_null)) => Some(dev_null.as_fd()),
            (Err(_), None) => None,
        };
        let mut result = Ok(());
        if let Some(target) = target {
            for &fd in &self.fds {
                if let Err(err) = redirect(target, fd) {
                    result = Err(err);
                }
            }
        }
        let mut stray = Vec::new();
        if let Some(StandIn { mut reader, writer }) = self.stand_in.take() {
            drop(writer);
            let mut buf = [0u8; 8192];
            loop {
                match reader.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => stray.extend_from_slice(&buf[..n]),
                    Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                    // Drained (a write still in flight on another thread is
                    // the one thing that can miss its turn).
                    Err(_) => break,
                }
            }
        }
        if !stray.is_empty() && !stray.ends_with(b"\n") {
            stray.push(b'\n');
        }
        stray.append(&mut state.waiting);
        state.waiting = stray;
        match opened {
            Ok(log) => {
                if write_whole(&log.file, &state.waiting).is_ok() {
                    state.waiting.clear();
                }
                state.log = Some(log);
                result
            }
            // The next line tries again, and writes what waited first.
            Err(err) => Err(err),
        }
    }
}

impl Drop for Released<'_> {
    fn drop(&mut self) {
        let _ = self.take_up();
    }
}

/// Points descriptor `fd` at the open file `to` (`dup2`, which replaces it
/// atomically: a write on another thread goes to one file or the other).
fn redirect(to: BorrowedFd<'_>, fd: RawFd) -> io::Result<()> {
    // SAFETY: dup2 takes descriptor numbers only; `fd` is stdout or stderr
    // (or a test's descriptor), which we mean to replace.
    if unsafe { libc::dup2(to.as_raw_fd(), fd) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// One `write()` for the whole line: with `O_APPEND` the kernel places it at
/// the end atomically, so concurrent appends and an in-place collapse of the
/// file's head never interleave with it. Only a short write (a full disk)
/// needs a second call.
fn write_whole(mut file: &File, mut bytes: &[u8]) -> io::Result<()> {
    while !bytes.is_empty() {
        match file.write(bytes) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => bytes = &bytes[n..],
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
    }
    Ok(())
}

/// Whether our stdout is `file` (same device and inode), as when v0 starts
/// us with `>> logs/prune-daemon.log`.
fn stdout_is(file: &File) -> bool {
    let Ok(log) = rustix::fs::fstat(file.as_fd()) else {
        return false;
    };
    match rustix::fs::fstat(io::stdout()) {
        Ok(out) => out.st_dev == log.st_dev && out.st_ino == log.st_ino,
        // No stdout at all: nothing to echo to.
        Err(_) => true,
    }
}

/// Formats one v0 log line: `[2026-11-28T12:00:00Z] message`.
pub fn format_line(at: jiff::Timestamp, message: &str) -> String {
    let stamp = jiff::Timestamp::from_second(at.as_second()).unwrap_or(at);
    format!("[{}] {message}", stamp.strftime("%Y-%m-%dT%H:%M:%SZ"))
}

/// The writer behind `dispatch`, if it writes through a [`V0LogLayer`]: how
/// the control loop finds the log it hands the engine as its own.
pub fn writer_of(dispatch: &tracing::Dispatch) -> Option<Arc<LogWriter>> {
    dispatch
        .downcast_ref::<V0LogLayer>()
        .map(|layer| Arc::clone(&layer.writer))
}

/// The `tracing` layer that turns events into v0 log lines.
#[derive(Debug, Clone)]
pub struct V0LogLayer {
    writer: Arc<LogWriter>,
}

impl V0LogLayer {
    /// A layer writing through `writer`.
    pub fn new(writer: Arc<LogWriter>) -> Self {
        Self { writer }
    }
}

impl<S: Subscriber> Layer<S> for V0LogLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let mut visitor = MessageVisitor::default();
        event.record(&mut visitor);
        let prefix = match *event.metadata().level() {
            Level::ERROR => "Error: ",
            Level::WARN => "Warning: ",
            _ => "",
        };
        let message = one_line(&format!("{prefix}{}", visitor.finish()));
        self.writer
            .write_line(&format_line(jiff::Timestamp::now(), &message));
    }
}

/// A dispatcher that writes INFO and above to `writer` in v0's format; the
/// daemon installs it on its own threads only, so a host process (the
/// `v0-prune daemon` command) keeps whatever global subscriber it has.
pub fn dispatch(writer: Arc<LogWriter>) -> tracing::Dispatch {
    let subscriber = tracing_subscriber::registry()
        .with(LevelFilter::INFO)
        .with(V0LogLayer::new(writer));
    tracing::Dispatch::new(subscriber)
}

/// A log line is one line: a message with newlines (a panic's) would
/// otherwise start lines without a timestamp.
fn one_line(message: &str) -> String {
    if !message.contains(['\n', '\r']) {
        return message.to_owned();
    }
    message
        .split(['\n', '\r'])
        .filter(|part| !part.trim().is_empty())
        .collect::<Vec<_>>()
        .join(" | ")
}

/// Collects an event's message and any other fields as ` key=value`.
#[derive(Default)]
struct MessageVisitor {
    message: String,
    fields: String,
}

impl MessageVisitor {
    fn finish(self) -> String {
        if self.fields.is_empty() {
            self.message
        } else if self.message.is_empty() {
            self.fields.trim_start().to_owned()
        } else {
            format!("{}{}", self.message, self.fields)
        }
    }
}

impl Visit for MessageVisitor {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            let _ = write!(self.fields, " {}={value}", field.name());
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            let _ = write!(self.fields, " {}={value:?}", field.name());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_have_v0_timestamp_format() {
        let at: jiff::Timestamp = "2026-11-28T12:00:00.734Z".parse().expect("valid");
        assert_eq!(
            format_line(at, "Starting pruning..."),
            "[2026-11-28T12:00:00Z] Starting pruning..."
        );
    }

    #[test]
    fn multi_line_messages_become_one_line() {
        assert_eq!(one_line("a\nb\r\n\nc"), "a | b | c");
        assert_eq!(one_line("plain"), "plain");
    }

    #[test]
    fn events_become_lines_in_the_file_and_reach_the_listener() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("logs").join("prune-daemon.log");
        let writer = Arc::new(LogWriter::open(&path, false).expect("open"));
        let heard = Arc::new(Mutex::new(Vec::<String>::new()));
        let sink = Arc::clone(&heard);
        writer.set_listener(Arc::new(move |line| {
            sink.lock().expect("lock").push(line.to_owned())
        }));
        tracing::dispatcher::with_default(&dispatch(Arc::clone(&writer)), || {
            tracing::info!("Prune daemon starting (PID: {}, interval: {}s)", 42, 3600);
            tracing::warn!(path = "a.log", "could not prune");
            tracing::debug!("not written: below INFO");
        });
        let text = std::fs::read_to_string(&path).expect("read log");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert!(lines[0].ends_with("] Prune daemon starting (PID: 42, interval: 3600s)"));
        assert!(lines[0].starts_with('[') && lines[0].as_bytes()[20] == b'Z');
        assert!(
            lines[1].ends_with("] Warning: could not prune path=a.log"),
            "{text}"
        );
        assert_eq!(*heard.lock().expect("lock"), lines);
    }

    #[test]
    fn appends_to_an_existing_log() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("prune-daemon.log");
        std::fs::write(&path, "[2026-01-01T00:00:00Z] earlier\n").expect("seed");
        let writer = LogWriter::open(&path, false).expect("open");
        writer.write_line("[2026-01-01T00:00:01Z] later");
        assert_eq!(
            std::fs::read_to_string(&path).expect("read"),
            "[2026-01-01T00:00:00Z] earlier\n[2026-01-01T00:00:01Z] later\n"
        );
    }
}

#[cfg(test)]
mod reopen_tests {
    use super::*;

    #[test]
    fn a_log_replaced_or_removed_under_us_is_reopened() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("prune-daemon.log");
        std::fs::write(&path, "").expect("create");
        // Stands for stdout under v0's `>> prune-daemon.log`.
        let stdout = OpenOptions::new().append(true).open(&path).expect("stdout");
        let writer = LogWriter::open(&path, false)
            .expect("open")
            .with_std_fds(vec![std::os::fd::AsRawFd::as_raw_fd(&stdout)]);
        writer.write_line("one");
        // v0's bash pruner: rewrite to a temp file, rename over.
        let tmp = dir.path().join("prune-daemon.log.tmp");
        std::fs::write(&tmp, "one (kept)\n").expect("tmp");
        std::fs::rename(&tmp, &path).expect("rename");
        writer.write_line("two");
        assert_eq!(
            std::fs::read_to_string(&path).expect("read"),
            "one (kept)\ntwo\n"
        );
        let ino = |meta: std::fs::Metadata| meta.ino();
        assert_eq!(
            ino(stdout.metadata().expect("stdout")),
            ino(std::fs::metadata(&path).expect("log")),
            "stdout follows the log to the new file"
        );
        std::fs::remove_file(&path).expect("remove");
        writer.write_line("three");
        assert_eq!(std::fs::read_to_string(&path).expect("read"), "three\n");
    }
}

#[cfg(test)]
mod own_log_tests {
    use std::io::Write as _;
    use std::os::fd::AsRawFd;
    use std::time::Duration;

    use v0_prune_shared::prune::Cutoff;
    use v0_prune_shared::prune::logs::rewrite::{self, Rewrite};

    use super::*;

    const THREADS: usize = 4;
    const LINES: usize = 3000;
    const SWAPS: usize = 6;

    fn id_of(meta: &std::fs::Metadata) -> FileId {
        (meta.dev(), meta.ino())
    }

    /// Several threads log while the engine's rewrite replaces the file five
    /// times under them: every line is in the final file exactly once and in
    /// order, the expired ones are gone, and the descriptor standing for
    /// stdout follows the log to each new file, carrying what was written to
    /// it meanwhile.
    #[test]
    fn the_log_is_replaced_under_concurrent_writers_without_losing_a_line() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("prune-daemon.log");
        let mut seed = String::new();
        for i in 0..500 {
            seed.push_str(&format!("[2020-01-01T00:00:00Z] expired {i}\n"));
        }
        std::fs::write(&path, seed).expect("seed");
        // Stands for stdout as v0 sets it up: the log, opened for appending.
        let stdout = OpenOptions::new().append(true).open(&path).expect("stdout");
        let writer = Arc::new(
            LogWriter::open(&path, false)
                .expect("open")
                .with_std_fds(vec![stdout.as_raw_fd()]),
        );
        let now = format_line(jiff::Timestamp::now(), "");
        let stamp = now.trim_end().to_owned();
        let cutoff = Cutoff::at("2025-01-01T00:00:00Z".parse().expect("valid"));

        let threads: Vec<_> = (0..THREADS)
            .map(|t| {
                let writer = Arc::clone(&writer);
                let stamp = stamp.clone();
                std::thread::spawn(move || {
                    for n in 0..LINES {
                        writer.write_line(&format!("{stamp} thread {t} line {n:05}"));
                        if n % 100 == 0 {
                            std::thread::sleep(Duration::from_millis(1));
                        }
                    }
                })
            })
            .collect();

        let mut replaced = 0;
        for swap in 0..SWAPS {
            std::thread::sleep(Duration::from_millis(10));
            // Something expired for each swap to remove.
            writer.write_line(&format!("[2020-01-01T00:00:00Z] expired again {swap}"));
            let mut outcome = None;
            writer
                .replace_while_released(&mut || {
                    (&stdout)
                        .write_all(format!("stray write {swap} to stdout\n").as_bytes())
                        .expect("stray write");
                    // Lines pile up meanwhile.
                    std::thread::sleep(Duration::from_millis(15));
                    outcome = Some(rewrite::rewrite(&path, cutoff, None).expect("rewrite"));
                })
                .expect("taken up again");
            if matches!(outcome, Some(Rewrite::Replaced(..))) {
                replaced += 1;
            }
            let live = id_of(&std::fs::metadata(&path).expect("log"));
            assert_eq!(writer.file_id(), Some(live), "the writer follows the log");
            assert_eq!(
                id_of(&stdout.metadata().expect("stdout")),
                live,
                "stdout follows the log"
            );
        }
        for thread in threads {
            thread.join().expect("writer thread");
        }
        assert_eq!(replaced, SWAPS, "every swap replaced the file");

        let text = std::fs::read_to_string(&path).expect("read");
        assert!(!text.contains("expired"), "expired lines are gone");
        for t in 0..THREADS {
            let mine: Vec<&str> = text
                .lines()
                .filter(|line| line.contains(&format!(" thread {t} line ")))
                .collect();
            let expected: Vec<String> = (0..LINES)
                .map(|n| format!("{stamp} thread {t} line {n:05}"))
                .collect();
            assert_eq!(mine, expected, "thread {t}: every line once, in order");
        }
        for swap in 0..SWAPS {
            let stray = format!("stray write {swap} to stdout");
            assert_eq!(text.lines().filter(|l| *l == stray).count(), 1, "{stray}");
        }
    }

    #[test]
    fn a_panic_while_released_still_takes_the_log_up_again() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("prune-daemon.log");
        let writer = LogWriter::open(&path, false).expect("open");
        writer.write_line("before");
        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _ = writer.replace_while_released(&mut || {
                writer.write_line("during");
                panic!("the replacement failed");
            });
        }));
        assert!(panicked.is_err());
        assert_eq!(
            writer.file_id(),
            Some(id_of(&std::fs::metadata(&path).expect("log")))
        );
        writer.write_line("after");
        assert_eq!(
            std::fs::read_to_string(&path).expect("read"),
            "before\nduring\nafter\n"
        );
    }

    #[test]
    fn the_writer_is_found_from_the_daemons_dispatch() {
        let dir = tempfile::tempdir().expect("tempdir");
        let writer = Arc::new(LogWriter::open(&dir.path().join("d.log"), false).expect("open"));
        let found = writer_of(&dispatch(Arc::clone(&writer))).expect("found");
        assert!(Arc::ptr_eq(&found, &writer));
        assert!(writer_of(&tracing::Dispatch::none()).is_none());
    }
}
