use super::*;
use crate::prune::logs::checkpoints::{Mark, SPACING};
use crate::prune::logs::stamp::parse_stamp;

fn cutoff() -> Cutoff {
    Cutoff::at("2026-11-28T06:00:00Z".parse().expect("valid"))
}

/// Collects kept output, copying the verbatim prefix from the source.
struct VecSink<'a> {
    source: &'a [u8],
    out: Vec<u8>,
}

impl KeptSink for VecSink<'_> {
    fn start(&mut self, prefix_len: u64) -> io::Result<()> {
        self.out
            .extend_from_slice(&self.source[..prefix_len as usize]);
        Ok(())
    }
    fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.out.extend_from_slice(bytes);
        Ok(())
    }
}

/// Runs the filter and returns the file as it would be after pruning.
pub(crate) fn filtered(input: &[u8]) -> (Vec<u8>, FilterStats) {
    let mut filter = LineFilter::new(cutoff());
    let mut sink = VecSink {
        source: input,
        out: Vec::new(),
    };
    let mut reader = input;
    filter.pump(&mut reader, &mut sink).expect("pump");
    let stats = filter.finish(&mut sink).expect("finish");
    if stats.first_drop.is_none() {
        return (input.to_vec(), stats);
    }
    (sink.out, stats)
}

#[test]
fn the_rules_as_a_table() {
    let cases: &[(&str, &[u8], &[u8], u64)] = &[
        ("empty file", b"", b"", 0),
        ("no timestamps at all is left alone", b"a\nb\n", b"a\nb\n", 0),
        ("old line goes", b"[2026-11-28T01:00:00Z] old\n[2026-11-28T07:00:00Z] new\n", b"[2026-11-28T07:00:00Z] new\n", 1),
        (
            "continuations follow their entry",
            b"[2026-11-28T01:00:00Z] old\n  trace 1\n  trace 2\n[2026-11-28T07:00:00Z] new\n  kept trace\n",
            b"[2026-11-28T07:00:00Z] new\n  kept trace\n",
            3,
        ),
        ("head lines before the first entry are kept", b"nohup: ignoring input\n[2026-11-28T01:00:00Z] old\n", b"nohup: ignoring input\n", 1),
        (
            "a malformed stamp is a continuation",
            b"[2026-11-28T01:00:00Z] old\n[2026-02-30T25:61:00Z] bogus\n[2026-11-28T09:00:00Z] new\n",
            b"[2026-11-28T09:00:00Z] new\n",
            2,
        ),
        ("interleaved old entries go too", b"[2026-11-28T07:00:00Z] a\n[2026-11-28T01:00:00Z] b\n[2026-11-28T08:00:00Z] c\n", b"[2026-11-28T07:00:00Z] a\n[2026-11-28T08:00:00Z] c\n", 1),
        ("no trailing newline, kept", b"[2026-11-28T01:00:00Z] old\n[2026-11-28T07:00:00Z] new", b"[2026-11-28T07:00:00Z] new", 1),
        ("no trailing newline, dropped", b"[2026-11-28T07:00:00Z] new\n[2026-11-28T01:00:00Z] old", b"[2026-11-28T07:00:00Z] new\n", 1),
        ("CR-only endings are one line", b"[2026-11-28T01:00:00Z] a\r[2026-11-28T07:00:00Z] b\r", b"", 1),
        ("binary junk passes through", b"\x00\xff[2026-11-28T07:00:00Z]\n[2026-11-28T07:00:00Z] \xfe\xfd\n", b"\x00\xff[2026-11-28T07:00:00Z]\n[2026-11-28T07:00:00Z] \xfe\xfd\n", 0),
        ("everything expired", b"[2026-11-28T01:00:00Z] a\n[2026-11-28T02:00:00Z] b\n", b"", 2),
    ];
    for (name, input, expected, removed) in cases {
        let (out, stats) = filtered(input);
        assert_eq!(
            String::from_utf8_lossy(&out),
            String::from_utf8_lossy(expected),
            "{name}"
        );
        assert_eq!(stats.lines_removed, *removed, "{name}");
        assert_eq!(stats.bytes_out, expected.len() as u64, "{name}");
    }
}

#[test]
fn a_line_longer_than_the_buffer_streams_through() {
    let mut input = b"[2026-11-28T01:00:00Z] ".to_vec();
    input.extend(std::iter::repeat_n(b'x', 3 * BUFFER_LEN + 7));
    input.extend_from_slice(b"\n[2026-11-28T07:00:00Z] ");
    input.extend(std::iter::repeat_n(b'y', 2 * BUFFER_LEN));
    input.push(b'\n');
    let (out, stats) = filtered(&input);
    assert_eq!(stats.lines_removed, 1);
    assert_eq!(out.len(), 2 * BUFFER_LEN + 24);
    assert!(out.starts_with(b"[2026-11-28T07:00:00Z] yyy"));
}

/// A reader that returns at most `step` bytes per read, to split prefixes across reads.
struct Trickle<'a> {
    data: &'a [u8],
    step: usize,
}

impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.step.min(buf.len()).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

#[test]
fn prefixes_split_across_reads_and_resumed_pumps_give_the_same_result() {
    let input = b"head\n[2026-11-28T01:00:00Z] old\n cont\n[2026-11-28T07:00:00Z] new\n[2026-11-28T02:00:00Z] x\n[2026-11-28T08:00:00Z] y";
    let (expected, _) = filtered(input);
    for step in 1..30 {
        let mut filter = LineFilter::new(cutoff());
        let mut sink = VecSink {
            source: input,
            out: Vec::new(),
        };
        // Pump in several rounds, as if a writer appended between them.
        for chunk in input.chunks(17) {
            filter
                .pump(&mut Trickle { data: chunk, step }, &mut sink)
                .expect("pump");
        }
        filter.finish(&mut sink).expect("finish");
        assert_eq!(
            String::from_utf8_lossy(&sink.out),
            String::from_utf8_lossy(&expected),
            "step {step}"
        );
    }
}

#[test]
fn a_small_size_hint_only_means_more_reads() {
    let mut input = Vec::new();
    for i in 0..20_000 {
        let stamp = if i % 3 == 0 { "05:59:59" } else { "06:00:00" };
        input.extend_from_slice(format!("[2026-11-28T{stamp}Z] line {i}\n").as_bytes());
        if i % 7 == 0 {
            input.extend_from_slice(b"  a continuation line\n");
        }
    }
    let (expected, expected_stats) = filtered(&input);
    let mut filter = LineFilter::for_len(cutoff(), 10);
    assert_eq!(filter.buf.len(), MIN_BUFFER_LEN);
    let mut sink = VecSink {
        source: &input,
        out: Vec::new(),
    };
    filter.pump(&mut &input[..], &mut sink).expect("pump");
    let stats = filter.finish(&mut sink).expect("finish");
    assert!(input.len() > 10 * MIN_BUFFER_LEN);
    assert_eq!(stats, expected_stats);
    assert!(sink.out == expected, "same output with a 16 KiB buffer");
}

/// The rules, written as plainly as possible: the reference the streaming filter must match.
pub(crate) fn reference_model(input: &[u8], cutoff: &Cutoff) -> Vec<u8> {
    let mut out = Vec::new();
    let mut entry_kept: Option<bool> = None;
    let mut lines: Vec<&[u8]> = input.split_inclusive(|&b| b == b'\n').collect();
    if input.is_empty() {
        lines.clear();
    }
    for line in lines {
        let stamp = (line.len() >= 22 && line[0] == b'[' && line[21] == b']')
            .then(|| std::str::from_utf8(&line[1..21]).ok())
            .flatten()
            .and_then(|s| {
                s.parse::<jiff::Timestamp>()
                    .ok()
                    .filter(|_| s.len() == 20 && s.ends_with('Z'))
            });
        let keep = match stamp {
            Some(ts) => {
                let keep = !cutoff.expires(ts);
                entry_kept = Some(keep);
                keep
            }
            None => entry_kept.unwrap_or(true),
        };
        if keep {
            out.extend_from_slice(line);
        }
    }
    out
}

/// The statistics a filter pass must report, computed line by line from
/// the same plain rules as [`reference_model`].
fn reference_stats(input: &[u8], cutoff: &Cutoff) -> FilterStats {
    let mut stats = FilterStats {
        bytes_in: input.len() as u64,
        ..FilterStats::default()
    };
    let mut entry_kept: Option<bool> = None;
    let mut offset = 0u64;
    // Checkpoints: a mark at the first entry at or after every
    // `SPACING` bytes whose line prefix is not the last entry's.
    let mut due = SPACING;
    let mut last_prefix: Option<&[u8]> = None;
    let (mut leading, mut marks) = (None::<[u8; 20]>, Vec::<Mark>::new());
    for line in input.split_inclusive(|&b| b == b'\n') {
        let prefix = &line[..line.len().min(STAMP_PREFIX_LEN)];
        if let Some(stamp) = parse_stamp(prefix) {
            if offset >= due && last_prefix != Some(prefix) {
                marks.push(Mark {
                    offset,
                    stamp,
                    earliest: stamp,
                });
                due = (offset / SPACING + 1) * SPACING;
            }
            let earliest = match marks.last_mut() {
                Some(mark) => &mut mark.earliest,
                None => leading.get_or_insert(stamp),
            };
            *earliest = (*earliest).min(stamp);
            last_prefix = Some(prefix);
        }
        let keep = match classify(prefix, cutoff) {
            LineKind::Expired(stamp) => {
                stats.last_expired = Some(stamp);
                entry_kept = Some(false);
                false
            }
            LineKind::Current(stamp) => {
                stats.first_current.get_or_insert(offset);
                if stats.head_lines.is_none() {
                    stats.head_lines = Some(stats.lines_removed);
                    stats.head_last_expired = stats.last_expired;
                }
                if stats.earliest_kept.is_none_or(|e| stamp < e) {
                    stats.earliest_kept = Some(stamp);
                }
                entry_kept = Some(true);
                true
            }
            LineKind::Continuation => entry_kept.unwrap_or(true),
        };
        if keep {
            stats.bytes_out += line.len() as u64;
        } else {
            stats.lines_removed += 1;
            stats.first_drop.get_or_insert(offset);
            if stats.first_current.is_some() {
                stats.drop_after_current.get_or_insert(offset);
            }
        }
        offset += line.len() as u64;
        if line.ends_with(b"\n") {
            stats.input_complete = offset;
            stats.output_complete = stats.bytes_out;
        }
    }
    stats.checkpoints = Checkpoints::from_parts(leading, marks);
    stats
}

/// Checks the checkpoints a pass (or passes) over `input` noted: marks in
/// order, each at an entry start with the entry's stamp, and no entry
/// from it to the next earlier than its `earliest` says (which may be
/// lower: a bound a later run relies on).
pub(crate) fn checkpoints_hold(input: &[u8], points: &Checkpoints) -> Result<(), String> {
    let marks = points.marks();
    for (i, mark) in marks.iter().enumerate() {
        let at = usize::try_from(mark.offset).map_err(|e| e.to_string())?;
        let end = marks
            .get(i + 1)
            .map_or(input.len(), |next| next.offset as usize);
        if end <= at || (at > 0 && input[at - 1] != b'\n') {
            return Err(format!(
                "mark {i} at {at} is out of order or not at a line start"
            ));
        }
        let stamp = parse_stamp(&input[at..input.len().min(at + STAMP_PREFIX_LEN)]);
        if stamp != Some(mark.stamp) {
            return Err(format!("mark {i} at {at} is not an entry with its stamp"));
        }
        let earliest = input[at..end]
            .split(|&b| b == b'\n')
            .filter_map(|line| parse_stamp(&line[..line.len().min(STAMP_PREFIX_LEN)]))
            .min();
        if earliest.is_some_and(|earliest| earliest < mark.earliest) {
            return Err(format!(
                "mark {i} at {at} says its entries are later than they are"
            ));
        }
    }
    Ok(())
}

/// `stats` without its checkpoints: passes split or resumed elsewhere
/// place marks elsewhere ([`checkpoints_hold`] checks them).
pub(crate) fn without_checkpoints(stats: &FilterStats) -> FilterStats {
    FilterStats {
        checkpoints: Checkpoints::default(),
        ..stats.clone()
    }
}

fn arb_line() -> impl proptest::strategy::Strategy<Value = Vec<u8>> {
    use proptest::prelude::*;
    prop_oneof![
        (0i64..48 * 3600).prop_map(|s| {
            let ts = jiff::Timestamp::from_second(1_795_759_200 + s).expect("valid");
            format!("[{}] msg", ts.strftime("%Y-%m-%dT%H:%M:%SZ")).into_bytes()
        }),
        proptest::collection::vec(
            any::<u8>().prop_filter("no newline", |b| *b != b'\n'),
            0..40
        ),
        Just(b"[2026-02-30T25:61:00Z] impossible".to_vec()),
        // Repeated stamps on both sides of the cutoff: the verdict cache.
        Just(b"[2026-11-28T05:59:59Z] burst".to_vec()),
        Just(b"[2026-11-28T06:00:00Z] burst".to_vec()),
        Just(b"[2026-11-28T06:00:01Z] burst".to_vec()),
        Just(b"  continuation".to_vec()),
        Just(b"\x00\xff\xfe junk".to_vec()),
    ]
}

proptest::proptest! {
    #[test]
    fn streaming_filter_matches_the_reference_model_and_is_idempotent(
        lines in proptest::collection::vec(arb_line(), 0..60),
        trailing_newline in proptest::bool::ANY,
    ) {
        let mut input = lines.join(&b'\n');
        if trailing_newline && !input.is_empty() {
            input.push(b'\n');
        }
        let (once, stats) = filtered(&input);
        proptest::prop_assert_eq!(&once, &reference_model(&input, &cutoff()));
        // The earliest kept stamp, which the log index relies on.
        let earliest = once
            .split(|&b| b == b'\n')
            .filter_map(parse_stamp)
            .min();
        proptest::prop_assert_eq!(stats.earliest_kept, earliest);
        proptest::prop_assert_eq!(&stats, &reference_stats(&input, &cutoff()));
        let (twice, stats) = filtered(&once);
        proptest::prop_assert_eq!(&twice, &once);
        proptest::prop_assert_eq!(stats.lines_removed, 0);
    }

    #[test]
    fn two_parts_joined_at_an_entry_give_the_whole_file_statistics(
        lines in proptest::collection::vec(arb_line(), 1..60),
        pick in proptest::prelude::any::<proptest::sample::Index>(),
    ) {
        let input = [lines.join(&b'\n'), b"\n".to_vec()].concat();
        // Every start of a timestamped line after the first byte.
        let starts: Vec<usize> = input
            .iter()
            .enumerate()
            .filter(|&(i, &b)| b == b'\n' && i + 1 < input.len())
            .map(|(i, _)| i + 1)
            .filter(|&at| {
                classify(&input[at..input.len().min(at + STAMP_PREFIX_LEN)], &cutoff())
                    != LineKind::Continuation
            })
            .collect();
        proptest::prop_assume!(!starts.is_empty());
        let split = starts[pick.index(starts.len())];
        let run = |mut filter: LineFilter, bytes: &[u8]| {
            filter.pump(&mut &bytes[..], &mut CountingSink).expect("pump");
            filter.finish(&mut CountingSink).expect("finish")
        };
        let earlier = run(LineFilter::new(cutoff()), &input[..split]);
        let later = run(
            LineFilter::resume_at(cutoff(), split as u64, input.len() as u64),
            &input[split..],
        );
        let joined = earlier.joined(later, split as u64);
        proptest::prop_assert_eq!(
            without_checkpoints(&joined),
            without_checkpoints(&reference_stats(&input, &cutoff()))
        );
        proptest::prop_assert_eq!(checkpoints_hold(&input, &joined.checkpoints), Ok(()));
    }

    #[test]
    fn a_rewrite_resumed_at_the_first_drop_after_a_current_entry_gives_the_whole_pass(
        lines in proptest::collection::vec(arb_line(), 1..60),
        trailing_newline in proptest::bool::ANY,
    ) {
        let mut input = lines.join(&b'\n');
        if trailing_newline {
            input.push(b'\n');
        }
        let (whole_out, whole) = filtered(&input);
        let part = whole.before_drop_after_current();
        proptest::prop_assert_eq!(part.is_some(), whole.drop_after_current.is_some());
        let Some(part) = part else {
            return Ok(());
        };
        let end = usize::try_from(part.bytes_in).expect("small");
        // The part's figures are a pass over it alone, but for the
        // earliest kept stamp, which may only be lower.
        let mut alone = reference_stats(&input[..end], &cutoff());
        proptest::prop_assert!(part.earliest_kept <= alone.earliest_kept);
        alone.earliest_kept = part.earliest_kept;
        proptest::prop_assert_eq!(without_checkpoints(&part), without_checkpoints(&alone));
        proptest::prop_assert_eq!(checkpoints_hold(&input[..end], &part.checkpoints), Ok(()));
        // What the rewrite copies unread, then the rest filtered.
        let mut out = match (part.first_drop, part.first_current) {
            (Some(drop), Some(current)) => [
                &input[..usize::try_from(drop).expect("small")],
                &input[usize::try_from(current).expect("small")..end],
            ]
            .concat(),
            _ => Vec::new(),
        };
        let mut filter = LineFilter::resume_after(cutoff(), part, input.len() as u64);
        let mut sink = VecSink { source: &input, out: Vec::new() };
        filter.pump(&mut &input[end..], &mut sink).expect("pump");
        let stats = filter.finish(&mut sink).expect("finish");
        out.extend(sink.out);
        proptest::prop_assert_eq!(without_checkpoints(&stats), without_checkpoints(&whole));
        proptest::prop_assert_eq!(checkpoints_hold(&input, &stats.checkpoints), Ok(()));
        proptest::prop_assert_eq!(&out, &whole_out);
    }

    #[test]
    fn a_pass_that_takes_a_current_stretch_as_read_gives_the_whole_pass(
        lines in proptest::collection::vec(arb_line(), 1..60),
        pick_from in proptest::prelude::any::<proptest::sample::Index>(),
        pick_to in proptest::prelude::any::<proptest::sample::Index>(),
        trailing_newline in proptest::bool::ANY,
    ) {
        let mut input = lines.join(&b'\n');
        if trailing_newline {
            input.push(b'\n');
        }
        let (_, whole) = filtered(&input);
        let stamp_at = |at: usize| parse_stamp(&input[at..input.len().min(at + STAMP_PREFIX_LEN)]);
        let current = |at: usize| matches!(
            classify(&input[at..input.len().min(at + STAMP_PREFIX_LEN)], &cutoff()),
            LineKind::Current(_)
        );
        // A current entry after the first byte to start at.
        let line_starts: Vec<usize> = input
            .iter()
            .enumerate()
            .filter(|&(i, &b)| b == b'\n' && i + 1 < input.len())
            .map(|(i, _)| i + 1)
            .collect();
        let starts: Vec<usize> = line_starts.iter().copied().filter(|&at| current(at)).collect();
        // (Inputs without a current entry, or ending in one unfinished
        // line, have no stretch to take: nothing to check.)
        if starts.is_empty() {
            return Ok(());
        }
        let from = starts[pick_from.index(starts.len())];
        // Line ends after it, up to the first expired entry.
        let ends: Vec<usize> = line_starts
            .iter()
            .copied()
            .chain((input.last() == Some(&b'\n')).then_some(input.len()))
            .filter(|&end| end > from)
            .take_while(|&end| {
                line_starts
                    .iter()
                    .filter(|&&at| at >= from && at < end)
                    .all(|&at| stamp_at(at).is_none() || current(at))
            })
            .collect();
        if ends.is_empty() {
            return Ok(());
        }
        let to = ends[pick_to.index(ends.len())];
        let earliest = line_starts
            .iter()
            .filter(|&&at| at >= from && at < to)
            .filter_map(|&at| stamp_at(at))
            .min()
            .expect("an entry at `from`");
        let run = CurrentRun {
            from: from as u64,
            stamp: stamp_at(from).expect("an entry"),
            to: to as u64,
            end_fingerprint: 0,
            earliest,
            marks: whole.checkpoints.within(from as u64, to as u64),
        };
        let mut before = LineFilter::new(cutoff());
        before.pump(&mut &input[..from], &mut CountingSink).expect("pump");
        let before = before.finish(&mut CountingSink).expect("finish");
        let mut filter =
            LineFilter::resume_after(cutoff(), before.then_current(&run), input.len() as u64);
        filter.pump(&mut &input[to..], &mut CountingSink).expect("pump");
        let stats = filter.finish(&mut CountingSink).expect("finish");
        proptest::prop_assert_eq!(without_checkpoints(&stats), without_checkpoints(&whole));
        proptest::prop_assert_eq!(checkpoints_hold(&input, &stats.checkpoints), Ok(()));
    }

    #[test]
    fn reads_of_any_size_in_any_rounds_give_the_same_output_and_statistics(
        lines in proptest::collection::vec(arb_line(), 0..60),
        step in 1usize..64,
        round in 1usize..200,
    ) {
        let input = lines.join(&b'\n');
        let mut filter = LineFilter::new(cutoff());
        let mut sink = VecSink { source: &input, out: Vec::new() };
        for chunk in input.chunks(round) {
            filter.pump(&mut Trickle { data: chunk, step }, &mut sink).expect("pump");
        }
        let stats = filter.finish(&mut sink).expect("finish");
        proptest::prop_assert_eq!(&stats, &reference_stats(&input, &cutoff()));
        if stats.first_drop.is_some() {
            proptest::prop_assert_eq!(&sink.out, &reference_model(&input, &cutoff()));
        }
    }
}
