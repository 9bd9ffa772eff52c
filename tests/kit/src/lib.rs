//! The one test kit: what every test of the workspace and the bench share.
//! A v0 build directory or project in a temporary directory, v0's stamps,
//! waiting for a condition, the built binaries run with an environment
//! that cannot leak in from the developer's shell, the real v0, the
//! processes and terminals a test drives, and made-up daemon reports for
//! the tests that draw them.
//!
//! | module | what it holds |
//! |---|---|
//! | `build_dir` | [`TestBuildDir`]: a build directory, its files and what a daemon leaves there |
//! | `project` | [`TestProject`]: `.v0.rc` and a build directory, `v0-prune` run in it |
//! | `stamps` | [`stamp`], [`hours`]: times as v0 writes them |
//! | `wait` | [`PATIENCE`], [`wait_until`], [`wait_until_held`] |
//! | `bins` | the built binaries: [`bin`], [`bins::profile_dir`], [`bins::find_in`] |
//! | `steering` | [`STEERING_VARS`], cleared for every process started |
//! | `v0` | [`real_v0`], [`copy_real_v0`] |
//! | `v0_install` | [`V0Install`]: a copy of v0 with ours installed, projects `v0 init` made in it |
//! | `invoke` | [`Invocation`], [`Outcome`], [`Background`]: a binary run to completion or in the background |
//! | `process` | [`process_gone`], [`signal`], memory and CPU of a process |
//! | `snapshot` | [`Tree`]: a directory's whole content, to show nothing changed |
//! | `files` | [`files_under`], [`mkfifo`] |
//! | `writers` | [`Writer`]: another process holding a log open |
//! | `tmux` | [`TmuxPane`]: a real terminal |
//! | `records` | [`records::run_record`], [`records::idle_snapshot`]: what a daemon reports, made up |
//! | `child` | [`child::command`], [`child::role`]: a test re-run as its own child process |
//!
//! A kit module names another by its path (`crate::wait::…`), never through
//! the re-exports below, so no two modules depend on each other.

pub mod bins;
pub mod build_dir;
pub mod child;
pub mod files;
pub mod invoke;
pub mod process;
pub mod project;
pub mod records;
pub mod snapshot;
pub mod stamps;
pub mod steering;
pub mod tmux;
pub mod v0;
pub mod v0_install;
pub mod wait;
pub mod writers;

pub use bins::bin;
pub use build_dir::TestBuildDir;
pub use files::{files_under, mkfifo};
pub use invoke::{Background, Invocation, Outcome};
pub use process::{process_gone, signal};
pub use project::TestProject;
pub use snapshot::{Node, Tree};
pub use stamps::{hours, stamp};
pub use steering::{STEERING_VARS, without_steering};
pub use tmux::TmuxPane;
pub use v0::{copy_real_v0, real_v0};
pub use v0_install::V0Install;
pub use wait::{PATIENCE, wait_until, wait_until_held};
pub use writers::Writer;
