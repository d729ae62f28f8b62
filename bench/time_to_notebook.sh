#!/usr/bin/env bash
# time_to_notebook.sh — how long a facet training run takes until its validation figures beat the
# reference notebook on all three heads (age MAE < 5.81, gender > 90.4 %, ethnicity > 80.8 %).
#
#   bench/time_to_notebook.sh models/facet-utk64.metrics          # read a finished run's metrics
#   bench/time_to_notebook.sh --train CONFIG TRAIN.facet VAL.facet [EPOCHS]
#                                                                   # train now (2 cores), then read
#
# Prints every epoch (cumulative training seconds, validation figures, which heads are past the
# notebook) and a last line with the first epoch that beats it on all three, or says none did.
# The clock is facet-train's own per-epoch time (training steps and the validation pass), as
# recorded in the metrics file (facet-metrics(5)); decoding and loading are not counted.
# Exit status: 0 when some epoch beat the notebook, 1 when none did, 2 usage error.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
BIN=${FACET_BIN:-$here/../bin}
MAE=5.81 GENDER=0.904 ETH=0.808

usage() { echo "usage: $0 METRICS | --train CONFIG TRAIN VAL [EPOCHS]" >&2; exit 2; }
[ $# -ge 1 ] || usage
if [ "$1" = --train ]; then
	[ $# -ge 4 ] || usage
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' EXIT
	echo "# training $2 on $3 (validation $4) with $(nproc) cores"
	"$BIN/facet-train" -q --config "$2" --val "$4" ${5:+--epochs "$5"} --out "$tmp/m.facet" \
		--metrics "$tmp/m.metrics" < "$3"
	metrics=$tmp/m.metrics
else
	[ $# -eq 1 ] || usage
	metrics=$1
fi
[ -f "$metrics" ] || { echo "$0: no metrics file $metrics" >&2; exit 2; }

"$BIN/facet-dump" < "$metrics" |
	jq -r '[.epoch, .time_s, (.val.age_mae // "nan"), (.val.gender_acc // "nan"),
	        (.val.ethnicity_acc // "nan")] | @tsv' |
	awk -v mae=$MAE -v g=$GENDER -v e=$ETH '
	BEGIN { printf "%5s %8s %8s %8s %8s  %s\n", "epoch", "seconds", "age MAE", "gender", "ethn.", "past the notebook" }
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
		if (found) { printf "beats the notebook on all three heads at epoch %d, after %.0f s of training\n", found, at; exit 0 }
		print "no epoch beats the notebook on all three heads"; exit 1
	}'
