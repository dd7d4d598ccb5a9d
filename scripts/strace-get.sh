#!/usr/bin/env bash
# Syscalls per GiB of large GETs through bucketkey and through the plain
# reverse proxy (scripts/plainproxy), the floor of issue 15 ("Large GETs":
# compare syscall counts per GiB with the plain proxy), counted by
# `strace -c -f` attached to each proxy, all of its threads, while
# `bucketkey bench` reads the same size from the same versitygw:
#
#   scripts/strace-get.sh                                  # 256 MiB object, read 4 times through each
#   STRACE_SIZE=64MiB STRACE_COUNT=8 STRACE_OUT=/tmp/st scripts/strace-get.sh
#   STRACE_SIZE=4KiB STRACE_COUNT=4000 STRACE_CONCURRENCY=16 scripts/strace-get.sh   # per-request syscalls
#
# Knobs: STRACE_SIZE [256MiB], STRACE_COUNT [4] (GETs per proxy),
# STRACE_CONCURRENCY [1] (GETs at a time; the object count), STRACE_OUT [strace-results]: TARGET.strace (strace's table) and
# summary.txt (printed too). strace slows every syscall down, so read the
# counts, not the time. bucketkey uses a local master key
# (--kms-local-key): KMS is off a GET's path after the first unwrap anyway.
# Needs strace, curl, python3 and .tools/bin/versitygw (scripts/test.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
tools="$root/.tools/bin"
size=${STRACE_SIZE:-256MiB}
count=${STRACE_COUNT:-4}
conc=${STRACE_CONCURRENCY:-1}
out=${STRACE_OUT:-$root/strace-results}
for c in strace curl python3; do
  command -v "$c" >/dev/null || { echo "strace-get.sh: needs $c" >&2; exit 2; }
done
[ -x "$tools/versitygw" ] || { echo "strace-get.sh: $tools/versitygw missing: run scripts/test.sh once" >&2; exit 2; }

rm -rf "$out"
mkdir -p "$out"
work=$(mktemp -d /tmp/bucketkey-strace.XXXXXX)
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}
wait_http() { # URL PID: poll until URL answers, failing if PID died (readiness, not sync by sleep)
  local deadline=$((SECONDS + 60))
  until [ "$(curl -s -o /dev/null -w '%{http_code}' "$1" 2>/dev/null || true)" != 000 ]; do
    kill -0 "$2" 2>/dev/null || { echo "strace-get.sh: the process behind $1 exited" >&2; return 1; }
    [ $SECONDS -lt $deadline ] || { echo "strace-get.sh: $1 not ready" >&2; return 1; }
    sleep 0.1
  done
}

echo "building bucketkey and plainproxy" >&2
CGO_ENABLED=0 go build -trimpath -o "$work/bucketkey" ./cmd/bucketkey
CGO_ENABLED=0 go build -trimpath -o "$work/plainproxy" ./scripts/plainproxy

s3_ak=strace-backend-access s3_sk=strace-backend-secret-0123456789abcdef
client_ak=strace-client client_sk=strace-client-secret-0123456789abcdef
s3_port=$(free_port)
mkdir -p "$work/s3"
(cd "$work/s3" && ROOT_ACCESS_KEY=$s3_ak ROOT_SECRET_KEY=$s3_sk exec "$tools/versitygw" --port "127.0.0.1:$s3_port" --region us-east-1 --quiet --keep-alive posix "$work/s3" >"$out/versitygw.log" 2>&1) &
pids+=($!)
wait_http "http://127.0.0.1:$s3_port/" "${pids[-1]}"

python3 -c 'import secrets; print(secrets.token_hex(32))' >"$work/master.key"
chmod 600 "$work/master.key"
bk_port=$(free_port)
BUCKETKEY_UPSTREAM_SECRET_KEY=$s3_sk BUCKETKEY_CLIENT_SECRET_KEY=$client_sk \
  "$work/bucketkey" serve --listen "127.0.0.1:$bk_port" --log-format json \
  --upstream "http://127.0.0.1:$s3_port" --upstream-access-key "$s3_ak" \
  --kms-local-key "$work/master.key" --client-access-key "$client_ak" >"$out/bucketkey.log" 2>&1 &
pids+=($!)
bk_pid=${pids[-1]}
wait_http "http://127.0.0.1:$bk_port/" "$bk_pid"
plain_port=$(free_port)
"$work/plainproxy" -listen "127.0.0.1:$plain_port" -upstream "http://127.0.0.1:$s3_port" >"$out/plainproxy.log" 2>&1 &
pids+=($!)
plain_pid=${pids[-1]}
wait_http "http://127.0.0.1:$plain_port/" "$plain_pid"

bench() { # target-port access-key secret-key bench-args...
  local port=$1 ak=$2 sk=$3; shift 3
  BUCKETKEY_ACCESS_KEY=$ak BUCKETKEY_SECRET_KEY=$sk "$work/bucketkey" bench --no-progress \
    --endpoint "http://127.0.0.1:$port" "$@"
}

# measure NAME PID PORT AK SK: GETs through one proxy under strace.
measure() {
  local name=$1 pid=$2 port=$3 ak=$4 sk=$5
  echo "$name: PUT $conc $size objects, then $count GETs under strace" >&2
  bench "$port" "$ak" "$sk" --bucket "strace-$name" --create-bucket --op put --size "$size" --count "$conc" --concurrency "$conc" >/dev/null
  strace -c -f -p "$pid" -o "$out/$name.strace" 2>"$work/$name.attach" &
  local st=$!
  # Attached once strace has said so for the process (it lists every thread).
  local deadline=$((SECONDS + 30))
  until grep -q "Process $pid attached" "$work/$name.attach"; do
    kill -0 "$st" 2>/dev/null || { echo "strace-get.sh: strace failed: $(cat "$work/$name.attach")" >&2; return 1; }
    [ $SECONDS -lt $deadline ] || { echo "strace-get.sh: strace did not attach" >&2; return 1; }
    sleep 0.1
  done
  bench "$port" "$ak" "$sk" --bucket "strace-$name" --op get --prewritten --objects "$conc" --size "$size" --count "$count" --concurrency "$conc" >"$out/$name.bench.txt"
  kill -INT "$st"
  wait "$st" || true
}
measure bucketkey "$bk_pid" "$bk_port" "$client_ak" "$client_sk"
measure plain "$plain_pid" "$plain_port" "$s3_ak" "$s3_sk"

# summary: total syscalls and the main ones per GiB read, side by side.
python3 - "$out" "$size" "$count" "$conc" <<'PY' | tee "$out/summary.txt"
import re, sys
out, size, count, conc = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
m = re.fullmatch(r"(\d+)(KiB|MiB|GiB)?", size)
if not m:
    sys.exit("strace-get.sh: STRACE_SIZE %r: want N, NKiB, NMiB or NGiB" % size)
mult = {None: 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30}[m.group(2)]
gib = int(m.group(1)) * mult * count / (1 << 30)

def calls(path):
    c = {}
    for line in open(path):
        f = line.split()
        # % time, seconds, usecs/call, calls, [errors,] syscall (or "total")
        if len(f) >= 5 and re.fullmatch(r"[\d.]+", f[0]) and f[3].isdigit():
            c[f[-1]] = int(f[3])
    return c

bk, plain = calls(out + "/bucketkey.strace"), calls(out + "/plain.strace")
print("syscalls per GiB of GET (%s x %d, concurrency %d), strace -c -f on each proxy; per GET after /" % (size, count, conc))
print("%-16s %12s %12s %8s %9s %9s" % ("syscall", "bucketkey", "plain", "ratio", "bk/GET", "plain/GET"))
names = sorted(set(bk) | set(plain), key=lambda n: -(bk.get(n, 0) + plain.get(n, 0)))
for n in ["total"] + [n for n in names if n != "total"][:10]:
    b, p = bk.get(n, 0) / gib, plain.get(n, 0) / gib
    print("%-16s %12.0f %12.0f %8s %9.2f %9.2f" % (n, b, p, "%.2f" % (b / p) if p else "-", bk.get(n, 0) / count, plain.get(n, 0) / count))
PY
