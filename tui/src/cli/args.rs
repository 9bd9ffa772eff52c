//! Every argument of `v0-prune` and every word of its help, in one place
//! (as ripgrep's `crates/core/flags/`): the clap definition ([`Cli`], its
//! [`Command`]s and their options), the help texts, and v0's own usage.
//! Parsing (`super::parse`), completions and the man page all read this one
//! definition, and the commands read the structs; this file reads none of
//! them. Exit codes in the help come from [`Exit`].

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use clap_complete::Shell;
use v0_prune::top::input::KEYS;

use super::exit_code::{Exit, exit_status};

/// First line of `--help`; v0 users and scripts recognise the command by it.
pub const HELP_HEADLINE: &str = "v0 prune - Remove operation state";

/// Clap's part of the help, printed after [`V0_USAGE`] for the plain
/// prune and alone for a subcommand.
const HELP_TEMPLATE: &str = "\
{before-help}Usage: {usage}

{all-args}{after-help}";

/// Heads v0-prune's part of the help, below v0's usage.
const BEFORE_HELP: &str = "v0-prune: v0's prune above; its options and commands in full:";

/// The plain prune's help after the options, up to its exit status.
const PRUNE_HELP: &str = "\
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
  v0-prune -P                every project's running daemon runs now (--all-projects; removes no operation)
  v0-prune status            is the daemon running, when did it last/next run
  v0-prune ls                what is using the space: logs largest first, merge queue
  v0-prune shutdown          drain the daemon (v0 shutdown), then prune once more
  v0-prune top               live dashboard (try: v0-prune top --demo)
  v0-prune completions zsh   print the zsh completion script (also bash, fish, ...)
  v0-prune man               print the man page";

/// The plain prune's help after the options.
fn prune_after_help() -> String {
    let codes = exit_status(&[
        (Exit::Success, "everything asked for was done"),
        (
            Exit::Error,
            "an error (reported on stderr), a usage error, --help, or a declined --all",
        ),
        (
            Exit::NotPruned,
            "some logs or the merge queue could not be pruned (a full disk, an I/O error): see \"Could not prune\"",
        ),
    ]);
    format!("{PRUNE_HELP}\n\n{codes}")
}

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
    after_help = prune_after_help(),
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
    #[command(after_help = top_after_help())]
    Top(TopArgs),
    // Its one line names exit codes: built from them (`status_about`).
    #[command(about = status_about(), after_help = status_after_help())]
    Status(StatusArgs),
    /// What is using the space: the logs (largest first, with age, growth, next reclaim, holder, method) and the merge queue
    #[command(after_help = ls_after_help())]
    Ls(LsArgs),
    /// Stop the prune daemon after its current run, then prune once more (v0 shutdown's part)
    #[command(after_help = shutdown_after_help())]
    Shutdown(ShutdownArgs),
    /// Print the prune daemon's live events, one line each (NDJSON with --json)
    #[command(after_help = events_after_help())]
    Events(EventsArgs),
    /// Run the prune daemon in the foreground (the same as v0-prune-daemon)
    #[command(after_help = DAEMON_AFTER_HELP)]
    Daemon(DaemonArgs),
    /// Print a shell completion script for v0-prune (needs no v0 project)
    #[command(after_help = COMPLETIONS_AFTER_HELP)]
    Completions(CompletionsArgs),
    /// Print v0-prune's man page in roff, or write a page per command (needs no v0 project)
    #[command(after_help = MAN_AFTER_HELP)]
    Man(ManArgs),
    /// Print a log's last lines; with -f, follow it through prunes, each new line once
    #[command(after_help = tail_after_help())]
    Tail(TailArgs),
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

    /// Ask the daemon of every v0 project on this machine to run now (starting none, removing no operation)
    #[arg(
        short = 'P',
        long,
        conflicts_with_all = ["all", "force", "dry_run", "build_dir", "json", "sync", "wait", "names"]
    )]
    pub all_projects: bool,

    /// Operations to prune by name (default: every finished operation)
    #[arg(value_name = "name")]
    pub names: Vec<String>,
}

// `v0-prune top`

const TOP_EXAMPLES: &str = "\
Examples:
  v0-prune top            watch this project's daemon
  v0-prune top --demo     try it on a generated project (removed on quit)
  v0-prune top -P         every v0 project on this machine; Enter opens one, p goes back";

/// `top --help`, after the options: every key, from the list the `?`
/// overlay shows, then the examples.
fn top_after_help() -> String {
    let width = KEYS
        .iter()
        .map(|(key, _)| key.chars().count())
        .max()
        .unwrap_or(0);
    let mut text = String::from("Keys:\n");
    for (key, what) in KEYS {
        text.push_str(&format!("  {key:<width$}  {what}\n"));
    }
    format!("{text}\n{TOP_EXAMPLES}")
}

/// Options of `v0-prune top`.
#[derive(Debug, Args)]
pub struct TopArgs {
    /// Generate a demo project in a temp dir, run a daemon on it, and watch it
    #[arg(long)]
    pub demo: bool,
    /// The build directory to watch (overrides BUILD_DIR and .v0.rc)
    #[arg(long, value_name = "DIR", conflicts_with = "demo")]
    pub build_dir: Option<PathBuf>,
    /// Open on the Projects view: every v0 project on this machine, one row each (p toggles it)
    #[arg(short = 'P', long, conflicts_with = "demo")]
    pub all_projects: bool,
}

// `v0-prune status`

/// `status`'s line in the list of commands, its codes from [`Exit`].
fn status_about() -> String {
    format!(
        "Whether the prune daemon runs, what it does, its last and next run (exit {} running, {} not, {} stuck, {} busy)",
        Exit::Success.code(),
        Exit::NotRunning.code(),
        Exit::NotAnswering.code(),
        Exit::Busy.code(),
    )
}

const STATUS_EXAMPLES: &str = "\
Examples:
  v0-prune status                             is this project's daemon running; its last and next run
  v0-prune status --json | jq .next_run_at    the same, for scripts
  v0-prune status --build-dir ~/p/.v0/build   another project's daemon
  v0-prune status -P                          every project on this machine: daemon, last and next run, logs

With --all-projects (-P), the projects are those v0 registered in
${XDG_STATE_HOME:-~/.local/state}/v0 (as v0 watch --all finds them), plus
this directory's; a project whose root is gone, or that is refused, is listed
with why.";

fn status_after_help() -> String {
    let codes = exit_status(&[
        (
            Exit::Success,
            "the daemon is running (--all-projects: every project with a build directory has one running)",
        ),
        (
            Exit::Error,
            "an error: no v0 project, or the daemon's state could not be read",
        ),
        (
            Exit::NotRunning,
            "the daemon is not running (--all-projects: some project's is not running or does not answer)",
        ),
        (
            Exit::NotAnswering,
            "a daemon holds the build directory but does not answer within 2 s (stuck?)",
        ),
        (
            Exit::Busy,
            "the daemon runs but refused this request: it is at a limit (busy, not broken)",
        ),
    ]);
    format!("{STATUS_EXAMPLES}\n\n{codes}")
}

/// Arguments of `v0-prune status`.
#[derive(Debug, Clone, Default, Args)]
pub struct StatusArgs {
    /// Print one JSON object on stdout instead of text
    #[arg(long)]
    pub json: bool,
    /// Every v0 project on this machine (v0's registry, as `v0 watch --all`): one row each, daemons asked in parallel
    #[arg(short = 'P', long, conflicts_with = "build_dir")]
    pub all_projects: bool,
    /// The build directory (overrides BUILD_DIR and .v0.rc)
    #[arg(long, value_name = "DIR")]
    pub build_dir: Option<PathBuf>,
}

// `v0-prune ls`

const LS_HELP: &str = "\
Columns:
  SIZE      the log's size now
  OLDEST    age of the oldest entry still in it (entries older than the
            retention, V0_PRUNE_RETENTION, go at the next run)
  GROWTH    bytes written per hour over the daemon's last runs (- until its
            second run has seen the log; never known without a daemon)
  NEXT RUN  what the next run would give back from it: with a daemon, its
            next scheduled run; without one, a run now (? only for a log
            that cannot be read)
  HOLDER    a process holding it open now (pid, command or the daemon),
            and how: append (O_APPEND, pruned in place), positional
            (written at its own offset: never pruned), read, unknown
            (counts as a writer); 3 fds when it has it open more than
            once; +N when N more processes hold it
  METHOD    rewrite (kept lines copied to a new file renamed over it),
            in place (expired head removed under its appender), skipped
            (the reason is printed below it), - (nothing had expired)

With a daemon running, the figures are its view after its last run (the
holders as they are now); without one, or with --computed, ls computes them
itself, read-only (like --dry-run: nothing is written).
The largest 100 logs are listed, then skipped smaller ones; totals cover all.

Examples:
  v0-prune ls                                what is using the space, largest first
  v0-prune ls --json | jq '.files.largest[0]'  the largest log, for scripts
  v0-prune ls --build-dir ~/p/.v0/build      another project's
  v0-prune ls -P                             every project on this machine, and the free space";

/// `ls --help`, after the options.
fn ls_after_help() -> String {
    let codes = exit_status(&[
        (Exit::Success, "listed"),
        (
            Exit::Error,
            "an error: no v0 project, or the build directory could not be read",
        ),
    ]);
    format!("{LS_HELP}\n\n{codes}")
}

/// Arguments of `v0-prune ls`.
#[derive(Debug, Clone, Default, Args)]
pub struct LsArgs {
    /// Print one JSON object on stdout instead of the table
    #[arg(long)]
    pub json: bool,
    /// Compute the figures here, read-only, even when a daemon runs (to
    /// compare with its view; NEXT RUN is then a run now)
    #[arg(long)]
    pub computed: bool,
    /// Every v0 project on this machine: per project its logs, growth, what the next run frees and its largest logs; then the machine's total and the filesystems with their free space
    #[arg(short = 'P', long, conflicts_with = "build_dir")]
    pub all_projects: bool,
    /// The build directory (overrides BUILD_DIR and .v0.rc)
    #[arg(long, value_name = "DIR")]
    pub build_dir: Option<PathBuf>,
}

// `v0-prune shutdown`

const SHUTDOWN_EXAMPLES: &str = "\
Examples:
  v0-prune shutdown                 drain the daemon, then prune once more
  v0-prune shutdown --timeout 60    give its current run a minute before killing it
  v0-prune shutdown -n              say what would be stopped and pruned
  v0-prune shutdown --drain-only    only stop the daemon (v0's prune_daemon_wait, after the install)
  v0-prune shutdown --only logs -n  only v0's log section, as v0_prune_logs --dry-run prints it
  v0-prune shutdown -P              drain every project's daemon on this machine (before upgrading v0)";

fn shutdown_after_help() -> String {
    let codes = exit_status(&[
        (
            Exit::Success,
            "the daemon stopped (or was not running) and the final prune went well",
        ),
        (Exit::Error, "an error, or the final prune reported errors"),
        (
            Exit::Killed,
            "the daemon did not stop in time and was killed (the final prune still ran)",
        ),
        (
            Exit::NotPruned,
            "the final prune could not prune some logs or the merge queue (a full disk, ...)",
        ),
    ]);
    format!("{SHUTDOWN_EXAMPLES}\n\n{codes}")
}

/// How long the daemon may take to stop unless `--timeout` says otherwise.
pub const DEFAULT_STOP_TIMEOUT_SECS: u64 = 30;

/// Arguments of `v0-prune shutdown`.
#[derive(Debug, Clone, Args)]
pub struct ShutdownArgs {
    /// Seconds to wait for the daemon's current run to finish before killing it
    #[arg(long, value_name = "SECS", default_value_t = DEFAULT_STOP_TIMEOUT_SECS)]
    pub timeout: u64,
    /// Say what would be stopped and pruned; change nothing
    #[arg(short = 'n', long)]
    pub dry_run: bool,
    /// Only stop the daemon (its current run finishes first); prune nothing,
    /// print nothing but warnings
    ///
    /// v0's prune_daemon_wait: once installed into v0, v0's own `v0 shutdown`
    /// runs this between its lines "Waiting for background pruning to
    /// complete..." and "Background pruning stopped".
    ///
    /// Example: v0-prune shutdown --drain-only
    #[arg(long, conflicts_with_all = ["dry_run", "only"])]
    pub drain_only: bool,
    /// Leave the daemon alone; prune only the merge queue or only the logs,
    /// in v0's words
    ///
    /// v0's v0_prune_mergeq and v0_prune_logs [--dry-run]: once installed
    /// into v0, `v0 shutdown` runs these after "Pruning old mergeq
    /// entries..." and "Pruning old log entries...", and they print v0's
    /// lines ("Pruned 3 mergeq entries older than 6 hours", "Pruned 40 lines
    /// from: logs/worker.log"), plus a line per item left alone and why.
    ///
    /// Examples: v0-prune shutdown --only mergeq;
    /// v0-prune shutdown --only logs --dry-run
    #[arg(long, value_enum, value_name = "PART")]
    pub only: Option<Part>,
    /// The build directory (overrides BUILD_DIR and .v0.rc)
    #[arg(long, value_name = "DIR")]
    pub build_dir: Option<PathBuf>,
    /// Drain the daemon of every v0 project on this machine, all at once (no final prune); a line per project
    #[arg(short = 'P', long, conflicts_with_all = ["build_dir", "dry_run", "only", "drain_only"])]
    pub all_projects: bool,
}

/// One half of the final prune, for `shutdown --only`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Part {
    /// `mergeq/queue.json`: old completed, failed and conflict entries (v0_prune_mergeq).
    Mergeq,
    /// Every `*.log`: lines older than the retention (v0_prune_logs).
    Logs,
}

// `v0-prune events`

const EVENTS_EXAMPLES: &str = "\
Examples:
  v0-prune events                             follow runs as they happen (Ctrl-C stops)
  v0-prune events --json | jq -c .event       the NDJSON stream, for scripts
  v0-prune events --build-dir ~/p/.v0/build   another project's daemon";

fn events_after_help() -> String {
    let codes = exit_status(&[
        (Exit::Success, "the daemon exited, or Ctrl-C"),
        (
            Exit::Error,
            "an error, or the stream fell behind and was dropped",
        ),
        (Exit::NotRunning, "the daemon is not running"),
        (
            Exit::Busy,
            "refused: the daemon already serves its limit of 256 watchers",
        ),
    ]);
    format!("{EVENTS_EXAMPLES}\n\n{codes}")
}

/// Arguments of `v0-prune events`.
#[derive(Debug, Clone, Default, Args)]
pub struct EventsArgs {
    /// One JSON object per line (NDJSON) instead of text
    #[arg(long)]
    pub json: bool,
    /// The build directory (overrides BUILD_DIR and .v0.rc)
    #[arg(long, value_name = "DIR")]
    pub build_dir: Option<PathBuf>,
}

// `v0-prune daemon`

const DAEMON_AFTER_HELP: &str = "\
SIGUSR1 runs a prune now; SIGTERM or SIGINT finish the current run and exit.
V0_PRUNE_INTERVAL and V0_PRUNE_RETENTION set the schedule and what is kept;
V0_PRUNE_MAX_SIZE caps all logs together (V0_PRUNE_MIN_KEEP is always kept).

Examples:
  v0-prune daemon                             this project's daemon, in the foreground
  v0-prune daemon --build-dir ~/p/.v0/build   another project's
  V0_PRUNE_INTERVAL=10m v0-prune daemon       prune every 10 minutes";

/// Arguments of `v0-prune daemon`.
#[derive(Debug, Clone, Default, Args)]
pub struct DaemonArgs {
    /// The build directory to prune (overrides BUILD_DIR and .v0.rc)
    #[arg(long, value_name = "DIR")]
    pub build_dir: Option<PathBuf>,
}

// `v0-prune completions`

const COMPLETIONS_AFTER_HELP: &str = "\
Completes subcommands and options (operation names are not completed). The
lines below install the script where each shell looks for it; for zsh, put
fpath+=(~/.zfunc) before compinit in ~/.zshrc.

Examples:
  source <(v0-prune completions bash)    try it in this bash
  v0-prune completions bash > ~/.local/share/bash-completion/completions/v0-prune
  v0-prune completions zsh > ~/.zfunc/_v0-prune
  v0-prune completions fish > ~/.config/fish/completions/v0-prune.fish";

/// Arguments of `v0-prune completions`.
#[derive(Debug, Clone, Args)]
pub struct CompletionsArgs {
    /// The shell to print the script for
    #[arg(value_enum)]
    pub shell: Shell,
}

// `v0-prune man`

const MAN_AFTER_HELP: &str = "\
Without --out-dir, prints the page of v0-prune itself (v0-prune.1), which
lists the subcommands; with it, writes that page and one per subcommand
(v0-prune-status.1, ...) into DIR, creating it, and prints their paths.

Examples:
  v0-prune man | man -l -                               read it now
  v0-prune man > ~/.local/share/man/man1/v0-prune.1     install it: man v0-prune
  v0-prune man --out-dir ~/.local/share/man/man1        and a page per subcommand";

/// Arguments of `v0-prune man`.
#[derive(Debug, Clone, Args)]
pub struct ManArgs {
    /// Write v0-prune.1 and a page per subcommand into DIR instead of printing v0-prune.1
    #[arg(long, value_name = "DIR")]
    pub out_dir: Option<PathBuf>,
}

// `v0-prune tail`

const TAIL_HELP: &str = "\
LOG is a path, or a name under the build directory's logs/ (with or without
.log). With -f, the lines appended after it started are printed as they come,
each once and in order, through the prunes of the log: in place (the expired
head cut from the same file) and by rename (a new file put in its place).
`tail -f` repeats the kept file after an in-place prune and stops at a
rename; `tail -F` repeats the whole new file after either. A prune's padding
line (`... v0-prune: N expired lines removed in place`) is never printed. A
prune is noticed from the daemon's events when one runs, and from the file
itself (its size, its inode, the last line printed) always.

Examples:
  v0-prune tail -f prune-daemon               the daemon's log, as v0's \"View logs\" says, through its prunes
  v0-prune tail -n 50 worker/fix.log          the last 50 lines of logs/worker/fix.log
  v0-prune tail -f -n 0 .v0/build/logs/a.log  only what is appended from now on";

fn tail_after_help() -> String {
    let codes = exit_status(&[
        (
            Exit::Success,
            "printed (with -f: Ctrl-C, or the reader went away)",
        ),
        (
            Exit::Error,
            "an error: no such log, or it could not be read",
        ),
    ]);
    format!("{TAIL_HELP}\n\n{codes}")
}

/// Arguments of `v0-prune tail`.
#[derive(Debug, Clone, Args)]
pub struct TailArgs {
    /// Keep printing the lines appended to it, through its prunes (Ctrl-C stops)
    #[arg(short = 'f', long)]
    pub follow: bool,
    /// How many of its last lines to print first
    #[arg(short = 'n', long = "lines", value_name = "N", default_value_t = 10)]
    pub lines: usize,
    /// The build directory whose logs/ a name is looked for in (overrides BUILD_DIR and .v0.rc)
    #[arg(long, value_name = "DIR")]
    pub build_dir: Option<PathBuf>,
    /// The log: a path, or a name under the build directory's logs/
    #[arg(value_name = "LOG")]
    pub log: PathBuf,
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
