#!/usr/bin/env bash
# int8_accuracy.sh DATA WORK — the shipped model scored in fp32 and in int8 on the test part of
# the project's split: age MAE, gender and ethnicity accuracy, and int8's change of each.
#
#   bench/int8_accuracy.sh ../shared/data/UTKFace /tmp/int8-work
#
# The faces are decoded at 80x80 and split as pipelines/prepare.sh does (split seed 7,
# 80:10:10; kept in WORK/faces.facet and reused); the model is calibrated on the validation
# part (facet-quantize, WORK/model-int8.facet) and scored on the test part, plain (one view) and
# with the ten views facet predict uses (--flip --shift 3), with oneDNN at this CPU's own ISA
# and capped at AVX2 (ONEDNN_MAX_CPU_ISA=AVX2: no VNNI, so 7-bit uint8 codes), fp32 and int8
# side by side in each. The bounds checked: |change of age MAE| <= 0.05 years, |change of an
# accuracy| <= 0.3 points. Exit 1 when one is broken.
# Environment: FACET_BIN (bin/), MODEL (models/facet-utk64.facet), VIEWS ("plain ten"),
# ISAS ("native avx2"). WORK holds data derived from UTKFace: keep it out of the repository.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
[ $# -eq 2 ] || { echo "usage: int8_accuracy.sh DATA WORK" >&2; exit 2; }
data=$1 work=$2
BIN=${FACET_BIN:-$here/../bin}
MODEL=${MODEL:-$here/../models/facet-utk64.facet}
VIEWS=${VIEWS:-plain ten}
ISAS=${ISAS:-native avx2}
[ -e "$data" ] || { echo "int8_accuracy.sh: no such dataset: $data" >&2; exit 1; }
[ -x "$BIN/facet-quantize" ] || { echo "int8_accuracy.sh: no $BIN/facet-quantize (run make)" >&2; exit 1; }
command -v jq > /dev/null || { echo "int8_accuracy.sh: jq missing (apt-get install jq)" >&2; exit 1; }
export PATH=$BIN:$PATH
mkdir -p "$work"

if [ ! -s "$work/faces.facet" ]; then
	facet-decode -q --size 80x80 "$data" | facet-label -q 2> /dev/null |
		facet-split -q --seed 7 --ratios 80:10:10 > "$work/faces.tmp"
	mv "$work/faces.tmp" "$work/faces.facet"
fi
facet-take -q val < "$work/faces.facet" > "$work/val.facet"
facet-take -q test < "$work/faces.facet" > "$work/test.facet"
facet-quantize --model "$MODEL" --out "$work/model-int8.facet" < "$work/val.facet"

# figures FACET-SCORE-ARGS... -> "MAE GENDER% ETHNICITY%" of the test part (under ${cap[@]})
figures() {
	rm -rf "$work/report"
	"${cap[@]}" facet-score -q "$@" < "$work/test.facet" |
		facet-report -q --out "$work/report" > /dev/null ||
		{ echo "int8_accuracy.sh: facet-score $* failed" >&2; return 1; }
	jq -r '"\(.age.mae) \(.gender.accuracy * 100) \(.ethnicity.accuracy * 100)"' \
		"$work/report/metrics.json"
}

echo "# $(date -u +%FT%TZ) $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "# model $(basename "$MODEL"), calibrated on $(facet-dump "$work/val.facet" | wc -l) val faces, scored on $(facet-dump "$work/test.facet" | wc -l) test faces"
printf "%-6s %-7s %-5s %9s %9s %9s\n" views isa prec "age MAE" "gender %" "ethn. %"
bad=0
for views in $VIEWS; do
	vargs=()
	[ "$views" = ten ] && vargs=(--flip --shift 3)
	for isa in $ISAS; do
		cap=()
		[ "$isa" = avx2 ] && cap=(env ONEDNN_MAX_CPU_ISA=AVX2)
		f32=$(figures --model "$work/model-int8.facet" "${vargs[@]}")
		f8=$(figures --int8 --model "$work/model-int8.facet" "${vargs[@]}")
		read -r m32 g32 e32 <<< "$f32"
		read -r m8 g8 e8 <<< "$f8"
		printf "%-6s %-7s %-5s %9.4f %9.2f %9.2f\n" "$views" "$isa" fp32 "$m32" "$g32" "$e32"
		printf "%-6s %-7s %-5s %9.4f %9.2f %9.2f\n" "$views" "$isa" int8 "$m8" "$g8" "$e8"
		verdict=$(jq -n -r --argjson m32 "$m32" --argjson m8 "$m8" --argjson g32 "$g32" \
			--argjson g8 "$g8" --argjson e32 "$e32" --argjson e8 "$e8" '
			def abs: if . < 0 then -. else . end;
			[($m8 - $m32), ($g8 - $g32), ($e8 - $e32)] as $d |
			"\($d[0] * 10000 | round / 10000) \($d[1] * 100 | round / 100) \($d[2] * 100 | round / 100) " +
			(if ($d[0] | abs) <= 0.05 and ($d[1] | abs) <= 0.3 and ($d[2] | abs) <= 0.3
			 then "ok" else "OUT-OF-BOUNDS" end)')
		printf "%-6s %-7s %-5s %9s %9s %9s   %s\n" "$views" "$isa" change ${verdict% *} "${verdict##* }"
		case $verdict in *OUT-OF-BOUNDS) bad=1 ;; esac
	done
done
exit $bad
