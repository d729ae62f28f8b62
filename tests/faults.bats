#!/usr/bin/env bats
# Fault injection: full disks, readers that leave, inputs that vanish or shrink mid-run, a training
# run killed while it writes a checkpoint or stopped by SIGTERM. In every case the tool says what
# happened, exits non-zero when data was lost, and leaves no partial file where a complete one is
# expected; a checkpoint that was valid before the fault stays valid and resumes.
load helper

setup_file() {
	cd "$BATS_FILE_TMPDIR"
	facet-synth -q -n 64 -s 8x8 -S 2 | facet-split -q > train.facet
	facet-synth -q -n 2000 -s 24x24 -S 3 > big.facet
	cat > tiny.cfg <<-'CFG'
	[input] width=8 height=8 channels=3
	[train] batch=16 epochs=3
	[conv] filters=4 size=3 activation=relu
	[maxpool]
	[flatten]
	[head age]
	[dense] units=1
	[head gender]
	[dense] units=1
	CFG
	# An LD_PRELOAD shim: SIGKILL the process when it fsyncs a checkpoint's temp file, i.e. after
	# the checkpoint's bytes are written and before the rename that would publish them.
	cat > killshim.c <<-'SHIM'
	#define _GNU_SOURCE
	#include <dlfcn.h>
	#include <signal.h>
	#include <stdio.h>
	#include <string.h>
	#include <unistd.h>
	int fsync(int fd)
	{
		static int (*real)(int);
		char link[64], path[4096];
		ssize_t n;
		if (!real)
			real = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
		snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
		n = readlink(link, path, sizeof path - 1);
		if (n > 0) {
			path[n] = 0;
			if (strstr(path, ".ckpt.tmp."))
				raise(SIGKILL);
		}
		return real(fd);
	}
	SHIM
	cc -shared -fPIC -o killshim.so killshim.c -ldl 2>/dev/null || true
}

setup() {
	cd "$BATS_TEST_TMPDIR"
	cp "$BATS_FILE_TMPDIR"/{train.facet,big.facet,tiny.cfg} .
}

# What facet-train leaves in the folder, less the inputs.
leftovers() {
	ls -A | grep -v -e '^train.facet$' -e '^big.facet$' -e '^tiny.cfg$' -e '^saved' \
		-e '^separate-stderr-' | tr '\n' ' '
}

# Epochs completed, as recorded in a checkpoint or model.
epochs_done() {
	$PY -c 'import msgpack, sys; print(msgpack.unpackb(open(sys.argv[1], "rb").read(), raw=False, strict_map_key=False)["train"]["epochs_done"])' "$1"
}

@test "> /dev/full: every tool that writes a stream fails with a write error" {
	local cmd
	for cmd in "facet-synth -q -n 20" "facet-label -q < train.facet" "facet-split -q < train.facet" \
		"facet-resize -q -s 4x4 < train.facet" "facet-take -q train < train.facet" \
		"facet-dump -q train.facet"; do
		run --separate-stderr bash -c "$cmd > /dev/full"
		[ "$status" -eq 1 ] || fail "'$cmd > /dev/full' exited $status: $stderr"
		[[ "$stderr" == *"write error"* ]] || fail "'$cmd > /dev/full' did not say why: $stderr"
	done
}

@test "> /dev/full: facet-decode fails with a write error" {
	need_py PIL numpy
	$PY -c 'from PIL import Image; Image.new("RGB", (16, 16), (1, 2, 3)).save("a.jpg")'
	run --separate-stderr bash -c "facet-decode -q a.jpg > /dev/full"
	assert_equal "$status" 1
	[[ "$stderr" == *"write error"* ]] || fail "no write error: $stderr"
}

@test "| head -c 1: writers end quietly on SIGPIPE (status 141, nothing on stderr)" {
	local cmd
	for cmd in "facet-synth -q -n 2000 -s 24x24" "facet-split -q < big.facet" \
		"facet-resize -q -s 20x20 < big.facet" "facet-dump -q big.facet"; do
		run --separate-stderr bash -c "$cmd | head -c 1 > /dev/null; exit \${PIPESTATUS[0]}"
		[ "$status" -eq 141 ] || fail "'$cmd | head -c 1' exited $status: $stderr"
		[ -z "$stderr" ] || fail "'$cmd | head -c 1' wrote to stderr: $stderr"
	done
}

@test "a stream cut inside a record on a pipe: the records before it pass, then exit 1 saying so" {
	local size n
	size=$(stat -c %s train.facet)
	n=$(facet-dump --count train.facet)
	run --separate-stderr bash -c "head -c $((size - 5)) train.facet | facet-label -q > out.facet"
	assert_equal "$status" 1
	[[ "$stderr" == *"truncated stream: input ends inside a record (stdin, record $n, byte "* ]] ||
		fail "unexpected message: $stderr"
	run facet-dump --count out.facet
	assert_output "$((n - 1))"
}

@test "input file truncated mid-run, on a pipe reader: the run fails, never exits 0" {
	local size
	size=$(stat -c %s big.facet)
	run --separate-stderr bash -c "
		facet-label -q < big.facet > >(sleep 1; cat > out.facet) &
		pid=\$!
		sleep 0.5
		truncate -s $((size / 2 + 7)) big.facet
		wait \$pid"
	assert_equal "$status" 1
	[[ "$stderr" == *"truncated stream: input ends inside a record (stdin"* ]] || fail "$stderr"
}

@test "input file deleted mid-run: an open stream is still read whole" {
	local n
	n=$(facet-dump --count big.facet)
	run --separate-stderr bash -c "
		exec 3< big.facet
		rm big.facet
		facet-dump --count <&3"
	assert_success
	assert_output "$n"
}

@test "image files gone or cut between listing and decoding: named, the rest decoded, exit 1" {
	need_py PIL numpy
	$PY -c '
from PIL import Image
for n in ("a", "b", "c"):
    Image.new("RGB", (16, 16), (10, 20, 30)).save(n + ".jpg", quality=90)'
	head -c 300 c.jpg > c.tmp && mv c.tmp c.jpg # last: a cut JPEG poisoning the next decode is hostile.bats's case
	run --separate-stderr bash -c "printf 'a.jpg\ngone.jpg\nb.jpg\nc.jpg\n' | facet-decode -q > out.facet"
	assert_equal "$status" 1
	[[ "$stderr" == *"gone.jpg"* ]] || fail "the vanished file is not named: $stderr"
	[[ "$stderr" == *"c.jpg"* ]] || fail "the cut file is not named: $stderr"
	run facet-dump --count out.facet
	assert_output 2
}

@test "disk full while writing a checkpoint: exit 1 saying why, the previous checkpoint intact" {
	run --separate-stderr facet-train -q --config tiny.cfg -e 1 -o m.facet < train.facet
	assert_success
	cp m.facet.ckpt saved.ckpt
	rm m.facet m.facet.metrics
	# ENOSPC as a file-size limit: with SIGXFSZ ignored (as a full disk raises no signal),
	# writes past the limit fail with EFBIG.
	local blocks=$(( $(stat -c %s saved.ckpt) / 1024 / 2 ))
	run --separate-stderr bash -c "trap '' XFSZ; ulimit -f $blocks; facet-train -q --resume m.facet.ckpt -e 3 < train.facet"
	assert_equal "$status" 1
	[[ "$stderr" == *"m.facet.ckpt"* ]] || fail "the checkpoint is not named: $stderr"
	[[ "$stderr" == *"File too large"* || "$stderr" == *"write error"* ]] || fail "no reason: $stderr"
	cmp m.facet.ckpt saved.ckpt || fail "the previous checkpoint was changed"
	run leftovers
	assert_output "m.facet.ckpt "
	run --separate-stderr facet-train -q --resume m.facet.ckpt -e 3 < train.facet
	assert_success
	[ "$(epochs_done m.facet)" = 3 ] || fail "resumed run did not finish 3 epochs"
}

@test "disk full while writing the model: exit 1, no partial model file" {
	run --separate-stderr bash -c "trap '' XFSZ; ulimit -f 4; facet-train -q --config tiny.cfg -e 1 -o m.facet < train.facet"
	assert_equal "$status" 1
	[ -n "$stderr" ] || fail "no message"
	[ ! -e m.facet ] || fail "a partial model file was left"
	run bash -c "ls -A | grep -c '\.tmp\.' || true"
	assert_output 0
}

@test "a file-size limit (ulimit -f, SIGXFSZ at its default): the tool says why, no temp left" {
	# facet_init must ignore SIGXFSZ so that the write fails with EFBIG and die() cleans up;
	# left at its default the signal kills the tool silently and strands the temp file.
	run --separate-stderr bash -c "ulimit -f 4; facet-train -q --config tiny.cfg -e 1 -o m.facet < train.facet"
	assert_equal "$status" 1
	[[ "$stderr" == *"facet-train: "*"File too large"* ]] || fail "no reason given: $stderr"
	run bash -c "ls -A | grep -c '\.tmp\.' || true"
	assert_output 0
	run --separate-stderr bash -c "ulimit -f 100; facet-synth -q -n 1000 -s 16x16 > s.facet"
	assert_equal "$status" 1
	[[ "$stderr" == *"facet-synth: "*"write error"* ]] || fail "no reason given: $stderr"
}

@test "disk full while facet-eda writes its report: exit 1, and no truncated chart is left" {
	facet-synth -q -n 200 -s 32x32 -S 9 > l.facet
	run --separate-stderr bash -c "trap '' XFSZ; ulimit -f 20; facet-eda -q --out eda < l.facet"
	[ "$status" -eq 1 ] || fail "facet-eda lost files and exited $status: $stderr"
	local f
	for f in eda/*.png; do
		[ -e "$f" ] || continue
		[ "$(tail -c 8 "$f" | od -An -tx1 | tr -d ' \n')" = 49454e44ae426082 ] ||
			fail "$f is cut short ($(stat -c %s "$f") bytes)"
	done
}

@test "disk full while facet-report writes: exit 1, one line per lost file, nothing cut short" {
	need_py msgpack msgpack_numpy numpy
	$PY "$REPO/tests/lib/faces_fixture.py" 300 4 --pred > s.facet
	local lim f
	# 4 KiB: not even the metrics; 30 and 100 KiB: the small charts but not the montages
	for lim in 4 30 100; do
		run --separate-stderr bash -c "trap '' XFSZ; ulimit -f $lim; facet-report -q --out r$lim < s.facet"
		[ "$status" -eq 1 ] || fail "limit $lim KiB: facet-report exited $status: $stderr"
		[ -n "$stderr" ] || fail "limit $lim KiB: no message"
		while IFS= read -r f; do
			[[ "$f" == "facet-report: "* ]] || fail "limit $lim KiB: a stray line on stderr: '$f'"
		done <<< "$stderr"
		[ -z "$(find "r$lim" -name '*.tmp.*')" ] || fail "limit $lim KiB: temp files left"
		for f in "r$lim"/*.png; do
			[ -e "$f" ] || continue
			[ "$(tail -c 8 "$f" | od -An -tx1 | tr -d ' \n')" = 49454e44ae426082 ] ||
				fail "$f is cut short ($(stat -c %s "$f") bytes)"
		done
		[ ! -e "r$lim/index.html" ] || [ "$(tail -n 1 "r$lim/index.html")" = "</html>" ] ||
			fail "r$lim/index.html is cut short"
		[ ! -e "r$lim/metrics.json" ] || jq -e . "r$lim/metrics.json" > /dev/null ||
			fail "r$lim/metrics.json is cut short"
	done
	[[ "$stderr" == *"cannot draw the montage r100/worst.png: "*"File too large"* ]] ||
		fail "the montage's loss is not explained: $stderr"
	[[ "$stderr" == *"r100 is incomplete"* ]] || fail "no summary of the loss: $stderr"
}

@test "SIGKILL while a checkpoint is written: the previous checkpoint stays valid and resumes" {
	[ -f "$BATS_FILE_TMPDIR/killshim.so" ] || skip "no C compiler for the fault-injection shim"
	# ASan wants its runtime first in the library list; the shim goes first here
	local asan="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0"
	run --separate-stderr facet-train -q --config tiny.cfg -e 1 -o m.facet < train.facet
	assert_success
	cp m.facet.ckpt saved.ckpt
	rm m.facet
	run --separate-stderr env ASAN_OPTIONS="$asan" LD_PRELOAD="$BATS_FILE_TMPDIR/killshim.so" \
		facet-train -q --resume m.facet.ckpt -e 3 < train.facet
	assert_equal "$status" 137
	cmp m.facet.ckpt saved.ckpt || fail "the checkpoint changed though its replacement never landed"
	[ ! -e m.facet ] || fail "a model was written by a killed run"
	run --separate-stderr facet-train -q --resume m.facet.ckpt -e 3 < train.facet
	assert_success
	[ "$(epochs_done m.facet)" = 3 ] || fail "resumed run did not finish 3 epochs"
}

@test "SIGKILL at arbitrary moments: the checkpoint on disk always loads" {
	local i
	printf '[input] width=8 height=8 channels=3\n[train] batch=4 checkpoint_steps=1\n[conv] filters=16 size=3\n[flatten]\n[dense] units=64\n[head age]\n[dense] units=1\n' > steps.cfg
	run --separate-stderr facet-train -q --config steps.cfg -e 1 -o m.facet < train.facet
	assert_success
	for i in 1 2 3; do
		facet-train -q --resume m.facet.ckpt -e 50 < train.facet 2>/dev/null &
		sleep "0.$((RANDOM % 9 + 1))"
		kill -KILL $! 2>/dev/null || true
		wait $! 2>/dev/null || true
		run --separate-stderr $PY -c 'import msgpack, sys; d = msgpack.unpackb(open(sys.argv[1], "rb").read(), raw=False, strict_map_key=False); print(d["format"], d["kind"])' m.facet.ckpt
		assert_output "facet-model checkpoint"
	done
}

@test "SIGTERM during training: checkpoint saved, exit 143, and it resumes" {
	local i
	facet-train -q --config tiny.cfg -e 200 -o m.facet < train.facet 2> err.txt &
	local pid=$!
	for i in $(seq 100); do
		[ -e m.facet.ckpt ] && break
		sleep 0.1
	done
	[ -e m.facet.ckpt ] || { kill -KILL $pid; fail "no checkpoint after 10 s"; }
	kill -TERM $pid
	local st=0
	wait $pid || st=$?
	assert_equal "$st" 143
	run cat err.txt
	assert_output --partial "stopped by signal 15"
	[ ! -e m.facet ] || fail "a stopped run wrote the final model"
	run leftovers
	assert_output "err.txt m.facet.ckpt m.facet.metrics "
	local done
	done=$(epochs_done m.facet.ckpt)
	run --separate-stderr facet-train -q --resume m.facet.ckpt -e $((done + 1)) < train.facet
	assert_success
	[ "$(epochs_done m.facet)" = $((done + 1)) ] || fail "the resumed run did not finish"
}
