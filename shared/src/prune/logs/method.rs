//! How a run may prune a log, decided from who holds it and what the
//! filesystem can do: one set of rules, used by the run ([`super::prune_one`])
//! and by the size budget's census ([`super::budget`]), so that what the
//! budget counts on is what the run will do.
//!
//! - A positional writer other than us, or a process whose open files we
//!   cannot see: nothing changes under it ([`Holding::skip_reason`]).
//! - O_APPEND writers: only the expired head may go, cut in place where
//!   ranges collapse; elsewhere nothing, except our own log when no other
//!   process writes to it ([`rewrites_own_log`]).
//! - Nobody writing: any expired entry may go, by a rewrite or, for a large
//!   log whose expired part is a head, in place ([`IN_PLACE_FROM`]).

use crate::platform::{Access, Holder};

/// Logs nobody holds are pruned in place only from this size on: below it
/// the rewrite's copy is cheaper than the in-place prune's two syncs (10,000
/// logs of ~10 KB took 2.9× `cat` in place against 1.25× rewritten). The
/// unit tests use small files, so for them every non-empty one counts.
pub(crate) const IN_PLACE_FROM: u64 = if cfg!(test) { 1 } else { 1 << 20 };

/// Who holds a log, as far as pruning it is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Holding<'a> {
    /// Held for writing at its own offset by another process: any change
    /// under it leaves NUL bytes or loses lines.
    Positional(&'a Holder),
    /// Held by a process whose open files the system does not show us: it
    /// counts as a writer.
    Hidden(&'a Holder),
    /// Held by O_APPEND writers (and perhaps readers).
    Appended,
    /// Read at most: nobody writes to it.
    Free,
}

impl Holding<'_> {
    /// Why a log held this way is left alone, when it is.
    pub fn skip_reason(&self) -> Option<String> {
        match self {
            Self::Positional(writer) => Some(format!(
                "held open for writing without O_APPEND by pid {} ({}); pruning under it would leave NUL bytes or lose lines",
                writer.pid, writer.command
            )),
            Self::Hidden(hidden) => Some(format!(
                "pid {} ({}) may be writing to it: the system does not let us see its open files, so it counts as a writer",
                hidden.pid, hidden.command
            )),
            Self::Appended | Self::Free => None,
        }
    }
}

/// How `holders` hold a log: a positional writer other than this process
/// first, then a hidden one, then appenders.
pub fn holding(holders: &[Holder]) -> Holding<'_> {
    let me = std::process::id();
    if let Some(writer) = holders
        .iter()
        .find(|h| h.access == Access::Positional && h.pid != me)
    {
        return Holding::Positional(writer);
    }
    if let Some(hidden) = holders.iter().find(|h| h.access == Access::Unknown) {
        return Holding::Hidden(hidden);
    }
    if holders.iter().any(|h| h.access == Access::Append) {
        Holding::Appended
    } else {
        Holding::Free
    }
}

/// Whether this process's own log is rewritten under it while it lets go
/// (`OwnLog`): only where ranges cannot be collapsed (else it is cut in
/// place like any appended log), and only when no other process writes to
/// it (a rename would lose that writer's lines).
pub fn rewrites_own_log(holders: &[Holder], is_own: bool, collapse: bool) -> bool {
    let me = std::process::id();
    is_own
        && !collapse
        && !holders
            .iter()
            .any(|h| h.pid != me && h.access != Access::Read)
}

/// What a run may remove from a log, decided before reading it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// Nothing: a writer forbids it, or the head cannot be cut here.
    Nothing,
    /// Only the expired head, collapsed in place (whole blocks, a padding line).
    Head,
    /// Any expired entry; `may_collapse` when the run may cut it in place
    /// (whole blocks and a padding line) rather than rewrite it.
    Any {
        /// The run may collapse it in place.
        may_collapse: bool,
    },
}

/// [`Reach`] of a log of `len` bytes held by `holders`, on a filesystem that
/// collapses ranges or not, `is_own` when it is this process's own log.
pub fn reach(holders: &[Holder], is_own: bool, collapse: bool, len: u64) -> Reach {
    match holding(holders) {
        Holding::Positional(_) | Holding::Hidden(_) => Reach::Nothing,
        Holding::Appended if rewrites_own_log(holders, is_own, collapse) => Reach::Any {
            may_collapse: false,
        },
        Holding::Appended if collapse => Reach::Head,
        Holding::Appended => Reach::Nothing,
        Holding::Free => Reach::Any {
            may_collapse: collapse && len >= IN_PLACE_FROM,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn holder(pid: u32, access: Access) -> Holder {
        Holder {
            pid,
            command: format!("cmd{pid}"),
            access,
        }
    }

    #[test]
    fn a_positional_writer_comes_before_a_hidden_one_and_both_before_appenders() {
        let other = std::process::id() + 1;
        let hidden = holder(other + 1, Access::Unknown);
        let positional = holder(other, Access::Positional);
        let appender = holder(other + 2, Access::Append);
        let all = [appender.clone(), hidden.clone(), positional.clone()];
        assert_eq!(holding(&all), Holding::Positional(&positional));
        assert!(
            holding(&all)
                .skip_reason()
                .is_some_and(|r| r.contains("without O_APPEND"))
        );
        let two = [appender.clone(), hidden.clone()];
        assert_eq!(holding(&two), Holding::Hidden(&hidden));
        assert_eq!(holding(std::slice::from_ref(&appender)), Holding::Appended);
        assert_eq!(holding(&[holder(other, Access::Read)]), Holding::Free);
        assert_eq!(holding(&[]), Holding::Free);
        // Our own positional descriptor is no other writer.
        let mine = holder(std::process::id(), Access::Positional);
        assert_eq!(holding(&[mine]), Holding::Free);
    }

    #[test]
    fn what_a_run_may_remove_follows_the_holders_and_the_filesystem() {
        let me = std::process::id();
        let ours = [holder(me, Access::Append)];
        let another = [holder(me, Access::Append), holder(me + 1, Access::Append)];
        // Our own log where nothing collapses: rewritten under us, unless
        // another process writes to it too.
        assert_eq!(
            reach(&ours, true, false, 10),
            Reach::Any {
                may_collapse: false
            }
        );
        assert_eq!(reach(&another, true, false, 10), Reach::Nothing);
        // Where ranges collapse, an appended log (ours too) loses its head.
        assert_eq!(reach(&ours, true, true, 10), Reach::Head);
        assert_eq!(reach(&another, false, true, 10), Reach::Head);
        assert_eq!(reach(&another, false, false, 10), Reach::Nothing);
        // Nobody writing: any expired entry; in place only where it collapses.
        assert_eq!(
            reach(&[], false, true, IN_PLACE_FROM),
            Reach::Any { may_collapse: true }
        );
        assert_eq!(
            reach(&[], false, false, IN_PLACE_FROM),
            Reach::Any {
                may_collapse: false
            }
        );
        assert_eq!(
            reach(&[holder(me + 1, Access::Positional)], false, true, 10),
            Reach::Nothing
        );
    }
}
