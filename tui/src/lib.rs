//! The library half of `v0-prune`: the live dashboard (`v0-prune top`), kept
//! in a library so that its tests, and the binary, reach it the same way;
//! and beside it what the dashboard and the commands both use: [`spawn`]
//! (starting the daemon in the background), [`format`] (times in words) and
//! [`follow`] (following a log through its prunes: `tail -f` and `Enter` in
//! the Files view).

pub mod follow;
pub mod format;
pub mod spawn;
pub mod top;
