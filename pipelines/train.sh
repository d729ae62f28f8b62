#!/usr/bin/env bash
# train.sh FACES.facet OUTDIR — train on the train part, validate on the val part.
# Writes OUTDIR/model.facet and OUTDIR/model.facet.metrics.
#   FACET_CONFIG (default examples/models/multitask.cfg; several, separated by ':', train one net
#   each), FACET_EPOCHS (default: the config's; several, separated by ':', go with the configs in
#   order, the last one for the rest), FACET_TRAIN_PARTS (default "train"; "train val" trains on
#   both parts with no validation, so facet-train monitors the training loss: for a recipe whose
#   schedule validation has already fixed; the test part is refused), FACET_TRAIN_SEED (default
#   1), FACET_TRAIN_ARGS (extra facet-train options), FACET_MEMBERS (default: the number of
#   configs): train that many nets, with seeds FACET_TRAIN_SEED, FACET_TRAIN_SEED+1, ..., one
#   after the other, net K with the K-th config (the list starts again when it runs out), and
#   write them into model.facet one after the other: an ensemble, whose predictions facet-score
#   averages (facet-model(5)). model.facet.metrics and model.cfg are then the first net's,
#   model.facet.memberK.metrics and model.memberK.cfg the K-th's (those of an earlier run with
#   more members are removed). A net whose config has a head with distill= (facet-config(5))
#   learns from the nets trained before it: their ensemble scores the training faces
#   (facet-score FACET_TEACHER_ARGS, default --flip) on the way into facet-train.
#   FACET_RANKS (default 1): train each net on that many processes, mpirun -np FACET_RANKS
#   facet-train --threads 1 (facet-train(1), RUNNING UNDER MPIRUN; a --threads in
#   FACET_TRAIN_ARGS wins); FACET_HOSTS: mpirun's --host list (host[:slots],...), this host
#   first, for rank 0 writes the model; the training part is then written into OUTDIR, which
#   every host must see at the same path (a shared filesystem). FACET_MPIRUN_ARGS: more
#   mpirun options.
. "$(dirname "$0")/lib.sh"
[ $# -eq 2 ] || { echo "usage: $prog FACES.facet OUTDIR" >&2; exit 2; }
faces=$1 out=$2
IFS=: read -r -a configs <<< "${FACET_CONFIG:-$repo/examples/models/multitask.cfg}"
members=${FACET_MEMBERS:-${#configs[@]}} seed=${FACET_TRAIN_SEED:-1}
[ -f "$faces" ] || fail "no such stream: $faces"
for c in "${configs[@]}"; do [ -f "$c" ] || fail "no such config: ${c:-(empty)}"; done
[[ "$members" =~ ^[1-9][0-9]?$ ]] && [ "$members" -le 64 ] ||
	fail "FACET_MEMBERS must be a number from 1 to 64, not '$members'"
[[ "$seed" =~ ^[0-9]+$ ]] || fail "FACET_TRAIN_SEED must be a whole number, not '$seed'"
ranks=${FACET_RANKS:-1}
[[ "$ranks" =~ ^[1-9][0-9]*$ ]] || fail "FACET_RANKS must be a number from 1, not '$ranks'"
IFS=: read -r -a epochs <<< "${FACET_EPOCHS:-}"
for e in "${epochs[@]}"; do
	[[ "$e" =~ ^[1-9][0-9]*$ ]] || # the range is facet-train's to check
		fail "FACET_EPOCHS must be numbers from 1, separated by ':', not '$FACET_EPOCHS'"
done
read -r -a parts <<< "${FACET_TRAIN_PARTS:-train}"
[ ${#parts[@]} -gt 0 ] || fail "FACET_TRAIN_PARTS names no part"
validate=1
for p in "${parts[@]}"; do
	case $p in
	train) ;;
	val) validate=0 ;;
	*) fail "FACET_TRAIN_PARTS may name train and val, not '$p' (the test part is for the report)" ;;
	esac
done
mkdir -p "$out"
# Under mpirun every rank reads the training part from a file (stdin reaches rank 0 only): in
# the temp folder, or in OUTDIR when ranks run on other hosts.
mpi=()
if [ "$ranks" -gt 1 ]; then
	command -v mpirun > /dev/null || fail "FACET_RANKS=$ranks needs mpirun (Debian openmpi-bin)"
	part=$tmp/train-part.facet
	mpi=(mpirun -np "$ranks" --bind-to none)
	if [ -n "${FACET_HOSTS:-}" ]; then
		mpi+=(--host "$FACET_HOSTS")
		part=$(cd "$out" && pwd)/.train-part.$$.facet
		trap 'rm -rf "$tmp" "$part"' EXIT
	fi
	# shellcheck disable=SC2206
	[ -n "${FACET_MPIRUN_ARGS:-}" ] && mpi+=($FACET_MPIRUN_ARGS)
	mpi+=("$(command -v facet-train)" --threads 1 --train "$part")
	# mpirun refuses root unless told twice
	[ "$(id -u)" -ne 0 ] || export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi
extra=()
# shellcheck disable=SC2206
[ -n "${FACET_TRAIN_ARGS:-}" ] && extra+=($FACET_TRAIN_ARGS)
if [ "$validate" = 1 ]; then
	stage take-val facet-take -q val < "$faces" > "$tmp/val.facet"
	extra+=(--val "$tmp/val.facet")
fi
read -r -a tviews <<< "${FACET_TEACHER_ARGS---flip}"
# member k's training part, and its training (config, k, name and ep are the loop's)
take_train() { stage take-train facet-take -q "${parts[@]}" < "$faces"; }
fit() {
	local run=(facet-train)
	if [ ${#mpi[@]} -gt 0 ]; then
		cat > "$part"
		run=("${mpi[@]}")
	fi
	stage "$name" "${run[@]}" --config "$config" --seed "$((seed + k - 1))" \
		--out "$tmp/member$k.facet" --metrics "$tmp/member$k.metrics" "${ep[@]}" "${extra[@]}"
}
: > "$tmp/model.facet" # the nets trained so far, in order: the teacher of a net that distills
for k in $(seq 1 "$members"); do
	config=${configs[(k - 1) % ${#configs[@]}]}
	ep=()
	if [ ${#epochs[@]} -gt 0 ]; then
		i=$((k - 1 < ${#epochs[@]} ? k - 1 : ${#epochs[@]} - 1))
		ep=(--epochs "${epochs[i]}")
	fi
	name=train
	[ "$members" -gt 1 ] &&
		name="train (member $k of $members, seed $((seed + k - 1)), ${config##*/})"
	# facet-train says what the config is: a head learns from a teacher when it writes distill=
	canon=$(facet-train --print-config --config "$config") || fail "cannot read $config"
	if grep -q '^\[head [a-z]*\] .*distill=' <<< "$canon"; then
		[ "$k" -gt 1 ] ||
			fail "$config learns from a teacher (distill=), but no net is trained before it"
		take_train |
			stage "teacher (nets 1-$((k - 1)) score the training faces)" \
				facet-score -q "${tviews[@]}" --model "$tmp/model.facet" | fit
	else
		take_train | fit
	fi
	rm -f "$tmp/member$k.facet.ckpt"
	cp "$config" "$tmp/member$k.cfg"
	cat "$tmp/member$k.facet" >> "$tmp/model.facet"
done
rm -f "$out"/model.facet.member*.metrics "$out"/model.member*.cfg # an earlier run's members
publish "$tmp/member1.metrics" "$out/model.facet.metrics"
publish "$tmp/member1.cfg" "$out/model.cfg"
for k in $(seq 2 "$members"); do
	publish "$tmp/member$k.metrics" "$out/model.facet.member$k.metrics"
	publish "$tmp/member$k.cfg" "$out/model.member$k.cfg"
done
publish "$tmp/model.facet" "$out/model.facet"
if [ "$members" -gt 1 ]; then
	say "model: $out/model.facet (an ensemble of $members nets, seeds $seed-$((seed + members - 1)))"
else
	say "model: $out/model.facet"
fi
