//! Clients that misbehave in ways `protocol.rs` does not cover: connecting and
//! hanging up in a tight loop, opening 500 connections at once, sending every
//! frame one byte at a time, and connecting as another user. Other clients
//! keep being served, nothing leaks, and the socket and state files stay
//! private even when the daemon starts with a umask of 0.
//!
//! Counts the daemon's descriptors through `/proc/<pid>/fd`: Linux only.

#![cfg(target_os = "linux")]

mod common;

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Client, RunDaemon, assert_answers_promptly, raw};
use tokio::io::AsyncWriteExt;
use v0_prune_shared::protocol::{
    ClientMessage, DaemonMessage, Event, FrameReader, PROTOCOL_VERSION, decode_body, encode_frame,
};
use v0_prune_testkit::process::{NOBODY, become_nobody, open_fds};
use v0_prune_testkit::{PATIENCE, TestBuildDir, wait_until};

const RESULT: &str = "V0-PRUNE-FOREIGN:";

/// A daemon started by these tests; killed when dropped.
struct Running {
    child: Child,
    pid: u32,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the daemon on `tree` with umask 0, so every file it creates without
/// an explicit mode would come out world-writable.
fn start(tree: &TestBuildDir) -> Running {
    let mut command = tree.command("1h");
    // SAFETY: umask is async-signal-safe.
    unsafe {
        command.pre_exec(|| {
            libc::umask(0);
            Ok(())
        });
    }
    let child = command.spawn().expect("spawn the daemon");
    let pid = child.id();
    let ready = wait_until(PATIENCE, || {
        tree.daemon_pid() == Some(pid) && tree.runs_in_history() > 0
    });
    assert!(ready, "daemon not ready:\n{}", tree.daemon_log());
    Running { child, pid }
}

/// Waits until the daemon holds no more descriptors than `baseline` (+ slack).
fn assert_fds_settle(pid: u32, baseline: usize) {
    let settled = wait_until(Duration::from_secs(10), || open_fds(pid) <= baseline + 2);
    assert!(
        settled,
        "the daemon holds {} descriptors, {baseline} before",
        open_fds(pid)
    );
}

fn hello() -> Vec<u8> {
    encode_frame(&ClientMessage::Hello {
        version: PROTOCOL_VERSION,
        client: "a slow client".into(),
    })
    .expect("encode")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connecting_and_hanging_up_in_a_loop_leaks_nothing_and_starves_no_one() {
    let tree = TestBuildDir::new();
    let daemon = start(&tree);
    let build = tree.build();
    let mut control = Client::connect(&build).await;
    let baseline = open_fds(daemon.pid);
    let frame = hello();
    let mut slowest = Duration::ZERO;
    for round in 0..2000 {
        let stream = raw(&build).await;
        match round % 4 {
            0 => {}
            1 => {
                let _ = (&stream).write_all(&frame[..frame.len() / 2]).await;
            }
            2 => {
                let _ = (&stream).write_all(&frame).await;
            }
            _ => {
                let _ = (&stream).write_all(b"\xff\xff\xff\xff garbage").await;
            }
        }
        drop(stream);
        if round % 100 == 0 {
            let asked = Instant::now();
            let status = control.status().await;
            assert_eq!(status.daemon_pid, daemon.pid);
            slowest = slowest.max(asked.elapsed());
        }
    }
    eprintln!("2000 connect/disconnect cycles; slowest status meanwhile: {slowest:?}");
    assert!(slowest < Duration::from_secs(1), "{slowest:?}");
    assert_fds_settle(daemon.pid, baseline);
    assert_answers_promptly(&build, daemon.pid).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_hundred_connections_at_once_leave_connected_clients_served() {
    let tree = TestBuildDir::new();
    let daemon = start(&tree);
    let build = tree.build();
    let mut control = Client::connect(&build).await;
    let mut watcher = Client::connect(&build).await;
    let (mut seq, _) = watcher.subscribe().await;
    let baseline = open_fds(daemon.pid);

    let started = Instant::now();
    let mut flood = Vec::new();
    for _ in 0..500 {
        flood.push(raw(&build).await);
    }
    eprintln!("500 connections opened in {:?}", started.elapsed());

    // Those already connected are served as if nothing happened.
    let asked = Instant::now();
    assert_eq!(control.status().await.daemon_pid, daemon.pid);
    assert!(
        asked.elapsed() < Duration::from_secs(1),
        "{:?}",
        asked.elapsed()
    );
    control.send(&ClientMessage::RunNow).await;
    let DaemonMessage::RunNowAccepted { run_id, .. } = control.next().await else {
        panic!("RunNow not accepted");
    };
    loop {
        let DaemonMessage::Event { seq: next, event } = watcher.next().await else {
            panic!("the watcher must only get events");
        };
        assert_eq!(next, seq + 1, "no gap");
        seq = next;
        if matches!(&event, Event::RunFinished { record } if record.run_id == run_id) {
            break;
        }
    }
    // A newcomer is answered at once: refused with the reason while every
    // slot is taken, never left hanging.
    let newcomer = raw(&build).await;
    let mut reader = FrameReader::new();
    let _ = v0_prune_shared::protocol::write_frame(
        &mut &newcomer,
        &ClientMessage::Hello {
            version: PROTOCOL_VERSION,
            client: "newcomer".into(),
        },
    )
    .await;
    let answer = tokio::time::timeout(
        Duration::from_secs(1),
        reader.read::<_, DaemonMessage>(&mut &newcomer),
    )
    .await
    .expect("an answer within a second")
    .expect("a message");
    match answer {
        DaemonMessage::Rejected { reason } => {
            assert!(
                reason.contains("connections are opening at once"),
                "{reason}"
            )
        }
        DaemonMessage::Hello { .. } => {}
        other => panic!("unexpected {other:?}"),
    }
    drop(newcomer);

    // Once the flood is gone (or timed out), newcomers are served again and
    // the daemon holds no more descriptors than before.
    drop(flood);
    assert_fds_settle(daemon.pid, baseline);
    assert_answers_promptly(&build, daemon.pid).await;
    assert!(
        tree.daemon_log()
            .contains("Refusing clients: 64 connections are opening at once")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frames_sent_one_byte_at_a_time_are_understood_and_block_no_one() {
    let tree = TestBuildDir::new();
    let daemon = start(&tree);
    let build = tree.build();
    let slow = tokio::spawn({
        let build = build.clone();
        async move {
            let stream = raw(&build).await;
            let mut reader = FrameReader::new();
            let status = encode_frame(&ClientMessage::Status).expect("encode");
            for frame in [hello(), status] {
                for byte in frame {
                    (&stream).write_all(&[byte]).await.expect("one byte");
                    tokio::time::sleep(Duration::from_millis(40)).await;
                }
                let answer: DaemonMessage = reader.read(&mut &stream).await.expect("answer");
                assert!(
                    matches!(
                        answer,
                        DaemonMessage::Hello { .. } | DaemonMessage::Status(_)
                    ),
                    "{answer:?}"
                );
            }
        }
    });
    // While the slow one dribbles, everyone else gets prompt answers.
    let mut checks = 0;
    while !slow.is_finished() {
        assert_answers_promptly(&build, daemon.pid).await;
        checks += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    slow.await.expect("the slow client was served");
    assert!(checks >= 5, "{checks}");
}

// ------------------------------------------------------- another user

/// Not a test on its own: a client running as another user, which reports
/// what happened when it tried to talk to the daemon.
#[test]
fn foreign_client_process() {
    let Ok(path) = std::env::var("V0_PRUNE_FOREIGN_SOCKET") else {
        return;
    };
    let result = match std::os::unix::net::UnixStream::connect(&path) {
        Err(err) => format!("connect failed: {:?}", err.kind()),
        Ok(mut stream) => {
            stream
                .set_read_timeout(Some(Duration::from_secs(5)))
                .expect("timeout");
            let _ = stream.write_all(&hello());
            let mut prefix = [0u8; 4];
            match stream.read_exact(&mut prefix) {
                Err(err) => format!("no answer: {:?}", err.kind()),
                Ok(()) => {
                    let mut body = vec![0; u32::from_be_bytes(prefix) as usize];
                    stream.read_exact(&mut body).expect("body");
                    match decode_body::<DaemonMessage>(&body) {
                        Ok(DaemonMessage::Rejected { reason }) => format!("rejected: {reason}"),
                        other => format!("served: {other:?}"),
                    }
                }
            }
        }
    };
    println!("{RESULT}{result}");
}

fn connect_as_nobody(socket: &Path) -> Option<String> {
    let mut command = Command::new(std::env::current_exe().expect("test binary"));
    command
        .args(["foreign_client_process", "--exact", "--nocapture"])
        .env("V0_PRUNE_FOREIGN_SOCKET", socket)
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    // SAFETY: only async-signal-safe calls.
    unsafe {
        command.pre_exec(become_nobody);
    }
    let output = match command.output() {
        Ok(output) => output,
        Err(err) => {
            eprintln!("note: cannot run a client as uid {NOBODY} ({err}); sub-case skipped");
            return None;
        }
    };
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let result = stdout
        .lines()
        .find_map(|l| l.split_once(RESULT).map(|(_, r)| r.to_owned()));
    Some(result.unwrap_or_else(|| panic!("the foreign client said nothing: {stdout}")))
}

fn mode(path: &Path) -> u32 {
    std::fs::symlink_metadata(path)
        .unwrap_or_else(|err| panic!("{}: {err}", path.display()))
        .permissions()
        .mode()
        & 0o7777
}

#[tokio::test(flavor = "current_thread")]
async fn other_users_cannot_connect_and_no_state_file_is_world_writable() {
    let tree = TestBuildDir::new();
    let daemon = start(&tree);
    let build = tree.build();
    let socket = tree.socket_path();

    // Modes, with the daemon started under umask 0.
    assert_eq!(mode(&socket), 0o600, "the socket");
    assert_eq!(
        mode(&build.state_dir()) & 0o077,
        0,
        ".prune-daemon/ is private"
    );
    let mut checked = Vec::new();
    for path in [build.pid_file(), build.run_lock(), build.daemon_log()]
        .into_iter()
        .chain(
            std::fs::read_dir(build.state_dir())
                .expect("state dir")
                .flatten()
                .map(|e| e.path()),
        )
    {
        let m = mode(&path);
        assert_eq!(m & 0o002, 0, "{} is world-writable ({m:o})", path.display());
        checked.push(format!(
            "{} {m:o}",
            path.strip_prefix(build.root()).unwrap_or(&path).display()
        ));
    }
    eprintln!("modes under umask 0: {checked:?}");
    assert!(
        checked
            .iter()
            .any(|c| c.starts_with(".prune-daemon/history.json"))
    );

    if !rustix::process::geteuid().is_root() {
        eprintln!("note: not root, cannot run a client as uid {NOBODY}; sub-case skipped");
        return;
    }
    // The build directory is reachable, the socket's directory is not.
    let mut dir = tree.root().to_path_buf();
    while dir.pop() && dir != Path::new("/tmp") && dir != Path::new("/") {
        let _ = std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755));
    }
    std::fs::set_permissions(tree.root(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let Some(result) = connect_as_nobody(&socket) else {
        return;
    };
    assert_eq!(result, "connect failed: PermissionDenied");

    // Were the modes ever loosened, the daemon still checks who is calling.
    std::fs::set_permissions(build.state_dir(), std::fs::Permissions::from_mode(0o755))
        .expect("chmod");
    std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(0o777)).expect("chmod");
    let result = connect_as_nobody(&socket).expect("ran once already");
    assert_eq!(
        result,
        "rejected: only the user running the prune daemon may connect"
    );
    assert!(
        tree.daemon_log()
            .contains(&format!("Refused a client of uid {NOBODY}"))
    );
    assert_answers_promptly(&build, daemon.pid).await;
}
