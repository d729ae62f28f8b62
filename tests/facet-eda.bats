#!/usr/bin/env bats
# facet-eda: label and image statistics against numpy, missing labels and duplicates by name,
# charts present and valid, bad input, the page in a real browser, and the UTKFace folder.
load helper

setup() {
	need_py msgpack msgpack_numpy numpy
	cd "$BATS_TEST_TMPDIR"
}

fixture() { $PY "$REPO/tests/lib/faces_fixture.py" "$@"; }

# |a - b| < 1e-9 for two jq expressions over summary.json and the expected JSON.
close() {
	jq -e -n --slurpfile s "$1" --slurpfile x "$2" \
		"(\$s[0] | $3) as \$a | (\$x[0] | $4) as \$b | ((\$a - \$b) | fabs) < 1e-9" >/dev/null ||
		fail "$3 = $(jq "$3" "$1"), expected $(jq "$4" "$2")"
}

# Every file summary.json lists exists and is a PNG (or an SVG with --format svg).
files_valid() {
	local dir=$1 f
	for f in $(jq -r '.files[]' "$dir/summary.json"); do
		[ -s "$dir/$f" ] || fail "$f listed but missing"
		case "$f" in
		*.png) [ "$(head -c 8 "$dir/$f" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ] ||
			fail "$f is not a PNG" ;;
		*.svg) grep -q '<svg' "$dir/$f" || fail "$f is not an SVG" ;;
		esac
		grep -q "src=\"$f\"" "$dir/index.html" || fail "$f is not on the page"
	done
}

@test "facet-eda: label statistics and correlations match numpy's" {
	fixture 300 5 --missing 3 --dups 2 --expect-eda x.json > s.facet
	run --separate-stderr facet-eda --out eda < s.facet
	assert_success
	assert_output ""
	s=eda/summary.json
	assert_equal "$(jq .records $s)" 300
	close $s x.json .labels.age.min .age_min
	close $s x.json .labels.age.max .age_max
	close $s x.json .labels.age.mean .age_mean
	close $s x.json .labels.age.q1 .age_quartiles[0]
	close $s x.json .labels.age.median .age_quartiles[1]
	close $s x.json .labels.age.q3 .age_quartiles[2]
	assert_equal "$(jq -c '[.labels.gender.classes[]]' $s)" "$(jq -c .gender x.json)"
	assert_equal "$(jq -c '[.labels.ethnicity.classes[]]' $s)" "$(jq -c .ethnicity x.json)"
	close $s x.json '.correlation.matrix[0][1]' .corr_age_female
	close $s x.json '.correlation.matrix[0][2]' .corr_age_white
	close $s x.json .images.brightness.mean .brightness_mean
	close $s x.json .images.brightness.by_gender.female.mean .brightness_female
	assert_equal "$(jq '.correlation.pairs[0][2]' $s)" 297
	assert_equal "$(jq -c '.images.shapes' $s)" '[{"height":24,"width":24,"channels":1,"count":300}]'
	[[ "$stderr" == *"facet-eda: 300 faces, 300 with an image"* ]] || fail "$stderr"
}

@test "facet-eda: missing labels, label errors and duplicates are named" {
	fixture 40 2 --missing 3 --dups 2 > s.facet
	run --separate-stderr facet-eda --out eda < s.facet
	assert_success
	s=eda/summary.json
	assert_equal "$(jq -c '[.missing.ethnicity.records[].id]' $s)" '["face_0.jpg","face_1.jpg","face_2.jpg"]'
	assert_equal "$(jq -r '.missing.ethnicity.records[0].why' $s)" "label absent"
	assert_equal "$(jq '.missing.age.count, .missing.gender.count' $s | tr '\n' ' ')" "0 0 "
	assert_equal "$(jq -r '.label_errors.records[2].why' $s)" "name has 3 fields, not 4: no ethnicity"
	assert_equal "$(jq -c '[.images.duplicates.count, .images.duplicates.groups]' $s)" '[2,2]'
	assert_equal "$(jq -c '[.images.duplicates.records[] | [.id, .why]]' $s)" \
		'[["face_38.jpg","same image as record 2"],["face_39.jpg","same image as record 1"]]'
	[[ "$stderr" == *"missing ethnicity: 3 (face_0.jpg, face_1.jpg, face_2.jpg)"* ]] || fail "$stderr"
	[[ "$stderr" == *"2 duplicate images in 2 groups"* ]] || fail "$stderr"
	grep -q "face_1.jpg" eda/index.html
	grep -q "Records without ethnicity" eda/index.html
	files_valid eda
	for f in age gender ethnicity age_by_gender age_by_ethnicity missing correlation brightness montage; do
		[ "$(jq -r ".files.$f" $s)" != null ] || fail "no $f chart"
	done
}

@test "facet-eda: --max-list caps the names, not the counts" {
	fixture 30 2 --missing 12 > s.facet
	facet-eda -q --max-list 5 --out eda < s.facet
	assert_equal "$(jq -c '[.missing.ethnicity.count, (.missing.ethnicity.records | length), .missing.ethnicity.truncated]' eda/summary.json)" '[12,5,true]'
}

@test "facet-eda: the montage sample follows the seed" {
	fixture 200 1 > s.facet
	facet-eda -q --montage 9 --seed 3 --out a < s.facet
	facet-eda -q --montage 9 --seed 3 --out b < s.facet
	facet-eda -q --montage 9 --seed 4 --out c < s.facet
	assert_equal "$(jq -c .montage.records a/summary.json)" "$(jq -c .montage.records b/summary.json)"
	[ "$(jq -c .montage.records a/summary.json)" != "$(jq -c .montage.records c/summary.json)" ] ||
		fail "seeds 3 and 4 drew the same faces"
	assert_equal "$(jq '.montage.records | length' a/summary.json)" 9
	cmp a/montage.png b/montage.png
}

@test "facet-eda: --format svg draws SVG charts; --montage 0 draws no montage" {
	fixture 50 1 > s.facet
	facet-eda -q --format svg --montage 0 --out eda < s.facet
	assert_equal "$(jq -r .files.age eda/summary.json)" age.svg
	assert_equal "$(jq -r .files.montage eda/summary.json)" null
	[ ! -e eda/montage.png ]
	files_valid eda
}

@test "facet-eda: a stream without labels says so and draws no label charts" {
	fixture 20 1 --no-labels > s.facet
	run --separate-stderr facet-eda --out eda < s.facet
	assert_success
	[[ "$stderr" == *"no labels in the stream (run facet-label first)"* ]] || fail "$stderr"
	assert_equal "$(jq -c '.files | keys' eda/summary.json)" '["montage"]'
	grep -q "No labels in the stream" eda/index.html
	[ ! -e eda/age.png ] && [ ! -e eda/correlation.png ] && [ ! -e eda/missing.png ]
}

@test "facet-eda: a stream without images has label charts, no image section" {
	fixture 20 1 --no-images > s.facet
	facet-eda -q --out eda < s.facet
	assert_equal "$(jq .images.count eda/summary.json)" 0
	assert_equal "$(jq -r .files.montage eda/summary.json)" null
	assert_equal "$(jq -r .files.age eda/summary.json)" age.png
	grep -q "No images in the stream" eda/index.html
}

@test "facet-eda: facet-synth's faces go through" {
	facet-synth -q -n 30 --seed 2 --size 32x32 | facet-eda -q --out eda
	assert_equal "$(jq .records eda/summary.json)" 30
	files_valid eda
}

@test "facet-eda: empty input is an error, and nothing is written" {
	run --separate-stderr facet-eda --out eda < /dev/null
	assert_equal "$status" 1
	assert_equal "$output" ""
	assert_equal "$stderr" "facet-eda: empty input: no records to explore (stdin)"
	[ ! -e eda ]
}

@test "facet-eda: a truncated stream is an error" {
	fixture 3 1 > s.facet
	head -c 1000 s.facet > t.facet
	run --separate-stderr facet-eda --out eda < t.facet
	assert_equal "$status" 1
	assert_equal "$output" ""
	[[ "$stderr" == "facet-eda: "*"trunc"* ]] || fail "$stderr"
	[ ! -e eda/index.html ]
}

@test "facet-eda: --out on a file is an error naming it" {
	fixture 3 1 > s.facet
	touch plain
	run --separate-stderr facet-eda --out plain < s.facet
	assert_equal "$status" 1
	assert_equal "$output" ""
	assert_equal "$stderr" "facet-eda: plain is not a folder"
}

@test "facet-eda: usage errors exit 2" {
	run --separate-stderr facet-eda < /dev/null
	assert_equal "$status" 2
	assert_equal "$output" ""
	[[ "$stderr" == "facet-eda: --out DIR is required"* ]] || fail "$stderr"
	run --separate-stderr facet-eda --out x --format gif < /dev/null
	assert_equal "$status" 2
	[[ "$stderr" == "facet-eda: --format must be png or svg, not 'gif'"* ]] || fail "$stderr"
	run --separate-stderr facet-eda --out x --montage -1 < /dev/null
	assert_equal "$status" 2
}

@test "facet-eda: the page renders in headless Chromium with every image" {
	command -v chromium >/dev/null || skip "chromium not installed (Debian chromium)"
	fixture 120 4 --missing 2 --dups 1 --size 32x32x3 > s.facet
	facet-eda -q --out eda < s.facet
	# A copy of the page that reports, once loaded, how many images decoded.
	sed 's#</body>#<script>window.addEventListener("load", () => { const i = [...document.images]; document.body.insertAdjacentHTML("beforeend", "<pre id=check>IMAGES " + i.length + " BROKEN " + i.filter(x => !x.complete || x.naturalWidth == 0).length + "</pre>"); });</script></body>#' \
		eda/index.html > eda/check.html
	flags=(--headless --no-sandbox --disable-gpu --disable-quic --no-first-run
		--disable-background-networking --disable-component-update --disable-sync
		--user-data-dir="$BATS_TEST_TMPDIR/profile")
	timeout 120 chromium "${flags[@]}" --virtual-time-budget=5000 --dump-dom \
		"file://$PWD/eda/check.html" > dom.html 2>/dev/null
	n=$(jq '.files | length' eda/summary.json)
	grep -q "IMAGES $n BROKEN 0" dom.html || fail "$(grep -o 'IMAGES.*BROKEN [0-9]*' dom.html)"
	timeout 120 chromium "${flags[@]}" --window-size=1400,2400 --screenshot="$PWD/shot.png" \
		"file://$PWD/eda/index.html" 2>/dev/null
	[ "$(head -c 8 shot.png | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ]
	[ "$(stat -c %s shot.png)" -gt 50000 ] || fail "the screenshot looks blank"
}

@test "facet-eda: UTKFace has 21,357 faces, 3 without ethnicity by name, ages 1-116" {
	need_data
	[ -x "$FACET_BIN/facet-decode" ] || skip "facet-decode not built"
	run --separate-stderr bash -c 'facet-decode --size 48x48 --gray "$FACET_DATA" 2>/dev/null |
		facet-label --quiet 2>/dev/null | facet-eda --out eda'
	assert_success
	[[ "$stderr" == *"facet-eda: 21357 faces, 21357 with an image"* ]] || fail "$stderr"
	[[ "$stderr" == *"facet-eda: age 1-116 "* ]] || fail "$stderr"
	[[ "$stderr" == *"facet-eda: missing ethnicity: 3 ("*".jpg"*")"* ]] || fail "$stderr"
	assert_equal "$(jq .records eda/summary.json)" 21357
	assert_equal "$(jq -c '[.labels.age.min, .labels.age.max]' eda/summary.json)" '[1,116]'
	assert_equal "$(jq '.missing.ethnicity.count' eda/summary.json)" 3
	jq -r '.missing.ethnicity.records[].id' eda/summary.json | grep -c '\.jpg' | grep -qx 3
}
