//! The engine's own-log hook (`prune::logs::OwnLog`): a log this process
//! appends to is rewritten under it where ranges cannot be collapsed, only
//! when nobody else writes to it and something in it expired; held by a
//! second writer, it is skipped as any held log is.
//!
//! On tmpfs (`/dev/shm`), where collapse-range is missing; ignored, with
//! that reason, where the build found none.

mod support;

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use support::{kept_part, log_text, one_at_a_time, options};
use v0_prune_shared::paths::BuildDir;
use v0_prune_shared::platform::FileId;
use v0_prune_shared::prune::logs::{self, OwnLog};
use v0_prune_shared::prune::{LogMethod, LogsReport, ignore_events};
use v0_prune_testkit::Writer;

/// A writer holding its log with O_APPEND, as the daemon does: lets go of
/// it on request and appends to whatever the path names afterwards.
struct Appender {
    path: PathBuf,
    file: Mutex<Option<File>>,
    released: AtomicUsize,
}

impl Appender {
    fn open(path: &Path) -> Arc<Self> {
        Arc::new(Self {
            path: path.to_owned(),
            file: Mutex::new(Some(append(path))),
            released: AtomicUsize::new(0),
        })
    }

    fn write(&self, line: &str) {
        let file = self.file.lock().expect("lock");
        let mut file = file.as_ref().expect("held");
        file.write_all(line.as_bytes()).expect("append");
    }
}

impl OwnLog for Appender {
    fn file_id(&self) -> Option<FileId> {
        let file = self.file.lock().expect("lock");
        let meta = file.as_ref()?.metadata().ok()?;
        Some((meta.dev(), meta.ino()))
    }

    fn replace_while_released(&self, replace: &mut dyn FnMut()) -> io::Result<()> {
        let mut file = self.file.lock().expect("lock");
        *file = None;
        self.released.fetch_add(1, Ordering::SeqCst);
        replace();
        *file = Some(append(&self.path));
        Ok(())
    }
}

fn append(path: &Path) -> File {
    OpenOptions::new()
        .append(true)
        .open(path)
        .expect("open for appending")
}

/// A build directory on tmpfs (`/dev/shm`, which the build found writable
/// and without collapse-range) with `logs/own.log`.
fn tmpfs_build(text: &str) -> (tempfile::TempDir, BuildDir, PathBuf) {
    let dir = tempfile::tempdir_in("/dev/shm").expect("a directory in /dev/shm");
    let build = BuildDir::new(dir.path());
    std::fs::create_dir_all(build.logs_dir()).expect("logs dir");
    let path = build.logs_dir().join("own.log");
    std::fs::write(&path, text).expect("seed");
    assert!(
        !v0_prune_shared::platform::supports_collapse(&File::open(&path).expect("open")),
        "/dev/shm collapses ranges here"
    );
    (dir, build, path)
}

fn prune(build: &BuildDir, own: &Arc<Appender>) -> LogsReport {
    let own: Arc<dyn OwnLog> = Arc::clone(own) as Arc<dyn OwnLog>;
    logs::with_own_log(own, || {
        logs::prune_all(build, &options(), &mut ignore_events).expect("prune")
    })
}

fn inode(path: &Path) -> u64 {
    std::fs::metadata(path).expect("stat").ino()
}

#[test]
#[cfg_attr(
    not(v0_prune_has_shm),
    ignore = "needs a writable tmpfs at /dev/shm (a filesystem without collapse-range)"
)]
fn our_own_appended_log_is_rewritten_under_us_and_we_write_on_into_the_new_file() {
    let _serial = one_at_a_time();
    let text = log_text(200, 150);
    let (_dir, build, path) = tmpfs_build(&text);
    let own = Appender::open(&path);
    let before = inode(&path);
    let report = prune(&build, &own);
    assert_eq!(own.released.load(Ordering::SeqCst), 1);
    assert_eq!(report.pruned.len(), 1, "{report:?}");
    assert_eq!(report.pruned[0].method, LogMethod::Rewrite);
    assert_eq!(report.lines_removed, 150);
    assert_ne!(inode(&path), before, "renamed into place");
    own.write("[2026-11-28T10:00:00Z] after the prune\n");
    assert_eq!(
        std::fs::read_to_string(&path).expect("read"),
        format!(
            "{}[2026-11-28T10:00:00Z] after the prune\n",
            kept_part(&text)
        )
    );

    // Nothing expired any more: the writer is not disturbed.
    let report = prune(&build, &own);
    assert_eq!(own.released.load(Ordering::SeqCst), 1, "not released again");
    assert!(
        report.pruned.is_empty() && report.skipped.is_empty(),
        "{report:?}"
    );
}

#[test]
#[cfg_attr(
    not(v0_prune_has_shm),
    ignore = "needs a writable tmpfs at /dev/shm (a filesystem without collapse-range)"
)]
fn without_the_hook_or_with_a_second_writer_our_log_is_skipped() {
    let _serial = one_at_a_time();
    let text = log_text(200, 150);
    let (_dir, build, path) = tmpfs_build(&text);
    let own = Appender::open(&path);
    // Not announced as our own: held by an appender, like any other log.
    let report = logs::prune_all(&build, &options(), &mut ignore_events).expect("prune");
    assert_eq!(report.skipped.len(), 1, "{report:?}");
    assert!(
        // tmpfs says it cannot collapse ranges; the portable build (as
        // macOS) that it has no collapse-range at all.
        report.skipped[0].reason.contains("collapse"),
        "{report:?}"
    );

    let other = Writer::appending_unconfirmed(&path);
    let report = prune(&build, &own);
    drop(other);
    assert_eq!(own.released.load(Ordering::SeqCst), 0, "never let go");
    assert_eq!(report.skipped.len(), 1, "{report:?}");
    assert!(
        report.skipped[0]
            .reason
            .contains("held open by an appender"),
        "{report:?}"
    );
    assert_eq!(std::fs::read_to_string(&path).expect("read"), text);
}
