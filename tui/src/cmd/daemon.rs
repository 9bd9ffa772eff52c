//! `v0-prune daemon`: the prune daemon in the foreground, the very same as
//! `v0-prune-daemon` (the daemon crate's `run_daemon`).

use std::process::ExitCode;

use v0_prune_daemon::{DaemonOptions, run_daemon};

use super::report_error;
use crate::cli::args::DaemonArgs;
use crate::daemon_ctl::discovery_error;

/// `v0-prune daemon` from `main`. Must be called outside any async runtime.
/// Its exit status is the daemon's own, as `v0-prune-daemon`'s; an error
/// before or while running is reported as every command reports one.
pub fn main(args: &DaemonArgs) -> ExitCode {
    let ran = DaemonOptions::discover(args.build_dir.as_deref())
        .map_err(discovery_error)
        .and_then(run_daemon);
    match ran {
        Ok(exit) => exit.exit_code(),
        Err(err) => report_error(&err).into(),
    }
}
