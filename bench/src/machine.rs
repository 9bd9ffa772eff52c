//! Where and on what a run happened, so two JSON files can be compared fairly.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};

use serde::Serialize;

/// The machine, the filesystem under test, the tools and the commit.
#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    /// Cores available to us.
    pub nproc: usize,
    /// `uname -r`.
    pub kernel: String,
    /// `/proc/cpuinfo`'s model name.
    pub cpu: Option<String>,
    /// Total memory, MB.
    pub memory_mb: Option<u64>,
    /// Filesystem type of the data directory (`ext4`, `tmpfs`, ...).
    pub data_fs: String,
    /// Mount options of the data directory's filesystem (`/proc/self/mounts`).
    /// `discard` matters: every block freed then waits for the disk, which
    /// sets a floor under any prune that frees space.
    pub data_mount_options: Option<String>,
    /// Versions of the baseline tools (first line of their version output).
    pub tools: BTreeMap<String, Option<String>>,
    /// `git rev-parse HEAD` of the tree the bench was built from.
    pub git_commit: Option<String>,
    /// Whether tracked files differed from that commit.
    pub git_dirty: Option<bool>,
}

impl Machine {
    /// Describes this machine, with `data_dir` as the filesystem under test.
    pub fn describe(data_dir: &Path) -> Self {
        let source = Path::new(env!("CARGO_MANIFEST_DIR"));
        let git =
            |args: &[&str]| command_output(Command::new("git").arg("-C").arg(source).args(args));
        Self {
            nproc: std::thread::available_parallelism().map_or(1, |n| n.get()),
            kernel: rustix::system::uname()
                .release()
                .to_string_lossy()
                .into_owned(),
            cpu: std::fs::read_to_string("/proc/cpuinfo")
                .ok()
                .and_then(|text| {
                    text.lines()
                        .find_map(|l| l.strip_prefix("model name"))
                        .map(|l| l.trim_start_matches([' ', '\t', ':']).to_string())
                }),
            memory_mb: std::fs::read_to_string("/proc/meminfo")
                .ok()
                .and_then(|text| {
                    let kb = text
                        .lines()
                        .find_map(|l| l.strip_prefix("MemTotal:"))?
                        .trim()
                        .trim_end_matches("kB")
                        .trim()
                        .parse::<u64>()
                        .ok()?;
                    Some(kb * 1024 / 1_000_000)
                }),
            data_fs: filesystem_name(data_dir),
            data_mount_options: mount_options(data_dir),
            tools: ["cp", "cat", "awk", "jq"]
                .iter()
                .map(|tool| (tool.to_string(), tool_version(tool)))
                .collect(),
            git_commit: git(&["rev-parse", "HEAD"]).filter(|s| !s.is_empty()),
            git_dirty: git(&["status", "--porcelain", "--untracked-files=no"])
                .map(|s| !s.is_empty()),
        }
    }
}

/// The filesystem type of `dir`, by its magic number.
pub fn filesystem_name(dir: &Path) -> String {
    match rustix::fs::statfs(dir) {
        Ok(stat) => match stat.f_type as u64 {
            0xEF53 => "ext4".into(),
            0x0102_1994 => "tmpfs".into(),
            0x5846_5342 => "xfs".into(),
            0x9123_683E => "btrfs".into(),
            0x794C_7630 => "overlayfs".into(),
            other => format!("unknown (magic {other:#x})"),
        },
        Err(err) => format!("unknown ({err})"),
    }
}

/// The options of the mount `dir` lives on: the entry of `/proc/self/mounts`
/// whose mount point is the longest ancestor of `dir`.
pub fn mount_options(dir: &Path) -> Option<String> {
    let dir = dir.canonicalize().ok()?;
    let mounts = std::fs::read_to_string("/proc/self/mounts").ok()?;
    mounts
        .lines()
        .filter_map(|line| {
            let mut fields = line.split(' ');
            let point = fields.nth(1)?.replace("\\040", " ");
            let options = fields.nth(1)?;
            dir.starts_with(&point)
                .then(|| (Path::new(&point).components().count(), options.to_string()))
        })
        .max_by_key(|(depth, _)| *depth)
        .map(|(_, options)| options)
}

/// Whether the mount options include `discard` (online TRIM of freed blocks).
pub fn discards(options: Option<&str>) -> bool {
    options.is_some_and(|options| options.split(',').any(|o| o == "discard"))
}

/// `/proc/loadavg`'s 1-minute load: how busy the neighbours were (2 cores shared).
pub fn load_average() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Bytes free for us under `dir`.
pub fn free_bytes(dir: &Path) -> Option<u64> {
    rustix::fs::statvfs(dir)
        .ok()
        .map(|s| s.f_bavail.saturating_mul(s.f_frsize))
}

fn tool_version(tool: &str) -> Option<String> {
    // mawk knows only `-W version`; the others `--version`.
    let first_line = |text: String| text.lines().next().map(str::to_string);
    command_output(Command::new(tool).arg("--version"))
        .and_then(first_line)
        .or_else(|| command_output(Command::new(tool).args(["-W", "version"])).and_then(first_line))
}

/// A command's trimmed stdout (possibly empty) if it ran successfully.
fn command_output(command: &mut Command) -> Option<String> {
    let output = command
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&output.stdout).trim().to_string();
    output.status.success().then_some(text)
}
