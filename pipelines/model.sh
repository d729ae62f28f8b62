#!/usr/bin/env bash
# model.sh [DATA] [WORKDIR] — rebuild the shipped model models/facet-utk64.facet from UTKFace,
# reproducibly: 64x64 RGB faces, split seed 7 (80:10:10), the default multi-task recipe
# (examples/models/multitask.cfg) for 21 epochs with training seed 1, then three test reports:
# plain, with facet-score --flip, and with --flip --shift 3 (ten views averaged: the one the
# shipped figures quote and facet-predict uses; shift 3 was chosen on the validation part).
# DATA defaults to $FACET_DATA, else ../shared/data/UTKFace beside the checkout. WORKDIR (default
# model-work/) keeps the prepared stream, the checkpoint and the full report (which shows faces:
# it stays out of the repository). Only the weights, the training metrics and metrics.json are
# copied into models/; WORKDIR/tables.md gets the figures and tables models/README.md quotes.
. "$(dirname "$0")/lib.sh"
data=${1:-${FACET_DATA:-$repo/../shared/data/UTKFace}}
work=${2:-$repo/model-work}
[ -d "$data" ] || fail "no UTKFace folder at $data (give it as the first argument or FACET_DATA)"
mkdir -p "$work"
export FACET_SIZE=64x64 FACET_SEED=7 FACET_RATIOS=80:10:10
export FACET_CONFIG=$repo/examples/models/multitask.cfg FACET_EPOCHS=21 FACET_TRAIN_SEED=1
start=$(date +%s)
"$here/prepare.sh" "$data" "$work/faces.facet"
"$here/train.sh" "$work/faces.facet" "$work"
trained=$(date +%s)
"$here/evaluate.sh" "$work/faces.facet" "$work/model.facet" "$work/report-noflip"
FACET_SCORE_ARGS=--flip "$here/evaluate.sh" "$work/faces.facet" "$work/model.facet" "$work/report-flip"
FACET_SCORE_ARGS="--flip --shift 3" "$here/evaluate.sh" "$work/faces.facet" "$work/model.facet" "$work/report"
cp "$work/model.facet" "$tmp/facet-utk64.facet"
cp "$work/model.facet.metrics" "$tmp/facet-utk64.metrics"
cp "$work/report/metrics.json" "$tmp/facet-utk64.test.json"
cp "$work/report-flip/metrics.json" "$tmp/facet-utk64.test-flip.json"
cp "$work/report-noflip/metrics.json" "$tmp/facet-utk64.test-noflip.json"
for f in facet-utk64.facet facet-utk64.metrics facet-utk64.test.json facet-utk64.test-flip.json \
	facet-utk64.test-noflip.json; do
	publish "$tmp/$f" "$repo/models/$f"
done
# the figures and tables models/README.md quotes, from the report (never typed by hand)
"$repo/scripts/model_tables.sh" "$work/report/metrics.json" > "$work/tables.md"
say "trained in $((trained - start)) s; models/facet-utk64.facet rebuilt; test report: $work/report/index.html; tables for models/README.md: $work/tables.md"
