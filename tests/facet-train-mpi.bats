#!/usr/bin/env bats
# mpirun -np N facet-train: one model trained by N processes (facet-train(1), RUNNING UNDER
# MPIRUN), on facet-synth faces, one thread a rank.
load helper
load sshd

TINY="$REPO/examples/models/tiny.cfg"
MT() { $PY "$REPO/tests/lib/model_tool.py" "$@"; }
# mpirun as the tests need it: as root too, more ranks than cores if the machine is small, no
# binding to cores (one rank's threads would share a core), and never past 120 s. Under the
# sanitizers, Open MPI's libraries have no frame pointers: LeakSanitizer needs the slow
# unwinder to see that what they keep past MPI_Finalize is theirs (common/diag.c suppresses it),
# on every rank, local or started over ssh.
mpi() {
	local asan=()
	sanitized && asan=(-x ASAN_OPTIONS)
	OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 timeout 120 \
		mpirun --oversubscribe --bind-to none "${asan[@]}" "$@"
}

setup_file() {
	cd "$BATS_FILE_TMPDIR"
	facet-synth -q -n 1200 --seed 1 --size 32x32 > train.facet
	facet-synth -q -n 300 --seed 2 --size 32x32 > val.facet
}

setup() {
	command -v mpirun > /dev/null || skip "mpirun not installed (Debian openmpi-bin)"
	need_py msgpack msgpack_numpy numpy
	cd "$BATS_TEST_TMPDIR"
	ln -s "$BATS_FILE_TMPDIR/train.facet" "$BATS_FILE_TMPDIR/val.facet" .
	if sanitized; then
		export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}fast_unwind_on_malloc=0"
		export FACET_MPIRUN_ARGS="-x ASAN_OPTIONS"
	fi
}

@test "mpirun -np 1: the very model a plain run writes, byte for byte less the timings" {
	facet-train -q --config "$TINY" --val val.facet --epochs 3 --seed 3 --threads 2 \
		--out plain.facet < train.facet
	run --separate-stderr mpi -np 1 "$FACET_BIN/facet-train" --config "$TINY" --val val.facet \
		--epochs 3 --seed 3 --threads 2 --out one.facet --train train.facet
	assert_success
	[[ "$stderr" == "facet-train: training on 1 process x 2 threads"* ]] || fail "$stderr"
	cmp <(MT untimed plain.facet) <(MT untimed one.facet)
	cmp <(MT untimed plain.facet.ckpt) <(MT untimed one.facet.ckpt)
	# stdin reaches the one rank, as without mpirun
	mpi -np 1 "$FACET_BIN/facet-train" -q --config "$TINY" --val val.facet --epochs 3 --seed 3 \
		--threads 2 --out stdin.facet < train.facet
	cmp <(MT untimed plain.facet) <(MT untimed stdin.facet)
}

@test "mpirun -np 2: every rank ends with the same weights; the model scores like any other" {
	run --separate-stderr mpi -np 2 -x FACET_TRAIN_RANK_DUMP="$PWD/rank" \
		"$FACET_BIN/facet-train" --config "$TINY" --train train.facet --val val.facet \
		--epochs 2 --seed 3 --threads 1 --out m.facet
	assert_success
	[ -z "$output" ]
	[[ "$stderr" == "facet-train: training on 2 ranks (Open MPI, 2 on this host) x 1 thread each"* ]] ||
		fail "$stderr"
	[[ "$stderr" == *"batch 32 (16 a rank), 37 steps per epoch"* ]]
	[[ "$stderr" == *"s in MPI_Allreduce"* ]]
	[ "$(grep -c 'epoch 2/2' <<< "$stderr")" -eq 1 ] # rank 0 alone speaks
	MT same-params rank.0 rank.1
	MT same-params rank.0 m.facet # no earlier epoch was better: the model is the last weights
	facet-score --model m.facet < val.facet > scored.facet
	run $PY -c 'import msgpack, sys
print(sum("pred" in r for r in msgpack.Unpacker(open(sys.argv[1], "rb"), raw=False)))' scored.facet
	assert_output 300
}

@test "mpirun -np 3, a batch of 32: ranks take 11, 11 and 10 and still agree" {
	run --separate-stderr mpi -np 3 -x FACET_TRAIN_RANK_DUMP="$PWD/rank" \
		"$FACET_BIN/facet-train" --config "$TINY" --train train.facet --epochs 1 --seed 3 \
		--threads 1 --out m.facet
	assert_success
	[[ "$stderr" == *"batch 32 (10 or 11 a rank)"* ]] || fail "$stderr"
	MT same-params rank.0 rank.1
	MT same-params rank.0 rank.2
}

# How far apart two runs may land: six single-process runs of this config (seeds 1-6, 8 epochs,
# the data above) ended with validation loss 0.87-1.12, age MAE 7.4-8.5 years, gender 0.81-0.85
# and ethnicity 0.87-0.93: spreads of 0.25, 1.15, 0.043 and 0.06. Two ranks draw the same
# batches and augmentation as one process with the same seed; only the batch-norm statistics
# (over 16 samples, not 32), the dropout draws and the order of the sums differ, so they must
# land within those spreads of the single process.
@test "mpirun -np 2 reaches the validation figures of one process with the same batch" {
	facet-train -q --config "$TINY" --train train.facet --val val.facet --epochs 8 --seed 3 \
		--threads 1 --out one.facet
	mpi -np 2 "$FACET_BIN/facet-train" -q --config "$TINY" --train train.facet \
		--val val.facet --epochs 8 --seed 3 --threads 1 --out two.facet
	MT metrics one.facet.metrics | tail -n 1 > one.json
	MT metrics two.facet.metrics | tail -n 1 > two.json
	jq -s -e '.[0].val as $a | .[1].val as $b |
		($a.loss - $b.loss | fabs) <= 0.25 and ($a.age_mae - $b.age_mae | fabs) <= 1.15 and
		($a.gender_acc - $b.gender_acc | fabs) <= 0.043 and
		($a.ethnicity_acc - $b.ethnicity_acc | fabs) <= 0.06 and
		$b.age_mae < 11 and $b.gender_acc > 0.75 and $b.ethnicity_acc > 0.7' one.json two.json ||
		fail "one process: $(cat one.json); two ranks: $(cat two.json)"
}

# 1200 faces in batches of 32: 37 steps an epoch, so step 84 is step 10 of epoch 3.

@test "rank 1 killed: the job stops at once, says which checkpoint is left, and resumes" {
	mpi -np 2 "$FACET_BIN/facet-train" -q --config "$TINY" --train train.facet \
		--val val.facet --epochs 5 --seed 9 --threads 1 --out a.facet
	SECONDS=0
	run --separate-stderr mpi -np 2 -x FACET_TRAIN_RAISE=KILL@84:1 "$FACET_BIN/facet-train" -q \
		--config "$TINY" --train train.facet --val val.facet --epochs 5 --seed 9 --threads 1 \
		--out b.facet
	[ "$status" -ne 0 ] && [ "$status" -ne 124 ] || fail "status $status"
	[ "$SECONDS" -lt 60 ]
	[[ "$stderr" == *"facet-train: mpirun is ending the job: another rank has stopped (its message and mpirun's say why); the last checkpoint, b.facet.ckpt, was written after epoch 2 (continue with --resume b.facet.ckpt)"* ]] ||
		fail "$stderr"
	[[ "$stderr" == *"process rank 1"*"signal 9"* ]] # mpirun's own words name the rank
	[ ! -e b.facet ]
	run MT get b.facet.ckpt train.epochs_done
	assert_output 2
	run --separate-stderr mpi -np 2 "$FACET_BIN/facet-train" --resume b.facet.ckpt \
		--train train.facet --val val.facet --threads 1
	assert_success
	[[ "$stderr" == *"resuming b.facet.ckpt at epoch 3, step 0"* ]] || fail "$stderr"
	MT same-params a.facet b.facet
}

@test "SIGTERM on rank 1 mid-epoch: every rank stops after the step, rank 0 saves; resumes exactly" {
	mpi -np 2 "$FACET_BIN/facet-train" -q --config "$TINY" --train train.facet --epochs 3 \
		--seed 4 --threads 1 --out a.facet
	run --separate-stderr mpi -np 2 -x FACET_TRAIN_RAISE=TERM@50:1 "$FACET_BIN/facet-train" -q \
		--config "$TINY" --train train.facet --epochs 3 --seed 4 --threads 1 --out b.facet
	assert_equal "$status" 143
	[[ "$stderr" == "facet-train: stopped by signal 15 at epoch 2, step 14: checkpoint b.facet.ckpt (resume with --resume b.facet.ckpt)"* ]] ||
		fail "$stderr"
	run MT get b.facet.ckpt checkpoint.step
	assert_output 14
	mpi -np 2 "$FACET_BIN/facet-train" -q --resume b.facet.ckpt --train train.facet --threads 1
	MT same-params a.facet b.facet # the running statistics and the training sums too
}

@test "under mpirun the training stream must come from --train; ranks must read the same one" {
	run --separate-stderr mpi -np 2 "$FACET_BIN/facet-train" --config "$TINY" < train.facet
	[ "$status" -ne 0 ]
	[[ "$stderr" == *"facet-train: under mpirun give --train FILE: every rank reads it, and stdin reaches rank 0 only"* ]] ||
		fail "$stderr"
	# MPMD: rank 1 is given other faces
	facet-synth -q -n 1200 --seed 7 --size 32x32 > other.facet
	run --separate-stderr mpi -np 1 "$FACET_BIN/facet-train" --config "$TINY" \
		--train train.facet : -np 1 "$FACET_BIN/facet-train" --config "$TINY" \
		--train other.facet
	[ "$status" -ne 0 ] && [ "$status" -ne 124 ] || fail "status $status"
	[[ "$stderr" == *"facet-train (rank 1): the training stream differs from rank 0's: every rank must read the same data (other.facet)"* ]] ||
		fail "$stderr"
	[ ! -e model.facet ]
	run --separate-stderr env FACET_TRAIN_RAISE=TERM@1:2 facet-train --config "$TINY" < train.facet
	assert_failure 2
	[[ "$stderr" == "facet-train: FACET_TRAIN_RAISE names rank 2, but the job has 1"* ]]
}

@test "mpirun over ssh: a rank on another host (a loopback sshd) trains the same model" {
	need_sshd
	facet_sshd_start
	mpi -np 2 "$FACET_BIN/facet-train" -q --config "$TINY" --train "$PWD/train.facet" \
		--epochs 2 --seed 3 --threads 1 --out "$PWD/local.facet"
	run --separate-stderr mpi -np 2 --host "localhost,$FACET_TEST_HOST" \
		--mca plm_rsh_agent "$FACET_TEST_SSH" "$FACET_BIN/facet-train" --config "$TINY" \
		--train "$PWD/train.facet" --epochs 2 --seed 3 --threads 1 --out "$PWD/remote.facet"
	facet_sshd_stop
	assert_success
	# one rank on each "host": mpirun started the second through ssh
	[[ "$stderr" == "facet-train: training on 2 ranks (Open MPI, 1 on this host) x 1 thread each"* ]] ||
		fail "$stderr"
	MT same-params local.facet remote.facet
}

@test "pipelines/train.sh with FACET_RANKS=2 trains each net under mpirun, a thread a rank" {
	facet-synth -q -n 300 --seed 2 --size 32x32 | facet-split -q --seed 7 > faces.facet
	run --separate-stderr env FACET_CONFIG="$TINY" FACET_EPOCHS=1 FACET_RANKS=2 \
		FACET_MPIRUN_ARGS="--oversubscribe ${FACET_MPIRUN_ARGS:-}" "$REPO/pipelines/train.sh" \
		faces.facet out
	assert_success
	[[ "$stderr" == *"facet-train: training on 2 ranks (Open MPI, 2 on this host) x 1 thread each"* ]] ||
		fail "$stderr"
	[[ "$stderr" == *"train.sh: model: out/model.facet"* ]]
	facet-score -q --model out/model.facet < faces.facet > /dev/null
	run --separate-stderr env FACET_RANKS=two "$REPO/pipelines/train.sh" faces.facet out2
	assert_failure 1
	assert_equal "$stderr" "train.sh: FACET_RANKS must be a number from 1, not 'two'"
}

@test "pipelines/train.sh with FACET_HOSTS: a rank on another host reads the part from OUTDIR" {
	need_sshd
	facet_sshd_start
	facet-synth -q -n 300 --seed 2 --size 32x32 | facet-split -q --seed 7 > faces.facet
	run --separate-stderr env FACET_CONFIG="$TINY" FACET_EPOCHS=1 FACET_RANKS=2 \
		FACET_HOSTS="localhost,$FACET_TEST_HOST" OMPI_MCA_plm_rsh_agent="$FACET_TEST_SSH" \
		"$REPO/pipelines/train.sh" faces.facet out
	facet_sshd_stop
	assert_success
	[[ "$stderr" == *"facet-train: training on 2 ranks (Open MPI, 1 on this host) x 1 thread each"* ]] ||
		fail "$stderr"
	[ -s out/model.facet ]
	[ -z "$(find out -name '.train-part.*')" ] # the shared part is removed
}
