//! The plain `v0-prune`: v0's `prune`, path for path and line for line
//! (`bin/v0-prune`), with our additions (bytes reclaimed, what was skipped and
//! why) on lines of their own.
//!
//! First the operations (finished ones, named ones, or `--all`), then a blank
//! line and the logs and merge queue: handed to the prune daemon, or pruned in
//! this process under v0's `Pruning old mergeq entries...` / `Pruning old log
//! entries...` headings with `--dry-run`, `--sync`, or when no daemon can be
//! started (v0's synchronous fallback).
//!
//! One difference from v0 on purpose: without `operations/`, v0 stops at
//! `No operations to prune`; we print that line and then prune logs and the
//! queue all the same (v0's prune exists to have them pruned), in every
//! form (`-n`, `--sync`, `--wait`, `--json`). Only a build directory that
//! does not exist yet stops there.

use std::io::{self, BufRead, IsTerminal as _, Write};

use anyhow::{Context, Result, anyhow};
use v0_prune_shared::config::Project;
use v0_prune_shared::paths::BuildDir;
use v0_prune_shared::prune::guard;
use v0_prune_shared::prune::operations::{self, Confirm, OperationsRequest, Selection};
use v0_prune_shared::prune::{
    self, Cutoff, OperationsReport, PruneError, RunLock, RunOptions, RunReport,
};

use crate::cli::args::PruneArgs;
use crate::cli::exit_code::Exit;
use crate::handoff;
use crate::report::{self, CommandReport, SelectionKind};

/// Where the command talks: stdout for results and v0's prompts (v0 prompts
/// on stdout), stderr for errors, stdin for answers. Tests give it buffers.
pub struct Console<'a> {
    /// Results and prompts (or only the JSON document, with `--json`).
    pub out: &'a mut dyn Write,
    /// Errors and notes.
    pub err: &'a mut dyn Write,
    /// Answers to prompts; end of input means "no".
    pub input: &'a mut dyn BufRead,
    /// v0's colours (`C_DIM` in `View logs:`): stdout is a terminal or
    /// `V0_FORCE_COLOR` is set, as in v0's `v0-common.sh`.
    pub color: bool,
}

/// How the command ended, for the exit status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Everything asked for was done ([`Exit::Success`]).
    Done,
    /// Something failed or was refused; already reported ([`Exit::Error`]).
    Failed,
    /// Everything ran, but some logs (or the merge queue) could not be
    /// pruned because of an error: a full disk, an I/O error, a permission.
    /// Each is reported with what to do ([`Exit::NotPruned`]).
    Incomplete,
}

impl Outcome {
    /// The exit status of the plain prune.
    pub fn exit(self) -> Exit {
        match self {
            Self::Done => Exit::Success,
            Self::Failed => Exit::Error,
            Self::Incomplete => Exit::NotPruned,
        }
    }
}

/// The plain `v0-prune` from `main`: the prune on the terminal (or pipes),
/// errors on stderr.
pub fn main(args: &PruneArgs) -> Exit {
    let stdout = io::stdout();
    let stderr = io::stderr();
    let stdin = io::stdin();
    let (mut out, mut err, mut input) = (
        super::UntilClosed::new(stdout.lock()),
        stderr.lock(),
        stdin.lock(),
    );
    // v0 colours when stdout is a terminal or V0_FORCE_COLOR is set.
    let color = io::stdout().is_terminal()
        || std::env::var_os("V0_FORCE_COLOR").is_some_and(|v| !v.is_empty());
    let mut console = Console {
        out: &mut out,
        err: &mut err,
        input: &mut input,
        color,
    };
    match run(args, &mut console) {
        Ok(outcome) => outcome.exit(),
        Err(error) => {
            let _ = console.out.flush();
            let chain = v0_prune_shared::words::error_chain(error.as_ref());
            let _ = writeln!(console.err, "Error: {chain}");
            Exit::Error
        }
    }
}

/// The operations part's end: go on to logs and queue (also after v0's `No
/// operations to prune`, where v0 stops: logs and the queue are pruned
/// whether or not `operations/` exists), or stop here with this exit
/// status, as v0 does after `Aborted` or an unknown name.
enum Step {
    Continue(Option<OperationsReport>),
    Stop(Outcome),
}

/// Runs the prune: discovery, operations, then logs and merge queue.
///
/// Errors returned here stopped the command before it changed anything the
/// user did not confirm; job errors after that are printed and give
/// [`Outcome::Failed`] once everything else ran.
pub fn run(args: &PruneArgs, console: &mut Console<'_>) -> Result<Outcome> {
    // v0's answer to "no .v0.rc" (its two lines, then ours), as every command's.
    let project = crate::daemon_ctl::discover(args.build_dir.as_deref())?;
    let build = &project.build_dir;
    let exists = build_dir_exists(build)?;
    if exists {
        // Before anything is read or removed: a BUILD_DIR pointing at `/` or
        // at a home directory must not have its logs "pruned".
        guard::check_build_dir(build, args.force)?;
    }
    let kind = selection_kind(args);
    let mut errors = Vec::new();
    let step = match operations_part(args, console, build, kind, &mut errors)? {
        // A build directory that does not exist yet (a project that has
        // never run) has no logs or queue to prune and no daemon to start:
        // v0's `No operations to prune` is all there is to say.
        Step::Continue(_) if !exists => Step::Stop(Outcome::Done),
        step => step,
    };
    let operations = match step {
        Step::Continue(report) => report,
        Step::Stop(outcome) => {
            if args.json {
                let report = CommandReport {
                    build_dir: build.root().to_path_buf(),
                    build_dir_exists: exists,
                    dry_run: args.dry_run,
                    selection: kind,
                    operations: None,
                    run: None,
                    errors,
                    not_pruned: 0,
                };
                report::write_json(console.out, &report).context("writing the JSON report")?;
            }
            return Ok(outcome);
        }
    };
    if args.json {
        let run = prune_logs_and_queue(build, &project, args.dry_run, console)?;
        errors.extend(run.errors.iter().cloned());
        let not_pruned = run.failed().count() as u64;
        let report = CommandReport {
            build_dir: build.root().to_path_buf(),
            build_dir_exists: exists,
            dry_run: args.dry_run,
            selection: kind,
            operations,
            run: Some(run),
            errors,
            not_pruned,
        };
        report::write_json(console.out, &report).context("writing the JSON report")?;
        return finish(console, &report.errors, not_pruned);
    }
    // v0: a blank line between the operations and the logs and queue.
    writeln!(console.out)?;
    if !args.dry_run && !args.sync {
        let handoff =
            handoff::hand_off(&project, args.wait, console.color, console.out, console.err);
        match handoff {
            Ok(handoff) => {
                if handoff.failed() {
                    errors.push("the daemon's run reported errors".into());
                }
                for error in &errors {
                    writeln!(console.err, "Error: {error}")?;
                }
                return Ok(outcome(&errors, handoff.not_pruned()));
            }
            Err(fallback) => writeln!(console.err, "note: {fallback}")?,
        }
    }
    let run = prune_logs_and_queue(build, &project, args.dry_run, console)?;
    let retention = report::retention_words(project.settings.retention);
    report::write_sections(console.out, &run, &retention)?;
    errors.extend(run.errors.iter().cloned());
    finish(console, &errors, run.failed().count() as u64)
}

fn finish(console: &mut Console<'_>, errors: &[String], not_pruned: u64) -> Result<Outcome> {
    console.out.flush()?;
    for error in errors {
        writeln!(console.err, "Error: {error}")?;
    }
    Ok(outcome(errors, not_pruned))
}

/// An error outweighs items that could not be pruned: [`Exit::Error`]
/// before [`Exit::NotPruned`].
fn outcome(errors: &[String], not_pruned: u64) -> Outcome {
    if !errors.is_empty() {
        Outcome::Failed
    } else if not_pruned > 0 {
        Outcome::Incomplete
    } else {
        Outcome::Done
    }
}

/// The operations, in v0's words. A filesystem error part-way is recorded
/// in `errors` and the logs and queue still run (the exit status will be 1).
fn operations_part(
    args: &PruneArgs,
    console: &mut Console<'_>,
    build: &BuildDir,
    kind: SelectionKind,
    errors: &mut Vec<String>,
) -> Result<Step> {
    let result = match kind {
        SelectionKind::All => prune_all(args, console, build),
        SelectionKind::Named => prune_named(args, console, build),
        SelectionKind::Finished => prune_finished(args, console, build),
    };
    match result {
        Ok(step) => Ok(step),
        // The user's own input was wrong: say so, as v0 does, and stop.
        Err(err @ (PruneError::InvalidOperationName(_) | PruneError::OperationNotFound(_))) => {
            if !args.json {
                writeln!(console.err, "Error: {err}")?;
            }
            errors.push(err.to_string());
            Ok(Step::Stop(Outcome::Failed))
        }
        Err(err) => {
            errors.push(format!("operations: {err}"));
            Ok(Step::Continue(None))
        }
    }
}

/// Whether `operations/` is there; `No operations to prune` when not.
fn operations_present(build: &BuildDir) -> bool {
    std::fs::symlink_metadata(build.operations_dir()).is_ok_and(|meta| meta.is_dir())
}

/// Prompts go where v0 puts them (stdout), except under `--json`, whose
/// stdout is the document alone.
fn prompt_writer<'c>(args: &PruneArgs, console: &'c mut Console<'_>) -> &'c mut dyn Write {
    if args.json {
        &mut *console.err
    } else {
        &mut *console.out
    }
}

/// `--all`: one question, then `operations/` goes as a whole, as v0's
/// `rm -rf "${BUILD_DIR}/operations"` (never following a symbolic link).
fn prune_all(
    args: &PruneArgs,
    console: &mut Console<'_>,
    build: &BuildDir,
) -> Result<Step, PruneError> {
    let dir = build.operations_dir();
    if !operations_present(build) {
        // A symbolic link is refused by the engine with its own error.
        if std::fs::symlink_metadata(&dir).is_ok_and(|meta| meta.file_type().is_symlink()) {
            operations::prune(
                build,
                &all_request(args),
                &mut |_| true,
                &mut prune::ignore_events,
            )?;
        }
        say(args, console, "No operations to prune")?;
        return Ok(Step::Continue(Some(OperationsReport::default())));
    }
    if !args.force && !args.dry_run {
        let Console {
            out, err, input, ..
        } = console;
        let prompt: &mut dyn Write = if args.json { &mut **err } else { &mut **out };
        let question = format!(
            "This will remove ALL operation state in {}/operations/\n",
            build.root().display()
        );
        write_io(prompt, &question)?;
        if !ask(prompt, &mut **input, "Are you sure? [y/N] ") {
            write_io(prompt, "Aborted\n")?;
            return Ok(Step::Stop(Outcome::Failed));
        }
    }
    let report = operations::prune(
        build,
        &all_request(args),
        &mut |_| true,
        &mut prune::ignore_events,
    )?;
    if args.dry_run {
        say(
            args,
            console,
            &format!("Would remove: {}/operations/", build.root().display()),
        )?;
    } else {
        // The engine removed each operation; what is left (stray files,
        // symbolic links, never followed) goes with the directory.
        if let Err(err) = std::fs::remove_dir_all(&dir) {
            if err.kind() != io::ErrorKind::NotFound {
                return Err(PruneError::io(&dir, err));
            }
        }
        say(args, console, "Pruned all operations")?;
    }
    Ok(Step::Continue(Some(report)))
}

fn all_request(args: &PruneArgs) -> OperationsRequest {
    OperationsRequest {
        selection: Selection::All,
        dry_run: args.dry_run,
        // The question was asked above, in v0's words.
        force: true,
    }
}

/// Named operations, one after the other as v0 does, but every name is
/// checked first: a bad or unknown name stops the command before anything
/// is removed (v0 removes the names before it).
fn prune_named(
    args: &PruneArgs,
    console: &mut Console<'_>,
    build: &BuildDir,
) -> Result<Step, PruneError> {
    let mut names: Vec<&String> = Vec::new();
    for name in &args.names {
        if !names.contains(&name) {
            names.push(name);
        }
    }
    for name in &names {
        operations::validate_name(name)?;
        let is_dir =
            std::fs::symlink_metadata(build.operations_dir().join(name)).is_ok_and(|m| m.is_dir());
        if !is_dir {
            return Err(PruneError::OperationNotFound((*name).clone()));
        }
    }
    let mut total = OperationsReport {
        present: true,
        ..OperationsReport::default()
    };
    for name in names {
        let request = OperationsRequest {
            selection: Selection::Named(vec![name.clone()]),
            dry_run: args.dry_run,
            force: args.force,
        };
        let mut declined = false;
        let report = {
            let Console {
                out, err, input, ..
            } = &mut *console;
            let prompt: &mut dyn Write = if args.json { &mut **err } else { &mut **out };
            let mut confirm = |question: Confirm<'_>| {
                let yes = confirm_session(prompt, &mut **input, &question);
                declined |= !yes;
                yes
            };
            operations::prune(build, &request, &mut confirm, &mut prune::ignore_events)?
        };
        if declined {
            write_io(prompt_writer(args, console), "Aborted\n")?;
            return Ok(Step::Stop(Outcome::Failed));
        }
        for operation in &report.pruned {
            let line = if args.dry_run {
                format!("Would prune: {}", operation.name)
            } else {
                format!("Pruned operation '{}'", operation.name)
            };
            say(args, console, &line)?;
        }
        total.examined += report.examined;
        total.pruned.extend(report.pruned);
        total.skipped.extend(report.skipped);
    }
    Ok(Step::Continue(Some(total)))
}

/// Finished operations (v0's default).
fn prune_finished(
    args: &PruneArgs,
    console: &mut Console<'_>,
    build: &BuildDir,
) -> Result<Step, PruneError> {
    if !operations_present(build)
        && !std::fs::symlink_metadata(build.operations_dir()).is_ok_and(|m| m.is_symlink())
    {
        say(args, console, "No operations to prune")?;
        return Ok(Step::Continue(Some(OperationsReport::default())));
    }
    let request = OperationsRequest {
        selection: Selection::Finished,
        dry_run: args.dry_run,
        force: args.force,
    };
    let report = operations::prune(build, &request, &mut |_| false, &mut prune::ignore_events)?;
    if !args.json {
        report::write_finished(console.out, &report, args.dry_run).map_err(console_error)?;
    }
    Ok(Step::Continue(Some(report)))
}

/// One line of v0's output on stdout (nothing under `--json`).
fn say(args: &PruneArgs, console: &mut Console<'_>, line: &str) -> Result<(), PruneError> {
    if args.json {
        return Ok(());
    }
    writeln!(console.out, "{line}").map_err(console_error)
}

fn write_io(out: &mut dyn Write, text: &str) -> Result<(), PruneError> {
    out.write_all(text.as_bytes()).map_err(console_error)
}

fn console_error(err: io::Error) -> PruneError {
    PruneError::io(std::path::Path::new("<stdout>"), err)
}

/// A named operation's tmux session runs: v0's warning and question.
fn confirm_session(
    prompt: &mut dyn Write,
    input: &mut dyn BufRead,
    question: &Confirm<'_>,
) -> bool {
    match question {
        Confirm::KillSession { session, .. } => {
            let _ = writeln!(prompt, "Warning: Session '{session}' is still running");
            ask(prompt, input, "Kill session and prune? [y/N] ")
        }
        // `--all` asks before calling the engine.
        Confirm::RemoveAll { .. } => true,
    }
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

fn selection_kind(args: &PruneArgs) -> SelectionKind {
    // v0: --all wins over names.
    if args.all {
        SelectionKind::All
    } else if args.names.is_empty() {
        SelectionKind::Finished
    } else {
        SelectionKind::Named
    }
}

/// Asks a y/N question as v0 does: only `y` or `Y` (surrounding blanks
/// aside) is yes, and a closed stdin is no.
fn ask(prompt: &mut dyn Write, input: &mut dyn BufRead, question: &str) -> bool {
    let _ = write!(prompt, "{question}");
    let _ = prompt.flush();
    let mut answer = String::new();
    match input.read_line(&mut answer) {
        Ok(0) | Err(_) => {
            // Keep the terminal tidy: the user never pressed Enter.
            let _ = writeln!(prompt);
            false
        }
        Ok(_) => matches!(answer.trim_matches([' ', '\t', '\n', '\r']), "y" | "Y"),
    }
}

/// Prunes logs and merge queue with the project's retention.
///
/// A real run holds `.prune-daemon.lock`, waiting (and saying so) if another
/// prune holds it. A dry run does not take the lock: it only reads, and
/// creating the lock file would change the tree it promised not to touch.
/// A build directory that does not exist has nothing to prune.
fn prune_logs_and_queue(
    build: &BuildDir,
    project: &Project,
    dry_run: bool,
    console: &mut Console<'_>,
) -> Result<RunReport> {
    let now = jiff::Timestamp::now();
    let options = RunOptions {
        cutoff: Cutoff::before(now, project.settings.retention),
        dry_run,
    };
    let budget = project.settings.budget(now);
    if dry_run || !build.root().is_dir() {
        return Ok(prune::run_locked_within(
            build,
            &options,
            budget.as_ref(),
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
    Ok(prune::run_locked_within(
        build,
        &options,
        budget.as_ref(),
        &mut prune::ignore_events,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(input: &str, question: &str) -> (bool, String) {
        let mut out = Vec::new();
        let mut input = input.as_bytes();
        let yes = ask(&mut out, &mut input, question);
        (yes, String::from_utf8(out).expect("utf-8"))
    }

    #[test]
    fn only_y_confirms_as_in_v0_and_eof_is_no() {
        for yes in ["y\n", "Y\n", "  y \n", "y"] {
            assert!(answer(yes, "? ").0, "{yes:?}");
        }
        for no in ["n\n", "\n", "yes\n", "maybe\n", "yy\n"] {
            assert!(!answer(no, "? ").0, "{no:?}");
        }
        let (yes, prompt) = answer("", "Kill session and prune? [y/N] ");
        assert!(!yes, "closed stdin must mean no");
        assert_eq!(prompt, "Kill session and prune? [y/N] \n");
    }

    #[test]
    fn a_running_session_gets_v0_s_warning_then_its_question() {
        let mut out = Vec::new();
        let question = Confirm::KillSession {
            operation: "auth",
            session: "v0-p-auth",
        };
        assert!(confirm_session(&mut out, &mut "y\n".as_bytes(), &question));
        assert_eq!(
            String::from_utf8(out).expect("utf-8"),
            "Warning: Session 'v0-p-auth' is still running\nKill session and prune? [y/N] "
        );
    }
}
