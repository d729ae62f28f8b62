#!/usr/bin/env bats
# facet-synth: seeded synthetic faces whose labels can be learnt from the pixels.
load helper

IMG() { $PY "$REPO/tests/lib/images.py" "$@"; }

setup() {
	cd "$BATS_TEST_TMPDIR"
}

@test "-n 500: 500 records, ids synth-NNNNNN, every label present and in range" {
	run --separate-stderr facet-synth -n 500 --seed 1
	assert_success
	[ "$stderr" = "facet-synth: wrote 500 images" ]
	run facet-dump --count <(facet-synth -q -n 500 --seed 1)
	assert_output 500
	facet-synth -q -n 500 --seed 1 | facet-dump > dump.jsonl
	run head -n 1 dump.jsonl
	assert_output --regexp '^\{"id":"synth-000001","image":\{"tensor":\{"dtype":"\|u1","shape":\[64,64,3\].*\},"age":[0-9]+,"gender":[01],"ethnicity":[0-4]\}$'
	run tail -n 1 dump.jsonl
	assert_output --partial '{"id":"synth-000500",'
	run bash -c "jq -r 'select(.age < 1 or .age > 90 or .gender < 0 or .gender > 1 or .ethnicity < 0 or .ethnicity > 4) | .id' dump.jsonl"
	assert_output ""
	# all five ethnicities and both genders occur
	run bash -c "jq -r '.ethnicity' dump.jsonl | sort -u | tr -d '\n'"
	assert_output "01234"
}

@test "same seed, same bytes; another seed, other bytes; image k does not depend on -n" {
	facet-synth -q -n 50 --seed 9 > a.facet
	facet-synth -q -n 50 --seed 9 > b.facet
	facet-synth -q -n 50 --seed 10 > c.facet
	facet-synth -q -n 20 --seed 9 > d.facet
	cmp a.facet b.facet
	! cmp -s a.facet c.facet
	cmp d.facet <(head -c "$(stat -c %s d.facet)" a.facet)
}

@test "--size and --gray" {
	run facet-dump --head 1 <(facet-synth -q -n 2 --size 40x24 --gray)
	assert_output --partial '"shape":[24,40,1]'
}

@test "--missing 0.5 drops about half of each label and changes nothing else" {
	facet-synth -q -n 1000 --seed 4 --missing 0.5 | facet-dump > miss.jsonl
	for k in age gender ethnicity; do
		n=$(jq -r "select(has(\"$k\")) | .id" miss.jsonl | wc -l)
		[ "$n" -gt 420 ] && [ "$n" -lt 580 ] || fail "$k present in $n of 1000"
	done
	facet-synth -q -n 1000 --seed 4 | facet-dump > full.jsonl
	# the kept labels and the images are those of the run without --missing
	diff <(jq -c '{id, image, age}' full.jsonl | paste -d' ' - <(jq -c 'has("age")' miss.jsonl) | grep ' true$' | cut -d' ' -f1) \
		<(jq -c 'select(has("age")) | {id, image, age}' miss.jsonl)
}

@test "Python reads the records as numpy arrays of the right shape and dtype" {
	need_py msgpack msgpack_numpy numpy
	facet-synth -q -n 3 --size 20x10 > py.facet
	run $PY -c '
import msgpack, msgpack_numpy, sys
u = msgpack.Unpacker(open("py.facet", "rb"), object_hook=msgpack_numpy.decode, raw=False)
for r in u:
    print(r["id"], type(r["image"]).__name__, r["image"].shape, r["image"].dtype, type(r["age"]).__name__)
'
	assert_success
	assert_line --index 0 "synth-000001 ndarray (10, 20, 3) uint8 int"
	assert_line --index 2 "synth-000003 ndarray (10, 20, 3) uint8 int"
}

@test "the labels can be learnt from the pixels (linear models, held-out fifth)" {
	need_py msgpack msgpack_numpy numpy
	facet-synth -q -n 2000 --seed 11 --size 24x24 > learn.facet
	run IMG learn learn.facet
	assert_success
	echo "$output"
	read -r _ gacc _ _ <<< "${lines[0]}"
	read -r _ eacc _ _ <<< "${lines[1]}"
	read -r _ mae _ base <<< "${lines[2]}"
	base=${base%)}
	awk -v g="$gacc" -v e="$eacc" -v m="$mae" -v b="$base" \
		'BEGIN {exit !(g > 0.8 && e > 0.7 && m < b / 2)}' || fail "too hard to learn: $output"
}

@test "fast: 5,000 64x64 images in a few seconds" {
	start=$(date +%s%N)
	facet-synth -q -n 5000 > /dev/null
	ms=$((($(date +%s%N) - start) / 1000000))
	echo "5000 images in $ms ms"
	[ "$ms" -lt 8000 ]
}

@test "> /dev/full and | head -c 1" {
	run --separate-stderr bash -c 'facet-synth -q -n 10 > /dev/full'
	[ "$status" -eq 1 ]
	[[ "${stderr_lines[0]}" == "facet-synth: write error"*"No space left on device" ]]
	run --separate-stderr bash -c 'facet-synth -n 100000 | head -c 1 | wc -c; echo "${PIPESTATUS[0]}"'
	assert_output "1
141"
	[ -z "$stderr" ]
}

@test "usage errors exit 2 with a hint" {
	for args in "-n -1" "--missing 1.5" "--size 0x0" "--seed x" "extra" "--size 5000x5000"; do
		run --separate-stderr facet-synth $args
		[ "$status" -eq 2 ] || fail "'$args': exit $status"
		[ -z "$output" ]
		assert_equal "${stderr_lines[1]}" "Try 'facet-synth --help' for more information."
	done
}
