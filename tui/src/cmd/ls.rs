//! `v0-prune ls [--json]`: what is using the space in the build directory —
//! its logs, largest first, and the merge queue — with how old each log's
//! oldest entry is, how fast it grows, what the next run would give back,
//! who holds it and how a run deals with it.
//!
//! With a daemon running, this is the daemon's view after its last run
//! (growth needs its memory of the runs before), with its holders as they
//! are now (one scan of open files). Without one (or with `--computed`),
//! `ls` computes the same itself as `--dry-run` does: it reads the logs and
//! the queue and writes nothing. Either way every log has every figure; the
//! one difference is NEXT RUN's moment: the daemon's next scheduled run, or
//! a run now.

use std::io::{self, Write};

use jiff::Timestamp;
use serde::Serialize;
use v0_prune::format::ago;
use v0_prune_shared::client::DEFAULT_TIMEOUT;
use v0_prune_shared::config::Project;
use v0_prune_shared::files_view::{RunContext, build_view, refresh_holders};
use v0_prune_shared::protocol::{FileInfo, FileMethod, FilesView};
use v0_prune_shared::prune::{self, BudgetReport, Cutoff, RunOptions};
use v0_prune_shared::units::human_bytes;
use v0_prune_shared::words::{count, counted};

use super::{is_broken_pipe, report_error};
use crate::cli::args::LsArgs;
use crate::cli::exit_code::Exit;
use crate::daemon_ctl::{self, Probe};

/// `v0-prune ls` from `main`: discovery, the listing, errors on stderr.
pub fn main(args: &LsArgs) -> Exit {
    let result = daemon_ctl::discover(args.build_dir.as_deref())
        .and_then(|project| ls(&project, args, &mut io::stdout().lock()));
    match result {
        Ok(()) => Exit::Success,
        Err(err) if is_broken_pipe(&err) => Exit::Success,
        Err(err) => report_error(&err),
    }
}

/// Where the figures come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Source {
    /// The running daemon's view after its last run.
    Daemon,
    /// Computed here, read-only.
    Computed,
}

/// `ls --json`: one object, stable names.
#[derive(Debug, Serialize)]
pub(crate) struct LsView {
    /// The build directory listed.
    pub(crate) build_dir: String,
    /// `daemon` or `computed`.
    pub(crate) source: Source,
    /// The daemon's pid, when it answered.
    pub(crate) daemon_pid: Option<u32>,
    /// Why the figures were computed here although a daemon runs, if so.
    pub(crate) note: Option<String>,
    /// How old an entry must be to go, seconds.
    pub(crate) retention_secs: u64,
    /// The view itself (sizes in bytes, times in unix milliseconds).
    pub(crate) files: FilesView,
    /// What the size budget (`V0_PRUNE_MAX_SIZE`) did in the daemon's last
    /// run, or would do in a run now; `None` when no budget is set.
    pub(crate) budget: Option<BudgetReport>,
}

/// Lists the build directory's logs and queue (a table, or one JSON object).
pub fn ls(project: &Project, args: &LsArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let json = args.json;
    let build = &project.build_dir;
    if !build.root().is_dir() {
        anyhow::bail!(
            "the build directory {} does not exist yet: v0 creates it on its first run; nothing to list",
            build.root().display()
        );
    }
    let view = daemon_ctl::block_on(view(project, args.computed))??;
    if json {
        serde_json::to_writer_pretty(&mut *out, &view)?;
        writeln!(out)?;
    } else {
        write_table(out, &view, Timestamp::now().as_millisecond())?;
    }
    out.flush()?;
    Ok(())
}

/// The figures `ls` lists for `project`: the daemon's view, or (without
/// one, or `computed`) computed here, read-only. `ls --all-projects` asks
/// every project this way at once (`cmd::machine`).
pub(crate) async fn view(project: &Project, computed: bool) -> anyhow::Result<LsView> {
    let build = &project.build_dir;
    let from = if computed {
        let pid = daemon_ctl::daemon_process(build).pid();
        let note = pid.map(|pid| format!("--computed, while the daemon (pid {pid}) runs"));
        Err((pid, note))
    } else {
        from_daemon(project).await
    };
    let (daemon_pid, note) = match from {
        Ok(view) => return Ok(view),
        Err(why) => why,
    };
    let computing = project.clone();
    let (files, budget) = tokio::task::spawn_blocking(move || compute(&computing)).await??;
    Ok(LsView {
        build_dir: build.root().display().to_string(),
        source: Source::Computed,
        daemon_pid,
        note,
        retention_secs: project.settings.retention.as_secs(),
        files,
        budget,
    })
}

/// The daemon's view, or why there is none (its pid, a note for the user).
async fn from_daemon(project: &Project) -> Result<LsView, (Option<u32>, Option<String>)> {
    let build = &project.build_dir;
    match daemon_ctl::probe(build, "v0-prune ls", DEFAULT_TIMEOUT).await {
        Probe::Answering(mut client) => {
            let pid = client.daemon_pid();
            match client.status().await {
                Ok(snapshot) => match snapshot.files {
                    Some(mut files) => Ok(LsView {
                        files: {
                            // Who holds each log now, not when the run looked.
                            refresh_holders(build, &mut files, Some(pid));
                            files
                        },
                        build_dir: build.root().display().to_string(),
                        source: Source::Daemon,
                        daemon_pid: Some(pid),
                        note: None,
                        retention_secs: snapshot.retention_secs,
                        budget: snapshot
                            .last_run
                            .and_then(|run| run.budget)
                            .map(|budget| *budget),
                    }),
                    None => Err((
                        Some(pid),
                        Some(format!(
                            "the daemon (pid {pid}) has not finished a run yet: computed here"
                        )),
                    )),
                },
                Err(err) => Err((
                    Some(pid),
                    Some(format!(
                        "the daemon (pid {pid}) did not give its view ({err}): computed here"
                    )),
                )),
            }
        }
        Probe::NotRunning => Err((None, None)),
        Probe::Unresponsive { pid, error } => Err((
            pid,
            Some(format!(
                "the daemon did not answer ({error}): computed here"
            )),
        )),
    }
}

/// What a run now would find and do, read-only: the dry run's walk and
/// reads (and the size budget's, when one is set), no lock taken, nothing
/// written.
fn compute(project: &Project) -> anyhow::Result<(FilesView, Option<BudgetReport>)> {
    let build = &project.build_dir;
    let now = Timestamp::now();
    let options = RunOptions {
        cutoff: Cutoff::before(now, project.settings.retention),
        dry_run: true,
    };
    let budget = project.settings.budget(now);
    let report =
        prune::run_locked_within(build, &options, budget.as_ref(), &mut prune::ignore_events);
    if let Some(error) = report.logs_error() {
        anyhow::bail!(
            "could not list the logs of {}: {error}",
            build.root().display()
        );
    }
    let context = RunContext {
        run_id: None,
        at_ms: now.as_millisecond(),
        next_cutoff_ms: Some(options.cutoff.timestamp().as_millisecond()),
        daemon_pid: daemon_ctl::daemon_process(build).pid(),
    };
    let view = build_view(build, context, &report, None);
    Ok((view, report.logs.budget.clone()))
}

/// The table: a header, one row per listed log (a skipped log's reason on
/// the line below it), the total, the merge queue.
fn write_table(out: &mut dyn Write, view: &LsView, now_ms: i64) -> anyhow::Result<()> {
    let files = &view.files;
    let source = match view.source {
        Source::Daemon => format!(
            "as the daemon (pid {}) saw them {}",
            view.daemon_pid.unwrap_or_default(),
            ago(files.as_of_ms, now_ms)
        ),
        Source::Computed => "computed now, read-only (no daemon running)".to_owned(),
    };
    let source = match (&view.note, view.source) {
        (Some(note), Source::Computed) => format!("computed now, read-only; {note}"),
        _ => source,
    };
    writeln!(out, "Logs of {}: {source}", view.build_dir)?;
    let mut listed: Vec<&FileInfo> = files.largest.iter().chain(&files.skipped).collect();
    listed.sort_by(|a, b| b.size.cmp(&a.size).then_with(|| a.path.cmp(&b.path)));
    let rows: Vec<[String; 7]> = listed.iter().map(|f| row(f, now_ms)).collect();
    let header = [
        "SIZE", "OLDEST", "GROWTH", "NEXT RUN", "HOLDER", "METHOD", "PATH",
    ]
    .map(str::to_owned);
    let mut widths = header.clone().map(|h| h.len());
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    if rows.is_empty() {
        writeln!(out, "No *.log files.")?;
    } else {
        write_row(out, &header, &widths)?;
        for (row, file) in rows.iter().zip(&listed) {
            write_row(out, row, &widths)?;
            if let FileMethod::Skipped { reason } = &file.method {
                writeln!(out, "    skipped: {reason}")?;
            }
        }
    }
    if listed.iter().any(|file| file.holders.len() > 1) {
        writeln!(
            out,
            "(+N in HOLDER: N more processes hold that log; `ls --json` lists each, writers first)"
        )?;
    }
    let unlisted = files.total_files.saturating_sub(listed.len() as u64);
    if unlisted > 0 {
        let listed_bytes: u64 = listed.iter().map(|f| f.size).sum();
        writeln!(
            out,
            "... and {} more logs ({})",
            count(unlisted),
            human_bytes(files.total_bytes.saturating_sub(listed_bytes))
        )?;
    }
    writeln!(out, "{}", total_line(files))?;
    if let Some(budget) = &view.budget {
        let run = match view.source {
            Source::Daemon => "last run",
            Source::Computed => "a run now",
        };
        writeln!(out, "Size budget ({run}): {}", budget.summary())?;
        if let Some(warning) = budget.warning() {
            writeln!(out, "Warning: {warning}")?;
        }
    }
    match &files.queue {
        Some(queue) => {
            let statuses = queue
                .by_status
                .iter()
                .map(|s| format!("{} {}", s.status, count(s.entries)))
                .collect::<Vec<_>>()
                .join(", ");
            let mut line = format!(
                "Merge queue {}: {}, {}",
                queue.path,
                counted(queue.entries, "entry", "entries"),
                human_bytes(queue.size)
            );
            if !statuses.is_empty() {
                line.push_str(&format!(" ({statuses})"));
            }
            match queue.next_removable {
                Some(n) => line.push_str(&format!("; a run now would remove {}", count(n))),
                None if queue.entries_removed > 0 => line.push_str(&format!(
                    "; the last run removed {} ({})",
                    count(queue.entries_removed),
                    human_bytes(queue.bytes_reclaimed)
                )),
                None => {}
            }
            writeln!(out, "{line}")?;
        }
        None => writeln!(out, "Merge queue: none")?,
    }
    Ok(())
}

fn total_line(files: &FilesView) -> String {
    let mut line = format!(
        "Total: {}, {}",
        counted(files.total_files, "log", "logs"),
        human_bytes(files.total_bytes)
    );
    if files.total_skipped > 0 {
        line.push_str(&format!(", {} skipped", count(files.total_skipped)));
    }
    match files.total_next_reclaim {
        Some(bytes) => line.push_str(&format!("; next run reclaims {}", human_bytes(bytes))),
        None => line.push_str("; next run reclaims ? (a log could not be read)"),
    }
    if let Some(growth) = files.total_growth_per_hour {
        line.push_str(&format!("; growing {}", growth_text(growth)));
    }
    if files.run_id.is_some() && files.total_reclaimed > 0 {
        line.push_str(&format!(
            "; the last run reclaimed {}",
            human_bytes(files.total_reclaimed)
        ));
    }
    line
}

fn row(file: &FileInfo, now_ms: i64) -> [String; 7] {
    let oldest = file
        .oldest_entry_ms
        .map_or_else(|| "-".to_owned(), |at| ago(at, now_ms).replace(" ago", ""));
    let growth = file
        .growth_per_hour
        .map_or_else(|| "-".to_owned(), growth_text);
    // `?` only for a log that could not be read.
    let next = file
        .next_reclaim
        .map_or_else(|| "?".to_owned(), human_bytes);
    let holder = holder_cell(file);
    [
        human_bytes(file.size),
        oldest,
        growth,
        next,
        holder,
        file.method.label().to_owned(),
        file.path.clone(),
    ]
}

/// `4711 python (append)`, `4242 the daemon (append, 3 fds)`, then ` +N`
/// when N more processes hold it (the legend under the table says so).
fn holder_cell(file: &FileInfo) -> String {
    let Some(h) = file.holders.first() else {
        return "-".to_owned();
    };
    let name = if h.daemon { "the daemon" } else { &h.command };
    let mut text = format!("{} {name} ({}", h.pid, h.access.label());
    if h.descriptors > 1 {
        text.push_str(&format!(", {} fds", h.descriptors));
    }
    text.push(')');
    let more = file.holders.len() - 1;
    if more > 0 {
        text.push_str(&format!(" +{more}"));
    }
    text
}

pub(crate) fn growth_text(bytes_per_hour: i64) -> String {
    let sign = if bytes_per_hour < 0 { "-" } else { "+" };
    format!("{sign}{}/h", human_bytes(bytes_per_hour.unsigned_abs()))
}

/// Numbers right-aligned, words left; the last column unpadded.
fn write_row(out: &mut dyn Write, cells: &[String; 7], widths: &[usize; 7]) -> io::Result<()> {
    let mut line = String::new();
    for (i, (cell, width)) in cells.iter().zip(widths).enumerate() {
        let pad = width.saturating_sub(cell.chars().count());
        if i > 0 {
            line.push_str("  ");
        }
        if i < 4 {
            line.push_str(&" ".repeat(pad));
            line.push_str(cell);
        } else if i == cells.len() - 1 {
            line.push_str(cell);
        } else {
            line.push_str(cell);
            line.push_str(&" ".repeat(pad));
        }
    }
    writeln!(out, "{}", line.trim_end())
}

#[cfg(test)]
mod tests {
    use super::*;
    use v0_prune_shared::protocol::{FileHolder, HolderAccess, QueueInfo, StatusCount};

    const NOW: i64 = 1_795_860_000_000;

    fn info(path: &str, size: u64, method: FileMethod) -> FileInfo {
        FileInfo {
            path: path.into(),
            size,
            lines_removed: 0,
            bytes_reclaimed: 0,
            oldest_entry_ms: Some(NOW - 7 * 3_600_000),
            holders: Vec::new(),
            method,
            next_reclaim: Some(size / 2),
            growth_per_hour: None,
            recent: Vec::new(),
        }
    }

    #[test]
    fn the_table_is_sorted_by_size_with_units_reasons_and_totals() {
        let mut skipped = info(
            "logs/script.log",
            30,
            FileMethod::Skipped {
                reason: "held open for writing without O_APPEND by pid 9 (script)".into(),
            },
        );
        skipped.holders = vec![FileHolder {
            pid: 9,
            descriptors: 1,
            daemon: false,
            command: "script".into(),
            command_line: None,
            access: HolderAccess::Positional,
        }];
        skipped.next_reclaim = Some(0);
        let mut grown = info("logs/mergeq.log", 3 * 1024 * 1024, FileMethod::Rewrite);
        grown.growth_per_hour = Some(12 * 1024);
        let view = LsView {
            build_dir: "/p/.v0/build".into(),
            source: Source::Computed,
            daemon_pid: None,
            note: None,
            retention_secs: 6 * 3600,
            files: FilesView {
                as_of_ms: NOW,
                run_id: None,
                largest: vec![info("logs/a.log", 2048, FileMethod::NothingToDo), grown],
                skipped: vec![skipped],
                total_files: 5,
                total_bytes: 3 * 1024 * 1024 + 2048 + 30 + 100,
                total_skipped: 1,
                total_reclaimed: 0,
                total_next_reclaim: Some(1024),
                total_growth_per_hour: Some(12 * 1024),
                queue: Some(QueueInfo {
                    path: "mergeq/queue.json".into(),
                    size: 1500,
                    entries: 3,
                    by_status: vec![StatusCount {
                        status: "pending".into(),
                        entries: 3,
                    }],
                    entries_removed: 0,
                    bytes_reclaimed: 0,
                    next_removable: Some(0),
                }),
            },
            budget: None,
        };
        let mut out = Vec::new();
        write_table(&mut out, &view, NOW).expect("write");
        let text = String::from_utf8(out).expect("utf-8");
        let expected = "\
Logs of /p/.v0/build: computed now, read-only (no daemon running)
   SIZE  OLDEST       GROWTH  NEXT RUN  HOLDER                 METHOD   PATH
3.0 MiB      7h  +12.0 KiB/h   1.5 MiB  -                      rewrite  logs/mergeq.log
2.0 KiB      7h            -   1.0 KiB  -                      -        logs/a.log
   30 B      7h            -       0 B  9 script (positional)  skipped  logs/script.log
    skipped: held open for writing without O_APPEND by pid 9 (script)
... and 2 more logs (100 B)
Total: 5 logs, 3.0 MiB, 1 skipped; next run reclaims 1.0 KiB; growing +12.0 KiB/h
Merge queue mergeq/queue.json: 3 entries, 1.5 KiB (pending 3); a run now would remove 0
";
        assert_eq!(text, expected);
    }
}
