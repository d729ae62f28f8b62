#!/usr/bin/env bash
# train_mpi.sh [CONFIG] — training throughput of one process with 2 threads against mpirun
# -np 2 with one thread each, on the same data, batch and seed, taking turns; and the time the
# ranks spend in MPI_Allreduce each step (facet-train's epoch line).
#
#   bench/train_mpi.sh                                  # the shipped net's config, 64x64 faces
#   ROUNDS=3 EPOCHS=2 IMAGES=2048 bench/train_mpi.sh examples/models/multitask.cfg
#
# The faces are facet-synth's at the config's input size (FACET_DATA=DIR of UTKFace crops: the
# first IMAGES of those, decoded at that size). Each run trains EPOCHS epochs; the first pays
# for oneDNN's kernel generation, so a run's figure is the mean images/s of the epochs after it
# (from the metrics file). Prints every run, then the median of each side and the ratio.
# Environment: ROUNDS (3), EPOCHS (3), IMAGES (2048), FACET_DATA (unset: generated faces).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
config=${1:-$root/examples/models/multitask-light-readout.cfg}
rounds=${ROUNDS:-3}
epochs=${EPOCHS:-3}
images=${IMAGES:-2048}
bin=$root/bin
[ -f "$config" ] || { echo "train_mpi.sh: no config $config" >&2; exit 2; }
[ "$epochs" -ge 2 ] || { echo "train_mpi.sh: EPOCHS must be 2 or more" >&2; exit 2; }
command -v mpirun > /dev/null || { echo "train_mpi.sh: mpirun missing (apt-get install openmpi-bin)" >&2; exit 1; }
make -s -C "$root" -j2 all
[ "$(id -u)" -ne 0 ] || export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
tmp=$(mktemp -d "${TMPDIR:-/tmp}/train_mpi.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

size=$(sed -n 's/^\[input\].*width=\([0-9]*\).*height=\([0-9]*\).*/\1x\2/p' "$config")
if [ -n "${FACET_DATA:-}" ]; then
	mapfile -t files < <(find "$FACET_DATA" -maxdepth 1 -name '*.jpg' | sort | head -n "$images")
	"$bin/facet-decode" -q --size "$size" "${files[@]}" | "$bin/facet-label" -q > "$tmp/train.facet"
	what="$images UTKFace faces ($FACET_DATA) at $size"
else
	"$bin/facet-synth" -q -n "$images" --size "$size" > "$tmp/train.facet"
	what="$images facet-synth faces at $size"
fi
batch=$(sed -n 's/.*batch=\([0-9]*\).*/\1/p' "$config")
echo "config $(basename "$config"), batch $batch, $what, $epochs epochs a run, $rounds rounds"
echo "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"

# mean images/s over epochs 2.. of a metrics file
ips() {
	/usr/bin/python3 -c '
import msgpack, sys
r = list(msgpack.Unpacker(open(sys.argv[1], "rb"), raw=False))[1:]
print("%.1f" % (sum(e["images_per_s"] for e in r) / len(r)))' "$1"
}
# seconds in MPI_Allreduce over epochs 2.., per step, from the epoch lines
allreduce_ms() {
	awk -v steps="$(( images / batch ))" '/ in MPI_Allreduce/ && !/epoch 1\// {
		for (i = 1; i <= NF; i++) if ($i == "in" && $(i + 1) == "MPI_Allreduce") s += $(i - 2)
		n++ } END { if (n) printf "%.1f", 1000 * s / n / steps }' "$1"
}

one=() two=()
for r in $(seq "$rounds"); do
	"$bin/facet-train" -q --config "$config" --train "$tmp/train.facet" --epochs "$epochs" \
		--threads 2 --out "$tmp/one.facet"
	a=$(ips "$tmp/one.facet.metrics")
	mpirun -np 2 --bind-to none "$bin/facet-train" --config "$config" \
		--train "$tmp/train.facet" --epochs "$epochs" --threads 1 --out "$tmp/two.facet" \
		2> "$tmp/two.log"
	b=$(ips "$tmp/two.facet.metrics")
	ar=$(allreduce_ms "$tmp/two.log")
	echo "round $r: 1 rank x 2 threads $a img/s | 2 ranks x 1 thread $b img/s, MPI_Allreduce $ar ms a step"
	one+=("$a") two+=("$b")
done
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
m1=$(median "${one[@]}") m2=$(median "${two[@]}")
echo "median: 1 rank x 2 threads $m1 img/s, 2 ranks x 1 thread $m2 img/s, ratio $(awk -v a="$m1" -v b="$m2" 'BEGIN { printf "%.2f", b / a }')"
