#!/usr/bin/env bats
# facet-resize: geometry and channels of a stream's images; everything else passes through.
load helper

IMG() { $PY "$REPO/tests/lib/images.py" "$@"; }
MK() { $PY "$REPO/tests/lib/mkstream.py"; }

setup() {
	need_py msgpack msgpack_numpy numpy
	cd "$BATS_TEST_TMPDIR"
	facet-synth -q -n 4 --seed 2 > synth.facet
}

@test "--size --fit stretch: every image WxH, labels and key order unchanged" {
	run --separate-stderr facet-resize --size 32x16 --fit stretch < synth.facet
	assert_success
	[ "$stderr" = "facet-resize: resized 4 images" ]
	run IMG shapes <(facet-resize -q --size 32x16 --fit stretch < synth.facet)
	assert_line --index 0 "synth-000001 16x32x3 uint8"
	assert_line --index 3 "synth-000004 16x32x3 uint8"
	diff <(facet-dump synth.facet | sed 's/"image":{[^}]*}}//') \
		<(facet-resize -q --size 32x16 --fit stretch < synth.facet | facet-dump | sed 's/"image":{[^}]*}}//')
}

@test "halving is the exact 2x2 area average (against numpy)" {
	facet-resize -q --size 32x32 < synth.facet > half.facet
	IMG halve < synth.facet > ref.facet
	run IMG diff half.facet ref.facet
	assert_success
	read -r mean max <<< "$output"
	[ "$max" -le 1 ] || fail "max difference $max"
}

@test "--gray then --rgb: one channel, then three equal ones" {
	run IMG shapes <(facet-resize -q --gray < synth.facet)
	assert_line --index 0 "synth-000001 64x64x1 uint8"
	facet-resize -q --gray < synth.facet | facet-resize -q --rgb > rgb.facet
	run IMG shapes rgb.facet
	assert_line --index 0 "synth-000001 64x64x3 uint8"
	run IMG pixel rgb.facet 2 30 30
	read -r r g b <<< "$output"
	[ "$r" = "$g" ] && [ "$g" = "$b" ] || fail "channels differ: $output"
}

@test "--fit crop keeps the centre; --fit pad centres the image on --pad-value" {
	echo '{"id": "wide", "image": {"$image": [10, 40, 1, 100]}, "age": 3}' | MK > wide.facet
	facet-resize -q --size 20x20 --fit crop < wide.facet > crop.facet
	run IMG shapes crop.facet
	assert_output "wide 20x20x1 uint8"
	run IMG pixel crop.facet 0 0 0
	assert_output "100"
	facet-resize -q --size 20x20 --fit pad --pad-value 7 < wide.facet > pad.facet
	run IMG pixel pad.facet 0 0 10
	assert_output "7"
	run IMG pixel pad.facet 0 19 10
	assert_output "7"
	run IMG pixel pad.facet 0 10 10
	assert_output "100"
	run facet-dump pad.facet
	assert_output --partial '"age":3}'
}

@test "a record without an image passes through whole" {
	printf '{"id": "a", "note": "no image"}\n{"id": "b", "image": {"$image": [4, 4, 3, 9]}}\n' | MK > some.facet
	run --separate-stderr facet-resize --size 2x2 < some.facet
	assert_success
	[ "$stderr" = "facet-resize: resized 1 images, passed 1 records without an image through" ]
	run facet-dump <(facet-resize -q --size 2x2 < some.facet)
	assert_line --index 0 '{"id":"a","note":"no image"}'
	assert_line --index 1 --partial '"shape":[2,2,3],"min":9.0,"max":9.0'
}

@test "an image that is not uint8 [H, W, C]: exit 1 naming the record" {
	echo '{"id": "f", "image": {"$tensor": ["<f4", [2, 2, 1], [0, 1, 2, 3]]}}' | MK > float.facet
	run --separate-stderr facet-resize --gray < float.facet
	[ "$status" -eq 1 ]
	[ -z "$output" ]
	assert_equal "$stderr" "facet-resize: cannot resize the image: not an image tensor (uint8 [H, W, C], C = 1 or 3) (stdin, record 1, id 'f')"
}

@test "hostile and truncated streams: exit 1, one message, nothing on stdout" {
	run --separate-stderr bash -c "printf '\xdd\x10\x00\x00\x00' | facet-resize --gray"
	[ "$status" -eq 1 ]
	[ -z "$output" ]
	[[ "$stderr" == "facet-resize: "*" (stdin, record 1, byte "*")" ]]
	[ "${#stderr_lines[@]}" -eq 1 ]
	head -c 3000 synth.facet > cut.facet
	run --separate-stderr facet-resize --gray < cut.facet
	[ "$status" -eq 1 ]
	[ -z "$output" ]
	[[ "$stderr" == "facet-resize: "*" (stdin, record 1, byte "*")" ]]
}

@test "empty input: empty output, exit 0" {
	run --separate-stderr facet-resize --gray < /dev/null
	assert_success
	[ -z "$output" ]
}

@test "> /dev/full and | head -c 1" {
	run --separate-stderr bash -c 'facet-resize -q --gray < synth.facet > /dev/full'
	[ "$status" -eq 1 ]
	[[ "${stderr_lines[0]}" == "facet-resize: write error"*"No space left on device" ]]
	run --separate-stderr bash -c 'facet-synth -q -n 300 | facet-resize --size 128x128 | head -c 1 | wc -c; echo "${PIPESTATUS[1]}"'
	assert_output "1
141"
	[ -z "$stderr" ]
}

@test "usage errors exit 2 with a hint" {
	for args in "" "--fit wobble --gray" "--pad-value 300 --gray" "--size 0x1" "--gray --rgb" "--gray extra"; do
		run --separate-stderr facet-resize $args < synth.facet
		[ "$status" -eq 2 ] || fail "'$args': exit $status"
		[ -z "$output" ]
		assert_equal "${stderr_lines[1]}" "Try 'facet-resize --help' for more information."
	done
}
