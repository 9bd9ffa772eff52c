//! When the next run starts, and how triggers that arrive during a run coalesce.
//!
//! Pure bookkeeping, free of clocks and tasks so its rules are tested alone:
//! - one run at a time;
//! - any number of triggers during a run cause exactly one more run, right
//!   after it (the first trigger names it);
//! - after a run with nothing pending, the next one is due one interval later
//!   (a run on demand restarts the interval, as v0's `sleep; wait` loop does);
//! - once draining, nothing new starts.

use std::time::Duration;

use tokio::time::Instant;
use v0_prune_shared::protocol::Trigger;

/// What a trigger led to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Accepted {
    /// The run that will cover the trigger.
    pub run_id: u64,
    /// It was folded into a run already pending.
    pub coalesced: bool,
    /// Nothing runs: start `run_id` now.
    pub start_now: bool,
}

/// The schedule of one daemon.
#[derive(Debug)]
pub struct Scheduler {
    interval: Duration,
    next_run_id: u64,
    running: Option<u64>,
    pending: Option<Trigger>,
    due: Instant,
    draining: bool,
}

impl Scheduler {
    /// A schedule whose first run is due at `now`; run ids continue from `next_run_id`.
    pub fn new(interval: Duration, next_run_id: u64, now: Instant) -> Self {
        Self {
            interval,
            next_run_id: next_run_id.max(1),
            running: None,
            pending: None,
            due: now,
            draining: false,
        }
    }

    /// When the next scheduled run is due (meaningless while running or draining).
    pub fn due(&self) -> Instant {
        self.due
    }

    /// Whether the timer should wake us: idle and not draining.
    pub fn waiting_for_timer(&self) -> bool {
        self.running.is_none() && !self.draining
    }

    /// Records a trigger; `None` when draining (nothing new starts).
    pub fn trigger(&mut self, trigger: Trigger) -> Option<Accepted> {
        if self.draining {
            return None;
        }
        if self.running.is_none() {
            return Some(Accepted {
                run_id: self.next_run_id,
                coalesced: false,
                start_now: true,
            });
        }
        let coalesced = self.pending.is_some();
        self.pending.get_or_insert(trigger);
        Some(Accepted {
            run_id: self.next_run_id,
            coalesced,
            start_now: false,
        })
    }

    /// Marks a run as started and returns its id.
    pub fn start(&mut self) -> u64 {
        let run_id = self.next_run_id;
        self.next_run_id += 1;
        self.running = Some(run_id);
        run_id
    }

    /// Marks the run as finished at `now`; returns the trigger of the run that
    /// must start right away, if any, else schedules the next one.
    pub fn finish(&mut self, now: Instant) -> Option<Trigger> {
        self.running = None;
        if self.draining {
            self.pending = None;
            return None;
        }
        match self.pending.take() {
            Some(trigger) => {
                self.due = now;
                Some(trigger)
            }
            None => {
                self.due = now + self.interval;
                None
            }
        }
    }

    /// Stops the schedule: the current run may finish, nothing else starts.
    pub fn drain(&mut self) {
        self.draining = true;
        self.pending = None;
    }

    /// Whether [`Scheduler::drain`] was called.
    pub fn draining(&self) -> bool {
        self.draining
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: Duration = Duration::from_secs(3600);

    #[test]
    fn an_idle_trigger_starts_at_once() {
        let now = Instant::now();
        let mut s = Scheduler::new(HOUR, 5, now);
        let accepted = s.trigger(Trigger::Signal).expect("accepted");
        assert_eq!(
            accepted,
            Accepted {
                run_id: 5,
                coalesced: false,
                start_now: true
            }
        );
        assert_eq!(s.start(), 5);
        assert!(!s.waiting_for_timer(), "a run is in progress");
    }

    #[test]
    fn triggers_during_a_run_coalesce_into_exactly_one_more_run() {
        let now = Instant::now();
        let mut s = Scheduler::new(HOUR, 1, now);
        assert_eq!(s.start(), 1);
        let first = s.trigger(Trigger::Signal).expect("accepted");
        assert_eq!(
            (first.run_id, first.coalesced, first.start_now),
            (2, false, false)
        );
        for _ in 0..5 {
            let again = s.trigger(Trigger::Request).expect("accepted");
            assert_eq!((again.run_id, again.coalesced), (2, true));
        }
        assert_eq!(s.finish(now), Some(Trigger::Signal));
        assert_eq!(s.start(), 2);
        assert_eq!(s.finish(now), None, "only one run was owed");
        assert_eq!(s.due(), now + HOUR);
    }

    #[test]
    fn a_finished_run_schedules_the_next_one_interval_later() {
        let start = Instant::now();
        let mut s = Scheduler::new(HOUR, 1, start);
        assert_eq!(s.due(), start);
        s.start();
        let later = start + Duration::from_secs(7);
        assert_eq!(s.finish(later), None);
        assert_eq!(s.due(), later + HOUR);
        assert!(s.waiting_for_timer());
    }

    #[test]
    fn draining_refuses_triggers_and_forgets_the_pending_run() {
        let now = Instant::now();
        let mut s = Scheduler::new(HOUR, 1, now);
        s.start();
        s.trigger(Trigger::Signal);
        s.drain();
        assert!(s.trigger(Trigger::Request).is_none());
        assert_eq!(s.finish(now), None);
        assert!(!s.waiting_for_timer());
    }
}
