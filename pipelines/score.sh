#!/usr/bin/env bash
# score.sh DATA OUT.facet — find the faces in a folder of photos (or in a list file, one path per
# line) and score them, in chunks spread over several machines with GNU parallel, into one scored
# stream: facet-detect | facet-score on every chunk, or facet-decode | facet-score when the photos
# are already aligned crops. OUT holds every photo's records once, in input order (a folder's
# photos sorted by name, as facet-decode and facet-detect read a folder), and the same predictions
# as one process would give.
#   FACET_HOSTS   where to run, in parallel's --sshlogin syntax: hosts separated by ',', each
#                 [N/]SSHLOGIN, ':' being this machine, e.g. ':,4/ssh -p 2222 gpu1' (default ':').
#                 A host runs N chunks at once (without N/: as many as it has cores, which
#                 parallel finds by running parallel there), each tool of a chunk on one thread.
#   FACET_MODEL   the model (default models/facet-utk64.facet), FACET_SCORE_ARGS extra facet-score
#                 options (e.g. --flip), FACET_ALIGNED=1: the photos are aligned crops (no detection)
#   FACET_CHUNK   photos per chunk (default 500), FACET_RETRIES tries of a chunk (default 3)
#   FACET_KEEP_WORK=1 keeps the work folder after a run that wrote OUT (it holds the joblog)
# Every host needs the same facet build at the same path as here (the tools are run as
# $bin/facet-score, the model read as its absolute path) and must read the photos at the same
# paths (shared storage, or the same copy everywhere); only the list of paths and the scored
# records travel, through ssh. Hosts need ssh access without a password, bash and perl.
# Progress lives in OUT.work/ beside OUT: the photo list, parallel's joblog, and each finished
# chunk's records (parts/NNNNNN.facet). A chunk is done when parallel has logged it as ended with
# status 0; its output is then renamed into parts/, so a killed chunk never counts. Run the same
# command again after a crash or a kill and only the chunks not done run (parallel
# --resume-failed); other photos, a changed model or other settings start afresh. A chunk that
# fails on a host is tried again on another (--retries). A photo that cannot be read, or has no
# face, is named and counted, and the run goes on, as the tools do; a chunk that still fails after
# its tries (a host down, a tool crashing) is named with its photos and the tail of its messages,
# OUT is not written (a stream missing whole chunks must not pass for complete), the finished
# chunks are kept, and the status is 1.
# Exit status: 0 ok; 1 a chunk failed, or some photos could not be read (OUT then has all the
# others); 2 usage error.
. "$(dirname "$0")/lib.sh"
usage() { echo "usage: $prog DATA OUT.facet (photos folder or list file; $prog --help)" >&2; exit 2; }
if [ "${1:-}" = --help ] || [ "${1:-}" = -h ]; then
	sed -n '2,/^[^#]/{/^#/s/^# \{0,1\}//p}' "$0"
	exit 0
fi
[ $# -eq 2 ] || usage
case $1 in -*) usage ;; esac
data=$1 out=$2
hosts=${FACET_HOSTS:-:} chunk=${FACET_CHUNK:-500} retries=${FACET_RETRIES:-3}
aligned=${FACET_ALIGNED:-0} model=${FACET_MODEL:-$repo/models/facet-utk64.facet}
read -r -a sargs <<< "${FACET_SCORE_ARGS:-}"
[[ "$chunk" =~ ^[1-9][0-9]*$ ]] || fail "FACET_CHUNK must be a number from 1, not '$chunk'"
[[ "$retries" =~ ^[1-9][0-9]?$ ]] || fail "FACET_RETRIES must be a number from 1 to 99, not '$retries'"
[[ "$aligned" =~ ^[01]$ ]] || fail "FACET_ALIGNED must be 0 or 1, not '$aligned'"
[ -e "$data" ] || fail "no such folder or list: $data"
[ -f "$model" ] || fail "no such model: $model"
[ -d "$(dirname "$out")" ] || fail "no such folder: $(dirname "$out") (for $out)"
command -v parallel > /dev/null || fail "GNU parallel not found (Debian parallel)"
bin=$(command -v facet-score) || fail "facet-score not found: build facet (make) or put it on PATH"
bin=$(cd "$(dirname "$bin")" && pwd)
model=$(cd "$(dirname "$model")" && pwd)/$(basename "$model")
# The photos' absolute paths: hosts start in another folder.
list_photos() {
	if [ -d "$data" ]; then
		# the folder's photos as the tools read it (facet-decode --list)
		"$bin/facet-decode" -q --list "$(cd "$data" && pwd)"
	else
		awk -v pwd="$PWD" 'length == 0 { next } /^\// { print; next } { print pwd "/" $0 }' "$data"
	fi
}

# score_chunk BIN MODEL ALIGNED [SCORE_OPTION]... < PATHS > RECORDS: one chunk, on its host.
# Unreadable photos and photos without a face are the tools' to report (a line each on stderr);
# they do not fail the chunk, which fails only when its records are not all there.
score_chunk() {
	local bin=$1 model=$2 aligned=$3 st
	shift 3
	if [ "$aligned" = 1 ]; then
		"$bin/facet-decode" -q -j 1 - | "$bin/facet-score" -q -t 1 --model "$model" "$@"
		st=("${PIPESTATUS[@]}")
		[ "${st[1]}" -eq 0 ] && [ "${st[0]}" -le 1 ] # 1: some photos could not be read
	else
		xargs -d '\n' "$bin/facet-detect" -q -j 1 -- | "$bin/facet-score" -q -t 1 --model "$model" "$@"
		st=("${PIPESTATUS[@]}")
		[ "${st[1]}" -eq 0 ] && { [ "${st[0]}" -eq 0 ] || [ "${st[0]}" -eq 123 ]; } # 123: read errors
	fi
}
export -f score_chunk

work=$out.work
mkdir -p "$work"
exec 9< "$work"
flock -n 9 || fail "another $prog is writing $out ($work is locked)"
list_photos > "$tmp/list" || fail "cannot list the photos ($data)"
nphotos=$(wc -l < "$tmp/list")
nchunks=$(((nphotos + chunk - 1) / chunk))
{
	echo "photos $(sha256sum < "$tmp/list")"
	echo "model $model $(stat -c '%s %Y' "$model")"
	echo "tools $bin aligned $aligned chunk $chunk score ${sargs[*]}"
} > "$tmp/recipe"
if [ -f "$work/recipe" ] && ! cmp -s "$tmp/recipe" "$work/recipe"; then
	say "$work was made for other photos or settings: starting afresh"
	find "$work" -mindepth 1 -delete
fi
mkdir -p "$work/parts" "$work/run"
cp "$tmp/list" "$work/list"
cp "$tmp/recipe" "$work/recipe"

part() { printf '%s/parts/%06d' "$work" "$1"; }

# commit: move every chunk that parallel logged as ended with status 0 into parts/ (renamed, so
# a part is always whole).
commit() {
	local seq ev sig
	[ -f "$work/joblog" ] || return 0
	lastlines | while IFS=$'\t' read -r seq _ _ _ _ _ ev sig _; do
		[ "$ev" = 0 ] && [ "$sig" = 0 ] && [ -f "$work/run/$seq" ] || continue
		mv -f "$work/run/$seq.err" "$(part "$seq").log" 2> /dev/null || : > "$(part "$seq").log"
		mv -f "$work/run/$seq" "$(part "$seq").facet"
		rm -f "$work/run/$seq.seq"
	done
}
# lastlines: the joblog's last line for each chunk (a chunk run again gets another line).
lastlines() {
	awk -F'\t' 'NR > 1 && NF >= 9 { last[$1] = $0 } END { for (s in last) print last[s] }' \
		"$work/joblog" 2> /dev/null
}
# prune: keep in the joblog only the chunks whose part is there, so that parallel
# --resume-failed runs all the others.
prune() {
	[ -f "$work/joblog" ] || return 0
	{
		head -n 1 "$work/joblog"
		lastlines | while IFS=$'\t' read -r seq rest; do
			[ -f "$(part "$seq").facet" ] && printf '%s\t%s\n' "$seq" "$rest"
		done
	} > "$work/joblog.new"
	mv "$work/joblog.new" "$work/joblog"
}

commit
prune
ndone=$(find "$work/parts" -name '*.facet' | wc -l)
rm -rf "$work/run" && mkdir "$work/run"
if [ "$ndone" -gt 0 ]; then
	say "resuming: $ndone of $nchunks chunks done before (in $work)"
fi
if [ "$ndone" -lt "$nchunks" ]; then
	bar=()
	[ -t 2 ] && bar=(--bar)
	mode=facet-detect
	[ "$aligned" = 1 ] && mode=facet-decode
	say "scoring $nphotos photos ($mode | facet-score) in $nchunks chunks of $chunk on $hosts"
	# parallel's status counts failed chunks; they are read from the joblog below. The lock (fd 9)
	# stays here: parallel runs each chunk in a process group of its own, which may outlive a kill
	# of the run's group by a chunk's time (its output then goes nowhere).
	parallel --pipe -N "$chunk" --sshlogin "$hosts" --env score_chunk --joblog "$work/joblog" \
		--resume-failed --retries "$retries" --results "$work/run/{#}" "${bar[@]}" \
		-q score_chunk "$bin" "$model" "$aligned" "${sargs[@]}" < "$work/list" 9<&- || :
	commit
fi

# Name every chunk that is missing, with its photos, host, status and last words.
failed=0
for ((k = 1; k <= nchunks; k++)); do
	[ -f "$(part "$k").facet" ] && continue
	failed=$((failed + 1))
	first=$(((k - 1) * chunk + 1)) last=$((k * chunk < nphotos ? k * chunk : nphotos))
	why=$(lastlines | awk -F'\t' -v k="$k" '$1 == k { w = "on " $2 ", exit " $7 ($8 != 0 ? ", signal " $8 : "") }
		END { print w ? w : "never ran" }')
	say "chunk $k failed ($why): photos $first-$last, $(sed -n "${first}p" "$work/list") to $(sed -n "${last}p" "$work/list")"
	[ -s "$work/run/$k.err" ] && tail -n 5 "$work/run/$k.err" | sed "s/^/$prog:   /" >&2
done
if [ "$failed" -gt 0 ]; then
	fail "$failed of $nchunks chunks failed; $out not written; the $((nchunks - failed)) done are kept in $work: run the same command again to do the rest"
fi

# Join the parts in input order; report what the tools dropped, as they do.
for ((k = 1; k <= nchunks; k++)); do cat "$(part "$k").facet"; done > "$work/out.facet"
for ((k = 1; k <= nchunks; k++)); do cat "$(part "$k").log"; done > "$work/messages"
nrec=$(facet-dump --count "$work/out.facet") || fail "the joined stream does not read ($work/out.facet)"
# Each tool ends a chunk's messages with a count of that chunk's failures: left out, as the
# totals below say it for the whole run. A photo's line ends with "(its path)".
grep -Ev '^facet-(decode|detect): [0-9]+ of [0-9]+ (files failed|photos could not be read)' \
	"$work/messages" >&2 || :
nnoface=$(grep -c '^facet-detect: no face found (.*)$' "$work/messages" || :)
nbad=$(grep -Ec '^facet-(decode|detect): .*\)$' "$work/messages" || :)
nbad=$((nbad - nnoface))
mv "$work/out.facet" "$out"
perhost=$(lastlines | awk -F'\t' '{ n[$2]++ } END { for (h in n) printf "%s%d on %s", (i++ ? ", " : ""), n[h], h }')
if [ "$aligned" = 1 ]; then
	say "wrote $out: $nrec faces scored of $nphotos photos ($nbad could not be read); chunks: ${perhost:-none}"
else
	say "wrote $out: $nrec faces scored in $nphotos photos ($nnoface with no face found, $nbad could not be read); chunks: ${perhost:-none}"
fi
[ "${FACET_KEEP_WORK:-0}" = 1 ] || rm -rf "$work"
[ "$nbad" -eq 0 ] || exit 1
