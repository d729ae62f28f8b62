#!/usr/bin/env bash
# demo.sh — `make demo` on the real faces, timed: runs pipelines/demo.sh with FACET_DATA (the
# shipped model's 64x64 net, short training), then prints the wall-clock time of the whole flow
# (decode, EDA, training, scoring, report, the shipped model's predictions), facet-train's own
# seconds per epoch, and the test figures of the model it trained beside the reference notebook's
# (age MAE 5.81, gender 90.4 %, ethnicity 80.8 %), each with its 95 % interval.
#
#   bench/demo.sh                    # ../shared/data/UTKFace, output in a temp folder
#   FACET_DATA=~/UTKFace bench/demo.sh
#
# Environment as for pipelines/demo.sh (FACET_EPOCHS, FACET_CONFIG, ...). Not run by CI.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
export FACET_DATA=${FACET_DATA:-$(cd "$here/../.." && pwd)/shared/data/UTKFace}
[ -d "$FACET_DATA" ] || { echo "demo.sh: no image folder at $FACET_DATA (set FACET_DATA)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "# make demo's flow on $FACET_DATA, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%FT%TZ)"
t0=$(date +%s.%N)
"$here/../pipelines/demo.sh" "$tmp/out" 2> "$tmp/log" || { tail -20 "$tmp/log" >&2; exit 1; }
t1=$(date +%s.%N)
grep -E '^(demo\.sh|[0-9].*\(labelled)' "$tmp/log" | grep -v '^demo.sh: \(EDA\|report\):'
awk -v a="$t0" -v b="$t1" 'BEGIN { s = b - a; printf "whole flow: %.0f s (%d min %d s)\n", s, s / 60, s % 60 }'
"$here/../bin/facet-dump" < "$tmp/out/model.facet.metrics" |
	jq -rs '"training: \(length) epochs, \(map(.time_s) | add | round) s (\(map(.time_s) | min | round)-\(map(.time_s) | max | round) s an epoch)"'
jq -r '"test, \(.age.count) faces: age MAE \(.age.mae * 100 | round / 100) (\(.age.mae_ci[0] * 100 | round / 100)-\(.age.mae_ci[1] * 100 | round / 100); notebook 5.81)",
	"  gender \(.gender.accuracy * 1000 | round / 10) % (\(.gender.accuracy_ci[0] * 1000 | round / 10)-\(.gender.accuracy_ci[1] * 1000 | round / 10); notebook 90.4)",
	"  ethnicity \(.ethnicity.accuracy * 1000 | round / 10) % (\(.ethnicity.accuracy_ci[0] * 1000 | round / 10)-\(.ethnicity.accuracy_ci[1] * 1000 | round / 10); notebook 80.8)"' \
	"$tmp/out/report/metrics.json"
