//! The command line of `v0-prune`, parsed with v0's conventions: help and
//! usage errors exit 1 as v0's do, an unknown option prints v0's usage, and
//! options may come before a subcommand. What the arguments are, and every
//! help text, is [`args`]; every exit code is [`exit_code`].

pub mod args;
pub mod exit_code;

use std::ffi::OsString;

use clap::Parser as _;
use clap::error::{ContextKind, ContextValue, ErrorKind};

use args::{Cli, V0_USAGE};
use exit_code::Exit;

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
        exit_code: Exit,
    },
}

/// Parses arguments with v0's conventions: `-h`/`--help` print v0's usage
/// (then ours) and exit 1; an unknown option prints `Unknown option: X` on
/// stderr and v0's usage on stdout and exits 1 (in a subcommand: the same
/// line, then the subcommand's usage, on stderr); other usage errors exit 1
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
                ErrorKind::DisplayVersion => (stdout_only(rendered), Exit::Success),
                ErrorKind::DisplayHelp if plain_prune => {
                    (stdout_only(format!("{V0_USAGE}\n{rendered}")), Exit::Error)
                }
                ErrorKind::DisplayHelp | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
                    (stdout_only(rendered), Exit::Error)
                }
                ErrorKind::UnknownArgument => {
                    let option = match error.get(ContextKind::InvalidArg) {
                        Some(ContextValue::String(option)) => option.clone(),
                        _ => String::from("?"),
                    };
                    let output = match &subcommand {
                        None => ExitOutput {
                            stdout: V0_USAGE.to_owned(),
                            stderr: format!("Unknown option: {option}\n"),
                        },
                        Some(name) => ExitOutput {
                            stdout: String::new(),
                            stderr: unknown_in_subcommand(&mut command, name, &option),
                        },
                    };
                    (output, Exit::Error)
                }
                _ => (
                    ExitOutput {
                        stdout: String::new(),
                        stderr: rendered,
                    },
                    Exit::Error,
                ),
            };
            Parsed::Exit { output, exit_code }
        }
    }
}

/// A subcommand's unknown option in the plain prune's words (`Unknown
/// option: --bogus`, v0's), then that subcommand's usage and where its
/// options are listed, all on stderr; a word that is no option is an
/// `Unknown argument`.
fn unknown_in_subcommand(command: &mut clap::Command, name: &str, option: &str) -> String {
    let what = if option.starts_with('-') {
        "option"
    } else {
        "argument"
    };
    let typed = v0_prune_shared::words::command();
    let usage = command
        .find_subcommand_mut(name)
        .map(|sub| sub.render_usage().to_string())
        .unwrap_or_default()
        .replacen("v0-prune", typed, 1);
    format!(
        "Unknown {what}: {option}\n{usage}\nFor its options: {typed} {name} --help\n",
        usage = usage.trim_end()
    )
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
/// subcommand, that takes a value (`--build-dir DIR`, `--timeout SECS`);
/// not a name that is a flag elsewhere (`-n` is the prune's `--dry-run`
/// and `tail`'s `--lines N`): before the subcommand is known, it is a flag.
fn options_taking_values(command: &clap::Command) -> (Vec<String>, Vec<char>) {
    let mut long = Vec::new();
    let mut short = Vec::new();
    let mut flag_long = Vec::new();
    let mut flag_short = Vec::new();
    let commands = std::iter::once(command).chain(command.get_subcommands());
    for arg in commands.flat_map(clap::Command::get_arguments) {
        if arg.is_positional() {
            continue;
        }
        let longs = arg
            .get_long_and_visible_aliases()
            .into_iter()
            .flatten()
            .map(str::to_owned);
        let shorts = arg.get_short_and_visible_aliases().into_iter().flatten();
        if arg.get_action().takes_values() {
            long.extend(longs);
            short.extend(shorts);
        } else {
            flag_long.extend(longs);
            flag_short.extend(shorts);
        }
    }
    long.retain(|name| !flag_long.contains(name));
    short.retain(|c| !flag_short.contains(c));
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
    use std::path::PathBuf;

    use clap::CommandFactory as _;

    use super::args::{Command, HELP_HEADLINE, PruneArgs};
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
            Parsed::Exit { output, exit_code } => (
                exit_code.code(),
                format!("{}{}", output.stdout, output.stderr),
            ),
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
            Parsed::Exit { output, exit_code } => (exit_code.code(), output),
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
