//! Finding a v0 project, its build directory and the prune settings. (stub — being written)

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::paths::BuildDir;

/// Default retention: entries older than this are expired (v0: 6 hours).
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(6 * 3600);
/// Default time between the daemon's runs (v0: 1 hour).
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(3600);

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

/// A discovered v0 project: where its build directory is and how to prune it.
#[derive(Debug, Clone)]
pub struct Project {
    /// The directory holding `.v0.rc`, when one was found.
    pub root: Option<PathBuf>,
    /// `PROJECT` from `.v0.rc`, when set.
    pub name: Option<String>,
    /// The build directory.
    pub build_dir: BuildDir,
    /// Retention and interval.
    pub settings: Settings,
}

/// Why discovery failed; each message says what to do.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// No `.v0.rc` up the tree, no usable `V0_ROOT`, no `BUILD_DIR`.
    #[error("no .v0.rc found in this directory or its parents")]
    NoProject,
    /// A setting could not be parsed.
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
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

/// Discovers the project from the process's environment and current directory.
pub fn discover(build_dir_flag: Option<&Path>) -> Result<Project, ConfigError> {
    let _ = build_dir_flag;
    Err(ConfigError::NoProject)
}
