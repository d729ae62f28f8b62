# Shared by the pipelines: strict mode, stage wrapper, temp folder, atomic publish.
# Source it: . "$(dirname "$0")/lib.sh"
set -euo pipefail
prog=$(basename "$0")
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
# The tools: FACET_BIN's when it is set (another build, e.g. the sanitizers'), else those built
# in this checkout, else PATH's (an installed facet).
if [ -n "${FACET_BIN:-}" ] && [ -x "$FACET_BIN/facet-dump" ]; then
	PATH="$(cd "$FACET_BIN" && pwd):$PATH"
elif [ -x "$repo/bin/facet-dump" ]; then
	PATH="$repo/bin:$PATH"
fi
export PATH

say() { printf '%s: %s\n' "$prog" "$*" >&2; }
fail() { say "$*"; exit 1; }

# stage NAME CMD...: run one stage of a pipe; if it fails, say which stage and keep its status,
# so that `set -o pipefail` fails the whole pipeline with a message naming the stage.
stage() {
	local name=$1 rc
	shift
	if "$@"; then
		return 0
	else
		rc=$?
		# 141 = SIGPIPE: a later stage stopped reading; that stage reports its own failure.
		[ "$rc" -eq 141 ] || say "stage '$name' failed (exit $rc): $*"
		return "$rc"
	fi
}

# A private temp folder, removed on exit whatever happens.
tmp=$(mktemp -d "${TMPDIR:-/tmp}/facet-$prog.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# publish SRC DST: move a finished file or folder into place atomically (same filesystem: the
# temp folder is created beside DST's parent by staging through DST.tmp.$$).
publish() {
	local src=$1 dst=$2 stagein
	stagein="$dst.tmp.$$"
	rm -rf "$stagein"
	cp -a "$src" "$stagein"
	rm -rf "$dst.old.$$"
	[ -e "$dst" ] && mv "$dst" "$dst.old.$$"
	mv "$stagein" "$dst"
	rm -rf "$dst.old.$$"
}
