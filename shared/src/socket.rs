//! Where a build directory's prune daemon listens, and how both ends reach it.
//!
//! # Location
//! The socket is `BUILD_DIR/.prune-daemon/daemon.sock` (with `BUILD_DIR`
//! canonicalized), as long as that path is at most [`MAX_SOCKET_PATH`] bytes:
//! Unix socket addresses hold about 108 bytes, and a deep build directory
//! would not fit. Otherwise the socket lives in a private per-user directory,
//! named by a stable hash of the canonical build directory:
//! 1. `$XDG_RUNTIME_DIR/v0-prune/<hash>.sock`, when `XDG_RUNTIME_DIR` is set
//!    and the path fits;
//! 2. else `/tmp/v0-prune-<uid>/<hash>.sock`.
//!
//! `<hash>` is the 64-bit FNV-1a of the canonical path's bytes, in 16 hex
//! digits: the same on every machine and Rust version, so a daemon and a
//! client built apart still meet. A client also tries the `/tmp` location
//! when `XDG_RUNTIME_DIR` differs between its environment and the daemon's.
//!
//! # Access
//! Only the daemon's own user may connect, the same way on every OS: the
//! socket's directory is `0700` (so nobody else can reach the socket even in
//! the instant between `bind` and `chmod`), the socket file is `chmod`ed to
//! `0600` by path right after `bind`, a fallback directory must be owned by us
//! and private or it is refused (anyone can create `/tmp/v0-prune-<uid>`
//! first), and both ends check the peer's effective uid
//! ([`peer_is_same_user`]).
//!
//! interprocess's `ListenerOptions::mode` is not used: it `fchmod`s the socket
//! before `bind`, which xnu refuses for a socket, so on macOS it fails with
//! `Unsupported` (interprocess's own test, `tests/os/unix/local_socket/mode.rs`,
//! expects that everywhere but Linux, Android and FreeBSD).

use std::ffi::OsStr;
use std::fs::{DirBuilder, File, OpenOptions};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use interprocess::local_socket::tokio::prelude::*;
use interprocess::local_socket::{GenericFilePath, ListenerOptions};
use rustix::fs::{FlockOperation, flock};

use crate::hash::fnv1a_64;
use crate::paths::BuildDir;

/// A connection to or from the daemon; `&Stream` is `AsyncRead + AsyncWrite`,
/// so one connection can be read and written at the same time.
pub type Stream = interprocess::local_socket::tokio::Stream;

/// The longest socket path we use in the build directory, in bytes; a little
/// below the kernel's 108 so every platform's limit is met.
pub const MAX_SOCKET_PATH: usize = 100;

/// The socket file's mode: read and write (connect) for its owner only.
const SOCKET_MODE: u32 = 0o600;

/// The socket's file name inside `BUILD_DIR/.prune-daemon/`.
const SOCKET_NAME: &str = "daemon.sock";

/// How long [`bind`] waits for a socket file's owner to answer before
/// calling it live but busy.
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);

/// Why the socket could not be bound or reached.
#[derive(Debug, thiserror::Error)]
pub enum SocketError {
    /// Nothing listens there: the daemon is not running.
    #[error("no prune daemon is listening on {}", path.display())]
    NotRunning {
        /// The socket path tried first.
        path: PathBuf,
    },
    /// Another daemon answers on this socket.
    #[error("another prune daemon is already listening on {}", path.display())]
    InUse {
        /// The socket path.
        path: PathBuf,
    },
    /// The fallback directory is not ours or not private; using it would let
    /// another user impersonate or eavesdrop on the daemon.
    #[error("refusing to use {}: {reason}; remove it and try again", path.display())]
    UnsafeDir {
        /// The directory.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// Something other than a socket sits where the socket belongs.
    #[error("{} exists and is not a socket; move it away and try again", path.display())]
    NotASocket {
        /// The path.
        path: PathBuf,
    },
    /// The filesystem or the socket failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The path involved.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
}

impl SocketError {
    fn io(path: &Path, source: io::Error) -> Self {
        Self::Io {
            path: path.to_owned(),
            source,
        }
    }
}

/// The daemon's listening socket; the socket file is removed when it is dropped.
#[derive(Debug)]
pub struct Listener {
    inner: interprocess::local_socket::tokio::Listener,
    path: PathBuf,
}

impl Listener {
    /// Waits for the next client. Check [`peer_is_same_user`] before talking.
    pub async fn accept(&self) -> io::Result<Stream> {
        self.inner.accept().await
    }

    /// Where it listens, for the log and for `status`.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Where the daemon of `build` listens (see the module docs for the rules).
pub fn socket_path(build: &BuildDir) -> PathBuf {
    locations(build).0.socket
}

/// Binds the daemon's socket for `build`, replacing a stale socket file left
/// by a daemon that died, and refusing with [`SocketError::InUse`] when
/// another daemon still answers on it. Must run inside a tokio runtime.
///
/// Concurrent binders of the same socket are serialised by a lock file next
/// to it (`<socket>.lock`), so two daemons starting at once cannot both
/// decide the socket is stale and each remove the other's.
pub async fn bind(build: &BuildDir) -> Result<Listener, SocketError> {
    let (location, _) = locations(build);
    location.prepare_dir()?;
    bind_at(&location.socket).await
}

/// Connects to the daemon of `build`, or [`SocketError::NotRunning`] when no
/// daemon listens. Callers should add a timeout and check [`peer_is_same_user`].
pub async fn connect(build: &BuildDir) -> Result<Stream, SocketError> {
    let (first, others) = locations(build);
    for location in std::iter::once(&first).chain(&others) {
        location.check_dir()?;
        match connect_at(&location.socket).await {
            Err(SocketError::NotRunning { .. }) => continue,
            other => return other,
        }
    }
    Err(SocketError::NotRunning { path: first.socket })
}

/// The peer's effective uid, when the platform tells it.
pub fn peer_uid(stream: &Stream) -> Option<u32> {
    stream.peer_creds().ok()?.euid()
}

/// Whether the other end of `stream` runs as our effective user; the daemon
/// drops any other peer, and a client refuses a daemon of another user.
pub fn peer_is_same_user(stream: &Stream) -> bool {
    peer_uid(stream) == Some(rustix::process::geteuid().as_raw())
}

/// One place the socket may live.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Location {
    socket: PathBuf,
    /// A shared-namespace directory (`/tmp`, the runtime dir) that must be
    /// ours and private; `false` for the build directory's own `.prune-daemon/`.
    fallback: bool,
}

impl Location {
    fn dir(&self) -> &Path {
        self.socket.parent().unwrap_or(Path::new("/"))
    }

    /// Creates the socket's directory `0700`; a fallback one must then pass [`Self::check_dir`].
    fn prepare_dir(&self) -> Result<(), SocketError> {
        let dir = self.dir();
        match DirBuilder::new().mode(0o700).create(dir) {
            Ok(()) => {}
            Err(err) if err.kind() == io::ErrorKind::AlreadyExists => {}
            Err(err) => return Err(SocketError::io(dir, err)),
        }
        self.check_dir()
    }

    /// Refuses a fallback directory that someone else could have prepared.
    fn check_dir(&self) -> Result<(), SocketError> {
        if !self.fallback {
            return Ok(());
        }
        let dir = self.dir();
        let meta = match std::fs::symlink_metadata(dir) {
            Ok(meta) => meta,
            Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(err) => return Err(SocketError::io(dir, err)),
        };
        let unsafe_dir = |reason: String| SocketError::UnsafeDir {
            path: dir.to_owned(),
            reason,
        };
        if !meta.file_type().is_dir() {
            return Err(unsafe_dir("it is not a directory".into()));
        }
        let uid = rustix::process::geteuid().as_raw();
        if meta.uid() != uid {
            return Err(unsafe_dir(format!(
                "it belongs to uid {}, not to us (uid {uid})",
                meta.uid()
            )));
        }
        if meta.mode() & 0o077 != 0 {
            return Err(unsafe_dir(format!(
                "its mode is {:o}, open to other users (it must be 700)",
                meta.mode() & 0o777
            )));
        }
        Ok(())
    }
}

/// Where the socket may be: the one the daemon binds, then the others a
/// client also tries.
fn locations(build: &BuildDir) -> (Location, Vec<Location>) {
    // A runtime dir that is not there (a stale variable after `su`) is ignored.
    let runtime_dir = std::env::var_os("XDG_RUNTIME_DIR").filter(|dir| Path::new(dir).is_dir());
    let uid = rustix::process::geteuid().as_raw();
    resolve(
        &canonical_root(build),
        runtime_dir.as_deref(),
        uid,
        Path::new("/tmp"),
    )
}

/// The build directory as the kernel names it, so every spelling of it
/// (relative, through symlinks) gives the same socket.
fn canonical_root(build: &BuildDir) -> PathBuf {
    std::fs::canonicalize(build.root())
        .or_else(|_| std::path::absolute(build.root()))
        .unwrap_or_else(|_| build.root().to_owned())
}

/// The location rules, free of the environment so tests can drive them.
fn resolve(
    root: &Path,
    runtime_dir: Option<&OsStr>,
    uid: u32,
    tmp: &Path,
) -> (Location, Vec<Location>) {
    let in_tree = root.join(".prune-daemon").join(SOCKET_NAME);
    if fits(&in_tree) {
        let location = Location {
            socket: in_tree,
            fallback: false,
        };
        return (location, Vec::new());
    }
    let file = format!("{:016x}.sock", fnv1a_64(root.as_os_str().as_bytes()));
    let in_tmp = Location {
        socket: tmp.join(format!("v0-prune-{uid}")).join(&file),
        fallback: true,
    };
    let in_runtime = runtime_dir
        .map(Path::new)
        .filter(|dir| dir.is_absolute())
        .map(|dir| dir.join("v0-prune").join(&file))
        .filter(|socket| fits(socket));
    match in_runtime {
        Some(socket) => {
            let location = Location {
                socket,
                fallback: true,
            };
            (location, vec![in_tmp])
        }
        None => (in_tmp, Vec::new()),
    }
}

fn fits(socket: &Path) -> bool {
    socket.as_os_str().len() <= MAX_SOCKET_PATH
}

/// Binds at `path`, whose directory is ready (see [`bind`]).
async fn bind_at(path: &Path) -> Result<Listener, SocketError> {
    let _lock = BindLock::acquire(path).await?;
    match create_listener(path) {
        Err(err) if err.kind() == io::ErrorKind::AddrInUse => {}
        other => return other.map_err(|err| SocketError::io(path, err)),
    }
    let meta = std::fs::symlink_metadata(path).map_err(|err| SocketError::io(path, err))?;
    if !meta.file_type().is_socket() {
        return Err(SocketError::NotASocket {
            path: path.to_owned(),
        });
    }
    match tokio::time::timeout(PROBE_TIMEOUT, tokio::net::UnixStream::connect(path)).await {
        Ok(Ok(_live)) => {
            return Err(SocketError::InUse {
                path: path.to_owned(),
            });
        }
        Ok(Err(err)) if err.kind() == io::ErrorKind::ConnectionRefused => {
            // A daemon that died without removing its socket: nobody accepts.
            tracing::info!("removing stale socket {}", path.display());
            std::fs::remove_file(path).map_err(|err| SocketError::io(path, err))?;
        }
        Ok(Err(err)) if err.kind() == io::ErrorKind::NotFound => {}
        Ok(Err(err)) if err.kind() == io::ErrorKind::WouldBlock => {
            // The listener's backlog is full: alive, just busy.
            return Err(SocketError::InUse {
                path: path.to_owned(),
            });
        }
        Ok(Err(err)) => return Err(SocketError::io(path, err)),
        Err(_elapsed) => {
            return Err(SocketError::InUse {
                path: path.to_owned(),
            });
        }
    }
    create_listener(path).map_err(|err| SocketError::io(path, err))
}

/// Binds a listener at `path` and makes the socket file private (`0600`).
/// If the `chmod` fails, the listener is dropped (removing the socket file)
/// and the error returned: a socket left open to the umask is never served.
fn create_listener(path: &Path) -> io::Result<Listener> {
    let name = path.to_fs_name::<GenericFilePath>()?;
    let inner = ListenerOptions::new()
        .name(name)
        .reclaim_name(true)
        .create_tokio()?;
    let listener = Listener {
        inner,
        path: path.to_owned(),
    };
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(SOCKET_MODE))?;
    Ok(listener)
}

/// Connects at one path; "nothing there" and "nobody answering" both mean not running.
async fn connect_at(path: &Path) -> Result<Stream, SocketError> {
    let name = path
        .to_fs_name::<GenericFilePath>()
        .map_err(|err| SocketError::io(path, err))?;
    match Stream::connect(name).await {
        Ok(stream) => Ok(stream),
        Err(err)
            if matches!(
                err.kind(),
                io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused
            ) =>
        {
            Err(SocketError::NotRunning {
                path: path.to_owned(),
            })
        }
        Err(err) => Err(SocketError::io(path, err)),
    }
}

/// `<socket>.lock`, flock'ed while one binder decides whether the socket is stale.
struct BindLock {
    _file: File,
}

impl BindLock {
    async fn acquire(socket: &Path) -> Result<Self, SocketError> {
        let mut name = socket.as_os_str().to_owned();
        name.push(".lock");
        let path = PathBuf::from(name);
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(&path)
            .map_err(|err| SocketError::io(&path, err))?;
        // Held only for a probe and a bind, so waiting is short; do it off
        // the runtime's threads all the same.
        let locked = tokio::task::spawn_blocking(move || {
            flock(&file, FlockOperation::LockExclusive).map(|()| file)
        })
        .await
        .map_err(|err| SocketError::io(&path, io::Error::other(err)))?;
        let file = locked.map_err(|err| SocketError::io(&path, err.into()))?;
        Ok(Self { _file: file })
    }
}

#[cfg(test)]
mod tests;
