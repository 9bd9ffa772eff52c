//! `v0-prune ls` with a daemon running: every figure, every time. NEXT RUN
//! is a figure for every log (no `?`), the holders are the processes
//! holding each file now (never one that exited, the daemon as the daemon,
//! one line per process with its descriptors counted), OLDEST the oldest
//! entry wherever it lies, GROWTH from the daemon's second run on; and the
//! daemon's view matches the one `ls --computed` makes of the same project.
//!
//! The entries are far from both cutoffs (30 and 40 hours old, or a minute
//! old, with 6 hours' retention and an hour between runs), so "the next
//! scheduled run" (the daemon's NEXT RUN) and "a run now" (the computed
//! one) find the same.

use std::collections::BTreeMap;

use serde_json::Value;
use v0_prune_testkit::{PATIENCE, TestProject, Writer, hours, process_gone, stamp, wait_until};

fn ls_json(project: &TestProject, extra: &[&str]) -> Value {
    let run = project
        .v0_prune(["ls", "--json"].iter().chain(extra))
        .env("V0_PRUNE_INTERVAL", "1h")
        .run();
    run.expect_code(0);
    serde_json::from_str(&run.stdout).unwrap_or_else(|err| panic!("{err}:\n{}", run.stdout))
}

/// Every listed log of an `ls --json`, by path.
fn listed(view: &Value) -> BTreeMap<String, Value> {
    let files = &view["files"];
    files["largest"]
        .as_array()
        .into_iter()
        .chain(files["skipped"].as_array())
        .flatten()
        .map(|file| {
            (
                file["path"].as_str().expect("a path").to_owned(),
                file.clone(),
            )
        })
        .collect()
}

/// A project whose logs have expired entries (an older one after a
/// current one, too), current ones, a preamble, none at all, and one held
/// by an O_APPEND writer.
fn project() -> TestProject {
    let project = TestProject::bare();
    let (older, old, new) = (stamp(hours(40)), stamp(hours(30)), stamp(hours(0)));
    project.build.write(
        "logs/a.log",
        format!("[{old}] expired\n  continued\n[{new}] current\n"),
    );
    project.build.write(
        "logs/b.log",
        format!("nohup: ignoring input\n[{new}] first\n[{older}] older, later\n[{new}] last\n"),
    );
    project
        .build
        .write("logs/plain.log", "no timestamps at all\n");
    // Held by a writer (so not read whole by a run), its oldest entry later.
    project.build.write(
        "logs/held.log",
        format!(
            "[{new}] held by a writer\n[{}] older, later\n",
            held_oldest()
        ),
    );
    project
}

/// The oldest entry of `logs/held.log`, two hours old (current).
fn held_oldest() -> String {
    static OLDEST: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    OLDEST.get_or_init(|| stamp(hours(2))).clone()
}

#[test]
fn with_a_daemon_ls_has_every_figure_and_matches_ls_computed_here() {
    let project = project();
    let writer = Writer::appending(&project.build.path("logs/held.log"));
    // The plain prune starts the daemon; its start-up run prunes.
    project
        .v0_prune(Vec::<&str>::new())
        .env("V0_PRUNE_INTERVAL", "1h")
        .run()
        .expect_code(0);
    assert!(
        wait_until(PATIENCE, || ls_json(&project, &[])["source"] == "daemon"),
        "the daemon never gave its view"
    );
    let daemon = ls_json(&project, &[]);
    let daemon_pid = daemon["daemon_pid"].as_u64().expect("the daemon's pid");
    let computed = ls_json(&project, &["--computed"]);
    assert_eq!(computed["source"], "computed");

    let (ours, here) = (listed(&daemon), listed(&computed));
    assert_eq!(
        ours.keys().collect::<Vec<_>>(),
        here.keys().collect::<Vec<_>>(),
        "the same logs"
    );
    for (path, file) in &ours {
        let other = &here[path];
        assert!(
            file["next_reclaim"].is_u64(),
            "{path}: NEXT RUN is a figure: {file}"
        );
        for holder in file["holders"].as_array().expect("holders") {
            let pid = holder["pid"].as_u64().expect("a pid");
            assert!(
                !process_gone(u32::try_from(pid).expect("a pid")),
                "{path}: an exited holder: {holder}"
            );
        }
        // The daemon's log grows with what the daemon says meanwhile.
        let fields: &[&str] = if path == "logs/prune-daemon.log" {
            &["holders", "next_reclaim"]
        } else {
            &["size", "oldest_entry_ms", "next_reclaim", "holders"]
        };
        for field in fields {
            assert_eq!(
                file[field], other[field],
                "{path}: {field}: the daemon's view (left) and the computed one (right)"
            );
        }
    }
    // The oldest entry wherever it lies, not the first one.
    let oldest: jiff::Timestamp = held_oldest().parse().expect("a stamp");
    assert_eq!(
        ours["logs/held.log"]["oldest_entry_ms"].as_i64(),
        Some(oldest.as_millisecond()),
        "held.log: {}",
        ours["logs/held.log"]
    );
    assert!(ours["logs/plain.log"]["oldest_entry_ms"].is_null());
    // The daemon holds its own log, once as a process, shown as the daemon.
    let own = &ours["logs/prune-daemon.log"]["holders"];
    let own = own.as_array().expect("holders");
    assert_eq!(own.len(), 1, "one line per process: {own:?}");
    assert_eq!(own[0]["pid"].as_u64(), Some(daemon_pid));
    assert_eq!(own[0]["daemon"], true);
    assert!(own[0]["descriptors"].as_u64() >= Some(1));
    // The writer holds its log, as an appender.
    let held = &ours["logs/held.log"]["holders"][0];
    assert_eq!(held["pid"].as_u64(), Some(u64::from(writer.pid())));
    assert_eq!(held["access"], "append");
    assert_eq!(held["daemon"], false);

    // The table: no `?` in NEXT RUN; the daemon named as such.
    let table = project
        .v0_prune(["ls"])
        .env("V0_PRUNE_INTERVAL", "1h")
        .run();
    table.expect_code(0);
    assert!(!table.stdout.contains(" ? "), "{}", table.stdout);
    assert!(
        table
            .stdout
            .contains(&format!("{daemon_pid} the daemon (append")),
        "{}",
        table.stdout
    );
    assert!(!table.stdout.contains("not known"), "{}", table.stdout);
}

#[test]
fn growth_is_known_from_the_daemons_second_run() {
    let project = project();
    project
        .v0_prune(Vec::<&str>::new())
        .env("V0_PRUNE_INTERVAL", "1h")
        .run()
        .expect_code(0);
    assert!(wait_until(PATIENCE, || ls_json(&project, &[])["source"] == "daemon"));
    let first = listed(&ls_json(&project, &[]));
    assert!(
        first["logs/a.log"]["growth_per_hour"].is_null(),
        "one run: not yet"
    );
    let run_id = ls_json(&project, &[])["files"]["run_id"].clone();
    // A second run (the plain prune asks for one).
    std::thread::sleep(std::time::Duration::from_millis(20));
    project
        .v0_prune(Vec::<&str>::new())
        .env("V0_PRUNE_INTERVAL", "1h")
        .run()
        .expect_code(0);
    assert!(wait_until(PATIENCE, || {
        ls_json(&project, &[])["files"]["run_id"] != run_id
    }));
    let second = listed(&ls_json(&project, &[]));
    for (path, file) in &second {
        assert!(
            file["growth_per_hour"].is_i64(),
            "{path}: GROWTH after the second run: {file}"
        );
    }
}
