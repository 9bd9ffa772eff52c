//! What the tests need from outside the repository, found when they are
//! built, so that a test whose need is missing is reported by cargo's own
//! summary as *ignored*, with the reason and how to enable it, instead of
//! passing silently or panicking.
//!
//! This is build-script code, like `build_info.rs`: the build scripts of the
//! packages with such tests include this file with `#[path]` and call
//! [`emit`], which sets one cfg per need found (`v0_prune_has_tmux`, ...).
//! A test then says what it needs:
//!
//! ```text
//! #[cfg_attr(not(v0_prune_has_tmux), ignore = "needs tmux on PATH (apt install tmux)")]
//! ```
//!
//! In CI (`CI=true`, or `V0_PRUNE_REQUIRE=all` anywhere) every need is
//! required: a missing one fails the build, naming it. `V0_SOURCE` naming a
//! directory without v0 fails the build too, whatever the mode: the user
//! asked for that v0. Standard library only.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// One thing from outside the repository that some tests need.
#[derive(Debug, Clone, Copy)]
pub struct Need {
    /// The cfg set when it is found.
    pub cfg: &'static str,
    /// What it is, in the build's message.
    pub what: &'static str,
    /// How to get it.
    pub how: &'static str,
    /// Whether it is here; `Err` says what was found instead.
    probe: fn() -> Result<(), String>,
}

/// Every need, in the order the build's message lists them.
pub const NEEDS: &[Need] = &[
    Need {
        cfg: "v0_prune_has_v0",
        what: "the real v0 (bin/v0)",
        how: "scripts/get-v0 <git URL or path> puts it at ../shared/v0, or set V0_SOURCE to a directory holding bin/v0",
        probe: probe_real_v0,
    },
    Need {
        cfg: "v0_prune_has_bash",
        what: "bash",
        how: "apt install bash (macOS ships it)",
        probe: || on_path("bash"),
    },
    Need {
        cfg: "v0_prune_has_tmux",
        what: "tmux",
        how: "apt install tmux (brew install tmux)",
        probe: || on_path("tmux"),
    },
    Need {
        cfg: "v0_prune_has_jq",
        what: "jq",
        how: "apt install jq (brew install jq)",
        probe: || on_path("jq"),
    },
    Need {
        cfg: "v0_prune_has_perl",
        what: "perl",
        how: "apt install perl",
        probe: || on_path("perl"),
    },
    Need {
        cfg: "v0_prune_has_git",
        what: "git",
        how: "apt install git",
        probe: || on_path("git"),
    },
    Need {
        cfg: "v0_prune_has_flock",
        what: "flock (util-linux)",
        how: "apt install util-linux (brew install flock)",
        probe: || on_path("flock"),
    },
    Need {
        cfg: "v0_prune_has_groff",
        what: "groff",
        how: "apt install groff-base",
        probe: || on_path("groff"),
    },
    Need {
        cfg: "v0_prune_is_root",
        what: "root (switching uid, mounting)",
        how: "run the tests as root (CI does)",
        probe: probe_root,
    },
    Need {
        cfg: "v0_prune_has_loop",
        what: "a loop device and mkfs.ext4 (a small full filesystem)",
        how: "as root, with /dev/loop-control, losetup and mkfs.ext4 (apt install e2fsprogs mount)",
        probe: probe_loop,
    },
    Need {
        cfg: "v0_prune_has_shm",
        what: "a writable tmpfs at /dev/shm (a filesystem without collapse-range)",
        how: "mount a tmpfs at /dev/shm",
        probe: probe_shm,
    },
    Need {
        cfg: "v0_prune_has_collapse",
        what: "a temp directory that collapses ranges (ext4 or xfs; fallocate --collapse-range)",
        how: "set TMPDIR to a directory on ext4 or xfs",
        probe: probe_collapse,
    },
];

/// A cfg set when the real v0 and every program it runs are all found
/// (`v0 init`, its bash daemon, its pruner, its dispatcher): the tests that
/// drive v0 itself need the lot, and say so with this one name.
pub const RUNS_V0: &str = "v0_prune_runs_v0";

/// The needs [`RUNS_V0`] stands for.
const V0_AND_ITS_PROGRAMS: &[&str] = &[
    "v0_prune_has_v0",
    "v0_prune_has_bash",
    "v0_prune_has_jq",
    "v0_prune_has_perl",
    "v0_prune_has_flock",
    "v0_prune_has_git",
    "v0_prune_has_tmux",
];

/// The variable that makes every need required outside CI too (`all`).
pub const REQUIRE_VAR: &str = "V0_PRUNE_REQUIRE";

/// Prints the build script's instructions: a cfg per need found, a warning
/// per need missing, and a failed build when CI requires what is missing.
pub fn emit() {
    for var in ["V0_SOURCE", "CI", REQUIRE_VAR, "PATH", "TMPDIR"] {
        println!("cargo::rerun-if-env-changed={var}");
    }
    // A tool installed after the first build appears in one of these.
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path).filter(|dir| dir.is_dir()) {
            println!("cargo::rerun-if-changed={}", dir.display());
        }
    }
    if let Some(v0) = std::env::var_os("V0_SOURCE") {
        println!("cargo::rerun-if-changed={}", Path::new(&v0).display());
    } else if let Some(v0) = beside_repository() {
        println!("cargo::rerun-if-changed={}", v0.display());
    }
    let mut missing = Vec::new();
    for need in NEEDS {
        println!("cargo::rustc-check-cfg=cfg({})", need.cfg);
        match (need.probe)() {
            Ok(()) => println!("cargo::rustc-cfg={}", need.cfg),
            Err(why) => missing.push((need, why)),
        }
    }
    println!("cargo::rustc-check-cfg=cfg({RUNS_V0})");
    if V0_AND_ITS_PROGRAMS
        .iter()
        .all(|cfg| !missing.iter().any(|(need, _)| need.cfg == *cfg))
    {
        println!("cargo::rustc-cfg={RUNS_V0}");
    }
    if let Err(error) = check_v0_source() {
        panic!("{error}");
    }
    if required() && !missing.is_empty() {
        let list: Vec<String> = missing
            .iter()
            .map(|(need, why)| format!("  - {}: {why}; {}", need.what, need.how))
            .collect();
        panic!(
            "CI requires everything the tests need, and these are missing:\n{}\n(outside CI, their tests are reported as ignored)",
            list.join("\n")
        );
    }
}

/// Whether every need is required: in CI (`CI=true`), or `V0_PRUNE_REQUIRE=all`.
pub fn required() -> bool {
    let ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
    let all = std::env::var(REQUIRE_VAR).is_ok_and(|v| v == "all");
    ci || all
}

/// Where the real v0 is: `$V0_SOURCE`, else `shared/v0` beside `repo` (the
/// workspace) or beside one of its ancestors. The test kit includes this
/// file too and asks here, so the tests look where the build looked.
#[allow(dead_code)] // the build scripts only probe
pub fn real_v0(repo: &Path) -> Option<PathBuf> {
    match std::env::var_os("V0_SOURCE") {
        Some(dir) => Some(PathBuf::from(dir)).filter(|dir| holds_v0(dir)),
        None => beside(repo),
    }
}

/// `V0_SOURCE` set to a directory without v0 is an error, not a missing need.
pub fn check_v0_source() -> Result<(), String> {
    match std::env::var_os("V0_SOURCE") {
        Some(dir) if !holds_v0(Path::new(&dir)) => Err(format!(
            "V0_SOURCE={} does not hold v0 (no executable bin/v0 there): point it at v0's top directory, or unset it",
            Path::new(&dir).display()
        )),
        _ => Ok(()),
    }
}

fn holds_v0(dir: &Path) -> bool {
    dir.join("bin/v0").is_file()
}

/// `shared/v0` beside `dir` (in its parent) or beside one of its ancestors.
fn beside(dir: &Path) -> Option<PathBuf> {
    dir.ancestors()
        .skip(1)
        .map(|dir| dir.join("shared/v0"))
        .find(|v0| holds_v0(v0))
}

/// `shared/v0` beside the package being built's workspace or an ancestor.
fn beside_repository() -> Option<PathBuf> {
    let manifest = std::env::var_os("CARGO_MANIFEST_DIR")?;
    beside(Path::new(&manifest).parent()?)
}

fn probe_real_v0() -> Result<(), String> {
    match std::env::var_os("V0_SOURCE") {
        Some(_) => check_v0_source(),
        None => beside_repository().map(drop).ok_or_else(|| {
            "no shared/v0 beside the repository, and V0_SOURCE is not set".to_owned()
        }),
    }
}

/// Whether `program` is an executable file in a `PATH` directory.
fn on_path(program: &str) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| {
            std::fs::metadata(candidate)
                .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
        })
        .map(drop)
        .ok_or_else(|| format!("{program} is not on PATH"))
}

/// Runs a command quietly; whether it succeeded.
fn succeeds(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

fn probe_root() -> Result<(), String> {
    let uid = Command::new("id")
        .arg("-u")
        .stderr(Stdio::null())
        .output()
        .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_owned())
        .unwrap_or_default();
    if uid == "0" {
        Ok(())
    } else {
        Err(format!("running as uid {uid}"))
    }
}

fn probe_loop() -> Result<(), String> {
    probe_root()?;
    if !Path::new("/dev/loop-control").exists() {
        return Err("no /dev/loop-control".into());
    }
    for program in ["losetup", "mkfs.ext4", "mount", "umount"] {
        on_path(program).or_else(|_| {
            // sbin directories are often missing from a user's PATH.
            ["/sbin", "/usr/sbin"]
                .iter()
                .any(|dir| Path::new(dir).join(program).is_file())
                .then_some(())
                .ok_or_else(|| format!("no {program}"))
        })?;
    }
    Ok(())
}

fn probe_shm() -> Result<(), String> {
    let shm = Path::new("/dev/shm");
    if !shm.is_dir() {
        return Err("no /dev/shm".into());
    }
    let probe = shm.join(format!(".v0-prune-build-probe-{}", std::process::id()));
    let written = std::fs::write(&probe, b"probe");
    let _ = std::fs::remove_file(&probe);
    written.map_err(|err| format!("/dev/shm is not writable: {err}"))?;
    // A tmpfs has no collapse-range: the tests need exactly that.
    match collapse_in(shm) {
        Ok(()) => Err("/dev/shm collapses ranges here (not a tmpfs)".into()),
        Err(_) => Ok(()),
    }
}

fn probe_collapse() -> Result<(), String> {
    collapse_in(&std::env::temp_dir())
}

/// Whether `fallocate --collapse-range` works on a file in `dir`.
fn collapse_in(dir: &Path) -> Result<(), String> {
    on_path("fallocate")?;
    let file = dir.join(format!(".v0-prune-collapse-probe-{}", std::process::id()));
    let result = std::fs::write(&file, vec![b'x'; 64 << 10])
        .map_err(|err| format!("cannot write in {}: {err}", dir.display()))
        .and_then(|()| {
            let path = file.to_string_lossy();
            if succeeds("fallocate", &["-c", "-o", "0", "-l", "4096", &path]) {
                Ok(())
            } else {
                Err(format!("{} cannot collapse ranges", dir.display()))
            }
        });
    let _ = std::fs::remove_file(&file);
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_need_has_a_distinct_cfg_and_says_how_to_get_it() {
        let mut cfgs: Vec<&str> = NEEDS.iter().map(|need| need.cfg).collect();
        cfgs.sort_unstable();
        cfgs.dedup();
        assert_eq!(cfgs.len(), NEEDS.len());
        for need in NEEDS {
            assert!(need.cfg.starts_with("v0_prune_"), "{}", need.cfg);
            assert!(!need.how.is_empty() && !need.what.is_empty());
        }
    }

    #[test]
    fn running_v0_stands_for_needs_that_exist() {
        for cfg in V0_AND_ITS_PROGRAMS {
            assert!(NEEDS.iter().any(|need| need.cfg == *cfg), "{cfg}");
        }
    }

    #[test]
    fn a_program_on_path_is_found_and_a_made_up_one_is_not() {
        assert!(on_path("sh").is_ok());
        let err = on_path("no-such-program-v0-prune").expect_err("missing");
        assert!(err.contains("not on PATH"), "{err}");
    }
}
