//! `v0-prune top --demo`: a throw-away v0 project that keeps giving the
//! daemon something to prune, so a newcomer sees every part of the
//! dashboard move within seconds.
//!
//! The project is generated in a temporary directory; its daemon runs with a
//! short interval and a retention shorter than the age of most of the data, and
//! a background task appends fresh log lines every second, which age past
//! the retention and are reclaimed by the following runs. On quit the daemon
//! is drained (whichever one runs then: `d` and `s` may have replaced it) and
//! the directory removed.

use std::io::Write;
use std::time::Duration;

use anyhow::Context;
use tempfile::TempDir;
use tokio::process::Child;
use tokio::task::JoinHandle;
use v0_prune_shared::client::{Client, ClientError};
use v0_prune_shared::paths::BuildDir;

use v0_prune_shared::demo::{self, DemoSpec};

use crate::spawn;

/// Seconds between the demo daemon's runs.
const INTERVAL: &str = "10s";

/// How old a line must be to go: three intervals, so each run finds about one
/// interval's worth of appended lines expired.
const RETENTION: &str = "30s";

/// Lines the background writer appends each second.
const LINES_PER_SECOND: usize = 40;

/// How long the drain on quit may take before the daemon is killed.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

/// A running demo: the project, its daemon and its writer.
pub(super) struct Demo {
    dir: TempDir,
    build: BuildDir,
    daemon: Child,
    writer: JoinHandle<()>,
}

impl Demo {
    /// Generates the project, starts its daemon and the writer.
    pub(super) async fn start() -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("v0-prune-demo-")
            .tempdir()
            .context("creating a temporary directory for the demo")?;
        // Data aged against the demo's short retention, so the first runs
        // already have plenty to reclaim.
        let spec = DemoSpec {
            retention: Duration::from_secs(30),
            ..DemoSpec::default()
        };
        let root = dir.path().to_owned();
        let project = tokio::task::spawn_blocking(move || demo::generate(&root, &spec))
            .await
            .context("generating the demo project")?
            .context("generating the demo project")?;
        let build = project.build_dir.clone();
        let daemon = spawn::spawn_daemon(&build, &daemon_env())
            .with_context(|| format!("starting {} for the demo", spawn::DAEMON_BIN))?;
        let writer = tokio::spawn(append_forever(build.clone()));
        Ok(Self {
            dir,
            build,
            daemon,
            writer,
        })
    }

    /// The demo's build directory.
    pub(super) fn build(&self) -> &BuildDir {
        &self.build
    }

    /// The settings a daemon of the demo runs with (also used by `s`).
    pub(super) fn daemon_env(&self) -> Vec<(String, String)> {
        daemon_env()
    }

    /// Stops the writer, drains the daemon and removes the project.
    pub(super) async fn stop(mut self) -> anyhow::Result<()> {
        self.writer.abort();
        // Not eprintln!: after a SIGHUP the terminal is gone, and a failed
        // write must not stop the clean-up.
        say("Draining the demo daemon...");
        let drained = drain(&self.build).await;
        // Our own child: reap it (it exited with the drain, unless `d`
        // already stopped it), or kill it if the drain failed.
        if drained.is_err() {
            let _ = self.daemon.start_kill();
        }
        let _ = tokio::time::timeout(Duration::from_secs(5), self.daemon.wait()).await;
        let path = self.dir.path().display().to_string();
        self.dir
            .close()
            .with_context(|| format!("removing the demo project {path}"))?;
        say(&format!("Removed the demo project {path}"));
        drained
    }
}

fn say(line: &str) {
    let _ = writeln!(std::io::stderr(), "{line}");
}

fn daemon_env() -> Vec<(String, String)> {
    vec![
        ("V0_PRUNE_INTERVAL".to_owned(), INTERVAL.to_owned()),
        ("V0_PRUNE_RETENTION".to_owned(), RETENTION.to_owned()),
    ]
}

/// Drains whichever daemon runs for `build` and waits for it to exit,
/// killing it after [`DRAIN_TIMEOUT`].
async fn drain(build: &BuildDir) -> anyhow::Result<()> {
    let client = match Client::connect(build, "v0-prune top --demo").await {
        Ok(client) => client,
        Err(ClientError::NotRunning { .. }) => return Ok(()),
        Err(err) => return Err(err).context("reaching the demo daemon to drain it"),
    };
    let draining = client.drain().await.context("draining the demo daemon")?;
    let pid = draining.daemon_pid();
    match tokio::time::timeout(DRAIN_TIMEOUT, draining.wait_for_exit()).await {
        Ok(result) => result.context("waiting for the demo daemon to exit"),
        Err(_) => {
            if let Some(pid) = i32::try_from(pid)
                .ok()
                .and_then(rustix::process::Pid::from_raw)
            {
                let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
            }
            anyhow::bail!(
                "the demo daemon (pid {pid}) did not exit within {DRAIN_TIMEOUT:?}; killed it"
            )
        }
    }
}

/// Appends fresh lines every second until aborted, so the project never
/// runs out of data to age and prune.
async fn append_forever(build: BuildDir) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tick.tick().await;
        let build = build.clone();
        let now = jiff::Timestamp::now();
        // A failure (the directory being removed at the end) just skips a beat.
        let _ = tokio::task::spawn_blocking(move || {
            demo::append_fresh_lines(&build, now, LINES_PER_SECOND)
        })
        .await;
    }
}
