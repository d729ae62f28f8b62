#!/bin/sh
# model_tables.sh METRICS.json — the figures models/README.md quotes, as Markdown, from a
# facet-report metrics.json (facet-report(1)): the headline line, the per-group table (gender x
# ethnicity) and the per-age-band table, each figure with its 95 % interval in brackets (from
# the report: Wilson intervals for accuracies, the normal approximation for MAEs). Used when the
# shipped model is rebuilt (make model), so the README's tables come from the report and are
# never typed by hand.
set -eu
[ $# -eq 1 ] && [ -f "$1" ] || { echo "usage: $0 METRICS.json" >&2; exit 2; }
m=$1
jq -r '
	def fixed(d): (. * pow(10; d) | round) as $n | ($n | fabs | tostring) as $s
		| ((d + 1 - ($s | length)) as $z | if $z > 0 then ("0" * $z) + $s else $s end) as $p
		| (if $n < 0 then "-" else "" end) + $p[0:($p | length) - d] + "." + $p[($p | length) - d:];
	def pct: if . == null then "-" else (. * 100 | fixed(1)) + " %" end;
	def num(d): if . == null then "-" else fixed(d) end;
	# a figure and its interval: "94.1 % (93.0-95.0)", "4.65 (4.49-4.81)"; no interval, no brackets
	def pctci(v; ci): ci as $ci | (v | pct) + (if $ci == null then "" else
		" (\($ci[0] * 100 | fixed(1))-\($ci[1] * 100 | fixed(1)))" end);
	def numci(v; ci; d): ci as $ci | (v | num(d)) + (if $ci == null then "" else
		" (\($ci[0] | fixed(d))-\($ci[1] | fixed(d)))" end);
	"age MAE \(numci(.age.mae; .age.mae_ci; 2)), gender \(pctci(.gender.accuracy; .gender.accuracy_ci)), "
	+ "ethnicity \(pctci(.ethnicity.accuracy; .ethnicity.accuracy_ci)); "
	+ "age RMSE \(.age.rmse | num(2)), gender ROC AUC \(.gender.auc | num(3)), ethnicity macro F1 "
	+ "\(.ethnicity.macro.f1 | num(3)); Other: recall \(pctci(.ethnicity.classes.Other.recall; .ethnicity.classes.Other.recall_ci)), "
	+ "precision \(pctci(.ethnicity.classes.Other.precision; .ethnicity.classes.Other.precision_ci))",
	"",
	"| group | faces | age MAE | gender acc. | ethnicity acc. |",
	"|---|---|---|---|---|",
	(.slices[] | select(.gender != null and .ethnicity != null) |
		"| \(.slice) | \(.age.count) | \(numci(.age.mae; .age.mae_ci; 2)) | \(pctci(.gender_accuracy; .gender_accuracy_ci)) | \(pctci(.ethnicity_accuracy; .ethnicity_accuracy_ci)) |"),
	"",
	"| age band | faces | age MAE | gender acc. | ethnicity acc. | gender AUC |",
	"|---|---|---|---|---|---|",
	(.slices[] | select(.age_band != null) |
		"| \(.age_band) | \(.age.count) | \(numci(.age.mae; .age.mae_ci; 2)) | \(pctci(.gender_accuracy; .gender_accuracy_ci)) | \(pctci(.ethnicity_accuracy; .ethnicity_accuracy_ci)) | \(.gender_auc | num(3)) |")
' "$m"
