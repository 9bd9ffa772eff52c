//! How an [`Event`] changes a [`Snapshot`]: the one rule, for the daemon's
//! hub (which publishes the event and keeps the state new subscribers get)
//! and for every client that follows the stream (the dashboard), so that the
//! two can never disagree about the daemon's state. A client adds only its
//! own reactions on top (what to highlight, what to say).
//!
//! Two cases the copies once decided differently, and what holds now:
//! - a `NextRun` while draining is ignored: a draining daemon starts no
//!   other run, so it has no next one (the `StateChanged` to draining
//!   cleared it);
//! - a `RunFinished` ends the run in progress when it is that run or an
//!   older one; a newer run in progress (started after it) stays.

use super::messages::{
    DaemonState, Event, HISTORY_IN_SNAPSHOT, LOG_TAIL_LINES, RunProgress, Snapshot,
};

impl Snapshot {
    /// Applies `event`, the next in sequence, to this state.
    pub fn apply(&mut self, event: &Event) {
        match event {
            Event::StateChanged { state } => {
                self.state = *state;
                if *state == DaemonState::Draining {
                    self.next_run_at_ms = None;
                }
            }
            Event::NextRun { at_ms } => {
                if self.state != DaemonState::Draining {
                    self.next_run_at_ms = Some(*at_ms);
                }
            }
            Event::Exiting { .. } => self.next_run_at_ms = None,
            Event::RunStarted {
                run_id,
                trigger,
                started_at_ms,
            } => {
                self.current_run = Some(RunProgress {
                    run_id: *run_id,
                    trigger: *trigger,
                    started_at_ms: *started_at_ms,
                    files_done: 0,
                    files_total: 0,
                    bytes_reclaimed: 0,
                    current: None,
                });
            }
            Event::Progress {
                run_id,
                files_done,
                files_total,
                bytes_reclaimed,
                current,
            } => {
                if let Some(run) = self.current_run.as_mut().filter(|r| r.run_id == *run_id) {
                    run.files_done = *files_done;
                    run.files_total = *files_total;
                    run.bytes_reclaimed = *bytes_reclaimed;
                    run.current.clone_from(current);
                }
            }
            Event::ItemPruned { .. } => {}
            Event::RunFinished { record } => {
                if self
                    .current_run
                    .as_ref()
                    .is_some_and(|run| run.run_id <= record.run_id)
                {
                    self.current_run = None;
                }
                self.totals.add(record);
                self.last_run = Some(record.clone());
                if !self.history.iter().any(|run| run.run_id == record.run_id) {
                    self.history.push(record.clone());
                    let excess = self.history.len().saturating_sub(HISTORY_IN_SNAPSHOT);
                    self.history.drain(..excess);
                }
            }
            Event::LogLine { line } => {
                self.log_tail.push(line.clone());
                let excess = self.log_tail.len().saturating_sub(LOG_TAIL_LINES);
                self.log_tail.drain(..excess);
            }
            Event::Files { view } => self.files = Some((**view).clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{RunOutcome, RunRecord, Totals, Trigger};

    fn snapshot() -> Snapshot {
        Snapshot {
            daemon_pid: 7,
            daemon_version: "0.1.0".into(),
            project: Some("demo".into()),
            build_dir: "/b".into(),
            started_at_ms: 1,
            state: DaemonState::Idle,
            current_run: None,
            last_run: None,
            next_run_at_ms: Some(10),
            interval_secs: 3600,
            retention_secs: 21600,
            totals: Totals::default(),
            history: Vec::new(),
            log_tail: Vec::new(),
            files: None,
            budget: None,
        }
    }

    fn started(run_id: u64) -> Event {
        Event::RunStarted {
            run_id,
            trigger: Trigger::Schedule,
            started_at_ms: 100,
        }
    }

    fn finished(run_id: u64) -> Event {
        Event::RunFinished {
            record: RunRecord {
                run_id,
                trigger: Trigger::Schedule,
                started_at_ms: 100,
                finished_at_ms: 200,
                duration_ms: 100,
                dry_run: false,
                log_files_examined: 1,
                log_files_pruned: 1,
                log_lines_removed: 1,
                log_bytes_reclaimed: 10,
                queue_entries_removed: 0,
                queue_bytes_reclaimed: 0,
                bytes_reclaimed: 10,
                skipped: Vec::new(),
                skipped_total: 0,
                failed: Vec::new(),
                failed_total: 0,
                log_files_failed: 0,
                errors: Vec::new(),
                outcome: RunOutcome::Ok,
                budget: None,
            },
        }
    }

    #[test]
    fn a_next_run_while_draining_is_ignored() {
        let mut state = snapshot();
        state.apply(&Event::StateChanged {
            state: DaemonState::Draining,
        });
        assert_eq!(state.next_run_at_ms, None);
        state.apply(&Event::NextRun { at_ms: 99 });
        assert_eq!(state.next_run_at_ms, None);
        state.apply(&Event::StateChanged {
            state: DaemonState::Idle,
        });
        state.apply(&Event::NextRun { at_ms: 99 });
        assert_eq!(state.next_run_at_ms, Some(99));
    }

    #[test]
    fn a_finished_run_ends_itself_or_an_older_run_never_a_newer_one() {
        let mut state = snapshot();
        state.apply(&started(5));
        state.apply(&finished(4));
        assert_eq!(state.current_run.as_ref().map(|r| r.run_id), Some(5));
        state.apply(&finished(5));
        assert_eq!(state.current_run, None);
        assert_eq!(state.last_run.as_ref().map(|r| r.run_id), Some(5));
        state.apply(&started(6));
        state.apply(&finished(7));
        assert_eq!(state.current_run, None);
        assert_eq!(state.totals.runs, 3);
        assert_eq!(
            state.history.iter().map(|r| r.run_id).collect::<Vec<_>>(),
            [4, 5, 7]
        );
    }

    #[test]
    fn history_and_log_tail_keep_their_bounds() {
        let mut state = snapshot();
        for run_id in 1..=(HISTORY_IN_SNAPSHOT as u64 + 5) {
            state.apply(&finished(run_id));
        }
        assert_eq!(state.history.len(), HISTORY_IN_SNAPSHOT);
        assert_eq!(state.history[0].run_id, 6);
        for n in 0..LOG_TAIL_LINES + 3 {
            state.apply(&Event::LogLine {
                line: format!("line {n}"),
            });
        }
        assert_eq!(state.log_tail.len(), LOG_TAIL_LINES);
        assert_eq!(state.log_tail[0], "line 3");
    }
}
