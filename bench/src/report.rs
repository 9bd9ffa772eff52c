//! What a case found, judged against its target, as a table and as JSON.

use serde::Serialize;

use crate::measure::median;

/// What a measurement counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    /// Wall-clock milliseconds.
    Ms,
    /// Megabytes (10^6 bytes) of resident memory.
    Mb,
    /// Percent of one CPU.
    Percent,
    /// Kibibytes (1024 bytes) of data: an encoded message's size.
    Kib,
}

/// One contender's samples.
#[derive(Debug, Clone, Serialize)]
pub struct Measured {
    /// What ran (`prune_all (rewrite)`, `cp`, ...).
    pub name: String,
    /// What the samples count.
    pub unit: Unit,
    /// Median of the samples; `None` only without samples.
    pub median: Option<f64>,
    /// Every kept sample, in the order they were taken.
    pub samples: Vec<f64>,
}

impl Measured {
    /// A contender's samples, with their median.
    pub fn new(name: impl Into<String>, unit: Unit, samples: Vec<f64>) -> Self {
        Self {
            name: name.into(),
            unit,
            median: median(&samples),
            samples,
        }
    }
}

/// What a row must show to meet the target.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum Target {
    /// ours / baseline ≤ value.
    RatioAtMost(f64),
    /// baseline / ours ≥ value ("N× faster").
    FasterBy(f64),
    /// ours ≤ value, in the row's unit.
    AtMost(f64),
    /// No target: shown for context.
    Info,
}

impl Target {
    /// The target as the table shows it.
    pub fn describe(&self, unit: Unit) -> String {
        match *self {
            Target::RatioAtMost(x) => format!("≤ {}×", trim(x)),
            Target::FasterBy(x) => format!("≥ {}× faster", trim(x)),
            Target::AtMost(x) => format!("≤ {}", format_value(x, unit)),
            Target::Info => "—".into(),
        }
    }
}

/// Whether a row met its target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Target met.
    Met,
    /// Target missed.
    Missed,
    /// No target (context only).
    Info,
    /// Not measured: a baseline tool is missing.
    Skipped,
}

/// One line of the table: our measurement against a baseline (or a limit).
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// Our code.
    pub ours: Measured,
    /// The baseline it is compared with, if any.
    pub baseline: Option<Measured>,
    /// ours / baseline, medians.
    pub ratio: Option<f64>,
    /// The target.
    pub target: Target,
    /// The target as text.
    pub target_text: String,
    /// Met or missed.
    pub verdict: Verdict,
    /// Anything a reader needs to interpret the row.
    pub note: Option<String>,
}

impl Row {
    /// A row comparing `ours` with `baseline`, judged against `target`.
    pub fn compare(ours: Measured, baseline: Measured, target: Target) -> Self {
        let ratio = match (ours.median, baseline.median) {
            (Some(a), Some(b)) if b > 0.0 => Some(a / b),
            _ => None,
        };
        let verdict = match (target, ratio) {
            (Target::Info, _) => Verdict::Info,
            (Target::RatioAtMost(x), Some(r)) => judge(r <= x),
            (Target::FasterBy(x), Some(r)) => judge(r > 0.0 && 1.0 / r >= x),
            (Target::AtMost(x), _) => judge(ours.median.is_some_and(|m| m <= x)),
            (_, None) => Verdict::Skipped,
        };
        Self {
            target_text: target.describe(ours.unit),
            ours,
            baseline: Some(baseline),
            ratio,
            target,
            verdict,
            note: None,
        }
    }

    /// A row judged on its own value (memory), without a baseline.
    pub fn alone(ours: Measured, target: Target) -> Self {
        let verdict = match target {
            Target::AtMost(x) => judge(ours.median.is_some_and(|m| m <= x)),
            _ => Verdict::Info,
        };
        Self {
            target_text: target.describe(ours.unit),
            ours,
            baseline: None,
            ratio: None,
            target,
            verdict,
            note: None,
        }
    }

    /// A row whose baseline could not run (the tool is missing).
    pub fn skipped(ours: Measured, baseline: &str, target: Target, why: String) -> Self {
        Self {
            target_text: target.describe(ours.unit),
            ours,
            baseline: Some(Measured::new(baseline, Unit::Ms, Vec::new())),
            ratio: None,
            target,
            verdict: Verdict::Skipped,
            note: Some(why),
        }
    }

    /// The same row with a note.
    pub fn with_note(mut self, note: impl Into<String>) -> Self {
        self.note = Some(note.into());
        self
    }
}

fn judge(met: bool) -> Verdict {
    if met { Verdict::Met } else { Verdict::Missed }
}

/// How a case ended.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Outcome {
    /// Measured: the rows.
    Measured {
        /// Its rows.
        rows: Vec<Row>,
    },
    /// Not measurable in this run (the binaries it runs are missing).
    NotMeasured {
        /// The target, as text.
        target: String,
        /// What it waits for.
        needs: String,
    },
    /// The case failed; the error.
    Failed {
        /// What went wrong.
        error: String,
    },
}

/// One case's result.
#[derive(Debug, Clone, Serialize)]
pub struct CaseResult {
    /// Stable identifier, for comparing runs.
    pub id: String,
    /// What the case does, with its sizes.
    pub title: String,
    /// Rows, or why there are none.
    #[serde(flatten)]
    pub outcome: Outcome,
    /// Observations: sizes, counts, sanity checks.
    pub notes: Vec<String>,
    /// Seconds the case took, setup included.
    pub seconds: f64,
}

/// The table printed at the end of a run.
pub fn table(cases: &[CaseResult]) -> String {
    let header = [
        "case", "ours", "median", "baseline", "median", "ratio", "target", "result",
    ];
    let mut lines: Vec<[String; 8]> = Vec::new();
    for case in cases {
        match &case.outcome {
            Outcome::Measured { rows } => {
                for (i, row) in rows.iter().enumerate() {
                    let title = if i == 0 {
                        case.title.clone()
                    } else {
                        String::new()
                    };
                    lines.push(row_cells(title, row));
                }
            }
            Outcome::NotMeasured { target, needs } => lines.push([
                case.title.clone(),
                "—".into(),
                "—".into(),
                "—".into(),
                "—".into(),
                "—".into(),
                target.clone(),
                format!("not measured: {needs}"),
            ]),
            Outcome::Failed { error } => lines.push([
                case.title.clone(),
                "—".into(),
                "—".into(),
                "—".into(),
                "—".into(),
                "—".into(),
                "—".into(),
                format!("FAILED: {error}"),
            ]),
        }
    }
    let mut widths = header.map(|h| h.chars().count());
    for line in &lines {
        for (w, cell) in widths.iter_mut().zip(line) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut push = |cells: &[String]| {
        let mut text = String::from("|");
        for (cell, w) in cells.iter().zip(widths) {
            let pad = w - cell.chars().count();
            text.push_str(&format!(" {cell}{} |", " ".repeat(pad)));
        }
        out.push_str(&text);
        out.push('\n');
    };
    push(&header.map(String::from));
    push(&widths.map(|w| "-".repeat(w)));
    for line in &lines {
        push(line);
    }
    out
}

fn row_cells(title: String, row: &Row) -> [String; 8] {
    let value = |m: &Measured| match m.median {
        Some(v) => format_value(v, m.unit),
        None => "—".into(),
    };
    let (base_name, base_median) = match &row.baseline {
        Some(b) => (b.name.clone(), value(b)),
        None => ("—".into(), "—".into()),
    };
    let ratio = match (row.ratio, row.target) {
        (Some(r), Target::FasterBy(_)) if r > 0.0 && r <= 1.0 => {
            format!("{}× ({}× faster)", ratio_text(r), ratio_text(1.0 / r))
        }
        (Some(r), Target::FasterBy(_)) => format!("{}× (slower)", ratio_text(r)),
        (Some(r), _) => format!("{}×", ratio_text(r)),
        (None, _) => "—".into(),
    };
    let verdict = match row.verdict {
        Verdict::Met => "met".to_string(),
        Verdict::Missed => "MISSED".to_string(),
        Verdict::Info => "(context)".to_string(),
        Verdict::Skipped => format!("skipped: {}", row.note.as_deref().unwrap_or("")),
    };
    [
        title,
        row.ours.name.clone(),
        value(&row.ours),
        base_name,
        base_median,
        ratio,
        row.target_text.clone(),
        verdict,
    ]
}

/// A value with its unit, with enough digits to read small times.
pub fn format_value(value: f64, unit: Unit) -> String {
    match unit {
        Unit::Ms if value >= 100.0 => format!("{value:.0} ms"),
        Unit::Ms if value >= 10.0 => format!("{value:.1} ms"),
        Unit::Ms => format!("{value:.2} ms"),
        Unit::Mb => format!("{value:.1} MB"),
        Unit::Percent if value >= 10.0 => format!("{value:.0}%"),
        Unit::Percent => format!("{value:.2}%"),
        Unit::Kib => format!("{value:.1} KiB"),
    }
}

fn ratio_text(r: f64) -> String {
    if r >= 10.0 {
        format!("{r:.0}")
    } else if r >= 0.1 {
        format!("{r:.2}")
    } else {
        format!("{r:.4}")
    }
}

fn trim(x: f64) -> String {
    let text = format!("{x}");
    text.trim_end_matches(".0").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(name: &str, samples: &[f64]) -> Measured {
        Measured::new(name, Unit::Ms, samples.to_vec())
    }

    #[test]
    fn ratio_targets_are_judged_on_medians() {
        let row = Row::compare(
            ms("ours", &[90.0, 100.0, 500.0]),
            ms("cp", &[100.0]),
            Target::RatioAtMost(1.0),
        );
        assert_eq!(row.ratio, Some(1.0));
        assert_eq!(row.verdict, Verdict::Met);
        let row = Row::compare(
            ms("ours", &[40.0]),
            ms("awk", &[100.0]),
            Target::FasterBy(3.0),
        );
        assert_eq!(row.verdict, Verdict::Missed, "2.5× faster is not 3×");
    }

    #[test]
    fn the_table_shows_every_row_and_pending_cases() {
        let cases = vec![
            CaseResult {
                id: "a".into(),
                title: "case a".into(),
                outcome: Outcome::Measured {
                    rows: vec![Row::compare(
                        ms("ours", &[1.0]),
                        ms("cp", &[4.0]),
                        Target::FasterBy(3.0),
                    )],
                },
                notes: vec![],
                seconds: 0.0,
            },
            CaseResult {
                id: "b".into(),
                title: "case b".into(),
                outcome: Outcome::NotMeasured {
                    target: "≤ 10 ms".into(),
                    needs: "needs the daemon".into(),
                },
                notes: vec![],
                seconds: 0.0,
            },
        ];
        let text = table(&cases);
        assert!(text.contains("0.25× (4.00× faster)"), "{text}");
        assert!(text.contains("not measured: needs the daemon"), "{text}");
    }
}
