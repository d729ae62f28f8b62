#!/usr/bin/env bats
# facet-score: predictions for every image, everything else passed through, constant memory.
load helper

MT() { $PY "$REPO/tests/lib/model_tool.py" "$@"; }

setup_file() {
	cd "$BATS_FILE_TMPDIR"
	facet-synth -q -n 1200 --seed 1 --size 32x32 > train.facet
	facet-synth -q -n 300 --seed 11 --size 32x32 > test.facet
	facet-train -q --config "$REPO/examples/models/tiny.cfg" --epochs 8 --seed 2 \
		--out model.facet < train.facet
	facet-train -q --config "$REPO/examples/models/tiny.cfg" --epochs 8 --seed 3 \
		--out model2.facet < train.facet
}

setup() {
	need_py msgpack msgpack_numpy numpy
	cd "$BATS_TEST_TMPDIR"
	ln -s "$BATS_FILE_TMPDIR/model.facet" "$BATS_FILE_TMPDIR/model2.facet" \
		"$BATS_FILE_TMPDIR/test.facet" "$BATS_FILE_TMPDIR/train.facet" .
}

# age MAE, gender accuracy, ethnicity accuracy of a scored stream
score_figures() {
	$PY -c '
import sys, msgpack
n = ae = g = e = 0
for r in msgpack.Unpacker(sys.stdin.buffer, raw=False):
    p = r["pred"]
    n += 1
    ae += abs(p["age"] - r["age"])
    g += (p["gender"][1] > 0.5) == r["gender"]
    e += max(range(5), key=lambda i: p["ethnicity"][i]) == r["ethnicity"]
print(f"{ae / n:.2f} {g / n:.3f} {e / n:.3f}")'
}

@test "held-out facet-synth faces: far better than chance" {
	read -r mae gacc eacc <<< "$(facet-score -q --model model.facet < test.facet | score_figures)"
	# chance: age MAE ~22 years, gender 0.5, ethnicity 0.2
	jq -n -e "$mae < 11 and $gacc > 0.75 and $eacc > 0.7" || fail "MAE $mae gender $gacc ethnicity $eacc"
}

@test "pred holds the documented keys and proper probabilities; other keys pass through in order" {
	facet-score -q --model model.facet < test.facet > out.facet
	run $PY -c '
import sys, msgpack, msgpack_numpy
a = list(msgpack.Unpacker(open("test.facet", "rb"), raw=False, object_hook=msgpack_numpy.decode))
b = list(msgpack.Unpacker(open("out.facet", "rb"), raw=False, object_hook=msgpack_numpy.decode))
assert len(a) == len(b) == 300
for x, y in zip(a, b):
    p = y.pop("pred")
    assert list(x.keys()) == list(y.keys()), (x.keys(), y.keys())
    assert x["id"] == y["id"] and (x["image"] == y["image"]).all()
    assert sorted(p) == ["age", "ethnicity", "gender"]
    assert len(p["gender"]) == 2 and abs(sum(p["gender"]) - 1) < 1e-6
    assert len(p["ethnicity"]) == 5 and abs(sum(p["ethnicity"]) - 1) < 1e-6
    assert all(0 <= q <= 1 for q in p["gender"] + p["ethnicity"])
print("ok")'
	assert_success
	assert_output ok
}

@test "records without an image pass through unchanged, in order" {
	{ echo '{"id": "a", "note": 1}'; echo '{"id": "b", "image": {"$image": [32, 32, 3, 90]}}'
	  echo '{"id": "c"}'; } | $PY "$REPO/tests/lib/mkstream.py" > mixed.facet
	run --separate-stderr bash -c 'facet-score --model model.facet < mixed.facet | facet-dump | jq -c "[.id, has(\"pred\")]"'
	assert_success
	assert_output $'["a",false]\n["b",true]\n["c",false]'
	[ "$stderr" = "facet-score: scored 1 of 3 records" ]
}

@test "batch size does not change the predictions" {
	facet-score -q --model model.facet --batch 1 < test.facet | facet-dump | jq -c .pred > b1
	facet-score -q --model model.facet --batch 64 < test.facet | facet-dump | jq -c .pred > b64
	facet-score -q --model model.facet --batch 7 --engine reference < test.facet |
		facet-dump | jq -c .pred > ref
	run $PY -c '
import json
rows = [[json.loads(l) for l in open(f)] for f in ("b1", "b64", "ref")]
worst = 0
for a, b, c in zip(*rows):
    for x in (b, c):
        worst = max(worst, abs(a["age"] - x["age"]),
                    *(abs(u - v) for u, v in zip(a["gender"] + a["ethnicity"], x["gender"] + x["ethnicity"])))
print(len(rows[0]), worst < 1e-3, worst)'
	assert_success
	assert_output --partial "300 True"
}

@test "input of another geometry is converted as the model records" {
	facet-synth -q -n 20 --seed 3 --size 48x48 --gray | facet-score -q --model model.facet |
		facet-dump | jq -e 'has("pred") and (.pred.gender | length == 2)' > /dev/null
}

@test "memory stays constant: ten times the records, about the same peak" {
	sanitized && skip "under AddressSanitizer the peak includes its quarantine of freed memory"
	facet-synth -q -n 300 --seed 4 --size 64x64 > s.facet
	for i in 1 2 3 4 5 6 7 8 9 10; do cat s.facet; done > l.facet
	rss() { /usr/bin/time -f %M facet-score -q --model model.facet < "$1" 2>&1 >/dev/null | tail -n 1; }
	small=$(rss s.facet)
	large=$(rss l.facet)
	[ "$large" -lt $((small + 20000)) ] || fail "peak RSS ${small} KiB for 300 records, ${large} KiB for 3000"
}

@test "bad model files: truncated, another version, not a model" {
	head -c 3000 model.facet > cut.facet
	run --separate-stderr facet-score --model cut.facet < test.facet
	assert_failure 1
	[ -z "$output" ]
	[ "$stderr" = "facet-score: truncated model file (cut.facet)" ]
	$PY -c '
import msgpack, sys
m = msgpack.unpackb(open("model.facet", "rb").read(), raw=False, strict_map_key=False)
m["version"] = 2
sys.stdout.buffer.write(msgpack.packb(m, use_bin_type=True))' > v2.facet
	run --separate-stderr facet-score --model v2.facet < test.facet
	assert_failure 1
	[ -z "$output" ]
	[ "$stderr" = "facet-score: model file format version 2; this facet reads version 1 (v2.facet)" ]
	run --separate-stderr facet-score --model test.facet < test.facet
	assert_failure 1
	[ "$stderr" = "facet-score: not a facet model file (no format \"facet-model\") (test.facet)" ]
	run --separate-stderr facet-score --model missing.facet < test.facet
	assert_failure 1
	[ "$stderr" = "facet-score: cannot open missing.facet: No such file or directory" ]
}

@test "usage errors exit 2; a write error exits 1" {
	run --separate-stderr facet-score < test.facet
	assert_failure 2
	[[ "$stderr" == *"give --model MODEL"* ]]
	run --separate-stderr facet-score --model model.facet --batch 0
	assert_failure 2
	run --separate-stderr bash -c 'facet-score -q --model model.facet < test.facet > /dev/full'
	assert_failure 1
}

@test "--flip averages each image with its mirror: an image and its mirror score the same" {
	$PY -c '
import sys, msgpack, msgpack_numpy
out = sys.stdout.buffer
for r in msgpack.Unpacker(open("test.facet", "rb"), raw=False, object_hook=msgpack_numpy.decode):
    r["image"] = r["image"][:, ::-1, :].copy()
    out.write(msgpack.packb(r, default=msgpack_numpy.encode))' > mirror.facet
	facet-score -q --model model.facet --flip < test.facet | facet-dump | jq -c .pred > a
	facet-score -q --model model.facet --flip < mirror.facet | facet-dump | jq -c .pred > b
	facet-score -q --model model.facet < test.facet | facet-dump | jq -c .pred > c
	facet-score -q --model model.facet < mirror.facet | facet-dump | jq -c .pred > d
	assert_equal "$(wc -l < a)" 300
	cmp a b
	! cmp -s c d
	! cmp -s a c
}

@test "folded batch norms (the default) give the trained graph's predictions (--no-fold)" {
	cat > fold.cfg <<-'CFG'
	[input] width=32 height=32 channels=3 normalise=dataset
	[conv] filters=8 activation=linear
	[batchnorm]
	[relu]
	[maxpool]
	[conv] filters=16 activation=linear
	[batchnorm]
	[gap]
	[head age] loss=mse
	[dense] units=16
	[batchnorm]
	[relu]
	[dropout] rate=0.3
	[dense] units=1
	[head ethnicity] loss=ce
	[dense] units=5 activation=softmax
	[train] batch=32 epochs=2
	CFG
	facet-train -q --config fold.cfg --seed 3 --out fold.facet < "$BATS_FILE_TMPDIR/train.facet"
	facet-score -q --model fold.facet < test.facet | facet-dump | jq -c .pred > folded
	facet-score -q --model fold.facet --no-fold < test.facet | facet-dump | jq -c .pred > plain
	facet-score -q --model fold.facet --engine reference < test.facet | facet-dump | jq -c .pred > ref
	run $PY -c '
import json
rows = [[json.loads(l) for l in open(f)] for f in ("plain", "folded", "ref")]
worst = spread = 0
for a, b, c in zip(*rows):
    for x in (b, c):
        worst = max(worst, abs(a["age"] - x["age"]),
                    *(abs(u - v) for u, v in zip(a["ethnicity"], x["ethnicity"])))
    spread = max(spread, abs(a["age"] - rows[0][0]["age"]))
print(len(rows[0]), worst < 1e-3, spread > 0.1, worst)'
	assert_success
	assert_output --partial "300 True True"
}

@test "a dldl age head (one output per year): scored ages are expectations within 0..K-1" {
	# tiny.cfg with the age head as label-distribution learning over 0..99 years
	sed -e 's/^\[head age\] loss=mse$/[head age] loss=dldl sigma=3/' \
		-e '/^\[head age\]/,/^\[head gender\]/ s/^\[dense\] units=1$/[dense] units=100 activation=softmax/' \
		"$REPO/examples/models/tiny.cfg" > dldl.cfg
	grep -q 'units=100 activation=softmax' dldl.cfg
	facet-train -q --config dldl.cfg --epochs 8 --seed 2 --out dldl.facet \
		< "$BATS_FILE_TMPDIR/train.facet"
	read -r mae gacc eacc <<< "$(facet-score -q --model dldl.facet < test.facet | score_figures)"
	jq -n -e "$mae < 11 and $gacc > 0.75 and $eacc > 0.7" || fail "MAE $mae gender $gacc ethnicity $eacc"
	# ages are expectations over 0..99, not bin indices: fractional, inside the range
	facet-score -q --model dldl.facet --flip < test.facet | facet-dump | jq -e -s \
		'length == 300 and all(.[]; .pred.age >= 0 and .pred.age <= 99) and
		 any(.[]; .pred.age != (.pred.age | floor))'
	# the model keeps its head: the config it records names dldl and sigma
	$PY "$REPO/tests/lib/model_tool.py" get dldl.facet config | grep -q 'loss=dldl weight=1 sigma=3 l1=1'
}

@test "--shift N averages the image shifted N pixels four ways (ten views with --flip)" {
	# the ten views written out plainly: mirrored or not, shifted by (dx, dy), edges replicated
	$PY -c '
import msgpack, msgpack_numpy, numpy as np
recs = list(msgpack.Unpacker(open("test.facet", "rb"), raw=False, object_hook=msgpack_numpy.decode))
views = [(f, dx, dy) for f in (0, 1) for dx, dy in ((0, 0), (0, -2), (0, 2), (-2, 0), (2, 0))]
for k, (f, dx, dy) in enumerate(views):
    with open("view%d.facet" % k, "wb") as out:
        for r in recs:
            img = r["image"][:, ::-1, :] if f else r["image"]
            h, w = img.shape[:2]
            ys = np.clip(np.arange(h) + dy, 0, h - 1)
            xs = np.clip(np.arange(w) + dx, 0, w - 1)
            r = dict(r, image=np.ascontiguousarray(img[ys][:, xs]))
            out.write(msgpack.packb(r, default=msgpack_numpy.encode))'
	for k in 0 1 2 3 4 5 6 7 8 9; do
		facet-score -q --model model.facet < view$k.facet | facet-dump | jq -c .pred > p$k
	done
	facet-score -q --model model.facet --shift 2 < test.facet | facet-dump | jq -c .pred > five
	facet-score -q --model model.facet --shift 2 --flip < test.facet | facet-dump | jq -c .pred > ten
	run $PY -c '
import json
P = [[json.loads(l) for l in open("p%d" % k)] for k in range(10)]
def flat(p): return [p["age"]] + p["gender"] + p["ethnicity"]
def mean(rows): return [sum(c) / len(c) for c in zip(*(flat(p) for p in rows))]
worst = moved = 0
for name, k in (("five", 5), ("ten", 10)):
    for i, line in enumerate(open(name)):
        got = flat(json.loads(line))
        want = mean([P[v][i] for v in range(k)])
        worst = max(worst, *(abs(a - b) for a, b in zip(got, want)))
        moved = max(moved, abs(got[0] - P[0][i]["age"]))
print(len(P[0]), worst < 1e-4, moved > 0.05, worst)'
	assert_success
	assert_output --partial "300 True True"
	# --shift 0 is no shifted views at all
	facet-score -q --model model.facet --shift 0 < test.facet | facet-dump | jq -c .pred | cmp - p0
	run --separate-stderr facet-score --model model.facet --shift 65
	assert_failure 2
	run --separate-stderr facet-score --model model.facet --shift -1
	assert_failure 2
}

@test "an ensemble: pred is the mean of its models', from --model twice or one file holding both" {
	facet-score -q --model model.facet --flip < test.facet | facet-dump | jq -c .pred > a
	facet-score -q --model model2.facet --flip < test.facet | facet-dump | jq -c .pred > b
	run --separate-stderr bash -c 'facet-score --model model.facet --model model2.facet --flip \
		< test.facet | facet-dump | jq -c .pred > both'
	assert_success
	[ "$stderr" = "facet-score: scored 300 of 300 records (the mean of 2 models)" ]
	cat model.facet model2.facet > ens.facet
	facet-score -q --model ens.facet --flip < test.facet | facet-dump | jq -c .pred > one
	cmp both one
	# three models: a file of two and one more --model
	facet-score -q --model ens.facet --model model.facet --flip < test.facet |
		facet-dump | jq -c .pred > three
	run $PY -c '
import json
A, B, E, T = ([json.loads(l) for l in open(f)] for f in ("a", "b", "one", "three"))
def flat(p): return [p["age"]] + p["gender"] + p["ethnicity"]
assert len(A) == len(B) == len(E) == len(T) == 300
worst = apart = 0
for a, b, e, t in zip(A, B, E, T):
    a, b, e, t = map(flat, (a, b, e, t))
    worst = max(worst, *(abs(x - (y + z) / 2) for x, y, z in zip(e, a, b)))
    worst = max(worst, *(abs(x - (2 * y + z) / 3) for x, y, z in zip(t, a, b)))
    apart = max(apart, abs(a[0] - b[0]))
assert worst < 1e-5, worst
assert apart > 0.5, apart  # two different models: the mean is not either of them
print("ok")'
	assert_success
	assert_output ok
}

@test "an ensemble of models of other input geometries: each converts the image to its own" {
	# model 1 takes 32x32 RGB, the other 24x24 grey; the stream is 32x32 RGB, then 40x40 RGB
	sed 's/width=32 height=32 channels=3/width=24 height=24 channels=1/' \
		"$REPO/examples/models/tiny.cfg" > g24.cfg
	grep -q 'width=24 height=24 channels=1' g24.cfg
	facet-synth -q -n 300 --seed 5 --size 24x24 --gray |
		facet-train -q --config g24.cfg --epochs 2 --seed 4 --out g24.facet
	facet-synth -q -n 40 --seed 12 --size 40x40 > wide.facet
	for s in test wide; do
		facet-score -q --model model.facet --flip < $s.facet | facet-dump | jq -c .pred > $s.a
		facet-score -q --model g24.facet --flip < $s.facet | facet-dump | jq -c .pred > $s.b
		run --separate-stderr bash -c "facet-score --model model.facet --model g24.facet --flip \
			< $s.facet | facet-dump | jq -c .pred > $s.both"
		assert_success
		[[ "$stderr" == *"(the mean of 2 models)" ]]
		# the other order: the same means (the first model's geometry is not special)
		facet-score -q --model g24.facet --model model.facet --flip < $s.facet |
			facet-dump | jq -c .pred > $s.swap
	done
	run $PY -c '
import json
def flat(p): return [p["age"]] + p["gender"] + p["ethnicity"]
for s, n in (("test", 300), ("wide", 40)):
    A, B, E, W = ([flat(json.loads(l)) for l in open(s + "." + x)] for x in ("a", "b", "both", "swap"))
    assert len(A) == len(B) == len(E) == len(W) == n, s
    worst = apart = 0
    for a, b, e, w in zip(A, B, E, W):
        worst = max(worst, *(abs(x - (y + z) / 2) for x, y, z in zip(e, a, b)))
        worst = max(worst, *(abs(x - y) for x, y in zip(e, w)))
        apart = max(apart, abs(a[0] - b[0]))
    assert worst < 1e-5, (s, worst)
    assert apart > 0.5, (s, apart)
print("ok")'
	assert_success
	assert_output ok
}

@test "ensembles that are broken or cannot be averaged are refused, naming the model" {
	{ cat model.facet; head -c 3000 model2.facet; } > cut.facet
	run --separate-stderr facet-score --model cut.facet < test.facet
	assert_failure 1
	[ -z "$output" ]
	[ "$stderr" = "facet-score: truncated model file (cut.facet, model 2)" ]
	{ cat model.facet; echo junk; } > junk.facet
	run --separate-stderr facet-score --model junk.facet < test.facet
	assert_failure 1
	[ "$stderr" = "facet-score: not a facet model file (no format \"facet-model\") (junk.facet, model 2)" ]
	# another set of heads
	grep -v 'head gender\|units=1 activation=sigmoid' "$REPO/examples/models/tiny.cfg" > nog.cfg
	grep -q '^\[head age\]' nog.cfg && ! grep -q gender nog.cfg
	facet-synth -q -n 64 --size 32x32 | facet-train -q --config nog.cfg --epochs 1 --out nog.facet
	run --separate-stderr facet-score --model model.facet --model nog.facet < test.facet
	assert_failure 1
	[ -z "$output" ]
	assert_failure 1
	[ "$stderr" = "facet-score: the models differ in heads: model 2 lacks the gender head, model 1 has it (nog.facet)" ]
	# training resumes one model, not an ensemble
	cat model.facet model2.facet > ens.facet
	run --separate-stderr facet-train --config "$REPO/examples/models/tiny.cfg" --resume ens.facet \
		--out again.facet < train.facet
	assert_failure 1
	[ "$stderr" = "facet-train: more than one model in the file (an ensemble, which facet-score and facet-predict read): give one model (ens.facet)" ]
	[ ! -e again.facet ]
}
