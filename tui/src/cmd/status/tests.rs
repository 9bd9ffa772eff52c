//! `status` rendering: text for people, one JSON object for scripts.

use super::*;
use v0_prune::format::clock_with_year as clock;
use v0_prune_shared::config::{BuildDirSource, Settings};
use v0_prune_shared::paths::BuildDir;
use v0_prune_shared::protocol::Trigger;
use v0_prune_testkit::records;

/// The clock every status test reads (also `agreement.rs`'s).
pub(super) const NOW: i64 = 1_764_331_200_000; // 2025-11-28T12:00:00Z

/// The project every status test reports on (also `agreement.rs`'s).
pub(super) fn project() -> Project {
    Project {
        root: None,
        name: Some("demo".into()),
        build_dir: BuildDir::new("/p/.v0/build"),
        source: BuildDirSource::Flag,
        settings: Settings::default(),
    }
}

/// Run 12, sent by a signal two minutes ago: 1.5 s, 3 of 40 logs.
fn record() -> RunRecord {
    RunRecord {
        trigger: Trigger::Signal,
        ..records::small_run(12, NOW - 120_000)
    }
}

fn running() -> Found {
    Found::Running {
        socket: PathBuf::from("/p/.v0/build/.prune-daemon/daemon.sock"),
        snapshot: Box::new(Snapshot {
            started_at_ms: NOW - 3_600_000,
            next_run_at_ms: Some(NOW + 59_000),
            ..records::idle_snapshot("demo", "/p/.v0/build", vec![record()])
        }),
    }
}

fn human(found: &Found) -> String {
    let mut out = Vec::new();
    write_human(&mut out, &project(), found, NOW, &TimeZone::UTC).expect("write");
    String::from_utf8(out).expect("utf-8")
}

#[test]
fn a_running_daemon_shows_its_state_last_and_next_run() {
    let text = human(&running());
    let expected = "\
Prune daemon: running (pid 4242, v0-prune 0.1.0)
  project:    demo
  build dir:  /p/.v0/build
  socket:     /p/.v0/build/.prune-daemon/daemon.sock
  log:        /p/.v0/build/logs/prune-daemon.log
  started:    11:00:00 (1h ago)
  state:      idle
  last run:   #12 at 11:58:00 (2m ago), signal, ok: 3 logs, 120 lines, 2 mergeq entries, 3.2 KiB reclaimed in 1s
  next run:   12:00:59 (in 59s)
  interval:   1h
  retention:  6h
  totals:     1 run since 11:58:00: 3.2 KiB reclaimed, 120 log lines, 2 mergeq entries
";
    assert_eq!(text, expected);
}

#[test]
fn a_stopped_daemon_says_how_to_start_it_and_what_it_last_did() {
    let text = human(&Found::NotRunning {
        last_run: Some(Box::new(record())),
        totals: None,
    });
    assert!(text.starts_with("Prune daemon: not running\n"), "{text}");
    assert!(text.contains("  build dir:  /p/.v0/build\n"), "{text}");
    assert!(
        text.contains("`v0-prune` prunes and starts the daemon"),
        "{text}"
    );
    assert!(
        text.contains("  last run:   #12 at 11:58:00 (2m ago)"),
        "{text}"
    );
}

#[test]
fn json_is_one_object_with_running_and_stable_names() {
    let view = StatusView::new(&project(), &running(), NOW);
    let value = serde_json::to_value(&view).expect("json");
    assert_eq!(value["running"], true);
    assert_eq!(value["pid"], 4242);
    assert_eq!(value["state"], "idle");
    assert_eq!(value["next_run_in_secs"], 59);
    assert_eq!(value["next_run_at"], "2025-11-28T12:00:59Z");
    assert_eq!(value["last_run"]["run_id"], 12);
    assert_eq!(value["last_run"]["trigger"], "signal");
    assert_eq!(value["last_run"]["outcome"], "ok");
    assert_eq!(value["totals"]["runs"], 1);
    assert_eq!(value["retention_secs"], 6 * 3600);

    let stopped = StatusView::new(
        &project(),
        &Found::NotRunning {
            last_run: None,
            totals: None,
        },
        NOW,
    );
    let value = serde_json::to_value(&stopped).expect("json");
    assert_eq!(value["running"], false);
    assert!(value["pid"].is_null());
    assert_eq!(value["interval_secs"], 3600);
}

/// The last run could not prune a log (a full disk): `status` says so in
/// its text and JSON, and which log, with what to do.
#[test]
fn a_last_run_that_could_not_prune_a_log_says_which_and_why() {
    let mut run = records::could_not_prune(record(), "logs/big.log");
    run.log_files_pruned = 0;
    run.log_lines_removed = 0;
    run.queue_entries_removed = 0;
    run.bytes_reclaimed = 0;
    let found = Found::NotRunning {
        last_run: Some(Box::new(run)),
        totals: None,
    };
    let text = human(&found);
    assert!(
        text.contains(
            "signal, with errors: 0 logs, 0 lines, 0 mergeq entries, 0 B reclaimed in 1s; \
             1 log could not be pruned (no space left on device)\n"
        ),
        "{text}"
    );
    assert!(
        text.contains("  not pruned: logs/big.log: no space left on device: free some space\n"),
        "{text}"
    );
    let value = serde_json::to_value(StatusView::new(&project(), &found, NOW)).expect("json");
    assert_eq!(value["last_run"]["outcome"], "with errors");
    assert_eq!(value["last_run"]["not_pruned"], 1);
    assert_eq!(
        value["last_run"]["not_pruned_items"][0]["item"],
        "logs/big.log"
    );
}

#[test]
fn relative_times_read_naturally() {
    assert_eq!(ago(NOW - 500, NOW), "just now");
    assert_eq!(ago(NOW - 90_000, NOW), "1m 30s ago");
    assert_eq!(until(NOW + 3_600_000, NOW), "in 1h");
    assert_eq!(until(NOW - 5, NOW), "due now");
    assert_eq!(
        clock(NOW - 86_400_000, NOW, &TimeZone::UTC),
        "2025-11-27 12:00"
    );
}

/// A daemon whose last run hit the size budget's floor: the budget line,
/// what went for age and for the budget, and the warning saying why the
/// logs are still over it; in JSON, the same facts by name.
#[test]
fn a_run_left_over_budget_is_a_warning_with_the_reason() {
    let mut run = record();
    run.budget = Some(Box::new(BudgetReport {
        max_bytes: 100 << 20,
        min_keep_secs: 600,
        bytes_before: 400 << 20,
        bytes_after: 150 << 20,
        bytes_for_age: 50 << 20,
        bytes_for_budget: 200 << 20,
        cutoff: Some("2025-11-28T11:50:00Z".into()),
        bytes_too_young: 140 << 20,
        bytes_held: 10 << 20,
        exhausted: true,
    }));
    let Found::Running {
        socket,
        mut snapshot,
    } = running()
    else {
        unreachable!()
    };
    snapshot.last_run = Some(run.clone());
    snapshot.budget = Some(BudgetLimit {
        max_bytes: 100 << 20,
        min_keep_secs: 600,
    });
    let found = Found::Running { socket, snapshot };
    let text = human(&found);
    assert!(
        text.contains(
            "  retention:  6h\n  budget:     100 MiB for all logs, the last 10m always kept\n              \
             run #12: logs 400 MiB -> 150 MiB (budget 100 MiB): 50.0 MiB for age, 200 MiB for the budget\n  \
             warning:    run #12: logs total 150 MiB, over the 100 MiB budget (V0_PRUNE_MAX_SIZE), with \
             nothing left it may remove: 140 MiB is younger than 10m (V0_PRUNE_MIN_KEEP), and 10.0 MiB is \
             held by writers it cannot prune under or precedes a log's first entry\n"
        ),
        "{text}"
    );
    let value = serde_json::to_value(StatusView::new(&project(), &found, NOW)).expect("json");
    assert_eq!(value["max_size_bytes"], 100 << 20);
    assert_eq!(value["min_keep_secs"], 600);
    assert!(
        value["budget_warning"]
            .as_str()
            .is_some_and(|w| w.contains("over the 100 MiB budget")),
        "{value}"
    );
    assert_eq!(value["last_run"]["budget"]["bytes_for_budget"], 200 << 20);
    assert_eq!(value["last_run"]["budget"]["bytes_for_age"], 50 << 20);

    // Within the budget: the budget line, no warning.
    let Found::Running {
        socket,
        mut snapshot,
    } = found
    else {
        unreachable!()
    };
    if let Some(budget) = snapshot.last_run.as_mut().and_then(|r| r.budget.as_mut()) {
        budget.bytes_after = 90 << 20;
        budget.exhausted = false;
    }
    let found = Found::Running { socket, snapshot };
    let text = human(&found);
    assert!(
        text.contains("  budget:     100 MiB for all logs"),
        "{text}"
    );
    assert!(!text.contains("warning"), "{text}");
    let value = serde_json::to_value(StatusView::new(&project(), &found, NOW)).expect("json");
    assert!(value["budget_warning"].is_null());

    // A stopped daemon warns from the history's last run.
    let stopped = Found::NotRunning {
        last_run: Some(Box::new(run)),
        totals: None,
    };
    let text = human(&stopped);
    assert!(
        text.contains("  warning:    run #12: logs total 150 MiB"),
        "{text}"
    );
    assert!(!text.contains("  budget:"), "no budget set now: {text}");
    // With the budget set in the project, its line too, from the settings.
    let mut budgeted = project();
    budgeted.settings.max_size = Some(100 << 20);
    let mut out = Vec::new();
    write_human(&mut out, &budgeted, &stopped, NOW, &TimeZone::UTC).expect("write");
    let text = String::from_utf8(out).expect("utf-8");
    assert!(
        text.contains("  budget:     100 MiB for all logs, the last 10m always kept\n"),
        "{text}"
    );
    assert_eq!(text.matches("  warning:    run #12").count(), 1, "{text}");
}
