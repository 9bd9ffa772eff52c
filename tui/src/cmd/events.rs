//! `v0-prune events [--json]`: the daemon's live event stream, one line per
//! event, for scripts and for watching without the dashboard. With `--json`,
//! NDJSON: the snapshot first (`{"seq":N,"snapshot":{...}}`), then one
//! `{"seq":N,"event":{...}}` per event, `seq` increasing by one.
//!
//! Ends with the daemon or on Ctrl-C ([`Exit::Success`]);
//! [`Exit::NotRunning`] when no daemon runs; [`Exit::Error`] on errors,
//! including falling behind the stream.

use std::io::{self, Write};

use anyhow::{Context as _, anyhow};
use jiff::Timestamp;
use jiff::tz::TimeZone;
use v0_prune::format::{clock_with_year, until};
use v0_prune_daemon::run_summary;
use v0_prune_shared::client::{ClientError, DEFAULT_TIMEOUT, Update};
use v0_prune_shared::config::Project;
use v0_prune_shared::protocol::Event;
use v0_prune_shared::prune::Job;
use v0_prune_shared::units::human_bytes;
use v0_prune_shared::words::{command, counted};

use super::{is_broken_pipe, progress, report_error};
use crate::cli::args::EventsArgs;
use crate::cli::exit_code::Exit;
use crate::daemon_ctl::{self, Probe};

/// `v0-prune events` from `main`: discovery, the command, errors on stderr.
pub fn main(args: &EventsArgs) -> Exit {
    let result = daemon_ctl::discover(args.build_dir.as_deref()).and_then(|project| {
        let (stdout, stderr) = (io::stdout(), io::stderr());
        events(&project, args.json, &mut stdout.lock(), &mut stderr.lock())
    });
    result.unwrap_or_else(|err| report_error(&err))
}

/// Prints the daemon's events until it exits or we are interrupted.
pub fn events(
    project: &Project,
    json: bool,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> anyhow::Result<Exit> {
    match daemon_ctl::block_on(follow(project, json, out, err))? {
        // A reader that went away (`| head`) is a normal end.
        Err(error) if is_broken_pipe(&error) => Ok(Exit::Success),
        other => other,
    }
}

async fn follow(
    project: &Project,
    json: bool,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> anyhow::Result<Exit> {
    let build = &project.build_dir;
    let client = match daemon_ctl::probe(build, "v0-prune events", DEFAULT_TIMEOUT).await {
        Probe::Answering(client) => client,
        Probe::NotRunning => {
            writeln!(
                err,
                "The prune daemon is not running for {}; `{}` starts it",
                build.root().display(),
                command()
            )?;
            return Ok(Exit::NotRunning);
        }
        Probe::Unresponsive { pid, .. } if daemon_ctl::other_user(build, pid).is_some() => {
            let user = daemon_ctl::other_user(build, pid);
            return Err(user.map_or_else(
                || anyhow!("the prune daemon runs as another user"),
                |user| daemon_ctl::other_user_error(&user),
            ));
        }
        Probe::Unresponsive {
            error: error @ ClientError::Rejected(_),
            ..
        } => return Err(error.into()),
        Probe::Unresponsive { pid, error } => {
            let pid = pid.map_or_else(String::new, |pid| format!(" (pid {pid})"));
            return Err(anyhow::Error::new(error).context(format!(
                "the prune daemon{pid} does not answer on its socket"
            )));
        }
    };
    let mut subscription = client
        .subscribe()
        .await
        .context("subscribing to the daemon's events")?;
    let tz = TimeZone::system();
    let interrupted = tokio::signal::ctrl_c();
    tokio::pin!(interrupted);
    loop {
        let update = tokio::select! {
            _ = &mut interrupted => return Ok(Exit::Success),
            update = subscription.next() => update,
        };
        let update = match update {
            Ok(Some(update)) => update,
            // The daemon exited and closed the stream.
            Ok(None) => return Ok(Exit::Success),
            Err(error) => {
                return Err(anyhow::Error::new(error).context("reading the daemon's events"));
            }
        };
        if let Update::Lagged { missed_from_seq } = update {
            out.flush()?;
            writeln!(
                err,
                "Error: fell behind the daemon's events (missed from #{missed_from_seq}) and was dropped; run `{} events` again",
                command()
            )?;
            return Ok(Exit::Error);
        }
        let now_ms = Timestamp::now().as_millisecond();
        if json {
            writeln!(out, "{}", json_line(&update)?)?;
        } else {
            writeln!(out, "{}", human_line(&update, now_ms, &tz))?;
        }
        out.flush()?;
    }
}

/// One NDJSON line: the protocol's own serde shape, under `seq`.
fn json_line(update: &Update) -> anyhow::Result<String> {
    let value = match update {
        Update::Snapshot { seq, snapshot } => {
            serde_json::json!({ "seq": seq, "snapshot": snapshot })
        }
        Update::Event { seq, event } => serde_json::json!({ "seq": seq, "event": event }),
        Update::Lagged { missed_from_seq } => {
            return Err(anyhow!("lagged from #{missed_from_seq}"));
        }
    };
    Ok(serde_json::to_string(&value)?)
}

/// One human line: `[14:03:07] run 12 started (signal)`.
fn human_line(update: &Update, now_ms: i64, tz: &TimeZone) -> String {
    let text = match update {
        Update::Snapshot { snapshot, .. } => {
            let mut text = format!(
                "connected to the prune daemon (pid {}): {}",
                snapshot.daemon_pid,
                snapshot.state.label()
            );
            if let Some(run) = &snapshot.current_run {
                text.push_str(&format!(
                    ", run {} in progress: {}",
                    run.run_id,
                    progress(run)
                ));
            }
            if let Some(next) = snapshot.next_run_at_ms {
                text.push_str(&format!(
                    "; next run at {} ({})",
                    clock_with_year(next, now_ms, tz),
                    until(next, now_ms)
                ));
            }
            text
        }
        Update::Event { event, .. } => event_text(event, now_ms, tz),
        Update::Lagged { missed_from_seq } => format!("fell behind from #{missed_from_seq}"),
    };
    format!("[{}] {text}", clock_with_year(now_ms, now_ms, tz))
}

fn event_text(event: &Event, now_ms: i64, tz: &TimeZone) -> String {
    match event {
        Event::StateChanged { state } => format!("state: {}", state.label()),
        Event::NextRun { at_ms } => format!(
            "next run at {} ({})",
            clock_with_year(*at_ms, now_ms, tz),
            until(*at_ms, now_ms)
        ),
        Event::Exiting { reason } => format!("daemon exiting: {reason}"),
        Event::RunStarted {
            run_id, trigger, ..
        } => format!("run {run_id} started ({})", trigger.label()),
        Event::Progress {
            run_id,
            files_done,
            files_total,
            bytes_reclaimed,
            current,
        } => {
            let mut text = format!(
                "run {run_id}: {files_done}/{files_total} files, {} reclaimed",
                human_bytes(*bytes_reclaimed)
            );
            if let Some(current) = current {
                text.push_str(&format!(" ({current})"));
            }
            text
        }
        Event::ItemPruned {
            run_id,
            job,
            item,
            detail,
            bytes_reclaimed,
        } => format!(
            "run {run_id}: pruned {} {item}: {detail} ({})",
            job_name(*job),
            human_bytes(*bytes_reclaimed)
        ),
        Event::RunFinished { record } => format!(
            "run {} finished ({}): {}",
            record.run_id,
            record.outcome.label(),
            run_summary(record)
        ),
        Event::LogLine { line } => format!("log: {line}"),
        Event::Files { view } => format!(
            "files: {}, {}{}",
            counted(view.total_files, "log", "logs"),
            human_bytes(view.total_bytes),
            view.queue
                .as_ref()
                .map(|q| format!(
                    "; merge queue: {}, {}",
                    counted(q.entries, "entry", "entries"),
                    human_bytes(q.size)
                ))
                .unwrap_or_default()
        ),
    }
}

fn job_name(job: Job) -> &'static str {
    match job {
        Job::Logs => "log",
        Job::Queue => "mergeq entry",
        Job::Operations => "operation",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use v0_prune_shared::protocol::{DaemonState, Trigger};

    const NOW: i64 = 1_764_331_200_000; // 2025-11-28T12:00:00Z

    fn line(update: &Update) -> String {
        human_line(update, NOW, &TimeZone::UTC)
    }

    fn event(event: Event) -> Update {
        Update::Event { seq: 9, event }
    }

    #[test]
    fn human_lines_say_what_happened_when() {
        assert_eq!(
            line(&event(Event::RunStarted {
                run_id: 12,
                trigger: Trigger::Signal,
                started_at_ms: NOW
            })),
            "[12:00:00] run 12 started (signal)"
        );
        assert_eq!(
            line(&event(Event::StateChanged {
                state: DaemonState::Draining
            })),
            "[12:00:00] state: draining"
        );
        assert_eq!(
            line(&event(Event::Progress {
                run_id: 12,
                files_done: 340,
                files_total: 1200,
                bytes_reclaimed: 1536,
                current: Some("logs/a.log".into()),
            })),
            "[12:00:00] run 12: 340/1200 files, 1.5 KiB reclaimed (logs/a.log)"
        );
        assert_eq!(
            line(&event(Event::ItemPruned {
                run_id: 12,
                job: Job::Logs,
                item: "logs/a.log".into(),
                detail: "120 lines".into(),
                bytes_reclaimed: 2048,
            })),
            "[12:00:00] run 12: pruned log logs/a.log: 120 lines (2.0 KiB)"
        );
        assert_eq!(
            line(&event(Event::NextRun {
                at_ms: NOW + 60_000
            })),
            "[12:00:00] next run at 12:01:00 (in 1m)"
        );
        assert_eq!(
            line(&event(Event::LogLine {
                line: "[2025-11-28T12:00:00Z] Starting pruning...".into()
            })),
            "[12:00:00] log: [2025-11-28T12:00:00Z] Starting pruning..."
        );
    }

    #[test]
    fn json_lines_carry_seq_and_the_protocol_shape() {
        let text = json_line(&event(Event::RunStarted {
            run_id: 3,
            trigger: Trigger::Request,
            started_at_ms: 5,
        }))
        .expect("json");
        assert!(!text.contains('\n'));
        let value: serde_json::Value = serde_json::from_str(&text).expect("parses");
        assert_eq!(value["seq"], 9);
        assert_eq!(value["event"]["RunStarted"]["run_id"], 3);
        assert_eq!(value["event"]["RunStarted"]["trigger"], "Request");

        let snapshot = Update::Snapshot {
            seq: 4,
            snapshot: Box::new(crate::cmd::status::test_support::snapshot()),
        };
        let value: serde_json::Value =
            serde_json::from_str(&json_line(&snapshot).expect("json")).expect("parses");
        assert_eq!(value["seq"], 4);
        assert_eq!(value["snapshot"]["daemon_pid"], 42);
    }
}
