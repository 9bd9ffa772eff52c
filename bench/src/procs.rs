//! The real binaries, as separate processes: finding `v0-prune` and
//! `v0-prune-daemon` (building them when they are missing or older than
//! their sources), a daemon that never outlives the bench, the commands a
//! user types, and what `/proc` says about a process. Where the binaries
//! are, the environment they run in and `/proc`'s fields are the test
//! kit's (`v0_prune_testkit`), as for every test.

use std::ffi::OsStr;
use std::fs::OpenOptions;
#[cfg(target_os = "linux")]
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result, anyhow, bail};
use rustix::process::{Pid, Signal};
use tokio::runtime::Runtime;
use v0_prune_shared::client::Client;
use v0_prune_shared::demo::{self, DemoSpec};
use v0_prune_shared::paths::BuildDir;
use v0_prune_shared::protocol::{DaemonState, Snapshot};
use v0_prune_testkit::{bins, process, without_steering};

use crate::data;

/// How long anything asked of a daemon may take before the bench calls it stuck.
pub const PATIENCE: Duration = Duration::from_secs(60);

/// How long a daemon may take to exit after SIGTERM before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(10);

/// Paths of the two binaries the process cases run.
#[derive(Debug, Clone)]
pub struct Binaries {
    /// `v0-prune`.
    pub cli: PathBuf,
    /// `v0-prune-daemon`.
    pub daemon: PathBuf,
}

/// What [`prepare`] found: the binaries (or why there are none) and a
/// warning for the cases' notes (binaries older than their sources).
#[derive(Debug, Clone)]
pub struct Prepared {
    /// The binaries, or what is missing and how to build it.
    pub binaries: Result<Binaries, String>,
    /// Set when the binaries may not be the code in this tree.
    pub warning: Option<String>,
}

/// Finds `v0-prune` and `v0-prune-daemon` beside this executable (cargo puts
/// every binary of a profile in the same directory). When they are missing
/// or older than their sources and `may_build` is set and cargo started us
/// (`cargo run` sets `CARGO`), builds them first with the same profile and
/// target directory, so a benchmark never times stale code.
pub fn prepare(may_build: bool) -> Prepared {
    let dir = match bins::profile_dir() {
        Ok(dir) => dir,
        Err(err) => {
            return Prepared {
                binaries: Err(format!("finding this executable: {err}")),
                warning: None,
            };
        }
    };
    let mut problem = check(&dir);
    if let (Some(why), true, Some(cargo)) = (&problem, may_build, std::env::var_os("CARGO")) {
        eprintln!("  the v0-prune binaries {why}: building them...");
        problem = match cargo_build(&cargo, &dir) {
            Ok(()) => None,
            Err(err) => {
                eprintln!("  building them failed: {err:#}");
                Some(format!("{why}, and building them failed ({err:#})"))
            }
        };
    }
    match (binaries_in(&dir), problem) {
        (Err(err), _) => Prepared {
            binaries: Err(err),
            warning: None,
        },
        (Ok(binaries), Some(why)) => {
            let warning = format!(
                "the v0-prune binaries {why}: the numbers may not be this tree's code (build them: {})",
                bins::build_hint(&dir)
            );
            eprintln!("  warning: {warning}");
            Prepared {
                binaries: Ok(binaries),
                warning: Some(warning),
            }
        }
        (Ok(binaries), None) => Prepared {
            binaries: Ok(binaries),
            warning: None,
        },
    }
}

fn binaries_in(dir: &Path) -> Result<Binaries, String> {
    let found =
        |name| bins::find_in(dir, name).map_err(|missing| format!("needs the binaries: {missing}"));
    Ok(Binaries {
        cli: found(bins::CLI)?,
        daemon: found(bins::DAEMON)?,
    })
}

/// Why the binaries in `dir` need building, if they do.
fn check(dir: &Path) -> Option<String> {
    let mut oldest: Option<SystemTime> = None;
    for name in [bins::CLI, bins::DAEMON] {
        match std::fs::metadata(dir.join(name)).and_then(|m| m.modified()) {
            Ok(time) => oldest = Some(oldest.map_or(time, |o| o.min(time))),
            Err(_) => return Some("are missing".into()),
        }
    }
    let (newest, source) = newest_source()?;
    (oldest? < newest).then(|| {
        format!(
            "are older than their sources ({} changed since)",
            source.display()
        )
    })
}

/// The most recently modified source of the two binaries, if the sources are here.
fn newest_source() -> Option<(SystemTime, PathBuf)> {
    let root = bins::workspace_root();
    let mut files = vec![root.join("Cargo.toml"), root.join("Cargo.lock")];
    for krate in ["shared", "daemon", "tui"] {
        files.push(root.join(krate).join("Cargo.toml"));
        rust_files(&root.join(krate).join("src"), &mut files);
    }
    files
        .into_iter()
        .filter_map(|path| {
            let time = std::fs::metadata(&path).and_then(|m| m.modified()).ok()?;
            Some((time, path))
        })
        .max_by_key(|(time, _)| *time)
}

fn rust_files(dir: &Path, into: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        match entry.file_type() {
            Ok(kind) if kind.is_dir() => rust_files(&path, into),
            Ok(kind) if kind.is_file() && path.extension() == Some(OsStr::new("rs")) => {
                into.push(path);
            }
            _ => {}
        }
    }
}

/// `cargo build` of both binaries, in the profile and target directory of `dir`.
fn cargo_build(cargo: &OsStr, dir: &Path) -> Result<()> {
    let root = bins::workspace_root();
    let target = dir
        .ancestors()
        .find(|d| d.join("CACHEDIR.TAG").is_file())
        .context("no cargo target directory above this executable")?;
    let profile = match dir.file_name().and_then(OsStr::to_str) {
        Some("debug") => "dev",
        Some(name) => name,
        None => bail!("no profile directory"),
    };
    let status = Command::new(cargo)
        .arg("build")
        .arg("--manifest-path")
        .arg(root.join("Cargo.toml"))
        .args([
            "--profile",
            profile,
            "-p",
            "v0-prune",
            "-p",
            "v0-prune-daemon",
        ])
        .arg("--bins")
        .arg("--target-dir")
        .arg(target)
        .stdin(Stdio::null())
        .status()
        .context("running cargo build")?;
    if !status.success() {
        bail!("cargo build failed ({status})");
    }
    Ok(())
}

/// A generated v0 project (`.v0.rc` and a build directory).
#[derive(Debug, Clone)]
pub struct Project {
    /// The directory holding `.v0.rc`.
    pub root: PathBuf,
    /// Its build directory.
    pub build: BuildDir,
}

impl Project {
    /// A realistic project from the demo generator (8 logs of 400 lines, a
    /// queue of 40, an operation per phase), aged around the bench's fixed
    /// instant like every other input.
    pub fn demo(dir: &Path, seed: u64) -> Result<Self> {
        let spec = DemoSpec {
            now: data::now()?,
            retention: data::RETENTION,
            seed,
            ..DemoSpec::default()
        };
        let project = demo::generate(dir, &spec)
            .with_context(|| format!("generating a v0 project in {}", dir.display()))?;
        Ok(Self {
            root: project.root,
            build: project.build_dir,
        })
    }
}

/// A command with the steering variables cleared, in `project`'s root, with
/// the retention the daemons use.
fn command(program: &Path, project: &Project) -> Result<Command> {
    let mut command = Command::new(program);
    without_steering(&mut command)
        .current_dir(&project.root)
        .env("NO_COLOR", "1")
        .env("V0_PRUNE_RETENTION", data::daemon_retention()?.to_string())
        .stdin(Stdio::null());
    Ok(command)
}

/// `v0-prune <args>` in `project`, as a user types it there.
pub fn cli(binaries: &Binaries, project: &Project, args: &[&str]) -> Result<Command> {
    let mut command = command(&binaries.cli, project)?;
    command.args(args);
    Ok(command)
}

/// Runs a command to completion with its output captured; fails with its
/// stderr unless it exits 0.
pub fn output_of(command: &mut Command) -> Result<Output> {
    let output = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .with_context(|| format!("starting {:?}", command.get_program()))?;
    if !output.status.success() {
        bail!(
            "{:?} {:?} failed ({}): {}{}",
            command.get_program(),
            command.get_args().collect::<Vec<_>>(),
            output.status,
            String::from_utf8_lossy(&output.stdout).trim(),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(output)
}

/// A single-threaded tokio runtime for talking to daemons.
pub fn runtime() -> Result<Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting a tokio runtime")
}

/// A `v0-prune-daemon` we started, on one project. Dropping it stops it
/// (SIGTERM, then SIGKILL), so no daemon outlives its case, whatever fails;
/// it also gets SIGTERM from the kernel if the bench itself dies.
pub struct Daemon {
    child: Child,
    pid: u32,
    build: BuildDir,
    reaped: bool,
}

impl Daemon {
    /// Starts the daemon of `project` as v0 does (stdout and stderr appended
    /// to its log), with a one-hour interval so that only the bench triggers
    /// runs, and the retention that puts its cutoff where the data was aged;
    /// returns once its socket answers.
    ///
    /// Must be called from the main thread: the parent-death signal fires
    /// when the *thread* that started the child ends.
    pub fn start(binaries: &Binaries, project: &Project, rt: &Runtime) -> Result<Self> {
        let build = project.build.clone();
        std::fs::create_dir_all(build.logs_dir())
            .with_context(|| format!("creating {}", build.logs_dir().display()))?;
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(build.daemon_log())
            .with_context(|| format!("opening {}", build.daemon_log().display()))?;
        let mut command = command(&binaries.daemon, project)?;
        command
            .env("BUILD_DIR", build.root())
            .env("V0_PRUNE_INTERVAL", "1h")
            .stdout(log.try_clone()?)
            .stderr(log);
        // SAFETY: runs in the child between fork and exec, where only
        // async-signal-safe calls are allowed; prctl(2) is one, and the
        // closure allocates nothing and takes no lock. (Linux only: macOS has
        // no parent-death signal; the bench stops its daemons itself.)
        #[cfg(target_os = "linux")]
        unsafe {
            command.pre_exec(|| {
                rustix::process::set_parent_process_death_signal(Some(Signal::TERM))
                    .map_err(std::io::Error::from)
            });
        }
        let child = command
            .spawn()
            .with_context(|| format!("starting {}", binaries.daemon.display()))?;
        let mut daemon = Self {
            pid: child.id(),
            child,
            build,
            reaped: false,
        };
        daemon.wait_answering(rt)?;
        Ok(daemon)
    }

    /// The daemon's pid.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Its build directory.
    pub fn build(&self) -> &BuildDir {
        &self.build
    }

    fn wait_answering(&mut self, rt: &Runtime) -> Result<()> {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if rt
                .block_on(Client::connect(&self.build, "v0-prune-bench"))
                .is_ok()
            {
                return Ok(());
            }
            if let Some(status) = self.child.try_wait()? {
                self.reaped = true;
                bail!(
                    "the daemon exited at once ({status}); its log ends: {}",
                    self.log_tail()
                );
            }
            if Instant::now() > deadline {
                bail!("the daemon's socket did not answer within {PATIENCE:?}");
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// The last lines of the daemon's log, for error messages.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(self.build.daemon_log()).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(5)..].join(" / ")
    }

    /// Polls the daemon's status every few milliseconds until `done` holds
    /// (untimed set-up only); returns that status.
    pub fn wait_for(
        &self,
        rt: &Runtime,
        what: &str,
        done: impl Fn(&Snapshot) -> bool,
    ) -> Result<Snapshot> {
        rt.block_on(async {
            let deadline = Instant::now() + PATIENCE;
            let mut client: Option<Client> = None;
            loop {
                if client.is_none() {
                    client = Client::connect(&self.build, "v0-prune-bench").await.ok();
                }
                if let Some(connected) = client.as_mut() {
                    match connected.status().await {
                        Ok(snapshot) if done(&snapshot) => return Ok(snapshot),
                        Ok(_) => {}
                        Err(_) => client = None,
                    }
                }
                if Instant::now() > deadline {
                    bail!(
                        "the daemon was not {what} within {PATIENCE:?}; its log ends: {}",
                        self.log_tail()
                    );
                }
                tokio::time::sleep(Duration::from_millis(3)).await;
            }
        })
    }

    /// Waits until the daemon's own start-up run is done and it is idle.
    pub fn wait_idle_after_startup(&self, rt: &Runtime) -> Result<Snapshot> {
        self.wait_for(rt, "idle after its start-up run", |s| {
            idle(s)
                && s.last_run
                    .as_ref()
                    .is_some_and(|run| run.started_at_ms >= s.started_at_ms)
        })
    }

    /// Waits until run `run_id` (or a later one) has finished and the daemon is idle.
    pub fn wait_idle_after_run(&self, rt: &Runtime, run_id: u64) -> Result<Snapshot> {
        self.wait_for(rt, "idle after the requested run", |s| {
            idle(s) && s.last_run.as_ref().is_some_and(|run| run.run_id >= run_id)
        })
    }

    /// Sends `signal` to the daemon.
    pub fn signal(&self, signal: Signal) -> Result<()> {
        let pid = i32::try_from(self.pid)
            .ok()
            .and_then(Pid::from_raw)
            .context("a daemon pid out of range")?;
        rustix::process::kill_process(pid, signal)
            .with_context(|| format!("sending {signal:?} to the daemon (pid {})", self.pid))
    }

    /// Waits for the daemon to exit by itself (someone drained it).
    pub fn reap(&mut self, within: Duration) -> Result<ExitStatus> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait()? {
                self.reaped = true;
                return Ok(status);
            }
            if Instant::now() > deadline {
                bail!(
                    "the daemon (pid {}) did not exit within {within:?}",
                    self.pid
                );
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// Stops the daemon the way v0 does (SIGTERM: it finishes its run and
    /// exits 0), killing it if it takes longer than a grace period.
    pub fn stop(mut self) -> Result<()> {
        let status = self.terminate();
        status.and_then(|status| {
            if status.success() {
                Ok(())
            } else {
                Err(anyhow!(
                    "the daemon exited with {status} on SIGTERM; its log ends: {}",
                    self.log_tail()
                ))
            }
        })
    }

    fn terminate(&mut self) -> Result<ExitStatus> {
        if let Some(status) = self.child.try_wait()? {
            self.reaped = true;
            return Ok(status);
        }
        let _ = self.signal(Signal::TERM);
        match self.reap(STOP_GRACE) {
            Ok(status) => Ok(status),
            Err(_) => {
                let _ = self.child.kill();
                let status = self.child.wait()?;
                self.reaped = true;
                Err(anyhow!(
                    "the daemon did not exit within {STOP_GRACE:?} of SIGTERM ({status} after SIGKILL)"
                ))
            }
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if !self.reaped {
            let _ = self.terminate();
        }
    }
}

fn idle(snapshot: &Snapshot) -> bool {
    snapshot.state == DaemonState::Idle && snapshot.current_run.is_none()
}

/// A `kB` field of `/proc/<pid>/status` (`VmRSS`, `VmHWM`), in MB (10^6 bytes).
pub fn status_mb(pid: u32, field: &str) -> Result<f64> {
    let kb = process::status_kib(pid, field)
        .with_context(|| format!("no {field} in /proc/{pid}/status"))?;
    Ok(kb as f64 * 1024.0 / 1e6)
}

/// CPU time a process has used so far.
#[derive(Debug, Clone, Copy)]
pub struct CpuTime {
    /// Milliseconds on a CPU summed over its live threads
    /// (`se.sum_exec_runtime` of `/proc/<pid>/task/*/sched`), when the
    /// kernel shows it: nanosecond resolution.
    pub exact_ms: Option<f64>,
    /// `utime + stime` of `/proc/<pid>/stat`, in clock ticks (all threads,
    /// also exited ones; resolution one tick).
    pub ticks: u64,
}

/// The CPU time `pid` has used.
pub fn cpu_time(pid: u32) -> Result<CpuTime> {
    let ticks =
        process::cpu_ticks(pid).with_context(|| format!("no CPU times in /proc/{pid}/stat"))?;
    let exact_ms = std::fs::read_dir(format!("/proc/{pid}/task"))
        .ok()
        .and_then(|tasks| {
            let mut total = 0.0;
            for task in tasks.flatten() {
                let sched = std::fs::read_to_string(task.path().join("sched")).ok()?;
                total += sched
                    .lines()
                    .find_map(|line| line.strip_prefix("se.sum_exec_runtime"))
                    .and_then(|v| v.trim_start_matches([' ', ':']).trim().parse::<f64>().ok())?;
            }
            Some(total)
        });
    Ok(CpuTime { exact_ms, ticks })
}

/// Clock ticks per second (`getconf CLK_TCK`), the unit of [`CpuTime::ticks`].
pub fn clock_ticks_per_second() -> u64 {
    // SAFETY: sysconf only reads a constant of the system.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    u64::try_from(ticks).ok().filter(|&t| t > 0).unwrap_or(100)
}
