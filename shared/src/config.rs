//! Finding a v0 project, its build directory and the prune settings.
//!
//! v0's rules (see the contract): the project root is the nearest directory
//! upwards holding `.v0.rc`, else `$V0_ROOT`; the build directory is
//! `V0_BUILD_DIR` from `.v0.rc` (default `.v0/build`), unless `BUILD_DIR` is in
//! the environment; our `--build-dir` flag beats both. `.v0.rc` is a bash
//! file: [`rc`] reads its assignments without executing it.

mod duration;
pub mod rc;
#[cfg(test)]
mod tests;

use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use crate::paths::BuildDir;

pub use duration::{MAX_SETTING, parse_duration, parse_interval};

/// Default retention: entries older than this are expired (v0: 6 hours).
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(6 * 3600);
/// Default time between the daemon's runs (v0: 1 hour).
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(3600);

/// The name of v0's project file.
pub const RC_FILE: &str = ".v0.rc";

/// How long entries are kept and how often the daemon runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// `V0_PRUNE_RETENTION`.
    pub retention: Duration,
    /// `V0_PRUNE_INTERVAL`.
    pub interval: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            retention: DEFAULT_RETENTION,
            interval: DEFAULT_INTERVAL,
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

/// Why discovery failed; each message says what to do.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// No `.v0.rc` up the tree, no usable `V0_ROOT`, no `BUILD_DIR`.
    #[error("no .v0.rc found in this directory or its parents")]
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
pub fn discover(build_dir_flag: Option<&Path>) -> Result<Project, ConfigError> {
    let cwd = std::env::current_dir().map_err(|source| ConfigError::Io {
        path: PathBuf::from("."),
        source,
    })?;
    discover_with(&|name| std::env::var(name).ok(), &cwd, build_dir_flag)
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
    let env_nonempty = |name: &str| env(name).filter(|v| !v.is_empty());
    let root = find_root(cwd).or_else(|| {
        env_nonempty("V0_ROOT")
            .map(|r| absolute(cwd, Path::new(&r)))
            .filter(|r| r.join(RC_FILE).is_file())
    });
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
        (absolute(cwd, flag), BuildDirSource::Flag)
    } else if let Some(dir) = env_nonempty("BUILD_DIR") {
        (absolute(cwd, Path::new(&dir)), BuildDirSource::Env)
    } else if let Some(root) = &root {
        match rc_nonempty("V0_BUILD_DIR") {
            Some(dir) => (absolute(root, Path::new(dir)), BuildDirSource::RcFile),
            None => (root.join(".v0/build"), BuildDirSource::Default),
        }
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
    };
    Ok(Project {
        name: rc_nonempty("PROJECT").map(str::to_string),
        root,
        build_dir: BuildDir::new(build_dir),
        source,
        settings,
    })
}

fn read_rc(root: &Path, env: &dyn Fn(&str) -> Option<String>) -> Result<rc::RcFile, ConfigError> {
    let path = root.join(RC_FILE);
    let bytes = std::fs::read(&path).map_err(|source| ConfigError::Io { path, source })?;
    // A stray non-UTF-8 byte (a comment in Latin-1) must not hide the assignments.
    Ok(rc::RcFile::parse(
        &String::from_utf8_lossy(&bytes),
        root,
        env,
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
