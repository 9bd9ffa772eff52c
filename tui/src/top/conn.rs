//! The dashboard's link to the daemon: an explicit `Connected | Disconnected`
//! state machine that subscribes, forwards the event stream, and when the
//! stream ends reconnects with backoff and subscribes again (a fresh snapshot
//! each time, so nothing missed while away is ever guessed at).
//!
//! It runs as its own task so that a slow connect never delays a key press;
//! the dashboard sees only [`LinkEvent`]s on a channel.

use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep_until};
use v0_prune_shared::client::{Client, ClientError, Subscription, Update};
use v0_prune_shared::paths::BuildDir;
use v0_prune_shared::socket::SocketError;

/// The name the dashboard gives in its hello, for the daemon's log.
pub const CLIENT_NAME: &str = "v0-prune top";

/// The first retry after a failure, doubled on each further failure.
const FIRST_RETRY: Duration = Duration::from_millis(250);

/// The longest wait between two attempts: a daemon started by someone else
/// (a plain `v0-prune`) shows up within this long.
const MAX_RETRY: Duration = Duration::from_secs(5);

/// Events waiting for the dashboard; when it falls this far behind, the
/// link stops reading, and the daemon drops us rather than stall.
const EVENT_QUEUE: usize = 1024;

/// What the link reports to the dashboard.
#[derive(Debug, Clone, PartialEq)]
pub enum LinkEvent {
    /// An item of the subscription; after every (re)connect the first one is
    /// an [`Update::Snapshot`].
    Update(Update),
    /// The link is down; it tries again after `retry_in`.
    Down(Down),
}

/// Why the link is down and when it tries again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Down {
    /// What happened.
    pub kind: DownKind,
    /// Failed attempts in a row (0 right after a connection closed).
    pub attempt: u32,
    /// When the next attempt is.
    pub retry_in: Duration,
}

/// The kinds of "down" the screen tells apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DownKind {
    /// No daemon listens for this build directory.
    NotRunning,
    /// The daemon closed the stream (it exited, or dropped us for lagging).
    Closed,
    /// The daemon speaks another protocol version; the message says what to do.
    Incompatible(String),
    /// The daemon runs and answered, but turned this dashboard away (it
    /// serves its limit of watchers): its reason.
    Refused(String),
    /// Anything else, in words.
    Failed(String),
}

impl DownKind {
    /// Sorts a client error into what the screen shows for it.
    pub fn from_error(err: &ClientError) -> Self {
        match err {
            ClientError::NotRunning { .. }
            | ClientError::Socket(SocketError::NotRunning { .. }) => Self::NotRunning,
            ClientError::VersionMismatch { .. } => Self::Incompatible(err.to_string()),
            ClientError::Rejected(reason) => Self::Refused(reason.clone()),
            ClientError::Disconnected => Self::Closed,
            other => Self::Failed(other.to_string()),
        }
    }
}

/// Requests from the dashboard to the link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkCommand {
    /// Try to connect now (the user just started the daemon).
    ReconnectNow,
    /// Drop the stream and subscribe again (the dashboard saw a gap in the
    /// sequence numbers and wants a fresh snapshot).
    Resubscribe,
}

/// Exponential backoff between connection attempts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Backoff {
    failures: u32,
}

impl Backoff {
    /// Failed attempts in a row.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// Records a failed attempt and returns how long to wait before the next.
    pub fn fail(&mut self) -> Duration {
        let delay = FIRST_RETRY
            .saturating_mul(2u32.saturating_pow(self.failures.min(16)))
            .min(MAX_RETRY);
        self.failures = self.failures.saturating_add(1);
        delay
    }

    /// Starts over: the next failure waits the shortest time again.
    pub fn reset(&mut self) {
        self.failures = 0;
    }
}

/// The state machine itself.
enum Conn {
    Connected(Box<Subscription>),
    Disconnected { backoff: Backoff, retry_at: Instant },
}

/// The dashboard's end of the link: events in, commands out. Dropping it
/// stops the link's task.
#[derive(Debug)]
pub struct LinkHandle {
    /// What the link reports, in order.
    pub events: mpsc::Receiver<LinkEvent>,
    commands: mpsc::UnboundedSender<LinkCommand>,
    task: Option<JoinHandle<()>>,
}

impl LinkHandle {
    /// A handle over plain channels, with no task behind it: tests play the
    /// daemon's side by sending events and reading the commands.
    pub fn from_channels(
        events: mpsc::Receiver<LinkEvent>,
        commands: mpsc::UnboundedSender<LinkCommand>,
    ) -> Self {
        Self {
            events,
            commands,
            task: None,
        }
    }

    /// Asks the link for something; ignored once the link has stopped.
    pub fn send(&self, command: LinkCommand) {
        let _ = self.commands.send(command);
    }
}

impl Drop for LinkHandle {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// Starts the link to the daemon of `build`; the first attempt is immediate.
pub fn spawn_link(build: BuildDir) -> LinkHandle {
    let (event_tx, events) = mpsc::channel(EVENT_QUEUE);
    let (commands, command_rx) = mpsc::unbounded_channel();
    let task = tokio::spawn(run_link(build, event_tx, command_rx));
    LinkHandle {
        events,
        commands,
        task: Some(task),
    }
}

async fn run_link(
    build: BuildDir,
    events: mpsc::Sender<LinkEvent>,
    mut commands: mpsc::UnboundedReceiver<LinkCommand>,
) {
    let mut conn = Conn::Disconnected {
        backoff: Backoff::default(),
        retry_at: Instant::now(),
    };
    // `step` returns `None` once the dashboard has gone away.
    while let Some(next) = step(conn, &build, &events, &mut commands).await {
        conn = next;
    }
}

/// One transition of the state machine.
async fn step(
    conn: Conn,
    build: &BuildDir,
    events: &mpsc::Sender<LinkEvent>,
    commands: &mut mpsc::UnboundedReceiver<LinkCommand>,
) -> Option<Conn> {
    match conn {
        Conn::Disconnected {
            mut backoff,
            retry_at,
        } => {
            tokio::select! {
                () = sleep_until(retry_at) => {}
                command = commands.recv() => {
                    command?;
                    // Either command means "try now, and quickly again after".
                    backoff.reset();
                }
            }
            match subscribe(build).await {
                Ok(subscription) => Some(Conn::Connected(Box::new(subscription))),
                Err(err) => {
                    let attempt = backoff.failures() + 1;
                    let retry_in = backoff.fail();
                    let down = Down {
                        kind: DownKind::from_error(&err),
                        attempt,
                        retry_in,
                    };
                    events.send(LinkEvent::Down(down)).await.ok()?;
                    Some(Conn::Disconnected {
                        backoff,
                        retry_at: Instant::now() + retry_in,
                    })
                }
            }
        }
        Conn::Connected(mut subscription) => {
            let next = tokio::select! {
                next = subscription.next() => next,
                command = commands.recv() => {
                    command?;
                    // Drop this stream and subscribe again for a fresh snapshot.
                    return Some(Conn::Disconnected {
                        backoff: Backoff::default(),
                        retry_at: Instant::now(),
                    });
                }
            };
            let kind = match next {
                Ok(Some(Update::Lagged { .. })) => {
                    // The daemon dropped us for falling behind: catching up
                    // is a new snapshot away, not worth a "disconnected".
                    return Some(Conn::Disconnected {
                        backoff: Backoff::default(),
                        retry_at: Instant::now(),
                    });
                }
                Ok(Some(update)) => {
                    events.send(LinkEvent::Update(update)).await.ok()?;
                    return Some(Conn::Connected(subscription));
                }
                Ok(None) => DownKind::Closed,
                Err(err) => DownKind::from_error(&err),
            };
            let mut backoff = Backoff::default();
            let retry_in = backoff.fail();
            let down = Down {
                kind,
                attempt: 0,
                retry_in,
            };
            events.send(LinkEvent::Down(down)).await.ok()?;
            Some(Conn::Disconnected {
                backoff,
                retry_at: Instant::now() + retry_in,
            })
        }
    }
}

async fn subscribe(build: &BuildDir) -> Result<Subscription, ClientError> {
    Client::connect(build, CLIENT_NAME).await?.subscribe().await
}

#[cfg(test)]
mod tests;
