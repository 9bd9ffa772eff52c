//! Another process writing to a log while the engine looks at it: `sh`
//! opens the file on its descriptor 3 and becomes `sleep`, which holds it
//! (for two minutes at most) until the writer is dropped.

use std::io::BufRead as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use v0_prune_shared::platform::{self, Access};

use crate::wait::{PATIENCE, wait_until, wait_until_held};

/// A process holding a file open for writing; killed when dropped.
pub struct Writer(Child);

impl Writer {
    /// Holds `path` at its own offset, without O_APPEND (`exec 3<>file`, as
    /// `script` or a program's own log file do): the engine must leave such
    /// a log alone. Returns once the engine's holder scan sees it.
    pub fn positional(path: &Path) -> Self {
        Self::held(path, "<>", Access::Positional)
    }

    /// Holds `path` with O_APPEND (`nohup cmd >> file`). Returns once the
    /// engine's holder scan sees it.
    pub fn appending(path: &Path) -> Self {
        Self::held(path, ">>", Access::Append)
    }

    /// Holds `path` with O_APPEND; returns as soon as the file is open,
    /// without asking the holder scan (for a test that checks what that
    /// scan makes of it, also where it cannot tell how a file is held).
    pub fn appending_unconfirmed(path: &Path) -> Self {
        Self::open(path, ">>")
    }

    /// Opens `path` and waits until the holder scan sees the writer hold
    /// it as `sleep`: `sh` says it is ready just before it becomes `sleep`,
    /// and the engine names a holder by its command.
    fn held(path: &Path, redirect: &str, access: Access) -> Self {
        let writer = Self::open(path, redirect);
        let pid = writer.pid();
        let became_sleep = || {
            platform::process_args(pid)
                .is_some_and(|args| args.first().is_some_and(|arg0| arg0 == "sleep"))
        };
        assert!(
            wait_until(PATIENCE, became_sleep),
            "the writer (pid {pid}) never became `sleep`"
        );
        assert!(
            wait_until_held(path, pid, access),
            "the writer never held {}",
            path.display()
        );
        writer
    }

    fn open(path: &Path, redirect: &str) -> Self {
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "exec 3{redirect}\"$1\"; echo ready; exec sleep 120"
            ))
            .arg("sh")
            .arg(path)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn writer");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().expect("piped stdout"))
            .read_line(&mut line)
            .expect("the writer's ready line");
        assert_eq!(
            line,
            "ready\n",
            "the writer could not open {}",
            path.display()
        );
        Self(child)
    }

    /// Its pid, as the engine names it in a skip reason.
    pub fn pid(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
