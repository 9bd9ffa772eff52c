//! `v0-prune tail [-f] [-n N] <log>`: a log's last lines and, with `-f`,
//! every line appended after, through its prunes (`v0_prune::follow`). A
//! prune is noticed from the file itself on every poll (its inode, the
//! last line printed still where it was); with a daemon running, its
//! events (`ItemPruned` for this log) make the follower look at once.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, anyhow};
use v0_prune::follow::Follower;
use v0_prune_shared::client::{Client, Subscription, Update};
use v0_prune_shared::config::Project;
use v0_prune_shared::protocol::Event;

use super::{is_broken_pipe, report_error};
use crate::cli::args::TailArgs;
use crate::cli::exit_code::Exit;
use crate::daemon_ctl;

/// How often the file is looked at when nothing else says it changed.
const POLL_EVERY: Duration = Duration::from_millis(100);

/// `v0-prune tail` from `main`.
pub fn main(args: &TailArgs) -> Exit {
    match tail(args) {
        Ok(exit) => exit,
        Err(err) if is_broken_pipe(&err) => Exit::Success,
        Err(err) => report_error(&err),
    }
}

fn tail(args: &TailArgs) -> anyhow::Result<Exit> {
    let project = daemon_ctl::discover(args.build_dir.as_deref());
    // A path needs no project; a name does, and without one the reason is
    // every command's "no .v0.rc" message.
    let project = match project {
        Ok(project) => Some(project),
        Err(_) if args.log.is_file() => None,
        Err(err) => return Err(err),
    };
    let path = resolve(&args.log, project.as_ref())?;
    let (follower, last) =
        Follower::open(&path, args.lines).with_context(|| format!("reading {}", path.display()))?;
    // A reader that goes away (`| head`) ends the command, quietly.
    let stdout = io::stdout();
    let mut out = stdout.lock();
    for line in &last {
        out.write_all(line)?;
    }
    out.flush()?;
    if !args.follow {
        return Ok(Exit::Success);
    }
    daemon_ctl::block_on(follow(follower, &path, project.as_ref(), &mut out))??;
    Ok(Exit::Success)
}

/// A path as given when it names a file, else a name under the project's
/// `logs/` (as given, then with `.log`), else under the build directory.
fn resolve(log: &Path, project: Option<&Project>) -> anyhow::Result<PathBuf> {
    if log.is_file() {
        return Ok(log.to_owned());
    }
    let Some(project) = project else {
        return Err(anyhow!(
            "{}: no such file, and no v0 project here to look for it in (its build directory's logs/)",
            log.display()
        ));
    };
    let build = &project.build_dir;
    let mut with_log = log.as_os_str().to_owned();
    with_log.push(".log");
    let candidates = [
        build.logs_dir().join(log),
        build.logs_dir().join(&with_log),
        build.root().join(log),
    ];
    candidates
        .iter()
        .find(|candidate| candidate.is_file())
        .cloned()
        .ok_or_else(|| {
            anyhow!(
                "{}: no such log, neither here nor under {}",
                log.display(),
                build.logs_dir().display()
            )
        })
}

/// Follows until Ctrl-C or the reader goes away (a broken pipe, which the
/// caller treats as a normal end).
async fn follow(
    mut follower: Follower,
    path: &Path,
    project: Option<&Project>,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let mut events = match project {
        Some(project) => subscribe(project).await,
        None => None,
    };
    let item = project.and_then(|p| relative_item(p.build_dir.root(), path));
    let mut tick = tokio::time::interval(POLL_EVERY);
    let interrupted = tokio::signal::ctrl_c();
    tokio::pin!(interrupted);
    loop {
        tokio::select! {
            _ = &mut interrupted => return Ok(()),
            _ = tick.tick() => {}
            update = next_event(&mut events) => match update {
                // A run pruned this log: look at once.
                Some(Update::Event { event: Event::ItemPruned { item: pruned, .. }, .. })
                    if item.as_deref() == Some(pruned.as_str()) => {}
                Some(_) => continue,
                // The daemon went away: the file alone tells from now on.
                None => events = None,
            },
        }
        loop {
            let polled = follower
                .poll()
                .with_context(|| format!("following {}", path.display()))?;
            for line in &polled.lines {
                out.write_all(line)?;
            }
            out.flush()?;
            if !polled.more {
                break;
            }
        }
    }
}

/// The daemon's events, when it runs and lets us watch.
async fn subscribe(project: &Project) -> Option<Subscription> {
    let client = Client::connect(&project.build_dir, "v0-prune tail")
        .await
        .ok()?;
    client.subscribe().await.ok()
}

/// The next update of an open subscription; never, once it has ended.
async fn next_event(events: &mut Option<Subscription>) -> Option<Update> {
    match events {
        Some(subscription) => subscription.next().await.ok().flatten(),
        None => std::future::pending().await,
    }
}

/// `path` as the daemon names an item: relative to the build directory.
fn relative_item(root: &Path, path: &Path) -> Option<String> {
    let root = std::fs::canonicalize(root).ok()?;
    let path = std::fs::canonicalize(path).ok()?;
    path.strip_prefix(root)
        .ok()
        .map(|relative| relative.display().to_string())
}
