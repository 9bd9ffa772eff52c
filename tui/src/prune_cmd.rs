//! The plain `v0-prune`: finished operations first, then logs and the merge
//! queue in this process, as v0's `prune` does with `--dry-run` (and, until the
//! daemon exists, always).

use std::io::{self, BufRead, Write};

use anyhow::{Context, Result, anyhow};
use v0_prune_shared::config::Project;
use v0_prune_shared::paths::BuildDir;
use v0_prune_shared::prune::guard;
use v0_prune_shared::prune::operations::{self, Confirm, OperationsRequest, Selection};
use v0_prune_shared::prune::{self, Cutoff, PruneError, RunLock, RunOptions, RunReport};

use crate::cli::PruneArgs;
use crate::report::{self, CommandReport, SelectionKind};

/// Where the command talks: stdout for results, stderr for prompts and
/// errors, stdin for answers. Tests give it buffers.
pub struct Console<'a> {
    /// Results (or the JSON document).
    pub out: &'a mut dyn Write,
    /// Prompts, notes and errors.
    pub err: &'a mut dyn Write,
    /// Answers to prompts; end of input means "no".
    pub input: &'a mut dyn BufRead,
}

/// How the command ended, for the exit status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Everything asked for was done (exit 0).
    Done,
    /// Something failed or was refused; already reported on stderr (exit 1).
    Failed,
}

/// Runs the prune: discovery, operations, then logs and merge queue.
///
/// Errors returned here stopped the command before it changed anything the
/// user did not confirm; job errors after that are printed and give
/// [`Outcome::Failed`] once everything else ran.
pub fn run(args: &PruneArgs, console: &mut Console<'_>) -> Result<Outcome> {
    let project = crate::daemon_ctl::discover(args.build_dir.as_deref())?;
    let build = &project.build_dir;
    let (selection, kind) = selection(args);
    let exists = build_dir_exists(build)?;
    if exists {
        // Before anything is read or removed: a BUILD_DIR pointing at `/` or
        // at a home directory must not have its logs "pruned".
        guard::check_build_dir(build, args.force)?;
    }

    let mut declined_all = false;
    let request = OperationsRequest {
        selection,
        dry_run: args.dry_run,
        force: args.force,
    };
    let operations = {
        let Console { err, input, .. } = console;
        let mut confirm = |question: Confirm<'_>| {
            let (answer, all) = confirm(&mut **err, &mut **input, args, &question);
            declined_all |= all && !answer;
            answer
        };
        operations::prune(build, &request, &mut confirm, &mut prune::ignore_events)
    };
    let operations = match operations {
        Ok(report) => report,
        // The user's own input was wrong: say so and touch nothing else.
        Err(err @ (PruneError::InvalidOperationName(_) | PruneError::OperationNotFound(_))) => {
            writeln!(console.err, "Error: {err}")?;
            return Ok(Outcome::Failed);
        }
        Err(err) => {
            return finish_after_operations_error(args, console, &project, kind, exists, err);
        }
    };
    if declined_all {
        writeln!(
            console.err,
            "Aborted: no operations were pruned (answer y, or pass --force)"
        )?;
        return Ok(Outcome::Failed);
    }

    if exists && !args.dry_run && !args.sync && !args.json {
        report::write_operations(console.out, &operations, kind, args.dry_run)?;
        match crate::handoff::hand_off(&project, args.wait, console.out, console.err) {
            Ok(handoff) => {
                return Ok(if handoff.failed() {
                    Outcome::Failed
                } else {
                    Outcome::Done
                });
            }
            Err(fallback) => {
                writeln!(console.err, "note: {fallback}")?;
                let run = prune_logs_and_queue(build, &project, false, console)?;
                report::write_run(console.out, &run)?;
                for error in &run.errors {
                    writeln!(console.err, "Error: {error}")?;
                }
                return Ok(if run.errors.is_empty() {
                    Outcome::Done
                } else {
                    Outcome::Failed
                });
            }
        }
    }
    let run = if exists {
        Some(prune_logs_and_queue(
            build,
            &project,
            args.dry_run,
            console,
        )?)
    } else {
        None
    };
    let errors = run
        .as_ref()
        .map(|run| run.errors.clone())
        .unwrap_or_default();
    let report = CommandReport {
        build_dir: build.root().to_path_buf(),
        build_dir_exists: exists,
        dry_run: args.dry_run,
        selection: kind,
        operations: Some(operations),
        run,
        errors,
    };
    print(args, console, &report)
}

/// The operations job failed part-way (filesystem trouble): report it, still
/// prune logs and queue, and fail at the end.
fn finish_after_operations_error(
    args: &PruneArgs,
    console: &mut Console<'_>,
    project: &Project,
    kind: SelectionKind,
    exists: bool,
    err: PruneError,
) -> Result<Outcome> {
    let build = &project.build_dir;
    let run = if exists {
        Some(prune_logs_and_queue(build, project, args.dry_run, console)?)
    } else {
        None
    };
    let mut errors = vec![format!("operations: {err}")];
    errors.extend(run.iter().flat_map(|run| run.errors.iter().cloned()));
    let report = CommandReport {
        build_dir: build.root().to_path_buf(),
        build_dir_exists: exists,
        dry_run: args.dry_run,
        selection: kind,
        operations: None,
        run,
        errors,
    };
    print(args, console, &report)
}

/// Prints the report (human or JSON) and the errors, and decides the outcome.
fn print(args: &PruneArgs, console: &mut Console<'_>, report: &CommandReport) -> Result<Outcome> {
    if args.json {
        report::write_json(console.out, report).context("writing the JSON report")?;
    } else {
        if let Some(operations) = &report.operations {
            report::write_operations(console.out, operations, report.selection, args.dry_run)
                .context("writing the report")?;
        }
        match &report.run {
            Some(run) => report::write_run(console.out, run).context("writing the report")?,
            None if !report.build_dir_exists => writeln!(
                console.out,
                "Nothing else to prune: the build directory {} does not exist yet",
                report.build_dir.display()
            )?,
            None => {}
        }
    }
    for error in &report.errors {
        writeln!(console.err, "Error: {error}")?;
    }
    console.out.flush()?;
    Ok(if report.errors.is_empty() {
        Outcome::Done
    } else {
        Outcome::Failed
    })
}

/// A missing build directory is a project that has not run yet: nothing to
/// prune. Something else at that path is an error.
fn build_dir_exists(build: &BuildDir) -> Result<bool> {
    match std::fs::metadata(build.root()) {
        Ok(meta) if meta.is_dir() => Ok(true),
        Ok(_) => Err(anyhow!(
            "the build directory {} is not a directory",
            build.root().display()
        )),
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(err) => Err(anyhow::Error::new(err).context(format!(
            "checking the build directory {}",
            build.root().display()
        ))),
    }
}

fn selection(args: &PruneArgs) -> (Selection, SelectionKind) {
    if args.all {
        (Selection::All, SelectionKind::All)
    } else if args.names.is_empty() {
        (Selection::Finished, SelectionKind::Finished)
    } else {
        (Selection::Named(args.names.clone()), SelectionKind::Named)
    }
}

/// Answers the engine's question, asking the user unless the flags already
/// answer it. Returns (answer, whether it was the --all question).
fn confirm(
    err: &mut dyn Write,
    input: &mut dyn BufRead,
    args: &PruneArgs,
    question: &Confirm<'_>,
) -> (bool, bool) {
    match question {
        Confirm::KillSession { operation, session } => {
            // A dry run kills nothing, so there is nothing to ask.
            if args.force || args.dry_run {
                return (true, false);
            }
            let _ = writeln!(
                err,
                "Operation '{operation}' has a running tmux session '{session}'."
            );
            (ask(err, input, "Kill session and prune? [y/N] "), false)
        }
        Confirm::RemoveAll { count } => {
            if args.force || args.dry_run {
                return (true, true);
            }
            let _ = writeln!(err, "This will prune all {count} operation(s).");
            (ask(err, input, "Are you sure? [y/N] "), true)
        }
    }
}

/// Asks a y/N question; only `y`/`yes` is yes, and a closed stdin is no.
fn ask(err: &mut dyn Write, input: &mut dyn BufRead, prompt: &str) -> bool {
    let _ = write!(err, "{prompt}");
    let _ = err.flush();
    let mut answer = String::new();
    match input.read_line(&mut answer) {
        Ok(0) | Err(_) => {
            // Keep the terminal tidy: the user never pressed Enter.
            let _ = writeln!(err);
            false
        }
        Ok(_) => matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes"),
    }
}

/// Prunes logs and merge queue with the project's retention.
///
/// A real run holds `.prune-daemon.lock`, waiting (and saying so) if another
/// prune holds it. A dry run does not take the lock: it only reads, and
/// creating the lock file would change the tree it promised not to touch.
fn prune_logs_and_queue(
    build: &BuildDir,
    project: &Project,
    dry_run: bool,
    console: &mut Console<'_>,
) -> Result<RunReport> {
    let options = RunOptions {
        cutoff: Cutoff::before(jiff::Timestamp::now(), project.settings.retention),
        dry_run,
    };
    if dry_run {
        return Ok(prune::run_locked(
            build,
            &options,
            &mut prune::ignore_events,
        ));
    }
    let _lock = match RunLock::try_acquire(build) {
        Ok(lock) => lock,
        Err(PruneError::Busy(_)) => {
            writeln!(
                console.err,
                "Another prune is running in {} (it holds .prune-daemon.lock); waiting for it to finish...",
                build.root().display()
            )?;
            RunLock::acquire(build).context("waiting for the other prune to finish")?
        }
        Err(err) => return Err(anyhow::Error::new(err).context("taking the prune lock")),
    };
    Ok(prune::run_locked(
        build,
        &options,
        &mut prune::ignore_events,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args() -> PruneArgs {
        PruneArgs::default()
    }

    fn answer(input: &str, args: &PruneArgs, question: Confirm<'_>) -> (bool, String) {
        let mut err = Vec::new();
        let mut input = input.as_bytes();
        let (answer, _) = confirm(&mut err, &mut input, args, &question);
        (answer, String::from_utf8(err).expect("utf-8"))
    }

    #[test]
    fn only_y_or_yes_confirms_and_eof_is_no() {
        let kill = || Confirm::KillSession {
            operation: "op",
            session: "v0-op",
        };
        assert!(answer("y\n", &args(), kill()).0);
        assert!(answer("YES\n", &args(), kill()).0);
        assert!(!answer("n\n", &args(), kill()).0);
        assert!(!answer("\n", &args(), kill()).0);
        assert!(!answer("maybe\n", &args(), kill()).0);
        let (yes, prompt) = answer("", &args(), kill());
        assert!(!yes, "closed stdin must mean no");
        assert!(
            prompt.contains("Kill session and prune? [y/N] "),
            "{prompt}"
        );
    }

    #[test]
    fn force_and_dry_run_answer_without_asking() {
        let forced = PruneArgs {
            force: true,
            ..args()
        };
        let (yes, prompt) = answer("", &forced, Confirm::RemoveAll { count: 3 });
        assert!(yes && prompt.is_empty());
        let dry = PruneArgs {
            dry_run: true,
            ..args()
        };
        let (yes, prompt) = answer("", &dry, Confirm::RemoveAll { count: 3 });
        assert!(yes && prompt.is_empty());
        let (yes, prompt) = answer("", &args(), Confirm::RemoveAll { count: 3 });
        assert!(!yes && prompt.contains("Are you sure? [y/N] "));
    }
}
