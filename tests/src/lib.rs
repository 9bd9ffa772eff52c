//! A harness for end-to-end tests: real binaries, run against real v0 projects
//! in temporary directories, with an environment that cannot leak in from the
//! developer's shell.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tempfile::TempDir;
use v0_prune_shared::demo::{self, DemoSpec, Expected};

/// Environment variables that steer discovery or settings; cleared for every
/// run so the developer's own v0 project is never touched.
const STEERING_VARS: [&str; 6] = [
    "V0_ROOT",
    "BUILD_DIR",
    "V0_BUILD_DIR",
    "V0_PRUNE_RETENTION",
    "V0_PRUNE_INTERVAL",
    "TMUX",
];

/// How long a binary may run before the test calls it hung.
const RUN_TIMEOUT: Duration = Duration::from_secs(120);

/// Path of a workspace binary built in the same profile as this test.
///
/// Test executables live in `target/<profile>/deps/`, binaries one level up.
pub fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test executable has a path");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("test executable is in target/<profile>/deps");
    let path = profile_dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.is_file(),
        "{} not found: build the binaries first: cargo build --workspace --bins",
        path.display()
    );
    path
}

/// `[YYYY-MM-DDTHH:MM:SSZ]`-style timestamp `ago` before now, as v0 writes them.
pub fn stamp(ago: Duration) -> String {
    let at = jiff::Timestamp::now()
        .checked_sub(jiff::SignedDuration::try_from(ago).expect("a sane duration"))
        .expect("a representable time");
    at.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Hours, for readable ages in tests.
pub fn hours(n: u64) -> Duration {
    Duration::from_secs(n * 3600)
}

/// A v0 project in a temporary directory, removed when dropped.
pub struct TestProject {
    dir: TempDir,
    /// `TMUX_TMPDIR` for the runs: tmux may create its socket directory there,
    /// which must not show up in snapshots of the project.
    tmux_dir: TempDir,
    /// Whether [`TestProject::tmux`] may have started a server to stop on drop.
    tmux_started: std::cell::Cell<bool>,
    /// The directory holding `.v0.rc`.
    pub root: PathBuf,
    /// Its build directory.
    pub build_dir: PathBuf,
    /// For a demo project: what a prune at the spec's cutoff must remove.
    pub expected: Option<Expected>,
}

impl TestProject {
    /// A realistic project from the demo generator with its default spec.
    pub fn demo() -> Self {
        Self::demo_with(&DemoSpec::default())
    }

    /// A project from the demo generator with a custom spec.
    pub fn demo_with(spec: &DemoSpec) -> Self {
        let dir = tempfile::tempdir().expect("a temp dir");
        let project = demo::generate(&dir.path().join("project"), spec).expect("demo project");
        Self {
            root: project.root,
            build_dir: project.build_dir.root().to_path_buf(),
            expected: Some(project.expected),
            dir,
            tmux_dir: tempfile::tempdir().expect("a temp dir"),
            tmux_started: std::cell::Cell::new(false),
        }
    }

    /// A project with `.v0.rc` and a build directory at v0's default place
    /// (`.v0/build`) holding only an empty `operations/`, as v0 leaves it once
    /// it has run (v0's prune stops at `No operations to prune` without one,
    /// before logs and queue); tests add exactly the state they need.
    pub fn bare() -> Self {
        let project = Self::without_build_dir();
        std::fs::create_dir_all(project.build_dir.join("operations")).expect("build dir");
        project
    }

    /// A project whose build directory has not been created yet.
    pub fn without_build_dir() -> Self {
        let dir = tempfile::tempdir().expect("a temp dir");
        let root = dir.path().join("project");
        std::fs::create_dir_all(&root).expect("project root");
        std::fs::write(
            root.join(".v0.rc"),
            "# v0 project\nPROJECT=\"e2e\"\nISSUE_PREFIX=\"e2e\"\n",
        )
        .expect(".v0.rc");
        let build_dir = root.join(".v0").join("build");
        Self {
            root,
            build_dir,
            expected: None,
            dir,
            tmux_dir: tempfile::tempdir().expect("a temp dir"),
            tmux_started: std::cell::Cell::new(false),
        }
    }

    /// The temporary directory holding the project (and room for siblings).
    pub fn temp(&self) -> &Path {
        self.dir.path()
    }

    /// A path under the build directory.
    pub fn path(&self, relative: &str) -> PathBuf {
        self.build_dir.join(relative)
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

    /// Every file, directory and symlink under the temp dir, with contents.
    pub fn snapshot(&self) -> Tree {
        Tree::of(self.temp())
    }

    /// Runs `tmux` against this project's private tmux server (its own
    /// `TMUX_TMPDIR`), so tests never see or touch the developer's sessions.
    /// `None` when tmux is not installed.
    pub fn tmux(&self, args: &[&str]) -> Option<bool> {
        self.tmux_started.set(true);
        Command::new("tmux")
            .args(args)
            .env("TMUX_TMPDIR", self.tmux_dir.path())
            .env_remove("TMUX")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .ok()
            .map(|status| status.success())
    }

    /// Stops the private tmux server, if a test started one. Runs on drop.
    pub fn stop_tmux(&self) {
        if self.tmux_started.get() {
            let _ = self.tmux(&["kill-server"]);
        }
    }

    /// `v0-prune` with cwd at the project root and a clean environment.
    pub fn v0_prune<I, S>(&self, args: I) -> Invocation
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        Invocation::new("v0-prune", &self.root)
            .args(args)
            .env("TMUX_TMPDIR", self.tmux_dir.path())
    }
}

/// One run of a binary being prepared: arguments, environment, stdin.
pub struct Invocation {
    command: Command,
    stdin: Option<Vec<u8>>,
}

impl Invocation {
    /// Runs `bin(name)` in `cwd` with the steering variables cleared and
    /// stdin closed.
    pub fn new(name: &str, cwd: &Path) -> Self {
        Self::program(&bin(name), cwd)
    }

    /// Like [`Invocation::new`], for any program: a script, or a copy of a
    /// binary installed elsewhere (v0's `bin/v0` dispatching to ours).
    pub fn program(program: &Path, cwd: &Path) -> Self {
        let mut command = Command::new(program);
        command.current_dir(cwd).env("NO_COLOR", "1");
        for var in STEERING_VARS {
            command.env_remove(var);
        }
        Self {
            command,
            stdin: None,
        }
    }

    /// Adds arguments.
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.command.args(args);
        self
    }

    /// Sets an environment variable.
    pub fn env(mut self, key: &str, value: impl AsRef<OsStr>) -> Self {
        self.command.env(key, value);
        self
    }

    /// Runs in another directory.
    pub fn cwd(mut self, dir: &Path) -> Self {
        self.command.current_dir(dir);
        self
    }

    /// Feeds this to stdin, then closes it.
    pub fn stdin(mut self, input: impl Into<Vec<u8>>) -> Self {
        self.stdin = Some(input.into());
        self
    }

    /// Runs to completion (killed after two minutes) and captures everything.
    pub fn run(mut self) -> Outcome {
        let shown = format!("{:?}", self.command);
        self.command
            .stdin(if self.stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = self
            .command
            .spawn()
            .unwrap_or_else(|err| panic!("spawning {shown}: {err}"));
        if let (Some(input), Some(mut pipe)) = (self.stdin.take(), child.stdin.take()) {
            // The child may exit without reading; a broken pipe is fine.
            let _ = pipe.write_all(&input);
        }
        let stdout = drain(child.stdout.take().expect("piped stdout"));
        let stderr = drain(child.stderr.take().expect("piped stderr"));
        let started = Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().expect("waiting for the child") {
                break status;
            }
            if started.elapsed() > RUN_TIMEOUT {
                let _ = child.kill();
                let _ = child.wait();
                panic!("{shown} still running after {RUN_TIMEOUT:?}; killed");
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        Outcome {
            command: shown,
            code: status.code(),
            stdout: stdout.join().expect("stdout reader"),
            stderr: stderr.join().expect("stderr reader"),
        }
    }
}

fn drain(mut pipe: impl Read + Send + 'static) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

/// What a finished run printed and how it exited.
#[derive(Debug)]
pub struct Outcome {
    /// The command, for failure messages.
    pub command: String,
    /// Exit code (`None` if killed by a signal).
    pub code: Option<i32>,
    /// Everything on stdout.
    pub stdout: String,
    /// Everything on stderr.
    pub stderr: String,
}

impl Outcome {
    /// Panics, showing both streams, unless the exit code is `code`.
    pub fn expect_code(&self, code: i32) -> &Self {
        assert_eq!(
            self.code,
            Some(code),
            "{} exited {:?}, expected {code}\n--- stdout\n{}\n--- stderr\n{}",
            self.command,
            self.code,
            self.stdout,
            self.stderr
        );
        self
    }

    /// Panics unless stdout has this exact line.
    pub fn expect_line(&self, line: &str) -> &Self {
        assert!(
            self.stdout.lines().any(|l| l == line),
            "stdout lacks the line {line:?}\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout,
            self.stderr
        );
        self
    }

    /// Panics unless stderr contains `text`.
    pub fn expect_stderr(&self, text: &str) -> &Self {
        assert!(
            self.stderr.contains(text),
            "stderr lacks {text:?}\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout,
            self.stderr
        );
        self
    }
}

/// A node of a directory tree, with enough detail to notice any change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    /// A directory.
    Dir,
    /// A regular file and its bytes.
    File(Vec<u8>),
    /// A symbolic link and its target.
    Symlink(PathBuf),
}

/// Every path under a directory (relative) and what is there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tree(pub BTreeMap<PathBuf, Node>);

impl Tree {
    /// Walks `root` without following symlinks.
    pub fn of(root: &Path) -> Self {
        let mut nodes = BTreeMap::new();
        let mut pending = vec![root.to_path_buf()];
        while let Some(dir) = pending.pop() {
            for entry in std::fs::read_dir(&dir).expect("readable dir") {
                let path = entry.expect("dir entry").path();
                let relative = path.strip_prefix(root).expect("under root").to_path_buf();
                let meta = std::fs::symlink_metadata(&path).expect("metadata");
                let node = if meta.file_type().is_symlink() {
                    Node::Symlink(std::fs::read_link(&path).expect("link target"))
                } else if meta.is_dir() {
                    pending.push(path.clone());
                    Node::Dir
                } else {
                    Node::File(std::fs::read(&path).expect("readable file"))
                };
                nodes.insert(relative, node);
            }
        }
        Self(nodes)
    }

    /// Panics with the paths that differ unless both trees are identical.
    pub fn assert_same(&self, after: &Tree, what: &str) {
        let changed: Vec<_> = self
            .0
            .keys()
            .chain(after.0.keys())
            .filter(|path| self.0.get(*path) != after.0.get(*path))
            .collect();
        assert!(
            changed.is_empty(),
            "{what} changed these paths: {changed:?}"
        );
    }
}

// The prune daemon: commands left running in the background, and a daemon
// that never outlives its test project.

/// How long a test waits for anything the daemon does before failing.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// Checks `condition` every few milliseconds until it holds or `within`
/// passes; true if it held. For conditions with nothing to wake us.
pub fn wait_until(within: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    loop {
        if condition() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Whether `pid` has exited: no such process, or a zombie nobody reaped
/// (the engine's own check, on every OS).
pub fn process_gone(pid: u32) -> bool {
    v0_prune_shared::platform::process_gone(pid)
}

/// Waits until process `pid` holds `path` open with `access`, as the
/// engine's holder scan sees it (procfs on Linux, libproc on macOS).
pub fn wait_until_held(path: &Path, pid: u32, access: v0_prune_shared::platform::Access) -> bool {
    use std::os::unix::fs::MetadataExt;
    wait_until(PATIENCE, || {
        let Ok(meta) = std::fs::metadata(path) else {
            return false;
        };
        let id = (meta.dev(), meta.ino());
        v0_prune_shared::platform::open_files(&[id].into_iter().collect())
            .get(&id)
            .is_some_and(|holders| holders.iter().any(|h| h.pid == pid && h.access == access))
    })
}

impl TestProject {
    /// The pid in `.prune-daemon.pid`, if any.
    pub fn daemon_pid(&self) -> Option<u32> {
        std::fs::read_to_string(self.path(".prune-daemon.pid"))
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    /// The daemon's log (`logs/prune-daemon.log`), empty if not written yet.
    pub fn daemon_log(&self) -> String {
        std::fs::read_to_string(self.path("logs/prune-daemon.log")).unwrap_or_default()
    }

    /// Waits until the daemon's log has a line containing `phrase`.
    pub fn wait_for_daemon_log(&self, phrase: &str) {
        let seen = wait_until(PATIENCE, || {
            self.daemon_log().lines().any(|line| line.contains(phrase))
        });
        assert!(
            seen,
            "never saw {phrase:?} in the daemon's log:\n{}",
            self.daemon_log()
        );
    }

    /// Kills the daemon named by the pid file, if it is a v0-prune daemon,
    /// and waits briefly for it to go. Runs on drop, so that a failing test
    /// leaves no daemon behind.
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
        if !ours {
            return;
        }
        if let Some(pid) = i32::try_from(pid)
            .ok()
            .and_then(rustix::process::Pid::from_raw)
        {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
        }
        wait_until(Duration::from_secs(5), || process_gone(pid));
    }
}

impl Drop for TestProject {
    fn drop(&mut self) {
        self.stop_daemon();
        self.stop_tmux();
    }
}

impl Invocation {
    /// Starts the command and returns at once; its output is collected as
    /// it comes. Killed when dropped, if still running.
    pub fn spawn(mut self) -> Background {
        let shown = format!("{:?}", self.command);
        self.command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = self
            .command
            .spawn()
            .unwrap_or_else(|err| panic!("spawning {shown}: {err}"));
        let stdout = Arc::new(Mutex::new(String::new()));
        let stderr = Arc::new(Mutex::new(String::new()));
        let readers = vec![
            collect(
                child.stdout.take().expect("piped stdout"),
                Arc::clone(&stdout),
            ),
            collect(
                child.stderr.take().expect("piped stderr"),
                Arc::clone(&stderr),
            ),
        ];
        Background {
            child,
            command: shown,
            stdout,
            stderr,
            readers,
        }
    }
}

fn collect(
    mut pipe: impl Read + Send + 'static,
    into: Arc<Mutex<String>>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut buffer = [0u8; 8192];
        let mut pending = Vec::new();
        loop {
            match pipe.read(&mut buffer) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    pending.extend_from_slice(&buffer[..n]);
                    // Hand over whole lines only, so readers never see half a line.
                    if let Some(end) = pending.iter().rposition(|b| *b == b'\n') {
                        let lines: Vec<u8> = pending.drain(..=end).collect();
                        into.lock()
                            .expect("output lock")
                            .push_str(&String::from_utf8_lossy(&lines));
                    }
                }
            }
        }
        into.lock()
            .expect("output lock")
            .push_str(&String::from_utf8_lossy(&pending));
    })
}

/// A command running in the background (see [`Invocation::spawn`]).
pub struct Background {
    child: std::process::Child,
    command: String,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
    readers: Vec<std::thread::JoinHandle<()>>,
}

impl Background {
    /// Its pid.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Complete lines it has printed on stdout so far.
    pub fn stdout(&self) -> String {
        self.stdout.lock().expect("output lock").clone()
    }

    /// What it has printed on stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().expect("output lock").clone()
    }

    /// Whether it is still running.
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Waits until its stdout satisfies `condition`; panics after [`PATIENCE`].
    pub fn wait_for_stdout(&self, what: &str, condition: impl Fn(&str) -> bool) {
        let seen = wait_until(PATIENCE, || condition(&self.stdout()));
        assert!(
            seen,
            "{} never printed {what}\n--- stdout\n{}\n--- stderr\n{}",
            self.command,
            self.stdout(),
            self.stderr()
        );
    }

    /// Waits for it to exit (killing it and failing after `within`).
    pub fn wait(&mut self, within: Duration) -> Outcome {
        let deadline = Instant::now() + within;
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("waiting for the child") {
                break status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "{} still running after {within:?}; killed\n--- stdout\n{}\n--- stderr\n{}",
                    self.command,
                    self.stdout(),
                    self.stderr()
                );
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        for reader in self.readers.drain(..) {
            let _ = reader.join();
        }
        Outcome {
            command: self.command.clone(),
            code: status.code(),
            stdout: self.stdout(),
            stderr: self.stderr(),
        }
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl Tree {
    /// Like [`Tree::of`], leaving out sockets and FIFOs (a running daemon's
    /// socket cannot be read as a file).
    pub fn of_files(root: &Path) -> Self {
        use std::os::unix::fs::FileTypeExt;
        let mut nodes = BTreeMap::new();
        let mut pending = vec![root.to_path_buf()];
        while let Some(dir) = pending.pop() {
            for entry in std::fs::read_dir(&dir).expect("readable dir") {
                let path = entry.expect("dir entry").path();
                let relative = path.strip_prefix(root).expect("under root").to_path_buf();
                let meta = std::fs::symlink_metadata(&path).expect("metadata");
                let kind = meta.file_type();
                let node = if kind.is_symlink() {
                    Node::Symlink(std::fs::read_link(&path).expect("link target"))
                } else if kind.is_dir() {
                    pending.push(path.clone());
                    Node::Dir
                } else if kind.is_socket() || kind.is_fifo() {
                    continue;
                } else {
                    Node::File(std::fs::read(&path).expect("readable file"))
                };
                nodes.insert(relative, node);
            }
        }
        Self(nodes)
    }
}

// A real terminal: tmux, for the dashboard's end-to-end tests.

/// A pane of a private tmux server (its own socket, no config file) of a
/// fixed size, running one command; a test types into it and reads its
/// screen. The server is killed on drop, so a failing test leaves nothing
/// running in it.
pub struct TmuxPane {
    socket: String,
    /// Holds the socket (`TMUX_TMPDIR`), away from the developer's servers.
    tmpdir: TempDir,
}

impl TmuxPane {
    /// Whether tmux is installed (tests skip, saying so, when it is not).
    pub fn available() -> bool {
        Command::new("tmux")
            .arg("-V")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success())
    }

    /// Starts a server whose one pane, `width`×`height`, runs the shell
    /// command `command` in `cwd`, with the steering variables cleared and
    /// `env` set.
    pub fn start(cwd: &Path, width: u16, height: u16, env: &[(&str, &str)], command: &str) -> Self {
        static SERVERS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let serial = SERVERS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let pane = Self {
            socket: format!("v0-prune-e2e-{}-{serial}", std::process::id()),
            tmpdir: tempfile::tempdir().expect("a temp dir"),
        };
        let (width, height) = (width.to_string(), height.to_string());
        let mut tmux = pane.command();
        tmux.args(["new-session", "-d", "-x", &width, "-y", &height, "-c"])
            .arg(cwd)
            .arg(command)
            .current_dir(cwd);
        for var in STEERING_VARS {
            tmux.env_remove(var);
        }
        // The server's environment is the pane's: what it starts with is what the command sees.
        tmux.envs(env.iter().copied());
        let output = tmux.output().expect("running tmux");
        assert!(
            output.status.success(),
            "tmux new-session failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        pane
    }

    fn command(&self) -> Command {
        let mut command = Command::new("tmux");
        command
            .args(["-L", &self.socket, "-f", "/dev/null"])
            .env("TMUX_TMPDIR", self.tmpdir.path())
            .env_remove("TMUX")
            .stdin(Stdio::null());
        command
    }

    /// Runs a tmux command against this server and returns its stdout.
    pub fn tmux(&self, args: &[&str]) -> String {
        let output = self.command().args(args).output().expect("running tmux");
        assert!(
            output.status.success(),
            "tmux {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// The screen as plain text (`capture-pane -p`), one line per row.
    pub fn screen(&self) -> String {
        self.tmux(&["capture-pane", "-p"])
    }

    /// Presses keys, by tmux's names (`r`, `Enter`, `Escape`, `C-c`).
    pub fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys"];
        args.extend_from_slice(keys);
        self.tmux(&args);
    }

    /// Types `text` literally (no key names).
    pub fn type_text(&self, text: &str) {
        self.tmux(&["send-keys", "-l", text]);
    }

    /// A pane variable, e.g. `#{alternate_on}` (1 while a program holds the
    /// alternate screen) or `#{cursor_flag}` (1 while the cursor shows).
    pub fn display(&self, format: &str) -> String {
        self.tmux(&["display-message", "-p", format])
            .trim_end()
            .to_owned()
    }

    /// Reads the screen every few tens of milliseconds until `condition`
    /// holds, and returns that screen; panics with the last one after
    /// `within`. `what` names the wait in the failure.
    ///
    /// A program draws a frame in several writes, so a capture can catch
    /// the top of a new frame above the rest of the old one: a screen counts
    /// only when the next capture shows the same.
    pub fn wait_for(
        &self,
        what: &str,
        within: Duration,
        mut condition: impl FnMut(&str) -> bool,
    ) -> String {
        let deadline = Instant::now() + within;
        loop {
            let screen = self.screen();
            if condition(&screen) && self.screen() == screen {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "waited {within:?} for {what}; the screen:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(30));
        }
    }
}

impl Drop for TmuxPane {
    fn drop(&mut self) {
        let _ = self
            .command()
            .arg("kill-server")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// v0 as published, read-only: `$V0_SOURCE` when set, else `shared/v0`
/// beside the repository or beside one of its ancestors (CI: a sibling of
/// the clone; a worktree: a sibling of an ancestor). Panics with what to do
/// when it is nowhere.
pub fn real_v0() -> PathBuf {
    if let Some(dir) = std::env::var_os("V0_SOURCE") {
        return PathBuf::from(dir);
    }
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ is in the workspace");
    repo.ancestors()
        .skip(1)
        .map(|dir| dir.join("shared/v0"))
        .find(|v0| v0.join("bin/v0").is_file())
        .unwrap_or_else(|| {
            panic!(
                "the real v0 is missing: these tests copy it from shared/v0 beside the \
                 repository ({}/../shared/v0, or beside an ancestor), or from $V0_SOURCE; \
                 put v0 as published there",
                repo.display()
            )
        })
}

/// Copies [`real_v0`] to `to` as `cp -r` does, then makes its directories
/// writable for us (the source may be read-only; v0's files keep their modes).
pub fn copy_real_v0(to: &Path) {
    use std::os::unix::fs::PermissionsExt as _;
    let source = real_v0();
    let status = Command::new("cp")
        .arg("-r")
        .arg(&source)
        .arg(to)
        .status()
        .expect("cp");
    assert!(status.success(), "cp -r {} failed", source.display());
    let mut pending = vec![to.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let mode = std::fs::metadata(&dir)
            .expect("metadata")
            .permissions()
            .mode();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(mode | 0o700))
            .expect("chmod");
        for entry in std::fs::read_dir(&dir).expect("readable dir") {
            let path = entry.expect("dir entry").path();
            if std::fs::symlink_metadata(&path).expect("metadata").is_dir() {
                pending.push(path);
            }
        }
    }
}

/// A process holding a file open for writing at its own offset, without
/// O_APPEND (`exec 3<>file`, as `script` or a program's own log file do):
/// the engine must leave such a log alone. Killed when dropped.
pub struct PositionalWriter(std::process::Child);

impl PositionalWriter {
    /// Starts it; returns once `sleep` holds `path` on its fd 3.
    pub fn hold(path: &Path) -> Self {
        let child = Command::new("sh")
            .arg("-c")
            .arg("exec 3<>\"$1\"; exec sleep 600")
            .arg("sh")
            .arg(path)
            .stdin(Stdio::null())
            .spawn()
            .expect("spawn writer");
        let held = wait_until_held(
            path,
            child.id(),
            v0_prune_shared::platform::Access::Positional,
        );
        assert!(held, "the writer never held {}", path.display());
        Self(child)
    }

    /// Its pid, as the engine names it in the skip reason.
    pub fn pid(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for PositionalWriter {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
