//! Differential test: the same generated project pruned by v0's own
//! `bin/v0-prune` (from a fresh copy of `../shared/v0`) and by ours, for
//! every path of v0's script. Stdout, stderr, exit code and the files left
//! must be the same once our documented additions are removed
//! (`docs/differences-from-v0.md`).
//!
//! v0 runs with `TZ=UTC`: its perl parses the UTC stamps as local time, one
//! of the documented differences (shown with `TZ=Asia/Tokyo` at the end).
//! Its daemon start is disabled (`bin/v0-prune-daemon` exits 1, so v0 takes
//! its synchronous fallback) or pointed at ours (the background hand-off).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};
use v0_prune_testkit::{
    Invocation, Outcome, PATIENCE, TestBuildDir, bin, copy_real_v0, hours, process_gone, signal,
    stamp, wait_until,
};

/// How v0 may start its daemon.
#[derive(Clone, Copy, PartialEq, Eq)]
enum V0Daemon {
    /// `bin/v0-prune-daemon` exits 1: v0 prunes synchronously.
    Disabled,
    /// `bin/v0-prune-daemon` runs ours.
    Ours,
}

/// One side of the comparison: a project, and the program that prunes it.
struct Side {
    dir: tempfile::TempDir,
    root: PathBuf,
    build: PathBuf,
}

impl Side {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path().join("project");
        std::fs::create_dir_all(&root).expect("root");
        // What `v0 init --remote origin` writes (wk's prefix aside).
        std::fs::write(
            root.join(".v0.rc"),
            "# v0 project configuration\n\
             # See: https://github.com/alfredjeanlab/v0\n\n\
             # Required: Project identity\n\
             PROJECT=\"project\"\n\
             ISSUE_PREFIX=\"prj\"    # Issue IDs: prj-abc123\n\n\
             # Build and merge configuration\n\
             V0_DEVELOP_BRANCH=\"main\"     # Target branch for merges\n\
             V0_GIT_REMOTE=\"origin\"        # Git remote for push/fetch (local agent remote)\n\
             V0_WORKSPACE_MODE=\"clone\"     # 'worktree' or 'clone' (auto-detected)\n\n\
             # Build state directories\n\
             V0_BUILD_DIR=\".v0/build\"          # Build state directory\n\
             V0_PLANS_DIR=\"plans\"              # Implementation plans\n",
        )
        .expect(".v0.rc");
        let build = root.join(".v0/build");
        Self { dir, root, build }
    }

    fn write(&self, relative: &str, content: impl AsRef<[u8]>) {
        let path = self.build.join(relative);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("dirs");
        std::fs::write(path, content).expect("write");
    }

    /// Every file under the build directory with its content (the queue
    /// parsed: v0 reformats it through jq, we keep its bytes), minus the
    /// daemons' own state.
    fn files(&self) -> BTreeMap<String, String> {
        let mut files = BTreeMap::new();
        let mut stack = vec![self.build.clone()];
        while let Some(dir) = stack.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries {
                let path = entry.expect("entry").path();
                let relative = path
                    .strip_prefix(&self.build)
                    .expect("under build")
                    .to_string_lossy()
                    .into_owned();
                if is_daemon_state(&relative) {
                    continue;
                }
                if path.is_dir() {
                    files.insert(format!("{relative}/"), String::new());
                    stack.push(path);
                } else {
                    let text = std::fs::read_to_string(&path).expect("text file");
                    let text = if relative == "mergeq/queue.json" {
                        let value: Value = serde_json::from_str(&text).expect("queue JSON");
                        value.to_string()
                    } else {
                        text
                    };
                    files.insert(relative, text);
                }
            }
        }
        files
    }
}

/// The daemons' own files: v0's (its lock, pid and log, which v0 creates even
/// when its daemon fails to start) and ours (`.prune-daemon/`).
fn is_daemon_state(relative: &str) -> bool {
    relative.starts_with(".prune-daemon") || relative == "logs/prune-daemon.log"
}

/// Times on both sides of the 6 h cutoff, taken once for both twins.
struct Stamps {
    old: String,
    older: String,
    new: String,
}

impl Stamps {
    fn now() -> Self {
        Self {
            old: stamp(hours(30)),
            older: stamp(hours(8)),
            new: stamp(hours(1)),
        }
    }
}

/// The project both sides start from: operations in every phase, a merge
/// queue and logs with entries on both sides of the 6 h cutoff, all in UTC.
fn populate(side: &Side, with_operations: bool, stamps: &Stamps) {
    if with_operations {
        for phase in v0_prune_shared::demo::PHASES {
            side.write(
                &format!("operations/op-{phase}/state.json"),
                json!({ "name": format!("op-{phase}"), "phase": phase }).to_string(),
            );
        }
        side.write(
            "operations/op-completed-merged/state.json",
            json!({ "phase": "completed", "merge_status": "merged" }).to_string(),
        );
        side.write(
            "operations/op-pending-merged/state.json",
            json!({ "phase": "pending_merge", "merge_status": "merged" }).to_string(),
        );
        side.write("operations/op-executing/notes.txt", "work in progress\n");
    }
    let Stamps { old, older, new } = stamps;
    side.write(
        "mergeq/queue.json",
        serde_json::to_string_pretty(&json!({
            "version": 1,
            "entries": [
                { "operation": "a", "status": "completed", "updated_at": old },
                { "operation": "b", "status": "failed", "enqueued_at": older },
                { "operation": "c", "status": "conflict", "updated_at": old },
                { "operation": "d", "status": "completed", "updated_at": new },
                { "operation": "e", "status": "pending", "enqueued_at": old },
            ]
        }))
        .expect("json"),
    );
    side.write(
        "logs/mergeq.log",
        format!("[{old}] merge a\n[{older}] merge b\n[{new}] merge d\n"),
    );
    side.write(
        "logs/worker/fix.log",
        format!("nohup: ignoring input\n[{old}] fix started\n[{new}] fix done\n"),
    );
    side.write("logs/current.log", format!("[{new}] only current lines\n"));
    side.write("logs/plain.log", "no timestamps at all\n");
    side.write(
        "operations.log",
        format!("[{older}] op event\n[{new}] op event\n"),
    );
}

/// A copy of v0 whose daemon start is disabled or runs ours.
struct V0 {
    _dir: tempfile::TempDir,
    prune: PathBuf,
}

impl V0 {
    fn copy(daemon: V0Daemon) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let v0 = dir.path().join("v0");
        copy_real_v0(&v0);
        let script = match daemon {
            V0Daemon::Disabled => "#!/bin/sh\nexit 1\n".to_owned(),
            V0Daemon::Ours => format!(
                "#!/bin/sh\nexec '{}' \"$@\"\n",
                bin("v0-prune-daemon").display()
            ),
        };
        let daemon = v0.join("bin/v0-prune-daemon");
        std::fs::write(&daemon, script).expect("daemon script");
        let status = Command::new("chmod").arg("+x").arg(&daemon).status();
        assert!(status.expect("chmod").success());
        Self {
            prune: v0.join("bin/v0-prune"),
            _dir: dir,
        }
    }
}

/// Our `v0-prune` alone in a directory: no daemon beside it or on PATH, so
/// it takes the synchronous fallback as v0 does.
struct Lonely {
    _dir: tempfile::TempDir,
    prune: PathBuf,
}

impl Lonely {
    fn copy() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let prune = dir.path().join("v0-prune");
        std::fs::copy(bin("v0-prune"), &prune).expect("copy v0-prune");
        Self { _dir: dir, prune }
    }
}

fn path_without_our_binaries() -> String {
    let ours = bin("v0-prune");
    let ours = ours.parent().expect("bin dir");
    let path = std::env::var_os("PATH").unwrap_or_default();
    let dirs: Vec<PathBuf> = std::env::split_paths(&path)
        .filter(|dir| dir != ours)
        .collect();
    std::env::join_paths(dirs)
        .expect("PATH")
        .to_string_lossy()
        .into_owned()
}

/// Runs `program` on a side the way v0 is run: from the project root, with
/// a private HOME and state directory (v0 registers the project there).
fn run(program: &Path, side: &Side, args: &[&str], stdin: Option<&str>, tz: &str) -> Outcome {
    let state = side.dir.path().join("state");
    let mut invocation = Invocation::program(program, &side.root)
        .args(args)
        .env("TZ", tz)
        .env("LC_ALL", "C")
        .env("HOME", side.dir.path())
        .env("XDG_STATE_HOME", &state)
        .env("PATH", path_without_our_binaries())
        .env("TMUX_TMPDIR", side.dir.path());
    if let Some(input) = stdin {
        invocation = invocation.stdin(input);
    }
    invocation.run()
}

/// Our output with the documented additions removed: the bytes-reclaimed
/// total, skipped items, items that could not be pruned and their total,
/// the note saying why the daemon took no work, and our help after v0's.
fn without_additions(text: &str, root: &Path) -> String {
    let text = match text.find("\nv0-prune: v0's prune above") {
        Some(at) => &text[..at],
        None => text,
    };
    let kept: Vec<&str> = text
        .lines()
        .filter(|line| {
            !(line.starts_with("Reclaimed ")
                || line.starts_with("Would reclaim ")
                || line.starts_with("Skipped ")
                || line.starts_with("Could not prune ")
                || line.starts_with("Incomplete: ")
                || line.starts_with("note: could not hand pruning"))
        })
        .collect();
    normalized(&lines_to_text(&kept, text.ends_with('\n')), root)
}

fn lines_to_text(lines: &[&str], newline: bool) -> String {
    let mut text = lines.join("\n");
    if newline && !lines.is_empty() {
        text.push('\n');
    }
    text
}

/// The project's own path as `<ROOT>`, and the per-log lines sorted: v0
/// lists logs in `find`'s directory order, we in path order.
fn normalized(text: &str, root: &Path) -> String {
    let text = text.replace(&root.to_string_lossy().into_owned(), "<ROOT>");
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let is_log_line = |line: &str| line.contains(" lines from: ");
    let mut start = 0;
    while start < lines.len() {
        if is_log_line(&lines[start]) {
            let mut end = start;
            while end < lines.len() && is_log_line(&lines[end]) {
                end += 1;
            }
            lines[start..end].sort();
            start = end;
        } else {
            start += 1;
        }
    }
    let mut out = lines.join("\n");
    if text.ends_with('\n') {
        out.push('\n');
    }
    out
}

/// One path of `bin/v0-prune`, run on twin projects by v0 and by us.
struct Case<'a> {
    args: &'a [&'a str],
    stdin: Option<&'a str>,
    operations: bool,
}

fn compare(case: &Case<'_>, v0: &V0, ours: &Path) -> (Side, Side) {
    compare_with(case, v0, ours, &|_| {})
}

/// [`compare`], with `setup` run on each twin after it is populated.
fn compare_with(case: &Case<'_>, v0: &V0, ours: &Path, setup: &dyn Fn(&Side)) -> (Side, Side) {
    let (theirs_side, our_side) = (Side::new(), Side::new());
    let stamps = Stamps::now();
    populate(&theirs_side, case.operations, &stamps);
    populate(&our_side, case.operations, &stamps);
    setup(&theirs_side);
    setup(&our_side);
    assert_eq!(theirs_side.files(), our_side.files(), "twins start equal");
    let theirs = run(&v0.prune, &theirs_side, case.args, case.stdin, "UTC");
    let mine = run(ours, &our_side, case.args, case.stdin, "UTC");
    let what = format!("v0-prune {:?} (stdin {:?})", case.args, case.stdin);
    assert_eq!(
        (
            normalized(&theirs.stdout, &theirs_side.root),
            normalized(&theirs.stderr, &theirs_side.root),
            theirs.code
        ),
        (
            without_additions(&mine.stdout, &our_side.root),
            without_additions(&mine.stderr, &our_side.root),
            mine.code
        ),
        "{what}: v0 (left) and ours (right) differ\n--- ours, raw:\n{}\n--- stderr:\n{}",
        mine.stdout,
        mine.stderr
    );
    (theirs_side, our_side)
}

fn compare_files(case: &Case<'_>, v0: &V0, ours: &Path) {
    let (theirs, mine) = compare(case, v0, ours);
    assert_eq!(
        theirs.files(),
        mine.files(),
        "v0-prune {:?}: the files left differ (v0 left, ours right)",
        case.args
    );
}

#[test]
#[cfg_attr(
    not(v0_prune_runs_v0),
    ignore = "needs the real v0 and what it runs: scripts/get-v0 or V0_SOURCE; bash, jq, perl, flock, git, tmux"
)]
fn every_synchronous_path_says_and_does_what_v0_does() {
    let v0 = V0::copy(V0Daemon::Disabled);
    let ours = Lonely::copy();
    let cases: &[(&[&str], Option<&str>, bool)] = &[
        // No names: finished operations, then v0's synchronous fallback.
        (&[], None, true),
        (&["-n"], None, true),
        (&["--dry-run"], None, true),
        // Names.
        (&["op-executing"], None, true),
        (&["op-executing", "op-failed"], None, true),
        (&["-n", "op-executing", "op-failed"], None, true),
        (&["--force", "op-merged"], None, true),
        (&["nope"], None, true),
        // --all, its question, its dry run.
        (&["--all", "--force"], None, true),
        (&["-a", "-f"], None, true),
        (&["--all"], Some("y\n"), true),
        (&["--all"], Some("Y\n"), true),
        (&["--all"], Some("n\n"), true),
        (&["--all"], Some("yes\n"), true),
        (&["--all", "--dry-run"], None, true),
        (&["--all", "op-merged", "-f"], None, true),
        // Unknown options, help.
        (&["--bogus"], None, true),
        (&["-x"], None, true),
        (&["-n", "--what"], None, true),
        (&["-h"], None, true),
        (&["--help"], None, true),
        // No operations/ at all: `without_operations_...` below.
    ];
    for (args, stdin, operations) in cases {
        let case = Case {
            args,
            stdin: *stdin,
            operations: *operations,
        };
        compare_files(&case, &v0, &ours.prune);
    }
}

/// No `operations/` (a project `v0 init` made): v0 says `No operations to
/// prune` and stops; we say it too, then prune logs and the queue as v0
/// does with an empty `operations/` (a difference on purpose,
/// docs/differences-from-v0.md). So our output is v0's first line, then
/// what v0 prints on a twin with an empty `operations/` after its
/// operations line; our files are that twin's.
#[test]
#[cfg_attr(
    not(v0_prune_runs_v0),
    ignore = "needs the real v0 and what it runs: scripts/get-v0 or V0_SOURCE; bash, jq, perl, flock, git, tmux"
)]
fn without_operations_we_say_what_v0_says_then_prune_logs_and_queue() {
    let v0 = V0::copy(V0Daemon::Disabled);
    let ours = Lonely::copy();
    for args in [&[][..], &["-n"], &["--all"], &["--all", "-n"]] {
        let (theirs, twin, mine) = (Side::new(), Side::new(), Side::new());
        let stamps = Stamps::now();
        for side in [&theirs, &twin, &mine] {
            populate(side, false, &stamps);
        }
        std::fs::create_dir_all(twin.build.join("operations")).expect("operations/");
        let v0_run = run(&v0.prune, &theirs, args, None, "UTC");
        assert_eq!(v0_run.stdout, "No operations to prune\n", "{args:?}");
        // v0 asks before `--all` removes an operations/ that exists.
        let mut twin_args = args.to_vec();
        if args == ["--all"] {
            twin_args.push("--force");
        }
        let twin_run = run(&v0.prune, &twin, &twin_args, None, "UTC");
        let (_, rest) = twin_run
            .stdout
            .split_once('\n')
            .expect("an operations line");
        let our_run = run(&ours.prune, &mine, args, None, "UTC");
        assert_eq!(
            (
                format!("No operations to prune\n{}", normalized(rest, &twin.root)),
                normalized(&twin_run.stderr, &twin.root),
                v0_run.code,
            ),
            (
                without_additions(&our_run.stdout, &mine.root),
                without_additions(&our_run.stderr, &mine.root),
                our_run.code,
            ),
            "{args:?}: v0 (left) and ours (right) differ\n--- ours, raw:\n{}",
            our_run.stdout
        );
        let mut twin_files = twin.files();
        twin_files.remove("operations/");
        assert_eq!(twin_files, mine.files(), "{args:?}: the files left differ");
    }
}

#[test]
#[cfg_attr(
    not(v0_prune_runs_v0),
    ignore = "needs the real v0 and what it runs: scripts/get-v0 or V0_SOURCE; bash, jq, perl, flock, git, tmux"
)]
fn nothing_to_prune_says_what_v0_says() {
    let v0 = V0::copy(V0Daemon::Disabled);
    let ours = Lonely::copy();
    for args in [&[][..], &["-n"]] {
        let (theirs, mine) = (Side::new(), Side::new());
        let stamps = Stamps::now();
        for side in [&theirs, &mine] {
            side.write("operations/op-a/state.json", r#"{"phase":"executing"}"#);
            side.write("logs/a.log", format!("[{}] current\n", stamps.new));
            side.write(
                "mergeq/queue.json",
                json!({ "entries": [{ "status": "pending", "enqueued_at": stamps.old }] })
                    .to_string(),
            );
        }
        let v0_run = run(&v0.prune, &theirs, args, None, "UTC");
        let our_run = run(&ours.prune, &mine, args, None, "UTC");
        assert_eq!(
            normalized(&v0_run.stdout, &theirs.root),
            without_additions(&our_run.stdout, &mine.root),
            "{args:?}"
        );
        assert_eq!(v0_run.code, our_run.code);
        if args == ["-n"] {
            v0_run
                .expect_line("No completed or cancelled operations to prune")
                .expect_line("No mergeq entries older than 6 hours to prune")
                .expect_line("No log entries older than 6 hours to prune");
        }
        assert_eq!(theirs.files(), mine.files(), "{args:?}");
    }
    // No `*.log` and no queue at all: v0's two functions say nothing, even
    // in a dry run, under their headings.
    let (theirs, mine) = (Side::new(), Side::new());
    for side in [&theirs, &mine] {
        side.write("operations/op-a/state.json", r#"{"phase":"executing"}"#);
    }
    let v0_run = run(&v0.prune, &theirs, &["-n"], None, "UTC");
    let our_run = run(&ours.prune, &mine, &["-n"], None, "UTC");
    assert_eq!(
        normalized(&v0_run.stdout, &theirs.root),
        without_additions(&our_run.stdout, &mine.root),
        "no logs, no queue"
    );
    assert!(
        !v0_run.stdout.contains("older than"),
        "v0 says nothing of logs or queue it does not have:\n{}",
        v0_run.stdout
    );
}

/// The background hand-off: v0's `bin/v0-prune-daemon` runs ours, and our
/// `v0-prune` starts ours; both print v0's two lines, and once each daemon's
/// run is done the files are the same.
#[test]
#[cfg_attr(
    not(v0_prune_runs_v0),
    ignore = "needs the real v0 and what it runs: scripts/get-v0 or V0_SOURCE; bash, jq, perl, flock, git, tmux"
)]
fn the_background_hand_off_says_what_v0_says() {
    let v0 = V0::copy(V0Daemon::Ours);
    let case = Case {
        args: &[],
        stdin: None,
        operations: true,
    };
    let (theirs, mine) = compare(&case, &v0, &bin("v0-prune"));
    for side in [&theirs, &mine] {
        let log = side.build.join("logs/prune-daemon.log");
        let done = wait_until(PATIENCE, || {
            std::fs::read_to_string(&log).is_ok_and(|log| log.contains("Pruning complete"))
        });
        assert!(done, "no finished run in {}", log.display());
        stop_daemon(&side.build);
    }
    assert_eq!(theirs.files(), mine.files(), "after the daemons' runs");
    let stdout = run(&bin("v0-prune"), &mine, &["-n"], None, "UTC").stdout;
    assert!(
        stdout.contains("No log entries older than 6 hours"),
        "{stdout}"
    );
}

fn stop_daemon(build: &Path) {
    let Some(pid) = TestBuildDir::at(build).daemon_pid() else {
        return;
    };
    let _ = signal(pid, rustix::process::Signal::TERM);
    let gone = wait_until(Duration::from_secs(10), || process_gone(pid));
    assert!(gone, "daemon {pid} did not stop");
}

/// A documented difference: v0 parses UTC stamps as local time, so east of
/// UTC it deletes current lines; we keep them whatever the time zone.
#[test]
#[cfg_attr(
    not(v0_prune_runs_v0),
    ignore = "needs the real v0 and what it runs: scripts/get-v0 or V0_SOURCE; bash, jq, perl, flock, git, tmux"
)]
fn in_tokyo_v0_deletes_current_lines_and_we_do_not() {
    let v0 = V0::copy(V0Daemon::Disabled);
    let ours = Lonely::copy();
    let (theirs, mine) = (Side::new(), Side::new());
    let (old, current) = (stamp(hours(30)), stamp(hours(2)));
    let log = format!("[{old}] expired\n[{current}] two hours old\n");
    for side in [&theirs, &mine] {
        side.write("operations/op-a/state.json", r#"{"phase":"executing"}"#);
        side.write("logs/a.log", &log);
    }
    let v0_run = run(&v0.prune, &theirs, &["-n"], None, "Asia/Tokyo");
    let our_run = run(&ours.prune, &mine, &["-n"], None, "Asia/Tokyo");
    v0_run.expect_line("Would prune 2 lines from: logs/a.log");
    our_run.expect_line("Would prune 1 lines from: logs/a.log");

    run(&v0.prune, &theirs, &[], None, "Asia/Tokyo").expect_code(0);
    run(&ours.prune, &mine, &[], None, "Asia/Tokyo").expect_code(0);
    let left = |side: &Side| std::fs::read_to_string(side.build.join("logs/a.log")).expect("log");
    assert_eq!(left(&theirs), "", "v0 deleted the two-hour-old line");
    assert_eq!(left(&mine), format!("[{current}] two hours old\n"));
}

/// The other documented differences, each shown on v0 and on us.
#[test]
#[cfg_attr(
    not(v0_prune_runs_v0),
    ignore = "needs the real v0 and what it runs: scripts/get-v0 or V0_SOURCE; bash, jq, perl, flock, git, tmux"
)]
fn the_documented_differences_hold() {
    use std::os::unix::fs::PermissionsExt as _;
    let v0 = V0::copy(V0Daemon::Disabled);
    let ours = Lonely::copy();
    let (theirs, mine) = (Side::new(), Side::new());
    let stamps = Stamps::now();
    let binary = format!("[{}] old \0 binary\n[{}] new\n", stamps.old, stamps.new);
    for side in [&theirs, &mine] {
        side.write("operations/op-a/state.json", r#"{"phase":"executing"}"#);
        side.write("operations/op-b/state.json", r#"{"phase":"executing"}"#);
        side.write("logs/binary.log", &binary);
        side.write(
            "logs/a.log",
            format!("[{}] old\n[{}] new\n", stamps.old, stamps.new),
        );
        let log = side.build.join("logs/a.log");
        std::fs::set_permissions(&log, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    }
    // An unknown name after a known one: v0 prunes the known one first.
    let v0_run = run(&v0.prune, &theirs, &["op-a", "nope"], None, "UTC");
    let our_run = run(&ours.prune, &mine, &["op-a", "nope"], None, "UTC");
    assert_eq!((v0_run.code, our_run.code), (Some(1), Some(1)));
    v0_run.expect_line("Pruned operation 'op-a'");
    assert!(!theirs.build.join("operations/op-a").exists());
    assert!(
        mine.build.join("operations/op-a").exists(),
        "ours removed nothing"
    );
    assert!(!our_run.stdout.contains("Pruned"), "{}", our_run.stdout);
    // `--` and `-af`: v0 knows neither.
    for args in [&["--", "op-b"][..], &["-af"]] {
        let v0_run = run(&v0.prune, &theirs, args, None, "UTC");
        assert_eq!(v0_run.stderr, format!("Unknown option: {}\n", args[0]));
    }
    run(&ours.prune, &mine, &["-n", "--", "op-b"], None, "UTC").expect_line("Would prune: op-b");
    // A binary log: v0 never prunes it; a pruned log: v0 leaves it 0600.
    run(&v0.prune, &theirs, &[], None, "UTC").expect_code(0);
    run(&ours.prune, &mine, &[], None, "UTC").expect_code(0);
    let read = |side: &Side, log: &str| std::fs::read(side.build.join(log)).expect("log");
    assert_eq!(read(&theirs, "logs/binary.log"), binary.as_bytes());
    assert_eq!(
        read(&mine, "logs/binary.log"),
        format!("[{}] new\n", stamps.new).as_bytes()
    );
    let mode = |side: &Side| {
        let meta = std::fs::metadata(side.build.join("logs/a.log")).expect("meta");
        meta.permissions().mode() & 0o777
    };
    assert_eq!((mode(&theirs), mode(&mine)), (0o600, 0o644));
    // A configured retention, in v0's words.
    let side = Side::new();
    side.write("operations/op-a/state.json", r#"{"phase":"executing"}"#);
    side.write(
        "logs/a.log",
        format!("[{}] 100 minutes old\n", stamp(Duration::from_secs(6000))),
    );
    side.write(
        "mergeq/queue.json",
        json!({ "entries": [{ "status": "completed", "updated_at": stamps.new }] }).to_string(),
    );
    let run = Invocation::program(&ours.prune, &side.root)
        .args(["-n"])
        .env("V0_PRUNE_RETENTION", "90m")
        .run();
    run.expect_code(0)
        .expect_line("Would prune 1 lines from: logs/a.log")
        .expect_line("No mergeq entries older than 90 minutes to prune");
}

/// tmux on a side's private server (`TMUX_TMPDIR` is the side's directory,
/// as in [`run`]); `None` when tmux cannot run here.
fn tmux(side: &Side, args: &[&str]) -> Option<bool> {
    Command::new("tmux")
        .args(args)
        .env("TMUX_TMPDIR", side.dir.path())
        .env_remove("TMUX")
        .output()
        .ok()
        .map(|out| out.status.success())
}

/// v0's question for a named operation whose tmux session runs on this
/// machine: the warning and `[y/N]` on stdout, `Aborted` (exit 1, nothing
/// after it) on no, the session killed and the operation pruned on yes.
#[test]
#[cfg_attr(
    not(v0_prune_runs_v0),
    ignore = "needs the real v0 and what it runs: scripts/get-v0 or V0_SOURCE; bash, jq, perl, flock, git, tmux"
)]
fn a_running_session_is_asked_about_as_v0_asks() {
    let host = Command::new("hostname")
        .arg("-s")
        .output()
        .expect("hostname -s");
    let host = String::from_utf8_lossy(&host.stdout).trim().to_owned();
    let session = "v0-project-op-s";
    let v0 = V0::copy(V0Daemon::Disabled);
    let ours = Lonely::copy();
    let setup = |side: &Side| {
        let started = tmux(side, &["new-session", "-d", "-s", session, "sleep 600"]);
        assert_eq!(started, Some(true), "tmux new-session");
        side.write(
            "operations/op-s/state.json",
            json!({ "phase": "executing", "tmux_session": session, "machine": host }).to_string(),
        );
    };
    let cases: &[(&[&str], Option<&str>)] = &[
        (&["op-s"], Some("n\n")),
        (&["op-s", "op-merged"], Some("N\n")),
        (&["op-merged", "op-s"], Some("n\n")),
        (&["op-s"], Some("y\n")),
        (&["--force", "op-s"], None),
    ];
    for (args, stdin) in cases {
        let case = Case {
            args,
            stdin: *stdin,
            operations: true,
        };
        let (theirs, mine) = compare_with(&case, &v0, &ours.prune, &setup);
        assert_eq!(theirs.files(), mine.files(), "{args:?} {stdin:?}");
        let alive = |side: &Side| tmux(side, &["has-session", "-t", session]);
        assert_eq!(
            alive(&theirs),
            alive(&mine),
            "{args:?} {stdin:?}: the session"
        );
        let declined = matches!(stdin, Some("n\n" | "N\n"));
        assert_eq!(
            theirs.build.join("operations/op-s").exists(),
            declined,
            "{args:?} {stdin:?}: v0 asked"
        );
        for side in [&theirs, &mine] {
            let _ = tmux(side, &["kill-server"]);
        }
    }

    // A documented difference: v0's dry run asks, and kills the session.
    let (theirs, mine) = (Side::new(), Side::new());
    let stamps = Stamps::now();
    for side in [&theirs, &mine] {
        populate(side, true, &stamps);
        setup(side);
    }
    let v0_run = run(&v0.prune, &theirs, &["-n", "op-s"], Some("y\n"), "UTC");
    v0_run
        .expect_code(0)
        .expect_line(&format!("Warning: Session '{session}' is still running"));
    let our_run = run(&ours.prune, &mine, &["-n", "op-s"], Some("y\n"), "UTC");
    our_run.expect_code(0).expect_line("Would prune: op-s");
    assert!(!our_run.stdout.contains("[y/N]"), "{}", our_run.stdout);
    let alive = |side: &Side| tmux(side, &["has-session", "-t", session]);
    assert_eq!((alive(&theirs), alive(&mine)), (Some(false), Some(true)));
    for side in [&theirs, &mine] {
        let _ = tmux(side, &["kill-server"]);
    }
}
