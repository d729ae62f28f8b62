#!/usr/bin/env bash
# recipe_compare.sh — a facet model against the plain PyTorch recipe, face by face on
# the same held-out faces (facet-compare(1)).
#
#   bench/recipe_compare.sh DATA WORK [MODEL]
#
# DATA is a folder of UTKFace faces (or a labelled facet stream). The faces are prepared twice
# with the split `make model` uses (pipelines/prepare.sh: seed 7, 80:10:10): at 64x64 for the
# recipe and at 80x80 for facet, as `make model` decodes them. bench/torch_recipe.py trains the
# recipe on the train part (about 47-57 minutes on the 2-core development machine) and writes its
# flip-averaged test scores; MODEL (default models/facet-utk64.facet) scores the same test faces
# with --flip, the recipe's two views. Prints facet-compare's table (A: facet, B: the recipe),
# then the same by true ethnicity and by age band.
#
# WORK keeps each step's output (faces64.facet, faces80.facet, recipe.scored and its log
# recipe.log, facet.scored); a step whose output is already there is not run again, so a second
# run with another MODEL only scores and compares. RECIPE_EPOCHS (default 45) and RECIPE_SEED (default 1)
# go to torch_recipe.py. Needs python3-torch, python3-msgpack and python3-msgpack-numpy
# (scripts/deps.sh bench). Run by hand; not a test.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
BIN=${FACET_BIN:-$here/../bin}
export PATH="$BIN:$PATH"

case ${1:-} in -h | --help) sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;; esac
case $# in 2 | 3) ;; *) echo "usage: $0 DATA WORK [MODEL] (--help for more)" >&2; exit 2 ;; esac
data=$1 work=$2 model=${3:-$here/../models/facet-utk64.facet}
[ -e "$data" ] || { echo "$0: no such dataset: $data" >&2; exit 2; }
[ -f "$model" ] || { echo "$0: no such model: $model" >&2; exit 2; }
mkdir -p "$work"
trap 'rm -f "$work/facet.scored.tmp"' EXIT

for size in 64 80; do
	[ -s "$work/faces$size.facet" ] ||
		FACET_SIZE=${size}x$size FACET_SEED=7 FACET_RATIOS=80:10:10 \
			"$here/../pipelines/prepare.sh" "$data" "$work/faces$size.facet"
done

if [ ! -s "$work/recipe.scored" ]; then
	tcmalloc=/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4
	[ -e "$tcmalloc" ] || tcmalloc=
	echo "# training the recipe ($(nproc) cores); its log: $work/recipe.log" >&2
	TORCH_RECIPE_SCORED="$work/recipe.scored" LD_PRELOAD=$tcmalloc \
		/usr/bin/python3 "$here/torch_recipe.py" "$work/faces64.facet" \
		"${RECIPE_EPOCHS:-45}" "${RECIPE_SEED:-1}" > "$work/recipe.log"
fi

facet-take -q test < "$work/faces80.facet" | facet-score -q --flip --model "$model" \
	> "$work/facet.scored.tmp"
mv "$work/facet.scored.tmp" "$work/facet.scored"

echo "# A: $model (--flip), B: the PyTorch recipe (flips), on the test part of $data"
facet-compare "$work/facet.scored" "$work/recipe.scored"
for by in ethnicity age; do
	echo
	facet-compare -q --by $by "$work/facet.scored" "$work/recipe.scored"
done
