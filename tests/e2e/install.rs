//! Installing into the real v0, end to end: `assets/install-into-v0.sh` on a
//! fresh copy of v0 as published (`<repo>/../shared/v0`), a project made by
//! v0's own `v0 init`, v0's own commands (`bin/v0` dispatching to
//! `bin/v0-prune`, `bin/v0-shutdown` calling v0's pruning functions) then
//! answered by our binaries and hooks, and `--uninstall` putting back every
//! original byte and mode. Also: which v0 the script picks by itself, the v0s
//! it refuses, and the example `.v0.rc`, read setting by setting.
//!
//! Every daemon a test starts dies with its `V0Project` (see its drop), also
//! when the test fails.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::io::{BufRead as _, BufReader};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use v0_prune_shared::config::{DEFAULT_INTERVAL, DEFAULT_RETENTION};
use v0_prune_shared::demo::{self, DemoSpec};
use v0_prune_testkit::bins::workspace_root;
use v0_prune_testkit::v0_install::{binaries, path_with, path_without_v0};
use v0_prune_testkit::{
    Invocation, Outcome, PATIENCE, TestBuildDir, TestProject, TmuxPane, V0Install, bin,
    copy_real_v0, hours, process_gone, real_v0, stamp, wait_until, without_steering,
};

/// Long enough that no scheduled run lands in a test of a few seconds.
const INTERVAL: &str = "60s";

const BACKUP: &str = "bin/.v0-prune-backup";
const COMMON: &str = "packages/cli/lib/v0-common.sh";
const HOOKS: &str = "packages/cli/lib/v0-prune-hooks.sh";

/// The bound on the prune part of `v0 shutdown` with an idle daemon. Ours
/// takes 0.04–0.11 s (printed by the test; measuring it is the benchmark's
/// job), v0's bash 1.7–4.0 s, a second of it polling: the bound is an order
/// of magnitude above ours, and below v0's polling second.
const PRUNE_PART_LIMIT: Duration = Duration::from_secs(1);

/// How many `v0 shutdown`s the bound gets (the best counts), so that one
/// slowed by a loaded machine does not fail the test.
const PRUNE_PART_ATTEMPTS: usize = 3;

fn script() -> PathBuf {
    workspace_root().join("assets/install-into-v0.sh")
}

/// v0's version, as its VERSION file says.
fn v0_version() -> String {
    std::fs::read_to_string(real_v0().join("VERSION"))
        .expect("v0's VERSION")
        .trim()
        .to_owned()
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
    /// A socket or a FIFO (the daemon's socket): there, unread.
    Special,
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
            Self::Special => write!(f, "socket or FIFO"),
            Self::Bytes(bytes) if bytes.len() > 400 => write!(
                f,
                "{} bytes ending {:?}",
                bytes.len(),
                String::from_utf8_lossy(&bytes[bytes.len() - 200..])
            ),
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
                } else if !meta.is_file() {
                    Content::Special
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

/// A fresh copy of v0 in a temporary directory (`<temp>/v0`), with what v0
/// needs around it: the kit's [`V0Install`], and what these tests add.
struct RealV0(V0Install);

impl std::ops::Deref for RealV0 {
    type Target = V0Install;

    fn deref(&self) -> &V0Install {
        &self.0
    }
}

impl RealV0 {
    fn new() -> Self {
        Self(V0Install::new(INTERVAL))
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

    /// A git repository (one commit) made a v0 project by `v0 init`, with
    /// `.v0/build` filled by the demo generator.
    fn init_project(&self) -> V0Project {
        let root = self.0.init_project("project");
        // The demo's build directory, moved into the project v0 made.
        let scratch = self.dir.path().join("demo");
        let generated = demo::generate(&scratch, &DemoSpec::default()).expect("demo data");
        let build_dir = root.join(".v0/build");
        std::fs::create_dir_all(root.join(".v0")).expect(".v0");
        std::fs::rename(generated.build_dir.root(), &build_dir).expect("move the build dir");
        V0Project {
            root,
            build: TestBuildDir::at(build_dir),
            expected: generated.expected,
        }
    }

    fn v0(&self, project: &V0Project, args: &[&str]) -> Outcome {
        self.v0_in(&project.root, args)
    }

    /// `v0 <args>` with `extra` in the environment; each stdout line with
    /// the moment it arrived.
    fn v0_timed(
        &self,
        project: &V0Project,
        args: &[&str],
        extra: &[(&str, &str)],
    ) -> (Outcome, Vec<(Instant, String)>) {
        let mut command = Command::new(self.path("bin/v0"));
        without_steering(&mut command)
            .args(args)
            .current_dir(&project.root)
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (key, value) in self.env() {
            command.env(key, value);
        }
        command.envs(extra.iter().copied());
        let mut child = command.spawn().expect("spawning v0");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut stderr = child.stderr.take().expect("piped stderr");
        let lines = std::thread::spawn(move || {
            BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
                .map(|line| (Instant::now(), line))
                .collect::<Vec<_>>()
        });
        let errors = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = std::io::Read::read_to_string(&mut stderr, &mut text);
            text
        });
        let status = child.wait().expect("waiting for v0");
        let lines = lines.join().expect("stdout reader");
        let outcome = Outcome {
            command: format!("v0 {args:?}"),
            code: status.code(),
            stdout: lines.iter().map(|(_, line)| format!("{line}\n")).collect(),
            stderr: errors.join().expect("stderr reader"),
        };
        (outcome, lines)
    }
}

/// A project `v0 init` made, with the demo's build directory.
struct V0Project {
    root: PathBuf,
    build: TestBuildDir,
    expected: demo::Expected,
}

impl V0Project {
    fn phase(&self, name: &str) -> String {
        let state: Value = serde_json::from_slice(
            &std::fs::read(self.build.path(&format!("operations/{name}/state.json")))
                .expect("state"),
        )
        .expect("state.json");
        state["phase"].as_str().expect("a phase").to_owned()
    }

    /// Appends `lines` lines stamped `ago` to `logs/<name>`.
    fn append_log(&self, name: &str, ago: Duration, lines: usize) {
        use std::io::Write as _;
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.build.path(&format!("logs/{name}")))
            .expect("a log");
        for n in 0..lines {
            writeln!(file, "[{}] line {n}", stamp(ago)).expect("append");
        }
    }

    /// Adds a completed merge-queue entry last updated `ago`.
    fn add_queue_entry(&self, id: &str, ago: Duration) {
        let path = self.build.path("mergeq/queue.json");
        let mut queue: Value =
            serde_json::from_slice(&std::fs::read(&path).expect("queue")).expect("queue.json");
        queue["entries"]
            .as_array_mut()
            .expect("entries")
            .push(json!({
                "id": id,
                "operation": id,
                "branch": format!("feature/{id}"),
                "status": "completed",
                "enqueued_at": stamp(ago + hours(1)),
                "updated_at": stamp(ago),
            }));
        std::fs::write(&path, serde_json::to_vec_pretty(&queue).expect("json")).expect("write");
    }

    fn queue_ids(&self) -> Vec<String> {
        let queue: Value = serde_json::from_slice(
            &std::fs::read(self.build.path("mergeq/queue.json")).expect("queue"),
        )
        .expect("queue.json");
        queue["entries"]
            .as_array()
            .expect("entries")
            .iter()
            .filter_map(|entry| entry["id"].as_str().map(str::to_owned))
            .collect()
    }
}

impl Drop for V0Project {
    fn drop(&mut self) {
        self.build.kill_daemon();
    }
}

/// `text` from the line `from` on (panics if absent).
fn from_line<'a>(text: &'a str, from: &str) -> &'a str {
    let at = text
        .find(&format!("{from}\n"))
        .unwrap_or_else(|| panic!("no line {from:?} in:\n{text}"));
    &text[at..]
}

/// The time from the line `from` to the line `to` of a timed run.
fn between(lines: &[(Instant, String)], from: &str, to: &str) -> Duration {
    let at = |wanted: &str| {
        lines
            .iter()
            .find(|(_, line)| line == wanted)
            .map(|(at, _)| *at)
            .unwrap_or_else(|| panic!("no line {wanted:?} in {lines:?}"))
    };
    at(to).duration_since(at(from))
}

/// What `v0 prune status` (ours) must answer, and (before the install and
/// after the uninstall) what v0's bash answers: `status` is an operation name.
fn expect_bash_prune(v0: &RealV0, project: &V0Project) {
    v0.v0(project, &["prune", "status"])
        .expect_code(1)
        .expect_stderr("Error: Operation 'status' not found");
}

#[test]
#[cfg_attr(
    not(v0_prune_runs_v0),
    ignore = "needs the real v0 and what it runs: scripts/get-v0 or V0_SOURCE; bash, jq, perl, flock, git, tmux"
)]
fn a_v0_init_project_driven_through_v0s_own_commands_from_install_to_uninstall() {
    let v0 = RealV0::new();
    let pristine = v0.snapshot();
    let project = v0.init_project();
    let build = project.build.root().display().to_string();
    let finished = project.expected.finished_operations.clone();
    assert!(!finished.is_empty() && project.expected.queue_entries_removed > 0);
    let phases: BTreeMap<String, String> = finished
        .iter()
        .map(|name| (name.clone(), project.phase(name)))
        .collect();
    expect_bash_prune(&v0, &project);

    // Install: v0 is found as given, its version said; v0's files backed up.
    let run = v0.install_ours(&[]);
    run.expect_code(0)
        .expect_line(&format!(
            "v0 {} at {} (given)",
            v0_version(),
            v0.root.display()
        ))
        .expect_line("backed up bin/v0-prune -> bin/.v0-prune-backup/bin/v0-prune (mode 555)")
        .expect_line(&format!(
            "backed up {COMMON} -> bin/.v0-prune-backup/{COMMON} (mode 555)"
        ))
        .expect_line(&format!(
            "noted v0 has no {HOOKS} (--uninstall will remove ours)"
        ));
    for name in ["v0-prune", "v0-prune-daemon"] {
        assert!(
            std::fs::read(v0.path(&format!("bin/{name}"))).expect("installed")
                == std::fs::read(bin(name)).expect("built"),
            "bin/{name} is not our binary"
        );
        assert_eq!(
            std::fs::read(v0.path(&format!("{BACKUP}/bin/{name}"))).expect("backup"),
            std::fs::read(real_v0().join(format!("bin/{name}"))).expect("v0's"),
            "the backup of bin/{name} is v0's original"
        );
    }
    let common = std::fs::read_to_string(v0.path(COMMON)).expect("v0-common.sh");
    let original = std::fs::read_to_string(real_v0().join(COMMON)).expect("v0's");
    let appended = common
        .strip_prefix(original.as_str())
        .expect("v0's v0-common.sh, only appended to");
    assert_eq!(appended.lines().count(), 1, "one line: {appended:?}");
    assert!(appended.contains("source") && appended.contains("v0-prune-hooks.sh"));

    // `v0 prune --dry-run`: v0's words; nothing changes, no daemon starts.
    let before = Snapshot::of(&project.root);
    let run = v0.v0(&project, &["prune", "--dry-run"]);
    run.expect_code(0)
        .expect_line("Pruning old mergeq entries...")
        .expect_line(&format!(
            "Would prune {} mergeq entries older than 6 hours",
            project.expected.queue_entries_removed
        ))
        .expect_line("Pruning old log entries...");
    for (name, phase) in &phases {
        run.expect_line(&format!("Would prune: {name} ({phase})"));
    }
    before.assert_same(&Snapshot::of(&project.root), "`v0 prune --dry-run`");
    assert!(
        project.build.daemon_pid().is_none(),
        "a dry run starts no daemon"
    );

    // `v0 prune`: v0's words; the daemon it hands off to runs from v0's bin/.
    let run = v0.v0(&project, &["prune"]);
    run.expect_code(0)
        .expect_line(&format!("Pruned {} operation(s)", finished.len()))
        .expect_line("Pruning logs in background...")
        .expect_line(&format!("View logs: tail -f {build}/logs/prune-daemon.log"));
    for (name, phase) in &phases {
        run.expect_line(&format!("Pruned: {name} ({phase})"));
    }
    project.build.wait_for_daemon_log("Pruning complete", 1);
    let pid = project
        .build
        .daemon_pid()
        .expect("the daemon wrote its pid file");
    #[cfg(target_os = "linux")] // procfs names the executable
    {
        let exe = std::fs::read_link(format!("/proc/{pid}/exe")).expect("the daemon's executable");
        assert_eq!(
            exe,
            std::fs::canonicalize(v0.path("bin/v0-prune-daemon")).expect("installed daemon"),
            "the daemon runs from v0's bin/"
        );
    }
    let left = project.build.operations();
    assert!(finished.iter().all(|name| !left.contains(name)), "{left:?}");
    assert!(!left.is_empty(), "unfinished operations stay");

    // `v0 prune -a -f`: every operation, and operations/ itself, as v0.
    let run = v0.v0(&project, &["prune", "-a", "-f"]);
    run.expect_code(0).expect_line("Pruned all operations");
    assert!(
        !project.build.path("operations").exists(),
        "v0 removes operations/ itself"
    );

    // `v0 prune status`: our daemon's own account.
    let run = v0.v0(&project, &["prune", "status", "--json"]);
    run.expect_code(0);
    let status: Value = serde_json::from_str(&run.stdout).expect("status --json");
    assert_eq!(status["running"], true, "{status}");
    assert_eq!(status["pid"], pid);
    assert_eq!(status["build_dir"], build.as_str());
    assert_eq!(
        status["totals"]["queue_entries_removed"], project.expected.queue_entries_removed,
        "{status}"
    );
    assert_eq!(
        status["totals"]["log_lines_removed"], project.expected.log_lines_removed,
        "{status}"
    );
    let run = v0.v0(&project, &["prune", "status"]);
    run.expect_code(0);
    assert!(run.stdout.contains(&pid.to_string()), "{}", run.stdout);

    // `v0 prune top` in a real terminal: `r` runs, `d` drains, `s` starts
    // the daemon again, `q` quits.
    top_in_tmux(&v0, &project, pid);
    let pid = project.build.daemon_pid().expect("the daemon top started");

    // Something for the final prune: a log with expired lines, an old entry.
    project.append_log("late.log", hours(7), 3);
    project.add_queue_entry("late", hours(7));

    // `v0 shutdown --dry-run`: v0's dry-run path, pruning functions ours.
    let before = Snapshot::of(&project.root);
    let run = v0.v0(&project, &["shutdown", "--dry-run"]);
    run.expect_code(0)
        .expect_line(&format!("Would stop prune daemon (pid: {pid})"));
    assert_eq!(
        from_line(&run.stdout, "Would stop prune daemon"),
        "Would stop prune daemon\n\
         \n\
         Pruning old mergeq entries...\n\
         Would prune 1 mergeq entries older than 6 hours\n\
         \n\
         Pruning old log entries...\n\
         Would prune 3 lines from: logs/late.log\n",
        "{}",
        run.stderr
    );
    before.assert_same(&Snapshot::of(&project.root), "`v0 shutdown --dry-run`");
    assert!(!process_gone(pid), "a dry run stops nothing");

    // `v0 shutdown`: our daemon drained, the final prune ours, v0's lines.
    let run = v0.v0(&project, &["shutdown"]);
    run.expect_code(0);
    assert_eq!(
        from_line(&run.stdout, "Waiting for background pruning to complete..."),
        "Waiting for background pruning to complete...\n\
         Background pruning stopped\n\
         \n\
         Pruning old mergeq entries...\n\
         Pruned 1 mergeq entries older than 6 hours\n\
         \n\
         Pruning old log entries...\n\
         Pruned 3 lines from: logs/late.log\n\
         \n\
         Shutdown complete\n",
        "{}",
        run.stderr
    );
    assert!(run.stderr.is_empty(), "{}", run.stderr);
    assert!(
        process_gone(pid),
        "the daemon is gone when shutdown returns"
    );
    assert!(project.build.daemon_pid().is_none(), "and its pid file");
    assert!(
        project
            .build
            .daemon_log()
            .trim_end()
            .ends_with("Daemon exiting normally"),
        "{}",
        project.build.daemon_log()
    );
    assert!(!project.queue_ids().contains(&"late".to_owned()));
    assert_eq!(
        std::fs::read_to_string(project.build.path("logs/late.log")).expect("late.log"),
        ""
    );

    // Uninstall: every original byte and mode back, the backup gone; `v0
    // prune` is v0's bash again.
    let run = v0.install(&["--uninstall"]);
    run.expect_code(0)
        .expect_line("restored bin/v0-prune from bin/.v0-prune-backup/bin/v0-prune (mode 555)")
        .expect_line(&format!(
            "restored {COMMON} from bin/.v0-prune-backup/{COMMON} (mode 555)"
        ))
        .expect_line(&format!("removed {HOOKS} (v0 had none)"))
        .expect_line("removed bin/.v0-prune-backup");
    pristine.assert_same(&v0.snapshot(), "install, use and uninstall");
    expect_bash_prune(&v0, &project);

    // A second uninstall has nothing to undo: an error, nothing changed.
    v0.install(&["--uninstall"])
        .expect_code(1)
        .expect_stderr("no backup in");
    pristine.assert_same(&v0.snapshot(), "a second uninstall");
}

/// The state word at the right end of the dashboard's first row.
fn top_state(screen: &str) -> Option<&'static str> {
    let header = screen.lines().next()?.trim_end();
    if !header.contains("v0-prune top") {
        return None;
    }
    ["not running", "draining", "running", "idle"]
        .into_iter()
        .find(|word| header.ends_with(&format!(" {word}")))
}

/// `v0 prune top` through v0's dispatcher, in tmux.
fn top_in_tmux(v0: &RealV0, project: &V0Project, pid: u32) {
    let env = v0.env();
    // The pane's server keeps its own TMUX_TMPDIR.
    let env: Vec<(&str, &str)> = env
        .iter()
        .filter(|(key, _)| *key != "TMUX_TMPDIR")
        .map(|(key, value)| (*key, value.to_str().expect("a UTF-8 environment")))
        .collect();
    let command = format!(
        "'{}' prune top; echo \"TOP_EXITED=$?\"; exec sleep 600",
        v0.path("bin/v0").display()
    );
    let pane = TmuxPane::start(&project.root, 100, 30, &env, &command);
    let runs = |screen: &str| screen.matches("Pruning complete").count();
    let screen = pane.wait_for("the dashboard, idle", PATIENCE, |s| {
        top_state(s) == Some("idle")
    });
    assert!(screen.contains(&format!("daemon pid {pid}")), "{screen}");

    // `r`: the daemon runs now; its log (on screen) says so once more.
    let before = project.build.count_in_log("Pruning complete");
    pane.keys(&["r"]);
    project
        .build
        .wait_for_daemon_log("Pruning complete", before + 1);
    pane.wait_for("the requested run on screen, idle again", PATIENCE, |s| {
        top_state(s) == Some("idle") && runs(s) > runs(&screen)
    });

    // `d`: asks, then drains; the daemon exits and the screen says so.
    pane.keys(&["d"]);
    pane.wait_for("the drain confirmation", PATIENCE, |s| {
        s.contains(&format!("Drain the prune daemon (pid {pid})?"))
    });
    pane.keys(&["y"]);
    pane.wait_for("the daemon shown as not running", PATIENCE, |s| {
        top_state(s) == Some("not running")
    });
    assert!(wait_until(PATIENCE, || process_gone(pid)));

    // `s` starts it again (for `v0 shutdown` to stop), `q` quits.
    pane.keys(&["s"]);
    pane.wait_for("a new daemon, idle", PATIENCE, |s| {
        top_state(s) == Some("idle") && !s.contains(&format!("daemon pid {pid}"))
    });
    pane.keys(&["q"]);
    pane.wait_for("the dashboard's exit", PATIENCE, |s| {
        s.lines().any(|l| l.trim_end() == "TOP_EXITED=0")
    });
}

#[test]
#[cfg_attr(
    not(v0_prune_runs_v0),
    ignore = "needs the real v0 and what it runs: scripts/get-v0 or V0_SOURCE; bash, jq, perl, flock, git, tmux"
)]
fn v0_shutdown_stops_any_daemon_at_once_and_prunes_in_utc_whatever_the_time_zone() {
    let v0 = RealV0::new();
    let project = v0.init_project();
    let tokyo = [("TZ", "Asia/Tokyo")];
    // Lines 3 hours old are young (retention 6 hours); 7 hours, expired.
    let young_and_old = |name: &str| {
        project.append_log(name, hours(7), 2);
        project.append_log(name, hours(3), 4);
    };

    // v0's own bash first: its daemon polled for a second or more, and in
    // Tokyo (UTC+9) the UTC stamps read as local time make young lines old.
    v0.v0(&project, &["prune"])
        .expect_code(0)
        .expect_line("Pruning logs in background...");
    project
        .build
        .wait_for_daemon_log("Sleeping for 3600s until next prune cycle", 1);
    young_and_old("tz.log");
    let (run, lines) = v0.v0_timed(&project, &["shutdown"], &tokyo);
    run.expect_code(0);
    let bash = between(
        &lines,
        "Waiting for background pruning to complete...",
        "Shutdown complete",
    );
    let kept = std::fs::read_to_string(project.build.path("logs/tz.log")).expect("tz.log");
    assert_eq!(
        kept.lines().count(),
        0,
        "v0's bash pruner, in Tokyo, deletes the young lines too:\n{kept}"
    );

    // Installed while v0's bash daemon runs: v0's shutdown, through our
    // hooks, stops it all the same.
    v0.v0(&project, &["prune"])
        .expect_code(0)
        .expect_line("Pruning logs in background...");
    // (Its log lost the first daemon's stamped lines to the Tokyo prune.)
    let bash_pid = project.build.daemon_pid().expect("v0's bash daemon");
    let started = format!("Prune daemon starting (PID: {bash_pid}");
    assert!(
        wait_until(PATIENCE, || {
            let log = project.build.daemon_log();
            log.find(&started)
                .is_some_and(|at| log[at..].contains("Sleeping for 3600s"))
        }),
        "v0's second bash daemon is idle:\n{}",
        project.build.daemon_log()
    );
    v0.install_ours(&[]).expect_code(0);
    let run = v0.v0(&project, &["shutdown"]);
    run.expect_code(0)
        .expect_line("Background pruning stopped")
        .expect_stderr(&format!(
            "The prune daemon (pid {bash_pid}) is not v0-prune's"
        ));
    assert!(
        process_gone(bash_pid),
        "v0's bash daemon is gone when v0 shutdown returns"
    );
    assert!(project.build.daemon_pid().is_none());

    // Ours: the same shutdown through v0's bin/v0-shutdown.
    v0.v0(&project, &["prune"]).expect_code(0);
    project.build.wait_for_daemon_log("Pruning complete", 1);
    let pid = project.build.daemon_pid().expect("our daemon's pid file");
    let status = v0.v0(&project, &["prune", "status", "--json"]);
    let status: Value = serde_json::from_str(&status.stdout).expect("status --json");
    assert_eq!(status["pid"], pid, "{status}");
    young_and_old("tz2.log");
    let (run, lines) = v0.v0_timed(&project, &["shutdown"], &tokyo);
    run.expect_code(0)
        .expect_line("Background pruning stopped")
        .expect_line("Pruned 2 lines from: logs/tz2.log");
    let mut ours = vec![between(
        &lines,
        "Waiting for background pruning to complete...",
        "Shutdown complete",
    )];
    assert!(process_gone(pid));
    let kept = std::fs::read_to_string(project.build.path("logs/tz2.log")).expect("tz2.log");
    assert_eq!(
        kept.lines().count(),
        4,
        "in Tokyo, ours keeps every line younger than 6 hours:\n{kept}"
    );
    // Another daemon and another shutdown while the best is over the bound.
    while ours.len() < PRUNE_PART_ATTEMPTS && ours.iter().min() >= Some(&PRUNE_PART_LIMIT) {
        let runs = project.build.count_in_log("Pruning complete");
        v0.v0(&project, &["prune"]).expect_code(0);
        project
            .build
            .wait_for_daemon_log("Pruning complete", runs + 1);
        let (run, lines) = v0.v0_timed(&project, &["shutdown"], &tokyo);
        run.expect_code(0).expect_line("Background pruning stopped");
        ours.push(between(
            &lines,
            "Waiting for background pruning to complete...",
            "Shutdown complete",
        ));
    }
    eprintln!("the prune part of `v0 shutdown`, idle daemon: v0's bash {bash:?}, ours {ours:?}");
    let best = *ours.iter().min().expect("one shutdown at least");
    assert!(
        best < PRUNE_PART_LIMIT && best < bash,
        "the prune part took {ours:?} (bound {PRUNE_PART_LIMIT:?}, best of {PRUNE_PART_ATTEMPTS}; v0's bash: {bash:?})"
    );
}

#[test]
fn a_pid_file_naming_another_program_stops_nothing() {
    // A daemon killed long ago left its pid file; the pid now is a `sleep`.
    let project = TestProject::bare();
    let mut other = Command::new("sleep").arg("60").spawn().expect("sleep");
    project
        .build
        .write(".prune-daemon.pid", format!("{}\n", other.id()));
    for args in [&["shutdown", "--drain-only"][..], &["shutdown"][..]] {
        let run = project.v0_prune(args).run();
        run.expect_code(0);
        assert!(!run.stderr.contains("SIGTERM"), "{args:?}: {}", run.stderr);
        assert!(
            other.try_wait().expect("sleep's status").is_none(),
            "{args:?} signalled an unrelated process"
        );
    }
    project
        .v0_prune(["shutdown"])
        .run()
        .expect_line("No prune daemon running");
    let _ = other.kill();
    let _ = other.wait();
}

#[test]
#[cfg_attr(
    not(v0_prune_runs_v0),
    ignore = "needs the real v0 and what it runs: scripts/get-v0 or V0_SOURCE; bash, jq, perl, flock, git, tmux"
)]
fn the_hooks_replace_v0s_functions_in_every_command_while_our_binary_is_there() {
    let v0 = RealV0::new();
    // What a v0 command sees: v0-common.sh sourced, then `type` of each function.
    let functions = || {
        let output = Command::new("bash")
            .arg("-c")
            .arg(format!(
                "set -e; source '{}'; for f in prune_daemon_wait v0_prune_mergeq v0_prune_logs prune_daemon_running; do declare -f \"$f\"; done",
                v0.path(COMMON).display()
            ))
            .env("PATH", path_with(&v0.stubs))
            .output()
            .expect("bash");
        assert!(
            output.status.success(),
            "sourcing v0-common.sh failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).expect("utf-8")
    };
    let bash = functions();
    assert!(
        bash.contains("sleep 1"),
        "v0's own prune_daemon_wait polls:\n{bash}"
    );
    assert!(!bash.contains("v0-prune shutdown") && !bash.contains("_v0_prune "));

    v0.install_ours(&[]).expect_code(0);
    let ours = functions();
    for (function, call) in [
        ("prune_daemon_wait", "_v0_prune shutdown --drain-only"),
        ("v0_prune_mergeq", "_v0_prune shutdown --only mergeq"),
        ("v0_prune_logs", "_v0_prune shutdown --only logs"),
    ] {
        let body = ours
            .split(&format!("{function} () \n"))
            .nth(1)
            .unwrap_or_else(|| panic!("no {function} in:\n{ours}"));
        let body = &body[..body.find("\n}").expect("end of function")];
        assert!(body.contains(call), "{function}:\n{body}");
    }
    // v0's own, not replaced: it reads the pid file our daemon writes too.
    assert!(ours.contains("PRUNE_DAEMON_PID_FILE"), "{ours}");

    // v0's bash v0-prune put back by hand: v0's functions stay in force.
    std::fs::copy(
        v0.path(&format!("{BACKUP}/bin/v0-prune")),
        v0.path("bin/v0-prune"),
    )
    .expect("v0's script back");
    assert_eq!(functions(), bash);
}

#[test]
#[cfg_attr(
    not(v0_prune_has_v0),
    ignore = "needs the real v0: scripts/get-v0 or V0_SOURCE"
)]
fn without_an_argument_it_finds_v0_on_path_through_links_then_in_its_default_place() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let at = |relative: &str| dir.path().join(relative);
    // Homebrew's layout: PATH holds a link to a link into the keg.
    let keg = at("homebrew/Cellar/v0/0.4.0");
    std::fs::create_dir_all(keg.parent().expect("Cellar/v0")).expect("Cellar");
    copy_real_v0(&keg);
    std::fs::create_dir_all(at("homebrew/bin")).expect("homebrew/bin");
    std::os::unix::fs::symlink("../Cellar/v0/0.4.0/bin/v0", at("homebrew/bin/v0")).expect("link");
    std::fs::create_dir_all(at("path")).expect("path dir");
    std::os::unix::fs::symlink(at("homebrew/bin/v0"), at("path/v0")).expect("link");
    // v0's default place, ~/.local/share/v0, in a home of its own.
    let home = at("home");
    let default = home.join(".local/share/v0");
    std::fs::create_dir_all(default.parent().expect("share")).expect("share");
    copy_real_v0(&default);
    let version = v0_version();
    let from = binaries();
    let run = |path: &OsStr, args: &[&str]| {
        let mut all: Vec<&OsStr> = vec![OsStr::new("--from"), from.as_os_str()];
        all.extend(args.iter().map(OsStr::new));
        Invocation::program(&script(), dir.path())
            .args(all)
            .env("PATH", path)
            .env("HOME", &home)
            .env("V0_INSTALL", "")
            .run()
    };

    // On PATH, through both links, to the keg; its version.
    let keg_snapshot = Snapshot::of(&keg);
    let on_path = path_with(&at("path"));
    let dry = run(&on_path, &["--dry-run"]);
    dry.expect_code(0);
    assert_eq!(
        dry.stdout.lines().next(),
        Some(
            format!(
                "v0 {version} at {} (the v0 on PATH: {})",
                keg.display(),
                at("path/v0").display()
            )
            .as_str()
        ),
        "{}",
        dry.stdout
    );
    keg_snapshot.assert_same(&Snapshot::of(&keg), "a dry run");
    run(&on_path, &[]).expect_code(0);
    assert!(keg.join(HOOKS).is_file(), "installed into the keg");
    Invocation::program(&script(), dir.path())
        .args(["--uninstall"])
        .env("PATH", &on_path)
        .env("HOME", &home)
        .env("V0_INSTALL", "")
        .run()
        .expect_code(0)
        .expect_line("removed bin/.v0-prune-backup");
    keg_snapshot.assert_same(&Snapshot::of(&keg), "install and uninstall, found on PATH");

    // No v0 on PATH: v0's default install directory.
    let default_snapshot = Snapshot::of(&default);
    let dry = run(&path_without_v0(), &["--dry-run"]);
    dry.expect_code(0);
    assert_eq!(
        dry.stdout.lines().next(),
        Some(
            format!(
                "v0 {version} at {} (v0's default install directory; no v0 on PATH)",
                default.display()
            )
            .as_str()
        ),
        "{}",
        dry.stdout
    );

    // A v0 on PATH that is no install (a wrapper script): said, then the default.
    std::fs::create_dir_all(at("wrapper")).expect("wrapper dir");
    std::fs::write(at("wrapper/v0"), "#!/bin/sh\nexec true\n").expect("wrapper");
    set_mode(&at("wrapper/v0"), 0o755);
    let dry = run(&path_with(&at("wrapper")), &["--dry-run"]);
    dry.expect_code(0);
    let first = dry.stdout.lines().next().unwrap_or_default();
    assert!(
        first.starts_with(&format!("v0 {version} at {} (", default.display()))
            && first.contains(&format!(
                "the v0 on PATH ({}) is not inside a v0 install",
                at("wrapper/v0").display()
            )),
        "{}",
        dry.stdout
    );
    default_snapshot.assert_same(&Snapshot::of(&default), "dry runs");

    // Neither: an error that says where it looked and what to do.
    std::fs::remove_dir_all(&default).expect("remove the default v0");
    let none = run(&path_without_v0(), &[]);
    none.expect_code(1)
        .expect_stderr("no v0 on PATH")
        .expect_stderr(&default.display().to_string())
        .expect_stderr("give its directory");
    assert!(none.stdout.is_empty(), "{}", none.stdout);
}

#[test]
#[cfg_attr(
    not(v0_prune_has_v0),
    ignore = "needs the real v0: scripts/get-v0 or V0_SOURCE"
)]
fn a_v0_whose_files_are_not_what_we_know_is_refused_and_nothing_changes() {
    let v0 = RealV0::new();
    let pristine = v0.snapshot();
    // (file, edit, what the refusal must say)
    type Edit = fn(&str) -> String;
    let cases: [(&str, Edit, &str); 6] = [
        (
            "packages/core/lib/pruning.sh",
            |text| text.replace("v0_prune_logs() {", "v0_prune_all_logs() {"),
            "packages/core/lib/pruning.sh does not define v0_prune_logs",
        ),
        (
            "packages/core/lib/prune-daemon.sh",
            |text| text.replace("prune_daemon_wait() {", "prune_daemon_join() {"),
            "packages/core/lib/prune-daemon.sh does not define prune_daemon_wait",
        ),
        (
            "bin/v0-shutdown",
            |text| text.replace("prune_daemon_wait", "prune_daemon_join"),
            "bin/v0-shutdown does not call prune_daemon_wait",
        ),
        (
            COMMON,
            |text| {
                text.lines()
                    .filter(|line| !line.contains("prune-daemon.sh"))
                    .map(|line| format!("{line}\n"))
                    .collect()
            },
            "v0-common.sh does not source packages/core/lib/prune-daemon.sh",
        ),
        (
            "bin/v0-prune",
            |_| "#!/usr/bin/env python3\nprint('a v0 prune in python')\n".to_owned(),
            "bin/v0-prune is not v0's bash script",
        ),
        (
            COMMON,
            |text| format!("{text}source \"${{BASH_SOURCE[0]%/*}}/v0-prune-hooks.sh\"\n"),
            "already loads v0-prune-hooks.sh, but there is no backup",
        ),
    ];
    for (file, edit, message) in cases {
        let path = v0.path(file);
        let original = std::fs::read_to_string(&path).expect("v0's file");
        let edited = edit(&original);
        assert_ne!(edited, original, "the edit of {file} changed nothing");
        std::fs::write(&path, &edited).expect("edit");
        let before = v0.snapshot();
        let run = v0.install_ours(&[]);
        run.expect_code(1)
            .expect_stderr(message)
            .expect_stderr(&v0.root.display().to_string());
        if !message.starts_with("already") {
            // Not this v0-prune's kind of v0: which one, by version.
            run.expect_stderr(&format!(
                "v0 {} at {} is not a v0 this v0-prune knows",
                v0_version(),
                v0.root.display()
            ));
        }
        assert!(
            run.stderr.contains("nothing changed"),
            "{file}: {}",
            run.stderr
        );
        before.assert_same(&v0.snapshot(), &format!("refusing an edited {file}"));
        std::fs::write(&path, original).expect("restore");
    }
    pristine.assert_same(&v0.snapshot(), "the refusals");
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
    write("real/bin/v0", 0o755);
    write("real/bin/v0-prune", 0o755);
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
        [
            OsStr::new("--from"),
            from.as_os_str(),
            workspace_root().as_os_str(),
        ],
    );
    run.expect_code(1)
        .expect_stderr("v0-prune's own repository");
    assert!(!workspace_root().join("bin").exists());
    assert!(!workspace_root().join(BACKUP).exists());
}

#[test]
#[cfg_attr(
    not(v0_prune_has_v0),
    ignore = "needs the real v0: scripts/get-v0 or V0_SOURCE"
)]
fn binaries_that_are_missing_or_not_ours_are_refused_with_a_build_hint() {
    let v0 = RealV0::new();
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
    let other = RealV0::new();
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
#[cfg_attr(
    not(v0_prune_has_v0),
    ignore = "needs the real v0: scripts/get-v0 or V0_SOURCE"
)]
fn dry_runs_say_what_they_would_do_and_change_nothing_then_reinstalls_keep_the_backup() {
    let v0 = RealV0::new();
    let pristine = v0.snapshot();
    let run = v0.install_ours(&["--dry-run"]);
    run.expect_code(0)
        .expect_line("would back up bin/v0-prune -> bin/.v0-prune-backup/bin/v0-prune (mode 555)");
    let mut lines = run.stdout.lines();
    assert!(
        lines.next().is_some_and(|line| line.starts_with("v0 ")),
        "{}",
        run.stdout
    );
    assert!(
        lines.all(|line| line.starts_with("would ")),
        "{}",
        run.stdout
    );
    // Back up three files and note one, install four.
    assert_eq!(run.stdout.lines().count(), 1 + 4 + 4, "{}", run.stdout);
    pristine.assert_same(&v0.snapshot(), "a dry-run install");

    v0.install_ours(&[]).expect_code(0);
    let installed = v0.snapshot();
    let run = v0.install(&["--uninstall", "--dry-run"]);
    run.expect_code(0)
        .expect_line("would restore bin/v0-prune from bin/.v0-prune-backup/bin/v0-prune (mode 555)")
        .expect_line(&format!("would remove {HOOKS} (v0 had none)"))
        .expect_line("would remove bin/.v0-prune-backup");
    installed.assert_same(&v0.snapshot(), "a dry-run uninstall");

    // Again from a newer build: the binaries replaced, everything else
    // (backup, hooks, v0-common.sh) as it was.
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
    let again = |from: &Path| {
        install_script(
            v0.dir.path(),
            [OsStr::new("--from"), from.as_os_str(), v0.root.as_os_str()],
        )
    };
    let run = again(newer.path());
    run.expect_code(0)
        .expect_line(
            "kept the backup of v0's original bin/v0-prune (bin/.v0-prune-backup/bin/v0-prune)",
        )
        .expect_line(&format!(
            "up to date: {COMMON} (one line appended: it loads {HOOKS})"
        ));
    assert!(
        lines_starting(&run, "backed up").is_empty(),
        "{}",
        run.stdout
    );
    assert_eq!(
        lines_starting(&run, "installed bin/").len(),
        2,
        "{}",
        run.stdout
    );
    backup.assert_same(
        &Snapshot::of(&v0.path(BACKUP)).without("INSTALLED"),
        "the backup, on a second install",
    );
    let run = again(newer.path());
    run.expect_code(0);
    assert_eq!(
        lines_starting(&run, "up to date: ").len(),
        4,
        "{}",
        run.stdout
    );

    v0.install(&["--uninstall"]).expect_code(0);
    pristine.assert_same(&v0.snapshot(), "install, reinstalls and uninstall");
}

#[test]
#[cfg_attr(
    not(v0_prune_has_v0),
    ignore = "needs the real v0: scripts/get-v0 or V0_SOURCE"
)]
fn a_v0_without_a_prune_daemon_gets_ours_and_loses_it_on_uninstall() {
    let v0 = RealV0::new();
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
#[cfg_attr(
    not(v0_prune_has_v0),
    ignore = "needs the real v0: scripts/get-v0 or V0_SOURCE"
)]
fn a_stale_backup_after_a_v0_upgrade_is_never_restored_over_new_files() {
    for upgraded in ["bin/v0-prune", COMMON] {
        let v0 = RealV0::new();
        v0.install_ours(&[]).expect_code(0);
        // v0 upgraded in place: a new file of its own replaces what we installed.
        std::fs::write(
            v0.path(upgraded),
            "#!/usr/bin/env bash\n# v0 2.0\nsource v0-common.sh\n",
        )
        .expect("upgrade");
        let before = v0.snapshot();
        v0.install(&["--uninstall"])
            .expect_code(1)
            .expect_stderr(&format!("{upgraded} in "))
            .expect_stderr("the backup in bin/.v0-prune-backup is stale");
        before.assert_same(
            &v0.snapshot(),
            &format!("uninstall over an upgraded {upgraded}"),
        );
        v0.install_ours(&[])
            .expect_code(1)
            .expect_stderr("is stale");
        before.assert_same(
            &v0.snapshot(),
            &format!("install over an upgraded {upgraded}"),
        );
    }

    // One of our binaries with the backup gone is never saved as "v0's original".
    let v0 = RealV0::new();
    v0.install_ours(&[]).expect_code(0);
    std::fs::remove_dir_all(v0.path(BACKUP)).expect("lose the backup");
    let before = v0.snapshot();
    v0.install_ours(&[])
        .expect_code(1)
        .expect_stderr("already a compiled program");
    before.assert_same(&v0.snapshot(), "install with the backup lost");
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
    for option in ["--from", "--uninstall", "--dry-run", "command -v v0", HOOKS] {
        assert!(run.stdout.contains(option), "--help lacks {option}");
    }
    install_script(dir.path(), ["--bogus", "x"])
        .expect_code(2)
        .expect_stderr("unknown option: --bogus");
    install_script(dir.path(), ["--patch-shutdown", "x"])
        .expect_code(2)
        .expect_stderr("--patch-shutdown is gone");
    install_script(dir.path(), ["a", "b"])
        .expect_code(2)
        .expect_stderr("one V0_DIR only");
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
    let example = std::fs::read_to_string(workspace_root().join("assets/example.v0.rc"))
        .expect("the example");

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
    assert!(status["max_size_bytes"].is_null(), "{status}");
    assert_eq!(status["min_keep_secs"], 600);

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
    let edited = replace_once(
        &edited,
        "#V0_PRUNE_MAX_SIZE=\"2G\"",
        "V0_PRUNE_MAX_SIZE=\"2G\"",
    );
    let edited = replace_once(
        &edited,
        "V0_PRUNE_MIN_KEEP=\"10m\"",
        "V0_PRUNE_MIN_KEEP=\"30m\"",
    );
    let (project, status) = rc_status(&edited);
    assert_eq!(
        status["build_dir"],
        project.root.join("state/b").display().to_string().as_str()
    );
    assert_eq!(status["retention_secs"], 90 * 60);
    assert_eq!(status["interval_secs"], 45);
    assert_eq!(status["max_size_bytes"], 2u64 << 30);
    assert_eq!(status["min_keep_secs"], 30 * 60);
}
