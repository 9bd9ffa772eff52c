//! The socket server: accepts clients, answers requests, streams events.
//!
//! Every connection is its own task, and nothing a client does (garbage,
//! half a frame, a huge length prefix, silence, not reading) can stall the
//! daemon or another client:
//! - only our own user is served (peer uid checked; the socket is 0600);
//! - watchers (`Subscribe`) and control exchanges (`Status`, `RunNow`,
//!   `Drain`) have budgets of their own ([`MAX_WATCHERS`], [`MAX_CONTROL`]),
//!   so no number of watchers can keep `status` or `v0 shutdown` out; a
//!   connection over a budget is told which one, in a `Rejected`, and closed;
//! - the hello must arrive within [`HELLO_TIMEOUT`], requests within
//!   [`IDLE_TIMEOUT`] of each other, and answers are written with a timeout;
//! - subscribers read from a bounded queue the daemon fills without waiting
//!   ([`crate::hub`]); one that falls behind gets `Lagged` and is closed.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt as _};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use v0_prune_shared::protocol::{
    ClientMessage, DaemonMessage, FrameReader, PROTOCOL_VERSION, ProtocolError, is_compatible,
    write_frame,
};
use v0_prune_shared::socket::{self, Listener, Stream};

use crate::daemon::Command;
use crate::hub::{Hub, Subscription};
use crate::run::now_ms;

/// Watchers (`v0-prune top`, `v0-prune events`) served at once; the next
/// one gets `Rejected` with [`watchers_full_reason`].
pub const MAX_WATCHERS: usize = 256;

/// Control connections (status, run now, drain) served at once, beside the
/// watchers. Each lasts one short exchange, so only a flood of them can fill
/// this, and only for as long as the flood lasts.
pub const MAX_CONTROL: usize = 64;

/// Connections still before their first request (saying hello), whatever
/// they turn out to be.
pub const MAX_OPENING: usize = 64;

/// How long a new client has to say hello.
pub const HELLO_TIMEOUT: Duration = Duration::from_secs(3);

/// How long a client may sit between requests before we hang up on it.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// How long writing one answer may take before the client counts as stuck.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(5);

/// Most bytes of queued events sent to a subscriber in one write.
const BATCH_BYTES: usize = 64 * 1024;

/// How long a lagging subscriber gets to take its `Lagged` notice.
const LAGGED_DEADLINE: Duration = Duration::from_secs(5);

/// How long a refused client gets to finish sending its hello before we answer.
const REFUSAL_HELLO_WAIT: Duration = Duration::from_millis(500);

/// At most one "too many connections" line per this many milliseconds.
const REFUSAL_LOG_EVERY_MS: i64 = 10_000;

/// The longest client name we repeat in the log.
const CLIENT_NAME_MAX: usize = 64;

/// What every connection task shares.
struct Shared {
    hub: Arc<Hub>,
    commands: mpsc::Sender<Command>,
    opening: Arc<Semaphore>,
    watchers: Arc<Semaphore>,
    control: Arc<Semaphore>,
    shutdown: watch::Receiver<bool>,
    streaming: Arc<Streaming>,
    last_refusal_log_ms: AtomicI64,
}

/// Counts subscribers still writing, so exit can wait for `Exiting` to go out.
#[derive(Default)]
struct Streaming {
    active: AtomicUsize,
    idle: Notify,
}

struct StreamingGuard(Arc<Streaming>);

impl Streaming {
    fn enter(self: &Arc<Self>) -> StreamingGuard {
        self.active.fetch_add(1, Ordering::SeqCst);
        StreamingGuard(Arc::clone(self))
    }

    async fn wait_idle(&self) {
        loop {
            let notified = self.idle.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.active.load(Ordering::SeqCst) == 0 {
                return;
            }
            notified.await;
        }
    }
}

impl Drop for StreamingGuard {
    fn drop(&mut self) {
        if self.0.active.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

/// The running server; [`Server::stop`] closes the socket.
pub struct Server {
    stop: watch::Sender<bool>,
    accept: JoinHandle<()>,
    streaming: Arc<Streaming>,
}

impl Server {
    /// Starts accepting on `listener`.
    pub fn start(listener: Listener, hub: Arc<Hub>, commands: mpsc::Sender<Command>) -> Self {
        let (stop, shutdown) = watch::channel(false);
        let streaming = Arc::new(Streaming::default());
        let shared = Arc::new(Shared {
            hub,
            commands,
            opening: Arc::new(Semaphore::new(MAX_OPENING)),
            watchers: Arc::new(Semaphore::new(MAX_WATCHERS)),
            control: Arc::new(Semaphore::new(MAX_CONTROL)),
            shutdown: shutdown.clone(),
            streaming: Arc::clone(&streaming),
            last_refusal_log_ms: AtomicI64::new(i64::MIN),
        });
        let accept = tokio::spawn(accept_loop(listener, shared, shutdown));
        Self {
            stop,
            accept,
            streaming,
        }
    }

    /// Stops accepting, removes the socket file and hangs up on clients
    /// between requests; then gives subscribers up to `flush` to receive
    /// what is queued for them (the hub must be closed first).
    pub async fn stop(self, flush: Duration) {
        let _ = self.stop.send(true);
        let _ = self.accept.await;
        let _ = tokio::time::timeout(flush, self.streaming.wait_idle()).await;
    }
}

async fn accept_loop(listener: Listener, shared: Arc<Shared>, mut shutdown: watch::Receiver<bool>) {
    let mut failing = false;
    loop {
        tokio::select! {
            _ = shutdown.changed() => break,
            accepted = listener.accept() => match accepted {
                Ok(stream) => {
                    failing = false;
                    tokio::spawn(serve_connection(stream, Arc::clone(&shared)));
                }
                Err(err) => {
                    if !failing {
                        tracing::warn!("Could not accept a client connection: {err}");
                        failing = true;
                    }
                    // Out of descriptors, say: let some close before trying again.
                    tokio::select! {
                        _ = shutdown.changed() => break,
                        () = tokio::time::sleep(Duration::from_millis(100)) => {}
                    }
                }
            },
        }
    }
    // Dropping the listener removes the socket file.
    drop(listener);
}

async fn serve_connection(stream: Stream, shared: Arc<Shared>) {
    if !socket::peer_is_same_user(&stream) {
        let uid = socket::peer_uid(&stream);
        tracing::warn!(
            "Refused a client of uid {}: only the daemon's own user may connect",
            uid.map_or_else(|| "unknown".to_owned(), |uid| uid.to_string())
        );
        reject(
            &stream,
            "only the user running the prune daemon may connect",
        )
        .await;
        return;
    }
    let Ok(opening) = Arc::clone(&shared.opening).try_acquire_owned() else {
        shared.log_refusal(Budget::Opening);
        // Take the hello the client is sending first, so that its write
        // succeeds and it reads our reason instead of a broken pipe.
        let _ = tokio::time::timeout(
            REFUSAL_HELLO_WAIT,
            FrameReader::new().read::<_, ClientMessage>(&mut &stream),
        )
        .await;
        reject(&stream, &Budget::Opening.reason()).await;
        return;
    };
    let mut reader = FrameReader::new();
    let mut input = &stream;
    let client = match tokio::time::timeout(HELLO_TIMEOUT, reader.read(&mut input)).await {
        Err(_elapsed) => {
            tracing::warn!(
                "Dropped a client that did not say hello within {}s",
                HELLO_TIMEOUT.as_secs()
            );
            return;
        }
        Ok(Err(ProtocolError::Closed)) => return,
        Ok(Err(err)) => {
            tracing::warn!("Dropped a client before its hello: {err}");
            return;
        }
        Ok(Ok(ClientMessage::Hello { version, client })) => {
            let client = printable(&client);
            if !hello(&stream, version, &client).await {
                return;
            }
            client
        }
        Ok(Ok(other)) => {
            tracing::warn!("Dropped a client that sent {other:?} before its hello");
            reject(&stream, "the first message must be Hello").await;
            return;
        }
    };
    serve_requests(&stream, reader, &client, &shared, opening).await;
}

/// Answers the hello; false when the conversation ends here.
async fn hello(stream: &Stream, version: u32, client: &str) -> bool {
    let ours = DaemonMessage::Hello {
        version: PROTOCOL_VERSION,
        daemon_pid: std::process::id(),
        daemon_version: env!("CARGO_PKG_VERSION").to_owned(),
    };
    if !send(stream, &ours).await {
        return false;
    }
    if is_compatible(version) {
        return true;
    }
    tracing::warn!(
        "Refused {client}: it speaks protocol {version}, this daemon speaks {PROTOCOL_VERSION}"
    );
    let reason = format!(
        "protocol version mismatch: this daemon (v0-prune {}) speaks protocol {PROTOCOL_VERSION}, \
         the client speaks {version}; use v0-prune binaries of the same version",
        env!("CARGO_PKG_VERSION")
    );
    reject(stream, &reason).await;
    false
}

async fn serve_requests(
    stream: &Stream,
    mut reader: FrameReader,
    client: &str,
    shared: &Shared,
    opening: OwnedSemaphorePermit,
) {
    let mut shutdown = shared.shutdown.clone();
    let mut input = stream;
    // The connection's place, held for its life: among those opening until
    // its first request says what it is, then a control or a watcher place.
    let mut _seat = opening;
    let mut sorted = false;
    loop {
        let request = tokio::select! {
            read = tokio::time::timeout(IDLE_TIMEOUT, reader.read(&mut input)) => read,
            _ = shutdown.changed() => return,
        };
        let request = match request {
            // Idle too long, or gone.
            Err(_) | Ok(Err(ProtocolError::Closed)) => return,
            Ok(Err(err)) => {
                tracing::warn!("Dropped client {client}: {err}");
                return;
            }
            Ok(Ok(request)) => request,
        };
        if matches!(request, ClientMessage::Subscribe) {
            let Ok(watcher) = Arc::clone(&shared.watchers).try_acquire_owned() else {
                shared.log_refusal(Budget::Watchers);
                reject(stream, &Budget::Watchers.reason()).await;
                return;
            };
            _seat = watcher;
        } else if !sorted {
            let Ok(control) = Arc::clone(&shared.control).try_acquire_owned() else {
                shared.log_refusal(Budget::Control);
                reject(stream, &Budget::Control.reason()).await;
                return;
            };
            _seat = control;
            sorted = true;
        }
        let answer = match request {
            ClientMessage::Hello { .. } => DaemonMessage::Error {
                message: "hello was already said on this connection".to_owned(),
            },
            ClientMessage::Status => DaemonMessage::Status(shared.hub.snapshot()),
            ClientMessage::RunNow => run_now(client, shared).await,
            ClientMessage::Drain => {
                let command = Command::Drain {
                    client: client.to_owned(),
                };
                // A closed channel means the daemon is already on its way out.
                let _ = shared.commands.send(command).await;
                if send(stream, &DaemonMessage::DrainAccepted).await {
                    // The client learns of the exit from the connection
                    // closing, which happens when the process ends.
                    std::future::pending::<()>().await;
                }
                return;
            }
            ClientMessage::Subscribe => {
                match shared.hub.subscribe() {
                    Some(subscription) => {
                        let _streaming = shared.streaming.enter();
                        stream_events(stream, subscription).await;
                    }
                    None => {
                        let message = DaemonMessage::Error {
                            message: "the daemon is exiting".to_owned(),
                        };
                        send(stream, &message).await;
                    }
                }
                return;
            }
        };
        if !send(stream, &answer).await {
            return;
        }
    }
}

async fn run_now(client: &str, shared: &Shared) -> DaemonMessage {
    let (reply, answer) = oneshot::channel();
    let command = Command::RunNow {
        client: client.to_owned(),
        reply,
    };
    if shared.commands.send(command).await.is_err() {
        return exiting();
    }
    match answer.await {
        Ok(Ok(accepted)) => DaemonMessage::RunNowAccepted {
            run_id: accepted.run_id,
            coalesced: accepted.coalesced,
        },
        Ok(Err(message)) => DaemonMessage::Error { message },
        Err(_) => exiting(),
    }
}

fn exiting() -> DaemonMessage {
    DaemonMessage::Error {
        message: "the daemon is exiting; it starts no new run".to_owned(),
    }
}

/// A subscription: the snapshot, then every event until the daemon exits or
/// the client falls behind.
async fn stream_events(stream: &Stream, subscription: Subscription) {
    let Subscription {
        seq,
        snapshot,
        mut events,
        lagged,
    } = subscription;
    if !send(stream, &DaemonMessage::Snapshot { seq, snapshot }).await {
        return;
    }
    // Resolves only when the hub dropped us for lagging; a hub that closes
    // normally drops the sender, and then the queue's end says goodbye.
    let lag = async move {
        if lagged.await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    tokio::pin!(lag);
    let mut next_seq = seq + 1;
    let (mut input, mut output) = (stream, stream);
    let mut scratch = [0u8; 512];
    loop {
        tokio::select! {
            biased;
            () = &mut lag => {
                send_lagged(stream, next_seq).await;
                return;
            }
            frame = events.recv() => {
                let Some(frame) = frame else { return };
                // Events come in bursts (a run's start is three or four):
                // whatever is already queued goes out in the same write.
                let mut last_seq = frame.seq;
                let mut batch: Option<Vec<u8>> = None;
                while let Ok(more) = events.try_recv() {
                    let buffer = batch.get_or_insert_with(|| frame.bytes.to_vec());
                    buffer.extend_from_slice(&more.bytes);
                    last_seq = more.seq;
                    if buffer.len() >= BATCH_BYTES {
                        break;
                    }
                }
                let write = output.write_all(batch.as_deref().unwrap_or(&frame.bytes));
                tokio::pin!(write);
                tokio::select! {
                    biased;
                    written = &mut write => {
                        if written.is_err() {
                            return;
                        }
                    }
                    () = &mut lag => {
                        // Finish this frame if the client lets us, so the
                        // notice that follows is readable.
                        let finished = tokio::time::timeout(LAGGED_DEADLINE, write).await;
                        if matches!(finished, Ok(Ok(()))) {
                            send_lagged(stream, last_seq + 1).await;
                        }
                        return;
                    }
                }
                next_seq = last_seq + 1;
            }
            read = input.read(&mut scratch) => {
                // A subscribed connection takes no requests; only its end matters.
                if !matches!(read, Ok(n) if n > 0) {
                    return;
                }
            }
        }
    }
}

async fn send_lagged(stream: &Stream, missed_from_seq: u64) {
    let notice = DaemonMessage::Lagged { missed_from_seq };
    let mut output = stream;
    let _ = tokio::time::timeout(LAGGED_DEADLINE, write_frame(&mut output, &notice)).await;
}

/// Writes one message within [`WRITE_TIMEOUT`]; false if the client is gone or stuck.
async fn send(stream: &Stream, message: &DaemonMessage) -> bool {
    let mut output = stream;
    matches!(
        tokio::time::timeout(WRITE_TIMEOUT, write_frame(&mut output, message)).await,
        Ok(Ok(()))
    )
}

/// Tells a client why we will not talk to it, as far as it listens; the
/// caller then drops the connection, which closes it.
async fn reject(stream: &Stream, reason: &str) {
    let message = DaemonMessage::Rejected {
        reason: reason.to_owned(),
    };
    let mut output = stream;
    let _ = tokio::time::timeout(Duration::from_secs(1), write_frame(&mut output, &message)).await;
}

/// A budget a connection can find full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Budget {
    Opening,
    Control,
    Watchers,
}

impl Budget {
    /// The words a refused client prints, with the limit and what to do.
    fn reason(self) -> String {
        match self {
            Self::Opening => format!(
                "{MAX_OPENING} connections are opening at once (its limit); try again in a moment"
            ),
            Self::Control => format!(
                "it is answering {MAX_CONTROL} status, run-now and drain requests at once (its limit); try again in a moment"
            ),
            Self::Watchers => watchers_full_reason(),
        }
    }
}

/// Why a watcher over [`MAX_WATCHERS`] is refused, in the words the clients print.
pub fn watchers_full_reason() -> String {
    let command = v0_prune_shared::words::command();
    format!(
        "it already serves {MAX_WATCHERS} watchers (its limit); close some `{command} top` or `{command} events`"
    )
}

impl Shared {
    fn log_refusal(&self, budget: Budget) {
        let now = now_ms();
        let last = self.last_refusal_log_ms.load(Ordering::Relaxed);
        if now.saturating_sub(last) >= REFUSAL_LOG_EVERY_MS {
            self.last_refusal_log_ms.store(now, Ordering::Relaxed);
            let what = match budget {
                Budget::Opening => format!("{MAX_OPENING} connections are opening at once"),
                Budget::Control => format!("{MAX_CONTROL} control requests are in progress"),
                Budget::Watchers => format!("{MAX_WATCHERS} watchers are connected"),
            };
            tracing::warn!("Refusing clients: {what}");
        }
    }
}

/// A client's self-given name, safe to put in a log line.
fn printable(name: &str) -> String {
    let clean: String = name
        .chars()
        .filter(|c| !c.is_control())
        .take(CLIENT_NAME_MAX)
        .collect();
    if clean.is_empty() {
        "an unnamed client".to_owned()
    } else {
        clean
    }
}
