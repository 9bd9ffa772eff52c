//! The last lines of a log, for `Enter` in the Files view, then the lines
//! appended to it, live: read here, in the dashboard, by the follower of
//! `v0-prune tail -f` ([`crate::follow`]), so a prune (in place or by
//! rename) neither repeats a line nor loses one, and a log of gigabytes
//! costs the same as a small one. The path comes from the daemon, relative
//! to the build directory; one that would leave it is refused.

use std::path::{Component, Path};

use crate::follow::Follower;

/// How many of its last lines are kept, at most.
pub const TAIL_LINES: usize = 200;

/// The longest line kept, in characters; the rest of it is marked with `…`.
const LINE_CHARS: usize = 1_000;

/// The last complete lines of `relative` (a path inside `build_root`),
/// oldest first; an error says, in words, why they could not be read.
pub fn read_tail(build_root: &Path, relative: &str) -> Result<Vec<String>, String> {
    open_tail(build_root, relative).map(|(_, lines)| lines)
}

/// [`read_tail`], and the follower that gives the lines appended after them.
pub fn open_tail(build_root: &Path, relative: &str) -> Result<(Follower, Vec<String>), String> {
    let inside = Path::new(relative);
    if relative.is_empty()
        || !inside
            .components()
            .all(|c| matches!(c, Component::Normal(_)))
    {
        return Err(format!(
            "{relative:?} is not a path inside the build directory; not reading it"
        ));
    }
    let path = build_root.join(inside);
    let (follower, lines) = Follower::open(&path, TAIL_LINES).map_err(|err| {
        if err.kind() == std::io::ErrorKind::InvalidInput {
            format!("{relative} is not a regular file")
        } else {
            format!("cannot read {relative}: {err}")
        }
    })?;
    Ok((follower, shown(lines)))
}

/// Lines as the dashboard shows them: text, without their newline, an
/// overlong one cut and marked with `…`.
pub fn shown(lines: Vec<Vec<u8>>) -> Vec<String> {
    lines
        .into_iter()
        .map(|line| {
            let text = String::from_utf8_lossy(&line);
            let line = text.trim_end_matches(['\n', '\r']);
            if line.chars().count() > LINE_CHARS {
                let kept: String = line.chars().take(LINE_CHARS - 1).collect();
                format!("{kept}…")
            } else {
                line.to_owned()
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::File;
    use std::io::Write;

    #[test]
    fn the_last_lines_of_a_big_log_are_read_from_its_end_only() {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir(dir.path().join("logs")).expect("logs dir");
        let mut log = File::create(dir.path().join("logs/big.log")).expect("create");
        // About 1.6 MB: far more than the bytes read.
        for i in 0..40_000 {
            writeln!(log, "[2026-11-28T12:00:00Z] line {i:06} of a worker's log").expect("write");
        }
        drop(log);
        let lines = read_tail(dir.path(), "logs/big.log").expect("read");
        assert_eq!(lines.len(), TAIL_LINES);
        assert_eq!(
            lines.last().map(String::as_str),
            Some("[2026-11-28T12:00:00Z] line 039999 of a worker's log")
        );
        // Whole lines only, oldest first, none cut at the start of the read.
        assert!(
            lines
                .iter()
                .all(|l| l.starts_with("[2026-11-28T12:00:00Z] line 0"))
        );
        assert_eq!(
            lines[0],
            "[2026-11-28T12:00:00Z] line 039800 of a worker's log"
        );
    }

    #[test]
    fn paths_leaving_the_build_directory_are_refused() {
        let dir = tempfile::tempdir().expect("temp dir");
        for path in ["../secret.log", "/etc/passwd", "logs/../../x.log", ""] {
            let err = read_tail(dir.path(), path).expect_err(path);
            assert!(err.contains("not a path inside"), "{path}: {err}");
        }
        let err = read_tail(dir.path(), "logs/gone.log").expect_err("missing");
        assert!(err.starts_with("cannot read logs/gone.log: "), "{err}");
    }

    #[test]
    fn a_short_log_is_read_whole_and_long_lines_are_marked() {
        let dir = tempfile::tempdir().expect("temp dir");
        let long = "x".repeat(5_000);
        // (A last line without its newline is shown once it is complete.)
        std::fs::write(dir.path().join("a.log"), format!("one\n{long}\nthree\n")).expect("write");
        let lines = read_tail(dir.path(), "a.log").expect("read");
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[0], "one");
        assert_eq!(lines[1].chars().count(), LINE_CHARS);
        assert!(lines[1].ends_with('…'));
        assert_eq!(lines[2], "three");
    }
}
