//! Daemon states for tests: a snapshot of a daemon with a day of history,
//! and Apps brought into each state through their own update methods.

use std::time::Duration;

use jiff::tz::TimeZone;
use v0_prune_shared::client::Update;
use v0_prune_shared::protocol::{
    DaemonState, Event, RunOutcome, RunRecord, Snapshot, Totals, Trigger,
};

use super::app::App;
use super::conn::{Down, DownKind, LinkEvent};

/// 2026-11-28T12:00:00Z: the fixed "now" every fixture is drawn at.
pub const NOW: i64 = 1_795_867_200_000;

/// The build directory in every fixture.
pub const BUILD: &str = "/home/dev/shop/.v0/build";

const HOUR: i64 = 3_600_000;

/// A finished run.
pub fn record(run_id: u64, started_at_ms: i64, bytes: u64) -> RunRecord {
    let duration_ms = 400 + run_id * 37 % 900;
    RunRecord {
        run_id,
        trigger: if run_id == 1 {
            Trigger::Startup
        } else {
            Trigger::Schedule
        },
        started_at_ms,
        finished_at_ms: started_at_ms + i64::try_from(duration_ms).unwrap_or(0),
        duration_ms,
        dry_run: false,
        log_files_examined: 24,
        log_files_pruned: run_id % 7 + 1,
        log_lines_removed: bytes / 96,
        log_bytes_reclaimed: bytes - bytes / 10,
        queue_entries_removed: run_id % 3,
        queue_bytes_reclaimed: bytes / 10,
        bytes_reclaimed: bytes,
        skipped: Vec::new(),
        skipped_total: run_id % 2,
        errors: Vec::new(),
        outcome: RunOutcome::Ok,
        budget: None,
    }
}

/// Twelve hourly runs, the last one finished 2m 10s before [`NOW`]; run 9
/// had an error.
pub fn history() -> Vec<RunRecord> {
    const BYTES: [u64; 12] = [
        8_234_112, 1_310_720, 2_202_009, 845_312, 3_565_158, 120_000, 0, 2_936_012, 1_048_576,
        5_452_595, 734_003, 3_565_158,
    ];
    let last_start = NOW - 130_000 - 1_240;
    (0..12u64)
        .map(|i| {
            let start = last_start - (11 - i64::try_from(i).unwrap_or(0)) * HOUR;
            let mut run = record(i + 1, start, BYTES[usize::try_from(i).unwrap_or(0)]);
            if i + 1 == 9 {
                run.errors = vec!["queue.json: entry 14 has no status".to_owned()];
                run.outcome = RunOutcome::WithErrors;
            }
            if i + 1 == 12 {
                run.duration_ms = 1_240;
                run.finished_at_ms = NOW - 130_000;
            }
            run
        })
        .collect()
}

/// The daemon's log as the snapshot brings it.
pub fn log_tail() -> Vec<String> {
    let mut lines = vec![
        "[2026-11-28T09:57:48Z] Prune daemon starting (PID: 4242, interval: 3600s)".to_owned(),
    ];
    for (hour, minute) in [(10, 57), (11, 57)] {
        lines.extend([
            format!("[2026-11-28T{hour}:{minute}:48Z] Starting pruning..."),
            format!("[2026-11-28T{hour}:{minute}:48Z] logs/feature-login/worker.log: 9,120 lines removed"),
            format!("[2026-11-28T{hour}:{minute}:49Z] mergeq: 2 entries removed"),
            format!("[2026-11-28T{hour}:{minute}:49Z] Pruning complete (3.4 MiB reclaimed)"),
            format!("[2026-11-28T{hour}:{minute}:49Z] Sleeping for 3600s until next prune cycle"),
        ]);
    }
    lines
}

/// An idle daemon with [`history`], next run in 57m 48s.
pub fn snapshot() -> Snapshot {
    let history = history();
    let mut totals = Totals::default();
    for run in &history {
        totals.add(run);
    }
    Snapshot {
        daemon_pid: 4242,
        daemon_version: "0.1.0".to_owned(),
        project: Some("shop".to_owned()),
        build_dir: BUILD.to_owned(),
        started_at_ms: NOW - 11 * HOUR - 2 * 60_000 - 12_000,
        state: DaemonState::Idle,
        current_run: None,
        last_run: history.last().cloned(),
        next_run_at_ms: Some(NOW + 57 * 60_000 + 48_000),
        interval_secs: 3600,
        retention_secs: 6 * 3600,
        totals,
        history,
        log_tail: log_tail(),
        budget: None,
    }
}

/// A fresh App at [`NOW`] in UTC, not connected yet.
pub fn app() -> App {
    App::new(BUILD, TimeZone::UTC, NOW, true)
}

/// Feeds the App one event with the next sequence number.
pub fn event(app: &mut App, event: Event) {
    let seq = app.seq().map_or(1, |s| s + 1);
    app.on_link(LinkEvent::Update(Update::Event { seq, event }));
}

/// Connected to an idle daemon with history.
pub fn idle() -> App {
    let mut app = app();
    app.on_link(LinkEvent::Update(Update::Snapshot {
        seq: 100,
        snapshot: Box::new(snapshot()),
    }));
    app
}

/// Run 13 in progress, requested from the dashboard, 14 of 40 files done.
pub fn running() -> App {
    let mut app = idle();
    event(
        &mut app,
        Event::StateChanged {
            state: DaemonState::Running,
        },
    );
    event(
        &mut app,
        Event::RunStarted {
            run_id: 13,
            trigger: Trigger::Request,
            started_at_ms: NOW - 4_000,
        },
    );
    event(
        &mut app,
        Event::Progress {
            run_id: 13,
            files_done: 14,
            files_total: 40,
            bytes_reclaimed: 1_153_434,
            current: Some("logs/feature-login/worker.log".to_owned()),
        },
    );
    event(
        &mut app,
        Event::LogLine {
            line: "[2026-11-28T11:59:56Z] Starting pruning...".to_owned(),
        },
    );
    app
}

/// Draining after the user confirmed `d` during run 13.
pub fn draining() -> App {
    let mut app = running();
    app.apply(super::input::Action::AskDrain);
    app.apply(super::input::Action::ConfirmDrain);
    event(
        &mut app,
        Event::StateChanged {
            state: DaemonState::Draining,
        },
    );
    event(
        &mut app,
        Event::LogLine {
            line: "[2026-11-28T11:59:58Z] Drain requested by v0-prune top, will exit after current operation".to_owned(),
        },
    );
    app
}

/// The daemon went away after a drain; the last known figures stay.
pub fn not_running() -> App {
    let mut app = draining();
    event(
        &mut app,
        Event::Exiting {
            reason: "drain requested by v0-prune top".to_owned(),
        },
    );
    app.on_link(LinkEvent::Down(Down {
        kind: DownKind::Closed,
        attempt: 0,
        retry_in: Duration::from_millis(250),
    }));
    app.on_link(LinkEvent::Down(Down {
        kind: DownKind::NotRunning,
        attempt: 3,
        retry_in: Duration::from_secs(2),
    }));
    app.notice = None;
    app
}

/// Never connected: no daemon for this build directory.
pub fn never_running() -> App {
    let mut app = app();
    app.on_link(LinkEvent::Down(Down {
        kind: DownKind::NotRunning,
        attempt: 1,
        retry_in: Duration::from_secs(2),
    }));
    app
}

/// The connection broke unexpectedly; reconnecting.
pub fn disconnected() -> App {
    let mut app = idle();
    app.on_link(LinkEvent::Down(Down {
        kind: DownKind::Failed(
            "connection error: Connection reset by peer (os error 104)".to_owned(),
        ),
        attempt: 2,
        retry_in: Duration::from_secs(3),
    }));
    app
}
