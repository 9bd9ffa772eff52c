//! A v0 project for an end-to-end test: `.v0.rc`, its build directory, and
//! a tmux directory of its own, in a temporary directory; `v0-prune` run in it.

use std::cell::Cell;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;

use tempfile::TempDir;
use v0_prune_shared::demo::{self, DemoSpec, Expected};

use crate::bins::CLI;
use crate::build_dir::TestBuildDir;
use crate::invoke::{Invocation, quiet_status};
use crate::snapshot::Tree;

/// A v0 project in a temporary directory, removed when dropped (with any
/// daemon of ours its pid file names, and its tmux server).
pub struct TestProject {
    dir: TempDir,
    /// `TMUX_TMPDIR` for the runs: tmux may create its socket directory there,
    /// which must not show up in snapshots of the project.
    tmux_dir: TempDir,
    /// Whether [`TestProject::tmux`] may have started a server to stop on drop.
    tmux_started: Cell<bool>,
    /// The directory holding `.v0.rc`.
    pub root: PathBuf,
    /// Its build directory.
    pub build: TestBuildDir,
    /// For a demo project: what a prune at the spec's cutoff must remove.
    pub expected: Option<Expected>,
}

impl TestProject {
    /// A realistic project from the demo generator with its default spec.
    pub fn demo() -> Self {
        Self::demo_with(&DemoSpec::default())
    }

    /// A project from the demo generator with a custom spec.
    pub fn demo_with(spec: &DemoSpec) -> Self {
        let dir = tempfile::tempdir().expect("a temp dir");
        let project = demo::generate(&dir.path().join("project"), spec).expect("demo project");
        Self {
            root: project.root,
            build: TestBuildDir::at(project.build_dir.root()),
            expected: Some(project.expected),
            dir,
            tmux_dir: tempfile::tempdir().expect("a temp dir"),
            tmux_started: Cell::new(false),
        }
    }

    /// A project with `.v0.rc` and a build directory at v0's default place
    /// (`.v0/build`) holding only an empty `operations/`, as v0 leaves it once
    /// it has run (v0's own prune stops at `No operations to prune` without
    /// one; ours goes on to the logs and queue either way); tests add exactly
    /// the state they need.
    pub fn bare() -> Self {
        let project = Self::without_build_dir();
        std::fs::create_dir_all(project.build.path("operations")).expect("build dir");
        project
    }

    /// A project whose build directory has not been created yet.
    pub fn without_build_dir() -> Self {
        let dir = tempfile::tempdir().expect("a temp dir");
        let root = dir.path().join("project");
        std::fs::create_dir_all(&root).expect("project root");
        std::fs::write(
            root.join(".v0.rc"),
            "# v0 project\nPROJECT=\"e2e\"\nISSUE_PREFIX=\"e2e\"\n",
        )
        .expect(".v0.rc");
        Self {
            build: TestBuildDir::at(root.join(".v0").join("build")),
            root,
            expected: None,
            dir,
            tmux_dir: tempfile::tempdir().expect("a temp dir"),
            tmux_started: Cell::new(false),
        }
    }

    /// The temporary directory holding the project (and room for siblings).
    pub fn temp(&self) -> &Path {
        self.dir.path()
    }

    /// Every file, directory and symlink under the temp dir, with contents.
    pub fn snapshot(&self) -> Tree {
        Tree::of(self.temp())
    }

    /// Runs `tmux` against this project's private tmux server (its own
    /// `TMUX_TMPDIR`), so tests never see or touch the developer's sessions.
    /// `None` when tmux is not installed.
    pub fn tmux(&self, args: &[&str]) -> Option<bool> {
        self.tmux_started.set(true);
        let mut tmux = Command::new("tmux");
        tmux.args(args)
            .env("TMUX_TMPDIR", self.tmux_dir.path())
            .env_remove("TMUX");
        quiet_status(&mut tmux).map(|status| status.success())
    }

    /// Stops the private tmux server, if a test started one. Runs on drop.
    pub fn stop_tmux(&self) {
        if self.tmux_started.get() {
            let _ = self.tmux(&["kill-server"]);
        }
    }

    /// `v0-prune` with cwd at the project root and a clean environment.
    pub fn v0_prune<I, S>(&self, args: I) -> Invocation
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        Invocation::new(CLI, &self.root)
            .args(args)
            .env("TMUX_TMPDIR", self.tmux_dir.path())
    }
}

impl Drop for TestProject {
    fn drop(&mut self) {
        self.build.stop_daemon();
        self.stop_tmux();
    }
}
