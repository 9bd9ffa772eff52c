//! `v0-prune` end to end: the real binary against real projects on disk,
//! checking v0's messages and exit codes and what is left on disk.

use serde_json::{Value, json};
use v0_prune_testkit::{Invocation, TestProject, Tree, hours, stamp};

/// The phases the contract calls finished, by its rule.
fn is_finished(state: &Value) -> bool {
    let phase = state["phase"].as_str().unwrap_or("");
    let merged = state["merge_status"].as_str() == Some("merged");
    matches!(phase, "merged" | "cancelled")
        || (matches!(phase, "completed" | "pending_merge") && merged)
}

/// A project with one operation in every phase, plus merged variants.
fn project_with_operations() -> TestProject {
    let project = TestProject::bare();
    for phase in v0_prune_shared::demo::PHASES {
        project
            .build
            .operation(&format!("op-{phase}"), json!({ "phase": phase }));
    }
    project.build.operation(
        "op-completed-merged",
        json!({ "phase": "completed", "merge_status": "merged" }),
    );
    project.build.operation(
        "op-pending-merged",
        json!({ "phase": "pending_merge", "merge_status": "merged", "machine": "elsewhere" }),
    );
    project
}

const FINISHED: [(&str, &str); 4] = [
    ("op-cancelled", "cancelled"),
    ("op-completed-merged", "completed"),
    ("op-merged", "merged"),
    ("op-pending-merged", "pending_merge"),
];

/// Logs and a merge queue with entries on both sides of the 6 h cutoff.
fn add_logs_and_queue(project: &TestProject) {
    let old = stamp(hours(30));
    let new = stamp(hours(1));
    project.build.write(
        "logs/mergeq.log",
        format!(
            "[{old}] merge started: op-a\n  continuation of the old entry\n\
             [{new}] merge started: op-b\n  continuation of the new entry\n"
        ),
    );
    project.build.write(
        "operations-events.log",
        format!("[{old}] old event\n[{new}] new event\n"),
    );
    project
        .build
        .write("notes.log", "no timestamps here\nat all\n");
    project.build.write(
        "mergeq/queue.json",
        serde_json::to_vec_pretty(&json!({
            "version": 1,
            "entries": [
                { "id": "q-old-done", "status": "completed", "updated_at": old, "extra": [1, 2] },
                { "id": "q-old-failed", "status": "failed", "enqueued_at": old },
                { "id": "q-new-done", "status": "completed", "updated_at": new },
                { "id": "q-old-pending", "status": "pending", "enqueued_at": old },
                { "zeta": true, "id": "q-old-conflict", "status": "conflict", "updated_at": old },
            ]
        }))
        .expect("json"),
    );
}

fn queue_ids(project: &TestProject) -> Vec<String> {
    let queue: Value =
        serde_json::from_slice(&project.build.read("mergeq/queue.json")).expect("json");
    queue["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|entry| entry["id"].as_str().expect("id").to_owned())
        .collect()
}

// ---- help, usage, version ---------------------------------------------------

#[test]
fn help_exits_1_and_starts_with_v0_headline() {
    let project = TestProject::bare();
    for flag in ["-h", "--help"] {
        let run = project.v0_prune([flag]).run();
        run.expect_code(1);
        assert!(
            run.stdout
                .starts_with("v0 prune - Remove operation state\n"),
            "{flag}: {}",
            run.stdout
        );
        for option in [
            "--all",
            "--force",
            "--dry-run",
            "--json",
            "--build-dir",
            "--sync",
        ] {
            assert!(run.stdout.contains(option), "{flag} lacks {option}");
        }
        assert!(run.stdout.contains("Examples:") && run.stdout.contains("Exit status:"));
    }
}

#[test]
fn unknown_option_is_a_usage_error_exit_1() {
    let project = project_with_operations();
    let before = project.snapshot();
    for args in [&["--bogus"][..], &["-n", "--bogus", "op-merged"]] {
        let run = project.v0_prune(args).run();
        // v0: `Unknown option: X` on stderr, then its usage on stdout.
        run.expect_code(1);
        assert_eq!(run.stderr, "Unknown option: --bogus\n", "{args:?}");
        assert!(
            run.stdout
                .starts_with("v0 prune - Remove operation state\n\nUsage: v0 prune"),
            "{}",
            run.stdout
        );
        assert!(run.stdout.ends_with("# Preview what would be pruned\n"));
        before.assert_same(&project.snapshot(), "a usage error");
    }
}

#[test]
fn version_exits_0() {
    let project = TestProject::bare();
    let run = project.v0_prune(["--version"]).run();
    run.expect_code(0);
    assert!(
        run.stdout.contains(env!("CARGO_PKG_VERSION")),
        "{}",
        run.stdout
    );
}

// ---- operations ---------------------------------------------------------------

#[test]
fn default_prune_removes_only_finished_operations() {
    let project = project_with_operations();
    let before = project.build.operations();
    let run = project.v0_prune(["--sync"]).run();
    run.expect_code(0);
    for (name, phase) in FINISHED {
        run.expect_line(&format!("Pruned: {name} ({phase})"));
    }
    run.expect_line("Pruned 4 operation(s)");
    let expected: Vec<String> = before
        .into_iter()
        .filter(|name| !FINISHED.iter().any(|(finished, _)| finished == name))
        .collect();
    assert_eq!(project.build.operations(), expected);
}

#[test]
fn default_prune_on_the_demo_project_follows_the_contract_rule() {
    let project = TestProject::demo();
    let expected = project.expected.clone().expect("a demo project");
    let states = project.build.operation_states();
    let finished: Vec<String> = states
        .iter()
        .filter(|(_, state)| is_finished(state))
        .map(|(name, _)| name.clone())
        .collect();
    assert_eq!(finished, expected.finished_operations);
    assert!(!finished.is_empty(), "the demo has finished operations");
    let kept: Vec<String> = states
        .keys()
        .filter(|name| !finished.contains(name))
        .cloned()
        .collect();
    assert!(!kept.is_empty(), "the demo has unfinished operations");

    let run = project.v0_prune(["--sync"]).run();
    run.expect_code(0);
    for name in &finished {
        let phase = states[name]["phase"].as_str().expect("phase");
        run.expect_line(&format!("Pruned: {name} ({phase})"));
    }
    run.expect_line(&format!("Pruned {} operation(s)", finished.len()));
    run.expect_line(&format!(
        "Pruned {} mergeq entries older than 6 hours",
        expected.queue_entries_removed
    ));
    assert!(
        run.stdout
            .lines()
            .any(|line| line.starts_with("Reclaimed ")),
        "{}",
        run.stdout
    );
    assert_eq!(project.build.operations(), kept);
}

#[test]
fn dry_run_json_on_the_demo_matches_what_the_generator_expects() {
    let project = TestProject::demo();
    let expected = project.expected.clone().expect("a demo project");
    let before = project.snapshot();
    let run = project.v0_prune(["--dry-run", "--json"]).run();
    run.expect_code(0);
    let report: Value = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|err| panic!("stdout is not JSON ({err}):\n{}", run.stdout));
    let mut pruned: Vec<String> = report["operations"]["pruned"]
        .as_array()
        .expect("pruned operations")
        .iter()
        .map(|op| op["name"].as_str().expect("name").to_owned())
        .collect();
    pruned.sort();
    assert_eq!(pruned, expected.finished_operations);
    assert_eq!(report["dry_run"], true);
    assert_eq!(
        report["run"]["logs"]["lines_removed"],
        expected.log_lines_removed
    );
    assert_eq!(
        report["run"]["queue"]["removed"].as_array().map(Vec::len),
        Some(expected.queue_entries_removed)
    );
    before.assert_same(&project.snapshot(), "a dry run with --json");
}

#[test]
fn nothing_finished_and_no_operations_dir_have_v0_messages() {
    let project = TestProject::bare();
    project
        .build
        .operation("op-a", json!({ "phase": "executing" }));
    project
        .v0_prune(Vec::<&str>::new())
        .run()
        .expect_code(0)
        .expect_line("No completed or cancelled operations to prune");
    assert_eq!(project.build.operations(), ["op-a"]);

    let empty = TestProject::bare();
    std::fs::remove_dir(empty.build.path("operations")).expect("no operations/");
    empty
        .v0_prune(Vec::<&str>::new())
        .run()
        .expect_code(0)
        .expect_line("No operations to prune");
}

#[test]
fn named_prune_removes_just_that_operation() {
    let project = project_with_operations();
    let run = project
        .v0_prune(["--sync", "op-executing", "op-failed"])
        .run();
    run.expect_code(0)
        .expect_line("Pruned operation 'op-executing'")
        .expect_line("Pruned operation 'op-failed'");
    let left = project.build.operations();
    assert!(!left.contains(&"op-executing".to_owned()));
    assert!(!left.contains(&"op-failed".to_owned()));
    assert_eq!(left.len(), 11, "only the two named went: {left:?}");
}

#[test]
fn unknown_name_exits_1_and_removes_nothing() {
    let project = project_with_operations();
    add_logs_and_queue(&project);
    let before = project.snapshot();
    let run = project.v0_prune(["no-such-op"]).run();
    run.expect_code(1)
        .expect_stderr("Error: Operation 'no-such-op' not found");
    before.assert_same(&project.snapshot(), "an unknown name");

    // A known name beside an unknown one: still nothing removed.
    let run = project.v0_prune(["op-merged", "no-such-op"]).run();
    run.expect_code(1)
        .expect_stderr("Error: Operation 'no-such-op' not found");
    before.assert_same(&project.snapshot(), "a known name beside an unknown one");
}

#[test]
fn path_like_names_are_rejected_and_nothing_is_deleted() {
    let project = project_with_operations();
    add_logs_and_queue(&project);
    // Bait: what a naive `rm -rf operations/$name` would reach.
    project
        .build
        .write("operations/op-merged/b/state.json", r#"{"phase":"merged"}"#);
    std::fs::write(project.root.join(".v0").join("sibling.txt"), "keep me").expect("sibling");
    let victim = project.temp().join("victim");
    std::fs::create_dir_all(&victim).expect("victim dir");
    std::fs::write(victim.join("state.json"), r#"{"phase":"merged"}"#).expect("victim");
    let victim = victim.to_string_lossy().into_owned();
    let before = project.snapshot();

    for name in [
        "..",
        ".",
        "op-merged/b",
        "a/b",
        "/tmp",
        victim.as_str(),
        "",
        "../..",
    ] {
        let run = project.v0_prune([name]).run();
        run.expect_code(1).expect_stderr("Error: ");
        assert!(
            run.stderr.contains("invalid operation name"),
            "{name:?}: {}",
            run.stderr
        );
        before.assert_same(&project.snapshot(), &format!("the name {name:?}"));
    }
    assert!(project.build.root().is_dir());
}

#[test]
fn all_with_closed_stdin_counts_as_no() {
    let project = project_with_operations();
    add_logs_and_queue(&project);
    let before = project.snapshot();
    let run = project.v0_prune(["--all"]).run();
    run.expect_code(1)
        .expect_line("Aborted")
        .expect_line(&format!(
            "This will remove ALL operation state in {}/operations/",
            project.build.root().display()
        ));
    assert!(
        run.stdout.contains("Are you sure? [y/N] "),
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains("Pruned all operations"));
    before.assert_same(&project.snapshot(), "a declined --all");

    for no in ["n\n", "yes\n", "\n"] {
        let run = project.v0_prune(["--all"]).stdin(no).run();
        run.expect_code(1)
            .expect_line("Are you sure? [y/N] Aborted");
        before.assert_same(&project.snapshot(), "--all answered n");
    }
}

#[test]
fn all_with_force_or_yes_removes_every_operation() {
    let project = project_with_operations();
    // A stray file and a symbolic link inside operations/ go with it (the
    // link itself, never what it points to), as v0's rm -rf.
    project.build.write("operations/notes.txt", "stray");
    let outside = project.temp().join("outside");
    std::fs::create_dir_all(&outside).expect("outside");
    std::fs::write(outside.join("keep"), "keep").expect("keep");
    std::os::unix::fs::symlink(&outside, project.build.path("operations/link")).expect("symlink");
    let run = project.v0_prune(["--sync", "--all", "--force"]).run();
    run.expect_code(0).expect_line("Pruned all operations");
    assert!(!run.stdout.contains("Are you sure"));
    assert!(
        !project.build.path("operations").exists(),
        "v0 removes operations/ itself"
    );
    assert!(outside.join("keep").is_file(), "a link is never followed");

    let project = project_with_operations();
    let run = project.v0_prune(["--sync", "-a"]).stdin("y\n").run();
    run.expect_code(0)
        .expect_line("Are you sure? [y/N] Pruned all operations");
    assert!(!project.build.path("operations").exists());

    // v0: --all wins over names.
    let project = project_with_operations();
    let run = project.v0_prune(["--sync", "-a", "-f", "op-merged"]).run();
    run.expect_code(0).expect_line("Pruned all operations");
    assert!(!project.build.path("operations").exists());
}

// ---- dry run and JSON -----------------------------------------------------------

#[test]
fn dry_run_changes_nothing_and_says_what_would_go() {
    let project = project_with_operations();
    add_logs_and_queue(&project);
    let before = project.snapshot();
    let run = project.v0_prune(["--dry-run"]).run();
    run.expect_code(0);
    for (name, phase) in FINISHED {
        run.expect_line(&format!("Would prune: {name} ({phase})"));
    }
    run.expect_line("Pruning old mergeq entries...")
        .expect_line("Would prune 3 mergeq entries older than 6 hours")
        .expect_line("Pruning old log entries...")
        .expect_line("Would prune 2 lines from: logs/mergeq.log")
        .expect_line("Would prune 1 lines from: operations-events.log");
    before.assert_same(&project.snapshot(), "a dry run");

    let run = project.v0_prune(["-n", "--all"]).run();
    run.expect_code(0).expect_line(&format!(
        "Would remove: {}/operations/",
        project.build.root().display()
    ));
    assert!(
        !run.stdout.contains("Are you sure"),
        "a dry run does not ask"
    );
    before.assert_same(&project.snapshot(), "a dry run of --all");
}

#[test]
fn dry_run_on_the_demo_project_changes_nothing() {
    let project = TestProject::demo();
    let before = project.snapshot();
    let run = project.v0_prune(["-n"]).run();
    run.expect_code(0);
    assert!(run.stdout.contains("Would prune"), "{}", run.stdout);
    before.assert_same(&project.snapshot(), "a dry run of the demo");
}

#[test]
fn json_report_is_the_only_thing_on_stdout() {
    let project = project_with_operations();
    add_logs_and_queue(&project);
    let run = project.v0_prune(["--json"]).run();
    run.expect_code(0);
    let report: Value = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|err| panic!("stdout is not JSON ({err}):\n{}", run.stdout));
    let mut pruned: Vec<&str> = report["operations"]["pruned"]
        .as_array()
        .expect("pruned operations")
        .iter()
        .map(|op| op["name"].as_str().expect("name"))
        .collect();
    pruned.sort_unstable();
    let expected: Vec<&str> = FINISHED.iter().map(|(name, _)| *name).collect();
    assert_eq!(pruned, expected);
    assert_eq!(report["dry_run"], false);
    assert_eq!(
        report["run"]["queue"]["removed"].as_array().map(Vec::len),
        Some(3)
    );
    assert_eq!(report["run"]["logs"]["lines_removed"], 3);
    assert_eq!(report["errors"], json!([]));
}

// ---- logs and merge queue -------------------------------------------------------

#[test]
fn logs_and_queue_are_pruned_with_a_summary() {
    let project = project_with_operations();
    add_logs_and_queue(&project);
    let notes = project.build.read("notes.log");
    let run = project.v0_prune(["--sync"]).run();
    run.expect_code(0)
        .expect_line("Pruned 3 mergeq entries older than 6 hours")
        .expect_line("Pruned 2 lines from: logs/mergeq.log");
    assert!(
        run.stdout
            .lines()
            .any(|line| line.starts_with("Reclaimed ")),
        "{}",
        run.stdout
    );
    let mergeq_log = project.build.read_text("logs/mergeq.log");
    assert!(!mergeq_log.contains("merge started: op-a"), "{mergeq_log}");
    assert!(!mergeq_log.contains("continuation of the old entry"));
    assert!(mergeq_log.contains("merge started: op-b\n  continuation of the new entry\n"));
    assert_eq!(
        project
            .build
            .read_text("operations-events.log")
            .lines()
            .count(),
        1
    );
    assert_eq!(
        project.build.read("notes.log"),
        notes,
        "no timestamps, left alone"
    );
    assert_eq!(queue_ids(&project), ["q-new-done", "q-old-pending"]);
}

#[test]
fn corrupt_queue_is_left_identical_and_logs_are_still_pruned() {
    let project = project_with_operations();
    add_logs_and_queue(&project);
    let corrupt =
        b"{\"version\":1,\"entries\":[\n  {\"id\": \"q1\", \"status\": \"completed\",,\n".to_vec();
    project.build.write("mergeq/queue.json", &corrupt);
    let run = project.v0_prune(["--sync"]).run();
    run.expect_code(1).expect_stderr("queue.json");
    assert!(
        run.stderr.contains("line") && run.stderr.contains("column"),
        "the error gives the parse position: {}",
        run.stderr
    );
    assert_eq!(project.build.read("mergeq/queue.json"), corrupt);
    assert!(
        !project
            .build
            .read_text("logs/mergeq.log")
            .contains("merge started: op-a")
    );
    run.expect_line("Pruned 4 operation(s)");
}

// ---- versions ---------------------------------------------------------------------

/// `NAME 0.1.0 (abc1234 2026-11-29)`, `(abc1234-dirty ...)`, or `(unknown
/// commit)` when built without git: both binaries, stamped by build.rs.
#[test]
fn both_binaries_name_their_version_and_commit() {
    let dir = tempfile::tempdir().expect("temp dir");
    for name in ["v0-prune", "v0-prune-daemon"] {
        let run = Invocation::new(name, dir.path()).args(["--version"]).run();
        run.expect_code(0);
        let version = run.stdout.trim_end();
        let rest = version
            .strip_prefix(&format!("{name} {} (", env!("CARGO_PKG_VERSION")))
            .unwrap_or_else(|| panic!("no name and version: {version:?}"));
        let commit = rest.strip_suffix(')').expect("a closing parenthesis");
        if commit != "unknown commit" {
            let (hash, date) = commit.split_once(' ').expect("hash and date");
            let hash = hash.strip_suffix("-dirty").unwrap_or(hash);
            assert!(
                hash.len() >= 7 && hash.bytes().all(|b| b.is_ascii_hexdigit()),
                "{version}"
            );
            assert!(date.len() == 10 && date.as_bytes()[4] == b'-', "{version}");
        }
    }
}

// ---- finding the project --------------------------------------------------------

#[test]
fn no_project_exits_1_with_v0_message_and_hint() {
    let dir = tempfile::tempdir().expect("temp dir");
    let run = Invocation::new("v0-prune", dir.path()).run();
    run.expect_code(1)
        .expect_stderr("Error: No .v0.rc found in current directory or parents.\n")
        .expect_stderr("Run 'v0 init' to create one, or cd to a project with .v0.rc\n")
        .expect_stderr("--build-dir");
    assert!(run.stdout.is_empty());
}

#[test]
fn missing_build_dir_is_nothing_to_prune() {
    let project = TestProject::without_build_dir();
    let run = project.v0_prune(Vec::<&str>::new()).run();
    // v0 stops right there, exit 0.
    run.expect_code(0);
    assert_eq!(run.stdout, "No operations to prune\n");
    assert!(!project.build.root().exists(), "a prune must not create it");
}

#[test]
fn build_dir_flag_and_env_point_at_the_state() {
    let project = project_with_operations();
    let elsewhere = tempfile::tempdir().expect("temp dir");
    let build_dir = project.build.root().to_string_lossy().into_owned();
    let run = Invocation::new("v0-prune", elsewhere.path())
        .args(["-n", "--build-dir", build_dir.as_str()])
        .run();
    run.expect_code(0)
        .expect_line("Would prune: op-merged (merged)");

    let run = Invocation::new("v0-prune", elsewhere.path())
        .env("BUILD_DIR", project.build.root())
        .args(["--sync"])
        .run();
    run.expect_code(0).expect_line("Pruned 4 operation(s)");
    assert_eq!(project.build.operations().len(), 9);
}

#[test]
fn subdirectory_of_the_project_finds_it() {
    let project = project_with_operations();
    let sub = project.root.join("src").join("deep");
    std::fs::create_dir_all(&sub).expect("subdir");
    let run = project.v0_prune(["-n"]).cwd(&sub).run();
    run.expect_code(0)
        .expect_line("Would prune: op-merged (merged)");
}

// ---- tmux sessions and the build-directory guard --------------------------------

#[test]
#[cfg_attr(
    not(v0_prune_has_tmux),
    ignore = "needs tmux on PATH (apt install tmux)"
)]
fn running_tmux_session_is_asked_about_and_kept_unless_confirmed() {
    let project = project_with_operations();
    let session = "v0-e2e-op-executing";
    let started = project.tmux(&["new-session", "-d", "-s", session, "sleep 600"]);
    assert_eq!(started, Some(true), "tmux new-session");
    // No `machine` field: the operation counts as this machine's.
    project.build.operation(
        "op-session",
        json!({ "phase": "executing", "tmux_session": session }),
    );

    // v0: a warning and a question on stdout; no is `Aborted`, exit 1,
    // and nothing after it runs (not even the later names).
    let run = project
        .v0_prune(["--sync", "op-session", "op-merged"])
        .stdin("n\n")
        .run();
    run.expect_code(1)
        .expect_line(&format!("Warning: Session '{session}' is still running"))
        .expect_line("Kill session and prune? [y/N] Aborted");
    assert!(!run.stdout.contains("Pruning old"), "{}", run.stdout);
    assert!(
        project
            .build
            .operations()
            .contains(&"op-session".to_owned())
    );
    assert!(project.build.operations().contains(&"op-merged".to_owned()));
    assert_eq!(project.tmux(&["has-session", "-t", session]), Some(true));

    let run = project
        .v0_prune(["--sync", "op-session"])
        .stdin("y\n")
        .run();
    run.expect_code(0)
        .expect_line("Kill session and prune? [y/N] Pruned operation 'op-session'");
    assert!(
        !project
            .build
            .operations()
            .contains(&"op-session".to_owned())
    );
    assert_eq!(
        project.tmux(&["has-session", "-t", session]),
        Some(false),
        "the session was killed"
    );
}

#[test]
#[cfg_attr(
    not(v0_prune_has_tmux),
    ignore = "needs tmux on PATH (apt install tmux)"
)]
fn force_kills_the_session_without_asking() {
    let project = project_with_operations();
    let session = "v0-e2e-forced";
    let started = project.tmux(&["new-session", "-d", "-s", session, "sleep 600"]);
    assert_eq!(started, Some(true), "tmux new-session");
    project.build.operation(
        "op-forced",
        json!({ "phase": "executing", "tmux_session": session }),
    );
    let run = project.v0_prune(["--sync", "--force", "op-forced"]).run();
    run.expect_code(0)
        .expect_line("Pruned operation 'op-forced'");
    assert!(!run.stdout.contains("[y/N]"), "{}", run.stdout);
    assert_eq!(project.tmux(&["has-session", "-t", session]), Some(false));
}

#[test]
fn a_directory_that_is_not_a_build_dir_is_refused_unless_forced() {
    let dir = tempfile::tempdir().expect("temp dir");
    let photos = dir.path().join("photos");
    std::fs::create_dir_all(&photos).expect("dir");
    let old = stamp(hours(30));
    let camera = format!("[{old}] shutter\n");
    std::fs::write(photos.join("camera.log"), &camera).expect("log");
    let before = Tree::of(dir.path());

    let run = Invocation::new("v0-prune", dir.path())
        .env("BUILD_DIR", &photos)
        .run();
    run.expect_code(1)
        .expect_stderr("Error: refusing to prune")
        .expect_stderr("--force");
    before.assert_same(&Tree::of(dir.path()), "a refused build directory");

    // v0 prunes logs only past its operations part: give it an operations/.
    std::fs::create_dir_all(photos.join("operations")).expect("operations");
    let run = Invocation::new("v0-prune", dir.path())
        .env("BUILD_DIR", &photos)
        .args(["--sync", "--force"])
        .run();
    run.expect_code(0);
    assert_eq!(
        std::fs::read_to_string(photos.join("camera.log")).expect("log"),
        "",
        "forced: the old line went"
    );
}

// ---- options before or after a subcommand; names that are subcommands ----------

/// A project with operations named like subcommands, and a directory that
/// is not a project: only `--build-dir` can lead a command to the project.
fn project_with_subcommand_names() -> (TestProject, tempfile::TempDir, String) {
    let project = project_with_operations();
    for name in ["status", "top", "events", "shutdown", "daemon", "man"] {
        project
            .build
            .operation(name, json!({ "phase": "executing" }));
    }
    let elsewhere = tempfile::tempdir().expect("temp dir");
    let build_dir = project.build.root().to_string_lossy().into_owned();
    (project, elsewhere, build_dir)
}

#[test]
fn build_dir_before_or_after_a_subcommand_means_the_same() {
    let (project, elsewhere, dir) = project_with_subcommand_names();
    let before = project.snapshot();
    let cases: [(&str, &[&str], i32); 3] = [
        ("status", &[], 3),
        ("events", &[], 3),
        ("shutdown", &["-n"], 0),
    ];
    for (subcommand, extra, code) in cases {
        let first: Vec<&str> = ["--build-dir", dir.as_str(), subcommand]
            .into_iter()
            .chain(extra.iter().copied())
            .collect();
        let last: Vec<&str> = std::iter::once(subcommand)
            .chain(extra.iter().copied())
            .chain(["--build-dir", dir.as_str()])
            .collect();
        let first = Invocation::new("v0-prune", elsewhere.path())
            .args(&first)
            .run();
        let last = Invocation::new("v0-prune", elsewhere.path())
            .args(&last)
            .run();
        first.expect_code(code);
        last.expect_code(code);
        assert_eq!(first.stdout, last.stdout, "{subcommand}");
        assert_eq!(first.stderr, last.stderr, "{subcommand}");
        let said = format!("{}{}", first.stdout, first.stderr);
        assert!(
            !said.contains("not found") && !said.contains(".v0.rc"),
            "{subcommand}: {said}"
        );
        if subcommand == "events" {
            assert!(said.contains(&dir), "events used --build-dir: {said}");
        }
        if subcommand == "status" {
            assert!(
                first.stdout.contains(&dir),
                "{subcommand} used --build-dir: {}",
                first.stdout
            );
        }
    }
    // An option of the subcommand's own, before it: `-n shutdown` is `shutdown -n`.
    let run = Invocation::new("v0-prune", elsewhere.path())
        .args(["-n", "--build-dir", dir.as_str(), "shutdown"])
        .run();
    run.expect_code(0);
    assert!(!run.stdout.contains("Pruned"), "{}", run.stdout);
    // One that it does not take is an error before or after it.
    for args in [&["--all", "status"][..], &["status", "--all"]] {
        let run = Invocation::new("v0-prune", elsewhere.path())
            .args(args)
            .run();
        run.expect_code(1).expect_stderr("--all");
    }
    before.assert_same(&project.snapshot(), "subcommands with --build-dir anywhere");
}

#[test]
fn top_and_daemon_take_build_dir_before_or_after() {
    let (project, elsewhere, dir) = project_with_subcommand_names();
    // Not a terminal: the dashboard says so, whichever the order; no
    // operation named `top` is pruned or looked for.
    for args in [
        &["--build-dir", dir.as_str(), "top"][..],
        &["top", "--build-dir", dir.as_str()],
        &["top"],
    ] {
        let run = Invocation::new("v0-prune", &project.root).args(args).run();
        run.expect_code(1).expect_stderr("needs a terminal");
    }
    for args in [
        &["--build-dir", dir.as_str(), "daemon"][..],
        &["daemon", "--build-dir", dir.as_str()],
    ] {
        let mut daemon = Invocation::new("v0-prune", elsewhere.path())
            .args(args)
            .spawn();
        assert!(
            v0_prune_testkit::wait_until(v0_prune_testkit::PATIENCE, || project.build.daemon_pid()
                == Some(daemon.pid())),
            "{args:?}: no daemon for the build dir; stderr: {}",
            daemon.stderr()
        );
        project.build.stop_daemon();
        let _ = daemon.wait(v0_prune_testkit::PATIENCE);
    }
    assert!(project.build.operations().contains(&"top".to_owned()));
    assert!(project.build.operations().contains(&"daemon".to_owned()));
}

#[test]
fn a_subcommand_s_name_is_an_operation_only_after_double_dash() {
    let (project, _elsewhere, _dir) = project_with_subcommand_names();
    let run = project.v0_prune(["--sync", "--", "top", "status"]).run();
    run.expect_code(0)
        .expect_line("Pruned operation 'top'")
        .expect_line("Pruned operation 'status'");
    let left = project.build.operations();
    assert!(!left.contains(&"top".to_owned()) && !left.contains(&"status".to_owned()));
    // Options before `--` still count; after it, everything is a name.
    let run = project.v0_prune(["-n", "--", "events"]).run();
    run.expect_code(0).expect_line("Would prune: events");
    let run = project.v0_prune(["--", "-n"]).run();
    run.expect_code(1)
        .expect_stderr("Error: Operation '-n' not found");
    assert!(project.build.operations().contains(&"events".to_owned()));
    // `man` without `--` is the man page, and the operation stays.
    let run = project.v0_prune(["man"]).run();
    run.expect_code(0);
    assert!(
        run.stdout.starts_with(".") || run.stdout.contains(".TH"),
        "{}",
        run.stdout
    );
    assert!(project.build.operations().contains(&"man".to_owned()));
}
