#!/bin/bash
# v0-prune-hooks.sh - v0-prune's versions of v0's pruning functions.
#
# assets/install-into-v0.sh copies this file to packages/cli/lib/ of a v0
# install and appends one line to packages/cli/lib/v0-common.sh that sources
# it; `install-into-v0.sh --uninstall` puts v0-common.sh back byte for byte
# and removes this file. Every v0 command sources v0-common.sh, which sources
# v0's pruning.sh and prune-daemon.sh before that line: the functions below
# replace v0's of the same name in every command, `v0 shutdown` included,
# without touching the lines of any v0 script.
#
# Each one runs bin/v0-prune (ours) with v0's project: V0_ROOT and BUILD_DIR
# are plain shell variables in v0's commands, passed on here. Each returns 0,
# as v0's do, so a failure never stops `v0 shutdown` half-way; v0-prune says
# what went wrong on stderr.

# bin/v0-prune of this install, from this file's place (packages/cli/lib/).
_V0_PRUNE_BIN="${BASH_SOURCE[0]%/*}/../../../bin/v0-prune"

# _v0_prune_is_ours: whether bin/v0-prune is v0-prune's binary (an ELF file
# on Linux, Mach-O on macOS: anything but a script) and not v0's bash script,
# put back by hand; if not, v0's functions stay.
_v0_prune_is_ours() {
  local magic=""
  [[ -f "${_V0_PRUNE_BIN}" ]] && [[ -x "${_V0_PRUNE_BIN}" ]] && [[ -s "${_V0_PRUNE_BIN}" ]] || return 1
  LC_ALL=C read -r -n 2 magic < "${_V0_PRUNE_BIN}" 2>/dev/null || true
  [[ "${magic}" != "#!" ]]
}

# _v0_prune <args>: bin/v0-prune for the project of the calling v0 command.
_v0_prune() {
  V0_ROOT="${V0_ROOT:-}" BUILD_DIR="${BUILD_DIR:-}" "${_V0_PRUNE_BIN}" "$@"
}

if _v0_prune_is_ours; then

  # prune_daemon_wait: stop the prune daemon after its current run. v0 polls
  # its pid file once a second; v0-prune returns the moment the daemon has
  # exited (SIGKILL after 30 s, as v0).
  prune_daemon_wait() {
    [[ -n "${BUILD_DIR:-}" ]] || return 0
    _v0_prune shutdown --drain-only || true
    return 0
  }

  # v0_prune_mergeq [--dry-run]: old completed/failed/conflict merge-queue
  # entries, under the queue's lock, in v0's words.
  v0_prune_mergeq() {
    [[ -n "${BUILD_DIR:-}" ]] || return 0
    if [[ "${1:-}" == "--dry-run" ]]; then
      _v0_prune shutdown --only mergeq --dry-run || true
    else
      _v0_prune shutdown --only mergeq || true
    fi
    return 0
  }

  # v0_prune_logs [--dry-run]: expired lines of every *.log, timestamps read
  # as UTC, lines of live writers kept, in v0's words.
  v0_prune_logs() {
    [[ -n "${BUILD_DIR:-}" ]] || return 0
    if [[ "${1:-}" == "--dry-run" ]]; then
      _v0_prune shutdown --only logs --dry-run || true
    else
      _v0_prune shutdown --only logs || true
    fi
    return 0
  }

fi
