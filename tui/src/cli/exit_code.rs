//! Every exit code of every `v0-prune` command, in one enum (as fd's
//! `exit_codes.rs`): each command returns an [`Exit`], `main` turns it into
//! the process's status, and the help texts take their numbers from it
//! ([`exit_status`]). `docs/exit-codes.md` lists the same codes under the
//! same names; a test below reads that table and the help texts and checks
//! both against this enum.

use std::fmt::Write as _;

/// How a `v0-prune` command ended, as its exit status says it.
///
/// The codes follow v0 where v0 has one (0, and 1 for errors, usage
/// errors and help alike) and `systemctl status` where that has one (3);
/// the others tell a script apart what it would act on differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Everything asked for was done; for `status`, the daemon is running.
    Success = 0,
    /// An error (reported on stderr), a usage error, `--help` (as v0's),
    /// or a declined question (`Aborted`).
    Error = 1,
    /// The daemon is not running (`status`, `events`), as `systemctl
    /// status` says 3.
    NotRunning = 3,
    /// The daemon did not stop in time and was killed (`shutdown`).
    Killed = 4,
    /// A daemon process holds the build directory but does not answer on
    /// its socket within the timeout: stuck, or its socket is gone (`status`).
    NotAnswering = 5,
    /// The daemon answered but refused us: it is at a limit (too many
    /// watchers or requests at once). Busy, not broken: every command that
    /// talks to the daemon exits with it then.
    Busy = 6,
    /// Every job ran, but some logs or the merge queue could not be pruned
    /// (a full disk, an I/O error, a permission); distinct from 1 so that a
    /// script can tell "try again after freeing space" from "fix the
    /// command". An error outweighs it (1).
    NotPruned = 7,
}

impl Exit {
    /// Every code, in order.
    pub const ALL: [Exit; 7] = [
        Self::Success,
        Self::Error,
        Self::NotRunning,
        Self::Killed,
        Self::NotAnswering,
        Self::Busy,
        Self::NotPruned,
    ];

    /// The number the process exits with.
    pub fn code(self) -> u8 {
        self as u8
    }

    /// Its name in `docs/exit-codes.md`, for people and scripts that would
    /// rather not remember numbers.
    pub fn name(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Error => "error",
            Self::NotRunning => "not_running",
            Self::Killed => "killed",
            Self::NotAnswering => "not_answering",
            Self::Busy => "busy",
            Self::NotPruned => "not_pruned",
        }
    }
}

impl From<Exit> for std::process::ExitCode {
    fn from(exit: Exit) -> Self {
        Self::from(exit.code())
    }
}

/// A help text's `Exit status:` block: a line `  N  what it means here` per
/// code, in the order given, the numbers taken from [`Exit`].
pub fn exit_status(codes: &[(Exit, &str)]) -> String {
    let mut block = String::from("Exit status:");
    for (exit, meaning) in codes {
        let _ = write!(block, "\n  {}  {meaning}", exit.code());
    }
    block
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory as _;

    use super::*;
    use crate::cli::args::Cli;

    /// The table's path; it documents what [`Exit`] defines.
    const EXIT_CODES_MD: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/exit-codes.md");

    /// The rows of the `| code | name | meaning |` table.
    fn documented() -> Vec<(String, String, String)> {
        let text = std::fs::read_to_string(EXIT_CODES_MD).expect("read docs/exit-codes.md");
        let mut lines = text.lines().skip_while(|line| {
            line.split('|').map(str::trim).collect::<Vec<_>>()
                != ["", "code", "name", "meaning", ""]
        });
        assert!(lines.next().is_some(), "no | code | name | meaning | table");
        lines
            .skip(1) // |---|---|---|
            .take_while(|line| line.starts_with('|'))
            .map(|line| {
                let cells: Vec<&str> = line.split('|').map(str::trim).collect();
                assert!(cells.len() >= 5, "a row of three cells: {line}");
                let meaning = cells[3..cells.len() - 1].join("|");
                (cells[1].to_owned(), cells[2].to_owned(), meaning)
            })
            .collect()
    }

    #[test]
    fn the_docs_table_has_exactly_the_enum_s_codes_and_names() {
        let rows = documented();
        let documented: Vec<(&str, &str)> = rows
            .iter()
            .map(|(code, name, _)| (code.as_str(), name.as_str()))
            .collect();
        let codes: Vec<String> = Exit::ALL.iter().map(|e| e.code().to_string()).collect();
        let defined: Vec<(&str, &str)> = Exit::ALL
            .iter()
            .zip(&codes)
            .map(|(exit, code)| (code.as_str(), exit.name()))
            .collect();
        assert_eq!(documented, defined, "docs/exit-codes.md against Exit");
        for (code, _, meaning) in &rows {
            assert!(!meaning.is_empty(), "code {code} has no meaning");
        }
    }

    #[test]
    fn codes_are_distinct_and_in_order() {
        let codes = Exit::ALL.map(Exit::code);
        assert!(codes.windows(2).all(|w| w[0] < w[1]), "{codes:?}");
        assert_eq!(codes, [0, 1, 3, 4, 5, 6, 7]);
    }

    /// What each code's line in an `Exit status:` block must say, whatever
    /// the command: a code paired with another code's words fails.
    fn gist(exit: Exit) -> &'static [&'static str] {
        match exit {
            // Done, running, stopped, listed: what success is depends on the command.
            Exit::Success => &[""],
            Exit::Error => &["error"],
            Exit::NotRunning => &["not running"],
            Exit::Killed => &["killed"],
            Exit::NotAnswering => &["does not answer"],
            Exit::Busy => &["refused"],
            Exit::NotPruned => &["could not"],
        }
    }

    /// The one word a code gets in a short list (`exit 0 running, 3 not,
    /// 5 stuck, 6 busy`).
    fn short_word(exit: Exit) -> &'static [&'static str] {
        match exit {
            Exit::Success => &["running", "ok", "done"],
            Exit::Error => &["error"],
            Exit::NotRunning => &["not"],
            Exit::Killed => &["killed"],
            Exit::NotAnswering => &["stuck"],
            Exit::Busy => &["busy"],
            Exit::NotPruned => &["not pruned"],
        }
    }

    fn exit_of(code: &str, context: &str) -> Exit {
        let code: u8 = code
            .parse()
            .unwrap_or_else(|_| panic!("not a code: {code:?} in {context}"));
        Exit::ALL
            .into_iter()
            .find(|exit| exit.code() == code)
            .unwrap_or_else(|| panic!("exit {code} is no Exit: {context}"))
    }

    /// The help of the command and of every subcommand, as `--help` prints it.
    fn every_help() -> Vec<(String, String)> {
        let mut command = Cli::command();
        command.build();
        let mut helps = vec![(
            "v0-prune".to_owned(),
            command.render_long_help().to_string(),
        )];
        for sub in command.get_subcommands_mut() {
            let name = sub.get_name().to_owned();
            helps.push((name, sub.render_long_help().to_string()));
        }
        helps
    }

    /// Every `Exit status:` line of every help names a code the enum has,
    /// in words that fit it; and each `exit 0 running, 3 not, ...` does.
    #[test]
    fn help_texts_mention_only_the_enum_s_codes_with_their_meaning() {
        let mut blocks = 0;
        let mut mentions = 0;
        for (name, help) in every_help() {
            let mut lines = help.lines();
            while let Some(line) = lines.next() {
                if line.trim() == "Exit status:" {
                    blocks += 1;
                    for entry in lines.by_ref().take_while(|l| l.starts_with("  ")) {
                        let entry = entry.trim();
                        let (code, meaning) = entry
                            .split_once("  ")
                            .unwrap_or_else(|| panic!("{name}: not `N  meaning`: {entry:?}"));
                        let exit = exit_of(code, &format!("{name}: {entry}"));
                        let meaning = meaning.to_lowercase();
                        assert!(
                            gist(exit).iter().any(|word| meaning.contains(word)),
                            "{name}: {entry:?} does not read as {}",
                            exit.name()
                        );
                    }
                }
                // `(exit 0 running, 3 not, 5 stuck, 6 busy)`.
                for (at, _) in line.match_indices("exit ") {
                    let after = &line[at + "exit ".len()..];
                    if !after.starts_with(|c: char| c.is_ascii_digit()) {
                        continue;
                    }
                    let list = after.split(')').next().unwrap_or(after);
                    for item in list.split(", ") {
                        let (code, word) = item.split_once(' ').unwrap_or((item, ""));
                        let exit = exit_of(code, &format!("{name}: {line}"));
                        assert!(
                            short_word(exit).contains(&word),
                            "{name}: `{item}` does not read as {}",
                            exit.name()
                        );
                        mentions += 1;
                    }
                }
            }
        }
        // The plain prune, status, ls, shutdown and events have a block.
        assert!(blocks >= 5, "only {blocks} Exit status: blocks");
        assert!(mentions >= 4, "status's about names four codes: {mentions}");
    }

    #[test]
    fn a_block_lists_the_codes_given_in_order() {
        assert_eq!(
            exit_status(&[(Exit::Success, "listed"), (Exit::Error, "an error")]),
            "Exit status:\n  0  listed\n  1  an error"
        );
    }
}
