#!/usr/bin/env bats
# Conventions every facet tool keeps: a man page, --help on stdout, --version, usage errors exit 2.
load helper

tools() {
	local t
	for t in "$REPO"/tools/*.c; do
		basename "$t" .c
	done
}

@test "every tool is built and has a man page" {
	for t in $(tools); do
		[ -x "$FACET_BIN/$t" ] || fail "$t is not built in $FACET_BIN"
		[ -f "$REPO/man/man1/$t.1" ] || fail "$t has no man page man/man1/$t.1"
	done
}

@test "every man page has the standard sections" {
	for t in $(tools); do
		for s in NAME SYNOPSIS DESCRIPTION OPTIONS "EXIT STATUS" EXAMPLES "SEE ALSO"; do
			grep -q "^\.SH \"\?$s" "$REPO/man/man1/$t.1" || fail "$t.1 lacks section $s"
		done
	done
}

@test "every tool: --help prints usage on stdout and exits 0" {
	for t in $(tools); do
		run --separate-stderr "$t" --help
		[ "$status" -eq 0 ] || fail "$t --help exited $status"
		[[ "$output" == *Usage:* ]] || fail "$t --help does not print Usage on stdout"
		[ -z "$stderr" ] || fail "$t --help wrote to stderr: $stderr"
	done
}

@test "every tool: --version names the tool and facet's version" {
	for t in $(tools); do
		run --separate-stderr "$t" --version
		[ "$status" -eq 0 ] || fail "$t --version exited $status"
		[[ "$output" == "$t (facet) "* ]] || fail "$t --version printed '$output'"
	done
}

@test "every tool: an unknown option exits 2 with a hint and nothing on stdout" {
	for t in $(tools); do
		run --separate-stderr "$t" --no-such-option
		[ "$status" -eq 2 ] || fail "$t --no-such-option exited $status"
		[ -z "$output" ] || fail "$t wrote to stdout on a usage error"
		[[ "$stderr" == *"Try '$t --help'"* ]] || fail "$t usage error lacks the hint: $stderr"
	done
}
