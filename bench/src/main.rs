//! `v0-prune-bench`: is pruning as fast as the disk, and does steady-state
//! cost follow what changed? Generates its data with `shared::demo`, times
//! each case against baselines run in the same invocation on the same files
//! (`cp`, `cat`, an `awk` filter, `jq`), prints a table of medians and ratios
//! and writes it as JSON. The daemon, CLI and dashboard cases run the real
//! `v0-prune` and `v0-prune-daemon` binaries as separate processes.
//!
//! `cargo run --release -p v0-prune-bench` (default sizes, a few minutes),
//! `-- --full` (the sizes), `-- --quick` (tiny, for the smoke test).

mod cases;
mod data;
mod machine;
mod measure;
mod procs;
mod report;

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use serde::Serialize;

use cases::{Ctx, Sizes, memory::ChildTask};
use machine::Machine;
use measure::Rounds;
use report::{CaseResult, Outcome};

/// Scratch directories are `v0-prune-bench.<pid>.<random>`: the pid lets a
/// later run remove what an interrupted one (Ctrl-C, kill) left behind.
const SCRATCH_PREFIX: &str = "v0-prune-bench.";

/// Version of the JSON layout; bump when a field changes meaning.
const JSON_VERSION: u32 = 1;

#[derive(Debug, Parser)]
#[command(
    name = "v0-prune-bench",
    about = "Benchmarks the pruning engine against cp, cat, awk and jq on the same generated files",
    after_help = "Run it with `cargo run --release -p v0-prune-bench`. Ratios matter, not absolute times: \
                  baselines run interleaved with our code, in the same invocation, on the same files."
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// Tiny sizes, a few seconds: checks the benchmark code itself.
    #[arg(long, conflicts_with = "full")]
    quick: bool,
    /// The full sizes (1 GiB log); takes several minutes.
    #[arg(long)]
    full: bool,
    /// Where to write the results as JSON [default: <target dir>/bench/latest.json].
    #[arg(long, value_name = "PATH")]
    json: Option<PathBuf>,
    /// Only these cases (repeatable); see the JSON ids.
    #[arg(long, value_name = "CASE")]
    only: Vec<String>,
    /// Kept rounds per case (overrides the mode's).
    #[arg(long, value_name = "N")]
    iterations: Option<usize>,
    /// Discarded warm-up rounds per case (overrides the mode's).
    #[arg(long, value_name = "N")]
    warmup: Option<usize>,
    /// Directory for the generated data [default: the system temp dir]; use ext4 or xfs.
    #[arg(long, value_name = "DIR")]
    tmp: Option<PathBuf>,
    /// Keep the generated data (its path is printed).
    #[arg(long)]
    keep: bool,
    /// Never build `v0-prune` and `v0-prune-daemon`: use the ones beside this
    /// executable as they are (by default, when started by cargo, missing or
    /// stale ones are built first with the same profile).
    #[arg(long)]
    no_build: bool,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Internal: one measured task in a child process (memory case).
    #[command(hide = true)]
    Child {
        #[command(subcommand)]
        task: ChildTask,
    },
}

/// The results file.
#[derive(Debug, Serialize)]
struct Results<'a> {
    version: u32,
    mode: &'static str,
    started_at: String,
    seconds: f64,
    /// 1-minute load average at the start and the end: noise from other work.
    load_average: [Option<f64>; 2],
    rounds: RoundsJson,
    sizes: &'a Sizes,
    cutoff: String,
    machine: Machine,
    cases: &'a [CaseResult],
}

#[derive(Debug, Serialize)]
struct RoundsJson {
    warmup: usize,
    iterations: usize,
}

fn main() -> std::process::ExitCode {
    match run() {
        Ok(code) => code,
        Err(err) => {
            eprintln!("v0-prune-bench: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run() -> Result<std::process::ExitCode> {
    let cli = Cli::parse();
    if let Some(Command::Child { task }) = cli.command {
        cases::memory::child(task)?;
        return Ok(std::process::ExitCode::SUCCESS);
    }
    let known = cases::ids();
    for id in &cli.only {
        if !known.contains(&id.as_str()) {
            bail!("unknown case {id:?}; the cases are: {}", known.join(", "));
        }
    }
    let (mode, sizes, mut rounds) = mode(&cli);
    if let Some(n) = cli.iterations {
        rounds.iterations = n.max(1);
    }
    if let Some(n) = cli.warmup {
        rounds.warmup = n;
    }
    let json_path = match &cli.json {
        Some(path) => path.clone(),
        None => default_json_path()?,
    };
    let parent = cli.tmp.clone().unwrap_or_else(std::env::temp_dir);
    check_space(&parent, &sizes)?;
    sweep_abandoned(&parent);
    let scratch = tempfile::Builder::new()
        .prefix(&format!("{SCRATCH_PREFIX}{}.", std::process::id()))
        .tempdir_in(&parent)
        .with_context(|| format!("creating a scratch directory in {}", parent.display()))?;
    let machine = Machine::describe(scratch.path());
    let discard = machine::discards(machine.data_mount_options.as_deref());
    eprintln!(
        "v0-prune-bench ({mode}): data in {} ({}{}), {} warm-up + {} timed rounds per case",
        scratch.path().display(),
        machine.data_fs,
        if discard {
            ", mounted with discard"
        } else {
            ""
        },
        rounds.warmup,
        rounds.iterations
    );
    if discard {
        eprintln!(
            "  note: with `discard` every freed block waits for the disk; an in-place prune's \
             `collapse alone` row shows that share (`--tmp` a filesystem without it to compare)"
        );
    }
    if !matches!(machine.data_fs.as_str(), "ext4" | "xfs") {
        eprintln!(
            "  note: {} is not ext4/xfs; the in-place case needs collapse-range and will fail",
            machine.data_fs
        );
    }
    // Before the clock starts: building the binaries is not benchmark time.
    let binaries = cases::need_binaries(&cli.only).then(|| procs::prepare(!cli.no_build));
    let started_at = jiff::Timestamp::now().to_string();
    let started = Instant::now();
    let load_before = machine::load_average();
    let mut ctx = Ctx::new(scratch.path().to_path_buf(), sizes.clone(), rounds)?;
    if let Some(binaries) = binaries {
        ctx.set_binaries(binaries);
    }
    let results = cases::run_all(&mut ctx, &cli.only);
    let seconds = started.elapsed().as_secs_f64();

    println!();
    print!("{}", report::table(&results));
    for case in &results {
        for note in &case.notes {
            println!("  {}: {note}", case.id);
        }
        if let Outcome::Measured { rows } = &case.outcome {
            for row in rows {
                if let (Some(note), Some(base)) = (&row.note, &row.baseline) {
                    println!("  {}: {} vs {}: {note}", case.id, row.ours.name, base.name);
                } else if let Some(note) = &row.note {
                    println!("  {}: {}: {note}", case.id, row.ours.name);
                }
            }
        }
    }
    let file = Results {
        version: JSON_VERSION,
        mode,
        started_at,
        seconds,
        load_average: [load_before, machine::load_average()],
        rounds: RoundsJson {
            warmup: rounds.warmup,
            iterations: rounds.iterations,
        },
        sizes: &sizes,
        cutoff: ctx.cutoff.to_string(),
        machine,
        cases: &results,
    };
    write_json(&json_path, &file)?;
    println!(
        "\n{mode} run in {seconds:.0} s (load average {} → {}); results in {}",
        file.load_average[0].map_or("?".into(), |l| format!("{l:.2}")),
        file.load_average[1].map_or("?".into(), |l| format!("{l:.2}")),
        json_path.display()
    );
    if cli.keep {
        let kept = scratch.keep();
        println!("data kept in {}", kept.display());
    }
    let failed = results
        .iter()
        .any(|case| matches!(case.outcome, Outcome::Failed { .. }));
    Ok(if failed {
        std::process::ExitCode::FAILURE
    } else {
        std::process::ExitCode::SUCCESS
    })
}

/// The sizes and rounds of each mode.
fn mode(cli: &Cli) -> (&'static str, Sizes, Rounds) {
    const MIB: u64 = 1 << 20;
    if cli.quick {
        let sizes = Sizes {
            large_log_bytes: 4 * MIB,
            mid_log_bytes: None,
            small_logs: 200,
            small_log_lines: 100,
            queue_entries: 2_000,
            long_line_bytes: 4 * MIB,
            projects: 5,
        };
        return (
            "quick",
            sizes,
            Rounds {
                warmup: 1,
                iterations: 2,
            },
        );
    }
    let large_log_bytes = if cli.full { 1024 * MIB } else { 256 * MIB };
    let sizes = Sizes {
        large_log_bytes,
        mid_log_bytes: cli.full.then_some(256 * MIB),
        small_logs: 10_000,
        small_log_lines: 100,
        queue_entries: 100_000,
        long_line_bytes: 100 * 1_000_000,
        projects: 50,
    };
    let name = if cli.full { "full" } else { "default" };
    (
        name,
        sizes,
        Rounds {
            warmup: 1,
            iterations: 7,
        },
    )
}

/// `<target>/bench/latest.json`, next to the target directory this binary was built into.
fn default_json_path() -> Result<PathBuf> {
    let exe = std::env::current_exe().context("finding this executable")?;
    // <target>/<profile>/v0-prune-bench, or <target>/<profile>/deps/... under tests.
    let target = exe
        .ancestors()
        .find(|dir| dir.join("CACHEDIR.TAG").is_file())
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("target"));
    Ok(target.join("bench").join("latest.json"))
}

/// Removes scratch directories of bench runs that are gone: they can hold gigabytes.
fn sweep_abandoned(parent: &Path) {
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let pid = name
            .to_str()
            .and_then(|n| n.strip_prefix(SCRATCH_PREFIX))
            .and_then(|rest| rest.split('.').next())
            .and_then(|pid| pid.parse::<u32>().ok());
        let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
        if let Some(pid) = pid
            && is_dir
            && v0_prune_testkit::process_gone(pid)
        {
            eprintln!(
                "removing {}, left by an interrupted run",
                entry.path().display()
            );
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// Refuses to start when the data would fill the disk.
fn check_space(dir: &Path, sizes: &Sizes) -> Result<()> {
    // The large log, its copy with a late expired entry, its working copy, a
    // baseline's output, case 4's fresh log, the 256 MiB log of --full with
    // its working copy and a baseline's output, the long-line file and its
    // copy, and slack.
    let need = sizes.large_log_bytes * 5
        + sizes.mid_log_bytes.unwrap_or(0) * 3
        + sizes.long_line_bytes * 2
        + (256 << 20);
    if let Some(free) = machine::free_bytes(dir)
        && free < need
    {
        bail!(
            "{} has {} free; this mode needs about {} (choose another place with --tmp)",
            dir.display(),
            data::human_bytes(free),
            data::human_bytes(need)
        );
    }
    Ok(())
}

fn write_json(path: &Path, results: &Results<'_>) -> Result<()> {
    if let Some(dir) = path.parent()
        && !dir.as_os_str().is_empty()
    {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let mut text = serde_json::to_string_pretty(results)?;
    text.push('\n');
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_scratch_dirs_of_dead_runs_are_swept() {
        let parent = tempfile::tempdir().expect("tempdir");
        let dead = parent
            .path()
            .join(format!("{SCRATCH_PREFIX}{}.abc", u32::MAX));
        let alive = parent
            .path()
            .join(format!("{SCRATCH_PREFIX}{}.def", std::process::id()));
        let other = parent.path().join("v0-prune-bench-notes");
        for dir in [&dead, &alive, &other] {
            std::fs::create_dir_all(dir.join("inner")).expect("mkdir");
        }
        sweep_abandoned(parent.path());
        assert!(!dead.exists(), "a dead run's data is removed");
        assert!(alive.exists(), "a live run's data is kept");
        assert!(other.exists(), "other directories are never touched");
    }
}
