//! The commands' side of the prune daemon's life: find the project, is its
//! daemon running, start it, reach it, wait for it to exit. (Running it in
//! the foreground is `cmd::daemon`; spawning it, `v0_prune::spawn`.)
//!
//! "Running" has one authority, the daemon's instance lock
//! (`BUILD_DIR/.prune-daemon/daemon.lock`, flock'ed for the daemon's whole
//! life and released by the kernel however it dies). The pid file and
//! `kill -0` only name the holder; a pid file without the lock behind it is
//! stale, whatever process now has that pid, and is never signalled.

use std::fs::File;
use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Child;
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow};
use rustix::fs::{FlockOperation, flock};
use rustix::process::{Pid, Signal};
use tokio::io::unix::AsyncFd;
use v0_prune::spawn::{DAEMON_BIN, daemon_command, find_daemon, spawn_detached};
use v0_prune_daemon::{instance_lock_path, read_pid, takeover};
use v0_prune_shared::client::{Client, ClientError};
use v0_prune_shared::config::{self, ConfigError, Project};
use v0_prune_shared::paths::BuildDir;
use v0_prune_shared::platform;

/// How long a freshly started daemon may take before its socket answers.
pub const START_TIMEOUT: Duration = Duration::from_secs(10);

/// How often the socket of a daemon being started is tried: starting is the
/// one wait with nothing to wake us, and it lasts a few milliseconds.
const START_RETRY: Duration = Duration::from_millis(10);

/// Finds the project the way the plain prune does (`--build-dir`, then
/// `BUILD_DIR`, then `.v0.rc`), with the same hint when there is none.
///
/// The project found is registered for `--all-projects` and `v0 watch --all`
/// as every v0 command registers it (`config::registry::register`); a
/// registry that cannot be written is no reason to fail the command.
pub fn discover(build_dir_flag: Option<&Path>) -> anyhow::Result<Project> {
    let project = config::discover(build_dir_flag).map_err(discovery_error)?;
    let env = |name: &str| std::env::var(name).ok();
    if let Err(err) = config::registry::register(&project, &env) {
        tracing::debug!("could not register the project for --all-projects: {err}");
    }
    Ok(project)
}

/// Why no project was found, in the words of every command (the plain
/// prune's, v0's, for all): with the ways to point us at one.
pub fn discovery_error(error: ConfigError) -> anyhow::Error {
    match error {
        err @ ConfigError::NoProject => anyhow!("{err}\n{}", config::NO_PROJECT_HINT),
        err => anyhow::Error::new(err).context("reading the v0 project's settings"),
    }
}

/// Runs `future` to completion on a runtime of its own: the commands are
/// synchronous functions for `main`, talking to the daemon is async.
pub fn block_on<F: std::future::Future>(future: F) -> anyhow::Result<F::Output> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("could not start the async runtime")?;
    Ok(runtime.block_on(future))
}

/// Whether a daemon process runs for a build directory, without talking to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DaemonProcess {
    /// Nobody holds the instance lock.
    NotRunning,
    /// A daemon holds the instance lock; its pid when known (from
    /// `/proc/locks`, else from a pid file naming a live process).
    Running {
        /// The daemon's pid.
        pid: Option<u32>,
    },
}

impl DaemonProcess {
    /// The running daemon's pid, if any is known.
    pub fn pid(self) -> Option<u32> {
        match self {
            Self::NotRunning => None,
            Self::Running { pid } => pid,
        }
    }
}

/// Looks at the instance lock and the pid file (changes nothing).
pub fn daemon_process(build: &BuildDir) -> DaemonProcess {
    let pid_file = read_pid(&build.pid_file()).filter(|pid| platform::pid_alive(*pid));
    match instance_lock(build) {
        LockState::Free => DaemonProcess::NotRunning,
        LockState::Held { holder: Some(pid) } => DaemonProcess::Running { pid: Some(pid) },
        LockState::Held { holder: None } => DaemonProcess::Running { pid: pid_file },
    }
}

/// Who holds the daemon's instance lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LockState {
    Free,
    Held { holder: Option<u32> },
}

fn instance_lock(build: &BuildDir) -> LockState {
    let path = instance_lock_path(build);
    let Ok(meta) = std::fs::metadata(&path) else {
        // No lock file: no daemon ever ran here (or the state dir was removed).
        return LockState::Free;
    };
    if let Some(pid) = lock_holder(meta.dev(), meta.ino()) {
        return LockState::Held { holder: Some(pid) };
    }
    // /proc/locks did not name a holder (no procfs, or a filesystem that
    // reports another device there): ask flock itself. A shared,
    // non-blocking attempt released at once; it could only disturb a daemon
    // starting in this very microsecond, which then defers to the next start.
    let Ok(file) = File::open(&path) else {
        return LockState::Free;
    };
    match flock(&file, FlockOperation::NonBlockingLockShared) {
        Ok(()) => LockState::Free,
        Err(_) => LockState::Held { holder: None },
    }
}

/// The pid holding a flock on the file `(dev, ino)`, from `/proc/locks`.
#[cfg(target_os = "linux")]
fn lock_holder(dev: u64, ino: u64) -> Option<u32> {
    let text = std::fs::read_to_string("/proc/locks").ok()?;
    holder_in_proc_locks(&text, rustix::fs::major(dev), rustix::fs::minor(dev), ino)
}

/// No `/proc/locks` here (macOS): the pid file names the daemon.
#[cfg(not(target_os = "linux"))]
fn lock_holder(_dev: u64, _ino: u64) -> Option<u32> {
    None
}

/// Parses `/proc/locks` lines like `1: FLOCK  ADVISORY  WRITE 1234 fd:01:5678 0 EOF`
/// (device numbers in hex, inode in decimal); waiters (`->`) hold nothing.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
fn holder_in_proc_locks(text: &str, major: u32, minor: u32, ino: u64) -> Option<u32> {
    text.lines().find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.get(1) != Some(&"FLOCK") {
            return None;
        }
        let pid: u32 = fields.get(4)?.parse().ok()?;
        let mut device = fields.get(5)?.split(':');
        let line_major = u32::from_str_radix(device.next()?, 16).ok()?;
        let line_minor = u32::from_str_radix(device.next()?, 16).ok()?;
        let line_ino: u64 = device.next()?.parse().ok()?;
        (line_major == major && line_minor == minor && line_ino == ino && pid > 0).then_some(pid)
    })
}

/// How the daemon looks from here once its socket has been tried.
#[derive(Debug)]
pub enum Probe {
    /// It answered the hello; here is the connection.
    Answering(Client),
    /// No daemon runs for this build directory.
    NotRunning,
    /// Something holds the daemon's place but did not answer properly:
    /// starting, stuck, stopped, another version, or running without socket.
    Unresponsive {
        /// The daemon's pid, when the lock or pid file names it.
        pid: Option<u32>,
        /// What went wrong on the socket.
        error: ClientError,
    },
}

/// Tries the daemon's socket (the hello bounded by `timeout`), then the
/// lock to tell "not running" from "not answering".
pub async fn probe(build: &BuildDir, client_name: &str, timeout: Duration) -> Probe {
    match Client::connect_with_timeout(build, client_name, timeout).await {
        Ok(client) => Probe::Answering(client),
        Err(error) => match (daemon_process(build), &error) {
            (DaemonProcess::NotRunning, ClientError::NotRunning { .. }) => Probe::NotRunning,
            (process, _) => Probe::Unresponsive {
                pid: process.pid(),
                error,
            },
        },
    }
}

/// The user a running daemon belongs to, when that is not us: its socket
/// (0600, in a private directory) and its signals are that user's alone,
/// so all we can do is say whose it is and what that user can do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OtherUser {
    /// The daemon's pid, when the lock or its pid file names it.
    pub pid: Option<u32>,
    /// The daemon's user.
    pub uid: u32,
    /// Its login name, from `/etc/passwd`, when listed there.
    pub name: Option<String>,
}

impl OtherUser {
    /// `alice (uid 1001)`, or `uid 1001` without a name.
    pub fn describe(&self) -> String {
        match &self.name {
            Some(name) => format!("{name} (uid {})", self.uid),
            None => format!("uid {}", self.uid),
        }
    }

    /// What that user (or root) can do, naming the command the user typed.
    pub fn what_to_do(&self) -> String {
        let command = v0_prune_shared::words::command();
        let who = self
            .name
            .clone()
            .unwrap_or_else(|| format!("uid {}", self.uid));
        let sudo = match &self.name {
            Some(name) => format!("sudo -u {name} "),
            None => format!("sudo -u '#{}' ", self.uid),
        };
        let or_root = if self.uid == 0 { "" } else { " (or root)" };
        format!(
            "only {who}{or_root} can ask it or stop it: as {who}, run `{command} status` or `{command} shutdown` (`{sudo}{command} shutdown`)"
        )
    }
}

/// Why a command cannot talk to or stop the daemon of another user: whose
/// it is and what that user can do, said once (the socket's own
/// "Permission denied" adds nothing).
pub fn other_user_error(user: &OtherUser) -> anyhow::Error {
    let pid = user
        .pid
        .map_or_else(String::new, |pid| format!(" (pid {pid})"));
    anyhow!(
        "the prune daemon{pid} of this build directory runs as another user, {}; {}",
        user.describe(),
        user.what_to_do()
    )
}

/// The user of the daemon holding `build` (its process, else its state
/// directory, whose lock we may not even see), when that user is not us.
/// `pid` is the daemon's when known; else its pid file may name it.
pub fn other_user(build: &BuildDir, pid: Option<u32>) -> Option<OtherUser> {
    let pid = pid.or_else(|| read_pid(&build.pid_file()).filter(|pid| platform::pid_alive(*pid)));
    let lock = instance_lock_path(build);
    let owner = pid
        .and_then(|pid| std::fs::metadata(format!("/proc/{pid}")).ok())
        .or_else(|| std::fs::metadata(&lock).ok())
        .or_else(|| lock.parent().and_then(|dir| std::fs::metadata(dir).ok()))?
        .uid();
    (owner != rustix::process::geteuid().as_raw()).then(|| OtherUser {
        pid,
        uid: owner,
        name: user_name(owner),
    })
}

/// `uid`'s login name, as `/etc/passwd` lists it.
fn user_name(uid: u32) -> Option<String> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let mut fields = line.split(':');
        let name = fields.next()?;
        let id = fields.nth(1)?;
        (id.parse::<u32>().ok()? == uid).then(|| name.to_owned())
    })
}

/// Starts the daemon of `project` detached (its own session, stdin from
/// /dev/null, stdout and stderr appended to its log, `BUILD_DIR` set) and
/// waits until its socket answers. If another daemon wins a simultaneous
/// start, the connection is to that one.
///
/// If v0's own bash daemon still runs for the build directory (installed
/// over, not yet restarted), it is first asked to stop and left to finish
/// its current run; stderr says so. Should it not exit in time, nothing is
/// started and the error says what to do.
pub async fn start(project: &Project) -> anyhow::Result<Client> {
    let build = &project.build_dir;
    if let Some(bash) = takeover::find_bash_daemon(build, None) {
        if takeover::run_in_progress(build) {
            eprintln!(
                "v0's bash prune daemon (pid {}) is in a prune run; waiting for it to finish...",
                bash.pid
            );
        }
        let stopping = {
            let build = build.clone();
            tokio::task::spawn_blocking(move || {
                takeover::stop_bash_daemon(&build, bash, takeover::TAKEOVER_WAIT)
            })
        };
        let stopped = stopping
            .await
            .context("waiting for v0's bash prune daemon")??;
        eprintln!("{}", stopped.message());
    }
    let exe = find_daemon().ok_or_else(|| {
        anyhow!("{DAEMON_BIN} was found neither next to this program nor on PATH")
    })?;
    let mut command = daemon_command(&exe, build).with_context(|| {
        format!(
            "preparing to start {} for {}",
            exe.display(),
            build.root().display()
        )
    })?;
    // The daemon runs in `/`, where it would not find `.v0.rc`: point it at
    // the project so it reads the same settings (retention, interval) we do.
    if let Some(root) = &project.root {
        command.env("V0_ROOT", root);
    }
    let child = spawn_detached(command).with_context(|| format!("starting {}", exe.display()))?;
    wait_until_answering(build, child, START_TIMEOUT).await
}

/// Waits for a daemon we just spawned to answer on its socket, noticing if
/// it exits first.
async fn wait_until_answering(
    build: &BuildDir,
    mut child: Child,
    within: Duration,
) -> anyhow::Result<Client> {
    let deadline = Instant::now() + within;
    let mut exited_ok = false;
    loop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        match Client::connect_with_timeout(build, "v0-prune", remaining.max(START_RETRY)).await {
            Ok(client) => return Ok(client),
            Err(ClientError::NotRunning { .. }) => {}
            Err(err) => return Err(anyhow::Error::new(err).context("reaching the new daemon")),
        }
        if !exited_ok {
            match child.try_wait() {
                // Lost a race to another daemon, which will answer in a moment.
                Ok(Some(status)) if status.success() => exited_ok = true,
                Ok(Some(status)) => {
                    let said = last_log_line(build)
                        .map(|line| format!(", saying: {line}"))
                        .unwrap_or_default();
                    return Err(anyhow!(
                        "the prune daemon exited at once ({status}{said}); see {}",
                        build.daemon_log().display()
                    ));
                }
                Ok(None) | Err(_) => {}
            }
        }
        if Instant::now() >= deadline {
            return Err(anyhow!(
                "the prune daemon did not answer on its socket within {}s; see {}",
                within.as_secs(),
                build.daemon_log().display()
            ));
        }
        tokio::time::sleep(START_RETRY).await;
    }
}

/// The last line of the daemon's log, where a daemon that failed to start
/// wrote why (its stderr goes there).
fn last_log_line(build: &BuildDir) -> Option<String> {
    use std::io::{Read as _, Seek as _, SeekFrom};
    const TAIL: u64 = 4096;
    let mut file = File::open(build.daemon_log()).ok()?;
    let len = file.metadata().ok()?.len();
    file.seek(SeekFrom::Start(len.saturating_sub(TAIL))).ok()?;
    let mut tail = Vec::new();
    file.read_to_end(&mut tail).ok()?;
    String::from_utf8_lossy(&tail)
        .lines()
        .rev()
        .map(str::trim)
        .find(|line| !line.is_empty())
        .map(str::to_owned)
}

/// A daemon process we may have to wait for or signal, held by pidfd when
/// the kernel offers one so that a recycled pid can never be hit.
#[derive(Debug)]
pub struct DaemonPid {
    pid: u32,
    pidfd: Option<OwnedFd>,
    gone_at_open: bool,
}

impl DaemonPid {
    /// Takes hold of `pid` (which must be the daemon's: from its hello or its lock).
    pub fn open(pid: u32) -> Self {
        let raw = i32::try_from(pid).ok().and_then(Pid::from_raw);
        let opened = raw.map(platform::pidfd_open);
        match opened {
            Some(Ok(fd)) => Self {
                pid,
                pidfd: Some(fd),
                gone_at_open: false,
            },
            Some(Err(rustix::io::Errno::SRCH)) | None => Self {
                pid,
                pidfd: None,
                gone_at_open: true,
            },
            // No pidfd (an old kernel): fall back to the pid itself.
            Some(Err(_)) => Self {
                pid,
                pidfd: None,
                gone_at_open: false,
            },
        }
    }

    /// The pid.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Sends `signal`; a process already gone is not an error.
    pub fn signal(&self, signal: Signal) -> io::Result<()> {
        let result = match (&self.pidfd, self.gone_at_open) {
            (_, true) => return Ok(()),
            (Some(fd), _) => platform::pidfd_send_signal(fd, signal),
            (None, _) => match i32::try_from(self.pid).ok().and_then(Pid::from_raw) {
                Some(pid) => rustix::process::kill_process(pid, signal),
                None => return Ok(()),
            },
        };
        match result {
            Ok(()) | Err(rustix::io::Errno::SRCH) => Ok(()),
            Err(err) => Err(err.into()),
        }
    }

    /// Resolves when the process has exited (a zombie counts as exited).
    pub async fn exited(&self) {
        if self.gone_at_open {
            return;
        }
        if let Some(fd) = &self.pidfd {
            if let Ok(fd) = fd.try_clone() {
                // SAFETY: the AsyncFd owns this OwnedFd, which stays open and
                // names the same pidfd until the AsyncFd is dropped.
                let registered =
                    unsafe { AsyncFd::register_with_interest(fd, tokio::io::Interest::READABLE) };
                if let Ok(watch) = registered {
                    // A pidfd becomes readable when its process exits.
                    let _ = watch.readable().await;
                    return;
                }
            }
        }
        // Without a pidfd there is nothing to wake us: look every few milliseconds.
        while !platform::process_gone(self.pid) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_locks_lines_name_the_holder_of_exactly_that_file() {
        let text = "\
1: POSIX  ADVISORY  WRITE 99 fd:01:5678 0 EOF
2: FLOCK  ADVISORY  WRITE 1234 fd:01:5678 0 EOF
2: -> FLOCK  ADVISORY  WRITE 777 fd:01:5678 0 EOF
3: FLOCK  ADVISORY  WRITE 4321 fd:01:9999 0 EOF
";
        assert_eq!(holder_in_proc_locks(text, 0xfd, 1, 5678), Some(1234));
        assert_eq!(holder_in_proc_locks(text, 0xfd, 1, 9999), Some(4321));
        assert_eq!(holder_in_proc_locks(text, 0xfd, 2, 5678), None);
        assert_eq!(holder_in_proc_locks("garbage\n\n1: FLOCK", 0, 0, 0), None);
    }

    #[test]
    fn a_held_instance_lock_means_running_and_names_its_holder() {
        let dir = tempfile::tempdir().expect("temp dir");
        let build = BuildDir::new(dir.path());
        assert_eq!(daemon_process(&build), DaemonProcess::NotRunning);

        // A stale pid file naming a live process is not a daemon.
        std::fs::write(build.pid_file(), format!("{}\n", std::process::id())).expect("pid");
        assert_eq!(daemon_process(&build), DaemonProcess::NotRunning);

        std::fs::create_dir_all(build.state_dir()).expect("state dir");
        let lock = File::create(instance_lock_path(&build)).expect("lock file");
        assert_eq!(daemon_process(&build), DaemonProcess::NotRunning);
        flock(&lock, FlockOperation::NonBlockingLockExclusive).expect("flock");
        assert_eq!(
            daemon_process(&build),
            DaemonProcess::Running {
                pid: Some(std::process::id())
            }
        );
        // Unlocked explicitly: a child another test forks meanwhile shares
        // the open file (until its exec closes it), so dropping our
        // descriptor alone may not release the lock at once.
        flock(&lock, FlockOperation::Unlock).expect("unlock");
        drop(lock);
        assert_eq!(daemon_process(&build), DaemonProcess::NotRunning);
    }

    #[tokio::test]
    async fn a_pidfd_wakes_when_the_process_exits_and_signals_reach_it() {
        let child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .expect("sleep");
        let daemon = DaemonPid::open(child.id());
        assert!(!platform::process_gone(child.id()));
        daemon.signal(Signal::KILL).expect("kill");
        tokio::time::timeout(Duration::from_secs(5), daemon.exited())
            .await
            .expect("woken when it exits");
        // Not reaped yet: a zombie counts as gone.
        assert!(platform::process_gone(child.id()));
        let mut child = child;
        let _ = child.wait();
        assert!(platform::process_gone(child.id()));
        daemon
            .signal(Signal::TERM)
            .expect("a gone process is no error");
    }
}
