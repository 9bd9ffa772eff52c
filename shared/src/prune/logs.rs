//! The logs job. (stub — being written)

use super::{EventSink, LogsReport, PruneError, RunOptions};
use crate::paths::BuildDir;

/// Prunes every `*.log` under the build directory.
pub fn prune_all(
    build: &BuildDir,
    options: &RunOptions,
    events: EventSink<'_>,
) -> Result<LogsReport, PruneError> {
    let _ = (build, options, events);
    Ok(LogsReport::default())
}
