//! When the next run starts, and how triggers that arrive during a run coalesce.
//!
//! Pure bookkeeping, free of tasks so its rules are tested alone:
//! - one run at a time;
//! - any number of triggers during a run cause exactly one more run, right
//!   after it (the first trigger names it);
//! - after a run with nothing pending, the next one is due one interval later
//!   (a run on demand restarts the interval, as v0's `sleep; wait` loop does);
//! - once draining, nothing new starts.
//!
//! Time is read from a [`Clock`], on two clocks at once. The monotonic one
//! (tokio's `Instant`) never jumps, but stops while the machine is suspended
//! (Linux's CLOCK_MONOTONIC, macOS likewise): a laptop due to prune at 14:00
//! that sleeps from 13:30 to 18:00 would prune at 18:30 by it. So a run is
//! also due at its wall-clock time, whichever comes first, and the control
//! loop never sleeps longer than [`WALL_CHECK_EVERY`] without looking at the
//! wall clock: a run that fell due during a suspend starts within that long
//! of waking. The wall-clock time is also the one shown as "next run".

use std::fmt;
use std::time::{Duration, SystemTime};

use tokio::time::Instant;
use v0_prune_shared::protocol::Trigger;

/// The longest the control loop sleeps without comparing the wall clock with
/// the due time: the most a run due during a suspend waits after the wake.
/// One wake-up per few seconds costs nothing measurable when idle.
pub const WALL_CHECK_EVERY: Duration = Duration::from_secs(3);

/// One moment, on both clocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Moment {
    /// Monotonic: never jumps, stops during a suspend. Tokio's timers use it.
    pub mono: Instant,
    /// The wall clock: what users read, and what runs through a suspend.
    pub wall: SystemTime,
}

impl Moment {
    /// The same moment `by` later on both clocks.
    pub fn after(self, by: Duration) -> Self {
        Self {
            mono: self.mono + by,
            wall: self.wall.checked_add(by).unwrap_or(self.wall),
        }
    }

    /// The wall-clock time in unix milliseconds, as the protocol carries time.
    pub fn wall_ms(self) -> i64 {
        let ms = |d: Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
        match self.wall.duration_since(SystemTime::UNIX_EPOCH) {
            Ok(after) => ms(after),
            Err(before) => -ms(before.duration()),
        }
    }
}

/// Where the schedule reads the time: [`SystemClock`], or a fake in tests
/// that suspends the machine.
pub trait Clock: Send + Sync + fmt::Debug {
    /// Now, on both clocks.
    fn now(&self) -> Moment;
}

/// The system's clocks.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Moment {
        Moment {
            mono: Instant::now(),
            wall: SystemTime::now(),
        }
    }
}

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
    due: Moment,
    draining: bool,
}

impl Scheduler {
    /// A schedule whose first run is due at `now`; run ids continue from `next_run_id`.
    pub fn new(interval: Duration, next_run_id: u64, now: Moment) -> Self {
        Self {
            interval,
            next_run_id: next_run_id.max(1),
            running: None,
            pending: None,
            due: now,
            draining: false,
        }
    }

    /// When the next scheduled run is due (meaningless while running or
    /// draining): at `due().mono` or `due().wall`, whichever comes first.
    pub fn due(&self) -> Moment {
        self.due
    }

    /// Whether the scheduled run is due at `now`, by either clock.
    pub fn is_due(&self, now: Moment) -> bool {
        now.mono >= self.due.mono || now.wall >= self.due.wall
    }

    /// When the control loop should next wake to check [`Scheduler::is_due`]:
    /// at the due time, but never more than [`WALL_CHECK_EVERY`] from `now`
    /// (the monotonic clock cannot see a suspend coming).
    pub fn wake_at(&self, now: Moment) -> Instant {
        let by_wall = self
            .due
            .wall
            .duration_since(now.wall)
            .unwrap_or(Duration::ZERO);
        self.due.mono.min(now.mono + by_wall.min(WALL_CHECK_EVERY))
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
    pub fn finish(&mut self, now: Moment) -> Option<Trigger> {
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
                self.due = now.after(self.interval);
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
        let now = SystemClock.now();
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
        let now = SystemClock.now();
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
        assert_eq!(s.due(), now.after(HOUR));
    }

    #[test]
    fn a_finished_run_schedules_the_next_one_interval_later() {
        let start = SystemClock.now();
        let mut s = Scheduler::new(HOUR, 1, start);
        assert_eq!(s.due(), start);
        s.start();
        let later = start.after(Duration::from_secs(7));
        assert_eq!(s.finish(later), None);
        assert_eq!(s.due(), later.after(HOUR));
        assert!(s.waiting_for_timer());
    }

    #[test]
    fn draining_refuses_triggers_and_forgets_the_pending_run() {
        let now = SystemClock.now();
        let mut s = Scheduler::new(HOUR, 1, now);
        s.start();
        s.trigger(Trigger::Signal);
        s.drain();
        assert!(s.trigger(Trigger::Request).is_none());
        assert_eq!(s.finish(now), None);
        assert!(!s.waiting_for_timer());
    }

    /// A machine that sleeps: `now` moves both clocks, `suspend` only the wall clock.
    #[derive(Debug)]
    struct Laptop {
        now: Moment,
    }

    impl Laptop {
        fn tick(&mut self, by: Duration) -> Moment {
            self.now = self.now.after(by);
            self.now
        }

        fn suspend(&mut self, for_: Duration) -> Moment {
            self.now.wall += for_;
            self.now
        }
    }

    #[test]
    fn a_run_due_during_a_suspend_is_due_at_the_first_wake_after_it() {
        let mut laptop = Laptop {
            now: SystemClock.now(),
        };
        let mut s = Scheduler::new(HOUR, 1, laptop.now);
        s.start();
        let finished = laptop.tick(Duration::from_secs(5));
        s.finish(finished);
        let due_wall = finished.wall + HOUR;
        assert_eq!(s.due().wall, due_wall, "next run shown: the true time");

        // Awake and far from due: wake every few seconds, not due yet.
        let now = laptop.tick(Duration::from_secs(30 * 60));
        assert_eq!(s.wake_at(now), now.mono + WALL_CHECK_EVERY);
        assert!(!s.is_due(now));

        // Asleep from 30 min to 5 h after the run: the monotonic clock stands still.
        let woke = laptop.suspend(Duration::from_secs(4 * 3600 + 30 * 60));
        let wake = s.wake_at(woke);
        assert!(wake <= woke.mono + WALL_CHECK_EVERY);
        assert!(
            s.is_due(woke),
            "due by the wall clock the moment the loop looks"
        );
        assert!(
            woke.mono < s.due().mono,
            "the monotonic clock alone would wait"
        );
        assert_eq!(s.due().wall, due_wall, "still shown at its true time");
    }

    #[test]
    fn near_its_time_the_loop_wakes_exactly_at_it() {
        let now = SystemClock.now();
        let s = Scheduler::new(HOUR, 1, now.after(Duration::from_secs(2)));
        assert_eq!(s.wake_at(now), now.mono + Duration::from_secs(2));
        assert!(!s.is_due(now));
        assert!(s.is_due(now.after(Duration::from_secs(2))));
    }

    #[test]
    fn a_wall_clock_set_back_does_not_delay_the_run() {
        let now = SystemClock.now();
        let mut s = Scheduler::new(HOUR, 1, now);
        s.start();
        s.finish(now);
        let mut later = now.after(HOUR);
        later.wall -= Duration::from_secs(6 * 3600);
        assert!(s.is_due(later), "the monotonic clock still says it is time");
    }
}
