//! A real terminal: a pane of a private tmux server, for the dashboard's
//! end-to-end tests and the bench's idle-CPU measurement.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::invoke::quiet_status;
use crate::steering::without_steering;

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
    /// Whether tmux is installed (the bench says so and measures without it;
    /// a test that needs it is ignored where the build found none).
    pub fn available() -> bool {
        quiet_status(Command::new("tmux").arg("-V")).is_some_and(|status| status.success())
    }

    /// Starts a server whose one pane, `width`×`height`, runs the shell
    /// command `command` in `cwd`, with the steering variables cleared and
    /// `env` set.
    pub fn start(cwd: &Path, width: u16, height: u16, env: &[(&str, &str)], command: &str) -> Self {
        static SERVERS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let serial = SERVERS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let socket = format!("v0-prune-e2e-{}-{serial}", std::process::id());
        let tmpdir = tempfile::tempdir().expect("a temp dir");
        Self::start_in(tmpdir, socket, cwd, (width, height), env, command)
            .unwrap_or_else(|err| panic!("{err}"))
    }

    /// Like [`TmuxPane::start`], with the server's directory and socket
    /// name chosen by the caller (the bench names them so that a later run
    /// can sweep up after a killed one), failing instead of panicking.
    pub fn start_in(
        tmpdir: TempDir,
        socket: String,
        cwd: &Path,
        (width, height): (u16, u16),
        env: &[(&str, &str)],
        command: &str,
    ) -> Result<Self, String> {
        let pane = Self { socket, tmpdir };
        let (width, height) = (width.to_string(), height.to_string());
        let mut tmux = pane.command();
        without_steering(&mut tmux)
            .args(["new-session", "-d", "-x", &width, "-y", &height, "-c"])
            .arg(cwd)
            .arg(command)
            .current_dir(cwd);
        // The server's environment is the pane's: what it starts with is what the command sees.
        tmux.envs(env.iter().copied());
        stdout_of(&mut tmux, "tmux new-session")?;
        Ok(pane)
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

    /// Runs a tmux command against this server and returns its stdout, or
    /// why it failed.
    pub fn try_tmux(&self, args: &[&str]) -> Result<String, String> {
        stdout_of(self.command().args(args), &format!("tmux {args:?}"))
    }

    /// Runs a tmux command against this server and returns its stdout.
    pub fn tmux(&self, args: &[&str]) -> String {
        self.try_tmux(args).unwrap_or_else(|err| panic!("{err}"))
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
        quiet_status(self.command().arg("kill-server"));
    }
}

/// What `command` printed, or what it said on stderr when it failed.
fn stdout_of(command: &mut Command, what: &str) -> Result<String, String> {
    let output = command
        .output()
        .map_err(|err| format!("running {what}: {err}"))?;
    if !output.status.success() {
        return Err(format!(
            "{what} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}
