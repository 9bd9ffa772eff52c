//! Where everything lives under a v0 build directory.
//!
//! One place names every path we read or write, so the contract's layout
//! (`../shared/V0-CONTRACT.md`) is written down exactly once.

use std::path::{Path, PathBuf};

/// A v0 project's build directory (`BUILD_DIR`), the root of all state we prune.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildDir {
    root: PathBuf,
}

impl BuildDir {
    /// Wraps a path that is already known to be the build directory.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The build directory itself.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `operations/`: one sub-directory per v0 operation.
    pub fn operations_dir(&self) -> PathBuf {
        self.root.join("operations")
    }

    /// `mergeq/`: the merge queue's directory.
    pub fn mergeq_dir(&self) -> PathBuf {
        self.root.join("mergeq")
    }

    /// `mergeq/queue.json`: the merge queue.
    pub fn queue_file(&self) -> PathBuf {
        self.mergeq_dir().join("queue.json")
    }

    /// `mergeq/.queue.lock`: the merge queue's lock file (presence = held).
    pub fn queue_lock(&self) -> PathBuf {
        self.mergeq_dir().join(".queue.lock")
    }

    /// `logs/`: where v0's daemons keep their logs.
    pub fn logs_dir(&self) -> PathBuf {
        self.root.join("logs")
    }

    /// `logs/prune-daemon.log`: the prune daemon's own log.
    pub fn daemon_log(&self) -> PathBuf {
        self.logs_dir().join("prune-daemon.log")
    }

    /// `.prune-daemon.pid`: the running prune daemon's pid.
    pub fn pid_file(&self) -> PathBuf {
        self.root.join(".prune-daemon.pid")
    }

    /// `.prune-daemon.lock`: flock'ed for the length of a prune run, so two
    /// pruners never run at once (v0 does the same).
    pub fn run_lock(&self) -> PathBuf {
        self.root.join(".prune-daemon.lock")
    }

    /// `.prune-daemon/log-index`: what earlier runs verified about each log (a cache).
    pub fn log_index(&self) -> PathBuf {
        self.state_dir().join("log-index")
    }

    /// `.prune-daemon/`: our own state (run history, socket when it fits).
    pub fn state_dir(&self) -> PathBuf {
        self.root.join(".prune-daemon")
    }
}
