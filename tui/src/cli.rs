//! The command line of `v0-prune`: v0's `prune` flags plus ours, and v0's
//! exit codes for help and usage errors.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::error::ErrorKind;
use clap::{Args, Parser, Subcommand};

/// First line of `--help`; v0 users and scripts recognise the command by it.
pub const HELP_HEADLINE: &str = "v0 prune - Remove operation state";

const HELP_TEMPLATE: &str = "\
{about}

Usage: {usage}

{all-args}{after-help}";

const AFTER_HELP: &str = "\
Without names, removes every finished operation: one whose phase is merged or
cancelled, or completed/pending_merge with merge_status merged. Then the logs
(*.log lines older than the retention, V0_PRUNE_RETENTION, default 6h) and the
merge queue (old completed, failed and conflict entries) are pruned by the
prune daemon in the background: it is started if needed, asked to run now, and
v0-prune returns at once. --wait waits for that run and prints its summary;
--sync, --dry-run and --json prune them in this process instead.

The project is the nearest directory holding .v0.rc, else $V0_ROOT; BUILD_DIR
in the environment or --build-dir overrides where its state lives.

Examples:
  v0-prune                   prune finished operations, then logs and merge queue
  v0-prune -n                show what would be pruned, change nothing
  v0-prune fix-login         prune the operation 'fix-login'
  v0-prune --all --force     prune every operation without asking
  v0-prune --json            print the report as JSON on stdout
  v0-prune --wait            let the daemon prune and print its run's summary
  v0-prune status            is the daemon running, when did it last/next run
  v0-prune shutdown          drain the daemon (v0 shutdown), then prune once more
  v0-prune top               live dashboard (try: v0-prune top --demo)
  v0-prune completions zsh   print the zsh completion script (also bash, fish, ...)
  v0-prune man               print the man page

Exit status:
  0  everything asked for was done
  1  an error (reported on stderr), a usage error, --help, or a declined --all";

/// `v0-prune`'s arguments.
///
/// Subcommands (`top`, `status`, `shutdown`, `events`, `daemon`) talk to or
/// run the prune daemon, `completions` and `man` document the command; plain
/// `v0-prune [options] [name...]` stays the prune itself, as in v0.
#[derive(Debug, Parser)]
#[command(
    name = "v0-prune",
    // `0.1.0 (abc1234 2026-11-29)`, from build.rs.
    version = env!("V0_PRUNE_VERSION"),
    about = HELP_HEADLINE,
    long_about = None,
    override_usage = "v0-prune [options] [name...]",
    help_template = HELP_TEMPLATE,
    after_help = AFTER_HELP,
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    /// A subcommand, or none for the plain prune.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// The prune itself.
    #[command(flatten)]
    pub prune: PruneArgs,
}

/// Subcommands beside the plain prune.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Live dashboard of the prune daemon: last and next run, bytes reclaimed, history, log
    #[command(
        after_help = "Keys: r run now, d drain (asks), s start the daemon, f follow the log, / filter,\n\
                            Tab switch pane, arrows/PgUp/PgDn/Home/End scroll, ? help, q quit (the daemon keeps running).\n\n\
                            Examples:\n  v0-prune top            watch this project's daemon\n  \
                            v0-prune top --demo     try it on a generated project (removed on quit)"
    )]
    Top(TopArgs),
    /// Whether the prune daemon runs, what it does, its last and next run (exit 0 running, 3 not)
    #[command(after_help = STATUS_AFTER_HELP)]
    Status(crate::status_cmd::StatusArgs),
    /// Stop the prune daemon after its current run, then prune once more (v0 shutdown's part)
    #[command(after_help = SHUTDOWN_AFTER_HELP)]
    Shutdown(crate::shutdown_cmd::ShutdownArgs),
    /// Print the prune daemon's live events, one line each (NDJSON with --json)
    #[command(after_help = EVENTS_AFTER_HELP)]
    Events(crate::events_cmd::EventsArgs),
    /// Run the prune daemon in the foreground (the same as v0-prune-daemon)
    #[command(after_help = DAEMON_AFTER_HELP)]
    Daemon(crate::daemon_ctl::DaemonArgs),
    /// Print a shell completion script for v0-prune (needs no v0 project)
    #[command(after_help = crate::completions::AFTER_HELP)]
    Completions(crate::completions::CompletionsArgs),
    /// Print v0-prune's man page in roff, or write a page per command (needs no v0 project)
    #[command(after_help = crate::man::AFTER_HELP)]
    Man(crate::man::ManArgs),
}

const STATUS_AFTER_HELP: &str = "\
Examples:
  v0-prune status                             is this project's daemon running; its last and next run
  v0-prune status --json | jq .next_run_at    the same, for scripts
  v0-prune status --build-dir ~/p/.v0/build   another project's daemon

Exit status:
  0  the daemon is running
  1  an error: no v0 project, or the daemon's state could not be read
  3  the daemon is not running";

const SHUTDOWN_AFTER_HELP: &str = "\
Examples:
  v0-prune shutdown                 drain the daemon, then prune once more
  v0-prune shutdown --timeout 60    give its current run a minute before killing it
  v0-prune shutdown -n              say what would be stopped and pruned

Exit status:
  0  the daemon stopped (or was not running) and the final prune went well
  1  an error, or the final prune reported errors
  4  the daemon did not stop in time and was killed (the final prune still ran)";

const EVENTS_AFTER_HELP: &str = "\
Examples:
  v0-prune events                             follow runs as they happen (Ctrl-C stops)
  v0-prune events --json | jq -c .event       the NDJSON stream, for scripts
  v0-prune events --build-dir ~/p/.v0/build   another project's daemon

Exit status:
  0  the daemon exited, or Ctrl-C
  1  an error, or the stream fell behind and was dropped
  3  the daemon is not running";

const DAEMON_AFTER_HELP: &str = "\
SIGUSR1 runs a prune now; SIGTERM or SIGINT finish the current run and exit.
V0_PRUNE_INTERVAL and V0_PRUNE_RETENTION set the schedule and what is kept.

Examples:
  v0-prune daemon                             this project's daemon, in the foreground
  v0-prune daemon --build-dir ~/p/.v0/build   another project's
  V0_PRUNE_INTERVAL=10m v0-prune daemon       prune every 10 minutes";

/// Options of `v0-prune top`.
#[derive(Debug, Args)]
pub struct TopArgs {
    /// Generate a demo project in a temp dir, run a daemon on it, and watch it
    #[arg(long)]
    pub demo: bool,
    /// The build directory to watch (overrides BUILD_DIR and .v0.rc)
    #[arg(long, value_name = "DIR", conflicts_with = "demo")]
    pub build_dir: Option<PathBuf>,
}

/// Options of the plain prune, v0's first.
#[derive(Debug, Clone, Default, Args)]
pub struct PruneArgs {
    /// Prune every operation, whatever its phase (asks first unless --force or --dry-run)
    #[arg(short = 'a', long, conflicts_with = "names")]
    pub all: bool,

    /// Do not ask: kill running tmux sessions and prune; also prune a build directory that does not look like v0's
    #[arg(short = 'f', long)]
    pub force: bool,

    /// Show what would be pruned; change nothing
    #[arg(short = 'n', long)]
    pub dry_run: bool,

    /// The build directory to prune (overrides BUILD_DIR and .v0.rc)
    #[arg(long, value_name = "DIR")]
    pub build_dir: Option<PathBuf>,

    /// Print a machine-readable report on stdout (and nothing else there)
    #[arg(long)]
    pub json: bool,

    /// Prune logs and the merge queue in this process (not the daemon) and print the report
    #[arg(long)]
    pub sync: bool,

    /// Wait for the daemon's run over logs and merge queue, and print its summary
    #[arg(long, conflicts_with_all = ["dry_run", "sync"])]
    pub wait: bool,

    /// Operations to prune by name (default: every finished operation)
    #[arg(value_name = "name")]
    pub names: Vec<String>,
}

/// What parsing decided: run, or stop with output already chosen.
#[derive(Debug)]
pub enum Parsed {
    /// Arguments are valid.
    Run(Cli),
    /// Help, version or a usage error: print `output` and exit with `exit_code`.
    Exit {
        /// The text clap rendered (help, version or error with usage).
        output: clap::Error,
        /// v0's code: 0 for --version, 1 for help and usage errors.
        exit_code: u8,
    },
}

/// Parses arguments with v0's conventions: help and usage errors exit 1 (clap
/// would use 0 and 2), --version exits 0.
pub fn parse<I, T>(args: I) -> Parsed
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    match Cli::try_parse_from(args) {
        Ok(cli) => Parsed::Run(cli),
        Err(output) => {
            let exit_code = match output.kind() {
                ErrorKind::DisplayVersion => 0,
                _ => 1,
            };
            Parsed::Exit { output, exit_code }
        }
    }
}

/// The subcommands, from the clap definition (clap's own `help` aside):
/// what the completion and man page tests look for, so the lists never drift.
#[cfg(test)]
pub(crate) fn subcommand_names() -> Vec<String> {
    use clap::CommandFactory as _;
    let names: Vec<String> = Cli::command()
        .get_subcommands()
        .map(|sub| sub.get_name().to_owned())
        .filter(|name| name != "help")
        .collect();
    assert!(names.len() >= 7, "only {names:?}");
    names
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory as _;

    use super::*;

    fn run(args: &[&str]) -> PruneArgs {
        match parse(std::iter::once("v0-prune").chain(args.iter().copied())) {
            Parsed::Run(cli) => cli.prune,
            Parsed::Exit { output, .. } => panic!("expected a run, got: {output}"),
        }
    }

    fn exit_code(args: &[&str]) -> (u8, String) {
        match parse(std::iter::once("v0-prune").chain(args.iter().copied())) {
            Parsed::Run(cli) => panic!("expected an exit, got {cli:?}"),
            Parsed::Exit { output, exit_code } => (exit_code, output.render().to_string()),
        }
    }

    #[test]
    fn v0_flags_parse_short_and_long() {
        let args = run(&["-a", "-f", "-n"]);
        assert!(args.all && args.force && args.dry_run);
        let args = run(&["--all", "--force", "--dry-run", "--json", "--sync"]);
        assert!(args.all && args.force && args.dry_run && args.json && args.sync);
        let args = run(&["--build-dir", "/x/build", "op-a", "op-b"]);
        assert_eq!(args.build_dir, Some(PathBuf::from("/x/build")));
        assert_eq!(args.names, ["op-a", "op-b"]);
    }

    #[test]
    fn odd_names_reach_the_engine_which_rejects_them() {
        assert_eq!(
            run(&["..", "a/b", "", "/tmp"]).names,
            ["..", "a/b", "", "/tmp"]
        );
    }

    #[test]
    fn help_starts_with_v0_headline_and_exits_1() {
        for flag in ["-h", "--help"] {
            let (code, text) = exit_code(&[flag]);
            assert_eq!(code, 1);
            assert!(text.starts_with(HELP_HEADLINE), "{text}");
            assert!(text.contains("--dry-run") && text.contains("Examples:"));
            assert!(text.contains("Exit status:"));
        }
    }

    #[test]
    fn usage_errors_exit_1_and_version_exits_0() {
        assert_eq!(exit_code(&["--bogus"]).0, 1);
        assert_eq!(exit_code(&["--all", "op-a"]).0, 1);
        assert_eq!(exit_code(&["--build-dir"]).0, 1);
        let (code, text) = exit_code(&["--version"]);
        assert_eq!(code, 0);
        assert!(text.contains(env!("CARGO_PKG_VERSION")));
    }

    /// Every subcommand, including ones added later, shows examples in its
    /// `--help` (clap's own `help` subcommand aside).
    #[test]
    fn every_subcommand_help_has_examples() {
        fn check(command: &mut clap::Command, checked: &mut Vec<String>) {
            for subcommand in command.get_subcommands_mut() {
                if subcommand.get_name() == "help" {
                    continue;
                }
                let help = subcommand.render_long_help().to_string();
                let name = subcommand.get_bin_name().unwrap_or_default().to_owned();
                assert!(
                    help.contains("Examples:"),
                    "`{name} --help` has no Examples:\n{help}"
                );
                checked.push(name);
                check(subcommand, checked);
            }
        }
        let mut command = Cli::command();
        command.build();
        let mut checked = Vec::new();
        check(&mut command, &mut checked);
        assert!(checked.len() >= 7, "only {checked:?}");
    }

    #[test]
    fn subcommand_help_exits_1_like_the_prune() {
        for name in ["status", "completions", "man"] {
            let (code, text) = exit_code(&[name, "--help"]);
            assert_eq!(code, 1, "{name}");
            assert!(text.contains("Examples:"), "{name}: {text}");
        }
    }
}
