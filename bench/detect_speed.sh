#!/usr/bin/env bash
# detect_speed.sh DATA WORK [N]: how fast facet-detect reads photos, and what it adds to
# facet predict.
#
#   1. N (default 200) 640x480 photos with one face each: test-part faces pasted into cluttered
#      scenes by bench/detect_scenes.py (seed 3), as JPEG.
#   2. N/10 12-megapixel camera-like JPEGs (4000x3000, quality 92): scikit-image's astronaut.png
#      scaled to 3000x3000 (her face about 500 pixels wide) on a textured, noisy 4000x3000 canvas,
#      so the JPEG carries a camera photo's detail and decodes as slowly.
#   3. facet-detect on each set with --jobs 1 and --jobs 2 (this machine's cores): photos per
#      second of wall clock, and per CPU-second; peak memory.
#   4. facet predict on the 640x480 photos against facet predict - on the faces facet-detect
#      found in them (the same scoring without the detection): what detection adds per photo.
# Each timing is the best of 3 runs. WORK keeps the photos (research-only faces: keep WORK
# outside the repository). Not run by CI.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
export PATH="${FACET_BIN:-$here/../bin}:$PATH"
PY=/usr/bin/python3
case ${1:-} in -h | --help) sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;; esac
[ $# -ge 2 ] || { echo "usage: $0 DATA WORK [N] (--help for more)" >&2; exit 2; }
data=$(cd "$1" && pwd) work=$2 n=${3:-200}
mkdir -p "$work/small" "$work/big"
work=$(cd "$work" && pwd)

# 1. the 640x480 photos
if [ "$(ls "$work/small/scenes" 2> /dev/null | wc -l)" -ne "$n" ]; then
	facet-decode -q --size 8x8 "$data" | facet-label -q --max-reports 0 |
		facet-split -q --seed 7 --ratios 80:10:10 | facet-take -q test | facet-dump -q |
		jq -r .id | LC_ALL=C sort | awk -v n="$n" -v d="$data" 'NR <= n { print d "/" $0 }' > "$work/faces.txt"
	$PY "$here/detect_scenes.py" --faces "$work/faces.txt" --out "$work/small" --seed 3 --n "$n"
fi

# 2. the 12-megapixel photos
nbig=$(((n + 9) / 10))
if [ "$(ls "$work/big" | wc -l)" -ne "$nbig" ]; then
	$PY - "$work/big" "$nbig" << 'PYEOF'
import sys
import numpy as np
from PIL import Image
from skimage import data as sk
out, n = sys.argv[1], int(sys.argv[2])
rng = np.random.default_rng(12)
face = Image.fromarray(sk.astronaut()).resize((3000, 3000), Image.BICUBIC)
textures = [sk.coffee(), sk.rocket(), sk.chelsea(), np.dstack([sk.brick()] * 3)]
for i in range(n):
    t = textures[i % len(textures)]
    canvas = np.asarray(Image.fromarray(t).resize((4000, 3000), Image.BICUBIC)).astype(np.float32)
    x = int(rng.integers(0, 1000))
    canvas[:, x:x + 3000] = np.asarray(face)
    canvas += rng.normal(0, 4, canvas.shape)  # sensor noise: a camera photo's entropy
    Image.fromarray(np.clip(canvas, 0, 255).astype(np.uint8)).save(
        "%s/camera%02d.jpg" % (out, i), quality=92)
PYEOF
fi

best() { # best CMD...: the best of 3 runs' wall and CPU seconds and peak RSS, as "wall cpu kb"
	local b="" r
	for _ in 1 2 3; do
		/usr/bin/time -o "$work/time.txt" -f '%e %U %S %M' "$@" > /dev/null 2> /dev/null
		r=$(awk '{ printf "%.3f %.3f %d", $1, $2 + $3, $4 }' "$work/time.txt")
		if [ -z "$b" ] || awk -v a="$r" -v b="$b" 'BEGIN { split(a, x); split(b, y); exit !(x[1] < y[1]) }'; then
			b=$r
		fi
	done
	echo "$b"
}
rate() { # rate COUNT "wall cpu kb" LABEL
	awk -v n="$1" -v label="$3" '{ printf "%-44s %7.1f photos/s  %7.1f photos/CPU-s  %5d MB peak\n", label, n / $1, n / $2, $3 / 1024 }' <<< "$2"
}

echo "# $(date -u +%FT%TZ) on $(nproc) cores: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-)"
for j in 1 2; do
	rate "$n" "$(best facet-detect -q -j $j "$work/small/scenes")" "640x480, one face, --jobs $j"
done
for j in 1 2; do
	rate "$nbig" "$(best facet-detect -q -j $j "$work/big")" "4000x3000 JPEG (12 MP), --jobs $j"
done
facet-detect -q "$work/small/scenes" > "$work/faces.facet"
found=$(facet-dump --count < "$work/faces.facet")
with=$(best facet predict "$work/small/scenes")
without=$(best sh -c "facet predict - < '$work/faces.facet'")
awk -v n="$n" -v f="$found" -v a="$with" -v b="$without" 'BEGIN {
	split(a, x); split(b, y)
	printf "facet predict on %d photos (%s faces): %.2f s; scoring the same faces alone: %.2f s\n", n, f, x[1], y[1]
	printf "detection adds %.1f ms a photo to facet predict (both cores)\n", 1000 * (x[1] - y[1]) / n }'
