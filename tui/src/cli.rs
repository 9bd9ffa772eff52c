//! The command line of `v0-prune`: v0's `prune` flags plus ours, and v0's
//! exit codes for help and usage errors.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::{Args, Parser, Subcommand};

/// First line of `--help`; v0 users and scripts recognise the command by it.
pub const HELP_HEADLINE: &str = "v0 prune - Remove operation state";

/// Clap's part of the help, printed after [`V0_USAGE`] for the plain
/// prune and alone for a subcommand.
const HELP_TEMPLATE: &str = "\
{before-help}Usage: {usage}

{all-args}{after-help}";

/// Heads v0-prune's part of the help, below v0's usage.
const BEFORE_HELP: &str = "v0-prune: v0's prune above; its options and commands in full:";

const AFTER_HELP: &str = "\
Options may come before or after a command (v0-prune --build-dir D status);
an operation named like a command is pruned after --: v0-prune -- top.

Without names, removes every finished operation: one whose phase is merged or
cancelled, or completed/pending_merge with merge_status merged. Then the logs
(*.log lines older than the retention, V0_PRUNE_RETENTION, default 6h; and
over V0_PRUNE_MAX_SIZE, the oldest across all logs, never those younger than
V0_PRUNE_MIN_KEEP, default 10m) and the merge queue (old completed, failed
and conflict entries) are pruned by the prune daemon in the background: it is
started if needed, asked to run now, and v0-prune returns at once. --wait
waits for that run and prints its summary; --sync, --dry-run and --json prune
them in this process instead.

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
  v0-prune ls                what is using the space: logs largest first, merge queue
  v0-prune shutdown          drain the daemon (v0 shutdown), then prune once more
  v0-prune top               live dashboard (try: v0-prune top --demo)
  v0-prune completions zsh   print the zsh completion script (also bash, fish, ...)
  v0-prune man               print the man page

Exit status:
  0  everything asked for was done
  1  an error (reported on stderr), a usage error, --help, or a declined --all
  7  some logs or the merge queue could not be pruned (a full disk, an I/O error): see \"Could not prune\"";

/// `v0-prune`'s arguments.
///
/// Subcommands (`top`, `status`, `ls`, `shutdown`, `events`, `daemon`) talk to or
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
    before_help = BEFORE_HELP,
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
    /// Whether the prune daemon runs, what it does, its last and next run (exit 0 running, 3 not, 5 stuck, 6 busy)
    #[command(after_help = STATUS_AFTER_HELP)]
    Status(crate::status_cmd::StatusArgs),
    /// What is using the space: the logs (largest first, with age, growth, next reclaim, holder, method) and the merge queue
    #[command(after_help = crate::ls_cmd::AFTER_HELP)]
    Ls(crate::ls_cmd::LsArgs),
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
  3  the daemon is not running
  5  a daemon holds the build directory but does not answer within 2 s (stuck?)
  6  the daemon runs but refused this request: it is at a limit (busy, not broken)";

const SHUTDOWN_AFTER_HELP: &str = "\
Examples:
  v0-prune shutdown                 drain the daemon, then prune once more
  v0-prune shutdown --timeout 60    give its current run a minute before killing it
  v0-prune shutdown -n              say what would be stopped and pruned
  v0-prune shutdown --drain-only    only stop the daemon (v0's prune_daemon_wait, after the install)
  v0-prune shutdown --only logs -n  only v0's log section, as v0_prune_logs --dry-run prints it

Exit status:
  0  the daemon stopped (or was not running) and the final prune went well
  1  an error, or the final prune reported errors
  4  the daemon did not stop in time and was killed (the final prune still ran)
  7  the final prune could not prune some logs or the merge queue (a full disk, ...)";

const EVENTS_AFTER_HELP: &str = "\
Examples:
  v0-prune events                             follow runs as they happen (Ctrl-C stops)
  v0-prune events --json | jq -c .event       the NDJSON stream, for scripts
  v0-prune events --build-dir ~/p/.v0/build   another project's daemon

Exit status:
  0  the daemon exited, or Ctrl-C
  1  an error, or the stream fell behind and was dropped
  3  the daemon is not running
  6  refused: the daemon already serves its limit of 256 watchers";

const DAEMON_AFTER_HELP: &str = "\
SIGUSR1 runs a prune now; SIGTERM or SIGINT finish the current run and exit.
V0_PRUNE_INTERVAL and V0_PRUNE_RETENTION set the schedule and what is kept;
V0_PRUNE_MAX_SIZE caps all logs together (V0_PRUNE_MIN_KEEP is always kept).

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
    /// Prune every operation and remove operations/ (asks first unless --force or --dry-run; names are then ignored, as in v0)
    #[arg(short = 'a', long)]
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

/// v0's own usage text (`bin/v0-prune`'s `usage`), line for line: `--help`
/// and a usage error print it on stdout, as v0 does.
pub const V0_USAGE: &str = "\
v0 prune - Remove operation state

Usage: v0 prune [options] [name...]

Options:
  -a, --all      Remove ALL operation state (requires confirmation)
  -f, --force    Skip confirmation prompts
  -n, --dry-run  Show what would be pruned without removing
  -h, --help     Show this help message

Without arguments:
  Prunes completed and cancelled operations (merged, cancelled phases)

With name(s):
  Prunes the specific named operation(s) (prompts if session is running)

Examples:
  v0 prune                  # Remove completed/cancelled operations
  v0 prune auth             # Remove specific operation 'auth'
  v0 prune auth login       # Remove multiple operations
  v0 prune --all            # Remove all operation state
  v0 prune --dry-run        # Preview what would be pruned
";

/// What to print when parsing stops the command, and where.
#[derive(Debug)]
pub struct ExitOutput {
    /// For stdout (help, version, v0's usage after an unknown option).
    pub stdout: String,
    /// For stderr (usage errors).
    pub stderr: String,
}

impl ExitOutput {
    /// Whether this is an error report (something goes to stderr).
    #[cfg(test)]
    pub fn use_stderr(&self) -> bool {
        !self.stderr.is_empty()
    }

    /// Writes both parts; a closed stdout or stderr is not worth a panic.
    pub fn print(&self) {
        use std::io::Write as _;
        let _ = std::io::stdout().write_all(self.stdout.as_bytes());
        let _ = std::io::stdout().flush();
        let _ = std::io::stderr().write_all(self.stderr.as_bytes());
    }
}

/// What parsing decided: run, or stop with output already chosen.
#[derive(Debug)]
pub enum Parsed {
    /// Arguments are valid.
    Run(Cli),
    /// Help, version or a usage error: print `output` and exit with `exit_code`.
    Exit {
        /// What to print.
        output: ExitOutput,
        /// v0's code: 0 for --version, 1 for help and usage errors.
        exit_code: u8,
    },
}

/// Parses arguments with v0's conventions: `-h`/`--help` print v0's usage
/// (then ours) and exit 1; an unknown option prints `Unknown option: X` on
/// stderr and v0's usage on stdout and exits 1; other usage errors exit 1
/// (clap would use 2); `--version` exits 0.
///
/// Options may come before or after a subcommand with the same meaning
/// (`v0-prune --build-dir D status` is `v0-prune status --build-dir D`); a
/// name that is also a subcommand is an operation only after `--`.
pub fn parse<I, T>(args: I) -> Parsed
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    use clap::CommandFactory as _;
    let mut command = Cli::command();
    command.build();
    let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
    let (args, subcommand) = options_after_subcommand(&command, args);
    match Cli::try_parse_from(args) {
        Ok(cli) => Parsed::Run(cli),
        Err(error) => {
            let plain_prune = subcommand.is_none();
            let rendered = error.render().to_string();
            let (output, exit_code) = match error.kind() {
                ErrorKind::DisplayVersion => (stdout_only(rendered), 0),
                ErrorKind::DisplayHelp if plain_prune => {
                    (stdout_only(format!("{V0_USAGE}\n{rendered}")), 1)
                }
                ErrorKind::DisplayHelp | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
                    (stdout_only(rendered), 1)
                }
                ErrorKind::UnknownArgument if plain_prune => {
                    let option = match error.get(ContextKind::InvalidArg) {
                        Some(ContextValue::String(option)) => option.clone(),
                        _ => String::from("?"),
                    };
                    let output = ExitOutput {
                        stdout: V0_USAGE.to_owned(),
                        stderr: format!("Unknown option: {option}\n"),
                    };
                    (output, 1)
                }
                _ => (
                    ExitOutput {
                        stdout: String::new(),
                        stderr: rendered,
                    },
                    1,
                ),
            };
            Parsed::Exit { output, exit_code }
        }
    }
}

fn stdout_only(stdout: String) -> ExitOutput {
    ExitOutput {
        stdout,
        stderr: String::new(),
    }
}

/// Moves options typed before a subcommand to just after it, so clap reads
/// `v0-prune --build-dir D status` as `v0-prune status --build-dir D`, and
/// says which subcommand the line names (none: the plain prune).
///
/// The first word that is not an option (or an option's value) decides: a
/// subcommand's name makes it a subcommand, anything else is an operation
/// name; after `--` every word is an operation name.
fn options_after_subcommand(
    command: &clap::Command,
    args: Vec<OsString>,
) -> (Vec<OsString>, Option<String>) {
    let (long_values, short_values) = options_taking_values(command);
    let mut index = 1;
    while let Some(word) = args.get(index) {
        let Some(word) = word.to_str() else {
            return (args, None);
        };
        if word == "--" {
            return (args, None);
        }
        if let Some(long) = word.strip_prefix("--") {
            let takes_value = !long.contains('=') && long_values.iter().any(|name| name == long);
            index += if takes_value { 2 } else { 1 };
            continue;
        }
        if let Some(shorts) = word.strip_prefix('-').filter(|s| !s.is_empty()) {
            // `-t 5` takes the next word; `-t5` and `-nf` do not.
            let takes_value =
                shorts.chars().count() == 1 && shorts.chars().all(|c| short_values.contains(&c));
            index += if takes_value { 2 } else { 1 };
            continue;
        }
        let is_subcommand = command
            .get_subcommands()
            .any(|sub| sub.get_name() == word || sub.get_all_aliases().any(|a| a == word));
        if !is_subcommand {
            return (args, None);
        }
        let name = word.to_owned();
        if index == 1 {
            return (args, Some(name));
        }
        let mut reordered = Vec::with_capacity(args.len());
        let mut rest = args.into_iter();
        reordered.extend(rest.next());
        let before: Vec<OsString> = rest.by_ref().take(index - 1).collect();
        reordered.extend(rest.next());
        reordered.extend(before);
        reordered.extend(rest);
        return (reordered, Some(name));
    }
    (args, None)
}

/// The long and short names of every option, of the command or any
/// subcommand, that takes a value (`--build-dir DIR`, `--timeout SECS`).
fn options_taking_values(command: &clap::Command) -> (Vec<String>, Vec<char>) {
    let mut long = Vec::new();
    let mut short = Vec::new();
    let commands = std::iter::once(command).chain(command.get_subcommands());
    for arg in commands.flat_map(clap::Command::get_arguments) {
        if arg.is_positional() || !arg.get_action().takes_values() {
            continue;
        }
        long.extend(
            arg.get_long_and_visible_aliases()
                .into_iter()
                .flatten()
                .map(str::to_owned),
        );
        short.extend(arg.get_short_and_visible_aliases().into_iter().flatten());
    }
    (long, short)
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
            Parsed::Exit { output, .. } => panic!("expected a run, got: {output:?}"),
        }
    }

    fn exit_code(args: &[&str]) -> (u8, String) {
        match parse(std::iter::once("v0-prune").chain(args.iter().copied())) {
            Parsed::Run(cli) => panic!("expected an exit, got {cli:?}"),
            Parsed::Exit { output, exit_code } => {
                (exit_code, format!("{}{}", output.stdout, output.stderr))
            }
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

    fn parsed(args: &[&str]) -> Cli {
        match parse(std::iter::once("v0-prune").chain(args.iter().copied())) {
            Parsed::Run(cli) => cli,
            Parsed::Exit { output, .. } => panic!("{args:?}: expected a run, got: {output:?}"),
        }
    }

    fn exit(args: &[&str]) -> (u8, ExitOutput) {
        match parse(std::iter::once("v0-prune").chain(args.iter().copied())) {
            Parsed::Run(cli) => panic!("{args:?}: expected an exit, got {cli:?}"),
            Parsed::Exit { output, exit_code } => (exit_code, output),
        }
    }

    #[test]
    fn help_is_v0_s_usage_then_ours_and_exits_1() {
        for flag in ["-h", "--help"] {
            let (code, output) = exit(&[flag]);
            assert_eq!(code, 1);
            assert!(output.stderr.is_empty());
            let ours = output.stdout.strip_prefix(V0_USAGE).unwrap_or_else(|| {
                panic!("help does not start with v0's usage:\n{}", output.stdout)
            });
            assert!(
                ours.starts_with('\n'),
                "a blank line parts v0's text from ours"
            );
            assert!(ours.contains("--build-dir") && ours.contains("Examples:"));
            assert!(ours.contains("Exit status:"));
        }
        assert!(V0_USAGE.starts_with(HELP_HEADLINE));
    }

    #[test]
    fn an_unknown_option_is_v0_s_message_then_v0_s_usage() {
        for args in [
            &["--bogus"][..],
            &["-x"],
            &["-n", "--bogus", "op"],
            &["--bogus=1"],
        ] {
            let (code, output) = exit(args);
            assert_eq!(code, 1, "{args:?}");
            assert_eq!(output.stdout, V0_USAGE, "{args:?}");
            let option = args.iter().find(|a| a.contains("bogus") || **a == "-x");
            let option = option
                .map(|o| o.split('=').next().unwrap_or(o))
                .unwrap_or_default();
            assert_eq!(
                output.stderr,
                format!("Unknown option: {option}\n"),
                "{args:?}"
            );
        }
        // A subcommand's own unknown option is clap's error for that subcommand.
        let (code, output) = exit(&["status", "--bogus"]);
        assert_eq!(code, 1);
        assert!(output.stdout.is_empty());
        assert!(
            output.stderr.contains("v0-prune status"),
            "{}",
            output.stderr
        );
    }

    #[test]
    fn options_before_a_subcommand_mean_what_they_mean_after_it() {
        for args in [
            &["--build-dir", "/b", "status"][..],
            &["status", "--build-dir", "/b"][..],
            &["--build-dir=/b", "status"][..],
        ] {
            match parsed(args).command {
                Some(Command::Status(status)) => {
                    assert_eq!(status.build_dir, Some(PathBuf::from("/b")), "{args:?}");
                }
                other => panic!("{args:?}: {other:?}"),
            }
        }
        match parsed(&["--build-dir", "/b", "top"]).command {
            Some(Command::Top(top)) => assert_eq!(top.build_dir, Some(PathBuf::from("/b"))),
            other => panic!("{other:?}"),
        }
        // An option that does not apply to the subcommand is an error either way.
        assert_eq!(exit(&["--all", "status"]).0, 1);
        assert_eq!(exit(&["status", "--all"]).0, 1);
    }

    #[test]
    fn a_subcommand_s_name_is_an_operation_only_after_double_dash() {
        assert!(matches!(parsed(&["top"]).command, Some(Command::Top(_))));
        for args in [&["--", "top"][..], &["-n", "--", "top"][..]] {
            let cli = parsed(args);
            assert!(cli.command.is_none(), "{args:?}");
            assert_eq!(cli.prune.names, ["top"], "{args:?}");
        }
        // A first word that is not a subcommand makes the rest names.
        let cli = parsed(&["fix-login", "status"]);
        assert!(cli.command.is_none());
        assert_eq!(cli.prune.names, ["fix-login", "status"]);
    }

    #[test]
    fn all_with_names_is_v0_s_all() {
        let args = run(&["--all", "op-a"]);
        assert!(args.all);
    }

    #[test]
    fn usage_errors_exit_1_and_version_exits_0() {
        assert_eq!(exit_code(&["--bogus"]).0, 1);
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
