//! `v0-prune completions <shell>`: the shell completion script, generated
//! from the very clap definition that parses the command line
//! (`Cli::command()`), so completions cannot drift from the flags.

use clap::CommandFactory as _;
use clap_complete::Shell;

use super::print_document;
use crate::cli::args::{Cli, CompletionsArgs};
use crate::cli::exit_code::Exit;

/// `v0-prune completions` from `main`: the script on stdout.
pub fn main(args: &CompletionsArgs) -> Exit {
    print_document(&script(args.shell), "the completion script")
}

/// The name completed, and the one clap_complete generates scripts for.
const BIN_NAME: &str = "v0-prune";

/// The completion script of `v0-prune` for `shell`.
pub fn script(shell: Shell) -> Vec<u8> {
    let mut command = Cli::command();
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut command, BIN_NAME, &mut script);
    if shell == Shell::Bash {
        script = fix_bash_subcommand_labels(&script);
    }
    script
}

/// clap_complete (4.6.11) spells a subcommand's state `v0__prune__subcmd__status`
/// where it walks the words, but `v0__subcmd__prune__subcmd__status` in the
/// `case` that offers its options (it mangles the `-` of the binary's name
/// twice), so bash never completed `v0-prune status --<Tab>`. One spelling.
fn fix_bash_subcommand_labels(script: &[u8]) -> Vec<u8> {
    const SEP: &str = "__subcmd__";
    let wrong = format!("{}{SEP}", BIN_NAME.replace('-', SEP));
    let right = format!("{}{SEP}", BIN_NAME.replace('-', "__"));
    String::from_utf8_lossy(script)
        .replace(&wrong, &right)
        .into_bytes()
}

#[cfg(test)]
mod tests {
    use std::process::{Command, Stdio};

    use clap::ValueEnum as _;

    use super::*;
    use crate::cli::{Parsed, parse};

    fn text(shell: Shell) -> String {
        String::from_utf8(script(shell)).expect("a completion script is UTF-8")
    }

    #[test]
    fn every_shell_gets_a_script_naming_the_subcommands_and_flags() {
        for shell in Shell::value_variants() {
            let script = text(*shell);
            let words = ["v0-prune", "dry-run", "build-dir"].map(str::to_owned);
            for word in words.into_iter().chain(crate::cli::subcommand_names()) {
                assert!(script.contains(&word), "{shell}: no {word:?} in\n{script}");
            }
        }
    }

    #[test]
    fn bash_zsh_and_fish_know_the_subcommands_options() {
        for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
            let script = text(shell);
            // `status --json`, `shutdown --timeout`, `man --out-dir`.
            for word in ["--dry-run", "json", "timeout", "out-dir"] {
                assert!(script.contains(word), "{shell}: no {word:?}");
            }
        }
    }

    #[test]
    fn an_unknown_shell_is_a_usage_error() {
        for args in [&["completions", "tcsh"][..], &["completions"][..]] {
            match parse(std::iter::once("v0-prune").chain(args.iter().copied())) {
                Parsed::Exit { output, exit_code } => {
                    assert_eq!(exit_code.code(), 1, "{args:?}");
                    assert!(
                        output.use_stderr(),
                        "{args:?}: a usage error goes to stderr"
                    );
                }
                Parsed::Run(cli) => panic!("{args:?} parsed: {cli:?}"),
            }
        }
    }

    /// Sources the bash script in a real bash and asks what completes
    /// `v0-prune` and `v0-prune sta<Tab>`.
    #[test]
    #[cfg_attr(not(v0_prune_has_bash), ignore = "needs bash (apt install bash)")]
    fn bash_sources_the_script_and_completes_subcommands() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("v0-prune.bash");
        std::fs::write(&path, script(Shell::Bash)).expect("write the script");
        // Calls the completion function as bash's programmable completion does.
        let probe = r#"
            source "$1" || exit 10
            complete -p v0-prune || exit 11
            COMP_WORDS=(v0-prune sta); COMP_CWORD=1; COMP_LINE="v0-prune sta"; COMP_POINT=${#COMP_LINE}
            func=$(complete -p v0-prune | sed -n 's/.*-F \([^ ]*\).*/\1/p')
            "$func" v0-prune sta v0-prune
            printf 'reply:%s\n' "${COMPREPLY[@]}"
            COMP_WORDS=(v0-prune shutdown --ti); COMP_CWORD=2; COMP_LINE="v0-prune shutdown --ti"; COMP_POINT=${#COMP_LINE}
            COMPREPLY=()
            "$func" v0-prune --ti shutdown
            printf 'reply:%s\n' "${COMPREPLY[@]}"
        "#;
        let output = Command::new("bash")
            .args(["--norc", "--noprofile", "-c", probe, "probe"])
            .arg(&path)
            .stdin(Stdio::null())
            .output()
            .expect("run bash");
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "bash: {stdout}\n{stderr}");
        let registered = stdout.lines().next().unwrap_or_default();
        assert!(
            registered.starts_with("complete ") && registered.ends_with(" v0-prune"),
            "{stdout}"
        );
        let replies: Vec<&str> = stdout
            .lines()
            .filter_map(|line| line.strip_prefix("reply:"))
            .collect();
        // A subcommand by its prefix, then a subcommand's own option (which
        // clap_complete's script alone does not get right: see above).
        assert_eq!(replies, ["status", "--timeout"], "{stdout}\n{stderr}");
    }
}
