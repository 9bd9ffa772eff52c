//! Logs and the merge queue are pruned whether or not `operations/` exists:
//! on a project `v0 init` made (which makes no `operations/`), `v0 prune`
//! through v0's own dispatcher says v0's `No operations to prune`, then
//! hands logs and queue to the daemon, which prunes them a moment later;
//! `--sync`, `--json` and `--wait` prune them in the foreground and `-n`
//! lists them. (v0's bash stops at that line: a difference on purpose,
//! docs/differences-from-v0.md.)

use serde_json::{Value, json};
use v0_prune_testkit::{Outcome, PATIENCE, TestBuildDir, V0Install, hours, stamp, wait_until};

/// A copy of v0 with ours installed, and a project `v0 init` made.
struct V0Project {
    v0: V0Install,
    root: std::path::PathBuf,
    build: TestBuildDir,
}

impl V0Project {
    fn new() -> Self {
        let v0 = V0Install::new("1h");
        v0.install_ours(&[]).expect_code(0);
        let root = v0.init_project("project");
        Self {
            build: TestBuildDir::at(root.join(".v0/build")),
            v0,
            root,
        }
    }

    /// `v0 <args>` through v0's dispatcher, in the project.
    fn v0(&self, args: &[&str]) -> Outcome {
        self.v0.v0_in(&self.root, args)
    }

    /// `v0 prune <args>`.
    fn v0_prune(&self, args: &[&str]) -> Outcome {
        self.v0(&[&["prune"][..], args].concat())
    }

    /// Expired and current log lines and queue entries; no `operations/`.
    fn fill(&self) {
        let (old, new) = (stamp(hours(30)), stamp(hours(0)));
        self.build.write(
            "logs/mergeq.log",
            format!("[{old}] merged a\n[{old}] merged b\n[{new}] merged c\n"),
        );
        self.build.write(
            "mergeq/queue.json",
            json!({ "version": 1, "entries": [
                { "id": "a", "status": "completed", "updated_at": old },
                { "id": "c", "status": "pending", "enqueued_at": new },
            ]})
            .to_string(),
        );
        assert!(!self.build.path("operations").exists());
    }

    fn pruned(&self) -> bool {
        let log = self.build.read_text("logs/mergeq.log");
        let queue = self.build.read_text("mergeq/queue.json");
        !log.contains("merged a") && log.contains("merged c") && !queue.contains("\"a\"")
    }
}

impl Drop for V0Project {
    fn drop(&mut self) {
        self.build.kill_daemon();
    }
}

#[cfg_attr(
    not(v0_prune_runs_v0),
    ignore = "needs the real v0 and what it runs: scripts/get-v0 or V0_SOURCE; bash, jq, perl, flock, git, tmux"
)]
#[test]
fn without_operations_v0_prune_still_has_logs_and_the_queue_pruned() {
    let project = V0Project::new();
    project.fill();

    // -n lists them, changing nothing.
    let run = project.v0_prune(&["-n"]);
    run.expect_code(0)
        .expect_line("No operations to prune")
        .expect_line("Would prune 1 mergeq entries older than 6 hours")
        .expect_line("Would prune 2 lines from: logs/mergeq.log");
    assert!(!project.pruned());

    // The plain prune: v0's line, the hand-off, the daemon prunes.
    let run = project.v0_prune(&[]);
    run.expect_code(0)
        .expect_line("No operations to prune")
        .expect_line("Pruning logs in background...");
    assert!(
        wait_until(PATIENCE, || project.pruned()),
        "the daemon never pruned:\n{}",
        project.build.daemon_log()
    );
    assert!(project.build.daemon_pid().is_some(), "the daemon runs");
    project.build.stop_daemon();

    // --sync, --json and --wait: in the foreground.
    for args in [&["--sync"][..], &["--json"], &["--wait"]] {
        project.fill();
        let run = project.v0_prune(args);
        run.expect_code(0);
        assert!(project.pruned(), "{args:?}:\n{}{}", run.stdout, run.stderr);
        if args == ["--json"] {
            let report: Value = serde_json::from_str(&run.stdout).expect("JSON");
            assert_eq!(report["operations"]["present"], false);
            assert_eq!(report["run"]["logs"]["lines_removed"], 2);
            assert_eq!(
                report["run"]["queue"]["removed"].as_array().map(Vec::len),
                Some(1)
            );
        } else {
            run.expect_line("No operations to prune");
        }
        project.build.stop_daemon();
    }
    // Run through v0, our hints name what the user types there.
    let status = project.v0_prune(&["status"]);
    status.expect_code(3);
    assert!(
        status
            .stdout
            .contains("start it:   `v0 prune` prunes and starts the daemon"),
        "{}",
        status.stdout
    );
}
