//! RELIABILITY.md names, for every promise, the test that holds it. This
//! test checks that those names are true: every source file it names exists
//! (a short name like `crash_model.rs` must name exactly one file), and every
//! test it names after a file (`file.rs`: `test_name`, or `file.rs`'s
//! `test_name`; a trailing `…` stands for the rest of a long name) is a
//! function in that file or in its sibling tests file. A test named on its
//! own must exist somewhere in the workspace.
//!
//! Standard library only: it reads text.

use std::path::{Path, PathBuf};

/// The workspace root: this file is `tests/e2e/reliability_rows.rs`.
fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ is in the workspace")
        .to_path_buf()
}

/// Every `.rs` file of the workspace, relative to its root (no `target/`).
fn rust_files(root: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() {
                if !name.starts_with('.') && name != "target" {
                    pending.push(path);
                }
            } else if name.ends_with(".rs")
                && let Ok(relative) = path.strip_prefix(root)
            {
                found.push(relative.to_string_lossy().into_owned());
            }
        }
    }
    found.sort();
    found
}

/// A backticked token of the text and where it ends.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Token {
    text: String,
    line: usize,
    /// What follows the closing backtick up to the next backtick.
    after: String,
}

/// The backticked spans of `markdown`, outside fenced code blocks.
fn tokens(markdown: &str) -> Vec<Token> {
    let mut tokens = Vec::new();
    let mut fenced = false;
    for (index, line) in markdown.lines().enumerate() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if fenced {
            continue;
        }
        let parts: Vec<&str> = line.split('`').collect();
        // Odd indices are inside backticks (an unclosed one is ignored).
        let mut i = 1;
        while i + 1 < parts.len() {
            tokens.push(Token {
                text: parts[i].to_owned(),
                line: index + 1,
                after: parts[i + 1].to_owned(),
            });
            i += 2;
        }
    }
    tokens
}

/// Whether `text` looks like a test function's name: snake case with at
/// least three words, or ending in `…`.
fn looks_like_test_name(text: &str) -> bool {
    let name = text.strip_suffix('…').unwrap_or(text);
    let snake = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && name.starts_with(|c: char| c.is_ascii_lowercase());
    snake && (name.matches('_').count() >= 3 || text.ends_with('…'))
}

/// The files a path as written in the document names: the file itself when
/// it exists from the root, else every file whose path ends with it.
fn resolve<'a>(written: &str, files: &'a [String]) -> Vec<&'a String> {
    if let Some(exact) = files.iter().find(|f| f.as_str() == written) {
        return vec![exact];
    }
    files
        .iter()
        .filter(|f| f.ends_with(&format!("/{written}")))
        .collect()
}

/// The file and, for a module, its sibling tests file (`x.rs` → `x/tests.rs`,
/// `mod.rs` → `tests.rs`), where its unit tests may live.
fn with_tests_file(root: &Path, file: &str) -> Vec<PathBuf> {
    let path = root.join(file);
    let mut paths = vec![path.clone()];
    if path.file_name().is_some_and(|name| name == "mod.rs") {
        paths.push(path.with_file_name("tests.rs"));
    } else {
        paths.push(path.with_extension("").join("tests.rs"));
    }
    paths
}

/// Whether a function named `name` (or starting with it, for a name cut
/// with `…`) is defined in `text`.
fn defines(text: &str, name: &str) -> bool {
    let (stem, prefix) = match name.strip_suffix('…') {
        Some(stem) => (stem, true),
        None => (name, false),
    };
    text.match_indices(&format!("fn {stem}"))
        .any(|(at, found)| {
            let rest = &text[at + found.len()..];
            prefix || rest.starts_with(['(', '<'])
        })
}

#[test]
fn every_test_reliability_md_names_exists_where_it_says() {
    let root = workspace_root();
    let markdown =
        std::fs::read_to_string(root.join("RELIABILITY.md")).expect("RELIABILITY.md is readable");
    let files = rust_files(&root);
    let sources: Vec<(String, String)> = files
        .iter()
        .map(|f| {
            let text = std::fs::read_to_string(root.join(f)).unwrap_or_default();
            (f.clone(), text)
        })
        .collect();
    let tokens = tokens(&markdown);
    let mut problems = Vec::new();
    let mut checked = (0, 0);
    let mut current_file: Option<(usize, Vec<&String>)> = None;
    for token in &tokens {
        if token.text.ends_with(".rs") {
            let resolved = resolve(&token.text, &files);
            match resolved.len() {
                1 => {}
                0 => problems.push(format!(
                    "line {}: `{}` names no file in the workspace",
                    token.line, token.text
                )),
                _ => problems.push(format!(
                    "line {}: `{}` could be any of {:?}; write more of its path",
                    token.line, token.text, resolved
                )),
            }
            checked.0 += 1;
            current_file = Some((token.line, resolved));
            continue;
        }
        if !looks_like_test_name(&token.text) {
            current_file = None;
            continue;
        }
        checked.1 += 1;
        // A test right after a file (same line, joined by `: `, `'s ` or `, `)
        // belongs to that file; otherwise anywhere in the workspace.
        let in_file = current_file
            .as_ref()
            .filter(|(line, resolved)| *line == token.line && resolved.len() == 1)
            .map(|(_, resolved)| resolved[0].clone());
        let found = match &in_file {
            Some(file) => with_tests_file(&root, file).iter().any(|path| {
                std::fs::read_to_string(path).is_ok_and(|text| defines(&text, &token.text))
            }),
            None => sources.iter().any(|(_, text)| defines(text, &token.text)),
        };
        if !found {
            let place = in_file.unwrap_or_else(|| "the workspace".into());
            problems.push(format!(
                "line {}: no test `{}` in {place}",
                token.line, token.text
            ));
        }
        // Several tests may follow one file: `a.rs`: `x`, `y`.
        if !(token.after.trim() == "," || token.after.trim().is_empty()) {
            current_file = None;
        }
    }
    eprintln!(
        "RELIABILITY.md: {} file names and {} test names checked",
        checked.0, checked.1
    );
    assert!(
        checked.1 > 20,
        "the check found too few test names: {checked:?}"
    );
    assert!(
        problems.is_empty(),
        "RELIABILITY.md names what does not exist:\n{}",
        problems.join("\n")
    );
}

#[test]
fn names_are_recognised_and_resolved() {
    let md = "| x | `shared/tests/a.rs`: `one_two_three_four`, `five_six_seven_eight` | y |\n\
              ```\n`not_a_token_here_x`\n```\n\
              `b.rs`'s `cut_short_…` and `--flag` `ok`\n";
    let found = tokens(md);
    let texts: Vec<&str> = found.iter().map(|t| t.text.as_str()).collect();
    assert_eq!(
        texts,
        [
            "shared/tests/a.rs",
            "one_two_three_four",
            "five_six_seven_eight",
            "b.rs",
            "cut_short_…",
            "--flag",
            "ok"
        ]
    );
    assert!(looks_like_test_name("cut_short_…"));
    assert!(looks_like_test_name("a_b_c_d"));
    assert!(!looks_like_test_name("a_b"));
    assert!(!looks_like_test_name("MAX_WATCHERS"));
    assert!(!looks_like_test_name("--flag"));
    let files = vec![
        "x/a/b.rs".to_owned(),
        "y/b.rs".to_owned(),
        "y/c.rs".to_owned(),
    ];
    assert_eq!(resolve("b.rs", &files).len(), 2);
    assert_eq!(resolve("a/b.rs", &files), [&files[0]]);
    assert_eq!(resolve("c.rs", &files), [&files[2]]);
    assert!(defines("fn cut_short_name() {}", "cut_short_…"));
    assert!(defines("async fn exact_name_here() {}", "exact_name_here"));
    assert!(!defines(
        "fn exact_name_here_longer() {}",
        "exact_name_here"
    ));
}
