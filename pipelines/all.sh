#!/usr/bin/env bash
# all.sh DATA OUTDIR — the whole flow: prepare -> EDA -> train -> evaluate.
# DATA is a folder of face images (UTKFace names carry the labels) or the notebook's CSV.
# Environment: see prepare.sh and train.sh. The seeds, config and commands go to OUTDIR/recipe.txt.
. "$(dirname "$0")/lib.sh"
[ $# -eq 2 ] || { echo "usage: $prog DATA OUTDIR" >&2; exit 2; }
data=$1 out=$2
mkdir -p "$out"
"$here/prepare.sh" "$data" "$out/faces.facet"
"$here/eda.sh" "$out/faces.facet" "$out/eda"
"$here/train.sh" "$out/faces.facet" "$out"
"$here/evaluate.sh" "$out/faces.facet" "$out/model.facet" "$out/report"
{
	echo "data: $data"
	echo "size: ${FACET_SIZE:-64x64} gray: ${FACET_GRAY:-0}"
	echo "split seed: ${FACET_SEED:-7} ratios: ${FACET_RATIOS:-80:10:10}"
	echo "config: ${FACET_CONFIG:-examples/models/multitask.cfg} (copied to model.cfg; member K's to model.memberK.cfg)"
	echo "train seed: ${FACET_TRAIN_SEED:-1} epochs: ${FACET_EPOCHS:-from config}" \
		"parts: ${FACET_TRAIN_PARTS:-train} teacher views: ${FACET_TEACHER_ARGS---flip}" \
		"members: $((1 + $(find "$out" -maxdepth 1 -name 'model.member*.cfg' | wc -l)))"
	echo "facet: $(facet-dump --version)"
} > "$tmp/recipe.txt"
publish "$tmp/recipe.txt" "$out/recipe.txt"
say "done: EDA $out/eda/index.html, report $out/report/index.html"
