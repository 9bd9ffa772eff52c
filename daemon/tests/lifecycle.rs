//! Starting, refusing a second instance, replacing stale leftovers, stopping,
//! and starting the way v0 does — against the real binary.

mod common;

use std::os::unix::net::UnixListener;
use std::process::Command;

use common::{Client, RunDaemon, assert_answers_promptly};
use rustix::process::Signal;
use v0_prune_testkit::{PATIENCE, TestBuildDir, signal, wait_until};

/// Lines of the log in order, for "this came before that" checks.
fn position(log: &str, phrase: &str) -> usize {
    log.lines()
        .position(|line| line.contains(phrase))
        .unwrap_or_else(|| panic!("{phrase:?} not in the log:\n{log}"))
}

#[test]
fn start_writes_pid_file_socket_and_v0_phrases_then_sigterm_cleans_up() {
    let tree = TestBuildDir::new();
    std::os::unix::fs::symlink("/dev/null", tree.root().join("logs/link.log")).expect("symlink");
    let mut daemon = tree.spawn("1h");
    daemon.wait_ready(&tree);
    tree.wait_for_daemon_log("Sleeping for 3600s until next prune cycle", 1);
    assert_eq!(
        tree.count_in_log("Skipped logs/link.log: symbolic link; never followed"),
        1,
        "skipped items are logged"
    );

    assert_eq!(
        std::fs::read_to_string(tree.build().pid_file()).expect("pid file"),
        format!("{}\n", daemon.pid)
    );
    let socket = tree.socket_path();
    assert!(socket.starts_with(tree.root()), "{}", socket.display());
    let mode = std::fs::metadata(&socket).expect("socket").permissions();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
        0o600
    );
    let log = tree.daemon_log();
    assert!(log.contains(&format!(
        "Prune daemon starting (PID: {}, interval: 3600s)",
        daemon.pid
    )));
    for line in log.lines() {
        let bytes = line.as_bytes();
        assert!(
            bytes.len() > 22 && bytes[0] == b'[' && bytes[20] == b'Z' && bytes[21] == b']',
            "not a v0 log line: {line:?}"
        );
    }
    assert!(position(&log, "Starting pruning...") < position(&log, "Pruning complete: 3 logs"));
    // The expired half of every worker log is gone, the fresh half kept.
    let worker = std::fs::read_to_string(tree.root().join("operations/op0/worker-0.log"))
        .expect("worker log");
    assert_eq!(worker.lines().count(), 4);
    assert!(worker.lines().all(|line| line.contains("new step")));
    // stdout is not the log here, so it echoes the lines.
    assert!(daemon.stdout().contains("Starting pruning..."));

    daemon.signal(Signal::TERM);
    let status = daemon.wait_exit(PATIENCE);
    assert!(status.success(), "{status:?}");
    let log = tree.daemon_log();
    assert!(log.contains("Received SIGTERM, will exit after current operation"));
    assert!(position(&log, "Daemon shutting down") < position(&log, "Daemon exiting normally"));
    assert!(!tree.build().pid_file().exists(), "pid file left behind");
    assert!(!socket.exists(), "socket left behind");
}

#[test]
fn a_second_daemon_says_which_pid_runs_and_exits_0() {
    let tree = TestBuildDir::new();
    let mut first = tree.spawn("1h");
    first.wait_ready(&tree);

    let second = tree
        .command("1h")
        .stdout(std::process::Stdio::piped())
        .output()
        .expect("run a second daemon");
    assert!(second.status.success(), "{second:?}");
    assert_eq!(
        String::from_utf8_lossy(&second.stdout).trim(),
        format!("Prune daemon already running (PID: {})", first.pid)
    );
    assert!(first.running());
    assert_eq!(tree.daemon_pid(), Some(first.pid));
    assert_eq!(tree.count_in_log("Prune daemon starting"), 1);
}

#[test]
fn two_daemons_started_at_the_same_instant_leave_exactly_one_running() {
    let tree = TestBuildDir::new();
    let mut a = tree.spawn_tagged("1h", "a");
    let mut b = tree.spawn_tagged("1h", "b");
    let one_left = wait_until(PATIENCE, || a.running() != b.running());
    assert!(one_left, "both still running, or both gone");
    let (mut winner, mut loser) = if a.running() { (a, b) } else { (b, a) };
    let status = loser.wait_exit(PATIENCE);
    assert!(status.success(), "{status:?}");
    assert_eq!(
        loser.stdout().trim(),
        format!("Prune daemon already running (PID: {})", winner.pid)
    );
    winner.wait_ready(&tree);
    assert_eq!(tree.count_in_log("Prune daemon starting"), 1);
}

#[tokio::test(flavor = "current_thread")]
async fn a_stale_pid_file_and_socket_are_replaced() {
    let tree = TestBuildDir::new();
    // A pid that is certainly dead: a child we have already reaped.
    let mut gone = Command::new("true").spawn().expect("spawn true");
    let dead_pid = gone.id();
    gone.wait().expect("reap");
    std::fs::write(tree.build().pid_file(), format!("{dead_pid}\n")).expect("stale pid");
    // A socket file nobody listens on, as a killed daemon leaves it.
    let socket = tree.socket_path();
    std::fs::create_dir_all(socket.parent().expect("dir")).expect("state dir");
    drop(UnixListener::bind(&socket).expect("bind"));
    assert!(socket.exists());

    let mut daemon = tree.spawn("1h");
    daemon.wait_ready(&tree);
    assert_answers_promptly(&tree.build(), daemon.pid).await;
    assert!(tree.daemon_log().contains(&format!(
        "Replaced a stale pid file (PID {dead_pid} is not running)"
    )));
}

#[test]
fn a_pid_file_naming_an_unrelated_live_process_is_not_trusted() {
    let tree = TestBuildDir::new();
    let mut unrelated = Command::new("sleep").arg("30").spawn().expect("sleep");
    std::fs::write(tree.build().pid_file(), format!("{}\n", unrelated.id())).expect("pid");
    let mut daemon = tree.spawn("1h");
    daemon.wait_ready(&tree);
    assert_eq!(tree.daemon_pid(), Some(daemon.pid));
    assert!(
        tree.daemon_log()
            .contains(&format!("Replaced the pid file of PID {}", unrelated.id()))
    );
    let _ = unrelated.kill();
    let _ = unrelated.wait();
}

#[test]
fn sigterm_during_a_run_lets_it_finish_then_exits_0() {
    // 1500 logs make a run that does real work; holding the run lock as
    // v0's pruner would makes sure SIGTERM lands while it is in progress.
    let tree = TestBuildDir::with_logs(1500, 10);
    let run_lock = tree.hold_run_lock();
    let mut daemon = tree.spawn("1h");
    tree.wait_for_daemon_log("Starting pruning...", 1);
    daemon.signal(Signal::TERM);
    tree.wait_for_daemon_log("Received SIGTERM, will exit after current operation", 1);
    assert!(
        daemon.running(),
        "it must not exit while the run is in progress"
    );
    drop(run_lock);

    let status = daemon.wait_exit(PATIENCE);
    assert!(status.success(), "{status:?}");
    let log = tree.daemon_log();
    let complete = position(&log, "Pruning complete: 1500 logs, 15000 lines");
    assert!(position(&log, "Received SIGTERM") < complete);
    assert!(complete < position(&log, "Daemon shutting down"));
    assert!(position(&log, "Daemon shutting down") < position(&log, "Daemon exiting normally"));
    assert_eq!(
        tree.count_in_log("Starting pruning..."),
        1,
        "no new run after SIGTERM"
    );
    assert!(!tree.build().pid_file().exists());
    assert!(!tree.socket_path().exists());
    let last = std::fs::read_to_string(tree.root().join("operations/op19/worker-1499.log"))
        .expect("last log");
    assert_eq!(last.lines().count(), 10, "the run pruned every file");
}

#[test]
fn sigint_takes_the_same_way_out() {
    let tree = TestBuildDir::new();
    let mut daemon = tree.spawn("1h");
    daemon.wait_ready(&tree);
    tree.wait_for_daemon_log("Pruning complete", 1);
    daemon.signal(Signal::INT);
    assert!(daemon.wait_exit(PATIENCE).success());
    assert_eq!(
        tree.count_in_log("Received SIGINT, will exit after current operation"),
        1
    );
    assert!(
        tree.daemon_log()
            .trim_end()
            .ends_with("Daemon exiting normally")
    );
    assert!(!tree.build().pid_file().exists());
}

#[test]
fn started_as_v0_does_with_nohup_no_line_appears_twice() {
    let tree = TestBuildDir::new();
    tree.start_as_v0();
    let reaper = Orphan { tree: &tree };
    tree.wait_for_daemon_log("Sleeping for 3600s until next prune cycle", 1);
    let pid = tree.daemon_pid().expect("pid file");
    signal(pid, Signal::TERM).expect("signal");
    tree.wait_for_daemon_log("Daemon exiting normally", 1);

    let log = tree.daemon_log();
    for phrase in [
        "Prune daemon starting",
        "Starting pruning...",
        "Pruning complete",
        "Sleeping for 3600s",
        "Received SIGTERM",
        "Daemon shutting down",
        "Daemon exiting normally",
    ] {
        assert_eq!(tree.count_in_log(phrase), 1, "{phrase:?} in:\n{log}");
    }
    let mut seen = std::collections::HashSet::new();
    for line in log.lines() {
        assert!(seen.insert(line), "duplicated line {line:?} in:\n{log}");
    }
    drop(reaper);
}

/// Kills a daemon we did not start as a child (the nohup case) if a test fails.
struct Orphan<'a> {
    tree: &'a TestBuildDir,
}

impl Drop for Orphan<'_> {
    fn drop(&mut self) {
        self.tree.kill_daemon();
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_build_dir_path_too_long_for_a_socket_address_still_works() {
    let tree = TestBuildDir::with_long_path(140);
    assert!(tree.root().as_os_str().len() > 108);
    let mut daemon = tree.spawn("1h");
    daemon.wait_ready(&tree);
    let socket = tree.socket_path();
    assert!(!socket.starts_with(tree.root()), "{}", socket.display());
    assert!(socket.as_os_str().len() <= 108);
    assert!(socket.exists());
    let mut client = Client::connect(&tree.build()).await;
    let status = client.status().await;
    assert_eq!(status.build_dir, tree.root().display().to_string());
    drop(client);
    daemon.signal(Signal::TERM);
    assert!(daemon.wait_exit(PATIENCE).success());
    assert!(!socket.exists(), "fallback socket left behind");
    // The socket module's bind lock beside it outlives the daemon by design;
    // do not leave ours in the shared directory.
    let mut lock = socket.into_os_string();
    lock.push(".lock");
    let _ = std::fs::remove_file(lock);
}

#[tokio::test(flavor = "current_thread")]
async fn history_and_run_ids_survive_a_restart() {
    let tree = TestBuildDir::new();
    let mut first = tree.spawn("1h");
    first.wait_ready(&tree);
    assert!(wait_until(PATIENCE, || tree.runs_in_history() == 1));
    first.signal(Signal::TERM);
    assert!(first.wait_exit(PATIENCE).success());

    let mut second = tree.spawn("1h");
    second.wait_ready(&tree);
    assert!(wait_until(PATIENCE, || tree.runs_in_history() == 2));
    let history = tree.history().expect("history");
    let ids: Vec<u64> = history["runs"]
        .as_array()
        .expect("runs")
        .iter()
        .map(|run| run["run_id"].as_u64().expect("id"))
        .collect();
    assert_eq!(ids, [1, 2]);
    assert_eq!(history["totals"]["runs"], 2);
    assert_eq!(history["runs"][0]["log_lines_removed"], 12);
    let mut client = Client::connect(&tree.build()).await;
    let status = client.status().await;
    assert_eq!(status.totals.runs, 2);
    assert_eq!(status.totals.log_lines_removed, 12);
    assert_eq!(status.history.len(), 2);
    assert_eq!(status.last_run.map(|run| run.run_id), Some(2));
}
