//! `v0-prune`: v0's `prune` command, compatible in flags, messages and exit
//! codes, pruning without losing what live writers append.

mod cli;
mod prune_cmd;
mod report;

use std::io;
use std::process::ExitCode;

use cli::Parsed;
use prune_cmd::{Console, Outcome};

fn main() -> ExitCode {
    let cli = match cli::parse(std::env::args_os()) {
        Parsed::Run(cli) => cli,
        Parsed::Exit { output, exit_code } => {
            // clap sends help and version to stdout, usage errors to stderr.
            let _ = output.print();
            return ExitCode::from(exit_code);
        }
    };
    if let Some(command) = cli.command {
        match command {}
    }

    let stdout = io::stdout();
    let stderr = io::stderr();
    let stdin = io::stdin();
    let (mut out, mut err, mut input) = (stdout.lock(), stderr.lock(), stdin.lock());
    let mut console = Console {
        out: &mut out,
        err: &mut err,
        input: &mut input,
    };
    match prune_cmd::run(&cli.prune, &mut console) {
        Ok(Outcome::Done) => ExitCode::SUCCESS,
        Ok(Outcome::Failed) => ExitCode::from(1),
        Err(error) => {
            let _ = console.out.flush();
            let _ = writeln!(console.err, "Error: {error:#}");
            ExitCode::from(1)
        }
    }
}
