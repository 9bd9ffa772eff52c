//! The daemon's commands end to end: the plain `v0-prune` handing off to the
//! daemon, `status`, `shutdown`, `events` and `daemon`, with the real
//! binaries on real projects. Every daemon a test starts dies with its
//! project (see `TestProject`'s drop).

use std::time::{Duration, Instant};

use serde_json::Value;
use v0_prune_testkit::{
    Invocation, Outcome, PATIENCE, TestProject, Tree, hours, process_gone, signal, stamp,
    wait_until,
};

/// Short enough to be "a schedule", long enough that no scheduled run
/// lands in the middle of a test of a few seconds.
const INTERVAL: &str = "60s";

/// `v0-prune <args>` in `project` with the test interval.
fn v0_prune(project: &TestProject, args: &[&str]) -> Invocation {
    project.v0_prune(args).env("V0_PRUNE_INTERVAL", INTERVAL)
}

/// `status --json`, parsed.
fn status_json(project: &TestProject) -> (Option<i32>, Value) {
    let run = v0_prune(project, &["status", "--json"]).run();
    let value = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|err| panic!("status --json is not JSON ({err}):\n{}", run.stdout));
    (run.code, value)
}

/// Two expired lines (with a continuation) and a fresh one per log.
fn add_expired_logs(project: &TestProject, names: &[&str]) {
    let (old, new) = (stamp(hours(30)), stamp(hours(1)));
    for name in names {
        project.build.write(
            name,
            format!("[{old}] old one\n  its continuation\n[{old}] old two\n[{new}] fresh\n"),
        );
    }
}

/// Starts the daemon with a plain `v0-prune` and waits for its first run.
fn start_daemon(project: &TestProject) -> u32 {
    v0_prune(project, &[]).run().expect_code(0);
    project.build.wait_for_daemon_log("Sleeping for", 1);
    project
        .build
        .daemon_pid()
        .expect("the daemon wrote its pid file")
}

/// Where `phrase` first appears in `text` (failing if it does not).
fn position(text: &str, phrase: &str) -> usize {
    text.find(phrase)
        .unwrap_or_else(|| panic!("{phrase:?} not found in:\n{text}"))
}

#[test]
fn status_of_a_stopped_daemon_exits_3_and_says_how_to_start_it() {
    let project = TestProject::bare();
    let run = v0_prune(&project, &["status"]).run();
    run.expect_code(3).expect_line("Prune daemon: not running");
    let build_dir = std::fs::canonicalize(project.build.root()).expect("build dir");
    assert!(
        run.stdout
            .contains(&project.build.root().display().to_string())
            || run.stdout.contains(&build_dir.display().to_string()),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("`v0-prune`"), "{}", run.stdout);

    let (code, value) = status_json(&project);
    assert_eq!(code, Some(3));
    assert_eq!(value["running"], false);
    assert!(value["pid"].is_null());
    assert_eq!(value["interval_secs"], 60);
}

#[test]
fn plain_prune_starts_the_daemon_and_a_second_one_asks_it_for_a_run() {
    let project = TestProject::bare();
    add_expired_logs(&project, &["logs/mergeq.log"]);

    let started = Instant::now();
    let first = v0_prune(&project, &[]).run();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the hand-off must return promptly, took {:?}",
        started.elapsed()
    );
    let log = project.build.path("logs/prune-daemon.log");
    first
        .expect_code(0)
        .expect_line("Pruning logs in background...");
    assert!(
        first.stdout.lines().any(|line| line
            .strip_prefix("View logs: tail -f ")
            .is_some_and(|path| std::path::Path::new(path) == log.as_path())),
        "{}",
        first.stdout
    );
    project.build.wait_for_daemon_log("Pruning complete", 1);
    assert_eq!(
        project.build.read_text("logs/mergeq.log").lines().count(),
        1,
        "the daemon pruned the expired lines"
    );

    let (code, status) = status_json(&project);
    assert_eq!(code, Some(0));
    assert_eq!(status["running"], true);
    let pid = project.build.daemon_pid().expect("pid file");
    assert_eq!(status["pid"], pid);
    assert_eq!(status["last_run"]["run_id"], 1);
    assert_eq!(status["last_run"]["trigger"], "startup");
    assert_eq!(status["last_run"]["log_lines_removed"], 3);
    assert_eq!(status["interval_secs"], 60);
    assert!(status["next_run_in_secs"].as_i64().is_some_and(|s| s <= 60));
    let text = v0_prune(&project, &["status"]).run();
    text.expect_code(0).expect_line(&format!(
        "Prune daemon: running (pid {pid}, v0-prune 0.1.0)"
    ));
    assert!(
        text.stdout.contains("  state:      idle"),
        "{}",
        text.stdout
    );
    assert!(
        text.stdout.contains("  last run:   #1 at "),
        "{}",
        text.stdout
    );

    let started = Instant::now();
    v0_prune(&project, &[])
        .run()
        .expect_code(0)
        .expect_line("Pruning logs in background...");
    assert!(started.elapsed() < Duration::from_secs(2));
    let second_run = wait_until(PATIENCE, || {
        status_json(&project).1["last_run"]["run_id"] == 2
    });
    assert!(second_run, "no second run:\n{}", project.build.daemon_log());
    let (_, status) = status_json(&project);
    assert_eq!(status["last_run"]["trigger"], "request");
    assert_eq!(status["pid"], pid, "the same daemon ran it");
    assert!(
        project
            .build
            .daemon_log()
            .contains("Run requested by v0-prune")
    );
}

#[test]
fn wait_prints_the_daemon_s_own_summary_of_its_run() {
    let project = TestProject::bare();
    add_expired_logs(&project, &["logs/a.log", "logs/b.log", "logs/sub/w.log"]);

    // Not running: the daemon's start-up run is the one waited for (its
    // own new log is the fourth file).
    let first = v0_prune(&project, &["--wait"]).run();
    first
        .expect_code(0)
        .expect_line("Pruning logs in background...")
        .expect_line("Pruned 9 log lines from 3 of 4 log files (243 B)");
    assert!(
        first.stdout.contains("\nRun #1 finished in "),
        "{}",
        first.stdout
    );
    assert!(
        first.stdout.lines().any(|l| l.starts_with("Reclaimed ")
            && l.ends_with("(9 log lines from 3 files, 0 mergeq entries)")),
        "{}",
        first.stdout
    );

    // Running: a new run, asked for and followed.
    add_expired_logs(&project, &["logs/c.log"]);
    let second = v0_prune(&project, &["--wait"]).run();
    second.expect_code(0);
    assert!(
        second
            .stdout
            .contains("Waiting for the daemon's run #2 to finish..."),
        "{}",
        second.stdout
    );
    assert!(
        second.stdout.contains("Run #2 finished in "),
        "{}",
        second.stdout
    );
    assert!(
        second
            .stdout
            .contains("Pruned 3 log lines from 1 of 5 log files"),
        "{}",
        second.stdout
    );
}

#[test]
fn without_a_daemon_binary_the_plain_prune_says_so_and_prunes_itself() {
    let project = TestProject::bare();
    add_expired_logs(&project, &["logs/a.log"]);
    // A v0-prune with no v0-prune-daemon beside it nor on PATH.
    let lonely = project.temp().join("bin");
    std::fs::create_dir_all(&lonely).expect("bin dir");
    std::fs::copy(v0_prune_testkit::bin("v0-prune"), lonely.join("v0-prune")).expect("copy");
    let output = std::process::Command::new(lonely.join("v0-prune"))
        .current_dir(&project.root)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("V0_PRUNE_INTERVAL", INTERVAL)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("v0-prune runs");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    );
    assert_eq!(output.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("could not hand pruning to the background daemon")
            && stderr
                .contains("v0-prune-daemon was found neither next to this program nor on PATH"),
        "{stderr}"
    );
    assert!(
        stdout.contains("Pruned 3 lines from: logs/a.log"),
        "pruned here instead: {stdout}"
    );
    assert!(
        !stdout.contains("Pruning logs in background..."),
        "{stdout}"
    );
    assert_eq!(project.build.daemon_pid(), None);
}

#[test]
fn shutdown_of_an_idle_daemon_returns_quickly_and_leaves_nothing_running() {
    let project = TestProject::bare();
    let pid = start_daemon(&project);
    add_expired_logs(&project, &["logs/late.log"]);

    let started = Instant::now();
    let run = v0_prune(&project, &["shutdown"]).run();
    let took = started.elapsed();
    run.expect_code(0)
        .expect_line("Waiting for background pruning to complete...")
        .expect_line("Background pruning stopped");
    assert!(took < Duration::from_secs(3), "took {took:?}");
    assert!(
        position(&run.stdout, "Background pruning stopped")
            < position(&run.stdout, "Pruned 3 lines from logs/late.log")
    );
    assert!(process_gone(pid), "the daemon (pid {pid}) still runs");
    assert!(!project.build.path(".prune-daemon.pid").exists());
    assert!(
        project
            .build
            .daemon_log()
            .trim_end()
            .ends_with("Daemon exiting normally"),
        "{}",
        project.build.daemon_log()
    );
    assert_eq!(project.build.read_text("logs/late.log").lines().count(), 1);

    let again = v0_prune(&project, &["shutdown"]).run();
    again.expect_code(0).expect_line("No prune daemon running");
    assert_eq!(status_json(&project).0, Some(3));
}

#[test]
fn shutdown_during_a_run_waits_for_it_to_finish() {
    // Many logs make the run real work; v0's run lock, held here, makes
    // sure the shutdown arrives while that run is in progress.
    let project = TestProject::bare();
    let names: Vec<String> = (0..400)
        .map(|n| format!("operations/op{}/worker-{n}.log", n % 20))
        .collect();
    add_expired_logs(
        &project,
        &names.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    let run_lock = project.build.hold_run_lock();
    v0_prune(&project, &[]).run().expect_code(0);
    project.build.wait_for_daemon_log("Starting pruning...", 1);
    let pid = project.build.daemon_pid().expect("pid file");

    let mut shutdown = v0_prune(&project, &["shutdown"]).spawn();
    project
        .build
        .wait_for_daemon_log("Drain requested by v0-prune shutdown", 1);
    shutdown.wait_for_stdout("the waiting message", |out| {
        out.contains("Waiting for background pruning to complete...")
    });
    assert!(
        wait_until(PATIENCE, || shutdown
            .stderr()
            .contains("waiting for run #1")),
        "it says what it waits for: {}",
        shutdown.stderr()
    );
    assert!(shutdown.running(), "shutdown must wait for the run");
    assert!(!process_gone(pid));
    drop(run_lock);

    let outcome: Outcome = shutdown.wait(PATIENCE);
    outcome
        .expect_code(0)
        .expect_line("Background pruning stopped");
    assert!(process_gone(pid));
    let log = project.build.daemon_log();
    assert!(position(&log, "Drain requested") < position(&log, "Pruning complete: 400 logs"));
    assert!(position(&log, "Pruning complete") < position(&log, "Daemon exiting normally"));
    assert_eq!(
        project
            .build
            .read_text("operations/op19/worker-399.log")
            .lines()
            .count(),
        1,
        "the run finished every file"
    );
}

#[test]
fn shutdown_kills_a_daemon_that_does_not_stop_in_time_and_exits_4() {
    let project = TestProject::bare();
    let pid = start_daemon(&project);
    signal(pid, rustix::process::Signal::STOP).expect("signal the daemon");
    add_expired_logs(&project, &["logs/late.log"]);

    let started = Instant::now();
    let run = v0_prune(&project, &["shutdown", "--timeout", "1"]).run();
    run.expect_code(4)
        .expect_stderr(&format!(
            "warning: the prune daemon (pid {pid}) did not stop within 1s; killed it"
        ))
        .expect_line("Background pruning stopped")
        .expect_line("Pruned 3 lines from logs/late.log (81 B)");
    assert!(started.elapsed() < Duration::from_secs(8));
    assert!(process_gone(pid));
    assert!(!project.build.path(".prune-daemon.pid").exists());
    assert_eq!(status_json(&project).0, Some(3));
}

#[test]
fn shutdown_dry_run_changes_nothing() {
    let project = TestProject::bare();
    add_expired_logs(&project, &["logs/a.log"]);
    let before = Tree::of(project.temp());
    v0_prune(&project, &["shutdown", "--dry-run"])
        .run()
        .expect_code(0)
        .expect_line("No prune daemon running")
        .expect_line("Would prune 3 lines from logs/a.log (81 B)");
    before.assert_same(&Tree::of(project.temp()), "shutdown --dry-run");

    let pid = start_daemon(&project);
    add_expired_logs(&project, &["logs/b.log"]);
    let before = Tree::of_files(project.temp());
    v0_prune(&project, &["shutdown", "-n"])
        .run()
        .expect_code(0)
        .expect_line(&format!("Would stop prune daemon (pid: {pid})"))
        .expect_line("Would prune 3 lines from logs/b.log (81 B)");
    before.assert_same(&Tree::of_files(project.temp()), "shutdown -n");
    assert!(!process_gone(pid), "the daemon still runs");
    assert_eq!(status_json(&project).0, Some(0));
}

#[test]
fn events_stream_ndjson_with_increasing_seq_until_the_daemon_exits() {
    let project = TestProject::bare();
    let not_running = v0_prune(&project, &["events"]).run();
    not_running.expect_code(3).expect_stderr("not running");

    start_daemon(&project);
    let mut json = v0_prune(&project, &["events", "--json"]).spawn();
    let mut human = v0_prune(&project, &["events"]).spawn();
    json.wait_for_stdout("the snapshot", |out| out.contains("\"snapshot\""));
    human.wait_for_stdout("the snapshot", |out| {
        out.contains("connected to the prune daemon")
    });

    add_expired_logs(&project, &["logs/late.log"]);
    v0_prune(&project, &[]).run().expect_code(0);
    json.wait_for_stdout("the run's end", |out| out.contains("\"RunFinished\""));
    human.wait_for_stdout("the run's end", |out| out.contains("run 2 finished (ok)"));
    v0_prune(&project, &["shutdown"]).run().expect_code(0);

    let outcome = json.wait(PATIENCE);
    outcome.expect_code(0);
    let lines: Vec<Value> = outcome
        .stdout
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect();
    assert!(
        lines[0]["snapshot"]["daemon_pid"].is_u64(),
        "{}",
        outcome.stdout
    );
    let seqs: Vec<u64> = lines
        .iter()
        .map(|line| line["seq"].as_u64().expect("every line has seq"))
        .collect();
    assert!(
        seqs.windows(2).all(|pair| pair[1] == pair[0] + 1),
        "seq increases by one: {seqs:?}"
    );
    let events: Vec<&Value> = lines[1..].iter().map(|line| &line["event"]).collect();
    assert!(
        events
            .iter()
            .any(|e| e["RunStarted"]["run_id"] == 2 && e["RunStarted"]["trigger"] == "Request")
    );
    assert!(
        events
            .iter()
            .any(|e| e["RunFinished"]["record"]["log_lines_removed"] == 3)
    );
    assert!(events.iter().any(|e| e.get("Exiting").is_some()));

    let human = human.wait(PATIENCE);
    human.expect_code(0);
    assert!(
        human
            .stdout
            .lines()
            .any(|l| l.starts_with('[') && l.ends_with("] run 2 started (request)")),
        "{}",
        human.stdout
    );
}

#[test]
fn daemon_subcommand_runs_the_daemon_in_the_foreground() {
    let project = TestProject::bare();
    let mut daemon = v0_prune(&project, &["daemon"]).spawn();
    project.build.wait_for_daemon_log("Sleeping for", 1);
    assert_eq!(project.build.daemon_pid(), Some(daemon.pid()));
    let (code, status) = status_json(&project);
    assert_eq!(code, Some(0));
    assert_eq!(status["pid"], daemon.pid());

    v0_prune(&project, &["shutdown"]).run().expect_code(0);
    let outcome = daemon.wait(PATIENCE);
    outcome.expect_code(0);
    assert!(
        outcome.stdout.contains("Daemon exiting normally"),
        "it logs to its stdout too: {}",
        outcome.stdout
    );
}
