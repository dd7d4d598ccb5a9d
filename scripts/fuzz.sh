#!/usr/bin/env bash
# Runs every fuzz target of the module for FUZZTIME each (default 10m),
# JOBS at a time (default 2), one worker per target, at low priority.
# A crasher lands in the package's testdata/fuzz/<Target>/ (commit it as a
# regression seed); the summary line of each run goes to $LOG.
#
#   scripts/fuzz.sh                   # every target, 10 minutes each
#   FUZZTIME=60s scripts/fuzz.sh      # a quick pass
#   scripts/fuzz.sh FuzzReader        # one target
set -uo pipefail
cd "$(dirname "$0")/.."
FUZZTIME=${FUZZTIME:-10m}
JOBS=${JOBS:-2}
LOG=${LOG:-fuzz.log}
: >"$LOG"

targets() {
	grep -rl --include='*_test.go' '^func Fuzz' . | sort | while read -r f; do
		pkg=$(dirname "$f")
		grep -o '^func Fuzz[A-Za-z0-9_]*' "$f" | sed 's/^func //' | while read -r t; do
			echo "$pkg $t"
		done
	done
}

run() {
	local pkg=$1 t=$2 out
	out=$(nice -n 19 go test -run='^$' -fuzz="^$t\$" -fuzztime="$FUZZTIME" -parallel=1 "$pkg" 2>&1)
	local rc=$?
	{
		echo "== $pkg $t (rc $rc)"
		grep -E '^fuzz: elapsed' <<<"$out" | tail -1
		[ $rc -eq 0 ] || tail -30 <<<"$out"
	} >>"$LOG"
	return $rc
}
export -f run
export FUZZTIME LOG

if [ $# -gt 0 ]; then
	list=$(targets | grep -E " ($(IFS='|'; echo "$*"))\$")
else
	list=$(targets)
fi
echo "$list" | xargs -P "$JOBS" -L 1 bash -c 'run "$0" "$1"'
rc=$?
cat "$LOG"
exit $rc
