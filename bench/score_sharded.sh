#!/usr/bin/env bash
# score_sharded.sh [DATA] — pipelines/score.sh over this machine and a second "host" (the system's
# sshd on 127.0.0.1, started here with tests/sshd.bash) against one facet-decode | facet-score
# process, on aligned crops (default: ../shared/data/UTKFace). Prints the time of each, whether
# every id comes once and in order, and the largest difference between their predictions; then
# kills a sharded run (SIGKILL to its process group) once half its chunks are done, runs it again,
# and prints the same for the resumed run. Needs openssh-server, parallel, python3-msgpack.
#   FACET_HOSTS (default ':,1/ssh -F <config> facet-test-host'), FACET_CHUNK (default 500),
#   BENCH_OUT (default: a temporary folder; three scored streams of the data's size go there)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
if [ "${1:-}" = --help ]; then sed -n '2,/^[^#]/{/^#/s/^# \{0,1\}//p}' "$0"; exit 0; fi
[ $# -le 1 ] || { echo "usage: score_sharded.sh [DATA] (score_sharded.sh --help)" >&2; exit 2; }
data=${1:-$repo/../shared/data/UTKFace}
[ -d "$data" ] || { echo "score_sharded.sh: no such folder: $data" >&2; exit 1; }
data=$(cd "$data" && pwd)
out=${BENCH_OUT:-$(mktemp -d "${TMPDIR:-/tmp}/facet-score-bench.XXXXXX")}
mkdir -p "$out"
PATH=$repo/bin:$PATH
BATS_FILE_TMPDIR=$out
skip() { echo "score_sharded.sh: $*" >&2; exit 1; }
. "$repo/tests/sshd.bash"
need_sshd
facet_sshd_start "$out/sshd"
trap 'facet_sshd_stop' EXIT
export FACET_ALIGNED=1 FACET_HOSTS=${FACET_HOSTS:-":,1/$FACET_TEST_SSH $FACET_TEST_HOST"}
model=$repo/models/facet-utk64.facet
same() { /usr/bin/python3 "$repo/tests/lib/same_preds.py" "$@"; }
secs() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(secs)" 'BEGIN { printf "%.1f s", b - a }'; }

echo "data: $data ($(find "$data" -maxdepth 1 -type f | wc -l) files), $(nproc) cores, hosts: $FACET_HOSTS"
t=$(secs)
facet-decode -q "$data" | facet-score -q --model "$model" > "$out/one.facet"
echo "one process (facet-decode | facet-score): $(elapsed "$t"), $(facet-dump --count "$out/one.facet") records"

t=$(secs)
"$repo/pipelines/score.sh" "$data" "$out/sharded.facet" 2> "$out/sharded.err"
echo "score.sh: $(elapsed "$t"); $(tail -n 1 "$out/sharded.err" | sed 's/^score.sh: //')"
echo "  compared: $(same "$out/sharded.facet" "$out/one.facet")"
rm -f "$out/sharded.facet"

t=$(secs)
setsid "$repo/pipelines/score.sh" "$data" "$out/resumed.facet" 2> "$out/killed.err" &
pid=$!
nfiles=$(find "$data" -maxdepth 1 -type f | wc -l)
nchunks=$(((nfiles + ${FACET_CHUNK:-500} - 1) / ${FACET_CHUNK:-500}))
until [ "$(awk -F'\t' 'NR > 1 && $7 == 0' "$out/resumed.facet.work/joblog" 2> /dev/null | wc -l)" -ge $((nchunks / 2)) ]; do
	sleep 0.2
done
kill -KILL -- "-$pid"
wait "$pid" 2> /dev/null || :
ndone=$(awk -F'\t' 'NR > 1 && $7 == 0' "$out/resumed.facet.work/joblog" | wc -l)
echo "killed after $(elapsed "$t") with $ndone chunks of about $nchunks done"
t=$(secs)
"$repo/pipelines/score.sh" "$data" "$out/resumed.facet" 2> "$out/resumed.err"
echo "run again: $(elapsed "$t"); $(grep resuming "$out/resumed.err" | sed 's/^score.sh: //')"
echo "  $(tail -n 1 "$out/resumed.err" | sed 's/^score.sh: //')"
echo "  compared: $(same "$out/resumed.facet" "$out/one.facet")"
[ -n "${BENCH_OUT:-}" ] || rm -rf "$out"
