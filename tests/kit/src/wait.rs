//! Waiting for something to happen: a condition checked every few
//! milliseconds until it holds or a deadline passes, never a fixed sleep
//! that hopes it does.

use std::path::Path;
use std::time::{Duration, Instant};

use v0_prune_shared::platform::{self, Access};

/// How long a test waits for anything a daemon or a child does before failing.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// Checks `condition` every few milliseconds until it holds or `within`
/// passes; true if it held. For conditions with nothing to wake us.
pub fn wait_until(within: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    loop {
        if condition() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Waits until process `pid` holds `path` open with `access`, as the
/// engine's holder scan sees it (procfs on Linux, libproc on macOS).
pub fn wait_until_held(path: &Path, pid: u32, access: Access) -> bool {
    use std::os::unix::fs::MetadataExt;
    wait_until(PATIENCE, || {
        let Ok(meta) = std::fs::metadata(path) else {
            return false;
        };
        let id = (meta.dev(), meta.ino());
        platform::open_files(&[id].into_iter().collect())
            .get(&id)
            .is_some_and(|holders| holders.iter().any(|h| h.pid == pid && h.access == access))
    })
}
