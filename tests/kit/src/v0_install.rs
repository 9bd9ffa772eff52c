//! A copy of the real v0 in a temporary directory, with what its commands
//! need around it (stubs for `wk` and `claude` on `PATH`, a home and v0's
//! state directory of its own, tmux away from the developer's), ours
//! installed into it with `assets/install-into-v0.sh`, and git
//! repositories made v0 projects by v0's own `v0 init`.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use tempfile::TempDir;

use crate::bins::{bin, workspace_root};
use crate::invoke::{Invocation, Outcome};
use crate::v0::copy_real_v0;

/// `PATH` without any directory holding a `v0`, so only the v0 a test puts
/// there is found.
pub fn path_without_v0() -> OsString {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::join_paths(std::env::split_paths(&path).filter(|dir| !dir.join("v0").exists()))
        .expect("a PATH")
}

/// `PATH` with `first` in front of [`path_without_v0`].
pub fn path_with(first: &Path) -> OsString {
    let mut dirs = vec![first.to_path_buf()];
    dirs.extend(std::env::split_paths(&path_without_v0()));
    std::env::join_paths(dirs).expect("a PATH")
}

/// `wk` and `claude` in `dir`, each a script that exits 0: what `v0 init`
/// and v0's commands look for on `PATH`.
pub fn write_stubs(dir: &Path) {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::create_dir_all(dir).expect("stubs dir");
    for stub in ["wk", "claude"] {
        let path = dir.join(stub);
        std::fs::write(&path, "#!/bin/sh\nexit 0\n").expect("a stub");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
}

/// The directory of the binaries under test (`v0-prune` and
/// `v0-prune-daemon`, both checked to be there).
pub fn binaries() -> PathBuf {
    bin("v0-prune-daemon");
    bin("v0-prune")
        .parent()
        .expect("the binaries' directory")
        .to_path_buf()
}

/// A fresh copy of v0 (`<temp>/v0`) and its surroundings; dropping it
/// removes everything (stop the daemons first).
pub struct V0Install {
    /// The temporary directory holding everything below.
    pub dir: TempDir,
    /// The copy of v0.
    pub root: PathBuf,
    /// `HOME` of every command run here.
    pub home: PathBuf,
    /// Where the `wk` and `claude` stubs are.
    pub stubs: PathBuf,
    /// `TMUX_TMPDIR`: a tmux server of its own.
    pub tmux: TempDir,
    /// `V0_PRUNE_INTERVAL` of every command run here.
    pub interval: String,
}

impl V0Install {
    /// A fresh copy of v0, nothing installed; daemons started here wake
    /// every `interval` (`V0_PRUNE_INTERVAL`).
    pub fn new(interval: &str) -> Self {
        let dir = tempfile::tempdir().expect("a temp dir");
        let root = dir.path().join("v0");
        copy_real_v0(&root);
        let (home, stubs) = (dir.path().join("home"), dir.path().join("stubs"));
        std::fs::create_dir_all(&home).expect("home");
        write_stubs(&stubs);
        Self {
            dir,
            root,
            home,
            stubs,
            tmux: tempfile::tempdir().expect("a temp dir"),
            interval: interval.to_owned(),
        }
    }

    /// A path inside the copy of v0.
    pub fn path(&self, relative: &str) -> PathBuf {
        self.root.join(relative)
    }

    /// v0's state directory here (`XDG_STATE_HOME`), where
    /// `v0_register_project` writes each project's `.v0.root`.
    pub fn state(&self) -> PathBuf {
        self.home.join(".local/state")
    }

    /// The environment v0's commands (and ours) run with here.
    pub fn env(&self) -> Vec<(&'static str, OsString)> {
        vec![
            ("PATH", path_with(&self.stubs)),
            ("HOME", self.home.clone().into()),
            ("XDG_STATE_HOME", self.state().into()),
            ("TMUX_TMPDIR", self.tmux.path().into()),
            ("V0_PRUNE_INTERVAL", self.interval.clone().into()),
            ("GIT_AUTHOR_NAME", "e2e".into()),
            ("GIT_AUTHOR_EMAIL", "e2e@example.com".into()),
            ("GIT_COMMITTER_NAME", "e2e".into()),
            ("GIT_COMMITTER_EMAIL", "e2e@example.com".into()),
        ]
    }

    /// `invocation` with [`Self::env`].
    pub fn with_env(&self, mut invocation: Invocation) -> Invocation {
        for (key, value) in self.env() {
            invocation = invocation.env(key, value);
        }
        invocation
    }

    /// `install-into-v0.sh --from <binaries under test> <args> <this copy>`,
    /// run from the temporary directory.
    pub fn install_ours(&self, args: &[&str]) -> Outcome {
        let mut all: Vec<OsString> = vec!["--from".into(), binaries().into()];
        all.extend(args.iter().map(OsString::from));
        all.push(self.root.clone().into());
        Invocation::program(
            &workspace_root().join("assets/install-into-v0.sh"),
            self.dir.path(),
        )
        .args(all)
        .run()
    }

    /// `<temp>/<name>`: a git repository (branch `main`, one empty commit)
    /// made a v0 project by `v0 init`; its root.
    pub fn init_project(&self, name: &str) -> PathBuf {
        let root = self.dir.path().join(name);
        std::fs::create_dir_all(&root).expect("project dir");
        for args in [
            &["init", "-q", "-b", "main", "."][..],
            &["commit", "-q", "--allow-empty", "-m", "start"][..],
        ] {
            let mut git = Command::new("git");
            git.args(args).current_dir(&root).stdout(Stdio::null());
            for (key, value) in self.env() {
                git.env(key, value);
            }
            let status = git.status().expect("git");
            assert!(status.success(), "git {args:?}");
        }
        self.v0_in(&root, &["init"]).expect_code(0);
        assert!(root.join(".v0.rc").is_file(), "v0 init wrote no .v0.rc");
        root
    }

    /// `v0 <args>` in `cwd`, through v0's dispatcher, as a user types it.
    pub fn v0_in(&self, cwd: &Path, args: &[&str]) -> Outcome {
        self.with_env(Invocation::program(&self.path("bin/v0"), cwd).args(args))
            .run()
    }

    /// `v0-prune <args>` (the binary under test) in `cwd`, with this
    /// environment.
    pub fn v0_prune_in(&self, cwd: &Path, args: &[&str]) -> Outcome {
        self.with_env(Invocation::program(&bin("v0-prune"), cwd).args(args))
            .run()
    }
}
