//! The daemon prunes its own log where the filesystem cannot collapse ranges
//! (tmpfs here, APFS on macOS): started as v0 starts it, with stdout and
//! stderr appended to `logs/prune-daemon.log`, it is that log's O_APPEND
//! writer, so it lets go of the file, has it rewritten and renamed, and takes
//! up the new one, losing none of its lines. A second appender holding the
//! file still gets it skipped.
//!
//! Runs on a build directory under `/dev/shm` (tmpfs); ignored, with that
//! reason, where the build found none.
//!
//! Follows the daemon's descriptors through `/proc/<pid>/fd` on tmpfs: Linux only.

#![cfg(target_os = "linux")]

mod common;

use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::RunDaemon;
use rustix::process::Signal;
use v0_prune_shared::protocol::{
    ClientMessage, DaemonMessage, FrameReader, PROTOCOL_VERSION, write_frame,
};
use v0_prune_testkit::{PATIENCE, TestBuildDir, Writer, stamp, wait_until};

/// A v0 build directory under `/dev/shm` (tmpfs, which the build found
/// writable and without collapse-range) whose daemon log holds `expired`
/// lines from two days ago and `kept` recent ones.
fn shm_tree(expired: usize, kept: usize) -> TestBuildDir {
    let tree = TestBuildDir::empty_in(Path::new("/dev/shm")).expect("a directory in /dev/shm");
    let old = stamp(Duration::from_secs(48 * 3600));
    let new = stamp(Duration::from_secs(60));
    let mut text = String::with_capacity(expired * 110);
    for i in 0..expired {
        text.push_str(&format!(
            "[{old}] a previous daemon's line {i:07} {}\n",
            "x".repeat(60)
        ));
    }
    for i in 0..kept {
        text.push_str(&format!("[{new}] kept line {i:05}\n"));
    }
    std::fs::write(tree.daemon_log_path(), text).expect("seed the daemon log");
    let log = File::open(tree.daemon_log_path()).expect("log");
    assert!(
        !v0_prune_shared::platform::supports_collapse(&log),
        "/dev/shm collapses ranges here"
    );
    tree
}

/// The daemon log's inode: a new one once the log was rewritten and renamed.
fn log_inode(tree: &TestBuildDir) -> u64 {
    std::fs::metadata(tree.daemon_log_path())
        .expect("log")
        .ino()
}

/// Starts the daemon exactly as v0's `prune_daemon_start` does; returns
/// once it listens.
fn start_orphan(tree: &TestBuildDir) -> Orphan {
    tree.start_as_v0();
    let ok = wait_until(PATIENCE, || {
        tree.daemon_pid().is_some() && tree.count_in_log("Listening on") > 0
    });
    assert!(ok, "daemon not ready:\n{}", tail(&tree.daemon_log()));
    Orphan {
        pid: tree.daemon_pid().expect("pid"),
    }
}

/// Whether the rewrite's temp file is in `logs/` right now.
fn rewriting(tree: &TestBuildDir) -> bool {
    std::fs::read_dir(tree.path("logs")).is_ok_and(|entries| {
        entries.flatten().any(|e| {
            let name = e.file_name();
            let name = name.to_string_lossy();
            name.starts_with(".prune-daemon.log.") && name.ends_with(".v0-prune-tmp")
        })
    })
}

/// The last lines of a log, for failure messages.
fn tail(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

/// The daemon v0 started (not our child): SIGKILLed if a test fails.
struct Orphan {
    pid: u32,
}

impl Orphan {
    fn signal(&self, signal: Signal) {
        v0_prune_testkit::signal(self.pid, signal).expect("signal the daemon");
    }

    /// Where the daemon's descriptor `fd` points: the target's text and inode.
    fn fd_target(&self, fd: &str) -> (String, u64) {
        let link = PathBuf::from(format!("/proc/{}/fd/{fd}", self.pid));
        let text = std::fs::read_link(&link)
            .expect("readlink")
            .display()
            .to_string();
        let ino = std::fs::metadata(&link).expect("stat fd").ino();
        (text, ino)
    }

    /// Every descriptor of the daemon that names the daemon log.
    fn log_fds(&self) -> Vec<(String, String)> {
        let dir = format!("/proc/{}/fd", self.pid);
        let mut found = Vec::new();
        for entry in std::fs::read_dir(dir).expect("fd dir").flatten() {
            if let Ok(target) = std::fs::read_link(entry.path()) {
                let target = target.display().to_string();
                if target.contains("prune-daemon.log") {
                    found.push((entry.file_name().to_string_lossy().into_owned(), target));
                }
            }
        }
        found
    }
}

impl Drop for Orphan {
    fn drop(&mut self) {
        let _ = v0_prune_testkit::signal(self.pid, Signal::KILL);
    }
}

/// Sets the flag when dropped, also when a test panics.
struct StopOnDrop<'a>(&'a AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// Asks for runs from clients named `writer-00000`, `writer-00001`, ...
/// one after another, each answered after the daemon logged it, until
/// `stop`; returns how many, and how many were logged while the log was
/// being rewritten (its temp file present before the request and after
/// the answer).
fn request_lines(tree: &TestBuildDir, stop: &AtomicBool) -> (usize, usize) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let (mut sent, mut during) = (0, 0);
        while !stop.load(Ordering::SeqCst) {
            // The hello names the client; the daemon logs the name with the request.
            let stream = common::raw(&tree.build()).await;
            let mut reader = FrameReader::new();
            let hello = ClientMessage::Hello {
                version: PROTOCOL_VERSION,
                client: format!("writer-{sent:05}"),
            };
            write_frame(&mut &stream, &hello).await.expect("hello");
            let answer: DaemonMessage = reader.read(&mut &stream).await.expect("hello back");
            assert!(matches!(answer, DaemonMessage::Hello { .. }), "{answer:?}");
            let before = rewriting(tree);
            write_frame(&mut &stream, &ClientMessage::RunNow)
                .await
                .expect("run now");
            let answer = tokio::time::timeout(PATIENCE, reader.read(&mut &stream))
                .await
                .expect("an answer in time");
            match answer.expect("an answer") {
                DaemonMessage::RunNowAccepted { .. } => {}
                other => panic!("expected the request accepted, got {other:?}"),
            }
            if before && rewriting(tree) {
                during += 1;
            }
            sent += 1;
        }
        (sent, during)
    })
}

#[test]
#[cfg_attr(
    not(v0_prune_has_shm),
    ignore = "needs a writable tmpfs at /dev/shm (a filesystem without collapse-range)"
)]
fn the_daemon_prunes_its_own_log_on_tmpfs_losing_none_of_its_lines() {
    // Big enough that rewriting it takes a while, and lines land meanwhile.
    let tree = shm_tree(100_000, 50);
    let seeded = log_inode(&tree);
    // The startup run waits on v0's run lock until the requests flow.
    let run_lock = tree.hold_run_lock();
    let daemon = start_orphan(&tree);
    tree.wait_for_daemon_log("Starting pruning...", 1);

    let stop = AtomicBool::new(false);
    let (sent, during) = std::thread::scope(|scope| {
        let requests = scope.spawn(|| request_lines(&tree, &stop));
        // A failed assertion below must not leave the requests running forever.
        let _stop = StopOnDrop(&stop);
        tree.wait_for_daemon_log("Run requested by writer-", 20);
        drop(run_lock);
        let ok = wait_until(PATIENCE * 3, || log_inode(&tree) != seeded);
        assert!(
            ok,
            "the log was never replaced:\n{}",
            tail(&tree.daemon_log())
        );
        tree.wait_for_daemon_log("Pruning complete", 1);
        // Lines after the swap, too.
        let after = tree.count_in_log("Run requested by writer-");
        tree.wait_for_daemon_log("Run requested by writer-", after + 20);
        stop.store(true, Ordering::SeqCst);
        requests.join().expect("requests")
    });

    // Stdout and stderr (v0's `>> log 2>&1`) now point at the live file.
    let live = log_inode(&tree);
    for fd in ["1", "2"] {
        let (target, ino) = daemon.fd_target(fd);
        assert!(!target.ends_with("(deleted)"), "fd {fd} -> {target}");
        assert_eq!(ino, live, "fd {fd} is the live log");
    }
    for (fd, target) in daemon.log_fds() {
        assert!(!target.ends_with("(deleted)"), "fd {fd} -> {target}");
    }

    daemon.signal(Signal::TERM);
    tree.wait_for_daemon_log("Daemon exiting normally", 1);
    let log = tree.daemon_log();
    assert!(
        !log.contains("a previous daemon's line"),
        "expired lines removed"
    );
    let kept: Vec<&str> = log.lines().filter(|l| l.contains("] kept line ")).collect();
    assert_eq!(kept.len(), 50, "recent lines kept");
    assert!(log.starts_with(kept[0]), "in their place, at the top");
    for phrase in [
        "Prune daemon starting",
        "Listening on",
        "Received SIGTERM",
        "Daemon exiting normally",
    ] {
        assert_eq!(
            tree.count_in_log(phrase),
            1,
            "{phrase:?} once in:\n{}",
            tail(&log)
        );
    }
    assert!(
        !log.contains("Skipped logs/prune-daemon.log"),
        "{}",
        tail(&log)
    );
    // Every request's line once, in the order they were made.
    let requested: Vec<usize> = log
        .lines()
        .filter_map(|l| l.split("Run requested by writer-").nth(1))
        .map(|rest| rest[..5].parse().expect("number"))
        .collect();
    let first_wrong = (0..sent).find(|&n| requested.get(n) != Some(&n));
    assert!(
        first_wrong.is_none() && requested.len() == sent,
        "{sent} requests, {} lines; the first missing or out of order: #{first_wrong:?}",
        requested.len()
    );
    assert!(
        during > 0,
        "no line was logged while the log was being rewritten ({sent} requests)"
    );
    eprintln!("{sent} requests, {during} logged while the log was rewritten");
}

#[test]
#[cfg_attr(
    not(v0_prune_has_shm),
    ignore = "needs a writable tmpfs at /dev/shm (a filesystem without collapse-range)"
)]
fn a_second_appender_on_the_daemons_log_still_gets_it_skipped() {
    let tree = shm_tree(2000, 5);
    let seeded = log_inode(&tree);
    let holder = Writer::appending_unconfirmed(&tree.daemon_log_path());
    let daemon = start_orphan(&tree);
    tree.wait_for_daemon_log("Pruning complete", 1);
    let log = tree.daemon_log();
    assert!(
        log.contains(
            "Skipped logs/prune-daemon.log: held open by an appender on a filesystem that cannot collapse ranges"
        ),
        "{}",
        tail(&log)
    );
    assert_eq!(
        log_inode(&tree),
        seeded,
        "not replaced under the other writer"
    );
    assert!(log.contains("a previous daemon's line 0001999"));
    drop(holder);

    // Alone with its log again, the daemon prunes it on the next run.
    daemon.signal(Signal::USR1);
    tree.wait_for_daemon_log("Pruning complete", 2);
    assert_ne!(
        log_inode(&tree),
        seeded,
        "replaced once the daemon is alone"
    );
    let log = tree.daemon_log();
    assert!(!log.contains("a previous daemon's line"), "{}", tail(&log));
    assert_eq!(tree.count_in_log("Received SIGUSR1, waking up"), 1);
    assert_eq!(tree.count_in_log("Prune daemon starting"), 1);
    daemon.signal(Signal::TERM);
    tree.wait_for_daemon_log("Daemon exiting normally", 1);
}
