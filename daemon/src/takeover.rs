//! Taking over from v0's own bash prune daemon.
//!
//! v0's `bin/v0-prune-daemon` is a bash script that writes its pid to
//! `BUILD_DIR/.prune-daemon.pid`, holds `BUILD_DIR/.prune-daemon.lock` (flock)
//! for the length of each run and, on SIGTERM, finishes the run it is in and
//! exits. One may still run when we are installed over it; two daemons for
//! one build directory must never run at once. So before our daemon starts
//! (from `v0-prune`, or by itself at start) we look at the pid file: if it
//! names a live process whose command line is v0's bash daemon (an
//! interpreter running a script named `v0-prune-daemon`; ours is the
//! `v0-prune-daemon` executable itself, or `v0-prune daemon`), we SIGTERM it
//! and wait, bounded, for it to finish its run and exit.
//!
//! Anything else the pid file may name (a recycled pid, our own daemon, our
//! own pid written there by v0's `prune_daemon_start`) is never signalled.

use std::fs::File;
use std::path::Path;
use std::time::{Duration, Instant};

use rustix::fs::{FlockOperation, flock};
use rustix::process::{Pid, Signal};
use v0_prune_shared::paths::BuildDir;
use v0_prune_shared::platform;

use crate::instance::read_pid;

/// How long v0's bash daemon gets to finish its current run and exit after
/// SIGTERM. Its runs are slow (a `perl` per log), so this is generous; v0's
/// own `prune_daemon_wait` gives it 30 s and then kills it, which we never do.
pub const TAKEOVER_WAIT: Duration = Duration::from_secs(60);

/// How often the bash daemon's exit is looked for.
const POLL: Duration = Duration::from_millis(20);

/// The name v0's daemon script and our daemon executable share.
const DAEMON_NAME: &str = "v0-prune-daemon";

/// v0's bash daemon, found running for a build directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BashDaemon {
    /// Its pid, from `.prune-daemon.pid`.
    pub pid: u32,
}

/// How a takeover ended when it succeeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stopped {
    /// The bash daemon's pid.
    pub pid: u32,
    /// Whether it was in a run (holding `.prune-daemon.lock`) when asked to stop.
    pub was_running: bool,
    /// How long it took to exit.
    pub waited: Duration,
}

impl Stopped {
    /// The one line that tells the user what happened.
    pub fn message(&self) -> String {
        let when = if self.was_running {
            "after its current run"
        } else {
            "between its runs"
        };
        format!(
            "Stopped v0's bash prune daemon (pid {}) {when}; starting v0-prune-daemon",
            self.pid
        )
    }
}

/// Why a takeover failed; each message says what to do.
#[derive(Debug)]
pub enum TakeoverError {
    /// SIGTERM could not be sent (another user's process, say).
    Signal {
        /// Its pid.
        pid: u32,
        /// Why `kill` failed.
        source: std::io::Error,
    },
    /// It did not exit in time: a very long run, or stuck.
    StillRunning {
        /// Its pid.
        pid: u32,
        /// How long we waited.
        waited: Duration,
        /// Whether it still held `.prune-daemon.lock` when we gave up.
        still_running: bool,
    },
}

impl std::fmt::Display for TakeoverError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Signal { pid, source } => write!(
                f,
                "v0's bash prune daemon (pid {pid}) runs for this build directory and cannot \
                 be stopped ({source}); stop it yourself (kill {pid}), then start again"
            ),
            Self::StillRunning {
                pid,
                waited,
                still_running,
            } => write!(
                f,
                "v0's bash prune daemon (pid {pid}) did not exit within {}s of SIGTERM{}; not \
                 starting a second daemon for the same build directory. Wait for it to \
                 finish, or stop it (kill {pid}; kill -9 {pid} interrupts its run), then \
                 start again",
                waited.as_secs_f64(),
                if *still_running {
                    " (it is still in its prune run)"
                } else {
                    ""
                }
            ),
        }
    }
}

impl std::error::Error for TakeoverError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Signal { source, .. } => Some(source),
            Self::StillRunning { .. } => None,
        }
    }
}

/// v0's bash daemon if `.prune-daemon.pid` names one that is alive; `own`
/// (our own pid, which v0's starter writes there) never counts.
pub fn find_bash_daemon(build: &BuildDir, own: Option<u32>) -> Option<BashDaemon> {
    let pid = read_pid(&build.pid_file())?;
    if Some(pid) == own || platform::process_gone(pid) {
        return None;
    }
    let args = platform::process_args(pid)?;
    is_bash_daemon(&args).then_some(BashDaemon { pid })
}

/// Whether a command line is v0's bash daemon: an interpreter (`bash`, maybe
/// with options) whose script is a file named `v0-prune-daemon`. Ours runs as
/// `.../v0-prune-daemon` itself or as `v0-prune daemon`.
fn is_bash_daemon(args: &[String]) -> bool {
    let name = |arg: &str| {
        Path::new(arg)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
    };
    let Some(program) = args.first() else {
        return false;
    };
    if matches!(name(program).as_deref(), Some(DAEMON_NAME | "v0-prune")) {
        return false;
    }
    args.iter()
        .skip(1)
        .find(|arg| !arg.starts_with('-'))
        .is_some_and(|script| name(script).as_deref() == Some(DAEMON_NAME))
}

/// Whether somebody holds `.prune-daemon.lock`, i.e. a prune run is going on.
/// Tries a shared lock and lets go at once; no file means no run.
pub fn run_in_progress(build: &BuildDir) -> bool {
    let Ok(file) = File::open(build.run_lock()) else {
        return false;
    };
    match flock(&file, FlockOperation::NonBlockingLockShared) {
        Ok(()) => {
            let _ = flock(&file, FlockOperation::Unlock);
            false
        }
        Err(_) => true,
    }
}

/// v0's bash daemon after SIGTERM, on its way out.
#[derive(Debug)]
pub struct Stopping {
    build: BuildDir,
    pid: u32,
    was_running: bool,
    asked: Instant,
}

impl Stopping {
    /// Sends SIGTERM: it finishes its current run, then exits.
    pub fn ask(build: &BuildDir, daemon: BashDaemon) -> Result<Self, TakeoverError> {
        let BashDaemon { pid } = daemon;
        let was_running = run_in_progress(build);
        let asked = Instant::now();
        if let Some(raw) = i32::try_from(pid).ok().and_then(Pid::from_raw) {
            match rustix::process::kill_process(raw, Signal::TERM) {
                Ok(()) | Err(rustix::io::Errno::SRCH) => {}
                Err(err) => {
                    return Err(TakeoverError::Signal {
                        pid,
                        source: err.into(),
                    });
                }
            }
        }
        Ok(Self {
            build: build.clone(),
            pid,
            was_running,
            asked,
        })
    }

    /// `Some` once it has exited; `Err` once `within` has passed since the
    /// SIGTERM and it still has not.
    pub fn check(&self, within: Duration) -> Result<Option<Stopped>, TakeoverError> {
        if platform::process_gone(self.pid) {
            return Ok(Some(Stopped {
                pid: self.pid,
                was_running: self.was_running,
                waited: self.asked.elapsed(),
            }));
        }
        if self.asked.elapsed() >= within {
            return Err(TakeoverError::StillRunning {
                pid: self.pid,
                waited: within,
                still_running: run_in_progress(&self.build),
            });
        }
        Ok(None)
    }
}

/// How often [`Stopping::check`] is worth calling.
pub const POLL_EVERY: Duration = POLL;

/// Asks v0's bash daemon to stop (SIGTERM: it finishes its current run, then
/// exits) and waits up to `within` for it to be gone, blocking. Never
/// interrupts a run and never escalates to SIGKILL.
pub fn stop_bash_daemon(
    build: &BuildDir,
    daemon: BashDaemon,
    within: Duration,
) -> Result<Stopped, TakeoverError> {
    let stopping = Stopping::ask(build, daemon)?;
    loop {
        if let Some(stopped) = stopping.check(within)? {
            return Ok(stopped);
        }
        std::thread::sleep(POLL);
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;
    use std::process::{Child, Command};

    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn only_an_interpreter_running_the_daemon_script_is_v0s_bash_daemon() {
        for (cmdline, expected) in [
            (&["/bin/bash", "/v0/bin/v0-prune-daemon"][..], true),
            (&["bash", "-x", "/v0/bin/v0-prune-daemon"], true),
            (&["/usr/bin/env", "v0-prune-daemon"], true),
            (&["/v0/bin/v0-prune-daemon"], false),
            (&["v0-prune-daemon", "v0-prune-daemon"], false),
            (&["/usr/local/bin/v0-prune", "daemon"], false),
            (&["/bin/bash", "/v0/bin/v0-prune"], false),
            (&["vim", "v0-prune-daemon.log"], false),
            (&["sleep", "3600"], false),
            (&[], false),
        ] {
            assert_eq!(is_bash_daemon(&args(cmdline)), expected, "{cmdline:?}");
        }
    }

    /// A bash script named like v0's daemon, running `setup` (its traps,
    /// its lock), then `body`; returns once `setup` is done and the pid
    /// file names it.
    fn fake_bash_daemon(build: &BuildDir, setup: &str, body: &str) -> Child {
        let script = build.root().join("bin").join(DAEMON_NAME);
        let ready = build.root().join("ready");
        std::fs::create_dir_all(script.parent().expect("bin")).expect("bin dir");
        std::fs::write(
            &script,
            format!("#!/bin/bash\n{setup}\n: > '{}'\n{body}\n", ready.display()),
        )
        .expect("script");
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        // Run as the kernel runs a `#!/bin/bash` script (argv `/bin/bash
        // <script>`), but without exec'ing the file just written: a test
        // forking meanwhile may still hold it open for writing (ETXTBSY).
        let child = Command::new("/bin/bash")
            .arg(&script)
            .spawn()
            .expect("start the script");
        std::fs::write(build.pid_file(), format!("{}\n", child.id())).expect("pid file");
        let deadline = Instant::now() + Duration::from_secs(10);
        while !ready.exists() || find_bash_daemon(build, None).is_none() {
            assert!(Instant::now() < deadline, "the script never got ready");
            std::thread::sleep(POLL);
        }
        child
    }

    #[test]
    fn a_stale_or_foreign_pid_is_never_a_bash_daemon() {
        let dir = tempfile::tempdir().expect("tempdir");
        let build = BuildDir::new(dir.path());
        assert_eq!(find_bash_daemon(&build, None), None, "no pid file");
        let mut sleeper = Command::new("sleep").arg("30").spawn().expect("sleep");
        std::fs::write(build.pid_file(), format!("{}\n", sleeper.id())).expect("pid");
        assert_eq!(find_bash_daemon(&build, None), None, "not a daemon");
        let me = std::process::id();
        std::fs::write(build.pid_file(), format!("{me}\n")).expect("pid");
        assert_eq!(find_bash_daemon(&build, Some(me)), None, "our own pid");
        sleeper.kill().expect("kill");
        sleeper.wait().expect("reap");
    }

    #[test]
    #[cfg_attr(not(v0_prune_has_bash), ignore = "needs bash (apt install bash)")]
    fn one_that_ignores_sigterm_is_waited_for_boundedly_and_named_in_the_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let build = BuildDir::new(dir.path());
        let mut child = fake_bash_daemon(&build, "trap '' TERM", "while :; do sleep 0.05; done");
        let daemon = find_bash_daemon(&build, None).expect("found");
        assert_eq!(daemon.pid, child.id());
        let started = Instant::now();
        let err = stop_bash_daemon(&build, daemon, Duration::from_millis(300))
            .expect_err("it does not exit");
        assert!(started.elapsed() >= Duration::from_millis(300));
        assert!(started.elapsed() < Duration::from_secs(5));
        let message = err.to_string();
        assert!(
            message.contains(&format!("pid {}", child.id()))
                && message.contains("not starting a second daemon")
                && message.contains(&format!("kill {}", child.id())),
            "{message}"
        );
        assert!(child.try_wait().expect("wait").is_none(), "never killed");
        child.kill().expect("kill");
        child.wait().expect("reap");
    }

    /// Asked to stop in the middle of its run, it finishes the run first:
    /// the run lasts until a gate file is removed, and only then does it exit.
    #[test]
    #[cfg_attr(
        not(all(v0_prune_has_bash, v0_prune_has_flock)),
        ignore = "needs bash and flock (apt install bash util-linux)"
    )]
    fn one_in_a_run_is_left_to_finish_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let build = BuildDir::new(dir.path());
        // Its run goes on while the gate is there; its SIGTERM trap says so.
        let gate = dir.path().join("gate");
        let termed = dir.path().join("termed");
        std::fs::write(&gate, "").expect("gate");
        // Like v0's: holds the run lock for its run; SIGTERM only sets a flag.
        let mut child = fake_bash_daemon(
            &build,
            &format!(
                "stop=''\ntrap 'stop=1; : > \"{termed}\"' TERM\nexec 200>'{lock}'\nflock -n 200",
                termed = termed.display(),
                lock = build.run_lock().display()
            ),
            &format!(
                "while [ -e '{gate}' ]; do sleep 0.01; done\nflock -u 200\n\
                 [ -n \"$stop\" ] && exit 0\nsleep 30",
                gate = gate.display()
            ),
        );
        assert!(run_in_progress(&build), "the run holds its lock");
        let daemon = find_bash_daemon(&build, None).expect("found");
        let stopped = std::thread::scope(|scope| {
            let stopping =
                scope.spawn(|| stop_bash_daemon(&build, daemon, Duration::from_secs(60)));
            // It was asked (its trap ran), and stays in its run: nobody stops it.
            let deadline = Instant::now() + Duration::from_secs(20);
            while !termed.exists() {
                assert!(Instant::now() < deadline, "it was never sent SIGTERM");
                std::thread::sleep(POLL);
            }
            assert!(run_in_progress(&build), "its run was cut short");
            assert!(
                child.try_wait().expect("wait").is_none(),
                "it was stopped in its run"
            );
            assert!(!stopping.is_finished(), "we went on while its run did");
            // Its run ends; then it exits, and we go on.
            std::fs::remove_file(&gate).expect("open the gate");
            stopping.join().expect("the stopper").expect("stops")
        });
        assert!(stopped.was_running);
        assert!(!run_in_progress(&build), "its run is over");
        assert_eq!(
            stopped.message(),
            format!(
                "Stopped v0's bash prune daemon (pid {}) after its current run; starting \
                 v0-prune-daemon",
                child.id()
            )
        );
        let status = child.wait().expect("reap");
        assert!(status.success(), "it finished its run and exited: {status}");
    }
}
