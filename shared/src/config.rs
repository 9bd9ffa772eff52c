//! Finding a v0 project, its build directory and the prune settings.
//!
//! v0's rules (see the contract): the project root is the nearest directory
//! upwards holding `.v0.rc`, else `$V0_ROOT`; the build directory is
//! `V0_BUILD_DIR` from `.v0.rc` (default `.v0/build`), unless `BUILD_DIR` is in
//! the environment; our `--build-dir` flag beats both. `.v0.rc` is a bash
//! file: [`rc`] reads its assignments without executing it.

pub mod rc;

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::paths::BuildDir;

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
    let cwd = std::env::current_dir().map_err(|source| ConfigError::Io {
        path: PathBuf::from("."),
        source,
    })?;
    discover_with(&|name| std::env::var(name).ok(), &cwd, build_dir_flag)
}

/// [`discover`] with the environment and current directory given, for tests.
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
        Some(root) => {
            let path = root.join(RC_FILE);
            let text = std::fs::read(&path).map_err(|source| ConfigError::Io {
                path: path.clone(),
                source,
            })?;
            rc::RcFile::parse(&String::from_utf8_lossy(&text), root, env)
        }
        None => rc::RcFile::default(),
    };
    let (build_dir, source) = if let Some(flag) = build_dir_flag {
        (absolute(cwd, flag), BuildDirSource::Flag)
    } else if let Some(dir) = env_nonempty("BUILD_DIR") {
        (absolute(cwd, Path::new(&dir)), BuildDirSource::Env)
    } else if let Some(root) = &root {
        match rc.get("V0_BUILD_DIR").filter(|v| !v.is_empty()) {
            Some(dir) => (absolute(root, Path::new(dir)), BuildDirSource::RcFile),
            None => (root.join(".v0/build"), BuildDirSource::Default),
        }
    } else {
        return Err(ConfigError::NoProject);
    };
    let setting = |var: &str, default: Duration| -> Result<Duration, ConfigError> {
        match env_nonempty(var).or_else(|| rc.get(var).map(str::to_string)) {
            Some(value) => parse_duration(var, &value),
            None => Ok(default),
        }
    };
    let settings = Settings {
        retention: setting("V0_PRUNE_RETENTION", DEFAULT_RETENTION)?,
        interval: setting("V0_PRUNE_INTERVAL", DEFAULT_INTERVAL)?,
    };
    if settings.interval.is_zero() {
        return Err(ConfigError::InvalidSetting {
            var: "V0_PRUNE_INTERVAL".into(),
            value: "0".into(),
            reason: "the interval must be at least one second".into(),
        });
    }
    Ok(Project {
        root,
        name: rc.get("PROJECT").map(str::to_string),
        build_dir: BuildDir::new(build_dir),
        source,
        settings,
    })
}

/// The nearest directory at or above `start` holding `.v0.rc`.
fn find_root(start: &Path) -> Option<PathBuf> {
    start
        .ancestors()
        .find(|dir| dir.join(RC_FILE).is_file())
        .map(Path::to_path_buf)
}

fn absolute(base: &Path, path: &Path) -> PathBuf {
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        base.join(path)
    }
}

/// Parses `3600`, `90s`, `30m`, `6h` or `2d` into a duration, naming `var` on error.
pub fn parse_duration(var: &str, value: &str) -> Result<Duration, ConfigError> {
    let invalid = |reason: &str| ConfigError::InvalidSetting {
        var: var.to_string(),
        value: value.to_string(),
        reason: reason.to_string(),
    };
    const FORMS: &str = "expected seconds or a number with s, m, h or d (e.g. 90s, 30m, 6h, 2d)";
    let trimmed = value.trim();
    let (digits, unit) = match trimmed.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => trimmed.split_at(i),
        None => (trimmed, ""),
    };
    if digits.is_empty() {
        return Err(invalid(FORMS));
    }
    let multiplier: u64 = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(invalid(FORMS)),
    };
    let number: u64 = digits
        .parse()
        .map_err(|_| invalid("the number is too large"))?;
    number
        .checked_mul(multiplier)
        .map(Duration::from_secs)
        .ok_or_else(|| invalid("the number is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn durations_in_every_form_and_clear_errors() {
        for (text, secs) in [
            ("3600", 3600),
            ("90s", 90),
            ("30m", 1800),
            ("6h", 21_600),
            ("2d", 172_800),
            (" 5m ", 300),
        ] {
            assert_eq!(
                parse_duration("V", text).expect(text),
                Duration::from_secs(secs),
                "{text}"
            );
        }
        for bad in [
            "",
            "6x",
            "-5",
            "h",
            "1.5h",
            "99999999999999999999",
            "18446744073709551615d",
            "6 h",
        ] {
            let err = parse_duration("V0_PRUNE_RETENTION", bad)
                .expect_err(bad)
                .to_string();
            assert!(err.starts_with("invalid V0_PRUNE_RETENTION="), "{err}");
        }
        let err = parse_duration("V0_PRUNE_RETENTION", "6x")
            .expect_err("bad")
            .to_string();
        assert!(err.contains("90s, 30m, 6h, 2d"), "{err}");
    }

    #[test]
    fn the_project_is_found_walking_up_and_its_build_dir_defaults() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(
            dir.path().join(RC_FILE),
            "PROJECT=\"demo\"\nISSUE_PREFIX=dm\n",
        )
        .expect("write");
        let nested = dir.path().join("a/b/c");
        std::fs::create_dir_all(&nested).expect("mkdir");
        let project = discover_with(&env_of(&[]), &nested, None).expect("discover");
        assert_eq!(project.root.as_deref(), Some(dir.path()));
        assert_eq!(project.name.as_deref(), Some("demo"));
        assert_eq!(project.build_dir.root(), dir.path().join(".v0/build"));
        assert_eq!(project.source, BuildDirSource::Default);
        assert_eq!(project.settings, Settings::default());
    }

    #[test]
    fn v0_build_dir_may_be_relative_or_use_v0_root() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join(RC_FILE), "export V0_BUILD_DIR=out/build\n").expect("write");
        let project = discover_with(&env_of(&[]), dir.path(), None).expect("discover");
        assert_eq!(project.build_dir.root(), dir.path().join("out/build"));
        assert_eq!(project.source, BuildDirSource::RcFile);
        std::fs::write(
            dir.path().join(RC_FILE),
            "V0_BUILD_DIR=\"${V0_ROOT}/elsewhere\"\n",
        )
        .expect("write");
        let project = discover_with(&env_of(&[]), dir.path(), None).expect("discover");
        assert_eq!(project.build_dir.root(), dir.path().join("elsewhere"));
    }

    #[test]
    fn v0_root_is_the_fallback_and_build_dir_and_the_flag_override() {
        let project_dir = tempfile::tempdir().expect("tempdir");
        let elsewhere = tempfile::tempdir().expect("tempdir");
        std::fs::write(project_dir.path().join(RC_FILE), "PROJECT=p\n").expect("write");
        let root = project_dir.path().to_string_lossy().into_owned();
        let project = discover_with(&env_of(&[("V0_ROOT", &root)]), elsewhere.path(), None)
            .expect("discover");
        assert_eq!(project.root.as_deref(), Some(project_dir.path()));

        let project = discover_with(&env_of(&[("BUILD_DIR", "/tmp/b")]), elsewhere.path(), None)
            .expect("discover");
        assert_eq!(project.build_dir.root(), Path::new("/tmp/b"));
        assert_eq!(project.source, BuildDirSource::Env);

        let project = discover_with(
            &env_of(&[("BUILD_DIR", "/tmp/b")]),
            elsewhere.path(),
            Some(Path::new("rel")),
        )
        .expect("discover");
        assert_eq!(project.build_dir.root(), elsewhere.path().join("rel"));
        assert_eq!(project.source, BuildDirSource::Flag);
    }

    #[test]
    fn no_project_says_so_in_v0s_words() {
        let elsewhere = tempfile::tempdir().expect("tempdir");
        let err = discover_with(&env_of(&[]), elsewhere.path(), None).expect_err("no project");
        assert_eq!(
            err.to_string(),
            "no .v0.rc found in this directory or its parents"
        );
        let err = discover_with(
            &env_of(&[("V0_ROOT", "/nonexistent")]),
            elsewhere.path(),
            None,
        )
        .expect_err("bad root");
        assert!(matches!(err, ConfigError::NoProject));
    }

    #[test]
    fn settings_come_from_the_environment_first_then_the_rc_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(
            dir.path().join(RC_FILE),
            "V0_PRUNE_RETENTION=2d\nV0_PRUNE_INTERVAL='30m'\n",
        )
        .expect("write");
        let project = discover_with(&env_of(&[]), dir.path(), None).expect("discover");
        assert_eq!(project.settings.retention, Duration::from_secs(172_800));
        assert_eq!(project.settings.interval, Duration::from_secs(1800));
        let project = discover_with(&env_of(&[("V0_PRUNE_RETENTION", "90s")]), dir.path(), None)
            .expect("discover");
        assert_eq!(project.settings.retention, Duration::from_secs(90));
        let err = discover_with(&env_of(&[("V0_PRUNE_INTERVAL", "0")]), dir.path(), None)
            .expect_err("zero");
        assert!(err.to_string().contains("V0_PRUNE_INTERVAL"), "{err}");
        let err = discover_with(&env_of(&[("V0_PRUNE_INTERVAL", "soon")]), dir.path(), None)
            .expect_err("bad");
        assert!(
            err.to_string()
                .contains("invalid V0_PRUNE_INTERVAL=\"soon\""),
            "{err}"
        );
    }
}
