#!/bin/sh
# model_tables.sh METRICS.json — the figures models/README.md quotes, as Markdown, from a
# facet-report metrics.json (facet-metrics(5)): the headline line, the per-group table (gender x
# ethnicity) and the per-age-band table. Used when the shipped model is rebuilt (make model), so
# the README's tables come from the report and are never typed by hand.
set -eu
[ $# -eq 1 ] && [ -f "$1" ] || { echo "usage: $0 METRICS.json" >&2; exit 2; }
m=$1
jq -r '
	def fixed(d): (. * pow(10; d) | round) as $n | ($n | fabs | tostring) as $s
		| ((d + 1 - ($s | length)) as $z | if $z > 0 then ("0" * $z) + $s else $s end) as $p
		| (if $n < 0 then "-" else "" end) + $p[0:($p | length) - d] + "." + $p[($p | length) - d:];
	def pct: if . == null then "-" else (. * 100 | fixed(1)) + " %" end;
	def num(d): if . == null then "-" else fixed(d) end;
	"age MAE \(.age.mae | num(2)), gender \(.gender.accuracy | pct), ethnicity \(.ethnicity.accuracy | pct); "
	+ "age RMSE \(.age.rmse | num(2)), gender ROC AUC \(.gender.auc | num(3)), ethnicity macro F1 "
	+ "\(.ethnicity.macro.f1 | num(3)); Other: recall \(.ethnicity.classes.Other.recall | pct), "
	+ "precision \(.ethnicity.classes.Other.precision | pct)",
	"",
	"| group | faces | age MAE | gender acc. | ethnicity acc. |",
	"|---|---|---|---|---|",
	(.slices[] | select(.gender != null and .ethnicity != null) |
		"| \(.slice) | \(.age.count) | \(.age.mae | num(2)) | \(.gender_accuracy | pct) | \(.ethnicity_accuracy | pct) |"),
	"",
	"| age band | faces | age MAE | gender acc. | ethnicity acc. | gender AUC |",
	"|---|---|---|---|---|---|",
	(.slices[] | select(.age_band != null) |
		"| \(.age_band) | \(.age.count) | \(.age.mae | num(2)) | \(.gender_accuracy | pct) | \(.ethnicity_accuracy | pct) | \(.gender_auc | num(3)) |")
' "$m"
