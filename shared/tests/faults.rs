//! Faults: writes that fail part-way (a file-size limit, a full disk), files
//! we may not touch (as an unprivileged user), and other mounts inside the
//! build directory. Each ends in a clear outcome in the report, the original
//! file intact, and never a crash or a hang. Surprises in the middle of a run
//! are in `surprises.rs`.
//!
//! Tests that need root (a tmpfs, a bind mount, switching to uid 65534) are
//! ignored, with that reason, where the build found we are not root.
//!
//! A pruner under restrictions is this test binary re-run for the calling
//! test alone, in the pruner's part (`v0_prune_testkit::child`): see
//! [`pruned_as_child`].

#[cfg(target_os = "linux")]
use std::ffi::CString;
use std::fs::OpenOptions;
use std::io::Write;
#[cfg(target_os = "linux")]
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;

mod support;

use support::{
    failure_of, kept_part, log_text, one_at_a_time, options, reason_of, temp_files, without_padding,
};
use v0_prune_shared::paths::BuildDir;
use v0_prune_shared::prune::{self, RunReport, ignore_events};
use v0_prune_testkit::child;
use v0_prune_testkit::process::{NOBODY, become_nobody, dir_for_nobody};

const REPORT: &str = "V0-PRUNE-REPORT:";

fn queue_text(entries: usize) -> String {
    let items: Vec<String> = (0..entries)
        .map(|i| {
            let (status, at) = if i % 2 == 0 {
                ("completed", "2026-11-27T00:00:00Z")
            } else {
                ("pending", "2026-11-28T11:00:00Z")
            };
            format!(
                "    {{\"id\": \"mq-{i:05}\", \"status\": \"{status}\", \"updated_at\": \"{at}\", \"note\": \"{}\"}}",
                "n".repeat(60)
            )
        })
        .collect();
    format!(
        "{{\n  \"version\": 1,\n  \"entries\": [\n{}\n  ]\n}}\n",
        items.join(",\n")
    )
}

// ------------------------------------------------------- the child pruner

/// The part a re-run of a test plays: the pruner that reports as JSON.
const PRUNER: &str = "pruner";
/// The part of a process that hides its open files.
#[cfg(target_os = "linux")]
const HIDDEN: &str = "hidden";

/// In a re-run of a test as its pruner child ([`run_child`]): prunes the
/// build directory `V0_PRUNE_FAULTS_CHILD` names, prints the report as
/// JSON, and says so; `false` in a normal run. Each test that runs a
/// child starts with it.
fn pruned_as_child() -> bool {
    if child::role() != Some(PRUNER) {
        return false;
    }
    let build = std::env::var("V0_PRUNE_FAULTS_CHILD").expect("the build dir");
    let report = prune::run(&BuildDir::new(build), &options(), &mut ignore_events);
    match report {
        Ok(report) => println!(
            "{REPORT}{}",
            serde_json::to_string(&report).expect("report as JSON")
        ),
        Err(err) => println!("{REPORT}error: {err}"),
    }
    true
}

/// How the child is restricted.
#[derive(Clone, Copy)]
enum Restrict {
    /// Writes beyond this many bytes into any file fail with EFBIG.
    FileSize(u64),
    /// Runs as uid and gid 65534 (`nobody`).
    Nobody,
}

/// Runs a pruner child under `restrict`: `test` (the calling test, which
/// starts with [`pruned_as_child`]) re-run as it.
fn run_child(test: &str, build: &Path, restrict: Restrict) -> RunReport {
    let mut command = child::command(test, PRUNER);
    command
        .env("V0_PRUNE_FAULTS_CHILD", build)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // SAFETY: the closures only make async-signal-safe system calls.
    unsafe {
        command.pre_exec(move || {
            match restrict {
                Restrict::FileSize(limit) => {
                    let limit = libc::rlimit {
                        rlim_cur: limit,
                        rlim_max: limit,
                    };
                    // A write past the limit must fail with EFBIG, not kill
                    // the process; the disposition survives exec.
                    libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
                    if libc::setrlimit(libc::RLIMIT_FSIZE, &limit) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                }
                Restrict::Nobody => become_nobody()?,
            }
            Ok(())
        });
    }
    let output = command.output().expect("start the restricted pruner");
    let stdout = String::from_utf8_lossy(&output.stdout);
    // The harness may print its own words before it on the same line.
    let Some(line) = stdout
        .lines()
        .find_map(|l| l.split_once(REPORT).map(|(_, r)| r))
    else {
        panic!(
            "the pruner child died ({:?}) without a report:\n{stdout}\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    };
    assert!(!line.starts_with("error: "), "{line}");
    serde_json::from_str(line).expect("a report")
}

/// The build found we are root (`v0_prune_is_root`); so must the test.
fn assert_root() {
    assert!(
        rustix::process::geteuid().is_root(),
        "built as root, run as another user: run the tests as root"
    );
}

// ------------------------------------------------------- failing writes

#[test]
fn a_file_size_limit_fails_writes_part_way_and_changes_nothing() {
    if pruned_as_child() {
        return;
    }
    let _serial = one_at_a_time();
    let dir = tempfile::tempdir().expect("tempdir");
    let build = BuildDir::new(dir.path());
    std::fs::create_dir_all(build.logs_dir()).expect("logs");
    std::fs::create_dir_all(build.mergeq_dir()).expect("mergeq");
    // Kept parts: 200 KB (over the 64 KiB limit) and 10 KB (under it).
    let big = log_text(4000, 2000);
    let small = log_text(200, 100);
    let queue = queue_text(2000);
    std::fs::write(build.logs_dir().join("big.log"), &big).expect("write");
    std::fs::write(build.logs_dir().join("small.log"), &small).expect("write");
    std::fs::write(build.queue_file(), &queue).expect("write");

    let report = run_child(
        "a_file_size_limit_fails_writes_part_way_and_changes_nothing",
        build.root(),
        Restrict::FileSize(64 * 1024),
    );

    let reason = failure_of(&report, "logs/big.log").expect("big.log could not be pruned");
    assert!(reason.starts_with("file too large: "), "{reason}");
    assert_eq!(
        reason_of(&report, "logs/big.log"),
        None,
        "a failure, not a skip"
    );
    assert_eq!(
        std::fs::read_to_string(build.logs_dir().join("big.log")).expect("read"),
        big,
        "the original must stay intact"
    );
    assert_eq!(report.logs.pruned.len(), 1, "{:?}", report.logs.pruned);
    assert_eq!(
        without_padding(std::fs::read_to_string(build.logs_dir().join("small.log")).expect("read")),
        kept_part(&small)
    );
    // The queue's new version could not be written: a failure of the
    // queue, not an error of the run, and the queue as it was.
    let reason = failure_of(&report, "mergeq/queue.json").expect("the queue could not be pruned");
    assert!(reason.starts_with("file too large: "), "{reason}");
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert!(report.queue.present && report.queue.removed.is_empty());
    assert_eq!(
        std::fs::read_to_string(build.queue_file()).expect("read"),
        queue
    );
    assert!(!build.queue_lock().exists(), "the queue lock was released");
    assert_eq!(temp_files(build.root()), Vec::<PathBuf>::new());
}

/// Unmounts (lazily) when dropped, so a failing test leaves no mount behind.
#[cfg(target_os = "linux")]
struct Mount(PathBuf);

#[cfg(target_os = "linux")]
impl Mount {
    fn tmpfs(at: &Path, size: &str) -> Self {
        Self::tmpfs_with(at, &format!("size={size}"))
    }

    #[cfg(not(feature = "portable"))]
    fn bind(from: &Path, at: &Path) -> Self {
        let source = CString::new(from.as_os_str().as_bytes()).expect("path");
        let target = CString::new(at.as_os_str().as_bytes()).expect("path");
        // SAFETY: valid NUL-terminated strings; no data argument.
        let rc = unsafe {
            libc::mount(
                source.as_ptr(),
                target.as_ptr(),
                std::ptr::null(),
                libc::MS_BIND,
                std::ptr::null(),
            )
        };
        assert_eq!(
            rc,
            0,
            "cannot bind-mount {} at {}: {}",
            from.display(),
            at.display(),
            std::io::Error::last_os_error()
        );
        Self(at.to_path_buf())
    }

    fn tmpfs_with(at: &Path, data: &str) -> Self {
        let source = CString::new("v0-prune-test").expect("name");
        let target = CString::new(at.as_os_str().as_bytes()).expect("path");
        let fstype = CString::new("tmpfs").expect("fstype");
        let data = CString::new(data).expect("data");
        // SAFETY: valid NUL-terminated strings for the duration of the call.
        let rc = unsafe {
            libc::mount(
                source.as_ptr(),
                target.as_ptr(),
                fstype.as_ptr(),
                0,
                data.as_ptr().cast(),
            )
        };
        assert_eq!(
            rc,
            0,
            "cannot mount a tmpfs at {}: {}",
            at.display(),
            std::io::Error::last_os_error()
        );
        Self(at.to_path_buf())
    }
}

#[cfg(target_os = "linux")]
impl Drop for Mount {
    fn drop(&mut self) {
        let target = CString::new(self.0.as_os_str().as_bytes()).expect("path");
        // SAFETY: a valid path string.
        unsafe { libc::umount2(target.as_ptr(), libc::MNT_DETACH) };
    }
}

// Mounting a tmpfs or a bind mount is Linux's mount(2).
#[cfg(target_os = "linux")]
#[test]
#[cfg_attr(
    not(v0_prune_is_root),
    ignore = "needs root to mount a tmpfs (run the tests as root; CI does)"
)]
fn a_full_disk_fails_the_rewrite_keeps_the_original_and_frees_the_temp() {
    assert_root();
    let _serial = one_at_a_time();
    let dir = tempfile::tempdir().expect("tempdir");
    let _mount = Mount::tmpfs(dir.path(), "1m");
    let build = BuildDir::new(dir.path());
    std::fs::create_dir_all(build.logs_dir()).expect("logs");
    // 700 KB of which 630 KB are kept: the copy cannot fit beside the original.
    let big = log_text(7000, 700);
    let small = log_text(100, 50);
    std::fs::write(build.logs_dir().join("big.log"), &big).expect("write");
    std::fs::write(build.logs_dir().join("small.log"), &small).expect("write");

    for attempt in 0..2 {
        let report = prune::run(&build, &options(), &mut ignore_events).expect("run");
        let reason = failure_of(&report, "logs/big.log").expect("big.log could not be pruned");
        assert!(
            reason.starts_with("no space left on device: "),
            "{attempt}: {reason}"
        );
        assert!(report.logs.skipped.is_empty(), "{:?}", report.logs.skipped);
        assert_eq!(
            std::fs::read_to_string(build.logs_dir().join("big.log")).expect("read"),
            big
        );
        assert_eq!(
            without_padding(
                std::fs::read_to_string(build.logs_dir().join("small.log")).expect("read")
            ),
            kept_part(&small)
        );
        assert_eq!(temp_files(build.root()), Vec::<PathBuf>::new(), "{attempt}");
    }
}

// ------------------------------------------------------- permissions

fn chown(path: &Path, uid: u32) {
    std::os::unix::fs::lchown(path, Some(uid), Some(uid)).expect("chown");
}

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

/// As an unprivileged user (root ignores permission bits): read-only and
/// unreadable logs and directories, a read-only merge queue directory, and a
/// log that belongs to someone else, which that someone holds open.
#[test]
#[cfg_attr(
    not(v0_prune_is_root),
    ignore = "needs root to switch to uid 65534 (run the tests as root; CI does)"
)]
fn an_unprivileged_pruner_meets_read_only_unreadable_and_foreign_files() {
    if pruned_as_child() {
        return;
    }
    assert_root();
    let _serial = one_at_a_time();
    let dir = dir_for_nobody();
    let root = dir.path().join("build");
    let build = BuildDir::new(&root);
    let text = log_text(40, 20);
    let write = |rel: &str, mode: u32| {
        let path = root.join(rel);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(&path, &text).expect("write");
        chmod(&path, mode);
        path
    };
    let read_only = write("logs/read-only.log", 0o444);
    let unreadable = write("logs/unreadable.log", 0o000);
    let in_read_only_dir = write("frozen/x.log", 0o644);
    let in_closed_dir = write("closed/x.log", 0o644);
    let foreign = write("logs/root-daemon.log", 0o644);
    std::fs::create_dir_all(build.mergeq_dir()).expect("mergeq");
    let queue = queue_text(10);
    std::fs::write(build.queue_file(), &queue).expect("queue");
    for path in walk_all(&root) {
        if path != foreign {
            chown(&path, NOBODY);
        }
    }
    chmod(&root.join("frozen"), 0o555);
    chmod(&root.join("closed"), 0o000);
    chmod(&build.mergeq_dir(), 0o555);
    // Root's daemon appends to its own log in nobody's directory.
    let mut root_writer = OpenOptions::new()
        .append(true)
        .open(&foreign)
        .expect("open");

    let report = run_child(
        "an_unprivileged_pruner_meets_read_only_unreadable_and_foreign_files",
        &root,
        Restrict::Nobody,
    );
    root_writer
        .write_all(b"[2026-11-28T10:00:00Z] written after the prune\n")
        .expect("append");

    // A read-only log in a writable directory is pruned like any other, as
    // `mv` would replace it, and stays read-only.
    assert_eq!(
        without_padding(std::fs::read_to_string(&read_only).expect("read")),
        kept_part(&text)
    );
    let meta = std::fs::metadata(&read_only).expect("meta");
    assert_eq!(meta.permissions().mode() & 0o777, 0o444);
    assert_eq!(meta.uid(), NOBODY);
    // Permissions are errors, not choices: these could not be pruned.
    let expect_failure = |item: &str, words: &str, path: &Path| {
        let reason = failure_of(&report, item).unwrap_or_else(|| panic!("{item}: {report:#?}"));
        assert!(
            reason.starts_with("permission denied: "),
            "{item}: {reason}"
        );
        assert!(reason.contains(words), "{item}: {reason}");
        assert_eq!(std::fs::read_to_string(path).expect("read"), text, "{item}");
    };
    expect_failure("logs/unreadable.log", "run v0-prune as", &unreadable);
    expect_failure("frozen/x.log", "run v0-prune as", &in_read_only_dir);
    expect_failure("closed", "cannot read this directory", &in_closed_dir);
    // Its writer is invisible to us (another user's /proc), so renaming
    // would send its next lines into a deleted file.
    let reason = reason_of(&report, "logs/root-daemon.log").expect("the foreign log is skipped");
    assert!(reason.contains("owned by uid 0"), "{reason}");
    let foreign_now = std::fs::read_to_string(&foreign).expect("read");
    assert!(
        foreign_now.ends_with("written after the prune\n"),
        "{foreign_now}"
    );
    assert!(
        report
            .errors
            .iter()
            .any(|e| e.contains("Permission denied")),
        "{:?}",
        report.errors
    );
    assert_eq!(
        std::fs::read_to_string(build.queue_file()).expect("read"),
        queue
    );
    chmod(&root.join("closed"), 0o755);
    assert_eq!(temp_files(&root), Vec::<PathBuf>::new());
}

/// The hidden child: a process, run as uid 65534, that hides its
/// descriptors from other processes of that uid (not dumpable).
#[cfg(target_os = "linux")]
fn hidden() {
    // SAFETY: prctl with integer arguments about this process only.
    let rc = unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) };
    assert_eq!(rc, 0, "prctl: {}", std::io::Error::last_os_error());
    println!("hidden");
    std::io::stdout().flush().expect("flush");
    std::thread::sleep(std::time::Duration::from_secs(30));
}

/// A process of our own uid whose open files the system will not show us
/// (here: not dumpable, so `/proc/<pid>/fd` is root's): with leases (Linux)
/// the log is pruned, since the lease proves nobody holds it; without them
/// (macOS, the portable build) the process counts as a writer of every log,
/// and the log is skipped with that reason, unchanged.
#[cfg(target_os = "linux")]
#[test]
#[cfg_attr(
    not(v0_prune_is_root),
    ignore = "needs root to switch to uid 65534 (run the tests as root; CI does)"
)]
fn a_process_whose_files_we_may_not_see_counts_as_a_writer_without_leases() {
    const TEST: &str = "a_process_whose_files_we_may_not_see_counts_as_a_writer_without_leases";
    if child::role() == Some(HIDDEN) {
        return hidden();
    }
    if pruned_as_child() {
        return;
    }
    assert_root();
    let _serial = one_at_a_time();
    let dir = dir_for_nobody();
    let root = dir.path().join("build");
    let log = root.join("logs").join("x.log");
    std::fs::create_dir_all(log.parent().expect("parent")).expect("mkdir");
    let text = log_text(40, 20);
    std::fs::write(&log, &text).expect("write");
    for path in walk_all(&root) {
        chown(&path, NOBODY);
    }
    let mut hidden = child::command(TEST, HIDDEN);
    hidden.stdout(Stdio::piped());
    // SAFETY: only async-signal-safe system calls.
    unsafe {
        hidden.pre_exec(become_nobody);
    }
    let mut hidden = hidden.spawn().expect("spawn the hidden process");
    // libtest prints its own lines first; keep the pipe open until the end.
    let mut out = std::io::BufReader::new(hidden.stdout.take().expect("stdout"));
    let mut line = String::new();
    while !line.contains("hidden") {
        line.clear();
        let read = std::io::BufRead::read_line(&mut out, &mut line).expect("read");
        assert!(read > 0, "the hidden process ended before it was ready");
    }
    let report = run_child(TEST, &root, Restrict::Nobody);
    let hidden_pid = hidden.id();
    let _ = hidden.kill();
    let _ = hidden.wait();
    let now = std::fs::read_to_string(&log).expect("read");
    if v0_prune_shared::platform::LEASES_AVAILABLE {
        assert_eq!(without_padding(now), kept_part(&text), "{report:#?}");
    } else {
        let reason = reason_of(&report, "logs/x.log").expect("skipped");
        assert!(
            reason.contains(&format!("pid {hidden_pid} "))
                && reason.contains("does not let us see its open files"),
            "{reason}"
        );
        assert_eq!(now, text, "unchanged");
    }
}

fn walk_all(root: &Path) -> Vec<PathBuf> {
    let mut all = vec![root.to_path_buf()];
    let mut i = 0;
    while i < all.len() {
        if all[i].is_dir() {
            let children: Vec<_> = std::fs::read_dir(&all[i])
                .expect("read dir")
                .flatten()
                .map(|e| e.path())
                .collect();
            all.extend(children);
        }
        i += 1;
    }
    all
}

// ------------------------------------------------------- other mounts

/// A build directory with `logs/own.log` and an empty `logs/<mounted>/`
/// to mount something on; the text of every log.
#[cfg(target_os = "linux")]
fn build_with_a_mount_point(dir: &Path, mounted: &str) -> (BuildDir, PathBuf, String) {
    let build = BuildDir::new(dir);
    let text = log_text(20, 10);
    let mount_point = build.logs_dir().join(mounted);
    std::fs::create_dir_all(&mount_point).expect("mkdir");
    std::fs::write(build.logs_dir().join("own.log"), &text).expect("write");
    (build, mount_point, text)
}

/// The walk prunes `logs/own.log` and reports `logs/<mounted>` as another
/// mount, entering nothing of it.
#[cfg(target_os = "linux")]
fn assert_only_own_log_pruned(build: &BuildDir, mounted: &str, text: &str) {
    let report = prune::run(build, &options(), &mut ignore_events).expect("run");
    assert_eq!(
        without_padding(std::fs::read_to_string(build.logs_dir().join("own.log")).expect("read")),
        kept_part(text)
    );
    let reason = reason_of(&report, &format!("logs/{mounted}"))
        .unwrap_or_else(|| panic!("the mount is not reported: {report:#?}"));
    assert!(reason.contains("mounted"), "{reason}");
    assert_eq!(report.logs.pruned.len(), 1, "{:?}", report.logs.pruned);
}

/// Another filesystem (a tmpfs, another `st_dev`) inside the build directory.
#[cfg(target_os = "linux")]
#[test]
#[cfg_attr(
    not(v0_prune_is_root),
    ignore = "needs root to mount a tmpfs (run the tests as root; CI does)"
)]
fn another_filesystem_mounted_inside_the_build_dir_is_never_entered() {
    assert_root();
    let _serial = one_at_a_time();
    let dir = tempfile::tempdir().expect("tempdir");
    let (build, mount_point, text) = build_with_a_mount_point(dir.path(), "tmpfs");
    let _tmpfs = Mount::tmpfs(&mount_point, "1m");
    std::fs::write(mount_point.join("mounted.log"), &text).expect("write");
    assert_only_own_log_pruned(&build, "tmpfs", &text);
    assert_eq!(
        std::fs::read_to_string(mount_point.join("mounted.log")).expect("read"),
        text,
        "the tmpfs was entered"
    );
}

/// A directory elsewhere on the same filesystem, bind-mounted in: the same
/// `st_dev`, still another mount. Only Linux's statx tells it apart (its
/// mount id); macOS, and so the portable build, compare `st_dev` alone.
#[cfg(all(target_os = "linux", not(feature = "portable")))]
#[test]
#[cfg_attr(
    not(v0_prune_is_root),
    ignore = "needs root to bind-mount (run the tests as root; CI does)"
)]
fn a_bind_mount_inside_the_build_dir_is_never_entered() {
    assert_root();
    let _serial = one_at_a_time();
    let dir = tempfile::tempdir().expect("tempdir");
    let elsewhere = tempfile::tempdir().expect("tempdir");
    let (build, mount_point, text) = build_with_a_mount_point(dir.path(), "bound");
    std::fs::write(elsewhere.path().join("system.log"), &text).expect("write");
    assert!(
        v0_prune_shared::platform::mount_id(dir.path()).is_some(),
        "statx gives no mount id here (Linux 5.8 or later does)"
    );
    let _bound = Mount::bind(elsewhere.path(), &mount_point);
    assert_only_own_log_pruned(&build, "bound", &text);
    assert_eq!(
        std::fs::read_to_string(elsewhere.path().join("system.log")).expect("read"),
        text,
        "a bind mount was entered"
    );
}

#[test]
fn the_child_pruner_reads_its_report_back() {
    if pruned_as_child() {
        return;
    }
    let _serial = one_at_a_time();
    // The harness above is only as good as its plumbing: an unrestricted child
    // prunes and reports like the library does in-process.
    let dir = tempfile::tempdir().expect("tempdir");
    let text = log_text(10, 5);
    std::fs::write(dir.path().join("x.log"), &text).expect("write");
    let report = run_child(
        "the_child_pruner_reads_its_report_back",
        dir.path(),
        Restrict::FileSize(u64::MAX),
    );
    assert_eq!(report.logs.lines_removed, 5);
    assert_eq!(
        without_padding(std::fs::read_to_string(dir.path().join("x.log")).expect("read")),
        kept_part(&text)
    );
}
