//! The operations job on real directories: v0's finished rule, named and
//! `--all` selections with their confirmations, and never reaching outside
//! `operations/` (bad names, symlinks).

use super::*;
use crate::prune::ignore_events;

fn op(build: &BuildDir, name: &str, state: &str) {
    let dir = build.operations_dir().join(name);
    std::fs::create_dir_all(dir.join("logs")).expect("mkdir");
    std::fs::write(dir.join("state.json"), state).expect("write");
}

fn names(build: &BuildDir) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(build.operations_dir())
        .expect("read")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn request(selection: Selection, dry_run: bool, force: bool) -> OperationsRequest {
    OperationsRequest {
        selection,
        dry_run,
        force,
    }
}

/// Runs the job answering every question with `answer`; returns the report
/// and the questions asked.
fn run_asking(
    build: &BuildDir,
    request: &OperationsRequest,
    answer: bool,
    tmux: &Tmux,
) -> (Result<OperationsReport, PruneError>, Vec<String>) {
    let mut asked = Vec::new();
    let result = prune_with(
        build,
        request,
        &mut |question| {
            asked.push(format!("{question:?}"));
            answer
        },
        &mut ignore_events,
        tmux,
    );
    (result, asked)
}

fn run(
    build: &BuildDir,
    selection: Selection,
    dry_run: bool,
    answer: bool,
) -> Result<OperationsReport, PruneError> {
    let request = request(selection, dry_run, false);
    prune(build, &request, &mut |_| answer, &mut ignore_events)
}

fn named(names: &[&str]) -> Selection {
    Selection::Named(names.iter().map(|n| n.to_string()).collect())
}

#[test]
fn finished_operations_by_phase_and_merge_status() {
    let dir = tempfile::tempdir().expect("tempdir");
    let build = BuildDir::new(dir.path());
    // (name, state.json, removed by the default prune)
    let cases = [
        ("init", r#"{"phase":"init"}"#, false),
        ("planned", r#"{"phase":"planned"}"#, false),
        ("queued", r#"{"phase":"queued"}"#, false),
        ("executing", r#"{"phase":"executing"}"#, false),
        ("completed", r#"{"phase":"completed"}"#, false),
        (
            "completed-pending",
            r#"{"phase":"completed","merge_status":"pending"}"#,
            false,
        ),
        (
            "completed-merged",
            r#"{"phase":"completed","merge_status":"merged"}"#,
            true,
        ),
        ("pending", r#"{"phase":"pending_merge"}"#, false),
        (
            "pending-merged",
            r#"{"phase":"pending_merge","merge_status":"merged"}"#,
            true,
        ),
        ("merged", r#"{"phase":"merged"}"#, true),
        (
            "failed",
            r#"{"phase":"failed","merge_status":"merged"}"#,
            false,
        ),
        ("conflict", r#"{"phase":"conflict"}"#, false),
        (
            "interrupted",
            r#"{"phase":"interrupted","merge_status":"merged"}"#,
            false,
        ),
        ("cancelled", r#"{"phase":"cancelled"}"#, true),
        ("unknown-phase", r#"{"phase":"archived"}"#, false),
    ];
    for (name, state, _) in cases {
        op(&build, name, state);
    }
    let report = run(&build, Selection::Finished, false, false).expect("prune");
    let pruned: Vec<(&str, &str)> = report
        .pruned
        .iter()
        .map(|p| (p.name.as_str(), p.phase.as_str()))
        .collect();
    assert_eq!(
        pruned,
        [
            ("cancelled", "cancelled"),
            ("completed-merged", "completed"),
            ("merged", "merged"),
            ("pending-merged", "pending_merge"),
        ]
    );
    for (name, _, gone) in cases {
        assert_eq!(!build.operations_dir().join(name).exists(), gone, "{name}");
    }
    assert!(report.present);
    assert_eq!(report.examined, cases.len() as u64);
    assert!(report.skipped.is_empty(), "{:?}", report.skipped);
}

#[test]
fn unreadable_state_is_skipped_with_a_reason_never_removed_by_default() {
    let dir = tempfile::tempdir().expect("tempdir");
    let build = BuildDir::new(dir.path());
    op(&build, "corrupt", r#"{"phase":"merged""#);
    op(&build, "not-an-object", r#"["merged"]"#);
    op(&build, "no-phase", r#"{"merge_status":"merged"}"#);
    std::fs::create_dir_all(build.operations_dir().join("no-state")).expect("mkdir");
    let fifo = build.operations_dir().join("fifo");
    std::fs::create_dir_all(&fifo).expect("mkdir");
    // mkfifo(3), which macOS has too (rustix's mknodat is Linux's).
    let fifo_path = std::ffi::CString::new(std::os::unix::ffi::OsStrExt::as_bytes(
        fifo.join("state.json").as_os_str(),
    ))
    .expect("path");
    // SAFETY: a valid NUL-terminated path.
    let rc = unsafe { libc::mkfifo(fifo_path.as_ptr(), 0o600) };
    assert_eq!(rc, 0, "mkfifo: {}", std::io::Error::last_os_error());
    op(&build, "done", r#"{"phase":"merged"}"#);

    let report = run(&build, Selection::Finished, false, true).expect("prune");
    assert_eq!(
        names(&build),
        ["corrupt", "fifo", "no-phase", "no-state", "not-an-object"]
    );
    let skipped: Vec<(&str, &str)> = report
        .skipped
        .iter()
        .map(|s| (s.item.as_str(), s.reason.as_str()))
        .collect();
    assert_eq!(skipped.len(), 5, "{skipped:?}");
    let reason = |item: &str| {
        skipped
            .iter()
            .find(|(i, _)| *i == item)
            .map(|(_, r)| *r)
            .unwrap_or_else(|| panic!("{item} not skipped: {skipped:?}"))
    };
    assert!(reason("corrupt").contains("not valid JSON"));
    assert!(reason("not-an-object").contains("not a JSON object"));
    assert!(reason("no-phase").contains("no phase"));
    assert!(reason("no-state").contains("cannot read state.json"));
    assert!(reason("fifo").contains("not a regular file"));

    // Named, a corrupt operation can go; its phase is unknown.
    let report = run(&build, named(&["corrupt"]), false, true).expect("named");
    assert_eq!(report.pruned[0].phase, "unknown");
    assert!(!build.operations_dir().join("corrupt").exists());
}

#[test]
fn bad_names_are_rejected_and_nothing_is_deleted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let build = BuildDir::new(dir.path().join("build"));
    op(&build, "keep", r#"{"phase":"merged"}"#);
    std::fs::write(build.root().join("precious.log"), "build dir file").expect("write");
    std::fs::write(dir.path().join("sibling"), "next to the build dir").expect("write");
    for bad in [
        "..", ".", "", "a/b", "/etc", "../build", "keep/", "./keep", "x\0y",
    ] {
        for dry_run in [false, true] {
            let err = run(&build, named(&["keep", bad]), dry_run, true).expect_err(bad);
            assert!(
                matches!(&err, PruneError::InvalidOperationName(name) if name == bad),
                "{bad:?}: {err}"
            );
        }
    }
    let err = run(&build, named(&["keep", "ghost"]), false, true).expect_err("unknown");
    assert!(matches!(&err, PruneError::OperationNotFound(name) if name == "ghost"));
    assert_eq!(err.to_string(), "Operation 'ghost' not found");
    assert_eq!(names(&build), ["keep"]);
    assert!(build.operations_dir().join("keep/state.json").exists());
    assert!(build.root().join("precious.log").exists());
    assert!(dir.path().join("sibling").exists());
}

#[test]
fn valid_names_are_plain_directory_names() {
    for good in ["a", "feature-login", ".hidden", "a..b", "x y", "ünï"] {
        validate_name(good).expect(good);
    }
}

#[test]
fn named_operations_go_whatever_their_phase_each_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let build = BuildDir::new(dir.path());
    for name in ["a", "b", "c"] {
        op(&build, name, r#"{"phase":"executing"}"#);
    }
    std::fs::write(
        build.operations_dir().join("b/logs/worker.log"),
        [b'x'; 1000],
    )
    .expect("write");
    let report = run(&build, named(&["b", "c", "b"]), false, true).expect("named");
    let pruned: Vec<&str> = report.pruned.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(pruned, ["b", "c"]);
    let state_len = r#"{"phase":"executing"}"#.len() as u64;
    assert_eq!(report.pruned[0].bytes, 1000 + state_len);
    assert_eq!(report.pruned[0].phase, "executing");
    assert_eq!(names(&build), ["a"]);
}

#[test]
fn all_asks_once_and_a_no_removes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let build = BuildDir::new(dir.path());
    for name in ["a", "b", "c"] {
        op(&build, name, r#"{"phase":"executing"}"#);
    }
    let tmux = Tmux::system();
    let (report, asked) = run_asking(&build, &request(Selection::All, false, false), false, &tmux);
    let report = report.expect("declined");
    assert_eq!(asked, ["RemoveAll { count: 3 }"]);
    assert!(report.pruned.is_empty());
    assert_eq!(report.skipped[0].item, ALL_OPERATIONS);
    assert!(report.skipped[0].reason.contains("cancelled"));
    assert_eq!(names(&build), ["a", "b", "c"]);

    let (report, asked) = run_asking(&build, &request(Selection::All, true, false), false, &tmux);
    assert!(asked.is_empty(), "a dry run never asks");
    assert_eq!(report.expect("dry").pruned.len(), 3);
    assert_eq!(names(&build), ["a", "b", "c"]);

    let (report, asked) = run_asking(&build, &request(Selection::All, false, true), false, &tmux);
    assert!(asked.is_empty(), "--force never asks");
    assert_eq!(report.expect("forced").pruned.len(), 3);
    assert!(names(&build).is_empty());
    assert!(build.operations_dir().is_dir(), "operations/ itself stays");

    for name in ["d", "e"] {
        op(&build, name, r#"{"phase":"init"}"#);
    }
    let (report, asked) = run_asking(&build, &request(Selection::All, false, false), true, &tmux);
    assert_eq!(asked, ["RemoveAll { count: 2 }"]);
    assert_eq!(report.expect("confirmed").pruned.len(), 2);
    assert!(names(&build).is_empty());
}

#[test]
fn a_dry_run_deletes_nothing_in_any_mode() {
    let dir = tempfile::tempdir().expect("tempdir");
    let build = BuildDir::new(dir.path());
    op(&build, "done", r#"{"phase":"merged"}"#);
    op(&build, "busy", r#"{"phase":"executing"}"#);
    let before = names(&build);
    let finished = run(&build, Selection::Finished, true, false).expect("finished");
    assert_eq!(finished.pruned.len(), 1);
    let named = run(&build, named(&["busy"]), true, false).expect("named");
    assert_eq!(named.pruned.len(), 1);
    let all = run(&build, Selection::All, true, false).expect("all");
    assert_eq!(all.pruned.len(), 2);
    assert_eq!(names(&build), before);
    assert!(build.operations_dir().join("done/state.json").exists());
}

#[test]
fn no_operations_directory() {
    let dir = tempfile::tempdir().expect("tempdir");
    let build = BuildDir::new(dir.path());
    for selection in [Selection::Finished, Selection::All] {
        let report = run(&build, selection, false, true).expect("empty");
        assert!(!report.present);
        assert!(report.pruned.is_empty() && report.skipped.is_empty());
    }
    let err = run(&build, named(&["a"]), false, true).expect_err("nothing to name");
    assert!(matches!(err, PruneError::OperationNotFound(_)));
}

#[test]
fn symlinked_operations_are_not_followed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let outside = tempfile::tempdir().expect("tempdir");
    let build = BuildDir::new(dir.path());
    std::fs::create_dir_all(build.operations_dir()).expect("mkdir");
    std::fs::write(outside.path().join("state.json"), r#"{"phase":"merged"}"#).expect("write");
    std::os::unix::fs::symlink(outside.path(), build.operations_dir().join("link"))
        .expect("symlink");
    std::fs::write(build.operations_dir().join("stray-file"), "x").expect("write");
    // A real operation holding a symlink to the outside: removed, target intact.
    op(&build, "done", r#"{"phase":"merged"}"#);
    std::os::unix::fs::symlink(outside.path(), build.operations_dir().join("done/worktree"))
        .expect("symlink");

    let report = run(&build, Selection::Finished, false, true).expect("finished");
    let pruned: Vec<&str> = report.pruned.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(pruned, ["done"]);
    assert_eq!(report.skipped[0].item, "link");
    let report = run(&build, Selection::All, false, true).expect("all");
    assert!(report.pruned.is_empty());
    assert!(outside.path().join("state.json").exists());
    assert_eq!(names(&build), ["link", "stray-file"]);
    let err = run(&build, named(&["link"]), false, true).expect_err("a link is not an operation");
    assert!(matches!(err, PruneError::OperationNotFound(_)));
    let err = run(&build, named(&["stray-file"]), false, true).expect_err("a file neither");
    assert!(matches!(err, PruneError::OperationNotFound(_)));
    assert!(outside.path().join("state.json").exists());
}

#[test]
fn a_symlinked_operations_directory_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let outside = tempfile::tempdir().expect("tempdir");
    let victim = outside.path().join("victim");
    std::fs::create_dir_all(&victim).expect("mkdir");
    std::fs::write(victim.join("state.json"), r#"{"phase":"merged"}"#).expect("write");
    let build = BuildDir::new(dir.path());
    std::os::unix::fs::symlink(outside.path(), build.operations_dir()).expect("symlink");
    for selection in [Selection::Finished, Selection::All, named(&["victim"])] {
        let err = run(&build, selection, false, true).expect_err("refused");
        assert!(err.to_string().contains("symbolic link"), "{err}");
    }
    assert!(victim.join("state.json").exists());
}

#[test]
fn events_follow_the_report() {
    let dir = tempfile::tempdir().expect("tempdir");
    let build = BuildDir::new(dir.path());
    op(&build, "a-done", r#"{"phase":"merged"}"#);
    op(&build, "b-done", r#"{"phase":"cancelled"}"#);
    op(&build, "c-busy", r#"{"phase":"executing"}"#);
    op(&build, "d-bad", "garbage");
    let mut seen = Vec::new();
    let report = prune(
        &build,
        &request(Selection::Finished, false, false),
        &mut |_| true,
        &mut |event: &PruneEvent| seen.push(event.clone()),
    )
    .expect("prune");
    assert_eq!(
        seen.first(),
        Some(&PruneEvent::JobStarted {
            job: Job::Operations,
            total: 2
        })
    );
    let pruned: Vec<&str> = seen
        .iter()
        .filter_map(|e| match e {
            PruneEvent::ItemPruned { item, .. } => Some(item.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(pruned, ["a-done", "b-done"]);
    assert!(seen.iter().any(|e| matches!(
        e,
        PruneEvent::ItemSkipped { skipped, .. } if skipped.item == "d-bad"
    )));
    let total_bytes: u64 = report.pruned.iter().map(|p| p.bytes).sum();
    assert_eq!(
        seen.last(),
        Some(&PruneEvent::Progress {
            job: Job::Operations,
            done: 2,
            total: 2,
            bytes_reclaimed: total_bytes
        })
    );
}

/// A fake tmux: `has-session` succeeds while `running` exists; every call
/// is appended to `calls`; `kill-session` removes `running`.
struct FakeTmux {
    _dir: tempfile::TempDir,
    tmux: Tmux,
    calls: PathBuf,
    running: PathBuf,
}

/// The fake tmux's machine: a node name with a domain part, as a Mac
/// (`Name.local`) or a Linux host with a dotted name reports it.
const FAKE_NODE: &str = "dev-box.example.com";
/// What v0 records as that machine in `state.json` (`hostname -s`).
const FAKE_MACHINE: &str = "dev-box";

impl FakeTmux {
    fn new() -> Self {
        Self::on_host(FAKE_NODE)
    }

    fn on_host(node: &str) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let calls = dir.path().join("calls");
        let running = dir.path().join("running");
        let program = dir.path().join("tmux");
        let script = format!(
            "#!/bin/sh\necho \"$*\" >> '{calls}'\ncase \"$1\" in\n  has-session) test -e '{running}' ;;\n  kill-session) rm -f '{running}' ;;\nesac\n",
            calls = calls.display(),
            running = running.display(),
        );
        std::fs::write(&program, script).expect("script");
        std::fs::write(&running, "").expect("running");
        Self {
            _dir: dir,
            // Run through sh, not exec'd: a script just written can be
            // "text file busy" while a parallel test forks.
            tmux: Tmux {
                program: PathBuf::from("sh"),
                prefix: vec![program.into()],
                host: node.to_owned(),
            },
            calls,
            running,
        }
    }

    fn calls(&self) -> Vec<String> {
        std::fs::read_to_string(&self.calls)
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }
}

fn op_with_session(build: &BuildDir, name: &str, machine: Option<&str>) {
    let machine = machine.map_or(String::new(), |m| format!(r#","machine":"{m}""#));
    op(
        build,
        name,
        &format!(r#"{{"phase":"executing","tmux_session":"v0-{name}"{machine}}}"#),
    );
}

#[test]
fn a_running_session_is_killed_only_when_confirmed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let build = BuildDir::new(dir.path());
    // Recorded as v0 records it; our node name has a domain part.
    op_with_session(&build, "feat", Some(FAKE_MACHINE));

    // Declined: kept, nothing killed.
    let fake = FakeTmux::new();
    let (report, asked) = run_asking(
        &build,
        &request(named(&["feat"]), false, false),
        false,
        &fake.tmux,
    );
    let report = report.expect("declined");
    assert_eq!(
        asked,
        [r#"KillSession { operation: "feat", session: "v0-feat" }"#]
    );
    assert!(report.pruned.is_empty());
    assert_eq!(report.skipped[0].reason, KEPT_RUNNING);
    assert_eq!(fake.calls(), ["has-session -t v0-feat"]);
    assert!(fake.running.exists());
    assert_eq!(names(&build), ["feat"]);

    // A dry run neither asks nor looks.
    let (report, asked) = run_asking(
        &build,
        &request(named(&["feat"]), true, false),
        true,
        &fake.tmux,
    );
    assert_eq!(report.expect("dry").pruned.len(), 1);
    assert!(asked.is_empty());
    assert_eq!(fake.calls().len(), 1);

    // Confirmed: killed, then removed.
    let (report, _) = run_asking(
        &build,
        &request(named(&["feat"]), false, false),
        true,
        &fake.tmux,
    );
    assert_eq!(report.expect("confirmed").pruned.len(), 1);
    assert_eq!(
        fake.calls(),
        [
            "has-session -t v0-feat",
            "has-session -t v0-feat",
            "kill-session -t v0-feat"
        ]
    );
    assert!(!fake.running.exists());
    assert!(names(&build).is_empty());
}

#[test]
fn a_mac_node_name_is_the_machine_v0_recorded() {
    let dir = tempfile::tempdir().expect("tempdir");
    let build = BuildDir::new(dir.path());
    op_with_session(&build, "feat", Some("Mac-Studio"));
    let fake = FakeTmux::on_host("Mac-Studio.local");
    let (report, asked) = run_asking(
        &build,
        &request(named(&["feat"]), false, false),
        true,
        &fake.tmux,
    );
    assert_eq!(
        asked,
        [r#"KillSession { operation: "feat", session: "v0-feat" }"#],
        "asked before removing a running operation"
    );
    assert_eq!(report.expect("confirmed").pruned.len(), 1);
    assert_eq!(
        fake.calls(),
        ["has-session -t v0-feat", "kill-session -t v0-feat"]
    );
}

#[test]
fn force_kills_without_asking_and_other_machines_are_not_ours() {
    let dir = tempfile::tempdir().expect("tempdir");
    let build = BuildDir::new(dir.path());
    op_with_session(&build, "no-machine", None);
    let fake = FakeTmux::new();
    let (report, asked) = run_asking(
        &build,
        &request(named(&["no-machine"]), false, true),
        false,
        &fake.tmux,
    );
    assert_eq!(report.expect("forced").pruned.len(), 1);
    assert!(asked.is_empty());
    assert_eq!(
        fake.calls(),
        [
            "has-session -t v0-no-machine",
            "kill-session -t v0-no-machine"
        ]
    );

    op_with_session(&build, "elsewhere", Some("another-host.invalid"));
    let fake = FakeTmux::new();
    let (report, asked) = run_asking(
        &build,
        &request(named(&["elsewhere"]), false, false),
        false,
        &fake.tmux,
    );
    assert_eq!(report.expect("elsewhere").pruned.len(), 1);
    assert!(asked.is_empty());
    assert!(
        fake.calls().is_empty(),
        "another machine's session is not checked"
    );

    // No tmux installed: the session cannot be running.
    op_with_session(&build, "no-tmux", None);
    let missing = Tmux {
        program: dir.path().join("no-such-tmux"),
        prefix: Vec::new(),
        host: FAKE_NODE.to_owned(),
    };
    let (report, asked) = run_asking(
        &build,
        &request(named(&["no-tmux"]), false, false),
        false,
        &missing,
    );
    assert_eq!(report.expect("no tmux").pruned.len(), 1);
    assert!(asked.is_empty());
}
