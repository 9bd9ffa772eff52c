//! The size budget end to end: `V0_PRUNE_MAX_SIZE` in `.v0.rc`, the real
//! daemon over logs that stay over it with nothing left it may remove. The
//! run removes what it may (never an entry younger than `V0_PRUNE_MIN_KEEP`),
//! `--wait`, `status` (text and `--json`) and the daemon's log say how much
//! went for the budget and warn why the logs are still over it, and the
//! daemon does not run again at once to try harder.

use std::time::Duration;

use serde_json::Value;
use v0_prune_testkit::{Invocation, TestProject, Tree, stamp};

/// Long enough that no scheduled run lands inside the test.
const INTERVAL: &str = "60s";

fn v0_prune(project: &TestProject, args: &[&str]) -> Invocation {
    project.v0_prune(args).env("V0_PRUNE_INTERVAL", INTERVAL)
}

fn status_json(project: &TestProject) -> Value {
    let run = v0_prune(project, &["status", "--json"]).run();
    serde_json::from_str(&run.stdout)
        .unwrap_or_else(|err| panic!("status --json is not JSON ({err}):\n{}", run.stdout))
}

/// `count` entries of about 200 bytes, `ago` old.
fn entries(ago: Duration, what: &str, count: usize) -> String {
    (0..count)
        .map(|i| format!("[{}] {what} entry {i:02} {}\n", stamp(ago), "z".repeat(170)))
        .collect()
}

#[test]
fn over_budget_with_only_young_entries_left_warns_and_does_not_loop() {
    let project = TestProject::bare();
    let rc = std::fs::read_to_string(project.root.join(".v0.rc")).expect(".v0.rc");
    std::fs::write(
        project.root.join(".v0.rc"),
        format!("{rc}V0_PRUNE_MAX_SIZE=4K\nV0_PRUNE_MIN_KEEP=10m\n"),
    )
    .expect(".v0.rc");
    // An hour old: within the 6 h retention, but fair game for the budget.
    let old = entries(Duration::from_secs(3600), "old", 20);
    // A minute old: younger than the 10 minutes always kept.
    let young = entries(Duration::from_secs(60), "young", 20);
    project.build.write("logs/a.log", format!("{old}{young}"));
    project.build.write("logs/b.log", &young);

    // A dry run says what the budget would remove, and changes nothing.
    let before = Tree::of(project.build.root());
    let dry = v0_prune(&project, &["--dry-run"]).run();
    dry.expect_code(0);
    assert!(
        dry.stdout.contains("Size budget (would be): logs "),
        "{}",
        dry.stdout
    );
    assert!(
        dry.stdout.contains(&format!(
            "for age, {} for the budget",
            v0_prune_shared::units::human_bytes(old.len() as u64)
        )),
        "{}",
        dry.stdout
    );
    let json = v0_prune(&project, &["--dry-run", "--json"]).run();
    json.expect_code(0);
    let value: Value = serde_json::from_str(&json.stdout).expect("--json is JSON");
    let budget = &value["run"]["logs"]["budget"];
    assert_eq!(budget["max_bytes"], 4096, "{value}");
    assert_eq!(budget["bytes_for_budget"], old.len() as u64, "{value}");
    assert_eq!(budget["exhausted"], true, "{value}");
    before.assert_same(&Tree::of(project.build.root()), "a dry run");

    // The daemon's start-up run: the old entries go, the young stay.
    let first = v0_prune(&project, &["--wait"]).run();
    first.expect_code(0);
    assert_eq!(project.build.read_text("logs/a.log"), young);
    assert_eq!(project.build.read_text("logs/b.log"), young);
    assert!(
        first.stdout.contains("\nSize budget: logs "),
        "{}",
        first.stdout
    );
    let warning_line = first
        .stdout
        .lines()
        .find(|l| l.starts_with("Warning: logs total "))
        .unwrap_or_else(|| panic!("no budget warning:\n{}", first.stdout));
    assert!(
        warning_line.contains(
            "over the 4.0 KiB budget (V0_PRUNE_MAX_SIZE), with nothing left it may remove"
        ) && warning_line.contains("is younger than 10m (V0_PRUNE_MIN_KEEP)"),
        "{warning_line}"
    );

    let status = status_json(&project);
    assert_eq!(status["max_size_bytes"], 4096);
    assert_eq!(status["min_keep_secs"], 600);
    let warning = status["budget_warning"].as_str().unwrap_or_default();
    assert!(
        warning.starts_with("run #1: logs total ")
            && warning.contains("nothing left it may remove"),
        "{status}"
    );
    let budget = &status["last_run"]["budget"];
    assert_eq!(budget["bytes_for_budget"], old.len() as u64, "{status}");
    assert_eq!(budget["bytes_for_age"], 0, "{status}");
    assert_eq!(budget["exhausted"], true, "{status}");

    let text = v0_prune(&project, &["status"]).run();
    text.expect_code(0);
    assert!(
        text.stdout
            .contains("  budget:     4.0 KiB for all logs, the last 10m always kept\n"),
        "{}",
        text.stdout
    );
    assert!(
        text.stdout.contains("  warning:    run #1: logs total "),
        "{}",
        text.stdout
    );
    project.build.wait_for_daemon_log("Size budget: logs ", 1);
    let log = project.build.daemon_log();
    let budget_lines: Vec<&str> = log.lines().filter(|l| l.contains("Size budget")).collect();
    assert_eq!(budget_lines.len(), 1, "{log}");
    assert!(
        budget_lines[0].contains("with nothing left it may remove"),
        "{log}"
    );

    // Over budget, nothing left: no run follows on its own. With another run
    // pending the daemon would start it at once; instead it goes to sleep
    // for its whole interval after run 1, and says so.
    project.build.wait_for_daemon_log(
        &format!("Sleeping for {INTERVAL} until next prune cycle"),
        1,
    );
    let log = project.build.daemon_log();
    assert_eq!(log.matches("Starting pruning").count(), 1, "{log}");
    let status = status_json(&project);
    assert_eq!(status["totals"]["runs"], 1, "{status}");
    assert_eq!(status["last_run"]["run_id"], 1, "{status}");
    assert_eq!(status["state"], "idle", "{status}");
    assert!(
        status["next_run_in_secs"].as_i64() > Some(30),
        "the next run is an interval away:\n{status}"
    );
}
