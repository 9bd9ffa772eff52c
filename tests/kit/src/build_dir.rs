//! A v0 build directory for a test: its logs, merge queue and operations,
//! and what a prune daemon leaves in it (pid file, log, history, socket).

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tempfile::TempDir;
use v0_prune_shared::paths::BuildDir;
use v0_prune_shared::socket;

use crate::process::kill_and_wait;
use crate::stamps::stamp;
use crate::wait::{PATIENCE, wait_until};

/// A v0 build directory: in a temporary directory of its own (removed when
/// dropped), or a view of one that something else owns (a project's, a copy
/// of v0's).
pub struct TestBuildDir {
    root: PathBuf,
    /// The temporary directory holding `root`, when this owns one.
    _temp: Option<TempDir>,
}

impl TestBuildDir {
    /// The build directory at `root`, owned elsewhere: nothing is removed on drop.
    pub fn at(root: impl Into<PathBuf>) -> Self {
        Self {
            root: root.into(),
            _temp: None,
        }
    }

    /// A small build directory: a few logs with expired and fresh lines, and
    /// the `logs/` directory v0 keeps its daemon logs in.
    pub fn new() -> Self {
        Self::with_logs(3, 4)
    }

    /// A build directory with `files` worker logs of `lines` expired and
    /// `lines` fresh lines each, spread over operation directories: the
    /// first run has real work to do.
    pub fn with_logs(files: usize, lines: usize) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let tree = Self::owning(dir.path().join("build"), dir);
        tree.populate(files, lines);
        tree
    }

    /// A build directory at a path of at least `len` bytes.
    pub fn with_long_path(len: usize) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut root = dir.path().to_path_buf();
        while root.as_os_str().len() < len {
            root.push("a-rather-long-directory-name");
        }
        let tree = Self::owning(root, dir);
        tree.populate(2, 2);
        tree
    }

    /// A build directory holding only `logs/`, in a new temporary directory
    /// under `parent` (`/dev/shm` for a filesystem without collapse-range).
    pub fn empty_in(parent: &Path) -> std::io::Result<Self> {
        let dir = tempfile::tempdir_in(parent)?;
        let tree = Self::owning(dir.path().join("build"), dir);
        std::fs::create_dir_all(tree.path("logs"))?;
        Ok(tree)
    }

    fn owning(root: PathBuf, dir: TempDir) -> Self {
        Self {
            root,
            _temp: Some(dir),
        }
    }

    fn populate(&self, files: usize, lines: usize) {
        std::fs::create_dir_all(self.path("logs")).expect("logs dir");
        let old = stamp(Duration::from_secs(48 * 3600));
        let new = stamp(Duration::from_secs(60));
        for n in 0..files {
            let mut text = String::new();
            for i in 0..lines {
                text.push_str(&format!(
                    "[{old}] worker {n}: old step {i} {}\n",
                    "x".repeat(40)
                ));
            }
            for i in 0..lines {
                text.push_str(&format!(
                    "[{new}] worker {n}: new step {i} {}\n",
                    "y".repeat(40)
                ));
            }
            self.write(&format!("operations/op{}/worker-{n}.log", n % 20), text);
        }
    }

    /// The build directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The build directory, as the library names it.
    pub fn build(&self) -> BuildDir {
        BuildDir::new(&self.root)
    }

    /// A path under the build directory.
    pub fn path(&self, relative: &str) -> PathBuf {
        self.root.join(relative)
    }

    /// Writes a file under the build directory, creating parent directories.
    pub fn write(&self, relative: &str, content: impl AsRef<[u8]>) {
        let path = self.path(relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("parent dirs");
        }
        std::fs::write(&path, content).expect("write file");
    }

    /// Reads a file under the build directory.
    pub fn read(&self, relative: &str) -> Vec<u8> {
        std::fs::read(self.path(relative)).unwrap_or_else(|err| panic!("reading {relative}: {err}"))
    }

    /// Reads a file under the build directory as text.
    pub fn read_text(&self, relative: &str) -> String {
        String::from_utf8(self.read(relative)).expect("utf-8 file")
    }

    /// Creates `operations/<name>/state.json` with the given JSON.
    pub fn operation(&self, name: &str, state: serde_json::Value) {
        self.write(
            &format!("operations/{name}/state.json"),
            serde_json::to_vec_pretty(&state).expect("json"),
        );
    }

    /// Names of the operations present, sorted.
    pub fn operations(&self) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(self.path("operations")) else {
            return Vec::new();
        };
        let mut names: Vec<String> = entries
            .map(|entry| {
                entry
                    .expect("dir entry")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        names.sort();
        names
    }

    /// Every operation with its `state.json` parsed (`Null` when unreadable).
    pub fn operation_states(&self) -> BTreeMap<String, serde_json::Value> {
        self.operations()
            .into_iter()
            .map(|name| {
                let state = std::fs::read(self.path(&format!("operations/{name}/state.json")))
                    .ok()
                    .and_then(|bytes| serde_json::from_slice(&bytes).ok())
                    .unwrap_or(serde_json::Value::Null);
                (name, state)
            })
            .collect()
    }

    /// The daemon's log (`logs/prune-daemon.log`).
    pub fn daemon_log_path(&self) -> PathBuf {
        self.build().daemon_log()
    }

    /// The daemon's log, empty if not written yet.
    pub fn daemon_log(&self) -> String {
        std::fs::read_to_string(self.daemon_log_path()).unwrap_or_default()
    }

    /// How many lines of the daemon's log contain `phrase`.
    pub fn count_in_log(&self, phrase: &str) -> usize {
        self.daemon_log()
            .lines()
            .filter(|line| line.contains(phrase))
            .count()
    }

    /// Waits until the daemon's log has at least `n` lines containing
    /// `phrase`; panics with the log after [`PATIENCE`].
    pub fn wait_for_daemon_log(&self, phrase: &str, n: usize) {
        let seen = wait_until(PATIENCE, || self.count_in_log(phrase) >= n);
        if !seen {
            let log = self.daemon_log();
            let lines: Vec<&str> = log.lines().collect();
            panic!(
                "never saw {n}x {phrase:?} in the daemon's log; its last lines:\n{}",
                lines[lines.len().saturating_sub(100)..].join("\n")
            );
        }
    }

    /// The pid in `.prune-daemon.pid`, if any.
    pub fn daemon_pid(&self) -> Option<u32> {
        std::fs::read_to_string(self.build().pid_file())
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    /// `.prune-daemon/history.json`, parsed.
    pub fn history(&self) -> Option<serde_json::Value> {
        let text = std::fs::read_to_string(self.path(".prune-daemon/history.json")).ok()?;
        serde_json::from_str(&text).ok()
    }

    /// How many runs the history holds.
    pub fn runs_in_history(&self) -> usize {
        self.history()
            .and_then(|h| h["runs"].as_array().map(Vec::len))
            .unwrap_or(0)
    }

    /// Where the daemon's socket is.
    pub fn socket_path(&self) -> PathBuf {
        socket::socket_path(&self.build())
    }

    /// Takes `.prune-daemon.lock` as v0's own pruner would, so a daemon's
    /// run blocks at its start until the returned file is dropped.
    pub fn hold_run_lock(&self) -> File {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(self.build().run_lock())
            .expect("run lock");
        rustix::fs::flock(&file, rustix::fs::FlockOperation::LockExclusive).expect("flock");
        file
    }

    /// Kills whatever prune daemon the pid file names (ours or v0's bash)
    /// and waits briefly for it to go.
    pub fn kill_daemon(&self) {
        if let Some(pid) = self.daemon_pid() {
            kill_and_wait(pid);
        }
    }

    /// Kills the daemon named by the pid file if it is a v0-prune daemon
    /// (not a process that reused a stale pid), and waits briefly for it to
    /// go: a test project's clean-up, so that a failing test leaves no
    /// daemon behind.
    pub fn stop_daemon(&self) {
        let Some(pid) = self.daemon_pid() else {
            return;
        };
        let ours = v0_prune_shared::platform::process_args(pid)
            .and_then(|args| args.into_iter().next())
            .is_some_and(|exe| {
                Path::new(&exe)
                    .file_name()
                    .is_some_and(|name| name.to_string_lossy().starts_with("v0-prune"))
            });
        if ours {
            kill_and_wait(pid);
        }
    }
}

impl Default for TestBuildDir {
    fn default() -> Self {
        Self::new()
    }
}
