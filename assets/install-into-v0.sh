#!/bin/sh
# install-into-v0.sh: puts v0-prune's two binaries into a v0 install, in place
# of v0's bash bin/v0-prune and bin/v0-prune-daemon, and takes them out again.
# Run with --help for the usage. POSIX sh; every check is made before the
# first change, and every file is replaced by a rename, so a v0 command (or a
# prune daemon) running from bin/ meanwhile keeps its old file.
set -eu

PROG=install-into-v0.sh
# The files we replace, by name under bin/; v0-shutdown only with --patch-shutdown.
BINARIES="v0-prune v0-prune-daemon"
BACKUP=.v0-prune-backup
MANIFEST=MANIFEST
INSTALLED=INSTALLED

SCRIPT_DIR=$(CDPATH='' cd -P -- "$(dirname -- "$0")" && pwd -P)
REPO_DIR=$(dirname -- "$SCRIPT_DIR")
PATCH_FILE=$SCRIPT_DIR/v0-shutdown.patch

usage() {
	cat <<EOF
Usage: $PROG [--from DIR] [--patch-shutdown] [--dry-run] V0_DIR
       $PROG --uninstall [--dry-run] V0_DIR

Installs v0-prune and v0-prune-daemon into V0_DIR/bin, so that \`v0 prune\`,
\`v0 prune top\` and v0's own starts of its prune daemon run them. V0_DIR is
v0's install directory: the one holding bin/v0 and bin/v0-prune.

The first install saves v0's original files in V0_DIR/bin/$BACKUP/
(with a $MANIFEST); running it again updates the binaries and keeps that
backup. --uninstall puts the originals back, byte for byte and with their
modes, and removes the backup.

Options:
  --from DIR        take the binaries from DIR (default: target/release of this
                    repository, $REPO_DIR/target/release:
                    build them with \`cargo build --release\`; after
                    \`cargo install\`: --from ~/.cargo/bin)
  --patch-shutdown  also apply assets/v0-shutdown.patch to bin/v0-shutdown, so
                    \`v0 shutdown\` calls \`v0-prune shutdown\` (backed up too)
  --uninstall       restore v0's original files and remove the backup
  -n, --dry-run     print what would be done; change nothing
  -h, --help        print this help

Examples:
  cargo build --release && $PROG ~/.local/share/v0
  $PROG --patch-shutdown ~/.local/share/v0
  $PROG --uninstall ~/.local/share/v0

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
PATCH_SHUTDOWN=0
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
	--patch-shutdown) PATCH_SHUTDOWN=1 ;;
	-n | --dry-run) DRY_RUN=1 ;;
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
[ -n "$TARGET" ] || usage_error "which v0 install? Give its directory (the one holding bin/v0)"
if [ "$UNINSTALL" = 1 ]; then
	[ -z "$FROM" ] || usage_error "--from makes no sense with --uninstall"
	[ "$PATCH_SHUTDOWN" = 0 ] || usage_error "--patch-shutdown makes no sense with --uninstall (the patch is undone with the rest)"
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

# Whether a file is a compiled program (ELF), not one of v0's bash scripts.
is_elf() {
	[ "$(od -An -tx1 -N4 -- "$1" 2>/dev/null | tr -d ' \n')" = 7f454c46 ]
}

# The value of field 2.. of the line for $2 in file $1 ("" if none).
lookup() {
	[ -f "$1" ] || return 0
	awk -v name="$2" '$1 == name { $1 = ""; sub(/^ /, ""); print; exit }' "$1"
}

case_known_name() {
	case $1 in
	v0-prune | v0-prune-daemon | v0-shutdown) return 0 ;;
	*) return 1 ;;
	esac
}

# ---- the v0 install ----

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
CHECKED=$BINARIES
if [ "$PATCH_SHUTDOWN" = 1 ]; then
	CHECKED="$CHECKED v0-shutdown"
fi
for name in $CHECKED; do
	if [ -L "$BIN/$name" ]; then
		die "bin/$name in $V0 is a symbolic link; run this on the directory holding v0's real files; nothing changed"
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
	[ -f "$BIN/$name" ] || return 0
	recorded=$(lookup "$BIN/$BACKUP/$INSTALLED" "$name")
	[ -n "$recorded" ] || return 0
	[ "$(checksum "$BIN/$name")" != "$recorded" ] || return 0
	if ! { [ -f "$BIN/$BACKUP/$name" ] && cmp -s -- "$BIN/$name" "$BIN/$BACKUP/$name"; }; then
		die "bin/$name in $V0 has changed since $PROG installed it (was v0 upgraded or reinstalled?), so the backup in bin/$BACKUP is stale: restoring it would put older files over newer ones. If bin/$name is v0's own again, remove bin/$BACKUP by hand; nothing changed"
	fi
}

STAGE=
TRY=
cleanup() {
	if [ -n "$STAGE" ]; then
		rm -rf -- "$STAGE"
	fi
	if [ -n "$TRY" ]; then
		rm -rf -- "$TRY"
	fi
}
trap cleanup EXIT
trap 'exit 1' HUP INT TERM

# A private directory in bin/, so every move from it is a rename on one filesystem.
make_stage() {
	STAGE=$(mktemp -d "$BIN/.v0-prune-install.XXXXXX") || die "cannot create a temporary directory in $BIN"
}

# ---- uninstall ----

if [ "$UNINSTALL" = 1 ]; then
	[ "$HAVE_BACKUP" = 1 ] ||
		die "no backup in $V0/bin/$BACKUP: v0-prune was not installed here by $PROG (or was uninstalled already); nothing to undo, nothing changed"
	entries=$(awk '$1 !~ /^#/ && NF { print $1 " " $2 " " $3 }' "$BIN/$BACKUP/$MANIFEST")
	for name in $(printf '%s\n' "$entries" | awk '{ print $1 }'); do
		check_still_ours "$name"
	done
	[ "$DRY_RUN" = 1 ] || make_stage
	# A here-document, not a pipe: a failure must stop us before the backup goes.
	while read -r name state mode; do
		[ -n "$name" ] || continue
		if [ "$state" = absent ]; then
			if [ -e "$BIN/$name" ]; then
				[ "$DRY_RUN" = 1 ] || rm -f -- "$BIN/$name"
				report removed remove "bin/$name (v0 had none)"
			fi
			continue
		fi
		if [ "$DRY_RUN" = 0 ]; then
			cp -p -- "$BIN/$BACKUP/$name" "$STAGE/$name"
			case $mode in [0-7][0-7][0-7] | [0-7][0-7][0-7][0-7]) chmod "$mode" "$STAGE/$name" ;; esac
			mv -f -- "$STAGE/$name" "$BIN/$name"
		fi
		report restored restore "bin/$name from bin/$BACKUP/$name (mode ${mode:-unchanged})"
	done <<ENTRIES
$entries
ENTRIES
	[ "$DRY_RUN" = 1 ] || rm -rf -- "${BIN:?}/$BACKUP"
	report removed remove "bin/$BACKUP"
	if [ "$DRY_RUN" = 0 ]; then
		echo "Done: $V0 runs v0's own prune scripts again. A prune daemon started from the removed binary keeps running until stopped (SIGTERM, or v0 shutdown)."
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

# ---- install: what to back up, and the checks before the first change ----

FILES=$BINARIES
[ "$PATCH_SHUTDOWN" = 0 ] || FILES="$FILES v0-shutdown"
TO_BACK_UP=
for name in $FILES; do
	if backed_up "$name"; then
		check_still_ours "$name"
		continue
	fi
	# Never save one of our own binaries as "v0's original".
	if [ "$name" != v0-shutdown ] && [ -f "$BIN/$name" ] && is_elf "$BIN/$name"; then
		die "bin/$name in $V0 is already a compiled program, not v0's bash script, and there is no backup of v0's original: reinstall v0 first (or restore its bin/$name), then run $PROG again; nothing changed"
	fi
	TO_BACK_UP="$TO_BACK_UP $name"
done

SHUTDOWN_PATCHED=0
if [ "$PATCH_SHUTDOWN" = 1 ]; then
	[ -f "$BIN/v0-shutdown" ] || die "$V0 has no bin/v0-shutdown to patch; nothing changed"
	[ -f "$PATCH_FILE" ] || die "the patch $PATCH_FILE is missing; nothing changed"
	command -v patch >/dev/null 2>&1 || die "--patch-shutdown needs the \`patch\` program, which is not on PATH; nothing changed"
	if backed_up v0-shutdown && [ -n "$(lookup "$BIN/$BACKUP/$INSTALLED" v0-shutdown)" ]; then
		SHUTDOWN_PATCHED=1
	fi
fi

if [ "$DRY_RUN" = 0 ]; then
	make_stage
fi

# The patch, tried on a copy: it must apply cleanly before anything changes.
if [ "$PATCH_SHUTDOWN" = 1 ] && [ "$SHUTDOWN_PATCHED" = 0 ]; then
	TRY=$(mktemp -d "${TMPDIR:-/tmp}/v0-prune-patch.XXXXXX") || die "cannot create a temporary directory"
	mkdir "$TRY/bin"
	cp -p -- "$BIN/v0-shutdown" "$TRY/bin/v0-shutdown"
	if ! out=$(patch -p1 -N -s -d "$TRY" <"$PATCH_FILE" 2>&1); then
		# Rejects went to the scratch copy, which is about to go.
		printf '%s\n' "$out" | sed -e 's/ -- saving rejects to file .*//' -e 's/^/patch: /' >&2
		die "$PATCH_FILE does not apply to $V0/bin/v0-shutdown (it was written against the contract's description of v0-shutdown, not v0's own file): make the change by hand as README.md's \"Using with v0\" says, or install without --patch-shutdown; nothing changed"
	fi
	if [ "$DRY_RUN" = 0 ]; then
		cp -p -- "$TRY/bin/v0-shutdown" "$STAGE/v0-shutdown"
	fi
fi

# ---- install: back up (once), then replace ----

# Backups: a new backup directory is built in the stage and renamed into
# place, so it exists complete or not at all.
if [ -n "$TO_BACK_UP" ]; then
	dest=$BIN/$BACKUP
	if [ "$HAVE_BACKUP" = 0 ] && [ "$DRY_RUN" = 0 ]; then
		dest=$STAGE/$BACKUP
		mkdir "$dest"
		{
			echo "# v0's original files, saved by v0-prune's $PROG; \`$PROG --uninstall\` restores them."
			echo "# name, state (original: saved here; absent: v0 had none), mode"
		} >"$dest/$MANIFEST"
	fi
	for name in $TO_BACK_UP; do
		if [ -f "$BIN/$name" ]; then
			mode=$(mode_of "$BIN/$name")
			if [ "$DRY_RUN" = 0 ]; then
				cp -p -- "$BIN/$name" "$dest/.$name.tmp"
				mv -f -- "$dest/.$name.tmp" "$dest/$name"
				cp -p -- "$dest/$MANIFEST" "$dest/.$MANIFEST.tmp"
				echo "$name original $mode" >>"$dest/.$MANIFEST.tmp"
				mv -f -- "$dest/.$MANIFEST.tmp" "$dest/$MANIFEST"
			fi
			report "backed up" "back up" "bin/$name -> bin/$BACKUP/$name (mode $mode)"
		else
			if [ "$DRY_RUN" = 0 ]; then
				cp -p -- "$dest/$MANIFEST" "$dest/.$MANIFEST.tmp"
				echo "$name absent" >>"$dest/.$MANIFEST.tmp"
				mv -f -- "$dest/.$MANIFEST.tmp" "$dest/$MANIFEST"
			fi
			report noted note "v0 has no bin/$name (--uninstall will remove ours)"
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
		absent*) echo "kept the note that v0 has no bin/$name of its own (bin/$BACKUP/$MANIFEST)" ;;
		*) echo "kept the backup of v0's original bin/$name (bin/$BACKUP/$name)" ;;
		esac
		;;
	esac
done

# What we put in place, by checksum, so a later run can tell ours from v0's.
record_installed() {
	if [ "$DRY_RUN" = 0 ]; then
		{
			[ -f "$BIN/$BACKUP/$INSTALLED" ] && awk -v name="$1" '$1 != name' "$BIN/$BACKUP/$INSTALLED"
			echo "$1 $(checksum "$BIN/$1")"
		} >"$BIN/$BACKUP/.$INSTALLED.tmp"
		mv -f -- "$BIN/$BACKUP/.$INSTALLED.tmp" "$BIN/$BACKUP/$INSTALLED"
	fi
}

for name in $BINARIES; do
	version=$(printf '%s' "$VERSIONS" | awk -v name="$name" '$1 == name { $1 = ""; sub(/^ /, ""); print; exit }')
	if [ -f "$BIN/$name" ] && cmp -s -- "$FROM/$name" "$BIN/$name"; then
		echo "up to date: bin/$name ($version)"
	else
		if [ "$DRY_RUN" = 0 ]; then
			cp -- "$FROM/$name" "$STAGE/$name"
			chmod 755 "$STAGE/$name"
			mv -f -- "$STAGE/$name" "$BIN/$name"
		fi
		report installed install "bin/$name ($version, from $FROM)"
	fi
	record_installed "$name"
done

if [ "$PATCH_SHUTDOWN" = 1 ]; then
	if [ "$SHUTDOWN_PATCHED" = 1 ]; then
		echo "up to date: bin/v0-shutdown (patched earlier)"
	else
		[ "$DRY_RUN" = 1 ] || mv -f -- "$STAGE/v0-shutdown" "$BIN/v0-shutdown"
		report patched patch "bin/v0-shutdown with assets/v0-shutdown.patch (\`v0 shutdown\` calls \`v0-prune shutdown\`)"
		record_installed v0-shutdown
	fi
fi

if [ "$DRY_RUN" = 0 ]; then
	echo "Done: \`v0 prune\`, \`v0 prune top\` and v0's prune daemon run v0-prune in $V0. Undo with: $PROG --uninstall $V0"
fi
