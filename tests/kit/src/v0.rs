//! The real v0, as published: where it is, and a writable copy of it for a
//! test to install into, start daemons from, or compare with.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::bins::workspace_root;

/// Where the tests look for v0, shared with the build scripts that decide
/// whether the tests needing it run (`shared/src/test_needs.rs`).
#[path = "../../../shared/src/test_needs.rs"]
#[allow(dead_code)] // only `real_v0` is for the kit; the rest is the build scripts'
mod test_needs;

/// v0 as published, read-only: `$V0_SOURCE` when set, else `shared/v0`
/// beside the repository or beside one of its ancestors (CI: a sibling of
/// the clone; a worktree: a sibling of an ancestor). The tests that call it
/// are ignored where the build found no v0 (`v0_prune_has_v0`), so a panic
/// here means the v0 went away after the build.
pub fn real_v0() -> PathBuf {
    let repo = workspace_root();
    test_needs::real_v0(repo).unwrap_or_else(|| {
        panic!(
            "the real v0 is missing: these tests copy it from shared/v0 beside the \
             repository ({}/../shared/v0, or beside an ancestor), or from $V0_SOURCE; \
             scripts/get-v0 puts it there",
            repo.display()
        )
    })
}

/// Copies [`real_v0`] to `to` as `cp -r` does, then makes its directories
/// writable for us (the source may be read-only; v0's files keep their modes).
pub fn copy_real_v0(to: &Path) {
    use std::os::unix::fs::PermissionsExt as _;
    let source = real_v0();
    let status = Command::new("cp")
        .arg("-r")
        .arg(&source)
        .arg(to)
        .status()
        .expect("cp");
    assert!(status.success(), "cp -r {} failed", source.display());
    let mut pending = vec![to.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let mode = std::fs::metadata(&dir)
            .expect("metadata")
            .permissions()
            .mode();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(mode | 0o700))
            .expect("chmod");
        for entry in std::fs::read_dir(&dir).expect("readable dir") {
            let path = entry.expect("dir entry").path();
            if std::fs::symlink_metadata(&path).expect("metadata").is_dir() {
                pending.push(path);
            }
        }
    }
}
