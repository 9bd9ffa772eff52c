#!/bin/sh
# install-into-v0.sh: puts v0-prune into a v0 install, and takes it out again.
# Replaces v0's bash bin/v0-prune and bin/v0-prune-daemon with our binaries,
# and hooks v0's pruning functions (so `v0 shutdown` uses us) by one line
# appended to packages/cli/lib/v0-common.sh that sources our
# packages/cli/lib/v0-prune-hooks.sh. Run with --help for the usage.
# POSIX sh; every check is made before the first change, and every file is
# replaced by a rename, so a v0 command (or a prune daemon) running meanwhile
# keeps its old file.
set -eu

PROG=install-into-v0.sh
# The binaries we replace, under bin/.
BINARIES="v0-prune v0-prune-daemon"
COMMON=packages/cli/lib/v0-common.sh
HOOKS=packages/cli/lib/v0-prune-hooks.sh
# What we append to $COMMON: it loads $HOOKS, which sits beside it.
HOOK_LINE='if [ -f "${BASH_SOURCE[0]%/*}/v0-prune-hooks.sh" ]; then source "${BASH_SOURCE[0]%/*}/v0-prune-hooks.sh"; fi # v0-prune: loads its pruning functions; install-into-v0.sh --uninstall removes this line'
# v0's functions the hooks replace, where v0 defines them, and who calls them.
PRUNING=packages/core/lib/pruning.sh
PRUNE_DAEMON=packages/core/lib/prune-daemon.sh
SHUTDOWN=bin/v0-shutdown
BACKUP=.v0-prune-backup
MANIFEST=MANIFEST
INSTALLED=INSTALLED

SCRIPT_DIR=$(CDPATH='' cd -P -- "$(dirname -- "$0")" && pwd -P)
REPO_DIR=$(dirname -- "$SCRIPT_DIR")
HOOKS_FILE=$SCRIPT_DIR/v0-prune-hooks.sh

usage() {
	cat <<EOF
Usage: $PROG [--from DIR] [--dry-run] [V0_DIR]
       $PROG --uninstall [--dry-run] [V0_DIR]

Installs v0-prune into the v0 install V0_DIR, so that \`v0 prune\`, \`v0 prune
top\`, v0's own starts of its prune daemon and \`v0 shutdown\` run v0-prune:

  bin/v0-prune, bin/v0-prune-daemon   replaced by our binaries
  $HOOKS     added: v0-prune's prune_daemon_wait,
                                      v0_prune_mergeq and v0_prune_logs
  $COMMON         one line appended that loads it

V0_DIR is v0's install directory, the one holding bin/v0. Without it: the v0
that \`command -v v0\` finds (through symbolic links, as bin/v0 does), else
v0's default install directory, \${V0_INSTALL:-~/.local/share/v0}. The chosen
v0 and its version are printed first.

A v0 whose files are not what this version of v0-prune knows (bash
bin/v0-prune, the functions it replaces defined where it expects them and
called by bin/v0-shutdown) is refused, and nothing is changed.

The first install saves v0's original files in V0_DIR/bin/$BACKUP/ (with a
$MANIFEST); running it again updates what it installed and keeps that
backup. --uninstall puts the originals back, byte for byte and with their
modes, and removes what it added and the backup.

Options:
  --from DIR        take the binaries from DIR (default: target/release of this
                    repository, $REPO_DIR/target/release:
                    build them with \`cargo build --release\`; after
                    \`cargo install\`: --from ~/.cargo/bin)
  --uninstall       restore v0's original files and remove the backup
  -n, --dry-run     print what would be done; change nothing
  -h, --help        print this help

Examples:
  cargo build --release && $PROG       the v0 on PATH
  $PROG ~/.local/share/v0             a given v0 install
  $PROG --dry-run                     what it would change
  $PROG --uninstall                   v0's own files again

Exit status: 0 done (or nothing to do), 1 an error (nothing was changed),
2 a usage error.
EOF
}

die() {
	printf '%s: error: %s\n' "$PROG" "$*" >&2
	exit 1
}

usage_error() {
	printf '%s: %s\n' "$PROG" "$*" >&2
	printf "Try '%s --help'.\n" "$PROG" >&2
	exit 2
}

# Prints "<past> <what>", or "would <present> <what>" in a dry run.
report() {
	if [ "$DRY_RUN" = 1 ]; then
		printf 'would %s %s\n' "$2" "$3"
	else
		printf '%s %s\n' "$1" "$3"
	fi
}

# ---- arguments ----

FROM=
TARGET=
UNINSTALL=0
DRY_RUN=0
while [ $# -gt 0 ]; do
	case $1 in
	-h | --help)
		usage
		exit 0
		;;
	--from)
		[ $# -ge 2 ] || usage_error "--from needs a directory"
		FROM=$2
		shift
		;;
	--from=*) FROM=${1#--from=} ;;
	--uninstall) UNINSTALL=1 ;;
	-n | --dry-run) DRY_RUN=1 ;;
	--patch-shutdown) usage_error "--patch-shutdown is gone: \`v0 shutdown\` now uses v0-prune through the hooks every install puts in place" ;;
	--)
		shift
		break
		;;
	-*) usage_error "unknown option: $1" ;;
	*)
		[ -z "$TARGET" ] || usage_error "one V0_DIR only (got '$TARGET' and '$1')"
		TARGET=$1
		;;
	esac
	shift
done
if [ $# -gt 0 ]; then
	if [ -n "$TARGET" ] || [ $# -gt 1 ]; then
		usage_error "one V0_DIR only"
	fi
	TARGET=$1
fi
if [ "$UNINSTALL" = 1 ] && [ -n "$FROM" ]; then
	usage_error "--from makes no sense with --uninstall"
fi

# ---- small helpers ----

# The "CRC size" of a file, to recognise what we installed.
checksum() {
	cksum <"$1" | awk '{ print $1 "-" $2 }'
}

# A file's permission bits in octal (GNU stat, else BSD stat).
mode_of() {
	stat -c %a -- "$1" 2>/dev/null || stat -f %Lp -- "$1"
}

# Whether a file is a compiled program (ELF on Linux, Mach-O on macOS), not
# a script: non-empty, and not starting with "#!".
is_compiled() {
	[ -s "$1" ] && [ "$(od -An -c -N2 -- "$1" 2>/dev/null | tr -d ' \n')" != '#!' ]
}

# Whether a file is a bash script (its first line runs bash).
is_bash_script() {
	case $(sed -n 1p -- "$1" 2>/dev/null) in
	'#!'*bash*) return 0 ;;
	*) return 1 ;;
	esac
}

# The value of field 2.. of the line for $2 in file $1 ("" if none).
lookup() {
	[ -f "$1" ] || return 0
	awk -v name="$2" '$1 == name { $1 = ""; sub(/^ /, ""); print; exit }' "$1"
}

# Where a MANIFEST name lives in the install: a path relative to it; a bare
# name (written by earlier versions of this script) is under bin/.
target_of() {
	case $1 in
	*/*) printf '%s\n' "$1" ;;
	*) printf 'bin/%s\n' "$1" ;;
	esac
}

case_known_name() {
	case $1 in
	bin/v0-prune | bin/v0-prune-daemon | "$COMMON" | "$HOOKS") return 0 ;;
	# Earlier versions: bare names under bin/, and a patched v0-shutdown.
	v0-prune | v0-prune-daemon | v0-shutdown) return 0 ;;
	*) return 1 ;;
	esac
}

# Whether a bash file defines function $2.
defines() {
	grep -Eq "^[[:space:]]*(function[[:space:]]+)?$2[[:space:]]*\(\)" -- "$1" 2>/dev/null
}

# ---- which v0 ----

# Whether $1 holds a v0 install: an executable bin/v0 and a bin/v0-prune.
looks_like_v0() {
	[ -f "$1/bin/v0" ] && [ -x "$1/bin/v0" ] && [ -f "$1/bin/v0-prune" ]
}

# The install directory of the v0 program $1, following symbolic links the
# way bin/v0 finds its own directory.
install_dir_of() {
	source=$1
	hops=0
	while [ -L "$source" ]; do
		hops=$((hops + 1))
		[ "$hops" -le 40 ] || return 1
		dir=$(CDPATH='' cd -P -- "$(dirname -- "$source")" && pwd -P) || return 1
		source=$(readlink -- "$source") || return 1
		case $source in /*) ;; *) source=$dir/$source ;; esac
	done
	CDPATH='' cd -P -- "$(dirname -- "$source")/.." 2>/dev/null && pwd -P
}

DEFAULT_V0=${V0_INSTALL:-${HOME:-}/.local/share/v0}
HOW=
if [ -z "$TARGET" ]; then
	tried=
	on_path=$(command -v v0 2>/dev/null || true)
	case $on_path in
	/*)
		if found=$(install_dir_of "$on_path") && looks_like_v0 "$found"; then
			TARGET=$found
			HOW="the v0 on PATH: $on_path"
		else
			tried="the v0 on PATH ($on_path) is not inside a v0 install (no bin/v0 and bin/v0-prune beside it)"
		fi
		;;
	*) tried="no v0 on PATH" ;;
	esac
	if [ -z "$TARGET" ]; then
		if [ -n "${HOME:-}${V0_INSTALL:-}" ] && looks_like_v0 "$DEFAULT_V0"; then
			TARGET=$DEFAULT_V0
			HOW="v0's default install directory; $tried"
		else
			die "which v0? $tried, and $DEFAULT_V0 (v0's default install directory) holds no v0 install; give its directory (the one holding bin/v0) as an argument"
		fi
	fi
else
	HOW="given"
fi

[ -e "$TARGET" ] || die "$TARGET: no such directory"
[ -d "$TARGET" ] || die "$TARGET is not a directory"
V0=$(CDPATH='' cd -P -- "$TARGET" && pwd -P)
BIN=$V0/bin
if [ "$V0" = "$REPO_DIR" ]; then
	die "$V0 is v0-prune's own repository, not a v0 install: give v0's install directory (the one holding bin/v0)"
fi
if ! [ -f "$BIN/v0" ] || ! [ -x "$BIN/v0" ]; then
	die "$V0 does not look like a v0 install: it has no executable bin/v0 (give the directory holding v0's bin/, not bin/ itself); nothing changed"
fi
if ! [ -f "$BIN/v0-prune" ]; then
	hint=
	if [ -L "$BIN/v0" ]; then
		hint=" (bin/v0 is a link to $(readlink -- "$BIN/v0" 2>/dev/null || echo 'elsewhere'): give the v0 install it points into)"
	fi
	die "$V0 does not look like a v0 install: it has bin/v0 but no bin/v0-prune$hint; nothing changed"
fi

VERSION=
if [ -f "$V0/VERSION" ]; then
	VERSION=$(sed -n 1p -- "$V0/VERSION")
fi
if [ -z "$VERSION" ]; then
	VERSION=$("$BIN/v0" --version 2>/dev/null | sed -n '1s/^v0 //p') || VERSION=
fi
echo "v0 ${VERSION:-(unknown version)} at $V0 ($HOW)"

# ---- the v0 install: what we change must be what we know ----

for name in bin/v0-prune bin/v0-prune-daemon "$COMMON" "$HOOKS"; do
	if [ -L "$V0/$name" ]; then
		die "$name in $V0 is a symbolic link; run this on the directory holding v0's real files; nothing changed"
	fi
done
if [ -L "$BIN/$BACKUP" ] || { [ -e "$BIN/$BACKUP" ] && ! [ -d "$BIN/$BACKUP" ]; }; then
	die "bin/$BACKUP in $V0 is not a directory; move it away first; nothing changed"
fi

HAVE_BACKUP=0
if [ -d "$BIN/$BACKUP" ]; then
	[ -f "$BIN/$BACKUP/$MANIFEST" ] ||
		die "bin/$BACKUP in $V0 has no $MANIFEST: it was not made by this script, or is damaged; nothing changed"
	HAVE_BACKUP=1
	# Only our file names, each with a state this script writes.
	while read -r name state _; do
		case $name in '' | '#'*) continue ;; esac
		case_known_name "$name" || die "bin/$BACKUP/$MANIFEST names an unknown file '$name'; nothing changed"
		case $state in
		original) [ -f "$BIN/$BACKUP/$name" ] || die "bin/$BACKUP/$name, listed in its $MANIFEST, is missing; nothing changed" ;;
		absent) ;;
		*) die "bin/$BACKUP/$MANIFEST: '$name' has an unknown state '$state'; nothing changed" ;;
		esac
	done <"$BIN/$BACKUP/$MANIFEST"
fi

backed_up() {
	[ "$HAVE_BACKUP" = 1 ] && [ -n "$(lookup "$BIN/$BACKUP/$MANIFEST" "$1")" ]
}

# A backed-up file that is neither what we put there nor the backup itself
# (left so by an interrupted --uninstall) means v0 was upgraded or
# reinstalled since: the backup is stale, and restoring it would put old
# files over new ones.
check_still_ours() {
	name=$1
	path=$V0/$(target_of "$name")
	[ -f "$path" ] || return 0
	recorded=$(lookup "$BIN/$BACKUP/$INSTALLED" "$name")
	[ -n "$recorded" ] || return 0
	[ "$(checksum "$path")" != "$recorded" ] || return 0
	if ! { [ -f "$BIN/$BACKUP/$name" ] && cmp -s -- "$path" "$BIN/$BACKUP/$name"; }; then
		die "$(target_of "$name") in $V0 has changed since $PROG installed it (was v0 upgraded or reinstalled?), so the backup in bin/$BACKUP is stale: restoring it would put older files over newer ones. If $(target_of "$name") is v0's own again, remove bin/$BACKUP by hand; nothing changed"
	fi
}

STAGE=
cleanup() {
	if [ -n "$STAGE" ]; then
		rm -rf -- "$STAGE"
	fi
}
trap cleanup EXIT
trap 'exit 1' HUP INT TERM

# A private directory in $1 (a directory of the install), so every move
# from it is a rename on one filesystem; in a dry run, one in $TMPDIR, so
# nothing in the install is touched.
make_stage() {
	cleanup
	if [ "$DRY_RUN" = 1 ]; then
		STAGE=$(mktemp -d "${TMPDIR:-/tmp}/v0-prune-install.XXXXXX") || die "cannot create a temporary directory"
	else
		STAGE=$(mktemp -d "$1/.v0-prune-install.XXXXXX") || die "cannot create a temporary directory in $1"
	fi
}

# Puts the staged file $1 in place at $2 (both absolute), by a rename.
place() {
	mv -f -- "$1" "$2"
}

# ---- uninstall ----

if [ "$UNINSTALL" = 1 ]; then
	[ "$HAVE_BACKUP" = 1 ] ||
		die "no backup in $V0/bin/$BACKUP: v0-prune was not installed here by $PROG (or was uninstalled already); nothing to undo, nothing changed"
	entries=$(awk '$1 !~ /^#/ && NF { print $1 " " $2 " " $3 }' "$BIN/$BACKUP/$MANIFEST")
	for name in $(printf '%s\n' "$entries" | awk '{ print $1 }'); do
		check_still_ours "$name"
	done
	for name in $(printf '%s\n' "$entries" | awk '{ print $1 }'); do
		dir=$(dirname -- "$V0/$(target_of "$name")")
		[ "$DRY_RUN" = 1 ] || [ -w "$dir" ] || die "cannot write to $dir; nothing changed"
	done
	# A here-document, not a pipe: a failure must stop us before the backup goes.
	while read -r name state mode; do
		[ -n "$name" ] || continue
		path=$(target_of "$name")
		if [ "$state" = absent ]; then
			if [ -e "$V0/$path" ]; then
				[ "$DRY_RUN" = 1 ] || rm -f -- "$V0/$path"
				report removed remove "$path (v0 had none)"
			fi
			continue
		fi
		if [ "$DRY_RUN" = 0 ]; then
			make_stage "$(dirname -- "$V0/$path")"
			cp -p -- "$BIN/$BACKUP/$name" "$STAGE/file"
			case $mode in [0-7][0-7][0-7] | [0-7][0-7][0-7][0-7]) chmod "$mode" "$STAGE/file" ;; esac
			place "$STAGE/file" "$V0/$path"
		fi
		report restored restore "$path from bin/$BACKUP/$name (mode ${mode:-unchanged})"
	done <<ENTRIES
$entries
ENTRIES
	[ "$DRY_RUN" = 1 ] || rm -rf -- "${BIN:?}/$BACKUP"
	report removed remove "bin/$BACKUP"
	if [ "$DRY_RUN" = 0 ]; then
		echo "Done: $V0 runs v0's own prune scripts and functions again. A prune daemon started from the removed binary keeps running until stopped (SIGTERM, or v0 shutdown)."
	fi
	exit 0
fi

# ---- install: the binaries to install ----

if [ -z "$FROM" ]; then
	FROM=$REPO_DIR/target/release
	for name in $BINARIES; do
		if ! [ -f "$FROM/$name" ] || ! [ -x "$FROM/$name" ]; then
			die "no $name in $FROM: build the binaries first with \`cargo build --release\` (in $REPO_DIR), or give their directory with --from DIR; nothing changed"
		fi
	done
fi
[ -d "$FROM" ] || die "--from $FROM: no such directory"
FROM=$(CDPATH='' cd -P -- "$FROM" && pwd -P)
[ "$FROM" != "$BIN" ] || die "--from is $V0's own bin/: give the directory where v0-prune was built (e.g. target/release); nothing changed"
[ -f "$HOOKS_FILE" ] || die "$HOOKS_FILE is missing from this checkout; nothing changed"
VERSIONS=
for name in $BINARIES; do
	if ! [ -f "$FROM/$name" ] || ! [ -x "$FROM/$name" ]; then
		die "no executable $name in $FROM (build it with \`cargo build --release\`); nothing changed"
	fi
	# Runs on this machine, and is ours: v0's bash scripts have no --version.
	version=$("$FROM/$name" --version 2>/dev/null) || version=
	version=$(printf '%s\n' "$version" | sed -n 1p)
	case $version in
	"$name "*) ;;
	*) die "$FROM/$name is not v0-prune's $name (\`$name --version\` did not answer '$name <version>'); nothing changed" ;;
	esac
	VERSIONS="$VERSIONS$name $version
"
done

# ---- install: is this a v0 we know? ----

# Refuses this v0 (nothing is changed yet), saying what did not match.
unknown_v0() {
	die "v0 ${VERSION:-(unknown version)} at $V0 is not a v0 this v0-prune knows how to hook into: $* (is this v0 newer than this v0-prune?); nothing changed"
}

FILES="bin/v0-prune bin/v0-prune-daemon $HOOKS $COMMON"
# A v0 upgraded in place since the last install: said first, as such.
for name in $FILES; do
	if backed_up "$name"; then
		check_still_ours "$name"
	fi
done

[ -f "$V0/$COMMON" ] || unknown_v0 "it has no $COMMON (the library every v0 command sources)"
for lib in "$PRUNING" "$PRUNE_DAEMON"; do
	grep -Eq "^[[:space:]]*(source|\.)[[:space:]].*/$lib[\"']?[[:space:]]*(#.*)?$" -- "$V0/$COMMON" ||
		unknown_v0 "$COMMON does not source $lib"
done
for fn in v0_prune_mergeq v0_prune_logs; do
	defines "$V0/$PRUNING" "$fn" || unknown_v0 "$PRUNING does not define $fn"
done
defines "$V0/$PRUNE_DAEMON" prune_daemon_wait || unknown_v0 "$PRUNE_DAEMON does not define prune_daemon_wait"
[ -f "$V0/$SHUTDOWN" ] || unknown_v0 "it has no $SHUTDOWN"
for fn in prune_daemon_wait v0_prune_mergeq v0_prune_logs; do
	grep -Eq "(^|[^[:alnum:]_])$fn([^[:alnum:]_]|$)" -- "$V0/$SHUTDOWN" ||
		unknown_v0 "$SHUTDOWN does not call $fn, so v0-prune's $fn would not be used by \`v0 shutdown\`"
done

TO_BACK_UP=
for name in $FILES; do
	if backed_up "$name"; then
		continue
	fi
	path=$V0/$name
	case $name in
	bin/*)
		# Never save one of our own binaries as "v0's original".
		if [ -f "$path" ] && is_compiled "$path"; then
			die "$name in $V0 is already a compiled program, not v0's bash script, and there is no backup of v0's original: reinstall v0 first (or restore its $name), then run $PROG again; nothing changed"
		fi
		if [ -f "$path" ] && ! { is_bash_script "$path" && grep -q 'v0-common\.sh' -- "$path"; }; then
			unknown_v0 "$name is not v0's bash script (a #!...bash script that sources v0-common.sh)"
		fi
		;;
	"$HOOKS")
		[ ! -e "$path" ] || unknown_v0 "it already has a $HOOKS that $PROG did not put there (no backup records it)"
		;;
	"$COMMON")
		if grep -qF 'v0-prune-hooks.sh' -- "$path"; then
			die "$COMMON in $V0 already loads v0-prune-hooks.sh, but there is no backup of v0's original: reinstall v0 first, then run $PROG again; nothing changed"
		fi
		;;
	esac
	TO_BACK_UP="$TO_BACK_UP $name"
done

# Every directory we write to, before the first change.
for dir in "$BIN" "$(dirname -- "$V0/$COMMON")"; do
	[ "$DRY_RUN" = 1 ] || [ -w "$dir" ] || die "cannot write to $dir; nothing changed"
done

# ---- install: back up (once), then replace ----

# Backups: a new backup directory is built in a stage and renamed into
# place, so it exists complete or not at all.
if [ -n "$TO_BACK_UP" ]; then
	dest=$BIN/$BACKUP
	if [ "$HAVE_BACKUP" = 0 ] && [ "$DRY_RUN" = 0 ]; then
		make_stage "$BIN"
		dest=$STAGE/$BACKUP
		mkdir "$dest"
		{
			echo "# v0's original files, saved by v0-prune's $PROG; \`$PROG --uninstall\` restores them."
			echo "# path in the v0 install, state (original: saved here; absent: v0 had none), mode"
		} >"$dest/$MANIFEST"
	fi
	for name in $TO_BACK_UP; do
		if [ -f "$V0/$name" ]; then
			mode=$(mode_of "$V0/$name")
			if [ "$DRY_RUN" = 0 ]; then
				mkdir -p -- "$(dirname -- "$dest/$name")"
				cp -p -- "$V0/$name" "$dest/$name.tmp"
				mv -f -- "$dest/$name.tmp" "$dest/$name"
				cp -p -- "$dest/$MANIFEST" "$dest/.$MANIFEST.tmp"
				echo "$name original $mode" >>"$dest/.$MANIFEST.tmp"
				mv -f -- "$dest/.$MANIFEST.tmp" "$dest/$MANIFEST"
			fi
			report "backed up" "back up" "$name -> bin/$BACKUP/$name (mode $mode)"
		else
			if [ "$DRY_RUN" = 0 ]; then
				cp -p -- "$dest/$MANIFEST" "$dest/.$MANIFEST.tmp"
				echo "$name absent" >>"$dest/.$MANIFEST.tmp"
				mv -f -- "$dest/.$MANIFEST.tmp" "$dest/$MANIFEST"
			fi
			report noted note "v0 has no $name (--uninstall will remove ours)"
		fi
	done
	if [ "$HAVE_BACKUP" = 0 ] && [ "$DRY_RUN" = 0 ]; then
		mv -- "$STAGE/$BACKUP" "$BIN/$BACKUP"
	fi
fi
for name in $FILES; do
	case " $TO_BACK_UP " in
	*" $name "*) ;;
	*)
		case $(lookup "$BIN/$BACKUP/$MANIFEST" "$name") in
		absent*) echo "kept the note that v0 has no $name of its own (bin/$BACKUP/$MANIFEST)" ;;
		*) echo "kept the backup of v0's original $name (bin/$BACKUP/$name)" ;;
		esac
		;;
	esac
done

# What we put in place, by checksum, so a later run can tell ours from v0's.
record_installed() {
	if [ "$DRY_RUN" = 0 ]; then
		{
			[ -f "$BIN/$BACKUP/$INSTALLED" ] && awk -v name="$1" '$1 != name' "$BIN/$BACKUP/$INSTALLED"
			echo "$1 $(checksum "$V0/$1")"
		} >"$BIN/$BACKUP/.$INSTALLED.tmp"
		mv -f -- "$BIN/$BACKUP/.$INSTALLED.tmp" "$BIN/$BACKUP/$INSTALLED"
	fi
}

# Puts file $1 (built in the stage by the caller) at $V0/$2 unless that holds the same bytes.
install_file() {
	if [ -f "$V0/$2" ] && cmp -s -- "$1" "$V0/$2"; then
		echo "up to date: $2 ($3)"
		rm -f -- "$1"
	else
		[ "$DRY_RUN" = 1 ] || place "$1" "$V0/$2"
		report installed install "$2 ($3)"
	fi
	record_installed "$2"
}

for name in $BINARIES; do
	version=$(printf '%s' "$VERSIONS" | awk -v name="$name" '$1 == name { $1 = ""; sub(/^ /, ""); print; exit }')
	make_stage "$BIN"
	cp -- "$FROM/$name" "$STAGE/$name"
	chmod 755 "$STAGE/$name"
	install_file "$STAGE/$name" "bin/$name" "$version, from $FROM"
done

# The hooks first, then the line that loads them.
make_stage "$(dirname -- "$V0/$HOOKS")"
cp -- "$HOOKS_FILE" "$STAGE/hooks"
chmod 644 "$STAGE/hooks"
install_file "$STAGE/hooks" "$HOOKS" "prune_daemon_wait, v0_prune_mergeq and v0_prune_logs run v0-prune"

# v0-common.sh: v0's original (from the backup once there is one) plus our line.
original=$V0/$COMMON
if backed_up "$COMMON"; then
	original=$BIN/$BACKUP/$COMMON
fi
make_stage "$(dirname -- "$V0/$COMMON")"
cp -p -- "$original" "$STAGE/common"
if [ -s "$STAGE/common" ] && [ "$(tail -c 1 -- "$STAGE/common" | od -An -c | tr -d ' ')" != '\n' ]; then
	echo >>"$STAGE/common"
fi
printf '%s\n' "$HOOK_LINE" >>"$STAGE/common"
install_file "$STAGE/common" "$COMMON" "one line appended: it loads $HOOKS"

if [ "$DRY_RUN" = 0 ]; then
	echo "Done: \`v0 prune\`, \`v0 prune top\`, v0's prune daemon and \`v0 shutdown\` run v0-prune in $V0. Undo with: $PROG --uninstall $V0"
fi
