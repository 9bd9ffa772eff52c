//! The summary: the run in progress (a gauge and the item being pruned), the
//! last and next run, bytes reclaimed, and a chart of bytes per run.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Bar, BarChart, Block, Borders, Gauge, Paragraph, Sparkline};
use v0_prune_shared::protocol::{DaemonState, RunOutcome, RunRecord, Snapshot};
use v0_prune_shared::units::human_bytes;
use v0_prune_shared::words::counted;

use super::Theme;
use super::fit::{checked, cut_str, fit, keep_end, wrap};
use crate::format::{ago, clock, retry, span, took, until};
use crate::top::app::{App, Link, Status};

/// Width of the label column ("Last run   ").
const LABEL: u16 = 11;

/// One row of the summary.
enum Row {
    Text(Line<'static>),
    /// The progress gauge of the run in progress.
    Gauge {
        ratio: f64,
        label: String,
    },
    /// The bytes-per-run sparkline (narrow screens; wide ones chart beside).
    Spark,
}

/// How tall the summary is for this state: its rows plus borders, and on
/// wide screens at least enough for a readable chart.
pub(super) fn height(app: &App, wide: bool, screen: Rect) -> u16 {
    let text_width = if wide { screen.width / 2 } else { screen.width };
    let width = usize::from(text_width.saturating_sub(2 + LABEL));
    let rows = rows(app, Theme::new(false), !wide, width).len();
    let mut height = u16::try_from(rows).unwrap_or(u16::MAX).saturating_add(2);
    if wide {
        height = height.max(if screen.height >= 40 { 10 } else { 8 });
    }
    height
}

pub(super) fn draw(frame: &mut Frame, area: Rect, app: &App, theme: Theme, wide: bool) {
    let (text_area, chart_area) = if wide {
        let [left, right] =
            Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)])
                .areas(area);
        (left, Some(right))
    } else {
        (area, None)
    };
    let mut block = Block::default()
        .borders(Borders::ALL)
        .border_style(theme.unfocused())
        .title(Span::styled(" Prune runs ", theme.label()));
    if let Some(notice) = &app.notice {
        let style = if notice.is_error {
            theme.error()
        } else {
            theme.key()
        };
        // A notice longer than the border is cut after a whole word.
        let room = text_area.width.saturating_sub(2);
        let words = cut_str(&notice.text, usize::from(room).saturating_sub(2));
        block = block.title_bottom(
            checked(Line::from(Span::styled(format!(" {words} "), style)), room).right_aligned(),
        );
    }
    let inner = block.inner(text_area);
    frame.render_widget(block, text_area);

    let rows = rows(
        app,
        theme,
        !wide,
        usize::from(inner.width.saturating_sub(LABEL)),
    );
    let constraints = rows.iter().map(|_| Constraint::Length(1));
    let areas = Layout::vertical(constraints).split(inner);
    for (row, row_area) in rows.into_iter().zip(areas.iter().copied()) {
        match row {
            Row::Text(line) => {
                frame.render_widget(Paragraph::new(checked(line, row_area.width)), row_area);
            }
            Row::Gauge { ratio, label } => {
                let [name, bar, _, text] = Layout::horizontal([
                    Constraint::Length(LABEL),
                    Constraint::Length(bar_width(row_area.width)),
                    Constraint::Length(1),
                    Constraint::Min(1),
                ])
                .areas(row_area);
                frame.render_widget(Paragraph::new(label_span("Progress", theme)), name);
                let ratio = ratio.clamp(0.0, 1.0);
                let gauge = Gauge::default()
                    .ratio(ratio)
                    .label(format!("{:.0}%", ratio * 100.0))
                    .gauge_style(theme.chart())
                    .use_unicode(true);
                frame.render_widget(gauge, bar);
                frame.render_widget(Paragraph::new(checked(label.into(), text.width)), text);
            }
            Row::Spark => draw_spark_row(frame, row_area, app, theme),
        }
    }
    if let Some(chart_area) = chart_area {
        draw_chart(frame, chart_area, app, theme);
    }
}

fn label_span(text: &str, theme: Theme) -> Span<'static> {
    Span::styled(
        format!("{text:<width$}", width = usize::from(LABEL)),
        theme.label(),
    )
}

fn text(label: &str, rest: Vec<Span<'static>>, theme: Theme) -> Row {
    let mut spans = vec![label_span(label, theme)];
    spans.extend(rest);
    Row::Text(Line::from(spans))
}

/// A row with the first of `choices` (longest wording first) that fits `width`.
fn fitted(label: &str, choices: Vec<Vec<Span<'static>>>, width: usize, theme: Theme) -> Row {
    text(label, fit(choices, width), theme)
}

/// How wide the gauge's bar is in a summary `inner` columns wide.
fn bar_width(inner: u16) -> u16 {
    (inner / 5).clamp(10, 40)
}

fn rows(app: &App, theme: Theme, spark: bool, width: usize) -> Vec<Row> {
    let dim = |s: String| Span::styled(s, theme.dim());
    let mut rows = Vec::new();
    match (&app.link, app.status()) {
        (Link::Connected, _) => {
            if let Some(run) = app.current_run() {
                let ratio = if run.files_total == 0 {
                    0.0
                } else {
                    run.files_done as f64 / run.files_total as f64
                };
                let files = format!("{}/{} files", run.files_done, run.files_total);
                let so_far = human_bytes(run.bytes_reclaimed);
                let inner = u16::try_from(width)
                    .unwrap_or(u16::MAX)
                    .saturating_add(LABEL);
                let room = width.saturating_sub(usize::from(bar_width(inner) + 1));
                let label = fit(
                    vec![
                        vec![Span::raw(format!(
                            "run #{} ({}) · {files} · {so_far} so far",
                            run.run_id,
                            run.trigger.label(),
                        ))],
                        vec![Span::raw(format!(
                            "run #{} · {files} · {so_far}",
                            run.run_id
                        ))],
                        vec![Span::raw(format!("{files} · {so_far}"))],
                        vec![Span::raw(files)],
                    ],
                    room,
                )
                .into_iter()
                .map(|s| s.content.into_owned())
                .collect();
                rows.push(Row::Gauge { ratio, label });
                let item = run
                    .current
                    .clone()
                    .or_else(|| app.last_pruned.clone())
                    .unwrap_or_else(|| "listing files...".to_owned());
                let started = dim(format!(" · started {}", ago(run.started_at_ms, app.now_ms)));
                rows.push(fitted(
                    "Pruning",
                    vec![
                        vec![Span::raw(item.clone()), started],
                        vec![Span::raw(keep_end(&item, width))],
                    ],
                    width,
                    theme,
                ));
            }
        }
        (_, Status::Starting) => {
            let since = app.start_requested_at_ms.unwrap_or(app.now_ms);
            let starting = || Span::styled("starting...".to_owned(), theme.key());
            rows.push(fitted(
                "Daemon",
                vec![
                    vec![
                        starting(),
                        dim(format!(" (asked {})", ago(since, app.now_ms))),
                    ],
                    vec![starting()],
                ],
                width,
                theme,
            ));
        }
        (Link::Connecting, _) => rows.push(text("Daemon", vec![Span::raw("connecting...")], theme)),
        (Link::NotRunning { retry_at_ms }, _) => {
            let not_running = || Span::styled("not running".to_owned(), theme.error());
            let press_s = || {
                [
                    Span::raw(" — press "),
                    Span::styled("s".to_owned(), theme.key()),
                    Span::raw(" to start it"),
                ]
            };
            let mut full = vec![not_running()];
            full.extend(press_s());
            let shorter = full.clone();
            full.push(dim(format!(
                " · looking again {}",
                retry(*retry_at_ms, app.now_ms)
            )));
            let shortest = vec![
                not_running(),
                Span::raw(" — "),
                Span::styled("s".to_owned(), theme.key()),
                Span::raw(" starts it"),
            ];
            rows.push(fitted(
                "Daemon",
                vec![full, shorter, shortest],
                width,
                theme,
            ));
        }
        (
            Link::Disconnected {
                reason,
                attempt,
                retry_at_ms,
            },
            _,
        ) => {
            let disconnected = || Span::styled("disconnected".to_owned(), theme.error());
            let reconnecting = || {
                Span::raw(format!(
                    " · reconnecting {}",
                    retry(*retry_at_ms, app.now_ms)
                ))
            };
            rows.push(fitted(
                "Daemon",
                vec![
                    vec![
                        disconnected(),
                        reconnecting(),
                        dim(format!(" (attempt {})", attempt + 1)),
                    ],
                    vec![disconnected(), reconnecting()],
                ],
                width,
                theme,
            ));
            for line in wrap(reason, width) {
                rows.push(text("", vec![dim(line)], theme));
            }
        }
        (
            Link::Refused {
                reason,
                retry_at_ms,
            },
            _,
        ) => {
            let refused = || {
                Span::styled(
                    "running, but refused this dashboard".to_owned(),
                    theme.error(),
                )
            };
            rows.push(fitted(
                "Daemon",
                vec![
                    vec![
                        refused(),
                        dim(format!(
                            " · trying again {}",
                            retry(*retry_at_ms, app.now_ms)
                        )),
                    ],
                    vec![refused()],
                    vec![Span::styled(
                        "refused this dashboard".to_owned(),
                        theme.error(),
                    )],
                ],
                width,
                theme,
            ));
            for line in wrap(&format!("why: {reason}"), width) {
                rows.push(text("", vec![dim(line)], theme));
            }
        }
        (Link::Incompatible { message }, _) => {
            for (i, line) in wrap(message, width).into_iter().enumerate() {
                let label = if i == 0 { "Daemon" } else { "" };
                rows.push(text(label, vec![Span::styled(line, theme.error())], theme));
            }
        }
    }
    if let Some(daemon) = &app.daemon {
        rows.push(last_run_row(app, daemon, theme, width));
        if app.link == Link::Connected {
            rows.push(next_run_row(app, daemon, theme, width));
        }
        rows.push(reclaimed_row(daemon, theme, width));
        // Wide screens have the room for the all-time detail.
        if !spark && daemon.totals.runs > 0 {
            let totals = &daemon.totals;
            let (lines, entries) = (totals.log_lines_removed, totals.queue_entries_removed);
            let log_lines = counted(lines, "log line", "log lines");
            let queue_entries = counted(entries, "queue entry", "queue entries");
            let lines = counted(lines, "line", "lines");
            let entries = counted(entries, "entry", "entries");
            rows.push(fitted(
                "Removed",
                vec![
                    vec![Span::raw(format!(
                        "{log_lines} · {queue_entries}, all-time"
                    ))],
                    vec![Span::raw(format!("{lines} · {queue_entries}"))],
                    vec![Span::raw(format!("{lines} · {entries}"))],
                ],
                width,
                theme,
            ));
            let since = || {
                Span::raw(format!(
                    "since {}",
                    clock(totals.since_ms, app.now_ms, &app.tz)
                ))
            };
            rows.push(fitted(
                "Counting",
                vec![
                    vec![
                        since(),
                        dim(format!(" ({})", ago(totals.since_ms, app.now_ms))),
                    ],
                    vec![since()],
                ],
                width,
                theme,
            ));
        }
    }
    // The size budget's warning: the logs are still over it, and why.
    if let Some(warning) = app.daemon.as_ref().and_then(|d| d.budget_warning()) {
        for (i, line) in wrap(&warning, width).into_iter().enumerate() {
            let label = if i == 0 { "Budget" } else { "" };
            rows.push(text(label, vec![Span::styled(line, theme.error())], theme));
        }
    }
    if spark && !app.history.is_empty() {
        rows.push(Row::Spark);
    }
    rows
}

fn last_run_row(app: &App, daemon: &Snapshot, theme: Theme, width: usize) -> Row {
    let Some(last) = &daemon.last_run else {
        return text(
            "Last run",
            vec![Span::styled("none yet".to_owned(), theme.dim())],
            theme,
        );
    };
    let sep = || Span::styled(" · ".to_owned(), theme.dim());
    let at = || Span::raw(clock(last.finished_at_ms, app.now_ms, &app.tz));
    let ago = || Span::raw(ago(last.finished_at_ms, app.now_ms));
    let bytes = || Span::styled(human_bytes(last.bytes_reclaimed), theme.bytes());
    let outcome = || outcome_span(last, theme);
    fitted(
        "Last run",
        vec![
            vec![
                at(),
                sep(),
                ago(),
                sep(),
                Span::raw(format!("took {}", took(last.duration_ms))),
                sep(),
                outcome(),
                sep(),
                bytes(),
            ],
            vec![at(), sep(), ago(), sep(), outcome(), sep(), bytes()],
            vec![ago(), sep(), outcome(), sep(), bytes()],
            vec![outcome(), sep(), bytes()],
        ],
        width,
        theme,
    )
}

fn next_run_row(app: &App, daemon: &Snapshot, theme: Theme, width: usize) -> Row {
    let choices = match (daemon.state, daemon.next_run_at_ms) {
        (DaemonState::Draining, _) => [
            "none — draining: the daemon exits after this run",
            "none — draining: exits after this run",
            "none — draining",
        ]
        .into_iter()
        .map(|text| vec![Span::styled(text.to_owned(), theme.key())])
        .collect(),
        (_, Some(at)) => {
            let when = Span::raw(until(at, app.now_ms));
            let clock = Span::styled(
                format!(" · at {}", clock(at, app.now_ms, &app.tz)),
                theme.dim(),
            );
            let every = Span::styled(
                format!(
                    " · every {}",
                    span(i64::try_from(daemon.interval_secs).unwrap_or(0) * 1000)
                ),
                theme.dim(),
            );
            vec![
                vec![when.clone(), clock.clone(), every],
                vec![when.clone(), clock],
                vec![when],
            ]
        }
        (_, None) => vec![vec![Span::styled("not scheduled".to_owned(), theme.dim())]],
    };
    fitted("Next run", choices, width, theme)
}

fn reclaimed_row(daemon: &Snapshot, theme: Theme, width: usize) -> Row {
    let totals = &daemon.totals;
    if totals.runs == 0 {
        return text(
            "Reclaimed",
            vec![Span::styled("nothing yet".to_owned(), theme.dim())],
            theme,
        );
    }
    let last = daemon.last_run.as_ref().map_or(0, |r| r.bytes_reclaimed);
    let last = || Span::styled(human_bytes(last), theme.bytes());
    let all = || Span::styled(human_bytes(totals.bytes_reclaimed), theme.bytes());
    let runs = counted(totals.runs, "run", "runs");
    fitted(
        "Reclaimed",
        vec![
            vec![
                last(),
                Span::raw(" last run · "),
                all(),
                Span::raw(format!(" all-time over {runs}")),
            ],
            vec![
                last(),
                Span::raw(" last run · "),
                all(),
                Span::raw(format!(" in {runs}")),
            ],
            vec![last(), Span::raw(" last · "), all(), Span::raw(" total")],
            vec![all(), Span::raw(" total")],
        ],
        width,
        theme,
    )
}

fn outcome_span(record: &RunRecord, theme: Theme) -> Span<'static> {
    match record.outcome {
        RunOutcome::Ok if record.dry_run => {
            Span::raw(format!("{} (dry run)", record.outcome.label()))
        }
        RunOutcome::Ok => Span::raw(record.outcome.label()),
        // How many, where the history's column has room only for the word.
        RunOutcome::WithErrors => Span::styled(
            counted(record.errors.len().max(1) as u64, "error", "errors"),
            theme.error(),
        ),
        RunOutcome::Panicked => Span::styled(record.outcome.label(), theme.error()),
    }
}

/// Run ids and bytes reclaimed of the last `n` runs, oldest first.
fn bytes_per_run(app: &App, n: usize) -> Vec<(u64, u64)> {
    let mut values: Vec<(u64, u64)> = app
        .history
        .iter()
        .take(n)
        .map(|r| (r.run_id, if r.dry_run { 0 } else { r.bytes_reclaimed }))
        .collect();
    values.reverse();
    values
}

fn bytes_only(runs: &[(u64, u64)]) -> Vec<u64> {
    runs.iter().map(|&(_, bytes)| bytes).collect()
}

/// `3.4M`, `717K`, `12`: bytes in at most five columns, for bar values.
fn compact_bytes(bytes: u64) -> String {
    let human = human_bytes(bytes);
    match human.split_once(' ') {
        Some((number, "B")) => number.to_owned(),
        Some((number, unit)) => format!("{number}{}", &unit[..1]),
        None => human,
    }
}

fn draw_spark_row(frame: &mut Frame, area: Rect, app: &App, theme: Theme) {
    let all = bytes_only(&bytes_per_run(app, usize::from(area.width)));
    let max_label = format!(
        " max {}",
        human_bytes(all.iter().copied().max().unwrap_or(0))
    );
    let label_width = u16::try_from(max_label.chars().count()).unwrap_or(0);
    let [name, spark, max] = Layout::horizontal([
        Constraint::Length(LABEL),
        Constraint::Min(1),
        Constraint::Length(label_width),
    ])
    .areas(area);
    let values = bytes_only(&bytes_per_run(app, usize::from(spark.width)));
    frame.render_widget(Paragraph::new(label_span("Per run", theme)), name);
    frame.render_widget(
        Sparkline::default().data(&values).style(theme.chart()),
        spark,
    );
    frame.render_widget(Paragraph::new(Span::styled(max_label, theme.dim())), max);
}

/// Wide screens: a bar per recent run, labelled with its id and bytes when
/// the bars are wide enough to hold them.
fn draw_chart(frame: &mut Frame, area: Rect, app: &App, theme: Theme) {
    const GAP: u16 = 1;
    let inner_width = area.width.saturating_sub(2);
    let most = usize::from((inner_width + GAP) / (1 + GAP));
    let runs = bytes_per_run(app, most);
    let max = runs.iter().map(|&(_, bytes)| bytes).max().unwrap_or(0);
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(theme.unfocused())
        .title(Span::styled(" Bytes reclaimed per run ", theme.label()))
        .title_bottom({
            let room = usize::from(area.width.saturating_sub(2));
            let max = human_bytes(max);
            let words = fit(
                vec![
                    vec![Span::raw(format!(
                        " last {} · max {max} ",
                        counted(runs.len() as u64, "run", "runs")
                    ))],
                    vec![Span::raw(format!(" max {max} "))],
                    Vec::new(),
                ],
                room,
            );
            let text: String = words.iter().map(|s| s.content.as_ref()).collect();
            checked(
                Line::from(Span::styled(text, theme.dim())),
                area.width.saturating_sub(2),
            )
            .right_aligned()
        });
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let Some(count) = u16::try_from(runs.len()).ok().filter(|n| *n > 0) else {
        frame.render_widget(
            Paragraph::new(Span::styled(" no runs yet", theme.dim())),
            inner,
        );
        return;
    };
    let bar_width = ((inner.width + GAP) / count)
        .saturating_sub(GAP)
        .clamp(1, 9);
    let bars: Vec<Bar> = runs
        .iter()
        .map(|&(run_id, bytes)| {
            let mut bar = Bar::new(bytes).text_value(if bar_width >= 5 {
                compact_bytes(bytes)
            } else {
                String::new()
            });
            if bar_width >= 3 {
                bar = bar.label(Line::from(format!("#{run_id}")));
            }
            bar
        })
        .collect();
    let chart = BarChart::new(bars)
        .bar_width(bar_width)
        .bar_gap(GAP)
        .max(max.max(1))
        .bar_style(theme.chart())
        .value_style(theme.selected())
        .label_style(theme.dim());
    frame.render_widget(chart, inner);
}
