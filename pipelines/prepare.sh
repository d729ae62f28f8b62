#!/usr/bin/env bash
# prepare.sh DATA OUT.facet — decode a folder of faces (or the notebook's CSV), label them from
# their names, and split them into train/val/test. DATA may also be a labelled facet stream
# (NAME.facet, e.g. from facet-synth): then it is only split.
#   FACET_SIZE (default 64x64), FACET_GRAY (set to 1 for grey), FACET_SEED (default 7),
#   FACET_RATIOS (default 80:10:10)
. "$(dirname "$0")/lib.sh"
[ $# -eq 2 ] || { echo "usage: $prog DATA OUT.facet" >&2; exit 2; }
data=$1 out=$2
size=${FACET_SIZE:-64x64} seed=${FACET_SEED:-7} ratios=${FACET_RATIOS:-80:10:10}
gray=()
[ "${FACET_GRAY:-0}" = 1 ] && gray=(--gray)
[ -e "$data" ] || fail "no such dataset: $data"
decode=(facet-decode --size "$size" "${gray[@]}" "$data")
label=(facet-label)
case $data in
*.csv) label=(cat) ;;                      # the notebook's CSV carries its labels
*.facet) decode=(cat "$data") label=(cat) size="as in $data" ;; # already a labelled stream
esac
stage decode "${decode[@]}" |
	stage label "${label[@]}" |
	stage split facet-split --seed "$seed" --ratios "$ratios" > "$tmp/faces.facet"
publish "$tmp/faces.facet" "$out"
say "wrote $out (size $size, split seed $seed, ratios $ratios)"
