#!/usr/bin/env bats
# facet-quantize and facet-score --int8: calibration into the model file, int8 predictions close
# to fp32 (and far from them when the calibration is wrong), ensembles, bad calibrations refused.
load helper

setup_file() {
	cd "$BATS_FILE_TMPDIR"
	# a conv trunk whose batch norms fold and a read-out conv, as the shipped nets have
	cat > q.cfg <<-'EOF'
		[input] width=32 height=32 channels=3 normalise=dataset
		[conv] filters=16 activation=linear
		[batchnorm]
		[relu]
		[maxpool]
		[conv] filters=32 activation=linear
		[batchnorm]
		[relu]
		[maxpool]
		[conv] filters=32 size=8 pad=valid activation=linear
		[batchnorm]
		[relu]
		[flatten]
		[head age] loss=mse
		[dense] units=32 activation=relu
		[dense] units=1
		[head gender] loss=bce
		[dense] units=1 activation=sigmoid
		[head ethnicity] loss=ce
		[dense] units=5 activation=softmax
		[train] optimizer=adamw lr=0.003 batch=32 epochs=6 flip=1
	EOF
	facet-synth -q -n 1000 --seed 1 --size 32x32 > train.facet
	facet-synth -q -n 200 --seed 5 --size 32x32 > val.facet
	facet-synth -q -n 300 --seed 11 --size 40x40 > test.facet
	facet-train -q --config q.cfg --seed 2 --out model.facet < train.facet
	facet-train -q --config q.cfg --seed 3 --out model2.facet < train.facet
	facet-quantize -q --model model.facet --out q.facet < val.facet
}

setup() {
	need_py msgpack numpy
	cd "$BATS_TEST_TMPDIR"
	cp "$BATS_FILE_TMPDIR"/{q.cfg,model.facet,model2.facet,q.facet,val.facet,test.facet} .
}

# Compare two scored streams record by record; prints "mean|dage| max|dage| max|dp| agree"
# (years; the largest change of any probability; the share of faces whose predicted gender
# and ethnicity both stay the same).
diff_preds() {
	$PY - "$1" "$2" <<-'EOF'
		import sys, msgpack
		a = list(msgpack.Unpacker(open(sys.argv[1], "rb"), raw=False, strict_map_key=False))
		b = list(msgpack.Unpacker(open(sys.argv[2], "rb"), raw=False, strict_map_key=False))
		assert len(a) == len(b) and a, (len(a), len(b))
		da, dp, same = [], 0.0, 0
		for x, y in zip(a, b):
		    assert x["id"] == y["id"]
		    p, q = x["pred"], y["pred"]
		    da.append(abs(p["age"] - q["age"]))
		    dp = max([dp] + [abs(u - v) for u, v in zip(p["gender"] + p["ethnicity"], q["gender"] + q["ethnicity"])])
		    am = lambda v: max(range(len(v)), key=lambda i: v[i])
		    same += am(p["gender"]) == am(q["gender"]) and am(p["ethnicity"]) == am(q["ethnicity"])
		print(f"{sum(da) / len(da):.4f} {max(da):.4f} {dp:.4f} {same / len(a):.4f}")
	EOF
}

# Rewrite the int8 map of every model of a file with a Python statement on m (the model's map).
edit_int8() {
	$PY - "$1" "$2" <<-'EOF'
		import sys, msgpack
		ms = list(msgpack.Unpacker(open(sys.argv[1], "rb"), raw=False, strict_map_key=False))
		with open(sys.argv[1], "wb") as f:
		    for m in ms:
		        exec(sys.argv[2])
		        f.write(msgpack.packb(m, use_bin_type=True))
	EOF
}

# The tolerances. int8 codes carry 2 to 3 significant digits per activation and the noise of
# three quantized layers adds up. On this net, int8 against fp32 moves an age by 0.13 years on
# average (worst 0.7; the age head's spread is ~20 years) and a probability by at most 0.02
# with VNNI; on AVX2 (7-bit uint8 codes and first-layer weights) by 0.23 years (worst 0.9) and
# 0.04. The bounds sit well above the AVX2 figures; a calibration off by a factor of 4 in one
# layer moves an age by 4 years on average and breaks them (the test below).
close_enough() {
	read -r mean worst dp agree <<< "$1"
	jq -n -e "$mean < 0.6 and $worst < 3 and $dp < 0.2 and $agree > 0.95" > /dev/null
}

@test "facet-quantize adds an int8 map and keeps every other key as it was" {
	run $PY - <<-'EOF'
		import msgpack
		load = lambda p: msgpack.unpackb(open(p, "rb").read(), raw=False, strict_map_key=False)
		a, b = load("model.facet"), load("q.facet")
		q = b.pop("int8")
		assert a == b, "a key changed"
		assert q["samples"] == 200, q
		assert sorted(q["ranges"]) == ["trunk.0", "trunk.4"], q["ranges"]
		assert all(0 < r < 100 for r in q["ranges"].values()) and 0 < q["input"] < 100, q
		print("ok")
	EOF
	assert_success
	assert_output ok
}

@test "a calibrated model scores fp32 exactly as before unless --int8 is given" {
	facet-score -q --model model.facet < test.facet > a.facet
	facet-score -q --model q.facet < test.facet > b.facet
	cmp a.facet b.facet
}

@test "--int8: predictions close to fp32, on oneDNN and the reference kernels" {
	facet-score -q --model q.facet < test.facet > f32.facet
	facet-score -q --int8 --model q.facet < test.facet > i8.facet
	facet-score -q --precision int8 --engine reference --model q.facet < test.facet > r8.facet
	run diff_preds f32.facet i8.facet
	assert_success
	close_enough "$output" || fail "int8 (oneDNN) against fp32: $output"
	run diff_preds f32.facet r8.facet
	close_enough "$output" || fail "int8 (reference) against fp32: $output"
	# the two int8 paths compute the same codes but for rounding ties: 0.0000 years apart
	run diff_preds i8.facet r8.facet
	read -r mean worst dp agree <<< "$output"
	jq -n -e "$mean < 0.02 and $dp < 0.005" > /dev/null || fail "oneDNN against reference: $output"
}

@test "--int8 with a wrong calibration is not close: the check above can fail" {
	facet-score -q --model q.facet < test.facet > f32.facet
	edit_int8 q.facet 'm["int8"]["ranges"]["trunk.4"] /= 4'
	facet-score -q --int8 --model q.facet < test.facet > i8.facet
	run diff_preds f32.facet i8.facet
	! close_enough "$output" || fail "a range off by 4 passed: $output"
}

@test "an ensemble of two models is calibrated model by model and scores in int8" {
	cat model.facet model2.facet > e.facet
	run --separate-stderr facet-quantize --model e.facet --out e.facet < val.facet
	assert_success
	[[ "$stderr" == *"model 1: calibrated on 200 faces"*"model 2: calibrated on 200 faces"* ]] ||
		fail "summary: $stderr"
	run $PY -c '
import msgpack
ms = list(msgpack.Unpacker(open("e.facet", "rb"), raw=False, strict_map_key=False))
print(len(ms), sum("int8" in m for m in ms))'
	assert_output "2 2"
	facet-score -q --model e.facet < test.facet > f32.facet
	facet-score -q --int8 --model e.facet < test.facet > i8.facet
	run diff_preds f32.facet i8.facet
	close_enough "$output" || fail "ensemble int8 against fp32: $output"
}

@test "calibrating again replaces the int8 map; --limit takes the first faces" {
	run --separate-stderr facet-quantize --limit 50 --model q.facet --out q.facet < val.facet
	assert_success
	[[ "$stderr" == *"calibrated on 50 faces"* ]] || fail "$stderr"
	run $PY -c '
import msgpack
m = msgpack.unpackb(open("q.facet", "rb").read(), raw=False, strict_map_key=False)
print(m["int8"]["samples"], list(m).count("int8"))'
	assert_output "50 1"
}

@test "facet predict --int8 scores a stream in int8" {
	run --separate-stderr facet-predict --int8 --model q.facet - < test.facet
	assert_success
	[ "${#lines[@]}" -eq 300 ] || fail "${#lines[@]} lines"
	run --separate-stderr facet-predict --int8 --model model.facet - < test.facet
	assert_equal "$status" 1
	[[ "$stderr" == *"cannot score in int8: it has no int8 calibration"* ]] || fail "$stderr"
}

@test "--int8 on a model without calibration: exit 1, named, nothing on stdout" {
	run --separate-stderr facet-score --int8 --model model.facet < test.facet
	assert_equal "$status" 1
	assert_equal "$output" ""
	assert_equal "$stderr" "facet-score: model 1 cannot score in int8: it has no int8 calibration (facet-quantize makes one) (model.facet)"
}

@test "a model without convolutions has nothing to quantize" {
	printf '[input] width=8 height=8 channels=3\n[head age]\n[flatten]\n[dense] units=1\n' > d.cfg
	facet-synth -q -n 16 -s 8x8 -S 5 | facet-train -q --config d.cfg -e 1 -o d.facet
	run --separate-stderr facet-quantize --model d.facet --out dq.facet < val.facet
	assert_equal "$status" 1
	[[ "$stderr" == *"its trunk does not start with a convolution: nothing to quantize (d.facet, model 1)" ]] ||
		fail "$stderr"
	[ ! -e dq.facet ]
}

@test "usage errors exit 2; no faces, exit 1 and no file" {
	run --separate-stderr facet-quantize --model model.facet < val.facet
	assert_equal "$status" 2
	[[ "$stderr" == *"give --out OUT"* ]]
	run --separate-stderr facet-quantize --out x.facet < val.facet
	assert_equal "$status" 2
	run --separate-stderr facet-score --int8 --no-fold --model q.facet < test.facet
	assert_equal "$status" 2
	[[ "$stderr" == *"not with --no-fold"* ]]
	run --separate-stderr facet-score --precision int4 --model q.facet < test.facet
	assert_equal "$status" 2
	[[ "$stderr" == *"fp32, bf16 or int8"* ]]
	run --separate-stderr facet-quantize --model model.facet --out x.facet < /dev/null
	assert_equal "$status" 1
	assert_equal "$stderr" "facet-quantize: no faces on stdin: nothing to calibrate on"
	[ ! -e x.facet ]
}

@test "absurd or missing int8 fields: a clear error when the model is read, no crash" {
	local edit want
	while IFS='|' read -r edit want; do
		cp "$BATS_FILE_TMPDIR/q.facet" bad.facet
		edit_int8 bad.facet "$edit"
		run --separate-stderr facet-score --model bad.facet < test.facet
		[ "$status" -eq 1 ] || fail "$edit: exit $status"
		[ -z "$output" ] || fail "$edit: wrote to stdout"
		[[ "$stderr" == *"$want"* ]] || fail "$edit: stderr lacks '$want': $stderr"
	done <<-'EOF'
		m["int8"] = 3|model file's 'int8' is not a map
		del m["int8"]["ranges"]|model file's 'int8' lacks its 'ranges' map
		del m["int8"]["samples"]|model file lacks the number 'samples'
		m["int8"]["samples"] = 0|'samples' is not a whole number in 1..
		m["int8"]["input"] = "x"|int8 range for 'input' is not a number
		m["int8"]["ranges"]["trunk.0"] = -1.0|int8 range for 'trunk.0' is -1, not in 1e-06..1e+06
		m["int8"]["ranges"]["trunk.0"] = float("nan")|int8 range for 'trunk.0' is nan
		m["int8"]["ranges"]["trunk.4"] = 1e30|int8 range for 'trunk.4' is 1e+30
		m["int8"]["ranges"]["trunk.1"] = 1.0|ranges name 'trunk.1', not a convolution of the trunk
		m["int8"]["ranges"]["trunk.99"] = 1.0|ranges name 'trunk.99', not a convolution
		m["int8"]["ranges"]["trunk.0x"] = 1.0|ranges name 'trunk.0x'
	EOF
	# a range missing for a layer int8 needs: fp32 still scores, --int8 says which
	cp "$BATS_FILE_TMPDIR/q.facet" bad.facet
	edit_int8 bad.facet 'del m["int8"]["ranges"]["trunk.4"]'
	facet-score -q --model bad.facet < test.facet > /dev/null
	run --separate-stderr facet-score --int8 --model bad.facet < test.facet
	assert_equal "$status" 1
	[[ "$stderr" == *"it has no int8 range for trunk.4"* ]] || fail "$stderr"
}
