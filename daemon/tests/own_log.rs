//! The daemon prunes its own log where the filesystem cannot collapse ranges
//! (tmpfs here, APFS on macOS): started as v0 starts it, with stdout and
//! stderr appended to `logs/prune-daemon.log`, it is that log's O_APPEND
//! writer, so it lets go of the file, has it rewritten and renamed, and takes
//! up the new one, losing none of its lines. A second appender holding the
//! file still gets it skipped.
//!
//! Runs on a build directory under `/dev/shm` (tmpfs), skipped with a note
//! where there is none.
//!
//! Follows the daemon's descriptors through `/proc/<pid>/fd` on tmpfs: Linux only.

#![cfg(target_os = "linux")]

mod common;

use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::{PATIENCE, daemon_bin, stamp, wait_until};
use rustix::process::Signal;
use tempfile::TempDir;
use v0_prune_shared::paths::BuildDir;
use v0_prune_shared::protocol::{
    ClientMessage, DaemonMessage, FrameReader, PROTOCOL_VERSION, write_frame,
};

/// A v0 build directory on tmpfs, its daemon started as v0 starts it.
struct ShmTree {
    _dir: TempDir,
    root: PathBuf,
}

impl ShmTree {
    /// A build directory under `/dev/shm` whose daemon log holds `expired`
    /// lines from two days ago and `kept` recent ones; `None` (with a note)
    /// where `/dev/shm` is missing or can collapse ranges after all.
    fn new(expired: usize, kept: usize) -> Option<Self> {
        let Ok(dir) = tempfile::tempdir_in("/dev/shm") else {
            eprintln!("skipping: no /dev/shm to test a filesystem without collapse-range");
            return None;
        };
        let root = dir.path().join("build");
        std::fs::create_dir_all(root.join("logs")).expect("logs dir");
        let tree = Self { _dir: dir, root };
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
        std::fs::write(tree.log_path(), text).expect("seed the daemon log");
        let log = File::open(tree.log_path()).expect("log");
        if v0_prune_shared::platform::supports_collapse(&log) {
            eprintln!("skipping: /dev/shm can collapse ranges here");
            return None;
        }
        Some(tree)
    }

    fn build(&self) -> BuildDir {
        BuildDir::new(&self.root)
    }

    fn log_path(&self) -> PathBuf {
        self.root.join("logs/prune-daemon.log")
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    fn count(&self, phrase: &str) -> usize {
        self.log().lines().filter(|l| l.contains(phrase)).count()
    }

    fn wait_for_log(&self, phrase: &str, n: usize) {
        let ok = wait_until(PATIENCE, || self.count(phrase) >= n);
        assert!(
            ok,
            "never saw {n}x {phrase:?} in the log:\n{}",
            tail(&self.log())
        );
    }

    fn log_inode(&self) -> u64 {
        std::fs::metadata(self.log_path()).expect("log").ino()
    }

    fn pid(&self) -> Option<u32> {
        std::fs::read_to_string(self.build().pid_file())
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    /// Starts the daemon exactly as v0's `prune_daemon_start` does.
    fn start_as_v0(&self) -> Orphan {
        let script = format!("nohup '{}' >> logs/prune-daemon.log 2>&1 &", daemon_bin());
        let status = Command::new("sh")
            .arg("-c")
            .arg(&script)
            .current_dir(&self.root)
            .stdin(Stdio::null())
            .env("BUILD_DIR", &self.root)
            .env("V0_PRUNE_INTERVAL", "1h")
            .env_remove("V0_ROOT")
            .env_remove("V0_BUILD_DIR")
            .env_remove("V0_PRUNE_RETENTION")
            .status()
            .expect("sh");
        assert!(status.success());
        let ok = wait_until(PATIENCE, || {
            self.pid().is_some() && self.count("Listening on") > 0
        });
        assert!(ok, "daemon not ready:\n{}", tail(&self.log()));
        Orphan {
            pid: self.pid().expect("pid"),
        }
    }

    /// Whether the rewrite's temp file is in `logs/` right now.
    fn rewriting(&self) -> bool {
        std::fs::read_dir(self.root.join("logs")).is_ok_and(|entries| {
            entries.flatten().any(|e| {
                let name = e.file_name();
                let name = name.to_string_lossy();
                name.starts_with(".prune-daemon.log.") && name.ends_with(".v0-prune-tmp")
            })
        })
    }

    /// Takes `.prune-daemon.lock` as v0's pruner would: the daemon's run
    /// waits at its start until the file is dropped.
    fn hold_run_lock(&self) -> File {
        let file = File::create(self.build().run_lock()).expect("run lock");
        rustix::fs::flock(&file, rustix::fs::FlockOperation::LockExclusive).expect("flock");
        file
    }
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
        let pid = rustix::process::Pid::from_raw(self.pid as i32).expect("pid");
        rustix::process::kill_process(pid, signal).expect("signal the daemon");
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
        if let Some(pid) = rustix::process::Pid::from_raw(self.pid as i32) {
            let _ = rustix::process::kill_process(pid, Signal::KILL);
        }
    }
}

/// A process that holds `path` open for appending until killed.
fn second_appender(path: &Path) -> Child {
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "exec 3>>'{}'; echo ready; exec sleep 120 3>&3",
            path.display()
        ))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn sh");
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().expect("stdout")),
        &mut line,
    )
    .expect("ready");
    child
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
fn request_lines(tree: &ShmTree, stop: &AtomicBool) -> (usize, usize) {
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
            let before = tree.rewriting();
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
            if before && tree.rewriting() {
                during += 1;
            }
            sent += 1;
        }
        (sent, during)
    })
}

#[test]
fn the_daemon_prunes_its_own_log_on_tmpfs_losing_none_of_its_lines() {
    // Big enough that rewriting it takes a while, and lines land meanwhile.
    let Some(tree) = ShmTree::new(100_000, 50) else {
        return;
    };
    let seeded = tree.log_inode();
    // The startup run waits on v0's run lock until the requests flow.
    let run_lock = tree.hold_run_lock();
    let daemon = tree.start_as_v0();
    tree.wait_for_log("Starting pruning...", 1);

    let stop = AtomicBool::new(false);
    let (sent, during) = std::thread::scope(|scope| {
        let requests = scope.spawn(|| request_lines(&tree, &stop));
        // A failed assertion below must not leave the requests running forever.
        let _stop = StopOnDrop(&stop);
        tree.wait_for_log("Run requested by writer-", 20);
        drop(run_lock);
        let ok = wait_until(PATIENCE * 3, || tree.log_inode() != seeded);
        assert!(ok, "the log was never replaced:\n{}", tail(&tree.log()));
        tree.wait_for_log("Pruning complete", 1);
        // Lines after the swap, too.
        let after = tree.count("Run requested by writer-");
        tree.wait_for_log("Run requested by writer-", after + 20);
        stop.store(true, Ordering::SeqCst);
        requests.join().expect("requests")
    });

    // Stdout and stderr (v0's `>> log 2>&1`) now point at the live file.
    let live = tree.log_inode();
    for fd in ["1", "2"] {
        let (target, ino) = daemon.fd_target(fd);
        assert!(!target.ends_with("(deleted)"), "fd {fd} -> {target}");
        assert_eq!(ino, live, "fd {fd} is the live log");
    }
    for (fd, target) in daemon.log_fds() {
        assert!(!target.ends_with("(deleted)"), "fd {fd} -> {target}");
    }

    daemon.signal(Signal::TERM);
    tree.wait_for_log("Daemon exiting normally", 1);
    let log = tree.log();
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
        assert_eq!(tree.count(phrase), 1, "{phrase:?} once in:\n{}", tail(&log));
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
fn a_second_appender_on_the_daemons_log_still_gets_it_skipped() {
    let Some(tree) = ShmTree::new(2000, 5) else {
        return;
    };
    let seeded = tree.log_inode();
    let mut holder = second_appender(&tree.log_path());
    let daemon = tree.start_as_v0();
    tree.wait_for_log("Pruning complete", 1);
    let log = tree.log();
    assert!(
        log.contains(
            "Skipped logs/prune-daemon.log: held open by an appender on a filesystem that cannot collapse ranges"
        ),
        "{}",
        tail(&log)
    );
    assert_eq!(
        tree.log_inode(),
        seeded,
        "not replaced under the other writer"
    );
    assert!(log.contains("a previous daemon's line 0001999"));
    let _ = holder.kill();
    let _ = holder.wait();

    // Alone with its log again, the daemon prunes it on the next run.
    daemon.signal(Signal::USR1);
    tree.wait_for_log("Pruning complete", 2);
    assert_ne!(
        tree.log_inode(),
        seeded,
        "replaced once the daemon is alone"
    );
    let log = tree.log();
    assert!(!log.contains("a previous daemon's line"), "{}", tail(&log));
    assert_eq!(tree.count("Received SIGUSR1, waking up"), 1);
    assert_eq!(tree.count("Prune daemon starting"), 1);
    daemon.signal(Signal::TERM);
    tree.wait_for_log("Daemon exiting normally", 1);
}
