//! The daemon's wire protocol: what `v0-prune`, the dashboard and the daemon
//! say to each other over the local socket ([`crate::socket`]).
//!
//! # Framing
//! Every message is one frame: a `u32` big-endian body length, then the body,
//! a [postcard](https://docs.rs/postcard) encoding of a [`ClientMessage`] (client
//! to daemon) or a [`DaemonMessage`] (daemon to client). A body is at most
//! [`MAX_FRAME_LEN`] bytes; a larger length prefix is refused before anything
//! is allocated for it. See [`read_frame`], [`write_frame`] and, for readers
//! inside `tokio::select!`, the cancel-safe [`FrameReader`].
//!
//! # Conversation
//! 1. The client sends [`ClientMessage::Hello`] with its [`PROTOCOL_VERSION`].
//! 2. The daemon answers [`DaemonMessage::Hello`] with *its* version, always,
//!    even when the versions differ, so the client can say exactly what is
//!    wrong; on a mismatch the daemon then closes the connection. The daemon
//!    may instead answer [`DaemonMessage::Rejected`] (at a connection limit, a
//!    peer of another user) and close.
//! 3. Then requests, one at a time, each answered by exactly one message:
//!    - [`ClientMessage::Status`] → [`DaemonMessage::Status`]
//!    - [`ClientMessage::RunNow`] → [`DaemonMessage::RunNowAccepted`]
//!    - [`ClientMessage::Drain`] → [`DaemonMessage::DrainAccepted`]; the daemon
//!      then sends nothing more on that connection and keeps it open until
//!      the process exits, so the client learns of the exit from the close.
//!    - [`ClientMessage::Subscribe`] → [`DaemonMessage::Snapshot`], then
//!      [`DaemonMessage::Event`]s until the daemon exits; a subscriber that
//!      falls too far behind gets [`DaemonMessage::Lagged`] and is dropped.
//!      A subscribed connection accepts no further requests.
//!
//!    Any request may instead be answered by [`DaemonMessage::Error`].
//!
//! # Compatibility
//! [`PROTOCOL_VERSION`] changes whenever any message changes shape. So that
//! two different versions can always at least exchange hellos, the `Hello`
//! variants stay the first variant of both enums and `Rejected` the second,
//! with exactly the fields they have today, forever.

mod apply;
pub mod files;
mod frame;
mod messages;

pub use files::{
    FILES_IN_VIEW, FileHolder, FileInfo, FileMethod, FileRun, FilesView, HolderAccess, QueueInfo,
    SKIPPED_IN_VIEW, StatusCount,
};
pub use frame::{FrameReader, ProtocolError, decode_body, encode_frame, read_frame, write_frame};
pub use messages::{
    BudgetLimit, ClientMessage, DaemonMessage, DaemonState, Event, HISTORY_IN_SNAPSHOT,
    LOG_TAIL_LINES, MAX_TEXT_LEN, RECORD_ERRORS, RECORD_SKIPPED, RunOutcome, RunProgress,
    RunRecord, Snapshot, Totals, Trigger, clip_text, clip_text_to,
};

/// The version of this protocol, sent in both hellos; bump it whenever any
/// message in this module changes shape.
pub const PROTOCOL_VERSION: u32 = 3;

/// The largest frame body either side sends or accepts (4 MiB), so that a
/// broken or hostile peer cannot make the other allocate without bound.
pub const MAX_FRAME_LEN: u32 = 4 * 1024 * 1024;

/// Whether a peer speaking protocol `theirs` can talk to us; both the daemon
/// and the client decide with this, so the rule lives in one place.
pub fn is_compatible(theirs: u32) -> bool {
    theirs == PROTOCOL_VERSION
}

#[cfg(test)]
mod tests;
