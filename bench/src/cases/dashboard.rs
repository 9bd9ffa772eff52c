//! The dashboard: how long a frame takes at 200×60, and how much CPU
//! `v0-prune top` uses while the daemon is idle.
//!
//! Frames: the real drawing code (`v0_prune::top::ui::draw`) on the real
//! `App`, fed through its own update methods (a snapshot, then events) with
//! a full history (500 runs) and a full log tail (2,000 lines), drawn by a
//! ratatui `Terminal` on the crossterm backend — the dashboard's own — whose
//! escape codes go to a buffer instead of a terminal. A timed frame is
//! `Terminal::draw`: layout, widgets, the diff against the previous frame and
//! its escape codes. Two states: a run in progress (each frame gets a
//! progress event and a new log line first, untimed) and idle (only the
//! clock moves, as the dashboard's 1 s tick does). The baseline is an empty
//! `Paragraph` drawn the same way: ratatui's own floor for a 200×60 frame.
//!
//! Idle CPU: `v0-prune top` in a real pty (a private tmux server, pane
//! 200×60) on a real idle daemon, its CPU time read from /proc once a second.

use std::cell::Cell;
use std::io::{self, Write};
use std::path::Path;
use std::process::Command;
use std::rc::Rc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use jiff::tz::TimeZone;
use ratatui::backend::CrosstermBackend;
use ratatui::layout::Rect;
use ratatui::widgets::Paragraph;
use ratatui::{Terminal, TerminalOptions};
use v0_prune::top::app::{App, HISTORY_CAP, Viewport};
use v0_prune::top::conn::LinkEvent;
use v0_prune::top::log_tail::LOG_CAP;
use v0_prune::top::ui;
use v0_prune_shared::client::Update;
use v0_prune_shared::protocol::{
    DaemonState, Event, HISTORY_IN_SNAPSHOT, LOG_TAIL_LINES, RunOutcome, RunRecord, Snapshot,
    Trigger,
};
use v0_prune_testkit::invoke::quiet_status;
use v0_prune_testkit::records;
use v0_prune_testkit::{TmuxPane, process_gone};

use super::{Case, Ctx, Sizes};
use crate::measure::time;
use crate::procs::{self, Binaries, Daemon, PATIENCE, Project};
use crate::report::{Measured, Outcome, Row, Target, Unit};

/// Frame time and idle CPU of the dashboard.
pub struct Dashboard;

/// The issue's screen size.
const WIDTH: u16 = 200;
const HEIGHT: u16 = 60;

/// Frames drawn per contender per round; a sample is their mean.
const FRAMES: usize = 50;

/// The issue's limit for one frame, ms.
const FRAME_LIMIT_MS: f64 = 2.0;

/// The issue's limit for idle CPU, percent of one CPU.
const IDLE_CPU_LIMIT: f64 = 1.0;

/// Where every frame is drawn: 2026-11-28T12:00:00Z.
const NOW_MS: i64 = 1_795_867_200_000;

const HOUR_MS: i64 = 3_600_000;

const BUILD: &str = "/home/dev/projects/shop/.v0/build";

impl Case for Dashboard {
    fn id(&self) -> &'static str {
        "dashboard"
    }

    fn title(&self, _: &Sizes) -> String {
        format!("dashboard frame at {WIDTH}×{HEIGHT}; idle CPU of `v0-prune top`")
    }

    fn needs_binaries(&self) -> bool {
        true
    }

    fn run(&self, ctx: &mut Ctx, notes: &mut Vec<String>) -> Result<Outcome> {
        let mut rows = frames(ctx, notes)?;
        match ctx.binaries(notes) {
            Ok(binaries) => {
                let dir = ctx.case_dir(self.id())?;
                if let Some(row) = idle_cpu(ctx, &binaries, &dir, notes)? {
                    rows.push(row);
                }
            }
            Err(needs) => notes.push(format!("idle CPU not measured: {needs}")),
        }
        Ok(Outcome::Measured { rows })
    }
}

/// The terminal the frames are drawn on: the dashboard's crossterm backend,
/// writing into a buffer that a flush empties (counting the bytes "sent").
type BufferTerminal = Terminal<CrosstermBackend<Screen>>;

struct Screen {
    buffer: Vec<u8>,
    sent: Rc<Cell<u64>>,
}

impl Write for Screen {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.buffer.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.sent.set(self.sent.get() + self.buffer.len() as u64);
        self.buffer.clear();
        Ok(())
    }
}

fn terminal(sent: &Rc<Cell<u64>>) -> Result<BufferTerminal> {
    let screen = Screen {
        buffer: Vec::with_capacity(1 << 16),
        sent: Rc::clone(sent),
    };
    Terminal::with_options(
        CrosstermBackend::new(screen),
        TerminalOptions {
            viewport: ratatui::Viewport::Fixed(Rect::new(0, 0, WIDTH, HEIGHT)),
        },
    )
    .context("creating a terminal")
}

fn draw_app(terminal: &mut BufferTerminal, app: &mut App) -> Result<()> {
    let mut viewport = Viewport::default();
    terminal
        .draw(|frame| viewport = ui::draw(frame, app))
        .context("drawing the dashboard")?;
    app.set_viewport(viewport);
    Ok(())
}

/// Times frames of the busy and idle dashboard and of an empty one.
fn frames(ctx: &Ctx, notes: &mut Vec<String>) -> Result<Vec<Row>> {
    let (busy_sent, idle_sent, empty_sent) = (
        Rc::new(Cell::new(0)),
        Rc::new(Cell::new(0)),
        Rc::new(Cell::new(0)),
    );
    let (mut busy_term, mut idle_term, mut empty_term) = (
        terminal(&busy_sent)?,
        terminal(&idle_sent)?,
        terminal(&empty_sent)?,
    );
    let mut busy = running_app();
    let mut idle = idle_app();
    let (mut busy_ms, mut idle_ms, mut empty_ms) = (Vec::new(), Vec::new(), Vec::new());
    let mut frame = 0u64;
    let mut kept_frames = 0u64;
    // Everything drawn once, so the timed frames diff against a full screen.
    draw_app(&mut busy_term, &mut busy)?;
    draw_app(&mut idle_term, &mut idle)?;
    for keep in ctx.rounds.each() {
        let (mut b, mut i, mut e) = (0.0, 0.0, 0.0);
        if keep {
            busy_sent.set(0);
            idle_sent.set(0);
            empty_sent.set(0);
        }
        for _ in 0..FRAMES {
            frame += 1;
            advance_run(&mut busy, frame);
            b += time(|| draw_app(&mut busy_term, &mut busy))?;
            idle.set_now(NOW_MS + i64::try_from(frame).unwrap_or(0) * 1000);
            i += time(|| draw_app(&mut idle_term, &mut idle))?;
            e += time(|| {
                empty_term
                    .draw(|f| f.render_widget(Paragraph::new(""), f.area()))
                    .context("drawing an empty frame")?;
                Ok(())
            })?;
        }
        if keep {
            kept_frames += FRAMES as u64;
            let n = FRAMES as f64;
            busy_ms.push(b / n);
            idle_ms.push(i / n);
            empty_ms.push(e / n);
        }
    }
    let per_frame = |sent: &Rc<Cell<u64>>| sent.get() / kept_frames.max(1);
    notes.push(format!(
        "frames: the real ui::draw on an App with {} runs of history and {} log lines, crossterm escape codes into a buffer; a sample is the mean of {FRAMES} frames; bytes per frame: busy {}, idle {}, empty {}",
        busy.history.len(),
        busy.log.len(),
        per_frame(&busy_sent),
        per_frame(&idle_sent),
        per_frame(&empty_sent)
    ));
    let empty = Measured::new("empty Paragraph frame", Unit::Ms, empty_ms);
    Ok(vec![
        Row::compare(
            Measured::new("frame, run in progress", Unit::Ms, busy_ms),
            empty.clone(),
            Target::AtMost(FRAME_LIMIT_MS),
        )
        .with_note("each frame after a progress event and a new log line"),
        Row::compare(
            Measured::new("frame, idle (1 s tick)", Unit::Ms, idle_ms),
            empty,
            Target::AtMost(FRAME_LIMIT_MS),
        ),
    ])
}

/// A finished run, with figures that vary from run to run.
fn record(run_id: u64) -> RunRecord {
    let started_at_ms =
        NOW_MS - 130_000 - i64::try_from(HISTORY_CAP as u64 - run_id).unwrap_or(0) * HOUR_MS;
    let bytes = (run_id * 7_919_993) % 9_000_000;
    let mut record = RunRecord {
        trigger: if run_id % 10 == 0 {
            Trigger::Request
        } else {
            Trigger::Schedule
        },
        log_files_examined: 24 + run_id % 13,
        ..records::run_record(run_id, started_at_ms, bytes)
    };
    if run_id % 50 == 9 {
        record.errors = vec!["queue.json: entry 14 has no status".to_owned()];
        record.outcome = RunOutcome::WithErrors;
    }
    record
}

/// A daemon log line as v0 writes them, of realistic length.
fn log_line(i: usize) -> String {
    let minute = i % 60;
    let second = (i * 7) % 60;
    let text = match i % 5 {
        0 => "Starting pruning...".to_owned(),
        1 => format!(
            "Pruned logs/feature-checkout-{i}/worker.log: {} lines removed, rewrite",
            i * 13 % 9000
        ),
        2 => format!("mergeq: {} entries removed from queue.json", i % 4),
        3 => format!(
            "Pruning complete: 7 logs, {} lines, 2 mergeq entries, 3.4 MiB reclaimed in 812ms",
            i * 31 % 20_000
        ),
        _ => "Sleeping for 3600s until next prune cycle".to_owned(),
    };
    format!("[2026-11-28T11:{minute:02}:{second:02}Z] {text}")
}

fn snapshot() -> Snapshot {
    let first = HISTORY_CAP as u64 - HISTORY_IN_SNAPSHOT as u64 + 1;
    let history: Vec<RunRecord> = (first..=HISTORY_CAP as u64).map(record).collect();
    Snapshot {
        started_at_ms: NOW_MS - 21 * 24 * HOUR_MS,
        next_run_at_ms: Some(NOW_MS + 57 * 60_000 + 48_000),
        log_tail: (0..LOG_TAIL_LINES).map(log_line).collect(),
        ..records::idle_snapshot("shop", BUILD, history)
    }
}

fn event(app: &mut App, event: Event) {
    let seq = app.seq().map_or(1, |s| s + 1);
    app.on_link(LinkEvent::Update(Update::Event { seq, event }));
}

/// Connected to an idle daemon, with the history and log full.
fn idle_app() -> App {
    let mut app = App::new(BUILD, TimeZone::UTC, NOW_MS, true);
    app.on_link(LinkEvent::Update(Update::Snapshot {
        seq: 0,
        snapshot: Box::new(snapshot()),
    }));
    // More than a snapshot brings: what a dashboard open for weeks holds.
    app.history = (1..=HISTORY_CAP as u64).rev().map(record).collect();
    app.log.replace((0..LOG_CAP).map(log_line).collect());
    app
}

/// The same, with a run in progress.
fn running_app() -> App {
    let mut app = idle_app();
    event(
        &mut app,
        Event::StateChanged {
            state: DaemonState::Running,
        },
    );
    event(
        &mut app,
        Event::RunStarted {
            run_id: HISTORY_CAP as u64 + 1,
            trigger: Trigger::Request,
            started_at_ms: NOW_MS - 4_000,
        },
    );
    app
}

/// What a frame of a running prune follows: progress, an item, a log line.
fn advance_run(app: &mut App, frame: u64) {
    let run_id = HISTORY_CAP as u64 + 1;
    event(
        app,
        Event::Progress {
            run_id,
            files_done: frame % 10_000,
            files_total: 10_000,
            bytes_reclaimed: frame * 4096,
            current: Some(format!("logs/feature-checkout-{frame}/worker.log")),
        },
    );
    event(
        app,
        Event::LogLine {
            line: log_line(usize::try_from(frame).unwrap_or(0)),
        },
    );
    app.set_now(NOW_MS + i64::try_from(frame).unwrap_or(0) * 50);
}

/// A private tmux server (own socket in its own short-pathed temporary
/// directory, no config) whose `WIDTH`×`HEIGHT` pane runs `shell_command`
/// in `cwd`; killed on drop.
fn start_tmux(cwd: &Path, shell_command: &str) -> Result<TmuxPane> {
    sweep_abandoned_servers();
    // Not under the data directory: a Unix socket path must stay short.
    // The pid in the name lets a later run clean up after a killed one.
    let dir = tempfile::Builder::new()
        .prefix(&format!("{TMUX_DIR_PREFIX}{}.", std::process::id()))
        .tempdir()
        .context("creating a directory for tmux")?;
    let socket = format!("v0-prune-bench-{}", std::process::id());
    TmuxPane::start_in(dir, socket, cwd, (WIDTH, HEIGHT), &[], shell_command)
        .map_err(anyhow::Error::msg)
}

/// The pane's screen as plain text.
fn screen(tmux: &TmuxPane) -> Result<String> {
    tmux.try_tmux(&["capture-pane", "-p"])
        .map_err(anyhow::Error::msg)
}

/// The pid of the pane's process (the dashboard, once the shell exec'd it).
fn pane_pid(tmux: &TmuxPane) -> Result<u32> {
    let text = tmux
        .try_tmux(&["display-message", "-p", "#{pane_pid}"])
        .map_err(anyhow::Error::msg)?;
    text.trim()
        .parse()
        .with_context(|| format!("tmux gave no pane pid: {text:?}"))
}

/// Directories of the bench's tmux servers: `<prefix><pid>.<random>`.
const TMUX_DIR_PREFIX: &str = "v0-prune-bench-tmux.";

/// Kills the tmux servers (and so their dashboards) of bench runs that died
/// without dropping them (Ctrl-C: tmux servers run in their own session),
/// and removes their directories.
fn sweep_abandoned_servers() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let pid = entry
            .file_name()
            .to_str()
            .and_then(|name| name.strip_prefix(TMUX_DIR_PREFIX))
            .and_then(|rest| rest.split('.').next())
            .and_then(|pid| pid.parse::<u32>().ok());
        let Some(pid) = pid else {
            continue;
        };
        if !process_gone(pid) {
            continue;
        }
        // `<dir>/tmux-<uid>/<socket>`.
        let sockets = std::fs::read_dir(entry.path())
            .into_iter()
            .flatten()
            .flatten()
            .flat_map(|uid_dir| {
                std::fs::read_dir(uid_dir.path())
                    .into_iter()
                    .flatten()
                    .flatten()
            });
        for socket in sockets {
            quiet_status(
                Command::new("tmux")
                    .arg("-S")
                    .arg(socket.path())
                    .arg("kill-server"),
            );
        }
        let _ = std::fs::remove_dir_all(entry.path());
    }
}

/// Whether the dashboard's header says the daemon is idle.
fn shows_idle(screen: &str) -> bool {
    screen.lines().next().is_some_and(|header| {
        header.contains("v0-prune top") && header.trim_end().ends_with(" idle")
    })
}

/// `v0-prune top` in tmux on an idle daemon: CPU per second, from /proc.
fn idle_cpu(
    ctx: &Ctx,
    binaries: &Binaries,
    dir: &Path,
    notes: &mut Vec<String>,
) -> Result<Option<Row>> {
    if !TmuxPane::available() {
        notes.push("idle CPU not measured: tmux is not installed (.ci/run installs it)".into());
        return Ok(None);
    }
    let project = Project::demo(&dir.join("project"), 74)?;
    let rt = procs::runtime()?;
    let daemon = Daemon::start(binaries, &project, &rt)?;
    daemon.wait_idle_after_startup(&rt)?;
    let cli = binaries.cli.display().to_string().replace('\'', r"'\''");
    let tmux = start_tmux(&project.root, &format!("exec '{cli}' top"))?;
    let pid = pane_pid(&tmux)?;
    let deadline = Instant::now() + PATIENCE;
    loop {
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        if comm.starts_with("v0-prune") && shows_idle(&screen(&tmux)?) {
            break;
        }
        if Instant::now() > deadline {
            bail!(
                "`v0-prune top` did not show an idle daemon within {PATIENCE:?}; the screen:\n{}",
                screen(&tmux)?
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    // Let the start-up settle (first frames, the subscription) before timing.
    std::thread::sleep(Duration::from_secs(1));
    let seconds = ctx.rounds.iterations.clamp(2, 7);
    let ticks_per_second = procs::clock_ticks_per_second() as f64;
    let start = (procs::cpu_time(pid)?, Instant::now());
    let mut previous = start;
    let mut samples = Vec::new();
    let mut exact = true;
    for _ in 0..seconds {
        std::thread::sleep(Duration::from_secs(1));
        let now = (procs::cpu_time(pid)?, Instant::now());
        let wall_ms = now.1.duration_since(previous.1).as_secs_f64() * 1e3;
        let used_ms = match (now.0.exact_ms, previous.0.exact_ms) {
            (Some(a), Some(b)) if a >= b => a - b,
            _ => {
                exact = false;
                now.0.ticks.saturating_sub(previous.0.ticks) as f64 / ticks_per_second * 1e3
            }
        };
        samples.push(100.0 * used_ms / wall_ms);
        previous = now;
    }
    let total_wall = previous.1.duration_since(start.1).as_secs_f64();
    let total_ticks = previous.0.ticks.saturating_sub(start.0.ticks) as f64;
    let screen = screen(&tmux)?;
    if !shows_idle(&screen) {
        bail!("the dashboard stopped showing an idle daemon while measured:\n{screen}");
    }
    tmux.try_tmux(&["send-keys", "q"])
        .map_err(anyhow::Error::msg)?;
    // It quits and tmux reaps it; killing the server below covers a hang.
    let deadline = Instant::now() + Duration::from_secs(10);
    while Path::new(&format!("/proc/{pid}")).exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    drop(tmux);
    daemon.stop()?;
    notes.push(format!(
        "idle CPU: `v0-prune top` in a {WIDTH}×{HEIGHT} tmux pane on a real idle daemon, {seconds} one-second windows after it showed `idle` (+1 s to settle), CPU from {}; over the whole {total_wall:.1} s, utime+stime say {:.2}% (resolution one tick, {:.0} ms)",
        if exact {
            "se.sum_exec_runtime of its threads (/proc/<pid>/task/*/sched)"
        } else {
            "utime+stime of /proc/<pid>/stat"
        },
        100.0 * total_ticks / ticks_per_second / total_wall.max(1e-9),
        1e3 / ticks_per_second
    ));
    Ok(Some(
        Row::alone(
            Measured::new(
                format!("`v0-prune top` idle, {WIDTH}×{HEIGHT} pty"),
                Unit::Percent,
                samples,
            ),
            Target::AtMost(IDLE_CPU_LIMIT),
        )
        .with_note("percent of one CPU, median of one-second windows"),
    ))
}
