//! `mergeq/.queue.lock`: the merge queue's own lock, taken the way v0's mergeq takes it.
//!
//! The lock is a plain file whose presence means "held", created exclusively
//! (O_CREAT|O_EXCL) with content like `mergeq (pid 1234)`. A lock whose pid is
//! dead is stale and may be taken over. A lock we cannot attribute (no pid, or
//! empty because its holder has created but not yet written it) is treated as
//! live: we wait for it, and give up after a bounded time.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::platform::{self, FileId};
use crate::prune::PruneError;

/// How often we look at a held lock again.
const POLL: Duration = Duration::from_millis(25);

/// Numbers the aside names of stale locks, so two takeovers in one process never collide.
static ASIDE: AtomicU64 = AtomicU64::new(0);

/// Holds `.queue.lock` until dropped; the file is removed only if it is still ours.
#[derive(Debug)]
pub(crate) struct QueueLock {
    path: PathBuf,
    content: String,
    id: FileId,
}

impl QueueLock {
    /// Takes the lock, waiting up to `wait` for a live holder to release it.
    pub(crate) fn acquire(path: &Path, wait: Duration) -> Result<Self, PruneError> {
        let content = format!("v0-prune (pid {})\n", std::process::id());
        let deadline = Instant::now() + wait;
        loop {
            match create_exclusive(path, &content) {
                Ok(id) => {
                    return Ok(Self {
                        path: path.to_path_buf(),
                        content,
                        id,
                    });
                }
                Err(err) if err.kind() == io::ErrorKind::AlreadyExists => {}
                Err(err) => return Err(PruneError::io(path, err)),
            }
            let holder = match read_lock(path) {
                Ok(holder) => holder,
                // Released between our create and our read: try again at once.
                Err(err) if err.kind() == io::ErrorKind::NotFound => continue,
                Err(err) => return Err(PruneError::io(path, err)),
            };
            if holder_pid(&holder.content).is_some_and(|pid| !platform::pid_alive(pid)) {
                take_over_stale(path, &holder).map_err(|err| PruneError::io(path, err))?;
                continue;
            }
            if Instant::now() >= deadline {
                return Err(PruneError::QueueLocked {
                    path: path.display().to_string(),
                    holder: describe_holder(&holder.content),
                });
            }
            std::thread::sleep(POLL.min(deadline.saturating_duration_since(Instant::now())));
        }
    }
}

/// Removes the lock if the process named in it is dead (a pruner or mergeq
/// killed while holding it), as a taker would; a run with nothing to prune
/// never takes the lock, and must still not leave a dead one behind.
pub(crate) fn clear_stale(path: &Path) {
    let Ok(holder) = read_lock(path) else {
        return;
    };
    if holder_pid(&holder.content).is_some_and(|pid| !platform::pid_alive(pid)) {
        if let Err(err) = take_over_stale(path, &holder) {
            tracing::warn!("could not remove stale lock {}: {err}", path.display());
        }
    }
}

impl Drop for QueueLock {
    fn drop(&mut self) {
        // Someone who (wrongly) judged our lock stale may have replaced it; their
        // lock is not ours to remove. The check and the removal are two steps, so
        // a replacement in between would still be removed: only a misbehaving
        // holder can cause that, since our pid is alive while we hold the lock.
        match read_lock(&self.path) {
            Ok(held) if held.id == self.id && held.content == self.content => {
                if let Err(err) = fs::remove_file(&self.path) {
                    tracing::warn!("could not release {}: {err}", self.path.display());
                }
            }
            Ok(_) => tracing::warn!(
                "{} was replaced while we held it; leaving the new one",
                self.path.display()
            ),
            Err(err) => tracing::warn!("could not release {}: {err}", self.path.display()),
        }
    }
}

/// A lock file as we found it.
#[derive(Debug)]
struct Held {
    content: String,
    id: FileId,
}

/// Creates the lock with its content in one step: the content goes into a
/// temp file that is then hard-linked to the lock's name (which fails if the
/// lock exists, as O_EXCL does). A holder killed between creating the lock and
/// writing its pid would otherwise leave an empty lock that everyone waits on
/// forever. Filesystems without hard links get the two-step creation.
fn create_exclusive(path: &Path, content: &str) -> io::Result<FileId> {
    let n = ASIDE.fetch_add(1, Ordering::Relaxed);
    let temp = path.with_file_name(format!(
        "{}{}.lock{n}.tmp",
        super::TEMP_PREFIX,
        std::process::id()
    ));
    let written = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temp)?;
        file.write_all(content.as_bytes())?;
        file_id(&file)
    })();
    let linked = written.and_then(|id| fs::hard_link(&temp, path).map(|()| id));
    let _ = fs::remove_file(&temp);
    match linked {
        Err(err)
            if matches!(
                err.raw_os_error(),
                Some(libc::EPERM | libc::EOPNOTSUPP | libc::EMLINK)
            ) =>
        {
            create_exclusive_in_two_steps(path, content)
        }
        other => other,
    }
}

fn create_exclusive_in_two_steps(path: &Path, content: &str) -> io::Result<FileId> {
    let mut file = OpenOptions::new().write(true).create_new(true).open(path)?;
    let id = file_id(&file)?;
    if let Err(err) = file.write_all(content.as_bytes()) {
        // A half-written lock would make everyone wait for nobody.
        let _ = fs::remove_file(path);
        return Err(err);
    }
    Ok(id)
}

fn read_lock(path: &Path) -> io::Result<Held> {
    let mut file = File::open(path)?;
    let id = file_id(&file)?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    Ok(Held {
        content: String::from_utf8_lossy(&bytes).into_owned(),
        id,
    })
}

fn file_id(file: &File) -> io::Result<FileId> {
    let meta = file.metadata()?;
    Ok((meta.dev(), meta.ino()))
}

/// The pid in a lock's content, `... (pid 1234)`, if it names one.
fn holder_pid(content: &str) -> Option<u32> {
    let (_, rest) = content.split_once("(pid ")?;
    let (digits, _) = rest.split_once(')')?;
    let pid = digits.trim().parse::<u32>().ok()?;
    (pid != 0).then_some(pid)
}

fn describe_holder(content: &str) -> String {
    match content.trim() {
        "" => "an unknown process (the lock file is empty)".to_string(),
        holder => holder.to_string(),
    }
}

/// Removes a stale lock, but only the very file we judged stale.
///
/// Checking then unlinking would race with another process taking over the
/// same stale lock: it could create its fresh lock between our check and our
/// unlink, and we would delete it. Instead we move whatever is at the path
/// aside (one atomic rename) and look at what we moved: if it is the stale
/// file, we delete it; if it is someone's fresh lock, we link it back with a
/// no-replace link. The remaining window: while a fresh lock sits aside, a
/// third process may find the path free and create its own; then the link
/// back fails and two processes believe they hold the lock. That needs three
/// takers racing over one stale lock within microseconds.
fn take_over_stale(path: &Path, stale: &Held) -> io::Result<()> {
    let aside = aside_path(path);
    match fs::rename(path, &aside) {
        Ok(()) => {}
        // Someone else already cleared it.
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(err) => return Err(err),
    }
    let moved = read_lock(&aside);
    let is_stale = moved
        .as_ref()
        .is_ok_and(|moved| moved.id == stale.id && moved.content == stale.content);
    if is_stale {
        tracing::info!(
            "took over stale merge-queue lock {} ({})",
            path.display(),
            stale.content.trim()
        );
        return fs::remove_file(&aside);
    }
    let restored = fs::hard_link(&aside, path);
    let removed = fs::remove_file(&aside);
    match restored {
        Err(err) if err.kind() == io::ErrorKind::AlreadyExists => {
            tracing::warn!(
                "{}: a fresh lock was replaced while we took over a stale one",
                path.display()
            );
            removed
        }
        Err(err) => Err(err),
        Ok(()) => removed,
    }
}

fn aside_path(path: &Path) -> PathBuf {
    let n = ASIDE.fetch_add(1, Ordering::Relaxed);
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".stale.{}.{n}", std::process::id()));
    path.with_file_name(name)
}

#[cfg(test)]
mod tests {
    use std::process::{Command, Stdio};

    use super::*;

    const SHORT: Duration = Duration::from_millis(200);

    fn lock_path(dir: &tempfile::TempDir) -> PathBuf {
        dir.path().join(".queue.lock")
    }

    #[test]
    fn holds_our_content_and_removes_it_when_dropped() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = lock_path(&dir);
        let lock = QueueLock::acquire(&path, SHORT).expect("free lock");
        let content = fs::read_to_string(&path).expect("lock exists");
        assert_eq!(content, format!("v0-prune (pid {})\n", std::process::id()));
        drop(lock);
        assert!(!path.exists());
    }

    #[test]
    fn a_live_holder_makes_us_wait_then_give_up_naming_it() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = lock_path(&dir);
        let held = format!("mergeq (pid {})\n", std::process::id());
        fs::write(&path, &held).expect("write lock");
        let started = Instant::now();
        let err = QueueLock::acquire(&path, SHORT).expect_err("held");
        assert!(started.elapsed() >= SHORT, "gave up without waiting");
        match err {
            PruneError::QueueLocked { holder, .. } => {
                assert_eq!(holder, held.trim());
            }
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(fs::read_to_string(&path).expect("still there"), held);
    }

    #[test]
    fn a_live_child_holding_the_lock_is_respected() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = lock_path(&dir);
        let mut child = Command::new("sleep")
            .arg("30")
            .stdin(Stdio::null())
            .spawn()
            .expect("spawn sleep");
        let held = format!("mergeq (pid {})", child.id());
        fs::write(&path, &held).expect("write lock");
        let result = QueueLock::acquire(&path, SHORT);
        let _ = child.kill();
        let _ = child.wait();
        assert!(matches!(result, Err(PruneError::QueueLocked { .. })));
        assert_eq!(fs::read_to_string(&path).expect("still there"), held);
    }

    #[test]
    fn a_lock_without_a_pid_is_waited_for() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = lock_path(&dir);
        fs::write(&path, "").expect("write lock");
        let err = QueueLock::acquire(&path, SHORT).expect_err("unattributable lock");
        assert!(err.to_string().contains("unknown process"), "{err}");
        fs::write(&path, "held by someone").expect("write lock");
        let err = QueueLock::acquire(&path, SHORT).expect_err("unattributable lock");
        assert!(err.to_string().contains("held by someone"), "{err}");
        assert!(path.exists());
    }

    #[test]
    fn a_dead_holders_lock_is_taken_over() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = lock_path(&dir);
        let mut child = Command::new("true").spawn().expect("spawn true");
        let dead = child.id();
        child.wait().expect("reap child");
        fs::write(&path, format!("mergeq (pid {dead})\n")).expect("write lock");
        let started = Instant::now();
        let lock = QueueLock::acquire(&path, Duration::from_secs(5)).expect("stale lock");
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "waited for a dead holder"
        );
        let content = fs::read_to_string(&path).expect("our lock");
        assert!(content.starts_with("v0-prune (pid "), "{content}");
        drop(lock);
        assert!(!path.exists());
        let leftovers: Vec<_> = fs::read_dir(dir.path()).expect("list").collect();
        assert!(leftovers.is_empty(), "aside files left: {leftovers:?}");
    }

    #[test]
    fn a_lock_released_while_we_wait_is_taken() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = lock_path(&dir);
        fs::write(&path, format!("mergeq (pid {})", std::process::id())).expect("write lock");
        let releaser = {
            let path = path.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(100));
                fs::remove_file(path).expect("release");
            })
        };
        let lock = QueueLock::acquire(&path, Duration::from_secs(5)).expect("released lock");
        releaser.join().expect("releaser");
        assert!(
            fs::read_to_string(&path)
                .expect("ours")
                .starts_with("v0-prune")
        );
        drop(lock);
    }

    #[test]
    fn a_replaced_lock_is_not_removed_on_release() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = lock_path(&dir);
        let lock = QueueLock::acquire(&path, SHORT).expect("free lock");
        fs::remove_file(&path).expect("steal");
        fs::write(&path, "mergeq (pid 1)").expect("someone else's lock");
        drop(lock);
        assert_eq!(fs::read_to_string(&path).expect("kept"), "mergeq (pid 1)");
    }

    #[test]
    fn takeover_puts_back_a_fresh_lock_it_moved_by_mistake() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = lock_path(&dir);
        // We judged a stale file, but by the time we move it someone else has
        // replaced it with a fresh lock.
        fs::write(&path, "mergeq (pid 999999999)").expect("stale");
        let stale = read_lock(&path).expect("read");
        fs::remove_file(&path).expect("other taker removes it");
        fs::write(&path, "mergeq (pid 1)").expect("other taker's fresh lock");
        take_over_stale(&path, &stale).expect("takeover");
        assert_eq!(
            fs::read_to_string(&path).expect("restored"),
            "mergeq (pid 1)"
        );
        assert_eq!(fs::read_dir(dir.path()).expect("list").count(), 1);
    }

    #[test]
    fn pids_are_read_from_v0_lock_content() {
        assert_eq!(holder_pid("mergeq (pid 1234)\n"), Some(1234));
        assert_eq!(holder_pid("v0-prune (pid 7)"), Some(7));
        assert_eq!(holder_pid("mergeq (pid )"), None);
        assert_eq!(holder_pid("mergeq (pid 0)"), None);
        assert_eq!(holder_pid("mergeq (pid 12"), None);
        assert_eq!(holder_pid("mergeq"), None);
    }
}
