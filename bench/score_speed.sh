#!/usr/bin/env bash
# score_speed.sh — scoring throughput of the shipped model's two nets: facet fp32, facet int8
# (facet-score --int8), PyTorch fp32 and PyTorch's own int8 (FX graph mode, post-training
# static quantization), alternating in one run (bench/train_speed.sh's harness: 2 threads,
# channels_last and tcmalloc for PyTorch, a wait for a quiet machine before each measurement),
# at this CPU's own ISA and capped at AVX2, the project's machines (ISAS).
#
#   bench/score_speed.sh                                   # 3 rounds of 8 s, batch 256
#   ROUNDS=1 SECONDS_EACH=3 QUIET_WAIT=0 bench/score_speed.sh   # a quick look on a busy machine
#
# Both sides run the net as it scores: facet folded (batch norm in the weights, ReLU fused),
# its int8 calibrated on the synthetic batch (bench/nn_speed.c), as facet-quantize would on
# faces; PyTorch's int8 fuses and calibrates the same way. Random weights: speed does not depend
# on them. Environment: as train_speed.sh (ROUNDS, SECONDS_EACH, INFER_BATCH, QUIET_WAIT),
# ISAS ("native avx2"), CONFIGS (the two nets of models/facet-utk64.facet).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
configs=${CONFIGS:-$root/examples/models/multitask-light-readout80.cfg $root/examples/models/multitask-light-readout.cfg}
for config in $configs; do
	CASES="infer:fp32 infer:int8" ISAS=${ISAS:-native avx2} "$here/train_speed.sh" "$config"
done
