//! The daemon started the way the real v0 starts it, and taking over from
//! the real v0's bash daemon: each test runs a copy of `../shared/v0` (its
//! `prune_daemon_start`, its `bin/v0-prune-daemon`) against a build directory.
//! Ignored, with the reason, where the build found no v0 (`scripts/get-v0`
//! puts it beside the repository, or set `V0_SOURCE`) or what it runs.
//!
//! Reads the daemon's state and working directory from procfs: Linux only.

#![cfg(target_os = "linux")]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::RunDaemon;
use rustix::process::Signal;
use v0_prune_testkit::bins::DAEMON;
use v0_prune_testkit::{
    PATIENCE, TestBuildDir, bin, copy_real_v0, process_gone, signal, wait_until,
};

/// A copy of v0 in a temp dir, with our daemon installed as its
/// `bin/v0-prune-daemon` when `ours` is true.
struct V0Copy {
    _dir: tempfile::TempDir,
    root: PathBuf,
}

impl V0Copy {
    fn new(ours: bool) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().join("v0");
        copy_real_v0(&root);
        if ours {
            let target = root.join("bin/v0-prune-daemon");
            std::fs::remove_file(&target).expect("remove v0's daemon");
            std::fs::copy(bin(DAEMON), &target).expect("install ours");
        }
        Self { _dir: dir, root }
    }

    /// Runs v0's own `prune_daemon_start` for `build` from a directory that
    /// is removed first, as a user's deleted worktree would be; returns its
    /// exit status and what it printed.
    fn prune_daemon_start(&self, build: &Path, path_prefix: Option<&Path>) -> (bool, String) {
        let gone = self.root.parent().expect("parent").join("gone");
        std::fs::create_dir_all(&gone).expect("gone dir");
        let path = match path_prefix {
            Some(prefix) => format!(
                "{}:{}",
                prefix.display(),
                std::env::var("PATH").unwrap_or_default()
            ),
            None => std::env::var("PATH").unwrap_or_default(),
        };
        let output = Command::new("bash")
            .arg("-c")
            .arg(
                "cd \"$GONE\" && rmdir \"$GONE\" || exit 9\n\
                 source \"$V0_DIR/packages/cli/lib/v0-common.sh\"\n\
                 if prune_daemon_start; then echo started; else echo failed; fi",
            )
            .current_dir(self.root.parent().expect("parent"))
            .env("GONE", &gone)
            .env("V0_DIR", &self.root)
            .env("BUILD_DIR", build)
            .env("PATH", path)
            .env_remove("V0_ROOT")
            .env_remove("V0_BUILD_DIR")
            .env_remove("V0_PRUNE_INTERVAL")
            .env_remove("V0_PRUNE_RETENTION")
            .stdin(Stdio::null())
            .output()
            .expect("bash");
        let text = String::from_utf8_lossy(&output.stdout).into_owned()
            + &String::from_utf8_lossy(&output.stderr);
        (output.status.success() && text.contains("started"), text)
    }
}

/// Kills the processes a test left behind (by pid: they are not our children).
struct Reaper(Vec<u32>);

impl Drop for Reaper {
    fn drop(&mut self) {
        for pid in &self.0 {
            if !process_gone(*pid) {
                let _ = signal(*pid, Signal::KILL);
            }
        }
    }
}

/// How soon the daemon exits on SIGTERM when nothing holds it: at once,
/// not at its next wall-clock check (`WALL_CHECK_EVERY`, 3 s), with room
/// for a loaded machine. How fast it is belongs to the benchmark.
const PROMPTLY: Duration = Duration::from_secs(2);

/// The log lines that contain `phrase`.
fn lines_with<'a>(log: &'a str, phrase: &str) -> Vec<&'a str> {
    log.lines().filter(|line| line.contains(phrase)).collect()
}

#[test]
#[cfg_attr(
    not(v0_prune_runs_v0),
    ignore = "needs the real v0 and what it runs: scripts/get-v0 or V0_SOURCE; bash, jq, perl, flock, git, tmux"
)]
fn v0s_prune_daemon_start_from_a_removed_directory_starts_ours_and_it_prunes() {
    let v0 = V0Copy::new(true);
    let tree = TestBuildDir::with_logs(3, 4);
    let (started, said) = v0.prune_daemon_start(tree.root(), None);
    // prune_daemon_start itself checked `kill -0` 0.2 s after starting it.
    assert!(
        started,
        "v0's prune_daemon_start failed: {said}\nlog:\n{}",
        tree.daemon_log()
    );
    let pid = tree.daemon_pid().expect("a pid file");
    let _reaper = Reaper(vec![pid]);
    assert!(
        !process_gone(pid),
        "the daemon died; log:\n{}",
        tree.daemon_log()
    );
    tree.wait_for_daemon_log(&format!("Prune daemon starting (PID: {pid}"), 1);
    tree.wait_for_daemon_log("Sleeping for 3600s", 1);
    assert_eq!(tree.daemon_pid(), Some(pid), "the pid file names it");
    assert!(
        !tree.daemon_log().contains("Error"),
        "no error in the log:\n{}",
        tree.daemon_log()
    );
    // It pruned: the expired lines are gone, the fresh ones kept.
    let worker = std::fs::read_to_string(tree.root().join("operations/op0/worker-0.log"))
        .expect("worker log");
    assert!(!worker.contains("old step"), "{worker}");
    assert_eq!(worker.matches("new step").count(), 4, "{worker}");
    // It does not depend on (or pin) the directory it was started from.
    let cwd = std::fs::read_link(format!("/proc/{pid}/cwd")).expect("cwd");
    assert_eq!(cwd, Path::new("/"));

    // Idle: SIGTERM ends it at once, not at its next wall-clock check.
    let asked = Instant::now();
    let _ = signal(pid, Signal::TERM);
    assert!(
        wait_until(PATIENCE, || process_gone(pid)),
        "the daemon did not exit; log:\n{}",
        tree.daemon_log()
    );
    let took = asked.elapsed();
    eprintln!("measured: exit {took:?} after SIGTERM (idle)");
    assert!(took < PROMPTLY, "took {took:?}");
    assert!(tree.daemon_log().contains("Daemon exiting normally"));
    assert_eq!(tree.daemon_pid(), None, "the pid file is removed");
}

#[test]
#[cfg_attr(
    not(v0_prune_runs_v0),
    ignore = "needs the real v0 and what it runs: scripts/get-v0 or V0_SOURCE; bash, jq, perl, flock, git, tmux"
)]
fn ours_takes_over_from_v0s_bash_daemon_between_its_runs() {
    let v0 = V0Copy::new(false);
    let tree = TestBuildDir::with_logs(2, 2);
    let (started, said) = v0.prune_daemon_start(tree.root(), None);
    assert!(started, "v0's own daemon did not start: {said}");
    let bash = tree.daemon_pid().expect("the bash daemon's pid");
    let mut reaper = Reaper(vec![bash]);
    // v0's log, not ours: ours says "interval: 3600s)" too, but never this.
    tree.wait_for_daemon_log("Sleeping for 3600s until next prune cycle", 1);
    assert_eq!(tree.count_in_log("Prune daemon starting"), 1);

    let mut ours = tree.spawn("3600");
    reaper.0.push(ours.pid);
    ours.wait_ready(&tree);
    assert!(
        process_gone(bash),
        "v0's bash daemon still runs; log:\n{}",
        tree.daemon_log()
    );
    let log = tree.daemon_log();
    let told = lines_with(
        &log,
        &format!(
            "Stopped v0's bash prune daemon (pid {bash}) between its runs; starting v0-prune-daemon"
        ),
    );
    assert_eq!(told.len(), 1, "{log}");
    // In order: the bash daemon shut down, then we said so, then we started.
    let at = |phrase: &str| {
        log.find(phrase)
            .unwrap_or_else(|| panic!("{phrase:?} in\n{log}"))
    };
    assert!(at("Daemon shutting down") < at("Stopped v0's bash prune daemon"));
    assert!(
        at("Stopped v0's bash prune daemon")
            < at(&format!("Prune daemon starting (PID: {}", ours.pid))
    );
    // One daemon, ours, named by the pid file.
    assert_eq!(tree.daemon_pid(), Some(ours.pid));
    assert!(ours.running());
    let _ = signal(ours.pid, Signal::TERM);
    ours.wait_exit(PATIENCE);
}

/// v0's bash daemon, started by v0's starter on `tree`, in the middle of a
/// run that lasts until the returned gate file is removed: a merge queue
/// makes its run call `jq`, and our `jq` first waits for the gate.
fn bash_daemon_in_a_long_run(v0: &V0Copy, tree: &TestBuildDir) -> (u32, PathBuf) {
    let mergeq = tree.root().join("mergeq");
    std::fs::create_dir_all(&mergeq).expect("mergeq");
    std::fs::write(
        mergeq.join("queue.json"),
        "{\"version\":1,\"entries\":[{\"operation\":\"a\",\"status\":\"completed\",\
         \"enqueued_at\":\"2020-01-01T00:00:00Z\"}]}\n",
    )
    .expect("queue");
    let shims = tree.root().parent().expect("parent").join("shims");
    std::fs::create_dir_all(&shims).expect("shims");
    let gate = shims.join("gate");
    let real_jq = which("jq").expect("jq, which v0's daemon needs");
    let shim = shims.join("jq");
    std::fs::write(
        &shim,
        format!(
            "#!/bin/sh\nwhile [ -e '{}' ]; do sleep 0.02; done\nexec '{}' \"$@\"\n",
            gate.display(),
            real_jq.display()
        ),
    )
    .expect("shim");
    std::fs::set_permissions(&shim, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    std::fs::write(&gate, "").expect("gate");

    let (started, said) = v0.prune_daemon_start(tree.root(), Some(&shims));
    assert!(started, "v0's own daemon did not start: {said}");
    let bash = tree.daemon_pid().expect("the bash daemon's pid");
    tree.wait_for_daemon_log("Starting pruning...", 1);
    let run_lock = tree.build().run_lock();
    assert!(
        wait_until(PATIENCE, || run_lock_held(&run_lock)),
        "v0's run never took its lock"
    );
    (bash, gate)
}

#[test]
#[cfg_attr(
    not(v0_prune_runs_v0),
    ignore = "needs the real v0 and what it runs: scripts/get-v0 or V0_SOURCE; bash, jq, perl, flock, git, tmux"
)]
fn a_bash_daemon_in_its_run_finishes_it_before_ours_starts() {
    let v0 = V0Copy::new(false);
    let tree = TestBuildDir::with_logs(2, 2);
    let (bash, gate) = bash_daemon_in_a_long_run(&v0, &tree);
    let mut reaper = Reaper(vec![bash]);
    let run_lock = tree.build().run_lock();

    let mut ours = tree.spawn("3600");
    reaper.0.push(ours.pid);
    tree.wait_for_daemon_log("asking it to stop after its current run", 1);
    // It stays in its run; we wait and do not start.
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        !process_gone(bash),
        "v0's daemon was interrupted in its run"
    );
    assert!(ours.running(), "ours gave up; log:\n{}", tree.daemon_log());
    assert!(run_lock_held(&run_lock));
    assert_eq!(
        tree.count_in_log("Prune daemon starting"),
        1,
        "{}",
        tree.daemon_log()
    );
    assert_eq!(tree.daemon_pid(), Some(bash));

    std::fs::remove_file(&gate).expect("open the gate");
    ours.wait_ready(&tree);
    assert!(process_gone(bash));
    let log = tree.daemon_log();
    // v0's run completed (its own words), then it exited, then ours started.
    let at = |phrase: &str| {
        log.find(phrase)
            .unwrap_or_else(|| panic!("{phrase:?} in\n{log}"))
    };
    assert!(at("Pruned 1 mergeq entries older than 6 hours") < at("Daemon shutting down"));
    assert!(
        at("Daemon shutting down")
            < at(&format!(
                "Stopped v0's bash prune daemon (pid {bash}) after its current run; starting \
                 v0-prune-daemon"
            ))
    );
    assert!(
        log.find(&format!("Prune daemon starting (PID: {}", ours.pid))
            > Some(at("Stopped v0's bash prune daemon"))
    );
    assert_eq!(tree.daemon_pid(), Some(ours.pid));
    let _ = signal(ours.pid, Signal::TERM);
    ours.wait_exit(PATIENCE);
}

#[test]
#[cfg_attr(
    not(v0_prune_runs_v0),
    ignore = "needs the real v0 and what it runs: scripts/get-v0 or V0_SOURCE; bash, jq, perl, flock, git, tmux"
)]
fn sigterm_while_waiting_for_the_bash_daemon_ends_ours_without_starting() {
    let v0 = V0Copy::new(false);
    let tree = TestBuildDir::with_logs(2, 2);
    let (bash, gate) = bash_daemon_in_a_long_run(&v0, &tree);
    let mut reaper = Reaper(vec![bash]);
    let mut ours = tree.spawn("3600");
    reaper.0.push(ours.pid);
    tree.wait_for_daemon_log("asking it to stop after its current run", 1);
    let asked = Instant::now();
    let _ = signal(ours.pid, Signal::TERM);
    let status = ours.wait_exit(PATIENCE);
    let took = asked.elapsed();
    assert!(status.success(), "{status}");
    assert!(took < PROMPTLY, "took {took:?}");
    tree.wait_for_daemon_log(
        "Received SIGTERM while waiting for v0's bash prune daemon; exiting",
        1,
    );
    assert_eq!(
        tree.count_in_log("Prune daemon starting"),
        1,
        "ours never started"
    );
    // v0's daemon was not interrupted: it finishes its run, then exits.
    assert!(!process_gone(bash));
    assert_eq!(tree.daemon_pid(), Some(bash));
    std::fs::remove_file(&gate).expect("open the gate");
    assert!(
        wait_until(PATIENCE, || process_gone(bash)),
        "{}",
        tree.daemon_log()
    );
    assert!(
        tree.daemon_log()
            .contains("Pruned 1 mergeq entries older than 6 hours")
    );
    assert_eq!(tree.daemon_pid(), None, "v0's daemon removed its pid file");
}

fn run_lock_held(path: &Path) -> bool {
    let Ok(file) = std::fs::File::open(path) else {
        return false;
    };
    match rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockShared) {
        Ok(()) => false,
        Err(_) => true,
    }
}

fn which(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(name))
        .find(|path| path.is_file())
}
