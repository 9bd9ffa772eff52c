//! What is using the space: the daemon's view of its logs and merge queue,
//! in the snapshot and as events, against the real binary and real writers.

mod common;

use std::time::Duration;

use common::{Client, RunDaemon};
use v0_prune_shared::protocol::{
    ClientMessage, DaemonMessage, Event, FileInfo, FileMethod, FilesView, HolderAccess,
};
use v0_prune_testkit::{TestBuildDir, Writer, stamp};

fn expired_then_fresh(lines: usize) -> String {
    let old = stamp(Duration::from_secs(48 * 3600));
    let new = stamp(Duration::from_secs(60));
    let mut text = "nohup: ignoring input\n".to_string();
    for i in 0..lines {
        text.push_str(&format!("[{old}] old line {i} {}\n", "o".repeat(60)));
    }
    for i in 0..lines {
        text.push_str(&format!("[{new}] new line {i}\n"));
    }
    text
}

fn file<'a>(view: &'a FilesView, path: &str) -> &'a FileInfo {
    view.largest
        .iter()
        .chain(&view.skipped)
        .find(|f| f.path == path)
        .unwrap_or_else(|| panic!("{path} not in the view: {view:#?}"))
}

#[tokio::test(flavor = "current_thread")]
async fn the_snapshot_says_what_each_log_holds_who_writes_it_and_what_the_run_did() {
    let tree = TestBuildDir::new();
    let logs = tree.root().join("logs");
    std::fs::write(logs.join("positional.log"), expired_then_fresh(50)).expect("write");
    std::fs::write(logs.join("appender.log"), expired_then_fresh(200)).expect("write");
    let positional = Writer::positional(&logs.join("positional.log"));
    let appender = Writer::appending(&logs.join("appender.log"));
    std::fs::create_dir_all(tree.root().join("mergeq")).expect("mergeq");
    std::fs::write(
        tree.root().join("mergeq/queue.json"),
        r#"{"entries": [
  {"id": "a", "status": "completed", "updated_at": "2020-01-01T00:00:00Z"},
  {"id": "b", "status": "pending", "enqueued_at": "2020-01-01T00:00:00Z"},
  {"id": "c", "status": "pending", "enqueued_at": "2020-01-01T00:00:00Z"}
]}"#,
    )
    .expect("queue");

    let mut daemon = tree.spawn("1h");
    daemon.wait_ready(&tree);
    tree.wait_for_daemon_log("Sleeping for 3600s until next prune cycle", 1);
    let snapshot = Client::connect(&tree.build()).await.status().await;
    let view = snapshot.files.expect("a view after the first run");
    assert_eq!(view.run_id, snapshot.last_run.as_ref().map(|r| r.run_id));
    // Three workers, the two held logs, the daemon's own log.
    assert_eq!(view.total_files, 6, "{view:#?}");
    let on_disk: u64 = view
        .largest
        .iter()
        .map(|f| {
            std::fs::metadata(tree.root().join(&f.path))
                .expect("listed file")
                .len()
        })
        .sum();
    assert!(
        view.total_bytes <= on_disk,
        "{} > {on_disk}",
        view.total_bytes
    );
    assert!(view.largest.windows(2).all(|w| w[0].size >= w[1].size));

    let worker = file(&view, "operations/op0/worker-0.log");
    assert_eq!(worker.method, FileMethod::Rewrite);
    assert_eq!(worker.lines_removed, 4);
    assert!(worker.bytes_reclaimed > 0);
    let oldest = worker.oldest_entry_ms.expect("oldest entry");
    let age_ms = jiff::Timestamp::now().as_millisecond() - oldest;
    assert!(
        (50_000..600_000).contains(&age_ms),
        "oldest entry {age_ms} ms old"
    );
    // Retention 6 h, next run in 1 h: the minute-old entries stay then.
    assert_eq!(worker.next_reclaim, Some(0));
    assert!(worker.holders.is_empty());

    let skipped = file(&view, "logs/positional.log");
    match &skipped.method {
        FileMethod::Skipped { reason } => assert!(
            reason.contains("without O_APPEND") && reason.contains(&positional.pid().to_string()),
            "{reason}"
        ),
        other => panic!("positional writer's log: {other:?}"),
    }
    assert_eq!(skipped.lines_removed, 0);
    let holder = &skipped.holders[0];
    assert_eq!(
        (holder.pid, holder.access),
        (positional.pid(), HolderAccess::Positional)
    );
    assert_eq!(holder.command, "sleep");
    assert_eq!(holder.command_line.as_deref(), Some("sleep 120"));
    // Not read by the run, so its first entry is looked up: the expired one.
    let skipped_oldest = skipped
        .oldest_entry_ms
        .expect("oldest entry of a skipped log");
    assert!(jiff::Timestamp::now().as_millisecond() - skipped_oldest > 47 * 3_600_000);

    let appended = file(&view, "logs/appender.log");
    assert_eq!(appended.method, FileMethod::InPlace, "{appended:#?}");
    assert!(appended.lines_removed > 0);
    assert!(
        appended
            .holders
            .iter()
            .any(|h| h.pid == appender.pid() && h.access == HolderAccess::Append)
    );

    let queue = view.queue.expect("queue");
    assert_eq!((queue.entries, queue.entries_removed), (2, 1));
    assert_eq!(queue.by_status.len(), 1);
    assert_eq!(
        (
            queue.by_status[0].status.as_str(),
            queue.by_status[0].entries
        ),
        ("pending", 2)
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_run_that_changes_the_files_publishes_them_before_it_finishes_and_growth_follows() {
    let tree = TestBuildDir::new();
    let mut daemon = tree.spawn("1h");
    daemon.wait_ready(&tree);
    tree.wait_for_daemon_log("Sleeping for 3600s until next prune cycle", 1);
    let build = tree.build();
    let mut watcher = Client::connect(&build).await;
    let (_, snapshot) = watcher.subscribe().await;
    let before = snapshot.files.expect("a view after the first run");
    let worker = tree.root().join("operations/op1/worker-1.log");
    let size_before = file(&before, "operations/op1/worker-1.log").size;

    // Some time passes and the worker writes 10 000 bytes.
    std::thread::sleep(Duration::from_millis(300));
    let line = format!("[{}] {}\n", stamp(Duration::ZERO), "g".repeat(76));
    let mut text = std::fs::read_to_string(&worker).expect("read");
    for _ in 0..100 {
        text.push_str(&line);
    }
    std::fs::write(&worker, text).expect("append");
    Client::connect(&build)
        .await
        .send(&ClientMessage::RunNow)
        .await;

    let mut files = None;
    loop {
        match watcher.next().await {
            DaemonMessage::Event {
                event: Event::Files { view },
                ..
            } => files = Some(view),
            DaemonMessage::Event {
                event: Event::RunFinished { record },
                ..
            } => {
                let view = files.expect("the files came before the run's end");
                assert_eq!(view.run_id, Some(record.run_id));
                let now = file(&view, "operations/op1/worker-1.log");
                assert_eq!(now.size, size_before + 10_000);
                assert_eq!(now.recent.len(), 2);
                let growth = now.growth_per_hour.expect("growth after two runs");
                assert!(
                    growth > 10_000,
                    "10 000 bytes in well under an hour: {growth}/h"
                );
                return;
            }
            _ => {}
        }
    }
}
