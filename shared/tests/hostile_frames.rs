//! The protocol decoder under hundreds of thousands of mutated frames: valid
//! frames of every message, with bytes flipped, cut, extended, spliced and
//! length prefixes rewritten, fed to every decoding entry point. None may
//! panic, and none may allocate more than a small multiple of the bytes that
//! actually arrived: a global allocator here counts every byte.
//!
//! `V0_PRUNE_FUZZ_CASES` (default 2500, 100 mutations each) runs longer
//! campaigns. A cargo-fuzz target is not provided: cargo-fuzz needs a nightly
//! toolchain, and CI builds on stable.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use v0_prune_shared::demo::SplitMix;
use v0_prune_shared::protocol::{
    ClientMessage, DaemonMessage, DaemonState, Event, FrameReader, MAX_FRAME_LEN, PROTOCOL_VERSION,
    ProtocolError, RunOutcome, RunProgress, RunRecord, Snapshot, Totals, Trigger, decode_body,
    encode_frame, read_frame,
};
use v0_prune_shared::prune::{Job, Skipped};

/// Counts live heap bytes and their high-water mark.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded to the system allocator unchanged; only counters are added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract is passed on.
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            let live = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(live, Ordering::Relaxed);
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as above.
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            if new_size >= layout.size() {
                let grown = new_size - layout.size();
                let live = LIVE.fetch_add(grown, Ordering::Relaxed) + grown;
                PEAK.fetch_max(live, Ordering::Relaxed);
            } else {
                LIVE.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
            }
        }
        new
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// The counters are process-wide: tests that measure take turns.
static MEASURING: Mutex<()> = Mutex::new(());

/// Runs `f` and returns the most heap it had live at once beyond what was live before.
fn peak_during(f: impl FnOnce()) -> usize {
    let base = LIVE.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    f();
    PEAK.load(Ordering::Relaxed).saturating_sub(base)
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
            reason: "held by a positional writer".into(),
        }],
        skipped_total: 1,
        failed: Vec::new(),
        failed_total: 0,
        log_files_failed: 0,
        errors: vec!["merge queue: locked".into()],
        outcome: RunOutcome::WithErrors,
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
        totals: Totals::default(),
        history: vec![record(6), record(7)],
        log_tail: vec!["[2026-11-28T12:00:00Z] Pruning complete".into(); 3],
        files: None,
        budget: None,
    }
}

/// One valid frame of every message shape.
fn corpus() -> Vec<Vec<u8>> {
    let client = [
        ClientMessage::Hello {
            version: PROTOCOL_VERSION,
            client: "dashboard".into(),
        },
        ClientMessage::Status,
        ClientMessage::RunNow,
        ClientMessage::Drain,
        ClientMessage::Subscribe,
    ];
    let events = [
        Event::StateChanged {
            state: DaemonState::Idle,
        },
        Event::NextRun { at_ms: -5 },
        Event::Exiting {
            reason: "SIGTERM".into(),
        },
        Event::RunStarted {
            run_id: 1,
            trigger: Trigger::Startup,
            started_at_ms: 0,
        },
        Event::Progress {
            run_id: 1,
            files_done: 1,
            files_total: 2,
            bytes_reclaimed: 3,
            current: Some("x.log".into()),
        },
        Event::ItemPruned {
            run_id: 1,
            job: Job::Logs,
            item: "x.log".into(),
            detail: "3 lines".into(),
            bytes_reclaimed: 9,
        },
        Event::RunFinished { record: record(1) },
        Event::LogLine {
            line: "[2026-11-28T12:00:00Z] Starting pruning...".into(),
        },
    ];
    let mut daemon = vec![
        DaemonMessage::Hello {
            version: PROTOCOL_VERSION,
            daemon_pid: 1,
            daemon_version: "0.1.0".into(),
        },
        DaemonMessage::Rejected {
            reason: "too many connections".into(),
        },
        DaemonMessage::Status(snapshot()),
        DaemonMessage::RunNowAccepted {
            run_id: 3,
            coalesced: false,
        },
        DaemonMessage::DrainAccepted,
        DaemonMessage::Snapshot {
            seq: 9,
            snapshot: snapshot(),
        },
        DaemonMessage::Lagged { missed_from_seq: 4 },
        DaemonMessage::Error {
            message: "no".into(),
        },
    ];
    daemon.extend(
        events
            .into_iter()
            .map(|event| DaemonMessage::Event { seq: 7, event }),
    );
    let mut frames: Vec<Vec<u8>> = client
        .iter()
        .map(|m| encode_frame(m).expect("encode"))
        .collect();
    frames.extend(daemon.iter().map(|m| encode_frame(m).expect("encode")));
    frames
}

/// One mutation of `frame`, chosen and shaped by `rng`.
fn mutate(frame: &[u8], other: &[u8], rng: &mut SplitMix) -> Vec<u8> {
    let mut out = frame.to_vec();
    let len = out.len() as u64;
    let at = |rng: &mut SplitMix, n: u64| rng.below(n.max(1)) as usize;
    // Earlier cuts may have left almost nothing: grow it back.
    let kind = if out.len() < 5 { 7 } else { rng.below(9) };
    match kind {
        0 => {
            for _ in 0..1 + rng.below(8) {
                let i = at(rng, len);
                out[i] ^= 1 + rng.below(255) as u8;
            }
        }
        1 => out.truncate(at(rng, len)),
        2 => out.extend((0..rng.below(64)).map(|_| rng.next_u64() as u8)),
        3 => {
            let body = (len - 4) as u32;
            let prefix = match rng.below(6) {
                0 => rng.next_u64() as u32,
                1 => u32::MAX,
                2 => MAX_FRAME_LEN,
                3 => MAX_FRAME_LEN + 1,
                4 => 0,
                _ => body.wrapping_add(rng.below(7) as u32).wrapping_sub(3),
            };
            out[..4].copy_from_slice(&prefix.to_be_bytes());
        }
        4 => {
            // Varint continuation bytes: lengths and counts that claim a lot.
            let i = 4 + at(rng, len - 4);
            let run = (1 + rng.below(10) as usize).min(out.len() - i);
            out[i..i + run].fill(0xFF);
        }
        5 => {
            let i = at(rng, len);
            let junk: Vec<u8> = (0..1 + rng.below(16))
                .map(|_| rng.next_u64() as u8)
                .collect();
            out.splice(i..i, junk);
        }
        6 => {
            let i = at(rng, len);
            let j = (i + 1 + at(rng, 16)).min(out.len());
            out.drain(i..j);
        }
        7 => {
            // Two frames glued, the second one cut.
            let cut = at(rng, other.len() as u64 + 1);
            out.extend_from_slice(&other[..cut]);
        }
        _ => {
            // Another frame's body behind this frame's prefix.
            out.truncate(4);
            out.extend_from_slice(&other[4.min(other.len())..]);
        }
    }
    out
}

/// Feeds `input` to every decoding entry point; returns the peak heap any of them used.
fn decode_everywhere(input: &[u8], runtime: &tokio::runtime::Runtime) -> usize {
    let mut worst = 0;
    let body = input.get(4..).unwrap_or_default();
    worst = worst.max(peak_during(|| {
        let _ = decode_body::<ClientMessage>(body);
        let _ = decode_body::<DaemonMessage>(body);
        let _ = decode_body::<DaemonMessage>(input);
    }));
    worst = worst.max(peak_during(|| {
        runtime.block_on(async {
            let mut source = input;
            let mut frames = FrameReader::new();
            // Decode errors leave the reader usable; anything else ends the stream.
            while let Ok(_) | Err(ProtocolError::Decode(_)) =
                frames.read::<_, DaemonMessage>(&mut source).await
            {}
            let mut source = input;
            let mut frames = FrameReader::new();
            while let Ok(_) | Err(ProtocolError::Decode(_)) =
                frames.read::<_, ClientMessage>(&mut source).await
            {}
            let mut source = input;
            while read_frame::<_, DaemonMessage>(&mut source).await.is_ok() {}
        });
    }));
    worst
}

/// Heap a decode of `len` received bytes may use: a few read buffers, and the
/// decoded message's own structures (serde pre-sizes a collection by its
/// claimed length only up to 1 MiB).
fn allowed(len: usize) -> usize {
    2 * 1024 * 1024 + 64 * len
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime")
}

#[test]
fn hundreds_of_thousands_of_mutated_frames_never_panic_or_over_allocate() {
    let _turn = MEASURING.lock().unwrap_or_else(|e| e.into_inner());
    let cases: u32 = std::env::var("V0_PRUNE_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2500);
    let mutations_per_case = 100;
    let frames = corpus();
    let rt = runtime();
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    let worst = std::cell::Cell::new(0usize);
    let strategy = (0..frames.len(), 0..frames.len(), any::<u64>());
    runner
        .run(&strategy, |(which, other, seed)| {
            let mut rng = SplitMix::new(seed);
            let mut input = frames[which].clone();
            for _ in 0..mutations_per_case {
                // Mutations pile up on each other half of the time.
                if rng.below(2) == 0 {
                    input = frames[which].clone();
                }
                input = mutate(&input, &frames[other], &mut rng);
                let used = decode_everywhere(&input, &rt);
                worst.set(worst.get().max(used));
                prop_assert!(
                    used <= allowed(input.len()),
                    "{used} bytes of heap for {} input bytes: {:02x?}",
                    input.len(),
                    &input[..input.len().min(64)]
                );
            }
            Ok(())
        })
        .unwrap_or_else(|err| panic!("{err}"));
    eprintln!(
        "{} mutated frames decoded; the most heap any decode used: {} KiB",
        u64::from(cases) * mutations_per_case,
        worst.get() / 1024
    );
}

#[test]
fn a_huge_length_prefix_allocates_only_what_arrives() {
    let _turn = MEASURING.lock().unwrap_or_else(|e| e.into_inner());
    let rt = runtime();
    for prefix in [
        u32::MAX,
        MAX_FRAME_LEN + 1,
        MAX_FRAME_LEN,
        MAX_FRAME_LEN - 1,
    ] {
        // More than one read's worth arrives, so the buffer has to grow: by
        // what arrived, never to what the prefix announced.
        let mut input = prefix.to_be_bytes().to_vec();
        input.extend(std::iter::repeat_n(0xFFu8, 64 * 1024));
        let mut outcome = None;
        let used = peak_during(|| {
            rt.block_on(async {
                let mut source = input.as_slice();
                let mut frames = FrameReader::new();
                outcome = Some(frames.read::<_, ClientMessage>(&mut source).await);
            });
        });
        match outcome.expect("ran") {
            Err(ProtocolError::FrameTooLarge { .. }) => assert!(prefix > MAX_FRAME_LEN),
            Err(ProtocolError::Truncated) => assert!(prefix <= MAX_FRAME_LEN),
            other => panic!("{prefix}: {other:?}"),
        }
        assert!(
            used < 4 * input.len() + 64 * 1024,
            "{used} bytes for a prefix of {prefix} and {} bytes received",
            input.len()
        );
    }
}
