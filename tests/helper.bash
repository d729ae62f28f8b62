# Shared setup for facet's BATS tests: `load helper` at the top of each file.
bats_require_minimum_version 1.5.0
load /usr/lib/bats/bats-support/load
load /usr/lib/bats/bats-assert/load

REPO="$(cd "$BATS_TEST_DIRNAME/.." && pwd)"
FACET_BIN="${FACET_BIN:-$REPO/bin}"
PATH="$FACET_BIN:$PATH"
export PATH REPO FACET_BIN
FACET_DATA="${FACET_DATA:-$REPO/../shared/data/UTKFace}"
export FACET_DATA
PY=/usr/bin/python3

# Skip unless the real UTKFace faces are at hand.
need_data() {
	[ -d "$FACET_DATA" ] || skip "UTKFace faces not found at $FACET_DATA (set FACET_DATA to run this test)"
}

# Skip unless /usr/bin/python3 has the given modules.
need_py() {
	local m
	for m in "$@"; do
		$PY -c "import $m" 2>/dev/null || skip "python module $m not installed (Debian python3-$m)"
	done
}


# True when the tools under test are the AddressSanitizer build (make check SANITIZE=1).
sanitized() {
	[[ "$FACET_BIN" == *build-san* ]]
}
