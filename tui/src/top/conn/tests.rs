//! The link against a real socket: no daemon, a fake daemon that speaks the
//! protocol and then goes away, a daemon of another protocol version.

use std::time::Duration;

use v0_prune_shared::paths::BuildDir;
use v0_prune_shared::protocol::{
    ClientMessage, DaemonMessage, Event, PROTOCOL_VERSION, read_frame, write_frame,
};
use v0_prune_shared::socket::{self, Listener, Stream};

use super::*;
use crate::top::fixtures;

const WAIT: Duration = Duration::from_secs(10);

async fn next(link: &mut LinkHandle) -> LinkEvent {
    tokio::time::timeout(WAIT, link.events.recv())
        .await
        .expect("the link reports in time")
        .expect("the link is alive")
}

/// Accepts one client and answers its hello with `version`.
async fn accept_hello(listener: &Listener, version: u32) -> Stream {
    let stream = tokio::time::timeout(WAIT, listener.accept())
        .await
        .expect("the link connects in time")
        .expect("accept");
    let hello: ClientMessage = read_frame(&mut &stream).await.expect("hello");
    assert!(
        matches!(&hello, ClientMessage::Hello { version, client } if *version == PROTOCOL_VERSION && client == CLIENT_NAME),
        "{hello:?}"
    );
    let answer = DaemonMessage::Hello {
        version,
        daemon_pid: 4242,
        daemon_version: "0.1.0".to_owned(),
    };
    write_frame(&mut &stream, &answer)
        .await
        .expect("hello back");
    stream
}

/// Accepts one subscriber and sends it a snapshot at `seq`.
async fn accept_subscriber(listener: &Listener, seq: u64) -> Stream {
    let stream = accept_hello(listener, PROTOCOL_VERSION).await;
    let request: ClientMessage = read_frame(&mut &stream).await.expect("request");
    assert_eq!(request, ClientMessage::Subscribe);
    let snapshot = DaemonMessage::Snapshot {
        seq,
        snapshot: fixtures::snapshot(),
    };
    write_frame(&mut &stream, &snapshot)
        .await
        .expect("snapshot");
    stream
}

fn snapshot_seq(event: &LinkEvent) -> Option<u64> {
    match event {
        LinkEvent::Update(Update::Snapshot { seq, .. }) => Some(*seq),
        _ => None,
    }
}

#[tokio::test]
async fn no_daemon_is_reported_as_not_running_with_a_retry() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut link = spawn_link(BuildDir::new(dir.path()));
    let LinkEvent::Down(down) = next(&mut link).await else {
        panic!("expected the link to be down");
    };
    assert_eq!(down.kind, DownKind::NotRunning);
    assert_eq!(down.attempt, 1);
    assert_eq!(down.retry_in, FIRST_RETRY);
    let LinkEvent::Down(down) = next(&mut link).await else {
        panic!("expected the link to stay down");
    };
    assert_eq!((down.attempt, down.retry_in), (2, FIRST_RETRY * 2));
}

#[tokio::test]
async fn events_are_forwarded_and_a_lost_daemon_is_resubscribed_with_a_snapshot() {
    let dir = tempfile::tempdir().expect("temp dir");
    let build = BuildDir::new(dir.path());
    let listener = socket::bind(&build).await.expect("bind");
    let mut link = spawn_link(build.clone());

    let stream = accept_subscriber(&listener, 5).await;
    let event = DaemonMessage::Event {
        seq: 6,
        event: Event::LogLine {
            line: "hello".into(),
        },
    };
    write_frame(&mut &stream, &event).await.expect("event");
    assert_eq!(snapshot_seq(&next(&mut link).await), Some(5));
    assert_eq!(
        next(&mut link).await,
        LinkEvent::Update(Update::Event {
            seq: 6,
            event: Event::LogLine {
                line: "hello".into()
            }
        })
    );

    // The daemon goes away (it restarts): the link says so, then comes back
    // by itself with a fresh snapshot.
    drop(stream);
    let LinkEvent::Down(down) = next(&mut link).await else {
        panic!("expected the link to go down");
    };
    assert_eq!(down.kind, DownKind::Closed);
    let _again = accept_subscriber(&listener, 0).await;
    assert_eq!(snapshot_seq(&next(&mut link).await), Some(0));
}

#[tokio::test]
async fn resubscribe_drops_the_stream_and_fetches_a_new_snapshot() {
    let dir = tempfile::tempdir().expect("temp dir");
    let build = BuildDir::new(dir.path());
    let listener = socket::bind(&build).await.expect("bind");
    let mut link = spawn_link(build.clone());
    let first = accept_subscriber(&listener, 7).await;
    assert_eq!(snapshot_seq(&next(&mut link).await), Some(7));

    link.send(LinkCommand::Resubscribe);
    let _second = accept_subscriber(&listener, 9).await;
    assert_eq!(snapshot_seq(&next(&mut link).await), Some(9));
    // The first connection was closed by the link.
    let closed = tokio::time::timeout(WAIT, read_frame::<_, ClientMessage>(&mut &first)).await;
    assert!(matches!(closed, Ok(Err(_))), "{closed:?}");
}

#[tokio::test]
async fn a_daemon_of_another_version_is_incompatible() {
    let dir = tempfile::tempdir().expect("temp dir");
    let build = BuildDir::new(dir.path());
    let listener = socket::bind(&build).await.expect("bind");
    let mut link = spawn_link(build.clone());
    let _stream = accept_hello(&listener, PROTOCOL_VERSION + 1).await;
    let LinkEvent::Down(down) = next(&mut link).await else {
        panic!("expected the link to be down");
    };
    let DownKind::Incompatible(message) = down.kind else {
        panic!("expected incompatible, got {:?}", down.kind);
    };
    assert!(message.contains("protocol"), "{message}");
}

#[test]
fn backoff_doubles_up_to_a_cap_and_resets() {
    let mut backoff = Backoff::default();
    let delays: Vec<Duration> = (0..8).map(|_| backoff.fail()).collect();
    assert_eq!(delays[0], FIRST_RETRY);
    assert_eq!(delays[1], FIRST_RETRY * 2);
    assert_eq!(delays[2], FIRST_RETRY * 4);
    assert_eq!(*delays.last().expect("delays"), MAX_RETRY);
    assert!(delays.windows(2).all(|w| w[0] <= w[1]));
    backoff.reset();
    assert_eq!(backoff.fail(), FIRST_RETRY);
}
