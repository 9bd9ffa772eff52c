//! Running a binary the way a user would, with an environment that cannot
//! leak in from the developer's shell: to completion with everything it
//! printed, or in the background while the test goes on.

use std::ffi::OsStr;
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::bins::bin;
use crate::steering::without_steering;
use crate::wait::{PATIENCE, wait_until};

/// How long a binary may run before the test calls it hung.
const RUN_TIMEOUT: Duration = Duration::from_secs(120);

/// Runs `command` with no input and its output discarded: its exit status,
/// or `None` when it cannot be started (a tool that is not installed).
pub fn quiet_status(command: &mut Command) -> Option<ExitStatus> {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .ok()
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
        without_steering(&mut command)
            .current_dir(cwd)
            .env("NO_COLOR", "1");
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

    /// Starts the command with `stdin` and its output piped; returns how
    /// to show it in a failure, and the child.
    fn start(&mut self, stdin: Stdio) -> (String, Child) {
        let shown = format!("{:?}", self.command);
        self.command
            .stdin(stdin)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let child = self
            .command
            .spawn()
            .unwrap_or_else(|err| panic!("spawning {shown}: {err}"));
        (shown, child)
    }

    /// Runs to completion (killed after two minutes) and captures everything.
    pub fn run(mut self) -> Outcome {
        let stdin = if self.stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        };
        let (shown, mut child) = self.start(stdin);
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

impl Invocation {
    /// Starts the command and returns at once; its output is collected as
    /// it comes. Killed when dropped, if still running.
    pub fn spawn(mut self) -> Background {
        let (shown, mut child) = self.start(Stdio::null());
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
    child: Child,
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
