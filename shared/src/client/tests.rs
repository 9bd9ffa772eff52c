//! Each test runs a fake daemon speaking the protocol over a real socket in a
//! temporary build directory, and drives the real client against it.

use std::future::Future;
use std::time::{Duration, Instant};

use tempfile::TempDir;
use tokio::io::AsyncWriteExt;

use super::*;
use crate::protocol::{DaemonState, RunOutcome, Totals, Trigger, read_frame};

/// A build directory with a fake daemon listening on its socket; `script`
/// runs once per accepted connection.
async fn fake_daemon<F, Fut>(script: F) -> (TempDir, BuildDir)
where
    F: Fn(Stream) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let dir = TempDir::new().expect("tempdir");
    let build = BuildDir::new(dir.path());
    let listener = socket::bind(&build).await.expect("bind");
    tokio::spawn(async move {
        while let Ok(stream) = listener.accept().await {
            tokio::spawn(script(stream));
        }
    });
    (dir, build)
}

async fn recv(stream: &Stream) -> ClientMessage {
    read_frame(&mut &*stream).await.expect("fake daemon: read")
}

async fn send(stream: &Stream, message: DaemonMessage) {
    write_frame(&mut &*stream, &message)
        .await
        .expect("fake daemon: write");
}

/// Reads the client's hello and answers with `version`; returns the client's name.
async fn greet(stream: &Stream, version: u32) -> String {
    let ClientMessage::Hello { client, .. } = recv(stream).await else {
        panic!("the first message must be a hello");
    };
    send(
        stream,
        DaemonMessage::Hello {
            version,
            daemon_pid: 4242,
            daemon_version: "9.9.9".into(),
        },
    )
    .await;
    client
}

fn snapshot(project: &str) -> Snapshot {
    Snapshot {
        daemon_pid: 4242,
        daemon_version: "9.9.9".into(),
        project: Some(project.into()),
        build_dir: "/b".into(),
        started_at_ms: 1,
        state: DaemonState::Idle,
        current_run: None,
        last_run: Some(record(4)),
        next_run_at_ms: Some(2),
        interval_secs: 3600,
        retention_secs: 21_600,
        totals: Totals::default(),
        history: vec![record(3), record(4)],
        log_tail: vec![],
        files: None,
        budget: None,
    }
}

fn record(run_id: u64) -> RunRecord {
    RunRecord::panicked(run_id, Trigger::Request, 10, 20, false, "test")
}

#[tokio::test]
async fn hello_then_requests_get_their_answers() {
    let (_dir, build) = fake_daemon(|stream| async move {
        let name = greet(&stream, PROTOCOL_VERSION).await;
        loop {
            let answer = match read_frame::<_, ClientMessage>(&mut &stream).await {
                Ok(ClientMessage::Status) => DaemonMessage::Status(snapshot(&name)),
                Ok(ClientMessage::RunNow) => DaemonMessage::RunNowAccepted {
                    run_id: 7,
                    coalesced: true,
                },
                Ok(other) => panic!("unexpected {other:?}"),
                Err(_) => return,
            };
            send(&stream, answer).await;
        }
    })
    .await;
    let mut client = Client::connect(&build, "unit test").await.expect("connect");
    assert_eq!(client.daemon_pid(), 4242);
    assert_eq!(client.daemon_version(), "9.9.9");
    assert_eq!(client.socket_path(), socket::socket_path(&build));
    let status = client.status().await.expect("status");
    assert_eq!(status, snapshot("unit test"), "the daemon heard our name");
    let run = client.run_now().await.expect("run now");
    assert_eq!(
        run,
        RunRequested {
            run_id: 7,
            coalesced: true
        }
    );
    client
        .status()
        .await
        .expect("the connection serves many requests");
}

#[tokio::test]
async fn a_daemon_of_another_protocol_version_gets_a_clear_message() {
    let (_dir, build) = fake_daemon(|stream| async move {
        greet(&stream, PROTOCOL_VERSION + 1).await;
    })
    .await;
    let err = Client::connect(&build, "unit test")
        .await
        .expect_err("mismatch");
    assert!(
        matches!(err, ClientError::VersionMismatch { ours, theirs }
            if ours == PROTOCOL_VERSION && theirs == PROTOCOL_VERSION + 1),
        "{err:?}"
    );
    let message = err.to_string();
    assert!(
        message.contains(&format!(
            "the running daemon speaks protocol {}, this v0-prune speaks {}",
            PROTOCOL_VERSION + 1,
            PROTOCOL_VERSION
        )),
        "{message}"
    );
    assert!(
        message.contains("`v0-prune shutdown && v0-prune`"),
        "{message}"
    );
}

#[tokio::test]
async fn no_daemon_says_how_to_start_one() {
    let dir = TempDir::new().expect("tempdir");
    let build = BuildDir::new(dir.path());
    let err = Client::connect(&build, "unit test")
        .await
        .expect_err("no daemon");
    let ClientError::NotRunning { socket, .. } = &err else {
        panic!("expected NotRunning, got {err:?}");
    };
    assert_eq!(*socket, socket::socket_path(&build));
    let message = err.to_string();
    assert!(message.contains("not running"), "{message}");
    assert!(message.contains("start it with `v0-prune`"), "{message}");
}

#[tokio::test]
async fn a_daemon_that_accepts_and_says_nothing_times_out_instead_of_hanging() {
    let (_dir, build) = fake_daemon(|stream| async move {
        tokio::time::sleep(Duration::from_secs(60)).await;
        drop(stream);
    })
    .await;
    let started = Instant::now();
    let err = Client::connect(&build, "unit test")
        .await
        .expect_err("stuck");
    let waited = started.elapsed();
    assert!(matches!(err, ClientError::Timeout { .. }), "{err:?}");
    assert!(waited >= DEFAULT_TIMEOUT, "{waited:?}");
    assert!(
        waited < DEFAULT_TIMEOUT + Duration::from_secs(2),
        "{waited:?}"
    );
    assert!(
        err.to_string()
            .contains("did not answer within 2.0s while connecting"),
        "{err}"
    );
}

#[tokio::test]
async fn a_daemon_stuck_after_the_hello_times_out_and_the_client_is_spent() {
    let (_dir, build) = fake_daemon(|stream| async move {
        greet(&stream, PROTOCOL_VERSION).await;
        let _ignored = recv(&stream).await;
        tokio::time::sleep(Duration::from_secs(60)).await;
    })
    .await;
    let mut client = Client::connect_with_timeout(&build, "unit test", Duration::from_millis(200))
        .await
        .expect("connect");
    let err = client.status().await.expect_err("stuck");
    assert!(
        err.to_string().contains("while waiting for its status"),
        "{err}"
    );
    let err = client.run_now().await.expect_err("spent");
    assert!(matches!(err, ClientError::Broken), "{err:?}");
}

#[tokio::test]
async fn a_rejection_and_an_error_reply_are_told_apart() {
    let (_dir, build) = fake_daemon(|stream| async move {
        let ClientMessage::Hello { client, .. } = recv(&stream).await else {
            return;
        };
        if client == "one too many" {
            let reason = "too many connections (64)".into();
            send(&stream, DaemonMessage::Rejected { reason }).await;
            return;
        }
        greet_reply(&stream).await;
        assert_eq!(recv(&stream).await, ClientMessage::RunNow);
        let message = "the daemon is draining".into();
        send(&stream, DaemonMessage::Error { message }).await;
        assert_eq!(recv(&stream).await, ClientMessage::Status);
        send(&stream, DaemonMessage::Status(snapshot("p"))).await;
    })
    .await;
    let err = Client::connect(&build, "one too many")
        .await
        .expect_err("rejected");
    assert!(
        matches!(&err, ClientError::Rejected(reason) if reason.contains("too many")),
        "{err:?}"
    );

    let mut client = Client::connect(&build, "fine").await.expect("connect");
    let err = client.run_now().await.expect_err("error reply");
    assert!(matches!(&err, ClientError::Daemon(message) if message == "the daemon is draining"));
    client
        .status()
        .await
        .expect("an error reply leaves the connection usable");
}

async fn greet_reply(stream: &Stream) {
    send(
        stream,
        DaemonMessage::Hello {
            version: PROTOCOL_VERSION,
            daemon_pid: 1,
            daemon_version: "x".into(),
        },
    )
    .await;
}

#[tokio::test]
async fn garbage_instead_of_a_hello_is_a_protocol_error() {
    let (_dir, build) = fake_daemon(|mut stream| async move {
        let _ = recv(&stream).await;
        let _ = stream.write_all(&[0, 0, 0, 3, 0xde, 0xad, 0xbe]).await;
    })
    .await;
    let err = Client::connect(&build, "unit test")
        .await
        .expect_err("garbage");
    assert!(
        matches!(err, ClientError::Protocol(ProtocolError::Decode(_))),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_subscription_yields_the_snapshot_then_events_in_order_then_ends() {
    let (_dir, build) = fake_daemon(|stream| async move {
        greet(&stream, PROTOCOL_VERSION).await;
        assert_eq!(recv(&stream).await, ClientMessage::Subscribe);
        let snapshot = snapshot("p");
        send(&stream, DaemonMessage::Snapshot { seq: 10, snapshot }).await;
        for seq in 11..=13 {
            let event = Event::NextRun { at_ms: seq as i64 };
            send(&stream, DaemonMessage::Event { seq, event }).await;
        }
    })
    .await;
    let client = Client::connect(&build, "unit test").await.expect("connect");
    let mut events = client.subscribe().await.expect("subscribe");
    assert_eq!(events.daemon_pid(), 4242);
    match events.next().await.expect("first") {
        Some(Update::Snapshot { seq: 10, snapshot }) => assert_eq!(*snapshot, self::snapshot("p")),
        other => panic!("the snapshot must come first, got {other:?}"),
    }
    for expected in 11..=13 {
        match events.next().await.expect("event") {
            Some(Update::Event {
                seq,
                event: Event::NextRun { at_ms },
            }) => {
                assert_eq!(seq, expected);
                assert_eq!(at_ms, expected as i64);
            }
            other => panic!("expected event {expected}, got {other:?}"),
        }
    }
    assert_eq!(events.next().await.expect("end"), None);
    assert_eq!(events.next().await.expect("still the end"), None);
}

#[tokio::test]
async fn a_lagging_subscriber_is_told_and_the_stream_ends() {
    let (_dir, build) = fake_daemon(|stream| async move {
        greet(&stream, PROTOCOL_VERSION).await;
        let _ = recv(&stream).await;
        send(
            &stream,
            DaemonMessage::Snapshot {
                seq: 0,
                snapshot: snapshot("p"),
            },
        )
        .await;
        send(&stream, DaemonMessage::Lagged { missed_from_seq: 1 }).await;
        tokio::time::sleep(Duration::from_secs(60)).await;
    })
    .await;
    let client = Client::connect(&build, "unit test").await.expect("connect");
    let mut events = client.subscribe().await.expect("subscribe");
    assert!(matches!(
        events.next().await,
        Ok(Some(Update::Snapshot { .. }))
    ));
    assert_eq!(
        events.next().await.expect("lagged"),
        Some(Update::Lagged { missed_from_seq: 1 })
    );
    assert_eq!(
        events.next().await.expect("ended"),
        None,
        "no waiting after Lagged"
    );
}

#[tokio::test]
async fn wait_for_run_returns_the_record_of_that_run() {
    let (_dir, build) = fake_daemon(|stream| async move {
        greet(&stream, PROTOCOL_VERSION).await;
        let _ = recv(&stream).await;
        send(
            &stream,
            DaemonMessage::Snapshot {
                seq: 0,
                snapshot: snapshot("p"),
            },
        )
        .await;
        let events = [
            Event::RunStarted {
                run_id: 5,
                trigger: Trigger::Request,
                started_at_ms: 10,
            },
            Event::RunFinished { record: record(6) },
            Event::RunFinished { record: record(5) },
        ];
        for (seq, event) in (1..).zip(events) {
            send(&stream, DaemonMessage::Event { seq, event }).await;
        }
    })
    .await;
    let mut events = Client::connect(&build, "unit test")
        .await
        .expect("connect")
        .subscribe()
        .await
        .expect("subscribe");
    let done = events.wait_for_run(5).await.expect("run 5");
    assert_eq!(done.run_id, 5);
    assert_eq!(done.outcome, RunOutcome::Panicked);

    let mut again = Client::connect(&build, "unit test")
        .await
        .expect("connect")
        .subscribe()
        .await
        .expect("subscribe");
    let already = again
        .wait_for_run(3)
        .await
        .expect("run 3 is in the snapshot's history");
    assert_eq!(already.run_id, 3);
    let err = again.wait_for_run(99).await.expect_err("never finishes");
    assert!(matches!(err, ClientError::Disconnected), "{err:?}");
}

#[tokio::test]
async fn drain_returns_when_the_daemon_has_exited() {
    let (_dir, build) = fake_daemon(|stream| async move {
        greet(&stream, PROTOCOL_VERSION).await;
        assert_eq!(recv(&stream).await, ClientMessage::Drain);
        send(&stream, DaemonMessage::DrainAccepted).await;
        // Finishing the current run before exiting.
        tokio::time::sleep(Duration::from_millis(300)).await;
    })
    .await;
    let client = Client::connect(&build, "unit test").await.expect("connect");
    let draining = client.drain().await.expect("drain");
    assert_eq!(draining.daemon_pid(), 4242);
    let started = Instant::now();
    draining.wait_for_exit().await.expect("exit");
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(250),
        "returned before the exit: {waited:?}"
    );
    assert!(waited < Duration::from_secs(2), "{waited:?}");
}
