//! `v0-prune-daemon`: the prune daemon of one v0 build directory, in the
//! foreground, as v0 starts it (`nohup v0-prune-daemon >> logs/prune-daemon.log 2>&1 &`).

use std::process::ExitCode;

use clap::Parser;
use v0_prune_daemon::{DaemonOptions, run_daemon};

/// The prune daemon of one v0 project: prunes its logs and merge queue at
/// start and then every interval, in the foreground.
///
/// SIGUSR1 runs a prune now; SIGTERM or SIGINT finish the current run and exit.
/// The build directory comes from BUILD_DIR, else from the nearest .v0.rc
/// (or $V0_ROOT's); V0_PRUNE_INTERVAL and V0_PRUNE_RETENTION set the schedule
/// and what is kept. It runs in / and never needs the directory it was
/// started from. If v0's own bash daemon still runs for the build directory,
/// it is asked to stop (SIGTERM) and left to finish its run first.
/// Logs to BUILD_DIR/logs/prune-daemon.log; `v0-prune status` and
/// `v0-prune events` show it live.
#[derive(Debug, Parser)]
#[command(
    name = "v0-prune-daemon",
    // `0.1.0 (abc1234 2026-11-29)`, from build.rs.
    version = env!("V0_PRUNE_VERSION"),
    after_help = AFTER_HELP
)]
struct Cli {}

const AFTER_HELP: &str = "\
Examples:
  v0-prune-daemon                            this project's daemon, in the foreground
  BUILD_DIR=~/p/.v0/build v0-prune-daemon    another project's daemon
  V0_PRUNE_INTERVAL=10m v0-prune-daemon      prune every 10 minutes
  kill -USR1 \"$(cat .prune-daemon.pid)\"      prune now (in BUILD_DIR)
  nohup v0-prune-daemon >> logs/prune-daemon.log 2>&1 &   how v0 starts it (in BUILD_DIR)

Exit status:
  0  drained (SIGTERM, SIGINT, v0-prune shutdown), or another daemon already runs
  1  an error: no v0 project, or the build directory cannot be pruned
  2  a usage error";

fn main() -> ExitCode {
    let _cli = Cli::parse();
    // The command hints name, decided before the daemon leaves its directory.
    v0_prune_shared::words::command();
    let options = match DaemonOptions::discover(None) {
        Ok(options) => options,
        Err(err @ v0_prune_shared::config::ConfigError::NoProject) => {
            eprintln!("Error: {err}\n{}", v0_prune_shared::config::NO_PROJECT_HINT);
            return ExitCode::from(1);
        }
        Err(err) => {
            eprintln!("Error: {err}");
            return ExitCode::from(1);
        }
    };
    match run_daemon(options) {
        Ok(exit) => exit.exit_code(),
        Err(err) => {
            eprintln!(
                "Error: {}",
                v0_prune_shared::words::error_chain(err.as_ref())
            );
            ExitCode::from(1)
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory as _;

    use super::*;

    #[test]
    fn help_has_examples() {
        let help = Cli::command().render_long_help().to_string();
        assert!(
            help.contains("Examples:") && help.contains("SIGUSR1"),
            "{help}"
        );
    }
}
