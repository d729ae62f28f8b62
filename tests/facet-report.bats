#!/usr/bin/env bats
# facet-report: metrics against scikit-learn and against hand-worked numbers, confidence
# intervals against SciPy's, the fairness slices, training curves, worst faces, bad input, and the
# page in a real browser.
load helper

setup() {
	need_py msgpack msgpack_numpy numpy
	cd "$BATS_TEST_TMPDIR"
}

fixture() { $PY "$REPO/tests/lib/faces_fixture.py" "$@"; }
mk() { $PY "$REPO/tests/lib/mkstream.py"; }

# jq expression over metrics.json ~ jq expression over the expected JSON: numbers within 1e-9,
# arrays element by element, null only against null.
close() {
	jq -e -n --slurpfile m "$1" --slurpfile x "$2" '
		def near(a; b): if (a | type) == "array"
			then ([a, b] | transpose | all(near(.[0]; .[1])))
			elif a == null or b == null then a == b
			else ((a - b) | fabs) < 1e-9 end;
		near($m[0] | '"$3"'; $x[0] | '"$4"')' >/dev/null ||
		fail "$3 = $(jq -c "$3" "$1"), expected $(jq -c "$4" "$2")"
}

# Four faces worked out by hand (see the numbers in the test below).
hand_made() {
	mk <<'EOF'
{"id": "a.jpg", "image": {"$image": [8, 8, 1, 10]}, "age": 20, "gender": 0, "ethnicity": 0, "pred": {"age": 25.0, "gender": [0.9, 0.1], "ethnicity": [0.6, 0.1, 0.1, 0.1, 0.1]}}
{"id": "b.jpg", "image": {"$image": [8, 8, 1, 60]}, "age": 30, "gender": 1, "ethnicity": 1, "pred": {"age": 27.0, "gender": [0.2, 0.8], "ethnicity": [0.1, 0.1, 0.6, 0.1, 0.1]}}
{"id": "c.jpg", "image": {"$image": [8, 8, 1, 120]}, "age": 85, "gender": 1, "ethnicity": 2, "pred": {"age": 60.0, "gender": [0.6, 0.4], "ethnicity": [0.1, 0.1, 0.6, 0.1, 0.1]}}
{"id": "d.jpg", "image": {"$image": [8, 8, 1, 200]}, "age": 5, "gender": 0, "ethnicity": 0, "pred": {"age": 5.0, "gender": [0.3, 0.7], "ethnicity": [0.6, 0.1, 0.1, 0.1, 0.1]}}
EOF
}

# A facet-train metrics file: 3 epochs, validation for loss and age only, none in epoch 3.
training_metrics() {
	$PY -c '
import sys, msgpack
out = sys.stdout.buffer
for e in range(1, 4):
    r = {"epoch": e, "lr": 0.001 / e, "time_s": 10.0 + e, "images_per_s": 300.0 + e,
         "train": {"loss": 2.0 / e, "age_mae": 12.0 - e, "gender_acc": 0.6 + 0.1 * e,
                   "ethnicity_acc": 0.5 + 0.05 * e}}
    if e < 3:
        r["val"] = {"loss": 2.2 / e, "age_mae": 13.0 - e}
    out.write(msgpack.packb(r))'
}

@test "facet-report: hand-worked metrics of four faces" {
	hand_made > s.facet
	run --separate-stderr facet-report --out rep < s.facet
	assert_success
	assert_output ""
	m=rep/metrics.json
	assert_equal "$(jq -c '[.records, .scored, .compared]' $m)" '[4,4,4]'
	# errors 5, -3, -25, 0: MAE 33/4, MSE 659/4, bias -23/4
	assert_equal "$(jq -c '[.age.mae, .age.mse, .age.bias]' $m)" '[8.25,164.75,-5.75]'
	jq -e '.age.rmse == (164.75 | sqrt)' $m >/dev/null
	assert_equal "$(jq -c '[.age.by_band["0-9", "20-29", "30-39", "80+"].mae]' $m)" '[0,5,3,25]'
	assert_equal "$(jq -c '.age.by_band["10-19"].mae' $m)" null
	# gender: a right, b right, c wrong, d wrong; AUC: pos {0.8, 0.4} vs neg {0.1, 0.7} = 3/4
	assert_equal "$(jq -c '[.gender.accuracy, .gender.auc, .gender.confusion]' $m)" '[0.5,0.75,[[1,1],[1,1]]]'
	# ethnicity: truth 0 1 2 0, predicted 0 2 2 0
	assert_equal "$(jq -c '.ethnicity.confusion' $m)" '[[2,0,0,0,0],[0,0,1,0,0],[0,0,1,0,0],[0,0,0,0,0],[0,0,0,0,0]]'
	assert_equal "$(jq -c '[.ethnicity.accuracy, .ethnicity.classes.Asian.precision, .ethnicity.classes.Asian.recall, .ethnicity.classes.Black.f1]' $m)" '[0.75,0.5,1,0]'
	# macro over the classes seen (White, Black, Asian): P (1 + 0 + .5)/3, R (1 + 0 + 1)/3
	jq -e '(.ethnicity.macro.precision - 0.5) | fabs < 1e-12' $m >/dev/null
	jq -e '(.ethnicity.macro.recall - 2 / 3) | fabs < 1e-12' $m >/dev/null
	# worst first: c (2.5 + 0.6 + 0.4 = 3.5), b (0.3 + 0.2 + 0.9), d (0 + 0.7 + 0.4), a (0.5 + 0.1 + 0.4)
	assert_equal "$(jq -c '[.worst[].id]' $m)" '["c.jpg","b.jpg","d.jpg","a.jpg"]'
	jq -e '(.worst[0].score - 3.5) | fabs < 1e-12' $m >/dev/null
	assert_equal "$(jq -r '.worst[0].caption' $m)" "$(printf 'true 85 F Asian\npred 60 M Asian')"
	[[ "$stderr" == *"facet-report: age: MAE 8.25 (95 % CI 0.00-19.38), RMSE 12.84 years over 4 faces"* ]] || fail "$stderr"
	[[ "$stderr" == *"facet-report: gender: accuracy 0.500 (95 % CI 0.150-0.850), AUC 0.750 over 4 faces"* ]] || fail "$stderr"
	[[ "$stderr" == *"facet-report: ethnicity: accuracy 0.750 (95 % CI 0.301-0.954), macro F1 0.556 over 4 faces"* ]] || fail "$stderr"
}

@test "facet-report: confidence intervals of the four faces, worked with SciPy" {
	hand_made > s.facet
	facet-report -q --out rep < s.facet
	m=rep/metrics.json
	# Wilson (scipy.stats.binomtest(k, n).proportion_ci(0.95, "wilson")): 2 of 4, 3 of 4, 0 of 1, 1 of 1, 1 of 2, 2 of 2
	cat > x.json <<'EOF'
{"w2of4": [0.15003898915214953, 0.8499610108478505], "w3of4": [0.30064184258240184, 0.9544127391902995],
 "w0of1": [0, 0.7934506856227626], "w1of1": [0.20654931437723745, 1],
 "w1of2": [0.09453120573423074, 0.9054687942657693], "w2of2": [0.34238022750665303, 1],
 "mae": [0, 19.3768601400075]}
EOF
	close $m x.json .gender.accuracy_ci .w2of4
	close $m x.json .ethnicity.accuracy_ci .w3of4
	close $m x.json .ethnicity.classes.White.recall_ci .w2of2
	close $m x.json .ethnicity.classes.Black.recall_ci .w0of1
	close $m x.json .ethnicity.classes.Asian.recall_ci .w1of1
	close $m x.json .ethnicity.classes.Asian.precision_ci .w1of2
	# |errors| 5, 3, 25, 0: 8.25 -+ 1.96 * sd / 2 = -2.88..19.38, clamped at 0 (numpy, scipy.stats.sem)
	close $m x.json .age.mae_ci .mae
	# No interval where nothing was predicted as the class, for no face, or for one age error
	assert_equal "$(jq -c '[.ethnicity.classes.Black.precision_ci, .ethnicity.classes.Other.recall_ci, .age.by_band["0-9", "10-19"].mae_ci]' $m)" '[null,null,null,null]'
	assert_equal "$(jq -c '.ci' $m)" '{"level":0.95,"z":1.959963984540054,"proportions":"wilson","mae":"normal"}'
	# The page: overall figures and the fairness table (male White: gender 1 of 2, ethnicity 2 of 2)
	grep -q 'accuracy 0.500 (95 % CI 0.150-0.850), ROC AUC' rep/index.html || fail "no gender interval on the page"
	grep -q 'MAE 8.25 years (95 % CI 0.00-19.38)' rep/index.html || fail "no age interval on the page"
	grep -q '<tr><td>male White</td><td>2</td><td>2.50 (0.00-7.40)</td><td>3.54</td><td>+2.50</td><td>0.500 (0.095-0.905)</td><td>-</td><td>1.000 (0.342-1.000)</td></tr>' rep/index.html ||
		fail "$(grep -o '<tr><td>male White.*' rep/index.html)"
}

@test "facet-report: k right of n faces gives the Wilson interval on stderr, in metrics.json and on the page" {
	# 81 of 263 right, Newcombe's (1998) worked example: 0.2553 to 0.3662
	$PY -c '
import json
for i in range(263):
    print(json.dumps({"id": "f%d" % i, "gender": 1, "pred": {"gender": [0.2, 0.8] if i < 81 else [0.7, 0.3]}}))' | mk > s.facet
	run --separate-stderr facet-report --out rep < s.facet
	assert_success
	[[ "$stderr" == *"facet-report: gender: accuracy 0.308 (95 % CI 0.255-0.366), AUC nan over 263 faces"* ]] || fail "$stderr"
	echo '[0.2552885198782742, 0.36620957698280004]' > x.json
	close rep/metrics.json x.json .gender.accuracy_ci .
	close rep/metrics.json x.json .gender.classes.female.recall_ci .
	grep -q 'accuracy 0.308 (95 % CI 0.255-0.366)' rep/index.html || fail "no interval on the page"
	# One face: an accuracy interval (Wilson, 1 of 1), but no spread to put an interval on its MAE
	echo '{"id": "x", "age": 30, "gender": 0, "pred": {"age": 35.0, "gender": [0.9, 0.1]}}' | mk > one.facet
	run --separate-stderr facet-report --out one < one.facet
	assert_success
	[[ "$stderr" == *"facet-report: age: MAE 5.00, RMSE 5.00 years over 1 faces"* ]] || fail "$stderr"
	[[ "$stderr" == *"facet-report: gender: accuracy 1.000 (95 % CI 0.207-1.000), AUC nan over 1 faces"* ]] || fail "$stderr"
	assert_equal "$(jq -c '[.age.mae_ci, .gender.accuracy_ci[1]]' one/metrics.json)" '[null,1]'
}

@test "facet-report: metrics match scikit-learn's on 400 scored faces" {
	need_py sklearn
	fixture 400 3 --pred --missing 3 --expect x.json > s.facet
	facet-report -q --out rep < s.facet
	m=rep/metrics.json
	close $m x.json .age.mae .age_mae
	close $m x.json .age.mse .age_mse
	close $m x.json .age.rmse .age_rmse
	close $m x.json '[.age.by_band[].mae]' .age_mae_by_band
	close $m x.json .gender.accuracy .gender_accuracy
	close $m x.json .gender.auc .gender_auc
	assert_equal "$(jq -c .gender.confusion $m)" "$(jq -c .gender_confusion x.json)"
	close $m x.json '[.gender.classes[].precision]' .gender_precision
	close $m x.json '[.gender.classes[].recall]' .gender_recall
	close $m x.json '[.gender.classes[].f1]' .gender_f1
	close $m x.json .ethnicity.accuracy .ethnicity_accuracy
	assert_equal "$(jq -c .ethnicity.confusion $m)" "$(jq -c .ethnicity_confusion x.json)"
	close $m x.json '[.ethnicity.classes[].precision]' .ethnicity_precision
	close $m x.json '[.ethnicity.classes[].recall]' .ethnicity_recall
	close $m x.json '[.ethnicity.classes[].f1]' .ethnicity_f1
	close $m x.json '[.ethnicity.macro[]]' .ethnicity_macro
	assert_equal "$(jq .ethnicity.count $m)" 397
}

@test "facet-report: confidence intervals match SciPy's on 400 scored faces" {
	need_py sklearn scipy
	fixture 400 3 --pred --missing 3 --expect x.json > s.facet
	facet-report -q --out rep < s.facet
	m=rep/metrics.json
	close $m x.json .age.mae_ci .age_mae_ci
	close $m x.json '[.age.by_band[].mae_ci]' .age_mae_by_band_ci
	close $m x.json .gender.accuracy_ci .gender_accuracy_ci
	close $m x.json .ethnicity.accuracy_ci .ethnicity_accuracy_ci
	for h in gender ethnicity; do
		close $m x.json "[.$h.classes[].recall_ci]" ".${h}_recall_ci"
		close $m x.json "[.$h.classes[].precision_ci]" ".${h}_precision_ci"
	done
	for s in "male White" "male Indian" "female Black" "female Other"; do
		for k in age.mae_ci gender_accuracy_ci ethnicity_accuracy_ci; do
			close $m x.json ".slices[] | select(.slice == \"$s\") | .$k" ".slices[\"$s\"].${k/./_}"
		done
	done
}

@test "scripts/model_tables.sh: the README's tables quote the report's figures and intervals" {
	fixture 400 3 --pred --missing 3 > s.facet
	facet-report -q --out rep < s.facet
	m=rep/metrics.json
	run --separate-stderr "$REPO/scripts/model_tables.sh" $m
	assert_success
	# the headline: each figure and its interval, rounded as printed
	pct() { jq -r "$1 | . * 1000 | round / 10 | tostring | if test(\"[.]\") then . else . + \".0\" end" $m; }
	want="gender $(pct .gender.accuracy) % ($(pct '.gender.accuracy_ci[0]')-$(pct '.gender.accuracy_ci[1]'))"
	[[ "${lines[0]}" == *"$want"* ]] || fail "no '$want' in: ${lines[0]}"
	[[ "${lines[0]}" =~ ^"age MAE "[0-9.]+" ("[0-9.]+-[0-9.]+"), gender" ]]
	# one row per gender x ethnicity group and per age band, each cell with its interval
	s=$(jq '[.slices[] | select(.gender != null and .ethnicity != null)] | length' $m)
	assert_equal "$(grep -cE '^\| (male|female) [A-Za-z]+ \| [0-9]+ \| [0-9.]+ \([0-9.]+-[0-9.]+\) \| [0-9.]+ % \(' <<< "$output")" "$s"
	b=$(jq '[.slices[] | select(.age_band != null)] | length' $m)
	assert_equal "$(grep -cE '^\| [0-9]+(-[0-9]+|\+) \| ' <<< "$output")" "$b"
}

@test "facet-report: every interval holds its figure, stays in range and narrows as n grows" {
	# Every [lo, hi] in metrics.json beside its figure: lo <= figure <= hi, accuracies in [0, 1]
	check_intervals() {
		jq -e '
			def ok(x; ci; top): ci == null or (ci[0] >= 0 and ci[0] <= x and x <= ci[1] and ci[1] <= top);
			def reg: ok(.mae; .mae_ci; infinite);
			(.age | reg) and (.age.by_band | all(.[]; reg))
			and ([.gender, .ethnicity] | all(.[];
				ok(.accuracy; .accuracy_ci; 1)
				and (.classes | all(.[]; ok(.precision; .precision_ci; 1) and ok(.recall; .recall_ci; 1)))))
			and (.slices | all(.[]; (.age | reg)
				and ok(.gender_accuracy; .gender_accuracy_ci; 1)
				and ok(.ethnicity_accuracy; .ethnicity_accuracy_ci; 1)))
			and ([.. | arrays | select(length == 2 and (.[0] | type) == "number")] | length) > 50' "$1" >/dev/null ||
			fail "$1: an interval is out of range or misses its figure"
	}
	fixture 100 4 --pred --no-images > small.facet
	fixture 1600 4 --pred --no-images > large.facet
	facet-report -q --worst 0 --random 0 --out small < small.facet
	facet-report -q --worst 0 --random 0 --out large < large.facet
	check_intervals small/metrics.json
	check_intervals large/metrics.json
	# 16 times the faces: about a quarter of the width (1 / sqrt(16)); at most half of it here
	for k in .age.mae_ci .gender.accuracy_ci .ethnicity.accuracy_ci; do
		jq -e -n --slurpfile s small/metrics.json --slurpfile l large/metrics.json \
			"(\$l[0] | $k | .[1] - .[0]) < 0.5 * (\$s[0] | $k | .[1] - .[0])" >/dev/null ||
			fail "$k: $(jq -c "$k" small/metrics.json) over 100 faces, $(jq -c "$k" large/metrics.json) over 1600"
	done
}

@test "facet-report: fairness slices match scikit-learn's per group and age band" {
	need_py sklearn
	fixture 400 3 --pred --missing 3 --expect x.json > s.facet
	facet-report -q --out rep < s.facet
	m=rep/metrics.json
	assert_equal "$(jq '.slices | length' $m)" 19
	for s in "male White" "female Black" "female Other" "age 0-9" "age 80+"; do
		close $m x.json ".slices[] | select(.slice == \"$s\") | .age.mae" ".slices[\"$s\"].age_mae"
		close $m x.json ".slices[] | select(.slice == \"$s\") | .gender_accuracy" ".slices[\"$s\"].gender_accuracy"
	done
	close $m x.json '.slices[] | select(.slice == "female Asian") | .ethnicity_accuracy' '.slices["female Asian"].ethnicity_accuracy'
	close $m x.json '.slices[] | select(.slice == "age 30-39") | .gender_auc' '.slices["age 30-39"].gender_auc'
	assert_equal "$(jq '.slices[] | select(.slice == "male White") | .gender_auc' $m)" null
}

@test "facet-report: every chart is a valid file on the page" {
	fixture 200 2 --pred > s.facet
	facet-report -q --out rep < s.facet
	for f in age_scatter age_error age_mae_by_band gender_confusion gender_prf gender_roc \
		ethnicity_confusion ethnicity_prf fairness_age fairness_gender fairness_ethnicity worst random; do
		name=$(jq -r ".files.$f" rep/metrics.json)
		[ "$name" != null ] || fail "no $f chart"
		[ "$(head -c 8 "rep/$name" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ] || fail "$name is not a PNG"
		grep -q "src=\"$name\"" rep/index.html || fail "$name is not on the page"
	done
	assert_equal "$(jq '.worst | length' rep/metrics.json)" 24
	jq -e '[.worst[].score] | . == (sort | reverse)' rep/metrics.json >/dev/null
}

@test "facet-report: --metrics draws the training curves" {
	fixture 50 2 --pred > s.facet
	training_metrics > train.metrics
	run --separate-stderr facet-report --metrics train.metrics --format svg --out rep < s.facet
	assert_success
	m=rep/metrics.json
	assert_equal "$(jq '.training | length' $m)" 3
	assert_equal "$(jq -c '[.training[] | .val.loss]' $m)" '[2.2,1.1,null]'
	for f in curve_loss curve_age_mae curve_gender_acc curve_ethnicity_acc curve_lr; do
		name=$(jq -r ".files.$f" $m)
		grep -q '<svg' "rep/$name" || fail "$f: $name is not an SVG"
	done
	[[ "$stderr" == *"training: 3 epochs from train.metrics"* ]] || fail "$stderr"
}

@test "facet-report: empty input with --metrics makes a curves-only report" {
	training_metrics > train.metrics
	run --separate-stderr facet-report --metrics train.metrics --out rep < /dev/null
	assert_success
	assert_equal "$(jq -c '.files | keys' rep/metrics.json)" '["curve_age_mae","curve_ethnicity_acc","curve_gender_acc","curve_loss","curve_lr"]'
	grep -q "training curves only" rep/index.html
}

@test "facet-report: empty input is an error" {
	run --separate-stderr facet-report --out rep < /dev/null
	assert_equal "$status" 1
	assert_equal "$output" ""
	assert_equal "$stderr" "facet-report: empty input: no records to measure (stdin)"
	[ ! -e rep ]
}

@test "facet-report: a stream without predictions is an error" {
	fixture 10 1 > s.facet
	run --separate-stderr facet-report --out rep < s.facet
	assert_equal "$status" 1
	assert_equal "$output" ""
	assert_equal "$stderr" "facet-report: no predictions in 10 records: no record has a 'pred' map (run facet-score first)"
	[ ! -e rep/index.html ]
}

@test "facet-report: a scored stream without labels is an error" {
	fixture 10 1 --pred --no-labels > s.facet
	run --separate-stderr facet-report --out rep < s.facet
	assert_equal "$status" 1
	assert_equal "$output" ""
	assert_equal "$stderr" "facet-report: no labels in 10 records: nothing to compare the predictions with (run facet-label before facet-score)"
}

@test "facet-report: a metrics file that is not one is an error naming it" {
	fixture 5 1 --pred > s.facet
	cp s.facet not.metrics
	run --separate-stderr facet-report --metrics not.metrics --out rep < s.facet
	assert_equal "$status" 1
	assert_equal "$output" ""
	assert_equal "$stderr" "facet-report: no number 'epoch': is this a facet-train metrics file? (not.metrics, epoch record 1)"
	run --separate-stderr facet-report --metrics missing.metrics --out rep < s.facet
	assert_equal "$status" 1
	[[ "$stderr" == "facet-report: "*"missing.metrics"* ]] || fail "$stderr"
}

@test "facet-report: usage errors exit 2" {
	run --separate-stderr facet-report < /dev/null
	assert_equal "$status" 2
	assert_equal "$output" ""
	[[ "$stderr" == "facet-report: --out DIR is required"* ]] || fail "$stderr"
	run --separate-stderr facet-report --out x --worst many < /dev/null
	assert_equal "$status" 2
	run --separate-stderr facet-report --out x extra < /dev/null
	assert_equal "$status" 2
}

@test "facet-report: the page renders in headless Chromium with every image" {
	command -v chromium >/dev/null || skip "chromium not installed (Debian chromium)"
	fixture 150 6 --pred --size 32x32x3 > s.facet
	training_metrics > train.metrics
	facet-report -q --metrics train.metrics --out rep < s.facet
	sed 's#</body>#<script>window.addEventListener("load", () => { const i = [...document.images]; document.body.insertAdjacentHTML("beforeend", "<pre id=check>IMAGES " + i.length + " BROKEN " + i.filter(x => !x.complete || x.naturalWidth == 0).length + "</pre>"); });</script></body>#' \
		rep/index.html > rep/check.html
	flags=(--headless --no-sandbox --disable-gpu --disable-quic --no-first-run
		--disable-background-networking --disable-component-update --disable-sync
		--user-data-dir="$BATS_TEST_TMPDIR/profile")
	timeout 120 chromium "${flags[@]}" --virtual-time-budget=5000 --dump-dom \
		"file://$PWD/rep/check.html" > dom.html 2>/dev/null
	n=$(jq '.files | length' rep/metrics.json)
	grep -q "IMAGES $n BROKEN 0" dom.html || fail "$(grep -o 'IMAGES.*BROKEN [0-9]*' dom.html)"
	timeout 120 chromium "${flags[@]}" --window-size=1400,2400 --screenshot="$PWD/shot.png" \
		"file://$PWD/rep/index.html" 2>/dev/null
	[ "$(head -c 8 shot.png | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ]
	[ "$(stat -c %s shot.png)" -gt 50000 ] || fail "the screenshot looks blank"
}
