//! `v0-prune top`: finds the project and hands it to the dashboard
//! (`v0_prune::top`, in the library), on this project's daemon or a demo.

use v0_prune::top::{TopOptions, run_top};

use super::report_error;
use crate::cli::args::TopArgs;
use crate::cli::exit_code::Exit;
use crate::daemon_ctl;

/// `v0-prune top` from `main`: the dashboard until the user quits.
pub fn main(args: &TopArgs) -> Exit {
    let (build, root) = if args.demo {
        (None, None)
    } else {
        match daemon_ctl::discover(args.build_dir.as_deref()) {
            Ok(project) => (Some(project.build_dir), project.root),
            // Every project of the machine needs none in this directory.
            Err(_) if args.all_projects => (None, None),
            Err(err) => return report_error(&err),
        }
    };
    // As `daemon_ctl::start` does: the daemon runs in `/` and finds the
    // project (name, settings) through V0_ROOT.
    let daemon_env = root
        .map(|root| vec![("V0_ROOT".to_owned(), root.display().to_string())])
        .unwrap_or_default();
    let options = TopOptions {
        demo: args.demo,
        daemon_env,
        all_projects: args.all_projects,
    };
    let result = tokio::runtime::Runtime::new()
        .map_err(anyhow::Error::from)
        .and_then(|runtime| runtime.block_on(run_top(build, options)));
    match result {
        Ok(()) => Exit::Success,
        Err(err) => {
            eprintln!(
                "Error: {}",
                v0_prune_shared::words::error_chain(err.as_ref())
            );
            Exit::Error
        }
    }
}
