use std::os::unix::fs::PermissionsExt;

use tempfile::TempDir;

use super::*;
use crate::protocol::{ClientMessage, DaemonMessage, read_frame, write_frame};

fn mode(path: &Path) -> u32 {
    std::fs::symlink_metadata(path)
        .expect("stat")
        .permissions()
        .mode()
        & 0o777
}

/// A build directory whose path is far beyond what a socket address holds.
fn deep_build_dir(base: &Path) -> PathBuf {
    let deep = base
        .join("a-rather-long-project-name".repeat(3))
        .join(".v0")
        .join("build-directory-that-goes-on-and-on");
    std::fs::create_dir_all(&deep).expect("mkdir");
    assert!(deep.as_os_str().len() > 108, "{}", deep.display());
    deep
}

/// Accepts one client, answers its hello, and returns what the client said.
async fn answer_one_hello(listener: &Listener) -> ClientMessage {
    let stream = listener.accept().await.expect("accept");
    assert!(peer_is_same_user(&stream));
    let hello: ClientMessage = read_frame(&mut &stream).await.expect("read");
    let reply = DaemonMessage::Hello {
        version: 1,
        daemon_pid: std::process::id(),
        daemon_version: "test".into(),
    };
    write_frame(&mut &stream, &reply).await.expect("write");
    hello
}

async fn exchange_hello(listener: &Listener, client: Stream) {
    let server = answer_one_hello(listener);
    let client = async {
        assert!(peer_is_same_user(&client));
        let hello = ClientMessage::Hello {
            version: 1,
            client: "socket test".into(),
        };
        write_frame(&mut &client, &hello).await.expect("write");
        read_frame::<_, DaemonMessage>(&mut &client)
            .await
            .expect("read")
    };
    let (heard, answer) = tokio::join!(server, client);
    assert!(matches!(heard, ClientMessage::Hello { .. }));
    assert!(
        matches!(answer, DaemonMessage::Hello { daemon_pid, .. } if daemon_pid == std::process::id())
    );
}

#[test]
fn short_build_dirs_keep_the_socket_inside_and_long_ones_fall_back() {
    let tmp = Path::new("/tmp");
    let (short, others) = resolve(Path::new("/home/me/p/.v0/build"), None, 1000, tmp);
    assert_eq!(
        short.socket,
        Path::new("/home/me/p/.v0/build/.prune-daemon/daemon.sock")
    );
    assert!(!short.fallback && others.is_empty());

    let long_root = PathBuf::from(format!("/home/me/{}/build", "x".repeat(120)));
    let hash = format!("{:016x}", fnv1a_64(long_root.as_os_str().as_bytes()));
    let (first, others) = resolve(&long_root, None, 1000, tmp);
    assert_eq!(
        first.socket,
        PathBuf::from(format!("/tmp/v0-prune-1000/{hash}.sock"))
    );
    assert!(first.fallback && others.is_empty());

    let (first, others) = resolve(&long_root, Some(OsStr::new("/run/user/1000")), 1000, tmp);
    assert_eq!(
        first.socket,
        PathBuf::from(format!("/run/user/1000/v0-prune/{hash}.sock"))
    );
    assert_eq!(
        others,
        vec![Location {
            socket: PathBuf::from(format!("/tmp/v0-prune-1000/{hash}.sock")),
            fallback: true,
        }]
    );

    let too_long_runtime = format!("/run/{}", "r".repeat(90));
    let (first, _) = resolve(&long_root, Some(OsStr::new(&too_long_runtime)), 1000, tmp);
    assert!(first.socket.starts_with("/tmp/v0-prune-1000"));
    let (first, _) = resolve(&long_root, Some(OsStr::new("relative/dir")), 1000, tmp);
    assert!(first.socket.starts_with("/tmp/v0-prune-1000"));
}

#[test]
fn every_spelling_of_a_build_dir_gives_the_same_socket() {
    let dir = TempDir::new().expect("tempdir");
    let deep = deep_build_dir(dir.path());
    let link = dir.path().join("l");
    std::os::unix::fs::symlink(&deep, &link).expect("symlink");
    let via_link = socket_path(&BuildDir::new(&link));
    let direct = socket_path(&BuildDir::new(&deep));
    assert_eq!(via_link, direct);
    assert!(direct.as_os_str().len() <= MAX_SOCKET_PATH);
}

#[tokio::test]
async fn a_build_dir_longer_than_a_socket_address_still_gets_a_working_socket() {
    let dir = TempDir::new().expect("tempdir");
    let build = BuildDir::new(deep_build_dir(dir.path()));
    let listener = bind(&build).await.expect("bind");
    assert_eq!(listener.path(), socket_path(&build));
    assert!(!listener.path().starts_with(dir.path()));
    assert_eq!(mode(listener.path()), 0o600);
    assert_eq!(mode(listener.path().parent().expect("dir")), 0o700);
    let client = connect(&build).await.expect("connect");
    exchange_hello(&listener, client).await;
    let path = listener.path().to_owned();
    drop(listener);
    assert!(!path.exists(), "the socket file goes with the listener");
}

#[tokio::test]
async fn the_fallback_directory_is_created_private_and_used() {
    let tmp = TempDir::new().expect("tempdir");
    let root = PathBuf::from(format!("/nonexistent/{}", "x".repeat(120)));
    let (location, _) = resolve(&root, None, 4242, tmp.path());
    location.prepare_dir().expect("prepare");
    assert_eq!(mode(location.dir()), 0o700);
    let listener = bind_at(&location.socket).await.expect("bind");
    assert_eq!(mode(&location.socket), 0o600);
    let client = connect_at(&location.socket).await.expect("connect");
    exchange_hello(&listener, client).await;
}

#[test]
fn a_fallback_directory_open_to_others_is_refused() {
    let tmp = TempDir::new().expect("tempdir");
    let root = PathBuf::from(format!("/nonexistent/{}", "y".repeat(120)));
    let (location, _) = resolve(&root, None, 4242, tmp.path());
    std::fs::create_dir(location.dir()).expect("mkdir");
    std::fs::set_permissions(location.dir(), std::fs::Permissions::from_mode(0o777))
        .expect("chmod");
    let err = location
        .prepare_dir()
        .expect_err("world-writable must be refused");
    assert!(matches!(err, SocketError::UnsafeDir { .. }), "{err}");
    assert!(err.to_string().contains("777"), "{err}");
}

#[test]
#[cfg_attr(
    not(v0_prune_is_root),
    ignore = "needs root to give a directory to another user (run the tests as root; CI does)"
)]
fn a_fallback_directory_owned_by_someone_else_is_refused() {
    assert!(
        rustix::process::geteuid().is_root(),
        "built as root, run as another user: run the tests as root"
    );
    let tmp = TempDir::new().expect("tempdir");
    let root = PathBuf::from(format!("/nonexistent/{}", "y".repeat(120)));
    let (location, _) = resolve(&root, None, 4242, tmp.path());
    std::fs::create_dir(location.dir()).expect("mkdir");
    std::fs::set_permissions(location.dir(), std::fs::Permissions::from_mode(0o700))
        .expect("chmod");
    std::os::unix::fs::chown(location.dir(), Some(54_321), None).expect("chown");
    let err = location
        .prepare_dir()
        .expect_err("a stranger's directory must be refused");
    assert!(err.to_string().contains("uid 54321"), "{err}");
}

#[tokio::test]
async fn the_in_tree_directory_is_private() {
    let dir = TempDir::new().expect("tempdir");
    let build = BuildDir::new(dir.path());
    let listener = bind(&build).await.expect("bind");
    assert_eq!(
        listener.path(),
        build
            .state_dir()
            .canonicalize()
            .expect("canon")
            .join("daemon.sock")
    );
    assert_eq!(mode(&build.state_dir()), 0o700);
    assert_eq!(mode(listener.path()), 0o600);
}

#[tokio::test]
async fn a_stale_socket_file_is_replaced() {
    let dir = TempDir::new().expect("tempdir");
    let build = BuildDir::new(dir.path());
    let path = socket_path(&build);
    std::fs::create_dir(build.state_dir()).expect("mkdir");
    // A daemon killed with SIGKILL leaves its socket file behind; std's
    // listener does the same when dropped.
    drop(std::os::unix::net::UnixListener::bind(&path).expect("std bind"));
    assert!(path.exists());
    let err = connect(&build).await.expect_err("nobody listens");
    assert!(matches!(err, SocketError::NotRunning { .. }), "{err}");

    let listener = bind(&build).await.expect("bind over a stale socket");
    let client = connect(&build).await.expect("connect");
    exchange_hello(&listener, client).await;
}

#[tokio::test]
async fn a_live_daemon_is_reported_in_use_and_keeps_its_socket() {
    let dir = TempDir::new().expect("tempdir");
    let build = BuildDir::new(dir.path());
    let first = bind(&build).await.expect("bind");
    let err = bind(&build).await.expect_err("second bind");
    assert!(matches!(err, SocketError::InUse { .. }), "{err}");
    // The first daemon swallows the probe connection, then still serves.
    drop(first.accept().await.expect("probe"));
    let client = connect(&build).await.expect("connect");
    exchange_hello(&first, client).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_daemons_binding_over_a_stale_socket_at_once_get_one_socket() {
    for _ in 0..20 {
        let dir = TempDir::new().expect("tempdir");
        let build = BuildDir::new(dir.path());
        std::fs::create_dir(build.state_dir()).expect("mkdir");
        drop(std::os::unix::net::UnixListener::bind(socket_path(&build)).expect("std bind"));
        let racers: Vec<_> = (0..2)
            .map(|_| {
                let build = build.clone();
                tokio::spawn(async move { bind(&build).await })
            })
            .collect();
        let mut winners = Vec::new();
        for racer in racers {
            match racer.await.expect("join") {
                Ok(listener) => winners.push(listener),
                Err(SocketError::InUse { .. }) => {}
                Err(other) => panic!("a loser must see InUse, got {other}"),
            }
        }
        assert_eq!(winners.len(), 1, "exactly one daemon may win");
        // The loser must not have removed the winner's socket file.
        connect(&build)
            .await
            .expect("the winner's socket must be in place");
    }
}

#[tokio::test]
async fn something_else_at_the_socket_path_is_left_alone() {
    let dir = TempDir::new().expect("tempdir");
    let build = BuildDir::new(dir.path());
    std::fs::create_dir(build.state_dir()).expect("mkdir");
    let path = socket_path(&build);
    std::fs::write(&path, "not a socket").expect("write");
    let err = bind(&build).await.expect_err("bind");
    assert!(matches!(err, SocketError::NotASocket { .. }), "{err}");
    assert_eq!(
        std::fs::read_to_string(&path).expect("read"),
        "not a socket"
    );
}

#[tokio::test]
async fn connecting_with_no_daemon_says_not_running() {
    let dir = TempDir::new().expect("tempdir");
    let build = BuildDir::new(dir.path());
    let err = connect(&build).await.expect_err("no daemon");
    match err {
        SocketError::NotRunning { path } => assert_eq!(path, socket_path(&build)),
        other => panic!("expected NotRunning, got {other}"),
    }
}

/// Makes `fchmod` fail with EINVAL on the calling thread (and threads it
/// starts), as xnu refuses it for a socket: a seccomp filter that only this
/// thread carries, so the rest of the test process is untouched.
#[cfg(target_os = "linux")]
fn refuse_fchmod_on_this_thread() {
    use libc::{
        BPF_ABS, BPF_JEQ, BPF_JMP, BPF_K, BPF_LD, BPF_RET, BPF_W, SECCOMP_RET_ALLOW,
        SECCOMP_RET_ERRNO, sock_filter, sock_fprog,
    };
    let op = |code: u32, jt: u8, jf: u8, k: u32| sock_filter {
        code: code as u16,
        jt,
        jf,
        k,
    };
    // `seccomp_data.nr`, the system call's number, is at offset 0.
    let filter = [
        op(BPF_LD | BPF_W | BPF_ABS, 0, 0, 0),
        op(BPF_JMP | BPF_JEQ | BPF_K, 0, 1, libc::SYS_fchmod as u32),
        op(
            BPF_RET | BPF_K,
            0,
            0,
            SECCOMP_RET_ERRNO | libc::EINVAL as u32,
        ),
        op(BPF_RET | BPF_K, 0, 0, SECCOMP_RET_ALLOW),
    ];
    let program = sock_fprog {
        len: filter.len() as u16,
        filter: filter.as_ptr().cast_mut(),
    };
    // SAFETY: prctl with integer arguments; the filter outlives the call,
    // which copies it into the kernel.
    unsafe {
        assert_eq!(libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), 0);
        assert_eq!(
            libc::prctl(
                libc::PR_SET_SECCOMP,
                libc::SECCOMP_MODE_FILTER,
                &raw const program
            ),
            0,
            "seccomp: {}",
            io::Error::last_os_error()
        );
    }
}

/// The macOS case, on Linux: where `fchmod` on a socket is refused (xnu),
/// interprocess's `mode()` cannot create a listener, and ours still comes up,
/// private (0600 in its 0700 directory), and answers.
#[cfg(target_os = "linux")]
#[test]
fn the_listener_comes_up_private_where_fchmod_on_a_socket_is_refused() {
    use interprocess::os::unix::local_socket::ListenerOptionsExt;
    let dir = TempDir::new().expect("tempdir");
    let build = BuildDir::new(dir.path());
    let root = dir.path().to_owned();
    std::thread::spawn(move || {
        refuse_fchmod_on_this_thread();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async {
            // The filter works: interprocess's own `mode()` is refused, as on a Mac.
            let probe = root.join("probe.sock");
            let refused = ListenerOptions::new()
                .name(probe.to_fs_name::<GenericFilePath>().expect("name"))
                .mode(0o600)
                .create_tokio()
                .expect_err("mode() must fail where fchmod is refused");
            assert_eq!(refused.kind(), io::ErrorKind::Unsupported, "{refused}");

            let listener = bind(&build).await.expect("bind without mode()");
            assert_eq!(mode(listener.path()), 0o600);
            assert_eq!(mode(listener.path().parent().expect("dir")), 0o700);
            let client = connect(&build).await.expect("connect");
            exchange_hello(&listener, client).await;
        });
    })
    .join()
    .expect("the filtered thread");
}
