//! `v0-prune`: v0's `prune` command, compatible in flags, messages and exit
//! codes, pruning without losing what live writers append.

mod cli;
mod completions;
mod daemon_ctl;
mod events_cmd;
mod handoff;
mod ls_cmd;
mod man;
mod prune_cmd;
mod report;
mod shutdown_cmd;
mod status_cmd;

use std::io::{self, IsTerminal as _, Write as _};
use std::process::ExitCode;

use cli::Parsed;
use prune_cmd::Console;

fn main() -> ExitCode {
    v0_prune_shared::platform::ignore_file_size_signal();
    let cli = match cli::parse(std::env::args_os()) {
        Parsed::Run(cli) => cli,
        Parsed::Exit { output, exit_code } => {
            // Help, version and v0's usage to stdout, usage errors to stderr.
            output.print();
            return ExitCode::from(exit_code);
        }
    };
    if let Some(command) = cli.command {
        return match command {
            cli::Command::Top(args) => top(args),
            cli::Command::Status(args) => status_cmd::main(&args),
            cli::Command::Shutdown(args) => shutdown_cmd::main(&args),
            cli::Command::Ls(args) => ls_cmd::main(&args),
            cli::Command::Events(args) => events_cmd::main(&args),
            cli::Command::Daemon(args) => daemon_ctl::main(&args),
            cli::Command::Completions(args) => completions::main(&args),
            cli::Command::Man(args) => man::main(&args),
        };
    }

    let stdout = io::stdout();
    let stderr = io::stderr();
    let stdin = io::stdin();
    let (mut out, mut err, mut input) = (stdout.lock(), stderr.lock(), stdin.lock());
    // v0 colours when stdout is a terminal or V0_FORCE_COLOR is set.
    let color = io::stdout().is_terminal()
        || std::env::var_os("V0_FORCE_COLOR").is_some_and(|v| !v.is_empty());
    let mut console = Console {
        out: &mut out,
        err: &mut err,
        input: &mut input,
        color,
    };
    match prune_cmd::run(&cli.prune, &mut console) {
        Ok(outcome) => ExitCode::from(outcome.exit_code()),
        Err(error) => {
            let _ = console.out.flush();
            let _ = writeln!(console.err, "Error: {error:#}");
            ExitCode::from(1)
        }
    }
}

/// `v0-prune top`: the dashboard, on this project's daemon or a demo.
fn top(args: cli::TopArgs) -> ExitCode {
    let build = if args.demo {
        None
    } else {
        match daemon_ctl::discover(args.build_dir.as_deref()) {
            Ok(project) => Some(project.build_dir),
            Err(err) => return daemon_ctl::report_error(&err),
        }
    };
    let options = v0_prune::top::TopOptions { demo: args.demo };
    let result = tokio::runtime::Runtime::new()
        .map_err(anyhow::Error::from)
        .and_then(|runtime| runtime.block_on(v0_prune::top::run_top(build, options)));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("Error: {err:#}");
            ExitCode::from(1)
        }
    }
}

/// Prints a generated document (a completion script, the man page) on
/// stdout. A reader that went away (`| head`) is a normal end.
fn print_document(document: &[u8], what: &str) -> ExitCode {
    let mut out = io::stdout().lock();
    match out.write_all(document).and_then(|()| out.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) if error.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("Error: writing {what}: {error}");
            ExitCode::from(1)
        }
    }
}
