#!/usr/bin/env bash
# eda.sh FACES.facet OUTDIR — explore a prepared dataset into OUTDIR/index.html.
. "$(dirname "$0")/lib.sh"
[ $# -eq 2 ] || { echo "usage: $prog FACES.facet OUTDIR" >&2; exit 2; }
faces=$1 out=$2
[ -f "$faces" ] || fail "no such stream: $faces"
stage eda facet-eda --out "$tmp/eda" < "$faces"
publish "$tmp/eda" "$out"
say "EDA report: $out/index.html"
