#!/usr/bin/env bash
# train.sh FACES.facet OUTDIR — train on the train part, validate on the val part.
# Writes OUTDIR/model.facet and OUTDIR/model.facet.metrics.
#   FACET_CONFIG (default examples/models/multitask.cfg), FACET_EPOCHS (default: the config's),
#   FACET_TRAIN_SEED (default 1), FACET_TRAIN_ARGS (extra facet-train options)
. "$(dirname "$0")/lib.sh"
[ $# -eq 2 ] || { echo "usage: $prog FACES.facet OUTDIR" >&2; exit 2; }
faces=$1 out=$2
config=${FACET_CONFIG:-$repo/examples/models/multitask.cfg}
[ -f "$faces" ] || fail "no such stream: $faces"
[ -f "$config" ] || fail "no such config: $config"
mkdir -p "$out"
extra=()
[ -n "${FACET_EPOCHS:-}" ] && extra+=(--epochs "$FACET_EPOCHS")
# shellcheck disable=SC2206
[ -n "${FACET_TRAIN_ARGS:-}" ] && extra+=($FACET_TRAIN_ARGS)
stage take-val facet-take -q val < "$faces" > "$tmp/val.facet"
stage take-train facet-take -q train < "$faces" |
	stage train facet-train --config "$config" --val "$tmp/val.facet" \
		--seed "${FACET_TRAIN_SEED:-1}" --out "$tmp/model.facet" \
		--metrics "$tmp/model.facet.metrics" "${extra[@]}"
cp "$config" "$tmp/model.cfg"
publish "$tmp/model.facet.metrics" "$out/model.facet.metrics"
publish "$tmp/model.cfg" "$out/model.cfg"
publish "$tmp/model.facet" "$out/model.facet"
say "model: $out/model.facet"
