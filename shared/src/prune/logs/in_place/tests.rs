// Only Linux collapses ranges, and not the portable build (as macOS): the
// tests that need it are left out there, and some helpers with them.
#![cfg_attr(
    any(feature = "portable", not(target_os = "linux")),
    allow(dead_code, unused_imports)
)]

use super::*;
use crate::prune::logs::checkpoints::SPACING;
use crate::prune::logs::index::Plan;
use std::io::Write;

fn cutoff() -> Cutoff {
    Cutoff::at("2026-11-28T06:00:00Z".parse().expect("valid"))
}

fn old(i: usize) -> String {
    format!("[2026-11-28T01:00:00Z] old line {i:06} with some padding to make it longer\n")
}

fn new(i: usize) -> String {
    format!("[2026-11-28T07:00:00Z] new line {i:06}\n")
}

#[test]
// Only Linux has collapse-range, and not the portable build (as macOS).
#[cfg(all(target_os = "linux", not(feature = "portable")))]
#[cfg_attr(
    not(v0_prune_has_collapse),
    ignore = "needs collapse-range in the temp dir: set TMPDIR to a directory on ext4 or xfs"
)]
fn the_expired_head_goes_and_the_preamble_and_current_lines_stay() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("d.log");
    let mut content = String::from("nohup: ignoring input\n");
    for i in 0..500 {
        content.push_str(&old(i));
    }
    for i in 0..10 {
        content.push_str(&new(i));
    }
    std::fs::write(&path, &content).expect("write");
    assert_collapse(&path);
    let outcome = prune_head(&path, cutoff()).expect("prune");
    let InPlace::Collapsed {
        bytes_removed,
        lines_removed,
        ..
    } = outcome
    else {
        panic!("{outcome:?}")
    };
    assert_eq!(lines_removed, 500);
    assert_eq!(bytes_removed % 4096, 0);
    let after = std::fs::read_to_string(&path).expect("read");
    let lines: Vec<&str> = after.lines().collect();
    assert_eq!(lines[0], "nohup: ignoring input");
    assert!(
        lines[1].starts_with("[2026-11-28T01:00:00Z] v0-prune: 500 expired lines removed in place"),
        "{}",
        lines[1]
    );
    assert_eq!(
        lines[2..].join("\n") + "\n",
        (0..10).map(new).collect::<String>()
    );
    assert!(!after.contains('\0'));
    // The padding line is expired: a second prune leaves it (less than a block) or takes it.
    let again = prune_head(&path, cutoff()).expect("prune again");
    assert_eq!(again, InPlace::Nothing);
}

#[test]
// Only Linux has collapse-range, and not the portable build (as macOS).
#[cfg(all(target_os = "linux", not(feature = "portable")))]
#[cfg_attr(
    not(v0_prune_has_collapse),
    ignore = "needs collapse-range in the temp dir: set TMPDIR to a directory on ext4 or xfs"
)]
fn the_padding_line_has_the_heads_stamp_not_a_later_expired_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("d.log");
    let mut content: String = (0..500).map(old).collect();
    content.push_str(&new(0));
    // Expired, but after the first current entry: not part of the head.
    content.push_str("[2026-11-28T02:00:00Z] a late expired entry\n");
    content.extend((1..10).map(new));
    std::fs::write(&path, &content).expect("write");
    assert_collapse(&path);
    let outcome = prune_head(&path, cutoff()).expect("prune");
    let InPlace::Collapsed { lines_removed, .. } = outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(lines_removed, 500);
    let after = std::fs::read_to_string(&path).expect("read");
    let padding = after.lines().next().expect("a padding line");
    assert!(
        padding.starts_with("[2026-11-28T01:00:00Z] v0-prune: 500 expired"),
        "{padding}"
    );
    assert!(after.contains("[2026-11-28T02:00:00Z] a late expired entry"));
}

#[test]
// Only Linux has collapse-range, and not the portable build (as macOS).
#[cfg(all(target_os = "linux", not(feature = "portable")))]
#[cfg_attr(
    not(v0_prune_has_collapse),
    ignore = "needs collapse-range in the temp dir: set TMPDIR to a directory on ext4 or xfs"
)]
fn nothing_to_do_when_the_head_is_current_or_small() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("d.log");
    std::fs::write(&path, format!("{}{}", new(1), old(2))).expect("write");
    assert_collapse(&path);
    assert_eq!(
        prune_head(&path, cutoff()).expect("prune"),
        InPlace::Nothing
    );
    std::fs::write(&path, format!("{}{}", old(1), new(2))).expect("write");
    assert_eq!(
        prune_head(&path, cutoff()).expect("prune"),
        InPlace::Nothing
    );
    assert_eq!(
        std::fs::read_to_string(&path).expect("read"),
        format!("{}{}", old(1), new(2))
    );
}

#[test]
// Only Linux has collapse-range, and not the portable build (as macOS).
#[cfg(all(target_os = "linux", not(feature = "portable")))]
#[cfg_attr(
    not(v0_prune_has_collapse),
    ignore = "needs collapse-range in the temp dir: set TMPDIR to a directory on ext4 or xfs"
)]
fn an_unfinished_last_line_is_never_touched() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("d.log");
    let mut f = File::create(&path).expect("create");
    for i in 0..200 {
        f.write_all(old(i).as_bytes()).expect("write");
    }
    f.write_all(b"[2026-11-28T01:00:00Z] half a li")
        .expect("write");
    drop(f);
    assert_collapse(&path);
    let outcome = prune_head(&path, cutoff()).expect("prune");
    assert!(
        matches!(
            outcome,
            InPlace::Collapsed {
                lines_removed: 200,
                ..
            }
        ),
        "{outcome:?}"
    );
    let after = std::fs::read_to_string(&path).expect("read");
    assert!(
        after.ends_with("\n[2026-11-28T01:00:00Z] half a li"),
        "{after:?}"
    );
}

/// Where ranges cannot be collapsed (a tmpfs; the portable build, as macOS,
/// anywhere), a held log is refused with the reason.
#[test]
#[cfg_attr(
    all(target_os = "linux", not(feature = "portable"), not(v0_prune_has_shm)),
    ignore = "needs a writable tmpfs at /dev/shm (a filesystem without collapse-range)"
)]
fn without_collapse_a_held_log_is_refused_with_the_reason_and_left_alone() {
    let dir = if cfg!(any(feature = "portable", not(target_os = "linux"))) {
        tempfile::tempdir()
    } else {
        tempfile::tempdir_in("/dev/shm")
    }
    .expect("tempdir");
    let path = dir.path().join("d.log");
    let content = (0..200).map(old).collect::<String>() + &new(1);
    std::fs::write(&path, &content).expect("write");
    assert!(
        !platform::supports_collapse(&File::open(&path).expect("open")),
        "{} collapses ranges",
        path.display()
    );
    let outcome = prune_head(&path, cutoff()).expect("prune");
    let InPlace::Refused(reason) = outcome else {
        panic!("{outcome:?}")
    };
    assert!(reason.contains(platform::WHY_NO_COLLAPSE), "{reason}");
    assert_eq!(std::fs::read_to_string(&path).expect("read"), content);
}

/// A log nobody holds: preamble, `old_lines` expired entries (some with
/// continuation lines), then `new_lines` current ones.
fn unheld_log(dir: &Path, old_lines: usize, new_lines: usize) -> (std::path::PathBuf, String) {
    let path = dir.join("u.log");
    let mut content = String::from("nohup: ignoring input\n");
    for i in 0..old_lines {
        content.push_str(&old(i));
        if i % 7 == 0 {
            content.push_str("    at a continuation of an old entry\n");
        }
    }
    for i in 0..new_lines {
        content.push_str(&new(i));
    }
    std::fs::write(&path, &content).expect("write");
    (path, content)
}

/// The build found that the temp dir collapses ranges (`v0_prune_has_collapse`):
/// so must `path`'s filesystem, or the in-place engine goes untested.
fn assert_collapse(path: &Path) {
    assert!(
        platform::supports_collapse(&File::open(path).expect("open")),
        "{} cannot collapse ranges, though the build found the temp dir could",
        path.display()
    );
}

#[test]
// Only Linux has collapse-range, and not the portable build (as macOS).
#[cfg(all(target_os = "linux", not(feature = "portable")))]
#[cfg_attr(
    not(v0_prune_has_collapse),
    ignore = "needs collapse-range in the temp dir: set TMPDIR to a directory on ext4 or xfs"
)]
fn an_unheld_log_whose_expired_lines_form_a_head_is_collapsed_in_place() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (path, content) = unheld_log(dir.path(), 500, 10);
    assert_collapse(&path);
    let ino = std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(&path).expect("stat"));
    let outcome = prune_unheld(&path, cutoff(), None).expect("prune");
    let Unheld::Collapsed {
        lines_removed,
        bytes_before,
        bytes_removed,
        ..
    } = outcome
    else {
        panic!("{outcome:?}")
    };
    assert_eq!(lines_removed, 500 + 500 / 7 + 1);
    assert_eq!(bytes_before, content.len() as u64);
    assert_eq!(bytes_removed % 4096, 0);
    let after = std::fs::read_to_string(&path).expect("read");
    assert_eq!(after.len() as u64, bytes_before - bytes_removed);
    let lines: Vec<&str> = after.lines().collect();
    assert_eq!(lines[0], "nohup: ignoring input");
    assert!(
        lines[1].starts_with("[2026-11-28T01:00:00Z] v0-prune: "),
        "{}",
        lines[1]
    );
    assert_eq!(
        lines[2..].join("\n") + "\n",
        (0..10).map(new).collect::<String>()
    );
    // The same file, not a copy renamed over it.
    let ino_after = std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(&path).expect("stat"));
    assert_eq!(ino, ino_after);
    // To the log rule the result is exactly the rewrite's.
    let model = super::super::filter::tests::reference_model(content.as_bytes(), &cutoff());
    assert_eq!(
        super::super::filter::tests::reference_model(after.as_bytes(), &cutoff()),
        model
    );
}

#[test]
// Only Linux has collapse-range, and not the portable build (as macOS).
#[cfg(all(target_os = "linux", not(feature = "portable")))]
#[cfg_attr(
    not(v0_prune_has_collapse),
    ignore = "needs collapse-range in the temp dir: set TMPDIR to a directory on ext4 or xfs"
)]
fn an_expired_entry_after_a_current_one_or_a_small_head_means_a_rewrite_and_nothing_written() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (path, mut content) = unheld_log(dir.path(), 500, 10);
    assert_collapse(&path);
    content.push_str(&old(999));
    content.push_str(&new(999));
    std::fs::write(&path, &content).expect("write");
    let outcome = prune_unheld(&path, cutoff(), None).expect("prune");
    let Unheld::NotAHead { reason, known } = outcome else {
        panic!("{outcome:?}")
    };
    assert!(reason.contains("not one head"), "{reason}");
    assert_eq!(std::fs::read_to_string(&path).expect("read"), content);
    // The scan's descriptor, handed to the rewrite, is closed unused.
    drop(known);

    let (path, content) = unheld_log(dir.path(), 20, 200);
    let outcome = prune_unheld(&path, cutoff(), None).expect("prune");
    let Unheld::Rewrite(reason) = outcome else {
        panic!("{outcome:?}")
    };
    assert!(reason.contains("head of one filesystem block"), "{reason}");
    assert_eq!(std::fs::read_to_string(&path).expect("read"), content);
}

#[test]
fn two_threads_over_two_halves_see_what_one_pass_sees() {
    let dir = tempfile::tempdir().expect("tempdir");
    let whole = |path: &Path| {
        let file = File::open(path).expect("open");
        let len = file.metadata().expect("stat").len();
        let filter = LineFilter::for_len(cutoff(), len);
        let stop = AtomicBool::new(false);
        scan_part(&file, filter, 0, u64::MAX, 0, &stop, true).expect("one pass")
    };
    let halves = |path: &Path| {
        let file = File::open(path).expect("open");
        let len = file.metadata().expect("stat").len();
        assert!(len >= TWO_THREADS_FROM);
        assert!(
            entry_start_after(&file, len / 2, &cutoff())
                .expect("read")
                .is_some()
        );
        scan_unheld(&file, cutoff(), len, 0).expect("two threads")
    };
    // Split in the expired head (with continuation lines), in the
    // current part, and with an expired entry late in the second half.
    for (old_lines, new_lines, late) in [(500, 10, false), (20, 500, false), (300, 300, true)] {
        let (path, mut content) = unheld_log(dir.path(), old_lines, new_lines);
        if late {
            content.push_str(&old(999));
            content.push_str("    a continuation of it\n");
            content.push_str(&new(999));
            std::fs::write(&path, &content).expect("write");
        }
        assert_eq!(
            halves(&path),
            whole(&path),
            "{old_lines}/{new_lines}/{late}"
        );
    }
}

#[test]
// Only Linux has collapse-range, and not the portable build (as macOS).
#[cfg(all(target_os = "linux", not(feature = "portable")))]
#[cfg_attr(
    not(v0_prune_has_collapse),
    ignore = "needs collapse-range in the temp dir: set TMPDIR to a directory on ext4 or xfs"
)]
fn an_expired_entry_in_either_half_after_a_current_one_means_a_rewrite() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("u.log");
    // The first current entry early; an expired one just after it (in
    // the first half), or as the very line the second half starts at
    // (which the second half alone cannot tell from a head).
    let mut early: String = (0..200).map(old).collect();
    early.push_str(&new(0));
    early.push_str(&old(200));
    early.extend((1..400).map(new));
    let mut at_split: String = (0..200).map(old).collect();
    at_split.extend((0..600).map(new));
    // The scan splits at the first line starting after the middle of
    // the final file; the expired entry goes exactly there.
    let middle = (at_split.len() + old(999).len()) / 2;
    let split = middle + at_split[middle..].find('\n').expect("a line end") + 1;
    assert!(
        split > 200 * old(0).len(),
        "the split is among current entries"
    );
    at_split.insert_str(split, &old(999));
    for content in [early, at_split] {
        std::fs::write(&path, &content).expect("write");
        assert_collapse(&path);
        let outcome = prune_unheld(&path, cutoff(), None).expect("prune");
        let Unheld::NotAHead { reason, known } = outcome else {
            panic!("{outcome:?}")
        };
        assert!(reason.contains("not one head"), "{reason}");
        assert_eq!(std::fs::read_to_string(&path).expect("read"), content);
        rewrite_with_and_without(&path, known);
    }
}

/// Rewrites `path` with what the scan `known`, and a copy of it without:
/// the same file and the same figures, which are the log rule's.
fn rewrite_with_and_without(path: &Path, known: KnownStart) {
    use super::super::filter::tests::{checkpoints_hold, reference_model, without_checkpoints};
    use super::super::rewrite::{Rewrite, rewrite};
    let content = std::fs::read(path).expect("read");
    let copy = path.with_extension("copy");
    std::fs::write(&copy, &content).expect("write");
    let with = rewrite(path, cutoff(), Some(known));
    let Ok(Rewrite::Replaced(stats, _)) = with else {
        panic!("not rewritten with the scan: {with:?}")
    };
    let alone = rewrite(&copy, cutoff(), None);
    let Ok(Rewrite::Replaced(stats_unread, _)) = alone else {
        panic!("not rewritten alone: {alone:?}")
    };
    let after = std::fs::read(path).expect("read");
    assert!(
        after == std::fs::read(&copy).expect("read"),
        "the two rewrites differ"
    );
    assert!(
        after == reference_model(&content, &cutoff()),
        "not the log rule's result"
    );
    assert_eq!(
        without_checkpoints(&stats),
        without_checkpoints(&stats_unread)
    );
    assert_eq!(checkpoints_hold(&content, &stats.checkpoints), Ok(()));
}

#[test]
// Only Linux has collapse-range, and not the portable build (as macOS).
#[cfg(all(target_os = "linux", not(feature = "portable")))]
#[cfg_attr(
    not(v0_prune_has_collapse),
    ignore = "needs collapse-range in the temp dir: set TMPDIR to a directory on ext4 or xfs"
)]
fn a_rewrite_after_the_scan_reads_only_from_the_late_expired_entry() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("u.log");
    // A head, current entries, then an expired one (with a continuation
    // line) and current ones again.
    let mut content: String = (0..300).map(old).collect();
    content.extend((0..300).map(new));
    content.push_str(&old(999));
    content.push_str("    a continuation of it\n");
    content.extend((300..310).map(new));
    std::fs::write(&path, &content).expect("write");
    assert_collapse(&path);
    let outcome = prune_unheld(&path, cutoff(), None).expect("prune");
    let Unheld::NotAHead { known, .. } = outcome else {
        panic!("{outcome:?}")
    };
    let at = content.find(&old(999)).expect("the late entry") as u64;
    assert_eq!(known.stats.bytes_in, at);
    rewrite_with_and_without(&path, known);

    // Bytes before it are copied, not read again: a change the scan
    // did not see shows through (the bytes are the log's, whatever
    // they are), while the part after it is filtered.
    std::fs::write(&path, &content).expect("write");
    let outcome = prune_unheld(&path, cutoff(), None).expect("prune");
    let Unheld::NotAHead { known, .. } = outcome else {
        panic!("{outcome:?}")
    };
    let first_current = known.stats.first_current.expect("a current entry");
    known
        .file
        .write_all_at(b"X", first_current + 1)
        .expect("write");
    let rewritten = super::super::rewrite::rewrite(&path, cutoff(), Some(known));
    assert!(
        matches!(rewritten, Ok(super::super::rewrite::Rewrite::Replaced(..))),
        "{rewritten:?}"
    );
    let after = std::fs::read_to_string(&path).expect("read");
    assert!(
        after.contains("[X026-11-28T"),
        "the copied part was read again"
    );
    assert!(!after.contains("a continuation of it"));
    assert!(after.ends_with(&new(309)));
}

/// A log with entries every minute from minute `start` of the day on,
/// `minutes` long (two lines in that second, five every fifth minute,
/// a continuation line now and then); with a preamble if `preamble`.
fn minutes_log(start: usize, minutes: usize, preamble: bool) -> String {
    let mut content = String::new();
    if preamble {
        content.push_str("nohup: ignoring input\n");
    }
    for minute in start..start + minutes {
        let stamp = format!("2026-11-28T{:02}:{:02}:00Z", minute / 60, minute % 60);
        for repeat in 0..2 + usize::from(minute % 5 == 0) * 3 {
            content.push_str(&format!(
                "[{stamp}] minute {minute} line {repeat}, with words to make it longer\n"
            ));
        }
        if minute % 11 == 0 {
            content.push_str("    a continuation line of that minute\n");
        }
    }
    content
}

fn at(time: &str) -> Cutoff {
    Cutoff::at(format!("2026-11-28T{time}Z").parse().expect("valid"))
}

/// What an unheld prune reports and leaves, for comparing two prunes.
fn result_of(outcome: &Unheld, path: &Path) -> (String, u64, Option<[u8; 20]>) {
    let (lines, verified) = match outcome {
        Unheld::Collapsed {
            lines_removed,
            verified,
            ..
        } => (*lines_removed, verified),
        Unheld::Nothing { verified, .. } => (0, verified),
        other => panic!("{other:?}"),
    };
    (
        std::fs::read_to_string(path).expect("read"),
        lines,
        verified.earliest(),
    )
}

/// A second prune, an hour on, where the index vouches for the current
/// stretch: the same file and figures as a prune without it, the next
/// index as good, and the stretch unread (a change in it goes unseen).
#[test]
// Only Linux has collapse-range, and not the portable build (as macOS).
#[cfg(all(target_os = "linux", not(feature = "portable")))]
#[cfg_attr(
    not(v0_prune_has_collapse),
    ignore = "needs collapse-range in the temp dir: set TMPDIR to a directory on ext4 or xfs"
)]
fn with_the_index_a_later_prune_reads_only_around_the_current_stretch() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("i.log");
    let copy = dir.path().join("copy.log");
    for (preamble, appended) in [(true, 0), (false, 30), (true, 300)] {
        // 05:00 to 09:00; the first prune (cutoff 06:00) removes an hour.
        std::fs::write(&path, minutes_log(300, 240, preamble)).expect("write");
        assert_collapse(&path);
        let first = prune_unheld(&path, at("06:00:00"), None).expect("prune");
        let Unheld::Collapsed { verified, .. } = first else {
            panic!("{first:?}")
        };
        let mut log = OpenOptions::new().append(true).open(&path).expect("open");
        log.write_all(minutes_log(540, appended, false).as_bytes())
            .expect("append");
        drop(log);
        std::fs::copy(&path, &copy).expect("copy");
        let later = at("07:00:00");
        let file = File::open(&path).expect("open");
        let plan = verified.plan(&file, &file.metadata().expect("meta"), &later);
        drop(file); // a lease needs the file closed by everyone else
        let Plan::ReadAround(run) = plan else {
            panic!("the index should vouch for a current stretch: {plan:?}")
        };
        assert!(run.to - run.from > 4 * SPACING, "{run:?}");
        let with = prune_unheld(&path, later, Some(&run)).expect("prune");
        let without = prune_unheld(&copy, later, None).expect("prune");
        assert_eq!(result_of(&with, &path), result_of(&without, &copy));
        let (Unheld::Collapsed { verified: a, .. }, Unheld::Collapsed { verified: b, .. }) =
            (&with, &without)
        else {
            panic!("{with:?} {without:?}")
        };
        // The next index holds marks in the part that was not read.
        let content = std::fs::read(&path).expect("read");
        let at_eight = at("08:00:00");
        for (verified, file) in [(a, &path), (b, &copy)] {
            let file = File::open(file).expect("open");
            let next = verified.plan(&file, &file.metadata().expect("meta"), &at_eight);
            let Plan::ReadAround(next) = next else {
                panic!("{next:?}")
            };
            assert!(next.marks.marks().len() > 2, "{next:?}");
            assert_eq!(
                super::super::filter::tests::checkpoints_hold(&content, &next.marks),
                Ok(())
            );
        }
    }

    // A byte changed inside the stretch does not show: it is not read.
    std::fs::write(&path, minutes_log(300, 240, true)).expect("write");
    let Unheld::Collapsed { verified, .. } =
        prune_unheld(&path, at("06:00:00"), None).expect("prune")
    else {
        panic!("not collapsed")
    };
    let file = File::open(&path).expect("open");
    let later = at("07:00:00");
    let Plan::ReadAround(run) = verified.plan(&file, &file.metadata().expect("meta"), &later)
    else {
        panic!("no stretch")
    };
    drop(file);
    let mut content = std::fs::read_to_string(&path).expect("read");
    let middle = usize::try_from((run.from + run.to) / 2).expect("small");
    let line = middle + content[middle..].find("\n[").expect("a line") + 1;
    content.replace_range(line + 12..line + 14, "00"); // an expired hour
    std::fs::write(&copy, &content).expect("write");
    std::fs::copy(&copy, &path).expect("copy");
    let with = prune_unheld(&path, later, Some(&run)).expect("prune");
    assert!(matches!(with, Unheld::Collapsed { .. }), "{with:?}");
    let without = prune_unheld(&copy, later, None).expect("prune");
    assert!(matches!(without, Unheld::NotAHead { .. }), "{without:?}");
    drop((with, without)); // the scan's descriptor, kept for a rewrite

    // What was appended after the stretch is read: an expired entry
    // there is found, at the same byte as without the index.
    std::fs::write(&path, minutes_log(300, 240, true)).expect("write");
    let Unheld::Collapsed { verified, .. } =
        prune_unheld(&path, at("06:00:00"), None).expect("prune")
    else {
        panic!("not collapsed")
    };
    let mut log = OpenOptions::new().append(true).open(&path).expect("open");
    log.write_all(minutes_log(0, 3, false).as_bytes())
        .expect("append");
    drop(log);
    std::fs::copy(&path, &copy).expect("copy");
    let file = File::open(&path).expect("open");
    let Plan::ReadAround(run) = verified.plan(&file, &file.metadata().expect("meta"), &later)
    else {
        panic!("no stretch")
    };
    drop(file);
    let with = prune_unheld(&path, later, Some(&run)).expect("prune");
    let without = prune_unheld(&copy, later, None).expect("prune");
    let (Unheld::NotAHead { reason: a, .. }, Unheld::NotAHead { reason: b, .. }) =
        (&with, &without)
    else {
        panic!("{with:?} {without:?}")
    };
    assert_eq!(a, b);
}

/// The index's stretch is used only while the file still has it: a mark
/// that is no longer an entry start, or a changed verified end, means a
/// full read.
#[test]
// Only Linux has collapse-range, and not the portable build (as macOS).
#[cfg(all(target_os = "linux", not(feature = "portable")))]
#[cfg_attr(
    not(v0_prune_has_collapse),
    ignore = "needs collapse-range in the temp dir: set TMPDIR to a directory on ext4 or xfs"
)]
fn a_stretch_the_file_no_longer_has_is_not_trusted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("t.log");
    std::fs::write(&path, minutes_log(300, 240, true)).expect("write");
    assert_collapse(&path);
    let Unheld::Collapsed { verified, .. } =
        prune_unheld(&path, at("06:00:00"), None).expect("prune")
    else {
        panic!("not collapsed")
    };
    let later = at("07:00:00");
    let file = File::open(&path).expect("open");
    let Plan::ReadAround(run) = verified.plan(&file, &file.metadata().expect("meta"), &later)
    else {
        panic!("no stretch")
    };
    assert!(run.still_holds(&file, &later));
    let content = std::fs::read(&path).expect("read");
    let from = usize::try_from(run.from).expect("small");
    let to = usize::try_from(run.to).expect("small");
    // One byte inserted before the mark; one byte changed before the end.
    let mut shifted = content.clone();
    shifted.insert(from - 5, b'x');
    let mut changed = content.clone();
    changed[to - 3] = b'?';
    for (name, bytes) in [("shifted", shifted), ("changed", changed)] {
        std::fs::write(&path, &bytes).expect("write");
        let file = File::open(&path).expect("open");
        assert!(!run.still_holds(&file, &later), "{name}");
        assert_eq!(
            verified.plan(&file, &file.metadata().expect("meta"), &later),
            Plan::Full,
            "{name}"
        );
    }
}

#[test]
// Only Linux has collapse-range, and not the portable build (as macOS).
#[cfg(all(target_os = "linux", not(feature = "portable")))]
#[cfg_attr(
    not(v0_prune_has_collapse),
    ignore = "needs collapse-range in the temp dir: set TMPDIR to a directory on ext4 or xfs"
)]
fn a_log_someone_has_open_is_left_to_the_rewrite() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (path, content) = unheld_log(dir.path(), 500, 10);
    assert_collapse(&path);
    let mut reader = std::process::Command::new("sh")
        .arg("-c")
        .arg(r#"exec 3<"$1"; echo ready; exec sleep 30"#)
        .arg("sh")
        .arg(&path)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("sh");
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(reader.stdout.take().expect("stdout")),
        &mut line,
    )
    .expect("ready");
    let outcome = prune_unheld(&path, cutoff(), None).expect("prune");
    let _ = reader.kill();
    let _ = reader.wait();
    let Unheld::Rewrite(reason) = outcome else {
        panic!("{outcome:?}")
    };
    assert!(reason.contains("another process has it open"), "{reason}");
    assert_eq!(std::fs::read_to_string(&path).expect("read"), content);
}

/// Waits until another process's `open()` of `path` waits on our write
/// lease: `/proc/locks` shows the lease on it breaking.
#[cfg(target_os = "linux")]
fn wait_for_an_opener(path: &Path) {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(path).expect("stat");
    // How /proc/locks names a file: the device (major:minor, in hex) and inode.
    let dev = meta.dev();
    let file = format!(
        " {:02x}:{:02x}:{} ",
        rustix::fs::major(dev),
        rustix::fs::minor(dev),
        meta.ino()
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let locks = std::fs::read_to_string("/proc/locks").expect("/proc/locks");
        let breaking = locks.lines().any(|line| {
            line.contains(" LEASE ") && line.contains(" BREAKING ") && line.contains(&file)
        });
        if breaking {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no opener of {} ever waited on our lease:\n{locks}",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Starts `sh -c script` with the log as `$1` in the background and
/// returns once it has been forked (it may be blocked in `open()`).
fn start_writer(script: &str, path: &Path) -> std::process::Child {
    std::process::Command::new("sh")
        .arg("-c")
        .arg(script)
        .arg("sh")
        .arg(path)
        .spawn()
        .expect("sh")
}

/// The case the lease is for: a positional writer (`1<>`, no O_APPEND,
/// writes at offset 0) opens the file after we read it and before we
/// write. Its `open()` waits until the collapse is done, so its bytes
/// land on the pruned file, not in the head we cut off.
#[test]
// Only Linux has collapse-range, and not the portable build (as macOS).
#[cfg(all(target_os = "linux", not(feature = "portable")))]
#[cfg_attr(
    not(v0_prune_has_collapse),
    ignore = "needs collapse-range in the temp dir: set TMPDIR to a directory on ext4 or xfs"
)]
fn a_positional_writer_appearing_between_the_scan_and_the_collapse_waits_for_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (path, _) = unheld_log(dir.path(), 500, 10);
    assert_collapse(&path);
    let writer = std::cell::RefCell::new(None);
    let outcome = prune_unheld_with(&path, cutoff(), None, &|| Duration::from_secs(45), &|| {
        *writer.borrow_mut() = Some(start_writer(r#"printf 'POSITIONAL' 1<>"$1""#, &path));
        // Its open() waits on our lease.
        wait_for_an_opener(&path);
    })
    .expect("prune");
    assert!(matches!(outcome, Unheld::Collapsed { .. }), "{outcome:?}");
    let status = writer.take().expect("writer").wait().expect("wait");
    assert!(status.success());
    let after = std::fs::read_to_string(&path).expect("read");
    assert!(
        after.starts_with("POSITIONALoring input\n[2026-11-28T01:00:00Z] v0-prune: "),
        "the write landed on the pruned file: {:?}",
        &after[..80]
    );
    assert!(after.ends_with(&new(9)));
}

/// If an opener has waited too long (here: a break time of zero), we
/// write nothing and leave the file to the rewrite; the opener then goes on.
#[test]
// Only Linux has collapse-range, and not the portable build (as macOS).
#[cfg(all(target_os = "linux", not(feature = "portable")))]
#[cfg_attr(
    not(v0_prune_has_collapse),
    ignore = "needs collapse-range in the temp dir: set TMPDIR to a directory on ext4 or xfs"
)]
fn an_opener_that_has_waited_too_long_makes_us_write_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (path, content) = unheld_log(dir.path(), 500, 10);
    assert_collapse(&path);
    let writer = std::cell::RefCell::new(None);
    let outcome = prune_unheld_with(&path, cutoff(), None, &|| Duration::ZERO, &|| {
        *writer.borrow_mut() = Some(start_writer(
            r#"echo '[2026-11-28T08:00:00Z] appended' >>"$1""#,
            &path,
        ));
        wait_for_an_opener(&path);
    })
    .expect("prune");
    let Unheld::Rewrite(reason) = outcome else {
        panic!("{outcome:?}")
    };
    assert!(reason.contains("waited too long"), "{reason}");
    assert!(
        writer
            .take()
            .expect("writer")
            .wait()
            .expect("wait")
            .success()
    );
    assert_eq!(
        std::fs::read_to_string(&path).expect("read"),
        content + "[2026-11-28T08:00:00Z] appended\n"
    );
}
