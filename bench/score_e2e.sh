#!/usr/bin/env bash
# score_e2e.sh — end-to-end scoring throughput with the shipped model: JPEG files to predictions,
# one view, every stage at its default threads (all cores). The forms (FORMS picks them; they take
# turns within each round):
#   folded       facet-decode --size 64x64 | facet-score              the shared UTKFace crops
#   as-trained   facet-decode --size 64x64 | facet-score --no-fold
#   int8         facet-decode --size 64x64 | facet-score --int8       (the model's int8 ranges)
#   photos       facet-detect PHOTOS | facet-score                    photos, faces found and
#   photos-int8  facet-detect PHOTOS | facet-score --int8             aligned (200x200) first
# Prints, per round and form, images (crops) or faces (photos) per second of wall clock, per CPU
# second (the pipe's user + system time) and the peak RSS of each of the two stages; then the
# medians over the rounds.
#
#   bench/score_e2e.sh          # every form: all of ../shared/data/UTKFace, 200 scenes, 3 rounds
#   BENCH_N=5000 ROUNDS=5 bench/score_e2e.sh
#   FORMS="folded int8" bench/score_e2e.sh
#   FORMS="photos photos-int8" FACET_PHOTOS=~/photos bench/score_e2e.sh
#
# The photos: unless FACET_PHOTOS names a folder of them (facet-detect reads its image files),
# PHOTOS_N 640x480 one-face scenes are made at start in a temporary folder (removed at exit) by
# bench/detect_scenes.py (seed 3, as bench/detect_speed.sh), from PHOTOS_N faces of FACET_DATA
# spread evenly over its sorted file list; that needs /usr/bin/python3 with Debian's
# python3-numpy, -pil and -skimage. The faces found are counted once, untimed, before the rounds
# (which also brings the photos and the landmark model into the page cache).
#
# FACET_DATA: the crops' folder; FACET_BIN: facet's bin/; MODEL (models/facet-utk64.facet);
# BENCH_N: the first N crops (0 = all); PHOTOS_N: scenes to make (default 200); FORMS: forms,
# space-separated, in the order they run (default all five); ROUNDS: runs per form, the medians
# are kept. Not run by CI.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
prog=score_e2e.sh
case ${1:-} in -h | --help) sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;; esac
[ $# -eq 0 ] || { echo "usage: [VAR=VALUE]... $0 (--help for more)" >&2; exit 2; }
DATA=${FACET_DATA:-$here/../../shared/data/UTKFace}
BIN=${FACET_BIN:-$here/../bin}
MODEL=${MODEL:-$here/../models/facet-utk64.facet}
N=${BENCH_N:-0}
ROUNDS=${ROUNDS:-3}
PHOTOS=${FACET_PHOTOS:-}
PHOTOS_N=${PHOTOS_N:-200}
FORMS=${FORMS:-folded as-trained int8 photos photos-int8}
PY=/usr/bin/python3

crops=0 photos=0
for form in $FORMS; do
	case $form in
	folded | as-trained | int8) crops=1 ;;
	photos | photos-int8) photos=1 ;;
	*)
		echo "$prog: unknown form '$form' (folded, as-trained, int8, photos, photos-int8)" >&2
		exit 2
		;;
	esac
done
[ -n "${FORMS// /}" ] || { echo "$prog: FORMS is empty" >&2; exit 2; }
[[ $N =~ ^[0-9]+$ && $ROUNDS =~ ^[1-9][0-9]*$ && $PHOTOS_N =~ ^[1-9][0-9]*$ ]] || {
	echo "$prog: BENCH_N, ROUNDS and PHOTOS_N must be whole numbers (ROUNDS, PHOTOS_N >= 1)" >&2
	exit 2
}
[ -x "$BIN/facet-score" ] || { echo "$prog: no $BIN/facet-score (run make)" >&2; exit 1; }
[ -f "$MODEL" ] || { echo "$prog: no model at $MODEL (set MODEL)" >&2; exit 1; }
if [ "$crops" = 1 ] || { [ "$photos" = 1 ] && [ -z "$PHOTOS" ]; }; then
	[ -d "$DATA" ] || { echo "$prog: no image folder at $DATA (set FACET_DATA)" >&2; exit 1; }
	DATA=$(cd "$DATA" && pwd)
fi
if [ "$photos" = 1 ]; then
	[ -z "$PHOTOS" ] || [ -d "$PHOTOS" ] || { echo "$prog: no photo folder at $PHOTOS" >&2; exit 1; }
	[ -n "$PHOTOS" ] || "$PY" -c 'import numpy, PIL, skimage' 2> /dev/null || {
		echo "$prog: making scenes needs $PY with python3-numpy, -pil and -skimage" \
			"(or set FACET_PHOTOS)" >&2
		exit 1
	}
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "# model $(basename "$MODEL"), $(nproc) cores, $(date -u +%FT%TZ)"

geom=64x64 # the shipped model's input (facet-score would convert any other size)
if [ -d "$DATA" ]; then
	find "$DATA" -maxdepth 1 -type f -name '*.jpg' | LC_ALL=C sort > "$tmp/all"
fi
if [ "$crops" = 1 ]; then
	if [ "$N" -gt 0 ]; then head -n "$N" "$tmp/all" > "$tmp/list"; else cp "$tmp/all" "$tmp/list"; fi
	count=$(wc -l < "$tmp/list")
	echo "# crops: $count faces of $DATA, decoded at $geom"
fi
if [ "$photos" = 1 ]; then
	if [ -z "$PHOTOS" ]; then
		total=$(wc -l < "$tmp/all")
		[ "$PHOTOS_N" -le "$total" ] || {
			echo "$prog: PHOTOS_N $PHOTOS_N but $DATA has $total faces" >&2
			exit 1
		}
		awk -v n="$PHOTOS_N" -v c="$total" 'NR - 1 == int(k * c / n) { print; k++ }' "$tmp/all" \
			> "$tmp/faces.txt"
		"$PY" "$here/detect_scenes.py" --faces "$tmp/faces.txt" --out "$tmp/made" --seed 3
		PHOTOS=$tmp/made/scenes
		what="640x480 one-face scenes (bench/detect_scenes.py, seed 3)"
	else
		what="photos of $PHOTOS"
	fi
	nphotos=$("$BIN/facet-decode" --list "$PHOTOS" | wc -l)
	nfaces=$("$BIN/facet-detect" -q "$PHOTOS" | "$BIN/facet-dump" --count)
	[ "$nfaces" -gt 0 ] || { echo "$prog: facet-detect found no face in $PHOTOS" >&2; exit 1; }
	echo "# photos: $nphotos $what, $nfaces faces found"
fi

# run_once IN OPTION STAGE1...: times `STAGE1 < IN | facet-score OPTION`; writes
# "wall_s cpu_s stage1_rss_kb score_rss_kb" to $tmp/r. Standard error is shown only on failure
# (the counting pass has already named the photos without a face).
run_once() {
	local in=$1 opt=$2
	shift 2
	# shellcheck disable=SC2016 # the inner script expands its own arguments
	if ! /usr/bin/time -f "%e %U %S" -o "$tmp/t.pipe" bash -c '
		set -o pipefail
		t=$1 score=$2 model=$3 opt=$4
		shift 4
		/usr/bin/time -f "%M" -o "$t.rss1" "$@" |
			/usr/bin/time -f "%M" -o "$t.rss2" "$score" -q --model "$model" $opt > /dev/null' \
		_ "$tmp/t" "$BIN/facet-score" "$MODEL" "$opt" "$@" < "$in" 2> "$tmp/t.err"; then
		cat "$tmp/t.err" >&2
		echo "$prog: $* | facet-score $opt failed" >&2
		exit 1
	fi
	read -r wall u s < "$tmp/t.pipe"
	echo "$wall $(echo "$u + $s" | bc) $(cat "$tmp/t.rss1") $(cat "$tmp/t.rss2")" > "$tmp/r"
}

for r in $(seq 1 "$ROUNDS"); do
	for form in $FORMS; do
		opt=
		case $form in as-trained) opt=--no-fold ;; int8 | photos-int8) opt=--int8 ;; esac
		case $form in
		photos*)
			run_once /dev/null "$opt" "$BIN/facet-detect" -q "$PHOTOS"
			n=$nfaces unit=faces stage1=facet-detect
			;;
		*)
			run_once "$tmp/list" "$opt" "$BIN/facet-decode" -q --size "$geom"
			n=$count unit=img stage1=facet-decode
			;;
		esac
		read -r wall cpu rss1 rss2 < "$tmp/r"
		printf "round %d %-11s %7.1f %-7s wall %7.1f %-11s peak RSS %s %d MB, facet-score %d MB\n" \
			"$r" "$form" "$(echo "$n / $wall" | bc -l)" "$unit/s" "$(echo "$n / $cpu" | bc -l)" \
			"$unit/CPU-s" "$stage1" $((rss1 / 1024)) $((rss2 / 1024)) | tee -a "$tmp/results"
	done
done
for form in $FORMS; do
	grep "^round [0-9]* $form " "$tmp/results" | awk -v f="$form" '
		function median(a, n,   i, j, t) {
			for (i = 2; i <= n; i++)
				for (j = i; j > 1 && a[j - 1] > a[j]; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
			return a[int((n + 1) / 2)]
		}
		{ w[NR] = $4; c[NR] = $7; u = $5; sub("/s$", "", u) }
		END {
			printf "median %-11s %7.1f %-7s wall %7.1f %s/CPU-s\n", f, median(w, NR), u "/s",
				median(c, NR), u
		}'
done
