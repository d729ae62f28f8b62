#!/usr/bin/env bash
# demo.sh [OUTDIR] — the whole flow end to end, quickly: on $FACET_DATA when it is set (a folder
# of UTKFace faces; short training), else on faces that facet-synth generates. Ends by printing
# where the reports are and a few predictions of the shipped model.
. "$(dirname "$0")/lib.sh"
out=${1:-$repo/demo-out}
mkdir -p "$out"
if [ -n "${FACET_DATA:-}" ] && [ -d "$FACET_DATA" ]; then
	say "running on the faces in $FACET_DATA (short training)"
	data=$FACET_DATA
	export FACET_SIZE=${FACET_SIZE:-64x64}
	export FACET_CONFIG=${FACET_CONFIG:-$repo/examples/models/multitask.cfg}
	export FACET_EPOCHS=${FACET_EPOCHS:-3}
else
	say "FACET_DATA is not set: running on 4000 synthetic faces from facet-synth"
	stage synth facet-synth -n 4000 --seed 1 --size 32x32 > "$tmp/synth.facet"
	data=$tmp/synth.facet
	export FACET_CONFIG=${FACET_CONFIG:-$repo/examples/models/tiny.cfg}
	export FACET_EPOCHS=${FACET_EPOCHS:-8}
fi
"$here/all.sh" "$data" "$out"
model=$repo/models/facet-utk64.facet
if [ -f "$model" ]; then
	say "a few predictions of the shipped model ($model) on synthetic faces:"
	facet-synth -n 3 --seed 5 --size 64x64 | facet-score --model "$model" |
		facet-dump | jq -c '{id, age, pred_age: .pred.age, gender, pred_gender: .pred.gender,
		ethnicity, pred_ethnicity: .pred.ethnicity}' >&2 || true
fi
say "EDA:    $out/eda/index.html"
say "report: $out/report/index.html"
