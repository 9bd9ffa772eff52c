//! The plain `v0-prune`'s second half: once the operations are done, hand
//! the logs and merge queue to the prune daemon (starting it if needed) and
//! return at once, as v0's `prune` does; with `--wait`, follow the daemon's
//! run to its end and print the daemon's own summary of it.
//!
//! Anything that keeps the daemon from taking the work becomes a
//! [`Fallback`]: the caller says so and prunes in its own process instead.

use std::fmt;
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context as _, anyhow};
use rustix::process::Signal;
use serde::Serialize;
use v0_prune_shared::client::{Client, ClientError, Update};
use v0_prune_shared::config::Project;
use v0_prune_shared::protocol::{RunOutcome, RunRecord, Snapshot};
use v0_prune_shared::units::{human_bytes, human_duration};
use v0_prune_shared::words::counted;

use crate::daemon_ctl::{self, DaemonPid, DaemonProcess};

/// The client name the daemon's log shows for the hand-off.
const CLIENT_NAME: &str = "v0-prune";

/// How long a daemon that holds its lock but has no socket yet (it is
/// starting) may take before we fall back to signalling it.
const SOCKET_GRACE: Duration = Duration::from_secs(2);

/// What the daemon took on.
#[derive(Debug, Clone, Serialize)]
pub struct HandOff {
    /// The daemon's pid.
    pub daemon_pid: u32,
    /// We started the daemon (it was not running); its start-up run does the work.
    pub started: bool,
    /// The run that covers this request, when the daemon said (not when it
    /// was only signalled, as v0 does, for want of a socket).
    pub run_id: Option<u64>,
    /// The daemon's log, where the run will be reported.
    pub log: PathBuf,
    /// With `--wait`: the daemon's record of the finished run.
    pub finished: Option<RunRecord>,
}

impl HandOff {
    /// With `--wait`, whether the daemon's run reported errors (`Exit::Error`):
    /// a job stopped part-way, or the run panicked.
    pub fn failed(&self) -> bool {
        self.finished.as_ref().is_some_and(|run| {
            !run.errors.is_empty() || (run.outcome != RunOutcome::Ok && run.failed_total == 0)
        })
    }

    /// With `--wait`, how many items the daemon's run could not prune (a
    /// full disk, an I/O error, a permission): `Exit::NotPruned` when there are some.
    pub fn not_pruned(&self) -> u64 {
        self.finished.as_ref().map_or(0, |run| run.failed_total)
    }
}

/// The daemon could not take the work: prune in this process instead.
#[derive(Debug)]
pub struct Fallback(anyhow::Error);

impl fmt::Display for Fallback {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "could not hand pruning to the background daemon ({}); pruning logs and the merge queue here instead",
            v0_prune_shared::words::error_chain(self.0.as_ref())
        )
    }
}

impl From<anyhow::Error> for Fallback {
    fn from(err: anyhow::Error) -> Self {
        Self(err)
    }
}

/// Hands the logs and merge queue to the daemon of `project`: starts it if
/// it is not running, asks it to run now, prints v0's `Pruning logs in
/// background...` and `View logs: tail -f <log>` on `out` (the command dim
/// when `color`, as v0's `C_DIM`), and returns. With `wait`, also waits for
/// that run and prints its summary (errors on `err`).
///
/// With the daemon running this is one connection and two round trips.
pub fn hand_off(
    project: &Project,
    wait: bool,
    color: bool,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<HandOff, Fallback> {
    daemon_ctl::block_on(hand_off_async(project, wait, color, out, err))?
}

async fn hand_off_async(
    project: &Project,
    wait: bool,
    color: bool,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<HandOff, Fallback> {
    let build = &project.build_dir;
    let log = build.daemon_log();
    // Any run that starts from now on covers what the caller changed.
    let asked_at_ms = jiff::Timestamp::now().as_millisecond();
    let (client, started) = match Client::connect(build, CLIENT_NAME).await {
        Ok(client) => (client, false),
        Err(ClientError::NotRunning { .. }) => match daemon_ctl::daemon_process(build) {
            DaemonProcess::NotRunning => (daemon_ctl::start(project).await?, true),
            DaemonProcess::Running { pid } => match socket_after_grace(project).await {
                Some(client) => (client, false),
                None => return signal_only(pid, wait, color, log, out).map_err(Fallback),
            },
        },
        Err(error) => {
            return Err(Fallback(
                anyhow::Error::new(error).context("the running daemon did not take the request"),
            ));
        }
    };
    let daemon_pid = client.daemon_pid();
    let mut handoff = HandOff {
        daemon_pid,
        started,
        run_id: None,
        log,
        finished: None,
    };
    if !wait {
        if !started {
            // A daemon we just started prunes at once: asking again would
            // only queue a second run behind that one.
            let mut client = client;
            let run = client
                .run_now()
                .await
                .context("asking the daemon to run now")?;
            handoff.run_id = Some(run.run_id);
        }
        announce(out, &handoff, color).map_err(write_failed)?;
        return Ok(handoff);
    }

    // Subscribe before asking, so the run's end cannot slip past unseen.
    let mut events = client
        .subscribe()
        .await
        .context("following the daemon's events")?;
    let snapshot = match events.next().await.context("reading the daemon's state")? {
        Some(Update::Snapshot { snapshot, .. }) => *snapshot,
        _ => return Err(Fallback(anyhow!("the daemon sent no snapshot"))),
    };
    let run_id = match covering_run(&snapshot, started, asked_at_ms) {
        Some(run_id) => run_id,
        None => {
            let mut asker = Client::connect(build, CLIENT_NAME)
                .await
                .context("connecting to ask for a run")?;
            asker
                .run_now()
                .await
                .context("asking the daemon to run now")?
                .run_id
        }
    };
    handoff.run_id = Some(run_id);
    announce(out, &handoff, color).map_err(write_failed)?;
    writeln!(out, "Waiting for the daemon's run #{run_id} to finish...").map_err(write_failed)?;
    out.flush().map_err(write_failed)?;
    let record = match already_finished(&snapshot, run_id) {
        Some(record) => record,
        None => events
            .wait_for_run(run_id)
            .await
            .with_context(|| format!("waiting for the daemon's run #{run_id}"))?,
    };
    write_record(out, err, &record).map_err(write_failed)?;
    handoff.finished = Some(record);
    Ok(handoff)
}

/// For a daemon we just started: the run that covers the request without
/// asking for another, i.e. its start-up run, whether running or done.
fn covering_run(snapshot: &Snapshot, started: bool, asked_at_ms: i64) -> Option<u64> {
    if !started {
        return None;
    }
    if let Some(run) = &snapshot.current_run {
        return Some(run.run_id);
    }
    snapshot
        .last_run
        .as_ref()
        .filter(|run| run.started_at_ms >= asked_at_ms)
        .map(|run| run.run_id)
}

fn already_finished(snapshot: &Snapshot, run_id: u64) -> Option<RunRecord> {
    snapshot
        .last_run
        .iter()
        .chain(&snapshot.history)
        .find(|run| run.run_id == run_id)
        .cloned()
}

/// A daemon that holds its lock but has no socket is usually starting:
/// give it a moment to bind.
async fn socket_after_grace(project: &Project) -> Option<Client> {
    let build = &project.build_dir;
    let deadline = tokio::time::Instant::now() + SOCKET_GRACE;
    loop {
        if let Ok(client) = Client::connect(build, CLIENT_NAME).await {
            return Some(client);
        }
        if tokio::time::Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A daemon running without a socket still wakes on SIGUSR1, as v0's does;
/// only following its run needs the socket.
fn signal_only(
    pid: Option<u32>,
    wait: bool,
    color: bool,
    log: PathBuf,
    out: &mut dyn Write,
) -> anyhow::Result<HandOff> {
    let pid = pid.ok_or_else(|| {
        anyhow!("a prune daemon holds the lock but neither answers on its socket nor names its pid")
    })?;
    if wait {
        return Err(anyhow!(
            "the prune daemon (pid {pid}) does not answer on its socket, so its run cannot be followed"
        ));
    }
    DaemonPid::open(pid)
        .signal(Signal::USR1)
        .with_context(|| format!("waking the prune daemon (pid {pid}) with SIGUSR1"))?;
    let handoff = HandOff {
        daemon_pid: pid,
        started: false,
        run_id: None,
        log,
        finished: None,
    };
    announce(out, &handoff, color)?;
    Ok(handoff)
}

/// v0's two lines; `color` dims the command as v0's `C_DIM`/`C_RESET` do.
fn announce(out: &mut dyn Write, handoff: &HandOff, color: bool) -> std::io::Result<()> {
    let (dim, reset) = if color {
        ("\x1b[2m", "\x1b[0m")
    } else {
        ("", "")
    };
    writeln!(out, "Pruning logs in background...")?;
    writeln!(
        out,
        "View logs: {dim}tail -f {}{reset}",
        handoff.log.display()
    )?;
    out.flush()
}

fn write_failed(err: std::io::Error) -> Fallback {
    Fallback(anyhow::Error::new(err).context("writing to stdout"))
}

/// Prints the daemon's record of a run in the words of the synchronous
/// report: what went, what stayed and why, and the bytes reclaimed.
pub fn write_record(
    out: &mut dyn Write,
    err: &mut dyn Write,
    record: &RunRecord,
) -> std::io::Result<()> {
    writeln!(
        out,
        "Run #{} finished in {}",
        record.run_id,
        human_duration(Duration::from_millis(record.duration_ms))
    )?;
    let verb = if record.dry_run {
        "Would prune"
    } else {
        "Pruned"
    };
    let (files, lines, entries) = (
        record.log_files_pruned,
        record.log_lines_removed,
        record.queue_entries_removed,
    );
    if files > 0 {
        writeln!(
            out,
            "{verb} {} from {files} of {} ({})",
            counted(lines, "log line", "log lines"),
            counted(record.log_files_examined, "log file", "log files"),
            human_bytes(record.log_bytes_reclaimed)
        )?;
    }
    if entries > 0 {
        writeln!(
            out,
            "{verb} {} ({})",
            counted(entries, "mergeq entry", "mergeq entries"),
            human_bytes(record.queue_bytes_reclaimed)
        )?;
    }
    for skipped in &record.skipped {
        writeln!(out, "Skipped {}: {}", skipped.item, skipped.reason)?;
    }
    let unlisted = record
        .skipped_total
        .saturating_sub(record.skipped.len() as u64);
    if unlisted > 0 {
        writeln!(
            out,
            "... and {unlisted} more skipped (see the daemon's log)"
        )?;
    }
    crate::report::write_failures(out, &record.failed)?;
    let unlisted = record
        .failed_total
        .saturating_sub(record.failed.len() as u64);
    if unlisted > 0 {
        writeln!(
            out,
            "... and {unlisted} more that could not be pruned (see the daemon's log)"
        )?;
    }
    let not_pruned = record.not_pruned_summary();
    if files == 0 && entries == 0 {
        if not_pruned.is_none() {
            writeln!(out, "No expired log lines or mergeq entries to prune")?;
        }
    } else {
        let total = crate::report::run_total(lines, files, entries);
        let bytes = human_bytes(record.bytes_reclaimed);
        if record.dry_run {
            writeln!(out, "Would reclaim {bytes} ({total})")?;
        } else {
            writeln!(out, "Reclaimed {bytes} ({total})")?;
        }
    }
    crate::report::write_budget(out, record.budget.as_deref(), record.dry_run)?;
    crate::report::write_not_pruned(out, not_pruned)?;
    for error in &record.errors {
        writeln!(err, "Error: {error}")?;
    }
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use v0_prune_shared::protocol::{RunProgress, Trigger};
    use v0_prune_shared::prune::Skipped;

    fn record(run_id: u64) -> RunRecord {
        RunRecord {
            trigger: Trigger::Request,
            skipped: vec![Skipped {
                item: "logs/worker.log".into(),
                reason: "held open by a writer without O_APPEND (pid 7)".into(),
            }],
            skipped_total: 4,
            errors: vec!["merge queue: unreadable".into()],
            outcome: RunOutcome::WithErrors,
            ..v0_prune_testkit::records::small_run(run_id, 1_000_000)
        }
    }

    #[test]
    fn the_record_reads_like_the_synchronous_report() {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        write_record(&mut out, &mut err, &record(12)).expect("write");
        assert_eq!(
            String::from_utf8(out).expect("utf-8"),
            "Run #12 finished in 1s\n\
             Pruned 120 log lines from 3 of 40 log files (3.0 KiB)\n\
             Pruned 2 mergeq entries (200 B)\n\
             Skipped logs/worker.log: held open by a writer without O_APPEND (pid 7)\n\
             ... and 3 more skipped (see the daemon's log)\n\
             Reclaimed 3.2 KiB (120 log lines from 3 files, 2 mergeq entries)\n"
        );
        assert_eq!(
            String::from_utf8(err).expect("utf-8"),
            "Error: merge queue: unreadable\n"
        );
    }

    #[test]
    fn an_empty_run_says_there_was_nothing_to_prune() {
        let mut empty = record(3);
        empty.log_files_pruned = 0;
        empty.queue_entries_removed = 0;
        empty.skipped.clear();
        empty.skipped_total = 0;
        let (mut out, mut err) = (Vec::new(), Vec::new());
        write_record(&mut out, &mut err, &empty).expect("write");
        let out = String::from_utf8(out).expect("utf-8");
        assert!(
            out.ends_with("No expired log lines or mergeq entries to prune\n"),
            "{out}"
        );
    }

    /// The daemon's run could not prune a log: not "nothing to prune", and
    /// `--wait` exits 7 for it, not 1.
    #[test]
    fn a_run_that_could_not_prune_a_log_says_so_and_is_no_error() {
        let mut full = record(4);
        full.log_files_pruned = 0;
        full.queue_entries_removed = 0;
        full.skipped.clear();
        full.skipped_total = 0;
        full.errors.clear();
        full.failed = vec![Skipped {
            item: "logs/big.log".into(),
            reason: "no space left on device: free some".into(),
        }];
        full.failed_total = 1;
        full.log_files_failed = 1;
        let (mut out, mut err) = (Vec::new(), Vec::new());
        write_record(&mut out, &mut err, &full).expect("write");
        let out = String::from_utf8(out).expect("utf-8");
        assert!(!out.contains("No expired"), "{out}");
        assert!(
            out.contains("\nCould not prune logs/big.log: no space left on device: free some\n"),
            "{out}"
        );
        assert!(
            out.contains("Incomplete: 1 log could not be pruned (no space left on device)"),
            "{out}"
        );
        let handoff = HandOff {
            daemon_pid: 7,
            started: false,
            run_id: Some(4),
            log: PathBuf::from("/p/.v0/build/logs/prune-daemon.log"),
            finished: Some(full),
        };
        assert!(!handoff.failed());
        assert_eq!(handoff.not_pruned(), 1);
    }

    #[test]
    fn the_announcement_is_v0_s_dimmed_only_with_colour() {
        let handoff = HandOff {
            daemon_pid: 7,
            started: true,
            run_id: None,
            log: PathBuf::from("/p/.v0/build/logs/prune-daemon.log"),
            finished: None,
        };
        let mut plain = Vec::new();
        announce(&mut plain, &handoff, false).expect("write");
        assert_eq!(
            String::from_utf8(plain).expect("utf-8"),
            "Pruning logs in background...\n\
             View logs: tail -f /p/.v0/build/logs/prune-daemon.log\n"
        );
        let mut dim = Vec::new();
        announce(&mut dim, &handoff, true).expect("write");
        assert!(
            String::from_utf8(dim)
                .expect("utf-8")
                .ends_with("View logs: \x1b[2mtail -f /p/.v0/build/logs/prune-daemon.log\x1b[0m\n")
        );
    }

    #[test]
    fn a_fresh_daemon_s_start_up_run_covers_the_request() {
        let mut state = crate::cmd::status::test_support::snapshot();
        assert_eq!(covering_run(&state, true, 500), None);
        state.current_run = Some(RunProgress {
            run_id: 7,
            trigger: Trigger::Startup,
            started_at_ms: 1_000,
            files_done: 0,
            files_total: 0,
            bytes_reclaimed: 0,
            current: None,
        });
        assert_eq!(covering_run(&state, true, 500), Some(7));
        assert_eq!(covering_run(&state, false, 500), None, "not ours: ask");
        state.current_run = None;
        state.last_run = Some(record(7));
        assert_eq!(covering_run(&state, true, 500), Some(7));
        // A run from before the request (an older daemon's) covers nothing.
        assert_eq!(covering_run(&state, true, 2_000_000), None);
        assert_eq!(already_finished(&state, 7).map(|r| r.run_id), Some(7));
        assert_eq!(already_finished(&state, 8), None);
    }
}
