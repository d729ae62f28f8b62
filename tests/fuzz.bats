#!/usr/bin/env bats
# The libFuzzer targets (fuzz/fuzz_*.c, built by scripts/fuzz.sh with clang-14, ASan and UBSan):
# every seed and every kept reproducer (fuzz/regress/) replays clean, then each target fuzzes
# briefly. Any crash, leak, timeout or out-of-memory fails the test, naming the reproducer.
# The full runs are `make fuzz FUZZ_SECONDS=600`.
load helper

FUZZ_BRIEF=${FACET_FUZZ_SECONDS:-12}
# FUZZ_BUILD picks another build folder (a long `make fuzz` can run beside `make check`)
export FUZZ_BUILD=${FUZZ_BUILD:-build-fuzz}

setup_file() {
	command -v clang-14 > /dev/null && clang-14 -print-file-name=libclang_rt.fuzzer-x86_64.a | grep -q / ||
		return 0
	# build once for the whole file (incremental in build-fuzz/)
	make -s -C "$REPO" -f fuzz/fuzz.mk FB="$FUZZ_BUILD" -j2 > /dev/null
}

setup() {
	command -v clang-14 > /dev/null ||
		skip "clang-14 not installed (Debian clang-14, libclang-rt-14-dev)"
	clang-14 -print-file-name=libclang_rt.fuzzer-x86_64.a | grep -q / ||
		skip "libFuzzer runtime not installed (Debian libclang-rt-14-dev)"
}

fuzz() {
	run --separate-stderr env FUZZ_SECONDS="$FUZZ_BRIEF" "$REPO/scripts/fuzz.sh" "$@"
	[ "$status" -eq 0 ] || fail "$output"
	assert_output --regexp "^fuzz_$1: ok, [0-9]+ runs"
}

@test "fuzz: every target has seeds, and seeds plus kept reproducers replay clean" {
	run --separate-stderr env FUZZ_REGRESS=1 "$REPO/scripts/fuzz.sh"
	[ "$status" -eq 0 ] || fail "$output"
	local t
	for t in stream scan utk config csv labelcsv model jpeg detect; do
		[[ "$output" == *"fuzz_$t: ok, "* ]] || fail "no replay of target $t: $output"
		[ -n "$(ls "$REPO/$FUZZ_BUILD/seeds/$t")" ] || fail "no seeds for $t"
	done
}

@test "fuzz: the stream reader and its validation" {
	fuzz stream
}

@test "fuzz: the msgpack pre-scan agrees with msgpack-c" {
	fuzz scan
}

@test "fuzz: the UTKFace name parser" {
	fuzz utk
}

@test "fuzz: the network-config parser" {
	fuzz config
}

@test "fuzz: the notebook CSV reader of facet-decode" {
	fuzz csv
}

@test "fuzz: the label CSV reader of facet-label" {
	fuzz labelcsv
}

@test "fuzz: the model-file and checkpoint loader" {
	fuzz model
}

@test "fuzz: facet-detect's path from a photo's bytes to aligned faces" {
	fuzz detect
}

@test "fuzz: scripts/fuzz.sh fails, naming the reproducer, when a target crashes" {
	local fb="$BATS_TEST_TMPDIR/fb"
	mkdir -p "$fb" "$BATS_TEST_TMPDIR/regress/planted"
	printf 'BUF' > "$BATS_TEST_TMPDIR/regress/planted/seed"
	cat > "$BATS_TEST_TMPDIR/planted.c" <<-'C'
	#include <stdint.h>
	#include <stdlib.h>
	int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
	{
		if (n >= 3 && d[0] == 'B' && d[1] == 'U' && d[2] == 'G')
			abort();
		return 0;
	}
	C
	clang-14 -g -fsanitize=fuzzer,address -o "$fb/fuzz_planted" "$BATS_TEST_TMPDIR/planted.c"
	run --separate-stderr env FUZZ_BUILD="$fb" FUZZ_NO_BUILD=1 FUZZ_SECONDS=20 \
		FUZZ_REGRESS_DIR="$BATS_TEST_TMPDIR/regress" "$REPO/scripts/fuzz.sh" planted
	assert_equal "$status" 1
	assert_output --partial "fuzz_planted: FAILED"
	assert_output --partial "artifacts/planted/crash-"
	run head -c 3 "$fb"/artifacts/planted/crash-*
	assert_output "BUG"
}

@test "fuzz: JPEG decoding (TurboJPEG), and the decoder's state after a hostile file" {
	fuzz jpeg
}
