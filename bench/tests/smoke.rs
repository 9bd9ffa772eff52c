//! Runs the benchmark binary in `--quick` mode and checks its JSON: every case
//! is there and measured, with numbers. No timing is asserted: on a shared
//! machine that would only test the weather.
//!
//! The daemon, CLI and dashboard cases run the workspace's `v0-prune` and
//! `v0-prune-daemon` binaries of the same profile, as the end-to-end tests do
//! (`cargo test --workspace` builds them).

use std::fs::File;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// Far more than a quick run needs (a few seconds, even in a debug build on a busy machine).
const LIMIT: Duration = Duration::from_secs(180);

/// Every case, in table order.
const CASES: [&str; 16] = [
    "large-log-unheld",
    "large-log-in-place",
    "large-log-rewrite",
    "large-log-later-run",
    "many-small-logs",
    "second-run",
    "queue",
    "cli-return",
    "shutdown-return",
    "event-latency",
    "watchers",
    "memory",
    "daemon-memory",
    "dashboard",
    "files-view",
    "all-projects",
];

fn positive(value: &Value, what: &str) -> f64 {
    let number = value
        .as_f64()
        .unwrap_or_else(|| panic!("{what} is not a number: {value}"));
    assert!(number > 0.0, "{what} is not positive: {number}");
    number
}

fn check_measured(contender: &Value, what: &str) {
    assert!(
        contender["name"].as_str().is_some_and(|n| !n.is_empty()),
        "{what}: name"
    );
    let samples = contender["samples"].as_array().expect("samples");
    assert!(!samples.is_empty(), "{what}: no samples");
    if contender["unit"] == "percent" {
        // CPU of an idle process: may round to nothing where the kernel
        // only counts clock ticks.
        for value in samples.iter().chain([&contender["median"]]) {
            let number = value.as_f64().expect("a number");
            assert!((0.0..=100.0 * 64.0).contains(&number), "{what}: {number}");
        }
        return;
    }
    positive(&contender["median"], &format!("{what} median"));
    for sample in samples {
        positive(sample, &format!("{what} sample"));
    }
}

/// The rows of case `id`, with the names of our contenders and their units.
fn rows<'a>(cases: &'a [Value], id: &str) -> Vec<(&'a str, &'a str)> {
    cases
        .iter()
        .find(|c| c["id"] == id)
        .and_then(|c| c["rows"].as_array())
        .unwrap_or_else(|| panic!("{id} has no rows"))
        .iter()
        .map(|r| {
            (
                r["ours"]["name"].as_str().expect("name"),
                r["ours"]["unit"].as_str().expect("unit"),
            )
        })
        .collect()
}

/// Processes whose working directory is under `dir` (daemons and dashboards
/// the bench started run in its generated projects).
fn processes_in(dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_str()
                .is_some_and(|n| n.parse::<u32>().is_ok())
        })
        .filter_map(|e| {
            let cwd = std::fs::read_link(e.path().join("cwd")).ok()?;
            cwd.starts_with(dir).then(|| {
                let comm = std::fs::read_to_string(e.path().join("comm")).unwrap_or_default();
                format!(
                    "{} ({}) in {}",
                    e.file_name().to_string_lossy(),
                    comm.trim(),
                    cwd.display()
                )
            })
        })
        .collect()
}

#[test]
fn quick_run_writes_every_case_with_numbers() {
    let scratch = tempfile::tempdir().expect("tempdir");
    let data = scratch.path().join("data");
    std::fs::create_dir(&data).expect("data dir");
    let json = scratch.path().join("out").join("bench.json");
    let (stdout_path, stderr_path) = (scratch.path().join("stdout"), scratch.path().join("stderr"));
    let mut child = Command::new(env!("CARGO_BIN_EXE_v0-prune-bench"))
        .arg("--quick")
        .arg("--json")
        .arg(&json)
        .arg("--tmp")
        .arg(&data)
        // Never cargo-build from inside `cargo test` (it holds the build lock).
        .arg("--no-build")
        .stdin(Stdio::null())
        .stdout(File::create(&stdout_path).expect("stdout file"))
        .stderr(File::create(&stderr_path).expect("stderr file"))
        .spawn()
        .expect("run the bench");
    // A quick run takes seconds; an engine that hangs must fail the test, not stall the suite.
    let deadline = Instant::now() + LIMIT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "the quick bench did not finish within {LIMIT:?}; its progress:\n{}",
                std::fs::read_to_string(&stderr_path).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let stdout = std::fs::read_to_string(&stdout_path).expect("stdout");
    assert!(
        status.success(),
        "bench failed: {status}\n{stdout}\n{}",
        std::fs::read_to_string(&stderr_path).unwrap_or_default()
    );
    assert!(stdout.contains("| case"), "the table is printed: {stdout}");
    assert_eq!(
        processes_in(&data),
        Vec::<String>::new(),
        "every daemon and dashboard the bench started is gone"
    );
    assert_eq!(
        std::fs::read_dir(&data).expect("list").count(),
        0,
        "generated data is removed"
    );

    let results: Value =
        serde_json::from_slice(&std::fs::read(&json).expect("read json")).expect("valid json");
    assert_eq!(results["version"], 1);
    assert_eq!(results["mode"], "quick");
    let machine = &results["machine"];
    assert!(machine["nproc"].as_u64().is_some_and(|n| n >= 1));
    assert!(machine["kernel"].as_str().is_some_and(|k| !k.is_empty()));
    assert!(machine.get("git_commit").is_some(), "git commit recorded");
    if let Some(commit) = machine["git_commit"].as_str() {
        assert!(
            commit.len() == 40 && commit.chars().all(|c| c.is_ascii_hexdigit()),
            "{commit}"
        );
    }

    let cases = results["cases"].as_array().expect("cases");
    let ids: Vec<&str> = cases.iter().filter_map(|c| c["id"].as_str()).collect();
    assert_eq!(ids, CASES);
    for case in cases {
        let id = case["id"].as_str().expect("id");
        assert!(
            case["title"].as_str().is_some_and(|t| !t.is_empty()),
            "{id}"
        );
        assert_eq!(
            case["status"],
            "measured",
            "{id} ({}): {case}",
            case["needs"].as_str().unwrap_or("")
        );
        let rows = case["rows"].as_array().expect("rows");
        assert!(!rows.is_empty(), "{id}: no rows");
        for row in rows {
            check_measured(&row["ours"], &format!("{id} ours"));
            let verdict = row["verdict"].as_str().expect("verdict");
            assert!(
                ["met", "missed", "info", "skipped"].contains(&verdict),
                "{id}: {verdict}"
            );
            match &row["baseline"] {
                Value::Null => assert_eq!(row["ratio"], Value::Null, "{id}"),
                // A baseline whose tool is missing has no samples, and says why.
                baseline if verdict == "skipped" => {
                    assert!(baseline["samples"].as_array().is_some_and(|s| s.is_empty()));
                    assert!(
                        row["note"].as_str().is_some(),
                        "{id}: skipped without a reason"
                    );
                }
                baseline => {
                    check_measured(baseline, &format!("{id} baseline"));
                    positive(&row["ratio"], &format!("{id} ratio"));
                }
            }
        }
    }
    // The memory cases report MB, the dashboard's idle CPU percent, the
    // others milliseconds; the process cases have every row they promise.
    for id in ["memory", "daemon-memory"] {
        assert!(
            rows(cases, id).iter().all(|(_, unit)| *unit == "mb"),
            "{id}"
        );
    }
    assert_eq!(rows(cases, "daemon-memory").len(), 4);
    for id in ["cli-return", "shutdown-return", "event-latency", "watchers"] {
        assert!(
            rows(cases, id).iter().all(|(_, unit)| *unit == "ms"),
            "{id}"
        );
    }
    assert_eq!(rows(cases, "cli-return").len(), 2);
    assert_eq!(rows(cases, "shutdown-return").len(), 2);
    let watchers = rows(cases, "watchers");
    assert_eq!(watchers.len(), 3, "{watchers:?}");
    assert!(
        watchers[0].0.contains("status round trip, 256 watchers"),
        "{watchers:?}"
    );
    assert!(watchers[2].0.contains("each of 256"), "{watchers:?}");
    let events = rows(cases, "event-latency");
    assert_eq!(events.len(), 4);
    assert!(events[0].0.contains("each of 50"), "{events:?}");
    let dashboard = rows(cases, "dashboard");
    assert!(
        dashboard[..2].iter().all(|(_, unit)| *unit == "ms"),
        "frames in ms: {dashboard:?}"
    );
    match dashboard.get(2) {
        Some((_, unit)) => assert_eq!(*unit, "percent", "idle CPU"),
        // Only without tmux, which the notes then say.
        None => assert!(stdout.contains("idle CPU not measured"), "{stdout}"),
    }
    // The files view: its snapshot's size, then a first and a steady run
    // with it against the same run without it.
    // Every project at once: two timings, then a daemon's RSS.
    let all = rows(cases, "all-projects");
    assert_eq!(all.len(), 3, "{all:?}");
    assert!(all[0].0.contains("--all-projects"), "{all:?}");
    assert_eq!(
        all.iter().map(|(_, unit)| *unit).collect::<Vec<_>>(),
        ["ms", "ms", "mb"]
    );
    let files = rows(cases, "files-view");
    assert_eq!(files.len(), 3, "{files:?}");
    assert_eq!(files[0], ("snapshot frame (postcard)", "kib"));
    assert!(
        files[1..].iter().all(|(_, unit)| *unit == "ms"),
        "{files:?}"
    );
    assert!(Path::new(&json).is_file());
}
