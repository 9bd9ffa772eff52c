//! `v0-prune ls`: what is using the space, with the real binaries — on the
//! demo project without a daemon (computed, read-only), under a positional
//! writer, and with the daemon's own view.

use serde_json::Value;
use v0_prune_testkit::{Invocation, TestProject, Tree, Writer, hours, stamp};

/// `v0-prune ls <args>` in `project`, with an interval long enough that no
/// scheduled run lands inside a test.
fn ls(project: &TestProject, args: &[&str]) -> Invocation {
    project
        .v0_prune(std::iter::once("ls").chain(args.iter().copied()))
        .env("V0_PRUNE_INTERVAL", "1h")
}

fn ls_json(project: &TestProject) -> Value {
    let run = ls(project, &["--json"]).run();
    run.expect_code(0);
    serde_json::from_str(&run.stdout)
        .unwrap_or_else(|err| panic!("ls --json is not JSON ({err}):\n{}", run.stdout))
}

/// Every `*.log` under `root`, relative, as `ls` names them.
fn logs_under(root: &std::path::Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("read dir").flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|ext| ext == "log") {
                let relative = path.strip_prefix(root).expect("under root");
                found.push(relative.display().to_string());
            }
        }
    }
    found.sort();
    found
}

#[test]
fn on_the_demo_project_without_a_daemon_ls_lists_every_log_and_changes_nothing() {
    let project = TestProject::demo();
    let expected = project.expected.clone().expect("demo");
    let before = Tree::of(project.build.root());

    let run = ls(&project, &[]).run();
    run.expect_code(0);
    let text = &run.stdout;
    assert!(
        text.starts_with(&format!(
            "Logs of {}: computed now, read-only",
            project.build.root().display()
        )),
        "{text}"
    );
    let header = text.lines().nth(1).expect("header");
    for column in [
        "SIZE", "OLDEST", "GROWTH", "NEXT RUN", "HOLDER", "METHOD", "PATH",
    ] {
        assert!(header.contains(column), "{header}");
    }
    let logs = logs_under(project.build.root());
    assert_eq!(logs.len(), expected.log_files, "{logs:?}");
    for log in &logs {
        assert!(
            text.lines().any(|line| line.ends_with(&format!("  {log}"))),
            "{log} not listed:\n{text}"
        );
    }
    let total = format!("Total: {} logs, ", logs.len());
    assert!(text.lines().any(|line| line.starts_with(&total)), "{text}");
    assert!(text.contains("KiB"), "human units:\n{text}");
    assert!(
        text.lines()
            .any(|line| line.starts_with("Merge queue mergeq/queue.json: ")),
        "{text}"
    );
    // Read-only, like --dry-run: not a byte changed, nothing created.
    assert_eq!(Tree::of(project.build.root()), before);

    let json = ls_json(&project);
    assert_eq!(json["source"], "computed");
    let files = &json["files"];
    assert_eq!(files["total_files"], expected.log_files as u64);
    let largest = files["largest"].as_array().expect("largest");
    let sizes: Vec<u64> = largest
        .iter()
        .map(|f| f["size"].as_u64().expect("size"))
        .collect();
    assert!(
        sizes.windows(2).all(|w| w[0] >= w[1]),
        "not sorted by size: {sizes:?}"
    );
    let on_disk: u64 = logs
        .iter()
        .map(|log| {
            std::fs::metadata(project.build.path(log))
                .expect("log")
                .len()
        })
        .sum();
    assert_eq!(files["total_bytes"], on_disk);
    // What a run now would remove is exactly what the demo's rules remove.
    assert_eq!(files["total_next_reclaim"], expected.log_bytes_removed);
    assert_eq!(
        files["queue"]["next_removable"],
        expected.queue_entries_removed as u64
    );
    assert_eq!(Tree::of(project.build.root()), before);
}

#[test]
fn a_positional_writers_log_is_listed_as_skipped_with_its_reason_with_and_without_the_daemon() {
    let project = TestProject::bare();
    let (old, new) = (stamp(hours(30)), stamp(hours(1)));
    project
        .build
        .write("logs/worker.log", format!("[{old}] old\n[{new}] new\n"));
    project.build.write(
        "logs/script.log",
        format!("[{old}] typed long ago\n[{new}] typed now\n"),
    );
    let writer = Writer::positional(&project.build.path("logs/script.log"));
    let reason = format!(
        "    skipped: held open for writing without O_APPEND by pid {} (sleep); pruning under it would leave NUL bytes or lose lines",
        writer.pid()
    );

    let alone = ls(&project, &[]).run();
    alone.expect_code(0).expect_line(&reason);
    let row = alone
        .stdout
        .lines()
        .find(|line| line.ends_with("  logs/script.log"))
        .expect("a row for the writer's log");
    assert!(
        row.contains(&format!("{} sleep (positional)", writer.pid())),
        "{row}"
    );
    assert!(row.contains("skipped"), "{row}");
    // Its oldest entry, 30 hours old, is there to see.
    assert!(row.contains("1d 6h"), "{row}");

    // With the daemon: its view after its first run says the same.
    project
        .v0_prune(std::iter::empty::<&str>())
        .env("V0_PRUNE_INTERVAL", "1h")
        .run()
        .expect_code(0);
    project.build.wait_for_daemon_log("Sleeping for", 1);
    let pid = project.build.daemon_pid().expect("daemon pid");
    let with_daemon = ls(&project, &[]).run();
    with_daemon.expect_code(0).expect_line(&reason);
    assert!(
        with_daemon.stdout.starts_with(&format!(
            "Logs of {}: as the daemon (pid {pid}) saw them",
            project.build.root().display()
        )),
        "{}",
        with_daemon.stdout
    );
    let json = ls_json(&project);
    assert_eq!(json["source"], "daemon");
    assert_eq!(json["daemon_pid"], pid);
    let script = json["files"]["largest"]
        .as_array()
        .expect("largest")
        .iter()
        .find(|f| f["path"] == "logs/script.log")
        .expect("listed");
    assert_eq!(script["holders"][0]["access"], "positional");
    assert_eq!(script["holders"][0]["pid"], writer.pid());
    // The worker's expired line is gone: the daemon's run did it.
    let worker = json["files"]["largest"]
        .as_array()
        .expect("largest")
        .iter()
        .find(|f| f["path"] == "logs/worker.log")
        .expect("listed");
    assert_eq!(worker["method"], "rewrite");
    assert_eq!(worker["lines_removed"], 1);
}

#[test]
fn outside_a_project_ls_says_what_to_do_and_exits_1() {
    let dir = tempfile::tempdir().expect("tempdir");
    let run = Invocation::new("v0-prune", dir.path()).args(["ls"]).run();
    run.expect_code(1)
        .expect_stderr("Error: No .v0.rc found in current directory or parents.\n")
        .expect_stderr("(or pass --build-dir DIR / set BUILD_DIR)");
    assert!(run.stdout.is_empty(), "{}", run.stdout);
}

#[test]
fn ls_help_explains_the_columns() {
    let project = TestProject::bare();
    let run = ls(&project, &["--help"]).run();
    // As every help: exit 1, as v0's do (docs/exit-codes.md), on stdout only.
    run.expect_code(1);
    assert_eq!(run.stderr, "", "help goes to stdout");
    // Words, whatever the lines they are wrapped on.
    let words = |text: &str| text.split_whitespace().collect::<Vec<_>>().join(" ");
    let help = words(&run.stdout);
    for phrase in [
        "Usage: v0-prune ls [OPTIONS]",
        "--json",
        "NEXT RUN what the next run would give back",
        "positional (written at its own offset: never pruned)",
        "read-only (like --dry-run: nothing is written)",
    ] {
        assert!(help.contains(phrase), "{phrase:?} not in:\n{}", run.stdout);
    }
}

/// With `V0_PRUNE_MAX_SIZE` set and the logs over it after the age rule,
/// `ls` (computed, read-only) says what a run now would remove for the
/// budget and for age, in the table and in `--json`, and changes nothing.
#[test]
fn ls_says_what_the_size_budget_would_remove_and_changes_nothing() {
    let project = TestProject::bare();
    // 3 hours of entries, one every 5 s: retention 6 h removes none of them,
    // a budget of 64 KiB removes the oldest; the last 10 minutes stay.
    let mut content = String::new();
    for i in (0..3 * 720).rev() {
        let at = stamp(std::time::Duration::from_secs(i * 5 + 1));
        content.push_str(&format!(
            "[{at}] worker step {i:05} done, padding to 64 bytes\n"
        ));
    }
    project.build.write("logs/worker.log", &content);
    let before = Tree::of(project.build.root());

    let run = ls(&project, &[]).env("V0_PRUNE_MAX_SIZE", "64K").run();
    run.expect_code(0);
    let line = run
        .stdout
        .lines()
        .find(|l| l.starts_with("Size budget (a run now): "))
        .unwrap_or_else(|| panic!("no budget line:\n{}", run.stdout));
    assert!(line.contains("for the budget"), "{line}");

    let json = ls(&project, &["--json"])
        .env("V0_PRUNE_MAX_SIZE", "64K")
        .run();
    json.expect_code(0);
    let value: Value = serde_json::from_str(&json.stdout).expect("json");
    let budget = &value["budget"];
    assert_eq!(budget["max_bytes"], 64 * 1024, "{budget}");
    assert_eq!(budget["bytes_for_age"], 0, "{budget}");
    let for_budget = budget["bytes_for_budget"]
        .as_u64()
        .expect("bytes_for_budget");
    let total = content.len() as u64;
    assert!(
        for_budget >= total - 64 * 1024 && for_budget < total,
        "{for_budget} of {total} bytes for the budget: {budget}"
    );

    // Without a budget there is no budget line, and no `budget` in the JSON.
    let plain = ls(&project, &[]).run();
    assert!(!plain.stdout.contains("Size budget"), "{}", plain.stdout);
    assert!(ls_json(&project)["budget"].is_null());
    before.assert_same(&Tree::of(project.build.root()), "`ls` with a budget");
}
