//! The terminal, borrowed and always given back.
//!
//! Entering puts it in raw mode on the alternate screen; the screen is
//! restored on quit and on error (the guard's `Drop`), on a panic (a hook
//! restores it before the panic message is printed, so the message is
//! readable), and on SIGTERM, SIGHUP and SIGINT (the loop hears them through
//! [`Signals`] and returns normally, so `Drop` runs).

use std::io::{self, IsTerminal, Stdout};
use std::panic;
use std::sync::Once;
use std::sync::atomic::{AtomicBool, Ordering};

use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;
use ratatui::crossterm::cursor::{Hide, Show};
use ratatui::crossterm::execute;
use ratatui::crossterm::terminal::{
    EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode,
};
use tokio::signal::unix::{Signal, SignalKind, signal};

/// The dashboard's terminal.
pub type DashboardTerminal = Terminal<CrosstermBackend<Stdout>>;

/// Whether the dashboard holds the terminal now; the panic hook restores it
/// only then, so a panic after quitting prints no stray escape codes.
static HOLDING: AtomicBool = AtomicBool::new(false);

/// Refuses, with directions, when stdout is not a terminal: a dashboard
/// piped into a file would fill it with escape codes.
pub fn require_terminal() -> anyhow::Result<()> {
    if io::stdout().is_terminal() {
        Ok(())
    } else {
        let command = v0_prune_shared::words::command();
        anyhow::bail!(
            "`{command} top` draws a live dashboard and needs a terminal, but stdout is not one; \
             for scripts use `{command} status` (one snapshot, `--json` for machines) or \
             `{command} events` (the live event stream, `--json` for NDJSON)"
        )
    }
}

/// Holds the terminal in raw mode on the alternate screen; dropping it
/// restores the screen.
pub struct TerminalGuard {
    terminal: DashboardTerminal,
}

impl TerminalGuard {
    /// Takes over the terminal on stdout.
    pub fn enter() -> io::Result<Self> {
        install_panic_hook();
        enable_raw_mode()?;
        HOLDING.store(true, Ordering::SeqCst);
        let mut stdout = io::stdout();
        if let Err(err) = execute!(stdout, EnterAlternateScreen, Hide) {
            restore();
            return Err(err);
        }
        match Terminal::new(CrosstermBackend::new(stdout)) {
            Ok(terminal) => Ok(Self { terminal }),
            Err(err) => {
                restore();
                Err(err)
            }
        }
    }

    /// The terminal to draw on.
    pub fn terminal(&mut self) -> &mut DashboardTerminal {
        &mut self.terminal
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore();
    }
}

/// Gives the screen back: cooked mode, the normal screen, a visible cursor.
/// Safe to call more than once.
fn restore() {
    if HOLDING.swap(false, Ordering::SeqCst) {
        let _ = disable_raw_mode();
        let _ = execute!(io::stdout(), LeaveAlternateScreen, Show);
    }
}

fn install_panic_hook() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            restore();
            previous(info);
        }));
    });
}

/// The signals that end the dashboard as cleanly as `q` does.
pub struct Signals {
    terminate: Signal,
    hangup: Signal,
    interrupt: Signal,
}

impl Signals {
    /// Starts listening; must run inside a tokio runtime.
    pub fn new() -> io::Result<Self> {
        Ok(Self {
            terminate: signal(SignalKind::terminate())?,
            hangup: signal(SignalKind::hangup())?,
            interrupt: signal(SignalKind::interrupt())?,
        })
    }

    /// Waits for the next of them and names it.
    pub async fn recv(&mut self) -> &'static str {
        tokio::select! {
            _ = self.terminate.recv() => "SIGTERM",
            _ = self.hangup.recv() => "SIGHUP",
            _ = self.interrupt.recv() => "SIGINT",
        }
    }
}
