//! Logs and the merge queue are pruned whether or not `operations/` exists:
//! on a project `v0 init` made (which makes no `operations/`), `v0 prune`
//! through v0's own dispatcher says v0's `No operations to prune`, then
//! hands logs and queue to the daemon, which prunes them a moment later;
//! `--sync`, `--json` and `--wait` prune them in the foreground and `-n`
//! lists them. (v0's bash stops at that line: a difference on purpose,
//! docs/differences-from-v0.md.)

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::{Value, json};
use v0_prune_testkit::bins::workspace_root;
use v0_prune_testkit::{
    Invocation, Outcome, PATIENCE, TestBuildDir, bin, copy_real_v0, hours, stamp, wait_until,
};

/// A copy of v0 with ours installed, and a project `v0 init` made.
struct V0Project {
    dir: tempfile::TempDir,
    v0: PathBuf,
    root: PathBuf,
    build: TestBuildDir,
}

impl V0Project {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let v0 = dir.path().join("v0");
        copy_real_v0(&v0);
        let stubs = dir.path().join("stubs");
        std::fs::create_dir_all(&stubs).expect("stubs");
        for stub in ["wk", "claude"] {
            let path = stubs.join(stub);
            std::fs::write(&path, "#!/bin/sh\nexit 0\n").expect("a stub");
            std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755))
                .expect("chmod");
        }
        let from = bin("v0-prune").parent().expect("bin dir").to_path_buf();
        bin("v0-prune-daemon");
        let install = Invocation::program(
            &workspace_root().join("assets/install-into-v0.sh"),
            dir.path(),
        )
        .args([Path::new("--from"), &from, &v0])
        .run();
        install.expect_code(0);
        let root = dir.path().join("project");
        std::fs::create_dir_all(&root).expect("project");
        let project = Self {
            build: TestBuildDir::at(root.join(".v0/build")),
            dir,
            v0,
            root,
        };
        for args in [
            &["init", "-q", "-b", "main", "."][..],
            &["commit", "-q", "--allow-empty", "-m", "start"][..],
        ] {
            let mut git = Command::new("git");
            git.args(args)
                .current_dir(&project.root)
                .stdout(Stdio::null());
            for (key, value) in project.env() {
                git.env(key, value);
            }
            assert!(git.status().expect("git").success(), "git {args:?}");
        }
        project.v0(&["init"]).expect_code(0);
        assert!(
            project.root.join(".v0.rc").is_file(),
            "v0 init made no .v0.rc"
        );
        project
    }

    fn env(&self) -> Vec<(&'static str, std::ffi::OsString)> {
        let path = std::env::var_os("PATH").unwrap_or_default();
        let mut dirs = vec![self.dir.path().join("stubs")];
        dirs.extend(std::env::split_paths(&path).filter(|dir| !dir.join("v0").exists()));
        vec![
            ("PATH", std::env::join_paths(dirs).expect("PATH")),
            ("HOME", self.dir.path().join("home").into()),
            ("XDG_STATE_HOME", self.dir.path().join("state").into()),
            ("TMUX_TMPDIR", self.dir.path().into()),
            ("V0_PRUNE_INTERVAL", "1h".into()),
            ("GIT_AUTHOR_NAME", "e2e".into()),
            ("GIT_AUTHOR_EMAIL", "e2e@example.com".into()),
            ("GIT_COMMITTER_NAME", "e2e".into()),
            ("GIT_COMMITTER_EMAIL", "e2e@example.com".into()),
        ]
    }

    /// `v0 <args>` through v0's dispatcher, in the project.
    fn v0(&self, args: &[&str]) -> Outcome {
        let mut invocation = Invocation::program(&self.v0.join("bin/v0"), &self.root).args(args);
        for (key, value) in self.env() {
            invocation = invocation.env(key, value);
        }
        invocation.run()
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
