//! Colours, or their absence: with `NO_COLOR` set, only bold, dim and reverse
//! video remain, so every state still stands out on a monochrome screen.

use ratatui::style::{Color, Modifier, Style};

use crate::top::app::Status;

/// The styles of one screen, with or without colour.
#[derive(Debug, Clone, Copy)]
pub struct Theme {
    color: bool,
}

impl Theme {
    /// A theme that uses colour only when `color` is true.
    pub fn new(color: bool) -> Self {
        Self { color }
    }

    fn fg(self, color: Color) -> Style {
        if self.color {
            Style::new().fg(color)
        } else {
            Style::new()
        }
    }

    /// Titles and labels.
    pub fn label(self) -> Style {
        self.fg(Color::Cyan).add_modifier(Modifier::BOLD)
    }

    /// Secondary text: units, hints, stale figures.
    pub fn dim(self) -> Style {
        if self.color {
            Style::new().fg(Color::DarkGray)
        } else {
            Style::new().add_modifier(Modifier::DIM)
        }
    }

    /// Bytes reclaimed: the figure the dashboard exists for.
    pub fn bytes(self) -> Style {
        self.fg(Color::Green).add_modifier(Modifier::BOLD)
    }

    /// Errors and warnings.
    pub fn error(self) -> Style {
        self.fg(Color::Red).add_modifier(Modifier::BOLD)
    }

    /// Keys in the key bar and the help.
    pub fn key(self) -> Style {
        self.fg(Color::Yellow).add_modifier(Modifier::BOLD)
    }

    /// The border of the focused pane.
    pub fn focused(self) -> Style {
        if self.color {
            Style::new().fg(Color::Cyan)
        } else {
            Style::new().add_modifier(Modifier::BOLD)
        }
    }

    /// The border of a pane without focus.
    pub fn unfocused(self) -> Style {
        self.dim()
    }

    /// The selected history row.
    pub fn selected(self) -> Style {
        Style::new().add_modifier(Modifier::REVERSED)
    }

    /// The sparkline and the gauge.
    pub fn chart(self) -> Style {
        self.fg(Color::Green)
    }

    /// The state badge in the header.
    pub fn status(self, status: Status) -> Style {
        let color = match status {
            Status::Idle => Color::Green,
            Status::Running => Color::Cyan,
            Status::Draining | Status::Starting | Status::Connecting | Status::Refused => {
                Color::Yellow
            }
            Status::NotRunning | Status::Disconnected | Status::Incompatible => Color::Red,
        };
        if self.color {
            Style::new()
                .fg(Color::Black)
                .bg(color)
                .add_modifier(Modifier::BOLD)
        } else {
            Style::new().add_modifier(Modifier::REVERSED | Modifier::BOLD)
        }
    }
}
