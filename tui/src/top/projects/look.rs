//! Looking at every project of the machine: v0's registry
//! (`config::registry::discover_all`), each daemon asked for its status in
//! parallel (bounded by a timeout each), and for a daemon that is down its
//! figures read without it: the last run and totals from its history file,
//! the logs' size from the engine's own walk. Nothing here executes anything
//! or writes anything.

use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinSet;
use v0_prune_shared::client::{Client, ClientError};
use v0_prune_shared::config::registry::{self, Found, Registered};
use v0_prune_shared::paths::BuildDir;
use v0_prune_shared::prune::logs;

use super::{Daemon, ProjectRow};
use crate::top::conn::CLIENT_NAME;

/// How often the Projects view is refreshed.
pub const REFRESH_EVERY: Duration = Duration::from_secs(2);

/// How long one daemon gets to answer.
const ASK_TIMEOUT: Duration = Duration::from_millis(1_500);

/// Starts the refresh task: a look now, then one every [`REFRESH_EVERY`].
/// The channel holds one look: a slow screen gets the newest, never a
/// backlog; the task ends when the receiver is dropped.
pub fn spawn_refresher() -> mpsc::Receiver<Vec<ProjectRow>> {
    let (tx, rx) = mpsc::channel(1);
    tokio::spawn(async move {
        loop {
            let rows = look().await;
            if tx.send(rows).await.is_err() {
                return;
            }
            tokio::time::sleep(REFRESH_EVERY).await;
        }
    });
    rx
}

/// Every project of the machine, each looked at in parallel.
pub async fn look() -> Vec<ProjectRow> {
    let entries = tokio::task::spawn_blocking(registry::discover_all)
        .await
        .unwrap_or_default();
    let mut asks = JoinSet::new();
    for (index, entry) in entries.into_iter().enumerate() {
        asks.spawn(async move { (index, row(entry).await) });
    }
    let mut rows = Vec::new();
    while let Some(joined) = asks.join_next().await {
        if let Ok(row) = joined {
            rows.push(row);
        }
    }
    rows.sort_by_key(|(index, _)| *index);
    rows.into_iter().map(|(_, row)| row).collect()
}

async fn row(entry: Registered) -> ProjectRow {
    let mut row = ProjectRow {
        name: entry.name,
        root: None,
        build: None,
        daemon: Daemon::NotRunning,
        last_run: None,
        next_run_at_ms: None,
        reclaimed: None,
        logs_bytes: None,
    };
    let project = match entry.found {
        Found::Project(project) => project,
        Found::Gone { root } => {
            row.root = Some(root.display().to_string());
            row.daemon = Daemon::Gone;
            return row;
        }
        Found::Refused { root, reason } => {
            row.root = root.map(|r| r.display().to_string());
            row.daemon = Daemon::Refused { reason };
            return row;
        }
    };
    let build = project.build_dir.clone();
    row.root = project.root.as_ref().map(|r| r.display().to_string());
    row.build = Some(build.clone());
    if !build.root().is_dir() {
        row.daemon = Daemon::NoBuildDir;
        return row;
    }
    match ask(&build).await {
        Ok(snapshot) => {
            row.daemon = Daemon::Running {
                pid: snapshot.daemon_pid,
                state: snapshot.state,
            };
            row.last_run = snapshot.last_run;
            row.next_run_at_ms = snapshot.next_run_at_ms;
            row.reclaimed = Some(snapshot.totals.bytes_reclaimed);
            row.logs_bytes = snapshot.files.as_ref().map(|f| f.total_bytes);
            if row.logs_bytes.is_none() {
                row.logs_bytes = Some(on_disk(build).await);
            }
        }
        Err(err) => {
            row.daemon = match err {
                ClientError::NotRunning { .. } => Daemon::NotRunning,
                other => Daemon::NotAnswering {
                    error: other.to_string(),
                },
            };
            let read = build.clone();
            let history = tokio::task::spawn_blocking(move || read_history(&read))
                .await
                .ok()
                .flatten();
            if let Some(history) = history {
                row.last_run = history.runs.back().cloned();
                row.reclaimed = Some(history.totals.bytes_reclaimed);
            }
            row.logs_bytes = Some(on_disk(build).await);
        }
    }
    row
}

async fn ask(build: &BuildDir) -> Result<v0_prune_shared::protocol::Snapshot, ClientError> {
    Client::connect_with_timeout(build, CLIENT_NAME, ASK_TIMEOUT)
        .await?
        .status()
        .await
}

/// The daemon's run history, read as `status` reads it for a daemon that is down.
fn read_history(build: &BuildDir) -> Option<v0_prune_daemon::History> {
    let bytes = std::fs::read(v0_prune_daemon::history_path(build)).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// The `*.log` files' total size, by the engine's walk (no links followed).
async fn on_disk(build: BuildDir) -> u64 {
    tokio::task::spawn_blocking(move || {
        logs::walk(build.root())
            .map(|walk| walk.logs.iter().map(|log| log.len).sum())
            .unwrap_or(0)
    })
    .await
    .unwrap_or(0)
}
