//! Reading `.v0.rc` without executing it.
//!
//! `.v0.rc` is bash, and sourcing it would run whatever it contains. We read
//! only what v0 relies on — `NAME=value` assignments, quoted or not, with or
//! without `export` — and expand `$VAR`, `${VAR}`, `${VAR:-default}` and
//! `${VAR-default}` as bash would, looking names up in the file's earlier
//! assignments, then `V0_ROOT` (the project root, which v0 sets before sourcing),
//! then the environment; an unknown name is empty. A line we cannot interpret
//! (`source ...`, conditionals, functions, command substitution, an unterminated
//! quote, `NAME=value command`) assigns nothing. Assignments inside an `if` are
//! taken unconditionally: that is the price of not executing the file.
//!
//! One `source` is followed: the `.v0.rc` that `v0 init` writes sources
//! `.v0.profile.rc` from the project root (user settings, gitignored). A line
//! that sources that file name in the project root (`source
//! "${V0_ROOT:-$(dirname "${BASH_SOURCE[0]}")}/.v0.profile.rc"`, `.
//! "$V0_ROOT/.v0.profile.rc"`, or the root spelled out) has its assignments
//! read in place, the same way; the profile's own `source` lines are not
//! followed (no loops), and no other file is ever read.

use std::collections::HashMap;
use std::iter::Peekable;
use std::path::Path;
use std::str::Chars;

/// The assignments of one `.v0.rc`, last one winning as in bash.
#[derive(Debug, Default, Clone)]
pub struct RcFile {
    values: HashMap<String, String>,
}

/// The profile `v0 init` makes `.v0.rc` source, in the project root.
pub const PROFILE_FILE: &str = ".v0.profile.rc";

/// Reads the project's [`PROFILE_FILE`] when a `.v0.rc` line sources it;
/// `None` when there is none (or it cannot be read: bash would skip it too).
pub type ProfileReader<'a> = dyn Fn() -> Option<String> + 'a;

impl RcFile {
    /// Parses the text of the `.v0.rc` found in `root`, expanding references
    /// with `env` as the process environment. Follows no `source` line.
    pub fn parse(text: &str, root: &Path, env: &dyn Fn(&str) -> Option<String>) -> Self {
        let mut rc = RcFile::default();
        rc.read(text, &root.to_string_lossy(), env, None);
        rc
    }

    /// [`RcFile::parse`] that also reads the profile, as v0 does: in place of
    /// a line sourcing `root/.v0.profile.rc`, and once more after the file
    /// when `V0_DEVELOP_BRANCH` is still v0's default `main` (v0's
    /// `v0_load_config` sources the profile itself then).
    pub fn parse_with_profile(
        text: &str,
        root: &Path,
        env: &dyn Fn(&str) -> Option<String>,
        profile: &ProfileReader<'_>,
    ) -> Self {
        let mut rc = RcFile::default();
        let root = root.to_string_lossy();
        rc.read(text, &root, env, Some(profile));
        if rc.get("V0_DEVELOP_BRANCH").unwrap_or("main") == "main" {
            if let Some(text) = profile() {
                rc.read(&text, &root, env, None);
            }
        }
        rc
    }

    fn read(
        &mut self,
        text: &str,
        root: &str,
        env: &dyn Fn(&str) -> Option<String>,
        profile: Option<&ProfileReader<'_>>,
    ) {
        for line in text.lines() {
            // `lines` drops a CRLF's `\r` only before a `\n`; a last line may
            // keep one, and a build directory ending in `\r` helps nobody.
            let line = line.strip_suffix('\r').unwrap_or(line);
            let lookup = |var: &str| self.lookup(var, root, env);
            let Some((name, raw)) = assignment(line) else {
                let follow = profile.is_some() && sources_profile(line, root, &lookup);
                // The profile's own `source` lines are not followed.
                if let Some(text) = profile.filter(|_| follow).and_then(|read| read()) {
                    self.read(&text, root, env, None);
                }
                continue;
            };
            if let Some(value) = parse_value(raw, &lookup) {
                self.values.insert(name.to_string(), value);
            }
        }
    }

    /// A name's value for expansion: the file so far, `V0_ROOT` (the project
    /// root, which v0 sets before sourcing), then the environment.
    fn lookup(
        &self,
        var: &str,
        root: &str,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Option<String> {
        self.values
            .get(var)
            .cloned()
            .or_else(|| (var == "V0_ROOT").then(|| root.to_string()))
            .or_else(|| env(var))
    }

    /// The value assigned to `name`, if the file assigns it.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }
}

/// Whether `line` is (or ends with) `source FILE` / `. FILE` naming
/// [`PROFILE_FILE`] in the project root `root`: after `&&`, `||` or `;`, maybe
/// behind a `[[ -f ... ]]` test. The directory may be `$V0_ROOT`,
/// `${V0_ROOT}`, `${V0_ROOT:-anything}` (v0 sets `V0_ROOT` before sourcing),
/// `$(dirname "${BASH_SOURCE[0]}")` (the `.v0.rc`'s own directory, which is
/// the root), or anything that expands to the root.
fn sources_profile(line: &str, root: &str, lookup: &Lookup<'_>) -> bool {
    let line = line.trim();
    // The last command of the line.
    let command = ["&&", "||", ";"]
        .iter()
        .filter_map(|sep| line.rfind(sep).map(|i| i + sep.len()))
        .max()
        .map_or(line, |start| &line[start..])
        .trim();
    let Some(arg) = command
        .strip_prefix("source")
        .or_else(|| command.strip_prefix('.'))
        .filter(|rest| rest.starts_with([' ', '\t']))
        .map(str::trim)
    else {
        return false;
    };
    let arg = arg
        .strip_prefix('"')
        .and_then(|a| a.strip_suffix('"'))
        .unwrap_or(arg);
    let Some(dir) = arg
        .strip_suffix(PROFILE_FILE)
        .and_then(|d| d.strip_suffix('/'))
    else {
        return false;
    };
    let root_alias = [
        "$V0_ROOT",
        "${V0_ROOT}",
        "$(dirname \"${BASH_SOURCE[0]}\")",
        "$(dirname \"$BASH_SOURCE\")",
    ];
    if root_alias.contains(&dir)
        || ((dir.starts_with("${V0_ROOT:-") || dir.starts_with("${V0_ROOT-")) && dir.ends_with('}'))
    {
        return true;
    }
    // Spelled some other way: it must expand, without running anything, to the root.
    parse_value(dir, lookup).is_some_and(|dir| Path::new(&dir) == Path::new(root))
}

/// Splits `[export] NAME=raw` into the name and the unparsed value.
fn assignment(line: &str) -> Option<(&str, &str)> {
    let line = line.trim_start();
    let line = match line.strip_prefix("export") {
        Some(rest) if rest.starts_with([' ', '\t']) => rest.trim_start(),
        _ => line,
    };
    let (name, raw) = line.split_once('=')?;
    is_name(name).then_some((name, raw))
}

fn is_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Looks a name up in the file so far, `V0_ROOT`, then the environment.
type Lookup<'a> = dyn Fn(&str) -> Option<String> + 'a;

/// Where a word ends: an assignment's value at an unquoted blank or operator,
/// a `${VAR:-default}`'s default at its closing brace.
#[derive(Clone, Copy, PartialEq, Eq)]
enum WordEnd {
    Blank,
    CloseBrace,
}

/// Parses the right-hand side of an assignment; `None` when the line is not
/// a plain assignment we can evaluate without running anything.
fn parse_value(raw: &str, lookup: &Lookup<'_>) -> Option<String> {
    let mut chars = raw.chars().peekable();
    let value = word(&mut chars, lookup, WordEnd::Blank)?;
    // `NAME=value command` only sets NAME in the command's environment, and a
    // pipeline runs in a subshell; a comment or a next statement is fine.
    let rest: String = chars.collect();
    let rest = rest.trim_start();
    let standalone =
        rest.is_empty() || rest.starts_with('#') || rest.starts_with(';') || rest.starts_with("&&");
    standalone.then_some(value)
}

fn word(chars: &mut Peekable<Chars<'_>>, lookup: &Lookup<'_>, end: WordEnd) -> Option<String> {
    let mut out = String::new();
    loop {
        let Some(&c) = chars.peek() else {
            // A default that never meets its `}` is a syntax error in bash.
            return (end == WordEnd::Blank).then_some(out);
        };
        match (c, end) {
            ('}', WordEnd::CloseBrace) => {
                chars.next();
                return Some(out);
            }
            (' ' | '\t' | ';' | '&' | '|', WordEnd::Blank) => return Some(out),
            // Arrays, subshells and redirections: not an assignment we read.
            ('(' | ')' | '<' | '>' | '`', _) => return None,
            _ => {}
        }
        chars.next();
        match c {
            '\'' => loop {
                match chars.next()? {
                    '\'' => break,
                    c => out.push(c),
                }
            },
            '"' => double_quoted(chars, lookup, &mut out)?,
            '$' => out.push_str(&expand(chars, lookup)?),
            // A trailing backslash continues the line: not something we read.
            '\\' => out.push(chars.next()?),
            c => out.push(c),
        }
    }
}

/// Reads up to the closing `"`; only `\"`, `\\`, `\$` and `` \` `` are escapes there.
fn double_quoted(
    chars: &mut Peekable<Chars<'_>>,
    lookup: &Lookup<'_>,
    out: &mut String,
) -> Option<()> {
    loop {
        match chars.next()? {
            '"' => return Some(()),
            '\\' => match chars.next()? {
                c @ ('"' | '\\' | '$' | '`') => out.push(c),
                c => {
                    out.push('\\');
                    out.push(c);
                }
            },
            '$' => out.push_str(&expand(chars, lookup)?),
            '`' => return None,
            c => out.push(c),
        }
    }
}

/// Expands what follows a `$`.
fn expand(chars: &mut Peekable<Chars<'_>>, lookup: &Lookup<'_>) -> Option<String> {
    match chars.peek().copied() {
        Some('{') => {
            chars.next();
            braced(chars, lookup)
        }
        Some(c) if c.is_ascii_alphabetic() || c == '_' => {
            Some(lookup(&name(chars)).unwrap_or_default())
        }
        // Command substitution, arithmetic, positional and special parameters:
        // their values exist only when the file runs.
        Some('(' | '$' | '?' | '#' | '@' | '*' | '!' | '-') => None,
        Some(c) if c.is_ascii_digit() => None,
        // Bash keeps a `$` that starts no expansion.
        _ => Some("$".to_string()),
    }
}

/// Expands `${NAME}`, `${NAME:-default}` or `${NAME-default}` after the `{`.
fn braced(chars: &mut Peekable<Chars<'_>>, lookup: &Lookup<'_>) -> Option<String> {
    let name = name(chars);
    if !is_name(&name) {
        return None;
    }
    let value = lookup(&name);
    // `:-` also replaces an empty value, `-` only a missing one; other
    // operators (`:=`, `:?`, `#`, `%`, ...) are not read.
    let empty_counts = match chars.next()? {
        '}' => return Some(value.unwrap_or_default()),
        ':' if chars.next()? == '-' => true,
        '-' => false,
        _ => return None,
    };
    let default = word(chars, lookup, WordEnd::CloseBrace)?;
    let value = if empty_counts {
        value.filter(|v| !v.is_empty())
    } else {
        value
    };
    Some(value.unwrap_or(default))
}

fn name(chars: &mut Peekable<Chars<'_>>) -> String {
    let mut name = String::new();
    while let Some(&c) = chars.peek() {
        if !(c.is_ascii_alphanumeric() || c == '_') {
            break;
        }
        name.push(c);
        chars.next();
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> RcFile {
        RcFile::parse(text, Path::new("/proj"), &|name| match name {
            "HOME" => Some("/home/me".to_string()),
            "EMPTY" => Some(String::new()),
            _ => None,
        })
    }

    #[test]
    fn the_lines_that_source_the_projects_profile() {
        let lookup = |var: &str| match var {
            "V0_ROOT" => Some("/proj".to_string()),
            "HERE" => Some("/proj".to_string()),
            "ELSE" => Some("/else".to_string()),
            _ => None,
        };
        #[rustfmt::skip]
        let table: &[(&str, bool)] = &[
            // What `v0 init` writes.
            (r#"[[ -f "${V0_ROOT:-$(dirname "${BASH_SOURCE[0]}")}/.v0.profile.rc" ]] && source "${V0_ROOT:-$(dirname "${BASH_SOURCE[0]}")}/.v0.profile.rc""#, true),
            ("source \"$V0_ROOT/.v0.profile.rc\"", true),
            (". ${V0_ROOT}/.v0.profile.rc", true),
            ("  source \"$(dirname \"${BASH_SOURCE[0]}\")/.v0.profile.rc\"", true),
            ("[ -f /proj/.v0.profile.rc ] && . /proj/.v0.profile.rc", true),
            ("true; source \"$HERE/.v0.profile.rc\"", true),
            // Other files, other directories, not a source at all.
            ("source /else/.v0.profile.rc", false),
            ("source \"$ELSE/.v0.profile.rc\"", false),
            ("source \"$V0_ROOT/other.rc\"", false),
            ("source \"$V0_ROOT/x.v0.profile.rc\"", false),
            ("source .v0.profile.rc", false),
            ("sourced $V0_ROOT/.v0.profile.rc", false),
            ("echo $V0_ROOT/.v0.profile.rc", false),
            ("# source $V0_ROOT/.v0.profile.rc", false),
            ("source \"$(cat list)/.v0.profile.rc\"", false),
        ];
        for (line, expected) in table {
            assert_eq!(sources_profile(line, "/proj", &lookup), *expected, "{line}");
        }
    }

    #[test]
    fn assignments_quoting_and_expansion() {
        #[rustfmt::skip]
        let table: &[(&str, &str, Option<&str>)] = &[
            // Forms of assignment.
            ("P=app", "P", Some("app")),
            ("P=\"my app\"", "P", Some("my app")),
            ("P='my app'", "P", Some("my app")),
            ("export P=app", "P", Some("app")),
            ("export\tP=\"app\"", "P", Some("app")),
            ("  P=app  ", "P", Some("app")),
            ("P=app\r", "P", Some("app")),
            ("P=\"a b\"\r\nQ=1\r\n", "P", Some("a b")),
            ("P=", "P", Some("")),
            ("P=\"\"", "P", Some("")),
            ("P=a\"b c\"'d e'", "P", Some("ab cd e")),
            ("P=1\nP=2", "P", Some("2")),
            // Comments and what may follow a value.
            ("P=app # the name", "P", Some("app")),
            ("P=\"a # b\" # c", "P", Some("a # b")),
            ("P=a#b", "P", Some("a#b")),
            ("# P=app", "P", None),
            ("P=app; Q=1", "P", Some("app")),
            ("P=app && echo hi", "P", Some("app")),
            ("P=app make", "P", None),
            ("P=app | cat", "P", None),
            // Lines we cannot interpret assign nothing.
            ("P=$(whoami)", "P", None),
            ("P=\"$(whoami)\"", "P", None),
            ("P=`whoami`", "P", None),
            ("P=\"`whoami`\"", "P", None),
            ("P=(a b)", "P", None),
            ("P=\"unterminated", "P", None),
            ("P='unterminated", "P", None),
            ("P=continued\\", "P", None),
            ("P+=more", "P", None),
            ("f() { P=1; }", "P", None),
            ("P=$1", "P", None),
            ("P=$$", "P", None),
            ("P=${#HOME}", "P", None),
            ("P=${HOME:=x}", "P", None),
            ("P=${HOME", "P", None),
            ("P=${NOPE:-open", "P", None),
            // Expansion: the project root, the environment, unknown names.
            ("B=$V0_ROOT/x", "B", Some("/proj/x")),
            ("B=${V0_ROOT}/.v0/build", "B", Some("/proj/.v0/build")),
            ("B=\"${V0_ROOT}/x y\"", "B", Some("/proj/x y")),
            ("B='${V0_ROOT}/x'", "B", Some("${V0_ROOT}/x")),
            ("B=\"$HOME/y\"", "B", Some("/home/me/y")),
            ("B=[$NOPE]", "B", Some("[]")),
            ("B=\"${NOPE}x\"", "B", Some("x")),
            ("B=cost$", "B", Some("cost$")),
            ("B=\"$/\"", "B", Some("$/")),
            // Defaults.
            ("B=${NOPE:-fallback}", "B", Some("fallback")),
            ("B=${EMPTY:-fallback}", "B", Some("fallback")),
            ("B=${HOME:-fallback}", "B", Some("/home/me")),
            ("B=${NOPE-fallback}", "B", Some("fallback")),
            ("B=${EMPTY-fallback}", "B", Some("")),
            ("B=\"${NOPE:-$V0_ROOT/.v0/build}\"", "B", Some("/proj/.v0/build")),
            ("B=${NOPE:-${HOME}/z}", "B", Some("/home/me/z")),
            ("B=${NOPE:-${ALSO_NOPE:-deep}}", "B", Some("deep")),
            ("B=${NOPE:-a b}", "B", Some("a b")),
            ("B=\"${NOPE:-\"q\"}\"", "B", Some("q")),
            ("B=${NOPE:-a\\}b}", "B", Some("a}b")),
            // Earlier assignments come first, before V0_ROOT and the environment.
            ("P=one\nB=\"${P}-2\"", "B", Some("one-2")),
            ("HOME=/mine\nB=$HOME", "B", Some("/mine")),
            ("V0_ROOT=/other\nB=$V0_ROOT", "B", Some("/other")),
            ("B=$LATER\nLATER=x", "B", Some("")),
            // Escapes.
            ("B=\"a \\\"q\\\" \\$w \\\\ \\n\"", "B", Some("a \"q\" $w \\ \\n")),
            ("B='a \\n'", "B", Some("a \\n")),
            ("B=a\\ b", "B", Some("a b")),
            ("B=\\$HOME", "B", Some("$HOME")),
        ];
        for (text, name, expected) in table {
            assert_eq!(parse(text).get(name), *expected, "{text:?}");
        }
    }

    #[test]
    fn a_realistic_file_yields_its_assignments_and_nothing_else() {
        let rc = parse(
            "#!/bin/bash\n\
             # v0 project\n\
             PROJECT=\"my app\"\n\
             ISSUE_PREFIX=app\n\
             \n\
             source ~/.v0/common.rc\n\
             if [ -n \"$CI\" ]; then\n\
             \x20 export V0_BUILD_DIR=\"${V0_ROOT}/ci-build\"\n\
             fi\n\
             [ -f local.rc ] && . local.rc\n\
             setup() {\n\
             \x20 echo hi\n\
             }\n",
        );
        let mut names: Vec<_> = rc.values.keys().map(String::as_str).collect();
        names.sort_unstable();
        assert_eq!(names, ["ISSUE_PREFIX", "PROJECT", "V0_BUILD_DIR"]);
        assert_eq!(rc.get("PROJECT"), Some("my app"));
        assert_eq!(rc.get("V0_BUILD_DIR"), Some("/proj/ci-build"));
    }
}
