#!/bin/sh
# Decode throughput: facet-decode against Pillow (open, draft, resize) on the same JPEG files, in
# the same run, at 64x64 RGB and 48x48 grey, with one and two jobs. Prints images per second of
# wall clock and images per CPU second (user + system of the process and its children: the
# per-core figure, and the fair one on a busy machine), and the ratios facet / Pillow (above 1:
# facet is faster). Not run by CI.
#
#   bench/decode.sh                    # every file of the shared UTKFace folder
#   BENCH_N=5000 BENCH_REPEAT=5 bench/decode.sh
#
# FACET_DATA: the image folder (default ../shared/data/UTKFace); FACET_BIN: facet's bin/;
# BENCH_N: use the first N files (0 = all); BENCH_REPEAT: runs per figure, the median is kept.
# Pillow comes from Debian's python3-pil, run with /usr/bin/python3.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
DATA=${FACET_DATA:-$here/../../shared/data/UTKFace}
BIN=${FACET_BIN:-$here/../bin}
N=${BENCH_N:-0}
REPEAT=${BENCH_REPEAT:-3}
PY=/usr/bin/python3

[ -d "$DATA" ] || { echo "bench/decode.sh: no image folder at $DATA (set FACET_DATA)" >&2; exit 1; }
[ -x "$BIN/facet-decode" ] || { echo "bench/decode.sh: no $BIN/facet-decode (run make)" >&2; exit 1; }
$PY -c 'import PIL' 2>/dev/null || { echo "bench/decode.sh: Pillow missing (apt-get install python3-pil)" >&2; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
find "$DATA" -maxdepth 1 -type f \( -name '*.jpg' -o -name '*.jpeg' \) | LC_ALL=C sort > "$tmp/all"
if [ "$N" -gt 0 ]; then head -n "$N" "$tmp/all" > "$tmp/list"; else cp "$tmp/all" "$tmp/list"; fi
count=$(wc -l < "$tmp/list")
# Warm the page cache so that both sides read from memory.
tr '\n' '\0' < "$tmp/list" | xargs -0 cat > /dev/null

# Pillow: LIST W H MODE JOBS. draft() makes libjpeg scale in the DCT domain, as facet does.
cat > "$tmp/pil.py" <<'PYEOF'
import sys
from multiprocessing import Pool
from PIL import Image

def work(args):
    paths, w, h, mode = args
    n = 0
    for p in paths:
        with Image.open(p) as im:
            im.draft(mode, (w, h))
            im = im.convert(mode).resize((w, h))
            n += len(im.tobytes())
    return n

listfile, w, h, mode, jobs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], int(sys.argv[5])
paths = open(listfile).read().split('\n')[:-1]
if jobs == 1:
    work((paths, w, h, mode))
else:
    with Pool(jobs) as pool:
        pool.map(work, [(paths[i:i + 256], w, h, mode) for i in range(0, len(paths), 256)])
PYEOF

# REPEAT CMD...: run CMD (stdin from the list) REPEAT times; print median wall and CPU seconds.
cat > "$tmp/timeit.py" <<'PYEOF'
import resource, subprocess, sys, time
repeat, listfile, cmd = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
walls, cpus = [], []
for _ in range(repeat):
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    with open(listfile) as f:
        subprocess.run(cmd, check=True, stdin=f, stdout=subprocess.DEVNULL)
    walls.append(time.perf_counter() - t0)
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpus.append(r1.ru_utime + r1.ru_stime - r0.ru_utime - r0.ru_stime)
print(sorted(walls)[len(walls) // 2], sorted(cpus)[len(cpus) // 2])
PYEOF

echo "decode throughput, $count files from $DATA, median of $REPEAT runs, load $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-11s %4s %12s %12s %6s %14s %14s %6s\n' "output" "jobs" "facet img/s" "Pillow img/s" \
	"ratio" "facet img/cpu-s" "Pillow img/cpu-s" "ratio"
for geom in "64 64 RGB" "48 48 L"; do
	set -- $geom
	w=$1 h=$2 mode=$3
	if [ "$mode" = L ]; then what="${w}x${h} grey"; flag=--gray; else what="${w}x${h} RGB"; flag=; fi
	for jobs in 1 2; do
		# shellcheck disable=SC2086
		f=$($PY "$tmp/timeit.py" "$REPEAT" "$tmp/list" "$BIN/facet-decode" -q --size "${w}x${h}" $flag --jobs "$jobs")
		p=$($PY "$tmp/timeit.py" "$REPEAT" "$tmp/list" $PY "$tmp/pil.py" "$tmp/list" "$w" "$h" "$mode" "$jobs")
		echo "$what|$jobs|$count|$f|$p" | awk -F'|' '{
			split($4, f, " "); split($5, p, " "); n = $3
			printf "%-11s %4d %12.0f %12.0f %6.2f %14.0f %14.0f %6.2f\n", $1, $2,
				n / f[1], n / p[1], p[1] / f[1], n / f[2], n / p[2], p[2] / f[2]
		}'
	done
done
