//! The environment variables that steer discovery or settings, cleared for
//! every process a test or the bench starts, so that the developer's own v0
//! project is never touched.

use std::path::PathBuf;
use std::process::Command;

/// What finds a project or changes its settings (and `TMUX`, which a
/// dashboard or v0's session check would follow to the developer's server).
pub const STEERING_VARS: [&str; 7] = [
    "V0_ROOT",
    "BUILD_DIR",
    "V0_BUILD_DIR",
    "V0_PRUNE_RETENTION",
    "V0_PRUNE_INTERVAL",
    "V0_PRUNE_FORCE",
    "TMUX",
];

/// Where v0's registry of projects is for every process a test starts
/// (`XDG_STATE_HOME`): under the workspace's `target/`, so that the commands,
/// which register the project they run in as v0 does, never write into the
/// developer's own `~/.local/state/v0`. A test about the registry sets its
/// own afterwards.
pub fn test_state_home() -> PathBuf {
    crate::bins::workspace_root().join("target/test-state")
}

/// Clears [`STEERING_VARS`] from `command`'s environment and points v0's
/// state directory at [`test_state_home`]; what the caller sets afterwards
/// is what the process sees.
pub fn without_steering(command: &mut Command) -> &mut Command {
    for var in STEERING_VARS {
        command.env_remove(var);
    }
    command.env("XDG_STATE_HOME", test_state_home())
}
