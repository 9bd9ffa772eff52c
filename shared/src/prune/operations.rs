//! The operations job: removing `operations/<name>/` of finished operations.
//!
//! v0's rules (contract, "Pruning rules" and "`v0 prune`"): by default an
//! operation goes when its phase is terminal (`merged`, `cancelled`) or it is
//! `completed`/`pending_merge` with `merge_status` `merged`. Named operations
//! go whatever their phase, after asking to kill a running tmux session;
//! `--all` removes every one after one confirmation. Unlike v0 we accept only
//! names that are a single plain directory name, so `..` can never reach
//! outside `operations/`, and we never follow a symbolic link.

use std::ffi::{OsStr, OsString};
use std::path::{Component, Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;

use super::{EventSink, Job, OperationsReport, PruneError, PruneEvent, PrunedOperation, Skipped};
use crate::paths::BuildDir;
use crate::platform;

/// Which operations to remove.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    /// Finished ones (v0's default).
    Finished,
    /// These, whatever their phase.
    Named(Vec<String>),
    /// Every operation.
    All,
}

/// A question the caller answers (the CLI asks the user; `false` = no).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Confirm<'a> {
    /// A named operation's tmux session is running on this machine.
    KillSession {
        /// The operation.
        operation: &'a str,
        /// Its tmux session.
        session: &'a str,
    },
    /// `--all` is about to remove `count` operations.
    RemoveAll {
        /// How many.
        count: usize,
    },
}

/// What the user asked for.
#[derive(Debug, Clone)]
pub struct OperationsRequest {
    /// Which operations.
    pub selection: Selection,
    /// Report only.
    pub dry_run: bool,
    /// Do not ask.
    pub force: bool,
}

/// The [`Skipped::item`] recorded when the `--all` confirmation is declined.
pub const ALL_OPERATIONS: &str = "all operations";

/// The [`Skipped::reason`] of a named operation kept because its session runs.
pub const KEPT_RUNNING: &str = "kept: its tmux session is running";

/// Phases after which an operation is finished for good.
const TERMINAL: [&str; 2] = ["merged", "cancelled"];

/// Rejects anything but a single plain directory name, so a name can only
/// ever reach a direct child of `operations/`.
pub fn validate_name(name: &str) -> Result<(), PruneError> {
    let mut components = Path::new(name).components();
    let single_normal =
        matches!(components.next(), Some(Component::Normal(_))) && components.next().is_none();
    if name.is_empty() || name.contains('/') || name.contains('\0') || !single_normal {
        return Err(PruneError::InvalidOperationName(name.to_string()));
    }
    Ok(())
}

/// How we reach tmux; tests point it at a fake.
#[derive(Debug)]
struct Tmux {
    program: PathBuf,
    /// Arguments before tmux's own (a test runs its fake as `sh fake-tmux`).
    prefix: Vec<OsString>,
    /// The node name of the machine this tmux runs on (uname's, possibly
    /// with a domain part), compared with an operation's `machine`.
    host: String,
}

impl Tmux {
    fn system() -> Self {
        Self {
            program: PathBuf::from("tmux"),
            prefix: Vec::new(),
            host: rustix::system::uname()
                .nodename()
                .to_string_lossy()
                .into_owned(),
        }
    }

    /// Runs tmux quietly; tmux not installed counts as failure ("not running").
    fn succeeds(&self, args: [&OsStr; 3]) -> bool {
        Command::new(&self.program)
            .args(&self.prefix)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    fn has_session(&self, session: &str) -> bool {
        self.succeeds(["has-session".as_ref(), "-t".as_ref(), session.as_ref()])
    }

    fn kill_session(&self, session: &str) {
        // A session that ended meanwhile is what we wanted anyway.
        self.succeeds(["kill-session".as_ref(), "-t".as_ref(), session.as_ref()]);
    }
}

/// One operation's directory and what its state.json says.
#[derive(Debug)]
struct Operation {
    /// The directory name as on disk (it need not be UTF-8).
    dir_name: OsString,
    /// The name for reports.
    name: String,
    state: Result<Value, String>,
}

impl Operation {
    fn field(&self, key: &str) -> Option<&str> {
        self.state
            .as_ref()
            .ok()
            .and_then(|s| s.get(key))
            .and_then(Value::as_str)
    }

    fn phase(&self) -> &str {
        self.field("phase").unwrap_or("unknown")
    }

    /// Whether the default prune takes it; `Err` is why it is left alone
    /// although it might be finished (we cannot tell).
    fn finished(&self) -> Result<bool, String> {
        if let Err(reason) = &self.state {
            return Err(reason.clone());
        }
        let Some(phase) = self.field("phase") else {
            return Err("state.json has no phase".into());
        };
        Ok(TERMINAL.contains(&phase)
            || (matches!(phase, "completed" | "pending_merge")
                && self.field("merge_status") == Some("merged")))
    }

    /// The tmux session, if it runs on this machine now.
    fn running_session(&self, tmux: &Tmux) -> Option<&str> {
        let session = self.field("tmux_session").filter(|s| !s.is_empty())?;
        // A session on another machine is not ours to see or kill. v0
        // records `hostname -s`; the node name may have a domain part.
        if self
            .field("machine")
            .is_some_and(|m| !platform::same_host(m, &tmux.host))
        {
            return None;
        }
        tmux.has_session(session).then_some(session)
    }
}

fn load(operations: &Path, dir_name: OsString) -> Operation {
    let path = operations.join(&dir_name).join("state.json");
    // Only a regular file is read: a FIFO named state.json would block us forever.
    let state = match std::fs::metadata(&path) {
        Err(err) => Err(format!("cannot read state.json: {err}")),
        Ok(meta) if !meta.is_file() => Err("state.json is not a regular file".into()),
        Ok(_) => std::fs::read(&path)
            .map_err(|err| format!("cannot read state.json: {err}"))
            .and_then(|bytes| {
                serde_json::from_slice::<Value>(&bytes)
                    .map_err(|err| format!("state.json is not valid JSON: {err}"))
            })
            .and_then(|value| {
                if value.is_object() {
                    Ok(value)
                } else {
                    Err("state.json is not a JSON object".into())
                }
            }),
    };
    Operation {
        name: dir_name.to_string_lossy().into_owned(),
        dir_name,
        state,
    }
}

/// `operations/` must be a real directory: removing inside a symlinked one
/// would delete whatever it points to.
fn check_operations_dir(dir: &Path) -> Result<bool, PruneError> {
    match std::fs::symlink_metadata(dir) {
        Ok(meta) if meta.file_type().is_symlink() => Err(PruneError::io(
            dir,
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "is a symbolic link; refusing to follow it",
            ),
        )),
        Ok(meta) => Ok(meta.is_dir()),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(err) => Err(PruneError::io(dir, err)),
    }
}

/// Operation directories (real directories only: symlinks are skipped, other files ignored).
fn list(operations: &Path, skipped: &mut Vec<Skipped>) -> Result<Vec<OsString>, PruneError> {
    let entries = std::fs::read_dir(operations).map_err(|err| PruneError::io(operations, err))?;
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|err| PruneError::io(operations, err))?;
        match entry.file_type() {
            Ok(kind) if kind.is_dir() => names.push(entry.file_name()),
            Ok(kind) if kind.is_symlink() => skipped.push(Skipped {
                item: entry.file_name().to_string_lossy().into_owned(),
                reason: "symbolic link; never followed".into(),
            }),
            _ => {}
        }
    }
    names.sort();
    Ok(names)
}

/// The named operations, each once, in the order given; an unknown name fails all.
fn named(operations: &Path, names: &[String]) -> Result<Vec<Operation>, PruneError> {
    let mut ops: Vec<Operation> = Vec::new();
    for name in names {
        if ops.iter().any(|op| op.name == *name) {
            continue;
        }
        // A symlink is not an operation: never followed, so never found.
        let is_dir = std::fs::symlink_metadata(operations.join(name)).is_ok_and(|m| m.is_dir());
        if !is_dir {
            return Err(PruneError::OperationNotFound(name.clone()));
        }
        ops.push(load(operations, OsString::from(name)));
    }
    Ok(ops)
}

/// Removes the operations the request selects, asking `confirm` where v0 asks.
///
/// Bad or unknown names are an error before anything is removed. A declined
/// `--all` removes nothing and records a [`Skipped`] for [`ALL_OPERATIONS`].
pub fn prune(
    build: &BuildDir,
    request: &OperationsRequest,
    confirm: &mut dyn FnMut(Confirm<'_>) -> bool,
    events: EventSink<'_>,
) -> Result<OperationsReport, PruneError> {
    prune_with(build, request, confirm, events, &Tmux::system())
}

fn prune_with(
    build: &BuildDir,
    request: &OperationsRequest,
    confirm: &mut dyn FnMut(Confirm<'_>) -> bool,
    events: EventSink<'_>,
    tmux: &Tmux,
) -> Result<OperationsReport, PruneError> {
    if let Selection::Named(names) = &request.selection {
        for name in names {
            validate_name(name)?;
        }
    }
    let operations = build.operations_dir();
    let mut report = OperationsReport {
        present: check_operations_dir(&operations)?,
        ..OperationsReport::default()
    };
    let mut skipped = Vec::new();
    let candidates: Vec<Operation> = match &request.selection {
        Selection::Named(names) => named(&operations, names)?,
        _ if !report.present => Vec::new(),
        Selection::Finished | Selection::All => list(&operations, &mut skipped)?
            .into_iter()
            .map(|name| load(&operations, name))
            .collect(),
    };
    report.examined = candidates.len() as u64;
    let selected: Vec<&Operation> = match &request.selection {
        Selection::Finished => candidates
            .iter()
            .filter(|op| match op.finished() {
                Ok(finished) => finished,
                Err(reason) => {
                    skipped.push(Skipped {
                        item: op.name.clone(),
                        reason,
                    });
                    false
                }
            })
            .collect(),
        Selection::Named(_) | Selection::All => candidates.iter().collect(),
    };
    let total = selected.len() as u64;
    events(&PruneEvent::JobStarted {
        job: Job::Operations,
        total,
    });
    for item in skipped {
        skip(&mut report, events, item);
    }
    if matches!(request.selection, Selection::All)
        && !request.force
        && !request.dry_run
        && !selected.is_empty()
        && !confirm(Confirm::RemoveAll {
            count: selected.len(),
        })
    {
        let item = Skipped {
            item: ALL_OPERATIONS.into(),
            reason: "cancelled: not confirmed".into(),
        };
        skip(&mut report, events, item);
        return Ok(report);
    }
    let mut bytes_reclaimed = 0;
    for (done, op) in selected.into_iter().enumerate() {
        let dir = operations.join(&op.dir_name);
        if !request.dry_run && matches!(request.selection, Selection::Named(_)) {
            if let Some(session) = op.running_session(tmux) {
                let kill = request.force
                    || confirm(Confirm::KillSession {
                        operation: &op.name,
                        session,
                    });
                if !kill {
                    let item = Skipped {
                        item: op.name.clone(),
                        reason: KEPT_RUNNING.into(),
                    };
                    skip(&mut report, events, item);
                    progress(events, done, total, bytes_reclaimed);
                    continue;
                }
                tmux.kill_session(session);
            }
        }
        let bytes = tree_size(&dir);
        if !request.dry_run {
            std::fs::remove_dir_all(&dir).map_err(|err| PruneError::io(&dir, err))?;
        }
        bytes_reclaimed += bytes;
        events(&PruneEvent::ItemPruned {
            job: Job::Operations,
            item: op.name.clone(),
            detail: op.phase().to_string(),
            bytes_reclaimed: bytes,
        });
        report.pruned.push(PrunedOperation {
            name: op.name.clone(),
            phase: op.phase().to_string(),
            bytes,
        });
        progress(events, done, total, bytes_reclaimed);
    }
    Ok(report)
}

fn skip(report: &mut OperationsReport, events: EventSink<'_>, skipped: Skipped) {
    events(&PruneEvent::ItemSkipped {
        job: Job::Operations,
        skipped: skipped.clone(),
    });
    report.skipped.push(skipped);
}

fn progress(events: EventSink<'_>, done: usize, total: u64, bytes_reclaimed: u64) {
    events(&PruneEvent::Progress {
        job: Job::Operations,
        done: done as u64 + 1,
        total,
        bytes_reclaimed,
    });
}

/// Bytes under a directory, not following symbolic links (a link counts as itself).
fn tree_size(dir: &Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            // DirEntry::metadata is lstat: a symlink is never followed.
            let Ok(meta) = entry.metadata() else { continue };
            if meta.is_dir() {
                stack.push(entry.path());
            } else {
                total += meta.len();
            }
        }
    }
    total
}

#[cfg(test)]
mod tests;
