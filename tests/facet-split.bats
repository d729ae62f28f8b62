#!/usr/bin/env bats
load helper

setup() {
	need_py msgpack msgpack_numpy numpy
	cd "$BATS_TEST_TMPDIR"
	for i in $(seq 1 2000); do echo "{\"id\": \"face-$i\", \"ethnicity\": $((i % 5))}"; done |
		$PY "$REPO/tests/lib/mkstream.py" > in.facet
}

parts() { facet-dump | $PY -c '
import sys, json, collections
c = collections.Counter(json.loads(l)["split"] for l in sys.stdin)
print(c["train"], c["val"], c["test"])'; }

@test "ratios are respected and the assignment is deterministic" {
	run --separate-stderr facet-split --seed 7 --ratios 80:10:10 < in.facet
	assert_success
	[[ "$stderr" == "facet-split: 2000 records: train "* ]]
	read -r tr va te < <(facet-split -q --seed 7 < in.facet | parts)
	[ $((tr + va + te)) -eq 2000 ]
	[ "$tr" -gt 1500 ] && [ "$tr" -lt 1700 ] || fail "train $tr"
	[ "$va" -gt 140 ] && [ "$va" -lt 260 ] || fail "val $va"
	cmp <(facet-split -q --seed 7 < in.facet) <(facet-split -q --seed 7 < in.facet)
	! cmp -s <(facet-split -q --seed 7 < in.facet) <(facet-split -q --seed 8 < in.facet)
}

@test "a record keeps its part when the dataset grows or is reordered" {
	facet-split -q --seed 3 < in.facet | facet-dump | grep -F '"face-77"' > a
	{ cat in.facet; echo '{"id": "new"}' | $PY "$REPO/tests/lib/mkstream.py"; } |
		facet-split -q --seed 3 | facet-dump | grep -F '"face-77"' > b
	cmp a b
}

@test "--stratify gives exact ratios per group" {
	run bash -c "facet-split -q --seed 1 --stratify ethnicity < in.facet | facet-take -q test | facet-dump | jq -r .ethnicity | sort | uniq -c | awk '{print \$1}' | sort -u"
	assert_success
	assert_output 40
}

@test "--take keeps one part; facet-take filters by part" {
	run --separate-stderr facet-split --seed 7 --take val < in.facet
	assert_success
	n=$(facet-split -q --seed 7 --take val < in.facet | facet-dump --count)
	m=$(facet-split -q --seed 7 < in.facet | facet-take -q val | facet-dump --count)
	assert_equal "$n" "$m"
	k=$(facet-split -q --seed 7 < in.facet | facet-take -q train test | facet-dump --count)
	assert_equal $((n + k)) 2000
}

@test "bad usage and bad input" {
	run --separate-stderr facet-split --ratios 80:20 < in.facet
	assert_equal "$status" 2
	[[ "$stderr" == "facet-split: --ratios takes T:V:E (e.g. 80:10:10), not '80:20'"* ]]
	run --separate-stderr facet-split --stratify colour < in.facet
	assert_equal "$status" 2
	echo '{"age": 3}' | $PY "$REPO/tests/lib/mkstream.py" > noid.facet
	run --separate-stderr facet-split < noid.facet
	assert_equal "$status" 1
	assert_output ""
	[[ "$stderr" == "facet-split: record 1 has no id"* ]]
	run --separate-stderr facet-take val < in.facet
	assert_equal "$status" 1
	[[ "$stderr" == "facet-take: record 1 has no split"* ]]
	run --separate-stderr facet-take dev < in.facet
	assert_equal "$status" 2
}

@test "bench/recipe_splits.py places faces as facet-split does, and says so when it does not" {
	need_py PIL
	facet-synth -q -n 300 --seed 4 --missing 0.05 | facet-split -q --seed 7 > s7.facet
	run --separate-stderr $PY "$REPO/bench/recipe_splits.py" pack s7.facet pack.npz
	assert_success
	assert_output --partial "split seed 7: all 300 faces placed as in the stream"
	[ -s pack.npz ]
	# its own hash, for other seeds, against facet-split's parts face by face
	for seed in 0 1 12345; do
		facet-split -q --seed "$seed" < s7.facet | facet-dump |
			$PY -c 'import sys, json; [print(r["id"], r["split"]) for r in map(json.loads, sys.stdin)]' > want
		$PY -c '
import sys; sys.path.insert(0, sys.argv[1] + "/bench")
import numpy as np, recipe_splits as rs
z = np.load("pack.npz")
names = ["train", "val", "test"]
for i, p in zip(z["ids"], rs.parts([str(s) for s in z["ids"]], int(sys.argv[2]))):
    print(i, names[p])' "$REPO" "$seed" > got
		diff want got
	done
	# a stream split with another seed is refused, and no pack is left behind
	facet-split -q --seed 8 < s7.facet > s8.facet
	run --separate-stderr $PY "$REPO/bench/recipe_splits.py" pack s8.facet pack8.npz
	assert_failure
	[[ "$stderr" == *"placed otherwise than the stream's split (seed 7)"* ]]
	[ ! -e pack8.npz ] && [ ! -e pack8.npz.tmp.npz ]
}

@test "the faces of a photo (SOURCE#K) go where the photo goes" {
	for i in $(seq 1 300); do echo "{\"id\": \"p$i.jpg\"}{\"id\": \"p$i.jpg#0\"}{\"id\": \"p$i.jpg#12\"}"; done |
		sed 's/}{/}\n{/g' | $PY "$REPO/tests/lib/mkstream.py" > faces.facet
	# every photo's three records share one part, and the parts still follow the ratios
	facet-split -q --seed 5 < faces.facet | facet-dump |
		jq -r '"\(.id | sub("#[0-9]+$"; "")) \(.split)"' | sort -u > placed
	[ "$(wc -l < placed)" -eq 300 ]
	[ "$(cut -d' ' -f1 placed | sort -u | wc -l)" -eq 300 ]
	[ "$(grep -c ' train$' placed)" -gt 200 ]
	# only a '#' followed by digits, at the end, marks a face
	printf '{"id": "a#b"}\n{"id": "a"}\n{"id": "#7"}\n{"id": "x#"}\n' | $PY "$REPO/tests/lib/mkstream.py" > odd.facet
	for s in 1 2 3 4 5 6 7 8 9 10 11 12; do
		facet-split -q --seed $s < odd.facet | facet-dump | jq -r .split | tr '\n' ' '; echo
	done | sort -u > odd
	[ "$(wc -l < odd)" -gt 1 ]
	grep -qv '^\([a-z]*\) \1 \1 \1 $' odd
}
