//! Pruning a log held open by an O_APPEND writer, without moving it.
//!
//! `nohup daemon >> x.log` keeps its descriptor for life; a rename would send
//! all its later lines into an unlinked file (v0's bug). Instead we remove the
//! expired *head* of the file in place with `fallocate(COLLAPSE_RANGE)`, which
//! the kernel performs under the inode lock: an append lands either before the
//! collapse (and is shifted down with the rest) or after it (at the new end).
//! The writer never notices; no NUL bytes, nothing duplicated or lost.
//!
//! Collapse works in whole filesystem blocks. The expired head rarely ends on
//! a block boundary, so the bytes between the last boundary and the first
//! kept line are overwritten first with the lines kept before the first entry
//! (`nohup: ignoring input`) and one padding line stamped with the last removed
//! entry's (expired) time, which a later run removes in turn. Only the head can
//! go this way: expired lines after the first current entry stay until the
//! writer lets go of the file.
//!
//! Crash window: between the overwrite and the collapse (two syscalls) a crash
//! leaves the expired head partly replaced by the padding line and a second
//! copy of the pre-entry head lines; no kept entry is ever touched.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::Path;

use memchr::memchr;

use super::filter::{LineKind, RecentStamp, STAMP_PREFIX_LEN};
use crate::platform;
use crate::prune::Cutoff;

/// Lines before the first entry are rewritten as part of the head; more than this is refused.
const HEAD_MAX: u64 = 1 << 20;

/// Smallest padding line: room for the stamp and a short note.
const MIN_PADDING: u64 = 80;

/// What an in-place prune did.
#[derive(Debug, PartialEq, Eq)]
pub enum InPlace {
    /// Nothing expired at the head (or less than a block of it).
    Nothing,
    /// The head was collapsed.
    Collapsed {
        /// Lines removed (the padding line not counted).
        lines_removed: u64,
        /// Size when we started.
        bytes_before: u64,
        /// Bytes removed from the file.
        bytes_removed: u64,
    },
    /// In-place pruning is not possible here; the reason says why.
    Refused(String),
}

/// The expired head of a log, as found by [`scan_head`].
#[derive(Debug, Default, PartialEq, Eq)]
struct Head {
    /// Bytes before the first timestamped line (kept).
    preamble: Vec<u8>,
    /// End of the expired run: offset of the first kept entry, or of an unfinished last line.
    expired_end: u64,
    /// Lines in the expired run.
    lines: u64,
    /// The last expired entry's stamp, reused for the padding line.
    last_stamp: Option<[u8; 20]>,
}

/// Collapses the expired head of `path` while its appender keeps writing.
pub fn prune_head(path: &Path, cutoff: Cutoff) -> io::Result<InPlace> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)?;
    if !platform::supports_collapse(&file) {
        return Ok(InPlace::Refused(format!(
            "held open by an appender {}; rewriting it would lose the writer's next lines",
            platform::WHY_NO_COLLAPSE
        )));
    }
    let bytes_before = file.metadata()?.len();
    let head = match scan_head(&file, cutoff)? {
        Ok(head) => head,
        Err(refusal) => return Ok(InPlace::Refused(refusal)),
    };
    let Some(stamp) = head.last_stamp else {
        return Ok(InPlace::Nothing);
    };
    let preamble_len = head.preamble.len() as u64;
    let block = platform::block_size(&file)?;
    let removable = head.expired_end.saturating_sub(preamble_len + MIN_PADDING);
    let collapse = removable / block * block;
    if collapse == 0 {
        return Ok(InPlace::Nothing);
    }
    // [collapse, expired_end) becomes preamble + padding, then [0, collapse) goes.
    let padding_len = head.expired_end - collapse - preamble_len;
    let mut replacement = head.preamble.clone();
    replacement.extend_from_slice(&padding_line(&stamp, head.lines, padding_len));
    let mut original = vec![0; replacement.len()];
    file.read_exact_at(&mut original, collapse)?;
    file.write_all_at(&replacement, collapse)?;
    file.sync_data()?;
    // The writer kept appending while we scanned: measure now, just before the collapse.
    let bytes_before = file.metadata()?.len().max(bytes_before);
    if let Err(err) = platform::collapse_head(&file, collapse) {
        // Put the expired bytes back: the file is exactly as before.
        file.write_all_at(&original, collapse)?;
        // Splitting an extent can need a block: on a full disk the collapse
        // fails, and the log could not be pruned (not refused on purpose).
        if matches!(
            err.raw_os_error(),
            Some(libc::ENOSPC | libc::EDQUOT | libc::EIO | libc::EROFS)
        ) {
            return Err(err);
        }
        return Ok(InPlace::Refused(format!(
            "collapse-range failed ({err}); left unchanged"
        )));
    }
    file.sync_all()?;
    Ok(InPlace::Collapsed {
        lines_removed: head.lines,
        bytes_before,
        bytes_removed: collapse,
    })
}

/// A line of exactly `len` bytes: the stamp, a note, spaces, a newline.
fn padding_line(stamp: &[u8; 20], lines: u64, len: u64) -> Vec<u8> {
    let len = usize::try_from(len).unwrap_or(usize::MAX);
    let mut line = format!(
        "[{}] v0-prune: {lines} expired lines removed in place",
        String::from_utf8_lossy(stamp)
    )
    .into_bytes();
    line.truncate(len.saturating_sub(1).max(STAMP_PREFIX_LEN));
    line.resize(len.saturating_sub(1), b' ');
    line.push(b'\n');
    line
}

/// Reads the file from the start to the end of its expired head.
/// The inner `Err` is a refusal (a reason), not an I/O error.
fn scan_head(file: &File, cutoff: Cutoff) -> io::Result<Result<Head, String>> {
    let mut window = Window::new(file);
    let mut head = Head::default();
    let mut line_start = 0u64;
    let mut in_expired_run = false;
    let mut recent = RecentStamp::default();
    loop {
        let prefix = window.bytes_at(line_start, STAMP_PREFIX_LEN)?;
        if prefix.is_empty() {
            break;
        }
        match recent.classify(prefix, &cutoff).0 {
            LineKind::Current(_) => break,
            LineKind::Expired(stamp) => {
                in_expired_run = true;
                head.last_stamp = Some(stamp);
            }
            LineKind::Continuation => {}
        }
        // Find the end of the line, copying it if it belongs to the preamble.
        let mut pos = line_start;
        let line_end = loop {
            let chunk = window.bytes_at(pos, usize::MAX)?;
            if chunk.is_empty() {
                break None;
            }
            let (take, end) = match memchr(b'\n', chunk) {
                Some(i) => (i + 1, true),
                None => (chunk.len(), false),
            };
            if !in_expired_run {
                head.preamble.extend_from_slice(&chunk[..take]);
                if head.preamble.len() as u64 > HEAD_MAX {
                    return Ok(Err("held open by an appender and more than 1 MiB precedes its first timestamped line".into()));
                }
            }
            pos += take as u64;
            if end {
                break Some(pos);
            }
        };
        // An unfinished last line: the writer is mid-line, stop before it.
        let Some(line_end) = line_end else { break };
        if in_expired_run {
            head.lines += 1;
            head.expired_end = line_end;
        }
        line_start = line_end;
    }
    if !in_expired_run {
        head.last_stamp = None;
    }
    Ok(Ok(head))
}

/// A read window over a file for scanning it by offsets with bounded memory.
struct Window<'a> {
    file: &'a File,
    buf: Vec<u8>,
    offset: u64,
    len: usize,
}

impl<'a> Window<'a> {
    fn new(file: &'a File) -> Self {
        Self {
            file,
            buf: vec![0; 1 << 20],
            offset: 0,
            len: 0,
        }
    }

    /// Up to `want` bytes at `at` (fewer at end of file or window; empty at EOF).
    fn bytes_at(&mut self, at: u64, want: usize) -> io::Result<&[u8]> {
        let end = self.offset + self.len as u64;
        let covered = at >= self.offset && at < end;
        let short = covered && want != usize::MAX && (end - at) < want as u64;
        if !covered || short {
            self.offset = at;
            self.len = 0;
            while self.len < self.buf.len() {
                match self
                    .file
                    .read_at(&mut self.buf[self.len..], at + self.len as u64)
                {
                    Ok(0) => break,
                    Ok(n) => self.len += n,
                    Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                    Err(err) => return Err(err),
                }
            }
        }
        let from = usize::try_from(at - self.offset).unwrap_or(0);
        let to = self.len.min(from.saturating_add(want));
        Ok(&self.buf[from.min(to)..to])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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
        let file = File::open(&path).expect("open");
        if !platform::supports_collapse(&file) {
            return;
        }
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
            lines[1]
                .starts_with("[2026-11-28T01:00:00Z] v0-prune: 500 expired lines removed in place"),
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
    fn nothing_to_do_when_the_head_is_current_or_small() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("d.log");
        std::fs::write(&path, format!("{}{}", new(1), old(2))).expect("write");
        if !platform::supports_collapse(&File::open(&path).expect("open")) {
            return;
        }
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
        if !platform::supports_collapse(&File::open(&path).expect("open")) {
            return;
        }
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

    #[test]
    fn without_collapse_a_held_log_is_refused_with_the_reason_and_left_alone() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("d.log");
        let content = (0..200).map(old).collect::<String>() + &new(1);
        std::fs::write(&path, &content).expect("write");
        if platform::supports_collapse(&File::open(&path).expect("open")) {
            return;
        }
        let outcome = prune_head(&path, cutoff()).expect("prune");
        let InPlace::Refused(reason) = outcome else {
            panic!("{outcome:?}")
        };
        assert!(reason.contains(platform::WHY_NO_COLLAPSE), "{reason}");
        assert_eq!(std::fs::read_to_string(&path).expect("read"), content);
    }

    #[test]
    fn padding_lines_have_the_exact_length() {
        for len in [23u64, 80, 81, 4096 + 79] {
            let line = padding_line(b"2026-11-28T01:00:00Z", 12, len);
            assert_eq!(line.len() as u64, len);
            assert!(line.starts_with(b"[2026-11-28T01:00:00Z]"));
            assert_eq!(line.last(), Some(&b'\n'));
        }
    }
}
