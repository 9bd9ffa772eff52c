use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use proptest::prelude::*;
use tokio::io::{AsyncRead, AsyncWriteExt, ReadBuf};

use super::*;
use crate::prune::{
    Job, LogMethod, LogOutcome, LogsReport, QueueReport, RemovedEntry, RunReport, Skipped,
};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

fn record(run_id: u64) -> RunRecord {
    RunRecord {
        run_id,
        trigger: Trigger::Schedule,
        started_at_ms: 1_764_331_200_000,
        finished_at_ms: 1_764_331_200_250,
        duration_ms: 250,
        dry_run: false,
        log_files_examined: 12,
        log_files_pruned: 3,
        log_lines_removed: 1200,
        log_bytes_reclaimed: 64_000,
        queue_entries_removed: 2,
        queue_bytes_reclaimed: 512,
        bytes_reclaimed: 64_512,
        skipped: vec![Skipped {
            item: "logs/worker.log".into(),
            reason: "held by a positional writer (pid 42)".into(),
        }],
        skipped_total: 1,
        failed: Vec::new(),
        failed_total: 0,
        log_files_failed: 0,
        errors: vec![],
        outcome: RunOutcome::Ok,
        budget: None,
    }
}

fn snapshot() -> Snapshot {
    Snapshot {
        daemon_pid: 4242,
        daemon_version: "0.1.0".into(),
        project: Some("demo".into()),
        build_dir: "/home/me/demo/.v0/build".into(),
        started_at_ms: 1_764_331_000_000,
        state: DaemonState::Running,
        current_run: Some(RunProgress {
            run_id: 8,
            trigger: Trigger::Request,
            started_at_ms: 1_764_331_300_000,
            files_done: 3,
            files_total: 10,
            bytes_reclaimed: 100,
            current: Some("logs/merge.log".into()),
        }),
        last_run: Some(record(7)),
        next_run_at_ms: Some(1_764_334_800_000),
        interval_secs: 3600,
        retention_secs: 21_600,
        totals: Totals {
            runs: 7,
            bytes_reclaimed: 1 << 30,
            log_lines_removed: 99,
            queue_entries_removed: 5,
            since_ms: 1_764_000_000_000,
        },
        history: vec![record(6), record(7)],
        log_tail: vec!["[2026-11-28T12:00:00Z] Pruning complete".into()],
        files: Some(files_view("logs/worker.log")),
        budget: None,
    }
}

fn file_info(path: &str, method: FileMethod) -> FileInfo {
    FileInfo {
        path: path.into(),
        size: 12_345_678,
        lines_removed: 120,
        bytes_reclaimed: 64_000,
        oldest_entry_ms: Some(1_764_310_000_000),
        holders: vec![FileHolder {
            pid: 77,
            descriptors: 1,
            daemon: false,
            command: "worker".into(),
            command_line: Some(format!("worker --log {path}")),
            access: HolderAccess::Positional,
        }],
        method,
        next_reclaim: None,
        growth_per_hour: Some(-5),
        recent: vec![FileRun {
            run_id: 7,
            at_ms: 1_764_331_200_000,
            size_before: 12_409_678,
            bytes_reclaimed: 64_000,
        }],
    }
}

fn files_view(path: &str) -> FilesView {
    FilesView {
        as_of_ms: 1_764_331_200_250,
        run_id: Some(7),
        largest: vec![
            file_info(path, FileMethod::Rewrite),
            file_info("logs/a.log", FileMethod::InPlace),
            file_info("logs/b.log", FileMethod::NothingToDo),
        ],
        skipped: vec![file_info(
            "logs/small.log",
            FileMethod::Skipped {
                reason: "held open for writing without O_APPEND by pid 77 (worker)".into(),
            },
        )],
        total_files: 10_000,
        total_bytes: 1 << 33,
        total_skipped: 1,
        total_reclaimed: 192_000,
        total_next_reclaim: Some(0),
        total_growth_per_hour: None,
        queue: Some(QueueInfo {
            path: "mergeq/queue.json".into(),
            size: 2048,
            entries: 5,
            by_status: vec![
                StatusCount {
                    status: "completed".into(),
                    entries: 4,
                },
                StatusCount {
                    status: "pending".into(),
                    entries: 1,
                },
            ],
            entries_removed: 2,
            bytes_reclaimed: 512,
            next_removable: Some(3),
        }),
    }
}

fn every_client_message() -> Vec<ClientMessage> {
    vec![
        ClientMessage::Hello {
            version: PROTOCOL_VERSION,
            client: "v0-prune status".into(),
        },
        ClientMessage::Status,
        ClientMessage::RunNow,
        ClientMessage::Drain,
        ClientMessage::Subscribe,
    ]
}

fn every_event() -> Vec<Event> {
    vec![
        Event::StateChanged {
            state: DaemonState::Draining,
        },
        Event::NextRun {
            at_ms: 1_764_334_800_000,
        },
        Event::Exiting {
            reason: "SIGTERM".into(),
        },
        Event::RunStarted {
            run_id: 9,
            trigger: Trigger::Signal,
            started_at_ms: -1,
        },
        Event::Progress {
            run_id: 9,
            files_done: 1,
            files_total: 2,
            bytes_reclaimed: 3,
            current: None,
        },
        Event::ItemPruned {
            run_id: 9,
            job: Job::Queue,
            item: "mq-1".into(),
            detail: "completed".into(),
            bytes_reclaimed: 120,
        },
        Event::RunFinished { record: record(9) },
        Event::LogLine {
            line: "[2026-11-28T12:00:00Z] Starting pruning...".into(),
        },
        Event::Files {
            view: Box::new(files_view("logs/other.log")),
        },
    ]
}

fn every_daemon_message() -> Vec<DaemonMessage> {
    let mut all = vec![
        DaemonMessage::Hello {
            version: PROTOCOL_VERSION,
            daemon_pid: 4242,
            daemon_version: "0.1.0".into(),
        },
        DaemonMessage::Rejected {
            reason: "too many connections".into(),
        },
        DaemonMessage::Status(snapshot()),
        DaemonMessage::RunNowAccepted {
            run_id: 8,
            coalesced: true,
        },
        DaemonMessage::DrainAccepted,
        DaemonMessage::Snapshot {
            seq: 41,
            snapshot: snapshot(),
        },
        DaemonMessage::Lagged {
            missed_from_seq: 50,
        },
        DaemonMessage::Error {
            message: "no".into(),
        },
    ];
    all.extend(
        every_event()
            .into_iter()
            .enumerate()
            .map(|(i, event)| DaemonMessage::Event {
                seq: 42 + i as u64,
                event,
            }),
    );
    all
}

#[test]
fn every_message_round_trips_through_a_frame() {
    runtime().block_on(async {
        let mut wire = Vec::new();
        for message in every_client_message() {
            write_frame(&mut wire, &message).await.expect("write");
        }
        for message in every_daemon_message() {
            write_frame(&mut wire, &message).await.expect("write");
        }
        let mut reader = wire.as_slice();
        for message in every_client_message() {
            let read: ClientMessage = read_frame(&mut reader).await.expect("read");
            assert_eq!(read, message);
        }
        for message in every_daemon_message() {
            let read: DaemonMessage = read_frame(&mut reader).await.expect("read");
            assert_eq!(read, message);
        }
        let end = read_frame::<_, DaemonMessage>(&mut reader).await;
        assert!(matches!(end, Err(ProtocolError::Closed)), "{end:?}");
    });
}

#[test]
fn frame_reader_reads_back_to_back_frames_delivered_one_byte_at_a_time() {
    runtime().block_on(async {
        let mut wire = Vec::new();
        for message in every_daemon_message() {
            wire.extend(encode_frame(&message).expect("encode"));
        }
        let mut trickle = Trickle(&wire);
        let mut frames = FrameReader::new();
        for message in every_daemon_message() {
            let read: DaemonMessage = frames.read(&mut trickle).await.expect("read");
            assert_eq!(read, message);
        }
        assert_eq!(frames.buffered(), 0);
        let end = frames.read::<_, DaemonMessage>(&mut trickle).await;
        assert!(matches!(end, Err(ProtocolError::Closed)), "{end:?}");
    });
}

#[test]
fn frame_reader_survives_being_cancelled_mid_frame() {
    runtime().block_on(async {
        let (mut tx, mut rx) = tokio::io::duplex(1 << 16);
        let frame = encode_frame(&DaemonMessage::Status(snapshot())).expect("encode");
        let (head, tail) = frame.split_at(frame.len() / 2);
        tx.write_all(head).await.expect("write head");

        let mut frames = FrameReader::new();
        let cancelled = tokio::time::timeout(
            Duration::from_millis(50),
            frames.read::<_, DaemonMessage>(&mut rx),
        )
        .await;
        assert!(cancelled.is_err(), "half a frame must not complete a read");
        assert_eq!(frames.buffered(), head.len());

        tx.write_all(tail).await.expect("write tail");
        let read: DaemonMessage = frames.read(&mut rx).await.expect("read");
        assert_eq!(read, DaemonMessage::Status(snapshot()));
    });
}

#[test]
fn the_hellos_and_rejected_keep_their_encoding_forever() {
    // Any two versions must be able to exchange hellos: these bytes may never change.
    let client = encode_frame(&ClientMessage::Hello {
        version: 1,
        client: "x".into(),
    })
    .expect("encode");
    assert_eq!(client, [0, 0, 0, 4, 0, 1, 1, b'x']);
    let daemon = encode_frame(&DaemonMessage::Hello {
        version: 1,
        daemon_pid: 300,
        daemon_version: "v".into(),
    })
    .expect("encode");
    assert_eq!(daemon, [0, 0, 0, 6, 0, 1, 0xAC, 0x02, 1, b'v']);
    let rejected = encode_frame(&DaemonMessage::Rejected { reason: "r".into() }).expect("encode");
    assert_eq!(rejected, [0, 0, 0, 3, 1, 1, b'r']);
}

/// Feeds the prefix and then pends forever: a reader that tried to read (or
/// allocate for) the announced body would hang instead of failing.
struct PrefixThenSilence {
    prefix: [u8; 4],
    sent: bool,
}

impl AsyncRead for PrefixThenSilence {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.sent {
            return Poll::Pending;
        }
        self.sent = true;
        buf.put_slice(&self.prefix);
        Poll::Ready(Ok(()))
    }
}

/// Delivers one byte per read, the worst fragmentation a socket can produce.
struct Trickle<'a>(&'a [u8]);

impl AsyncRead for Trickle<'_> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if let Some((first, rest)) = self.0.split_first() {
            buf.put_slice(&[*first]);
            self.0 = rest;
        }
        Poll::Ready(Ok(()))
    }
}

#[test]
fn an_oversized_length_prefix_fails_at_once_without_reading_the_body() {
    runtime().block_on(async {
        for len in [u32::MAX, MAX_FRAME_LEN + 1] {
            let mut silent = PrefixThenSilence {
                prefix: len.to_be_bytes(),
                sent: false,
            };
            let result = tokio::time::timeout(
                Duration::from_secs(1),
                read_frame::<_, ClientMessage>(&mut silent),
            )
            .await
            .expect("must fail fast, not wait for the body");
            match result {
                Err(ProtocolError::FrameTooLarge { len: got, max }) => {
                    assert_eq!(got, u64::from(len));
                    assert_eq!(max, MAX_FRAME_LEN);
                }
                other => panic!("expected FrameTooLarge, got {other:?}"),
            }

            let mut silent = PrefixThenSilence {
                prefix: len.to_be_bytes(),
                sent: false,
            };
            let mut frames = FrameReader::new();
            let result = tokio::time::timeout(
                Duration::from_secs(1),
                frames.read::<_, ClientMessage>(&mut silent),
            )
            .await
            .expect("must fail fast");
            assert!(
                matches!(result, Err(ProtocolError::FrameTooLarge { .. })),
                "{result:?}"
            );
            assert!(frames.buffered() <= 4);
        }
    });
}

#[test]
fn a_large_announced_frame_allocates_only_what_arrives() {
    runtime().block_on(async {
        let mut silent = PrefixThenSilence {
            prefix: MAX_FRAME_LEN.to_be_bytes(),
            sent: false,
        };
        let mut frames = FrameReader::new();
        let pending = tokio::time::timeout(
            Duration::from_millis(20),
            frames.read::<_, ClientMessage>(&mut silent),
        )
        .await;
        assert!(pending.is_err(), "a legal prefix waits for its body");
        assert!(frames.capacity() < 64 * 1024, "{}", frames.capacity());
    });
}

#[test]
fn truncated_frames_are_reported_as_truncated() {
    runtime().block_on(async {
        let frame = encode_frame(&ClientMessage::Hello {
            version: 1,
            client: "a client with a long enough name".into(),
        })
        .expect("encode");
        for cut in [1, 3, 4, 5, frame.len() / 2, frame.len() - 1] {
            let mut reader = &frame[..cut];
            let result = read_frame::<_, ClientMessage>(&mut reader).await;
            assert!(
                matches!(result, Err(ProtocolError::Truncated)),
                "cut {cut}: {result:?}"
            );

            let mut reader = &frame[..cut];
            let result = FrameReader::new()
                .read::<_, ClientMessage>(&mut reader)
                .await;
            assert!(
                matches!(result, Err(ProtocolError::Truncated)),
                "cut {cut}: {result:?}"
            );
        }
        let mut empty: &[u8] = &[];
        let result = read_frame::<_, ClientMessage>(&mut empty).await;
        assert!(matches!(result, Err(ProtocolError::Closed)), "{result:?}");
    });
}

#[test]
fn garbage_and_empty_bodies_are_decode_errors() {
    runtime().block_on(async {
        let cases: &[&[u8]] = &[
            &[0, 0, 0, 0],                      // zero-length frame
            &[0, 0, 0, 1, 0xFF],                // no such variant
            &[0, 0, 0, 2, 0, 0x80],             // Hello with an unfinished varint
            &[0, 0, 0, 3, 2, 0, 0],             // RunNow with trailing bytes
            &[0, 0, 0, 4, 0, 1, 9, b'x'],       // string longer than the body
            &[0, 0, 0, 5, 0, 1, 2, 0xC3, 0x28], // invalid UTF-8
        ];
        for case in cases {
            let mut reader = *case;
            let result = read_frame::<_, ClientMessage>(&mut reader).await;
            assert!(
                matches!(result, Err(ProtocolError::Decode(_))),
                "{case:?}: {result:?}"
            );
            assert!(reader.is_empty(), "the whole bad frame is consumed");
        }
    });
}

#[test]
fn a_message_too_large_to_send_is_refused_before_writing() {
    runtime().block_on(async {
        let huge = DaemonMessage::Error {
            message: "x".repeat(MAX_FRAME_LEN as usize + 1),
        };
        let mut wire = Vec::new();
        let result = write_frame(&mut wire, &huge).await;
        assert!(
            matches!(result, Err(ProtocolError::FrameTooLarge { .. })),
            "{result:?}"
        );
        assert!(wire.is_empty());
    });
}

#[test]
fn a_snapshot_filled_to_every_cap_fits_in_one_frame() {
    let long = "é".repeat(MAX_TEXT_LEN * 4);
    let skipped: Vec<Skipped> = (0..1000)
        .map(|_| Skipped {
            item: long.clone(),
            reason: long.clone(),
        })
        .collect();
    let report = RunReport {
        dry_run: false,
        cutoff: "2026-11-28T06:00:00Z".into(),
        logs: LogsReport {
            skipped: skipped.clone(),
            failed: skipped.clone(),
            ..LogsReport::default()
        },
        queue: QueueReport {
            skipped: skipped.clone(),
            failed: skipped,
            ..QueueReport::default()
        },
        errors: vec![long.clone(); 1000],
    };
    let worst = RunRecord::from_report(1, Trigger::Startup, 0, 1, &report);
    assert_eq!(worst.skipped.len(), RECORD_SKIPPED);
    assert_eq!(worst.skipped_total, 2000);
    assert_eq!(worst.failed.len(), RECORD_SKIPPED);
    assert_eq!(worst.failed_total, 2000);
    assert!(worst.failed.iter().all(|f| f.reason.len() <= MAX_TEXT_LEN));
    assert_eq!(worst.errors.len(), RECORD_ERRORS);
    assert!(worst.errors.iter().all(|e| e.len() <= MAX_TEXT_LEN));
    let mut snap = snapshot();
    snap.last_run = Some(worst.clone());
    snap.history = vec![worst; HISTORY_IN_SNAPSHOT];
    snap.log_tail = vec![clip_text(&long); LOG_TAIL_LINES];
    // The files view at every cap, every text clipped.
    let mut worst_file = file_info(
        &clip_text(&long),
        FileMethod::Skipped {
            reason: clip_text(&long),
        },
    );
    worst_file.holders = vec![
        FileHolder {
            pid: u32::MAX,
            descriptors: 1,
            daemon: false,
            command: clip_text_to(&long, files::HOLDER_TEXT_LEN),
            command_line: Some(clip_text_to(&long, files::HOLDER_TEXT_LEN)),
            access: HolderAccess::Unknown,
        };
        files::HOLDERS_PER_FILE
    ];
    worst_file.recent = vec![worst_file.recent[0].clone(); files::RUNS_PER_FILE];
    let mut view = files_view("x");
    view.largest = vec![worst_file.clone(); FILES_IN_VIEW];
    view.skipped = vec![worst_file; SKIPPED_IN_VIEW];
    if let Some(queue) = view.queue.as_mut() {
        queue.by_status = vec![
            StatusCount {
                status: clip_text(&long),
                entries: u64::MAX,
            };
            files::QUEUE_STATUSES + 1
        ];
    }
    let view_bytes = postcard::to_stdvec(&view).expect("encode").len();
    assert!(
        view_bytes < 1 << 20,
        "a files view at every cap is {view_bytes} bytes; it must stay under 1 MiB"
    );
    snap.files = Some(view);
    let frame = encode_frame(&DaemonMessage::Status(snap)).expect("a full snapshot must fit");
    assert!(frame.len() <= MAX_FRAME_LEN as usize);
}

#[test]
fn a_record_summarises_the_engine_report() {
    let report = RunReport {
        dry_run: true,
        cutoff: "2026-11-28T06:00:00Z".into(),
        logs: LogsReport {
            files_examined: 4,
            pruned: vec![LogOutcome {
                path: "a.log".into(),
                lines_removed: 10,
                bytes_before: 1000,
                bytes_after: 400,
                method: LogMethod::DryRun,
                reason: String::new(),
            }],
            skipped: vec![],
            failed: vec![],
            lines_removed: 10,
            bytes_before: 5000,
            bytes_after: 4400,
            files: Vec::new(),
            budget: None,
        },
        queue: QueueReport {
            present: true,
            entries_before: 3,
            removed: vec![RemovedEntry {
                label: "mq-1".into(),
                status: "failed".into(),
            }],
            skipped: vec![Skipped {
                item: "mq-2".into(),
                reason: "bad time".into(),
            }],
            failed: vec![],
            bytes_before: 300,
            bytes_after: 200,
            retries: 0,
            statuses_before: Vec::new(),
        },
        errors: vec!["logs: boom".into()],
    };
    let summary = RunRecord::from_report(3, Trigger::Request, 1000, 1500, &report);
    assert_eq!(summary.duration_ms, 500);
    assert!(summary.dry_run);
    assert_eq!(summary.log_files_examined, 4);
    assert_eq!(summary.log_files_pruned, 1);
    assert_eq!(summary.log_lines_removed, 10);
    assert_eq!(summary.log_bytes_reclaimed, 600);
    assert_eq!(summary.queue_entries_removed, 1);
    assert_eq!(summary.queue_bytes_reclaimed, 100);
    assert_eq!(summary.bytes_reclaimed, 700);
    assert_eq!(summary.skipped_total, 1);
    assert_eq!(summary.skipped[0].item, "mq-2");
    assert_eq!(summary.outcome, RunOutcome::WithErrors);

    // A clock that stepped backwards gives a zero duration, not a wrap.
    assert_eq!(
        RunRecord::from_report(3, Trigger::Request, 1500, 1000, &report).duration_ms,
        0
    );

    let panicked = RunRecord::panicked(4, Trigger::Schedule, 0, 10, false, "index out of bounds");
    assert_eq!(panicked.outcome, RunOutcome::Panicked);
    assert!(panicked.errors[0].contains("index out of bounds"));

    let mut totals = Totals::default();
    totals.add(&record(5));
    totals.add(&summary);
    assert_eq!(totals.runs, 2);
    assert_eq!(totals.since_ms, record(5).started_at_ms);
    assert_eq!(totals.bytes_reclaimed, 64_512, "a dry run reclaims nothing");
}

/// A run whose every job completed but which could not prune a log (a
/// full disk) is not "ok": the record counts and lists it apart from the
/// items left alone on purpose, and says so in one clause.
#[test]
fn a_record_tells_items_that_could_not_be_pruned_from_skipped_ones() {
    let enospc = std::io::Error::from_raw_os_error(libc::ENOSPC);
    let reason = crate::prune::could_not_prune(&enospc).expect("a failure");
    let mut report = RunReport::default();
    report.logs.files_examined = 3;
    report.logs.skipped.push(Skipped {
        item: "logs/held.log".into(),
        reason: "held open for writing without O_APPEND by pid 7".into(),
    });
    report.logs.failed.push(Skipped {
        item: "logs/big.log".into(),
        reason: reason.clone(),
    });
    let record = RunRecord::from_report(9, Trigger::Request, 0, 5, &report);
    assert_eq!(record.outcome, RunOutcome::WithErrors);
    assert!(record.errors.is_empty());
    assert_eq!((record.skipped_total, record.failed_total), (1, 1));
    assert_eq!(record.log_files_failed, 1);
    assert_eq!(record.failed[0].item, "logs/big.log");
    assert_eq!(
        record.not_pruned_summary().as_deref(),
        Some("1 log could not be pruned (no space left on device)")
    );
    report.queue.failed.push(Skipped {
        item: "mergeq/queue.json".into(),
        reason,
    });
    let both = RunRecord::from_report(10, Trigger::Request, 0, 5, &report);
    assert_eq!(
        both.not_pruned_summary().as_deref(),
        Some("1 log and the merge queue could not be pruned (no space left on device)")
    );
    report.logs.failed.clear();
    report.queue.failed.clear();
    let fine = RunRecord::from_report(11, Trigger::Request, 0, 5, &report);
    assert_eq!(fine.outcome, RunOutcome::Ok, "a skipped item is no failure");
    assert_eq!(fine.not_pruned_summary(), None);
}

#[test]
fn clip_text_cuts_on_a_character_boundary() {
    assert_eq!(clip_text("short"), "short");
    let clipped = clip_text(&"é".repeat(MAX_TEXT_LEN));
    assert!(clipped.len() <= MAX_TEXT_LEN);
    assert!(clipped.ends_with('…'));
}

#[test]
fn versions_are_compatible_only_when_equal() {
    assert!(is_compatible(PROTOCOL_VERSION));
    assert!(!is_compatible(PROTOCOL_VERSION + 1));
}

proptest! {
    #[test]
    fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = decode_body::<ClientMessage>(&bytes);
        let _ = decode_body::<DaemonMessage>(&bytes);
        let rt = runtime();
        rt.block_on(async {
            let mut reader = bytes.as_slice();
            while read_frame::<_, DaemonMessage>(&mut reader).await.is_ok() {}
            let mut reader = bytes.as_slice();
            let mut frames = FrameReader::new();
            while frames.read::<_, ClientMessage>(&mut reader).await.is_ok() {}
        });
    }

    #[test]
    fn arbitrary_bodies_behind_a_valid_prefix_never_panic(body in proptest::collection::vec(any::<u8>(), 0..4096)) {
        let mut wire = (body.len() as u32).to_be_bytes().to_vec();
        wire.extend(&body);
        let rt = runtime();
        let result = rt.block_on(async {
            let mut reader = wire.as_slice();
            read_frame::<_, DaemonMessage>(&mut reader).await
        });
        prop_assert!(matches!(result, Ok(_) | Err(ProtocolError::Decode(_))), "{:?}", result);
    }
}

/// A history written before size budgets (no `budget` in its records) still
/// loads; a record of a budgeted run keeps what went for age and for the
/// budget, and survives the wire with it.
#[test]
fn records_carry_the_budget_and_older_ones_load_without_it() {
    let mut value = serde_json::to_value(record(3)).expect("json");
    value.as_object_mut().expect("object").remove("budget");
    let old: RunRecord = serde_json::from_value(value).expect("an old record loads");
    assert_eq!(old.budget, None);
    assert_eq!(old.budget_warning(), None);

    let mut report = RunReport::default();
    report.logs.budget = Some(crate::prune::BudgetReport {
        max_bytes: 100,
        min_keep_secs: 600,
        bytes_before: 300,
        bytes_after: 120,
        bytes_for_age: 80,
        bytes_for_budget: 100,
        cutoff: Some("2026-11-28T08:00:00Z".into()),
        bytes_too_young: 120,
        bytes_held: 0,
        exhausted: true,
    });
    let record = RunRecord::from_report(9, Trigger::Schedule, 0, 1, &report);
    let budget = record.budget.as_ref().expect("budget kept");
    assert_eq!((budget.bytes_for_age, budget.bytes_for_budget), (80, 100));
    let warning = record.budget_warning().expect("over budget");
    assert!(
        warning.starts_with("run #9: logs total 120 B, over the 100 B budget"),
        "{warning}"
    );
    let frame = encode_frame(&DaemonMessage::Event {
        seq: 1,
        event: Event::RunFinished {
            record: record.clone(),
        },
    })
    .expect("encode");
    match decode_body::<DaemonMessage>(&frame[4..]).expect("decode") {
        DaemonMessage::Event {
            event: Event::RunFinished { record: back },
            ..
        } => assert_eq!(back, record),
        other => panic!("unexpected {other:?}"),
    }
    // A dry run's budget is what would go: no warning for it.
    let mut dry = record;
    dry.dry_run = true;
    assert_eq!(dry.budget_warning(), None);
}

/// `status`, `events` and the dashboard show these words, and scripts read
/// them from `status --json`: each value keeps one word of its own.
#[test]
fn every_state_trigger_and_outcome_has_a_word_of_its_own() {
    use std::collections::HashSet;
    let states = [
        DaemonState::Idle,
        DaemonState::Running,
        DaemonState::Draining,
    ]
    .map(DaemonState::label);
    let triggers = [
        Trigger::Startup,
        Trigger::Schedule,
        Trigger::Signal,
        Trigger::Request,
    ]
    .map(Trigger::label);
    let outcomes =
        [RunOutcome::Ok, RunOutcome::WithErrors, RunOutcome::Panicked].map(RunOutcome::label);
    assert_eq!(states, ["idle", "running", "draining"]);
    assert_eq!(triggers, ["startup", "schedule", "signal", "request"]);
    assert_eq!(outcomes, ["ok", "with errors", "panicked"]);
    for words in [&states[..], &triggers, &outcomes] {
        assert_eq!(
            words.iter().collect::<HashSet<_>>().len(),
            words.len(),
            "{words:?}"
        );
    }
}
