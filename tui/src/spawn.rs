//! Starting the prune daemon in the background, as v0's bash starter does
//! (`nohup v0-prune-daemon >> logs/prune-daemon.log 2>&1 &`) but without a
//! shell: its own session, so the terminal's signals and hang-up never reach
//! it, stdin from /dev/null, stdout and stderr appended to its log, and
//! nothing of the caller's terminal held open.
//!
//! Beside the dashboard, not in it: `top` starts the daemon on `s` and in
//! its demo, the commands (`daemon_ctl::start`) whenever they need one.

use std::env;
use std::ffi::OsStr;
use std::fs::{self, OpenOptions};
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use v0_prune_shared::paths::BuildDir;

/// The daemon's executable name.
pub const DAEMON_BIN: &str = "v0-prune-daemon";

/// Where the daemon's executable is: beside the running executable (an
/// install puts both in the same `bin/`, cargo both in `target/<profile>/`),
/// else on `PATH`.
pub fn find_daemon() -> Option<PathBuf> {
    let exe = env::current_exe().ok();
    let beside = exe
        .as_deref()
        .and_then(Path::parent)
        .into_iter()
        .flat_map(|dir| {
            // Test binaries and examples run from `target/<profile>/{deps,examples}/`.
            let nested = [OsStr::new("deps"), OsStr::new("examples")];
            let up = if dir.file_name().is_some_and(|name| nested.contains(&name)) {
                dir.parent()
            } else {
                None
            };
            std::iter::once(dir).chain(up)
        });
    let on_path = env::var_os("PATH")
        .map(|paths| env::split_paths(&paths).collect::<Vec<_>>())
        .unwrap_or_default();
    beside
        .map(Path::to_path_buf)
        .chain(on_path)
        .map(|dir| dir.join(DAEMON_BIN))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// The command that starts `exe` as the daemon of `build`, detached.
///
/// `BUILD_DIR` is set to the canonical build directory and the working
/// directory is `/`, so the daemon neither depends on nor pins the caller's
/// directory. Creates `logs/` when missing, for the log.
pub fn daemon_command(exe: &Path, build: &BuildDir) -> io::Result<Command> {
    let root = fs::canonicalize(build.root())?;
    let build = BuildDir::new(root);
    fs::create_dir_all(build.logs_dir())?;
    let log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(build.daemon_log())?;
    let mut command = Command::new(exe);
    command
        .env("BUILD_DIR", build.root())
        .current_dir("/")
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    // SAFETY: the closure runs in the child between fork and exec, where only
    // async-signal-safe calls are allowed; setsid(2) is one, and the closure
    // allocates nothing and touches no lock.
    unsafe {
        command.pre_exec(|| rustix::process::setsid().map(drop).map_err(io::Error::from));
    }
    Ok(command)
}

/// Starts the daemon of `build` with `envs` added to its environment (the
/// demo sets a short interval); the caller reaps the returned child.
pub fn spawn_daemon(
    build: &BuildDir,
    envs: &[(String, String)],
) -> io::Result<tokio::process::Child> {
    let exe = find_daemon().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::NotFound,
            format!("{DAEMON_BIN} was found neither next to this program nor on PATH"),
        )
    })?;
    let mut command = daemon_command(&exe, build)?;
    command.envs(envs.iter().map(|(k, v)| (k, v)));
    let child = tokio::process::Command::from(command).spawn()?;
    Ok(child)
}

/// Spawns a command from [`daemon_command`] and closes our copies of the
/// daemon's log (its stdout and stderr) at once, on every OS: were they kept
/// until the daemon answers, its first run would see us as a second appender
/// of its own log.
pub fn spawn_detached(mut command: Command) -> io::Result<std::process::Child> {
    let child = command.spawn();
    drop(command);
    child
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_sets_build_dir_and_creates_the_log() {
        let dir = tempfile::tempdir().expect("temp dir");
        let build = BuildDir::new(dir.path());
        let command = daemon_command(Path::new("/bin/true"), &build).expect("command");
        let canonical = fs::canonicalize(dir.path()).expect("canonical");
        let build_dir = command
            .get_envs()
            .find(|(k, _)| *k == "BUILD_DIR")
            .and_then(|(_, v)| v);
        assert_eq!(build_dir, Some(canonical.as_os_str()));
        assert_eq!(command.get_current_dir(), Some(Path::new("/")));
        assert!(
            build.daemon_log().is_file(),
            "the log exists for stdout/stderr"
        );
    }

    /// Reads its session id from procfs.
    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn the_daemon_runs_in_its_own_session_with_output_in_its_log() {
        let dir = tempfile::tempdir().expect("temp dir");
        let build = BuildDir::new(dir.path());
        // A stand-in daemon that reports its session and writes to stdout and stderr.
        let script = dir.path().join("fake-daemon");
        fs::write(
            &script,
            "#!/bin/sh\necho \"sid $(cut -d' ' -f6 /proc/$$/stat) pid $$\"\necho oops >&2\n",
        )
        .expect("script");
        fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).expect("chmod");
        let command = daemon_command(&script, &build).expect("command");
        let status = tokio::process::Command::from(command)
            .status()
            .await
            .expect("runs");
        assert!(status.success());
        let log = fs::read_to_string(build.daemon_log()).expect("log");
        let mut words = log.split_whitespace();
        assert_eq!(words.next(), Some("sid"));
        let (sid, pid) = (words.next(), words.nth(1));
        assert!(sid.is_some() && sid == pid, "session leader: {log}");
        assert!(log.contains("oops"), "stderr goes to the log too: {log}");
    }

    #[test]
    fn the_starter_lets_go_of_the_daemons_log_once_it_is_spawned() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().expect("temp dir");
        let build = BuildDir::new(dir.path());
        let script = dir.path().join("fake-daemon");
        let gate = dir.path().join("gate");
        fs::write(
            &script,
            format!(
                "#!/bin/sh\necho started\nwhile [ ! -e '{}' ]; do sleep 0.05; done\n",
                gate.display()
            ),
        )
        .expect("script");
        fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).expect("chmod");
        let command = daemon_command(&script, &build).expect("command");
        let mut child = spawn_detached(command).expect("spawn");
        let meta = fs::metadata(build.daemon_log()).expect("log");
        let id = (meta.dev(), meta.ino());
        let holders = v0_prune_shared::platform::open_files(&[id].into_iter().collect());
        fs::write(&gate, "").expect("gate");
        let status = child.wait().expect("wait");
        let pids: Vec<u32> = holders
            .get(&id)
            .map(|h| h.iter().map(|h| h.pid).collect())
            .unwrap_or_default();
        assert!(status.success());
        assert!(
            !pids.contains(&std::process::id()),
            "the starter still holds the log: {pids:?}"
        );
        assert!(
            pids.contains(&child.id()),
            "the daemon holds it (the check sees holders): {pids:?}"
        );
    }
}
