#!/usr/bin/env bats
# The stream contract (man/man5/facet-stream.5): interop with Python, validation, hostile input.
load helper

setup() {
	need_py msgpack msgpack_numpy numpy
	cd "$BATS_TEST_TMPDIR"
}

mk() { $PY "$REPO/tests/lib/mkstream.py"; }

# Run facet-dump on the given bytes (printf format) and check a clean data error.
bad_input() {
	local pattern=$1
	run --separate-stderr timeout 2 facet-dump in.bin
	assert_equal "$status" 1
	assert_equal "$output" ""
	[ "$(printf '%s\n' "$stderr" | wc -l)" -eq 1 ] || fail "more than one line: $stderr"
	[[ "$stderr" == "facet-dump: "*"$pattern"* ]] || fail "unexpected message: $stderr"
}

@test "a record written by Python reads back, keys in order, tensor summarised" {
	echo '{"id": "a.jpg", "image": {"$image": [4, 5, 3, 7]}, "age": 30, "extra": [1, "x"]}' | mk > s.facet
	run --separate-stderr facet-dump s.facet
	assert_success
	assert_output '{"id":"a.jpg","image":{"tensor":{"dtype":"|u1","shape":[4,5,3],"min":7.0,"max":7.0,"mean":7.0}},"age":30,"extra":[1,"x"]}'
}

@test "a record written by facet reads in Python as a numpy array of the right shape and dtype" {
	echo '{"id": "a.jpg", "image": {"$image": [6, 4, 1, "ramp"]}, "zzz": {"k": 1}}' | mk |
		facet-label --quiet > s.facet
	run $PY -c '
import sys, msgpack, msgpack_numpy
recs = list(msgpack.Unpacker(open("s.facet", "rb"), raw=False, object_hook=msgpack_numpy.decode))
r = recs[0]
img = r["image"]
print(len(recs), type(img).__name__, img.dtype, img.shape, int(img[1, 0, 0]), list(r.keys()))'
	assert_success
	assert_output "1 ndarray uint8 (6, 4, 1) 4 ['id', 'image', 'zzz', 'label_error']"
}

@test "concatenated streams are a stream; empty input is an empty stream" {
	echo '{"id": "a"}' | mk > a.facet
	echo '{"id": "b"}' | mk > b.facet
	run facet-dump --count <(cat a.facet b.facet)
	assert_output 2
	run --separate-stderr facet-dump --count < /dev/null
	assert_success
	assert_output 0
}

@test "hostile: 5-byte array header claiming 2^28 entries" {
	printf '\xdd\x10\x00\x00\x00' > in.bin
	bad_input "not a msgpack map"
	printf '\x81\xa1a\xdd\x10\x00\x00\x00' > in.bin
	bad_input "container declares more than 65536 entries"
}

@test "hostile: a bin32 header claiming 4 GB" {
	printf '\x81\xa1a\xc6\xff\xff\xff\xff' > in.bin
	bad_input "larger than the record size limit"
}

@test "hostile: maps nested 100 deep" {
	{ for i in $(seq 100); do printf '\x81\xa1a'; done; printf '\xc0'; } > in.bin
	bad_input "nested deeper than 16"
}

@test "truncated stream: input ends inside a record" {
	echo '{"id": "a.jpg", "image": {"$image": [8, 8, 3, 1]}}' | mk > s.facet
	head -c 100 s.facet > in.bin
	bad_input "truncated stream: input ends inside a record (in.bin, record 1, byte "
	cat s.facet s.facet | head -c -1 > in.bin
	run --separate-stderr facet-dump --count in.bin
	assert_equal "$status" 1
	assert_output ""
	[[ "$stderr" == "facet-dump: truncated stream: input ends inside a record (in.bin, record 2, byte "* ]]
}

@test "tensor data length must match shape and dtype" {
	$PY -c '
import msgpack, sys
t = {b"nd": True, b"type": "|u1", b"kind": b"", b"shape": [2, 2, 3], b"data": b"x" * 11}
sys.stdout.buffer.write(msgpack.packb({"id": "a", "image": t}, use_bin_type=True))' > in.bin
	bad_input "tensor data length does not match its shape and dtype"
}

@test "object arrays and unknown dtypes are rejected" {
	$PY -c '
import msgpack, sys
t = {b"nd": True, b"type": "|O", b"kind": b"", b"shape": [1], b"data": b"x" * 8}
sys.stdout.buffer.write(msgpack.packb({"id": "a", "image": t}, use_bin_type=True))' > in.bin
	bad_input "dtype is not one facet accepts"
}

@test "labels out of range and wrong types are rejected" {
	echo '{"id": "a", "age": 200}' | mk > in.bin
	bad_input "'age' is not an integer in 0..130"
	echo '{"id": "a", "gender": 2}' | mk > in.bin
	bad_input "'gender' is not 0 (male) or 1 (female)"
	echo '{"id": "a", "ethnicity": "White"}' | mk > in.bin
	bad_input "'ethnicity' is not an integer in 0..4"
	echo '{"id": "a", "split": "dev"}' | mk > in.bin
	bad_input "'split' is not"
	echo '{"id": 5}' | mk > in.bin
	bad_input "'id' is not a string"
	echo '{"id": "a", "image": {"$image": [4, 4, 2, 0]}}' | mk > in.bin
	bad_input "'image' is not a [H, W, C] tensor"
	echo '{"id": "a", "pred": {"gender": [0.5]}}' | mk > in.bin
	bad_input "'pred.gender' is not 2 probabilities"
}

@test "a stream that is not msgpack maps" {
	echo "hello, world" > in.bin
	bad_input "not a msgpack map (is this a facet stream?) (in.bin, record 1, byte "
}

@test "record size limit is configurable and checked before reading the body" {
	echo '{"id": "a", "image": {"$image": [64, 64, 3, 1]}}' | mk > s.facet
	FACET_MAX_RECORD_BYTES=1000 run --separate-stderr facet-dump s.facet
	assert_equal "$status" 1
	[[ "$stderr" == *"larger than the record size limit"* ]]
}

@test "write errors fail loudly: > /dev/full" {
	echo '{"id": "a"}' | mk > s.facet
	run --separate-stderr bash -c 'facet-dump s.facet > /dev/full'
	assert_equal "$status" 1
	assert_equal "$stderr" "facet-dump: write error on stdout: No space left on device"
	run --separate-stderr bash -c 'facet-label < s.facet > /dev/full'
	assert_equal "$status" 1
	[[ "$stderr" == *"facet-label: write error (stdout): No space left on device" ]]
	[ "$(grep -c 'write error' <<< "$stderr")" -eq 1 ] || fail "reported twice: $stderr"
}

@test "a reader that exits early ends the writer quietly (SIGPIPE)" {
	for i in $(seq 2000); do echo "{\"id\": \"$i\", \"image\": {\"\$image\": [16, 16, 3, 9]}}"; done | mk > s.facet
	run --separate-stderr bash -c 'set -o pipefail; facet-split --quiet < s.facet | head -c 1 > /dev/null'
	[ "$status" -eq 141 ] || [ "$status" -eq 0 ]
	assert_equal "$stderr" ""
}
