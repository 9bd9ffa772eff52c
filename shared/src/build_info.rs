//! The git commit a binary was built from, for `--version`:
//! `v0-prune 0.1.0 (abc1234 2026-11-29)`.
//!
//! This is build-script code. `tui/build.rs` and `daemon/build.rs` include
//! this file with `#[path]` (a build script cannot depend on this crate: its
//! library would be compiled a second time, tokio and all, for the host), and
//! the library compiles it only under `cfg(test)`, so that it is tested with
//! the rest. Standard library only, for that reason.
//!
//! Git is asked, not required: without git, outside a work tree, or in a
//! work tree that does not track the package (a tarball unpacked inside some
//! other repository), the commit is `unknown`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The variable holding the whole version line (`0.1.0 (abc1234 2026-11-29)`),
/// read with `env!` by the binaries for clap's `version`.
pub const VERSION_VAR: &str = "V0_PRUNE_VERSION";

/// The variable holding the commit's date (`2026-11-29`, empty when
/// unknown): the man page's date, so that it changes only with the code.
pub const COMMIT_DATE_VAR: &str = "V0_PRUNE_COMMIT_DATE";

/// The commit a build came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Commit {
    /// The abbreviated hash, as git abbreviates it (7 digits or more).
    pub hash: String,
    /// The committer date, `YYYY-MM-DD`.
    pub date: String,
    /// Whether tracked files differed from the commit (untracked files do
    /// not count, as with `git describe --dirty`).
    pub dirty: bool,
}

/// `0.1.0 (abc1234 2026-11-29)`, `0.1.0 (abc1234-dirty 2026-11-29)`, or
/// `0.1.0 (unknown commit)`: clap prints it after the binary's name.
pub fn version_line(version: &str, commit: Option<&Commit>) -> String {
    match commit {
        Some(commit) => {
            let dirty = if commit.dirty { "-dirty" } else { "" };
            format!("{version} ({}{dirty} {})", commit.hash, commit.date)
        }
        None => format!("{version} (unknown commit)"),
    }
}

/// The commit checked out in the git work tree holding `package_dir`, if git
/// runs and that work tree tracks the package's `Cargo.toml`.
pub fn describe(package_dir: &Path) -> Option<Commit> {
    git(
        package_dir,
        &["ls-files", "--error-unmatch", "--", "Cargo.toml"],
    )?;
    let line = git(
        package_dir,
        &[
            "-c",
            "log.showSignature=false",
            "log",
            "-1",
            "--format=%h %cs",
        ],
    )?;
    let (hash, date) = line.trim().split_once(' ')?;
    let well_formed = hash.len() >= 4
        && hash.bytes().all(|byte| byte.is_ascii_hexdigit())
        && date.len() == 10
        && date
            .bytes()
            .all(|byte| byte.is_ascii_digit() || byte == b'-');
    if !well_formed {
        return None;
    }
    // `--no-optional-locks`: never write the index, which would race the
    // git commands of whoever is working in this tree while we build.
    let dirty = git(
        package_dir,
        &[
            "--no-optional-locks",
            "status",
            "--porcelain",
            "--untracked-files=no",
        ],
    )
    .is_some_and(|status| !status.trim().is_empty());
    Some(Commit {
        hash: hash.to_owned(),
        date: date.to_owned(),
        dirty,
    })
}

/// The files whose change means another commit or another dirty state: HEAD,
/// the branch it points to (its loose ref and `packed-refs`), and the index
/// (which `git add`, `git commit` and `git status` update). Only existing
/// ones: cargo reruns a build script on every build while a path it was told
/// to watch is missing.
///
/// Edits that git has not looked at yet (no `git status` since) do not rerun
/// the script: a build then shows the dirty state of the last run. Watching
/// the whole tree instead would rebuild on every change to `target/`.
pub fn watched_files(package_dir: &Path) -> Vec<PathBuf> {
    let mut names = vec![
        "HEAD".to_owned(),
        "index".to_owned(),
        "packed-refs".to_owned(),
    ];
    if let Some(branch) = git(package_dir, &["symbolic-ref", "-q", "HEAD"]) {
        names.push(branch.trim().to_owned());
    }
    names
        .iter()
        .filter_map(|name| git(package_dir, &["rev-parse", "--git-path", name]))
        .map(|path| package_dir.join(path.trim()))
        .filter(|path| path.is_file())
        .collect()
}

/// A build script's whole work: sets [`VERSION_VAR`] and [`COMMIT_DATE_VAR`]
/// for the package being built, and tells cargo when to run again.
pub fn emit() {
    let package_dir =
        std::env::var_os("CARGO_MANIFEST_DIR").map_or_else(|| PathBuf::from("."), PathBuf::from);
    let version = std::env::var("CARGO_PKG_VERSION").unwrap_or_default();
    let commit = describe(&package_dir);
    println!(
        "cargo::rustc-env={VERSION_VAR}={}",
        version_line(&version, commit.as_ref())
    );
    println!(
        "cargo::rustc-env={COMMIT_DATE_VAR}={}",
        commit.as_ref().map_or("", |commit| commit.date.as_str())
    );
    // Watching anything turns off cargo's default (rerun when any file of
    // the package changes), which the commit does not depend on.
    println!("cargo::rerun-if-changed=build.rs");
    for path in watched_files(&package_dir) {
        println!("cargo::rerun-if-changed={}", path.display());
    }
}

/// Runs `git args` in `dir`; its stdout if it ran and succeeded.
fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let output = Command::new("git")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    if !output.status.success() {
        return None;
    }
    String::from_utf8(output.stdout).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs git in `dir` for a test, with an identity and no user config.
    fn git_ok(dir: &Path, args: &[&str]) {
        let status = Command::new("git")
            .args(["-c", "user.name=t", "-c", "user.email=t@example.invalid"])
            .args(args)
            .current_dir(dir)
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("running git");
        assert!(status.success(), "git {args:?} failed");
    }

    /// The build found git on PATH (`v0_prune_has_git`); so must the test.
    fn assert_git() {
        assert!(
            git(Path::new("."), &["--version"]).is_some(),
            "the build found git, the test cannot run it"
        );
    }

    /// A repository whose `pkg/` holds a committed Cargo.toml.
    fn repo_with_package() -> (tempfile::TempDir, PathBuf) {
        let repo = tempfile::tempdir().expect("temp dir");
        let package = repo.path().join("pkg");
        std::fs::create_dir(&package).expect("mkdir pkg");
        std::fs::write(package.join("Cargo.toml"), "[package]\n").expect("write Cargo.toml");
        git_ok(repo.path(), &["init", "-q", "-b", "main"]);
        git_ok(repo.path(), &["add", "pkg/Cargo.toml"]);
        git_ok(repo.path(), &["commit", "-q", "-m", "first"]);
        (repo, package)
    }

    #[test]
    fn version_line_shapes() {
        let commit = Commit {
            hash: "abc1234".to_owned(),
            date: "2026-11-29".to_owned(),
            dirty: false,
        };
        assert_eq!(
            version_line("0.1.0", Some(&commit)),
            "0.1.0 (abc1234 2026-11-29)"
        );
        let dirty = Commit {
            dirty: true,
            ..commit
        };
        assert_eq!(
            version_line("0.1.0", Some(&dirty)),
            "0.1.0 (abc1234-dirty 2026-11-29)"
        );
        assert_eq!(version_line("0.1.0", None), "0.1.0 (unknown commit)");
    }

    #[test]
    #[cfg_attr(not(v0_prune_has_git), ignore = "needs git (apt install git)")]
    fn a_committed_package_has_its_commit_and_turns_dirty_on_edits() {
        assert_git();
        let (_repo, package) = repo_with_package();
        let commit = describe(&package).expect("a commit");
        assert!(commit.hash.len() >= 7, "{commit:?}");
        assert_eq!(commit.date.len(), 10, "{commit:?}");
        assert!(!commit.dirty);

        std::fs::write(package.join("untracked.rs"), "").expect("write");
        assert!(
            !describe(&package).expect("a commit").dirty,
            "untracked files do not count"
        );
        std::fs::write(package.join("Cargo.toml"), "[package]\nname = \"x\"\n").expect("write");
        let dirty = describe(&package).expect("a commit");
        assert!(dirty.dirty);
        assert_eq!(dirty.hash, commit.hash);
    }

    #[test]
    fn no_work_tree_is_unknown() {
        let plain = tempfile::tempdir().expect("temp dir");
        std::fs::write(plain.path().join("Cargo.toml"), "").expect("write");
        // A temp dir is outside any work tree (unless TMPDIR is inside one,
        // which the untracked case below covers as well).
        assert_eq!(describe(plain.path()), None);
    }

    #[test]
    #[cfg_attr(not(v0_prune_has_git), ignore = "needs git (apt install git)")]
    fn an_untracked_package_is_unknown() {
        assert_git();
        // A tarball unpacked inside someone else's repository.
        let (repo, _package) = repo_with_package();
        let unpacked = repo.path().join("unpacked");
        std::fs::create_dir(&unpacked).expect("mkdir");
        std::fs::write(unpacked.join("Cargo.toml"), "").expect("write");
        assert_eq!(describe(&unpacked), None);
    }

    #[test]
    #[cfg_attr(not(v0_prune_has_git), ignore = "needs git (apt install git)")]
    fn watched_files_are_head_the_branch_and_the_index() {
        assert_git();
        let (repo, package) = repo_with_package();
        let watched = watched_files(&package);
        let git_dir = repo.path().join(".git");
        let canonical: Vec<PathBuf> = watched
            .iter()
            .map(|path| path.canonicalize().expect("watched files exist"))
            .collect();
        let expect = |relative: &str| git_dir.join(relative).canonicalize().expect("file in .git");
        assert!(canonical.contains(&expect("HEAD")), "{watched:?}");
        assert!(canonical.contains(&expect("index")), "{watched:?}");
        assert!(
            canonical.contains(&expect("refs/heads/main")),
            "{watched:?}"
        );
        // No packed-refs in a fresh repository: not watched, or cargo would
        // rerun the build script on every build.
        assert_eq!(watched.len(), 3, "{watched:?}");
    }
}
