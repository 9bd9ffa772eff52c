//! The daemon under faults: killed with SIGKILL in the middle of a run, and
//! running with a file-size limit that makes its writes fail part-way.
//!
//! After a kill, every log and the merge queue are either as they were or as
//! a complete prune leaves them (a reference prune of a copy says what that
//! is), and the next daemon starts cleanly over the stale pid file, socket and
//! locks, finishes the work and leaves no temp file behind.
//! `V0_PRUNE_DAEMON_KILLS` (default 6) sets the number of kills.

mod common;

use std::collections::BTreeMap;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{Client, RunDaemon, assert_answers_promptly};
use v0_prune_shared::demo::{self, DemoSpec, SplitMix};
use v0_prune_shared::paths::BuildDir;
use v0_prune_shared::prune::{self, Cutoff, RunOptions, ignore_events};
use v0_prune_testkit::{PATIENCE, TestBuildDir, files_under, wait_until};

const RETENTION: Duration = Duration::from_secs(6 * 3600);

/// A demo project, and what each log and the queue hold before and after a prune.
struct Project {
    _dir: tempfile::TempDir,
    build: BuildDir,
    before: BTreeMap<PathBuf, Vec<u8>>,
    after: BTreeMap<PathBuf, Vec<u8>>,
    run_time: Duration,
}

/// The files a prune changes: every log but the daemon's own, and the queue.
fn pruned_files(root: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    files_under(root)
        .into_iter()
        .filter_map(|path| {
            let rel = path.strip_prefix(root).expect("inside").to_path_buf();
            let pruned = rel != Path::new("logs/prune-daemon.log")
                && (rel.extension().is_some_and(|e| e == "log")
                    || rel == Path::new("mergeq/queue.json"));
            pruned.then(|| {
                let bytes = std::fs::read(&path).expect("read");
                (rel, bytes)
            })
        })
        .collect()
}

/// Every file whose name says it is one of our temp files.
fn temp_files(root: &Path) -> Vec<PathBuf> {
    files_under(root)
        .into_iter()
        .filter(|path| {
            let name = path.file_name().unwrap_or_default().to_string_lossy();
            name.ends_with(".tmp") || name.contains(".tmp.") || name.contains("v0-prune-tmp")
        })
        .collect()
}

impl Project {
    fn new(spec: DemoSpec) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let project = demo::generate(dir.path(), &spec).expect("generate");
        let build = project.build_dir;
        demo::write_log(
            &build.logs_dir().join("large.log"),
            spec.now,
            80_000,
            0.5,
            5,
        )
        .expect("large log");
        let before = pruned_files(build.root());
        // The reference: the library's prune of a copy, with the cutoff the
        // daemon will use (the demo keeps every line hours from it).
        let copy = tempfile::tempdir().expect("tempdir");
        for (rel, bytes) in &before {
            let path = copy.path().join(rel);
            std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            std::fs::write(path, bytes).expect("copy");
        }
        let options = RunOptions {
            cutoff: Cutoff::before(spec.now, RETENTION),
            dry_run: false,
        };
        let started = Instant::now();
        let report = prune::run(&BuildDir::new(copy.path()), &options, &mut ignore_events)
            .expect("reference run");
        let run_time = started.elapsed();
        assert!(report.errors.is_empty(), "{:?}", report.errors);
        let after = pruned_files(copy.path());
        assert!(before.iter().filter(|(p, b)| after[*p] != **b).count() > 5);
        Self {
            _dir: dir,
            build,
            before,
            after,
            run_time,
        }
    }

    fn restore(&self) {
        for (rel, bytes) in &self.before {
            std::fs::write(self.build.root().join(rel), bytes).expect("restore");
        }
    }

    /// The build directory, for the kit's daemon-log and daemon helpers.
    fn tree(&self) -> TestBuildDir {
        TestBuildDir::at(self.build.root())
    }

    fn assert_each_before_or_after(&self, context: &str) {
        let now = pruned_files(self.build.root());
        for (rel, before) in &self.before {
            let bytes = now
                .get(rel)
                .unwrap_or_else(|| panic!("{context}: {rel:?} gone"));
            let after = &self.after[rel];
            // An in-place prune killed between its overwrite and its collapse:
            // the old file's first blocks, then exactly the pruned file.
            let cut = before.len().saturating_sub(after.len());
            let mid_collapse = cut > 0
                && bytes.len() == before.len()
                && bytes[..cut] == before[..cut]
                && bytes[cut..] == after[..];
            assert!(
                bytes == before || bytes == after || mid_collapse,
                "{context}: {} is torn ({} bytes; before {}, after {})",
                rel.display(),
                bytes.len(),
                before.len(),
                self.after[rel].len()
            );
        }
    }

    /// Where a kill landed, from what it left: every file as it was, every
    /// file pruned, or some of each (or one cut short mid-collapse).
    fn landed(&self) -> Landed {
        let now = pruned_files(self.build.root());
        let changing: Vec<&PathBuf> = self
            .before
            .keys()
            .filter(|rel| self.before[*rel] != self.after[*rel])
            .collect();
        let is = |rel: &PathBuf, state: &BTreeMap<PathBuf, Vec<u8>>| now.get(rel) == state.get(rel);
        if changing.iter().all(|rel| is(rel, &self.before)) {
            Landed::Before
        } else if changing.iter().all(|rel| is(rel, &self.after)) {
            Landed::After
        } else {
            Landed::MidRun
        }
    }

    fn assert_all_after(&self, context: &str) {
        let now = pruned_files(self.build.root());
        for (rel, after) in &self.after {
            let same_but_padding = now
                .get(rel)
                .is_some_and(|bytes| same_but_padding_line(bytes, after));
            assert!(
                now.get(rel) == Some(after) || same_but_padding,
                "{context}: {} not pruned",
                rel.display()
            );
        }
    }
}

/// Where in a run a kill landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Landed {
    /// Before the run changed any file.
    Before,
    /// With some files pruned and some not.
    MidRun,
    /// After the run pruned every file.
    After,
}

/// Whether `bytes` is `after` but for the text of the padding line an
/// in-place prune leaves (`[<expired stamp>] v0-prune: N expired lines
/// removed in place`): finishing the prune of a file a killed run left
/// between its overwrite and its collapse counts the lines differently.
fn same_but_padding_line(bytes: &[u8], after: &[u8]) -> bool {
    let marker = b"] v0-prune: ";
    let Some(at) = after.windows(marker.len()).position(|w| w == marker) else {
        return false;
    };
    let start = at.saturating_sub(21);
    let Some(len) = after[start..].iter().position(|b| *b == b'\n') else {
        return false;
    };
    let end = start + len + 1;
    bytes.len() == after.len()
        && bytes[..start] == after[..start]
        && bytes[end..] == after[end..]
        && bytes[start] == b'['
        && bytes[start..end].windows(marker.len()).any(|w| w == marker)
        && bytes[end - 1] == b'\n'
}

fn spec() -> DemoSpec {
    DemoSpec {
        logs: 10,
        lines_per_log: 5_000,
        queue_entries: 4_000,
        seed: 3,
        ..DemoSpec::default()
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_daemon_killed_mid_run_leaves_no_torn_file_and_the_next_one_starts_cleanly() {
    let kills: u64 = std::env::var("V0_PRUNE_DAEMON_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(6);
    let project = Project::new(spec());
    let build = &project.build;
    let mut rng = SplitMix::new(0xDAE);
    let window = project.run_time.as_micros() as u64 * 3 / 2 + 1;
    let mut stale = (0, 0); // pid files and sockets the killed daemons left
    let mut landed = BTreeMap::<&str, u64>::new();
    // Once the seeded kills are done without one mid-run, a few more, each
    // halfway between the latest that came too early and the earliest
    // that came too late.
    let (mut too_early, mut too_late) = (Duration::ZERO, Duration::from_micros(window));
    let mut kill = 0;
    while kill < kills || (!landed.contains_key("mid-run") && kill < kills + 12) {
        project.restore();
        let starts = project.tree().count_in_log("Starting pruning...");
        let mut daemon = project.tree().command("1h").spawn().expect("spawn");
        let ok = wait_until(PATIENCE, || {
            project.tree().count_in_log("Starting pruning...") > starts
        });
        assert!(ok, "no run started:\n{}", project.tree().daemon_log());
        let delay = if kill < kills {
            Duration::from_micros(rng.below(window))
        } else {
            (too_early + too_late) / 2
        };
        std::thread::sleep(delay);
        daemon.kill().expect("SIGKILL");
        daemon.wait().expect("reap");
        let context = format!(
            "kill {kill} after {delay:?} of a {:?} run",
            project.run_time
        );
        project.assert_each_before_or_after(&context);
        let where_ = project.landed();
        match where_ {
            Landed::Before => too_early = too_early.max(delay),
            Landed::After => too_late = too_late.min(delay),
            Landed::MidRun => {}
        }
        let name = match where_ {
            Landed::Before => "before",
            Landed::MidRun => "mid-run",
            Landed::After => "after",
        };
        *landed.entry(name).or_default() += 1;
        kill += 1;
        stale.0 += usize::from(build.pid_file().exists());
        stale.1 += usize::from(v0_prune_shared::socket::socket_path(build).exists());

        // The next daemon takes over the stale pid file, socket and locks.
        let finished = project.tree().count_in_log("Pruning complete");
        let mut next = project.tree().command("1h").spawn().expect("spawn");
        let pid = next.id();
        let ready = wait_until(PATIENCE, || {
            std::fs::read_to_string(build.pid_file()).is_ok_and(|p| p.trim() == pid.to_string())
                && project.tree().count_in_log("Pruning complete") > finished
        });
        assert!(
            ready,
            "{context}: the next daemon did not run:\n{}",
            project.tree().daemon_log()
        );
        assert_answers_promptly(build, pid).await;
        let mut client = Client::connect(build).await;
        let status = client.status().await;
        let last = status.last_run.expect("a run finished");
        assert!(last.errors.is_empty(), "{context}: {:?}", last.errors);
        project.assert_all_after(&context);
        assert_eq!(temp_files(build.root()), Vec::<PathBuf>::new(), "{context}");
        assert!(
            !build.queue_lock().exists(),
            "{context}: the queue lock is left"
        );
        drop(client);
        rustix::process::kill_process(
            rustix::process::Pid::from_raw(pid as i32).expect("pid"),
            rustix::process::Signal::TERM,
        )
        .expect("SIGTERM");
        let status = next.wait().expect("wait");
        assert!(status.success(), "{context}: {status:?}");
        assert!(
            !build.pid_file().exists() && !v0_prune_shared::socket::socket_path(build).exists()
        );
    }
    eprintln!(
        "daemon kills: {kill} ({landed:?}), each run ~{:?}; stale pid files {} and sockets {} recovered",
        project.run_time, stale.0, stale.1
    );
    // The kills must have hit runs in progress, not only their ends.
    assert!(
        landed.contains_key("mid-run"),
        "no kill landed mid-run: {landed:?}"
    );
    assert_eq!(
        stale.0 as u64, kill,
        "every killed daemon leaves its pid file"
    );
    assert!(project.tree().count_in_log("Replaced a stale pid file") as u64 >= kill);
}

/// A file-size limit (as a nearly full quota would) makes rewrites fail
/// part-way: the daemon must not die of SIGXFSZ, must say what failed in its
/// log and run record, leave every original intact, and keep serving.
#[tokio::test(flavor = "current_thread")]
async fn writes_failing_part_way_are_reported_and_the_daemon_keeps_going() {
    let now = jiff::Timestamp::now();
    let dir = tempfile::tempdir().expect("tempdir");
    let build = BuildDir::new(dir.path().join("build"));
    std::fs::create_dir_all(build.logs_dir()).expect("logs");
    std::fs::create_dir_all(build.mergeq_dir()).expect("mergeq");
    // The big log's kept half is 1.5 MB, over the 1 MiB limit.
    let big = build.logs_dir().join("big.log");
    demo::write_log(&big, now, 40_000, 0.5, 1).expect("log");
    let spec = DemoSpec {
        queue_entries: 12_000,
        logs: 0,
        ..DemoSpec::default()
    };
    let project = demo::generate(dir.path().join("p").as_path(), &spec).expect("demo");
    std::fs::copy(project.build_dir.queue_file(), build.queue_file()).expect("queue");
    let (big_before, queue_before) = (
        std::fs::read(&big).expect("read"),
        std::fs::read(build.queue_file()).expect("read"),
    );
    assert!(queue_before.len() > 1 << 20, "{}", queue_before.len());

    let limit: u64 = 1 << 20;
    let mut command = TestBuildDir::at(build.root()).command("1h");
    // SAFETY: only setrlimit, which is async-signal-safe. SIGXFSZ keeps its
    // default action (death): ignoring it is the daemon's job.
    unsafe {
        command.pre_exec(move || {
            let rlimit = libc::rlimit {
                rlim_cur: limit,
                rlim_max: limit,
            };
            if libc::setrlimit(libc::RLIMIT_FSIZE, &rlimit) == 0 {
                Ok(())
            } else {
                Err(std::io::Error::last_os_error())
            }
        });
    }
    let mut daemon = command.spawn().expect("spawn");
    let log = || std::fs::read_to_string(build.daemon_log()).unwrap_or_default();
    let finished = wait_until(PATIENCE, || {
        log().contains("Pruning complete") || daemon.try_wait().ok().flatten().is_some()
    });
    assert!(finished, "no run finished:\n{}", log());
    if let Some(status) = daemon.try_wait().expect("try_wait") {
        panic!("the daemon died ({status:?}) on a failed write:\n{}", log());
    }
    let text = log();
    // A failed write is no choice of ours: "could not prune", never "skipped".
    assert!(
        text.contains("Could not prune logs/big.log: file too large: "),
        "{text}"
    );
    assert!(
        text.contains("Could not prune mergeq/queue.json: file too large: "),
        "{text}"
    );
    assert!(
        text.contains("; 1 log and the merge queue could not be pruned (file too large)"),
        "the summary counts what could not be pruned:\n{text}"
    );
    assert!(!text.contains("Skipped logs/big.log"), "{text}");
    assert_eq!(std::fs::read(&big).expect("read"), big_before);
    assert_eq!(
        std::fs::read(build.queue_file()).expect("read"),
        queue_before
    );
    assert_eq!(temp_files(build.root()), Vec::<PathBuf>::new());

    // It keeps serving, and the next run reports the same, no worse.
    let pid = daemon.id();
    let mut client = Client::connect(&build).await;
    let status = client.status().await;
    let record = status.last_run.expect("recorded");
    assert!(record.errors.is_empty(), "{:?}", record.errors);
    assert_eq!(
        record.outcome,
        v0_prune_shared::protocol::RunOutcome::WithErrors
    );
    assert_eq!((record.failed_total, record.log_files_failed), (2, 1));
    assert!(record.failed.iter().any(|s| s.item == "logs/big.log"));
    assert!(record.skipped.is_empty(), "{:?}", record.skipped);
    client
        .send(&v0_prune_shared::protocol::ClientMessage::RunNow)
        .await;
    let _ = client.next().await;
    let ok = wait_until(PATIENCE, || log().matches("Pruning complete").count() >= 2);
    assert!(ok, "the second run did not finish:\n{}", log());
    assert!(
        daemon.try_wait().expect("try_wait").is_none(),
        "the daemon died"
    );
    assert_answers_promptly(&build, pid).await;
    let history = std::fs::read_to_string(build.state_dir().join("history.json")).expect("history");
    assert!(history.contains("file too large: "), "{history}");
    let _ = daemon.kill();
    let _ = daemon.wait();
}
