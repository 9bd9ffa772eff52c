//! The operations job: removing `operations/<name>/` of finished operations.
//!
//! v0's rules (contract, "Pruning rules" and "`v0 prune`"): by default an
//! operation goes when its phase is terminal (`merged`, `cancelled`) or it is
//! `completed`/`pending_merge` with `merge_status` `merged`. Named operations
//! go whatever their phase, after asking to kill a running tmux session;
//! `--all` removes every one after one confirmation. Unlike v0 we accept only
//! names that are a single plain directory name, so `..` can never reach
//! outside `operations/`.

use std::path::{Component, Path};
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

/// Phases after which an operation is finished for good.
const TERMINAL: [&str; 2] = ["merged", "cancelled"];

/// Rejects anything but a single plain directory name.
pub fn validate_name(name: &str) -> Result<(), PruneError> {
    let mut components = Path::new(name).components();
    let single_normal =
        matches!(components.next(), Some(Component::Normal(_))) && components.next().is_none();
    if name.is_empty() || name.contains('/') || name.contains('\0') || !single_normal {
        return Err(PruneError::InvalidOperationName(name.to_string()));
    }
    Ok(())
}

/// One operation's directory and what its state.json says.
#[derive(Debug)]
struct Operation {
    name: String,
    state: Result<Value, String>,
}

impl Operation {
    fn phase(&self) -> &str {
        self.state
            .as_ref()
            .ok()
            .and_then(|s| s.get("phase"))
            .and_then(Value::as_str)
            .unwrap_or("unknown")
    }

    fn field(&self, key: &str) -> Option<&str> {
        self.state
            .as_ref()
            .ok()
            .and_then(|s| s.get(key))
            .and_then(Value::as_str)
    }

    fn is_finished(&self) -> bool {
        let phase = self.phase();
        TERMINAL.contains(&phase)
            || (matches!(phase, "completed" | "pending_merge")
                && self.field("merge_status") == Some("merged"))
    }

    /// The tmux session, if it runs on this machine now.
    fn running_session(&self) -> Option<&str> {
        let session = self.field("tmux_session").filter(|s| !s.is_empty())?;
        if self
            .field("machine")
            .is_some_and(|m| m != platform::hostname())
        {
            return None;
        }
        let running = Command::new("tmux")
            .args(["has-session", "-t", session])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        running.then_some(session)
    }
}

fn load(build: &BuildDir, name: &str) -> Operation {
    let path = build.operations_dir().join(name).join("state.json");
    let state = std::fs::read(&path)
        .map_err(|err| format!("cannot read state.json: {err}"))
        .and_then(|bytes| {
            serde_json::from_slice::<Value>(&bytes)
                .map_err(|err| format!("state.json is not valid JSON: {err}"))
        });
    Operation {
        name: name.to_string(),
        state,
    }
}

/// Operation directories (real directories only: symlinks and files are skipped).
fn list(build: &BuildDir, report: &mut OperationsReport) -> Result<Vec<String>, PruneError> {
    let dir = build.operations_dir();
    let entries = std::fs::read_dir(&dir).map_err(|err| PruneError::io(&dir, err))?;
    let mut names = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        match entry.file_type() {
            Ok(kind) if kind.is_dir() => names.push(name),
            Ok(kind) if kind.is_symlink() => report.skipped.push(Skipped {
                item: name,
                reason: "symbolic link; never followed".into(),
            }),
            _ => {}
        }
    }
    names.sort();
    Ok(names)
}

/// Removes the operations the request selects, asking `confirm` where v0 asks.
pub fn prune(
    build: &BuildDir,
    request: &OperationsRequest,
    confirm: &mut dyn FnMut(Confirm<'_>) -> bool,
    events: EventSink<'_>,
) -> Result<OperationsReport, PruneError> {
    if let Selection::Named(names) = &request.selection {
        for name in names {
            validate_name(name)?;
        }
    }
    let mut report = OperationsReport {
        present: build.operations_dir().is_dir(),
        ..OperationsReport::default()
    };
    let candidates: Vec<Operation> = match &request.selection {
        Selection::Named(names) => {
            let mut ops = Vec::new();
            for name in names {
                let dir = build.operations_dir().join(name);
                let is_dir = std::fs::symlink_metadata(&dir).is_ok_and(|m| m.is_dir());
                if !is_dir {
                    return Err(PruneError::OperationNotFound(name.clone()));
                }
                ops.push(load(build, name));
            }
            ops
        }
        _ if !report.present => return Ok(report),
        Selection::Finished | Selection::All => list(build, &mut report)?
            .iter()
            .map(|n| load(build, n))
            .collect(),
    };
    report.examined = candidates.len() as u64;
    let selected: Vec<&Operation> = match &request.selection {
        Selection::Finished => candidates
            .iter()
            .filter(|op| match &op.state {
                Ok(_) => op.is_finished(),
                Err(reason) => {
                    report.skipped.push(Skipped {
                        item: op.name.clone(),
                        reason: reason.clone(),
                    });
                    false
                }
            })
            .collect(),
        Selection::Named(_) | Selection::All => candidates.iter().collect(),
    };
    events(&PruneEvent::JobStarted {
        job: Job::Operations,
        total: selected.len() as u64,
    });
    if matches!(request.selection, Selection::All)
        && !request.force
        && !request.dry_run
        && !selected.is_empty()
        && !confirm(Confirm::RemoveAll {
            count: selected.len(),
        })
    {
        report.skipped.push(Skipped {
            item: "all operations".into(),
            reason: "cancelled: not confirmed".into(),
        });
        return Ok(report);
    }
    for (done, op) in selected.into_iter().enumerate() {
        let dir = build.operations_dir().join(&op.name);
        let bytes = tree_size(&dir);
        if !request.dry_run && matches!(request.selection, Selection::Named(_)) {
            if let Some(session) = op.running_session() {
                if !request.force
                    && !confirm(Confirm::KillSession {
                        operation: &op.name,
                        session,
                    })
                {
                    let skipped = Skipped {
                        item: op.name.clone(),
                        reason: "kept: its tmux session is running".into(),
                    };
                    events(&PruneEvent::ItemSkipped {
                        job: Job::Operations,
                        skipped: skipped.clone(),
                    });
                    report.skipped.push(skipped);
                    continue;
                }
                let _ = Command::new("tmux")
                    .args(["kill-session", "-t", session])
                    .stdin(Stdio::null())
                    .status();
            }
        }
        if !request.dry_run {
            std::fs::remove_dir_all(&dir).map_err(|err| PruneError::io(&dir, err))?;
        }
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
        events(&PruneEvent::Progress {
            job: Job::Operations,
            done: done as u64 + 1,
            total: report.examined,
            bytes_reclaimed: report.pruned.iter().map(|p| p.bytes).sum(),
        });
    }
    Ok(report)
}

/// Bytes under a directory, not following symbolic links.
fn tree_size(dir: &Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
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
mod tests {
    use super::*;

    fn op(build: &BuildDir, name: &str, state: &str) {
        let dir = build.operations_dir().join(name);
        std::fs::create_dir_all(&dir).expect("mkdir");
        std::fs::write(dir.join("state.json"), state).expect("write");
    }

    fn names(build: &BuildDir) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(build.operations_dir())
            .expect("read")
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    fn run(
        build: &BuildDir,
        selection: Selection,
        dry_run: bool,
        answer: bool,
    ) -> Result<OperationsReport, PruneError> {
        let request = OperationsRequest {
            selection,
            dry_run,
            force: false,
        };
        prune(
            build,
            &request,
            &mut |_| answer,
            &mut super::super::ignore_events,
        )
    }

    #[test]
    fn finished_operations_by_phase_and_merge_status() {
        let dir = tempfile::tempdir().expect("tempdir");
        let build = BuildDir::new(dir.path());
        let cases = [
            ("init", r#"{"phase":"init"}"#, false),
            ("planned", r#"{"phase":"planned"}"#, false),
            ("queued", r#"{"phase":"queued"}"#, false),
            ("executing", r#"{"phase":"executing"}"#, false),
            ("completed", r#"{"phase":"completed"}"#, false),
            (
                "completed-merged",
                r#"{"phase":"completed","merge_status":"merged"}"#,
                true,
            ),
            (
                "pending",
                r#"{"phase":"pending_merge","merge_status":"pending"}"#,
                false,
            ),
            (
                "pending-merged",
                r#"{"phase":"pending_merge","merge_status":"merged"}"#,
                true,
            ),
            ("merged", r#"{"phase":"merged"}"#, true),
            ("failed", r#"{"phase":"failed"}"#, false),
            ("conflict", r#"{"phase":"conflict"}"#, false),
            ("interrupted", r#"{"phase":"interrupted"}"#, false),
            ("cancelled", r#"{"phase":"cancelled"}"#, true),
            ("corrupt", "{not json", false),
        ];
        for (name, state, _) in cases {
            op(&build, name, state);
        }
        std::fs::create_dir_all(build.operations_dir().join("no-state")).expect("mkdir");
        let report = run(&build, Selection::Finished, false, false).expect("prune");
        let pruned: Vec<&str> = report.pruned.iter().map(|p| p.name.as_str()).collect();
        let expected: Vec<&str> = cases.iter().filter(|c| c.2).map(|c| c.0).collect();
        let mut expected_sorted = expected.clone();
        expected_sorted.sort();
        assert_eq!(pruned, expected_sorted);
        for (name, _, gone) in cases {
            assert_eq!(!build.operations_dir().join(name).exists(), gone, "{name}");
        }
        let skipped: Vec<&str> = report.skipped.iter().map(|s| s.item.as_str()).collect();
        assert_eq!(skipped, ["corrupt", "no-state"]);
    }

    #[test]
    fn bad_names_are_rejected_and_nothing_is_deleted() {
        let dir = tempfile::tempdir().expect("tempdir");
        let build = BuildDir::new(dir.path().join("build"));
        op(&build, "keep", r#"{"phase":"executing"}"#);
        std::fs::write(dir.path().join("sibling"), "precious").expect("write");
        for bad in ["..", ".", "", "a/b", "/etc", "../build", "x\0y"] {
            let err = run(
                &build,
                Selection::Named(vec!["keep".into(), bad.into()]),
                false,
                true,
            )
            .expect_err(bad);
            assert!(
                matches!(err, PruneError::InvalidOperationName(_)),
                "{bad}: {err}"
            );
        }
        let err = run(
            &build,
            Selection::Named(vec!["keep".into(), "ghost".into()]),
            false,
            true,
        )
        .expect_err("unknown");
        assert_eq!(err.to_string(), "Operation 'ghost' not found");
        assert_eq!(names(&build), ["keep"]);
        assert!(dir.path().join("sibling").exists());
    }

    #[test]
    fn named_and_all_and_dry_run() {
        let dir = tempfile::tempdir().expect("tempdir");
        let build = BuildDir::new(dir.path());
        for name in ["a", "b", "c"] {
            op(&build, name, r#"{"phase":"executing"}"#);
        }
        let report = run(&build, Selection::Named(vec!["b".into()]), true, true).expect("dry");
        assert_eq!(report.pruned.len(), 1);
        assert_eq!(names(&build), ["a", "b", "c"], "a dry run removes nothing");
        run(&build, Selection::Named(vec!["b".into()]), false, true).expect("named");
        assert_eq!(names(&build), ["a", "c"]);
        let report = run(&build, Selection::All, false, false).expect("all, declined");
        assert!(report.pruned.is_empty());
        assert_eq!(names(&build), ["a", "c"]);
        run(&build, Selection::All, false, true).expect("all, confirmed");
        assert!(names(&build).is_empty());
    }

    #[test]
    fn symlinked_operations_are_not_followed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let outside = tempfile::tempdir().expect("tempdir");
        let build = BuildDir::new(dir.path());
        std::fs::create_dir_all(build.operations_dir()).expect("mkdir");
        std::fs::write(outside.path().join("state.json"), r#"{"phase":"merged"}"#).expect("write");
        std::os::unix::fs::symlink(outside.path(), build.operations_dir().join("link"))
            .expect("symlink");
        let report = run(&build, Selection::All, false, true).expect("all");
        assert!(report.pruned.is_empty());
        assert!(outside.path().join("state.json").exists());
        let err = run(&build, Selection::Named(vec!["link".into()]), false, true)
            .expect_err("a link is not an operation");
        assert!(matches!(err, PruneError::OperationNotFound(_)));
    }
}
