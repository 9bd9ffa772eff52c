//! The commands of `v0-prune`, one file each: the plain [`prune`] and the
//! subcommands. Each takes its arguments from `cli::args` and returns an
//! [`Exit`] (but [`daemon`], which exits as the daemon does). What they
//! share is here: how an error is reported and which exit code it gives,
//! how output to a reader that went away ends, and a run's progress in words.

pub mod completions;
pub mod daemon;
pub mod events;
pub mod ls;
pub mod machine;
pub mod man;
pub mod prune;
pub mod shutdown;
pub mod status;
pub mod tail;
pub mod top;

use std::io::{self, Write as _};

use anyhow::Context as _;
use v0_prune_shared::client::ClientError;
use v0_prune_shared::protocol::RunProgress;
use v0_prune_shared::units::human_bytes;
use v0_prune_shared::words::error_chain;

use crate::cli::exit_code::Exit;

/// Prints a command's error the way every `v0-prune` command does, and
/// gives [`Exit::Error`], or [`Exit::Busy`] when the daemon turned us away
/// because it is at a limit (busy, not broken).
pub fn report_error(error: &anyhow::Error) -> Exit {
    eprintln!("Error: {}", error_chain(error.as_ref()));
    let refused = error
        .chain()
        .any(|cause| matches!(cause.downcast_ref(), Some(ClientError::Rejected(_))));
    if refused { Exit::Busy } else { Exit::Error }
}

/// Whether `error` comes from writing to a reader that went away (`| head`),
/// which ends a command normally: an `io::Error` of kind `BrokenPipe`
/// anywhere in its chain, also inside a `serde_json::Error` (which keeps
/// only the kind of the `io::Error` it wraps).
pub fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        let kind = match cause.downcast_ref::<serde_json::Error>() {
            Some(json) => json.io_error_kind(),
            None => cause.downcast_ref::<io::Error>().map(io::Error::kind),
        };
        kind == Some(io::ErrorKind::BrokenPipe)
    })
}

/// Stdout for a command that finishes its work whoever reads it: once the
/// reader has gone away (`| head`), the rest of the output is dropped,
/// quietly, and the command ends with the status it would have had. (Rust
/// ignores SIGPIPE, so a write to a closed pipe is an `EPIPE` error: without
/// this, `v0-prune status | head -3` ended with `Error: Broken pipe`.)
pub struct UntilClosed<W: io::Write> {
    inner: W,
    closed: bool,
}

impl<W: io::Write> UntilClosed<W> {
    /// Writes go to `inner` until it reports a broken pipe.
    pub fn new(inner: W) -> Self {
        Self {
            inner,
            closed: false,
        }
    }

    fn closes(&mut self, result: io::Result<usize>, len: usize) -> io::Result<usize> {
        match result {
            Err(err) if err.kind() == io::ErrorKind::BrokenPipe => {
                self.closed = true;
                Ok(len)
            }
            other => other,
        }
    }
}

impl<W: io::Write> io::Write for UntilClosed<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.closed {
            return Ok(buf.len());
        }
        let result = self.inner.write(buf);
        self.closes(result, buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.closed {
            return Ok(());
        }
        let result = self.inner.flush().map(|()| 0);
        self.closes(result, 0).map(drop)
    }
}

/// Prints a generated document (a completion script, the man page) on
/// stdout. A reader that went away (`| head`) is a normal end.
pub fn print_document(document: &[u8], what: &str) -> Exit {
    let mut out = io::stdout().lock();
    let written = out
        .write_all(document)
        .and_then(|()| out.flush())
        .with_context(|| format!("writing {what}"));
    match written {
        Ok(()) => Exit::Success,
        Err(error) if is_broken_pipe(&error) => Exit::Success,
        Err(error) => report_error(&error),
    }
}

/// `340/1200 files, 1.2 MiB reclaimed`: how far a run has got, in the
/// commands' lines (`status`, `events`, `shutdown`).
pub fn progress(run: &RunProgress) -> String {
    let files = if run.files_total == 0 {
        "listing files".to_owned()
    } else {
        format!("{}/{} files", run.files_done, run.files_total)
    };
    format!("{files}, {} reclaimed", human_bytes(run.bytes_reclaimed))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn broken_pipe() -> io::Error {
        io::Error::from(io::ErrorKind::BrokenPipe)
    }

    #[test]
    fn a_broken_pipe_is_found_under_context_and_inside_json_errors() {
        assert!(is_broken_pipe(&anyhow::Error::new(broken_pipe())));
        let wrapped = anyhow::Error::new(broken_pipe()).context("writing the listing");
        assert!(is_broken_pipe(&wrapped));
        let json = serde_json::to_writer(FailingWriter, &[1, 2, 3]).expect_err("fails");
        assert!(is_broken_pipe(
            &anyhow::Error::new(json).context("writing JSON")
        ));
        let other = io::Error::from(io::ErrorKind::PermissionDenied);
        assert!(!is_broken_pipe(
            &anyhow::Error::new(other).context("writing")
        ));
        assert!(!is_broken_pipe(&anyhow::anyhow!("broken pipe")));
    }

    /// A stdout whose reader has gone.
    struct FailingWriter;

    impl io::Write for FailingWriter {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(broken_pipe())
        }

        fn flush(&mut self) -> io::Result<()> {
            Err(broken_pipe())
        }
    }

    #[test]
    fn a_refusal_anywhere_in_the_chain_is_busy() {
        let refused =
            anyhow::Error::new(ClientError::Rejected("at its limit".into())).context("subscribing");
        assert_eq!(report_error(&refused), Exit::Busy);
        assert_eq!(report_error(&anyhow::anyhow!("no project")), Exit::Error);
    }
}
