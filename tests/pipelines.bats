#!/usr/bin/env bats
# The whole flow: pipelines/ chain the tools; a failing stage fails the pipeline by name.
load helper

setup() {
	cd "$BATS_TEST_TMPDIR"
}

@test "demo flow on generated faces: EDA and report exist, metrics far better than chance" {
	run --separate-stderr env -u FACET_DATA "$REPO/pipelines/demo.sh" out
	assert_success
	[[ "$stderr" == *"FACET_DATA is not set: running on 4000 synthetic faces"* ]]
	[[ "$stderr" == *"report: out/report/index.html"* ]]
	[ -f out/eda/index.html ] && [ -f out/report/index.html ] && [ -f out/model.facet ]
	grep -q "split seed: 7" out/recipe.txt
	# chance: age MAE ~ 20 years (synth ages 1..90), gender 0.5, ethnicity 0.2
	jq -e '.age.mae < 9 and .gender.accuracy > 0.75 and .ethnicity.accuracy > 0.6' out/report/metrics.json
	# no temporary files left beside the outputs
	[ -z "$(find out -name '*.tmp.*')" ]
}

@test "a failing stage in the middle of a pipe fails the pipeline and is named" {
	mkdir -p fake/bin fake/pipelines
	for t in "$FACET_BIN"/facet*; do ln -s "$t" fake/bin/; done
	rm fake/bin/facet-label
	printf '#!/bin/sh\ncat > /dev/null\necho "facet-label: planted failure" >&2\nexit 3\n' > fake/bin/facet-label
	chmod +x fake/bin/facet-label
	cp "$REPO"/pipelines/*.sh fake/pipelines/
	mkdir faces
	facet-synth -n 4 --seed 1 --size 16x16 > s.facet
	# write the faces as PNG files named like UTKFace
	$PY -c '
import msgpack, msgpack_numpy, sys
from PIL import Image
for r in msgpack.Unpacker(open("s.facet", "rb"), raw=False, object_hook=msgpack_numpy.decode):
    Image.fromarray(r["image"]).save("faces/%d_%d_%d_2017.png" % (r["age"], r["gender"], r["ethnicity"]))' ||
		skip "python3-pil needed to write fixture images"
	run --separate-stderr fake/pipelines/prepare.sh faces out.facet
	assert_equal "$status" 3
	[[ "$stderr" == *"prepare.sh: stage 'label' failed (exit 3)"* ]]
	[ ! -e out.facet ]
	# the same pipeline with the real stage works
	run --separate-stderr "$REPO/pipelines/prepare.sh" faces out.facet
	assert_success
	assert_equal "$(facet-dump --count out.facet)" 4
}
