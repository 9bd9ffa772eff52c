//! Installing into v0, end to end: `assets/install-into-v0.sh` on a miniature
//! v0 install (`tests/fixtures/mini-v0`: v0's dispatcher, stand-ins for its
//! bash `v0-prune` and `v0-prune-daemon`, and a `v0-shutdown` modelled on the
//! contract), v0's own commands then answered by our binaries, and
//! `--uninstall` putting back every original byte and mode. Also: the example
//! `.v0.rc` is read, setting by setting, by our config code.
//!
//! Every daemon a test starts dies with its `TestProject` (see its drop),
//! also when the test fails.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;
use tempfile::TempDir;
use v0_prune_e2e::{
    Invocation, Outcome, PATIENCE, TestProject, Tree, bin, process_gone, wait_until,
};
use v0_prune_shared::config::{DEFAULT_INTERVAL, DEFAULT_RETENTION};

/// Long enough that no scheduled run lands in a test of a few seconds.
const INTERVAL: &str = "60s";

/// The fixture's files and the modes the miniature install gives them: the
/// daemon's unusual mode shows that `--uninstall` restores modes, not 0755.
const FIXTURE_FILES: [(&str, u32); 4] = [
    ("bin/v0", 0o755),
    ("bin/v0-prune", 0o755),
    ("bin/v0-prune-daemon", 0o750),
    ("bin/v0-shutdown", 0o755),
];

const BACKUP: &str = "bin/.v0-prune-backup";

/// What v0's stand-in `bin/v0-prune` prints for `v0 prune status`.
const STAND_IN_STATUS: &str = "fixture: v0's original bash v0-prune (status)";

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ is in the workspace")
        .to_path_buf()
}

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/mini-v0")
}

fn script() -> PathBuf {
    repo().join("assets/install-into-v0.sh")
}

/// The directory of the binaries under test (this test's profile), for `--from`.
fn binaries() -> PathBuf {
    bin("v0-prune-daemon");
    bin("v0-prune")
        .parent()
        .expect("binaries are in target/<profile>")
        .to_path_buf()
}

fn patch_available() -> bool {
    Command::new("patch")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// `install-into-v0.sh <args>`, run from `cwd` as a user would run it.
fn install_script<I, S>(cwd: &Path, args: I) -> Outcome
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    Invocation::program(&script(), cwd).args(args).run()
}

/// The lines of `outcome`'s stdout that start with `prefix`.
fn lines_starting<'a>(outcome: &'a Outcome, prefix: &str) -> Vec<&'a str> {
    outcome
        .stdout
        .lines()
        .filter(|line| line.starts_with(prefix))
        .collect()
}

fn set_mode(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .expect("metadata")
        .permissions()
        .mode()
        & 0o7777
}

/// Files larger than this (installed debug binaries: tens of MB) are
/// compared by identity rather than by their bytes.
const COMPARED_BYTES: u64 = 1 << 20;

/// One path of a [`Snapshot`]: permission bits and what is there.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    mode: u32,
    content: Content,
}

#[derive(Clone, PartialEq, Eq)]
enum Content {
    Dir,
    Symlink(PathBuf),
    /// A file and its bytes.
    Bytes(Vec<u8>),
    /// A large file: any write changes its mtime, any replacement its inode.
    Large {
        len: u64,
        inode: u64,
        mtime_ns: i128,
    },
}

impl std::fmt::Debug for Content {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Dir => write!(f, "dir"),
            Self::Symlink(target) => write!(f, "symlink to {}", target.display()),
            Self::Bytes(bytes) => write!(f, "{:?}", String::from_utf8_lossy(bytes)),
            Self::Large {
                len,
                inode,
                mtime_ns,
            } => write!(f, "{len} bytes, inode {inode}, mtime {mtime_ns} ns"),
        }
    }
}

/// Everything under a directory, to notice any change to bytes or modes.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Snapshot(BTreeMap<PathBuf, Entry>);

impl Snapshot {
    fn of(root: &Path) -> Self {
        let mut entries = BTreeMap::new();
        let mut pending = vec![root.to_path_buf()];
        while let Some(dir) = pending.pop() {
            for entry in std::fs::read_dir(&dir).expect("readable dir") {
                let path = entry.expect("dir entry").path();
                let meta = std::fs::symlink_metadata(&path).expect("metadata");
                let content = if meta.file_type().is_symlink() {
                    Content::Symlink(std::fs::read_link(&path).expect("link"))
                } else if meta.is_dir() {
                    pending.push(path.clone());
                    Content::Dir
                } else if meta.len() <= COMPARED_BYTES {
                    Content::Bytes(std::fs::read(&path).expect("readable file"))
                } else {
                    Content::Large {
                        len: meta.len(),
                        inode: meta.ino(),
                        mtime_ns: i128::from(meta.mtime()) * 1_000_000_000
                            + i128::from(meta.mtime_nsec()),
                    }
                };
                let relative = path.strip_prefix(root).expect("under root").to_path_buf();
                entries.insert(
                    relative,
                    Entry {
                        mode: meta.permissions().mode() & 0o7777,
                        content,
                    },
                );
            }
        }
        Self(entries)
    }

    /// The same without one path.
    fn without(mut self, relative: &str) -> Self {
        self.0.remove(Path::new(relative));
        self
    }

    /// Panics with what differs unless `after` is the same.
    fn assert_same(&self, after: &Snapshot, what: &str) {
        let changed: Vec<String> = self
            .0
            .keys()
            .chain(after.0.keys())
            .filter(|path| self.0.get(*path) != after.0.get(*path))
            .map(|path| {
                format!(
                    "{}: {:?} -> {:?}",
                    path.display(),
                    self.0.get(path),
                    after.0.get(path)
                )
            })
            .collect();
        assert!(
            changed.is_empty(),
            "{what} changed:\n{}",
            changed.join("\n")
        );
    }
}

/// A miniature v0 install in a temporary directory: `<temp>/v0/bin/...`.
struct MiniV0 {
    dir: TempDir,
    root: PathBuf,
    /// `TMUX_TMPDIR` for v0's commands, away from the developer's tmux.
    tmux: TempDir,
}

impl MiniV0 {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("a temp dir");
        let root = dir.path().join("v0");
        for (file, file_mode) in FIXTURE_FILES {
            let to = root.join(file);
            std::fs::create_dir_all(to.parent().expect("bin/")).expect("bin dir");
            std::fs::copy(fixture().join(file), &to).expect("copy a fixture file");
            set_mode(&to, file_mode);
        }
        Self {
            dir,
            root,
            tmux: tempfile::tempdir().expect("a temp dir"),
        }
    }

    fn path(&self, relative: &str) -> PathBuf {
        self.root.join(relative)
    }

    fn snapshot(&self) -> Snapshot {
        Snapshot::of(&self.root)
    }

    /// `install-into-v0.sh <args> <this install>`.
    fn install(&self, args: &[&str]) -> Outcome {
        let mut all: Vec<&OsStr> = args.iter().map(OsStr::new).collect();
        all.push(self.root.as_os_str());
        install_script(self.dir.path(), all)
    }

    /// `install-into-v0.sh --from <binaries under test> <args> <this install>`.
    fn install_ours(&self, args: &[&str]) -> Outcome {
        let from = binaries();
        let mut all: Vec<&OsStr> = vec![OsStr::new("--from"), from.as_os_str()];
        all.extend(args.iter().map(OsStr::new));
        all.push(self.root.as_os_str());
        install_script(self.dir.path(), all)
    }

    /// `v0 <args>` in `project`, through v0's dispatcher, as a user types it.
    fn v0(&self, project: &TestProject, args: &[&str]) -> Outcome {
        Invocation::program(&self.path("bin/v0"), &project.root)
            .args(args)
            .env("V0_PRUNE_INTERVAL", INTERVAL)
            .env("TMUX_TMPDIR", self.tmux.path())
            .run()
    }
}

/// `v0 prune status --json` through the dispatcher, parsed: a JSON shape the
/// bash stand-in cannot produce.
fn status_json(v0: &MiniV0, project: &TestProject) -> Value {
    let run = v0.v0(project, &["prune", "status", "--json"]);
    serde_json::from_str(&run.stdout).unwrap_or_else(|err| {
        panic!(
            "`v0 prune status --json` is not JSON ({err}):\n{}\n{}",
            run.stdout, run.stderr
        )
    })
}

#[test]
fn install_then_v0_runs_our_binaries_and_uninstall_restores_every_byte() {
    let v0 = MiniV0::new();
    let pristine = v0.snapshot();
    let project = TestProject::demo();
    let expected = project.expected.clone().expect("a demo project");
    let states = project.operation_states();
    let phase = |name: &str| states[name]["phase"].as_str().expect("phase").to_owned();
    assert!(!expected.finished_operations.is_empty());

    // Before: v0's own (stand-in) bin/v0-prune answers `v0 prune`.
    v0.v0(&project, &["prune", "status"])
        .expect_code(0)
        .expect_line(STAND_IN_STATUS);

    // Install, with the shutdown patch where `patch` exists.
    let patched = patch_available();
    if !patched {
        eprintln!("`patch` is not installed: installing without --patch-shutdown");
    }
    let install_args: &[&str] = if patched { &["--patch-shutdown"] } else { &[] };
    let run = v0.install_ours(install_args);
    run.expect_code(0)
        .expect_line("backed up bin/v0-prune -> bin/.v0-prune-backup/v0-prune (mode 755)")
        .expect_line(
            "backed up bin/v0-prune-daemon -> bin/.v0-prune-backup/v0-prune-daemon (mode 750)",
        );
    for name in ["v0-prune", "v0-prune-daemon"] {
        let installed = lines_starting(&run, &format!("installed bin/{name} ({name} "));
        assert_eq!(installed.len(), 1, "{}", run.stdout);
        // Not assert_eq!: a failure would print megabytes.
        assert!(
            std::fs::read(v0.path(&format!("bin/{name}"))).expect("installed")
                == std::fs::read(bin(name)).expect("built"),
            "bin/{name} is not our binary"
        );
        assert_eq!(mode(&v0.path(&format!("bin/{name}"))), 0o755);
        assert_eq!(
            std::fs::read(v0.path(&format!("{BACKUP}/{name}"))).expect("backup"),
            std::fs::read(fixture().join(format!("bin/{name}"))).expect("fixture"),
            "the backup of bin/{name} is v0's original"
        );
    }
    assert_eq!(mode(&v0.path(&format!("{BACKUP}/v0-prune-daemon"))), 0o750);
    if patched {
        run.expect_line(
            "patched bin/v0-shutdown with assets/v0-shutdown.patch (`v0 shutdown` calls `v0-prune shutdown`)",
        );
        let shutdown = std::fs::read_to_string(v0.path("bin/v0-shutdown")).expect("v0-shutdown");
        assert!(
            shutdown.contains("\"${V0_DIR}/bin/v0-prune\" shutdown ${DRY_RUN:+--dry-run}"),
            "{shutdown}"
        );
        assert_eq!(mode(&v0.path("bin/v0-shutdown")), 0o755);
    }

    // `v0 prune --dry-run`: ours, through the dispatcher; nothing changes.
    let before = Tree::of_files(project.temp());
    let run = v0.v0(&project, &["prune", "--dry-run"]);
    run.expect_code(0).expect_line(&format!(
        "Would prune {} mergeq entries older than 6 hours",
        expected.queue_entries_removed
    ));
    for name in &expected.finished_operations {
        run.expect_line(&format!("Would prune: {name} ({})", phase(name)));
    }
    before.assert_same(&Tree::of_files(project.temp()), "`v0 prune --dry-run`");
    assert!(project.daemon_pid().is_none(), "a dry run starts no daemon");

    // `v0 prune`: v0's messages; the daemon it starts is the installed copy.
    let run = v0.v0(&project, &["prune"]);
    run.expect_code(0)
        .expect_line(&format!(
            "Pruned {} operation(s)",
            expected.finished_operations.len()
        ))
        .expect_line("Pruning logs in background...");
    for name in &expected.finished_operations {
        run.expect_line(&format!("Pruned: {name} ({})", phase(name)));
    }
    project.wait_for_daemon_log("Pruning complete");
    let pid = project.daemon_pid().expect("the daemon wrote its pid file");
    let exe = std::fs::read_link(format!("/proc/{pid}/exe")).expect("the daemon's executable");
    assert_eq!(
        exe,
        std::fs::canonicalize(v0.path("bin/v0-prune-daemon")).expect("installed daemon"),
        "the daemon runs from v0's bin/"
    );
    let left = project.operations();
    assert!(
        expected
            .finished_operations
            .iter()
            .all(|name| !left.contains(name)),
        "{left:?}"
    );

    // `v0 prune status --json`: our daemon's own account of its first run.
    let status = status_json(&v0, &project);
    assert_eq!(status["running"], true, "{status}");
    assert_eq!(status["pid"], pid);
    assert_eq!(
        status["build_dir"],
        project.build_dir.display().to_string().as_str()
    );
    assert_eq!(status["interval_secs"], 60);
    assert_eq!(status["last_run"]["trigger"], "startup");
    assert_eq!(
        status["last_run"]["log_lines_removed"],
        expected.log_lines_removed
    );
    assert_eq!(
        status["last_run"]["queue_entries_removed"],
        expected.queue_entries_removed
    );

    // Install again, from a newer build, while the daemon runs from bin/:
    // the binaries are replaced (by a rename: no "text file busy"), the
    // backup is kept as it was.
    // INSTALLED records what was installed: it changes with the binaries.
    let backup = Snapshot::of(&v0.path(BACKUP)).without("INSTALLED");
    let newer = tempfile::tempdir().expect("a temp dir");
    for name in ["v0-prune", "v0-prune-daemon"] {
        let mut bytes = std::fs::read(bin(name)).expect("built binary");
        // Bytes after the ELF's last section: a different file that runs the same.
        bytes.extend_from_slice(b"\0v0-prune-e2e: a newer build\n");
        let to = newer.path().join(name);
        std::fs::write(&to, &bytes).expect("newer build");
        set_mode(&to, 0o755);
    }
    let run = install_script(
        v0.dir.path(),
        [
            OsStr::new("--from"),
            newer.path().as_os_str(),
            v0.root.as_os_str(),
        ],
    );
    run.expect_code(0)
        .expect_line(
            "kept the backup of v0's original bin/v0-prune (bin/.v0-prune-backup/v0-prune)",
        )
        .expect_line("kept the backup of v0's original bin/v0-prune-daemon (bin/.v0-prune-backup/v0-prune-daemon)");
    assert!(
        lines_starting(&run, "backed up").is_empty(),
        "{}",
        run.stdout
    );
    for name in ["v0-prune", "v0-prune-daemon"] {
        assert_eq!(
            lines_starting(&run, &format!("installed bin/{name} (")).len(),
            1,
            "{}",
            run.stdout
        );
        assert!(
            std::fs::read(v0.path(&format!("bin/{name}"))).expect("installed")
                == std::fs::read(newer.path().join(name)).expect("newer"),
            "bin/{name} is not the newer build"
        );
    }
    backup.assert_same(
        &Snapshot::of(&v0.path(BACKUP)).without("INSTALLED"),
        "the backup, on a second install",
    );
    assert!(!process_gone(pid), "the running daemon was left alone");
    assert_eq!(status_json(&v0, &project)["pid"], pid);

    // The same build again: nothing to do.
    let run = install_script(
        v0.dir.path(),
        [
            OsStr::new("--from"),
            newer.path().as_os_str(),
            v0.root.as_os_str(),
        ],
    );
    run.expect_code(0);
    assert_eq!(
        lines_starting(&run, "up to date: bin/").len(),
        2,
        "{}",
        run.stdout
    );
    assert!(
        lines_starting(&run, "installed").is_empty(),
        "{}",
        run.stdout
    );

    // v0's shutdown (patched) drains our daemon; else `v0 prune shutdown`.
    let shutdown: &[&str] = if patched {
        &["shutdown"]
    } else {
        &["prune", "shutdown"]
    };
    let mut dry = shutdown.to_vec();
    dry.push("--dry-run");
    v0.v0(&project, &dry)
        .expect_code(0)
        .expect_line(&format!("Would stop prune daemon (pid: {pid})"));
    assert!(!process_gone(pid), "a dry run stops nothing");
    let run = v0.v0(&project, shutdown);
    run.expect_code(0)
        .expect_line("Waiting for background pruning to complete...")
        .expect_line("Background pruning stopped");
    assert!(!run.stderr.contains("Warning"), "{}", run.stderr);
    assert!(
        wait_until(PATIENCE, || process_gone(pid)),
        "the daemon is still running"
    );
    assert!(project.daemon_pid().is_none(), "the pid file is gone");
    project.wait_for_daemon_log("Daemon exiting normally");

    // Uninstall: every original byte and mode back, the backup gone.
    let run = v0.install(&["--uninstall"]);
    run.expect_code(0)
        .expect_line("restored bin/v0-prune from bin/.v0-prune-backup/v0-prune (mode 755)")
        .expect_line(
            "restored bin/v0-prune-daemon from bin/.v0-prune-backup/v0-prune-daemon (mode 750)",
        )
        .expect_line("removed bin/.v0-prune-backup");
    if patched {
        run.expect_line(
            "restored bin/v0-shutdown from bin/.v0-prune-backup/v0-shutdown (mode 755)",
        );
    }
    pristine.assert_same(&v0.snapshot(), "install, use and uninstall");
    for (file, file_mode) in FIXTURE_FILES {
        assert_eq!(
            std::fs::read(v0.path(file)).expect("restored"),
            std::fs::read(fixture().join(file)).expect("fixture"),
            "{file} byte for byte"
        );
        assert_eq!(mode(&v0.path(file)), file_mode, "{file}'s mode");
    }
    v0.v0(&project, &["prune", "status"])
        .expect_code(0)
        .expect_line(STAND_IN_STATUS);

    // A second uninstall has nothing to undo: an error, nothing changed.
    v0.install(&["--uninstall"])
        .expect_code(1)
        .expect_stderr("no backup in");
    pristine.assert_same(&v0.snapshot(), "a second uninstall");
}

#[test]
fn refuses_what_is_not_a_v0_install_and_changes_nothing() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let at = |relative: &str| dir.path().join(relative);
    let write = |relative: &str, file_mode: u32| {
        let path = at(relative);
        std::fs::create_dir_all(path.parent().expect("a parent")).expect("dirs");
        std::fs::write(&path, "#!/bin/sh\necho stand-in\n").expect("write");
        set_mode(&path, file_mode);
    };
    std::fs::create_dir_all(at("empty")).expect("dir");
    write("no-dispatcher/bin/v0-prune", 0o755);
    write("not-executable/bin/v0", 0o644);
    write("not-executable/bin/v0-prune", 0o755);
    write("no-prune/bin/v0", 0o755);
    write("no-prune/bin/v0-status", 0o755);
    write("a-file", 0o644);
    for (file, file_mode) in FIXTURE_FILES {
        write(&format!("real/{file}"), file_mode);
    }
    let before = Snapshot::of(dir.path());

    let from = binaries();
    let cases = [
        (
            "empty",
            "does not look like a v0 install: it has no executable bin/v0",
        ),
        (
            "no-dispatcher",
            "does not look like a v0 install: it has no executable bin/v0",
        ),
        (
            "not-executable",
            "does not look like a v0 install: it has no executable bin/v0",
        ),
        ("no-prune", "it has bin/v0 but no bin/v0-prune"),
        ("real/bin", "not bin/ itself"),
        ("a-file", "is not a directory"),
        ("missing", "no such directory"),
    ];
    for (target, message) in cases {
        for uninstall in [false, true] {
            let target_path = at(target);
            let mut args: Vec<&OsStr> = if uninstall {
                vec![OsStr::new("--uninstall")]
            } else {
                vec![OsStr::new("--from"), from.as_os_str()]
            };
            args.push(target_path.as_os_str());
            let run = install_script(dir.path(), args);
            run.expect_code(1).expect_stderr(message);
            assert!(run.stdout.is_empty(), "{target}: {}", run.stdout);
            before.assert_same(&Snapshot::of(dir.path()), &format!("refusing {target}"));
        }
    }

    // v0-prune's own repository is not a v0 install either.
    let run = install_script(
        dir.path(),
        [OsStr::new("--from"), from.as_os_str(), repo().as_os_str()],
    );
    run.expect_code(1)
        .expect_stderr("v0-prune's own repository");
    assert!(!repo().join("bin").exists());
    assert!(!repo().join(BACKUP).exists());
}

#[test]
fn binaries_that_are_missing_or_not_ours_are_refused_with_a_build_hint() {
    let v0 = MiniV0::new();
    let before = v0.snapshot();

    // --from a directory without them.
    let empty = tempfile::tempdir().expect("a temp dir");
    let run = install_script(
        v0.dir.path(),
        [
            OsStr::new("--from"),
            empty.path().as_os_str(),
            v0.root.as_os_str(),
        ],
    );
    run.expect_code(1)
        .expect_stderr("no executable v0-prune in")
        .expect_stderr("cargo build --release");
    before.assert_same(&v0.snapshot(), "--from an empty directory");

    // The default source: target/release of the script's repository.
    let fake_repo = tempfile::tempdir().expect("a temp dir");
    let copy = fake_repo.path().join("assets/install-into-v0.sh");
    std::fs::create_dir_all(copy.parent().expect("assets/")).expect("assets dir");
    std::fs::copy(script(), &copy).expect("copy the script");
    let run = Invocation::program(&copy, v0.dir.path())
        .args([v0.root.as_os_str()])
        .run();
    run.expect_code(1)
        .expect_stderr("target/release")
        .expect_stderr("build the binaries first with `cargo build --release`");
    before.assert_same(&v0.snapshot(), "no release build");

    // --from a directory of v0's own bash scripts (another install's bin/).
    let other = MiniV0::new();
    let scripts = other.path("bin");
    let run = install_script(
        v0.dir.path(),
        [
            OsStr::new("--from"),
            scripts.as_os_str(),
            v0.root.as_os_str(),
        ],
    );
    run.expect_code(1)
        .expect_stderr("is not v0-prune's v0-prune");
    before.assert_same(&v0.snapshot(), "--from v0's scripts");

    // --from the install's own bin/.
    let own_bin = v0.path("bin");
    let run = install_script(
        v0.dir.path(),
        [
            OsStr::new("--from"),
            own_bin.as_os_str(),
            v0.root.as_os_str(),
        ],
    );
    run.expect_code(1).expect_stderr("own bin/");
    before.assert_same(&v0.snapshot(), "--from the install's bin/");
}

#[test]
fn dry_runs_say_what_they_would_do_and_change_nothing() {
    let v0 = MiniV0::new();
    let pristine = v0.snapshot();
    let patch = patch_available();
    let args: &[&str] = if patch {
        &["--dry-run", "--patch-shutdown"]
    } else {
        &["--dry-run"]
    };
    let run = v0.install_ours(args);
    run.expect_code(0)
        .expect_line("would back up bin/v0-prune -> bin/.v0-prune-backup/v0-prune (mode 755)");
    assert!(
        run.stdout.lines().all(|line| line.starts_with("would ")),
        "{}",
        run.stdout
    );
    // Back up and install each binary; back up and patch v0-shutdown.
    let expected_lines = if patch { 6 } else { 4 };
    assert_eq!(run.stdout.lines().count(), expected_lines, "{}", run.stdout);
    pristine.assert_same(&v0.snapshot(), "a dry-run install");

    v0.install_ours(&[]).expect_code(0);
    let installed = v0.snapshot();
    let run = v0.install(&["--uninstall", "--dry-run"]);
    run.expect_code(0)
        .expect_line("would restore bin/v0-prune from bin/.v0-prune-backup/v0-prune (mode 755)")
        .expect_line("would remove bin/.v0-prune-backup");
    installed.assert_same(&v0.snapshot(), "a dry-run uninstall");
    v0.install(&["--uninstall"]).expect_code(0);
    pristine.assert_same(&v0.snapshot(), "install and uninstall");
}

#[test]
fn a_v0_without_a_prune_daemon_gets_ours_and_loses_it_on_uninstall() {
    let v0 = MiniV0::new();
    std::fs::remove_file(v0.path("bin/v0-prune-daemon")).expect("remove");
    let pristine = v0.snapshot();
    v0.install_ours(&[])
        .expect_code(0)
        .expect_line("noted v0 has no bin/v0-prune-daemon (--uninstall will remove ours)");
    assert!(v0.path("bin/v0-prune-daemon").is_file());
    v0.install_ours(&[]).expect_code(0).expect_line(
        "kept the note that v0 has no bin/v0-prune-daemon of its own (bin/.v0-prune-backup/MANIFEST)",
    );
    v0.install(&["--uninstall"])
        .expect_code(0)
        .expect_line("removed bin/v0-prune-daemon (v0 had none)");
    pristine.assert_same(&v0.snapshot(), "install and uninstall");
}

#[test]
fn a_stale_backup_after_a_v0_upgrade_is_never_restored_over_new_files() {
    let v0 = MiniV0::new();
    v0.install_ours(&[]).expect_code(0);
    // v0 upgraded in place: its new bash script replaces our binary.
    std::fs::write(
        v0.path("bin/v0-prune"),
        "#!/usr/bin/env bash\necho \"v0 2.0's prune\"\n",
    )
    .expect("upgrade");
    let before = v0.snapshot();
    v0.install(&["--uninstall"])
        .expect_code(1)
        .expect_stderr("bin/v0-prune")
        .expect_stderr("the backup in bin/.v0-prune-backup is stale");
    before.assert_same(&v0.snapshot(), "uninstall over an upgraded v0");
    v0.install_ours(&[])
        .expect_code(1)
        .expect_stderr("is stale");
    before.assert_same(&v0.snapshot(), "install over an upgraded v0");

    // One of our binaries with the backup gone is never saved as "v0's original".
    let v0 = MiniV0::new();
    v0.install_ours(&[]).expect_code(0);
    std::fs::remove_dir_all(v0.path(BACKUP)).expect("lose the backup");
    let before = v0.snapshot();
    v0.install_ours(&[])
        .expect_code(1)
        .expect_stderr("already a compiled program");
    before.assert_same(&v0.snapshot(), "install with the backup lost");
}

#[test]
fn the_shutdown_patch_applies_by_hand_as_the_readme_says_and_refuses_a_file_it_does_not_fit() {
    if !patch_available() {
        eprintln!("skipped: `patch` is not installed");
        return;
    }
    let bash_syntax = |file: &Path| {
        let status = Command::new("bash")
            .arg("-n")
            .arg(file)
            .status()
            .expect("bash");
        assert!(status.success(), "bash -n {}", file.display());
    };
    bash_syntax(&fixture().join("bin/v0-shutdown"));

    // `patch -p1 -d <v0 dir> < assets/v0-shutdown.patch` gives what --patch-shutdown gives.
    let by_hand = MiniV0::new();
    let patch = std::fs::File::open(repo().join("assets/v0-shutdown.patch")).expect("the patch");
    let status = Command::new("patch")
        .args(["-p1", "-s", "-d"])
        .arg(&by_hand.root)
        .stdin(patch)
        .status()
        .expect("patch");
    assert!(status.success());
    let by_script = MiniV0::new();
    by_script.install_ours(&["--patch-shutdown"]).expect_code(0);
    let patched = std::fs::read(by_hand.path("bin/v0-shutdown")).expect("patched by hand");
    assert_eq!(
        patched,
        std::fs::read(by_script.path("bin/v0-shutdown")).expect("patched by the script")
    );
    assert_ne!(
        patched,
        std::fs::read(fixture().join("bin/v0-shutdown")).expect("fixture")
    );
    bash_syntax(&by_hand.path("bin/v0-shutdown"));

    // A v0-shutdown the patch does not fit: refused, nothing changed.
    let other = MiniV0::new();
    std::fs::write(
        other.path("bin/v0-shutdown"),
        "#!/usr/bin/env bash\n# another v0's shutdown\nv0_stop_everything\n",
    )
    .expect("another shutdown");
    let before = other.snapshot();
    other
        .install_ours(&["--patch-shutdown"])
        .expect_code(1)
        .expect_stderr("does not apply")
        .expect_stderr("by hand");
    before.assert_same(&other.snapshot(), "a patch that does not fit");
}

#[test]
fn help_exits_0_and_usage_errors_exit_2() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let run = install_script(dir.path(), ["--help"]);
    run.expect_code(0);
    assert!(
        run.stdout.starts_with("Usage: install-into-v0.sh "),
        "{}",
        run.stdout
    );
    for option in ["--from", "--uninstall", "--patch-shutdown", "--dry-run"] {
        assert!(run.stdout.contains(option), "--help lacks {option}");
    }
    install_script(dir.path(), ["--bogus", "x"])
        .expect_code(2)
        .expect_stderr("unknown option: --bogus");
    install_script(dir.path(), Vec::<&str>::new())
        .expect_code(2)
        .expect_stderr("which v0 install?");
}

// ---- the example .v0.rc --------------------------------------------------------

/// `text` with `from` (which must occur exactly once) replaced by `to`.
fn replace_once(text: &str, from: &str, to: &str) -> String {
    assert_eq!(text.matches(from).count(), 1, "{from:?} once in:\n{text}");
    text.replace(from, to)
}

fn rc_status(rc: &str) -> (TestProject, Value) {
    let project = TestProject::without_build_dir();
    std::fs::write(project.root.join(".v0.rc"), rc).expect(".v0.rc");
    let run = project.v0_prune(["status", "--json"]).run();
    run.expect_code(3);
    let status = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|err| panic!("status --json is not JSON ({err}):\n{}", run.stdout));
    (project, status)
}

#[test]
fn the_example_rc_is_read_setting_by_setting() {
    let example =
        std::fs::read_to_string(repo().join("assets/example.v0.rc")).expect("the example");

    // As shipped: the defaults.
    let (project, status) = rc_status(&example);
    assert_eq!(
        status["build_dir"],
        project
            .root
            .join(".v0/build")
            .display()
            .to_string()
            .as_str()
    );
    assert_eq!(status["retention_secs"], DEFAULT_RETENTION.as_secs());
    assert_eq!(status["interval_secs"], DEFAULT_INTERVAL.as_secs());

    // Each line is a live assignment our parser reads: edit its value, see it.
    let edited = replace_once(
        &example,
        "V0_BUILD_DIR=\".v0/build\"",
        "V0_BUILD_DIR=\"state/b\"",
    );
    let edited = replace_once(
        &edited,
        "V0_PRUNE_RETENTION=\"6h\"",
        "V0_PRUNE_RETENTION=\"90m\"",
    );
    let edited = replace_once(
        &edited,
        "V0_PRUNE_INTERVAL=\"1h\"",
        "V0_PRUNE_INTERVAL=\"45s\"",
    );
    let (project, status) = rc_status(&edited);
    assert_eq!(
        status["build_dir"],
        project.root.join("state/b").display().to_string().as_str()
    );
    assert_eq!(status["retention_secs"], 90 * 60);
    assert_eq!(status["interval_secs"], 45);
}
