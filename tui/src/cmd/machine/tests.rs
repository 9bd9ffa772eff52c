//! `--all-projects`: what each project's row and the machine's totals say,
//! and the exit status, from made-up daemon answers.

use super::*;
use v0_prune_shared::config::{BuildDirSource, Settings};
use v0_prune_shared::paths::BuildDir;
use v0_prune_shared::protocol::Snapshot;
use v0_prune_testkit::records;

const NOW: i64 = 1_764_331_200_000; // 2025-11-28T12:00:00Z

fn project(name: &str) -> Box<Project> {
    Box::new(Project {
        root: Some(PathBuf::from(format!("/home/u/{name}"))),
        name: Some(name.into()),
        build_dir: BuildDir::new(format!("/home/u/{name}/.v0/build")),
        source: BuildDirSource::Default,
        settings: Settings::default(),
    })
}

fn seen(name: &str, what: What) -> Seen {
    Seen {
        name: name.into(),
        origin: Origin::Registry,
        what,
    }
}

fn with_daemon(name: &str, daemon: Found, bytes: u64) -> Seen {
    seen(
        name,
        What::Project {
            project: project(name),
            daemon: Some(daemon),
            logs: LogsOnDisk { files: 2, bytes },
        },
    )
}

fn running(name: &str) -> Found {
    let mut snapshot: Snapshot = records::idle_snapshot(
        name,
        &format!("/home/u/{name}/.v0/build"),
        vec![records::run_record(7, NOW - 300_000, 4096)],
    );
    snapshot.daemon_pid = 4242;
    snapshot.next_run_at_ms = Some(NOW + 60_000);
    Found::Running {
        snapshot: Box::new(snapshot),
        socket: PathBuf::from("/s"),
    }
}

fn stopped() -> Found {
    Found::NotRunning {
        last_run: Some(Box::new(records::run_record(3, NOW - 7_200_000, 100))),
        totals: Some(Totals {
            runs: 3,
            bytes_reclaimed: 1000,
            ..Totals::default()
        }),
    }
}

fn machine() -> Machine {
    Machine {
        projects: vec![
            with_daemon("api", running("api"), 5 << 20),
            with_daemon("web", stopped(), 1 << 20),
            seen(
                "old",
                What::Gone {
                    root: PathBuf::from("/home/u/old"),
                },
            ),
            seen(
                "odd",
                What::Refused {
                    root: None,
                    reason: "a link".into(),
                },
            ),
            seen(
                "new",
                What::Project {
                    project: project("new"),
                    daemon: None,
                    logs: LogsOnDisk::default(),
                },
            ),
        ],
    }
}

#[test]
fn each_project_says_its_state_and_the_totals_add_up() {
    let view = MachineStatusView::new(&machine());
    let words: Vec<_> = view
        .projects
        .iter()
        .map(|p| (p.name.as_str(), p.found, p.daemon, p.pid))
        .collect();
    assert_eq!(
        words,
        [
            ("api", "project", Some("running"), Some(4242)),
            ("web", "project", Some("not_running"), None),
            ("old", "gone", None, None),
            ("odd", "refused", None, None),
            ("new", "project", Some("no_build_dir"), None),
        ]
    );
    let api = &view.projects[0];
    assert_eq!(api.last_run.as_ref().map(|r| r.run_id), Some(7));
    assert_eq!(api.next_run_at.as_deref(), Some("2025-11-28T12:01:00Z"));
    let web = &view.projects[1];
    assert_eq!(web.reclaimed_bytes, Some(1000));
    assert_eq!(web.last_run.as_ref().map(|r| r.bytes_reclaimed), Some(100));
    assert_eq!(
        view.projects[2].reason.as_deref(),
        Some("/home/u/old no longer exists")
    );
    assert_eq!(
        view.totals,
        MachineTotals {
            projects: 5,
            running: 1,
            not_running: 1,
            no_build_dir: 1,
            gone: 1,
            refused: 1,
            logs_files: 4,
            logs_bytes: 6 << 20,
            // api's 4096 (its one run) and web's 1000.
            reclaimed_bytes: 5096,
        }
    );
}

#[test]
fn the_exit_is_success_only_when_every_built_project_has_a_running_daemon() {
    assert_eq!(MachineStatusView::new(&machine()).exit(), Exit::NotRunning);
    let mut all_up = machine();
    all_up.projects.remove(1);
    assert_eq!(MachineStatusView::new(&all_up).exit(), Exit::Success);
    let mut stuck = machine();
    stuck.projects[1] = with_daemon(
        "web",
        Found::Unresponsive {
            pid: Some(9),
            error: "timed out".into(),
        },
        0,
    );
    assert_eq!(MachineStatusView::new(&stuck).exit(), Exit::NotRunning);
    let mut v0s = machine();
    v0s.projects[1] = with_daemon("web", Found::BashDaemon { pid: 77 }, 0);
    assert_eq!(MachineStatusView::new(&v0s).exit(), Exit::Success);
    assert_eq!(
        MachineStatusView::new(&Machine { projects: vec![] }).exit(),
        Exit::Success
    );
}

#[test]
fn the_table_has_a_row_per_project_the_reasons_and_a_total() {
    let view = MachineStatusView::new(&machine());
    let mut out = Vec::new();
    write_status_table(&mut out, &view, NOW).expect("written");
    let text = String::from_utf8(out).expect("utf-8");
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("PROJECT  DAEMON"), "{text}");
    assert!(lines[1].starts_with("api "), "{text}");
    assert!(lines[1].contains("running (pid 4242)"), "{text}");
    assert!(lines[1].contains("5m ago, ok, 4.0 KiB"), "{text}");
    assert!(lines[1].contains("5.0 MiB"), "{text}");
    assert!(lines[2].contains("not running"), "{text}");
    assert!(lines[3].contains("gone"), "{text}");
    assert!(lines[5].contains("never built"), "{text}");
    assert!(
        text.contains("  old: gone: /home/u/old no longer exists"),
        "{text}"
    );
    assert!(text.contains("  odd: refused: a link"), "{text}");
    assert_eq!(
        lines.last().copied(),
        Some(
            "5 projects: 1 running, 1 not running, 1 never built, 1 gone, 1 refused; logs 6.0 MiB in 4 files; 5.0 KiB reclaimed all-time"
        ),
        "{text}"
    );
}

#[test]
fn the_json_has_every_field_per_project_and_totals() {
    let view = MachineStatusView::new(&machine());
    let json = serde_json::to_value(&view).expect("json");
    let api = &json["projects"][0];
    for field in [
        "name",
        "origin",
        "found",
        "root",
        "build_dir",
        "daemon",
        "pid",
        "last_run",
        "next_run_at",
        "logs_bytes",
        "reclaimed_bytes",
    ] {
        assert!(!api[field].is_null(), "{field} in {api}");
    }
    assert_eq!(json["totals"]["projects"], 5);
    assert_eq!(json["projects"][2]["found"], "gone");
}

#[test]
fn projects_are_found_and_asked_in_the_registry_s_order() {
    let home = tempfile::tempdir().expect("temp dir");
    let gone = Registered {
        name: "gone".into(),
        origin: Origin::Registry,
        found: Entry::Gone {
            root: home.path().join("nowhere"),
        },
    };
    let project = Project {
        root: Some(home.path().to_owned()),
        name: Some("here".into()),
        build_dir: BuildDir::new(home.path().join(".v0/build")),
        source: BuildDirSource::Default,
        settings: Settings::default(),
    };
    std::fs::create_dir_all(home.path().join(".v0/build/logs")).expect("mkdir");
    std::fs::write(home.path().join(".v0/build/logs/a.log"), "12345").expect("write");
    let here = Registered {
        name: "here".into(),
        origin: Origin::CurrentDir,
        found: Entry::Project(Box::new(project)),
    };
    let machine = look_at(vec![gone, here]).expect("looked");
    let view = MachineStatusView::new(&machine);
    assert_eq!(view.projects[0].found, "gone");
    assert_eq!(view.projects[1].daemon, Some("not_running"));
    assert_eq!(view.projects[1].logs_bytes, Some(5));
    assert_eq!(view.projects[1].origin, "current_dir");
}

fn listed(bytes: u64, growth: Option<i64>, frees: Option<u64>, logs: &[(&str, u64)]) -> LsView {
    use v0_prune_shared::protocol::{FileInfo, FileMethod, FilesView};
    let info = |path: &str, size: u64| FileInfo {
        path: path.into(),
        size,
        lines_removed: 0,
        bytes_reclaimed: 0,
        oldest_entry_ms: None,
        holders: Vec::new(),
        method: FileMethod::Rewrite,
        next_reclaim: None,
        growth_per_hour: None,
        recent: Vec::new(),
    };
    LsView {
        build_dir: "/b".into(),
        source: ls::Source::Computed,
        daemon_pid: None,
        note: None,
        retention_secs: 3600,
        files: FilesView {
            as_of_ms: NOW,
            run_id: None,
            largest: logs.iter().map(|(p, s)| info(p, *s)).collect(),
            skipped: Vec::new(),
            total_files: logs.len() as u64,
            total_bytes: bytes,
            total_skipped: 0,
            total_reclaimed: 0,
            total_next_reclaim: frees,
            total_growth_per_hour: growth,
            queue: None,
        },
        budget: None,
    }
}

#[test]
fn ls_adds_up_the_projects_and_groups_them_by_filesystem() {
    let registered = |name: &str, found: Entry| Registered {
        name: name.into(),
        origin: Origin::Registry,
        found,
    };
    let disk = |device| Disk {
        device,
        free_bytes: 10 << 30,
        size_bytes: 100 << 30,
    };
    let four = [
        ("logs/a.log", 40),
        ("logs/b.log", 30),
        ("logs/c.log", 20),
        ("logs/d.log", 10),
    ];
    let asked = vec![
        (
            registered("api", Entry::Project(project("api"))),
            Some((Ok(listed(100, Some(50), Some(30), &four)), Some(disk(1)))),
        ),
        (
            registered("web", Entry::Project(project("web"))),
            Some((
                Ok(listed(7, None, Some(2), &[("logs/w.log", 7)])),
                Some(disk(1)),
            )),
        ),
        (
            registered("ops", Entry::Project(project("ops"))),
            Some((
                Ok(listed(5, Some(-1), None, &[("x.log", 5)])),
                Some(disk(2)),
            )),
        ),
        (
            registered("bad", Entry::Project(project("bad"))),
            Some((Err("cannot read".into()), None)),
        ),
        (
            registered(
                "old",
                Entry::Gone {
                    root: "/home/u/old".into(),
                },
            ),
            None,
        ),
    ];
    let (view, disks) = MachineLsView::new(asked);
    let view = view.with_filesystems(&disks);
    assert_eq!(view.projects[0].largest.len(), LARGEST_SHOWN);
    assert_eq!(view.projects[0].largest[0].path, "logs/a.log");
    assert_eq!(view.projects[3].error.as_deref(), Some("cannot read"));
    assert_eq!(view.projects[4].found, "gone");
    assert_eq!(
        view.totals,
        LsTotals {
            projects: 5,
            listed: 3,
            logs_files: 6,
            logs_bytes: 112,
            growth_per_hour: Some(49),
            next_run_frees: 32,
        }
    );
    let filesystems: Vec<_> = view
        .filesystems
        .iter()
        .map(|fs| (fs.projects.join(","), fs.logs_bytes, fs.free_bytes))
        .collect();
    assert_eq!(
        filesystems,
        [
            ("api,web".to_owned(), 107, Some(10 << 30)),
            ("ops".to_owned(), 5, Some(10 << 30)),
        ]
    );
    let mut out = Vec::new();
    write_ls_table(&mut out, &view).expect("written");
    let text = String::from_utf8(out).expect("utf-8");
    assert!(
        text.contains("  api largest: logs/a.log 40 B, logs/b.log 30 B, logs/c.log 20 B\n"),
        "{text}"
    );
    assert!(text.contains("  bad: project: cannot read\n"), "{text}");
    assert!(
        text.contains("Total: 5 projects, 112 B in 6 logs; next runs free 32 B"),
        "{text}"
    );
    assert!(
        text.contains("(api, web): logs 107 B, 10.0 GiB free of 100 GiB"),
        "{text}"
    );
}

#[test]
fn each_project_gets_one_line_and_the_worst_code_wins() {
    let lines = [
        Asked::RunNow {
            pid: 5,
            run_id: 3,
            coalesced: false,
        }
        .line("api"),
        Asked::NotRunning.line("web"),
        Asked::Drained { pid: Some(5) }.line("api"),
        Asked::Skipped("/x no longer exists".into()).line("old"),
    ];
    assert_eq!(
        lines,
        [
            "api: asked the daemon (pid 5) to run now: run #3",
            "web: not running (not started)",
            "api: daemon (pid 5) stopped after its run",
            "old: skipped: /x no longer exists",
        ]
    );
    let exits = |answers: &[Asked]| worst(answers.iter().map(Asked::exit));
    assert_eq!(
        exits(&[Asked::NotRunning, Asked::Drained { pid: None }]),
        Exit::Success
    );
    assert_eq!(
        exits(&[Asked::Killed { pid: None }, Asked::NotRunning]),
        Exit::Killed
    );
    assert_eq!(
        exits(&[Asked::Killed { pid: None }, Asked::Failed("x".into())]),
        Exit::Error
    );
}
