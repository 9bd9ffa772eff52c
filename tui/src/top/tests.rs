//! The real loop on a `TestBackend`: scripted keys, a scripted link, and
//! for commands a fake daemon on a real socket. Every frame the loop draws
//! is shown to the test, which waits for the one it expects, never for a
//! fixed time.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_core::Stream;
use ratatui::Terminal;
use ratatui::backend::{Backend, ClearType, TestBackend, WindowSize};
use ratatui::buffer::{Buffer, Cell};
use ratatui::crossterm::event::{Event as TermEvent, KeyCode, KeyEvent, KeyModifiers};
use ratatui::layout::{Position, Size};
use tokio::sync::{mpsc, oneshot, watch};
use v0_prune_shared::client::Update;
use v0_prune_shared::paths::BuildDir;
use v0_prune_shared::protocol::{
    ClientMessage, DaemonMessage, DaemonState, Event, PROTOCOL_VERSION, read_frame, write_frame,
};
use v0_prune_shared::socket;

use super::conn::{Down, DownKind, LinkCommand, LinkEvent, LinkHandle};
use super::{LoopContext, fixtures, run_loop};

/// Terminal input the test types.
struct Keys(mpsc::UnboundedReceiver<io::Result<TermEvent>>);

impl Stream for Keys {
    type Item = io::Result<TermEvent>;
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().0.poll_recv(cx)
    }
}

fn key(code: KeyCode) -> io::Result<TermEvent> {
    Ok(TermEvent::Key(KeyEvent::new(code, KeyModifiers::NONE)))
}

fn ctrl_c() -> io::Result<TermEvent> {
    Ok(TermEvent::Key(KeyEvent::new(
        KeyCode::Char('c'),
        KeyModifiers::CONTROL,
    )))
}

/// How long a test waits for the loop: a frame, a command, its end.
const WITHIN: Duration = Duration::from_secs(10);

/// The text of a buffer, one line per row.
fn text(buffer: &Buffer) -> String {
    buffer
        .content
        .chunks(usize::from(buffer.area.width))
        .map(|row| row.iter().map(Cell::symbol).collect::<String>())
        .collect::<Vec<_>>()
        .join("\n")
}

/// A `TestBackend` that shows the test each frame the loop finishes: the
/// screen's text, sent on every flush.
struct Watched {
    backend: TestBackend,
    frames: watch::Sender<String>,
}

impl Backend for Watched {
    type Error = <TestBackend as Backend>::Error;

    fn draw<'a, I>(&mut self, content: I) -> Result<(), Self::Error>
    where
        I: Iterator<Item = (u16, u16, &'a Cell)>,
    {
        self.backend.draw(content)
    }

    fn append_lines(&mut self, n: u16) -> Result<(), Self::Error> {
        self.backend.append_lines(n)
    }

    fn hide_cursor(&mut self) -> Result<(), Self::Error> {
        self.backend.hide_cursor()
    }

    fn show_cursor(&mut self) -> Result<(), Self::Error> {
        self.backend.show_cursor()
    }

    fn get_cursor_position(&mut self) -> Result<Position, Self::Error> {
        self.backend.get_cursor_position()
    }

    fn set_cursor_position<P: Into<Position>>(&mut self, position: P) -> Result<(), Self::Error> {
        self.backend.set_cursor_position(position)
    }

    fn clear(&mut self) -> Result<(), Self::Error> {
        self.backend.clear()
    }

    fn clear_region(&mut self, clear_type: ClearType) -> Result<(), Self::Error> {
        self.backend.clear_region(clear_type)
    }

    fn size(&self) -> Result<Size, Self::Error> {
        self.backend.size()
    }

    fn window_size(&mut self) -> Result<WindowSize, Self::Error> {
        self.backend.window_size()
    }

    fn flush(&mut self) -> Result<(), Self::Error> {
        self.backend.flush()?;
        self.frames.send_replace(text(self.backend.buffer()));
        Ok(())
    }
}

struct Harness {
    keys: mpsc::UnboundedSender<io::Result<TermEvent>>,
    link: mpsc::Sender<LinkEvent>,
    link_commands: mpsc::UnboundedReceiver<LinkCommand>,
    /// The last frame drawn.
    screen: watch::Receiver<String>,
    run: tokio::task::JoinHandle<(anyhow::Result<()>, String)>,
}

impl Harness {
    /// Waits for a frame that `shows` accepts, and returns it; fails with
    /// the last frame after [`WITHIN`]. `what` names the wait.
    async fn until(&mut self, what: &str, shows: impl Fn(&str) -> bool) -> String {
        let seen = tokio::time::timeout(WITHIN, self.screen.wait_for(|frame| shows(frame)))
            .await
            .map(|frame| frame.map(|frame| frame.clone()));
        match seen {
            Ok(Ok(frame)) => frame,
            Ok(Err(_)) => panic!("the loop ended before {what}"),
            Err(_) => panic!(
                "waited {WITHIN:?} for {what}; the last frame:\n{}",
                *self.screen.borrow()
            ),
        }
    }
}

fn fixed_now() -> i64 {
    fixtures::NOW
}

/// Starts the loop in a task on an 80×24 `TestBackend`; the task returns
/// the loop's result and the text of the last frame.
fn start(build: BuildDir, shutdown: oneshot::Receiver<()>) -> Harness {
    let (keys, key_rx) = mpsc::unbounded_channel();
    let (link, link_rx) = mpsc::channel(64);
    let (command_tx, link_commands) = mpsc::unbounded_channel();
    let (frames, screen) = watch::channel(String::new());
    let run = tokio::spawn(async move {
        let backend = Watched {
            backend: TestBackend::new(80, 24),
            frames,
        };
        let mut terminal = Terminal::new(backend).expect("terminal");
        let mut app = fixtures::app();
        let context = LoopContext {
            build,
            daemon_env: Vec::new(),
            clock: fixed_now,
        };
        let result = run_loop(
            &mut terminal,
            &mut app,
            Keys(key_rx),
            LinkHandle::from_channels(link_rx, command_tx),
            async {
                let _ = shutdown.await;
            },
            &context,
        )
        .await;
        (result, text(terminal.backend().backend.buffer()))
    });
    Harness {
        keys,
        link,
        link_commands,
        screen,
        run,
    }
}

/// Whether the header says the daemon is idle.
fn idle(screen: &str) -> bool {
    screen.contains(" idle ")
}

async fn finish(harness: Harness) -> String {
    harness.keys.send(ctrl_c()).expect("loop alive");
    let (result, screen) = tokio::time::timeout(WITHIN, harness.run)
        .await
        .expect("the loop ends on Ctrl-C")
        .expect("no panic");
    result.expect("the loop ends cleanly");
    screen
}

async fn snapshot(harness: &Harness, seq: u64) {
    harness
        .link
        .send(LinkEvent::Update(Update::Snapshot {
            seq,
            snapshot: Box::new(fixtures::snapshot()),
        }))
        .await
        .expect("loop alive");
}

#[tokio::test]
async fn link_updates_and_keys_reach_the_screen() {
    let (_stop, shutdown) = oneshot::channel();
    let mut harness = start(BuildDir::new("/nonexistent"), shutdown);
    snapshot(&harness, 1).await;
    harness.until("the snapshot: idle", idle).await;
    harness
        .keys
        .send(key(KeyCode::Char('?')))
        .expect("loop alive");
    harness.until("the help", |s| s.contains("Keys")).await;
    let screen = finish(harness).await;
    assert!(screen.contains(" idle "), "{screen}");
    assert!(screen.contains("Keys"), "the help is open:\n{screen}");
}

#[tokio::test]
async fn a_gap_in_events_makes_the_loop_ask_for_a_fresh_snapshot() {
    let (_stop, shutdown) = oneshot::channel();
    let mut harness = start(BuildDir::new("/nonexistent"), shutdown);
    snapshot(&harness, 5).await;
    let gap = LinkEvent::Update(Update::Event {
        seq: 9,
        event: Event::NextRun { at_ms: 0 },
    });
    harness.link.send(gap).await.expect("loop alive");
    let command = tokio::time::timeout(WITHIN, harness.link_commands.recv())
        .await
        .expect("a command in time");
    assert_eq!(command, Some(LinkCommand::Resubscribe));
    finish(harness).await;
}

#[tokio::test]
async fn a_signal_ends_the_loop_cleanly() {
    let (stop, shutdown) = oneshot::channel();
    let mut harness = start(BuildDir::new("/nonexistent"), shutdown);
    harness
        .until("the first frame", |s| s.contains("v0-prune top"))
        .await;
    stop.send(()).expect("loop alive");
    let (result, _) = tokio::time::timeout(WITHIN, harness.run)
        .await
        .expect("the loop ends on the signal")
        .expect("no panic");
    result.expect("cleanly");
}

#[tokio::test]
async fn the_end_of_input_ends_the_loop() {
    let (_stop, shutdown) = oneshot::channel();
    let harness = start(BuildDir::new("/nonexistent"), shutdown);
    drop(harness.keys);
    let (result, _) = tokio::time::timeout(WITHIN, harness.run)
        .await
        .expect("the loop ends")
        .expect("no panic");
    result.expect("cleanly");
}

/// The loop showing an idle daemon, and the socket where the test answers
/// for that daemon; the directory and the loop last as long as this.
struct Beside {
    _dir: tempfile::TempDir,
    listener: socket::Listener,
    _stop: oneshot::Sender<()>,
    harness: Harness,
}

async fn idle_beside_a_socket() -> Beside {
    let dir = tempfile::tempdir().expect("temp dir");
    let build = BuildDir::new(dir.path());
    let listener = socket::bind(&build).await.expect("bind");
    let (stop, shutdown) = oneshot::channel();
    let mut harness = start(build, shutdown);
    snapshot(&harness, 1).await;
    harness.until("the snapshot: idle", idle).await;
    Beside {
        _dir: dir,
        listener,
        _stop: stop,
        harness,
    }
}

/// A daemon that answers one request on one connection.
async fn answer_one(listener: &socket::Listener, expect: ClientMessage, answer: DaemonMessage) {
    let stream = listener.accept().await.expect("accept");
    let _hello: ClientMessage = read_frame(&mut &stream).await.expect("hello");
    let hello = DaemonMessage::Hello {
        version: PROTOCOL_VERSION,
        daemon_pid: 4242,
        daemon_version: "0.1.0".to_owned(),
    };
    write_frame(&mut &stream, &hello).await.expect("hello back");
    let request: ClientMessage = read_frame(&mut &stream).await.expect("request");
    assert_eq!(request, expect);
    write_frame(&mut &stream, &answer).await.expect("answer");
    // The drained daemon "exits": the connection closes.
}

#[tokio::test]
async fn r_asks_the_daemon_for_a_run_and_shows_the_answer() {
    let Beside {
        _dir,
        listener,
        _stop,
        mut harness,
    } = idle_beside_a_socket().await;
    harness
        .keys
        .send(key(KeyCode::Char('r')))
        .expect("loop alive");
    let answer = DaemonMessage::RunNowAccepted {
        run_id: 13,
        coalesced: false,
    };
    tokio::time::timeout(WITHIN, answer_one(&listener, ClientMessage::RunNow, answer))
        .await
        .expect("the dashboard asked in time");
    harness
        .until("the answer", |s| s.contains("run #13 requested"))
        .await;
    let screen = finish(harness).await;
    assert!(screen.contains("run #13 requested"), "{screen}");
}

#[tokio::test]
async fn d_then_y_drains_and_the_screen_ends_at_not_running() {
    let Beside {
        _dir,
        listener,
        _stop,
        mut harness,
    } = idle_beside_a_socket().await;
    harness
        .keys
        .send(key(KeyCode::Char('d')))
        .expect("loop alive");
    harness
        .keys
        .send(key(KeyCode::Char('y')))
        .expect("loop alive");
    tokio::time::timeout(
        WITHIN,
        answer_one(
            &listener,
            ClientMessage::Drain,
            DaemonMessage::DrainAccepted,
        ),
    )
    .await
    .expect("the dashboard asked in time");
    // What the subscription says while the daemon drains and exits.
    for (seq, event) in [
        (
            2,
            Event::StateChanged {
                state: DaemonState::Draining,
            },
        ),
        (
            3,
            Event::Exiting {
                reason: "drain requested by v0-prune top".into(),
            },
        ),
    ] {
        let update = LinkEvent::Update(Update::Event { seq, event });
        harness.link.send(update).await.expect("loop alive");
    }
    let down = Down {
        kind: DownKind::Closed,
        attempt: 0,
        retry_in: Duration::from_millis(250),
    };
    harness
        .link
        .send(LinkEvent::Down(down))
        .await
        .expect("loop alive");
    harness
        .until("not running", |s| {
            s.contains(" not running ") && s.contains("s start daemon")
        })
        .await;
    let screen = finish(harness).await;
    assert!(screen.contains(" not running "), "{screen}");
    assert!(screen.contains("s start daemon"), "{screen}");
}

#[tokio::test]
async fn v_then_enter_shows_the_last_lines_of_the_selected_log_read_from_disk() {
    let dir = tempfile::tempdir().expect("temp dir");
    let logs = dir.path().join("logs/feature-login");
    std::fs::create_dir_all(&logs).expect("logs dir");
    let lines: String = (1..=500)
        .map(|i| format!("[2026-11-28T11:00:00Z] worker line {i}\n"))
        .collect();
    std::fs::write(logs.join("worker.log"), lines).expect("log");
    let (_stop, shutdown) = oneshot::channel();
    let mut harness = start(BuildDir::new(dir.path()), shutdown);
    snapshot(&harness, 1).await;
    harness.until("the snapshot: idle", idle).await;
    for code in [KeyCode::Char('v'), KeyCode::Enter] {
        harness.keys.send(key(code)).expect("loop alive");
    }
    harness
        .until("the log's last lines, read", |s| {
            s.contains("Last lines of logs/feature-login/worker.log")
                && s.contains("worker line 500")
        })
        .await;
    let screen = finish(harness).await;
    assert!(
        screen.contains("Last lines of logs/feature-login/worker.log"),
        "{screen}"
    );
    assert!(screen.contains("worker line 500"), "{screen}");
    assert!(
        !screen.contains("worker line 400 "),
        "only the last lines:\n{screen}"
    );
}
