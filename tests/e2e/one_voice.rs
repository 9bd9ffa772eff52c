//! Every command speaks alike where v0's own words are not at stake (v0's
//! lines keep v0's words: `v0_differential.rs`): one and many said right,
//! one way to say an option is unknown, one message with one hint for a
//! missing project, hints naming the command the user typed (`v0 prune`
//! through v0), stderr lines that say which daemon and why, a closed pipe
//! ending the output quietly with the usual status, and a daemon of another
//! user named as such, each error said once. Also: the dashboard's `s` keeps
//! the project's name, and `top --help` lists every key.

use std::io::Read as _;
use std::os::unix::process::CommandExt as _;
use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::json;
use v0_prune_testkit::process::{become_nobody, dir_for_nobody};
use v0_prune_testkit::{
    Invocation, PATIENCE, TestBuildDir, TestProject, TmuxPane, bin, hours, stamp, wait_until,
    without_steering,
};

/// v0's two lines and our hint, as every command says them without a project.
const NO_PROJECT: &str = "Error: No .v0.rc found in current directory or parents.\n\
    Run 'v0 init' to create one, or cd to a project with .v0.rc\n\
    (or pass --build-dir DIR / set BUILD_DIR)\n";

/// A project with one expired log line and one expired queue entry.
fn one_of_each() -> TestProject {
    let project = TestProject::bare();
    let (old, new) = (stamp(hours(30)), stamp(hours(0)));
    project
        .build
        .write("logs/a.log", format!("[{old}] expired\n[{new}] current\n"));
    project.build.write(
        "mergeq/queue.json",
        json!({ "version": 1, "entries": [
            { "id": "a", "status": "completed", "updated_at": old },
            { "id": "b", "status": "pending", "enqueued_at": new },
        ]})
        .to_string(),
    );
    project
}

/// No line of `text` says a count of one in the plural, or hedges with `(s)`.
fn assert_counts_read_right(text: &str) {
    for bad in [
        "(s)",
        " 1 log lines",
        " 1 lines ",
        " 1 files",
        " 1 log files",
        " 1 mergeq entries)",
        " 1 runs",
        " 1 entries",
    ] {
        assert!(!text.contains(bad), "{bad:?} in:\n{text}");
    }
}

#[test]
fn one_is_said_in_the_singular_in_our_own_lines() {
    let project = one_of_each();
    let run = project.v0_prune(["--sync"]).run();
    run.expect_code(0)
        // v0's own lines keep v0's words.
        .expect_line("Pruned 1 mergeq entries older than 6 hours")
        .expect_line("Pruned 1 lines from: logs/a.log");
    assert!(
        run.stdout
            .contains("(1 log line from 1 file, 1 mergeq entry)"),
        "{}",
        run.stdout
    );

    let project = one_of_each();
    let run = project
        .v0_prune(["--wait"])
        .env("V0_PRUNE_INTERVAL", "1h")
        .run();
    run.expect_code(0);
    assert!(
        run.stdout.contains("Pruned 1 log line from 1 of ")
            && run.stdout.contains("Pruned 1 mergeq entry ("),
        "{}",
        run.stdout
    );
    let status = project.v0_prune(["status"]).run();
    status.expect_code(0);
    assert!(
        status.stdout.contains("totals:     1 run since"),
        "{}",
        status.stdout
    );
    for text in [&run.stdout, &status.stdout] {
        // The run's own line (`Pruned 1 lines from: ...`) is not printed here.
        assert_counts_read_right(text);
    }

    // `shutdown`'s final prune, in its own words.
    let project = one_of_each();
    let run = project.v0_prune(["shutdown"]).run();
    run.expect_code(0).expect_line("Pruned 1 mergeq entry");
    assert!(
        run.stdout.contains("\nPruned 1 line from logs/a.log ("),
        "{}",
        run.stdout
    );
    assert_counts_read_right(&run.stdout);
}

#[test]
fn an_unknown_option_is_said_one_way_everywhere() {
    let project = TestProject::bare();
    let top = project.v0_prune(["--bogus"]).run();
    top.expect_code(1);
    assert_eq!(top.stderr, "Unknown option: --bogus\n");
    for sub in ["status", "ls", "shutdown", "events", "tail", "top"] {
        let run = project.v0_prune([sub, "--bogus"]).run();
        run.expect_code(1);
        assert!(
            run.stderr.starts_with("Unknown option: --bogus\n"),
            "{sub}: {}",
            run.stderr
        );
        assert!(
            run.stderr.contains(&format!("Usage: v0-prune {sub}"))
                && run.stderr.contains(&format!("v0-prune {sub} --help")),
            "{sub}: {}",
            run.stderr
        );
        assert!(
            !run.stderr.contains("unexpected argument"),
            "{sub}: {}",
            run.stderr
        );
    }
}

#[test]
fn a_missing_project_is_one_message_with_one_hint_from_every_command() {
    let dir = tempfile::tempdir().expect("temp dir");
    for args in [
        &[][..],
        &["-n"],
        &["status"],
        &["ls"],
        &["shutdown"],
        &["events"],
        &["top"],
        &["daemon"],
        &["tail", "prune-daemon"],
    ] {
        let run = Invocation::new("v0-prune", dir.path()).args(args).run();
        run.expect_code(1);
        assert!(run.stderr.ends_with(NO_PROJECT), "{args:?}: {}", run.stderr);
        assert_eq!(run.stderr.matches("Error:").count(), 1, "{args:?}");
    }
    let run = Invocation::new("v0-prune-daemon", dir.path()).run();
    run.expect_code(1);
    assert_eq!(run.stderr, NO_PROJECT);
}

/// A v0 install's layout around a copy of our binary: `bin/v0` beside it,
/// `packages/` above, as v0's dispatcher runs `bin/v0-prune`.
fn as_installed_in_v0(into: &Path) -> std::path::PathBuf {
    std::fs::create_dir_all(into.join("bin")).expect("bin");
    std::fs::create_dir_all(into.join("packages/cli/lib")).expect("packages");
    std::fs::write(into.join("bin/v0"), "#!/bin/sh\n").expect("bin/v0");
    std::fs::write(into.join("packages/cli/lib/v0-common.sh"), "").expect("v0-common.sh");
    let ours = into.join("bin/v0-prune");
    std::fs::copy(bin("v0-prune"), &ours).expect("copy v0-prune");
    // A child another test forks while the copy is open for writing holds
    // it until it execs: running the copy meanwhile fails with "Text file
    // busy". Wait for it to run.
    assert!(
        wait_until(PATIENCE, || Command::new(&ours)
            .arg("--version")
            .stdout(Stdio::null())
            .status()
            .is_ok()),
        "the copy of v0-prune never ran"
    );
    ours
}

#[test]
fn hints_name_the_command_the_user_typed() {
    let project = TestProject::bare();
    let run = project.v0_prune(["status"]).run();
    run.expect_code(3);
    assert!(
        run.stdout
            .contains("start it:   `v0-prune` prunes and starts the daemon"),
        "{}",
        run.stdout
    );
    let v0 = tempfile::tempdir().expect("temp dir");
    let installed = as_installed_in_v0(v0.path());
    let run = Invocation::program(&installed, &project.root)
        .args(["status"])
        .run();
    run.expect_code(3);
    assert!(
        run.stdout
            .contains("start it:   `v0 prune` prunes and starts the daemon"),
        "{}",
        run.stdout
    );
    let run = Invocation::program(&installed, &project.root)
        .args(["events"])
        .run();
    assert!(
        run.stderr.contains("`v0 prune` starts it"),
        "{}",
        run.stderr
    );
    let run = Invocation::program(&installed, &project.root)
        .args(["status", "--bogus"])
        .run();
    assert!(
        run.stderr
            .contains("For its options: v0 prune status --help"),
        "{}",
        run.stderr
    );
}

#[test]
fn shutdown_says_which_daemon_stops_and_why() {
    let project = TestProject::bare();
    project
        .v0_prune(Vec::<&str>::new())
        .env("V0_PRUNE_INTERVAL", "1h")
        .run()
        .expect_code(0);
    project.build.wait_for_daemon_log("Sleeping for", 1);
    let pid = project.build.daemon_pid().expect("the daemon's pid");
    let run = project.v0_prune(["shutdown"]).run();
    run.expect_code(0);
    assert!(
        !run.stderr.contains("the daemon is stopping")
            && !run.stderr.contains("the daemon is exiting"),
        "{}",
        run.stderr
    );
    for line in run.stderr.lines() {
        assert!(
            line.contains(&format!("prune daemon (pid {pid})")) || line.starts_with("run #"),
            "a line that does not say what it is about: {line:?}\n{}",
            run.stderr
        );
    }
    assert!(
        run.stderr.contains(&format!(
            "the prune daemon (pid {pid}) is exiting: drain requested by v0-prune shutdown"
        )),
        "{}",
        run.stderr
    );
}

/// Runs `v0-prune <args>` in `cwd` with its stdout closed by the reader
/// before it writes: its exit status and stderr.
fn with_reader_gone(cwd: &Path, args: &[&str]) -> (Option<i32>, String) {
    let mut command = Command::new(bin("v0-prune"));
    without_steering(&mut command)
        .args(args)
        .current_dir(cwd)
        .env("V0_PRUNE_INTERVAL", "1h")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().expect("spawn");
    // The reader goes away at once, as `head` does once it has its lines.
    drop(child.stdout.take());
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut stderr)
        .expect("stderr");
    let status = child.wait().expect("wait");
    (status.code(), stderr)
}

#[test]
fn a_closed_pipe_ends_the_output_quietly_with_the_usual_status() {
    let project = one_of_each();
    // Enough to print that a write meets the closed pipe.
    for n in 0..200 {
        project.build.write(
            &format!("logs/many/{n:03}.log"),
            format!("[{}] x\n", stamp(hours(0))),
        );
    }
    for (args, code) in [
        (&["status"][..], 3),
        (&["status", "--json"], 3),
        (&["ls"], 0),
        (&["ls", "--json"], 0),
        (&["-n"], 0),
        (&["--help"], 1),
        (&["events"], 3),
        (&["tail", "-n", "5", "a"], 0),
        (&["completions", "bash"], 0),
        (&["man"], 0),
    ] {
        let (status, stderr) = with_reader_gone(&project.root, args);
        assert_eq!(status, Some(code), "{args:?}: {stderr}");
        assert!(!stderr.contains("Broken pipe"), "{args:?}: {stderr}");
        assert!(!stderr.contains("Error"), "{args:?}: {stderr}");
    }
}

#[cfg_attr(not(v0_prune_is_root), ignore = "needs root (to run as another user)")]
#[test]
fn a_daemon_of_another_user_is_named_with_what_that_user_can_do_each_error_said_once() {
    let dir = dir_for_nobody();
    let build = TestBuildDir::empty_in(dir.path()).expect("a build dir");
    build.write("logs/a.log", format!("[{}] x\n", stamp(hours(0))));
    // Our daemon, as root; then `status` and `shutdown` as nobody.
    let daemon = Invocation::new("v0-prune-daemon", build.root())
        .env("BUILD_DIR", build.root())
        .env("V0_PRUNE_INTERVAL", "1h")
        .spawn();
    build.wait_for_daemon_log("Sleeping for", 1);
    let as_nobody = |args: &[&str]| {
        let mut command = Command::new(bin("v0-prune"));
        without_steering(&mut command)
            .args(args)
            .arg("--build-dir")
            .arg(build.root())
            .current_dir(dir.path())
            .stdin(Stdio::null());
        // SAFETY: become_nobody makes only async-signal-safe calls.
        unsafe {
            command.pre_exec(become_nobody);
        }
        command.output().expect("run as nobody")
    };
    let status = as_nobody(&["status"]);
    let stdout = String::from_utf8_lossy(&status.stdout);
    assert_eq!(status.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains(&format!(
            "Prune daemon: running as another user, root (uid 0) (pid {})",
            daemon.pid()
        )) && stdout.contains("only root can ask it or stop it")
            && stdout.contains("`v0-prune shutdown`"),
        "{stdout}"
    );
    assert!(!stdout.contains("not answering"), "{stdout}");
    let shutdown = as_nobody(&["shutdown"]);
    let stderr = String::from_utf8_lossy(&shutdown.stderr);
    assert_eq!(shutdown.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line:\n{stderr}");
    assert!(
        stderr.contains("runs as another user, root (uid 0)")
            && stderr.contains("only root can ask it or stop it"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("Permission denied (os error 13): Permission denied"),
        "{stderr}"
    );
    build.stop_daemon();
}

#[test]
fn top_help_lists_every_key() {
    let run = TestProject::bare().v0_prune(["top", "--help"]).run();
    let keys = run
        .stdout
        .split_once("Keys:\n")
        .map(|(_, keys)| keys.split("\n\n").next().unwrap_or_default())
        .unwrap_or_else(|| panic!("no Keys: block in:\n{}", run.stdout));
    for key in [
        "r ", "d ", "s ", "v ", "Enter", "j k", "Tab", "f ", "/ ", "? ", "q ",
    ] {
        assert!(
            keys.lines()
                .any(|line| line.trim_start().starts_with(key) || line.contains(key)),
            "{key:?} missing from:\n{keys}"
        );
    }
}

#[cfg_attr(
    not(v0_prune_has_tmux),
    ignore = "needs tmux on PATH (apt install tmux)"
)]
#[test]
fn s_in_top_starts_a_daemon_that_knows_the_projects_name() {
    let project = TestProject::bare();
    let command = format!("{} top", bin("v0-prune").display());
    let pane = TmuxPane::start(
        &project.root,
        120,
        40,
        &[("V0_PRUNE_INTERVAL", "1h")],
        &command,
    );
    pane.wait_for("not running", PATIENCE, |s| s.contains("not running"));
    pane.keys(&["s"]);
    let screen = pane.wait_for("the started daemon, idle", PATIENCE, |s| {
        s.lines()
            .next()
            .is_some_and(|l| l.trim_end().ends_with(" idle"))
    });
    let header = screen.lines().next().unwrap_or_default();
    assert!(header.contains(" e2e "), "the project's name: {header}");
    let status = project.v0_prune(["status"]).run();
    status.expect_code(0);
    assert!(
        status.stdout.contains("  project:    e2e\n"),
        "{}",
        status.stdout
    );
    pane.keys(&["q"]);
    assert!(wait_until(PATIENCE, || project
        .build
        .daemon_pid()
        .is_some()));
}
