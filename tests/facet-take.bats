#!/usr/bin/env bats
# facet-take: keep the records of some splits, unchanged and in order.
load helper

setup() {
	cd "$BATS_TEST_TMPDIR"
	facet-synth -q -n 300 --seed 1 --size 8x8 | facet-split -q --seed 7 > s.facet
}

@test "keeps exactly the records of the named parts, unchanged, in order" {
	run --separate-stderr facet-take val < s.facet
	assert_success
	[[ "$stderr" == "facet-take: kept "*" of 300 records" ]]
	diff <(facet-take -q val < s.facet | facet-dump) <(facet-dump s.facet | grep '"split":"val"')
	n=$(facet-take -q train val test < s.facet | facet-dump --count)
	assert_equal "$n" 300
}

@test "a record without a split, a bad part name, no part" {
	facet-synth -q -n 2 --seed 1 --size 8x8 > nosplit.facet
	run --separate-stderr facet-take train < nosplit.facet
	assert_equal "$status" 1
	assert_output ""
	assert_equal "$stderr" "facet-take: record 1 has no split (run facet-split first) (stdin)"
	run --separate-stderr facet-take dev < s.facet
	assert_equal "$status" 2
	run --separate-stderr facet-take < s.facet
	assert_equal "$status" 2
	[[ "$stderr" == *"name at least one PART"* ]]
}
