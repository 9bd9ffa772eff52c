//! The padding line: an expired line of a chosen length that stands in for
//! the end of a removed head, so that what follows keeps its offset within a
//! block or a page.
//!
//! Two users:
//! - an in-place prune ([`super::in_place`]) collapses whole blocks, so the
//!   head's bytes after its last block boundary become this line;
//! - a rewrite that copies a long run of kept lines in the kernel
//!   ([`super::rewrite`]) writes one before the run, so the run sits at the
//!   same offset within its pages in the new file as in the old: such a copy
//!   moves whole pages, where a misaligned one moves each as two pieces.
//!
//! The line is stamped with the head's last removed entry's time, so it is
//! expired itself and a later run removes it with the next head. The log
//! index records the kept entries' earliest stamp, not the padding's, so the
//! line alone never makes a run prune a file again.

use super::stamp::STAMP_PREFIX_LEN;

/// Smallest padding line: room for the stamp and a short note.
pub const MIN_PADDING: u64 = 80;

/// From this length on, a run of kept lines a rewrite copies in the kernel
/// is worth aligning: a shorter copy costs less than a thought about it.
pub const ALIGN_FROM: u64 = 1 << 20;

/// A line of exactly `len` bytes: the stamp, a note saying `lines` expired
/// lines were removed `how`, spaces, a newline.
pub fn padding_line(stamp: &[u8; 20], lines: u64, how: &str, len: u64) -> Vec<u8> {
    let len = usize::try_from(len).unwrap_or(usize::MAX);
    let mut line = format!(
        "[{}] v0-prune: {lines} expired lines removed {how}",
        String::from_utf8_lossy(stamp)
    )
    .into_bytes();
    line.truncate(len.saturating_sub(1).max(STAMP_PREFIX_LEN));
    line.resize(len.saturating_sub(1), b' ');
    line.push(b'\n');
    line
}

/// Whether `line` (its start suffices) is a padding line: an expired stamp,
/// then `v0-prune: N expired lines removed`. A follower (`v0-prune tail
/// -f`) never prints one: it stands for lines removed, not a line written.
pub fn is_padding_line(line: &[u8]) -> bool {
    let Some(rest) = line.get(STAMP_PREFIX_LEN..) else {
        return false;
    };
    if super::stamp::parse_stamp(line).is_none() {
        return false;
    }
    let Some(rest) = rest.strip_prefix(b" v0-prune: ") else {
        return false;
    };
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    digits > 0 && rest[digits..].starts_with(b" expired lines removed ")
}

/// How long a padding line a rewrite puts between the kept prefix
/// (`prefix_len` bytes, the same in both files) and the kept run
/// `[run_start, run_end)` of the old file, so that the run lands at the same
/// offset within an `alignment`-byte page of the new file. Zero where that
/// is not worth it or not possible: no alignment to keep (the copy goes
/// through our buffers), a run under [`ALIGN_FROM`], a run already in
/// place, or fewer removed bytes between the two than the line needs (a
/// rewrite never makes the file longer).
pub fn alignment_padding(
    prefix_len: u64,
    run_start: u64,
    run_end: u64,
    alignment: Option<u64>,
) -> u64 {
    let Some(alignment) = alignment.filter(|a| *a > 0) else {
        return 0;
    };
    if run_end.saturating_sub(run_start) < ALIGN_FROM {
        return 0;
    }
    let removed = run_start.saturating_sub(prefix_len);
    let mut padding = removed % alignment;
    if padding == 0 {
        return 0;
    }
    if padding < MIN_PADDING {
        padding += alignment;
    }
    if padding > removed { 0 } else { padding }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padding_lines_have_the_exact_length() {
        for len in [23u64, 80, 81, 4096 + 79] {
            let line = padding_line(b"2026-11-28T01:00:00Z", 12, "in place", len);
            assert_eq!(line.len() as u64, len);
            assert!(line.starts_with(b"[2026-11-28T01:00:00Z]"));
            assert_eq!(line.last(), Some(&b'\n'));
        }
    }

    #[test]
    fn the_padding_puts_the_run_at_its_old_offset_within_a_page() {
        let page = Some(4096);
        let long = ALIGN_FROM;
        for (prefix, start) in [
            (0, 5000),
            (22, 9000),
            (0, 4096 + 4096 + 30),
            (100, 8192 + 150),
        ] {
            let padding = alignment_padding(prefix, start, start + long, page);
            assert!(padding >= MIN_PADDING, "{prefix} {start}: {padding}");
            assert!(
                padding <= start - prefix,
                "{prefix} {start}: longer than the head"
            );
            assert_eq!((prefix + padding) % 4096, start % 4096, "{prefix} {start}");
        }
    }

    #[test]
    fn no_padding_where_it_is_not_worth_it_or_not_possible() {
        let page = Some(4096);
        // Already aligned.
        assert_eq!(alignment_padding(0, 8192, 8192 + ALIGN_FROM, page), 0);
        // A short run.
        assert_eq!(alignment_padding(0, 5000, 5000 + ALIGN_FROM - 1, page), 0);
        // No alignment to keep.
        assert_eq!(alignment_padding(0, 5000, 5000 + ALIGN_FROM, None), 0);
        // 30 bytes removed: too few for a line, and 4096 more are not there.
        assert_eq!(alignment_padding(0, 30, 30 + ALIGN_FROM, page), 0);
        // 4126 removed: the 30 too few, so a page more (4126 bytes in all).
        assert_eq!(alignment_padding(0, 4126, 4126 + ALIGN_FROM, page), 4126);
    }
}
