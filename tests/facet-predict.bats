#!/usr/bin/env bats
# facet-predict (and `facet predict`): one line per face image, for people.
load helper

setup() {
	need_py msgpack msgpack_numpy numpy PIL
	cd "$BATS_TEST_TMPDIR"
}

# two_faces: two synthetic faces as a stream (s.facet) and as PNG files (face0.png, face1.png).
two_faces() {
	facet-synth -n 2 --seed 3 --size 64x64 > s.facet
	$PY -c '
import msgpack, msgpack_numpy
from PIL import Image
for i, r in enumerate(msgpack.Unpacker(open("s.facet", "rb"), raw=False, object_hook=msgpack_numpy.decode)):
    Image.fromarray(r["image"]).save("face%d.png" % i)' || skip "python3-pil needed"
}

@test "facet predict: one line per image with the shipped model" {
	[ -f "$REPO/models/facet-utk64.facet" ] || skip "no shipped model in models/"
	two_faces
	run --separate-stderr facet predict face0.png face1.png
	assert_success
	assert_equal "${#lines[@]}" 2
	for l in "${lines[@]}"; do
		[[ "$l" =~ ^face[01]\.png$'\t'[0-9]+\.[0-9]$'\t'(male|female)\ \(0\.[5-9][0-9]|1\.00\)$'\t'(White|Black|Asian|Indian|Other)\ \([01]\.[0-9][0-9]\)$ ]] ||
			fail "bad line: $l"
	done
	# it is the documented pipeline: decode, then facet-score --flip --shift 3 with the model
	facet predict --json face0.png face1.png | jq -c .pred > got
	facet-decode face0.png face1.png |
		facet-score -q --flip --shift 3 --model "$REPO/models/facet-utk64.facet" |
		facet-dump | jq -c .pred > want
	assert_equal "$(wc -l < got)" 2
	cmp got want
	facet-decode face0.png face1.png | facet-score -q --flip --model "$REPO/models/facet-utk64.facet" |
		facet-dump | jq -c .pred > flip_only
	! cmp -s got flip_only
	run --separate-stderr facet predict face0.png missing.png
	assert_equal "$status" 1
	assert_equal "${#lines[@]}" 1
	[[ "$stderr" == *missing.png* ]]
}

@test "usage: no image is a usage error; a model that is not there is a clean error" {
	run --separate-stderr facet-predict
	assert_equal "$status" 2
	[[ "$stderr" == *"name at least one image"* ]]
	echo x > x.png
	run --separate-stderr facet-predict --model nothere.facet x.png
	assert_equal "$status" 1
	assert_output ""
	[[ "$stderr" == *"nothere.facet"* ]]
}

@test "facet predict -: the records of a stream on stdin, one line each, as the images would give" {
	[ -f "$REPO/models/facet-utk64.facet" ] || skip "no shipped model in models/"
	two_faces
	run --separate-stderr facet predict - < s.facet
	assert_success
	assert_equal "${#lines[@]}" 2
	# the same faces as PNG files (lossless) give the same answers; the lines are named by id
	facet predict face0.png face1.png | cut -f2- > want
	assert_equal "$(printf '%s\n' "${lines[@]}" | cut -f1 | tr '\n' ' ')" "synth-000001 synth-000002 "
	printf '%s\n' "${lines[@]}" | cut -f2- | cmp - want
	# --json: the records of facet-score --flip --shift 3, labels kept
	facet predict --json - < s.facet | jq -c '[.age, .pred]' > got
	facet-score -q --flip --shift 3 --model "$REPO/models/facet-utk64.facet" < s.facet |
		facet-dump | jq -c '[.age, .pred]' > want
	cmp got want
	# - takes no files beside it; a stream that is not one is a data error
	run --separate-stderr facet predict - face0.png
	assert_equal "$status" 2
	[[ "$stderr" == *"- reads a stream from standard input: give no image files with it"* ]]
	run --separate-stderr facet predict - <<< "not a stream"
	assert_equal "$status" 1
	assert_output ""
	[[ "$stderr" == *"facet-score: record 1: not a msgpack map"* ]]
}
