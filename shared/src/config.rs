//! Finding a v0 project, its build directory and the prune settings.
//!
//! v0's rules (see the contract): the project root is the nearest directory
//! upwards holding `.v0.rc`, else `$V0_ROOT`; the build directory is
//! `V0_BUILD_DIR` from `.v0.rc` (default `.v0/build`), unless `BUILD_DIR` is in
//! the environment; our `--build-dir` flag beats both. `.v0.rc` is a bash
//! file: [`rc`] reads its assignments (and those of the `.v0.profile.rc` it
//! sources) without executing it. The current directory is only a starting
//! point for the search: when it is gone, `BUILD_DIR` and `V0_ROOT` (which v0
//! exports to everything it starts) still work.

mod duration;
pub mod rc;
pub mod registry;
mod size;
#[cfg(test)]
mod tests;

use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use crate::paths::BuildDir;

pub use duration::{MAX_SETTING, parse_duration, parse_interval};
pub use size::parse_size;

/// Default retention: entries older than this are expired (v0: 6 hours).
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(6 * 3600);
/// Default time between the daemon's runs (v0: 1 hour).
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(3600);

/// Default `V0_PRUNE_MIN_KEEP`: the size budget never removes an entry
/// younger than this, so a runaway log cannot erase the others' last minutes.
pub const DEFAULT_MIN_KEEP: Duration = Duration::from_secs(10 * 60);

/// The name of v0's project file.
pub const RC_FILE: &str = ".v0.rc";

/// How long entries are kept, how often the daemon runs, and how large the
/// logs may grow together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// `V0_PRUNE_RETENTION`.
    pub retention: Duration,
    /// `V0_PRUNE_INTERVAL`.
    pub interval: Duration,
    /// `V0_PRUNE_MAX_SIZE` in bytes: the cap on all logs together (none by default).
    pub max_size: Option<u64>,
    /// `V0_PRUNE_MIN_KEEP`: what the size budget never removes.
    pub min_keep: Duration,
}

impl Settings {
    /// The size budget of a run starting at `now`, when a cap is set.
    pub fn budget(&self, now: jiff::Timestamp) -> Option<crate::prune::Budget> {
        self.max_size
            .map(|max_bytes| crate::prune::Budget::new(max_bytes, now, self.min_keep))
    }
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            retention: DEFAULT_RETENTION,
            interval: DEFAULT_INTERVAL,
            max_size: None,
            min_keep: DEFAULT_MIN_KEEP,
        }
    }
}

/// How the build directory was chosen, for `status` and error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BuildDirSource {
    /// `--build-dir`.
    Flag,
    /// `BUILD_DIR` in the environment.
    Env,
    /// `V0_BUILD_DIR` in `.v0.rc`.
    RcFile,
    /// `.v0/build` under the project root.
    Default,
}

/// A discovered v0 project: where its build directory is and how to prune it.
#[derive(Debug, Clone)]
pub struct Project {
    /// The directory holding `.v0.rc`, when one was found.
    pub root: Option<PathBuf>,
    /// `PROJECT` from `.v0.rc`, when set.
    pub name: Option<String>,
    /// The build directory.
    pub build_dir: BuildDir,
    /// How the build directory was chosen.
    pub source: BuildDirSource,
    /// Retention and interval.
    pub settings: Settings,
}

/// What every command (the plain prune, each subcommand, the daemon) prints
/// under [`ConfigError::NoProject`]: v0's second line, then ours, the ways
/// to point us at a project.
pub const NO_PROJECT_HINT: &str = "Run 'v0 init' to create one, or cd to a project with .v0.rc\n\
     (or pass --build-dir DIR / set BUILD_DIR)";

/// Why discovery failed; each message says what to do.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// No `.v0.rc` up the tree, no usable `V0_ROOT`, no `BUILD_DIR`: v0's
    /// words; every command prints [`NO_PROJECT_HINT`] under them.
    #[error("No .v0.rc found in current directory or parents.")]
    NoProject,
    /// A setting (or the `--build-dir` flag) could not be used; the message
    /// names the variable and the accepted forms.
    #[error("invalid {var}={value:?}: {reason}")]
    InvalidSetting {
        /// The variable name.
        var: String,
        /// Its value.
        value: String,
        /// What was expected.
        reason: String,
    },
    /// The current directory is gone or unreadable, and neither `BUILD_DIR`
    /// nor `V0_ROOT` names the project.
    #[error(
        "the current directory cannot be read ({source}), so no .v0.rc can be found from it; \
         set BUILD_DIR or V0_ROOT to absolute paths, or pass --build-dir"
    )]
    NoCurrentDir {
        /// Why `getcwd` failed.
        source: std::io::Error,
    },
    /// Reading `.v0.rc` failed.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

/// Discovers the project from the process's environment and current directory.
///
/// The current directory may be gone (v0 starts the daemon from wherever the
/// user is, a worktree removed since, say): then `.v0.rc` is looked for up
/// from `$PWD`, the path it had, as v0's bash does, and otherwise only
/// absolute paths (`BUILD_DIR`, `V0_ROOT`, `--build-dir`) can name the
/// project.
pub fn discover(build_dir_flag: Option<&Path>) -> Result<Project, ConfigError> {
    let cwd = std::env::current_dir();
    discover_from(
        &|name| std::env::var(name).ok(),
        cwd.as_deref().map_err(|err| err.kind()),
        build_dir_flag,
    )
}

/// [`discover`] with the environment and the (absolute) current directory
/// given, so tests never touch the process's own.
///
/// Order, from the contract: the flag, then `BUILD_DIR`, then `V0_BUILD_DIR`
/// in `.v0.rc`, then `.v0/build` under the project root. An empty variable
/// counts as unset, as with bash's `${VAR:-default}`.
pub fn discover_with(
    env: &dyn Fn(&str) -> Option<String>,
    cwd: &Path,
    build_dir_flag: Option<&Path>,
) -> Result<Project, ConfigError> {
    discover_from(env, Ok(cwd), build_dir_flag)
}

/// [`discover_with`] where the current directory may be unknown (`Err` with
/// why `getcwd` failed: it was removed, most often).
pub fn discover_from(
    env: &dyn Fn(&str) -> Option<String>,
    cwd: Result<&Path, std::io::ErrorKind>,
    build_dir_flag: Option<&Path>,
) -> Result<Project, ConfigError> {
    let env_nonempty = |name: &str| env(name).filter(|v| !v.is_empty());
    // A relative path needs the current directory; without one it is an
    // error naming the variable, never a guess.
    let resolve = |var: &str, base: Option<&Path>, path: &Path| -> Result<PathBuf, ConfigError> {
        match (path.is_absolute(), base, cwd) {
            (true, _, _) => Ok(absolute(Path::new("/"), path)),
            (false, Some(base), _) => Ok(absolute(base, path)),
            (false, None, Ok(cwd)) => Ok(absolute(cwd, path)),
            (false, None, Err(kind)) => Err(ConfigError::InvalidSetting {
                var: var.into(),
                value: path.display().to_string(),
                reason: format!(
                    "a relative path, but the current directory cannot be read ({}); \
                     give an absolute path",
                    std::io::Error::from(kind)
                ),
            }),
        }
    };
    let from_v0_root = || {
        env_nonempty("V0_ROOT")
            .and_then(|r| resolve("V0_ROOT", None, Path::new(&r)).ok())
            .filter(|r| r.join(RC_FILE).is_file())
    };
    let root = match cwd {
        Ok(cwd) => find_root(cwd).or_else(from_v0_root),
        // Bash's `pwd`, and so v0's own search, still gives `$PWD` when the
        // directory is gone: search up from there too (its parents may exist).
        Err(_) => env_nonempty("PWD")
            .map(PathBuf::from)
            .filter(|pwd| pwd.is_absolute())
            .and_then(|pwd| find_root(&pwd))
            .or_else(from_v0_root),
    };
    let rc = match &root {
        Some(root) => read_rc(root, env)?,
        None => rc::RcFile::default(),
    };
    let rc_nonempty = |name: &str| rc.get(name).filter(|v| !v.is_empty());
    let (build_dir, source) = if let Some(flag) = build_dir_flag {
        if flag.as_os_str().is_empty() {
            return Err(ConfigError::InvalidSetting {
                var: "--build-dir".into(),
                value: String::new(),
                reason: "expected a directory".into(),
            });
        }
        (resolve("--build-dir", None, flag)?, BuildDirSource::Flag)
    } else if let Some(dir) = env_nonempty("BUILD_DIR") {
        (
            resolve("BUILD_DIR", None, Path::new(&dir))?,
            BuildDirSource::Env,
        )
    } else if let Some(root) = &root {
        match rc_nonempty("V0_BUILD_DIR") {
            Some(dir) => (absolute(root, Path::new(dir)), BuildDirSource::RcFile),
            None => (root.join(".v0/build"), BuildDirSource::Default),
        }
    } else if let Err(kind) = cwd {
        return Err(ConfigError::NoCurrentDir {
            source: kind.into(),
        });
    } else {
        return Err(ConfigError::NoProject);
    };
    // The environment beats `.v0.rc`, so a one-off `V0_PRUNE_RETENTION=1h v0 prune` works.
    let setting = |var: &str| env_nonempty(var).or_else(|| rc_nonempty(var).map(str::to_string));
    let settings = Settings {
        retention: match setting("V0_PRUNE_RETENTION") {
            Some(value) => parse_duration("V0_PRUNE_RETENTION", &value)?,
            None => DEFAULT_RETENTION,
        },
        interval: match setting("V0_PRUNE_INTERVAL") {
            Some(value) => parse_interval("V0_PRUNE_INTERVAL", &value)?,
            None => DEFAULT_INTERVAL,
        },
        max_size: match setting("V0_PRUNE_MAX_SIZE") {
            Some(value) => Some(parse_size("V0_PRUNE_MAX_SIZE", &value)?),
            None => None,
        },
        min_keep: match setting("V0_PRUNE_MIN_KEEP") {
            Some(value) => parse_duration("V0_PRUNE_MIN_KEEP", &value)?,
            None => DEFAULT_MIN_KEEP,
        },
    };
    Ok(Project {
        // v0 exports `PROJECT` to what it starts; `.v0.rc`, when found, wins
        // as it does when v0 sources it.
        name: rc_nonempty("PROJECT")
            .map(str::to_string)
            .or_else(|| env_nonempty("PROJECT")),
        root,
        build_dir: BuildDir::new(build_dir),
        source,
        settings,
    })
}

fn read_rc(root: &Path, env: &dyn Fn(&str) -> Option<String>) -> Result<rc::RcFile, ConfigError> {
    let path = root.join(RC_FILE);
    let bytes = std::fs::read(&path).map_err(|source| ConfigError::Io { path, source })?;
    // Only this one file, at this one place, is ever read for a `source` line;
    // one that cannot be read is skipped, as bash's `[[ -f ]] && source` would.
    let profile = || {
        std::fs::read(root.join(rc::PROFILE_FILE))
            .ok()
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
    };
    // A stray non-UTF-8 byte (a comment in Latin-1) must not hide the assignments.
    Ok(rc::RcFile::parse_with_profile(
        &String::from_utf8_lossy(&bytes),
        root,
        env,
        &profile,
    ))
}

/// The nearest directory at or above `start` holding `.v0.rc`.
fn find_root(start: &Path) -> Option<PathBuf> {
    start
        .ancestors()
        .find(|dir| dir.join(RC_FILE).is_file())
        .map(Path::to_path_buf)
}

/// `path` made absolute against `base`, without `.` components, so `status`
/// shows `/p/build`, not `/p/./build`. `..` is kept: through a symlink it is
/// not the lexical parent.
fn absolute(base: &Path, path: &Path) -> PathBuf {
    base.join(path)
        .components()
        .filter(|c| !matches!(c, Component::CurDir))
        .collect()
}
