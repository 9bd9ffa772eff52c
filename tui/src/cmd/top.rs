//! `v0-prune top`: finds the project and hands it to the dashboard
//! (`v0_prune::top`, in the library), on this project's daemon or a demo.

use v0_prune::top::{TopOptions, run_top};

use super::report_error;
use crate::cli::args::TopArgs;
use crate::cli::exit_code::Exit;
use crate::daemon_ctl;

/// `v0-prune top` from `main`: the dashboard until the user quits.
pub fn main(args: &TopArgs) -> Exit {
    let build = if args.demo {
        None
    } else {
        match daemon_ctl::discover(args.build_dir.as_deref()) {
            Ok(project) => Some(project.build_dir),
            Err(err) => return report_error(&err),
        }
    };
    let options = TopOptions { demo: args.demo };
    let result = tokio::runtime::Runtime::new()
        .map_err(anyhow::Error::from)
        .and_then(|runtime| runtime.block_on(run_top(build, options)));
    match result {
        Ok(()) => Exit::Success,
        Err(err) => {
            eprintln!("Error: {err:#}");
            Exit::Error
        }
    }
}
