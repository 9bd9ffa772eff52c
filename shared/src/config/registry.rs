//! Every v0 project on this machine, found as v0 finds them for
//! `v0 watch --all`.
//!
//! Each v0 command registers its project (`v0_register_project` in v0's
//! `packages/core/lib/config.sh`): it writes the project's root into
//! `${XDG_STATE_HOME:-$HOME/.local/state}/v0/<PROJECT>/.v0.root`. v0's
//! standalone mode keeps its build directory in `…/v0/standalone/build`,
//! with no root. We read the same files, by the same rules:
//! - a root that no longer exists is listed as [`Found::Gone`], not an error;
//! - `standalone` is its own entry when its build directory exists;
//! - the project of the current directory is added when it is not
//!   registered (v0 registers on its first command; ours may come first).
//!
//! Each project's settings come from its own `.v0.rc` (and the
//! `.v0.profile.rc` it sources), read without executing anything, as for one
//! project; the caller's `BUILD_DIR`, `V0_ROOT`, `PROJECT` and `V0_PRUNE_*`
//! belong to its own project and are not applied to the others. Nothing is
//! followed out through a symbolic link we would refuse for one project: a
//! `.v0.root` that is a link, or names a relative path, is
//! [`Found::Refused`]; a root reached through a link is judged by where its
//! build directory resolves, and one the engine's guard refuses for one
//! project (`/`, the home directory or above it, a directory that does not
//! look like v0's) is refused here too.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use super::{Project, RC_FILE, discover_with};
use crate::paths::BuildDir;
use crate::prune::guard;

/// The name v0 gives its standalone state directory.
pub const STANDALONE: &str = "standalone";

/// The file in each project's state directory that names its root.
pub const ROOT_FILE: &str = ".v0.root";

/// The longest `.v0.root` we read: a path, not a document.
const MAX_ROOT_FILE: u64 = 64 << 10;

/// Where a project's entry came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// `…/v0/<name>/.v0.root`.
    Registry,
    /// v0's standalone build directory (`…/v0/standalone/build`).
    Standalone,
    /// The project of the current directory, not registered (yet).
    CurrentDir,
}

/// What one entry turned out to be.
#[derive(Debug, Clone)]
pub enum Found {
    /// A project we can prune: its build directory and settings.
    Project(Box<Project>),
    /// Its root no longer exists (removed, or on an unmounted disk).
    Gone {
        /// The root the registry names.
        root: PathBuf,
    },
    /// Something there that we will not read or prune, and why.
    Refused {
        /// What the registry names, when it names something.
        root: Option<PathBuf>,
        /// Why, in words.
        reason: String,
    },
}

/// One project of this machine.
#[derive(Debug, Clone)]
pub struct Registered {
    /// The state directory's name (`PROJECT` as v0 registered it), or the
    /// project's own name for the current directory's.
    pub name: String,
    /// Where the entry came from.
    pub origin: Origin,
    /// What it is.
    pub found: Found,
}

impl Registered {
    /// Its build directory, when it is a project we can prune.
    pub fn build_dir(&self) -> Option<&BuildDir> {
        match &self.found {
            Found::Project(project) => Some(&project.build_dir),
            _ => None,
        }
    }
}

/// Registers `project` as v0's `v0_register_project` does on every command
/// (`packages/core/lib/config.sh`): its root goes into
/// `<state dir>/<PROJECT>/.v0.root`, written only when it differs, so
/// `--all-projects` and `v0 watch --all` find a project that has seen only
/// `v0 init` and `v0 prune` (v0's bash prune registered it; ours replaces
/// that script). Nothing without a root and a name; nothing for a root
/// inside the project's own `workspace/` (v0's merge clones). Returns whether
/// it wrote.
pub fn register(project: &Project, env: &dyn Fn(&str) -> Option<String>) -> std::io::Result<bool> {
    let (Some(root), Some(name)) = (&project.root, project.name.as_deref()) else {
        return Ok(false);
    };
    // A name v0 would not make a directory of (empty, a path) is not ours to write.
    if name.is_empty() || name.contains('/') || name == "." || name == ".." {
        return Ok(false);
    }
    let Some(state) = state_dir(env) else {
        return Ok(false);
    };
    let dir = state.join(name);
    if root.starts_with(dir.join("workspace")) {
        return Ok(false);
    }
    let file = dir.join(ROOT_FILE);
    let line = format!("{}\n", root.display());
    if read_root_file(&file).is_ok_and(|known| known == *root) {
        return Ok(false);
    }
    std::fs::create_dir_all(&dir)?;
    // Written whole and renamed, so a reader never sees half a path.
    let temp = dir.join(format!(".v0.root.{}.tmp", std::process::id()));
    std::fs::write(&temp, line)?;
    std::fs::rename(&temp, &file).inspect_err(|_| {
        let _ = std::fs::remove_file(&temp);
    })?;
    Ok(true)
}

/// v0's state directory: `$XDG_STATE_HOME/v0`, else `$HOME/.local/state/v0`
/// (an empty variable counts as unset, as in bash's `${VAR:-default}`).
pub fn state_dir(env: &dyn Fn(&str) -> Option<String>) -> Option<PathBuf> {
    let nonempty = |name: &str| env(name).filter(|v| !v.is_empty());
    nonempty("XDG_STATE_HOME")
        .map(PathBuf::from)
        .or_else(|| nonempty("HOME").map(|home| Path::new(&home).join(".local/state")))
        .map(|base| base.join("v0"))
}

/// Every project of this machine, from the process's environment and
/// current directory: the registered ones by name, `standalone` when it
/// exists, then the current directory's when it is not among them.
pub fn discover_all() -> Vec<Registered> {
    let env = |name: &str| std::env::var(name).ok();
    let cwd = std::env::current_dir().ok();
    discover_all_with(&env, cwd.as_deref())
}

/// [`discover_all`] with the environment and current directory given.
pub fn discover_all_with(
    env: &dyn Fn(&str) -> Option<String>,
    cwd: Option<&Path>,
) -> Vec<Registered> {
    let mut all = Vec::new();
    if let Some(state) = state_dir(env) {
        all.extend(registered(&state, env));
    }
    if let Some(current) = cwd.and_then(|cwd| current_project(env, cwd))
        && !all.iter().any(|entry| same_build_dir(entry, &current))
    {
        all.push(Registered {
            name: project_name(&current),
            origin: Origin::CurrentDir,
            found: Found::Project(Box::new(current)),
        });
    }
    all
}

/// The entries under v0's state directory, sorted by name.
fn registered(state: &Path, env: &dyn Fn(&str) -> Option<String>) -> Vec<Registered> {
    let Ok(dirs) = std::fs::read_dir(state) else {
        return Vec::new();
    };
    let mut names: Vec<String> = dirs
        .flatten()
        .filter(|entry| entry.file_type().is_ok_and(|kind| kind.is_dir()))
        .filter_map(|entry| entry.file_name().to_str().map(str::to_owned))
        .collect();
    names.sort();
    names
        .into_iter()
        .filter_map(|name| {
            let dir = state.join(&name);
            if name == STANDALONE {
                return standalone(&dir);
            }
            let root_file = dir.join(ROOT_FILE);
            if std::fs::symlink_metadata(&root_file).is_err() {
                // A state directory without a root: v0 skips it too.
                return None;
            }
            Some(Registered {
                found: registered_project(&root_file, env),
                name,
                origin: Origin::Registry,
            })
        })
        .collect()
}

/// v0's standalone build directory, when it exists.
fn standalone(dir: &Path) -> Option<Registered> {
    let build = dir.join("build");
    let meta = std::fs::symlink_metadata(&build).ok()?;
    let found = if !meta.is_dir() {
        Found::Refused {
            root: None,
            reason: format!("{} is not a directory", build.display()),
        }
    } else {
        let build_dir = BuildDir::new(&build);
        match guard::check_build_dir(&build_dir, false) {
            Ok(()) => Found::Project(Box::new(Project {
                root: None,
                name: Some(STANDALONE.to_owned()),
                build_dir,
                source: super::BuildDirSource::Default,
                settings: super::Settings::default(),
            })),
            Err(err) => Found::Refused {
                root: None,
                reason: err.to_string(),
            },
        }
    };
    Some(Registered {
        name: STANDALONE.to_owned(),
        origin: Origin::Standalone,
        found,
    })
}

/// The project a `.v0.root` file names.
fn registered_project(root_file: &Path, env: &dyn Fn(&str) -> Option<String>) -> Found {
    let refused = |root: Option<PathBuf>, reason: String| Found::Refused { root, reason };
    let root = match read_root_file(root_file) {
        Ok(root) => root,
        Err(reason) => return refused(None, reason),
    };
    // The root may be reached through a link (v0 registers the path `pwd`
    // gave); what it leads to is judged by the guard below, as for one project.
    match std::fs::metadata(&root) {
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Found::Gone { root },
        Err(err) => return refused(Some(root.clone()), format!("cannot read it: {err}")),
        Ok(meta) if !meta.is_dir() => {
            return refused(Some(root), "it is not a directory".into());
        }
        Ok(_) => {}
    }
    if !root.join(RC_FILE).is_file() {
        return refused(
            Some(root),
            format!("it holds no {RC_FILE} (no longer a v0 project?)"),
        );
    }
    let env = own_settings_only(env);
    let project = match discover_with(&env, &root, None) {
        Ok(project) => project,
        Err(err) => return refused(Some(root), err.to_string()),
    };
    // Registered but never built: nothing to prune yet, nothing to refuse.
    if !project.build_dir.root().exists() {
        return Found::Project(Box::new(project));
    }
    match guard::check_build_dir(&project.build_dir, false) {
        Ok(()) => Found::Project(Box::new(project)),
        Err(err) => refused(Some(root), err.to_string()),
    }
}

/// Reads a `.v0.root`: one absolute path on one line, in a regular file
/// (never through a link).
fn read_root_file(path: &Path) -> Result<PathBuf, String> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
        .map_err(|err| format!("cannot read {}: {err}", path.display()))?;
    let meta = file
        .metadata()
        .map_err(|err| format!("cannot read {}: {err}", path.display()))?;
    if !meta.is_file() {
        return Err(format!("{} is not a regular file", path.display()));
    }
    let mut bytes = Vec::new();
    file.take(MAX_ROOT_FILE)
        .read_to_end(&mut bytes)
        .map_err(|err| format!("cannot read {}: {err}", path.display()))?;
    let text = String::from_utf8_lossy(&bytes);
    let line = text.lines().next().unwrap_or("").trim_end_matches('\r');
    let root = PathBuf::from(line);
    if line.is_empty() || !root.is_absolute() {
        return Err(format!(
            "{} does not name an absolute path ({line:?})",
            path.display()
        ));
    }
    Ok(root)
}

/// The environment for reading another project: without what names the
/// caller's own project or overrides its settings.
fn own_settings_only<'a>(
    env: &'a dyn Fn(&str) -> Option<String>,
) -> impl Fn(&str) -> Option<String> + 'a {
    move |name: &str| {
        let callers_own = matches!(name, "BUILD_DIR" | "V0_ROOT" | "PROJECT" | "V0_BUILD_DIR")
            || name.starts_with("V0_PRUNE_");
        if callers_own { None } else { env(name) }
    }
}

/// The current directory's project, as one-project commands find it.
fn current_project(env: &dyn Fn(&str) -> Option<String>, cwd: &Path) -> Option<Project> {
    discover_with(env, cwd, None).ok()
}

/// A project's name for a list: `PROJECT`, else its root's or build
/// directory's last component.
fn project_name(project: &Project) -> String {
    project
        .name
        .clone()
        .or_else(|| {
            project
                .root
                .as_deref()
                .and_then(Path::file_name)
                .map(|name| name.to_string_lossy().into_owned())
        })
        .unwrap_or_else(|| {
            project
                .build_dir
                .root()
                .file_name()
                .unwrap_or(OsStr::new("?"))
                .to_string_lossy()
                .into_owned()
        })
}

/// Whether an entry is the same project as `project` (one build directory).
fn same_build_dir(entry: &Registered, project: &Project) -> bool {
    let canonical = |dir: &BuildDir| std::fs::canonicalize(dir.root()).ok();
    match entry.build_dir() {
        Some(dir) => {
            dir.root() == project.build_dir.root()
                || canonical(dir).is_some_and(|a| Some(a) == canonical(&project.build_dir))
        }
        None => false,
    }
}

#[cfg(test)]
mod tests;
