//! `v0-prune-daemon`: the prune daemon of one v0 build directory, in the
//! foreground, as v0 starts it (`nohup v0-prune-daemon >> logs/prune-daemon.log 2>&1 &`).

use std::process::ExitCode;

use clap::Parser;
use v0_prune_daemon::{DaemonOptions, run_daemon};

/// The prune daemon of one v0 project: prunes its logs and merge queue at
/// start and then every interval, in the foreground.
///
/// SIGUSR1 runs a prune now; SIGTERM or SIGINT finish the current run and exit.
/// The build directory comes from BUILD_DIR, else from the nearest .v0.rc;
/// V0_PRUNE_INTERVAL and V0_PRUNE_RETENTION set the schedule and what is kept.
/// Logs to BUILD_DIR/logs/prune-daemon.log; `v0-prune status` and
/// `v0-prune events` show it live.
#[derive(Debug, Parser)]
#[command(name = "v0-prune-daemon", version)]
struct Cli {}

fn main() -> ExitCode {
    let _cli = Cli::parse();
    let options = match DaemonOptions::discover(None) {
        Ok(options) => options,
        Err(err) => {
            eprintln!("Error: {err}");
            return ExitCode::from(1);
        }
    };
    match run_daemon(options) {
        Ok(exit) => exit.exit_code(),
        Err(err) => {
            eprintln!("Error: {err:#}");
            ExitCode::from(1)
        }
    }
}
