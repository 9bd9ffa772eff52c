//! The environment variables that steer discovery or settings, cleared for
//! every process a test or the bench starts, so that the developer's own v0
//! project is never touched.

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

/// Clears [`STEERING_VARS`] from `command`'s environment; what the caller
/// sets afterwards is what the process sees.
pub fn without_steering(command: &mut Command) -> &mut Command {
    for var in STEERING_VARS {
        command.env_remove(var);
    }
    command
}
