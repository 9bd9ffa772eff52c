//! `v0-prune` as v0 runs it: from a directory removed meanwhile, with only
//! `BUILD_DIR` (or `V0_ROOT`) to go by, in a project made by v0's own
//! `v0 init` (whose `.v0.rc` sources `.v0.profile.rc`), and over v0's own
//! bash daemon still running from before the install. The last two run a
//! copy of the real v0 (`$V0_SOURCE`, or `shared/v0` beside the repository)
//! and are reported as ignored, with what they need, where the build found
//! it missing (`shared/src/test_needs.rs`).
//!
//! Reads the daemon's working directory and command line from procfs: Linux only.

#![cfg(target_os = "linux")]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use v0_prune_testkit::{
    Invocation, Outcome, PATIENCE, TestProject, bin, copy_real_v0, hours, process_gone, stamp,
    wait_until,
};

/// A copy of the real v0 in `into/v0`.
fn copy_v0(into: &Path) -> PathBuf {
    let root = into.join("v0");
    copy_real_v0(&root);
    root
}

/// `v0-prune <args>` run from a directory that is removed just before:
/// bash makes it, enters it, removes it and execs us there.
fn from_removed_dir(project: &TestProject, args: &[&str]) -> Invocation {
    let gone = project.temp().join("gone");
    std::fs::create_dir_all(&gone).expect("a directory to remove");
    Invocation::program(Path::new("/bin/bash"), project.temp())
        .args([
            "-c",
            "cd \"$GONE\" && rmdir \"$GONE\" && exec \"$@\"",
            "bash",
        ])
        .args([bin("v0-prune")])
        .args(args)
        .env("GONE", &gone)
        .env("V0_PRUNE_INTERVAL", "60s")
}

fn expect_ok(run: &Outcome) {
    assert_eq!(
        run.code,
        Some(0),
        "stdout:\n{}\nstderr:\n{}",
        run.stdout,
        run.stderr
    );
}

#[test]
#[cfg_attr(not(v0_prune_has_bash), ignore = "needs bash (apt install bash)")]
fn every_command_works_from_a_removed_directory_with_build_dir_alone() {
    let project = TestProject::bare();
    let (old, new) = (stamp(hours(30)), stamp(hours(1)));
    project.build.write(
        "logs/worker.log",
        format!("[{old}] old one\n[{old}] old two\n[{new}] fresh\n"),
    );
    let build = project.build.root().to_path_buf();

    let run = from_removed_dir(&project, &["status"])
        .env("BUILD_DIR", &build)
        .run();
    assert_eq!(run.code, Some(3), "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("not running"), "{}", run.stdout);

    let run = from_removed_dir(&project, &["--dry-run"])
        .env("BUILD_DIR", &build)
        .run();
    expect_ok(&run);
    assert!(run.stdout.contains("logs/worker.log"), "{}", run.stdout);
    assert!(
        project
            .build
            .read_text("logs/worker.log")
            .contains("old one"),
        "a dry run changes nothing"
    );

    // The plain prune: it hands off to a daemon it starts.
    let run = from_removed_dir(&project, &[])
        .env("BUILD_DIR", &build)
        .run();
    expect_ok(&run);
    project.build.wait_for_daemon_log("Sleeping for", 1);
    let pid = project.build.daemon_pid().expect("the daemon's pid file");
    assert!(!process_gone(pid));
    let log = project.build.read_text("logs/worker.log");
    assert!(!log.contains("old one") && log.contains("fresh"), "{log}");
    let cwd = std::fs::read_link(format!("/proc/{pid}/cwd")).expect("the daemon's cwd");
    assert_eq!(cwd, Path::new("/"));

    let run = from_removed_dir(&project, &["status"])
        .env("BUILD_DIR", &build)
        .run();
    expect_ok(&run);
    assert!(
        run.stdout.contains(&format!("running (pid {pid}")),
        "{}",
        run.stdout
    );

    // No BUILD_DIR, but the removed directory was inside the project: found
    // from $PWD's parents, as v0's bash finds it.
    let inside = project.root.join("worktree");
    std::fs::create_dir_all(&inside).expect("a directory in the project");
    let run = Invocation::program(Path::new("/bin/bash"), &inside)
        .args(["-c", "rmdir \"$PWD\" && exec \"$@\"", "bash"])
        .args([bin("v0-prune")])
        .args(["status"])
        .run();
    expect_ok(&run);
    assert!(
        run.stdout.contains(&format!("running (pid {pid}")),
        "{}{}",
        run.stdout,
        run.stderr
    );

    // A relative BUILD_DIR cannot be resolved there: a clear error.
    let run = from_removed_dir(&project, &["--dry-run"])
        .env("BUILD_DIR", "project/.v0/build")
        .run();
    assert_eq!(run.code, Some(1), "{}{}", run.stdout, run.stderr);
    assert!(
        run.stderr
            .contains("invalid BUILD_DIR=\"project/.v0/build\"")
            && run.stderr.contains("the current directory cannot be read")
            && run.stderr.contains("give an absolute path"),
        "{}",
        run.stderr
    );
    // And nothing at all to go by.
    let run = from_removed_dir(&project, &["status"]).run();
    assert_eq!(run.code, Some(1));
    assert!(
        run.stderr
            .contains("set BUILD_DIR or V0_ROOT to absolute paths"),
        "{}",
        run.stderr
    );
}

/// A project made by the real `v0 init` (stubs for `wk` and `claude`) in
/// `temp/project`, with `HOME` inside `temp`.
fn v0_init_project(temp: &Path) -> PathBuf {
    let v0 = copy_v0(temp);
    let stubs = temp.join("stubs");
    std::fs::create_dir_all(&stubs).expect("stubs");
    for stub in ["wk", "claude"] {
        let path = stubs.join(stub);
        std::fs::write(&path, "#!/bin/sh\nexit 0\n").expect("stub");
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .expect("chmod");
    }
    let root = temp.join("project");
    std::fs::create_dir_all(&root).expect("project dir");
    let path = format!(
        "{}:{}",
        stubs.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let git = |args: &[&str]| {
        let status = Command::new("git")
            .args(["-c", "user.email=t@example.invalid", "-c", "user.name=t"])
            .args(args)
            .current_dir(&root)
            .env("HOME", temp.join("home"))
            .stdout(Stdio::null())
            .status()
            .expect("git");
        assert!(status.success(), "git {args:?}");
    };
    git(&["init", "-q", "."]);
    git(&["commit", "-q", "--allow-empty", "-m", "init"]);
    let output = Command::new(v0.join("bin/v0"))
        .arg("init")
        .current_dir(&root)
        .env("HOME", temp.join("home"))
        .env("PATH", path)
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.invalid")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.invalid")
        .env_remove("V0_ROOT")
        .env_remove("BUILD_DIR")
        .stdin(Stdio::null())
        .output()
        .expect("v0 init");
    assert!(
        root.join(".v0.rc").is_file() && root.join(".v0.profile.rc").is_file(),
        "v0 init made no .v0.rc/.v0.profile.rc: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    root
}

#[test]
#[cfg_attr(
    not(v0_prune_runs_v0),
    ignore = "needs the real v0 and what it runs: scripts/get-v0 or V0_SOURCE; bash, jq, perl, flock, git, tmux"
)]
fn a_project_made_by_v0_init_is_found_with_its_profile_settings() {
    let temp = tempfile::tempdir().expect("tempdir");
    let root = v0_init_project(temp.path());
    let rc = std::fs::read_to_string(root.join(".v0.rc")).expect(".v0.rc");
    assert!(
        rc.contains("source \""),
        "v0 init's .v0.rc sources the profile:\n{rc}"
    );
    // Lines 2 hours old: kept by the default 6 h retention, expired by the
    // profile's 1 h.
    let build = root.join(".v0/build");
    std::fs::create_dir_all(build.join("logs")).expect("build dir");
    // As v0 leaves it once it has run (ours prunes logs without it too).
    std::fs::create_dir_all(build.join("operations")).expect("operations dir");
    let (old, new) = (stamp(hours(2)), stamp(hours(0)));
    let worker = build.join("logs/worker.log");
    std::fs::write(&worker, format!("[{old}] two hours ago\n[{new}] now\n")).expect("log");

    let dry_run = |cwd_gone: bool| {
        let invocation = if cwd_gone {
            // As v0 starts things: V0_ROOT exported, the directory gone.
            let gone = temp.path().join("gone");
            std::fs::create_dir_all(&gone).expect("gone");
            Invocation::program(Path::new("/bin/bash"), temp.path())
                .args([
                    "-c",
                    "cd \"$GONE\" && rmdir \"$GONE\" && exec \"$@\"",
                    "bash",
                ])
                .args([bin("v0-prune")])
                .args(["--dry-run"])
                .env("GONE", &gone)
                .env("V0_ROOT", &root)
        } else {
            Invocation::new("v0-prune", &root).args(["--dry-run"])
        };
        let run = invocation.run();
        expect_ok(&run);
        run.stdout
    };
    let profile = root.join(".v0.profile.rc");
    let before = std::fs::read_to_string(&profile).expect("profile");
    for cwd_gone in [false, true] {
        let said = dry_run(cwd_gone);
        assert!(!said.contains("logs/worker.log"), "6h by default:\n{said}");
    }
    std::fs::write(&profile, format!("{before}export V0_PRUNE_RETENTION=1h\n")).expect("profile");
    for cwd_gone in [false, true] {
        let said = dry_run(cwd_gone);
        assert!(
            said.contains("logs/worker.log"),
            "1h from the profile:\n{said}"
        );
    }
}

#[test]
#[cfg_attr(
    not(v0_prune_runs_v0),
    ignore = "needs the real v0 and what it runs: scripts/get-v0 or V0_SOURCE; bash, jq, perl, flock, git, tmux"
)]
fn plain_prune_takes_over_from_v0s_bash_daemon() {
    let project = TestProject::bare();
    let (old, new) = (stamp(hours(30)), stamp(hours(1)));
    project
        .build
        .write("logs/worker.log", format!("[{old}] old\n[{new}] fresh\n"));
    let v0 = copy_v0(project.temp());
    // v0's own bash daemon, started by v0's own starter.
    let output = Command::new("bash")
        .arg("-c")
        .arg(
            "source \"$V0_DIR/packages/cli/lib/v0-common.sh\" && prune_daemon_start && echo started",
        )
        .current_dir(&project.root)
        .env("V0_DIR", &v0)
        .env("BUILD_DIR", project.build.root())
        .stdin(Stdio::null())
        .output()
        .expect("bash");
    assert!(
        String::from_utf8_lossy(&output.stdout).contains("started"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let bash = project.build.daemon_pid().expect("the bash daemon's pid");
    project
        .build
        .wait_for_daemon_log("Sleeping for 3600s until next prune cycle", 1);

    // `status` names it for what it is, and says what will happen to it.
    let status = project.v0_prune(["status"]).run();
    status.expect_code(0).expect_line(&format!(
        "Prune daemon: v0's own bash daemon (pid {bash}), not v0-prune's"
    ));
    let json = project.v0_prune(["status", "--json"]).run();
    let json: serde_json::Value = serde_json::from_str(&json.stdout).expect("status JSON");
    assert_eq!(json["daemon"], "v0_bash_daemon", "{json}");
    assert_eq!(json["pid"], bash, "{json}");

    let run = project
        .v0_prune(Vec::<&str>::new())
        .env("V0_PRUNE_INTERVAL", "60s")
        .run();
    expect_ok(&run);
    assert!(
        run.stderr.contains(&format!(
            "Stopped v0's bash prune daemon (pid {bash}) between its runs; starting v0-prune-daemon"
        )),
        "stderr:\n{}",
        run.stderr
    );
    assert!(process_gone(bash), "v0's bash daemon still runs");
    let ours = project.build.daemon_pid().expect("our pid file");
    assert_ne!(ours, bash);
    let comm = std::fs::read_to_string(format!("/proc/{ours}/comm")).expect("comm");
    assert_eq!(comm.trim(), "v0-prune-daemon");
    let cmdline = std::fs::read(format!("/proc/{ours}/cmdline")).expect("cmdline");
    assert!(
        !String::from_utf8_lossy(&cmdline).contains("bash"),
        "ours is the binary, not a script"
    );
    let log = project.build.daemon_log();
    let position = |line: &str| {
        log.find(line)
            .unwrap_or_else(|| panic!("no {line:?} in the daemon's log:\n{log}"))
    };
    assert!(
        position("Daemon shutting down") < position(&format!("Prune daemon starting (PID: {ours}")),
        "v0's daemon shut down before ours started:\n{log}"
    );
    // A second plain prune finds ours, and no takeover happens.
    let run = project
        .v0_prune(Vec::<&str>::new())
        .env("V0_PRUNE_INTERVAL", "60s")
        .run();
    expect_ok(&run);
    assert!(!run.stderr.contains("Stopped v0's"), "{}", run.stderr);
    assert!(wait_until(PATIENCE, || project.build.daemon_pid() == Some(ours)));
}
