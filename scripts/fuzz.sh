#!/bin/sh
# Build facet's libFuzzer targets (fuzz/fuzz_*.c) with clang-14, ASan and UBSan, and run each one
# for a bounded time. Fails on any crash, leak, timeout or out-of-memory artifact.
#
# Usage: scripts/fuzz.sh [TARGET...]        (targets: stream scan utk config csv labelcsv model jpeg detect; default all)
#   FUZZ_SECONDS=60    seconds per target
#   FUZZ_PARALLEL=1    targets run at once
#   FUZZ_BUILD=build-fuzz
#   FUZZ_REGRESS=1     only replay the seeds and fuzz/regress/TARGET/* once (no fuzzing)
#   FUZZ_BIN=bin       where a built facet-synth lives (its output joins the stream seeds)
#   FUZZ_NO_BUILD=1    use the binaries already in $FUZZ_BUILD (tests plant targets there)
#   FUZZ_REGRESS_DIR=fuzz/regress
#
# Layout under $FUZZ_BUILD: fuzz_TARGET (binaries), seeds/TARGET (generated from facet's own
# writer and parsers at each run), corpus/TARGET (grows from run to run), artifacts/TARGET
# (crash-*, leak-*, timeout-*, oom-* reproducers), logs/TARGET.log. Findings worth keeping go to
# fuzz/regress/TARGET/ in the repository, and tests/fuzz.bats replays them.
set -eu
cd "$(dirname "$0")/.."
FB=${FUZZ_BUILD:-build-fuzz}
SECONDS_EACH=${FUZZ_SECONDS:-60}
PARALLEL=${FUZZ_PARALLEL:-1}
REGRESS=${FUZZ_REGRESS:-0}
BIN=${FUZZ_BIN:-bin}
CLANG=${CLANG:-clang-14}
RDIR=${FUZZ_REGRESS_DIR:-fuzz/regress}

if ! command -v "$CLANG" >/dev/null 2>&1 ||
	! "$CLANG" -print-file-name=libclang_rt.fuzzer-x86_64.a | grep -q /; then
	echo "fuzz: needs $CLANG and libclang-rt-14-dev (Debian: apt-get install clang-14 libclang-rt-14-dev)" >&2
	exit 77
fi

[ "${FUZZ_NO_BUILD:-0}" = 1 ] || make -s -f fuzz/fuzz.mk FB="$FB" CLANG="$CLANG" -j"${JOBS:-2}" >&2

# Seeds: regenerated every run from facet's own output.
rm -rf "$FB/seeds"
mkdir -p "$FB/seeds/config" "$FB/seeds/stream"
if [ -x "$FB/mkseeds" ]; then "$FB/mkseeds" "$FB/seeds"; fi
if [ -x "$FB/mkseeds_model" ]; then
	"$FB/mkseeds_model" "$FB/seeds"
	# an ensemble, made as users make one: the plain models one after the other
	cat "$FB/seeds/model/model-"* > "$FB/seeds/model/ensemble"
fi
for c in examples/models/*.cfg; do # the shipped configs
	[ -f "$c" ] || continue
	cp "$c" "$FB/seeds/config/example-$(basename "$c")"
done
if [ -x "$BIN/facet-synth" ]; then
	"$BIN/facet-synth" -q -n 3 -s 8x8 -S 3 > "$FB/seeds/stream/synth-rgb" || true
	"$BIN/facet-synth" -q -n 2 -s 5x7 -g --missing 0.5 > "$FB/seeds/stream/synth-grey" || true
fi

if [ $# -eq 0 ]; then
	set -- $(for f in "$FB"/fuzz_*; do case $f in *.d) ;; *) basename "$f" | sed 's/^fuzz_//' ;; esac; done)
fi

# Per-target input size cap (bytes).
max_len() {
	case $1 in
	utk) echo 4096 ;;
	config) echo 16384 ;;
	*) echo 65536 ;;
	esac
}

# run_target T: fuzz (or replay) one target; prints one summary line, returns 1 on a finding.
run_target() {
	t=$1
	exe="$FB/fuzz_$t"
	art="$FB/artifacts/$t"
	log="$FB/logs/$t.log"
	[ -x "$exe" ] || { echo "fuzz: no target '$t' (fuzz/fuzz_$t.c)" >&2; return 1; }
	reg="$RDIR/$t"
	[ -d "$reg" ] || reg=""
	mkdir -p "$FB/corpus/$t" "$art" "$FB/logs" "$FB/seeds/$t"
	rm -f "$art"/*
	set +e
	if [ "$REGRESS" = 1 ]; then
		files=$(find "$FB/seeds/$t" $reg -type f | sort)
		# shellcheck disable=SC2086
		"$exe" -rss_limit_mb=2048 -malloc_limit_mb=1024 -timeout=10 \
			-artifact_prefix="$art/" $files > "$log" 2>&1
	else
		"$exe" -max_total_time="$SECONDS_EACH" -max_len="$(max_len "$t")" -timeout=10 \
			-rss_limit_mb=2048 -malloc_limit_mb=1024 -print_final_stats=1 \
			-artifact_prefix="$art/" "$FB/corpus/$t" "$FB/seeds/$t" $reg \
			> "$log" 2>&1
	fi
	rc=$?
	set -e
	found=$(find "$art" -type f \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' \
		-o -name 'oom-*' \) | head -5)
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
	cov=$(grep -o 'cov: [0-9]* ft: [0-9]* corp: [0-9]*/[0-9a-zA-Z]*' "$log" | tail -1)
	if [ "$REGRESS" = 1 ] && [ "$rc" -ne 0 ]; then # the replayed file that failed
		found=$(sed -n 's/^Running: //p' "$log" | tail -1)
	fi
	if [ "$rc" -ne 0 ] || [ -n "$found" ]; then
		echo "fuzz_$t: FAILED (exit $rc) ${found:+reproducer: $found} log: $log"
		grep -m3 -E 'ERROR|runtime error|property failed|SUMMARY|deadly signal' "$log" |
			sed 's/^/    /'
		return 1
	fi
	if [ "$REGRESS" = 1 ]; then
		echo "fuzz_$t: ok, $(grep -c '^Running:' "$log") inputs replayed"
	else
		echo "fuzz_$t: ok, ${runs:-?} runs in ${SECONDS_EACH} s, $cov"
	fi
}

status=0
pids=""
for t in "$@"; do
	if [ "$PARALLEL" -le 1 ]; then
		run_target "$t" || status=1
	else
		(run_target "$t") > "$FB/logs/.summary.$t" 2>&1 &
		pids="$pids $!:$t"
		# keep at most PARALLEL running
		while [ "$(jobs -p | wc -l)" -ge "$PARALLEL" ]; do sleep 1; done
	fi
done
for p in $pids; do
	pid=${p%%:*}
	t=${p#*:}
	wait "$pid" || status=1
	cat "$FB/logs/.summary.$t"
	rm -f "$FB/logs/.summary.$t"
done
exit $status
