#!/usr/bin/env bats
# pipelines/score.sh: photos scored in chunks over this machine and a real ssh host (the system's
# sshd on 127.0.0.1, tests/sshd.bash), compared with one facet-decode | facet-score process.
# The faces are facet-synth's, written as PNG files; the detect path reads Debian
# python3-skimage's astronaut and scenes made from it; a last test takes real UTKFace faces.
load helper
load sshd

setup_file() {
	need_sshd
	facet_sshd_start
	cd "$BATS_FILE_TMPDIR"
	# 200 faces as PNG files, named so that a folder's order is their order
	mkdir faces
	facet-synth -q -n 200 --seed 3 --size 64x64 > faces.facet
	$PY -c '
import msgpack, msgpack_numpy, sys
from PIL import Image
for i, r in enumerate(msgpack.Unpacker(open(sys.argv[1], "rb"), raw=False,
                                       object_hook=msgpack_numpy.decode)):
    Image.fromarray(r["image"]).save("faces/face%04d.png" % i)
' faces.facet
	facet-decode -q faces | facet-score -q --model "$REPO/models/facet-utk64.facet" > faces.ref
}

teardown_file() {
	facet_sshd_stop
}

setup() {
	need_sshd
	need_py msgpack msgpack_numpy PIL
	[ -d "$BATS_FILE_TMPDIR/faces" ] || skip "the test faces could not be made"
	cd "$BATS_TEST_TMPDIR"
	SSHHOST="1/$FACET_TEST_SSH $FACET_TEST_HOST"
	export FACET_RETRIES=2
}

SCORE() { "$REPO/pipelines/score.sh" "$@"; }
SAME() { $PY "$REPO/tests/lib/same_preds.py" "$@"; }

# hosts_of JOBLOG: "N HOST" per host that ran chunks, with a zero exit.
hosts_of() {
	awk -F'\t' 'NR > 1 && $7 == 0 { n[$2]++ } END { for (h in n) print n[h], h }' "$1" | sort -k2
}

@test "score.sh: usage, --help and bad settings" {
	run --separate-stderr "$REPO/pipelines/score.sh"
	assert_failure 2
	[ -z "$output" ]
	[[ "$stderr" == "usage: score.sh DATA OUT.facet "* ]]
	run --separate-stderr "$REPO/pipelines/score.sh" --help
	assert_success
	[[ "$output" == *FACET_HOSTS* ]] && [[ "$output" == *"Exit status"* ]]
	run --separate-stderr SCORE nope out.facet
	assert_failure 1
	assert_equal "$stderr" "score.sh: no such folder or list: nope"
	run --separate-stderr env FACET_CHUNK=0 "$REPO/pipelines/score.sh" "$BATS_FILE_TMPDIR/faces" out.facet
	assert_failure 1
	assert_equal "$stderr" "score.sh: FACET_CHUNK must be a number from 1, not '0'"
	[ ! -e out.facet ] && [ ! -e out.facet.work ]
}

@test "score.sh over this machine and an ssh host: one process's predictions, every face once, in order" {
	run --separate-stderr env FACET_ALIGNED=1 FACET_CHUNK=30 FACET_KEEP_WORK=1 \
		FACET_HOSTS="1/:,$SSHHOST" "$REPO/pipelines/score.sh" "$BATS_FILE_TMPDIR/faces" out.facet
	assert_success
	[ -z "$output" ]
	[[ "$stderr" == *"score.sh: wrote out.facet: 200 faces scored of 200 photos (0 could not be read)"* ]]
	run SAME out.facet "$BATS_FILE_TMPDIR/faces.ref"
	assert_success
	assert_output --regexp '^200 records, max \|difference\| '
	# both hosts ran chunks, all 7 done once
	run hosts_of out.facet.work/joblog
	assert_line --regexp "^[1-6] :$"
	assert_line --regexp "^[1-6] $FACET_TEST_SSH $FACET_TEST_HOST$"
	assert_equal "$(awk 'NR > 1' out.facet.work/joblog | cut -f1 | sort -n | uniq | wc -l)" 7
	assert_equal "$(ls out.facet.work/parts/*.facet | wc -l)" 7
	# a list file of relative paths gives the same stream, and no work folder is left behind
	(cd "$BATS_FILE_TMPDIR" && ls faces/*.png) > list
	(cd "$BATS_FILE_TMPDIR" && FACET_ALIGNED=1 FACET_CHUNK=64 FACET_HOSTS="$SSHHOST" \
		"$REPO/pipelines/score.sh" "$BATS_TEST_TMPDIR/list" "$BATS_TEST_TMPDIR/out2.facet")
	cmp out2.facet out.facet
	[ ! -e out2.facet.work ]
}

@test "score.sh: a photo that cannot be read is named and counted; the others are all scored; exit 1" {
	mkdir photos
	cp "$BATS_FILE_TMPDIR"/faces/face00[0-4]?.png photos/
	echo "not a png" > photos/face0017.png
	run --separate-stderr env FACET_ALIGNED=1 FACET_CHUNK=8 FACET_HOSTS="1/:,$SSHHOST" \
		"$REPO/pipelines/score.sh" photos out.facet
	assert_failure 1
	[[ "$stderr" == *"facet-decode: "*" ($PWD/photos/face0017.png)"* ]]
	[[ "$stderr" == *"wrote out.facet: 49 faces scored of 50 photos (1 could not be read)"* ]]
	[[ "$stderr" != *"chunk"*"failed"* ]]
	assert_equal "$(facet-dump out.facet | jq -r .id | grep -c face0017)" 0
	facet-decode -q photos | facet-score -q --model "$REPO/models/facet-utk64.facet" > ref.facet || :
	run SAME out.facet ref.facet
	assert_success
	assert_output --regexp '^49 records'
}

@test "score.sh: a host that fails has its chunks done on another" {
	run --separate-stderr env FACET_ALIGNED=1 FACET_CHUNK=40 FACET_KEEP_WORK=1 \
		FACET_HOSTS="1/$FACET_TEST_SSH -o Port=1 $FACET_TEST_HOST,1/:" \
		"$REPO/pipelines/score.sh" "$BATS_FILE_TMPDIR/faces" out.facet
	assert_success
	run hosts_of out.facet.work/joblog
	assert_output "5 :"
	run SAME out.facet "$BATS_FILE_TMPDIR/faces.ref"
	assert_success
}

# fake_tools: fake/pipelines and fake/bin, the real tools but a facet-decode that fails on any
# list of photos that holds a file named poison.png, as a tool crashing on one chunk would.
fake_tools() {
	mkdir -p fake/bin fake/pipelines fake/models
	for t in "$FACET_BIN"/facet*; do ln -s "$t" fake/bin/; done
	cp "$REPO"/pipelines/*.sh fake/pipelines/
	ln -s "$REPO/models/facet-utk64.facet" fake/models/
	rm fake/bin/facet-decode
	cat > fake/bin/facet-decode <<-EOF
		#!/bin/sh
		list=\$(cat)
		case \$list in *poison.png*) echo "facet-decode: planted failure" >&2; exit 3 ;; esac
		printf '%s\n' "\$list" | exec "$FACET_BIN/facet-decode" "\$@"
	EOF
	chmod +x fake/bin/facet-decode
}

@test "score.sh: a chunk that fails on every host is named, OUT is not written, the rest is kept for the next run" {
	fake_tools
	mkdir photos
	cp "$BATS_FILE_TMPDIR"/faces/face00[0-5]?.png photos/
	mv photos/face0025.png photos/face0025poison.png
	run --separate-stderr env FACET_ALIGNED=1 FACET_CHUNK=10 FACET_HOSTS="1/:,$SSHHOST" \
		FACET_BIN="$PWD/fake/bin" fake/pipelines/score.sh photos out.facet
	assert_failure 1
	[[ "$stderr" == *"score.sh: chunk 3 failed (on "*", exit 1): photos 21-30, $PWD/photos/face0020.png to $PWD/photos/face0029.png"* ]]
	[[ "$stderr" == *"score.sh:   facet-decode: planted failure"* ]]
	[[ "$stderr" == *"score.sh: 1 of 6 chunks failed; out.facet not written; the 5 done are kept in out.facet.work"* ]]
	[ ! -e out.facet ]
	ls out.facet.work/parts/*.facet > before
	assert_equal "$(wc -l < before)" 5
	stat -c '%i %Y %n' out.facet.work/parts/*.facet > inodes
	# the failure mended, the same command does chunk 3 alone
	ln -sf "$FACET_BIN/facet-decode" fake/bin/facet-decode
	run --separate-stderr env FACET_ALIGNED=1 FACET_CHUNK=10 FACET_HOSTS="1/:,$SSHHOST" FACET_KEEP_WORK=1 \
		FACET_BIN="$PWD/fake/bin" fake/pipelines/score.sh photos out.facet
	assert_success
	[[ "$stderr" == *"score.sh: resuming: 5 of 6 chunks done before"* ]]
	stat -c '%i %Y %n' $(cat before) | diff inodes -
	assert_equal "$(awk 'NR > 1' out.facet.work/joblog | cut -f1 | sort -n | tr '\n' ' ')" "1 2 3 4 5 6 "
	facet-decode -q photos | facet-score -q --model "$REPO/models/facet-utk64.facet" > ref.facet
	run SAME out.facet ref.facet
	assert_success
	assert_output --regexp '^60 records'
	# other settings: the work folder is not reused
	run --separate-stderr env FACET_ALIGNED=1 FACET_CHUNK=20 FACET_HOSTS=1/: FACET_BIN="$PWD/fake/bin" fake/pipelines/score.sh photos out.facet
	assert_success
	[[ "$stderr" == *"out.facet.work was made for other photos or settings: starting afresh"* ]]
	cmp out.facet ref.facet || SAME out.facet ref.facet
}

@test "score.sh killed (SIGKILL) half way and run again: only the missing chunks run, the same stream" {
	export FACET_ALIGNED=1 FACET_CHUNK=10 FACET_HOSTS="1/:,$SSHHOST" FACET_KEEP_WORK=1
	setsid "$REPO/pipelines/score.sh" "$BATS_FILE_TMPDIR/faces" out.facet 2> first.err 3>&- &
	pid=$!
	# wait until some chunks of the 20 are logged as done, then kill the whole run
	for _ in $(seq 600); do
		[ "$(awk -F'\t' 'NR > 1 && $7 == 0' out.facet.work/joblog 2> /dev/null | wc -l)" -ge 3 ] && break
		sleep 0.05
	done
	kill -KILL -- -"$pid"
	wait "$pid" || :
	[ ! -e out.facet ]
	awk -F'\t' 'NR > 1 && $7 == 0' out.facet.work/joblog > done-before
	n=$(wc -l < done-before)
	[ "$n" -ge 3 ] && [ "$n" -lt 20 ]
	run --separate-stderr "$REPO/pipelines/score.sh" "$BATS_FILE_TMPDIR/faces" out.facet
	assert_success
	[[ "$stderr" == *"score.sh: resuming: $n of 20 chunks done before"* ]]
	# the chunks done before the kill were not run again: their log lines are the same, and
	# every chunk ran to completion once
	while IFS= read -r line; do grep -qxF "$line" out.facet.work/joblog; done < done-before
	assert_equal "$(awk 'NR > 1' out.facet.work/joblog | cut -f1 | sort -n | uniq -c | awk '$1 == 1' | wc -l)" 20
	run SAME out.facet "$BATS_FILE_TMPDIR/faces.ref"
	assert_success
	assert_output --regexp '^200 records'
}

@test "score.sh finds the faces (facet-detect) on both hosts: the same records as one process" {
	SK="${FACET_SKIMAGE_DATA:-/usr/lib/python3/dist-packages/skimage/data}"
	[ -f "$SK/astronaut.png" ] || skip "skimage's sample photos not found in $SK (Debian python3-skimage)"
	mkdir photos
	$PY -c '
import sys
from PIL import Image, ImageOps
sk = sys.argv[1]
a = Image.open(sk + "/astronaut.png").convert("RGB")
a.save("photos/a1.jpg", quality=92)
ImageOps.mirror(a).save("photos/a2.jpg", quality=92)
a.resize((700, 700)).save("photos/a3.png")
Image.open(sk + "/coffee.png").convert("RGB").save("photos/b1-coffee.jpg", quality=92)
ImageOps.mirror(a).resize((640, 640)).save("photos/b2.png")
' "$SK"
	run --separate-stderr env FACET_CHUNK=2 FACET_HOSTS="1/:,$SSHHOST" FACET_KEEP_WORK=1 \
		"$REPO/pipelines/score.sh" photos out.facet
	assert_success
	[[ "$stderr" == *"facet-detect: no face found ($PWD/photos/b1-coffee.jpg)"* ]]
	[[ "$stderr" == *"wrote out.facet: "*" faces scored in 5 photos (1 with no face found, 0 could not be read)"* ]]
	run hosts_of out.facet.work/joblog
	assert_line --regexp "^[12] $FACET_TEST_SSH $FACET_TEST_HOST$"
	facet-detect -q photos 2> /dev/null | facet-score -q --model "$REPO/models/facet-utk64.facet" > ref.facet
	[ "$(facet-dump --count ref.facet)" -ge 4 ]
	run SAME out.facet ref.facet
	assert_success
	facet-dump out.facet | jq -r .id | grep -q '^a2.jpg#0$'
}

@test "score.sh on real UTKFace faces over both hosts: one process's predictions" {
	need_data
	ls "$FACET_DATA" | LC_ALL=C sort | sed -n '1~40p' | head -n 300 | sed "s|^|$FACET_DATA/|" > list
	run --separate-stderr env FACET_ALIGNED=1 FACET_CHUNK=100 FACET_HOSTS="1/:,$SSHHOST" \
		"$REPO/pipelines/score.sh" list out.facet
	assert_success
	facet-decode -q - < list | facet-score -q --model "$REPO/models/facet-utk64.facet" > ref.facet
	run SAME out.facet ref.facet
	assert_success
	assert_output --regexp '^300 records'
}
