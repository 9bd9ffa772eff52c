//! The signals v0 sends its prune daemon, as one awaitable stream.
//!
//! Handlers are installed as soon as the daemon starts, before its pid file
//! exists: SIGUSR1's default action is to kill the process, and v0 sends it to
//! whatever pid the pid file names.

use std::io;

use tokio::signal::unix::{Signal, SignalKind, signal};

/// A signal the daemon acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DaemonSignal {
    /// Run now (v0's `v0 prune`).
    WakeUp,
    /// Finish the current run and exit (v0's stop).
    Terminate,
    /// Same as [`DaemonSignal::Terminate`], from a terminal's Ctrl-C.
    Interrupt,
}

impl DaemonSignal {
    /// The signal's name, as the log says it.
    pub fn name(self) -> &'static str {
        match self {
            Self::WakeUp => "SIGUSR1",
            Self::Terminate => "SIGTERM",
            Self::Interrupt => "SIGINT",
        }
    }
}

/// The installed handlers.
#[derive(Debug)]
pub struct Signals {
    usr1: Signal,
    term: Signal,
    int: Signal,
}

impl Signals {
    /// Installs the handlers; must run inside the tokio runtime. Also ignores
    /// SIGXFSZ, so a write beyond a file-size limit (RLIMIT_FSIZE) fails with
    /// EFBIG and is reported for that file instead of killing the daemon.
    pub fn install() -> io::Result<Self> {
        // SAFETY: setting a disposition to SIG_IGN installs no handler code.
        if unsafe { libc::signal(libc::SIGXFSZ, libc::SIG_IGN) } == libc::SIG_ERR {
            return Err(io::Error::last_os_error());
        }
        Ok(Self {
            usr1: signal(SignalKind::user_defined1())?,
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
        })
    }

    /// Waits for the next signal. Cancel-safe: a signal that arrives while
    /// another branch of a `select!` wins is delivered by the next call.
    /// Several deliveries of one signal between two calls may merge into one,
    /// which is what coalescing wants anyway.
    pub async fn recv(&mut self) -> DaemonSignal {
        tokio::select! {
            Some(()) = self.term.recv() => DaemonSignal::Terminate,
            Some(()) = self.int.recv() => DaemonSignal::Interrupt,
            Some(()) = self.usr1.recv() => DaemonSignal::WakeUp,
            // Only a runtime shutting down ends these streams.
            else => std::future::pending().await,
        }
    }
}
