//! The Files view: what is using the space. The logs largest first (size,
//! oldest entry, growth, what the next run frees, holder, method), a skipped
//! log marked with its reason on a line of its own, the merge queue in the
//! border, and the selected file's details beside or below.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};
use v0_prune_shared::protocol::files::{FileInfo, FileMethod, FilesView, QueueInfo};
use v0_prune_shared::units::human_bytes;
use v0_prune_shared::words::{count, counted};

use super::Theme;
use super::fit::{checked, cut_words, fit, keep_end, wrap};
use crate::format::{ago, clock, span};
use crate::top::app::App;

/// The width from which the details sit beside the table.
const SIDE_BY_SIDE: u16 = 160;

/// The width of a table from which it has a Holder column.
const WITH_HOLDER: u16 = 110;

/// Width of the details' label column ("Oldest     ").
const LABEL: usize = 11;

/// A column of the table: its heading, width and alignment.
struct Column {
    heading: &'static str,
    width: usize,
    right: bool,
}

const SIZE: Column = Column {
    heading: "Size",
    width: 8,
    right: true,
};
const OLDEST: Column = Column {
    heading: "Oldest",
    width: 7,
    right: true,
};
const GROWTH: Column = Column {
    heading: "Growth",
    width: 11,
    right: true,
};
const NEXT: Column = Column {
    heading: "Next run",
    width: 8,
    right: true,
};
const HOLDER: Column = Column {
    heading: "Holder",
    width: 22,
    right: false,
};
const METHOD: Column = Column {
    heading: "Method",
    width: 8,
    right: false,
};

/// Draws the Files view in `area` and returns how many files fit in the table.
pub(super) fn draw(frame: &mut Frame, area: Rect, app: &App, theme: Theme) -> usize {
    let (table_area, details_area) = if area.width >= SIDE_BY_SIDE {
        let [table, details] =
            Layout::horizontal([Constraint::Percentage(60), Constraint::Percentage(40)])
                .areas(area);
        (table, details)
    } else {
        let details_height = if area.height >= 36 { 12 } else { 9 };
        let [table, details] =
            Layout::vertical([Constraint::Min(5), Constraint::Length(details_height)]).areas(area);
        (table, details)
    };
    let view = app.daemon.as_ref().and_then(|d| d.files.as_ref());
    let files = app.files();
    let rows = draw_table(frame, table_area, app, view, &files, theme);
    draw_details(frame, details_area, app, theme);
    rows
}

fn draw_table(
    frame: &mut Frame,
    area: Rect,
    app: &App,
    view: Option<&FilesView>,
    files: &[&FileInfo],
    theme: Theme,
) -> usize {
    let room = usize::from(area.width.saturating_sub(2));
    let mut block = Block::default()
        .borders(Borders::ALL)
        .border_style(theme.focused())
        .title(checked(
            Line::from(fit(title_choices(view, theme), room)),
            area.width.saturating_sub(2),
        ));
    if let Some(view) = view {
        let queue = view.queue.as_ref().map(queue_choices).unwrap_or_default();
        let as_of = match view.run_id {
            Some(run) => format!(" as of run #{run}, {} ", ago(view.as_of_ms, app.now_ms)),
            None => format!(" as of {} ", ago(view.as_of_ms, app.now_ms)),
        };
        let dim = |text: String| vec![Span::styled(text, theme.dim())];
        let mut choices: Vec<Vec<Span<'static>>> = Vec::new();
        choices.extend(queue.iter().map(|q| dim(format!("{as_of}·{q}"))));
        choices.extend(queue.iter().map(|q| dim(q.clone())));
        choices.push(dim(as_of));
        choices.push(Vec::new());
        block = block.title_bottom(
            checked(Line::from(fit(choices, room)), area.width.saturating_sub(2)).right_aligned(),
        );
    }
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let lines_room = usize::from(inner.height).saturating_sub(1);
    if files.is_empty() {
        let text = match view {
            Some(_) => "No logs in the build directory.",
            None => "No file facts yet: the daemon lists its logs after its first run.",
        };
        let lines: Vec<Line> = wrap(text, usize::from(inner.width).saturating_sub(1))
            .into_iter()
            .map(|l| {
                checked(
                    Line::from(Span::styled(format!(" {l}"), theme.dim())),
                    inner.width,
                )
            })
            .collect();
        frame.render_widget(Paragraph::new(lines), inner);
        return lines_room.max(1);
    }

    let width = usize::from(inner.width);
    let holder = inner.width >= WITH_HOLDER;
    let mut columns = vec![&SIZE, &OLDEST, &GROWTH, &NEXT];
    if holder {
        columns.push(&HOLDER);
    }
    columns.push(&METHOD);
    let fixed: usize = columns.iter().map(|c| c.width + 1).sum();
    // One column spare, so the last column never touches the border.
    let path_width = width.saturating_sub(fixed + 1).max(8);

    let mut lines = vec![row_line(
        &columns,
        path_width,
        "File".to_owned(),
        columns.iter().map(|c| c.heading.to_owned()).collect(),
        theme.label(),
    )];
    let mut shown = 0;
    for (index, file) in files.iter().enumerate().skip(app.files_offset) {
        let skipped = match &file.method {
            FileMethod::Skipped { reason } => Some(reason),
            _ => None,
        };
        let needs = if skipped.is_some() { 2 } else { 1 };
        if lines.len() - 1 + needs > lines_room {
            break;
        }
        let style = if index == app.files_selected {
            theme.selected()
        } else {
            Style::default()
        };
        let mut cells = vec![
            human_bytes(file.size),
            file.oldest_entry_ms
                .map_or_else(|| "—".to_owned(), |at| span(app.now_ms.saturating_sub(at))),
            growth(file.growth_per_hour),
            file.next_reclaim
                .map_or_else(|| "?".to_owned(), human_bytes),
        ];
        if holder {
            cells.push(holder_cell(file));
        }
        cells.push(file.method.label().to_owned());
        lines.push(row_line(
            &columns,
            path_width,
            keep_end(&file.path, path_width),
            cells,
            style,
        ));
        if let Some(reason) = skipped {
            let mark = vec![
                Span::styled("  ↳ skipped: ".to_owned(), theme.error().patch(style)),
                Span::styled(reason.clone(), theme.error().patch(style)),
            ];
            lines.push(Line::from(cut_words(mark, width)));
        }
        shown += 1;
    }
    let lines: Vec<Line> = lines.into_iter().map(|l| checked(l, inner.width)).collect();
    frame.render_widget(Paragraph::new(lines), inner);
    // PgUp/PgDn move by the files that fit, counting a skipped one as two rows.
    shown.max(lines_room / 2).max(1)
}

/// One row: the path, then each cell padded to its column (numbers right).
fn row_line(
    columns: &[&Column],
    path_width: usize,
    path: String,
    cells: Vec<String>,
    style: Style,
) -> Line<'static> {
    let mut text = format!("{path:<path_width$}");
    for (column, cell) in columns.iter().zip(cells) {
        let cell = keep_end(&cell, column.width);
        let width = column.width;
        text.push(' ');
        if column.right {
            text.push_str(&format!("{cell:>width$}"));
        } else {
            text.push_str(&format!("{cell:<width$}"));
        }
    }
    Line::from(Span::styled(text.trim_end().to_owned(), style))
}

/// `python 4711 append`, ` +1` when another process holds it too; `—`
/// when none. The daemon is `daemon 4242 append`. Never a word cut: a
/// command too long for the column is left out (the details pane names it).
fn holder_cell(file: &FileInfo) -> String {
    let Some(first) = file.holders.first() else {
        return "—".to_owned();
    };
    let more = if file.holders.len() > 1 {
        format!(" +{}", file.holders.len() - 1)
    } else {
        String::new()
    };
    let access = first.access.label();
    let name = if first.daemon {
        "daemon"
    } else {
        first.command.as_str()
    };
    [
        format!("{name} {} {access}{more}", first.pid),
        format!("{name} {}{more}", first.pid),
        format!("{} {access}{more}", first.pid),
        format!("{}{more}", first.pid),
    ]
    .into_iter()
    .find(|text| text.chars().count() <= HOLDER.width)
    .unwrap_or_else(|| first.pid.to_string())
}

/// `+1.2 MiB/h`, `-300 B/h`, `—` when not known yet.
fn growth(per_hour: Option<i64>) -> String {
    match per_hour {
        None => "—".to_owned(),
        Some(0) => "0 B/h".to_owned(),
        Some(n) if n > 0 => format!("+{}/h", human_bytes(n.unsigned_abs())),
        Some(n) => format!("-{}/h", human_bytes(n.unsigned_abs())),
    }
}

fn title_choices(view: Option<&FilesView>, theme: Theme) -> Vec<Vec<Span<'static>>> {
    let name = || Span::styled(" Files ".to_owned(), theme.label());
    let Some(view) = view else {
        return vec![vec![name()]];
    };
    let logs = format!(
        "{} · {}",
        counted(view.total_files, "log", "logs"),
        human_bytes(view.total_bytes)
    );
    let mut extra = Vec::new();
    if let Some(per_hour) = view.total_growth_per_hour {
        extra.push(format!("growing {}", growth(Some(per_hour))));
    }
    if let Some(next) = view.total_next_reclaim {
        extra.push(format!("next run frees {}", human_bytes(next)));
    }
    if view.total_skipped > 0 {
        extra.push(format!("{} skipped", count(view.total_skipped)));
    }
    let mut choices = Vec::new();
    for keep in (0..=extra.len()).rev() {
        let mut text = format!("· {logs}");
        for part in &extra[..keep] {
            text.push_str(" · ");
            text.push_str(part);
        }
        choices.push(vec![name(), Span::raw(format!("{text} "))]);
    }
    choices.push(vec![name()]);
    choices
}

/// The queue in the bottom border, longest wording first.
fn queue_choices(queue: &QueueInfo) -> Vec<String> {
    let entries = counted(queue.entries, "entry", "entries");
    let statuses: Vec<String> = queue
        .by_status
        .iter()
        .map(|s| format!("{} {}", count(s.entries), s.status))
        .collect();
    let size = human_bytes(queue.size);
    let mut choices = Vec::new();
    if !statuses.is_empty() {
        choices.push(format!(
            " queue {entries} ({}) · {size} ",
            statuses.join(", ")
        ));
    }
    choices.push(format!(" queue {entries} · {size} "));
    choices
}

fn draw_details(frame: &mut Frame, area: Rect, app: &App, theme: Theme) {
    let room = area.width.saturating_sub(2);
    let Some(file) = app.selected_file() else {
        let block = Block::default()
            .borders(Borders::ALL)
            .border_style(theme.unfocused())
            .title(Span::styled(" Details ", theme.label()));
        let inner = block.inner(area);
        frame.render_widget(block, area);
        let text = cut_words(
            vec![Span::styled(
                " The selected file's holders, method and runs show here.".to_owned(),
                theme.dim(),
            )],
            usize::from(inner.width),
        );
        frame.render_widget(
            Paragraph::new(checked(Line::from(text), inner.width)),
            inner,
        );
        return;
    };
    let title = keep_end(&file.path, usize::from(room).saturating_sub(2));
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(theme.unfocused())
        .title(checked(
            Line::from(Span::styled(format!(" {title} "), theme.label())),
            room,
        ))
        .title_bottom(checked(
            Line::from(fit(
                vec![
                    vec![Span::styled(
                        " Enter: its last lines ".to_owned(),
                        theme.dim(),
                    )],
                    Vec::new(),
                ],
                usize::from(room),
            ))
            .right_aligned(),
            room,
        ));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let width = usize::from(inner.width);
    let mut lines = Vec::new();
    for (label, text, style) in details(app, file, theme) {
        for (i, part) in wrap(&text, width.saturating_sub(LABEL))
            .into_iter()
            .enumerate()
        {
            let label = if i == 0 { label } else { "" };
            lines.push(checked(
                Line::from(vec![
                    Span::styled(format!("{label:<LABEL$}"), theme.label()),
                    Span::styled(part, style),
                ]),
                inner.width,
            ));
        }
    }
    frame.render_widget(Paragraph::new(lines), inner);
}

/// The selected file's facts, one labelled sentence each, the ones a
/// short pane must show first.
fn details(app: &App, file: &FileInfo, theme: Theme) -> Vec<(&'static str, String, Style)> {
    let plain = Style::default();
    let mut rows = Vec::new();
    let mut size = human_bytes(file.size);
    if let Some(per_hour) = file.growth_per_hour {
        size.push_str(&format!(" · growing {}", growth(Some(per_hour))));
    }
    match file.oldest_entry_ms {
        Some(at) => size.push_str(&format!(
            " · oldest entry {} ({})",
            ago(at, app.now_ms),
            clock(at, app.now_ms, &app.tz)
        )),
        None => size.push_str(" · no timestamped entry read"),
    }
    rows.push(("Size", size, plain));
    if file.holders.is_empty() {
        rows.push(("Holder", "none: no process has it open".to_owned(), plain));
    }
    // One line per process, its descriptors counted.
    for holder in &file.holders {
        let line = holder
            .command_line
            .clone()
            .unwrap_or_else(|| holder.command.clone());
        let fds = if holder.descriptors > 1 {
            format!(", {} fds", holder.descriptors)
        } else {
            String::new()
        };
        let who = if holder.daemon { "the daemon, " } else { "" };
        rows.push((
            "Holder",
            format!(
                "pid {} ({who}{}{fds}): {line}",
                holder.pid,
                holder.access.label()
            ),
            plain,
        ));
    }
    let method_style = match file.method {
        FileMethod::Skipped { .. } => theme.error(),
        _ => plain,
    };
    rows.push(("Method", file.method.meaning(), method_style));
    let next = match file.next_reclaim {
        Some(0) => "the next frees nothing yet".to_owned(),
        Some(bytes) => format!("the next frees {}", human_bytes(bytes)),
        None => "the next frees what it finds expired".to_owned(),
    };
    rows.push((
        "Last run",
        format!(
            "removed {}, {} · {next}",
            counted(file.lines_removed, "line", "lines"),
            human_bytes(file.bytes_reclaimed)
        ),
        plain,
    ));
    if !file.recent.is_empty() {
        let runs: Vec<String> = file
            .recent
            .iter()
            .rev()
            .map(|run| format!("#{} {}", run.run_id, human_bytes(run.bytes_reclaimed)))
            .collect();
        rows.push(("Reclaimed", runs.join(" · "), plain));
    }
    rows
}
