//! What the daemon's tests share beyond the test kit (`v0_prune_testkit`,
//! which holds the build directory, stamps, waiting and the binaries): the
//! real `v0-prune-daemon` run on a kit build directory, and a raw protocol
//! client over its socket.
//!
//! Waits are event-driven with deadlines: a condition is checked every few
//! milliseconds until it holds, never a fixed sleep that hopes it does.

#![allow(dead_code)]

use std::fs::File;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use v0_prune_shared::paths::BuildDir;
use v0_prune_shared::protocol::{
    ClientMessage, DaemonMessage, FrameReader, PROTOCOL_VERSION, Snapshot, write_frame,
};
use v0_prune_shared::socket::{self, Stream};
use v0_prune_testkit::bins::DAEMON;
use v0_prune_testkit::{PATIENCE, TestBuildDir, bin, wait_until, without_steering};

/// Running the daemon on a kit build directory.
pub trait RunDaemon {
    /// A command that runs the daemon on this tree with a clean environment.
    fn command(&self, interval: &str) -> Command;

    /// Starts the daemon with its stdout in `stdout-<tag>.txt` beside the tree.
    fn spawn(&self, interval: &str) -> Daemon {
        self.spawn_tagged(interval, "main")
    }

    /// Like [`RunDaemon::spawn`], with a distinct stdout file per daemon.
    fn spawn_tagged(&self, interval: &str, tag: &str) -> Daemon;

    /// Starts the daemon exactly as v0's `prune_daemon_start` does (`nohup`,
    /// stdout and stderr appended to its log, interval 1h): not our child,
    /// it is found through its pid file.
    fn start_as_v0(&self);
}

impl RunDaemon for TestBuildDir {
    fn command(&self, interval: &str) -> Command {
        let mut command = Command::new(bin(DAEMON));
        without_steering(&mut command)
            .current_dir(self.root())
            .env("BUILD_DIR", self.root())
            .env("V0_PRUNE_INTERVAL", interval)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        command
    }

    fn spawn_tagged(&self, interval: &str, tag: &str) -> Daemon {
        let stdout_path = self
            .root()
            .parent()
            .expect("tree has a parent")
            .join(format!("stdout-{tag}.txt"));
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

    fn start_as_v0(&self) {
        let script = format!(
            "nohup '{}' >> logs/prune-daemon.log 2>&1 &",
            bin(DAEMON).display()
        );
        let mut sh = Command::new("sh");
        without_steering(&mut sh)
            .arg("-c")
            .arg(&script)
            .current_dir(self.root())
            .stdin(Stdio::null())
            .env("BUILD_DIR", self.root())
            .env("V0_PRUNE_INTERVAL", "1h");
        assert!(sh.status().expect("sh").success());
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
        v0_prune_testkit::signal(self.pid, signal).expect("signal the daemon");
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
    pub fn wait_ready(&mut self, tree: &TestBuildDir) {
        let ok = wait_until(PATIENCE, || {
            tree.daemon_pid() == Some(self.pid) && tree.count_in_log("Listening on") > 0
        });
        assert!(ok, "daemon not ready; log:\n{}", tree.daemon_log());
        assert!(
            self.running(),
            "the daemon exited; log:\n{}",
            tree.daemon_log()
        );
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
