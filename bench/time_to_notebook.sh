#!/usr/bin/env bash
# time_to_notebook.sh — how long a facet training run takes until it beats the reference notebook
# on all three heads (age MAE < 5.81, gender > 90.4 %, ethnicity > 80.8 %).
#
#   bench/time_to_notebook.sh models/facet-utk64.metrics          # read a finished run's metrics
#   bench/time_to_notebook.sh --train CONFIG TRAIN VAL [EPOCHS [TEST]]
#                                                                   # train now (all cores), then read
#
# Prints every epoch (cumulative training seconds, validation figures, which heads are past the
# notebook) and a line with the first epoch that beats it on validation, or says none did.
# The clock is facet-train's own per-epoch time (training steps and the validation pass), as
# recorded in the metrics file (facet-metrics(5)); decoding and loading are not counted.
#
# With TEST (a stream of labelled faces that training and tuning never saw, such as the test part
# of prepare.sh's split), the trained model is then scored on it (facet-score, facet-report) and a
# last line says whether it beats the notebook on every head of TEST within BUDGET seconds of
# training (default 300): the question a fast recipe must answer.
# Exit status: 0 when the notebook was beaten (on TEST within BUDGET when TEST is given, else on
# validation at some epoch), 1 when not, 2 usage error.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
BIN=${FACET_BIN:-$here/../bin}
BUDGET=${BUDGET:-300}
MAE=5.81 GENDER=0.904 ETH=0.808

usage() { echo "usage: $0 METRICS | --train CONFIG TRAIN VAL [EPOCHS [TEST]]" >&2; exit 2; }
[ $# -ge 1 ] || usage
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
test_part=
if [ "$1" = --train ]; then
	[ $# -ge 4 ] && [ $# -le 6 ] || usage
	test_part=${6:-}
	for f in "$3" "$4" ${test_part:+"$test_part"}; do
		[ -f "$f" ] || { echo "$0: no stream $f" >&2; exit 2; }
	done
	echo "# training $2 on $3 (validation $4${5:+, $5 epochs}) with $(nproc) cores, $(date -u +%FT%TZ)"
	"$BIN/facet-train" -q --config "$2" --val "$4" ${5:+--epochs "$5"} --out "$tmp/m.facet" \
		--metrics "$tmp/m.metrics" < "$3"
	metrics=$tmp/m.metrics
else
	[ $# -eq 1 ] || usage
	metrics=$1
fi
[ -f "$metrics" ] || { echo "$0: no metrics file $metrics" >&2; exit 2; }

rc=0
"$BIN/facet-dump" < "$metrics" |
	jq -r '[.epoch, .time_s, (.val.age_mae // "nan"), (.val.gender_acc // "nan"),
	        (.val.ethnicity_acc // "nan")] | @tsv' |
	awk -v mae=$MAE -v g=$GENDER -v e=$ETH '
	BEGIN { printf "%5s %8s %8s %8s %8s  %s\n", "epoch", "seconds", "age MAE", "gender", "ethn.", "past the notebook (validation)" }
	{
		t += $2
		a = ($3 != "nan" && $3 < mae); b = ($4 != "nan" && $4 > g); c = ($5 != "nan" && $5 > e)
		printf "%5d %8.0f %8s %8s %8s  %s%s%s\n", $1, t, $3 == "nan" ? "-" : sprintf("%.2f", $3),
			$4 == "nan" ? "-" : sprintf("%.1f%%", 100 * $4),
			$5 == "nan" ? "-" : sprintf("%.1f%%", 100 * $5),
			a ? "age " : "", b ? "gender " : "", c ? "ethnicity" : ""
		if (a && b && c && !found) { found = $1; at = t }
	}
	END {
		printf "total %.0f s of training\n", t > "/dev/stderr"
		if (found) { printf "beats the notebook on validation at epoch %d, after %.0f s of training\n", found, at; exit 0 }
		print "no epoch beats the notebook on validation on all three heads"; exit 1
	}' 2> "$tmp/total" || rc=1
cat "$tmp/total"
[ -n "$test_part" ] || exit $rc

# The model as facet-train left it (with restore_best, the best epoch's weights) on TEST.
total=$(awk '{ print $2 }' "$tmp/total")
"$BIN/facet-score" -q --model "$tmp/m.facet" < "$test_part" |
	"$BIN/facet-report" -q --worst 0 --random 0 --out "$tmp/report"
jq -r '[.age.mae, .age.mae_ci[0], .age.mae_ci[1], .gender.accuracy, .gender.accuracy_ci[0],
        .gender.accuracy_ci[1], .ethnicity.accuracy, .ethnicity.accuracy_ci[0],
        .ethnicity.accuracy_ci[1], .age.count] | @tsv' "$tmp/report/metrics.json" |
	awk -v mae=$MAE -v g=$GENDER -v e=$ETH -v total="$total" -v budget="$BUDGET" '{
		printf "test (%d faces): age MAE %.2f (%.2f-%.2f), gender %.1f%% (%.1f-%.1f), ethnicity %.1f%% (%.1f-%.1f)\n",
			$10, $1, $2, $3, 100 * $4, 100 * $5, 100 * $6, 100 * $7, 100 * $8, 100 * $9
		beat = ($1 < mae && $4 > g && $7 > e); fast = (total <= budget)
		printf "%s the notebook (%.2f / %.1f%% / %.1f%%) on every head of the test part, %s %d s of training (%.0f s)\n",
			beat ? "beats" : "does not beat", mae, 100 * g, 100 * e, fast ? "within" : "NOT within", budget, total
		exit !(beat && fast)
	}'
