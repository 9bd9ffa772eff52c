//! State updates from protocol events and from actions.

use std::time::Duration;

use v0_prune_shared::client::{RunRequested, Update};
use v0_prune_shared::protocol::{DaemonState, Event, Trigger};

use super::*;
use crate::top::conn::{Down, DownKind, LinkEvent};
use crate::top::fixtures::{self, NOW, event, record};
use crate::top::input::{Action, Scroll};

#[test]
fn a_snapshot_connects_and_fills_history_newest_first() {
    let app = fixtures::idle();
    assert_eq!(app.link, Link::Connected);
    assert_eq!(app.status(), Status::Idle);
    assert_eq!(app.seq(), Some(100));
    let ids: Vec<u64> = app.history.iter().map(|r| r.run_id).collect();
    assert_eq!(ids, (1..=12).rev().collect::<Vec<_>>());
    assert_eq!(app.log.len(), fixtures::log_tail().len());
    // The daemon's state stays as its hub has it (Snapshot::apply).
    let daemon = app.daemon.as_ref().expect("daemon");
    assert_eq!(daemon.history.len(), 12);
    assert_eq!(daemon.log_tail.len(), fixtures::log_tail().len());
}

#[test]
fn events_apply_in_sequence_and_duplicates_are_ignored() {
    let mut app = fixtures::idle();
    let next = |seq, event| LinkEvent::Update(Update::Event { seq, event });
    let reaction = app.on_link(next(
        101,
        Event::StateChanged {
            state: DaemonState::Running,
        },
    ));
    assert_eq!(reaction, LinkReaction::Nothing);
    assert_eq!(app.status(), Status::Running);
    // Already covered by the snapshot or seen: ignored, state untouched.
    let reaction = app.on_link(next(
        100,
        Event::StateChanged {
            state: DaemonState::Idle,
        },
    ));
    assert_eq!(reaction, LinkReaction::Nothing);
    assert_eq!(app.status(), Status::Running);
    assert_eq!(app.seq(), Some(101));
}

#[test]
fn a_gap_in_sequence_numbers_asks_for_a_fresh_snapshot() {
    let mut app = fixtures::idle();
    let reaction = app.on_link(LinkEvent::Update(Update::Event {
        seq: 103,
        event: Event::NextRun { at_ms: NOW },
    }));
    assert_eq!(reaction, LinkReaction::Resubscribe);
    assert_eq!(app.seq(), None);
    // Until the new snapshot, every event asks again rather than guessing.
    let reaction = app.on_link(LinkEvent::Update(Update::Event {
        seq: 104,
        event: Event::NextRun { at_ms: NOW },
    }));
    assert_eq!(reaction, LinkReaction::Resubscribe);
}

#[test]
fn an_event_before_any_snapshot_asks_for_one() {
    let mut app = fixtures::app();
    let reaction = app.on_link(LinkEvent::Update(Update::Event {
        seq: 1,
        event: Event::LogLine { line: "x".into() },
    }));
    assert_eq!(reaction, LinkReaction::Resubscribe);
    assert!(app.log.is_empty());
}

#[test]
fn a_run_shows_progress_then_lands_in_history_and_totals() {
    let mut app = fixtures::running();
    let run = app.current_run().expect("a run in progress");
    assert_eq!((run.run_id, run.files_done, run.files_total), (13, 14, 40));
    let runs_before = app.daemon.as_ref().expect("daemon").totals.runs;
    let bytes_before = app.daemon.as_ref().expect("daemon").totals.bytes_reclaimed;

    let mut finished = record(13, NOW - 4_000, 2_000_000);
    finished.trigger = Trigger::Request;
    event(
        &mut app,
        Event::RunFinished {
            record: finished.clone(),
        },
    );
    event(
        &mut app,
        Event::StateChanged {
            state: DaemonState::Idle,
        },
    );

    assert!(app.current_run().is_none());
    assert_eq!(app.status(), Status::Idle);
    assert_eq!(app.history.front(), Some(&finished));
    assert_eq!(app.history.len(), 13);
    let daemon = app.daemon.as_ref().expect("daemon");
    assert_eq!(daemon.last_run.as_ref(), Some(&finished));
    assert_eq!(daemon.totals.runs, runs_before + 1);
    assert_eq!(daemon.totals.bytes_reclaimed, bytes_before + 2_000_000);
}

#[test]
fn a_run_finished_twice_is_recorded_once() {
    let mut app = fixtures::idle();
    let again = app.history.front().cloned().expect("a run");
    event(&mut app, Event::RunFinished { record: again });
    assert_eq!(app.history.len(), 12);
}

#[test]
fn a_new_run_keeps_the_selected_row_on_the_same_run() {
    let mut app = fixtures::idle();
    app.apply(Action::Scroll(Scroll::LineDown));
    app.apply(Action::Scroll(Scroll::LineDown));
    let selected = app.history[app.history_selected].run_id;
    event(
        &mut app,
        Event::RunFinished {
            record: record(13, NOW, 10),
        },
    );
    assert_eq!(app.history[app.history_selected].run_id, selected);
    // At the top, the newest run is the one selected.
    app.apply(Action::Scroll(Scroll::Top));
    event(
        &mut app,
        Event::RunFinished {
            record: record(14, NOW, 10),
        },
    );
    assert_eq!(app.history[app.history_selected].run_id, 14);
}

#[test]
fn log_lines_append_and_respect_the_filter() {
    let mut app = fixtures::idle();
    app.apply(Action::StartFilter);
    for c in "sigusr1".chars() {
        app.apply(Action::FilterChar(c));
    }
    // Typing does not filter yet; Enter does.
    assert_eq!(app.log.filter(), None);
    app.apply(Action::ApplyFilter);
    assert_eq!(app.mode, Mode::Normal);
    assert_eq!(app.log.filter(), Some("sigusr1"));
    assert_eq!(app.log.matching_len(), 0);
    let line = "[2026-11-28T12:00:00Z] Received SIGUSR1, waking up".to_owned();
    event(&mut app, Event::LogLine { line: line.clone() });
    event(
        &mut app,
        Event::LogLine {
            line: "[2026-11-28T12:00:00Z] Starting pruning...".into(),
        },
    );
    assert_eq!(app.log.window(10), [line.as_str()]);
    assert_eq!(app.log.len(), fixtures::log_tail().len() + 2);
}

#[test]
fn escape_in_the_filter_prompt_keeps_the_old_filter() {
    let mut app = fixtures::idle();
    app.log.set_filter("pruning");
    app.apply(Action::StartFilter);
    assert_eq!(
        app.mode,
        Mode::Filter {
            input: "pruning".into()
        }
    );
    app.apply(Action::FilterClear);
    app.apply(Action::FilterChar('z'));
    app.apply(Action::CancelFilter);
    assert_eq!(app.log.filter(), Some("pruning"));
}

#[test]
fn run_now_is_sent_only_to_a_running_daemon() {
    let mut app = fixtures::idle();
    assert_eq!(app.apply(Action::RunNow), Some(Command::RunNow));
    app.on_command_done(CommandDone::RunNow(Ok(RunRequested {
        run_id: 13,
        coalesced: false,
    })));
    assert_eq!(
        app.notice.as_ref().map(|n| n.text.as_str()),
        Some("run #13 requested")
    );

    let mut app = fixtures::never_running();
    assert_eq!(app.apply(Action::RunNow), None);
    assert!(app.notice.as_ref().is_some_and(|n| n.is_error));
}

#[test]
fn drain_asks_first_and_only_yes_sends_it() {
    let mut app = fixtures::idle();
    assert_eq!(app.apply(Action::AskDrain), None);
    assert_eq!(app.mode, Mode::ConfirmDrain);
    assert_eq!(app.apply(Action::CancelDialog), None);
    assert_eq!(app.mode, Mode::Normal);
    assert!(!app.drain_requested);

    app.apply(Action::AskDrain);
    assert_eq!(app.apply(Action::ConfirmDrain), Some(Command::Drain));
    assert!(app.drain_requested);
}

#[test]
fn after_a_drain_the_closed_stream_means_not_running() {
    let app = fixtures::not_running();
    assert_eq!(app.status(), Status::NotRunning);
    assert!(app.current_run().is_none());
    // The last known history stays on screen.
    assert_eq!(app.history.len(), 12);
}

#[test]
fn an_unexpected_close_means_disconnected_until_the_next_attempt() {
    let mut app = fixtures::idle();
    app.on_link(LinkEvent::Down(Down {
        kind: DownKind::Closed,
        attempt: 0,
        retry_in: Duration::from_millis(250),
    }));
    assert_eq!(app.status(), Status::Disconnected);
    assert_eq!(app.seq(), None);
    // The reconnect finds a fresh daemon: a full snapshot brings it back.
    app.on_link(LinkEvent::Update(Update::Snapshot {
        seq: 3,
        snapshot: Box::new(fixtures::snapshot()),
    }));
    assert_eq!(app.status(), Status::Idle);
    assert_eq!(app.seq(), Some(3));
}

#[test]
fn a_version_mismatch_is_shown_not_retried_blindly() {
    let mut app = fixtures::app();
    app.on_link(LinkEvent::Down(Down {
        kind: DownKind::Incompatible("the running daemon speaks protocol 2".into()),
        attempt: 1,
        retry_in: Duration::from_secs(1),
    }));
    assert_eq!(app.status(), Status::Incompatible);
    assert_eq!(app.apply(Action::StartDaemon), None);
}

#[test]
fn start_is_offered_only_when_not_running_and_shows_starting() {
    let mut app = fixtures::idle();
    assert_eq!(app.apply(Action::StartDaemon), None);

    let mut app = fixtures::never_running();
    assert_eq!(app.apply(Action::StartDaemon), Some(Command::StartDaemon));
    assert_eq!(app.status(), Status::Starting);
    app.on_command_done(CommandDone::Started(Ok(5151)));
    assert_eq!(app.status(), Status::Starting);
    app.on_link(LinkEvent::Update(Update::Snapshot {
        seq: 0,
        snapshot: Box::new(fixtures::snapshot()),
    }));
    assert_eq!(app.status(), Status::Idle);
    assert_eq!(app.start_requested_at_ms, None);
}

#[test]
fn a_start_that_never_answers_gives_up_with_an_error() {
    let mut app = fixtures::never_running();
    app.apply(Action::StartDaemon);
    app.set_now(NOW + 20_000);
    assert_eq!(app.status(), Status::NotRunning);
    assert!(app.notice.as_ref().is_some_and(|n| n.is_error));
}

#[test]
fn notices_expire() {
    let mut app = fixtures::idle();
    app.inform("hello");
    app.set_now(NOW + 1_000);
    assert!(app.notice.is_some());
    app.set_now(NOW + 60_000);
    assert!(app.notice.is_none());
}

#[test]
fn scrolling_moves_the_focused_pane_only() {
    let mut app = fixtures::idle();
    app.set_viewport(Viewport {
        history_rows: 4,
        log_rows: 3,
        files_rows: 5,
    });
    app.apply(Action::Scroll(Scroll::PageDown));
    assert_eq!(app.history_selected, 4);
    assert_eq!(app.history_offset, 1, "the selection stays visible");
    app.apply(Action::Scroll(Scroll::Bottom));
    assert_eq!(app.history_selected, 11);
    assert_eq!(app.history_offset, 8);
    assert!(app.log.is_following());

    app.apply(Action::SwitchFocus);
    app.apply(Action::Scroll(Scroll::LineUp));
    assert_eq!(app.history_selected, 11);
    assert!(!app.log.is_following());
    assert_eq!(app.log.offset(), 1);
    app.apply(Action::Scroll(Scroll::Bottom));
    assert!(app.log.is_following());
}

#[test]
fn help_toggles_and_quit_quits() {
    let mut app = fixtures::idle();
    app.apply(Action::ToggleHelp);
    assert_eq!(app.input_mode(), InputMode::Help);
    app.apply(Action::ToggleHelp);
    assert_eq!(app.input_mode(), InputMode::Normal);
    assert!(!app.should_quit());
    app.apply(Action::Quit);
    assert!(app.should_quit());
}

#[test]
fn run_requested_goes_away_when_that_run_finishes() {
    let mut app = fixtures::idle();
    app.apply(Action::RunNow);
    app.on_command_done(CommandDone::RunNow(Ok(RunRequested {
        run_id: 13,
        coalesced: false,
    })));
    // Another run finishing does not touch it.
    event(
        &mut app,
        Event::RunFinished {
            record: record(12, NOW - 5_000, 10),
        },
    );
    assert_eq!(
        app.notice.as_ref().map(|n| n.text.as_str()),
        Some("run #13 requested")
    );
    event(
        &mut app,
        Event::RunFinished {
            record: record(13, NOW - 1_000, 10),
        },
    );
    // Well before the notice's time is up.
    assert!(app.notice.is_none(), "{:?}", app.notice);
}

#[test]
fn a_run_that_finished_before_its_answer_is_not_announced_as_requested() {
    let mut app = fixtures::idle();
    app.apply(Action::RunNow);
    event(
        &mut app,
        Event::RunFinished {
            record: record(13, NOW - 1_000, 10),
        },
    );
    app.on_command_done(CommandDone::RunNow(Ok(RunRequested {
        run_id: 13,
        coalesced: false,
    })));
    assert!(app.notice.is_none(), "{:?}", app.notice);
}

#[test]
fn the_files_view_selects_largest_first_and_keeps_the_selection_on_its_file() {
    let mut app = fixtures::idle();
    app.apply(Action::SwitchView);
    assert_eq!(app.view, View::Files);
    let paths: Vec<&str> = app.files().iter().map(|f| f.path.as_str()).collect();
    assert_eq!(paths[0], "logs/feature-login/worker.log");
    assert_eq!(
        paths.last().copied(),
        Some("logs/feature-search/worker.log")
    );
    assert!(
        paths.contains(&"logs/shared/cron.log"),
        "the skipped one outside the largest too"
    );
    assert!(app.files().windows(2).all(|w| w[0].size >= w[1].size));
    // j/k move the selection, not the history.
    app.apply(Action::Scroll(Scroll::LineDown));
    app.apply(Action::Scroll(Scroll::LineDown));
    assert_eq!(app.history_selected, 0);
    assert_eq!(
        app.selected_file().map(|f| f.path.as_str()),
        Some("logs/feature-cart/agent.log")
    );
    // A new view where that file is the largest: still selected.
    let mut view = fixtures::files_view();
    view.largest[2].size = u64::MAX / 2;
    event(
        &mut app,
        Event::Files {
            view: Box::new(view),
        },
    );
    assert_eq!(app.files_selected, 0);
    assert_eq!(
        app.selected_file().map(|f| f.path.as_str()),
        Some("logs/feature-cart/agent.log")
    );
    // Back to the runs: the keys move the history again.
    app.apply(Action::SwitchView);
    app.apply(Action::Scroll(Scroll::LineDown));
    assert_eq!(app.history_selected, 1);
}

#[test]
fn enter_reads_the_selected_file_and_only_its_answer_fills_the_view() {
    let mut app = fixtures::idle();
    // In the runs view Enter does nothing.
    assert_eq!(app.apply(Action::OpenTail), None);
    app.apply(Action::SwitchView);
    assert_eq!(
        app.apply(Action::OpenTail),
        Some(Command::ReadTail {
            path: "logs/feature-login/worker.log".to_owned()
        })
    );
    assert_eq!(app.input_mode(), InputMode::Tail);
    // A late answer for another file is dropped.
    app.on_command_done(CommandDone::Tail {
        path: "logs/api/server.log".to_owned(),
        lines: Ok(vec!["other".to_owned()]),
    });
    assert!(matches!(&app.mode, Mode::Tail(t) if t.lines.is_none()));
    app.on_command_done(CommandDone::Tail {
        path: "logs/feature-login/worker.log".to_owned(),
        lines: Ok(vec!["last".to_owned()]),
    });
    assert!(matches!(&app.mode, Mode::Tail(t) if t.lines == Some(Ok(vec!["last".to_owned()]))));
    app.apply(Action::CloseTail);
    assert_eq!(app.mode, Mode::Normal);
}

#[test]
fn without_file_facts_enter_says_why() {
    let mut app = fixtures::idle();
    if let Some(daemon) = app.daemon.as_mut() {
        daemon.files = None;
    }
    app.apply(Action::SwitchView);
    assert_eq!(app.apply(Action::OpenTail), None);
    assert!(app.notice.is_some());
    assert_eq!(app.mode, Mode::Normal);
}
