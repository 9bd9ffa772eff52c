//! `v0-prune top`: the live dashboard of a build directory's prune daemon.
//!
//! The flow follows the data: [`conn`] keeps a subscription to the daemon
//! (reconnecting with backoff), [`app`] holds what it reported and what the
//! user is looking at, [`ui`] draws `&App`, [`input`] maps keys to actions,
//! and [`run_loop`] ties them together in one `tokio::select!` over the
//! terminal, the link, finished commands, a one-second tick (countdowns) and
//! the signals that end it, redrawing after each. [`term`] lends the terminal
//! and always gives it back; [`crate::spawn`] starts the daemon on `s`.

pub mod app;
pub mod conn;
mod demo;
pub mod file_tail;
pub mod input;
pub mod log_tail;
pub mod projects;
pub mod term;
pub mod ui;

#[cfg(test)]
mod fixtures;
#[cfg(test)]
mod tests;

use std::future::{Future, poll_fn};
use std::io;
use std::pin::{Pin, pin};
use std::time::Duration;

use anyhow::{Context, bail};
use futures_core::Stream;
use jiff::tz::TimeZone;
use ratatui::Terminal;
use ratatui::backend::Backend;
use ratatui::crossterm::event::{Event as TermEvent, EventStream};
use tokio::sync::mpsc;
use tokio::time::MissedTickBehavior;
use v0_prune_shared::client::Client;
use v0_prune_shared::paths::BuildDir;

use app::{App, Command, CommandDone, LinkReaction, Viewport};
use conn::{CLIENT_NAME, LinkCommand, LinkHandle};

use crate::spawn;

/// How often the screen is redrawn with nothing happening: countdowns tick
/// in seconds, so once a second.
const TICK: Duration = Duration::from_secs(1);

/// Link events applied before the next redraw, so a burst of events costs
/// one frame, not one each, while keys still get their turn.
const LINK_BATCH: usize = 256;

/// How `v0-prune top` was asked to run.
#[derive(Debug, Clone, Default)]
pub struct TopOptions {
    /// `--demo`: make a throw-away v0 project with its own daemon (short
    /// interval and retention, lines appended every second), watch it, and
    /// on quit drain that daemon and remove the project.
    pub demo: bool,
    /// Environment for a daemon started with `s`: `V0_ROOT`, so that it
    /// reads the project's `.v0.rc` (its name, its settings) as a daemon
    /// started by `v0-prune` does; without it the header and `status` lost
    /// the project's name after `s`.
    pub daemon_env: Vec<(String, String)>,
    /// `--all-projects`: open on the Projects view (every project on this
    /// machine) rather than on one project's dashboard.
    pub all_projects: bool,
}

/// Runs the dashboard until the user quits (or SIGTERM/SIGHUP/SIGINT).
///
/// `build` is the build directory to watch; it may be `None` only with
/// `options.demo`, which makes its own. Refuses when stdout is not a terminal.
pub async fn run_top(build: Option<BuildDir>, options: TopOptions) -> anyhow::Result<()> {
    term::require_terminal()?;
    if options.demo {
        let demo = demo::Demo::start().await.context("starting the demo")?;
        let watched = watch(Some(demo.build().clone()), demo.daemon_env(), true, false).await;
        let stopped = demo.stop().await;
        return watched.and(stopped);
    }
    if build.is_none() && !options.all_projects {
        bail!("no build directory to watch (run inside a v0 project, or pass --build-dir)");
    }
    watch(build, options.daemon_env, false, options.all_projects).await
}

/// What the loop needs besides the screen: where the daemon is, how to
/// start it, and the clock (fixed in tests).
#[derive(Debug, Clone)]
pub struct LoopContext {
    /// The build directory watched.
    pub build: BuildDir,
    /// Extra environment for a daemon started with `s`.
    pub daemon_env: Vec<(String, String)>,
    /// Unix milliseconds now.
    pub clock: fn() -> i64,
}

/// The dashboard on one terminal: a project's dashboard or the Projects
/// view, switching with `p` (and `Enter` on a project), until the user quits.
async fn watch(
    build: Option<BuildDir>,
    daemon_env: Vec<(String, String)>,
    demo: bool,
    projects_first: bool,
) -> anyhow::Result<()> {
    let mut signals = term::Signals::new().context("listening for signals")?;
    let mut guard = term::TerminalGuard::enter().context("taking over the terminal")?;
    let result = async {
        let terminal = guard.terminal();
        let mut inputs = EventStream::new();
        let mut shutdown = pin!(signals.recv());
        let mut current = build.map(|build| (build, daemon_env));
        let mut show_projects = projects_first || current.is_none();
        let mut projects = projects::Projects::new(TimeZone::system(), now_ms(), colors_allowed());
        // Started the first time the view shows; kept while `top` runs so
        // that going back to it shows fresh rows at once.
        let mut refresher = None;
        let mut first = true;
        loop {
            if show_projects {
                let rows = refresher.get_or_insert_with(projects::spawn_refresher);
                projects.can_go_back = current.is_some();
                let leave = projects_loop(
                    terminal,
                    &mut projects,
                    &mut inputs,
                    rows,
                    shutdown.as_mut(),
                    now_ms,
                )
                .await?;
                match leave {
                    projects::Leave::Open { build, env } => current = Some((build, env)),
                    projects::Leave::Back => {}
                    projects::Leave::Quit | projects::Leave::Stay => return Ok(()),
                }
                show_projects = false;
                continue;
            }
            let Some((build, daemon_env)) = current.clone() else {
                return Ok(());
            };
            let mut app = App::new(
                build.root().display().to_string(),
                TimeZone::system(),
                now_ms(),
                colors_allowed(),
            );
            app.demo = demo;
            if demo && first {
                // Its daemon was just spawned: "starting", not "not running".
                app.start_requested_at_ms = Some(app.now_ms);
            }
            first = false;
            let link = conn::spawn_link(build.clone());
            let context = LoopContext {
                build,
                daemon_env,
                clock: now_ms,
            };
            run_loop(
                terminal,
                &mut app,
                &mut inputs,
                link,
                shutdown.as_mut(),
                &context,
            )
            .await?;
            if !app.wants_projects() {
                return Ok(());
            }
            show_projects = true;
        }
    }
    .await;
    drop(guard);
    result
}

/// The Projects view's loop: keys, refreshes (every two seconds, from a
/// background task), finished commands and a one-second tick, redrawing
/// after each. Returns where the user goes.
pub async fn projects_loop<B, S, F>(
    terminal: &mut Terminal<B>,
    projects: &mut projects::Projects,
    mut inputs: S,
    rows: &mut mpsc::Receiver<Vec<projects::ProjectRow>>,
    shutdown: F,
    clock: fn() -> i64,
) -> anyhow::Result<projects::Leave>
where
    B: Backend,
    B::Error: Send + Sync + 'static,
    S: Stream<Item = io::Result<TermEvent>> + Unpin,
    F: Future,
{
    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<Result<String, String>>();
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut shutdown = pin!(shutdown);
    loop {
        projects.set_now(clock());
        let mut visible = 0;
        terminal
            .draw(|frame| visible = ui::draw_projects(frame, projects))
            .context("drawing the projects")?;
        projects.set_rows_visible(visible);

        tokio::select! {
            biased;
            _ = &mut shutdown => return Ok(projects::Leave::Quit),
            input = next_item(&mut inputs) => match input {
                Some(Ok(TermEvent::Key(key))) => {
                    let Some(action) =
                        input::projects_action(projects.confirming(), projects.help, key)
                    else {
                        continue;
                    };
                    let (leave, command) = projects.apply(action);
                    if let Some(command) = command {
                        perform_project(command, &done_tx);
                    }
                    if leave != projects::Leave::Stay {
                        return Ok(leave);
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(err)) => return Err(err).context("reading the terminal"),
                None => return Ok(projects::Leave::Quit),
            },
            Some(looked) = rows.recv() => projects.set_rows(looked),
            Some(done) = done_rx.recv() => match done {
                Ok(text) => projects.inform(text),
                Err(text) => projects.error(text),
            },
            _ = tick.tick() => {}
        }
    }
}

/// Carries out a Projects view command in the background; its outcome comes
/// back in words through `done`.
fn perform_project(
    command: projects::ProjectCommand,
    done: &mpsc::UnboundedSender<Result<String, String>>,
) {
    let done = done.clone();
    match command {
        projects::ProjectCommand::RunNow(build) => {
            tokio::spawn(async move {
                let result =
                    async { Client::connect(&build, CLIENT_NAME).await?.run_now().await }.await;
                let _ = done.send(match result {
                    Ok(requested) if requested.coalesced => Ok(format!(
                        "run #{} is already due: the request joins it",
                        requested.run_id
                    )),
                    Ok(requested) => Ok(format!("run #{} requested", requested.run_id)),
                    Err(err) => Err(format!("run now failed: {err}")),
                });
            });
        }
        projects::ProjectCommand::Drain(build) => {
            tokio::spawn(async move {
                let result =
                    async { Client::connect(&build, CLIENT_NAME).await?.drain().await }.await;
                let _ = done.send(match result {
                    Ok(_) => Ok("draining: the daemon exits after its current run".to_owned()),
                    Err(err) => Err(format!("drain failed: {err}")),
                });
            });
        }
        projects::ProjectCommand::Start { build, env } => {
            let _ = done.send(match spawn::spawn_daemon(&build, &env) {
                Ok(mut child) => {
                    let pid = child.id().unwrap_or(0);
                    tokio::spawn(async move {
                        let _ = child.wait().await;
                    });
                    Ok(format!("started v0-prune-daemon (pid {pid})"))
                }
                Err(err) => Err(format!("could not start the daemon: {err}")),
            });
        }
    }
}

/// The dashboard's loop, generic over the backend so tests drive it on a
/// `TestBackend` with scripted input and a scripted link. Returns when the
/// user quits, the input ends, or `shutdown` completes.
pub async fn run_loop<B, S, F>(
    terminal: &mut Terminal<B>,
    app: &mut App,
    mut inputs: S,
    mut link: LinkHandle,
    shutdown: F,
    context: &LoopContext,
) -> anyhow::Result<()>
where
    B: Backend,
    B::Error: Send + Sync + 'static,
    S: Stream<Item = io::Result<TermEvent>> + Unpin,
    F: Future,
{
    let (done_tx, mut done_rx) = mpsc::unbounded_channel();
    // The follow of the log open with `Enter`; stopped when it closes.
    let mut follow: Option<tokio::task::JoinHandle<()>> = None;
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut shutdown = pin!(shutdown);
    loop {
        app.set_now((context.clock)());
        let mut viewport = Viewport::default();
        terminal
            .draw(|frame| viewport = ui::draw(frame, app))
            .context("drawing the dashboard")?;
        app.set_viewport(viewport);

        tokio::select! {
            // Keys before link events: a flood of events never delays `q`.
            biased;
            _ = &mut shutdown => return Ok(()),
            input = next_item(&mut inputs) => match input {
                Some(Ok(TermEvent::Key(key))) => {
                    let command = input::action_for(app.input_mode(), key)
                        .and_then(|action| app.apply(action));
                    if let Some(command) = command
                        && let Some(task) = perform(command, app, &link, &done_tx, context)
                        && let Some(old) = follow.replace(task)
                    {
                        old.abort();
                    }
                    if app.input_mode() != input::InputMode::Tail
                        && let Some(task) = follow.take()
                    {
                        task.abort();
                    }
                }
                // Resizes and the rest: the redraw at the top handles them.
                Some(Ok(_)) => {}
                Some(Err(err)) => return Err(err).context("reading the terminal"),
                None => return Ok(()),
            },
            event = link.events.recv() => {
                let Some(event) = event else {
                    bail!("the connection to the daemon stopped unexpectedly");
                };
                on_link(app, &link, event);
                for _ in 1..LINK_BATCH {
                    match link.events.try_recv() {
                        Ok(event) => on_link(app, &link, event),
                        Err(_) => break,
                    }
                }
            }
            Some(done) = done_rx.recv() => app.on_command_done(done),
            // Each second: the Files view shows who holds each log now.
            _ = tick.tick() => app.forget_exited_holders(v0_prune_shared::platform::pid_alive),
        }
        if app.should_quit() || app.wants_projects() {
            return Ok(());
        }
    }
}

fn on_link(app: &mut App, link: &LinkHandle, event: conn::LinkEvent) {
    if app.on_link(event) == LinkReaction::Resubscribe {
        link.send(LinkCommand::Resubscribe);
    }
}

/// The next item of a stream (cancel-safe when the stream is).
async fn next_item<S: Stream + Unpin>(stream: &mut S) -> Option<S::Item> {
    poll_fn(|cx| Pin::new(&mut *stream).poll_next(cx)).await
}

/// Carries out a command in the background; its outcome comes back through
/// `done` as a [`CommandDone`], so the screen never waits on the daemon.
/// Returns the task that follows a log (`ReadTail`), for the loop to stop
/// when the view closes.
fn perform(
    command: Command,
    app: &mut App,
    link: &LinkHandle,
    done: &mpsc::UnboundedSender<CommandDone>,
    context: &LoopContext,
) -> Option<tokio::task::JoinHandle<()>> {
    let build = context.build.clone();
    let done = done.clone();
    match command {
        Command::RunNow => {
            tokio::spawn(async move {
                let result = async { Client::connect(&build, CLIENT_NAME).await?.run_now().await }
                    .await
                    .map_err(|err| err.to_string());
                let _ = done.send(CommandDone::RunNow(result));
            });
        }
        Command::Drain => {
            tokio::spawn(async move {
                let draining =
                    async { Client::connect(&build, CLIENT_NAME).await?.drain().await }.await;
                match draining {
                    Ok(draining) => {
                        let _ = done.send(CommandDone::DrainAccepted(Ok(())));
                        // The subscription shows the exit too; this only
                        // confirms it once the process is really gone.
                        if draining.wait_for_exit().await.is_ok() {
                            let _ = done.send(CommandDone::Drained);
                        }
                    }
                    Err(err) => {
                        let _ = done.send(CommandDone::DrainAccepted(Err(err.to_string())));
                    }
                }
            });
        }
        Command::ReadTail { path } => {
            let root = build.root().to_path_buf();
            return Some(tokio::spawn(follow_tail(root, path, done)));
        }
        Command::StartDaemon => match spawn::spawn_daemon(&build, &context.daemon_env) {
            Ok(mut child) => {
                let pid = child.id().unwrap_or(0);
                // Reap it when it exits, so a drained daemon does not linger
                // as a zombie that `kill -0` would still call running.
                tokio::spawn(async move {
                    let _ = child.wait().await;
                });
                link.send(LinkCommand::ReconnectNow);
                app.on_command_done(CommandDone::Started(Ok(pid)));
            }
            Err(err) => app.on_command_done(CommandDone::Started(Err(err.to_string()))),
        },
    }
    None
}

/// How often the log open with `Enter` is looked at for new lines.
const FOLLOW_EVERY: Duration = Duration::from_millis(250);

/// The last lines of `path` (in `root`), then every line appended, live,
/// through its prunes ([`crate::follow`]), until the loop stops the task.
async fn follow_tail(
    root: std::path::PathBuf,
    path: String,
    done: mpsc::UnboundedSender<CommandDone>,
) {
    let opened = {
        let path = path.clone();
        tokio::task::spawn_blocking(move || file_tail::open_tail(&root, &path)).await
    };
    let mut follower = match opened {
        Ok(Ok((follower, lines))) => {
            let _ = done.send(CommandDone::Tail {
                path: path.clone(),
                lines: Ok(lines),
            });
            follower
        }
        Ok(Err(err)) => {
            let _ = done.send(CommandDone::Tail {
                path,
                lines: Err(err),
            });
            return;
        }
        Err(_) => return,
    };
    loop {
        tokio::time::sleep(FOLLOW_EVERY).await;
        let polled = tokio::task::spawn_blocking(move || {
            let polled = follower.poll();
            (follower, polled)
        })
        .await;
        let Ok((back, polled)) = polled else {
            return;
        };
        follower = back;
        let lines = match polled {
            Ok(polled) => file_tail::shown(polled.lines),
            Err(err) => {
                let _ = done.send(CommandDone::Tail {
                    path,
                    lines: Err(format!("stopped following: {err}")),
                });
                return;
            }
        };
        if !lines.is_empty()
            && done
                .send(CommandDone::TailMore {
                    path: path.clone(),
                    lines,
                })
                .is_err()
        {
            return;
        }
    }
}

/// Unix milliseconds now.
fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

/// Colours unless `NO_COLOR` is set to something (see no-color.org).
fn colors_allowed() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|value| value.is_empty())
}
