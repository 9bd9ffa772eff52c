//! The merge-queue job. (stub — being written)

use super::{EventSink, PruneError, QueueReport, RunOptions};
use crate::paths::BuildDir;

/// Removes old terminal entries from `mergeq/queue.json` under its lock.
pub fn prune(
    build: &BuildDir,
    options: &RunOptions,
    events: EventSink<'_>,
) -> Result<QueueReport, PruneError> {
    let _ = (build, options, events);
    Ok(QueueReport::default())
}
