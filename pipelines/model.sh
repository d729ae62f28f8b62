#!/usr/bin/env bash
# model.sh [DATA] [WORKDIR] — rebuild the shipped model models/facet-utk64.facet from UTKFace,
# reproducibly: faces decoded at 80x80 RGB, split seed 7 (80:10:10), then two nets of the
# four-conv read-out recipe, one after the other (pipelines/train.sh with two configs):
# examples/models/multitask-light-readout80.cfg (80x80, 18 epochs, training seed 1) and
# examples/models/multitask-light-readout.cfg (the same stream converted to 64x64, 20 epochs,
# seed 2), written into one file: an ensemble whose predictions facet-score averages, calibrated
# for int8 scoring on the validation part (facet-quantize). Then three
# test reports: plain, with facet-score --flip, and with --flip --shift 3 (ten views averaged:
# the one the shipped figures quote and facet-predict uses; shift 3 was chosen on the
# validation part). (The file keeps its name from the 64x64 models it held before.)
# DATA defaults to $FACET_DATA, else ../shared/data/UTKFace beside the checkout. WORKDIR (default
# model-work/) keeps the prepared stream, the checkpoint and the full report (which shows faces:
# it stays out of the repository). Only the weights, the training metrics and metrics.json are
# copied into models/; WORKDIR/tables.md gets the figures and tables models/README.md quotes.
. "$(dirname "$0")/lib.sh"
data=${1:-${FACET_DATA:-$repo/../shared/data/UTKFace}}
work=${2:-$repo/model-work}
[ -d "$data" ] || fail "no UTKFace folder at $data (give it as the first argument or FACET_DATA)"
mkdir -p "$work"
export FACET_SIZE=80x80 FACET_SEED=7 FACET_RATIOS=80:10:10 FACET_TRAIN_SEED=1
export FACET_CONFIG=$repo/examples/models/multitask-light-readout80.cfg:$repo/examples/models/multitask-light-readout.cfg
# the recipe, not the caller's
unset FACET_GRAY FACET_EPOCHS FACET_MEMBERS FACET_TRAIN_ARGS FACET_TRAIN_PARTS FACET_SCORE_ARGS FACET_TEACHER_ARGS
start=$(date +%s)
"$here/prepare.sh" "$data" "$work/faces.facet"
"$here/train.sh" "$work/faces.facet" "$work"
trained=$(date +%s)
# int8 ranges for facet-score --int8, measured on the validation part (fp32 scoring unchanged)
stage take facet-take val < "$work/faces.facet" |
	stage quantize facet-quantize --model "$work/model.facet" --out "$work/model.facet"
"$here/evaluate.sh" "$work/faces.facet" "$work/model.facet" "$work/report-noflip"
FACET_SCORE_ARGS=--flip "$here/evaluate.sh" "$work/faces.facet" "$work/model.facet" "$work/report-flip"
FACET_SCORE_ARGS="--flip --shift 3" "$here/evaluate.sh" "$work/faces.facet" "$work/model.facet" "$work/report"
# what goes into models/ (WORKDIR file:models/ name), every member's metrics included; all of it
# is gathered before models/ changes, and an earlier recipe's extra member metrics are removed
ship=(model.facet:facet-utk64.facet model.facet.metrics:facet-utk64.metrics
	report/metrics.json:facet-utk64.test.json report-flip/metrics.json:facet-utk64.test-flip.json
	report-noflip/metrics.json:facet-utk64.test-noflip.json)
for f in "$work"/model.facet.member*.metrics; do
	if [ -e "$f" ]; then ship+=("${f##*/}:facet-utk64.${f##*/model.facet.}"); fi
done
for pair in "${ship[@]}"; do cp "$work/${pair%%:*}" "$tmp/${pair#*:}"; done
rm -f "$repo"/models/facet-utk64.member*.metrics
for pair in "${ship[@]}"; do publish "$tmp/${pair#*:}" "$repo/models/${pair#*:}"; done
# the figures and tables models/README.md quotes, from the report (never typed by hand)
"$repo/scripts/model_tables.sh" "$work/report/metrics.json" > "$work/tables.md"
say "trained in $((trained - start)) s; models/facet-utk64.facet rebuilt; test report: $work/report/index.html; tables for models/README.md: $work/tables.md"
