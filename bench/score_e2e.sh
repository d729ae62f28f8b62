#!/usr/bin/env bash
# score_e2e.sh — end-to-end scoring throughput: `facet-decode | facet-score` with the shipped model
# over the shared UTKFace faces (JPEG files to predictions), in the folded inference form
# (the default) and as trained (--no-fold), alternating. Prints images per second of wall clock,
# images per CPU second (the pipe's user + system time), and the peak RSS of facet-score.
#
#   bench/score_e2e.sh                       # every file of ../shared/data/UTKFace, 3 rounds
#   BENCH_N=5000 ROUNDS=5 bench/score_e2e.sh
#
# FACET_DATA: the image folder; FACET_BIN: facet's bin/; MODEL (models/facet-utk64.facet);
# BENCH_N: the first N files (0 = all); ROUNDS: runs per form, the median is kept. Not run by CI.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
DATA=${FACET_DATA:-$here/../../shared/data/UTKFace}
BIN=${FACET_BIN:-$here/../bin}
MODEL=${MODEL:-$here/../models/facet-utk64.facet}
N=${BENCH_N:-0}
ROUNDS=${ROUNDS:-3}

[ -d "$DATA" ] || { echo "score_e2e.sh: no image folder at $DATA (set FACET_DATA)" >&2; exit 1; }
[ -x "$BIN/facet-score" ] || { echo "score_e2e.sh: no $BIN/facet-score (run make)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
find "$DATA" -maxdepth 1 -type f -name '*.jpg' | LC_ALL=C sort > "$tmp/all"
if [ "$N" -gt 0 ]; then head -n "$N" "$tmp/all" > "$tmp/list"; else cp "$tmp/all" "$tmp/list"; fi
count=$(wc -l < "$tmp/list")
geom=64x64 # the shipped model's input (facet-score would convert any other size)
echo "# $count faces, model $(basename "$MODEL"), $(nproc) cores, $(date -u +%FT%TZ)"

# one run: prints "wall_s cpu_s rss_kb"
run_once() {
	/usr/bin/time -f "%e %U %S" -o "$tmp/t.pipe" bash -c '
		"$1/facet-decode" -q --size "$2" < "$3" |
			/usr/bin/time -f "%M" -o "$4" "$1/facet-score" -q --model "$5" $6 > /dev/null' \
		_ "$BIN" "$geom" "$tmp/list" "$tmp/t.rss" "$MODEL" "$1"
	read -r wall u s < "$tmp/t.pipe"
	echo "$wall $(echo "$u + $s" | bc) $(cat "$tmp/t.rss")"
}

for r in $(seq 1 "$ROUNDS"); do
	for form in folded as-trained; do
		arg=; [ "$form" = as-trained ] && arg=--no-fold
		read -r wall cpu rss <<< "$(run_once "$arg")"
		printf "round %d %-10s %7.1f img/s wall %7.1f img/CPU-s  facet-score peak RSS %d MB\n" \
			"$r" "$form" "$(echo "$count / $wall" | bc -l)" "$(echo "$count / $cpu" | bc -l)" \
			$((rss / 1024)) | tee -a "$tmp/results"
	done
done
for form in folded as-trained; do
	grep " $form " "$tmp/results" | awk '{print $4}' | sort -n |
		awk -v f="$form" '{v[NR] = $1} END {printf "median %-10s %7.1f img/s wall\n", f, v[int((NR + 1) / 2)]}'
done
