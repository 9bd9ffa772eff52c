//! `v0-prune man [--out-dir DIR]`: the man page, in roff, generated from the
//! very clap definition that parses the command line (`Cli::command()`), so
//! the page cannot drift from the flags or from `--help`.
//!
//! clap_mangen renders the name, synopsis, options and subcommands. Our help
//! texts end in `Examples:` and `Exit status:` blocks of `command  what it
//! does` lines, which clap_mangen would run together into one paragraph; they
//! become man sections (`EXAMPLES`, `EXIT STATUS`) of tagged paragraphs here,
//! and the text before them is the description.

use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::CommandFactory as _;
use clap_mangen::Man;
use clap_mangen::roff::{Roff, bold, roman};

use super::{print_document, report_error};
use crate::cli::args::{Cli, ManArgs};
use crate::cli::exit_code::Exit;

/// `v0-prune man` from `main`: the page on stdout, or the pages in a directory.
pub fn main(args: &ManArgs) -> Exit {
    let Some(dir) = &args.out_dir else {
        return match page() {
            Ok(page) => print_document(&page, "the man page"),
            Err(error) => report_error(&error),
        };
    };
    let written = match write_pages(dir) {
        Ok(written) => written,
        Err(error) => return report_error(&error),
    };
    let mut listing = Vec::new();
    for path in written {
        listing.extend_from_slice(path.as_os_str().as_encoded_bytes());
        listing.push(b'\n');
    }
    print_document(&listing, "the list of pages")
}

/// `v0-prune.1`: the page of the whole command.
pub fn page() -> anyhow::Result<Vec<u8>> {
    render(&command())
}

/// Writes `v0-prune.1` and a page per subcommand into `dir` (created if
/// needed); returns their paths, the main page first.
pub fn write_pages(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let command = command();
    let pages = std::iter::once(&command).chain(
        command
            .get_subcommands()
            .filter(|subcommand| !subcommand.is_hide_set()),
    );
    let mut written = Vec::new();
    for page in pages {
        let path = dir.join(format!("{}.1", page_name(page)));
        std::fs::write(&path, render(page)?)
            .with_context(|| format!("writing {}", path.display()))?;
        written.push(path);
    }
    Ok(written)
}

/// The command as the pages describe it: built (so subcommands know their
/// full names), without clap's `help` subcommand, which `--help` covers, and
/// with the package's description as its one line in NAME (`--help`'s first
/// line is v0's, `v0 prune - Remove operation state`, which reads oddly
/// after `v0-prune - `).
fn command() -> clap::Command {
    let description = env!("CARGO_PKG_DESCRIPTION");
    let about = description
        .strip_prefix("v0-prune: ")
        .unwrap_or(description);
    let mut command = Cli::command().about(about).disable_help_subcommand(true);
    command.build();
    command
}

/// `v0-prune` or `v0-prune-status`: the page's name, as its SEE ALSO-style
/// references in the main page's subcommand list spell it.
fn page_name(command: &clap::Command) -> &str {
    command
        .get_display_name()
        .unwrap_or_else(|| command.get_name())
}

/// One page in roff.
fn render(command: &clap::Command) -> anyhow::Result<Vec<u8>> {
    let after_help = command
        .get_after_long_help()
        .or_else(|| command.get_after_help())
        .map(ToString::to_string)
        .unwrap_or_default();
    let blocks = split_after_help(&after_help);
    let man = Man::new(command.clone())
        .date(env!("V0_PRUNE_COMMIT_DATE"))
        // The page's footer; the commit is in the VERSION section.
        .source(concat!("v0-prune ", env!("CARGO_PKG_VERSION")))
        .manual("User Commands");

    // Each of clap_mangen's section renderers starts its output with the
    // same roff preamble; the page keeps the first only.
    let mut preamble = Vec::new();
    Roff::new().to_writer(&mut preamble)?;
    let mut out = Vec::new();
    let mut section = |render: &dyn Fn(&mut Vec<u8>) -> io::Result<()>| -> io::Result<()> {
        let mut chunk = Vec::new();
        render(&mut chunk)?;
        let body = match chunk.strip_prefix(preamble.as_slice()) {
            Some(body) if !out.is_empty() => body,
            _ => &chunk,
        };
        out.write_all(body)
    };
    section(&|w| man.render_title(w))?;
    section(&|w| man.render_name_section(w))?;
    section(&|w| man.render_synopsis_section(w))?;
    if blocks.description.iter().all(|line| line.trim().is_empty()) {
        // clap_mangen's: the one line of NAME again, the best there is.
        section(&|w| man.render_description_section(w))?;
    } else {
        section(&|w| {
            let mut roff = Roff::new();
            roff.control("SH", ["DESCRIPTION"]);
            roff.extend([lines_roff(&blocks.description)]);
            roff.to_writer(w)
        })?;
    }
    section(&|w| man.render_options_section(w))?;
    if command.get_subcommands().any(|sub| !sub.is_hide_set()) {
        section(&|w| man.render_subcommands_section(w))?;
    }
    for (heading, lines) in &blocks.sections {
        section(&|w| {
            let mut roff = Roff::new();
            roff.control("SH", [heading.as_str()]);
            roff.extend([lines_roff(lines)]);
            roff.to_writer(w)
        })?;
    }
    if command.get_version().is_some() {
        section(&|w| man.render_version_section(w))?;
    }
    Ok(out)
}

/// A help text's tail, split into what goes on describing the command and
/// the sections that follow (`Examples:` becomes `EXAMPLES`).
#[derive(Debug, Default, PartialEq)]
struct AfterHelp<'a> {
    description: Vec<&'a str>,
    sections: Vec<(String, Vec<&'a str>)>,
}

/// A heading is an unindented line that is only a short title and a colon:
/// `Examples:`, `Exit status:` (not `Keys: r run now, ...`).
fn split_after_help(text: &str) -> AfterHelp<'_> {
    let mut blocks = AfterHelp::default();
    for line in text.lines() {
        let heading = line
            .strip_suffix(':')
            .filter(|title| !title.starts_with(' ') && !title.is_empty() && title.len() <= 30);
        match (heading, blocks.sections.last_mut()) {
            (Some(title), _) => blocks.sections.push((title.to_uppercase(), Vec::new())),
            (None, Some((_, lines))) => lines.push(line),
            (None, None) => blocks.description.push(line),
        }
    }
    blocks
}

/// Lines of a help block in roff: unindented lines are running text (a blank
/// line starts a paragraph); an indented `first  rest` line (two spaces or
/// more between) is a tagged paragraph, `first` in bold.
fn lines_roff(lines: &[&str]) -> Roff {
    let mut roff = Roff::new();
    let end = lines
        .iter()
        .rposition(|line| !line.trim().is_empty())
        .map_or(0, |last| last + 1);
    for line in &lines[..end] {
        if line.trim().is_empty() {
            roff.control("PP", []);
        } else if line.starts_with(' ') {
            let line = line.trim();
            let (tag, text) = match line.split_once("  ") {
                Some((tag, text)) => (tag.trim_end(), text.trim()),
                None => (line, ""),
            };
            roff.control("TP", []);
            roff.text([bold(tag)]);
            if !text.is_empty() {
                roff.text([roman(text)]);
            }
        } else {
            roff.text([roman(line.trim())]);
        }
    }
    roff
}

#[cfg(test)]
mod tests {
    use std::process::{Command, Stdio};

    use super::*;

    fn text(page: &[u8]) -> &str {
        std::str::from_utf8(page).expect("the page is UTF-8")
    }

    #[test]
    fn the_page_is_roff_with_every_subcommand_and_flag() {
        let page = page().expect("render the page");
        let page = text(&page);
        assert!(page.starts_with(".ie") || page.starts_with(".TH"), "{page}");
        assert!(page.contains("\n.TH v0-prune 1 "), "{page}");
        for name in crate::cli::subcommand_names() {
            assert!(
                page.contains(&format!("v0\\-prune\\-{name}(1)")),
                "no {name}: {page}"
            );
        }
        for flag in [
            "\\-\\-dry\\-run",
            "\\-\\-build\\-dir",
            "\\-\\-wait",
            "\\-\\-version",
        ] {
            assert!(page.contains(flag), "no {flag}: {page}");
        }
        for heading in [
            "NAME",
            "SYNOPSIS",
            "DESCRIPTION",
            "OPTIONS",
            "EXAMPLES",
            "\"EXIT STATUS\"",
        ] {
            assert!(
                page.contains(&format!("\n.SH {heading}\n")),
                "no {heading}: {page}"
            );
        }
        assert!(!page.contains(".SH EXTRA"), "{page}");
        // One preamble, not one per section.
        assert_eq!(page.matches(".ie \\n(.g").count(), 1, "{page}");
    }

    #[test]
    fn the_page_starts_with_th_after_its_preamble() {
        let page = page().expect("render the page");
        let first_macro = text(&page)
            .lines()
            .find(|line| !line.starts_with(".ie") && !line.starts_with(".el"))
            .expect("a line");
        assert!(first_macro.starts_with(".TH "), "{first_macro}");
    }

    #[test]
    fn out_dir_gets_a_page_per_subcommand() {
        let dir = tempfile::tempdir().expect("temp dir");
        let out = dir.path().join("man1");
        let written = write_pages(&out).expect("write the pages");
        let names: Vec<String> = written
            .iter()
            .map(|path| {
                path.file_name()
                    .expect("a file name")
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        assert_eq!(
            names,
            [
                "v0-prune.1",
                "v0-prune-top.1",
                "v0-prune-status.1",
                "v0-prune-ls.1",
                "v0-prune-shutdown.1",
                "v0-prune-events.1",
                "v0-prune-daemon.1",
                "v0-prune-completions.1",
                "v0-prune-man.1",
                "v0-prune-tail.1",
            ]
        );
        let status = std::fs::read(out.join("v0-prune-status.1")).expect("read");
        let status = text(&status);
        assert!(status.contains("\n.TH v0-prune-status 1 "), "{status}");
        assert!(
            status.contains("\\-\\-json") && status.contains("\n.SH EXAMPLES\n"),
            "{status}"
        );
        assert!(status.contains("\n.SH \"EXIT STATUS\"\n"), "{status}");
    }

    #[test]
    fn help_blocks_become_sections_of_tagged_lines() {
        let blocks = split_after_help(
            "Keys: r run now,\nq quit.\n\nExamples:\n  v0-prune top    watch it\n\nExit status:\n  0  fine",
        );
        assert_eq!(blocks.description, ["Keys: r run now,", "q quit.", ""]);
        let headings: Vec<&str> = blocks.sections.iter().map(|(h, _)| h.as_str()).collect();
        assert_eq!(headings, ["EXAMPLES", "EXIT STATUS"]);
        let roff = lines_roff(&blocks.sections[0].1).to_roff();
        assert_eq!(roff, ".TP\n\\fBv0\\-prune top\\fR\nwatch it\n");
    }

    /// groff formats the page without a warning.
    #[test]
    #[cfg_attr(
        not(v0_prune_has_groff),
        ignore = "needs groff (apt install groff-base)"
    )]
    fn groff_formats_the_page_cleanly() {
        let mut groff = Command::new("groff")
            .args(["-man", "-Tutf8", "-ww", "-z"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("running groff");
        let page = page().expect("render the page");
        groff
            .stdin
            .take()
            .expect("groff's stdin")
            .write_all(&page)
            .expect("feed groff");
        let output = groff.wait_with_output().expect("run groff");
        let warnings = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success() && warnings.is_empty(), "{warnings}");
    }
}
