#!/usr/bin/env bash
# detect_accuracy.sh — how well facet-detect finds, marks and crops faces in photos, and what its
# crops cost the shipped model: synthetic scenes with known faces from the test part.
#
#   bench/detect_accuracy.sh DATA WORK [N]
#
# DATA is the UTKFace folder (e.g. ../shared/data/UTKFace). The test part of the project's split
# (facet-split --seed 7 --ratios 80:10:10, as pipelines/prepare.sh makes it) is listed, sorted by
# name, and N of its faces (default all, 2,185) are picked evenly spread over that list (the
# i-th of N is the floor(i * count / N)-th). bench/detect_scenes.py pastes them into cluttered
# 640x480 scenes: N one-face scenes, N/10 two-face scenes (faces of the same N) and N/10 empty
# scenes. Then
#   facet-detect WORK/scenes > WORK/detected.facet               (timed)
#   facet-score --flip --shift 3 --model MODEL on the detected faces and on the original crops
#   (facet-decode of the same N files): the ten views `facet predict` averages
#   bench/detect_eval.py: found / extra faces, by turn and size, landmarks, crops, and the
#   model's age MAE, gender and ethnicity accuracy on detected crops against the originals.
# WORK gets faces.txt, scenes/, truth.jsonl, detected.facet, detected.scored, crops.scored,
# summary.json (detect_eval.py --json) and report.txt (the table). Scenes and the originals'
# scores are kept and made again only when the faces, seed, counts, scene maker or model change;
# detection always runs. The faces are research-only data: keep WORK outside the repository.
#
# SEED: the scenes' seed (default 1); MODEL (default models/facet-utk64.facet); DETECT: the
# detector command, run as `$DETECT WORK/scenes` (default facet-detect; its options can follow,
# e.g. DETECT="facet-detect --size 200"; DETECT=bench/detect_fake.py runs everything on made-up
# detections, to check the benchmark itself); FACET_BIN: facet's bin/. Needs jq and, for
# /usr/bin/python3, Debian's python3-numpy, -pil, -msgpack, -msgpack-numpy and -skimage (whose
# sample photos are the clutter). Not run by CI.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
BIN=${FACET_BIN:-$here/../bin}
export PATH="$BIN:$PATH"
PY=/usr/bin/python3
prog=detect_accuracy.sh

case ${1:-} in -h | --help) sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;; esac
case $# in 2 | 3) ;; *) echo "usage: $0 DATA WORK [N] (--help for more)" >&2; exit 2 ;; esac
data=$1 work=$2 n=${3:-all}
seed=${SEED:-1}
model=${MODEL:-$here/../models/facet-utk64.facet}
detect=${DETECT:-facet-detect}
[[ $n =~ ^[1-9][0-9]*$|^all$ ]] || { echo "$prog: N must be a positive integer or all, not '$n'" >&2; exit 2; }
[ -d "$data" ] || { echo "$prog: no such folder: $data" >&2; exit 2; }
[ -f "$model" ] || { echo "$prog: no such model: $model" >&2; exit 2; }
"$PY" -c 'import numpy, PIL, msgpack, msgpack_numpy, skimage' 2> /dev/null || {
	echo "$prog: $PY needs python3-numpy, -pil, -msgpack, -msgpack-numpy and -skimage" >&2
	exit 1
}
read -r detect_exe _ <<< "$detect"
command -v "$detect_exe" > /dev/null || { echo "$prog: cannot run $detect_exe" >&2; exit 1; }
mkdir -p "$work"
work=$(cd "$work" && pwd)
data=$(cd "$data" && pwd)
case $work/ in "$(cd "$here/.." && pwd)"/*)
	echo "$prog: $work is inside the repository; keep the research-only faces out of it" >&2
	exit 2 ;;
esac
trap 'rm -f "$work"/*.tmp' EXIT

show() { printf "+ %s\n" "$*"; }

echo "# $(date -u +%FT%TZ), $(nproc) cores; detector: $detect; model: $(basename "$model")"

# 1. the test part, N faces evenly spread over it
show "facet-decode --size 8x8 $data | facet-label | facet-split --seed 7 --ratios 80:10:10 |" \
	"facet-take test | facet-dump  -> ids"
facet-decode -q --size 8x8 "$data" | facet-label -q --max-reports 0 |
	facet-split -q --seed 7 --ratios 80:10:10 | facet-take -q test | facet-dump -q |
	jq -r .id | LC_ALL=C sort > "$work/test_ids.tmp"
count=$(wc -l < "$work/test_ids.tmp")
[ "$n" = all ] && n=$count
pairs=$((n / 10)) empty=$((n / 10))
[ "$count" -ge "$n" ] || { echo "$prog: the test part has $count faces, fewer than N=$n" >&2; exit 1; }
awk -v n="$n" -v c="$count" -v d="$data" '{ line[NR - 1] = $0 }
	END { for (i = 0; i < n; i++) print d "/" line[int(i * c / n)] }' "$work/test_ids.tmp" \
	> "$work/faces.txt.tmp"
if ! cmp -s "$work/faces.txt.tmp" "$work/faces.txt" 2> /dev/null; then
	mv "$work/faces.txt.tmp" "$work/faces.txt"
fi
echo "# test part: $count faces; picked $n"

# 2. the scenes (kept while faces, seed and counts are the same)
stamp="$(cat "$work/faces.txt" "$here/detect_scenes.py" | sha1sum) seed=$seed n=$n pairs=$pairs empty=$empty"
if [ "$(cat "$work/scenes.stamp" 2> /dev/null)" != "$stamp" ] || [ ! -s "$work/truth.jsonl" ]; then
	rm -f "$work/scenes.stamp"
	show "detect_scenes.py --faces $work/faces.txt --out $work --seed $seed --n $n" \
		"--pairs $pairs --empty $empty"
	"$PY" "$here/detect_scenes.py" --faces "$work/faces.txt" --out "$work" --seed "$seed" \
		--n "$n" --pairs "$pairs" --empty "$empty"
	echo "$stamp" > "$work/scenes.stamp"
else
	echo "# scenes: kept from an earlier run ($work/scenes.stamp)"
fi
scenes=$(wc -l < "$work/truth.jsonl")

# 3. detection, timed
show "$detect $work/scenes > $work/detected.facet"
/usr/bin/time -f "%e %U %S %M" -o "$work/time.tmp" $detect "$work/scenes" > "$work/detected.tmp"
mv "$work/detected.tmp" "$work/detected.facet"
read -r wall user sys rss < "$work/time.tmp"
cpu=$(awk -v u="$user" -v y="$sys" 'BEGIN { print u + y }')
echo "# detection: $scenes scenes in $wall s wall, $cpu CPU-s, peak RSS $((rss / 1024)) MB"

# 4. scores, as facet predict gives them
score=(facet-score -q --flip --shift 3 --model "$model")
show "${score[*]} < $work/detected.facet > $work/detected.scored"
"${score[@]}" < "$work/detected.facet" > "$work/detected.scored.tmp"
mv "$work/detected.scored.tmp" "$work/detected.scored"
stamp="$(sha1sum < "$work/faces.txt") $(stat -c '%s %Y' "$model") $model"
if [ "$(cat "$work/crops.stamp" 2> /dev/null)" != "$stamp" ] || [ ! -s "$work/crops.scored" ]; then
	show "facet-decode < $work/faces.txt | ${score[*]} > $work/crops.scored"
	facet-decode -q < "$work/faces.txt" | "${score[@]}" > "$work/crops.scored.tmp"
	mv "$work/crops.scored.tmp" "$work/crops.scored"
	echo "$stamp" > "$work/crops.stamp"
else
	echo "# original crops' scores: kept from an earlier run ($work/crops.stamp)"
fi

# 5. the figures
show "detect_eval.py --truth $work/truth.jsonl --detected $work/detected.facet" \
	"--scored-detect $work/detected.scored --scored-crops $work/crops.scored"
"$PY" "$here/detect_eval.py" --truth "$work/truth.jsonl" --detected "$work/detected.facet" \
	--scored-detect "$work/detected.scored" --scored-crops "$work/crops.scored" \
	--detect-time "$wall:$cpu" --json-out "$work/summary.json.tmp" | tee "$work/report.txt.tmp"
mv "$work/summary.json.tmp" "$work/summary.json"
mv "$work/report.txt.tmp" "$work/report.txt"
echo "# written: $work/report.txt, $work/summary.json"
