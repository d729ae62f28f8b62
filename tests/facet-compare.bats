#!/usr/bin/env bats
# facet-compare: paired differences of two models on the same faces, against NumPy and SciPy;
# matching by id whatever the order; what is left out is counted; bad input is refused.
load helper

setup() {
	need_py msgpack numpy scipy
	cd "$BATS_TEST_TMPDIR"
}

pair() { $PY "$REPO/tests/lib/paired_fixture.py" "$@"; }
mk() { $PY "$REPO/tests/lib/mkstream.py"; }

# The figures of one measure in facet-compare's JSON ($1) against the reference ($2), numbers
# within 1e-9 of each other (relative for the p-value, which can be tiny).
close_measure() {
	jq -e -n --slurpfile m "$1" --slurpfile x "$2" --arg k "$3" '
		def near(a; b): ((a - b) | fabs) <= 1e-9 * ([1, (b | fabs)] | max);
		def nearp(a; b): ((a - b) | fabs) <= 1e-9 * b;
		$m[0][$k] as $g | $x[0][$k] as $w
		| $g.faces == $w.faces and near($g.a; $w.a) and near($g.b; $w.b)
		  and near($g.diff; $w.diff) and near($g.ci[0]; $w.ci[0]) and near($g.ci[1]; $w.ci[1])
		  and nearp($g.p; $w.p) and $g.only_a == $w.only_a and $g.only_b == $w.only_b' \
		>/dev/null || fail "$3: $(jq -c ".$3" "$1"), expected $(jq -c ".$3" "$2")"
}

@test "facet-compare: every paired figure matches NumPy's and SciPy's" {
	pair 600 1 a.facet b.facet x.json
	run --separate-stderr facet-compare --json a.facet b.facet
	assert_success
	echo "$output" > got.json
	assert_equal "$(jq .faces got.json)" 600
	for k in age_mae gender_accuracy ethnicity_accuracy gender_logloss ethnicity_logloss; do
		close_measure got.json x.json $k
	done
	# model A is the better one here, and the test says so
	jq -e '.age_mae.diff < 0 and .age_mae.ci[1] < 0 and .ethnicity_accuracy.diff > 0' got.json
	jq -e '.ethnicity_accuracy.test == "mcnemar-exact" and .age_mae.test == "paired-normal"' got.json
	[[ "$stderr" == "facet-compare: 600 faces scored in both; A (a.facet): 600 records, 0 not in B, 0 unscored; B (b.facet): 600 records, 0 not in A, 0 unscored" ]]
}

@test "facet-compare: the table holds the same figures, one row per measure" {
	pair 300 2 a.facet b.facet x.json
	run --separate-stderr facet-compare a.facet b.facet
	assert_success
	assert_equal "${#lines[@]}" 6
	assert_equal "$(echo "${lines[0]}" | tr -s ' ')" "measure faces A B A-B ci_low ci_high p only_A only_B"
	read -r -a f <<< "${lines[3]#ethnicity accuracy}"
	assert_equal "${f[0]}" "$(jq .ethnicity_accuracy.faces x.json)"
	assert_equal "${f[1]}" "$(printf '%.4f' "$(jq .ethnicity_accuracy.a x.json)")"
	assert_equal "${f[3]}" "$(printf '%+.4f' "$(jq .ethnicity_accuracy.diff x.json)")"
	assert_equal "${f[7]} ${f[8]}" "$(jq -r '"\(.ethnicity_accuracy.only_a) \(.ethnicity_accuracy.only_b)"' x.json)"
	[[ "${lines[1]}" == "age MAE (years) "* && "${lines[5]}" == "ethnicity log-loss "* ]]
}

@test "facet-compare: a stream compared with itself differs by nothing, p = 1" {
	pair 200 3 a.facet b.facet x.json
	run facet-compare -q --json a.facet a.facet
	assert_success
	jq -e '[.age_mae, .gender_accuracy, .ethnicity_accuracy, .gender_logloss, .ethnicity_logloss]
		| all(.diff == 0 and .ci == [0, 0] and .p == 1)' <<< "$output"
	jq -e '.gender_accuracy.only_a == 0 and .gender_accuracy.only_b == 0' <<< "$output"
}

@test "facet-compare: faces are matched by id in any order; faces in one stream only, or unscored, are counted" {
	pair 400 4 a.facet b.facet x.json --shuffle --only-a 2 --only-b 3 --unscored-b 5
	run --separate-stderr facet-compare --json a.facet b.facet
	assert_success
	echo "$output" > got.json
	for k in age_mae gender_accuracy ethnicity_accuracy gender_logloss ethnicity_logloss; do
		close_measure got.json x.json $k
	done
	jq -e '.faces == 395 and .a_not_in_b == 2 and .b_not_in_a == 3 and .b_unscored == 8 and .a_unscored == 0' got.json
	[[ "$stderr" == *"395 faces scored in both; A (a.facet): 402 records, 2 not in B, 0 unscored; B (b.facet): 403 records, 3 not in A, 8 unscored" ]]
	# B from standard input: the same
	assert_equal "$(facet-compare -q --json a.facet - < b.facet | jq -c 'del(.b)')" \
		"$(jq -c 'del(.b)' got.json)"
}

# The records of A and B ($3, $4) whose true $1 falls in group $2 (age: bands of ten years, 80+
# the last), written to ag.facet and bg.facet in their order: the faces --by puts in that group.
subset() {
	$PY - "$@" <<'EOF'
import sys, msgpack
key, g, a, b = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
def group(r):
    if key == "age":
        return min(r["age"] // 10, 8) if "age" in r else -1
    return r.get(key, -1)
for src, dst in ((a, "ag.facet"), (b, "bg.facet")):
    with open(src, "rb") as f, open(dst, "wb") as out:
        for r in msgpack.Unpacker(f, raw=False):
            if group(r) == g:
                out.write(msgpack.packb(r))
EOF
}

@test "facet-compare --by: each group's figures are those of its faces compared alone" {
	pair 500 7 a.facet b.facet x.json --shuffle --only-a 2 --unscored-b 1
	for key in gender ethnicity age; do
		run --separate-stderr facet-compare --json --by $key a.facet b.facet
		assert_success
		echo "$output" > got.json
		n=$(jq '.groups | length' got.json)
		case $key in gender) want=2 ;; ethnicity) want=5 ;; age) want=9 ;; esac
		assert_equal "$n" "$want"
		jq -e --arg k $key '.by == $k' got.json
		# the overall figures are those without --by
		assert_equal "$(jq -c 'del(.by, .groups, .no_group)' got.json)" \
			"$(facet-compare -q --json a.facet b.facet | jq -c .)"
		for ((g = 0; g < n; g++)); do
			subset $key $g a.facet b.facet
			facet-compare -q --json ag.facet bg.facet > sub.json
			assert_equal "$(jq -c ".groups[$g] | del(.group)" got.json)" \
				"$(jq -c 'del(.a, .b, .faces, .a_not_in_b, .b_not_in_a, .a_unscored, .b_unscored, .level)' sub.json)"
		done
	done
	# faces 1 and 2 have no ethnicity (face 0 is unscored in B): counted, in no group
	facet-compare -q --json --by ethnicity a.facet b.facet > got.json
	jq -e '.no_group == 2 and ([.groups[].ethnicity_accuracy.faces] | add) == .ethnicity_accuracy.faces
		and ([.groups[].age_mae.faces] | add) == .age_mae.faces - 2' got.json
	run --separate-stderr facet-compare --by ethnicity a.facet b.facet
	[[ "$stderr" == *"facet-compare: 2 of them without an ethnicity label, in no group" ]]
	jq -e '.groups | map(.group) == ["White", "Black", "Asian", "Indian", "Other"]' got.json
	jq -e '.groups | map(.group) == ["male", "female"]' <(facet-compare -q --json --by gender a.facet b.facet)
	jq -e '.groups[8].group == "80+" and .no_group == 0' <(facet-compare -q --json --by age a.facet b.facet)
}

@test "facet-compare --by: the table has a group column and five rows per group" {
	pair 300 8 a.facet b.facet x.json
	run --separate-stderr facet-compare --by gender a.facet b.facet
	assert_success
	assert_equal "${#lines[@]}" 16
	assert_equal "$(echo "${lines[0]}" | tr -s ' ')" "group measure faces A B A-B ci_low ci_high p only_A only_B"
	[[ "${lines[1]}" == "all        age MAE (years) "* && "${lines[6]}" == "male       age MAE (years) "* ]]
	[[ "${lines[15]}" == "female     ethnicity log-loss "* ]]
	# the female rows' ethnicity accuracy is the JSON's
	read -r -a f <<< "${lines[13]#female     ethnicity accuracy}"
	facet-compare -q --json --by gender a.facet b.facet > got.json
	assert_equal "${f[0]} ${f[3]}" "$(jq -r '.groups[1].ethnicity_accuracy | "\(.faces) \(.diff)"' got.json | awk '{printf "%s %+.4f", $1, $2}')"
}

@test "facet-compare: bad input is refused with the record and the stream named" {
	pair 20 5 a.facet b.facet x.json
	# no face in both
	mk <<< '{"id": "other", "age": 3, "gender": 0, "pred": {"age": 3.0, "gender": [0.9, 0.1]}}' > o.facet
	run --separate-stderr facet-compare a.facet o.facet
	assert_failure 1
	[ -z "$output" ]
	[[ "$stderr" == *"facet-compare: no face is scored in both streams (a.facet, o.facet)" ]]
	# a repeated id
	cat b.facet b.facet > bb.facet
	run --separate-stderr facet-compare a.facet bb.facet
	assert_failure 1
	[ "$stderr" = "facet-compare: id 'face_0' is there twice (bb.facet, record 21)" ]
	# the same face with other labels
	mk <<< '{"id": "face_0", "age": 99, "gender": 0}' > l.facet
	run --separate-stderr facet-compare l.facet b.facet
	assert_failure 1
	[ "$stderr" = "facet-compare: id 'face_0' has other labels than in the other stream (l.facet, record 1)" ]
	# no id
	mk <<< '{"age": 9, "gender": 0}' > n.facet
	run --separate-stderr facet-compare a.facet n.facet
	assert_failure 1
	[ "$stderr" = "facet-compare: record 1 has no id, so it cannot be matched (n.facet)" ]
	# a truncated stream, a missing file
	head -c 100 b.facet > t.facet
	run --separate-stderr facet-compare a.facet t.facet
	assert_failure 1
	[[ "$stderr" == "facet-compare: "*"t.facet"* ]]
	[ -z "$output" ]
	run --separate-stderr facet-compare a.facet missing.facet
	assert_failure 1
	[[ "$stderr" == "facet-compare: "*"missing.facet"* ]]
}

@test "facet-compare: usage errors exit 2" {
	run --separate-stderr facet-compare a.facet
	assert_failure 2
	[[ "$stderr" == *"name two scored streams, A and B"* ]]
	run --separate-stderr facet-compare - -
	assert_failure 2
	run --separate-stderr facet-compare --bogus a b
	assert_failure 2
	run --separate-stderr facet-compare --by race a b
	assert_failure 2
	[[ "$stderr" == *"--by takes gender, ethnicity or age, not 'race'"* ]]
}

@test "facet-compare: > /dev/full is a write error" {
	pair 50 6 a.facet b.facet x.json
	run --separate-stderr bash -c 'facet-compare -q a.facet b.facet > /dev/full'
	assert_failure 1
	[[ "$stderr" == *"write error"* ]]
}
