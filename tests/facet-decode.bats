#!/usr/bin/env bats
# facet-decode: JPEG/PNG files, directories, path lists and the notebook's CSV -> facet stream.
# Fixtures are made here: facet-synth faces written as JPEG and PNG with Pillow.
load helper

IMG() { $PY "$REPO/tests/lib/images.py" "$@"; }

setup_file() {
	$PY -c 'import msgpack, msgpack_numpy, numpy, PIL' 2>/dev/null || return 0
	cd "$BATS_FILE_TMPDIR"
	facet-synth -q -n 8 --seed 5 > synth.facet
	mkdir -p jpg png mixed
	IMG write jpg jpg < synth.facet
	IMG write png png < synth.facet
	facet-synth -q -n 3 --seed 6 --size 80x40 | IMG write mixed png
	facet-synth -q -n 2 --seed 7 --size 30x50 --gray | IMG write mixed jpg
	echo "not an image" > mixed/notes.txt
	# bad files
	first=jpg/synth-000001.jpg
	size=$(stat -c %s "$first")
	head -c $((size / 2)) "$first" > truncated.jpg
	$PY - "$first" corrupt.jpg <<-'EOF'
		import sys
		b = bytearray(open(sys.argv[1], 'rb').read())
		sos = b.index(b'\xff\xda')
		for i in range(sos + 20, len(b) - 2, 7):
		    b[i] = 0xFF
		open(sys.argv[2], 'wb').write(b)
	EOF
	echo "hello" > text.jpg
	: > empty.png
}

setup() {
	need_py msgpack msgpack_numpy numpy PIL
	cd "$BATS_FILE_TMPDIR"
}

@test "a directory: one record per image file, sorted by name, ids are file names" {
	run --separate-stderr facet-decode jpg
	assert_success
	[ "$stderr" = "facet-decode: decoded 8 images" ]
	run IMG shapes <(facet-decode -q jpg)
	assert_output "$(for i in 1 2 3 4 5 6 7 8; do echo "synth-00000$i.jpg 64x64x3 uint8"; done)"
}

@test "mixed folder: PNG and grey JPEG become RGB; other files are skipped; order by name" {
	run IMG shapes <(facet-decode -q mixed)
	assert_output "synth-000001.jpg 50x30x3 uint8
synth-000001.png 40x80x3 uint8
synth-000002.jpg 50x30x3 uint8
synth-000002.png 40x80x3 uint8
synth-000003.png 40x80x3 uint8"
}

@test "PNG decodes to exactly the pixels that were written" {
	facet-decode -q png > png.facet
	run IMG diff synth.facet png.facet
	assert_output "0.000 0"
}

@test "JPEG at quality 90 stays close to the source" {
	facet-decode -q jpg > jpg.facet
	run IMG diff synth.facet jpg.facet
	assert_success
	read -r mean max <<< "$output"
	# the noise facet-synth adds is what JPEG loses most of
	awk -v m="$mean" 'BEGIN {exit !(m < 6)}' || fail "mean abs diff $mean"
}

@test "--size and --gray: every image WxH with one channel" {
	run IMG shapes <(facet-decode -q --size 32x24 --gray jpg png)
	assert_success
	[ "${#lines[@]}" -eq 16 ]
	for l in "${lines[@]}"; do [[ "$l" == *" 24x32x1 uint8" ]] || fail "$l"; done
}

@test "--size with another aspect ratio scales to cover and keeps the centre" {
	# 80x40 image with a 20-pixel band at each side: a 20x20 centre crop never sees the bands
	$PY - <<-'EOF'
		import numpy as np
		from PIL import Image
		a = np.full((40, 80, 3), 100, np.uint8)
		a[:, :20] = 0
		a[:, 60:] = 250
		Image.fromarray(a).save('bands.png')
	EOF
	facet-decode -q --size 20x20 bands.png > bands.facet
	run IMG shapes bands.facet
	assert_output "bands.png 20x20x3 uint8"
	# libvips' Lanczos kernel reaches a little past the crop's edge: look inside it
	for x in 4 10 15; do
		run IMG pixel bands.facet 0 10 $x
		assert_output "100 100 100"
	done
}

@test "TurboJPEG and libvips give the same pixels within a small tolerance" {
	for args in "" "--size 64x64" "--size 48x48 --gray" "--size 40x20" "--gray"; do
		facet-decode -q $args --engine turbo jpg > t.facet
		facet-decode -q $args --engine vips jpg > v.facet
		run IMG diff t.facet v.facet
		assert_success
		read -r mean max <<< "$output"
		awk -v m="$mean" 'BEGIN {exit !(m < 2.5)}' || fail "'$args': mean abs diff $mean (max $max)"
	done
}

@test "--engine turbo refuses a PNG; --engine auto uses libvips for it" {
	run --separate-stderr facet-decode --engine turbo png/synth-000001.png
	[ "$status" -eq 1 ]
	[ -z "$output" ]
	assert_equal "${stderr_lines[0]}" "facet-decode: not a JPEG (the TurboJPEG engine reads only JPEG) (png/synth-000001.png)"
}

@test "output order is the input order, whatever --jobs is" {
	facet-decode -q --jobs 1 jpg png mixed > j1.facet
	facet-decode -q --jobs 2 jpg png mixed > j2.facet
	facet-decode -q --jobs 7 jpg png mixed > j7.facet
	cmp j1.facet j2.facet
	cmp j1.facet j7.facet
	run facet-dump --count j1.facet
	assert_output 21
}

@test "no argument or '-': a list of paths on standard input" {
	facet-decode -q jpg/synth-000002.jpg png/synth-000001.png > args.facet
	printf 'jpg/synth-000002.jpg\n\npng/synth-000001.png\n' | facet-decode -q > list.facet
	printf 'jpg/synth-000002.jpg\npng/synth-000001.png\n' | facet-decode -q - > dash.facet
	cmp args.facet list.facet
	cmp args.facet dash.facet
}

@test "empty input: an empty stream and exit 0" {
	run --separate-stderr facet-decode < /dev/null
	assert_success
	[ -z "$output" ]
	[ "$stderr" = "facet-decode: decoded 0 images" ]
}

@test "the notebook's CSV: one record per row with labels; pixels exact" {
	facet-synth -q -n 5 --seed 3 --size 48x48 --gray > grey.facet
	IMG csv < grey.facet > faces.csv
	run --separate-stderr facet-decode faces.csv
	assert_success
	[ "$stderr" = "facet-decode: decoded 5 images" ]
	facet-decode -q faces.csv > csv.facet
	run IMG diff grey.facet csv.facet
	assert_output "0.000 0"
	run facet-dump --head 1 csv.facet
	assert_output --partial '{"id":"synth-000001.jpg.chip.jpg","image":{"tensor":{"dtype":"|u1","shape":[48,48,1]'
	assert_output --partial '"age":25,"gender":1,"ethnicity":0}'
	# --csv reads standard input as CSV; --size resizes the rows
	run IMG shapes <(facet-decode -q --csv --size 24x24 < faces.csv)
	assert_line --index 4 "synth-000005.jpg.chip.jpg 24x24x1 uint8"
}

@test "CSV: bad rows are reported with their line number and counted; the rest goes on" {
	facet-synth -q -n 3 --seed 3 --size 48x48 --gray | IMG csv > good.csv
	{
		head -n 2 good.csv
		sed -n 3p good.csv | sed 's/^[0-9]*,/200,/'
		sed -n 3p good.csv | sed 's/ [0-9]*$//'
		sed -n 3p good.csv | sed 's/,[0-9]*,/,7,/'
		sed -n 3p good.csv | sed 's/ 1[0-9]* / x /'
		sed -n 4p good.csv
	} > bad.csv
	run --separate-stderr facet-decode bad.csv
	[ "$status" -eq 1 ]
	assert_equal "${stderr_lines[0]}" "facet-decode: age '200' is not an integer in 0..130 (bad.csv, line 3)"
	assert_equal "${stderr_lines[1]}" "facet-decode: 2303 pixels, want 2304 (48x48) (bad.csv, line 4)"
	assert_equal "${stderr_lines[2]}" "facet-decode: ethnicity '7' is not an integer in 0..4 (bad.csv, line 5)"
	[[ "${stderr_lines[3]}" == "facet-decode: pixel "*" is not an integer in 0..255 (bad.csv, line 6)" ]]
	assert_equal "${stderr_lines[4]}" "facet-decode: 4 of 6 files failed"
	run facet-dump --count <(facet-decode -q bad.csv 2>/dev/null)
	assert_output 2
}

@test "CSV without the expected header: one message, exit 1" {
	printf 'a,b\n1,2\n' > nohead.csv
	run --separate-stderr facet-decode nohead.csv
	[ "$status" -eq 1 ]
	[ -z "$output" ]
	assert_equal "${stderr_lines[0]}" "facet-decode: the header has no column 'age' (want age,ethnicity,gender,img_name,pixels) (nohead.csv, line 1)"
}

# ---------------------------------------------------------------- bad input

@test "truncated JPEG: reported by name, counted, exit 1, nothing on stdout" {
	for e in turbo vips; do
		run --separate-stderr facet-decode --engine $e truncated.jpg
		[ "$status" -eq 1 ]
		[ -z "$output" ]
		[[ "${stderr_lines[0]}" == "facet-decode: "*"Premature end of "*" (truncated.jpg)" ]] || fail "$e: $stderr"
		assert_equal "${stderr_lines[1]}" "facet-decode: 1 of 1 files failed"
		[ "${#stderr_lines[@]}" -eq 2 ]
	done
}

@test "corrupt JPEG: an error with both engines" {
	for e in turbo vips; do
		run --separate-stderr facet-decode --size 32x32 --engine $e corrupt.jpg
		[ "$status" -eq 1 ]
		[ -z "$output" ]
		[[ "${stderr_lines[0]}" == "facet-decode: "*"Corrupt JPEG data"*" (corrupt.jpg)" ]] || fail "$e: $stderr"
	done
}

@test "non-image, empty and missing files are reported; the good ones still come out" {
	run --separate-stderr facet-decode text.jpg empty.png nosuch.jpg jpg/synth-000001.jpg
	[ "$status" -eq 1 ]
	assert_equal "${stderr_lines[0]}" "facet-decode: not a known image format (text.jpg)"
	assert_equal "${stderr_lines[1]}" "facet-decode: empty file (empty.png)"
	assert_equal "${stderr_lines[2]}" "facet-decode: No such file or directory (nosuch.jpg)"
	assert_equal "${stderr_lines[3]}" "facet-decode: 3 of 4 files failed"
	run facet-dump --count <(facet-decode text.jpg empty.png nosuch.jpg jpg/synth-000001.jpg 2>/dev/null)
	assert_output 1
}

@test "a missing file alone: exit 1, empty stdout, one message and the summary" {
	run --separate-stderr facet-decode -q nosuch.jpg
	[ "$status" -eq 1 ]
	[ -z "$output" ]
	assert_equal "$stderr" "facet-decode: No such file or directory (nosuch.jpg)
facet-decode: 1 of 1 files failed"
}

@test "unreadable directory: reported and counted" {
	[ "$(id -u)" -ne 0 ] || skip "runs as root: chmod 000 does not stop root from reading"
	mkdir -p locked
	chmod 000 locked
	run --separate-stderr facet-decode locked
	chmod 755 locked
	[ "$status" -eq 1 ]
	[ -z "$output" ]
	assert_equal "${stderr_lines[0]}" "facet-decode: cannot open directory: Permission denied (locked)"
}

@test "> /dev/full: exit 1 with a write error" {
	run --separate-stderr facet-decode jpg
	assert_success
	run --separate-stderr bash -c 'facet-decode -q jpg > /dev/full'
	[ "$status" -eq 1 ]
	[[ "${stderr_lines[0]}" == "facet-decode: write error"*"No space left on device" ]]
}

@test "| head -c 1: ends quietly on SIGPIPE" {
	run --separate-stderr bash -c 'for i in $(seq 200); do echo jpg/synth-000001.jpg; done | facet-decode --size 256x256 | head -c 1 | wc -c; echo "${PIPESTATUS[1]}"'
	assert_output "1
141"
	[ -z "$stderr" ]
}

@test "usage errors exit 2 with a hint" {
	for args in "--size 0x5" "--size 64" "--jobs 0" "--engine magic"; do
		run --separate-stderr facet-decode $args jpg
		[ "$status" -eq 2 ] || fail "$args: exit $status"
		[ -z "$output" ]
		assert_equal "${stderr_lines[1]}" "Try 'facet-decode --help' for more information."
	done
}

# ---------------------------------------------------------------- the real faces

@test "UTKFace: 21,357 files in, 21,357 records out at 48x48 grey; two runs identical" {
	need_data
	start=$SECONDS
	run --separate-stderr bash -c 'facet-decode --size 48x48 --gray "$FACET_DATA" | sha256sum'
	assert_success
	[ "$stderr" = "facet-decode: decoded 21357 images" ]
	first=$output
	if [ $((SECONDS - start)) -lt 30 ]; then
		run bash -c 'facet-decode -q --jobs 1 --size 48x48 --gray "$FACET_DATA" | sha256sum'
		assert_output "$first"
	fi
}

@test "--list: the paths a decode reads, in its order, and nothing decoded" {
	mkdir listed
	for n in b.JPG a.png c.webp; do : > "listed/$n"; done
	: > listed/.hidden.png
	: > listed/notes.txt
	ln -s a.png listed/link.png
	run --separate-stderr facet-decode --list listed listed/notes.txt
	assert_success
	assert_output "$(printf 'listed/a.png\nlisted/b.JPG\nlisted/c.webp\nlisted/link.png\nlisted/notes.txt')"
	# the files are empty: a decode of the same folder fails on each of them, in that order
	run --separate-stderr facet-decode -q listed
	assert_failure 1
	[[ "$stderr" == *"(listed/a.png)"*"(listed/b.JPG)"*"(listed/c.webp)"*"(listed/link.png)"* ]]
	# a path that is not there is listed as given: the decode is the one to report it
	run --separate-stderr facet-decode --list no-such-file.png
	assert_success
	assert_output no-such-file.png
	run --separate-stderr facet-decode --list x.csv
	[ "$status" -ne 0 ]
}
