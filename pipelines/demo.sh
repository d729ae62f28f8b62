#!/usr/bin/env bash
# demo.sh [OUTDIR] — the whole flow end to end, quickly: on $FACET_DATA when it is set (a folder
# of UTKFace faces; short training of the shipped model's 64x64 net), else on faces that
# facet-synth generates. Ends by printing a few predictions of the shipped model (on real faces
# from the test part with their labels, through facet predict) and where the reports are.
. "$(dirname "$0")/lib.sh"
out=${1:-$repo/demo-out}
mkdir -p "$out"
real=0
if [ -n "${FACET_DATA:-}" ] && [ -d "$FACET_DATA" ]; then
	real=1
	data=$FACET_DATA
	export FACET_SIZE=${FACET_SIZE:-64x64}
	export FACET_CONFIG=${FACET_CONFIG:-$repo/examples/models/multitask-light-readout.cfg}
	export FACET_EPOCHS=${FACET_EPOCHS:-6}
	say "running on the faces in $FACET_DATA (short training: $(basename "$FACET_CONFIG"), $FACET_EPOCHS epochs)"
else
	say "FACET_DATA is not set: running on 4000 synthetic faces from facet-synth"
	stage synth facet-synth -n 4000 --seed 1 --size 32x32 > "$tmp/synth.facet"
	data=$tmp/synth.facet
	export FACET_CONFIG=${FACET_CONFIG:-$repo/examples/models/tiny.cfg}
	export FACET_EPOCHS=${FACET_EPOCHS:-8}
fi
"$here/all.sh" "$data" "$out"

# A few predictions of the shipped model, one line per face from facet predict, with the face's
# labels beside. On real data: five faces spread over the test part, decoded again from their
# files as a user's photos would be; else five new synthetic faces, as a stream.
# (Called after ||, where set -e does not act: every step returns its own failure.)
model=$repo/models/facet-utk64.facet
rc=0
labels() { # stream of records -> id, age, gender, ethnicity of N of them spread over it
	facet-dump | jq -r '[.id, .age, .gender, .ethnicity] | map(. // "?") | @tsv' |
		awk -v n=5 '{ a[NR] = $0 } END { for (i = 0; i < n && i < NR; i++) print a[int(i * NR / n) + 1] }'
}
shipped() {
	local seed=${FACET_SEED:-7} ratios=${FACET_RATIOS:-80:10:10} files=() id rest
	if [ "$real" = 1 ]; then
		stage take facet-take -q test < "$out/faces.facet" | labels > "$tmp/labels.tsv" || return
		[ -s "$tmp/labels.tsv" ] || { say "the test part is empty: no faces to show the shipped model"; return 0; }
		local seen="a split other than the shipped model's: it may have trained on these"
		[ "$seed:$ratios" = 7:80:10:10 ] && seen="the shipped model's own split: it never trained on these"
		say "the shipped model on $(wc -l < "$tmp/labels.tsv") faces of the test part (split seed $seed, $seen):"
		while IFS=$'\t' read -r id rest; do files+=("$data/$id"); done < "$tmp/labels.tsv"
		stage predict facet predict --aligned --model "$model" "${files[@]}" > "$tmp/pred.tsv" || return
	else
		say "the shipped model on new synthetic faces (not faces like UTKFace's: its answers mean little):"
		stage synth facet-synth -q -n 5 --seed 5 --size 64x64 > "$tmp/five.facet" || return
		labels < "$tmp/five.facet" > "$tmp/labels.tsv" || return
		stage predict facet predict --model "$model" - < "$tmp/five.facet" > "$tmp/pred.tsv" || return
	fi
	awk -F'\t' 'BEGIN { split("male female", G, " "); split("White Black Asian Indian Other", E, " ") }
		NR == FNR { g = $3 == "?" ? "?" : G[$3 + 1]; e = $4 == "?" ? "?" : E[$4 + 1]
		            lab[$1] = $2 ", " g ", " e; next }
		$1 in lab { print $0 "\t(labelled " lab[$1] ")" }' "$tmp/labels.tsv" "$tmp/pred.tsv" >&2
}
if [ -f "$model" ]; then
	shipped || { rc=$?; say "could not show the shipped model's predictions (exit $rc)"; }
else
	say "no shipped model at $model: skipping its predictions"
fi
say "EDA:    $out/eda/index.html"
say "report: $out/report/index.html"
exit "$rc"
