//! Following a log through its prunes, for `v0-prune tail -f` and the Files
//! view's `Enter`: every line appended after the follow started is given
//! once, in order, none repeated, none lost, and a prune's padding line is
//! never given.
//!
//! Why not `tail -f`: an in-place prune removes the log's head, so the
//! bytes at a reader's offset are no longer the ones it was at (GNU `tail
//! -f` says "file truncated" and prints the kept file again, or misses
//! lines when more was appended than removed); a rename prune puts a new
//! file at the path while `tail -f` reads the old one on (`tail -F` reopens
//! it and prints it whole again).
//!
//! How: the follower keeps the offset after the last complete line it gave
//! and that line itself (its *anchor*). Each [`Follower::poll`] reads the
//! complete lines after the offset, then checks that the anchor still ends
//! at the offset. If it does, nothing moved under the read, and the lines
//! are new. If it does not (an in-place prune: the file shrank or shifted
//! before the offset), or the path now names another file (a rename
//! prune), the read is dropped and the anchor is looked for, backwards from
//! the old offset (a prune only ever removes what stands before a line):
//! reading goes on after it. When the anchor itself was pruned (it expired;
//! a log is written in order, so everything before it went too), reading
//! goes on at the first entry after the lines that head the file (the
//! lines before any entry, and the padding line), which are not new.

use std::fs::File;
use std::io::{self, Read as _, Seek as _, SeekFrom};
use std::os::unix::fs::{FileExt as _, MetadataExt as _};
use std::path::{Path, PathBuf};

use v0_prune_shared::prune::Cutoff;
use v0_prune_shared::prune::logs::padding::is_padding_line;
use v0_prune_shared::prune::logs::stamp::{LineKind, classify};

/// How much of a log's end [`Follower::open`] reads for its last lines.
const LAST_LINES_BYTES: u64 = 256 * 1024;

/// How much one [`Follower::poll`] reads at most; the rest comes next time.
const READ_PER_POLL: u64 = 8 << 20;

/// How far back from the old offset the anchor is looked for.
const SEARCH_LIMIT: u64 = 64 << 20;

/// A log being followed.
#[derive(Debug)]
pub struct Follower {
    path: PathBuf,
    file: File,
    /// The device and inode of `file`.
    id: (u64, u64),
    /// The end of the last complete line given (or skipped at the start).
    offset: u64,
    /// That line, with its newline; empty at the very start of the file.
    anchor: Vec<u8>,
}

/// What one poll found.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Polled {
    /// The new lines, oldest first, each with its newline.
    pub lines: Vec<Vec<u8>>,
    /// The log was pruned (or replaced) since the last poll.
    pub pruned: bool,
    /// More was appended than one poll reads: poll again at once.
    pub more: bool,
}

impl Follower {
    /// Opens `path` and gives its last `count` complete lines (padding lines
    /// left out), oldest first; following starts after them.
    pub fn open(path: &Path, count: usize) -> io::Result<(Self, Vec<Vec<u8>>)> {
        let file = File::open(path)?;
        let meta = file.metadata()?;
        if !meta.is_file() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{} is not a regular file", path.display()),
            ));
        }
        let len = meta.len();
        let start = len.saturating_sub(LAST_LINES_BYTES);
        let mut bytes = vec![0; usize::try_from(len - start).unwrap_or(0)];
        file.read_exact_at(&mut bytes, start)?;
        // Only complete lines; a line cut by the start of the read goes.
        let end = bytes
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |at| at + 1);
        let from = if start > 0 {
            bytes[..end]
                .iter()
                .position(|&b| b == b'\n')
                .map_or(end, |at| at + 1)
        } else {
            0
        };
        let lines = split_lines(&bytes[from..end]);
        let anchor = lines.last().cloned().unwrap_or_default();
        let mut shown: Vec<Vec<u8>> = lines
            .into_iter()
            .filter(|line| !is_padding_line(line))
            .collect();
        shown.drain(..shown.len().saturating_sub(count));
        let follower = Self {
            path: path.to_owned(),
            id: (meta.dev(), meta.ino()),
            file,
            offset: start + end as u64,
            anchor,
        };
        Ok((follower, shown))
    }

    /// The lines appended since the last poll, through any prune.
    pub fn poll(&mut self) -> io::Result<Polled> {
        let mut pruned = false;
        // A rename prune: the path names another file now.
        if let Ok(meta) = std::fs::metadata(&self.path)
            && (meta.dev(), meta.ino()) != self.id
            && meta.is_file()
        {
            let file = File::open(&self.path)?;
            let meta = file.metadata()?;
            self.id = (meta.dev(), meta.ino());
            self.file = file;
            self.resync()?;
            pruned = true;
        }
        for _ in 0..3 {
            let (lines, consumed, more) = self.read_new()?;
            if self.anchor_holds()? {
                if let Some(last) = lines.last() {
                    self.anchor.clone_from(last);
                }
                self.offset += consumed;
                let lines = lines
                    .into_iter()
                    .filter(|line| !is_padding_line(line))
                    .collect();
                return Ok(Polled {
                    lines,
                    pruned,
                    more,
                });
            }
            // Pruned in place under us: what was read may be shifted.
            self.resync()?;
            pruned = true;
        }
        // Pruned three times within one poll: the next poll goes on.
        Ok(Polled {
            lines: Vec::new(),
            pruned,
            more: true,
        })
    }

    /// The complete lines after the offset (at most [`READ_PER_POLL`]),
    /// the bytes they take, and whether more is there.
    fn read_new(&mut self) -> io::Result<(Vec<Vec<u8>>, u64, bool)> {
        let len = self.file.metadata()?.len();
        if len <= self.offset {
            return Ok((Vec::new(), 0, false));
        }
        let want = (len - self.offset).min(READ_PER_POLL);
        let mut bytes = Vec::with_capacity(usize::try_from(want).unwrap_or(0));
        self.file.seek(SeekFrom::Start(self.offset))?;
        (&self.file).take(want).read_to_end(&mut bytes)?;
        let end = bytes
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |at| at + 1);
        let more = want < len - self.offset;
        Ok((split_lines(&bytes[..end]), end as u64, more))
    }

    /// Whether the anchor still ends at the offset.
    fn anchor_holds(&self) -> io::Result<bool> {
        let len = self.anchor.len() as u64;
        if len == 0 {
            return Ok(self.offset == 0);
        }
        if self.offset < len {
            return Ok(false);
        }
        let mut bytes = vec![0; self.anchor.len()];
        match self.file.read_exact_at(&mut bytes, self.offset - len) {
            Ok(()) => Ok(bytes == self.anchor),
            Err(err) if err.kind() == io::ErrorKind::UnexpectedEof => Ok(false),
            Err(err) => Err(err),
        }
    }

    /// Finds where to go on after a prune: after the anchor's last
    /// occurrence ending at or before the old offset; without one, at the
    /// first entry after the file's heading lines.
    fn resync(&mut self) -> io::Result<()> {
        let len = self.file.metadata()?.len();
        if self.anchor.is_empty() {
            self.offset = 0;
            return Ok(());
        }
        let limit = len.min(self.offset);
        self.offset = match find_last(&self.file, &self.anchor, limit)? {
            Some(end) => end,
            None => {
                let offset = first_entry(&self.file, len)?;
                self.anchor = last_line_before(&self.file, offset)?;
                offset
            }
        };
        Ok(())
    }
}

/// `bytes` (complete lines) as lines, each with its newline.
fn split_lines(bytes: &[u8]) -> Vec<Vec<u8>> {
    bytes
        .split_inclusive(|&b| b == b'\n')
        .map(<[u8]>::to_vec)
        .collect()
}

/// The end of the last occurrence of `needle` that ends at or before
/// `limit`, looked for backwards over at most [`SEARCH_LIMIT`] bytes.
fn find_last(file: &File, needle: &[u8], limit: u64) -> io::Result<Option<u64>> {
    const CHUNK: u64 = 256 * 1024;
    let n = needle.len() as u64;
    let floor = limit.saturating_sub(SEARCH_LIMIT);
    let mut end = limit;
    while end > floor && end >= n {
        let start = end.saturating_sub(CHUNK + n).max(floor);
        let mut bytes = vec![0; usize::try_from(end - start).unwrap_or(0)];
        file.read_exact_at(&mut bytes, start)?;
        if let Some(at) = bytes
            .windows(needle.len())
            .rposition(|window| window == needle)
        {
            // An anchor is a whole line: it starts a line.
            let begin = start + at as u64;
            if begin == 0 || byte_at(file, begin - 1)? == Some(b'\n') {
                return Ok(Some(begin + n));
            }
            end = begin + n - 1;
            continue;
        }
        if start == floor {
            break;
        }
        end = start + n - 1;
    }
    Ok(None)
}

fn byte_at(file: &File, offset: u64) -> io::Result<Option<u8>> {
    let mut byte = [0u8];
    match file.read_exact_at(&mut byte, offset) {
        Ok(()) => Ok(Some(byte[0])),
        Err(err) if err.kind() == io::ErrorKind::UnexpectedEof => Ok(None),
        Err(err) => Err(err),
    }
}

/// The offset of the first entry (a stamped line that is not a padding
/// line) in the first [`SEARCH_LIMIT`] bytes; the end of the complete lines
/// read when there is none.
fn first_entry(file: &File, len: u64) -> io::Result<u64> {
    let any = Cutoff::at(jiff::Timestamp::UNIX_EPOCH);
    let mut bytes = vec![0; usize::try_from(len.min(SEARCH_LIMIT)).unwrap_or(0)];
    file.read_exact_at(&mut bytes, 0)?;
    let mut at = 0u64;
    for line in bytes.split_inclusive(|&b| b == b'\n') {
        if !line.ends_with(b"\n") {
            break;
        }
        let entry = !matches!(classify(line, &any), LineKind::Continuation);
        if entry && !is_padding_line(line) {
            return Ok(at);
        }
        at += line.len() as u64;
    }
    Ok(at)
}

/// The complete line that ends at `offset` (empty at the start).
fn last_line_before(file: &File, offset: u64) -> io::Result<Vec<u8>> {
    if offset == 0 {
        return Ok(Vec::new());
    }
    let start = offset.saturating_sub(64 * 1024);
    let mut bytes = vec![0; usize::try_from(offset - start).unwrap_or(0)];
    file.read_exact_at(&mut bytes, start)?;
    let body = &bytes[..bytes.len().saturating_sub(1)];
    let from = body
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |at| at + 1);
    Ok(bytes[from..].to_vec())
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use super::*;

    fn text(lines: &[Vec<u8>]) -> String {
        lines.iter().map(|l| String::from_utf8_lossy(l)).collect()
    }

    fn append(path: &Path, text: &str) {
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(path)
            .expect("open");
        file.write_all(text.as_bytes()).expect("append");
    }

    const OLD: &str = "[2020-01-01T00:00:00Z]";
    const NEW: &str = "[2099-01-01T00:00:00Z]";

    #[test]
    fn the_last_lines_then_each_appended_line_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("a.log");
        std::fs::write(&path, "one\ntwo\nthree\npartial").expect("write");
        let (mut follower, last) = Follower::open(&path, 2).expect("open");
        assert_eq!(text(&last), "two\nthree\n");
        assert!(follower.poll().expect("poll").lines.is_empty());
        append(&path, " line\nfour\n");
        assert_eq!(
            text(&follower.poll().expect("poll").lines),
            "partial line\nfour\n"
        );
        assert!(follower.poll().expect("poll").lines.is_empty());
    }

    #[test]
    fn a_rename_prune_goes_on_after_the_last_line_given() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("a.log");
        std::fs::write(&path, format!("{OLD} a\n{NEW} b\n")).expect("write");
        let (mut follower, _) = Follower::open(&path, 10).expect("open");
        append(&path, &format!("{NEW} c\n"));
        assert_eq!(
            text(&follower.poll().expect("poll").lines),
            format!("{NEW} c\n")
        );
        // Appended before the prune, then renamed over with the kept lines.
        append(&path, &format!("{NEW} d\n"));
        let temp = dir.path().join("new");
        std::fs::write(&temp, format!("{NEW} b\n{NEW} c\n{NEW} d\n{NEW} e\n")).expect("new");
        std::fs::rename(&temp, &path).expect("rename");
        let polled = follower.poll().expect("poll");
        assert!(polled.pruned);
        assert_eq!(text(&polled.lines), format!("{NEW} d\n{NEW} e\n"));
    }

    #[test]
    fn an_in_place_prune_and_its_padding_line_are_followed_through() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("a.log");
        let head = format!("nohup: ignoring input\n{OLD} old 1\n{OLD} old 2\n{OLD} old 3\n");
        std::fs::write(&path, format!("{head}{NEW} kept\n")).expect("write");
        let (mut follower, _) = Follower::open(&path, 0).expect("open");
        append(&path, &format!("{NEW} new 1\n"));
        assert_eq!(
            text(&follower.poll().expect("poll").lines),
            format!("{NEW} new 1\n")
        );
        // The head goes; the preamble and a padding line stand in its place.
        // (A collapse never moves a line later: the padding line is at
        // most as long as what it stands for.)
        let padding = format!("{OLD} v0-prune: 3 expired lines removed in place\n");
        std::fs::write(
            &path,
            format!("nohup: ignoring input\n{padding}{NEW} kept\n{NEW} new 1\n{NEW} new 2\n"),
        )
        .expect("pruned in place");
        let polled = follower.poll().expect("poll");
        assert!(polled.pruned);
        assert_eq!(text(&polled.lines), format!("{NEW} new 2\n"));
    }

    #[test]
    fn when_the_last_line_given_expired_too_reading_goes_on_at_the_first_entry() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("a.log");
        std::fs::write(&path, format!("pre\n{OLD} a\n")).expect("write");
        let (mut follower, _) = Follower::open(&path, 10).expect("open");
        let padding = format!("{OLD} v0-prune: 1 expired lines removed in place\n");
        let temp = dir.path().join("new");
        std::fs::write(&temp, format!("pre\n{padding}{NEW} b\n")).expect("new");
        std::fs::rename(&temp, &path).expect("rename");
        assert_eq!(
            text(&follower.poll().expect("poll").lines),
            format!("{NEW} b\n")
        );
    }
}
