//! When runs happen: at start, on the interval, on SIGUSR1 and on request,
//! with triggers during a run coalescing into exactly one more.

mod common;

use std::time::Duration;

use common::{Client, RunDaemon};
use rustix::process::Signal;
use v0_prune_shared::protocol::{DaemonMessage, DaemonState, Event, Trigger};
#[cfg(target_os = "linux")]
use v0_prune_testkit::process::cpu_ticks;
use v0_prune_testkit::{PATIENCE, TestBuildDir, wait_until};

fn triggers(tree: &TestBuildDir) -> Vec<String> {
    let history = tree.history().expect("history");
    history["runs"]
        .as_array()
        .expect("runs")
        .iter()
        .map(|run| run["trigger"].as_str().expect("trigger").to_owned())
        .collect()
}

#[test]
fn sigusr1_wakes_the_daemon_for_a_run() {
    let tree = TestBuildDir::new();
    let mut daemon = tree.spawn("1h");
    daemon.wait_ready(&tree);
    tree.wait_for_daemon_log("Sleeping for 3600s", 1);
    daemon.signal(Signal::USR1);
    tree.wait_for_daemon_log("Received SIGUSR1, waking up", 1);
    assert!(wait_until(PATIENCE, || tree.runs_in_history() == 2));
    assert_eq!(triggers(&tree), ["Startup", "Signal"]);
    assert_eq!(tree.count_in_log("Starting pruning..."), 2);
    tree.wait_for_daemon_log("Sleeping for 3600s", 2);
}

#[tokio::test(flavor = "current_thread")]
async fn triggers_during_a_run_coalesce_into_exactly_one_more_run() {
    let tree = TestBuildDir::with_logs(200, 5);
    // v0's pruner holds the run lock: our startup run waits on it, in progress.
    let run_lock = tree.hold_run_lock();
    let mut daemon = tree.spawn("1h");
    daemon.wait_ready(&tree);
    tree.wait_for_daemon_log("Starting pruning...", 1);

    for _ in 0..3 {
        daemon.signal(Signal::USR1);
        std::thread::sleep(Duration::from_millis(20));
    }
    tree.wait_for_daemon_log("Received SIGUSR1, waking up", 1);
    let mut client = Client::connect(&tree.build()).await;
    for _ in 0..2 {
        client
            .send(&v0_prune_shared::protocol::ClientMessage::RunNow)
            .await;
        assert_eq!(
            client.next().await,
            DaemonMessage::RunNowAccepted {
                run_id: 2,
                coalesced: true
            },
            "requests join the run the signals already owe"
        );
    }
    let status = client.status().await;
    assert_eq!(status.state, DaemonState::Running);
    assert_eq!(status.current_run.map(|run| run.run_id), Some(1));
    assert_eq!(
        tree.count_in_log("Pruning complete"),
        0,
        "the first run is still going"
    );
    drop(run_lock);

    // After the owed run the daemon goes to sleep: had a third run been owed,
    // it would have started instead.
    tree.wait_for_daemon_log("Sleeping for 3600s until next prune cycle", 1);
    assert_eq!(tree.count_in_log("Starting pruning..."), 2);
    assert_eq!(tree.count_in_log("Pruning complete"), 2);
    assert_eq!(triggers(&tree), ["Startup", "Signal"]);
    let status = client.status().await;
    assert_eq!(status.state, DaemonState::Idle);
    assert_eq!(status.totals.runs, 2);
}

#[test]
fn the_interval_brings_runs_on_schedule() {
    let tree = TestBuildDir::new();
    let mut daemon = tree.spawn("1s");
    daemon.wait_ready(&tree);
    assert!(wait_until(PATIENCE, || tree.runs_in_history() >= 3));
    // Each run starts one interval after the previous one ended.
    let history = tree.history().expect("history");
    let runs = history["runs"].as_array().expect("runs");
    for pair in runs.windows(2).take(2) {
        let ended = pair[0]["finished_at_ms"].as_i64().expect("end");
        let started = pair[1]["started_at_ms"].as_i64().expect("start");
        let gap = started - ended;
        assert!((950..3000).contains(&gap), "{gap}ms between runs");
    }
    let triggers = triggers(&tree);
    assert_eq!(&triggers[..3], ["Startup", "Schedule", "Schedule"]);
    assert!(tree.count_in_log("Sleeping for 1s until next prune cycle") >= 2);
}

#[tokio::test(flavor = "current_thread")]
async fn the_next_run_time_is_always_known() {
    let tree = TestBuildDir::new();
    let mut daemon = tree.spawn("2s");
    daemon.wait_ready(&tree);
    tree.wait_for_daemon_log("Sleeping for 2s", 1);
    let mut client = Client::connect(&tree.build()).await;
    let (_, snapshot) = client.subscribe().await;
    let next = snapshot.next_run_at_ms.expect("next run known while idle");
    let now = jiff::Timestamp::now().as_millisecond();
    assert!(
        next > now - 500 && next <= now + 2_100,
        "next {next}, now {now}"
    );
    assert_eq!(snapshot.interval_secs, 2);
    assert!(snapshot.last_run.is_some());
    assert!(!snapshot.log_tail.is_empty());

    // The scheduled run announces itself, and its end announces the next one.
    let mut started = false;
    let mut finished_at = None;
    loop {
        let DaemonMessage::Event { event, .. } = client.next().await else {
            panic!("only events after the snapshot");
        };
        match event {
            Event::RunStarted { trigger, .. } => {
                assert_eq!(trigger, Trigger::Schedule);
                started = true;
            }
            Event::RunFinished { record } if started => {
                finished_at = Some(record.finished_at_ms);
            }
            Event::NextRun { at_ms } if finished_at.is_some() => {
                let finished_at = finished_at.expect("set");
                let wait = at_ms - finished_at;
                assert!(
                    (1900..2500).contains(&wait),
                    "next run {wait}ms after the last"
                );
                break;
            }
            _ => {}
        }
    }
}

#[cfg(target_os = "linux")] // procfs
#[test]
fn an_idle_daemon_uses_no_cpu() {
    let tree = TestBuildDir::new();
    let mut daemon = tree.spawn("1h");
    daemon.wait_ready(&tree);
    tree.wait_for_daemon_log("Sleeping for 3600s", 1);
    let before = cpu_ticks(daemon.pid).expect("stat");
    // The measurement window itself: a polling loop would burn ticks here.
    std::thread::sleep(Duration::from_millis(1500));
    let used = cpu_ticks(daemon.pid).expect("stat") - before;
    assert!(used <= 1, "an idle daemon used {used} clock ticks in 1.5s");
}
