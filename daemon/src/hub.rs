//! The daemon's published state and the subscribers who watch it.
//!
//! Everything a client can see is folded from the events the daemon
//! publishes: [`Hub::publish`] applies an event to the model (by
//! [`Snapshot::apply`], the one rule the dashboard follows too), numbers it and
//! hands the encoded frame to every subscriber, all under one lock, so a new
//! subscriber's snapshot at `seq` contains exactly the events up to `seq` and
//! its stream continues at `seq + 1` without a gap or a repeat.
//!
//! Each subscriber has a bounded queue filled with `try_send`: the daemon
//! never waits for a client. A subscriber whose queue is full is dropped and
//! told so ([`Subscription::lagged`]); its connection sends `Lagged` if it can.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::{Notify, mpsc, oneshot};
use v0_prune_shared::protocol::{
    BudgetLimit, DaemonMessage, DaemonState, Event, HISTORY_IN_SNAPSHOT, RunRecord, Snapshot,
    Totals, clip_text, encode_frame,
};

/// Events a subscriber may have queued before it counts as stuck and is dropped.
pub const SUBSCRIBER_QUEUE: usize = 1024;

/// One encoded event, shared by every subscriber's queue.
#[derive(Debug, Clone)]
pub struct Frame {
    /// The event's sequence number.
    pub seq: u64,
    /// The complete frame (prefix and body) of `DaemonMessage::Event`.
    pub bytes: Arc<[u8]>,
}

/// What a new subscriber gets: the state at `seq`, then every later event.
#[derive(Debug)]
pub struct Subscription {
    /// The last event the snapshot includes.
    pub seq: u64,
    /// The state at `seq`.
    pub snapshot: Snapshot,
    /// Events `seq + 1`, `seq + 2`, ...; closed when the daemon exits or
    /// drops this subscriber.
    pub events: mpsc::Receiver<Frame>,
    /// Fires when the subscriber was dropped for falling behind; its sender is
    /// dropped without firing when the daemon exits normally.
    pub lagged: oneshot::Receiver<()>,
}

/// The fixed facts about this daemon that every snapshot repeats.
#[derive(Debug, Clone)]
pub struct Identity {
    /// Our pid.
    pub daemon_pid: u32,
    /// `PROJECT` from `.v0.rc`.
    pub project: Option<String>,
    /// The build directory, as shown to users.
    pub build_dir: String,
    /// Unix milliseconds.
    pub started_at_ms: i64,
    /// Seconds between scheduled runs.
    pub interval_secs: u64,
    /// Retention in seconds.
    pub retention_secs: u64,
    /// The size budget, when one is set.
    pub budget: Option<BudgetLimit>,
}

/// The state clients see, and the subscribers watching it.
#[derive(Debug)]
pub struct Hub {
    inner: Mutex<Inner>,
    unreported_drops: AtomicUsize,
    drops_notify: Notify,
}

#[derive(Debug)]
struct Inner {
    seq: u64,
    /// The state at `seq`: the identity's facts, then every event applied
    /// by the one rule clients use too ([`Snapshot::apply`]).
    model: Snapshot,
    subscribers: Vec<Subscriber>,
    closed: bool,
}

#[derive(Debug)]
struct Subscriber {
    events: mpsc::Sender<Frame>,
    lagged: oneshot::Sender<()>,
}

impl Hub {
    /// A hub for a daemon that starts idle with the persisted `history` (oldest first).
    pub fn new(identity: Identity, totals: Totals, history: &[RunRecord]) -> Self {
        let keep = history.len().saturating_sub(HISTORY_IN_SNAPSHOT);
        let history: Vec<RunRecord> = history[keep..].to_vec();
        let model = Snapshot {
            daemon_pid: identity.daemon_pid,
            daemon_version: env!("CARGO_PKG_VERSION").to_owned(),
            project: identity.project,
            build_dir: clip_text(&identity.build_dir),
            started_at_ms: identity.started_at_ms,
            state: DaemonState::Idle,
            current_run: None,
            last_run: history.last().cloned(),
            next_run_at_ms: None,
            interval_secs: identity.interval_secs,
            retention_secs: identity.retention_secs,
            totals,
            history,
            log_tail: Vec::new(),
            files: None,
            budget: identity.budget,
        };
        Self {
            inner: Mutex::new(Inner {
                seq: 0,
                model,
                subscribers: Vec::new(),
                closed: false,
            }),
            unreported_drops: AtomicUsize::new(0),
            drops_notify: Notify::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Applies `event` to the state and sends it to every subscriber.
    /// Returns how many subscribers were dropped for lagging.
    pub fn publish(&self, event: Event) -> usize {
        let dropped = {
            let mut inner = self.lock();
            if inner.closed {
                return 0;
            }
            inner.seq += 1;
            inner.model.apply(&event);
            inner.fan_out(event)
        };
        if dropped > 0 {
            // Not logged here: publishing a log line may be what dropped them,
            // and `tracing` ignores events raised while one is being written.
            self.unreported_drops.fetch_add(dropped, Ordering::SeqCst);
            self.drops_notify.notify_one();
        }
        dropped
    }

    /// Waits until subscribers were dropped for lagging, and says how many
    /// since the last call; the daemon logs this from a task of its own.
    pub async fn dropped_subscribers(&self) -> usize {
        loop {
            let dropped = self.unreported_drops.swap(0, Ordering::SeqCst);
            if dropped > 0 {
                return dropped;
            }
            // `notify_one` stores a permit, so a drop between the swap and
            // this wait is not missed.
            self.drops_notify.notified().await;
        }
    }

    /// The state now.
    pub fn snapshot(&self) -> Snapshot {
        self.lock().snapshot()
    }

    /// The state now and every event after it; `None` once the daemon is exiting.
    pub fn subscribe(&self) -> Option<Subscription> {
        let mut inner = self.lock();
        if inner.closed {
            return None;
        }
        let (events_tx, events) = mpsc::channel(SUBSCRIBER_QUEUE);
        let (lagged_tx, lagged) = oneshot::channel();
        inner.subscribers.push(Subscriber {
            events: events_tx,
            lagged: lagged_tx,
        });
        Some(Subscription {
            seq: inner.seq,
            snapshot: inner.snapshot(),
            events,
            lagged,
        })
    }

    /// Ends every subscription (their queued events are still delivered) and
    /// refuses new ones: the daemon is exiting.
    pub fn close(&self) {
        let mut inner = self.lock();
        inner.closed = true;
        inner.subscribers.clear();
    }

    /// Subscribers connected now.
    #[cfg(test)]
    pub fn subscriber_count(&self) -> usize {
        self.lock().subscribers.len()
    }
}

impl Inner {
    /// Sends the event to every subscriber; returns how many were dropped for lagging.
    fn fan_out(&mut self, event: Event) -> usize {
        if self.subscribers.is_empty() {
            return 0;
        }
        let seq = self.seq;
        // Encoding can only fail on a bug; the event is then not sent, but
        // its effect on the state stands and the next snapshot shows it.
        let Ok(bytes) = encode_frame(&DaemonMessage::Event { seq, event }) else {
            return 0;
        };
        let frame = Frame {
            seq,
            bytes: bytes.into(),
        };
        let mut dropped = 0;
        let mut kept = Vec::with_capacity(self.subscribers.len());
        for subscriber in self.subscribers.drain(..) {
            match subscriber.events.try_send(frame.clone()) {
                Ok(()) => kept.push(subscriber),
                Err(mpsc::error::TrySendError::Full(_)) => {
                    let _ = subscriber.lagged.send(());
                    dropped += 1;
                }
                // The connection is gone already.
                Err(mpsc::error::TrySendError::Closed(_)) => {}
            }
        }
        self.subscribers = kept;
        dropped
    }

    fn snapshot(&self) -> Snapshot {
        self.model.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use v0_prune_shared::protocol::{LOG_TAIL_LINES, Trigger, decode_body};

    fn hub() -> Hub {
        let identity = Identity {
            daemon_pid: 7,
            project: Some("demo".into()),
            build_dir: "/tmp/build".into(),
            started_at_ms: 1,
            interval_secs: 3600,
            retention_secs: 6 * 3600,
            budget: None,
        };
        Hub::new(identity, Totals::default(), &[])
    }

    fn decode(frame: &Frame) -> (u64, Event) {
        match decode_body::<DaemonMessage>(&frame.bytes[4..]).expect("decodes") {
            DaemonMessage::Event { seq, event } => (seq, event),
            other => panic!("not an event: {other:?}"),
        }
    }

    fn line(n: usize) -> Event {
        Event::LogLine {
            line: format!("line {n}"),
        }
    }

    #[test]
    fn a_subscriber_gets_the_state_at_seq_then_every_later_event() {
        let hub = hub();
        hub.publish(Event::StateChanged {
            state: DaemonState::Running,
        });
        hub.publish(line(1));
        let mut sub = hub.subscribe().expect("open");
        assert_eq!(sub.seq, 2);
        assert_eq!(sub.snapshot.state, DaemonState::Running);
        assert_eq!(sub.snapshot.log_tail, vec!["line 1".to_string()]);
        hub.publish(line(2));
        hub.publish(Event::StateChanged {
            state: DaemonState::Idle,
        });
        let first = decode(&sub.events.try_recv().expect("event 3"));
        let second = decode(&sub.events.try_recv().expect("event 4"));
        assert_eq!(first, (3, line(2)));
        assert_eq!(second.0, 4);
        assert!(sub.events.try_recv().is_err());
    }

    #[test]
    fn a_run_is_folded_into_current_run_then_history_and_totals() {
        let hub = hub();
        hub.publish(Event::RunStarted {
            run_id: 1,
            trigger: Trigger::Startup,
            started_at_ms: 10,
        });
        hub.publish(Event::Progress {
            run_id: 1,
            files_done: 2,
            files_total: 5,
            bytes_reclaimed: 100,
            current: None,
        });
        let during = hub.snapshot();
        let progress = during.current_run.expect("running");
        assert_eq!((progress.files_done, progress.files_total), (2, 5));
        let record = RunRecord::from_report(
            1,
            Trigger::Startup,
            10,
            20,
            &v0_prune_shared::prune::RunReport::default(),
        );
        hub.publish(Event::RunFinished { record });
        let after = hub.snapshot();
        assert!(after.current_run.is_none());
        assert_eq!(after.last_run.map(|r| r.run_id), Some(1));
        assert_eq!(after.totals.runs, 1);
        assert_eq!(after.history.len(), 1);
    }

    #[test]
    fn a_full_subscriber_is_dropped_and_told_while_others_keep_receiving() {
        let hub = hub();
        let mut stuck = hub.subscribe().expect("open");
        let mut reader = hub.subscribe().expect("open");
        for n in 0..SUBSCRIBER_QUEUE {
            hub.publish(line(n));
            reader.events.try_recv().expect("reader keeps up");
        }
        assert_eq!(hub.subscriber_count(), 2);
        assert_eq!(hub.publish(line(SUBSCRIBER_QUEUE)), 1);
        assert_eq!(stuck.lagged.try_recv(), Ok(()));
        assert_eq!(hub.subscriber_count(), 1);
        hub.publish(line(SUBSCRIBER_QUEUE + 1));
        let last = [
            decode(&reader.events.try_recv().expect("event")).0,
            decode(&reader.events.try_recv().expect("event")).0,
        ];
        assert_eq!(last, [1025, 1026]);
        // The stuck one still holds what was queued before it was dropped.
        assert_eq!(decode(&stuck.events.try_recv().expect("queued")).0, 1);
    }

    #[test]
    fn closing_ends_subscriptions_without_a_lag_signal_and_refuses_new_ones() {
        let hub = hub();
        let mut sub = hub.subscribe().expect("open");
        hub.publish(line(0));
        hub.close();
        assert!(hub.subscribe().is_none());
        assert!(sub.events.try_recv().is_ok());
        assert!(matches!(
            sub.events.try_recv(),
            Err(mpsc::error::TryRecvError::Disconnected)
        ));
        assert!(matches!(
            sub.lagged.try_recv(),
            Err(oneshot::error::TryRecvError::Closed)
        ));
    }

    #[test]
    fn tails_are_capped() {
        let hub = hub();
        for n in 0..LOG_TAIL_LINES + 10 {
            hub.publish(line(n));
        }
        let snapshot = hub.snapshot();
        assert_eq!(snapshot.log_tail.len(), LOG_TAIL_LINES);
        assert_eq!(snapshot.log_tail[0], "line 10");
    }
}
