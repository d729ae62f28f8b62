#!/usr/bin/env bash
# train_speed.sh [CONFIG] — facet against PyTorch on the same network, batch and data shape,
# alternating in one run: training fp32, training bf16, inference fp32, inference bf16, and on
# request inference int8 (facet-score --int8 against PyTorch's FX int8; bench/score_speed.sh).
#
#   bench/train_speed.sh                          # the notebook's age CNN (48x48x1)
#   ROUNDS=5 SECONDS_EACH=10 bench/train_speed.sh examples/models/multitask.cfg
#
# Each round runs every (mode, precision) once in facet (bench/nn_speed.c) and once in PyTorch
# (bench/torch_speed.py: 2 threads = all cores, channels_last, tcmalloc preloaded, bf16 through
# autocast), facet and PyTorch taking turns. Before each measurement the script waits (up to
# QUIET_WAIT s) for the machine to be quiet: other processes using under 0.15 cores. It prints
# every measurement, then per case the median of each side over its quiet measurements and the
# ratio.
# Environment: ROUNDS (3), SECONDS_EACH (8), TRAIN_BATCH (64), INFER_BATCH (256),
# QUIET_WAIT (60), CASES ("train:fp32 train:bf16 infer:fp32 infer:bf16"; infer:int8 too),
# BF16_ANYWAY (0), ISAS ("native"; "native avx2" also measures every case with oneDNN and
# PyTorch capped at AVX2: ONEDNN_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
config=${1:-$root/examples/models/age_notebook.cfg}
rounds=${ROUNDS:-3}
secs=${SECONDS_EACH:-8}
train_batch=${TRAIN_BATCH:-64}
infer_batch=${INFER_BATCH:-256}
quiet_wait=${QUIET_WAIT:-60}
cases=${CASES:-train:fp32 train:bf16 infer:fp32 infer:bf16}
isas=${ISAS:-native}
. "$here/nn_speed.sh"
nn_speed_setup train_speed.sh "$config"

# Wait until other processes use under 0.15 cores over 2 s (or give up after quiet_wait s).
wait_quiet() {
	local t=0 a b
	while [ "$t" -lt "$quiet_wait" ]; do
		a=$(awk '/^cpu /{print $2+$3+$4+$7+$8+$9}' /proc/stat)
		sleep 2
		b=$(awk '/^cpu /{print $2+$3+$4+$7+$8+$9}' /proc/stat)
		# jiffies (100/s) over 2 s: 30 = 0.15 cores
		[ $((b - a)) -lt 30 ] && return 0
		t=$((t + 2))
	done
	echo "# machine not quiet after ${quiet_wait}s; measuring anyway" >&2
}

# Without AVX512-BF16 facet runs bf16 plans in fp32 and PyTorch emulates bf16 (about 2 img/s
# here, minutes per step): skip the bf16 cases unless BF16_ANYWAY=1.
if ! grep -q -m1 avx512_bf16 /proc/cpuinfo && [ "${BF16_ANYWAY:-0}" != 1 ]; then
	echo "# this CPU lacks AVX512-BF16: bf16 cases skipped (BF16_ANYWAY=1 runs them)"
	kept=
	for c in $cases; do
		case $c in *:bf16) ;; *) kept="$kept $c" ;; esac
	done
	cases=$kept
fi

out=$(mktemp)
trap 'rm -f "$out"' EXIT
echo "# $(date -u +%FT%TZ) $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "# config $config, $rounds rounds of ${secs}s each, batch $train_batch (train) / $infer_batch (infer), ISA $isas"
for r in $(seq "$rounds"); do
	for c in $cases; do
		mode=${c%:*} prec=${c#*:}
		batch=$train_batch
		[ "$mode" = infer ] && batch=$infer_batch
		for isa in $isas; do
			cap=()
			[ "$isa" = avx2 ] && cap=(env ONEDNN_MAX_CPU_ISA=AVX2 DNNL_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2)
			wait_quiet
			"${cap[@]}" "$bin" "$config" "$mode" "$prec" "$batch" "$secs" |
				sed "s/\$/ isa=$isa/" | tee -a "$out"
			wait_quiet
			# exit 3: this PyTorch has no int8 engine for x86 (said on stderr)
			"${cap[@]}" env LD_PRELOAD=$tcmalloc OMP_NUM_THREADS=$(nproc) \
				$python "$here/torch_speed.py" "$config" "$mode" "$prec" "$batch" "$secs" |
				sed "s/\$/ isa=$isa/" | tee -a "$out" || true
		done
	done
done

echo "# medians over the quiet measurements (other-load < 0.25 cores; all of them if none is quiet)"
echo "# in img/s; ratio = facet / PyTorch"
for isa in $isas; do
for c in $cases; do
	mode=${c%:*} prec=${c#*:}
	awk -v m="$mode" -v p="$prec" -v isa="$isa" '
		$2 == m && index($3, p) == 1 && $NF == "isa=" isa {
			v = 0; load = 0
			for (i = 1; i <= NF; i++) if ($(i + 1) == "img/s") v = $i
			for (i = 1; i <= NF; i++) if ($i == "other-load") load = $(i + 1)
			if ($1 == "facet") { fa[++nfa] = v; if (load < 0.25) fq[++nfq] = v }
			else { ta[++nta] = v; if (load < 0.25) tq[++ntq] = v }
		}
		function median(a, n,   i, j, x) {
			if (n == 0) return 0
			for (i = 2; i <= n; i++) { x = a[i]; for (j = i - 1; j >= 1 && a[j] > x; j--) a[j + 1] = a[j]; a[j + 1] = x }
			return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
		}
		END {
			if (nfq) { fm = median(fq, nfq); nf = nfq } else { fm = median(fa, nfa); nf = nfa " (none quiet)" }
			if (ntq) { tm = median(tq, ntq); nt = ntq } else { tm = median(ta, nta); nt = nta " (none quiet)" }
			printf "%-6s %-6s %-5s facet %8.1f (n=%s)   pytorch %8.1f (n=%s)   ratio %5.2fx\n", isa, m, p, fm, nf, tm, nt, tm ? fm / tm : 0
		}' "$out"
done
done
