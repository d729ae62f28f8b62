#!/usr/bin/env bash
# int8_ceiling.sh [CONFIG] — how fast int8 scoring could be with oneDNN's convolutions as they
# are: facet's int8 forward pass broken down per oneDNN primitive, the multiply-add rate of each
# convolution, and the bound on facet / PyTorch int8 if everything but the convolutions took no
# time at all. Both sides run the same oneDNN int8 convolutions, so this bound says what any
# change outside those kernels can reach.
#
#   bench/int8_ceiling.sh                                       # the shipped 64x64 net
#   ISAS=avx2 SECONDS_EACH=3 bench/int8_ceiling.sh examples/models/multitask-light-readout80.cfg
#
# Per ISA (ISAS, "native avx2"; avx2 caps oneDNN and PyTorch as bench/train_speed.sh does):
# facet's img/s (bench/nn_speed.c, int8, batch INFER_BATCH=256, 2 threads, SECONDS_EACH=5 s),
# PyTorch's FX int8 img/s (bench/torch_speed.py, tcmalloc, channels_last), then a run with
# DNNL_VERBOSE=1 whose per-primitive times, summed per batch, give the table. A convolution's
# rate is N*OC*OH*OW*IC*KH*KW multiply-adds over its time. Run it on a quiet machine.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
config=${1:-$root/examples/models/multitask-light-readout.cfg}
isas=${ISAS:-native avx2}
secs=${SECONDS_EACH:-5}
batch=${INFER_BATCH:-256}
. "$here/nn_speed.sh"
nn_speed_setup int8_ceiling.sh "$config"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
rate() { awk '{for (i = 1; i < NF; i++) if ($(i + 1) == "img/s") print $i}'; }

echo "# $(date -u +%FT%TZ) $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "# config $config, batch $batch, int8 forward"
for isa in $isas; do
	cap=()
	[ "$isa" = avx2 ] && cap=(env ONEDNN_MAX_CPU_ISA=AVX2 DNNL_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2)
	facet=$("${cap[@]}" env OMP_NUM_THREADS="$(nproc)" "$bin" "$config" infer int8 "$batch" "$secs" | rate)
	torch=$("${cap[@]}" env LD_PRELOAD=$tcmalloc OMP_NUM_THREADS="$(nproc)" \
		$python "$here/torch_speed.py" "$config" infer int8 "$batch" "$secs" | rate)
	"${cap[@]}" env OMP_NUM_THREADS="$(nproc)" DNNL_VERBOSE=1 ONEDNN_VERBOSE=1 \
		"$bin" "$config" infer int8 "$batch" 2 > "$tmp/verbose" 2>/dev/null
	echo
	echo "## ISA $isa: facet int8 $facet img/s, PyTorch int8 $torch img/s ($(awk -v a="$facet" -v b="$torch" 'BEGIN { printf "%.2f", a / b }')x)"
	# exec lines: ...,exec,cpu,KIND,IMPL,PROP,MEMORY,ATTR,AUX,SHAPE,MS. Each int8 convolution
	# runs once a batch, so their calls count the batches; primitives called fewer times (the
	# fp32 calibration pass before the timing) are left out.
	awk -F, -v batch="$batch" -v facet="$facet" -v torch="$torch" '
		$2 == "exec" {
			key = $4 " " $5 " " $(NF - 1)
			if (!(key in t)) order[++n] = key
			t[key] += $NF; c[key]++
			if ($4 == "convolution" && $7 ~ /src_[us]8/) q8[key] = 1
		}
		END {
			calls = 0
			for (k in q8) if (c[k] > calls) calls = c[k]
			if (!calls) { print "no int8 convolution in the oneDNN log"; exit 1 }
			total = 0; conv = 0
			printf "%-12s %-26s %-60s %9s %9s\n", "primitive", "implementation", "shape", "ms/batch", "GMAC/s"
			for (i = 1; i <= n; i++) {
				k = order[i]; split(k, f, " ")
				if (c[k] < calls) continue
				ms = t[k] / calls; total += ms
				g = ""
				if (f[1] == "convolution") {
					conv += ms
					s = f[3]; macs = 1
					split("mb ic oc oh ow kh kw", names, " ")
					for (j = 1; j <= 7; j++) {
						if (match(s, names[j] "[0-9]+")) macs *= substr(s, RSTART + length(names[j]), RLENGTH - length(names[j]))
					}
					g = sprintf("%9.0f", macs / (ms * 1e-3) / 1e9)
				}
				printf "%-12s %-26s %-60s %9.2f %9s\n", f[1], f[2], f[3], ms, g
			}
			measured = batch / facet * 1e3
			printf "oneDNN primitives %.1f ms a batch of the %.1f ms measured (%.0f img/s); convolutions %.1f ms\n", total, measured, facet, conv
			printf "bound: with everything but the convolutions free, %.0f img/s = %.2fx PyTorch int8 (%.0f img/s)\n", batch / conv * 1e3, batch / conv * 1e3 / torch, torch
		}' "$tmp/verbose"
done
