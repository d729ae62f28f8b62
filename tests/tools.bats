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

# A usage error is two lines on stderr, "TOOL: what" and the hint, nothing on stdout, status 2.
usage_error_is() {
	local cmd=$1 want=$2 t=${1%% *}
	run --separate-stderr $cmd < /dev/null
	[ "$status" -eq 2 ] || fail "'$cmd' exited $status"
	[ -z "$output" ] || fail "'$cmd' wrote to stdout on a usage error"
	[ "$stderr" = "$t: $want"$'\n'"Try '$t --help' for more information." ] ||
		fail "'$cmd' did not write the one line '$t: $want' and the hint, but: $stderr"
}

@test "every tool: an unknown option is one line naming it, and the hint" {
	for t in $(tools); do
		usage_error_is "$t --no-such-option" "unknown option '--no-such-option'"
		usage_error_is "$t --no-such-option=1" "unknown option '--no-such-option'"
	done
}

@test "every tool: a missing or unwanted option argument is one line naming the option" {
	local t first long short
	for t in $(tools); do
		[ "$t" = facet ] && continue
		usage_error_is "$t --help=1" "option '--help' takes no argument"
		# the tool's first option that takes an argument, as --help lists it ("-m, --model MODEL")
		first=$("$t" --help |
			sed -n 's/^ *\(-\([A-Za-z0-9]\), \)\{0,1\}--\([a-z][a-z-]*\)[ =][A-Z].*/\2 \3/p' | head -1)
		[ -n "$first" ] || continue
		read -r short long <<< "$first"
		if [ -z "$long" ]; then long=$short short=; fi
		usage_error_is "$t --$long" "option '--$long' needs an argument"
		[ -z "$short" ] || usage_error_is "$t -$short" "option '-$short' needs an argument"
	done
}

@test "an abbreviated, ambiguous or grouped bad option is named as given" {
	usage_error_is "facet-score --sh" "option '--shift' needs an argument"
	usage_error_is "facet-train --e 1" "ambiguous option '--e' (could be --epochs, --engine)"
	usage_error_is "facet-score --flip -qx" "unknown option '-x'"
	usage_error_is "facet-score --flip=1" "option '--flip' takes no argument"
}

# "-X, --long" pairs of every tool's --help, one "X long tool" a line
help_pairs() {
	local t
	for t in $(tools); do
		"$t" --help | sed -n "s/^ *-\([A-Za-z0-9]\), --\([a-z][a-z-]*\).*/\1 \2 $t/p"
	done
}

@test "every tool: a short option means what facet(7)'s COMMAND-LINE OPTIONS table says" {
	local pairs table x long t n_block clash
	pairs=$(help_pairs)
	[ -n "$pairs" ] || fail "no '-X, --long' pair found in any --help"
	# the same letter for two long names (-n names a count per tool)
	clash=$(awk '$1 != "n" { if (($1 in long) && long[$1] != $2) print "-" $1 ": --" long[$1] \
		" (" tool[$1] ") and --" $2 " (" $3 ")"; long[$1] = $2; tool[$1] = $3 }' <<< "$pairs")
	[ -z "$clash" ] || fail "short options with two meanings: $clash"
	table=$(sed -n '/^\.SH COMMAND-LINE OPTIONS/,/^\.SH SEE/p' "$REPO/man/man7/facet.7" |
		sed 's/\\-/-/g')
	[ -n "$table" ] || fail "facet(7) has no COMMAND-LINE OPTIONS section"
	n_block=$(awk '/^-n /{on = 1; print; next} on && /^-/{on = 0} on' <<< "$table")
	while read -r x long t; do
		if [ "$x" = n ]; then
			[[ "$n_block" == *"--$long ("* ]] || fail "-n, --$long ($t) is not in facet(7)'s table"
		else
			grep -Eq -- "^-$x +--$long( |\$)" <<< "$table" ||
				fail "-$x, --$long ($t) is not in facet(7)'s table"
		fi
	done <<< "$pairs"
}

@test "a letter that is no short option is a usage error" {
	usage_error_is "facet-score -M x" "unknown option '-M'"
	usage_error_is "facet-split -t val" "unknown option '-t'"
	usage_error_is "facet-dump -c" "unknown option '-c'"
	usage_error_is "facet-decode -e vips" "unknown option '-e'"
}
