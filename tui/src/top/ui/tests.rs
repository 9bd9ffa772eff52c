//! Frames of every state, at 80×24 (must work) and 200×60 (must use the
//! room), checked against insta snapshots in `tui/tests/snapshots/`. Every
//! fixture is drawn at a fixed `now` with fixed pids, so frames are stable.

use ratatui::Terminal;
use ratatui::backend::TestBackend;

use super::draw;
use crate::top::app::App;
use crate::top::fixtures;
use crate::top::input::Action;

const SIZES: [(u16, u16); 2] = [(80, 24), (200, 60)];

fn render(app: &App, width: u16, height: u16) -> Terminal<TestBackend> {
    let mut app = app.clone();
    let mut terminal = Terminal::new(TestBackend::new(width, height)).expect("test terminal");
    // Twice, as the loop does: the second frame knows the pane heights.
    for _ in 0..2 {
        let mut viewport = Default::default();
        terminal
            .draw(|frame| viewport = draw(frame, &app))
            .expect("draw");
        app.set_viewport(viewport);
    }
    terminal
}

fn text(terminal: &Terminal<TestBackend>) -> String {
    let buffer = terminal.backend().buffer();
    let width = usize::from(buffer.area.width);
    buffer
        .content
        .chunks(width)
        .map(|row| row.iter().map(|cell| cell.symbol()).collect::<String>())
        .collect::<Vec<_>>()
        .join("\n")
}

/// Snapshots `app` at both sizes and returns the text of each frame.
fn snapshot(name: &str, app: &App) -> Vec<String> {
    SIZES
        .iter()
        .map(|&(width, height)| {
            let terminal = render(app, width, height);
            insta::with_settings!({
                snapshot_path => "../../../tests/snapshots",
                prepend_module_to_snapshot => false,
                omit_expression => true,
            }, {
                insta::assert_snapshot!(format!("top_{name}_{width}x{height}"), terminal.backend());
            });
            text(&terminal)
        })
        .collect()
}

fn assert_contains(screens: &[String], needles: &[&str]) {
    for screen in screens {
        for needle in needles {
            assert!(
                screen.contains(needle),
                "{needle:?} missing from:\n{screen}"
            );
        }
    }
}

#[test]
fn idle_with_history() {
    let screens = snapshot("idle", &fixtures::idle());
    assert_contains(
        &screens,
        &[
            " idle ",
            "shop",
            "pid 4242",
            "retention 6h",
            "interval 1h",
            "Run history (12)",
            "in 57m 48s",
            "2m 10s ago",
            "3.4 MiB",
            "Log",
        ],
    );
}

#[test]
fn run_in_progress() {
    let screens = snapshot("running", &fixtures::running());
    assert_contains(
        &screens,
        &[
            " running ",
            "14/40 files",
            "35%",
            "1.1 MiB so far",
            "worker.log",
        ],
    );
}

#[test]
fn draining() {
    let screens = snapshot("draining", &fixtures::draining());
    assert_contains(&screens, &[" draining ", "exits after this run"]);
}

#[test]
fn not_running_after_a_drain() {
    let screens = snapshot("not_running", &fixtures::not_running());
    assert_contains(
        &screens,
        &[
            " not running ",
            "press s to start it",
            "s start daemon",
            "Run history (12)",
        ],
    );
}

#[test]
fn never_running() {
    let screens = snapshot("never_running", &fixtures::never_running());
    assert_contains(&screens, &[" not running ", "No runs recorded yet."]);
}

#[test]
fn disconnected() {
    let screens = snapshot("disconnected", &fixtures::disconnected());
    assert_contains(
        &screens,
        &[
            " disconnected ",
            "reconnecting in 3s",
            "attempt 3",
            "(last known)",
        ],
    );
}

#[test]
fn help_overlay() {
    let mut app = fixtures::idle();
    app.apply(Action::ToggleHelp);
    let screens = snapshot("help", &app);
    assert_contains(
        &screens,
        &["Keys", "run now", "quit (the daemon keeps running)"],
    );
}

#[test]
fn drain_confirmation() {
    let mut app = fixtures::idle();
    app.apply(Action::AskDrain);
    let screens = snapshot("confirm_drain", &app);
    assert_contains(&screens, &["Drain the prune daemon (pid 4242)?", "y drain"]);
}

#[test]
fn filtered_log_with_the_prompt_open() {
    let mut app = fixtures::idle();
    app.log.set_filter("complete");
    app.apply(Action::StartFilter);
    app.apply(Action::FilterChar('!'));
    let screens = snapshot("filter", &app);
    assert_contains(
        &screens,
        &["filter \"complete\" (2 of 11)", "Filter log: complete!"],
    );
}

#[test]
fn incompatible_daemon() {
    use crate::top::conn::{Down, DownKind, LinkEvent};
    let mut app = fixtures::app();
    app.on_link(LinkEvent::Down(Down {
        kind: DownKind::Incompatible(
            "the running daemon speaks protocol 2, this v0-prune speaks 1: restart the daemon with `v0-prune shutdown && v0-prune`".to_owned(),
        ),
        attempt: 1,
        retry_in: std::time::Duration::from_secs(1),
    }));
    let screens = snapshot("incompatible", &app);
    assert_contains(&screens, &[" incompatible ", "speaks protocol 2"]);
}

#[test]
fn tiny_terminals_do_not_panic() {
    for (width, height) in [(1, 1), (20, 5), (40, 10), (80, 8)] {
        render(&fixtures::running(), width, height);
        let mut app = fixtures::idle();
        app.apply(Action::ToggleHelp);
        render(&app, width, height);
    }
}

/// A last run that left the logs over the size budget: the summary says so,
/// and why, at the smallest and a wide size; a run within it shows nothing.
#[test]
fn over_budget_is_a_warning_in_the_summary() {
    use v0_prune_shared::protocol::Event;
    use v0_prune_shared::prune::BudgetReport;

    let mut app = fixtures::idle();
    let mut record = fixtures::record(13, fixtures::NOW - 60_000, 1 << 20);
    record.budget = Some(Box::new(BudgetReport {
        max_bytes: 100 << 20,
        min_keep_secs: 600,
        bytes_before: 300 << 20,
        bytes_after: 150 << 20,
        bytes_for_age: 0,
        bytes_for_budget: 150 << 20,
        cutoff: Some("2026-11-28T11:50:00Z".into()),
        bytes_too_young: 150 << 20,
        bytes_held: 0,
        exhausted: true,
    }));
    fixtures::event(
        &mut app,
        Event::RunFinished {
            record: record.clone(),
        },
    );
    for (width, height) in [(80, 24), (120, 40), (200, 60)] {
        let screen = text(&render(&app, width, height));
        assert!(screen.contains("Budget"), "{width}x{height}:\n{screen}");
        assert!(
            screen.contains("run #13: logs total 150 MiB, over the 100 MiB"),
            "{width}x{height}:\n{screen}"
        );
    }

    let mut within = record;
    within.run_id = 14;
    if let Some(budget) = within.budget.as_mut() {
        budget.bytes_after = 90 << 20;
        budget.exhausted = false;
    }
    fixtures::event(&mut app, Event::RunFinished { record: within });
    let screen = text(&render(&app, 200, 60));
    assert!(!screen.contains("over the 100 MiB"), "{screen}");
}
