//! No two source files of the workspace may import each other, directly or
//! around a loop (issue #26).
//!
//! This test is std-only on purpose: it reads the sources as text and builds
//! a file-level dependency graph per crate, then fails if that graph has a
//! cycle. Build it with cargo (registered as a `[[test]]` of the e2e crate)
//! or on its own:
//!
//! ```text
//! rustc --edition 2024 --test tests/e2e/import_cycles.rs -o /tmp/import_cycles
//! WORKSPACE_ROOT=/path/to/workspace /tmp/import_cycles --nocapture
//! ```
//!
//! With `IMPORT_CYCLES_EDGES=1` set it also prints every edge it counted.
//!
//! The workspace root is `$CARGO_MANIFEST_DIR/..` when cargo builds the test;
//! otherwise `$WORKSPACE_ROOT`, otherwise the nearest directory at or above
//! the current one whose `Cargo.toml` has a `[workspace]` table.
//!
//! What is scanned: every `.rs` file under `<crate>/src/` of every directory
//! of the workspace root that has a `Cargo.toml` and a `src/` (the lib and
//! bin sources; integration tests, benches, examples, `build.rs` and
//! `src/bin/` are not). Each file is a node, named by its module path from
//! the layout: `lib.rs`/`main.rs` are the crate root, `a.rs` and `a/mod.rs`
//! are `a`, `a/b.rs` is `a::b`.
//!
//! An edge A -> B is a path in A's code (after comments, string and char
//! literals are blanked) that names an item of B:
//! - a private `use` (`use crate::x::y`, `use super::..`, `use self::..`, a
//!   child module by its bare name, grouped trees `use crate::{a, b::{c}}`);
//! - a path in code or in an attribute: `crate::socket::fnv1a_64(..)`,
//!   `super::linux::processes(..)`, `child::f(..)`.
//!
//! Each path goes to the longest prefix that is a module with its own file.
//! Not edges: `mod x;`, re-exports (`pub use`, `pub(crate) use`: naming, not
//! depending), paths into another crate (`v0_prune_shared::..`), and paths to
//! the file itself or to one of its ancestor modules (a parent module is its
//! children's interface). Test code is left out: `#[cfg(test)]` items
//! (`mod`, `fn`, `impl`, `use`, ...), inline `mod tests { .. }`, files named
//! `tests.rs`, and the files of modules declared `#[cfg(test)] mod x;`.
//!
//! Limitations (it is a text scan, not the compiler):
//! - every `cfg` but `test` counts as on, so macOS-only files are checked
//!   on Linux too;
//! - names brought in by a glob or a `use` are not followed: `use super::*`
//!   goes to the parent (an ancestor, so no edge), and a name re-exported by
//!   a `pub use` counts as the module that re-exports it;
//! - a bare path counts only when its first segment is a child module with
//!   its own file; a local item shadowing that name would be mistaken for it;
//! - `#[cfg(test)]` on a struct field, statement or expression is not
//!   stripped (only items are);
//! - `#[path = ".."]` on modules is not supported: the test fails if one
//!   appears in the scanned sources, so that the mapping is never silently
//!   wrong. Likewise it fails if a file's brackets stop matching once its
//!   comments and literals are blanked (the blanking went wrong);
//! - a crate's lib and bin share one module namespace here (`src/main.rs`
//!   and `src/lib.rs` are both the root), which only matters if both declare
//!   the same module.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// A module's path from its crate root: `[]` is the root.
type ModPath = Vec<String>;

// ---------------------------------------------------------------------------
// The test

#[test]
fn no_import_cycles_between_source_files() {
    let root = workspace_root();
    let files = collect_sources(&root);
    assert!(
        files.iter().any(|file| file.module.is_empty()),
        "no crate sources (<crate>/src/lib.rs or main.rs) under {}: set WORKSPACE_ROOT",
        root.display()
    );
    let graph = Graph::build(&files);
    assert!(
        graph.path_attributes.is_empty(),
        "`#[path]` on a module is not supported by this checker (extend it): {}",
        graph.path_attributes.join(", ")
    );
    assert!(
        graph.misread.is_empty(),
        "brackets do not match after blanking comments and literals, so this checker \
         misread (or the file does not compile): {}",
        graph.misread.join(", ")
    );
    let cycles = graph.cycles();
    eprintln!(
        "import_cycles: {} source files under {} ({} left out as test code), {} file-to-file edges, {} cycle(s)",
        files.len(),
        root.display(),
        graph.included.iter().filter(|included| !**included).count(),
        graph.edges.len(),
        cycles.len()
    );
    if std::env::var_os("IMPORT_CYCLES_EDGES").is_some() {
        for edge in &graph.edges {
            eprintln!(
                "{}:{} -> {}  {}",
                files[edge.from].display, edge.line, files[edge.to].display, edge.path
            );
        }
    }
    assert!(cycles.is_empty(), "{}", graph.report(&files, &cycles));
}

// ---------------------------------------------------------------------------
// Finding the sources

fn workspace_root() -> PathBuf {
    if let Some(dir) = option_env!("CARGO_MANIFEST_DIR") {
        return Path::new(dir).join("..");
    }
    if let Some(dir) = std::env::var_os("WORKSPACE_ROOT") {
        return PathBuf::from(dir);
    }
    let cwd = std::env::current_dir().expect("the current directory");
    let mut dir = cwd.as_path();
    loop {
        let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap_or_default();
        if manifest.lines().any(|line| line.trim() == "[workspace]") {
            return dir.to_path_buf();
        }
        match dir.parent() {
            Some(parent) => dir = parent,
            None => return cwd,
        }
    }
}

#[derive(Debug)]
struct SourceFile {
    /// The crate's directory name: files of different crates never link.
    krate: String,
    /// The path from the workspace root, for the report.
    display: String,
    module: ModPath,
    text: String,
}

fn collect_sources(root: &Path) -> Vec<SourceFile> {
    let mut crates: Vec<PathBuf> = std::fs::read_dir(root)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|entry| entry.path())
                .collect()
        })
        .unwrap_or_default();
    crates.retain(|dir| {
        let name = dir.file_name().and_then(|name| name.to_str()).unwrap_or("");
        !name.starts_with('.')
            && name != "target"
            && dir.join("Cargo.toml").is_file()
            && dir.join("src").is_dir()
    });
    crates.sort();
    let mut files = Vec::new();
    for dir in crates {
        let krate = dir
            .file_name()
            .and_then(|name| name.to_str())
            .unwrap_or("")
            .to_owned();
        let src = dir.join("src");
        let mut paths = Vec::new();
        rust_files(&src, &mut paths);
        paths.sort();
        for path in paths {
            let Ok(rel) = path.strip_prefix(&src) else {
                continue;
            };
            let components: Vec<String> = rel
                .components()
                .map(|part| part.as_os_str().to_string_lossy().into_owned())
                .collect();
            if components.first().is_some_and(|first| first == "bin") && components.len() > 1 {
                continue;
            }
            let text = std::fs::read_to_string(&path)
                .unwrap_or_else(|err| panic!("cannot read {}: {err}", path.display()));
            files.push(SourceFile {
                krate: krate.clone(),
                display: format!("{krate}/src/{}", components.join("/")),
                module: module_path(&components),
                text,
            });
        }
    }
    files
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.filter_map(Result::ok) {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            out.push(path);
        }
    }
}

/// `lib.rs`/`main.rs` -> `[]`, `a.rs` and `a/mod.rs` -> `[a]`, `a/b.rs` -> `[a, b]`.
fn module_path(components: &[String]) -> ModPath {
    let mut module: ModPath = components.to_vec();
    if let Some(last) = module.last_mut() {
        let stem = last.strip_suffix(".rs").unwrap_or(last).to_owned();
        *last = stem;
    }
    if module.last().is_some_and(|last| last == "mod") {
        module.pop();
    }
    if module.len() == 1 && (module[0] == "lib" || module[0] == "main") {
        module.clear();
    }
    module
}

// ---------------------------------------------------------------------------
// Blanking comments and literals

fn is_ident_char(c: char) -> bool {
    c == '_' || c.is_alphanumeric()
}

/// The source with comments (line, nested block, doc), string literals (also
/// byte, C and raw strings) and char literals replaced by spaces. Newlines are
/// kept, so line numbers still hold. Lifetimes and labels are left alone.
fn strip_comments_and_literals(src: &str) -> String {
    let c: Vec<char> = src.chars().collect();
    let mut out = c.clone();
    let blank = |out: &mut Vec<char>, from: usize, to: usize| {
        for ch in &mut out[from..to] {
            if *ch != '\n' {
                *ch = ' ';
            }
        }
    };
    let n = c.len();
    let mut i = 0;
    while i < n {
        let next = c.get(i + 1).copied();
        if c[i] == '/' && next == Some('/') {
            let end = (i..n).find(|&j| c[j] == '\n').unwrap_or(n);
            blank(&mut out, i, end);
            i = end;
        } else if c[i] == '/' && next == Some('*') {
            let mut depth = 1;
            let mut j = i + 2;
            while j < n && depth > 0 {
                if c[j] == '/' && c.get(j + 1) == Some(&'*') {
                    depth += 1;
                    j += 2;
                } else if c[j] == '*' && c.get(j + 1) == Some(&'/') {
                    depth -= 1;
                    j += 2;
                } else {
                    j += 1;
                }
            }
            let end = j.min(n);
            blank(&mut out, i, end);
            i = end;
        } else if let Some(end) = raw_string_end(&c, i) {
            blank(&mut out, i, end);
            i = end;
        } else if c[i] == '"' {
            let mut j = i + 1;
            while j < n {
                if c[j] == '\\' {
                    j += 2;
                } else if c[j] == '"' {
                    j += 1;
                    break;
                } else {
                    j += 1;
                }
            }
            let end = j.min(n);
            blank(&mut out, i, end);
            i = end;
        } else if let Some(end) = char_literal_end(&c, i) {
            blank(&mut out, i, end);
            i = end;
        } else {
            i += 1;
        }
    }
    out.into_iter().collect()
}

/// `r"…"`, `r#"…"#`, `br##"…"##`, `cr"…"` starting at the `r` at `i`.
fn raw_string_end(c: &[char], i: usize) -> Option<usize> {
    if c[i] != 'r' {
        return None;
    }
    let boundary = |k: usize| k == 0 || !is_ident_char(c[k - 1]);
    let prefixed = i >= 1 && (c[i - 1] == 'b' || c[i - 1] == 'c') && boundary(i - 1);
    if !boundary(i) && !prefixed {
        return None;
    }
    let mut k = i + 1;
    let mut hashes = 0;
    while c.get(k) == Some(&'#') {
        hashes += 1;
        k += 1;
    }
    if c.get(k) != Some(&'"') {
        return None; // `r#ident`, or just an identifier `r`
    }
    k += 1;
    while k < c.len() {
        if c[k] == '"' && (1..=hashes).all(|h| c.get(k + h) == Some(&'#')) {
            return Some(k + 1 + hashes);
        }
        k += 1;
    }
    Some(c.len())
}

/// A char literal (`'x'`, `'"'`, `'\''`, `'\u{1F600}'`) starting at `i`; a
/// lifetime or label (`'a`, `'static`) is not one.
fn char_literal_end(c: &[char], i: usize) -> Option<usize> {
    if c[i] != '\'' {
        return None;
    }
    let first = *c.get(i + 1)?;
    if first == '\\' {
        let mut j = i + 3;
        while j < c.len() && j < i + 14 {
            if c[j] == '\'' {
                return Some(j + 1);
            }
            j += 1;
        }
        None
    } else if first != '\n' && c.get(i + 2) == Some(&'\'') {
        Some(i + 3)
    } else {
        None
    }
}

// ---------------------------------------------------------------------------
// Tokens

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    /// `::`
    PathSep,
    Punct(char),
}

#[derive(Debug, Clone)]
struct Token {
    tok: Tok,
    line: usize,
}

fn tokenize(stripped: &str) -> Vec<Token> {
    let c: Vec<char> = stripped.chars().collect();
    let mut tokens = Vec::new();
    let mut line = 1;
    let mut i = 0;
    while i < c.len() {
        let ch = c[i];
        if ch == '\n' {
            line += 1;
            i += 1;
        } else if ch.is_whitespace() {
            i += 1;
        } else if is_ident_char(ch) {
            let start = i;
            while i < c.len() && is_ident_char(c[i]) {
                i += 1;
            }
            let mut word: String = c[start..i].iter().collect();
            // A raw identifier `r#type` is the identifier `type`.
            if word == "r"
                && c.get(i) == Some(&'#')
                && c.get(i + 1).is_some_and(|&n| is_ident_char(n))
            {
                let start = i + 1;
                i = start;
                while i < c.len() && is_ident_char(c[i]) {
                    i += 1;
                }
                word = c[start..i].iter().collect();
            }
            tokens.push(Token {
                tok: Tok::Ident(word),
                line,
            });
        } else if ch == ':' && c.get(i + 1) == Some(&':') {
            tokens.push(Token {
                tok: Tok::PathSep,
                line,
            });
            i += 2;
        } else {
            tokens.push(Token {
                tok: Tok::Punct(ch),
                line,
            });
            i += 1;
        }
    }
    tokens
}

// ---------------------------------------------------------------------------
// Scanning one file

/// A path in a file that names a module with its own file.
#[derive(Debug, Clone, PartialEq)]
struct RawEdge {
    target: ModPath,
    line: usize,
    /// The path as written, for the report.
    path: String,
}

#[derive(Debug, Default)]
struct FileScan {
    edges: Vec<RawEdge>,
    /// Modules declared `#[cfg(test)] mod x;` in this file.
    test_only_children: Vec<ModPath>,
    /// The file starts with `#![cfg(test)]`.
    test_only_file: bool,
    /// Lines of `#[path = ..]` attributes.
    path_attributes: Vec<usize>,
    /// The line where brackets stop matching once comments and literals are
    /// blanked: the blanking went wrong (or the file does not compile).
    unbalanced: Option<usize>,
}

/// Scans the file of module `module`; `modules` holds every module of its
/// crate that has a file.
fn scan_file(text: &str, module: &[String], modules: &HashSet<ModPath>) -> FileScan {
    let tokens = tokenize(&strip_comments_and_literals(text));
    let unbalanced = unbalanced_at(&tokens);
    let mut scanner = Scanner {
        toks: &tokens,
        i: 0,
        depth: 0,
        inline: Vec::new(),
        module,
        modules,
        out: FileScan::default(),
    };
    scanner.run();
    scanner.out.unbalanced = unbalanced;
    scanner.out
}

/// The line of the first bracket that does not match, if any.
fn unbalanced_at(tokens: &[Token]) -> Option<usize> {
    let mut open: Vec<(char, usize)> = Vec::new();
    for token in tokens {
        match token.tok {
            Tok::Punct(ch @ ('(' | '[' | '{')) => open.push((ch, token.line)),
            Tok::Punct(ch @ (')' | ']' | '}')) => {
                let expected = match ch {
                    ')' => '(',
                    ']' => '[',
                    _ => '{',
                };
                match open.pop() {
                    Some((opened, _)) if opened == expected => {}
                    _ => return Some(token.line),
                }
            }
            _ => {}
        }
    }
    open.first().map(|(_, line)| *line)
}

struct Scanner<'a> {
    toks: &'a [Token],
    i: usize,
    /// Brace depth.
    depth: usize,
    /// Inline modules we are inside of, with the brace depth within them.
    inline: Vec<(String, usize)>,
    module: &'a [String],
    modules: &'a HashSet<ModPath>,
    out: FileScan,
}

enum ItemEnd {
    /// At the first `;` outside any brackets (`use`, `const`, `static`, `type`).
    Semicolon,
    /// At a `;` or at the end of the first `{ .. }` outside parentheses (`fn`, `impl`, ...).
    BlockOrSemicolon,
}

impl Scanner<'_> {
    fn ident(&self, k: usize) -> Option<&str> {
        match self.toks.get(k).map(|t| &t.tok) {
            Some(Tok::Ident(word)) => Some(word),
            _ => None,
        }
    }

    fn is_punct(&self, k: usize, ch: char) -> bool {
        self.toks.get(k).is_some_and(|t| t.tok == Tok::Punct(ch))
    }

    fn is_path_sep(&self, k: usize) -> bool {
        self.toks.get(k).is_some_and(|t| t.tok == Tok::PathSep)
    }

    /// The index of the bracket closing the one opened at `open`.
    fn matching(&self, open: usize) -> usize {
        let mut depth = 0usize;
        for k in open..self.toks.len() {
            match self.toks[k].tok {
                Tok::Punct('(' | '[' | '{') => depth += 1,
                Tok::Punct(')' | ']' | '}') => {
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        return k;
                    }
                }
                _ => {}
            }
        }
        self.toks.len()
    }

    /// The module the code at the cursor is in (the file's, plus inline modules).
    fn current(&self) -> ModPath {
        let mut module = self.module.to_vec();
        module.extend(self.inline.iter().map(|(name, _)| name.clone()));
        module
    }

    fn run(&mut self) {
        while self.i < self.toks.len() {
            match &self.toks[self.i].tok {
                Tok::Punct('#') => self.attribute(),
                Tok::Punct('{') => {
                    self.depth += 1;
                    self.i += 1;
                }
                Tok::Punct('}') => {
                    self.depth = self.depth.saturating_sub(1);
                    if self
                        .inline
                        .last()
                        .is_some_and(|(_, depth)| *depth > self.depth)
                    {
                        self.inline.pop();
                    }
                    self.i += 1;
                }
                Tok::Ident(word) if word == "mod" => self.module_item(),
                Tok::Ident(word) if word == "pub" => self.visibility(),
                Tok::Ident(word) if word == "use" => self.use_item(false),
                Tok::Ident(_) => self.path_in_code(),
                _ => self.i += 1,
            }
        }
    }

    /// At `#`: an attribute. `#[cfg(test)]` items are skipped; other
    /// attributes are scanned like code (`#[command(after_help = crate::x::Y)]`).
    fn attribute(&mut self) {
        let mut open = self.i + 1;
        let inner = self.is_punct(open, '!');
        if inner {
            open += 1;
        }
        if !self.is_punct(open, '[') {
            self.i += 1;
            return;
        }
        let close = self.matching(open);
        let content = &self.toks[open + 1..close.min(self.toks.len())];
        if content
            .first()
            .is_some_and(|t| t.tok == Tok::Ident("path".into()))
            && content.get(1).is_some_and(|t| t.tok == Tok::Punct('='))
        {
            self.out.path_attributes.push(self.toks[self.i].line);
        }
        if !is_cfg_test(content) {
            self.i += 1;
            return;
        }
        if inner {
            if self.inline.is_empty() && self.depth == 0 {
                self.out.test_only_file = true;
                self.i = self.toks.len();
            } else {
                self.i = close + 1;
            }
            return;
        }
        self.skip_test_item(close + 1);
    }

    /// Skips the item after a `#[cfg(test)]` that ends before `start`.
    fn skip_test_item(&mut self, start: usize) {
        let mut j = start;
        while self.is_punct(j, '#') && self.is_punct(j + 1, '[') {
            j = self.matching(j + 1) + 1;
        }
        if self.ident(j) == Some("pub") {
            j += 1;
            if self.is_punct(j, '(') {
                j = self.matching(j) + 1;
            }
        }
        let end = match self.ident(j) {
            Some("use" | "type" | "static") => ItemEnd::Semicolon,
            Some("const")
                if !matches!(
                    self.ident(j + 1),
                    Some("fn" | "async" | "unsafe" | "extern")
                ) =>
            {
                ItemEnd::Semicolon
            }
            _ => {
                while matches!(
                    self.ident(j),
                    Some("const" | "async" | "unsafe" | "extern" | "default" | "safe")
                ) {
                    j += 1;
                }
                match self.ident(j) {
                    Some("mod") => {
                        if let (Some(name), true) = (self.ident(j + 1), self.is_punct(j + 2, ';')) {
                            let mut child = self.current();
                            child.push(name.to_owned());
                            self.out.test_only_children.push(child);
                        }
                        ItemEnd::BlockOrSemicolon
                    }
                    Some("fn" | "impl" | "trait" | "struct" | "enum" | "union") => {
                        ItemEnd::BlockOrSemicolon
                    }
                    // A field, a statement, an expression: left in (a limitation).
                    _ => {
                        self.i = start;
                        return;
                    }
                }
            }
        };
        let mut depth = 0usize;
        let mut k = j;
        while k < self.toks.len() {
            match self.toks[k].tok {
                Tok::Punct(';') if depth == 0 => break,
                Tok::Punct('{') if depth == 0 && matches!(end, ItemEnd::BlockOrSemicolon) => {
                    k = self.matching(k);
                    break;
                }
                Tok::Punct('(' | '[' | '{') => depth += 1,
                Tok::Punct(')' | ']' | '}') => depth = depth.saturating_sub(1),
                _ => {}
            }
            k += 1;
        }
        self.i = k + 1;
    }

    /// At `mod`: a declaration `mod x;` is no edge; an inline `mod x { .. }`
    /// is entered (or skipped whole when it is `mod tests`).
    fn module_item(&mut self) {
        let Some(name) = self.ident(self.i + 1).map(str::to_owned) else {
            self.i += 1;
            return;
        };
        if self.is_punct(self.i + 2, ';') {
            self.i += 3;
        } else if self.is_punct(self.i + 2, '{') {
            if name == "tests" {
                self.i = self.matching(self.i + 2) + 1;
            } else {
                self.depth += 1;
                self.inline.push((name, self.depth));
                self.i += 3;
            }
        } else {
            self.i += 1;
        }
    }

    /// At `pub`: `pub use` / `pub(..) use` is a re-export, no edge.
    fn visibility(&mut self) {
        let mut j = self.i + 1;
        if self.is_punct(j, '(') {
            j = self.matching(j) + 1;
        }
        self.i = j;
        if self.ident(j) == Some("use") {
            self.use_item(true);
        }
    }

    /// At `use`: a use declaration (not `use<'a>` precise capturing).
    fn use_item(&mut self, reexport: bool) {
        if self.is_punct(self.i + 1, '<') {
            self.i += 1;
            return;
        }
        let mut j = self.i + 1;
        let mut leaves = Vec::new();
        parse_use_tree(self.toks, &mut j, Vec::new(), &mut leaves);
        while j < self.toks.len() && !self.is_punct(j, ';') {
            j += 1;
        }
        self.i = j + 1;
        if reexport {
            return;
        }
        let current = self.current();
        for (segments, line) in leaves {
            self.edge(&segments, &current, line);
        }
    }

    /// At an identifier in code: the start of a path `crate::..`, `super::..`,
    /// `self::..` or `child::..` is an edge.
    fn path_in_code(&mut self) {
        let start = self.i;
        let preceded = start > 0
            && matches!(
                self.toks[start - 1].tok,
                Tok::PathSep | Tok::Punct('$' | '.')
            );
        if preceded || !self.is_path_sep(start + 1) {
            self.i += 1;
            return;
        }
        let mut segments = Vec::new();
        let mut line = self.toks[start].line;
        let mut k = start;
        while let Some(word) = self.ident(k) {
            segments.push(word.to_owned());
            line = self.toks[k].line;
            if self.is_path_sep(k + 1) && self.ident(k + 2).is_some() {
                k += 2;
            } else {
                k += 1;
                break;
            }
        }
        self.i = k;
        let current = self.current();
        self.edge(&segments, &current, line);
    }

    fn edge(&mut self, segments: &[String], current: &[String], line: usize) {
        if let Some(target) = resolve(segments, current, self.modules) {
            let written = match segments {
                [path @ .., last] if last == "self" && !path.is_empty() => path,
                _ => segments,
            };
            self.out.edges.push(RawEdge {
                target,
                line,
                path: written.join("::"),
            });
        }
    }
}

/// `cfg(test)` or `cfg(all(.., test, ..))`.
fn is_cfg_test(content: &[Token]) -> bool {
    let words: Vec<&Tok> = content.iter().map(|t| &t.tok).collect();
    let ident = |k: usize, word: &str| words.get(k).is_some_and(|t| **t == Tok::Ident(word.into()));
    let punct = |k: usize, ch: char| words.get(k).is_some_and(|t| **t == Tok::Punct(ch));
    if !(ident(0, "cfg") && punct(1, '(')) {
        return false;
    }
    if ident(2, "test") && punct(3, ')') {
        return true;
    }
    if !(ident(2, "all") && punct(3, '(')) {
        return false;
    }
    // The arguments of `all(..)` at its own depth.
    let mut depth = 0usize;
    for k in 4..words.len() {
        match words[k] {
            Tok::Punct('(') => depth += 1,
            Tok::Punct(')') if depth == 0 => return false,
            Tok::Punct(')') => depth -= 1,
            Tok::Ident(word) if depth == 0 && word == "test" => {
                let before = words[k - 1];
                if (*before == Tok::Punct('(') || *before == Tok::Punct(','))
                    && (punct(k + 1, ',') || punct(k + 1, ')'))
                {
                    return true;
                }
            }
            _ => {}
        }
    }
    false
}

/// Parses a use tree at `*j`, pushing each leaf path (with the line of its
/// last segment): `crate::{a, b::{c, d as e}, f::*}` gives `crate::a`,
/// `crate::b::c`, `crate::b::d`, `crate::f::*`. Stops before `;`.
fn parse_use_tree(
    toks: &[Token],
    j: &mut usize,
    prefix: Vec<String>,
    out: &mut Vec<(Vec<String>, usize)>,
) {
    let mut path = prefix;
    if toks.get(*j).is_some_and(|t| t.tok == Tok::PathSep) {
        if path.is_empty() {
            path.push("::".to_owned());
        }
        *j += 1;
    }
    while let Some(token) = toks.get(*j) {
        match &token.tok {
            Tok::Ident(word) => {
                path.push(word.clone());
                let line = token.line;
                *j += 1;
                if toks.get(*j).is_some_and(|t| t.tok == Tok::PathSep) {
                    *j += 1;
                    continue;
                }
                if toks
                    .get(*j)
                    .is_some_and(|t| t.tok == Tok::Ident("as".into()))
                {
                    *j += 2;
                }
                out.push((path, line));
                return;
            }
            Tok::Punct('*') => {
                path.push("*".to_owned());
                out.push((path, token.line));
                *j += 1;
                return;
            }
            Tok::Punct('{') => {
                *j += 1;
                while let Some(inner) = toks.get(*j) {
                    match inner.tok {
                        Tok::Punct('}') => {
                            *j += 1;
                            return;
                        }
                        Tok::Punct(',') => *j += 1,
                        Tok::Punct(';') => return,
                        _ => {
                            let before = *j;
                            parse_use_tree(toks, j, path.clone(), out);
                            if *j == before {
                                *j += 1; // malformed: move on
                            }
                        }
                    }
                }
                return;
            }
            _ => return,
        }
    }
}

/// The module with its own file that `segments`, written in module
/// `current`, names: the longest such prefix of the path it resolves to.
/// `None` for paths into other crates or to items not in a child module.
fn resolve(segments: &[String], current: &[String], modules: &HashSet<ModPath>) -> Option<ModPath> {
    let first = segments.first()?;
    let mut rest = segments;
    let mut full: ModPath = match first.as_str() {
        "::" => return None,
        "crate" => {
            rest = &segments[1..];
            Vec::new()
        }
        "self" | "super" => {
            let mut base = current.to_vec();
            while let Some(segment) = rest.first() {
                match segment.as_str() {
                    "self" => {}
                    "super" => {
                        base.pop()?;
                    }
                    _ => break,
                }
                rest = &rest[1..];
            }
            base
        }
        name => {
            let mut child = current.to_vec();
            child.push(name.to_owned());
            if !modules.contains(&child) {
                return None;
            }
            current.to_vec()
        }
    };
    full.extend(
        rest.iter()
            .filter(|segment| *segment != "self" && *segment != "*")
            .cloned(),
    );
    let longest = (0..=full.len())
        .rev()
        .map(|n| &full[..n])
        .find(|prefix| modules.contains(*prefix))
        .unwrap_or(&[]);
    Some(longest.to_vec())
}

// ---------------------------------------------------------------------------
// The graph

#[derive(Debug, Clone, PartialEq)]
struct Edge {
    from: usize,
    to: usize,
    line: usize,
    path: String,
}

#[derive(Debug)]
struct Graph {
    /// Per file: false when it is test code.
    included: Vec<bool>,
    edges: Vec<Edge>,
    /// `file:line` of `#[path]` attributes.
    path_attributes: Vec<String>,
    /// `file:line` where the brackets stop matching after blanking.
    misread: Vec<String>,
}

impl Graph {
    fn build(files: &[SourceFile]) -> Graph {
        let mut by_crate: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for (index, file) in files.iter().enumerate() {
            by_crate.entry(&file.krate).or_default().push(index);
        }
        let mut included = vec![true; files.len()];
        let mut raw: Vec<(usize, usize, RawEdge)> = Vec::new();
        let mut path_attributes = Vec::new();
        let mut misread = Vec::new();
        for members in by_crate.values() {
            // Module -> file; the root has two files when the crate has a lib
            // and a bin, but an edge to the root is never counted.
            let mut file_of: HashMap<ModPath, usize> = HashMap::new();
            for &index in members {
                file_of.entry(files[index].module.clone()).or_insert(index);
            }
            let modules: HashSet<ModPath> = file_of.keys().cloned().collect();
            let mut test_only: Vec<ModPath> = Vec::new();
            let mut scans = Vec::new();
            for &index in members {
                let scan = scan_file(&files[index].text, &files[index].module, &modules);
                if scan.test_only_file {
                    test_only.push(files[index].module.clone());
                }
                test_only.extend(scan.test_only_children.iter().cloned());
                scans.push((index, scan));
            }
            for &index in members {
                let module = &files[index].module;
                if module.iter().any(|segment| segment == "tests")
                    || test_only.iter().any(|test| module.starts_with(test))
                {
                    included[index] = false;
                }
            }
            for (index, scan) in scans {
                if let Some(line) = scan.unbalanced {
                    misread.push(format!("{}:{line}", files[index].display));
                }
                if !included[index] {
                    continue;
                }
                for line in &scan.path_attributes {
                    path_attributes.push(format!("{}:{line}", files[index].display));
                }
                for edge in scan.edges {
                    // The file itself, or an ancestor module: not an edge.
                    if files[index].module.starts_with(&edge.target) {
                        continue;
                    }
                    if let Some(&to) = file_of.get(&edge.target) {
                        raw.push((index, to, edge));
                    }
                }
            }
        }
        let edges = raw
            .into_iter()
            .filter(|(from, to, _)| from != to && included[*to])
            .map(|(from, to, edge)| Edge {
                from,
                to,
                line: edge.line,
                path: edge.path,
            })
            .collect();
        Graph {
            included,
            edges,
            path_attributes,
            misread,
        }
    }

    /// The strongly connected components with more than one file, each
    /// sorted, in file order.
    fn cycles(&self) -> Vec<Vec<usize>> {
        let n = self.included.len();
        let mut next: Vec<Vec<usize>> = vec![Vec::new(); n];
        for edge in &self.edges {
            if !next[edge.from].contains(&edge.to) {
                next[edge.from].push(edge.to);
            }
        }
        let mut tarjan = Tarjan {
            next: &next,
            index: vec![None; n],
            low: vec![0; n],
            on_stack: vec![false; n],
            stack: Vec::new(),
            counter: 0,
            components: Vec::new(),
        };
        for node in 0..n {
            if tarjan.index[node].is_none() {
                tarjan.visit(node);
            }
        }
        let mut cycles: Vec<Vec<usize>> = tarjan
            .components
            .into_iter()
            .filter(|component| component.len() > 1)
            .map(|mut component| {
                component.sort_unstable();
                component
            })
            .collect();
        cycles.sort();
        cycles
    }

    fn report(&self, files: &[SourceFile], cycles: &[Vec<usize>]) -> String {
        let mut out = format!(
            "{} import cycle(s) between source files: each file below reaches itself \
             through `use` or paths (move what they share into a module that imports \
             none of them)\n",
            cycles.len()
        );
        for (number, cycle) in cycles.iter().enumerate() {
            let _ = writeln!(out, "\ncycle {}: {} files", number + 1, cycle.len());
            for &file in cycle {
                let _ = writeln!(out, "    {}", files[file].display);
            }
            let mut pairs: BTreeMap<(&str, &str), Vec<&Edge>> = BTreeMap::new();
            for edge in &self.edges {
                if cycle.contains(&edge.from) && cycle.contains(&edge.to) {
                    pairs
                        .entry((&files[edge.from].display, &files[edge.to].display))
                        .or_default()
                        .push(edge);
                }
            }
            for ((from, to), edges) in pairs {
                let _ = writeln!(out, "  {from} -> {to}");
                // One line per source line, with every path written on it.
                let mut by_line: BTreeMap<usize, Vec<&str>> = BTreeMap::new();
                for edge in edges {
                    let paths = by_line.entry(edge.line).or_default();
                    if !paths.contains(&edge.path.as_str()) {
                        paths.push(&edge.path);
                    }
                }
                for (line, paths) in by_line {
                    let _ = writeln!(out, "      {from}:{line}  {}", paths.join(", "));
                }
            }
        }
        out
    }
}

struct Tarjan<'a> {
    next: &'a [Vec<usize>],
    index: Vec<Option<usize>>,
    low: Vec<usize>,
    on_stack: Vec<bool>,
    stack: Vec<usize>,
    counter: usize,
    components: Vec<Vec<usize>>,
}

impl Tarjan<'_> {
    fn visit(&mut self, node: usize) {
        self.index[node] = Some(self.counter);
        self.low[node] = self.counter;
        self.counter += 1;
        self.stack.push(node);
        self.on_stack[node] = true;
        for &to in &self.next[node] {
            match self.index[to] {
                None => {
                    self.visit(to);
                    self.low[node] = self.low[node].min(self.low[to]);
                }
                Some(index) if self.on_stack[to] => self.low[node] = self.low[node].min(index),
                Some(_) => {}
            }
        }
        if Some(self.low[node]) == self.index[node] {
            let mut component = Vec::new();
            while let Some(top) = self.stack.pop() {
                self.on_stack[top] = false;
                component.push(top);
                if top == node {
                    break;
                }
            }
            self.components.push(component);
        }
    }
}

// ---------------------------------------------------------------------------
// The checker's own tests

mod checker {
    use super::*;

    fn module(path: &str) -> ModPath {
        if path.is_empty() {
            Vec::new()
        } else {
            path.split("::").map(str::to_owned).collect()
        }
    }

    fn modules(paths: &[&str]) -> HashSet<ModPath> {
        paths.iter().map(|path| module(path)).collect()
    }

    fn targets(text: &str, at: &str, known: &[&str]) -> Vec<String> {
        scan_file(text, &module(at), &modules(known))
            .edges
            .into_iter()
            .map(|edge| edge.target.join("::"))
            .collect()
    }

    fn file(krate: &str, rel: &str, text: &str) -> SourceFile {
        let components: Vec<String> = rel.split('/').map(str::to_owned).collect();
        SourceFile {
            krate: krate.to_owned(),
            display: format!("{krate}/src/{rel}"),
            module: module_path(&components),
            text: text.to_owned(),
        }
    }

    #[test]
    fn module_paths_follow_the_2018_layout() {
        let of = |rel: &str| {
            let components: Vec<String> = rel.split('/').map(str::to_owned).collect();
            module_path(&components).join("::")
        };
        assert_eq!(of("lib.rs"), "");
        assert_eq!(of("main.rs"), "");
        assert_eq!(of("a.rs"), "a");
        assert_eq!(of("a/mod.rs"), "a");
        assert_eq!(of("a/b.rs"), "a::b");
        assert_eq!(of("a/lib.rs"), "a::lib");
    }

    #[test]
    fn grouped_use_trees_give_one_edge_per_leaf() {
        let text = "use crate::{a, b::{c::X, d as e}, f::*, g::{self, Y}};\nuse ::std::io;\n";
        let found = targets(text, "z", &["", "a", "b", "b::c", "f", "g", "z"]);
        assert_eq!(found, ["a", "b::c", "b", "f", "g", "g"]);
        let lines: Vec<usize> = scan_file(
            "use crate::{\n    a,\n    b::c,\n};",
            &module("z"),
            &modules(&["", "a", "b", "b::c", "z"]),
        )
        .edges
        .iter()
        .map(|edge| edge.line)
        .collect();
        assert_eq!(lines, [2, 3]);
    }

    #[test]
    fn comments_strings_and_chars_are_blanked_but_lifetimes_kept() {
        let text = r####"
// use crate::a;
/// see [`crate::b::f`]
/* crate::c /* nested crate::c */ still comment crate::c */
fn f<'a>(s: &'a str) -> &'a str {
    let _ = "crate::d::x()";
    let _ = r#"crate::d "quoted" crate::d"#;
    let _ = br##"crate::d"#"##;
    let _ = b"crate::d";
    let _ = ('"', '\'', '\\', '{', b'}', '\u{1F600}');
    crate::g::call();
    'outer: loop { break 'outer; }
    s
}
"####;
        let found = targets(text, "z", &["", "a", "b", "c", "d", "g", "z"]);
        assert_eq!(found, ["g"]);
        let stripped = strip_comments_and_literals(text);
        assert_eq!(stripped.lines().count(), text.lines().count());
        assert!(stripped.contains("fn f<'a>(s: &'a str)"));
        assert_eq!(unbalanced_at(&tokenize(&stripped)), None);
        assert_eq!(
            scan_file(text, &module("z"), &modules(&[])).unbalanced,
            None
        );
        // Were `'{'` read as a lifetime, the braces would not match.
        assert_eq!(
            unbalanced_at(&tokenize("fn f() {\n let _ = '{';\n")),
            Some(1)
        );
    }

    #[test]
    fn super_and_self_resolve_from_the_file_and_inline_modules() {
        let known = [
            "",
            "prune",
            "prune::budget",
            "prune::logs",
            "prune::logs::checkpoints",
            "prune::logs::filter",
        ];
        let text = "use super::checkpoints::Checkpoints;\n\
                    fn f() { super::super::budget::plan(); self::helper(); }\n\
                    mod inner { use super::super::checkpoints::Mark; }\n";
        let found = targets(text, "prune::logs::filter", &known);
        assert_eq!(
            found,
            [
                "prune::logs::checkpoints",
                "prune::budget",
                "prune::logs::filter",
                "prune::logs::checkpoints"
            ]
        );
        // A deep path goes to its longest prefix with a file.
        assert_eq!(
            resolve(
                &module("crate::prune::logs::filter::tests::model"),
                &[],
                &modules(&known)
            ),
            Some(module("prune::logs::filter"))
        );
        // Above the crate root, or into another crate: nothing.
        assert_eq!(
            resolve(&module("super::super::x"), &module("a"), &modules(&known)),
            None
        );
        assert_eq!(
            resolve(
                &module("v0_prune_shared::prune::Cutoff"),
                &[],
                &modules(&known)
            ),
            None
        );
    }

    #[test]
    fn bare_child_modules_count_but_other_bare_paths_do_not() {
        let text = "mod cli;\nmod run;\nuse cli::Parsed;\nuse other_crate::x;\n\
                    fn main() { run::go(); platform::x(); tracing::info!(); v.run::<u8>(); }\n";
        let found = targets(text, "", &["", "cli", "run"]);
        assert_eq!(found, ["cli", "run"]);
    }

    #[test]
    fn reexports_mod_declarations_and_test_code_are_not_edges() {
        let text = "\
mod a;
pub mod b;
pub use a::X;
pub(crate) use crate::b::Y;
pub(super) use self::a::{Z, W};
#[cfg(test)]
mod tests { use crate::c::T; }
mod tests { use crate::c::T; }
#[cfg(test)]
#[allow(dead_code)]
pub(crate) fn helper() -> [u8; 2] { crate::c::f() }
#[cfg(test)]
use crate::c::U;
#[cfg(all(test, unix))]
impl Foo { fn g() { crate::c::g(); } }
#[cfg(test)]
mod fixtures;
#[cfg(any(test, unix))]
fn kept() { crate::d::h(); }
#[cfg(not(test))]
fn kept_too() { crate::d::i(); }
";
        let scan = scan_file(
            text,
            &module("z"),
            &modules(&["", "a", "b", "c", "d", "z", "z::fixtures"]),
        );
        let found: Vec<String> = scan
            .edges
            .iter()
            .map(|edge| edge.target.join("::"))
            .collect();
        assert_eq!(found, ["d", "d"]);
        assert_eq!(scan.test_only_children, [module("z::fixtures")]);
        assert!(!scan.test_only_file);
        assert!(
            scan_file(
                "#![cfg(test)]\nuse crate::a::X;",
                &module("z"),
                &modules(&["a"])
            )
            .test_only_file
        );
    }

    #[test]
    fn macro_crate_paths_and_precise_capturing_are_not_edges() {
        let text = "fn f() -> impl Sized + use<> { $crate::a::x() }\n#[command(after_help = crate::b::HELP)]\nstruct S;";
        assert_eq!(targets(text, "z", &["", "a", "b", "z"]), ["b"]);
    }

    #[test]
    fn ancestor_and_self_edges_are_dropped_and_loops_are_found() {
        let files = [
            file("k", "lib.rs", "mod a; mod b; mod c; mod d; use a::X;"),
            // A child using its parent (by super:: or crate::) or the root: no edge.
            file(
                "k",
                "a/mod.rs",
                "mod inner; use crate::b::B; fn f() { crate::f(); self::g(); inner::h(); }",
            ),
            file(
                "k",
                "a/inner.rs",
                "use super::*; use crate::a::X; fn f() { super::X::new(); crate::c::y(); }",
            ),
            file("k", "b.rs", "use crate::c::C;"),
            file(
                "k",
                "c.rs",
                "pub use crate::d::D; fn f() { crate::a::x(); }",
            ),
            file(
                "k",
                "d.rs",
                "fn f() {}\n#[cfg(test)]\nmod tests { use crate::b::x; }",
            ),
            file("k", "d/tests.rs", "use crate::c::C;"),
            // Another crate with the same module names: no link across.
            file("other", "lib.rs", "mod b;"),
            file("other", "b.rs", "use crate::a::X;"),
        ];
        let graph = Graph::build(&files);
        assert!(!graph.included[6], "tests.rs is left out");
        let pairs: Vec<(String, String)> = graph
            .edges
            .iter()
            .map(|edge| {
                (
                    files[edge.from].display.clone(),
                    files[edge.to].display.clone(),
                )
            })
            .collect();
        assert!(
            !pairs
                .iter()
                .any(|(from, to)| from == "k/src/a/inner.rs" && to == "k/src/a/mod.rs")
        );
        assert!(!pairs.iter().any(|(from, _)| from == "k/src/d.rs"));
        let cycles = graph.cycles();
        let named: Vec<Vec<&str>> = cycles
            .iter()
            .map(|cycle| {
                cycle
                    .iter()
                    .map(|&file| files[file].display.as_str())
                    .collect()
            })
            .collect();
        // a -> b -> c -> a, and a/inner -> c -> a -> a/inner (a's child).
        assert_eq!(
            named,
            [vec![
                "k/src/a/mod.rs",
                "k/src/a/inner.rs",
                "k/src/b.rs",
                "k/src/c.rs"
            ]]
        );
        let report = graph.report(&files, &cycles);
        assert!(report.contains("k/src/c.rs -> k/src/a/mod.rs"), "{report}");
        assert!(report.contains("k/src/c.rs:1  crate::a::x"), "{report}");
    }
}
