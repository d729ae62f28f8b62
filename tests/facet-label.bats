#!/usr/bin/env bats
load helper

setup() {
	need_py msgpack msgpack_numpy numpy
	cd "$BATS_TEST_TMPDIR"
}

ids() { for i in "$@"; do echo "{\"id\": \"$i\", \"keep\": 1}"; done | $PY "$REPO/tests/lib/mkstream.py"; }

@test "labels come from UTKFace names; other keys pass through in order" {
	ids 25_1_3_20170104.jpg.chip.jpg dir/7_0_0_2017.jpg.chip.jpg 55_0_0_20170116232725357jpg.chip.jpg > in.facet
	run --separate-stderr facet-label < in.facet
	assert_success
	run facet-dump <(facet-label --quiet < in.facet)
	assert_line --index 0 '{"id":"25_1_3_20170104.jpg.chip.jpg","keep":1,"age":25,"gender":1,"ethnicity":3}'
	assert_line --index 1 '{"id":"dir/7_0_0_2017.jpg.chip.jpg","keep":1,"age":7,"gender":0,"ethnicity":0}'
	assert_line --index 2 '{"id":"55_0_0_20170116232725357jpg.chip.jpg","keep":1,"age":55,"gender":0,"ethnicity":0}'
}

@test "a name without a race field keeps age and gender, gets no ethnicity, and is reported" {
	ids 39_1_20170116174525125.jpg.chip.jpg 20_0_1_2017.jpg.chip.jpg > in.facet
	run --separate-stderr facet-label < in.facet
	assert_success
	[[ "$stderr" == *"facet-label: no race field in the name (id '39_1_20170116174525125.jpg.chip.jpg')"* ]]
	[[ "$stderr" == *"2 records: 1 with all three labels, 1 with some missing, 0 with none (missing age 0, gender 0, ethnicity 1); 0 dropped"* ]]
	run facet-dump <(facet-label --quiet < in.facet 2>/dev/null)
	assert_line --index 0 '{"id":"39_1_20170116174525125.jpg.chip.jpg","keep":1,"age":39,"gender":1,"label_error":"no race field in the name"}'
}

@test "out-of-range and non-numeric fields are reported, never guessed" {
	ids 200_0_0_x.jpg 30_5_0_x.jpg 30_1_9_x.jpg abc.jpg > in.facet
	run --separate-stderr facet-label < in.facet
	assert_success
	[[ "$stderr" == *"age field is not an integer in 0..130 (id '200_0_0_x.jpg')"* ]]
	[[ "$stderr" == *"gender field is not 0 or 1 (id '30_5_0_x.jpg')"* ]]
	[[ "$stderr" == *"race field is not an integer in 0..4 (id '30_1_9_x.jpg')"* ]]
	[[ "$stderr" == *"name is not AGE_GENDER_RACE_TIMESTAMP (id 'abc.jpg')"* ]]
	run facet-dump <(facet-label --quiet < in.facet 2>/dev/null)
	assert_line --index 0 --partial '"keep":1,"gender":0,"ethnicity":0,"label_error"'
	assert_line --index 3 '{"id":"abc.jpg","keep":1,"label_error":"name is not AGE_GENDER_RACE_TIMESTAMP"}'
}

@test "--strict drops incomplete records and counts them" {
	ids 39_1_2017.jpg.chip.jpg 20_0_1_2017.jpg.chip.jpg > in.facet
	run --separate-stderr facet-label --strict < in.facet
	[[ "$stderr" == *"no race field in the name: dropped (id '39_1_2017.jpg.chip.jpg')"* ]]
	[[ "$stderr" == *"; 1 dropped"* ]]
	run facet-dump --count <(facet-label --strict --quiet < in.facet 2>/dev/null)
	assert_output 1
}

@test "labels from a CSV keyed by id; missing rows reported; bad cells are errors with a line number" {
	ids a b c > in.facet
	printf 'img_name,age,gender,ethnicity\na,30,1,2\nb,40,,4\n' > labels.csv
	run --separate-stderr facet-label --csv labels.csv < in.facet
	assert_success
	[[ "$stderr" == *"CSV row lacks a label (id 'b')"* ]]
	[[ "$stderr" == *"no CSV row for this id (id 'c')"* ]]
	run facet-dump <(facet-label --quiet --csv labels.csv < in.facet 2>/dev/null)
	assert_line --index 0 '{"id":"a","keep":1,"age":30,"gender":1,"ethnicity":2}'
	assert_line --index 1 --partial '"age":40,"ethnicity":4,'
	printf 'id,age\na,300\n' > bad.csv
	run --separate-stderr facet-label --csv bad.csv < in.facet
	assert_equal "$status" 1
	assert_output ""
	assert_equal "$stderr" "facet-label: '300' is not a valid age (bad.csv, line 2)"
	run --separate-stderr facet-label --csv missing.csv < in.facet
	assert_equal "$status" 1
	[[ "$stderr" == "facet-label: cannot open missing.csv: No such file or directory" ]]
	printf 'id,age\na,30\na,31\n' > twice.csv
	run --separate-stderr facet-label --csv twice.csv < in.facet
	assert_equal "$status" 1
	assert_equal "$stderr" "facet-label: id 'a' appears twice (twice.csv, line 3)"
	printf 'id,age\na,3\0\n' > nul.csv
	run --separate-stderr facet-label --csv nul.csv < in.facet
	assert_equal "$status" 1
	assert_equal "$stderr" "facet-label: a NUL byte: not a text file (nul.csv, line 2)"
	: > empty.csv
	run --separate-stderr facet-label --csv empty.csv < in.facet
	assert_equal "$status" 1
	assert_equal "$stderr" "facet-label: empty CSV file: a header line is needed (empty.csv)"
}

@test "UTKFace names: 21,357 records, 21,354 fully labelled, the 3 without race named" {
	need_data
	ls "$FACET_DATA" | $PY -c '
import sys, msgpack
for l in sys.stdin: sys.stdout.buffer.write(msgpack.packb({"id": l.strip()}))' > ids.facet
	run --separate-stderr facet-label < ids.facet
	assert_success
	[[ "$stderr" == *"21357 records: 21354 with all three labels, 3 with some missing"* ]]
	for n in 39_1_20170116174525125 61_1_20170109142408075 61_1_20170109150557335; do
		[[ "$stderr" == *"no race field in the name (id '$n.jpg.chip.jpg')"* ]] || fail "$n not reported"
	done
}

@test "a face found in a photo (SOURCE#K) takes the photo's labels, from its name or its CSV row" {
	ids 25_1_3_20170104.jpg.chip.jpg#0 25_1_3_20170104.jpg.chip.jpg#12 39_1_20170116.jpg.chip.jpg#1 \
		party.jpg#0 party.jpg#x '#3' > in.facet
	run facet-dump <(facet-label --quiet < in.facet 2>/dev/null)
	assert_line --index 0 '{"id":"25_1_3_20170104.jpg.chip.jpg#0","keep":1,"age":25,"gender":1,"ethnicity":3}'
	assert_line --index 1 '{"id":"25_1_3_20170104.jpg.chip.jpg#12","keep":1,"age":25,"gender":1,"ethnicity":3}'
	# the race field is still missing, not read from the face's index
	assert_line --index 2 '{"id":"39_1_20170116.jpg.chip.jpg#1","keep":1,"age":39,"gender":1,"label_error":"no race field in the name"}'
	printf 'id,age,gender,ethnicity\nparty.jpg,30,1,2\nparty.jpg#0,41,0,0\nx.jpg,5,0,1\n' > labels.csv
	ids party.jpg#1 party.jpg#0 x.jpg#2 x.jpg#x > in.facet
	run --separate-stderr facet-label --csv labels.csv < in.facet
	assert_success
	# a row for the face itself wins; else the photo's row; "#x" is no face index
	[[ "$stderr" == *"no CSV row for this id (id 'x.jpg#x')"* ]]
	run facet-dump <(facet-label --quiet --csv labels.csv < in.facet 2>/dev/null)
	assert_line --index 0 '{"id":"party.jpg#1","keep":1,"age":30,"gender":1,"ethnicity":2}'
	assert_line --index 1 '{"id":"party.jpg#0","keep":1,"age":41,"gender":0,"ethnicity":0}'
	assert_line --index 2 '{"id":"x.jpg#2","keep":1,"age":5,"gender":0,"ethnicity":1}'
}
