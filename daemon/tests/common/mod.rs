//! What the daemon's tests share: a build directory in a temp dir, the real
//! `v0-prune-daemon` binary run against it, and a protocol client.
//!
//! Waits are event-driven with deadlines: a condition is checked every few
//! milliseconds until it holds, never a fixed sleep that hopes it does.

#![allow(dead_code)]

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;
use v0_prune_shared::paths::BuildDir;
use v0_prune_shared::protocol::{
    ClientMessage, DaemonMessage, FrameReader, PROTOCOL_VERSION, Snapshot, write_frame,
};
use v0_prune_shared::socket::{self, Stream};

/// How long any single wait may take before the test fails.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// The daemon binary under test.
pub fn daemon_bin() -> &'static str {
    env!("CARGO_BIN_EXE_v0-prune-daemon")
}

/// A timestamp `ago` before now, in v0's log format.
pub fn stamp(ago: Duration) -> String {
    let at = jiff::Timestamp::now()
        .checked_sub(jiff::SignedDuration::try_from(ago).expect("sane"))
        .expect("representable");
    at.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// A v0 build directory in a temp dir, removed when dropped.
pub struct Tree {
    _dir: TempDir,
    root: PathBuf,
}

impl Tree {
    /// A small build directory: a few logs with expired and fresh lines, and
    /// the `logs/` directory v0 keeps its daemon logs in.
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().join("build");
        Self::populate(&root, 3, 4);
        Self { _dir: dir, root }
    }

    /// A build directory with `files` worker logs of `lines` expired and
    /// `lines` fresh lines each, spread over operation directories: the
    /// first run has real work to do.
    pub fn with_logs(files: usize, lines: usize) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().join("build");
        Self::populate(&root, files, lines);
        Self { _dir: dir, root }
    }

    /// A build directory at a path of at least `len` bytes.
    pub fn with_long_path(len: usize) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut root = dir.path().to_path_buf();
        while root.as_os_str().len() < len {
            root.push("a-rather-long-directory-name");
        }
        Self::populate(&root, 2, 2);
        Self { _dir: dir, root }
    }

    fn populate(root: &Path, files: usize, lines: usize) {
        std::fs::create_dir_all(root.join("logs")).expect("logs dir");
        let old = stamp(Duration::from_secs(48 * 3600));
        let new = stamp(Duration::from_secs(60));
        for n in 0..files {
            let dir = root.join("operations").join(format!("op{}", n % 20));
            std::fs::create_dir_all(&dir).expect("op dir");
            let mut text = String::new();
            for i in 0..lines {
                text.push_str(&format!(
                    "[{old}] worker {n}: old step {i} {}\n",
                    "x".repeat(40)
                ));
            }
            for i in 0..lines {
                text.push_str(&format!(
                    "[{new}] worker {n}: new step {i} {}\n",
                    "y".repeat(40)
                ));
            }
            std::fs::write(dir.join(format!("worker-{n}.log")), text).expect("log");
        }
    }

    /// The build directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The build directory, as the library names it.
    pub fn build(&self) -> BuildDir {
        BuildDir::new(&self.root)
    }

    /// The daemon's log.
    pub fn log_path(&self) -> PathBuf {
        self.build().daemon_log()
    }

    /// The daemon's log, or empty if not written yet.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// Lines of the log containing `phrase`.
    pub fn count(&self, phrase: &str) -> usize {
        self.log()
            .lines()
            .filter(|line| line.contains(phrase))
            .count()
    }

    /// Waits until the log has at least `n` lines containing `phrase`.
    pub fn wait_for_log(&self, phrase: &str, n: usize) {
        let ok = wait_until(PATIENCE, || self.count(phrase) >= n);
        assert!(ok, "never saw {n}x {phrase:?} in the log:\n{}", self.log());
    }

    /// The pid in `.prune-daemon.pid`.
    pub fn pid_file(&self) -> Option<u32> {
        std::fs::read_to_string(self.build().pid_file())
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    /// `.prune-daemon/history.json`, parsed.
    pub fn history(&self) -> Option<serde_json::Value> {
        let text = std::fs::read_to_string(self.root.join(".prune-daemon/history.json")).ok()?;
        serde_json::from_str(&text).ok()
    }

    /// How many runs the history holds.
    pub fn runs_in_history(&self) -> usize {
        self.history()
            .and_then(|h| h["runs"].as_array().map(Vec::len))
            .unwrap_or(0)
    }

    /// Where the daemon's socket is.
    pub fn socket_path(&self) -> PathBuf {
        socket::socket_path(&self.build())
    }

    /// A command that runs the daemon on this tree with a clean environment.
    pub fn command(&self, interval: &str) -> Command {
        let mut command = Command::new(daemon_bin());
        command
            .current_dir(&self.root)
            .env("BUILD_DIR", &self.root)
            .env("V0_PRUNE_INTERVAL", interval)
            .env_remove("V0_ROOT")
            .env_remove("V0_BUILD_DIR")
            .env_remove("V0_PRUNE_RETENTION")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        command
    }

    /// Starts the daemon with its stdout in `stdout-<tag>.txt` beside the tree.
    pub fn spawn(&self, interval: &str) -> Daemon {
        self.spawn_tagged(interval, "main")
    }

    /// Like [`Tree::spawn`], with a distinct stdout file per daemon.
    pub fn spawn_tagged(&self, interval: &str, tag: &str) -> Daemon {
        let stdout_path = self.stdout_path(tag);
        let stdout = File::create(&stdout_path).expect("stdout file");
        let child = self
            .command(interval)
            .stdout(stdout)
            .spawn()
            .expect("spawn the daemon");
        Daemon {
            pid: child.id(),
            child,
            stdout_path,
        }
    }

    fn stdout_path(&self, tag: &str) -> PathBuf {
        self.root
            .parent()
            .expect("tree has a parent")
            .join(format!("stdout-{tag}.txt"))
    }

    /// Takes `.prune-daemon.lock` as v0's own pruner would, so a daemon's
    /// run blocks at its start until the returned file is dropped.
    pub fn hold_run_lock(&self) -> File {
        let file = File::create(self.build().run_lock()).expect("run lock");
        rustix::fs::flock(&file, rustix::fs::FlockOperation::LockExclusive).expect("flock");
        file
    }
}

/// A daemon process; killed when dropped if still running.
pub struct Daemon {
    pub child: Child,
    pub pid: u32,
    stdout_path: PathBuf,
}

impl Daemon {
    /// Sends a signal.
    pub fn signal(&self, signal: rustix::process::Signal) {
        let pid = rustix::process::Pid::from_raw(self.pid as i32).expect("pid");
        rustix::process::kill_process(pid, signal).expect("signal the daemon");
    }

    /// Waits for the process to exit.
    pub fn wait_exit(&mut self, within: Duration) -> ExitStatus {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "the daemon did not exit in {within:?}"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Whether it is still running.
    pub fn running(&mut self) -> bool {
        self.child.try_wait().expect("try_wait").is_none()
    }

    /// What it printed on stdout.
    pub fn stdout(&self) -> String {
        std::fs::read_to_string(&self.stdout_path).unwrap_or_default()
    }

    /// Waits until the pid file names this daemon and its socket answers.
    pub fn wait_ready(&mut self, tree: &Tree) {
        let ok = wait_until(PATIENCE, || {
            tree.pid_file() == Some(self.pid) && tree.count("Listening on") > 0
        });
        assert!(ok, "daemon not ready; log:\n{}", tree.log());
        assert!(self.running(), "the daemon exited; log:\n{}", tree.log());
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Checks `condition` every few milliseconds until it holds or `within` passes.
pub fn wait_until(within: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    loop {
        if condition() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A protocol client over the real socket.
pub struct Client {
    pub stream: Stream,
    reader: FrameReader,
}

impl Client {
    /// Connects (retrying while the daemon starts) and says hello.
    pub async fn connect(build: &BuildDir) -> Self {
        let stream = raw(build).await;
        let mut client = Self {
            stream,
            reader: FrameReader::new(),
        };
        client
            .send(&ClientMessage::Hello {
                version: PROTOCOL_VERSION,
                client: "daemon test".into(),
            })
            .await;
        match client.next().await {
            DaemonMessage::Hello { version, .. } => assert_eq!(version, PROTOCOL_VERSION),
            other => panic!("expected hello, got {other:?}"),
        }
        client
    }

    /// Sends one message.
    pub async fn send(&mut self, message: &ClientMessage) {
        write_frame(&mut &self.stream, message).await.expect("send");
    }

    /// Reads the next message, failing the test after [`PATIENCE`].
    pub async fn next(&mut self) -> DaemonMessage {
        self.try_next(PATIENCE)
            .await
            .expect("a message in time")
            .expect("a message")
    }

    /// Reads the next message within `within`: `None` on timeout.
    pub async fn try_next(
        &mut self,
        within: Duration,
    ) -> Option<Result<DaemonMessage, v0_prune_shared::protocol::ProtocolError>> {
        tokio::time::timeout(within, self.reader.read(&mut &self.stream))
            .await
            .ok()
    }

    /// Asks for the status snapshot.
    pub async fn status(&mut self) -> Snapshot {
        self.send(&ClientMessage::Status).await;
        match self.next().await {
            DaemonMessage::Status(snapshot) => snapshot,
            other => panic!("expected a status, got {other:?}"),
        }
    }

    /// Subscribes; returns the snapshot and its sequence number.
    pub async fn subscribe(&mut self) -> (u64, Snapshot) {
        self.send(&ClientMessage::Subscribe).await;
        match self.next().await {
            DaemonMessage::Snapshot { seq, snapshot } => (seq, snapshot),
            other => panic!("expected a snapshot, got {other:?}"),
        }
    }
}

/// A bare connection, retried until the daemon listens.
pub async fn raw(build: &BuildDir) -> Stream {
    let deadline = Instant::now() + PATIENCE;
    loop {
        match socket::connect(build).await {
            Ok(stream) => return stream,
            Err(err) => {
                assert!(Instant::now() < deadline, "cannot reach the daemon: {err}");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

/// A fresh client gets a status answer quickly: the daemon is healthy.
pub async fn assert_answers_promptly(build: &BuildDir, pid: u32) {
    let started = Instant::now();
    let snapshot = tokio::time::timeout(Duration::from_secs(2), async {
        let mut client = Client::connect(build).await;
        client.status().await
    })
    .await
    .expect("the daemon answers a status request within 2s");
    assert_eq!(snapshot.daemon_pid, pid);
    assert!(started.elapsed() < Duration::from_secs(2));
}
