//! `.prune-daemon.lock`: one prune run at a time per build directory.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;

use rustix::fs::{FlockOperation, flock};

use super::PruneError;
use crate::paths::BuildDir;

/// Holds `BUILD_DIR/.prune-daemon.lock` (flock, exclusive) until dropped,
/// exactly as v0's bash pruner does, so ours and v0's never prune at once.
#[derive(Debug)]
pub struct RunLock {
    _file: File,
}

impl RunLock {
    /// Takes the lock, failing at once with [`PruneError::Busy`] if another prune holds it.
    pub fn try_acquire(build: &BuildDir) -> Result<Self, PruneError> {
        let file = Self::open(build)?;
        match flock(&file, FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => Ok(Self { _file: file }),
            Err(rustix::io::Errno::WOULDBLOCK) => {
                Err(PruneError::Busy(build.root().display().to_string()))
            }
            Err(err) => Err(PruneError::io(&build.run_lock(), err.into())),
        }
    }

    /// Takes the lock, waiting for another prune to finish first.
    pub fn acquire(build: &BuildDir) -> Result<Self, PruneError> {
        let file = Self::open(build)?;
        flock(&file, FlockOperation::LockExclusive)
            .map_err(|err| PruneError::io(&build.run_lock(), err.into()))?;
        Ok(Self { _file: file })
    }

    fn open(build: &BuildDir) -> Result<File, PruneError> {
        let path = build.run_lock();
        // An explicit mode: under a umask of 0 the lock would be world-writable.
        OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o644)
            .open(&path)
            .map_err(|err| PruneError::io(&path, err))
    }
}
