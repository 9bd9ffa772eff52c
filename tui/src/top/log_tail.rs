//! The daemon's log as the dashboard keeps it: a bounded tail, a filter, and
//! a view that either follows new lines or stays where the user scrolled.

use std::collections::VecDeque;

/// How many log lines the dashboard keeps; the snapshot brings 200, events add more.
pub const LOG_CAP: usize = 2_000;

/// The recent log lines and how the user is looking at them.
#[derive(Debug, Clone)]
pub struct LogTail {
    lines: VecDeque<String>,
    cap: usize,
    /// The filter as typed (shown on screen).
    filter: Option<String>,
    /// The same, lowercased, for case-insensitive matching.
    needle: String,
    follow: bool,
    /// Matching lines between the bottom of the view and the newest
    /// matching line; 0 shows the newest.
    offset: usize,
}

impl Default for LogTail {
    fn default() -> Self {
        Self::with_cap(LOG_CAP)
    }
}

impl LogTail {
    /// An empty tail keeping at most `cap` lines, following.
    pub fn with_cap(cap: usize) -> Self {
        Self {
            lines: VecDeque::new(),
            cap: cap.max(1),
            filter: None,
            needle: String::new(),
            follow: true,
            offset: 0,
        }
    }

    /// Replaces every line (a fresh snapshot), keeping the filter and
    /// whether the user follows.
    pub fn replace(&mut self, lines: Vec<String>) {
        let skip = lines.len().saturating_sub(self.cap);
        self.lines = lines.into_iter().skip(skip).collect();
        self.offset = 0;
    }

    /// Adds a line at the bottom. While paused, the view stays on the lines
    /// it showed instead of sliding.
    pub fn push(&mut self, line: String) {
        if self.lines.len() == self.cap {
            self.lines.pop_front();
        }
        if !self.follow && self.matches(&line) {
            self.offset += 1;
        }
        self.lines.push_back(line);
        self.offset = self.offset.min(self.matching_len().saturating_sub(1));
    }

    /// Whether `line` passes the filter (case-insensitive substring).
    pub fn matches(&self, line: &str) -> bool {
        self.needle.is_empty() || line.to_lowercase().contains(&self.needle)
    }

    /// The lines passing the filter, oldest first.
    pub fn matching(&self) -> impl Iterator<Item = &str> {
        self.lines
            .iter()
            .map(String::as_str)
            .filter(|line| self.matches(line))
    }

    /// How many lines pass the filter.
    pub fn matching_len(&self) -> usize {
        self.matching().count()
    }

    /// Every line kept, filter or not.
    pub fn len(&self) -> usize {
        self.lines.len()
    }

    /// No line yet.
    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    /// The at most `rows` matching lines the view shows, oldest first.
    pub fn window(&self, rows: usize) -> Vec<&str> {
        let matching: Vec<&str> = self.matching().collect();
        let end = matching.len().saturating_sub(self.offset);
        let start = end.saturating_sub(rows);
        matching[start..end].to_vec()
    }

    /// The filter as typed, if one is applied.
    pub fn filter(&self) -> Option<&str> {
        self.filter.as_deref()
    }

    /// Applies a filter (an empty one removes it) and shows the newest matches.
    pub fn set_filter(&mut self, filter: &str) {
        let filter = filter.trim();
        if filter.is_empty() {
            self.filter = None;
            self.needle.clear();
        } else {
            self.filter = Some(filter.to_owned());
            self.needle = filter.to_lowercase();
        }
        self.offset = 0;
    }

    /// Whether new lines scroll into view.
    pub fn is_following(&self) -> bool {
        self.follow
    }

    /// Matching lines below the view (0 when the newest is visible).
    pub fn offset(&self) -> usize {
        self.offset
    }

    /// `f`: pause where we are, or jump to the newest line and follow.
    pub fn toggle_follow(&mut self) {
        if self.follow {
            self.follow = false;
        } else {
            self.follow_newest();
        }
    }

    /// Shows the newest line and follows from now on.
    pub fn follow_newest(&mut self) {
        self.follow = true;
        self.offset = 0;
    }

    /// Scrolls towards older lines, pausing; `rows` is the view's height, so
    /// the oldest line can reach the top of the view but not leave it.
    pub fn scroll_up(&mut self, by: usize, rows: usize) {
        self.follow = false;
        let max = self.matching_len().saturating_sub(rows.max(1));
        self.offset = self.offset.saturating_add(by).min(max);
    }

    /// Scrolls towards newer lines; reaching the bottom does not resume
    /// following (that is `f` or End), so a paused view stays paused.
    pub fn scroll_down(&mut self, by: usize) {
        self.offset = self.offset.saturating_sub(by);
    }

    /// Scrolls to the oldest lines, pausing.
    pub fn scroll_to_top(&mut self, rows: usize) {
        self.scroll_up(usize::MAX, rows);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tail(lines: &[&str]) -> LogTail {
        let mut tail = LogTail::with_cap(5);
        tail.replace(lines.iter().map(|l| (*l).to_owned()).collect());
        tail
    }

    #[test]
    fn following_shows_the_newest_lines() {
        let mut log = tail(&["a", "b", "c"]);
        log.push("d".into());
        assert_eq!(log.window(2), ["c", "d"]);
        assert_eq!(log.offset(), 0);
    }

    #[test]
    fn the_cap_drops_the_oldest_lines() {
        let mut log = tail(&["1", "2", "3", "4", "5", "6", "7"]);
        assert_eq!(log.window(10), ["3", "4", "5", "6", "7"]);
        log.push("8".into());
        assert_eq!(log.window(10), ["4", "5", "6", "7", "8"]);
    }

    #[test]
    fn a_paused_view_stays_on_its_lines_while_new_ones_arrive() {
        let mut log = tail(&["a", "b", "c"]);
        log.toggle_follow();
        assert!(!log.is_following());
        log.push("d".into());
        log.push("e".into());
        assert_eq!(log.window(2), ["b", "c"]);
        log.toggle_follow();
        assert_eq!(log.window(2), ["d", "e"]);
    }

    #[test]
    fn scrolling_up_pauses_and_stops_at_the_oldest_line() {
        let mut log = tail(&["a", "b", "c", "d"]);
        log.scroll_up(1, 2);
        assert!(!log.is_following());
        assert_eq!(log.window(2), ["b", "c"]);
        log.scroll_up(10, 2);
        assert_eq!(log.window(2), ["a", "b"]);
        log.scroll_down(10);
        assert_eq!(log.window(2), ["c", "d"]);
        assert!(
            !log.is_following(),
            "reaching the bottom does not resume following"
        );
    }

    #[test]
    fn the_filter_is_case_insensitive_and_applies_to_new_lines() {
        let mut log = tail(&[
            "Starting pruning...",
            "Sleeping for 10s",
            "Pruning complete",
        ]);
        log.set_filter("PRUNING");
        assert_eq!(log.filter(), Some("PRUNING"));
        assert_eq!(log.window(10), ["Starting pruning...", "Pruning complete"]);
        log.push("Received SIGUSR1, waking up".into());
        log.push("Starting pruning...".into());
        assert_eq!(log.matching_len(), 3);
        log.set_filter("  ");
        assert_eq!(log.filter(), None);
        assert_eq!(log.matching_len(), 5);
    }

    #[test]
    fn lines_hidden_by_the_filter_do_not_move_a_paused_view() {
        let mut log = tail(&["run 1", "other", "run 2"]);
        log.set_filter("run");
        log.toggle_follow();
        log.push("noise".into());
        assert_eq!(log.offset(), 0);
        log.push("run 3".into());
        assert_eq!(log.offset(), 1);
        assert_eq!(log.window(2), ["run 1", "run 2"]);
    }
}
