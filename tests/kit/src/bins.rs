//! The workspace's built binaries: where cargo put them for the profile of
//! the running executable (a test, or the bench), and how to build them
//! when they are missing.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

/// The user's command.
pub const CLI: &str = "v0-prune";

/// The daemon.
pub const DAEMON: &str = "v0-prune-daemon";

/// The workspace this kit was built from (its sources, `assets/`).
pub fn workspace_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("the kit is tests/kit/ in the workspace")
}

/// `target/<profile>/`, where cargo puts every binary of the running
/// executable's profile: its own directory, or the one above for a test
/// executable (`target/<profile>/deps/`).
pub fn profile_dir() -> std::io::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let dir = exe
        .parent()
        .ok_or_else(|| std::io::Error::other("the running executable has no directory"))?;
    Ok(if dir.file_name() == Some(OsStr::new("deps")) {
        dir.parent().unwrap_or(dir).to_path_buf()
    } else {
        dir.to_path_buf()
    })
}

/// The workspace binary `name` in `dir`, or what is missing and how to build it.
pub fn find_in(dir: &Path, name: &str) -> Result<PathBuf, String> {
    let path = dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    if path.is_file() {
        Ok(path)
    } else {
        Err(format!(
            "{} not found: build the binaries first: {}",
            path.display(),
            build_hint(dir)
        ))
    }
}

/// The command that builds the binaries of `dir`'s profile.
pub fn build_hint(dir: &Path) -> String {
    match dir.file_name().and_then(OsStr::to_str) {
        Some("release") => "cargo build --release --bins".into(),
        Some("debug") | None => "cargo build --workspace --bins".into(),
        Some(profile) => format!("cargo build --profile {profile} --bins"),
    }
}

/// Path of a workspace binary built in the same profile as this test;
/// panics, saying how to build it, when it is not there.
pub fn bin(name: &str) -> PathBuf {
    let dir = profile_dir().expect("the running executable has a path");
    find_in(&dir, name).unwrap_or_else(|missing| panic!("{missing}"))
}
