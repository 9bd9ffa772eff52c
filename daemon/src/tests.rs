//! The whole daemon in-process, with a pruner that misbehaves on purpose:
//! what the real engine cannot be made to do from outside.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use v0_prune_shared::config::Settings;
use v0_prune_shared::paths::BuildDir;
use v0_prune_shared::protocol::{
    ClientMessage, DaemonMessage, Event, FrameReader, PROTOCOL_VERSION, RunOutcome, RunRecord,
    Totals, write_frame,
};
use v0_prune_shared::prune::{PruneError, RunReport};
use v0_prune_shared::socket::{self, Stream};

use super::*;

/// The nice value of the thread a run prunes on, seen by [`unruly_pruner`].
#[cfg(target_os = "linux")]
static RUN_NICE: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(i32::MIN);

/// This thread's nice value (Linux: per thread; macOS lowers a QoS class instead).
#[cfg(target_os = "linux")]
fn thread_nice() -> i32 {
    // SAFETY: plain syscalls on this thread's own id.
    unsafe { libc::getpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t) }
}

/// Panics on the first run, fails as a whole on the second, succeeds after.
fn unruly_pruner() -> Pruner {
    let calls = Arc::new(AtomicUsize::new(0));
    Arc::new(
        move |_build, _options, _events| match calls.fetch_add(1, Ordering::SeqCst) {
            0 => panic!("boom in the engine"),
            1 => Err(PruneError::Busy("the build dir".into())),
            _ => {
                #[cfg(target_os = "linux")]
                RUN_NICE.store(thread_nice(), Ordering::SeqCst);
                Ok(RunReport::default())
            }
        },
    )
}

async fn connect(build: &BuildDir) -> (Stream, FrameReader) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let stream = loop {
        match socket::connect(build).await {
            Ok(stream) => break stream,
            Err(err) if tokio::time::Instant::now() > deadline => panic!("no daemon: {err}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    };
    let mut reader = FrameReader::new();
    let hello = ClientMessage::Hello {
        version: PROTOCOL_VERSION,
        client: "unit test".into(),
    };
    write_frame(&mut &stream, &hello).await.expect("hello");
    let answer: DaemonMessage = reader.read(&mut &stream).await.expect("hello back");
    assert!(matches!(answer, DaemonMessage::Hello { .. }), "{answer:?}");
    (stream, reader)
}

async fn next_finished(stream: &Stream, reader: &mut FrameReader) -> RunRecord {
    loop {
        let message: DaemonMessage =
            tokio::time::timeout(Duration::from_secs(10), reader.read(&mut &*stream))
                .await
                .expect("an event in time")
                .expect("an event");
        if let DaemonMessage::Event {
            event: Event::RunFinished { record },
            ..
        } = message
        {
            return record;
        }
    }
}

#[test]
fn a_panicking_or_failing_run_is_recorded_and_the_daemon_keeps_going() {
    let dir = tempfile::tempdir().expect("tempdir");
    let build = BuildDir::new(dir.path());
    let options = DaemonOptions {
        build_dir: build.clone(),
        project: Some("unit".into()),
        settings: Settings::default(),
    };
    let daemon = std::thread::spawn(move || run_with(options, unruly_pruner(), false));

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let (events, mut events_reader) = connect(&build).await;
        write_frame(&mut &events, &ClientMessage::Subscribe)
            .await
            .expect("subscribe");
        let first = match events_reader.read(&mut &events).await.expect("snapshot") {
            DaemonMessage::Snapshot { snapshot, .. } => match snapshot.last_run {
                Some(run) => run,
                None => next_finished(&events, &mut events_reader).await,
            },
            other => panic!("expected a snapshot, got {other:?}"),
        };
        assert_eq!(first.run_id, 1);
        assert_eq!(first.outcome, RunOutcome::Panicked);
        assert!(first.errors[0].contains("boom in the engine"), "{first:?}");

        let (control, mut control_reader) = connect(&build).await;
        for (expected_id, expected_outcome) in [(2, RunOutcome::WithErrors), (3, RunOutcome::Ok)] {
            write_frame(&mut &control, &ClientMessage::RunNow)
                .await
                .expect("run now");
            let answer: DaemonMessage = control_reader.read(&mut &control).await.expect("answer");
            assert_eq!(
                answer,
                DaemonMessage::RunNowAccepted {
                    run_id: expected_id,
                    coalesced: false
                }
            );
            let record = next_finished(&events, &mut events_reader).await;
            assert_eq!(
                (record.run_id, record.outcome),
                (expected_id, expected_outcome)
            );
        }
        write_frame(&mut &control, &ClientMessage::Drain)
            .await
            .expect("drain");
        let answer: DaemonMessage = control_reader.read(&mut &control).await.expect("answer");
        assert_eq!(answer, DaemonMessage::DrainAccepted);
    });

    let exit = daemon.join().expect("the daemon thread survives");
    assert_eq!(exit.expect("clean exit"), DaemonExit::Stopped);
    let (history, _) = History::load(&history_path(&build));
    let outcomes: Vec<_> = history.runs.iter().map(|r| r.outcome).collect();
    assert_eq!(
        outcomes,
        [RunOutcome::Panicked, RunOutcome::WithErrors, RunOutcome::Ok]
    );
    let log = std::fs::read_to_string(build.daemon_log()).expect("log");
    assert!(
        log.contains("Pruning failed (run #1): the run panicked: boom in the engine"),
        "{log}"
    );
    assert!(
        log.contains("Pruning failed (run #2): another prune is running"),
        "{log}"
    );
    assert!(log.contains("Drain requested by unit test"), "{log}");
    assert!(log.trim_end().ends_with("Daemon exiting normally"), "{log}");
    assert!(!build.pid_file().exists());
    // Housekeeping yields: the run pruned at a lower priority than the daemon.
    #[cfg(target_os = "linux")]
    assert_eq!(
        RUN_NICE.load(Ordering::SeqCst),
        (thread_nice() + 10).min(19)
    );
}

#[test]
fn a_subscriber_dropped_while_a_log_line_is_published_is_counted_without_a_deadlock() {
    use crate::hub::{Hub, Identity, SUBSCRIBER_QUEUE};
    use crate::v0_log::{LogWriter, dispatch};

    let dir = tempfile::tempdir().expect("tempdir");
    let log_path = dir.path().join("prune-daemon.log");
    let (done_tx, done) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let identity = Identity {
            daemon_pid: 1,
            project: None,
            build_dir: "/b".into(),
            started_at_ms: 0,
            interval_secs: 1,
            retention_secs: 1,
            budget: None,
        };
        let hub = Arc::new(Hub::new(identity, Totals::default(), &[]));
        let writer = Arc::new(LogWriter::open(&log_path, false).expect("log"));
        let publisher = Arc::clone(&hub);
        writer.set_listener(Arc::new(move |line| {
            publisher.publish(Event::LogLine { line: line.into() });
        }));
        let _stuck = hub.subscribe().expect("subscribe");
        tracing::dispatcher::with_default(&dispatch(writer), || {
            for n in 0..=SUBSCRIBER_QUEUE {
                tracing::info!("line {n}");
            }
        });
        let _ = done_tx.send(hub);
    });
    let hub = done
        .recv_timeout(Duration::from_secs(10))
        .expect("logging finished: no deadlock");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let dropped = runtime.block_on(async {
        tokio::time::timeout(Duration::from_secs(1), hub.dropped_subscribers()).await
    });
    assert_eq!(dropped.expect("the drop is reported"), 1);
}
