//! The client side of the daemon protocol, shared by the CLI and the dashboard.
//!
//! ```no_run
//! # async fn demo(build: &v0_prune_shared::paths::BuildDir) -> Result<(), v0_prune_shared::client::ClientError> {
//! use v0_prune_shared::client::Client;
//! let mut client = Client::connect(build, "v0-prune status").await?;
//! let snapshot = client.status().await?;
//! println!("daemon {} is {:?}", snapshot.daemon_pid, snapshot.state);
//! # Ok(()) }
//! ```
//!
//! Every call that expects an answer is bounded by a timeout (default
//! [`DEFAULT_TIMEOUT`]), so a stuck daemon turns into a [`ClientError::Timeout`]
//! instead of a hung command. Only what is open-ended by nature waits without
//! limit: the next event of a [`Subscription`] and the exit of a
//! [`Draining`] daemon (callers add their own deadline there).

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::paths::BuildDir;
use crate::protocol::{
    ClientMessage, DaemonMessage, Event, FrameReader, PROTOCOL_VERSION, ProtocolError, RunRecord,
    Snapshot, is_compatible, write_frame,
};
use crate::socket::{self, SocketError, Stream};

/// How long connecting plus the hello, and each request, may take.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);

/// What went wrong talking to the daemon, each with what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// No daemon listens for this build directory.
    #[error(
        "the prune daemon is not running for {} (no daemon on {}); start it with `{}`",
        build_dir.display(),
        socket.display(),
        crate::words::command()
    )]
    NotRunning {
        /// The build directory.
        build_dir: PathBuf,
        /// Where its socket would be.
        socket: PathBuf,
    },
    /// The daemon speaks another protocol version (an upgrade happened while it ran).
    #[error(
        "the running daemon speaks protocol {theirs}, this v0-prune speaks {ours}: restart the daemon with `{0} shutdown && {0}`",
        crate::words::command()
    )]
    VersionMismatch {
        /// Our [`PROTOCOL_VERSION`].
        ours: u32,
        /// The daemon's.
        theirs: u32,
    },
    /// The daemon did not answer in time.
    #[error(
        "the prune daemon on {} did not answer within {:.1}s while {what}; it may be stuck: its log is logs/prune-daemon.log, and `{} shutdown` stops it",
        socket.display(),
        after.as_secs_f64(),
        crate::words::command()
    )]
    Timeout {
        /// What we were waiting for.
        what: &'static str,
        /// The timeout.
        after: Duration,
        /// The daemon's socket.
        socket: PathBuf,
    },
    /// The daemon refused this connection: it is running and answering, but
    /// at a limit (too many watchers, say) or unwilling (another user).
    #[error("the prune daemon refused the connection: {0}")]
    Rejected(String),
    /// The daemon could not carry out a request.
    #[error("the prune daemon could not do that: {0}")]
    Daemon(String),
    /// The socket's other end runs as another user: never trust it.
    #[error(
        "the process listening on {} runs as {}, not as us; refusing to talk to it",
        socket.display(),
        uid.map_or_else(|| "an unknown user".to_owned(), |uid| format!("uid {uid}"))
    )]
    ForeignDaemon {
        /// The socket.
        socket: PathBuf,
        /// The peer's uid, if known.
        uid: Option<u32>,
    },
    /// The daemon closed the connection before answering.
    #[error(
        "the prune daemon closed the connection unexpectedly (did it exit? see logs/prune-daemon.log)"
    )]
    Disconnected,
    /// A subscriber fell behind and the daemon dropped it; subscribe again.
    #[error("fell behind the daemon's events (missed from #{missed_from_seq}); subscribe again")]
    Lagged {
        /// The first event missed.
        missed_from_seq: u64,
    },
    /// The daemon answered something that makes no sense here.
    #[error(
        "the prune daemon answered {got} where {expected} was expected; restart it with `{0} shutdown && {0}`",
        crate::words::command()
    )]
    Unexpected {
        /// What the request expects.
        expected: &'static str,
        /// The kind of message that came.
        got: String,
    },
    /// An earlier error left this connection in an unknown state.
    #[error("this connection to the prune daemon failed earlier; connect again")]
    Broken,
    /// The socket could not be reached (other than "not running").
    #[error(transparent)]
    Socket(#[from] SocketError),
    /// The bytes on the wire were wrong.
    #[error("talking to the prune daemon failed: {0}")]
    Protocol(ProtocolError),
}

impl From<ProtocolError> for ClientError {
    fn from(err: ProtocolError) -> Self {
        match err {
            ProtocolError::Closed => Self::Disconnected,
            ProtocolError::VersionMismatch { ours, theirs } => {
                Self::VersionMismatch { ours, theirs }
            }
            ProtocolError::Refused(reason) => Self::Rejected(reason),
            other => Self::Protocol(other),
        }
    }
}

/// The daemon's answer to [`Client::run_now`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunRequested {
    /// The run that will cover the request; [`Subscription::wait_for_run`] waits for it.
    pub run_id: u64,
    /// Folded into a run that was already pending.
    pub coalesced: bool,
}

/// A connection to the daemon that has completed the hello.
#[derive(Debug)]
pub struct Client {
    stream: Stream,
    frames: FrameReader,
    timeout: Duration,
    socket: PathBuf,
    daemon_pid: u32,
    daemon_version: String,
    broken: bool,
}

impl Client {
    /// Connects to the daemon of `build` and exchanges hellos; `name` tells
    /// the daemon's log who is asking (`v0-prune status`, `dashboard`).
    pub async fn connect(build: &BuildDir, name: &str) -> Result<Self, ClientError> {
        Self::connect_with_timeout(build, name, DEFAULT_TIMEOUT).await
    }

    /// [`Client::connect`] with another bound on connecting, the hello and
    /// each later request.
    pub async fn connect_with_timeout(
        build: &BuildDir,
        name: &str,
        timeout: Duration,
    ) -> Result<Self, ClientError> {
        let socket = socket::socket_path(build);
        let timed_out = || ClientError::Timeout {
            what: "connecting",
            after: timeout,
            socket: socket.clone(),
        };
        tokio::time::timeout(timeout, Self::handshake(build, name, timeout, &socket))
            .await
            .map_err(|_| timed_out())?
    }

    async fn handshake(
        build: &BuildDir,
        name: &str,
        timeout: Duration,
        socket: &Path,
    ) -> Result<Self, ClientError> {
        let stream = match socket::connect(build).await {
            Ok(stream) => stream,
            Err(SocketError::NotRunning { path }) => {
                return Err(ClientError::NotRunning {
                    build_dir: build.root().to_owned(),
                    socket: path,
                });
            }
            Err(err) => return Err(err.into()),
        };
        if !socket::peer_is_same_user(&stream) {
            return Err(ClientError::ForeignDaemon {
                socket: socket.to_owned(),
                uid: socket::peer_uid(&stream),
            });
        }
        let hello = ClientMessage::Hello {
            version: PROTOCOL_VERSION,
            client: name.to_owned(),
        };
        let mut frames = FrameReader::new();
        let written = write_frame(&mut &stream, &hello).await;
        let answer = frames.read(&mut &stream).await;
        if let Err(err) = written {
            // A daemon that refuses us may close before our hello is out:
            // its reason is still there to read, and it is the real answer.
            return Err(match answer {
                Ok(DaemonMessage::Rejected { reason }) => ClientError::Rejected(reason),
                _ => err.into(),
            });
        }
        match answer? {
            DaemonMessage::Hello {
                version,
                daemon_pid,
                daemon_version,
            } => {
                if !is_compatible(version) {
                    return Err(ClientError::VersionMismatch {
                        ours: PROTOCOL_VERSION,
                        theirs: version,
                    });
                }
                Ok(Self {
                    stream,
                    frames,
                    timeout,
                    socket: socket.to_owned(),
                    daemon_pid,
                    daemon_version,
                    broken: false,
                })
            }
            DaemonMessage::Rejected { reason } => Err(ClientError::Rejected(reason)),
            other => Err(unexpected("Hello", &other)),
        }
    }

    /// The daemon's pid, from its hello (for `status` and a last-resort SIGKILL).
    pub fn daemon_pid(&self) -> u32 {
        self.daemon_pid
    }

    /// The daemon's package version, from its hello.
    pub fn daemon_version(&self) -> &str {
        &self.daemon_version
    }

    /// The socket this client is connected to.
    pub fn socket_path(&self) -> &Path {
        &self.socket
    }

    /// The daemon's whole state.
    pub async fn status(&mut self) -> Result<Snapshot, ClientError> {
        match self
            .request(ClientMessage::Status, "waiting for its status")
            .await?
        {
            DaemonMessage::Status(snapshot) => Ok(snapshot),
            other => Err(self.unexpected("Status", &other)),
        }
    }

    /// Asks for a prune run now; requests during a run are coalesced into one more run.
    pub async fn run_now(&mut self) -> Result<RunRequested, ClientError> {
        match self
            .request(ClientMessage::RunNow, "asking it to run now")
            .await?
        {
            DaemonMessage::RunNowAccepted { run_id, coalesced } => {
                Ok(RunRequested { run_id, coalesced })
            }
            other => Err(self.unexpected("RunNowAccepted", &other)),
        }
    }

    /// Asks the daemon to finish its current run and exit; the returned
    /// [`Draining`] tells when it has.
    pub async fn drain(mut self) -> Result<Draining, ClientError> {
        match self
            .request(ClientMessage::Drain, "asking it to drain")
            .await?
        {
            DaemonMessage::DrainAccepted => Ok(Draining { client: self }),
            other => Err(self.unexpected("DrainAccepted", &other)),
        }
    }

    /// Turns this connection into the event stream: waits (bounded by the
    /// timeout) for the daemon's snapshot, which [`Subscription::next`] then
    /// returns first.
    pub async fn subscribe(mut self) -> Result<Subscription, ClientError> {
        match self
            .request(ClientMessage::Subscribe, "subscribing to its events")
            .await?
        {
            DaemonMessage::Snapshot { seq, snapshot } => Ok(Subscription {
                first: Some(Update::Snapshot {
                    seq,
                    snapshot: Box::new(snapshot),
                }),
                client: self,
                closed: false,
            }),
            other => Err(self.unexpected("Snapshot", &other)),
        }
    }

    /// Sends one request and reads its answer within the timeout. Any failure
    /// leaves the stream at an unknown point, so the client is marked broken.
    async fn request(
        &mut self,
        message: ClientMessage,
        waiting_for: &'static str,
    ) -> Result<DaemonMessage, ClientError> {
        if self.broken {
            return Err(ClientError::Broken);
        }
        self.broken = true;
        let stream = &self.stream;
        let frames = &mut self.frames;
        let exchange = async move {
            let written = write_frame(&mut &*stream, &message).await;
            let answer = frames.read::<_, DaemonMessage>(&mut &*stream).await;
            match (written, answer) {
                (Ok(()), answer) => answer,
                // Refused and closed before our request was out: the
                // refusal is the answer, not the broken pipe.
                (Err(_), Ok(refused @ DaemonMessage::Rejected { .. })) => Ok(refused),
                (Err(err), _) => Err(err),
            }
        };
        let answer = tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| ClientError::Timeout {
                what: waiting_for,
                after: self.timeout,
                socket: self.socket.clone(),
            })??;
        match answer {
            DaemonMessage::Error { message } => {
                // The protocol keeps the connection usable after an error reply.
                self.broken = false;
                Err(ClientError::Daemon(message))
            }
            DaemonMessage::Rejected { reason } => Err(ClientError::Rejected(reason)),
            answer => {
                self.broken = false;
                Ok(answer)
            }
        }
    }

    fn unexpected(&mut self, expected: &'static str, got: &DaemonMessage) -> ClientError {
        self.broken = true;
        unexpected(expected, got)
    }

    /// Reads the next message with no timeout (events come when they come).
    async fn next_message(&mut self) -> Result<DaemonMessage, ProtocolError> {
        self.frames.read(&mut &self.stream).await
    }
}

/// A message's variant name, for error messages (its contents may be huge).
fn kind(message: &DaemonMessage) -> &'static str {
    match message {
        DaemonMessage::Hello { .. } => "Hello",
        DaemonMessage::Rejected { .. } => "Rejected",
        DaemonMessage::Status(_) => "Status",
        DaemonMessage::RunNowAccepted { .. } => "RunNowAccepted",
        DaemonMessage::DrainAccepted => "DrainAccepted",
        DaemonMessage::Snapshot { .. } => "Snapshot",
        DaemonMessage::Event { .. } => "Event",
        DaemonMessage::Lagged { .. } => "Lagged",
        DaemonMessage::Error { .. } => "Error",
    }
}

fn unexpected(expected: &'static str, got: &DaemonMessage) -> ClientError {
    ClientError::Unexpected {
        expected,
        got: kind(got).to_owned(),
    }
}

/// A daemon that accepted [`Client::drain`] and is finishing its run.
#[derive(Debug)]
pub struct Draining {
    client: Client,
}

impl Draining {
    /// The draining daemon's pid, for the SIGKILL fallback after a timeout.
    pub fn daemon_pid(&self) -> u32 {
        self.client.daemon_pid
    }

    /// Waits, without a timeout of its own, until the daemon has exited: it
    /// keeps this connection open until then, so the close is the signal.
    pub async fn wait_for_exit(mut self) -> Result<(), ClientError> {
        loop {
            match self.client.next_message().await {
                // Nothing more is expected here; tolerate a chatty daemon.
                Ok(_) => continue,
                Err(ProtocolError::Closed) => return Ok(()),
                // A daemon killed mid-write, or its socket reset: it is gone too.
                Err(ProtocolError::Truncated) => return Ok(()),
                Err(ProtocolError::Io(err))
                    if err.kind() == std::io::ErrorKind::ConnectionReset =>
                {
                    return Ok(());
                }
                Err(err) => return Err(err.into()),
            }
        }
    }
}

/// One item of the event stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Update {
    /// The whole state; always the first item.
    Snapshot {
        /// The last event it includes.
        seq: u64,
        /// The state.
        snapshot: Box<Snapshot>,
    },
    /// Something happened.
    Event {
        /// Its number, one more than the previous.
        seq: u64,
        /// What.
        event: Event,
    },
    /// This subscriber fell behind and the daemon is dropping it; the stream
    /// ends after this. Subscribe again for a fresh snapshot.
    Lagged {
        /// The first event missed.
        missed_from_seq: u64,
    },
}

/// The live event stream of one daemon, from [`Client::subscribe`].
#[derive(Debug)]
pub struct Subscription {
    client: Client,
    first: Option<Update>,
    closed: bool,
}

impl Subscription {
    /// The next update, or `None` once the daemon has closed the stream
    /// (it exited, or dropped us after [`Update::Lagged`]).
    ///
    /// Cancel-safe: it can be one branch of a `tokio::select!`.
    pub async fn next(&mut self) -> Result<Option<Update>, ClientError> {
        if let Some(first) = self.first.take() {
            return Ok(Some(first));
        }
        if self.closed {
            return Ok(None);
        }
        let message = match self.client.next_message().await {
            Ok(message) => message,
            Err(ProtocolError::Closed) => {
                self.closed = true;
                return Ok(None);
            }
            Err(err) => {
                self.closed = true;
                return Err(err.into());
            }
        };
        match message {
            DaemonMessage::Event { seq, event } => Ok(Some(Update::Event { seq, event })),
            DaemonMessage::Lagged { missed_from_seq } => {
                self.closed = true;
                Ok(Some(Update::Lagged { missed_from_seq }))
            }
            DaemonMessage::Snapshot { seq, snapshot } => Ok(Some(Update::Snapshot {
                seq,
                snapshot: Box::new(snapshot),
            })),
            DaemonMessage::Error { message } => Err(ClientError::Daemon(message)),
            other => {
                self.closed = true;
                Err(unexpected("Event", &other))
            }
        }
    }

    /// Follows the stream until run `run_id` has finished and returns its
    /// record: `v0-prune --wait` subscribes first, then asks [`Client::run_now`]
    /// on a second connection, then calls this, so the finish cannot be missed.
    pub async fn wait_for_run(&mut self, run_id: u64) -> Result<RunRecord, ClientError> {
        while let Some(update) = self.next().await? {
            match update {
                Update::Snapshot { snapshot, .. } => {
                    let Snapshot {
                        last_run, history, ..
                    } = *snapshot;
                    if let Some(done) = last_run
                        .into_iter()
                        .chain(history)
                        .find(|record| record.run_id == run_id)
                    {
                        return Ok(done);
                    }
                }
                Update::Event {
                    event: Event::RunFinished { record },
                    ..
                } if record.run_id == run_id => return Ok(record),
                Update::Event { .. } => {}
                Update::Lagged { missed_from_seq } => {
                    return Err(ClientError::Lagged { missed_from_seq });
                }
            }
        }
        Err(ClientError::Disconnected)
    }

    /// The daemon's pid, from its hello.
    pub fn daemon_pid(&self) -> u32 {
        self.client.daemon_pid
    }
}

#[cfg(test)]
mod tests;
