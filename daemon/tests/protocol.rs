//! The socket under abuse and under load: whatever a client sends, or fails
//! to read, the daemon keeps answering everyone else.

mod common;

use std::time::{Duration, Instant};

use common::{Client, RunDaemon, assert_answers_promptly, raw};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use v0_prune_shared::protocol::{
    ClientMessage, DaemonMessage, Event, FrameReader, PROTOCOL_VERSION, ProtocolError,
    encode_frame, write_frame,
};
use v0_prune_shared::socket::Stream;
use v0_prune_testkit::{PATIENCE, TestBuildDir};

/// Reads until the daemon closes the connection; fails if it does not within `within`.
async fn assert_closed_by_daemon(stream: &Stream, within: Duration) {
    let mut input = stream;
    let mut buf = [0u8; 4096];
    let closed = tokio::time::timeout(within, async {
        loop {
            match input.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the daemon kept the connection open");
}

#[tokio::test(flavor = "current_thread")]
async fn garbage_truncated_oversized_and_wrong_version_clients_do_not_hurt_the_daemon() {
    let tree = TestBuildDir::new();
    let mut daemon = tree.spawn("1h");
    daemon.wait_ready(&tree);
    let build = tree.build();

    // A client that connects and says nothing, and one that sends half a
    // hello and then nothing, both kept open through the others.
    let hello = encode_frame(&ClientMessage::Hello {
        version: 1,
        client: "truncated".into(),
    })
    .expect("encode");
    let silent = raw(&build).await;
    let silent_since = Instant::now();
    let stalled = raw(&build).await;
    (&stalled)
        .write_all(&hello[..hello.len() / 2])
        .await
        .expect("write");

    // Garbage.
    let garbage = raw(&build).await;
    (&garbage)
        .write_all(b"GET / HTTP/1.1\r\nHost: daemon\r\n\r\n")
        .await
        .expect("write");
    assert_closed_by_daemon(&garbage, Duration::from_secs(5)).await;
    assert_answers_promptly(&build, daemon.pid).await;

    // A length prefix of 4 GiB: refused before anything is allocated.
    let oversized = raw(&build).await;
    (&oversized)
        .write_all(&[0xFF, 0xFF, 0xFF, 0xFF, 1, 2, 3])
        .await
        .expect("write");
    assert_closed_by_daemon(&oversized, Duration::from_secs(5)).await;
    assert_answers_promptly(&build, daemon.pid).await;

    // Half a hello, then the client hangs up (half-closes, so it can still
    // see the daemon close its end).
    let mut truncated = tokio::net::UnixStream::connect(tree.socket_path())
        .await
        .expect("connect");
    truncated
        .write_all(&hello[..hello.len() / 2])
        .await
        .expect("write");
    truncated.shutdown().await.expect("half-close");
    let mut rest = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(1), truncated.read_to_end(&mut rest)).await;
    assert!(
        read.is_ok(),
        "a truncated hello must end the connection at once"
    );
    assert_answers_promptly(&build, daemon.pid).await;

    // Another protocol version: the daemon's hello, then a clear refusal.
    let old = raw(&build).await;
    let mut reader = FrameReader::new();
    write_frame(
        &mut &old,
        &ClientMessage::Hello {
            version: 999,
            client: "from the future".into(),
        },
    )
    .await
    .expect("hello");
    let answer: DaemonMessage = reader.read(&mut &old).await.expect("hello back");
    assert!(
        matches!(answer, DaemonMessage::Hello { version, .. } if version == PROTOCOL_VERSION),
        "{answer:?}"
    );
    match reader
        .read::<_, DaemonMessage>(&mut &old)
        .await
        .expect("refusal")
    {
        DaemonMessage::Rejected { reason } => {
            assert!(reason.contains("protocol version mismatch"), "{reason}");
            assert!(reason.contains("999"), "{reason}");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert!(matches!(
        reader.read::<_, DaemonMessage>(&mut &old).await,
        Err(ProtocolError::Closed)
    ));
    assert_answers_promptly(&build, daemon.pid).await;

    // A request before the hello.
    let rude = raw(&build).await;
    let mut reader = FrameReader::new();
    write_frame(&mut &rude, &ClientMessage::Status)
        .await
        .expect("write");
    assert!(matches!(
        reader.read::<_, DaemonMessage>(&mut &rude).await,
        Ok(DaemonMessage::Rejected { .. })
    ));

    // The silent client and the stalled one are dropped after the hello timeout.
    assert_closed_by_daemon(&silent, Duration::from_secs(6)).await;
    assert!(silent_since.elapsed() >= Duration::from_millis(2500));
    assert_closed_by_daemon(&stalled, Duration::from_secs(6)).await;
    assert_answers_promptly(&build, daemon.pid).await;
    assert!(daemon.running());
    assert!(tree.daemon_log().contains("did not say hello within 3s"));
}

#[tokio::test(flavor = "current_thread")]
async fn a_hundred_connections_at_once_are_served_or_refused_cleanly() {
    let tree = TestBuildDir::new();
    let mut daemon = tree.spawn("1h");
    daemon.wait_ready(&tree);
    let build = tree.build();

    // A hundred that hold their connection without a word: 64 get a slot,
    // the others are told why they do not.
    let mut held = Vec::new();
    for _ in 0..100 {
        held.push(raw(&build).await);
    }
    let checks: Vec<_> = held
        .into_iter()
        .map(|stream| {
            tokio::spawn(async move {
                let mut reader = FrameReader::new();
                let answer = tokio::time::timeout(
                    Duration::from_secs(1),
                    reader.read::<_, DaemonMessage>(&mut &stream),
                )
                .await;
                // Kept open until every check is done, so the slots stay taken.
                (stream, answer.ok().and_then(Result::ok))
            })
        })
        .collect();
    let mut held = Vec::new();
    let mut refused = 0;
    for check in checks {
        let (stream, answer) = check.await.expect("check task");
        match answer {
            None => {}
            Some(DaemonMessage::Rejected { reason }) => {
                assert!(
                    reason.contains("connections are opening at once"),
                    "{reason}"
                );
                refused += 1;
            }
            Some(other) => panic!("a silent client was sent {other:?}"),
        }
        held.push(stream);
    }
    assert_eq!(refused, 100 - 64);
    drop(held);
    assert_answers_promptly(&build, daemon.pid).await;

    // A hundred that each ask for the status at the same time: each gets
    // its answer or a clear refusal, never garbage or silence.
    let tasks: Vec<_> = (0..100)
        .map(|_| {
            let build = build.clone();
            tokio::spawn(async move {
                let stream = raw(&build).await;
                let mut reader = FrameReader::new();
                let hello = ClientMessage::Hello {
                    version: v0_prune_shared::protocol::PROTOCOL_VERSION,
                    client: "crowd".into(),
                };
                // A refused client may find the connection closed before its
                // hello is written; the refusal is still there to read.
                let _ = write_frame(&mut &stream, &hello).await;
                match reader.read(&mut &stream).await.expect("an answer") {
                    DaemonMessage::Hello { .. } => {}
                    DaemonMessage::Rejected { reason } => return Err(reason),
                    other => panic!("unexpected {other:?}"),
                }
                write_frame(&mut &stream, &ClientMessage::Status)
                    .await
                    .expect("status");
                match reader.read(&mut &stream).await.expect("status") {
                    DaemonMessage::Status(snapshot) => Ok(snapshot.daemon_pid),
                    // Over the control budget: refused with the reason.
                    DaemonMessage::Rejected { reason } => Err(reason),
                    other => panic!("unexpected {other:?}"),
                }
            })
        })
        .collect();
    let mut served = 0;
    for task in tasks {
        match task.await.expect("client task") {
            Ok(pid) => {
                assert_eq!(pid, daemon.pid);
                served += 1;
            }
            Err(reason) => assert!(
                reason.contains("(its limit); try again in a moment"),
                "{reason}"
            ),
        }
    }
    assert!(served >= 64, "only {served} of 100 served");
    assert_answers_promptly(&build, daemon.pid).await;
}

#[tokio::test(flavor = "current_thread")]
async fn a_subscriber_that_never_reads_is_dropped_while_another_keeps_receiving() {
    let tree = TestBuildDir::new();
    // Symbolic-link logs are skipped and each skip is logged: runs full of events.
    for n in 0..20 {
        std::os::unix::fs::symlink("/dev/null", tree.root().join(format!("logs/link-{n}.log")))
            .expect("symlink");
    }
    let mut daemon = tree.spawn("1h");
    daemon.wait_ready(&tree);
    let build = tree.build();

    let mut stuck = Client::connect(&build).await;
    let (stuck_seq, _) = stuck.subscribe().await;
    let mut watcher = Client::connect(&build).await;
    let (mut last_seq, _) = watcher.subscribe().await;
    let mut control = Client::connect(&build).await;

    let deadline = Instant::now() + Duration::from_secs(60);
    let mut dropped_at_seq = None;
    let mut runs_after_drop = 0;
    while runs_after_drop < 3 {
        assert!(
            Instant::now() < deadline,
            "the stuck subscriber was never dropped"
        );
        control.send(&ClientMessage::RunNow).await;
        let run_id = match control.next().await {
            DaemonMessage::RunNowAccepted { run_id, .. } => run_id,
            other => panic!("expected an acceptance, got {other:?}"),
        };
        loop {
            let DaemonMessage::Event { seq, event } = watcher.next().await else {
                panic!("the watcher must only get events");
            };
            assert_eq!(seq, last_seq + 1, "events arrive without gaps");
            last_seq = seq;
            match event {
                Event::LogLine { line } if line.contains("Dropped 1 event subscriber") => {
                    dropped_at_seq = Some(seq);
                }
                Event::RunFinished { record } if record.run_id == run_id => break,
                _ => {}
            }
        }
        if dropped_at_seq.is_some() {
            runs_after_drop += 1;
        }
    }

    // The stuck one gets what was queued for it, then the notice, then the end.
    let mut expected = stuck_seq + 1;
    let notice = loop {
        match stuck.try_next(Duration::from_secs(5)).await {
            Some(Ok(DaemonMessage::Event { seq, .. })) => {
                assert_eq!(seq, expected);
                expected += 1;
            }
            Some(Ok(DaemonMessage::Lagged { missed_from_seq })) => break missed_from_seq,
            other => panic!("expected events then Lagged, got {other:?}"),
        }
    };
    assert_eq!(notice, expected, "Lagged names the first event it missed");
    let dropped_at_seq = dropped_at_seq.expect("seen");
    assert!(
        dropped_at_seq >= notice + 1024,
        "dropped only once 1024 events were queued beyond what it took: \
         it missed {notice}.., dropped at {dropped_at_seq}"
    );
    assert!(matches!(
        stuck.try_next(Duration::from_secs(5)).await,
        Some(Err(ProtocolError::Closed))
    ));
    assert!(daemon.running());
    assert_answers_promptly(&build, daemon.pid).await;
}

#[tokio::test(flavor = "current_thread")]
async fn drain_finishes_the_run_and_the_connection_closes_only_after_cleanup() {
    let tree = TestBuildDir::with_logs(100, 5);
    let run_lock = tree.hold_run_lock();
    let mut daemon = tree.spawn("1h");
    daemon.wait_ready(&tree);
    tree.wait_for_daemon_log("Starting pruning...", 1);
    let build = tree.build();

    let mut watcher = Client::connect(&build).await;
    watcher.subscribe().await;
    let mut drainer = Client::connect(&build).await;
    drainer.send(&ClientMessage::Drain).await;
    assert_eq!(drainer.next().await, DaemonMessage::DrainAccepted);
    tree.wait_for_daemon_log(
        "Drain requested by daemon test, will exit after current operation",
        1,
    );
    // Nothing more is said until the process is gone.
    assert!(drainer.try_next(Duration::from_millis(300)).await.is_none());
    assert!(daemon.running());
    drop(run_lock);

    match drainer.try_next(PATIENCE).await {
        Some(Err(ProtocolError::Closed)) => {}
        other => panic!("expected the connection to close, got {other:?}"),
    }
    assert!(
        !build.pid_file().exists(),
        "pid file removed before the close"
    );
    assert!(
        !tree.socket_path().exists(),
        "socket removed before the close"
    );
    assert!(daemon.wait_exit(PATIENCE).success());
    assert_eq!(tree.count_in_log("Pruning complete: 100 logs"), 1);
    assert_eq!(tree.count_in_log("Starting pruning..."), 1);

    // The watcher saw the run's progress and items, its end, then the
    // daemon say goodbye.
    let mut pruned_items = 0;
    let mut last_progress = None;
    let mut finished = false;
    loop {
        match watcher.try_next(Duration::from_secs(5)).await {
            Some(Ok(DaemonMessage::Event { event, .. })) => match event {
                Event::ItemPruned { .. } => pruned_items += 1,
                Event::Progress {
                    files_done,
                    files_total,
                    bytes_reclaimed,
                    ..
                } => last_progress = Some((files_done, files_total, bytes_reclaimed)),
                Event::RunFinished { record } => {
                    assert_eq!(record.log_files_pruned, 100);
                    finished = true;
                }
                Event::Exiting { reason } => {
                    assert!(finished, "Exiting comes after the run finished");
                    assert_eq!(reason, "drain requested by daemon test");
                    break;
                }
                _ => {}
            },
            other => panic!("expected events up to Exiting, got {other:?}"),
        }
    }
    assert_eq!(pruned_items, 100);
    // 100 worker logs and the daemon's own, plus the merge queue.
    let (done, total, bytes) = last_progress.expect("progress was reported");
    assert_eq!(total, 102);
    assert!(done >= 101, "{done} of {total}");
    assert!(bytes > 0);
}
