//! Frames of every state, at 80×24 (must work) and 200×60 (must use the
//! room), checked against insta snapshots in `tui/tests/snapshots/`. Every
//! fixture is drawn at a fixed `now` with fixed pids, so frames are stable.

use ratatui::Terminal;
use ratatui::backend::TestBackend;

use super::{draw, fit};
use crate::top::app::App;
use crate::top::fixtures;
use crate::top::input::Action;

const SIZES: [(u16, u16); 4] = [(80, 24), (100, 30), (120, 40), (200, 60)];

fn render(app: &App, width: u16, height: u16) -> Terminal<TestBackend> {
    let terminal = render_unchecked(app, width, height);
    let cut = fit::overflow::take();
    assert!(
        cut.is_empty(),
        "text cut by the edge of its pane at {width}x{height}:\n{}",
        cut.join("\n")
    );
    terminal
}

/// [`render`] without the check that every text fits (tiny terminals).
fn render_unchecked(app: &App, width: u16, height: u16) -> Terminal<TestBackend> {
    fit::overflow::take();
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
        &[" running ", "14/40 files", "35%", "1.1 MiB", "worker.log"],
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
        render_unchecked(&fixtures::running(), width, height);
        let mut app = fixtures::idle();
        app.apply(Action::ToggleHelp);
        render_unchecked(&app, width, height);
        let mut files = fixtures::files();
        render_unchecked(&files, width, height);
        files.apply(Action::OpenTail);
        render_unchecked(&files, width, height);
    }
}

#[test]
fn files_view() {
    let screens = snapshot("files", &fixtures::files());
    assert_contains(
        &screens,
        &[
            "Files",
            "8 logs",
            "worker.log",
            "48.2 MiB",
            "agent.log",
            // The skipped file is marked with its reason, and selected: its
            // holder's command line is in the details.
            "↳ skipped: held open for writing without O_APPEND by pid 6001",
            "exec 3<>logs/feature-cart/agent.log",
            "cron.log",
            "queue 14 entries",
            "v runs",
        ],
    );
    // Largest first.
    for screen in &screens {
        let worker = screen.find("feature-login/worker.log").expect("worker");
        let server = screen.find("server.log").expect("server");
        let cron = screen.find("cron.log").expect("cron");
        assert!(worker < server && server < cron, "{screen}");
    }
}

#[test]
fn a_long_holder_command_is_never_cut_mid_word() {
    // 200 columns have a Holder column: "tail-and-follow 7002 read" is too
    // long for it, so the access goes (the details pane says it), not a word.
    let screen = text(&render(&fixtures::files(), 200, 60));
    assert!(screen.contains("tail-and-follow 7002 "), "{screen}");
    assert!(!screen.contains("tail-and-fo…"), "{screen}");
}

#[test]
fn files_view_details_of_a_pruned_log() {
    let mut app = fixtures::files();
    app.apply(Action::Scroll(crate::top::input::Scroll::Top));
    let screens = snapshot("files_top", &app);
    assert_contains(
        &screens,
        &[
            "python3 -m shop.worker --queue login --verbose",
            "removed 9,120 lines, 3.4 MiB",
            "pruned in place",
            "the next frees 7.9 MiB",
        ],
    );
}

#[test]
fn last_lines_of_a_file() {
    let mut app = fixtures::files();
    app.apply(Action::OpenTail);
    app.on_command_done(crate::top::app::CommandDone::Tail {
        path: "logs/feature-cart/agent.log".to_owned(),
        lines: Ok((1..=40)
            .map(|i| format!("[2026-11-28T11:{:02}:00Z] agent step {i} done", i + 10))
            .collect()),
    });
    let screens = snapshot("tail", &app);
    assert_contains(
        &screens,
        &[
            "Last lines of logs/feature-cart/agent.log",
            "agent step 40 done",
            "Esc close",
        ],
    );
}

#[test]
fn files_view_before_the_first_run() {
    let mut app = fixtures::idle();
    if let Some(daemon) = app.daemon.as_mut() {
        daemon.files = None;
    }
    app.apply(Action::SwitchView);
    let screens = snapshot("files_empty", &app);
    assert_contains(
        &screens,
        &["No file facts yet: the daemon lists its logs after its first run."],
    );
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

/// A run that could not prune a log (a full disk) counts it under Err in the
/// history, as the run's outcome reads `errors`.
#[test]
fn a_log_that_could_not_be_pruned_counts_as_an_error_in_the_history() {
    use v0_prune_shared::protocol::Event;
    use v0_prune_testkit::records::could_not_prune;

    let mut app = fixtures::idle();
    let mut record = could_not_prune(
        fixtures::record(13, fixtures::NOW - 60_000, 1 << 20),
        "logs/big.log",
    );
    record.skipped_total = 2;
    fixtures::event(&mut app, Event::RunFinished { record });
    let screen = text(&render(&app, 200, 60));
    let row = screen
        .lines()
        .find(|line| line.contains("#13") && line.contains("errors"))
        .unwrap_or_else(|| panic!("no history row for run 13:\n{screen}"));
    assert!(row.contains(" 2/1 "), "{row}");
}

#[test]
fn the_projects_view_shows_one_row_per_project() {
    use crate::top::projects::tests::projects;
    let mut screens = Vec::new();
    for (name, confirm) in [("projects", false), ("projects_confirm_drain", true)] {
        let mut projects = projects();
        if confirm {
            projects.apply(crate::top::input::ProjectsAction::AskDrain);
        }
        for &(width, height) in &SIZES {
            fit::overflow::take();
            let mut terminal =
                Terminal::new(TestBackend::new(width, height)).expect("test terminal");
            for _ in 0..2 {
                let mut rows = 0;
                terminal
                    .draw(|frame| rows = super::draw_projects(frame, &projects))
                    .expect("draw");
                projects.set_rows_visible(rows);
            }
            let cut = fit::overflow::take();
            assert!(
                cut.is_empty(),
                "cut at {width}x{height}:\n{}",
                cut.join("\n")
            );
            insta::with_settings!({
                snapshot_path => "../../../tests/snapshots",
                prepend_module_to_snapshot => false,
                omit_expression => true,
            }, {
                insta::assert_snapshot!(format!("top_{name}_{width}x{height}"), terminal.backend());
            });
            if !confirm {
                screens.push(text(&terminal));
            }
        }
    }
    assert_contains(
        &screens,
        &[
            "shop",
            "blog",
            "old-api",
            "not running",
            "gone",
            "idle · pid 4242",
        ],
    );
}

#[test]
fn p_leaves_the_dashboard_for_the_projects_view() {
    let mut app = fixtures::idle();
    assert!(!app.wants_projects());
    app.apply(Action::ShowProjects);
    assert!(app.wants_projects());
    assert!(!app.should_quit());
}
