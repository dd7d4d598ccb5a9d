#!/usr/bin/env bash
# conform.sh runs versitygw's own S3 conformance suite (`versitygw test
# full-flow`, the pinned versitygw) twice against a fresh versitygw posix
# backend: once directly and once through bucketkey in front of it, and
# prints how many of the tests that pass directly also pass through the
# proxy (issue 10's measure). It is a measuring tool, like benchmarks.sh,
# not part of `go test`: the suite takes minutes and its verdicts include
# versitygw's own departures from S3 (see the closing notes of issue 10).
#
#   scripts/conform.sh [OUTDIR]     (default /tmp/bucketkey-conform)
#
# OUTDIR gets direct.log, proxy.log, and pass/fail name lists
# (direct.pass, proxy.pass, lost.txt: passing directly, failing through
# the proxy). CONFORM_GROUP=full-flow picks another `versitygw test` group;
# CONFORM_REUSE=1 only recounts the logs already in OUTDIR.
#
# The client identity is the backend's root user (a credentials line
# "key secret =": the proxy re-signs with the client's own pair), and
# --anonymous is on, because the suite checks ownership, ACLs and
# anonymous access as the backend's root sees them.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-/tmp/bucketkey-conform}
group=${CONFORM_GROUP:-full-flow}
bin=${BUCKETKEY_TOOLS_BIN:-$root/.tools/bin}
[ -x "$bin/versitygw" ] || { echo "conform: no $bin/versitygw: run scripts/test.sh once (it installs the pinned servers)" >&2; exit 2; }
mkdir -p "$out"
work=$(mktemp -d /tmp/bucketkey-conform-run.XXXXXX)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

freeport() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
waitport() {
	for _ in $(seq 1 200); do
		if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
		sleep 0.1
	done
	echo "conform: nothing listens on port $1" >&2
	return 1
}

key=conformroot
secret=$(head -c 24 /dev/urandom | base64 | tr -d '/+=')

# run_suite NAME PORT: one fresh backend (and, for "proxy", bucketkey in
# front of it), the suite against PORT's endpoint.
run_suite() {
	local name=$1 gwport bkport endpoint
	gwport=$(freeport)
	mkdir -p "$work/$name/data"
	(cd "$work/$name" && ROOT_ACCESS_KEY=$key ROOT_SECRET_KEY=$secret \
		exec "$bin/versitygw" --port "127.0.0.1:$gwport" --region us-east-1 --quiet --keep-alive posix "$work/$name/data") &
	pids+=($!)
	waitport "$gwport"
	endpoint=http://127.0.0.1:$gwport
	if [ "$name" = proxy ]; then
		bkport=$(freeport)
		head -c 32 /dev/urandom | xxd -p -c 64 >"$work/master.key"
		printf '%s %s =\n' "$key" "$secret" >"$work/clients"
		chmod 600 "$work/master.key" "$work/clients"
		go build -o "$work/bucketkey" "$root/cmd/bucketkey"
		BUCKETKEY_UPSTREAM_SECRET_KEY=$secret "$work/bucketkey" serve \
			--listen "127.0.0.1:$bkport" --admin-listen off \
			--upstream "$endpoint" --upstream-access-key "$key" \
			--kms-local-key "$work/master.key" --credentials "$work/clients" \
			--anonymous 2>"$out/proxy-server.log" &
		pids+=($!)
		waitport "$bkport"
		endpoint=http://127.0.0.1:$bkport
	fi
	# The suite reads its test files from the working directory and must
	# not pick up a CA bundle meant for other tests.
	(cd "$work/$name" && cp "$bin/versitygw" . && env -u AWS_CA_BUNDLE \
		ACCESS_KEY_ID=$key SECRET_ACCESS_KEY=$secret \
		./versitygw test -a "$key" -s "$secret" -e "$endpoint" "$group") >"$out/$name.log" 2>&1 || true
}

# names LOG VERDICT: the test names the suite reports with VERDICT.
# Lines are "PASS Name" or "FAIL Name: why", in ANSI colours.
names() { sed -E 's/\x1b\[[0-9;]*m//g' "$1" | { grep -aE "^($2) +[A-Za-z0-9_]+" || true; } |
	sed -E 's/^[A-Z]+ +([A-Za-z0-9_]+).*/\1/' | sort -u; }

if [ "${CONFORM_REUSE:-}" = "" ]; then
	run_suite direct
	run_suite proxy
fi
names "$out/direct.log" PASS >"$out/direct.pass"
names "$out/proxy.log" PASS >"$out/proxy.pass"
comm -23 "$out/direct.pass" "$out/proxy.pass" >"$out/lost.txt"
d=$(wc -l <"$out/direct.pass")
p=$(comm -12 "$out/direct.pass" "$out/proxy.pass" | wc -l)
total=$(names "$out/direct.log" 'PASS|FAIL' | wc -l)
echo "versitygw test $group: $total tests, $d pass directly, $p of those through bucketkey ($(awk "BEGIN{printf \"%.2f\", int(10000*$p/$d)/100}")%)"
echo "lost through the proxy: $out/lost.txt"
