#!/usr/bin/env bats
# facet-dump: records as JSON lines; tensors summarised; --head and --count.
load helper

setup() {
	cd "$BATS_TEST_TMPDIR"
	facet-synth -q -n 5 --seed 1 --size 4x3 > s.facet
}

@test "one JSON object per record, keys in stream order, tensors summarised" {
	run --separate-stderr facet-dump s.facet
	assert_success
	assert_equal "${#lines[@]}" 5
	echo "$output" | jq -e -s 'length == 5 and all(.[]; (keys_unsorted | .[0:2]) == ["id", "image"])'
	echo "$output" | jq -e -s 'all(.[]; .image.tensor.dtype == "|u1" and .image.tensor.shape == [3, 4, 3]
		and .image.tensor.min <= .image.tensor.mean and .image.tensor.mean <= .image.tensor.max)'
}

@test "--head N stops after N records, --count counts, a file argument or stdin" {
	run facet-dump --head 2 < s.facet
	assert_equal "${#lines[@]}" 2
	run facet-dump --count s.facet
	assert_output 5
	run facet-dump --head 0 s.facet
	assert_output ""
}

@test "bad usage and bad input" {
	run --separate-stderr facet-dump a b
	assert_equal "$status" 2
	run --separate-stderr facet-dump --head -1 s.facet
	assert_equal "$status" 2
	run --separate-stderr facet-dump missing.facet
	assert_equal "$status" 1
	assert_equal "$stderr" "facet-dump: cannot open missing.facet: No such file or directory"
}
