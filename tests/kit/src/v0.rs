//! The real v0, as published: where it is, and a writable copy of it for a
//! test to install into, start daemons from, or compare with.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::bins::workspace_root;

/// v0 as published, read-only: `$V0_SOURCE` when set, else `shared/v0`
/// beside the repository or beside one of its ancestors (CI: a sibling of
/// the clone; a worktree: a sibling of an ancestor). Panics with what to do
/// when it is nowhere.
pub fn real_v0() -> PathBuf {
    if let Some(dir) = std::env::var_os("V0_SOURCE") {
        return PathBuf::from(dir);
    }
    let repo = workspace_root();
    repo.ancestors()
        .skip(1)
        .map(|dir| dir.join("shared/v0"))
        .find(|v0| v0.join("bin/v0").is_file())
        .unwrap_or_else(|| {
            panic!(
                "the real v0 is missing: these tests copy it from shared/v0 beside the \
                 repository ({}/../shared/v0, or beside an ancestor), or from $V0_SOURCE; \
                 put v0 as published there",
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
