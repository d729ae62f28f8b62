#!/usr/bin/env bats
# facet-train on facet-synth data: it learns, checkpoints resume exactly, bad input is refused.
load helper

TINY="$REPO/examples/models/tiny.cfg"
MT() { $PY "$REPO/tests/lib/model_tool.py" "$@"; }

setup_file() {
	cd "$BATS_FILE_TMPDIR"
	facet-synth -q -n 1200 --seed 1 --size 32x32 > train.facet
	facet-synth -q -n 300 --seed 2 --size 32x32 > val.facet
}

setup() {
	need_py msgpack msgpack_numpy numpy
	cd "$BATS_TEST_TMPDIR"
	ln -s "$BATS_FILE_TMPDIR/train.facet" "$BATS_FILE_TMPDIR/val.facet" .
}

@test "a tiny multi-task net learns facet-synth faces far better than chance" {
	run --separate-stderr facet-train --config "$TINY" --val val.facet --epochs 10 --seed 3 \
		--out m.facet < train.facet
	assert_success
	[ -z "$output" ]
	[[ "$stderr" == *"line 7 [conv] defaults: size=3 stride=1 pad=same"* ]] # defaults echoed
	[[ "$stderr" == *"epoch 10/10: lr "* ]]
	[ -s m.facet ] && [ -s m.facet.ckpt ] && [ -s m.facet.metrics ]
	MT metrics m.facet.metrics > metrics.json
	[ "$(wc -l < metrics.json)" -eq 10 ]
	# chance: age MAE ~22 years (uniform 1..90), gender 0.5, ethnicity 0.2
	tail -n 1 metrics.json | jq -e '.val.age_mae < 11 and .val.gender_acc > 0.75 and
		.val.ethnicity_acc > 0.7 and .train.loss < 1.5' ||
		fail "did not learn: $(tail -n 1 metrics.json)"
	# the loss went down
	jq -s -e '.[9].train.loss < 0.6 * .[0].train.loss' metrics.json
}

@test "the metrics file: one record per epoch with exactly the documented keys" {
	facet-train -q --config "$TINY" --val val.facet --epochs 2 --out m.facet < train.facet
	run bash -c "$PY '$REPO/tests/lib/model_tool.py' metrics m.facet.metrics | jq -c '[keys, (.train|keys), (.val|keys), .epoch]'"
	assert_success
	assert_line --index 0 '[["epoch","images_per_s","lr","time_s","train","val"],["age_mae","ethnicity_acc","gender_acc","loss"],["age_mae","ethnicity_acc","gender_acc","loss"],1]'
	assert_line --index 1 --partial ',2]'
	# without --val there is no "val"; a head the net lacks has no keys
	sed -e '/^\[head age\]/,/^$/d' -e '/^\[head ethnicity\]/,/^$/d' "$TINY" > gender.cfg
	facet-train -q --config gender.cfg --epochs 1 --metrics g.metrics < train.facet
	run bash -c "$PY '$REPO/tests/lib/model_tool.py' metrics g.metrics | jq -c '[keys, (.train|keys)]'"
	assert_output '[["epoch","images_per_s","lr","time_s","train"],["gender_acc","loss"]]'
	[ -s model.facet ] && [ -s model.facet.ckpt ] # the default --out
}

# 1200 faces in batches of 32: 37 steps an epoch, so step 84 is step 10 of epoch 3.

@test "SIGKILL mid-run, then --resume: the same model as an uninterrupted run" {
	facet-train -q --config "$TINY" --val val.facet --epochs 5 --seed 9 --out a.facet < train.facet
	# killed after 84 steps: the checkpoint on disk is the one written after epoch 2
	run env FACET_TRAIN_RAISE=KILL@84 facet-train -q --config "$TINY" --val val.facet \
		--epochs 5 --seed 9 --out b.facet < train.facet
	assert_equal "$status" 137
	[ ! -e b.facet ]
	run MT get b.facet.ckpt train.epochs_done
	assert_output 2
	run --separate-stderr facet-train --resume b.facet.ckpt --val val.facet < train.facet
	assert_success
	[[ "$stderr" == *"resuming b.facet.ckpt at epoch 3, step 0"* ]] || fail "$stderr"
	MT same-params a.facet b.facet
	cmp <(MT metrics a.facet.metrics | jq -c 'del(.time_s, .images_per_s)') \
		<(MT metrics b.facet.metrics | jq -c 'del(.time_s, .images_per_s)')
}

@test "SIGTERM mid-epoch: finishes the step, saves, exits 143; resuming gives the same model" {
	facet-train -q --config "$TINY" --epochs 3 --seed 4 --out a.facet < train.facet
	# the signal comes after step 50, during step 51: step 14 of epoch 2
	run --separate-stderr env FACET_TRAIN_RAISE=TERM@50 facet-train -q --config "$TINY" \
		--epochs 3 --seed 4 --out b.facet < train.facet
	assert_equal "$status" 143
	assert_equal "$stderr" "facet-train: stopped by signal 15 at epoch 2, step 14: checkpoint b.facet.ckpt (resume with --resume b.facet.ckpt)"
	[ ! -e b.facet ]
	run MT get b.facet.ckpt checkpoint.step
	assert_output 14
	run --separate-stderr facet-train --resume b.facet.ckpt < train.facet
	assert_success
	[[ "$stderr" == *"resuming b.facet.ckpt at epoch 2, step 14"* ]] || fail "$stderr"
	MT same-params a.facet b.facet
}

@test "checkpoint_steps writes mid-epoch checkpoints that resume exactly" {
	sed 's/^\[train\] /[train] checkpoint_steps=5 /' "$TINY" > steps.cfg
	facet-train -q --config steps.cfg --epochs 2 --seed 5 --out a.facet < train.facet
	# killed after step 12: the checkpoint on disk is step 10's, mid-epoch
	run env FACET_TRAIN_RAISE=KILL@12 facet-train -q --config steps.cfg --epochs 2 --seed 5 \
		--out b.facet < train.facet
	assert_equal "$status" 137
	[ ! -e b.facet ]
	run --separate-stderr facet-train --resume b.facet.ckpt < train.facet
	assert_success
	[[ "$stderr" == *"resuming b.facet.ckpt at epoch 1, step 10"* ]] || fail "$stderr"
	MT same-params a.facet b.facet
}

@test "images of another geometry are converted as the model records" {
	facet-synth -q -n 200 --seed 6 --size 40x48 --gray > grey.facet
	run --separate-stderr facet-train --config "$TINY" --epochs 1 --out g.facet < grey.facet
	assert_success
	[[ "$stderr" == *"images are 40x48x1, the net takes 32x32x3: converting them"* ]]
}

@test "bad input: a config typo names the file and line" {
	sed 's/^\[conv\] filters=32 /[conv] filtres=32 /' "$TINY" > typo.cfg
	run --separate-stderr facet-train -q --config typo.cfg < train.facet
	assert_failure 1
	[ -z "$output" ]
	[ "$stderr" = "facet-train: unknown key 'filtres' in [conv] (known: filters, size, stride, pad, activation) (typo.cfg, line 9)" ]
}

@test "label smoothing: recorded in the model, still learns, and is less sure of itself" {
	sed -e 's/^\[head gender\] loss=bce$/& smoothing=0.3/' \
		-e 's/^\[head ethnicity\] loss=ce$/& smoothing=0.3/' "$TINY" > ls.cfg
	[ "$(grep -c 'smoothing=0.3$' ls.cfg)" -eq 2 ]
	facet-train -q --config "$TINY" --epochs 6 --seed 3 --out p.facet < train.facet
	facet-train -q --config ls.cfg --epochs 6 --seed 3 --out s.facet < train.facet
	MT get s.facet config | jq -r . | grep -q '^\[head ethnicity\] loss=ce weight=1 smoothing=0.3$'
	MT get p.facet config | jq -r . | grep -q '^\[head ethnicity\] loss=ce weight=1 smoothing=0$'
	# on held-out faces: accuracy, the mean top ethnicity probability, the mean gender certainty
	summary() {
		facet-score -q --model "$1" < val.facet | facet-dump -q | jq -s '{
			acc: ([.[] | (.pred.ethnicity | index(max)) == .ethnicity] | (map(select(.)) | length) / length),
			top: ([.[] | .pred.ethnicity | max] | add / length),
			sure: ([.[] | .pred.gender[1] - 0.5 | fabs] | add / length)}'
	}
	p=$(summary p.facet) s=$(summary s.facet)
	jq -n -e --argjson p "$p" --argjson s "$s" \
		'$s.acc > 0.6 and $s.top < $p.top - 0.05 and $s.sure < $p.sure - 0.02' ||
		fail "plain $p, smoothed $s"
	# the age head takes no smoothing
	sed 's/^\[head age\] loss=mse$/& smoothing=0.1/' "$TINY" > bad.cfg
	run --separate-stderr facet-train -q --config bad.cfg < train.facet
	assert_failure 1
	[ "$stderr" = "facet-train: [head age] smoothing applies to loss=bce and loss=ce only (bad.cfg, line 16)" ]
}

@test "rotate and scale: recorded in the model, still learns; at 0 they change nothing, bit for bit" {
	sed 's/^        flip=1 shift=2$/& rotate=15 scale=0.1/' "$TINY" > rot.cfg
	grep -q 'rotate=15 scale=0.1$' rot.cfg
	facet-train -q --config rot.cfg --epochs 6 --seed 3 --out r.facet < train.facet
	MT get r.facet config | jq -r . | grep -q '^\[train\] .* contrast=0 rotate=15 scale=0.1 '
	local r
	r=$(facet-score -q --model r.facet < val.facet | facet-dump -q |
		jq -s '[.[] | (.pred.ethnicity | index(max)) == .ethnicity] | (map(select(.)) | length) / length')
	jq -n -e --argjson r "$r" '$r > 0.6' || fail "turned and zoomed, ethnicity accuracy $r"
	# at 0 they draw nothing and are not written: the model is the one made without the keys
	sed 's/^        flip=1 shift=2$/& rotate=0 scale=0/' "$TINY" > off.cfg
	grep -q 'rotate=0 scale=0$' off.cfg
	facet-train -q --config "$TINY" --epochs 2 --seed 3 --out p.facet < train.facet
	facet-train -q --config off.cfg --epochs 2 --seed 3 --out z.facet < train.facet
	MT same-params p.facet z.facet
	[ "$(MT get z.facet config)" = "$(MT get p.facet config)" ]
	! MT get z.facet config | jq -r . | grep -q 'rotate\|scale'
	sed -i 's/rotate=15/rotate=200/' rot.cfg
	run --separate-stderr facet-train -q --config rot.cfg < train.facet
	assert_failure 1
	[ "$stderr" = "facet-train: [train] rotate=200: out of range 0..180 (rot.cfg, line 27)" ]
}

@test "rotate=A turns each training image by up to A degrees: bars told apart by their angle" {
	# A bright bar on noise, horizontal for gender 0, vertical for 1, moved about a little. Turned
	# by up to 30 degrees the two kinds stay 60 degrees apart, and the net tells them apart; turned
	# by up to 90, each kind takes every angle and they look alike, so it cannot. Untouched (not
	# turning at all) or turned much further than asked, the second or the first would fail.
	bars() {
		$PY -c '
import sys, msgpack, msgpack_numpy, numpy as np
n, seed, S = int(sys.argv[1]), int(sys.argv[2]), 16
rng = np.random.default_rng(seed)
for i in range(n):
    im = rng.integers(0, 40, (S, S), dtype=np.uint8)
    dy, dx = rng.integers(-2, 3, 2)
    if i % 2 == 0:
        im[S // 2 - 1 + dy:S // 2 + 1 + dy, 2 + dx:S - 2 + dx] = 220
    else:
        im[2 + dy:S - 2 + dy, S // 2 - 1 + dx:S // 2 + 1 + dx] = 220
    sys.stdout.buffer.write(msgpack.packb({"id": "bar%d" % i, "image": im[:, :, None],
                                           "gender": i % 2}, default=msgpack_numpy.encode))' "$@"
	}
	bars 1000 1 > bars.facet
	bars 200 2 > bars-val.facet
	# the mean "female" probability of the vertical bars less that of the horizontal ones
	separation() {
		facet-score -q --model "$1" < bars-val.facet | facet-dump -q | jq -s '
			([.[] | select(.gender == 1) | .pred.gender[1]] | add / length) -
			([.[] | select(.gender == 0) | .pred.gender[1]] | add / length)'
	}
	local a s
	for a in 30 90; do
		printf '%s\n' '[input] width=16 height=16 channels=1' \
			'[conv] filters=8 activation=relu' '[maxpool]' '[conv] filters=16 activation=relu' \
			'[gap]' '[head gender] loss=bce' '[dense] units=1 activation=sigmoid' \
			"[train] optimizer=adam lr=0.01 batch=32 epochs=6 rotate=$a" > bars$a.cfg
		facet-train -q --config bars$a.cfg --seed 3 --out bars$a.facet < bars.facet
	done
	s=$(separation bars30.facet)
	jq -n -e "$s > 0.95" || fail "turned by up to 30 degrees, the bars are told apart by only $s"
	s=$(separation bars90.facet)
	jq -n -e "$s | fabs < 0.1" || fail "turned by up to 90 degrees, the bars are still told apart by $s"
}

@test "distillation: a head with distill= learns from the teacher's pred in its stream" {
	sed 's/^\[head ethnicity\] loss=ce$/& distill=1/' "$TINY" > kd.cfg
	[ "$(grep -c 'distill=1$' kd.cfg)" -eq 1 ]
	facet-train -q --config "$TINY" --epochs 6 --seed 3 --out t.facet < train.facet
	facet-score -q --model t.facet < train.facet > taught.facet
	# edit_pred STATEMENT: the taught stream with STATEMENT (Python, over record r, index i) run
	# on every record
	edit_pred() {
		$PY -c '
import sys, msgpack
out = sys.stdout.buffer
for i, r in enumerate(msgpack.Unpacker(sys.stdin.buffer, raw=False, max_buffer_size=1 << 30)):
    '"$1"'
    out.write(msgpack.packb(r, use_bin_type=True))' < taught.facet
	}
	# the teacher's ethnicity probabilities, each moved one class on: a student that learns
	# them alone (distill=1) names class e + 1 where the teacher names e
	edit_pred 'e = r["pred"]["ethnicity"]; r["pred"]["ethnicity"] = e[-1:] + e[:-1]' > moved.facet
	run --separate-stderr facet-train --config kd.cfg --val val.facet --epochs 6 --seed 3 \
		--out s.facet < moved.facet
	assert_success
	[[ "$stderr" == *'[head ethnicity] learns 1 of its target from the teacher'* ]]
	MT get s.facet config | jq -r . |
		grep -q '^\[head ethnicity\] loss=ce weight=1 smoothing=0 distill=1$'
	MT get s.facet config | jq -r . | grep -q '^\[head gender\] loss=bce weight=1 smoothing=0$'
	facet-score -q --model s.facet < val.facet | facet-dump -q | jq -s -e '
		[.[] | (.pred.ethnicity | index(max)) == ((.ethnicity + 1) % 5)] |
		(map(select(.)) | length) / length > 0.6' || fail "the student did not learn the moved classes"
	# a stream without the teacher's predictions is refused, and no model is written
	run --separate-stderr facet-train -q --config kd.cfg --out n.facet < train.facet
	assert_failure 1
	[[ "$stderr" == "facet-train: record 1 has no 'pred', the teacher's predictions that distill= learns from"* ]]
	[ ! -e n.facet ]
	# a teacher's row that is not a distribution is refused, naming the record
	edit_pred 'if i == 4: r["pred"]["ethnicity"] = [0.5] * 5' > bad.facet
	run --separate-stderr facet-train -q --config kd.cfg --out n.facet < bad.facet
	assert_failure 1
	[ "$stderr" = "facet-train: 'pred.ethnicity' sums to 2.5, not 1 (stdin, record 5)" ]
	[ ! -e n.facet ]
	# distill on the age head is a config error
	sed 's/^\[head age\] loss=mse$/& distill=0.5/' "$TINY" > bad.cfg
	run --separate-stderr facet-train -q --config bad.cfg < moved.facet
	assert_failure 1
	[ "$stderr" = "facet-train: [head age] distill applies to loss=bce and loss=ce only (bad.cfg, line 16)" ]
}

@test "bad input: a stream without labels" {
	facet-synth -q -n 50 --size 32x32 --missing 1 > nolabels.facet
	run --separate-stderr facet-train -q --config "$TINY" < nolabels.facet
	assert_failure 1
	[ -z "$output" ]
	[[ "$stderr" == "facet-train: no record of the training stream has a 'age' label"* ]]
}

@test "bad input: images of mixed sizes, an empty stream" {
	{ facet-synth -q -n 5 --size 32x32; facet-synth -q -n 5 --size 36x32; } > mixed.facet
	run --separate-stderr facet-train -q --config "$TINY" < mixed.facet
	assert_failure 1
	[ -z "$output" ]
	[ "$stderr" = "facet-train: image is 36x32x3 but the first was 32x32x3: images of mixed sizes (resize them with facet-resize) (stdin, record 6)" ]
	run --separate-stderr facet-train -q --config "$TINY" < /dev/null
	assert_failure 1
	[ "$stderr" = "facet-train: the training stream is empty (stdin)" ]
}

@test "bad input: NaN loss stops with a message and writes no model" {
	sed 's/^\[train\] .*lr=0.003/[train] optimizer=adam lr=1e30/' "$TINY" > nan.cfg
	grep -q 'lr=1e30' nan.cfg
	run --separate-stderr facet-train -q --config nan.cfg --out n.facet < train.facet
	assert_failure 1
	[ -z "$output" ]
	# step 1 takes every weight about 1e30 away from 0; step 2's activations overflow
	[ "$stderr" = "facet-train: the loss is not a number at epoch 1, step 2: stopping; no checkpoint was written before (lower the learning rate?)" ]
	[ ! -e n.facet ]
}

@test "bad input: weights that blow up after a checkpoint: stop, the checkpoint on disk stays usable" {
	# Two linear dense layers, Adam, a checkpoint every step. Adam's first step moves each weight
	# by about lr, and that checkpoint is written. At step 2 the output, some lr^2 times the
	# inputs, is still finite in float, and so is the loss (in double); the first layer's gradient,
	# lr times larger again, is not, and the update turns the weights to NaN. Every lr from 1e9 to
	# 1e17 stops at step 2 in this way: 1e13 is the middle of that range.
	printf '%s\n' '[input] width=32 height=32 channels=3' '[flatten]' '[head age] loss=mse' \
		'[dense] units=8' '[dense] units=1' \
		'[train] optimizer=adam lr=1e13 batch=32 checkpoint_steps=1' > blow.cfg
	run --separate-stderr facet-train -q --config blow.cfg --out b.facet < train.facet
	assert_failure 1
	[ -z "$output" ]
	[ "$stderr" = "facet-train: the weights are no longer finite at epoch 1, step 2: stopping; b.facet.ckpt is left as it was (lower the learning rate?)" ]
	[ ! -e b.facet ]
	run MT finite b.facet.ckpt
	assert_success
	run MT get b.facet.ckpt checkpoint.step
	assert_output 1
}

@test "bad input: resuming from a model, a truncated checkpoint, other data, another config" {
	facet-train -q --config "$TINY" --epochs 1 --out m.facet < train.facet
	run --separate-stderr facet-train -q --resume m.facet < train.facet
	assert_failure 1
	[ "$stderr" = "facet-train: m.facet is a model, not a checkpoint: nothing to resume" ]
	head -c 5000 m.facet.ckpt > cut.ckpt
	run --separate-stderr facet-train -q --resume cut.ckpt < train.facet
	assert_failure 1
	[ "$stderr" = "facet-train: truncated model file (cut.ckpt)" ]
	run --separate-stderr facet-train -q --resume m.facet.ckpt --epochs 2 < val.facet
	assert_failure 1
	[[ "$stderr" == "facet-train: the training stream differs from the one m.facet.ckpt was trained on"* ]]
	sed 's/lr=0.003/lr=0.004/' "$TINY" > other.cfg
	run --separate-stderr facet-train -q --resume m.facet.ckpt --config other.cfg < train.facet
	assert_failure 1
	[ "$stderr" = "facet-train: other.cfg differs from the config the checkpoint m.facet.ckpt was trained with" ]
}

@test "usage errors exit 2" {
	run --separate-stderr facet-train < train.facet
	assert_failure 2
	[[ "$stderr" == *"give --config CFG (or --resume CKPT)"* ]]
	run --separate-stderr facet-train --config "$TINY" --precision fp8
	assert_failure 2
	run --separate-stderr facet-train --config "$TINY" --engine reference --precision bf16
	assert_failure 2
	run --separate-stderr env FACET_TRAIN_RAISE=HUP@3 facet-train -q --config "$TINY" < train.facet
	assert_failure 2
	[ "$(head -n 1 <<< "$stderr")" = "facet-train: FACET_TRAIN_RAISE=HUP@3 is not SIGNAL@STEP[:RANK] (INT, KILL or TERM; STEP >= 1)" ]
}

@test "the reference engine trains too, to nearly the same loss" {
	facet-synth -q -n 256 --seed 1 --size 32x32 > small.facet
	facet-train -q --config "$TINY" --epochs 2 --engine reference --out r.facet < small.facet
	facet-train -q --config "$TINY" --epochs 2 --out f.facet < small.facet
	r=$(MT metrics r.facet.metrics | tail -n 1 | jq .train.loss)
	f=$(MT metrics f.facet.metrics | tail -n 1 | jq .train.loss)
	jq -n -e "($r - $f) | fabs < 0.01 * $f" || fail "reference $r, oneDNN $f"
}

@test "early stopping: no better validation loss for 'patience' epochs stops the run" {
	# lr 0 and no batch norm: the weights and so the validation loss never change
	grep -v '^\[batchnorm\]' "$TINY" | sed 's/lr=0.003/lr=0/; s/epochs=10/epochs=10 patience=2/' > es.cfg
	run --separate-stderr facet-train --config es.cfg --val val.facet --seed 3 --out m.facet < train.facet
	assert_success
	[[ "$stderr" == *"early stop: no better validation loss for 2 epochs (best "*" at epoch 1)"* ]]
	[[ "$stderr" == *"epoch 3/10"* ]]
	[[ "$stderr" != *"epoch 4/10"* ]]
	MT metrics m.facet.metrics > metrics.json
	[ "$(wc -l < metrics.json)" -eq 3 ]
}

@test "--print-config: the config as facet-train reads it, defaults written out; nothing trained" {
	printf '[input] width=16 height=16\n# a comment\n[conv]   filters=4\n[gap]\n[head gender] loss=bce distill=0.5 # from a teacher\n[dense] units=1 activation=sigmoid\n' > d.cfg
	run --separate-stderr facet-train --print-config --config d.cfg < /dev/null
	assert_success
	assert_equal "$stderr" ""
	assert_line --index 0 "[input] width=16 height=16 channels=1 normalise=unit"
	assert_line --index 1 --regexp '^\[conv\] filters=4 size=3 '
	assert_line --index 3 "[head gender] loss=bce weight=1 smoothing=0 distill=0.5"
	[ ! -e model.facet ]
	# what it prints reads back as the same config
	facet-train --print-config --config <(echo "$output") | cmp - <(echo "$output")
	# a config that cannot be read is a data error
	run facet-train --print-config --config /nonexistent.cfg
	assert_failure 1
}
