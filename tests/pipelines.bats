#!/usr/bin/env bats
# The whole flow: pipelines/ chain the tools; a failing stage fails the pipeline by name.
load helper

setup() {
	cd "$BATS_TEST_TMPDIR"
}

# utk_faces DIR N SIZE: N synthetic faces written as PNG files named like UTKFace's
# (AGE_GENDER_RACE_TIME.png), a dataset folder for the pipelines.
utk_faces() {
	mkdir -p "$1"
	facet-synth -q -n "$2" --seed 1 --size "$3" > "$BATS_TEST_TMPDIR/utk.facet"
	$PY -c '
import msgpack, msgpack_numpy, sys
from PIL import Image
for i, r in enumerate(msgpack.Unpacker(open(sys.argv[1], "rb"), raw=False,
                                       object_hook=msgpack_numpy.decode)):
    Image.fromarray(r["image"]).save("%s/%d_%d_%d_2017%05d.png"
                                     % (sys.argv[2], r["age"], r["gender"], r["ethnicity"], i))
' "$BATS_TEST_TMPDIR/utk.facet" "$1" || skip "python3-pil needed to write fixture images"
}

@test "demo flow on generated faces: EDA and report exist, metrics far better than chance" {
	run --separate-stderr env -u FACET_DATA "$REPO/pipelines/demo.sh" out
	assert_success
	[[ "$stderr" == *"FACET_DATA is not set: running on 4000 synthetic faces"* ]]
	[[ "$stderr" == *"report: out/report/index.html"* ]]
	[ -f out/eda/index.html ] && [ -f out/report/index.html ] && [ -f out/model.facet ]
	grep -q "split seed: 7" out/recipe.txt
	grep -q "members: 1$" out/recipe.txt
	# chance: age MAE ~ 20 years (synth ages 1..90), gender 0.5, ethnicity 0.2
	jq -e '.age.mae < 9 and .gender.accuracy > 0.75 and .ethnicity.accuracy > 0.6' out/report/metrics.json
	# no temporary files left beside the outputs
	[ -z "$(find out -name '*.tmp.*')" ]
}

@test "demo flow on a folder of faces (FACET_DATA): the shipped 64x64 net's short run, then the shipped model on test faces with their labels" {
	utk_faces faces 300 64x64
	run --separate-stderr env FACET_DATA=faces FACET_EPOCHS=1 "$REPO/pipelines/demo.sh" out
	assert_success
	[[ "$stderr" == *"running on the faces in faces (short training: multitask-light-readout.cfg, 1 epochs)"* ]]
	grep -q "config: .*/examples/models/multitask-light-readout.cfg" out/recipe.txt
	[ -f out/eda/index.html ] && [ -f out/report/index.html ]
	[[ "$stderr" == *"the shipped model on 5 faces of the test part (split seed 7, the shipped model's own split: it never trained on these):"* ]]
	# five lines as facet predict prints them, each with the labels its file name carries,
	# each a face of the test part
	lines=$(grep -P '\t\(labelled ' <<< "$stderr")
	assert_equal "$(wc -l <<< "$lines")" 5
	facet-take -q test < out/faces.facet | facet-dump | jq -r .id | sort > test-ids
	G=(male female) E=(White Black Asian Indian Other)
	while IFS=$'\t' read -r id age gender eth labelled; do
		[[ "$age" =~ ^[0-9]+\.[0-9]$ ]]
		[[ "$gender" =~ ^(male|female)\ \([01]\.[0-9][0-9]\)$ ]]
		[[ "$eth" =~ ^(White|Black|Asian|Indian|Other)\ \([01]\.[0-9][0-9]\)$ ]]
		IFS=_ read -r a g e _ <<< "$id"
		assert_equal "$labelled" "(labelled $a, ${G[$g]}, ${E[$e]})"
		grep -qx "$id" test-ids
	done <<< "$lines"
	# another split: no claim that the shipped model never saw them
	run --separate-stderr env FACET_DATA=faces FACET_EPOCHS=1 FACET_SEED=3 "$REPO/pipelines/demo.sh" out2
	assert_success
	[[ "$stderr" == *"(split seed 3, a split other than the shipped model's: it may have trained on these):"* ]]
}

@test "demo: when the shipped model's predictions fail, the demo says so and fails, after the report" {
	mkdir -p fake/bin fake/pipelines fake/models
	for t in "$FACET_BIN"/facet*; do ln -s "$t" fake/bin/; done
	rm fake/bin/facet
	printf '#!/bin/sh\necho "facet: planted failure" >&2\nexit 1\n' > fake/bin/facet
	chmod +x fake/bin/facet
	cp "$REPO"/pipelines/*.sh fake/pipelines/
	ln -s "$REPO/models/facet-utk64.facet" fake/models/
	utk_faces faces 60 32x32
	run --separate-stderr env FACET_DATA=faces FACET_EPOCHS=1 FACET_CONFIG="$REPO/examples/models/tiny.cfg" \
		FACET_SIZE=32x32 FACET_BIN="$PWD/fake/bin" fake/pipelines/demo.sh out
	assert_failure 1
	[[ "$stderr" == *"demo.sh: stage 'predict' failed (exit 1)"* ]]
	[[ "$stderr" == *"demo.sh: could not show the shipped model's predictions (exit 1)"* ]]
	[[ "$stderr" == *"demo.sh: report: out/report/index.html"* ]]
	[ -f out/report/index.html ]
}

@test "a failing stage in the middle of a pipe fails the pipeline and is named" {
	mkdir -p fake/bin fake/pipelines
	for t in "$FACET_BIN"/facet*; do ln -s "$t" fake/bin/; done
	rm fake/bin/facet-label
	printf '#!/bin/sh\ncat > /dev/null\necho "facet-label: planted failure" >&2\nexit 3\n' > fake/bin/facet-label
	chmod +x fake/bin/facet-label
	cp "$REPO"/pipelines/*.sh fake/pipelines/
	utk_faces faces 4 16x16
	run --separate-stderr env FACET_BIN="$PWD/fake/bin" fake/pipelines/prepare.sh faces out.facet
	assert_equal "$status" 3
	[[ "$stderr" == *"prepare.sh: stage 'label' failed (exit 3)"* ]]
	[ ! -e out.facet ]
	# the same pipeline with the real stage works
	run --separate-stderr "$REPO/pipelines/prepare.sh" faces out.facet
	assert_success
	assert_equal "$(facet-dump --count out.facet)" 4
}

@test "train.sh with FACET_MEMBERS=2 writes an ensemble: two nets, consecutive seeds, one file" {
	need_py msgpack
	facet-synth -q -n 300 --seed 2 --size 32x32 | facet-split -q --seed 7 > faces.facet
	run --separate-stderr env FACET_CONFIG="$REPO/examples/models/tiny.cfg" FACET_EPOCHS=1 \
		FACET_MEMBERS=2 FACET_TRAIN_SEED=5 "$REPO/pipelines/train.sh" faces.facet out
	assert_success
	[[ "$stderr" == *"train.sh: model: out/model.facet (an ensemble of 2 nets, seeds 5-6)"* ]]
	[ -f out/model.facet.metrics ] && [ -f out/model.facet.member2.metrics ] && [ -f out/model.cfg ]
	run $PY -c '
import msgpack
u = msgpack.Unpacker(open("out/model.facet", "rb"), raw=False, strict_map_key=False,
                     max_buffer_size=1 << 30)
print(" ".join(str(m["train"]["seed"]) for m in u))'
	assert_output "5 6"
	run --separate-stderr facet-score --model out/model.facet < faces.facet
	assert_success
	[[ "$stderr" == *"(the mean of 2 models)"* ]]
	run --separate-stderr env FACET_MEMBERS=0 "$REPO/pipelines/train.sh" faces.facet out2
	assert_failure 1
	[[ "$stderr" == *"FACET_MEMBERS must be a number from 1 to 64, not '0'"* ]]
	[ ! -e out2 ]
	[ -z "$(find out -name '*.tmp.*')" ]
}

@test "train.sh with FACET_TRAIN_PARTS='train val' fits on both parts, never on test; FACET_EPOCHS=A:B per config" {
	need_py msgpack
	facet-synth -q -n 300 --seed 2 --size 32x32 | facet-split -q --seed 7 > faces.facet
	n=$(facet-take -q train val < faces.facet | facet-dump --count)
	ntrain=$(facet-take -q train < faces.facet | facet-dump --count)
	[ "$n" -gt "$ntrain" ]
	run --separate-stderr env FACET_CONFIG="$REPO/examples/models/tiny.cfg" FACET_EPOCHS=1:2 \
		FACET_MEMBERS=3 FACET_TRAIN_PARTS="train val" "$REPO/pipelines/train.sh" faces.facet out
	assert_success
	[[ "$stderr" == *"facet-train: $n training images, no validation;"* ]]
	[[ "$stderr" != *"take-val"* ]]
	# no member was given the val part to validate on
	assert_equal "$(grep -c "facet-train: $n training images, no validation;" <<< "$stderr")" 3
	# epochs 1, then 2 for the rest; metrics without a validation part
	run $PY -c '
import msgpack
for f in ["out/model.facet.metrics", "out/model.facet.member2.metrics", "out/model.facet.member3.metrics"]:
    rs = list(msgpack.Unpacker(open(f, "rb"), raw=False))
    print(len(rs), any("val" in r for r in rs))'
	assert_output "1 False
2 False
2 False"
	# the default still validates on the val part
	run --separate-stderr env FACET_CONFIG="$REPO/examples/models/tiny.cfg" FACET_EPOCHS=1 \
		"$REPO/pipelines/train.sh" faces.facet out
	assert_success
	[[ "$stderr" == *"facet-train: $ntrain training images, $((n - ntrain)) validation;"* ]]
	# the test part is refused, as are odd epoch lists, before anything is trained
	run --separate-stderr env FACET_TRAIN_PARTS="train test" "$REPO/pipelines/train.sh" faces.facet out2
	assert_failure 1
	[[ "$stderr" == *"FACET_TRAIN_PARTS may name train and val, not 'test'"* ]]
	run --separate-stderr env FACET_EPOCHS="3::4" "$REPO/pipelines/train.sh" faces.facet out2
	assert_failure 1
	[[ "$stderr" == *"FACET_EPOCHS must be numbers from 1, separated by ':', not '3::4'"* ]]
	[ ! -e out2 ]
}

@test "train.sh with FACET_CONFIG=A:B trains one net per config, in order, and cycles for more" {
	need_py msgpack
	facet-synth -q -n 300 --seed 2 --size 32x32 | facet-split -q --seed 7 > faces.facet
	sed 's/^\[head ethnicity\] loss=ce$/[head ethnicity] loss=ce weight=2/' \
		"$REPO/examples/models/tiny.cfg" > b.cfg
	run cmp -s b.cfg "$REPO/examples/models/tiny.cfg"
	assert_failure
	run --separate-stderr env FACET_CONFIG="$REPO/examples/models/tiny.cfg:b.cfg" FACET_EPOCHS=1 \
		FACET_TRAIN_SEED=3 "$REPO/pipelines/train.sh" faces.facet out
	assert_success
	[ -f out/model.facet.metrics ] && [ -f out/model.facet.member2.metrics ]
	[[ "$stderr" == *"(an ensemble of 2 nets, seeds 3-4)"* ]]
	cmp out/model.cfg "$REPO/examples/models/tiny.cfg"
	cmp out/model.member2.cfg b.cfg
	ws='
import msgpack
u = msgpack.Unpacker(open("out/model.facet", "rb"), raw=False, strict_map_key=False,
                     max_buffer_size=1 << 30)
for m in u:
    w = [l.split("weight=")[1].split()[0] for l in m["config"].splitlines()
         if l.startswith("[head ethnicity]") and "weight=" in l]
    print(m["train"]["seed"], w[0] if w else "1")'
	run $PY -c "$ws"
	assert_output "3 1
4 2"
	# three members from two configs: the list starts again
	run --separate-stderr env FACET_CONFIG="$REPO/examples/models/tiny.cfg:b.cfg" FACET_EPOCHS=1 \
		FACET_MEMBERS=3 FACET_TRAIN_SEED=3 "$REPO/pipelines/train.sh" faces.facet out
	assert_success
	run $PY -c "$ws"
	assert_output "3 1
4 2
5 1"
	cmp out/model.member3.cfg "$REPO/examples/models/tiny.cfg"
	# one net into the same folder: the earlier run's member files go
	run --separate-stderr env FACET_CONFIG=b.cfg FACET_EPOCHS=1 "$REPO/pipelines/train.sh" \
		faces.facet out
	assert_success
	cmp out/model.cfg b.cfg
	[ -z "$(find out -name 'model.member*' -o -name 'model.facet.member*')" ]
	# a missing config is named before anything is trained
	run --separate-stderr env FACET_CONFIG="b.cfg:nope.cfg" "$REPO/pipelines/train.sh" faces.facet out3
	assert_failure 1
	[[ "$stderr" == *"no such config: nope.cfg"* ]]
	[ ! -e out3 ]
}

@test "train.sh: a net whose config has distill= learns from the nets trained before it" {
	facet-synth -q -n 300 --seed 2 --size 32x32 | facet-split -q --seed 7 > faces.facet
	tiny=$REPO/examples/models/tiny.cfg
	sed 's/^\[head ethnicity\] loss=ce$/& distill=0.5/' "$tiny" > kd.cfg
	run --separate-stderr env FACET_CONFIG="$tiny:kd.cfg" FACET_EPOCHS=1 \
		"$REPO/pipelines/train.sh" faces.facet out
	assert_success
	# member 2 only, with the scores of member 1 in its stream
	assert_equal "$(grep -c 'learns 0.5 of its target from the teacher' <<< "$stderr")" 1
	cmp out/model.member2.cfg kd.cfg
	[ -s out/model.facet ]
	# no net before it: refused before anything is trained
	run --separate-stderr env FACET_CONFIG=kd.cfg "$REPO/pipelines/train.sh" faces.facet out2
	assert_failure 1
	[[ "$stderr" == *"kd.cfg learns from a teacher (distill=), but no net is trained before it"* ]]
	[ ! -e out2/model.facet ]
	# a teacher stage that fails fails the pipeline, by name
	run --separate-stderr env FACET_CONFIG="$tiny:kd.cfg" FACET_EPOCHS=1 \
		FACET_TEACHER_ARGS=--shift=-1 "$REPO/pipelines/train.sh" faces.facet out3
	assert_failure
	[[ "$stderr" == *"stage 'teacher (nets 1-1 score the training faces)' failed"* ]]
	[ ! -e out3/model.facet ]
}
