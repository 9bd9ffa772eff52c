//! Text that fits its room: a shorter wording chosen on purpose, a path
//! shortened at a `/`, a sentence wrapped or cut after a whole word and
//! marked with `…` — never a word cut in two by the edge of a pane.
//!
//! Widths are counted in characters: every glyph the dashboard draws is one
//! column wide.
//!
//! In tests, every line the panes draw goes through [`checked`], which
//! remembers a line wider than its room; `ui::tests` asserts that none was,
//! at every terminal width it renders.

use ratatui::text::{Line, Span};

/// Characters that separate the parts of a line (`a · b — c, d: e`): a cut
/// after a whole word drops them, so the line never ends on a dangling `·`.
const SEPARATORS: &[char] = &['·', '—', ',', ':', ';', ' '];

/// How many columns `spans` take.
pub fn width(spans: &[Span<'_>]) -> usize {
    spans.iter().map(|s| s.content.chars().count()).sum()
}

/// The first of `choices` (longest wording first) that fits `room` columns;
/// when none does, the last one cut after its last whole word that fits.
pub fn fit(choices: Vec<Vec<Span<'static>>>, room: usize) -> Vec<Span<'static>> {
    let mut last = Vec::new();
    for choice in choices {
        if width(&choice) <= room {
            return choice;
        }
        last = choice;
    }
    cut_words(last, room)
}

/// `spans` cut after the last whole word that fits in `room` columns
/// together with a `…`; unchanged when they fit. A first word longer than
/// the room leaves only the `…`: a part of a word is never shown.
pub fn cut_words(spans: Vec<Span<'static>>, room: usize) -> Vec<Span<'static>> {
    if width(&spans) <= room {
        return spans;
    }
    if room == 0 {
        return Vec::new();
    }
    let text: Vec<char> = spans.iter().flat_map(|s| s.content.chars()).collect();
    // The longest prefix that ends where a word ends and leaves room for `…`.
    let mut keep = 0;
    for end in 1..text.len() {
        if end + 1 > room {
            break;
        }
        if text[end] == ' ' && text[end - 1] != ' ' {
            keep = end;
        }
    }
    while keep > 0 && SEPARATORS.contains(&text[keep - 1]) {
        keep -= 1;
    }
    let mut out = Vec::new();
    let mut left = keep;
    let mut style = spans.first().map(|s| s.style).unwrap_or_default();
    for span in spans {
        if left == 0 {
            break;
        }
        let n = span.content.chars().count();
        style = span.style;
        if n <= left {
            left -= n;
            out.push(span);
        } else {
            let part: String = span.content.chars().take(left).collect();
            left = 0;
            out.push(Span::styled(part, span.style));
        }
    }
    out.push(Span::styled("…", style));
    out
}

/// A plain string cut like [`cut_words`].
pub fn cut_str(text: &str, room: usize) -> String {
    cut_words(vec![Span::raw(text.to_owned())], room)
        .into_iter()
        .map(|s| s.content.into_owned())
        .collect()
}

/// Breaks `text` into lines of at most `room` characters at spaces; a word
/// longer than a line (a long path) is shortened from its start with
/// [`keep_end`], so its end — the file name — stays.
pub fn wrap(text: &str, room: usize) -> Vec<String> {
    let room = room.max(1);
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        let word = keep_end(word, room);
        let len = line.chars().count();
        if len > 0 && len + 1 + word.chars().count() > room {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(&word);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

/// Shortens a path to at most `room` columns, keeping its end (the file name
/// matters more than where it is): `…/feature/worker.log`, cut at a `/` when
/// one leaves something to show, else inside the name, marked with `…`.
pub fn keep_end(text: &str, room: usize) -> String {
    let chars: Vec<char> = text.chars().collect();
    if chars.len() <= room {
        return text.to_owned();
    }
    if room == 0 {
        return String::new();
    }
    // The longest tail that starts at a `/` and fits beside the `…`.
    let at_slash = chars
        .iter()
        .enumerate()
        .filter(|&(i, &c)| c == '/' && chars.len() - i < room)
        .map(|(i, _)| i)
        .next();
    let start = at_slash.unwrap_or(chars.len() - (room - 1));
    let tail: String = chars[start..].iter().collect();
    format!("…{tail}")
}

/// A line as given, after noting (in tests) whether it fits `room` columns.
/// Drawing code passes every line of text through here, so that a test can
/// tell a text cut by the edge of its pane from one shortened on purpose.
pub fn checked(line: Line<'static>, room: u16) -> Line<'static> {
    #[cfg(test)]
    {
        let used = width(&line.spans);
        if used > usize::from(room) {
            let text: String = line.spans.iter().map(|s| s.content.as_ref()).collect();
            overflow::record(format!("{text:?} needs {used} columns, has {room}"));
        }
    }
    #[cfg(not(test))]
    let _ = room;
    line
}

/// The lines drawn wider than their room since the last [`overflow::take`].
#[cfg(test)]
pub mod overflow {
    use std::cell::RefCell;

    thread_local! {
        static CUT: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
    }

    pub(super) fn record(what: String) {
        CUT.with(|cut| cut.borrow_mut().push(what));
    }

    /// What was drawn too wide, emptying the record.
    pub fn take() -> Vec<String> {
        CUT.with(|cut| std::mem::take(&mut *cut.borrow_mut()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(spans: &[Span<'_>]) -> String {
        spans.iter().map(|s| s.content.as_ref()).collect()
    }

    #[test]
    fn the_first_wording_that_fits_is_chosen() {
        let choices = || {
            vec![
                vec![Span::raw(
                    "3.4 MiB last run · 28.6 MiB all-time over 3 runs",
                )],
                vec![Span::raw("3.4 MiB last run · 28.6 MiB in 3 runs")],
            ]
        };
        assert_eq!(
            text(&fit(choices(), 60)),
            "3.4 MiB last run · 28.6 MiB all-time over 3 runs"
        );
        assert_eq!(
            text(&fit(choices(), 47)),
            "3.4 MiB last run · 28.6 MiB in 3 runs"
        );
        assert_eq!(text(&fit(choices(), 20)), "3.4 MiB last run…");
    }

    #[test]
    fn a_cut_ends_after_a_whole_word_and_drops_the_separator() {
        let spans = vec![
            Span::raw("in 57m 48s"),
            Span::raw(" · at 12:57:48"),
            Span::raw(" · every 1h"),
        ];
        assert_eq!(
            text(&cut_words(spans.clone(), 40)),
            "in 57m 48s · at 12:57:48 · every 1h"
        );
        assert_eq!(
            text(&cut_words(spans.clone(), 30)),
            "in 57m 48s · at 12:57:48…"
        );
        assert_eq!(text(&cut_words(spans.clone(), 12)), "in 57m 48s…");
        assert_eq!(text(&cut_words(spans.clone(), 3)), "in…");
        assert_eq!(text(&cut_words(spans, 2)), "…");
        // Every cut, at every width, is a prefix of whole words.
        let sentence = "asked the daemon to drain: it finishes its run, then exits";
        let words: Vec<&str> = sentence.split(' ').collect();
        for room in 0..sentence.len() {
            let cut = cut_str(sentence, room);
            assert!(cut.chars().count() <= room, "{cut:?} in {room}");
            let shown = cut.trim_end_matches('…');
            for (i, word) in shown.split(' ').filter(|w| !w.is_empty()).enumerate() {
                let whole = words[i].trim_end_matches([',', ':']);
                assert!(
                    word == words[i] || word == whole,
                    "{word:?} is a cut word in {cut:?}"
                );
            }
        }
    }

    #[test]
    fn wrapping_keeps_words_whole() {
        let lines = wrap(
            "connection error: Connection reset by peer (os error 104)",
            30,
        );
        assert_eq!(
            lines,
            [
                "connection error: Connection",
                "reset by peer (os error 104)"
            ]
        );
        assert_eq!(
            wrap("see /home/dev/shop/.v0/build/logs/worker.log", 20),
            ["see", "…/logs/worker.log"]
        );
    }

    #[test]
    fn paths_keep_their_end_cut_at_a_slash() {
        assert_eq!(keep_end("/home/dev/shop/.v0/build", 12), "…/.v0/build");
        assert_eq!(keep_end("logs/feature/worker.log", 11), "…worker.log");
        assert_eq!(keep_end("logs/feature/worker.log", 19), "…/worker.log");
        assert_eq!(
            keep_end("logs/feature/worker.log", 20),
            "…/feature/worker.log"
        );
        assert_eq!(keep_end("short", 11), "short");
    }
}
