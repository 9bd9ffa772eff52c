//! A bounded soak: the daemon under triggers every few milliseconds (SIGUSR1
//! and RunNow), 50 subscribers, writers appending to its logs the two ways
//! v0's processes do, and a merge queue updated under its lock meanwhile.
//!
//! At the end: no fresh line and no queue update is lost, every subscriber saw
//! gapless sequence numbers (or was told it lagged), and the daemon's memory
//! stayed under [`RSS_BOUND_KIB`] and grew by less than [`RSS_GROWTH_KIB`]
//! after warming up. `V0_PRUNE_SOAK_SECS` (default 12) runs longer.
//!
//! Reads the daemon's memory from `/proc/<pid>/status`: Linux only.

#![cfg(target_os = "linux")]

mod common;

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::{Client, RunDaemon};
use serde_json::{Value, json};
use v0_prune_shared::protocol::{ClientMessage, DaemonMessage, Event, ProtocolError};
use v0_prune_testkit::process::status_kib;
use v0_prune_testkit::{PATIENCE, TestBuildDir, stamp, wait_until};

/// The daemon's resident memory may not exceed this at any sample (a debug
/// build peaks around 8 MiB here).
const RSS_BOUND_KIB: u64 = 32 * 1024;

/// Nor grow by more than this between the first second and the end.
const RSS_GROWTH_KIB: u64 = 8 * 1024;

const SUBSCRIBERS: usize = 50;
const HELD_WRITERS: usize = 3;
const ECHO_WRITERS: usize = 3;

fn old_stamp() -> String {
    stamp(Duration::from_secs(48 * 3600))
}

/// Line `n` of writer `w`: every third one is already expired when written.
fn line(w: usize, n: u64, fresh: &str, old: &str) -> String {
    let (at, kind) = if n % 3 == 2 {
        (old, "old")
    } else {
        (fresh, "new")
    };
    format!(
        "[{at}] w{w} {kind} {n:08} {}\n",
        "z".repeat((n % 50) as usize)
    )
}

/// Appends until `stop`, holding the file open (`nohup cmd >> x.log`) or
/// opening it for each line (`echo >> x.log`); returns how many lines.
fn writer(path: PathBuf, w: usize, hold: bool, stop: Arc<AtomicBool>) -> u64 {
    let old = old_stamp();
    let open = || {
        OpenOptions::new()
            .append(true)
            .create(true)
            .open(&path)
            .expect("open")
    };
    let mut held = hold.then(open);
    let mut n = 0;
    while !stop.load(Ordering::Relaxed) {
        let fresh = stamp(Duration::ZERO);
        let text = line(w, n, &fresh, &old);
        match &mut held {
            Some(file) => file.write_all(text.as_bytes()).expect("append"),
            None => open().write_all(text.as_bytes()).expect("append"),
        }
        n += 1;
        std::thread::sleep(Duration::from_micros(700));
    }
    n
}

/// Checks that every fresh line writer `w` wrote is in the file, once, in order.
fn assert_no_fresh_line_lost(path: &Path, w: usize, written: u64) {
    let bytes = std::fs::read(path).expect("read log");
    assert!(!bytes.contains(&0), "{}: NUL bytes", path.display());
    let text = String::from_utf8(bytes).expect("utf-8");
    let marker = format!(" w{w} new ");
    let fresh: Vec<u64> = text
        .lines()
        .filter_map(|l| l.split_once(&marker))
        .map(|(_, rest)| rest[..8].parse().expect("number"))
        .collect();
    let expected: Vec<u64> = (0..written).filter(|n| n % 3 != 2).collect();
    assert_eq!(
        fresh.len(),
        expected.len(),
        "{}: fresh lines lost or repeated",
        path.display()
    );
    assert!(
        fresh == expected,
        "{}: fresh lines out of order",
        path.display()
    );
}

/// What mergeq does: under `.queue.lock`, add a pending entry and an expired
/// one, move an earlier entry along, replace the file atomically.
fn mergeq(root: PathBuf, stop: Arc<AtomicBool>) -> BTreeMap<String, String> {
    let queue = root.join("mergeq/queue.json");
    let lock = root.join("mergeq/.queue.lock");
    let mut statuses = BTreeMap::new();
    let mut n = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let created = OpenOptions::new().write(true).create_new(true).open(&lock);
        let Ok(mut held) = created else {
            std::thread::sleep(Duration::from_millis(1));
            continue;
        };
        held.write_all(format!("mergeq (pid {})\n", std::process::id()).as_bytes())
            .expect("lock content");
        let mut doc: Value =
            serde_json::from_slice(&std::fs::read(&queue).expect("queue")).expect("json");
        let entries = doc["entries"].as_array_mut().expect("entries");
        let id = format!("u-{n:06}");
        entries.push(json!({"id": id, "status": "pending", "enqueued_at": stamp(Duration::ZERO)}));
        entries.push(
            json!({"id": format!("old-{n}"), "status": "completed", "updated_at": old_stamp()}),
        );
        statuses.insert(id, "pending".to_owned());
        if n % 4 == 3 {
            let moved = format!("u-{:06}", n - 3);
            for entry in entries.iter_mut().filter(|e| e["id"] == moved.as_str()) {
                entry["status"] = json!("processing");
                statuses.insert(moved.clone(), "processing".to_owned());
            }
        }
        let temp = root.join("mergeq/.queue.json.mergeq.tmp");
        std::fs::write(&temp, serde_json::to_vec_pretty(&doc).expect("json")).expect("write");
        std::fs::rename(&temp, &queue).expect("rename");
        std::fs::remove_file(&lock).expect("release");
        n += 1;
        std::thread::sleep(Duration::from_millis(4));
    }
    statuses
}

/// How one subscriber's stream went.
#[derive(Debug, Default)]
struct Watched {
    events: u64,
    lagged: bool,
    saw_exit: bool,
}

async fn subscriber(build: v0_prune_shared::paths::BuildDir) -> Watched {
    let mut client = Client::connect(&build).await;
    let (mut seq, _) = client.subscribe().await;
    let mut watched = Watched::default();
    loop {
        match client.try_next(Duration::from_secs(120)).await {
            Some(Ok(DaemonMessage::Event { seq: next, event })) => {
                assert_eq!(next, seq + 1, "a gap in the event stream");
                seq = next;
                watched.events += 1;
                watched.saw_exit |= matches!(event, Event::Exiting { .. });
            }
            Some(Ok(DaemonMessage::Lagged { missed_from_seq })) => {
                assert_eq!(
                    missed_from_seq,
                    seq + 1,
                    "Lagged names the first missed event"
                );
                watched.lagged = true;
            }
            Some(Err(ProtocolError::Closed)) => return watched,
            other => panic!("unexpected {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_subscribers_constant_triggers_and_live_writers_lose_nothing() {
    let secs: u64 = std::env::var("V0_PRUNE_SOAK_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(12);
    let tree = TestBuildDir::with_logs(4, 2000);
    let root = tree.root().to_path_buf();
    let build = tree.build();
    std::fs::create_dir_all(build.mergeq_dir()).expect("mergeq");
    let initial: Vec<Value> = (0..200)
        .map(|i| json!({"id": format!("seed-{i}"), "status": "failed", "updated_at": old_stamp()}))
        .collect();
    std::fs::write(
        build.queue_file(),
        serde_json::to_vec_pretty(&json!({"version": 1, "entries": initial})).expect("json"),
    )
    .expect("queue");
    let mut daemon = tree.spawn("1h");
    daemon.wait_ready(&tree);
    let pid = daemon.pid;

    let stop = Arc::new(AtomicBool::new(false));
    let mut writers = Vec::new();
    for w in 0..HELD_WRITERS + ECHO_WRITERS {
        let path = root.join(format!("logs/writer-{w}.log"));
        std::fs::write(
            &path,
            (0..3000)
                .map(|n| line(w, n, &old_stamp(), &old_stamp()).replace(" new ", " seed "))
                .collect::<String>(),
        )
        .expect("seed log");
        let stop = Arc::clone(&stop);
        let hold = w < HELD_WRITERS;
        writers.push((
            path.clone(),
            w,
            std::thread::spawn(move || writer(path, w, hold, stop)),
        ));
    }
    let queue_writer = {
        let (root, stop) = (root.clone(), Arc::clone(&stop));
        std::thread::spawn(move || mergeq(root, stop))
    };
    let watchers: Vec<_> = (0..SUBSCRIBERS)
        .map(|_| tokio::spawn(subscriber(build.clone())))
        .collect();
    let signaller = {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            let target = rustix::process::Pid::from_raw(pid as i32).expect("pid");
            let mut sent = 0u64;
            while !stop.load(Ordering::Relaxed) {
                rustix::process::kill_process(target, rustix::process::Signal::USR1)
                    .expect("SIGUSR1");
                sent += 1;
                std::thread::sleep(Duration::from_millis(3));
            }
            sent
        })
    };

    let mut control = Client::connect(&build).await;
    let (mut requests, mut max_rss, mut warm_rss) = (0u64, 0u64, None);
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(secs) {
        control.send(&ClientMessage::RunNow).await;
        match control.next().await {
            DaemonMessage::RunNowAccepted { .. } => requests += 1,
            other => panic!("unexpected {other:?}"),
        }
        let rss = status_kib(pid, "VmRSS").expect("daemon alive");
        max_rss = max_rss.max(rss);
        if warm_rss.is_none() && started.elapsed() > Duration::from_secs(1) {
            warm_rss = Some(rss);
        }
        tokio::time::sleep(Duration::from_millis(3)).await;
    }
    stop.store(true, Ordering::Relaxed);
    let signals = signaller.join().expect("signaller");
    let written: Vec<(PathBuf, usize, u64)> = writers
        .into_iter()
        .map(|(path, w, handle)| (path, w, handle.join().expect("writer")))
        .collect();
    let statuses = queue_writer.join().expect("mergeq");

    // One last run after every writer stopped.
    control.send(&ClientMessage::RunNow).await;
    let DaemonMessage::RunNowAccepted { run_id, .. } = control.next().await else {
        panic!("final RunNow refused");
    };
    let finished = wait_until(PATIENCE, || {
        tree.history()
            .and_then(|h| h["runs"].as_array().and_then(|r| r.last().cloned()))
            .and_then(|r| r["run_id"].as_u64())
            .is_some_and(|last| last >= run_id)
    });
    assert!(finished, "the final run never finished");
    let end_rss = status_kib(pid, "VmRSS").expect("alive");
    max_rss = max_rss.max(end_rss);
    let runs = tree.runs_in_history();
    let totals = tree.history().expect("history")["totals"].clone();
    drop(control);
    daemon.signal(rustix::process::Signal::TERM);
    assert!(daemon.wait_exit(PATIENCE).success());

    let mut lagged = 0;
    for watcher in watchers {
        let watched = watcher.await.expect("subscriber");
        assert!(watched.lagged || watched.saw_exit, "{watched:?}");
        lagged += usize::from(watched.lagged);
    }
    let lines: u64 = written.iter().map(|(_, _, n)| n).sum();
    for (path, w, n) in &written {
        assert_no_fresh_line_lost(path, *w, *n);
    }
    let queue: Value =
        serde_json::from_slice(&std::fs::read(build.queue_file()).expect("queue")).expect("json");
    let entries = queue["entries"].as_array().expect("entries");
    let found: BTreeMap<String, String> = entries
        .iter()
        .filter(|e| e["id"].as_str().is_some_and(|id| id.starts_with("u-")))
        .map(|e| {
            (
                e["id"].as_str().unwrap_or_default().to_owned(),
                e["status"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    assert_eq!(found, statuses, "queue updates were lost");
    assert!(
        entries
            .iter()
            .all(|e| e["status"] != "completed" && e["status"] != "failed"),
        "expired entries survived the final run"
    );
    let warm_rss = warm_rss.unwrap_or(end_rss);
    eprintln!(
        "soak: {secs}s, {runs} runs, {requests} RunNow + {signals} SIGUSR1, {lines} lines by {} writers, \
         {} queue updates, {SUBSCRIBERS} subscribers ({lagged} told they lagged); removed {} log lines \
         and {} queue entries; daemon RSS {} KiB after 1s, {} KiB at the end, {} KiB at most",
        written.len(),
        statuses.len(),
        totals["log_lines_removed"],
        totals["queue_entries_removed"],
        warm_rss,
        end_rss,
        max_rss
    );
    assert!(runs > 10, "only {runs} runs");
    // Every expired entry mergeq added (one per update) and the 200 seeded ones went.
    let removed = totals["queue_entries_removed"].as_u64().unwrap_or(0);
    assert!(removed >= statuses.len() as u64 + 200, "{removed}");
    assert!(totals["log_lines_removed"].as_u64().unwrap_or(0) > lines / 10);
    assert!(max_rss < RSS_BOUND_KIB, "daemon RSS reached {max_rss} KiB");
    assert!(
        end_rss < warm_rss + RSS_GROWTH_KIB,
        "daemon RSS grew from {warm_rss} to {end_rss} KiB"
    );
}
