//! The last line of defence against a misconfigured build directory.
//!
//! A prune walks everything under the build directory and removes old
//! timestamped lines from every `*.log` it finds. Pointed at `/` or at a home
//! directory (an empty `BUILD_DIR` expanded the wrong way, a typo in `.v0.rc`),
//! it would rewrite logs that are not v0's. [`check_build_dir`] refuses such
//! directories unless the user insists (`--force`).
//!
//! # What counts as a v0 build directory
//! The directory, resolved through symlinks (`canonicalize`), must
//! - not be `/` (refused even when forced: no v0 build directory is `/`);
//! - not be the user's home directory (`$HOME`, or the password database's
//!   entry for our uid), nor contain it (`/home`);
//! - and look like v0's: it holds one of the entries v0 or we create in it
//!   (`operations/`, `mergeq/`, `logs/`, `.prune-daemon/`,
//!   `.prune-daemon.pid`, `.prune-daemon.lock`), or it lies inside a v0
//!   project (a `.v0.rc` in a directory above it), or it is empty (a fresh
//!   project: nothing to harm). A directory that holds `.v0.rc` itself but
//!   none of the entries is a project root, not its build directory
//!   (`.v0/build` by default), and is refused.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};

use super::PruneError;
use crate::config::RC_FILE;
use crate::paths::BuildDir;

/// Entries whose presence says "v0 (or v0-prune) has been here".
const V0_ENTRIES: [&str; 6] = [
    "operations",
    "mergeq",
    "logs",
    ".prune-daemon",
    ".prune-daemon.pid",
    ".prune-daemon.lock",
];

const FORCE_HINT: &str = "if this really is the v0 build directory, run again with --force";

/// Refuses to prune a build directory that resolves to `/`, to (or above) the
/// home directory, or that does not look like v0's (see the module docs),
/// unless `force` is set; `/` is refused even then.
pub fn check_build_dir(build: &BuildDir, force: bool) -> Result<(), PruneError> {
    check_with_home(build, force, &home_dirs())
}

/// [`check_build_dir`] with the home directories given, for tests.
fn check_with_home(build: &BuildDir, force: bool, homes: &[PathBuf]) -> Result<(), PruneError> {
    let given = build.root();
    let resolved = std::fs::canonicalize(given).map_err(|err| PruneError::io(given, err))?;
    let refuse = |reason: String| PruneError::NotABuildDir {
        path: if resolved == given {
            given.display().to_string()
        } else {
            format!("{} (which is {})", given.display(), resolved.display())
        },
        reason,
    };
    if resolved == Path::new("/") {
        return Err(refuse(
            "it is the root directory, which is never a v0 build directory (not even with --force)"
                .into(),
        ));
    }
    if !resolved.is_dir() {
        return Err(refuse("it is not a directory".into()));
    }
    if force {
        return Ok(());
    }
    let canonical_homes = homes.iter().filter_map(|h| std::fs::canonicalize(h).ok());
    for home in canonical_homes {
        if home == resolved {
            return Err(refuse(format!("it is your home directory; {FORCE_HINT}")));
        }
        if home.starts_with(&resolved) {
            return Err(refuse(format!(
                "it contains your home directory {}; {FORCE_HINT}",
                home.display()
            )));
        }
    }
    if looks_like_v0(&resolved) {
        return Ok(());
    }
    let reason = if resolved.join(RC_FILE).is_file() {
        format!(
            "it is a v0 project root (it holds {RC_FILE}) but none of v0's build entries \
             ({}); the build directory is usually .v0/build inside it; {FORCE_HINT}",
            V0_ENTRIES.join(", ")
        )
    } else {
        format!(
            "it does not look like a v0 build directory: it holds none of {}, and no {RC_FILE} \
             is found above it; {FORCE_HINT}",
            V0_ENTRIES.join(", ")
        )
    };
    Err(refuse(reason))
}

fn looks_like_v0(dir: &Path) -> bool {
    if V0_ENTRIES
        .iter()
        .any(|entry| std::fs::symlink_metadata(dir.join(entry)).is_ok())
    {
        return true;
    }
    if dir
        .ancestors()
        .skip(1)
        .any(|above| above.join(RC_FILE).is_file())
    {
        return true;
    }
    std::fs::read_dir(dir).is_ok_and(|mut entries| entries.next().is_none())
}

/// `$HOME` and the password database's home for our uid (they can differ under `sudo`).
fn home_dirs() -> Vec<PathBuf> {
    let mut homes: Vec<PathBuf> = std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
        .into_iter()
        .collect();
    if let Some(home) = passwd_home() {
        homes.push(home);
    }
    homes
}

fn passwd_home() -> Option<PathBuf> {
    let uid = rustix::process::geteuid().as_raw();
    let mut buf = vec![0u8; 16 * 1024];
    // SAFETY: an all-zero passwd is a valid value for getpwuid_r to fill in.
    let mut entry: libc::passwd = unsafe { std::mem::zeroed() };
    let mut result: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: every pointer refers to memory we own for the length given;
    // getpwuid_r writes only within them.
    let rc = unsafe {
        libc::getpwuid_r(
            uid,
            &mut entry,
            buf.as_mut_ptr().cast(),
            buf.len(),
            &mut result,
        )
    };
    if rc != 0 || result.is_null() || entry.pw_dir.is_null() {
        return None;
    }
    // SAFETY: pw_dir points into `buf`, NUL-terminated by getpwuid_r.
    let dir = unsafe { std::ffi::CStr::from_ptr(entry.pw_dir) };
    let dir = OsString::from_vec(dir.to_bytes().to_vec());
    (!dir.is_empty()).then(|| PathBuf::from(dir))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal(result: Result<(), PruneError>) -> (String, String) {
        match result {
            Err(PruneError::NotABuildDir { path, reason }) => (path, reason),
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn the_root_directory_is_refused_even_when_forced() {
        for force in [false, true] {
            let (path, reason) = refusal(check_with_home(&BuildDir::new("/"), force, &[]));
            assert_eq!(path, "/");
            assert!(reason.contains("root directory"), "{reason}");
        }
        // However it is spelled.
        let (path, _) = refusal(check_with_home(&BuildDir::new("/tmp/.."), false, &[]));
        assert_eq!(path, "/tmp/.. (which is /)");
    }

    #[test]
    fn the_home_directory_and_its_parents_are_refused_unless_forced() {
        let dir = tempfile::tempdir().expect("tempdir");
        let home = dir.path().join("home").join("alice");
        std::fs::create_dir_all(home.join("logs")).expect("home with a logs dir");
        let homes = [home.clone()];
        let (_, reason) = refusal(check_with_home(&BuildDir::new(&home), false, &homes));
        assert!(reason.contains("your home directory"), "{reason}");
        assert!(reason.contains("--force"), "{reason}");
        let (_, reason) = refusal(check_with_home(
            &BuildDir::new(dir.path().join("home")),
            false,
            &homes,
        ));
        assert!(reason.contains("contains your home directory"), "{reason}");
        // Through a symlink, too.
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&home, &link).expect("symlink");
        let (path, _) = refusal(check_with_home(&BuildDir::new(&link), false, &homes));
        assert!(path.contains("(which is "), "{path}");
        check_with_home(&BuildDir::new(&home), true, &homes).expect("forced");
        // A build directory inside the home directory is fine.
        std::fs::create_dir_all(home.join("p/.v0/build/logs")).expect("project");
        check_with_home(&BuildDir::new(home.join("p/.v0/build")), false, &homes)
            .expect("a build dir in the home directory");
    }

    #[test]
    fn a_directory_without_v0_layout_is_refused_naming_how_to_force() {
        let dir = tempfile::tempdir().expect("tempdir");
        let other = dir.path().join("photos");
        std::fs::create_dir_all(other.join("2026")).expect("mkdir");
        std::fs::write(other.join("camera.log"), "[2020-01-01T00:00:00Z] x\n").expect("write");
        let (path, reason) = refusal(check_with_home(&BuildDir::new(&other), false, &[]));
        assert_eq!(path, other.display().to_string());
        assert!(
            reason.contains("does not look like a v0 build directory"),
            "{reason}"
        );
        assert!(reason.contains("--force"), "{reason}");
        let message = check_with_home(&BuildDir::new(&other), false, &[])
            .expect_err("refused")
            .to_string();
        assert!(message.starts_with("refusing to prune "), "{message}");
        check_with_home(&BuildDir::new(&other), true, &[]).expect("forced");
    }

    #[test]
    fn a_project_root_is_not_its_build_directory() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join(".v0.rc"), "PROJECT=x\n").expect("rc");
        std::fs::create_dir(dir.path().join("src")).expect("src");
        let (_, reason) = refusal(check_with_home(&BuildDir::new(dir.path()), false, &[]));
        assert!(reason.contains("project root"), "{reason}");
        assert!(reason.contains(".v0/build"), "{reason}");
    }

    #[test]
    fn what_v0_leaves_behind_is_accepted() {
        for entry in V0_ENTRIES {
            let dir = tempfile::tempdir().expect("tempdir");
            std::fs::write(dir.path().join("unrelated"), "x").expect("write");
            let path = dir.path().join(entry);
            if entry.starts_with(".prune-daemon.") {
                std::fs::write(&path, "").expect("file");
            } else {
                std::fs::create_dir(&path).expect("dir");
            }
            check_with_home(&BuildDir::new(dir.path()), false, &[])
                .unwrap_or_else(|err| panic!("{entry}: {err}"));
        }
        // Inside a v0 project, where V0_BUILD_DIR may put it under any name.
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join(".v0.rc"), "PROJECT=x\n").expect("rc");
        let build = dir.path().join("var/build");
        std::fs::create_dir_all(&build).expect("mkdir");
        std::fs::write(build.join("something"), "x").expect("write");
        check_with_home(&BuildDir::new(&build), false, &[]).expect("inside a project");
        // Empty: a fresh project, nothing to harm.
        let empty = tempfile::tempdir().expect("tempdir");
        check_with_home(&BuildDir::new(empty.path()), false, &[]).expect("empty");
        // The demo generator's layout.
        let demo_dir = tempfile::tempdir().expect("tempdir");
        let spec = crate::demo::DemoSpec {
            logs: 1,
            lines_per_log: 1,
            queue_entries: 1,
            ..crate::demo::DemoSpec::default()
        };
        let project = crate::demo::generate(demo_dir.path(), &spec).expect("demo");
        check_with_home(&project.build_dir, false, &[]).expect("demo build dir");
    }

    #[test]
    fn a_missing_or_non_directory_build_dir_is_an_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let missing = BuildDir::new(dir.path().join("nope"));
        assert!(matches!(
            check_with_home(&missing, true, &[]),
            Err(PruneError::Io { .. })
        ));
        let file = dir.path().join("file");
        std::fs::write(&file, "x").expect("write");
        let (_, reason) = refusal(check_with_home(&BuildDir::new(&file), true, &[]));
        assert!(reason.contains("not a directory"), "{reason}");
    }

    #[test]
    fn the_real_home_directory_is_found() {
        // Whoever runs the tests has a home directory in $HOME or the password database.
        let homes = home_dirs();
        assert!(!homes.is_empty());
        for home in homes.iter().filter(|h| h.is_dir()) {
            let (_, reason) = refusal(check_build_dir(&BuildDir::new(home), false));
            assert!(reason.contains("home directory"), "{reason}");
        }
    }
}
