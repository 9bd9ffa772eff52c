//! How the App follows the daemon: the snapshot, then events in sequence
//! (each applied by [`Snapshot::apply`], the rule the daemon's hub follows,
//! then the dashboard's own reactions), and the link going down and coming
//! back.

use v0_prune_shared::client::Update;
use v0_prune_shared::protocol::{DaemonState, Event, RunRecord, Snapshot};

use super::{App, HISTORY_CAP, Link, LinkReaction, Mode};
use crate::top::conn::{Down, DownKind, LinkEvent};

impl App {
    /// Applies what the link reports.
    pub fn on_link(&mut self, event: LinkEvent) -> LinkReaction {
        match event {
            LinkEvent::Update(Update::Snapshot { seq, snapshot }) => {
                self.on_snapshot(seq, *snapshot);
                LinkReaction::Nothing
            }
            LinkEvent::Update(Update::Event { seq, event }) => self.on_event(seq, event),
            LinkEvent::Update(Update::Lagged { .. }) => LinkReaction::Resubscribe,
            LinkEvent::Down(down) => {
                self.on_down(down);
                LinkReaction::Nothing
            }
        }
    }

    fn on_snapshot(&mut self, seq: u64, snapshot: Snapshot) {
        self.seq = Some(seq);
        self.link = Link::Connected;
        if self.start_requested_at_ms.take().is_some() {
            self.inform(format!("the daemon is up (pid {})", snapshot.daemon_pid));
        }
        self.drain_requested &= snapshot.state == DaemonState::Draining;
        self.exiting = None;
        self.last_pruned = None;
        self.history = snapshot
            .history
            .iter()
            .rev()
            .take(HISTORY_CAP)
            .cloned()
            .collect();
        if let Some(last) = &snapshot.last_run
            && !self.history.iter().any(|r| r.run_id == last.run_id)
        {
            self.history.push_front(last.clone());
        }
        let announced = self.notice.as_ref().and_then(|n| n.run_id);
        if let Some(run_id) = announced
            && self.history.iter().any(|r| r.run_id == run_id)
        {
            self.run_finished(run_id);
        }
        self.log.replace(snapshot.log_tail.clone());
        self.daemon = Some(snapshot);
        self.reselect_file();
        self.history_selected = self
            .history_selected
            .min(self.history.len().saturating_sub(1));
        self.keep_selection_visible();
    }

    fn on_event(&mut self, seq: u64, event: Event) -> LinkReaction {
        match self.seq {
            // Already in the snapshot (or seen twice): nothing new.
            Some(last) if seq <= last => return LinkReaction::Nothing,
            Some(last) if seq == last + 1 => {}
            // A gap, or events with no snapshot to apply them to.
            _ => {
                self.seq = None;
                return LinkReaction::Resubscribe;
            }
        }
        self.seq = Some(seq);
        if let Some(daemon) = self.daemon.as_mut() {
            // The daemon's state changes by the rule its hub follows.
            daemon.apply(&event);
        } else if !matches!(event, Event::LogLine { .. }) {
            return LinkReaction::Resubscribe;
        }
        // Then what the dashboard itself does about it.
        match event {
            Event::LogLine { line } => self.log.push(line),
            Event::Exiting { reason } => self.exiting = Some(reason),
            Event::RunStarted { .. } => self.last_pruned = None,
            Event::ItemPruned {
                run_id,
                item,
                detail,
                ..
            } => {
                if self.current_run().is_some_and(|r| r.run_id == run_id) {
                    self.last_pruned = Some(format!("{item} ({detail})"));
                }
            }
            Event::RunFinished { record } => {
                self.last_pruned = None;
                self.run_finished(record.run_id);
                self.add_to_history(record);
            }
            Event::Files { .. } => self.reselect_file(),
            Event::StateChanged { .. } | Event::NextRun { .. } | Event::Progress { .. } => {}
        }
        LinkReaction::Nothing
    }

    fn add_to_history(&mut self, record: RunRecord) {
        if self.history.iter().any(|r| r.run_id == record.run_id) {
            return;
        }
        self.history.push_front(record);
        self.history.truncate(HISTORY_CAP);
        // Keep the selected run selected, unless the newest one was: then
        // the new run is the one to look at.
        if self.history_selected > 0 {
            self.history_selected = (self.history_selected + 1).min(self.history.len() - 1);
            self.history_offset += 1;
        }
        self.keep_selection_visible();
    }

    fn on_down(&mut self, down: Down) {
        let retry_in = i64::try_from(down.retry_in.as_millis()).unwrap_or(i64::MAX);
        let retry_at_ms = self.now_ms.saturating_add(retry_in);
        let was_connected = self.link == Link::Connected;
        self.seq = None;
        self.last_pruned = None;
        if let Some(daemon) = self.daemon.as_mut() {
            daemon.current_run = None;
            daemon.next_run_at_ms = None;
        }
        if was_connected && self.mode == Mode::ConfirmDrain {
            self.mode = Mode::Normal;
        }
        let expected_exit = self.drain_requested || self.exiting.is_some();
        self.link = match down.kind {
            DownKind::NotRunning => Link::NotRunning { retry_at_ms },
            DownKind::Closed if expected_exit => Link::NotRunning { retry_at_ms },
            DownKind::Closed => Link::Disconnected {
                reason: "the daemon closed the connection".to_owned(),
                attempt: down.attempt,
                retry_at_ms,
            },
            DownKind::Failed(reason) => Link::Disconnected {
                reason,
                attempt: down.attempt,
                retry_at_ms,
            },
            DownKind::Incompatible(message) => Link::Incompatible { message },
            DownKind::Refused(reason) => Link::Refused {
                reason,
                retry_at_ms,
            },
        };
    }
}
