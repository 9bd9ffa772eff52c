//! Reading `.v0.rc` without executing it.
//!
//! `.v0.rc` is bash. We take what v0 itself relies on — `NAME=value`
//! assignments, quoted or not, with or without `export` — expand `$VAR`,
//! `${VAR}` and `${VAR:-default}` the way bash would for the cases v0 uses
//! (earlier assignments, then `V0_ROOT` = the project root, then the
//! environment; unknown is empty), and ignore every line we cannot interpret
//! (`source ...`, conditionals, functions).

use std::collections::HashMap;
use std::path::Path;

/// The assignments of one `.v0.rc`.
#[derive(Debug, Default, Clone)]
pub struct RcFile {
    values: HashMap<String, String>,
}

impl RcFile {
    /// Parses the text of a `.v0.rc` found in `root`.
    pub fn parse(text: &str, root: &Path, env: &dyn Fn(&str) -> Option<String>) -> Self {
        let mut rc = RcFile::default();
        let root = root.to_string_lossy().into_owned();
        for line in text.lines() {
            let line = line.trim();
            let line = line
                .strip_prefix("export ")
                .map(str::trim_start)
                .unwrap_or(line);
            let Some((name, raw)) = line.split_once('=') else {
                continue;
            };
            if !is_name(name) {
                continue;
            }
            let lookup = |var: &str| -> Option<String> {
                rc.values
                    .get(var)
                    .cloned()
                    .or_else(|| (var == "V0_ROOT").then(|| root.clone()))
                    .or_else(|| env(var))
            };
            if let Some(value) = parse_value(raw, &lookup) {
                rc.values.insert(name.to_string(), value);
            }
        }
        rc
    }

    /// The value assigned to `name`, if any.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }
}

fn is_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Parses the right-hand side of an assignment; `None` for what we cannot
/// read safely (command substitution, unterminated quotes).
fn parse_value(raw: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Option<String> {
    let mut out = String::new();
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' => loop {
                match chars.next()? {
                    '\'' => break,
                    c => out.push(c),
                }
            },
            '"' => loop {
                match chars.next()? {
                    '"' => break,
                    '\\' => match chars.next()? {
                        c @ ('"' | '\\' | '$' | '`') => out.push(c),
                        c => {
                            out.push('\\');
                            out.push(c);
                        }
                    },
                    '$' => out.push_str(&expand(&mut chars, lookup)?),
                    '`' => return None,
                    c => out.push(c),
                }
            },
            '$' => out.push_str(&expand(&mut chars, lookup)?),
            '\\' => out.push(chars.next()?),
            '`' => return None,
            // An unquoted space ends the value; `# comment` or a second command may follow.
            ' ' | '\t' | ';' => break,
            c => out.push(c),
        }
    }
    Some(out)
}

/// Expands what follows a `$`.
fn expand(
    chars: &mut std::iter::Peekable<std::str::Chars<'_>>,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Option<String> {
    match chars.peek() {
        Some('{') => {
            chars.next();
            let mut inner = String::new();
            loop {
                match chars.next()? {
                    '}' => break,
                    c => inner.push(c),
                }
            }
            let (name, default) = match inner.split_once(":-") {
                Some((name, default)) => (name, Some(default)),
                None => (inner.as_str(), None),
            };
            if !is_name(name) {
                return None;
            }
            let value = lookup(name).filter(|v| !v.is_empty());
            Some(
                value
                    .or_else(|| default.map(str::to_string))
                    .unwrap_or_default(),
            )
        }
        Some('(') => None,
        _ => {
            let mut name = String::new();
            while let Some(&c) = chars.peek() {
                if c.is_ascii_alphanumeric() || c == '_' {
                    name.push(c);
                    chars.next();
                } else {
                    break;
                }
            }
            if name.is_empty() {
                return Some("$".to_string());
            }
            Some(lookup(&name).unwrap_or_default())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> RcFile {
        RcFile::parse(text, Path::new("/proj"), &|name| {
            (name == "HOME").then(|| "/home/me".to_string())
        })
    }

    #[test]
    fn assignments_in_every_form() {
        let rc = parse(
            "# a comment\n\
             PROJECT=\"my app\"\n\
             ISSUE_PREFIX=app # trailing comment\n\
             export V0_BUILD_DIR='${V0_ROOT}/literal'\n\
             BUILD=\"${V0_ROOT}/.v0/build\"\n\
             PLAIN=$V0_ROOT/x\n\
             HOMEY=\"$HOME/y\"\n\
             DEFAULTED=\"${NOPE:-fallback}\"\n\
             REUSED=\"${PROJECT}-2\"\n\
             ESCAPED=\"a \\\"quoted\\\" \\$word\"\n\
             UNKNOWN=\"[$NOT_SET]\"\n\
             source ~/.v0/common.rc\n\
             if [ -n \"$X\" ]; then\n\
             CMD=$(whoami)\n\
             BROKEN=\"unterminated\n\
             fi\n",
        );
        assert_eq!(rc.get("PROJECT"), Some("my app"));
        assert_eq!(rc.get("ISSUE_PREFIX"), Some("app"));
        assert_eq!(rc.get("V0_BUILD_DIR"), Some("${V0_ROOT}/literal"));
        assert_eq!(rc.get("BUILD"), Some("/proj/.v0/build"));
        assert_eq!(rc.get("PLAIN"), Some("/proj/x"));
        assert_eq!(rc.get("HOMEY"), Some("/home/me/y"));
        assert_eq!(rc.get("DEFAULTED"), Some("fallback"));
        assert_eq!(rc.get("REUSED"), Some("my app-2"));
        assert_eq!(rc.get("ESCAPED"), Some("a \"quoted\" $word"));
        assert_eq!(rc.get("UNKNOWN"), Some("[]"));
        assert_eq!(rc.get("CMD"), None, "command substitution is never run");
        assert_eq!(rc.get("BROKEN"), None);
        assert_eq!(rc.get("source ~/.v0/common.rc"), None);
    }
}
