//! `--all-projects` end to end: three projects registered as v0 registers
//! them (`v0_register_project` in v0's `packages/core/lib/config.sh`: the
//! root in `$XDG_STATE_HOME/v0/<PROJECT>/.v0.root`), in a temp `HOME`; two
//! daemons started, one of them stopped, the third project's root removed.
//! `status`, `ls`, the plain prune and `shutdown` with `--all-projects` must
//! each say every project's state as it is.

use std::path::Path;
use std::time::Duration;

use serde_json::Value;
use tempfile::TempDir;
use v0_prune_testkit::{
    Invocation, PATIENCE, TestBuildDir, TestProject, V0Install, bin, hours, process_gone, stamp,
    wait_until,
};

/// Long enough that no scheduled run lands inside the test.
const INTERVAL: &str = "60s";

/// The machine: a home with v0's state directory, and three projects.
struct Machine {
    home: TempDir,
    alpha: TestProject,
    beta: TestProject,
    gamma: TestProject,
}

impl Machine {
    fn new() -> Self {
        let home = tempfile::tempdir().expect("a temp home");
        let machine = Self {
            home,
            alpha: TestProject::bare(),
            beta: TestProject::bare(),
            gamma: TestProject::bare(),
        };
        for (name, project) in machine.named() {
            std::fs::write(
                project.root.join(".v0.rc"),
                format!("# v0 project\nPROJECT=\"{name}\"\nISSUE_PREFIX=\"{name}\"\n"),
            )
            .expect(".v0.rc");
            // As v0_register_project: mkdir -p, then the root on one line.
            let state = machine.state().join("v0").join(name);
            std::fs::create_dir_all(&state).expect("state dir");
            std::fs::write(
                state.join(".v0.root"),
                format!("{}\n", project.root.display()),
            )
            .expect(".v0.root");
        }
        machine
    }

    fn named(&self) -> [(&'static str, &TestProject); 3] {
        [
            ("alpha", &self.alpha),
            ("beta", &self.beta),
            ("gamma", &self.gamma),
        ]
    }

    fn state(&self) -> std::path::PathBuf {
        self.home.path().join("state")
    }

    /// `v0-prune <args>` in the home directory (no project there).
    fn v0_prune(&self, args: &[&str]) -> Invocation {
        self.in_dir(self.home.path(), args)
    }

    /// `v0-prune <args>` in `dir`, with this machine's HOME and state.
    fn in_dir(&self, dir: &Path, args: &[&str]) -> Invocation {
        Invocation::program(&bin("v0-prune"), dir)
            .args(args)
            .env("HOME", self.home.path())
            .env("XDG_STATE_HOME", self.state())
            .env("V0_PRUNE_INTERVAL", INTERVAL)
    }

    fn json(&self, args: &[&str]) -> (Option<i32>, Value) {
        let run = self.v0_prune(args).run();
        let value = serde_json::from_str(&run.stdout).unwrap_or_else(|err| {
            panic!(
                "{args:?} is not JSON ({err}):\n{}\n{}",
                run.stdout, run.stderr
            )
        });
        (run.code, value)
    }
}

/// The entry named `name` of a `--json` listing.
fn entry<'a>(listing: &'a Value, name: &str) -> &'a Value {
    listing["projects"]
        .as_array()
        .and_then(|all| all.iter().find(|p| p["name"] == name))
        .unwrap_or_else(|| panic!("no {name} in {listing:#}"))
}

/// Every `*.log` under `dir`, their sizes summed, as on disk.
fn logs_on_disk(dir: &Path) -> u64 {
    let mut total = 0;
    for entry in std::fs::read_dir(dir).expect("read dir").flatten() {
        let meta = entry.metadata().expect("metadata");
        if meta.is_dir() {
            total += logs_on_disk(&entry.path());
        } else if entry.file_name().to_string_lossy().ends_with(".log") {
            total += meta.len();
        }
    }
    total
}

/// `lines` fresh entries: nothing in them expires during the test.
fn fresh_log(lines: usize) -> String {
    let now = stamp(hours(0));
    (0..lines)
        .map(|i| format!("[{now}] line {i} of a worker's log\n"))
        .collect()
}

#[test]
fn every_project_s_state_as_it_is_and_every_daemon_drained() {
    let machine = Machine::new();
    for (i, (_, project)) in machine.named().into_iter().enumerate() {
        project
            .build
            .write("logs/worker.log", fresh_log(200 * (i + 1)));
        project.build.write("logs/fix/merge.log", fresh_log(100));
    }
    // Two daemons, as the plain prune starts them; then beta's stopped.
    for project in [&machine.alpha, &machine.beta] {
        machine.in_dir(&project.root, &[]).run().expect_code(0);
        project.build.wait_for_daemon_log("Sleeping for", 1);
    }
    // A finished operation: the plain --all-projects must leave it.
    machine.alpha.build.operation(
        "done",
        serde_json::json!({"name": "done", "phase": "merged"}),
    );
    let alpha_pid = machine.alpha.build.daemon_pid().expect("alpha's daemon");
    machine
        .in_dir(&machine.beta.root, &["shutdown", "--drain-only"])
        .run()
        .expect_code(0);
    std::fs::remove_dir_all(&machine.gamma.root).expect("remove gamma's root");

    // status: alpha running, beta not, gamma gone; exit 3 (beta is down).
    let (code, status) = machine.json(&["status", "--all-projects", "--json"]);
    assert_eq!(code, Some(3), "{status:#}");
    let alpha = entry(&status, "alpha");
    assert_eq!(alpha["daemon"], "running", "{status:#}");
    assert_eq!(alpha["pid"], alpha_pid);
    assert!(alpha["last_run"]["run_id"].is_u64(), "{status:#}");
    assert!(alpha["next_run_at"].is_string(), "{status:#}");
    let beta = entry(&status, "beta");
    assert_eq!(beta["daemon"], "not_running", "{status:#}");
    assert!(
        beta["last_run"]["run_id"].is_u64(),
        "its history: {status:#}"
    );
    assert_eq!(beta["logs_bytes"], logs_on_disk(machine.beta.build.root()));
    let gamma = entry(&status, "gamma");
    assert_eq!(gamma["found"], "gone", "{status:#}");
    assert!(gamma["daemon"].is_null());
    assert_eq!(status["totals"]["projects"], 3);
    assert_eq!(status["totals"]["running"], 1);
    assert_eq!(status["totals"]["not_running"], 1);
    assert_eq!(status["totals"]["gone"], 1);
    machine
        .v0_prune(&["status", "-P"])
        .run()
        .expect_code(3)
        .expect_line(&format!(
            "  gamma: gone: {} no longer exists",
            machine.gamma.root.display()
        ));

    // ls: sizes as on disk (beta, stopped: all of them; alpha's daemon
    // appends to its own log, so its workers' logs, one by one).
    let (code, ls) = machine.json(&["ls", "--all-projects", "--json"]);
    assert_eq!(code, Some(0), "{ls:#}");
    let beta = entry(&ls, "beta");
    assert_eq!(beta["source"], "computed");
    assert_eq!(beta["logs_bytes"], logs_on_disk(machine.beta.build.root()));
    let alpha = entry(&ls, "alpha");
    assert_eq!(alpha["source"], "daemon", "{ls:#}");
    let largest = alpha["largest"].as_array().expect("largest");
    assert_eq!(largest[0]["path"], "logs/worker.log", "{ls:#}");
    for log in largest {
        let path = log["path"].as_str().expect("path");
        let on_disk = std::fs::metadata(machine.alpha.build.path(path))
            .expect("log")
            .len();
        if path != "logs/prune-daemon.log" {
            assert_eq!(log["size"], on_disk, "{path}: {ls:#}");
        }
    }
    assert_eq!(entry(&ls, "gamma")["found"], "gone");
    let filesystems = ls["filesystems"].as_array().expect("filesystems");
    assert!(!filesystems.is_empty(), "{ls:#}");
    assert!(
        filesystems.iter().all(|fs| fs["free_bytes"].is_u64()),
        "{ls:#}"
    );

    // Plain --all-projects: alpha's daemon runs, beta's is not started,
    // and no operation goes.
    let runs_before = machine.alpha.build.runs_in_history();
    let run = machine.v0_prune(&["--all-projects"]).run();
    run.expect_code(0)
        .expect_line("beta: not running (not started)");
    assert!(
        run.stdout.contains(&format!(
            "alpha: asked the daemon (pid {alpha_pid}) to run now"
        )),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("gamma: skipped:"), "{}", run.stdout);
    assert!(
        wait_until(PATIENCE, || machine.alpha.build.runs_in_history()
            > runs_before),
        "alpha's history did not grow past {runs_before}"
    );
    assert_eq!(machine.alpha.build.operations(), ["done"]);
    assert_eq!(machine.beta.build.daemon_pid(), None, "beta was started");
    assert!(
        !machine.beta.build.socket_path().exists(),
        "beta was started"
    );

    // shutdown --all-projects: every daemon drained, exit 0.
    let run = machine.v0_prune(&["shutdown", "--all-projects"]).run();
    run.expect_code(0)
        .expect_line(&format!(
            "alpha: daemon (pid {alpha_pid}) stopped after its run"
        ))
        .expect_line("beta: not running (not started)");
    assert!(
        wait_until(Duration::from_secs(5), || !Path::new(&format!(
            "/proc/{alpha_pid}"
        ))
        .exists()),
        "alpha's daemon still runs"
    );
    let (code, status) = machine.json(&["status", "-P", "--json"]);
    assert_eq!(code, Some(3), "{status:#}");
    assert_eq!(status["totals"]["running"], 0, "{status:#}");
}

#[test]
fn all_projects_never_removes_an_operation_nor_mixes_with_the_prune_s_flags() {
    let machine = Machine::new();
    for flags in [
        &["--all-projects", "--all"][..],
        &["-P", "-a", "-f"],
        &["-P", "some-operation"],
        &["-P", "--dry-run"],
    ] {
        let run = machine.in_dir(&machine.alpha.root, flags).run();
        run.expect_code(1);
        assert!(
            run.stderr.contains("cannot be used with"),
            "{flags:?}: {}",
            run.stderr
        );
    }
    machine.alpha.build.operation(
        "kept",
        serde_json::json!({"name": "kept", "phase": "merged"}),
    );
    machine
        .in_dir(&machine.alpha.root, &["-P"])
        .run()
        .expect_code(0);
    assert_eq!(machine.alpha.build.operations(), ["kept"]);
}

/// The "Done when", through v0 itself: three projects `v0 init`
/// made in a copy of the real v0 with ours installed (v0 registers each),
/// two daemons started by `v0 prune`, one of them stopped by
/// `v0-prune shutdown`, the third project's root removed.
#[cfg_attr(
    not(v0_prune_runs_v0),
    ignore = "needs the real v0 and what it runs: scripts/get-v0 or V0_SOURCE; bash, jq, perl, flock, git, tmux"
)]
#[test]
fn three_v0_init_projects_each_shown_as_it_is_then_every_daemon_drained() {
    let v0 = V0Install::new("1h");
    v0.install_ours(&[]).expect_code(0);
    let roots = ["alpha", "beta", "gamma"].map(|name| v0.init_project(name));
    // Any v0 command that loads the project's config registers it
    // (`v0_register_project`); `v0 init` does not, nor does `v0 prune` once
    // ours is installed (our binary never runs v0's config loader).
    for root in &roots {
        v0.v0_in(root, &["status"]);
    }
    let builds = roots
        .clone()
        .map(|root| TestBuildDir::at(root.join(".v0/build")));
    // Whatever fails below, no daemon outlives the test.
    struct Guard<'a>(&'a [TestBuildDir; 3]);
    impl Drop for Guard<'_> {
        fn drop(&mut self) {
            self.0.iter().for_each(TestBuildDir::kill_daemon);
        }
    }
    let _guard = Guard(&builds);
    for (i, build) in builds.iter().enumerate() {
        build.write("logs/worker.log", fresh_log(200 * (i + 1)));
    }
    let [alpha, beta, gamma] = &builds;

    // Two daemons, as v0 starts them; beta's stopped with ours.
    for (root, build) in [(&roots[0], alpha), (&roots[1], beta)] {
        v0.v0_in(root, &["prune"]).expect_code(0);
        build.wait_for_daemon_log("Sleeping for", 1);
    }
    let alpha_pid = alpha.daemon_pid().expect("alpha's daemon");
    let beta_pid = beta.daemon_pid().expect("beta's daemon");
    v0.v0_prune_in(&roots[1], &["shutdown"]).expect_code(0);
    assert!(
        wait_until(PATIENCE, || process_gone(beta_pid)),
        "beta's daemon still runs"
    );
    std::fs::remove_dir_all(&roots[2]).expect("remove gamma's root");

    // The names v0 registered the three under.
    let registry = v0.state().join("v0");
    let name_of = |root: &Path| -> String {
        std::fs::read_dir(&registry)
            .expect("v0's registry")
            .flatten()
            .find(|dir| {
                std::fs::read_to_string(dir.path().join(".v0.root"))
                    .is_ok_and(|text| Path::new(text.trim()) == root)
            })
            .map(|dir| dir.file_name().to_string_lossy().into_owned())
            .unwrap_or_else(|| {
                panic!(
                    "v0 did not register {} in {}: {:?}",
                    root.display(),
                    registry.display(),
                    v0_prune_testkit::files_under(&v0.state())
                )
            })
    };
    let names = roots.clone().map(|root| name_of(&root));
    let json = |args: &[&str]| -> (Option<i32>, Value) {
        let run = v0.v0_prune_in(&v0.home, args);
        let value = serde_json::from_str(&run.stdout).unwrap_or_else(|err| {
            panic!(
                "{args:?} is not JSON ({err}):\n{}\n{}",
                run.stdout, run.stderr
            )
        });
        (run.code, value)
    };

    // status: alpha running, beta not, gamma gone; exit 3 (beta is down).
    let (code, status) = json(&["status", "--all-projects", "--json"]);
    assert_eq!(code, Some(3), "{status:#}");
    let shown = entry(&status, &names[0]);
    assert_eq!(shown["daemon"], "running", "{status:#}");
    assert_eq!(shown["pid"], alpha_pid, "{status:#}");
    assert!(shown["last_run"]["run_id"].is_u64(), "{status:#}");
    let shown = entry(&status, &names[1]);
    assert_eq!(shown["daemon"], "not_running", "{status:#}");
    assert!(shown["last_run"]["run_id"].is_u64(), "{status:#}");
    assert_eq!(shown["logs_bytes"], logs_on_disk(beta.root()), "{status:#}");
    let shown = entry(&status, &names[2]);
    assert_eq!(shown["found"], "gone", "{status:#}");
    assert_eq!(status["totals"]["running"], 1, "{status:#}");
    assert_eq!(status["totals"]["not_running"], 1, "{status:#}");
    assert_eq!(status["totals"]["gone"], 1, "{status:#}");

    // ls: sizes as on disk (alpha's daemon appends to its own log, so
    // alpha's other logs one by one).
    let (code, ls) = json(&["ls", "--all-projects", "--json"]);
    assert_eq!(code, Some(0), "{ls:#}");
    let shown = entry(&ls, &names[1]);
    assert_eq!(shown["source"], "computed", "{ls:#}");
    assert_eq!(shown["logs_bytes"], logs_on_disk(beta.root()), "{ls:#}");
    let shown = entry(&ls, &names[0]);
    assert_eq!(shown["source"], "daemon", "{ls:#}");
    let largest = shown["largest"].as_array().expect("largest");
    assert_eq!(largest[0]["path"], "logs/worker.log", "{ls:#}");
    for log in largest {
        let path = log["path"].as_str().expect("path");
        if path != "logs/prune-daemon.log" {
            let on_disk = std::fs::metadata(alpha.path(path)).expect("log").len();
            assert_eq!(log["size"], on_disk, "{path}: {ls:#}");
        }
    }
    assert_eq!(entry(&ls, &names[2])["found"], "gone", "{ls:#}");

    // shutdown --all-projects: no daemon left.
    let run = v0.v0_prune_in(&v0.home, &["shutdown", "--all-projects"]);
    run.expect_code(0);
    assert!(
        run.stdout
            .contains(&format!("daemon (pid {alpha_pid}) stopped")),
        "{}",
        run.stdout
    );
    assert!(
        wait_until(Duration::from_secs(5), || process_gone(alpha_pid)),
        "alpha's daemon still runs"
    );
    for build in [alpha, beta, gamma] {
        assert_eq!(build.daemon_pid(), None, "{}", build.root().display());
    }
    let (code, status) = json(&["status", "-P", "--json"]);
    assert_eq!(code, Some(3), "{status:#}");
    assert_eq!(status["totals"]["running"], 0, "{status:#}");
}
