use std::time::Duration;

use super::*;

/// Files finish in any order on the worker threads; results still reach
/// the report (and the events) in walk order, each exactly once.
#[test]
fn parallel_work_is_reported_in_order_once_each() {
    for count in [0, 1, 2, 7, PARALLEL_FILES, 100] {
        let mut seen = Vec::new();
        for_each_in_parallel(
            count,
            |i| {
                // Later items finish first.
                std::thread::sleep(Duration::from_micros(((count - i) % 5) as u64 * 200));
                (i, std::thread::current().id())
            },
            |i, (value, _thread)| {
                assert_eq!(i, value);
                seen.push(i);
            },
        );
        assert_eq!(seen, (0..count).collect::<Vec<_>>(), "count {count}");
    }
}

#[test]
fn several_threads_do_the_work() {
    let mut threads = HashSet::new();
    for_each_in_parallel(
        64,
        |_| {
            std::thread::sleep(Duration::from_millis(2));
            std::thread::current().id()
        },
        |_, thread| {
            threads.insert(thread);
        },
    );
    assert!(threads.len() > 1, "ran on {} thread(s)", threads.len());
    assert!(!threads.contains(&std::thread::current().id()));
}

fn cutoff() -> crate::prune::Cutoff {
    crate::prune::Cutoff::at("2026-11-28T06:00:00Z".parse().expect("valid"))
}

/// One line of a generated log: an entry at `minute` minutes past 05:00
/// (expired before 06:00) or a continuation line, padded to vary sizes.
fn line(entry_minute: Option<u32>, pad: usize) -> Vec<u8> {
    let mut text = match entry_minute {
        Some(m) => format!("[2026-11-28T{:02}:{:02}:00Z] entry", 5 + m / 60, m % 60),
        None => "    continuation".to_string(),
    };
    text.push_str(&"x".repeat(pad));
    text.push('\n');
    text.into_bytes()
}

fn arb_log() -> impl proptest::strategy::Strategy<Value = (Vec<u8>, bool)> {
    use proptest::prelude::*;
    let head = proptest::collection::vec((0u32..60, any::<bool>(), 0usize..300), 0..80);
    let tail = proptest::collection::vec((60u32..120, any::<bool>(), 0usize..300), 0..80);
    let late = proptest::option::of((0u32..60, 0usize..40));
    (any::<bool>(), head, tail, late).prop_map(|(preamble, head, tail, late)| {
        let mut lines: Vec<Vec<u8>> = Vec::new();
        if preamble {
            lines.push(b"nohup: ignoring input\n".to_vec());
        }
        let mut first_current = None;
        for (i, (minute, continued, pad)) in head.iter().chain(tail.iter()).enumerate() {
            if i == head.len() {
                first_current = Some(lines.len());
            }
            lines.push(line(Some(*minute), *pad));
            if *continued {
                lines.push(line(None, pad / 3));
            }
        }
        let mut later = false;
        if let (Some((minute, at)), Some(first)) = (late, first_current) {
            // An expired entry after the first current one: only a rewrite is right.
            let at = (first + 1 + at).min(lines.len());
            lines.insert(at, line(Some(minute), 5));
            later = true;
        }
        (lines.concat(), later)
    })
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(48))]

    /// Both methods a log nobody holds may get, against the reference
    /// model: a rewrite gives exactly the model's bytes; an in-place
    /// prune gives them with one expired padding line after the preamble.
    #[test]
    fn an_unheld_log_is_pruned_in_place_or_rewritten_and_matches_the_model(
        (log, late_expired) in arb_log()
    ) {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("p.log");
        std::fs::write(&path, &log).expect("write");
        let options = RunOptions { cutoff: cutoff(), dry_run: false };
        let expected = filter::tests::reference_model(&log, &cutoff());
        let (outcome, _) = prune_file(&path, &[], &options, None).expect("prune");
        let after = std::fs::read(&path).expect("read");
        match outcome {
            FileOutcome::Unchanged { .. } => proptest::prop_assert_eq!(&after, &log),
            FileOutcome::Pruned { method: LogMethod::Rewrite, .. } => {
                proptest::prop_assert_eq!(&after, &expected);
            }
            FileOutcome::Pruned { method: LogMethod::InPlaceUnheld, .. } => {
                proptest::prop_assert!(!late_expired, "in place with an expired entry after a current one");
                proptest::prop_assert_eq!(filter::tests::reference_model(&after, &cutoff()), expected.clone());
                // Exactly: the preamble, one padding line, the kept entries.
                let preamble_len = if log.starts_with(b"nohup") { 22 } else { 0 };
                let (preamble, rest) = after.split_at(preamble_len);
                proptest::prop_assert_eq!(preamble, &log[..preamble_len]);
                let newline = rest.iter().position(|b| *b == b'\n').expect("padding line");
                let (padding, kept) = rest.split_at(newline + 1);
                proptest::prop_assert!(padding.windows(9).any(|w| w == b"v0-prune:"));
                proptest::prop_assert_eq!(kept, &expected[preamble_len..]);
            }
            other => proptest::prop_assert!(false, "{other:?}"),
        }
    }
}

/// A rewrite that copies a long run of current lines in the kernel puts
/// it at its old offset within a page, by leaving one expired padding
/// line after the preamble: otherwise the file is exactly the model's,
/// the report counts the line, and the index it leaves does not make
/// the next run prune the file for the line's sake.
#[test]
fn a_rewrite_copies_a_long_current_run_page_aligned_after_one_padding_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("aligned.log");
    let mut lines: Vec<Vec<u8>> = vec![b"nohup: ignoring input\n".to_vec()];
    // An expired head whose length is no multiple of a page.
    lines.extend((0..300).map(|i| line(Some(i % 60), 17 + i as usize % 5)));
    let first_current = lines.iter().map(Vec::len).sum::<usize>() as u64;
    // Over a MiB of current entries, then an expired one: not a head.
    lines.extend((0..20_000).map(|i| line(Some(60 + i % 60), 40 + i as usize % 30)));
    lines.push(line(Some(30), 5));
    lines.extend((0..100).map(|i| line(Some(90 + i % 60), 10)));
    let log = lines.concat();
    std::fs::write(&path, &log).expect("write");
    let options = RunOptions {
        cutoff: cutoff(),
        dry_run: false,
    };
    let expected = filter::tests::reference_model(&log, &cutoff());
    let kernel_copy = platform::copy_alignment().is_some()
        && platform::supports_collapse(&File::open(&path).expect("open"));

    let (outcome, verified) = prune_file(&path, &[], &options, None).expect("prune");
    let after = std::fs::read(&path).expect("read");
    let FileOutcome::Pruned {
        method: LogMethod::Rewrite,
        lines_removed,
        bytes_after,
        reason,
        ..
    } = outcome
    else {
        panic!("{outcome:?}")
    };
    assert_eq!(lines_removed, 301);
    assert_eq!(
        bytes_after,
        after.len() as u64,
        "the report counts every byte"
    );
    assert_eq!(filter::tests::reference_model(&after, &cutoff()), expected);
    if !kernel_copy {
        // The run is filtered or copied through our buffers: nothing to align.
        assert_eq!(after, expected, "{reason}");
        return;
    }
    let preamble_len = 22;
    let rest = &after[preamble_len..];
    let newline = rest
        .iter()
        .position(|b| *b == b'\n')
        .expect("a padding line");
    let (padding, kept) = rest.split_at(newline + 1);
    let padding_text = String::from_utf8_lossy(padding);
    // Stamped with the head's last entry (05:59, expired), not the late one.
    assert!(
        padding_text
            .starts_with("[2026-11-28T05:59:00Z] v0-prune: 300 expired lines removed by a rewrite"),
        "{padding_text}"
    );
    assert_eq!(kept, &expected[preamble_len..]);
    let page = platform::copy_alignment().expect("checked");
    assert_eq!(
        (preamble_len + padding.len()) as u64 % page,
        first_current % page,
        "the run is not at its old offset within a page"
    );

    // The padding is no entry to the index: at the same cutoff, nothing to do.
    let (again, _) = prune_file(&path, &[], &options, verified.as_ref()).expect("prune again");
    assert!(matches!(again, FileOutcome::Unchanged { .. }), "{again:?}");
    assert_eq!(std::fs::read(&path).expect("read"), after);
    // It vouches for the file up to its end: an append is read from there.
    let mut appender = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .expect("open");
    std::io::Write::write_all(&mut appender, &line(Some(150), 3)).expect("append");
    let file = File::open(&path).expect("open");
    let meta = file.metadata().expect("metadata");
    let verified = verified.expect("an index record");
    assert_eq!(
        verified.plan(&file, &meta, &cutoff()),
        Plan::ReadFrom(after.len() as u64)
    );
}

/// A crashed run's temp file is a leftover the next run removes; a dry
/// run changes nothing, so it leaves it (and says nothing about it).
#[test]
fn a_dry_run_leaves_a_crashed_runs_temp_file_and_a_run_removes_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let build = crate::paths::BuildDir::new(dir.path());
    let logs = dir.path().join("logs");
    std::fs::create_dir_all(&logs).expect("mkdir");
    std::fs::write(logs.join("a.log"), line(Some(70), 10)).expect("write");
    let mut gone = std::process::Command::new("true")
        .spawn()
        .expect("spawn true");
    let dead = gone.id();
    gone.wait().expect("reap");
    let temp = logs.join(format!(".a.log.{dead}.0{TEMP_SUFFIX}"));
    std::fs::write(&temp, b"half a copy").expect("write");
    let run = |dry_run| {
        let options = RunOptions {
            cutoff: cutoff(),
            dry_run,
        };
        prune_all(&build, &options, &mut crate::prune::ignore_events).expect("prune");
    };
    run(true);
    assert!(temp.exists(), "a dry run removed a leftover");
    run(false);
    assert!(!temp.exists(), "a run left a crashed run's leftover");
}

/// The property test above must see both methods: a large expired head
/// goes in place (where the filesystem collapses ranges), the same log
/// with an expired entry after a current one is rewritten.
#[test]
fn a_large_expired_head_goes_in_place_and_a_late_expired_entry_forces_a_rewrite() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("m.log");
    let mut log: Vec<u8> = (0..100).flat_map(|m| line(Some(m % 60), 80)).collect();
    log.extend((60..70).flat_map(|m| line(Some(m), 10)));
    std::fs::write(&path, &log).expect("write");
    let options = RunOptions {
        cutoff: cutoff(),
        dry_run: false,
    };
    let collapse = platform::supports_collapse(&File::open(&path).expect("open"));
    let (outcome, _) = prune_file(&path, &[], &options, None).expect("prune");
    let FileOutcome::Pruned { method, reason, .. } = outcome else {
        panic!("{outcome:?}")
    };
    if collapse {
        assert_eq!(method, LogMethod::InPlaceUnheld, "{reason}");
    } else {
        assert_eq!(method, LogMethod::Rewrite);
        assert!(reason.contains("cannot"), "{reason}");
    }
    log.extend(line(Some(3), 10));
    log.extend(line(Some(71), 10));
    std::fs::write(&path, &log).expect("write");
    let (outcome, _) = prune_file(&path, &[], &options, None).expect("prune");
    let FileOutcome::Pruned { method, reason, .. } = outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(method, LogMethod::Rewrite);
    if collapse {
        assert!(reason.contains("not one head"), "{reason}");
    }
    assert_eq!(
        std::fs::read(&path).expect("read"),
        filter::tests::reference_model(&log, &cutoff())
    );
}
