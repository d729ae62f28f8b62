#!/usr/bin/env bash
# evaluate.sh FACES.facet MODEL OUTDIR [METRICS] — score the test part, write the report.
#   FACET_SCORE_ARGS: extra facet-score options, e.g. --flip
. "$(dirname "$0")/lib.sh"
[ $# -ge 3 ] && [ $# -le 4 ] || { echo "usage: $prog FACES.facet MODEL OUTDIR [METRICS]" >&2; exit 2; }
faces=$1 model=$2 out=$3 metrics=${4:-$2.metrics}
[ -f "$faces" ] || fail "no such stream: $faces"
[ -f "$model" ] || fail "no such model: $model"
margs=()
[ -f "$metrics" ] && margs=(--metrics "$metrics")
stage take-test facet-take -q test < "$faces" |
	stage score facet-score --model "$model" ${FACET_SCORE_ARGS:-} |
	stage report facet-report "${margs[@]}" --out "$tmp/report"
publish "$tmp/report" "$out"
say "report: $out/index.html"
