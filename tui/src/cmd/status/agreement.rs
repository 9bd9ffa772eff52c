//! One way to apply an event: the daemon's hub and the dashboard, driven by
//! the same events (decoded from the very frames the hub sends), end with
//! the same state, and `status --json` says the same of either. The cases
//! the two once decided differently are among them: a `NextRun` while
//! draining, a `RunFinished` for another run than the current one.

use v0_prune::top::app::{App, Status};
use v0_prune::top::conn::LinkEvent;
use v0_prune_daemon::{Hub, Identity};
use v0_prune_shared::client::Update;
use v0_prune_shared::protocol::{DaemonMessage, DaemonState, Event, Trigger, decode_body};
use v0_prune_testkit::records;

use super::*;

use super::tests::{NOW, project};

/// A hub as the daemon makes it at start, with two runs in its history.
fn hub() -> Hub {
    let history = [
        records::small_run(1, NOW - 7_200_000),
        records::small_run(2, NOW - 3_600_000),
    ];
    let mut totals = Totals::default();
    for run in &history {
        totals.add(run);
    }
    let identity = Identity {
        daemon_pid: 4242,
        project: Some("demo".into()),
        build_dir: "/p/.v0/build".into(),
        started_at_ms: NOW - 7_200_000,
        interval_secs: 3600,
        retention_secs: 6 * 3600,
        budget: None,
    };
    Hub::new(identity, totals, &history)
}

fn started(run_id: u64) -> Event {
    Event::RunStarted {
        run_id,
        trigger: Trigger::Request,
        started_at_ms: NOW,
    }
}

fn finished(run_id: u64) -> Event {
    Event::RunFinished {
        record: records::small_run(run_id, NOW),
    }
}

fn progress(run_id: u64, files_done: u64) -> Event {
    Event::Progress {
        run_id,
        files_done,
        files_total: 40,
        bytes_reclaimed: 100 * files_done,
        current: Some("logs/a.log".into()),
    }
}

fn state(state: DaemonState) -> Event {
    Event::StateChanged { state }
}

/// The event sequences both sides are driven with, each from a fresh start.
fn sequences() -> Vec<(&'static str, Vec<Event>)> {
    vec![
        (
            "a run from start to end",
            vec![
                state(DaemonState::Running),
                started(3),
                progress(3, 10),
                Event::ItemPruned {
                    run_id: 3,
                    job: v0_prune_shared::prune::Job::Logs,
                    item: "logs/a.log".into(),
                    detail: "120 lines".into(),
                    bytes_reclaimed: 3000,
                },
                progress(3, 40),
                finished(3),
                state(DaemonState::Idle),
                Event::NextRun {
                    at_ms: NOW + 3_600_000,
                },
                Event::LogLine {
                    line: "[2025-11-28T12:00:00Z] Pruning complete".into(),
                },
            ],
        ),
        (
            "a next run while draining",
            vec![
                Event::NextRun {
                    at_ms: NOW + 60_000,
                },
                state(DaemonState::Draining),
                Event::NextRun {
                    at_ms: NOW + 3_600_000,
                },
            ],
        ),
        (
            "a run finished that is not the current one",
            vec![
                state(DaemonState::Running),
                started(5),
                finished(4),
                progress(5, 3),
            ],
        ),
        (
            "the current run finished, then the daemon exits",
            vec![
                started(6),
                finished(6),
                state(DaemonState::Draining),
                Event::Exiting {
                    reason: "drain requested by v0-prune shutdown".into(),
                },
            ],
        ),
    ]
}

/// `status --json` of a daemon in `snapshot`'s state.
fn status_json(snapshot: &Snapshot) -> serde_json::Value {
    let found = Found::Running {
        snapshot: Box::new(snapshot.clone()),
        socket: PathBuf::from("/p/.v0/build/.prune-daemon/daemon.sock"),
    };
    serde_json::to_value(StatusView::new(&project(), &found, NOW)).expect("JSON")
}

#[test]
fn the_hub_and_the_dashboard_apply_the_same_events_alike() {
    for (case, events) in sequences() {
        let hub = hub();
        let mut subscription = hub.subscribe().expect("a subscription");
        let mut app = App::new("/p/.v0/build", TimeZone::UTC, NOW, false);
        app.on_link(LinkEvent::Update(Update::Snapshot {
            seq: subscription.seq,
            snapshot: Box::new(subscription.snapshot.clone()),
        }));
        for event in events {
            hub.publish(event);
            // What the dashboard gets: the frame the hub sent, decoded.
            let frame = subscription.events.try_recv().expect("a frame per event");
            let Ok(DaemonMessage::Event { seq, event }) = decode_body(&frame.bytes[4..]) else {
                panic!("{case}: not an event frame");
            };
            app.on_link(LinkEvent::Update(Update::Event { seq, event }));
            assert_eq!(
                app.seq(),
                Some(seq),
                "{case}: the dashboard took every event"
            );
        }
        let daemon = hub.snapshot();
        let dashboard = app.daemon.as_ref().expect("the dashboard's state");
        assert_eq!(
            &daemon, dashboard,
            "{case}: hub (left) and dashboard (right)"
        );
        // And `status --json` says the same of either.
        let json = status_json(&daemon);
        assert_eq!(json, status_json(dashboard), "{case}");
        // What the dashboard shows agrees with what status says.
        let word = match app.status() {
            Status::Idle => "idle",
            Status::Running => "running",
            Status::Draining => "draining",
            other => panic!("{case}: connected, yet {other:?}"),
        };
        assert_eq!(json["state"], word, "{case}");
        assert_eq!(
            json["current_run"]["run_id"].as_u64(),
            app.current_run().map(|run| run.run_id),
            "{case}"
        );
        assert_eq!(
            json["last_run"]["run_id"].as_u64(),
            app.history.front().map(|run| run.run_id),
            "{case}"
        );
        assert_eq!(json["totals"]["runs"].as_u64(), Some(dashboard.totals.runs));
    }
}

#[test]
fn the_two_cases_once_decided_differently() {
    let hub = hub();
    for event in [
        state(DaemonState::Draining),
        Event::NextRun {
            at_ms: NOW + 60_000,
        },
    ] {
        hub.publish(event);
    }
    assert_eq!(
        hub.snapshot().next_run_at_ms,
        None,
        "a draining daemon has no next run"
    );
    let hub = self::hub();
    for event in [started(5), finished(4)] {
        hub.publish(event);
    }
    assert_eq!(
        hub.snapshot().current_run.map(|run| run.run_id),
        Some(5),
        "an older run's end leaves the current run running"
    );
}
