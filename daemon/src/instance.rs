//! One daemon per build directory: the instance lock and the pid file.
//!
//! The lock, an exclusive `flock` on `BUILD_DIR/.prune-daemon/daemon.lock`,
//! is the only authority on whether a daemon runs: the kernel releases it
//! when its holder dies, however it dies. The pid file,
//! `BUILD_DIR/.prune-daemon.pid`, exists for v0's tools (`kill -0`, `kill
//! -USR1`) and for messages; a pid file without the lock behind it is stale,
//! whatever process now has that pid, and is replaced.
//!
//! This is not `.prune-daemon.lock`: that one is held for the length of each
//! prune run, by us and by v0's own pruner alike.

use std::fs::{DirBuilder, File, OpenOptions};
use std::io::{self, Write as _};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rustix::fs::{FlockOperation, flock};
use v0_prune_shared::paths::BuildDir;
use v0_prune_shared::platform;

/// How long a daemon that lost the race waits for the winner's pid file.
const PID_FILE_WAIT: Duration = Duration::from_secs(2);

/// Where the instance lock of `build` lives.
pub fn instance_lock_path(build: &BuildDir) -> PathBuf {
    build.state_dir().join("daemon.lock")
}

/// Held for the daemon's whole life; dropping it lets another daemon start.
#[derive(Debug)]
pub struct InstanceLock {
    file: File,
}

/// The outcome of trying to become the daemon of a build directory.
#[derive(Debug)]
pub enum Instance {
    /// We are the daemon.
    Acquired(InstanceLock),
    /// Another daemon holds the lock; its pid, if its pid file says.
    AlreadyRunning {
        /// From `.prune-daemon.pid`.
        pid: Option<u32>,
    },
}

/// Tries, without waiting, to become the daemon of `build`. Creates
/// `.prune-daemon/` (mode 0700) if needed.
pub fn acquire(build: &BuildDir) -> io::Result<Instance> {
    let dir = build.state_dir();
    match DirBuilder::new().mode(0o700).create(&dir) {
        Ok(()) => {}
        Err(err) if err.kind() == io::ErrorKind::AlreadyExists => {}
        Err(err) => return Err(with_path(&dir, err)),
    }
    let path = instance_lock_path(build);
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(&path)
        .map_err(|err| with_path(&path, err))?;
    match flock(&file, FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => Ok(Instance::Acquired(InstanceLock { file })),
        Err(rustix::io::Errno::WOULDBLOCK) => Ok(Instance::AlreadyRunning {
            pid: wait_for_pid(&build.pid_file()),
        }),
        Err(err) => Err(with_path(&path, err.into())),
    }
}

/// The winner of a simultaneous start writes its pid file a moment after
/// taking the lock (over a stale one, maybe); give it that moment.
fn wait_for_pid(path: &Path) -> Option<u32> {
    let deadline = Instant::now() + PID_FILE_WAIT;
    loop {
        let pid = read_pid(path);
        if let Some(pid) = pid.filter(|pid| platform::pid_alive(*pid)) {
            return Some(pid);
        }
        if Instant::now() >= deadline {
            return pid;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The pid in a pid file, if it holds one.
pub fn read_pid(path: &Path) -> Option<u32> {
    let text = std::fs::read_to_string(path).ok()?;
    text.trim().parse().ok().filter(|pid| *pid > 0)
}

/// `.prune-daemon.pid` while we run; removed on drop if it still names us.
#[derive(Debug)]
pub struct PidFile {
    path: PathBuf,
    pid: u32,
}

impl PidFile {
    /// Writes `pid` (decimal and a newline) atomically, replacing whatever
    /// was there; returns the file and the pid it replaced, if any.
    pub fn write(path: &Path, pid: u32) -> io::Result<(Self, Option<u32>)> {
        let previous = read_pid(path).filter(|old| *old != pid);
        let dir = path.parent().unwrap_or(Path::new("."));
        let tmp = dir.join(format!(".prune-daemon.pid.{pid}.tmp"));
        let written = (|| {
            let mut file = OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o644)
                .open(&tmp)?;
            file.write_all(format!("{pid}\n").as_bytes())?;
            std::fs::rename(&tmp, path)
        })();
        if let Err(err) = written {
            let _ = std::fs::remove_file(&tmp);
            return Err(with_path(path, err));
        }
        let pid_file = Self {
            path: path.to_owned(),
            pid,
        };
        Ok((pid_file, previous))
    }
}

impl Drop for InstanceLock {
    fn drop(&mut self) {
        // Released explicitly, not by the close alone: a process forked in
        // the meantime shares the open file until it execs, and would keep
        // the lock (and a successor out) that long.
        let _ = flock(&self.file, FlockOperation::Unlock);
    }
}

impl Drop for PidFile {
    fn drop(&mut self) {
        // Never remove a successor's pid file.
        if read_pid(&self.path) == Some(self.pid) {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

fn with_path(path: &Path, err: io::Error) -> io::Error {
    io::Error::new(err.kind(), format!("{}: {err}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_one_holder_at_a_time_and_the_loser_learns_the_pid() {
        let dir = tempfile::tempdir().expect("tempdir");
        let build = BuildDir::new(dir.path());
        let Instance::Acquired(lock) = acquire(&build).expect("first") else {
            panic!("the first one must win");
        };
        let (_pid_file, _) =
            PidFile::write(&build.pid_file(), std::process::id()).expect("pid file");
        match acquire(&build).expect("second") {
            Instance::AlreadyRunning { pid } => assert_eq!(pid, Some(std::process::id())),
            Instance::Acquired(_) => panic!("two holders"),
        }
        drop(lock);
        assert!(matches!(
            acquire(&build).expect("third"),
            Instance::Acquired(_)
        ));
    }

    #[test]
    fn the_pid_file_replaces_a_stale_one_and_is_removed_only_if_still_ours() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join(".prune-daemon.pid");
        std::fs::write(&path, "999999\n").expect("stale");
        let (pid_file, previous) = PidFile::write(&path, 1234).expect("write");
        assert_eq!(previous, Some(999_999));
        assert_eq!(std::fs::read_to_string(&path).expect("read"), "1234\n");
        drop(pid_file);
        assert!(!path.exists());

        let (pid_file, _) = PidFile::write(&path, 1234).expect("write");
        std::fs::write(&path, "5678\n").expect("a successor");
        drop(pid_file);
        assert_eq!(std::fs::read_to_string(&path).expect("kept"), "5678\n");
    }
}
