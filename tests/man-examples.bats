#!/usr/bin/env bats
# The EXAMPLES of the man pages that are self-contained (they start from facet-synth and read no
# other file) are run as written: a documented command that stopped working fails here.
load helper

examples() {
	local page
	for page in "$REPO"/man/man1/*.1 "$REPO"/man/man5/*.5; do
		awk '/^\.SH EXAMPLES/{on=1; next} /^\.SH/{on=0} on && /^facet-synth /' "$page" |
			sed 's/\\-/-/g; s/\\\\/\\/g'
	done
}

@test "self-contained man page examples run as written" {
	cd "$BATS_TEST_TMPDIR"
	local n=0 line
	while IFS= read -r line; do
		case $line in *'<'*|*'~'*|*model*|*.csv*) continue ;; esac
		n=$((n + 1))
		run --separate-stderr bash -o pipefail -c "$line"
		# 141: an early stage ended by SIGPIPE because a later one (--head) stopped reading
		[ "$status" -eq 0 ] || [ "$status" -eq 141 ] || fail "example failed ($status): $line: $stderr"
	done < <(examples)
	[ "$n" -ge 5 ] || fail "only $n runnable examples found"
}
