//! Event latency, daemon → subscribed clients, with 50 subscribers.
//!
//! Two real daemons on two generated projects: one followed by 50
//! subscribers, one by a single subscriber (the baseline: what fan-out to 49
//! more clients costs). Each subscriber is its own connection made with the
//! shared client library (`Client::connect` + `subscribe`), driven by a task
//! of this process (two tokio workers). In every round each daemon is
//! triggered twice, the two daemons taking turns: once with SIGUSR1 (as v0
//! does) and once with a `RunNow` request on a fresh connection.
//!
//! Events carry only millisecond wall-clock stamps (`started_at_ms`), too
//! coarse for a 1 ms target, so the clock is this process's monotonic one:
//! from just before `kill(SIGUSR1)` (or before writing `RunNow`) to the
//! moment each subscriber's `Subscription::next()` returns the decoded
//! event. Before each trigger the bench waits until every subscriber has
//! seen the previous run end and no event has come for 20 ms, so everything
//! received after the trigger is caused by it.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use rustix::process::Signal;
use tokio::runtime::Runtime;
use tokio::sync::mpsc;
use v0_prune_shared::client::{Client, Subscription, Update};
use v0_prune_shared::paths::BuildDir;
use v0_prune_shared::protocol::{DaemonState, Event};

use super::{Case, Ctx, Sizes};
use crate::procs::{Binaries, Daemon, PATIENCE, Project};
use crate::report::{Measured, Outcome, Row, Target, Unit};

/// Event latency with 50 subscribers.
pub struct EventLatency;

/// Subscribers of the measured daemon.
const SUBSCRIBERS: usize = 50;

/// How long no event may come before a trigger.
const QUIET: Duration = Duration::from_millis(20);

/// What a subscriber saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Seen {
    RunStarted,
    Idle,
    Other,
}

/// One event received by one subscriber, and when.
#[derive(Debug)]
struct Receipt {
    client: usize,
    at: Instant,
    seen: Seen,
}

/// How a run is asked for.
#[derive(Debug, Clone, Copy)]
enum Trigger {
    Signal,
    Request,
}

/// A daemon and the subscribers following it (tasks of the case's runtime,
/// which ends them when it is dropped).
struct Watched {
    daemon: Daemon,
    subscribers: usize,
    receipts: mpsc::UnboundedReceiver<Receipt>,
}

/// Latencies of one trigger, in milliseconds, one per subscriber.
struct Latencies {
    first_event: Vec<f64>,
    run_started: Vec<f64>,
}

/// Samples of one (trigger, daemon) pair over the kept rounds.
#[derive(Default)]
struct Series {
    first_event: Vec<f64>,
    run_started: Vec<f64>,
    slowest: Vec<f64>,
}

impl Series {
    fn add(&mut self, latencies: Latencies) {
        if let Some(max) = latencies.run_started.iter().copied().reduce(f64::max) {
            self.slowest.push(max);
        }
        self.first_event.extend(latencies.first_event);
        self.run_started.extend(latencies.run_started);
    }
}

impl Case for EventLatency {
    fn id(&self) -> &'static str {
        "event-latency"
    }

    fn title(&self, _: &Sizes) -> String {
        format!("event latency daemon → client, {SUBSCRIBERS} subscribers")
    }

    fn needs_binaries(&self) -> bool {
        true
    }

    fn run(&self, ctx: &mut Ctx, notes: &mut Vec<String>) -> Result<Outcome> {
        let binaries = match ctx.binaries(notes) {
            Ok(binaries) => binaries,
            Err(needs) => return Ok(super::not_measured("≤ 1 ms median", needs)),
        };
        let dir = ctx.case_dir(self.id())?;
        let (rt, mut watched) = watch_two(
            &binaries,
            [
                (&dir.join("fifty"), SUBSCRIBERS, 71),
                (&dir.join("one"), 1, 72),
            ],
        )?;
        // [trigger][daemon]
        let mut series: [[Series; 2]; 2] = Default::default();
        for keep in ctx.rounds.each() {
            for (t, trigger) in [Trigger::Signal, Trigger::Request].into_iter().enumerate() {
                for (d, watched) in watched.iter_mut().enumerate() {
                    let latencies = measure(&rt, watched, trigger)?;
                    if keep {
                        series[t][d].add(latencies);
                    }
                }
            }
        }
        for watched in watched {
            watched.daemon.stop()?;
        }
        notes.push(format!(
            "clock: this process's monotonic clock, from just before kill(SIGUSR1) or before writing RunNow (on a fresh connection) to each subscriber task's return from Subscription::next() with the event decoded; the {SUBSCRIBERS} subscribers are separate connections served by 2 tokio workers of this process; events carry only millisecond wall-clock stamps, too coarse to use"
        ));
        notes.push(
            "the same burst carries, before RunStarted, the log line of the trigger (SIGUSR1 only) and of `Starting pruning...` and StateChanged(Running): RunStarted is its 3rd or 4th event; the first-event row is the purest delivery time"
                .into(),
        );
        let [signal, request] = series;
        let [signal50, signal1] = signal;
        let [request50, request1] = request;
        let ms = |name: String, samples: Vec<f64>| Measured::new(name, Unit::Ms, samples);
        let one = |what: &str| format!("{what}, 1 subscriber");
        let each = |what: &str| format!("{what}, each of {SUBSCRIBERS}");
        Ok(Outcome::Measured {
            rows: vec![
                Row::compare(
                    ms(each("SIGUSR1 → RunStarted"), signal50.run_started),
                    ms(one("SIGUSR1 → RunStarted"), signal1.run_started.clone()),
                    Target::AtMost(1.0),
                )
                .with_note("median over every subscriber of every trigger"),
                Row::compare(
                    ms(each("RunNow → RunStarted"), request50.run_started),
                    ms(one("RunNow → RunStarted"), request1.run_started),
                    Target::Info,
                )
                .with_note(
                    "context, not the target: a round trip, the RunNow request's way from a client to the daemon's control loop, then the event's way back",
                ),
                Row::compare(
                    ms(each("SIGUSR1 → first event"), signal50.first_event),
                    ms(one("SIGUSR1 → first event"), signal1.first_event),
                    Target::Info,
                ),
                Row::compare(
                    ms(
                        format!("SIGUSR1 → RunStarted, slowest of {SUBSCRIBERS}"),
                        signal50.slowest,
                    ),
                    ms(one("SIGUSR1 → RunStarted"), signal1.run_started),
                    Target::Info,
                )
                .with_note("per trigger, the last subscriber to get the event"),
            ],
        })
    }
}

/// Starts a runtime and two daemons on demo projects (directory, watchers,
/// seed), each followed by that many subscribers: the measured one and its
/// baseline.
fn watch_two(
    binaries: &Binaries,
    daemons: [(&std::path::Path, usize, u64); 2],
) -> Result<(Runtime, Vec<Watched>)> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting a tokio runtime")?;
    let mut watched = Vec::new();
    for (dir, subscribers, seed) in daemons {
        let project = Project::demo(dir, seed)?;
        let daemon = Daemon::start(binaries, &project, &rt)?;
        daemon.wait_idle_after_startup(&rt)?;
        watched.push(subscribe(&rt, daemon, subscribers)?);
    }
    Ok((rt, watched))
}

/// Connects and subscribes `count` clients to `daemon`, each followed by a task.
fn subscribe(rt: &Runtime, daemon: Daemon, count: usize) -> Result<Watched> {
    let (tx, receipts) = mpsc::unbounded_channel();
    for client in 0..count {
        let build: BuildDir = daemon.build().clone();
        let subscription = rt
            .block_on(async move {
                Client::connect(&build, "v0-prune-bench subscriber")
                    .await?
                    .subscribe()
                    .await
            })
            .with_context(|| format!("subscribing client {client}"))?;
        rt.spawn(follow(subscription, client, tx.clone()));
    }
    Ok(Watched {
        daemon,
        subscribers: count,
        receipts,
    })
}

/// One subscriber: stamps every event the moment it is decoded.
async fn follow(mut subscription: Subscription, client: usize, tx: mpsc::UnboundedSender<Receipt>) {
    while let Ok(Some(update)) = subscription.next().await {
        let at = Instant::now();
        let Update::Event { event, .. } = update else {
            continue;
        };
        let seen = match event {
            Event::RunStarted { .. } => Seen::RunStarted,
            Event::StateChanged {
                state: DaemonState::Idle,
            } => Seen::Idle,
            _ => Seen::Other,
        };
        if tx.send(Receipt { client, at, seen }).is_err() {
            break;
        }
    }
}

/// Triggers one run and collects, per subscriber, how long its first event
/// and its RunStarted took; returns once every subscriber saw the run end.
fn measure(rt: &Runtime, watched: &mut Watched, trigger: Trigger) -> Result<Latencies> {
    let build = watched.daemon.build().clone();
    let n = watched.subscribers;
    let daemon = &watched.daemon;
    let receipts = &mut watched.receipts;
    rt.block_on(async {
        // Quiet: the previous run's last events are in, nothing is on its way.
        loop {
            match tokio::time::timeout(QUIET, receipts.recv()).await {
                Err(_) => break,
                Ok(Some(_)) => {}
                Ok(None) => bail!("every subscriber is gone"),
            }
        }
        let control = match trigger {
            Trigger::Request => Some(Client::connect(&build, "v0-prune-bench").await?),
            Trigger::Signal => None,
        };
        let t0 = Instant::now();
        match control {
            Some(mut control) => {
                control.run_now().await?;
            }
            None => daemon.signal(Signal::USR1)?,
        }
        let mut first = vec![None; n];
        let mut started = vec![None; n];
        let mut ended = vec![false; n];
        let deadline = tokio::time::Instant::now() + PATIENCE;
        while ended.iter().any(|done| !done) {
            let receipt = match tokio::time::timeout_at(deadline, receipts.recv()).await {
                Ok(Some(receipt)) => receipt,
                Ok(None) => bail!("every subscriber is gone"),
                Err(_) => bail!(
                    "not every subscriber saw the run end within {PATIENCE:?}; the daemon's log ends: {}",
                    daemon.log_tail()
                ),
            };
            let Some(since) = receipt.at.checked_duration_since(t0) else {
                continue;
            };
            let ms = since.as_secs_f64() * 1e3;
            let c = receipt.client;
            first[c].get_or_insert(ms);
            match receipt.seen {
                Seen::RunStarted => started[c] = Some(ms),
                Seen::Idle if started[c].is_some() => ended[c] = true,
                Seen::Idle | Seen::Other => {}
            }
        }
        Ok(Latencies {
            first_event: first.into_iter().flatten().collect(),
            run_started: started.into_iter().flatten().collect(),
        })
    })
}

/// Control and events with the daemon at its watcher limit.
///
/// Two real daemons again: one followed by [`MAX_WATCHERS`] subscribers (the
/// limit), one by a single subscriber (the baseline). Each round asks each
/// daemon, on a fresh connection as every CLI command makes one, for its
/// status and for a run (connect, hello, request, answer: the whole round
/// trip a `v0-prune status` pays), and measures SIGUSR1 → RunStarted at each
/// subscriber as [`EventLatency`] does.
pub struct WatcherLoad;

/// The daemon's watcher limit (`daemon::MAX_WATCHERS`).
const MAX_WATCHERS: usize = 256;

impl Case for WatcherLoad {
    fn id(&self) -> &'static str {
        "watchers"
    }

    fn title(&self, _: &Sizes) -> String {
        format!("status, RunNow and events with {MAX_WATCHERS} watchers connected")
    }

    fn needs_binaries(&self) -> bool {
        true
    }

    fn run(&self, ctx: &mut Ctx, notes: &mut Vec<String>) -> Result<Outcome> {
        let binaries = match ctx.binaries(notes) {
            Ok(binaries) => binaries,
            Err(needs) => return Ok(super::not_measured("≤ 5 ms / ≤ 2 ms median", needs)),
        };
        let dir = ctx.case_dir(self.id())?;
        let (rt, mut watched) = watch_two(
            &binaries,
            [
                (&dir.join("limit"), MAX_WATCHERS, 81),
                (&dir.join("one"), 1, 82),
            ],
        )?;
        // [daemon]
        let mut status: [Vec<f64>; 2] = Default::default();
        let mut run_now: [Vec<f64>; 2] = Default::default();
        let mut events: [Series; 2] = Default::default();
        for keep in ctx.rounds.each() {
            for (d, watched) in watched.iter_mut().enumerate() {
                let build = watched.daemon.build().clone();
                let (asked, requested) = rt.block_on(async {
                    let t0 = Instant::now();
                    let mut client = Client::connect(&build, "v0-prune-bench status").await?;
                    client.status().await?;
                    let asked = t0.elapsed();
                    let t0 = Instant::now();
                    let mut client = Client::connect(&build, "v0-prune-bench run now").await?;
                    client.run_now().await?;
                    let requested = t0.elapsed();
                    // Let that run end before the next trigger is timed.
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    anyhow::Ok((asked, requested))
                })?;
                let latencies = measure(&rt, watched, Trigger::Signal)?;
                if keep {
                    status[d].push(asked.as_secs_f64() * 1e3);
                    run_now[d].push(requested.as_secs_f64() * 1e3);
                    events[d].add(latencies);
                }
            }
        }
        for watched in watched {
            watched.daemon.stop()?;
        }
        notes.push(format!(
            "{MAX_WATCHERS} subscribed connections (the daemon's limit) on 2 tokio workers of this process; status and RunNow each on a fresh connection, timed from before connecting to the decoded answer"
        ));
        let [status_limit, status_one] = status;
        let [run_now_limit, run_now_one] = run_now;
        let [events_limit, events_one] = events;
        let ms = |name: String, samples: Vec<f64>| Measured::new(name, Unit::Ms, samples);
        let at_limit = |what: &str| format!("{what}, {MAX_WATCHERS} watchers");
        let one = |what: &str| format!("{what}, 1 watcher");
        Ok(Outcome::Measured {
            rows: vec![
                Row::compare(
                    ms(at_limit("status round trip"), status_limit),
                    ms(one("status round trip"), status_one),
                    Target::AtMost(5.0),
                ),
                Row::compare(
                    ms(at_limit("RunNow round trip"), run_now_limit),
                    ms(one("RunNow round trip"), run_now_one),
                    Target::AtMost(5.0),
                ),
                Row::compare(
                    ms(
                        format!("SIGUSR1 → RunStarted, each of {MAX_WATCHERS}"),
                        events_limit.run_started,
                    ),
                    ms(one("SIGUSR1 → RunStarted"), events_one.run_started),
                    Target::AtMost(2.0),
                )
                .with_note("median over every watcher of every trigger"),
            ],
        })
    }
}
