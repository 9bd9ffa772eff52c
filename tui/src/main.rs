//! `v0-prune`: v0's `prune` command, compatible in flags, messages and exit
//! codes, pruning without losing what live writers append.
//!
//! [`cli`] parses the command line (its arguments and help in `cli::args`,
//! its exit codes in `cli::exit_code`), [`cmd`] runs the command, with
//! [`daemon_ctl`] (finding, probing and starting the daemon), [`handoff`]
//! (giving the daemon the work) and [`report`] (v0's messages) beside it. The
//! dashboard, and what it shares with the commands, is the library
//! (`v0_prune::top`, `v0_prune::spawn`, `v0_prune::format`).

mod cli;
mod cmd;
mod daemon_ctl;
mod handoff;
mod report;

use std::process::ExitCode;

use cli::Parsed;
use cli::args::Command;

fn main() -> ExitCode {
    v0_prune_shared::platform::ignore_file_size_signal();
    // The command hints name (`v0 prune` through v0), decided at once.
    v0_prune_shared::words::command();
    let cli = match cli::parse(std::env::args_os()) {
        Parsed::Run(cli) => cli,
        Parsed::Exit { output, exit_code } => {
            // Help, version and v0's usage to stdout, usage errors to stderr.
            output.print();
            return exit_code.into();
        }
    };
    let Some(command) = cli.command else {
        if cli.prune.all_projects {
            // Never the prune itself: no operation removed, no daemon started.
            return cmd::machine::run_now_main().into();
        }
        return cmd::prune::main(&cli.prune).into();
    };
    match command {
        Command::Top(args) => cmd::top::main(&args).into(),
        // `--all-projects`: every project of the machine (`cmd::machine`).
        Command::Status(args) if args.all_projects => cmd::machine::status_main(&args).into(),
        Command::Status(args) => cmd::status::main(&args).into(),
        Command::Shutdown(args) if args.all_projects => cmd::machine::shutdown_main(&args).into(),
        Command::Shutdown(args) => cmd::shutdown::main(&args).into(),
        Command::Ls(args) if args.all_projects => cmd::machine::ls_main(&args).into(),
        Command::Ls(args) => cmd::ls::main(&args).into(),
        Command::Events(args) => cmd::events::main(&args).into(),
        // The daemon's own exit status, as `v0-prune-daemon`'s.
        Command::Daemon(args) => cmd::daemon::main(&args),
        Command::Completions(args) => cmd::completions::main(&args).into(),
        Command::Man(args) => cmd::man::main(&args).into(),
        Command::Tail(args) => cmd::tail::main(&args).into(),
    }
}
