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

use std::fmt::{self, Write as _};
use std::fs::{DirBuilder, File, OpenOptions};
use std::io::{self, Write as _};
use std::os::fd::AsFd;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::{Context, SubscriberExt};

/// Called with each line written (without its newline); the daemon publishes
/// it as a `LogLine` event.
pub type LineListener = Arc<dyn Fn(&str) + Send + Sync>;

/// Writes finished lines to the log file (and maybe stdout) and tells the listener.
pub struct LogWriter {
    path: PathBuf,
    file: Mutex<OpenLog>,
    echo_stdout: AtomicBool,
    listener: Mutex<Option<LineListener>>,
}

/// The descriptor we append to, and which file it is.
struct OpenLog {
    file: File,
    id: (u64, u64),
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
            file: Mutex::new(log),
            echo_stdout: AtomicBool::new(echo),
            listener: Mutex::new(None),
        })
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
    /// in place (same file), but v0's bash pruner renames a new file over
    /// it, and a user may delete it: lines written to the old inode would be
    /// lost, so a replaced or missing log is reopened first.
    fn append(&self, bytes: &[u8]) {
        let mut log = self.file.lock().unwrap_or_else(PoisonError::into_inner);
        let replaced = match std::fs::metadata(&self.path) {
            Ok(meta) => (meta.dev(), meta.ino()) != log.id,
            Err(_) => true,
        };
        if replaced && let Ok(reopened) = OpenLog::open(&self.path) {
            *log = reopened;
        }
        // A log that cannot be written must not take the daemon down; there
        // is nowhere better to report it.
        let _ = write_whole(&log.file, bytes);
    }
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
        let writer = LogWriter::open(&path, false).expect("open");
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
        std::fs::remove_file(&path).expect("remove");
        writer.write_line("three");
        assert_eq!(std::fs::read_to_string(&path).expect("read"), "three\n");
    }
}
