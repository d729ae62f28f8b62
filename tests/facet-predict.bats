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

@test "facet predict --aligned: one line per aligned face image with the shipped model" {
	[ -f "$REPO/models/facet-utk64.facet" ] || skip "no shipped model in models/"
	two_faces
	run --separate-stderr facet predict --aligned face0.png face1.png
	assert_success
	assert_equal "${#lines[@]}" 2
	for l in "${lines[@]}"; do
		[[ "$l" =~ ^face[01]\.png$'\t'[0-9]+\.[0-9]$'\t'(male|female)\ \(0\.[5-9][0-9]|1\.00\)$'\t'(White|Black|Asian|Indian|Other)\ \([01]\.[0-9][0-9]\)$ ]] ||
			fail "bad line: $l"
	done
	# it is the documented pipeline: decode, then facet-score --flip --shift 3 with the model
	facet predict --aligned --json face0.png face1.png | jq -c .pred > got
	facet-decode face0.png face1.png |
		facet-score -q --flip --shift 3 --model "$REPO/models/facet-utk64.facet" |
		facet-dump | jq -c .pred > want
	assert_equal "$(wc -l < got)" 2
	cmp got want
	facet-decode face0.png face1.png | facet-score -q --flip --model "$REPO/models/facet-utk64.facet" |
		facet-dump | jq -c .pred > flip_only
	! cmp -s got flip_only
	run --separate-stderr facet predict --aligned face0.png missing.png
	assert_equal "$status" 1
	assert_equal "${#lines[@]}" 1
	[[ "$stderr" == *missing.png* ]]
}

@test "usage: no image is a usage error; a model that is not there is a clean error" {
	run --separate-stderr facet-predict
	assert_equal "$status" 2
	[[ "$stderr" == *"name at least one photo"* ]]
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
	facet predict --aligned face0.png face1.png | cut -f2- > want
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
	[[ "$stderr" == *"facet-score: not a msgpack map (is this a facet stream?) (stdin, record 1, byte 0)"* ]]
}

# need_photos: the real photos Debian's python3-skimage ships.
need_photos() {
	SKD=/usr/lib/python3/dist-packages/skimage/data
	[ -f "$SKD/astronaut.png" ] || skip "scikit-image's sample photos not found (Debian python3-skimage)"
}

@test "facet predict PHOTO: finds the face, one line per face with its index and box" {
	[ -f "$REPO/models/facet-utk64.facet" ] || skip "no shipped model in models/"
	need_photos
	run --separate-stderr facet predict "$SKD/astronaut.png" "$SKD/chelsea.png"
	assert_success
	assert_equal "${#lines[@]}" 1
	IFS=$'\t' read -r photo face box age gender eth <<< "${lines[0]}"
	assert_equal "$photo" astronaut.png
	assert_equal "$face" 0
	# her face: about x 180-265, y 85-170 in the 512x512 photo
	IFS=, read -r x0 y0 x1 y1 <<< "$box"
	((x0 > 160 && x0 < 200 && y0 > 60 && y0 < 110 && x1 > 245 && x1 < 290 && y1 > 150 && y1 < 195)) ||
		fail "box $box is not on her face"
	[[ "$age" =~ ^[0-9]+\.[0-9]$ ]]
	[[ "$gender" =~ ^female\ \(0\.[5-9][0-9]|1\.00\)$ ]] || fail "gender: $gender"
	[[ "$eth" =~ ^White\ \([01]\.[0-9][0-9]\)$ ]] || fail "ethnicity: $eth"
	[[ "$stderr" == *"no face found ($SKD/chelsea.png)"* ]]
	# it is facet-detect | facet-score --flip --shift 3
	facet predict --json "$SKD/astronaut.png" | jq -c .pred > got
	facet-detect -q "$SKD/astronaut.png" |
		facet-score -q --flip --shift 3 --model "$REPO/models/facet-utk64.facet" |
		facet-dump | jq -c .pred > want
	cmp got want
	# a stream from facet-detect prints the same lines
	facet-detect -q "$SKD/astronaut.png" | facet predict - > from_stream
	printf '%s\n' "${lines[@]}" | cmp - from_stream
}

@test "facet predict --annotate DIR: the photo with the box and the answers drawn on it" {
	[ -f "$REPO/models/facet-utk64.facet" ] || skip "no shipped model in models/"
	need_photos
	mkdir drawn
	run --separate-stderr facet predict --annotate drawn "$SKD/astronaut.png" "$SKD/coffee.png"
	assert_success
	assert_equal "${#lines[@]}" 1
	# only the photo with a face is drawn; same name, same size
	assert_equal "$(ls drawn)" astronaut.png
	$PY - "$SKD/astronaut.png" drawn/astronaut.png "${lines[0]}" <<'PYEOF'
import sys
import numpy as np
from PIL import Image
a = np.asarray(Image.open(sys.argv[1]).convert("RGB")).astype(int)
b = np.asarray(Image.open(sys.argv[2]).convert("RGB")).astype(int)
assert a.shape == b.shape, (a.shape, b.shape)
x0, y0, x1, y1 = map(int, sys.argv[3].split("\t")[2].split(","))
changed = np.abs(a - b).sum(-1) > 0
# the box's outline is drawn (its left edge, all along), the face inside is left as it was
assert changed[y0 + 5:y1 - 5, x0].all(), "no box edge"
assert not changed[y0 + 10:y1 - 10, x0 + 10:x1 - 10].any(), "the face was drawn over"
# the caption sits above the box; far from both, the photo is untouched
assert changed[max(0, y0 - 20):y0, x0:x1].mean() > 0.2, "no caption"
assert not changed[400:, 300:].any(), "drawn far from the face"
PYEOF
}

@test "facet predict: --annotate needs photos and a folder; --aligned keeps lines without a box" {
	run --separate-stderr facet-predict --annotate nowhere x.jpg
	assert_equal "$status" 2
	[[ "$stderr" == *"--annotate takes an existing folder, not 'nowhere'"* ]]
	mkdir d
	run --separate-stderr facet-predict --annotate d --aligned x.jpg
	assert_equal "$status" 2
	[[ "$stderr" == *"--annotate draws on photos: not with --aligned or -"* ]]
	run --separate-stderr facet-predict --annotate d - < /dev/null
	assert_equal "$status" 2
}

@test "the shipped model carries its int8 ranges: facet predict --int8 answers as fp32 does" {
	[ -f "$REPO/models/facet-utk64.facet" ] || skip "no shipped model in models/"
	need_photos
	run --separate-stderr facet predict "$SKD/astronaut.png"
	assert_success
	fp32=$output
	run --separate-stderr facet predict --int8 "$SKD/astronaut.png"
	assert_success
	assert_equal "${#lines[@]}" 1
	# same photo, face and box; gender and ethnicity the same, the age within a year
	IFS=$'\t' read -r -a a <<< "$fp32"
	IFS=$'\t' read -r -a b <<< "$output"
	assert_equal "${a[*]:0:3}" "${b[*]:0:3}"
	assert_equal "${a[4]%% *}" "${b[4]%% *}"
	assert_equal "${a[5]%% *}" "${b[5]%% *}"
	awk -v x="${a[3]}" -v y="${b[3]}" 'BEGIN { d = x - y; exit !(d < 1 && d > -1) }'
}
