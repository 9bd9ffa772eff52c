//! The run history table: one row per run, newest first, scrollable.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, Table};
use v0_prune_shared::protocol::{RunOutcome, RunRecord};
use v0_prune_shared::units::human_bytes;

use v0_prune_shared::words::count;

use super::Theme;
use crate::format::{clock, took};
use crate::top::app::{App, Link, Pane};

/// Draws the table and returns how many runs fit.
pub(super) fn draw(frame: &mut Frame, area: Rect, app: &App, theme: Theme, wide: bool) -> usize {
    let focused = app.focus == Pane::History;
    let title = format!(" Run history ({}) ", app.history.len());
    let mut block = Block::default()
        .borders(Borders::ALL)
        .border_style(if focused {
            theme.focused()
        } else {
            theme.unfocused()
        })
        .title(Span::styled(title, theme.label()));
    if !app.history.is_empty() && app.history.len() > usize::from(area.height.saturating_sub(3)) {
        block = block.title_bottom(
            Line::from(Span::styled(
                format!(" {}/{} ", app.history_selected + 1, app.history.len()),
                theme.dim(),
            ))
            .right_aligned(),
        );
    }
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let rows = usize::from(inner.height.saturating_sub(1));
    if app.history.is_empty() {
        // A refused dashboard knows nothing of the runs: say so, not "none".
        let empty = if matches!(app.link, Link::Refused { .. }) {
            " Runs unknown: the daemon refused this dashboard (see above)."
        } else {
            " No runs recorded yet."
        };
        frame.render_widget(Paragraph::new(Span::styled(empty, theme.dim())), inner);
        return rows;
    }

    let mut header = vec![
        "Start",
        "Took",
        "Logs",
        "Lines",
        "Queue",
        "Reclaimed",
        "Skip/Err",
    ];
    let mut widths = vec![
        Constraint::Length(11),
        Constraint::Length(6),
        Constraint::Length(5),
        Constraint::Length(8),
        Constraint::Length(5),
        Constraint::Length(10),
        Constraint::Length(8),
    ];
    if wide {
        header.insert(0, "Run");
        widths.insert(0, Constraint::Length(6));
        header.insert(3, "Why");
        widths.insert(3, Constraint::Length(9));
        header.push("Outcome");
        widths.push(Constraint::Min(8));
    }
    let table_rows = app
        .history
        .iter()
        .enumerate()
        .skip(app.history_offset)
        .take(rows)
        .map(|(index, record)| {
            let row = Row::new(cells(app, record, theme, wide));
            if focused && index == app.history_selected {
                row.style(theme.selected())
            } else {
                row
            }
        });
    let table = Table::new(table_rows, widths)
        .header(Row::new(header).style(theme.label()))
        .column_spacing(1);
    frame.render_widget(table, inner);
    rows
}

fn cells(app: &App, record: &RunRecord, theme: Theme, wide: bool) -> Vec<Cell<'static>> {
    // Errors: what stopped a job, and what could not be pruned (a full disk).
    let errors = record.errors.len() as u64 + record.failed_total;
    let skip_err = Line::from(vec![
        Span::raw(count(record.skipped_total)),
        Span::raw("/"),
        if errors > 0 {
            Span::styled(errors.to_string(), theme.error())
        } else {
            Span::raw("0")
        },
    ]);
    let bytes = if record.dry_run {
        Span::styled(
            format!("({})", human_bytes(record.bytes_reclaimed)),
            theme.dim(),
        )
    } else {
        Span::styled(human_bytes(record.bytes_reclaimed), theme.bytes())
    };
    let mut cells = vec![
        Cell::from(clock(record.started_at_ms, app.now_ms, &app.tz)),
        Cell::from(took(record.duration_ms)),
        Cell::from(count(record.log_files_pruned)),
        Cell::from(count(record.log_lines_removed)),
        Cell::from(count(record.queue_entries_removed)),
        Cell::from(Line::from(bytes)),
        Cell::from(skip_err),
    ];
    if wide {
        cells.insert(0, Cell::from(format!("#{}", record.run_id)));
        cells.insert(3, Cell::from(record.trigger.label()));
        let outcome = match record.outcome {
            RunOutcome::Ok if record.dry_run => Span::raw("dry run"),
            RunOutcome::Ok => Span::raw(RunOutcome::Ok.label()),
            outcome @ (RunOutcome::WithErrors | RunOutcome::Panicked) => {
                Span::styled(outcome.label(), theme.error())
            }
        };
        cells.push(Cell::from(Line::from(outcome)));
    }
    cells
}
