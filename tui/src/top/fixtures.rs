//! Daemon states for tests: a snapshot of a daemon with a day of history,
//! and Apps brought into each state through their own update methods.

use std::time::Duration;

use jiff::tz::TimeZone;
use v0_prune_shared::client::Update;
use v0_prune_shared::protocol::files::{
    FileHolder, FileInfo, FileMethod, FileRun, FilesView, HolderAccess, QueueInfo, StatusCount,
};
use v0_prune_shared::protocol::{DaemonState, Event, RunOutcome, RunRecord, Snapshot, Trigger};
use v0_prune_testkit::records;

use super::app::App;
use super::conn::{Down, DownKind, LinkEvent};

/// 2026-11-28T12:00:00Z: the fixed "now" every fixture is drawn at.
pub const NOW: i64 = 1_795_867_200_000;

/// The build directory in every fixture.
pub const BUILD: &str = "/home/dev/shop/.v0/build";

const HOUR: i64 = 3_600_000;

/// A finished run: the first at start-up, the others scheduled.
pub fn record(run_id: u64, started_at_ms: i64, bytes: u64) -> RunRecord {
    let trigger = if run_id == 1 {
        Trigger::Startup
    } else {
        Trigger::Schedule
    };
    RunRecord {
        trigger,
        ..records::run_record(run_id, started_at_ms, bytes)
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
    Snapshot {
        started_at_ms: NOW - 11 * HOUR - 2 * 60_000 - 12_000,
        next_run_at_ms: Some(NOW + 57 * 60_000 + 48_000),
        log_tail: log_tail(),
        files: Some(files_view()),
        ..records::idle_snapshot("shop", BUILD, history())
    }
}

const MIB: u64 = 1024 * 1024;

fn file(path: &str, size: u64, age_hours: Option<i64>, method: FileMethod) -> FileInfo {
    FileInfo {
        path: path.to_owned(),
        size,
        lines_removed: 0,
        bytes_reclaimed: 0,
        oldest_entry_ms: age_hours.map(|h| NOW - h * HOUR - 17 * 60_000),
        holders: Vec::new(),
        method,
        next_reclaim: Some(0),
        growth_per_hour: None,
        recent: Vec::new(),
    }
}

/// The last four runs' look at a file of `size` bytes that gave back
/// `reclaimed` each time.
fn recent(size: u64, reclaimed: u64) -> Vec<FileRun> {
    (9..=12)
        .map(|run_id: u64| FileRun {
            run_id,
            at_ms: NOW - 130_000 - i64::try_from(12 - run_id).unwrap_or(0) * HOUR,
            size_before: size,
            bytes_reclaimed: reclaimed,
        })
        .collect()
}

/// What run 12 saw: seven logs (one skipped under a positional writer, one
/// of another user's outside the largest) and the merge queue.
pub fn files_view() -> FilesView {
    let mut worker = file(
        "logs/feature-login/worker.log",
        48 * MIB + 210 * 1024,
        Some(5),
        FileMethod::InPlace,
    );
    worker.lines_removed = 9_120;
    worker.bytes_reclaimed = 3 * MIB + 400 * 1024;
    worker.next_reclaim = Some(7 * MIB + 920 * 1024);
    worker.growth_per_hour = Some(8 * 1_048_576 + 100 * 1024);
    worker.holders = vec![FileHolder {
        pid: 5120,
        descriptors: 1,
        daemon: false,
        command: "python3".to_owned(),
        command_line: Some("python3 -m shop.worker --queue login --verbose".to_owned()),
        access: HolderAccess::Append,
    }];
    worker.recent = recent(46 * MIB, worker.bytes_reclaimed);

    let mut server = file(
        "logs/api/server.log",
        21 * MIB,
        Some(5),
        FileMethod::Rewrite,
    );
    server.lines_removed = 2_410;
    server.bytes_reclaimed = 640 * 1024;
    server.next_reclaim = None;
    server.growth_per_hour = Some(1_200 * 1024);
    server.recent = recent(20 * MIB, server.bytes_reclaimed);

    let mut agent = file(
        "logs/feature-cart/agent.log",
        12 * MIB + 300 * 1024,
        None,
        FileMethod::Skipped {
            reason: "held open for writing without O_APPEND by pid 6001 (bash); pruning under it would leave NUL bytes or lose lines".to_owned(),
        },
    );
    agent.growth_per_hour = Some(2 * 1_048_576);
    agent.holders = vec![FileHolder {
        pid: 6001,
        descriptors: 1,
        daemon: false,
        command: "bash".to_owned(),
        command_line: Some("bash -c exec 3<>logs/feature-cart/agent.log; ./agent".to_owned()),
        access: HolderAccess::Positional,
    }];

    let mut compile = file(
        "logs/build/compile.log",
        3 * MIB + 100 * 1024,
        Some(2),
        FileMethod::NothingToDo,
    );
    compile.growth_per_hour = Some(0);
    compile.holders = vec![FileHolder {
        pid: 7002,
        descriptors: 1,
        daemon: false,
        command: "tail-and-follow".to_owned(),
        command_line: Some("tail -f logs/build/compile.log".to_owned()),
        access: HolderAccess::Read,
    }];
    let mut merge = file("logs/mergeq.log", 640 * 1024, Some(6), FileMethod::Rewrite);
    merge.lines_removed = 310;
    merge.bytes_reclaimed = 41 * 1024;
    let deploy = file(
        "logs/deploy.log",
        96 * 1024,
        Some(1),
        FileMethod::NothingToDo,
    );
    let empty = file(
        "logs/feature-search/worker.log",
        0,
        None,
        FileMethod::NothingToDo,
    );
    let other_user = file(
        "logs/shared/cron.log",
        2_048,
        None,
        FileMethod::Skipped {
            reason: "owned by uid 1001, not by this user: left alone".to_owned(),
        },
    );
    let largest = vec![worker, server, agent, compile, merge, deploy, empty];
    FilesView {
        as_of_ms: NOW - 130_000,
        run_id: Some(12),
        total_files: 8,
        total_bytes: largest.iter().map(|f| f.size).sum::<u64>() + other_user.size,
        total_skipped: 2,
        total_reclaimed: 4 * MIB,
        total_next_reclaim: None,
        total_growth_per_hour: Some(11 * 1_048_576 + 300 * 1024),
        queue: Some(QueueInfo {
            path: "mergeq/queue.json".to_owned(),
            size: 12 * 1024,
            entries: 14,
            by_status: vec![
                StatusCount {
                    status: "completed".to_owned(),
                    entries: 10,
                },
                StatusCount {
                    status: "pending".to_owned(),
                    entries: 3,
                },
                StatusCount {
                    status: "failed".to_owned(),
                    entries: 1,
                },
            ],
            entries_removed: 2,
            bytes_reclaimed: 1_800,
            next_removable: Some(4),
        }),
        largest,
        skipped: vec![other_user],
    }
}

/// The Files view of an idle daemon, the skipped log selected.
pub fn files() -> App {
    let mut app = idle();
    app.apply(super::input::Action::SwitchView);
    for _ in 0..2 {
        app.apply(super::input::Action::Scroll(super::input::Scroll::LineDown));
    }
    app
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
