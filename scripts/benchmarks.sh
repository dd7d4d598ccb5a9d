#!/usr/bin/env bash
# Reproduces the figures in BENCHMARKS.md, all in one run on one machine:
#
#   scripts/benchmarks.sh                   # results in ./bench-results, chart in BENCHMARKS.svg
#   BENCH_OUT=/tmp/r scripts/benchmarks.sh
#
# It builds bucketkey, starts versitygw (posix backend, keep-alive on as on
# AWS S3: versitygw closes every connection by default), local-kms and
# toxiproxy from .tools/bin (scripts/test.sh installs them) on free
# 127.0.0.1 ports, puts a 10 ms latency toxic between the proxies and
# local-kms, starts `bucketkey serve` instances and runs `bucketkey bench`:
#
#   a. 64 MiB objects, PUT and GET: proxy vs versitygw directly (MB/s)
#   b. 4 KiB objects, PUT and GET, concurrency 16, KMS 10 ms away: bucket
#      keys vs --no-bucket-key (ops/s, KMS requests over BENCH_SMALL_COUNT
#      objects), and the same workload straight to versitygw (the ceiling)
#   c. 4 KiB GET latency through the proxy vs direct, concurrency 1
#   d. peak RSS (VmHWM) of a fresh proxy streaming a 64 MiB object up and
#      down, then a BENCH_HUGE_SIZE (5 GiB less 2 MiB) object, from a generator
#   e. key rollover: 4 KiB PUT and GET, concurrency 16, for BENCH_ROLL_SECONDS
#      each, through a proxy whose bucket keys live 2 s (a rollover, and with
#      refresh ahead a background KMS call, every 2 s) vs the default 5 min:
#      p99 latency with and without rollovers
#
# then CPU profiles of the proxy (its admin listener's /debug/pprof) during
# extra, unmeasured runs of a and b, and writes the chart and figures.md
# with scripts/benchreport.
#
# Knobs (environment): BENCH_OUT, BENCH_LARGE_COUNT [16], BENCH_SMALL_COUNT
# [100000], BENCH_BASELINE_COUNT [100000] (the --no-bucket-key side),
# BENCH_LATENCY_COUNT [3000], BENCH_HUGE_SIZE [5118MiB], BENCH_PROFILE_SECONDS [15],
# BENCH_ROLL_SECONDS [20], BENCH_PARTS [abcde] (which of a-e to run; figures
# need all five in BENCH_OUT), BENCH_BK_FLAGS [] (more serve flags for the
# bucket-key proxy, e.g. "--upstream-payload unsigned-trailer").
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
tools="$root/.tools/bin"
out=${BENCH_OUT:-$root/bench-results}
large_count=${BENCH_LARGE_COUNT:-16}
small_count=${BENCH_SMALL_COUNT:-100000}
baseline_count=${BENCH_BASELINE_COUNT:-100000}
latency_count=${BENCH_LATENCY_COUNT:-3000}
huge_size=${BENCH_HUGE_SIZE:-5118MiB} # 5 GiB - 2 MiB: the ciphertext (16 B per 64 KiB more) must fit S3's 5 GiB single-PUT limit
parts=${BENCH_PARTS:-abcde}
roll_seconds=${BENCH_ROLL_SECONDS:-20}
profile_seconds=${BENCH_PROFILE_SECONDS:-15}

for t in versitygw local-kms toxiproxy-server; do
  [ -x "$tools/$t" ] || { echo "benchmarks.sh: $tools/$t missing: run scripts/test.sh once to install the pinned tools" >&2; exit 2; }
done
for c in curl jq python3 /usr/bin/time; do
  command -v "$c" >/dev/null || { echo "benchmarks.sh: needs $c (Debian: curl jq python3 time)" >&2; exit 2; }
done

rm -rf "$out"
mkdir -p "$out"
work=$(mktemp -d /tmp/bucketkey-bench.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

log() { printf '\n== %s\n' "$*" >&2; }

free_port() { # a port the kernel just handed out and released
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

wait_http() { # url [status]: poll until it answers (with that status), for 60 s (readiness, not synchronisation by sleep)
  local url=$1 want=${2:-any} deadline=$((SECONDS + 60)) code
  while :; do
    code=$(curl -s -o /dev/null -w '%{http_code}' "$url" 2>/dev/null || true)
    if [ "$want" = any ] && [ "$code" != 000 ] && [ -n "$code" ]; then return; fi
    if [ "$code" = "$want" ]; then return; fi
    if [ $SECONDS -ge $deadline ]; then echo "benchmarks.sh: $url not ready (last status $code)" >&2; exit 1; fi
    sleep 0.1
  done
}

log "building bucketkey"
bk="$work/bucketkey"
CGO_ENABLED=0 go build -trimpath -o "$bk" ./cmd/bucketkey

# --- backend, KMS, latency -------------------------------------------------
s3_ak=bench-backend-access
s3_sk=bench-backend-secret-0123456789abcdef
mkdir -p "$work/s3/data"
s3_port=$(free_port)
(cd "$work/s3" && ROOT_ACCESS_KEY=$s3_ak ROOT_SECRET_KEY=$s3_sk exec "$tools/versitygw" --port "127.0.0.1:$s3_port" --region us-east-1 --quiet --keep-alive posix "$work/s3/data" >"$out/versitygw.log" 2>&1) &
pids+=($!); s3_pid=$!
s3="http://127.0.0.1:$s3_port"

kms_key=bc436485-5092-42b8-92a3-0aa8b93536dc
mkdir -p "$work/kms"
cat >"$work/kms/seed.yaml" <<EOF
Keys:
  Symmetric:
    Aes:
      - Metadata:
          KeyId: $kms_key
        BackingKeys:
          - 5cdaead27fe7da2de47945d73cd6d79e36494e73802f3cd3869f1d2cb0b5d7a9
EOF
kms_port=$(free_port)
(cd "$work/kms" && PORT=$kms_port KMS_REGION=us-east-1 KMS_ACCOUNT_ID=111122223333 KMS_SEED_PATH="$work/kms/seed.yaml" KMS_DATA_PATH="$work/kms/data" exec "$tools/local-kms" >"$out/local-kms.log" 2>&1) &
pids+=($!); kms_pid=$!

toxi_port=$(free_port)
"$tools/toxiproxy-server" -host 127.0.0.1 -port "$toxi_port" >"$out/toxiproxy.log" 2>&1 &
pids+=($!); toxi_pid=$!

wait_http "$s3/"
wait_http "http://127.0.0.1:$kms_port/"
wait_http "http://127.0.0.1:$toxi_port/version"
kms_far_port=$(free_port)
curl -fsS -X POST "http://127.0.0.1:$toxi_port/proxies" \
  -d "{\"name\":\"kms\",\"listen\":\"127.0.0.1:$kms_far_port\",\"upstream\":\"127.0.0.1:$kms_port\"}" >/dev/null
curl -fsS -X POST "http://127.0.0.1:$toxi_port/proxies/kms/toxics" \
  -d '{"name":"kms_10ms","type":"latency","stream":"downstream","attributes":{"latency":10,"jitter":0}}' >/dev/null
kms_far="http://127.0.0.1:$kms_far_port"

# --- proxies ----------------------------------------------------------------
client_ak=bench-client
client_sk=bench-client-secret-0123456789abcdef
export AWS_ACCESS_KEY_ID=local-kms-accepts-any AWS_SECRET_ACCESS_KEY=local-kms-accepts-any-secret
export AWS_EC2_METADATA_DISABLED=true AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null

start_proxy() { # name [serve flags...]: sets <name>_url, <name>_admin, <name>_pid
  local name=$1; shift
  local port admin
  port=$(free_port); admin=$(free_port)
  BUCKETKEY_UPSTREAM_SECRET_KEY=$s3_sk BUCKETKEY_CLIENT_SECRET_KEY=$client_sk \
  "$bk" serve --listen "127.0.0.1:$port" --admin-listen "127.0.0.1:$admin" --admin-pprof --log-format json \
    --upstream "$s3" --upstream-access-key "$s3_ak" \
    --kms-key-id "$kms_key" --kms-endpoint "$kms_far" --kms-region us-east-1 \
    --client-access-key "$client_ak" "$@" >"$out/proxy-$name.log" 2>&1 &
  local pid=$!
  pids+=($pid)
  printf -v "${name}_url" '%s' "http://127.0.0.1:$port"
  printf -v "${name}_admin" '%s' "http://127.0.0.1:$admin"
  printf -v "${name}_pid" '%s' "$pid"
  wait_http "http://127.0.0.1:$admin/readyz" 200
}
# shellcheck disable=SC2086 # BENCH_BK_FLAGS is a list of flags
start_proxy bk ${BENCH_BK_FLAGS:-}
start_proxy nobk --no-bucket-key

# --- measuring --------------------------------------------------------------
clk=$(getconf CLK_TCK)
cpu_of() { # pid: user+system CPU seconds so far
  awk -v t="$clk" '{ sub(/^.*\) /, ""); printf "%.2f", ($12 + $13) / t }' "/proc/$1/stat"
}
procs() { echo "proxy-bk:$bk_pid proxy-nobk:$nobk_pid versitygw:$s3_pid local-kms:$kms_pid toxiproxy:$toxi_pid${mem_pid:+ proxy-mem:$mem_pid}${roll_pid:+ proxy-roll:$roll_pid}"; }

# phase NAME bench-args...: one `bucketkey bench --json` run into NAME.json,
# with the CPU seconds each server and the bench client spent during it.
phase() {
  local name=$1; shift
  log "$name: bucketkey bench $*"
  declare -A before=()
  local p
  for p in $(procs); do before[${p%%:*}]=$(cpu_of "${p#*:}"); done
  local rc=0
  /usr/bin/time -f '%U %S %M' -o "$out/$name.client" \
    "$bk" bench --json --no-progress --access-key "$client_ak" --secret-key "$client_sk" "$@" >"$out/$name.json" || rc=$?
  {
    printf '{"bench_exit":%d' "$rc"
    for p in $(procs); do
      printf ',"%s":%s' "${p%%:*}" "$(awk -v a="$(cpu_of "${p#*:}")" -v b="${before[${p%%:*}]}" 'BEGIN { printf "%.2f", a - b }')"
    done
    read -r u s m < <(tail -n 1 "$out/$name.client") # GNU time puts "Command exited with ..." first on failure
    printf ',"bench-client":%s,"bench_client_maxrss_kb":%d}\n' "$(awk -v a="$u" -v b="$s" 'BEGIN { printf "%.2f", a + b }')" "$m"
  } >"$out/$name.cpu.json"
  rm -f "$out/$name.client"
  jq -r '.results[] | "  \(.endpoint) \(.op) \(.size)B: \(.ops) ops, \(.errors) errors, \(.ops_per_sec|floor) ops/s, \(.mb_per_sec*10|floor/10) MB/s, p50 \(.latency.p50_ns/1000|floor) us, p99 \(.latency.p99_ns/1000|floor) us" + (if .kms then ", KMS \(.kms.requests) of \(.kms.baseline)" else "" end)' "$out/$name.json" >&2 || true
  [ "$rc" = 0 ] || echo "  (bench exited $rc: see $out/$name.json)" >&2
}
direct=(--compare-endpoint "$s3" --compare-access-key "$s3_ak" --compare-secret-key "$s3_sk")

# a. large objects: proxy vs direct
if [[ $parts == *a* ]]; then
phase a-put-64MiB --endpoint "$bk_url" --admin "$bk_admin" --bucket large --create-bucket "${direct[@]}" --compare-bucket large-direct \
  --op put --size 64MiB --count "$large_count" --concurrency 2
phase a-get-64MiB --endpoint "$bk_url" --admin "$bk_admin" --bucket large "${direct[@]}" --compare-bucket large-direct \
  --op get --prewritten --objects "$large_count" --size 64MiB --count "$large_count" --concurrency 2

fi

# b. small objects, KMS 10 ms away: bucket keys vs one KMS call per object
if [[ $parts == *b* ]]; then
phase b-put-4KiB-bucketkeys --endpoint "$bk_url" --admin "$bk_admin" --bucket small --create-bucket "${direct[@]}" --compare-bucket small-direct \
  --op put --size 4KiB --count "$small_count" --concurrency 16
phase b-put-4KiB-nobucketkey --endpoint "$nobk_url" --admin "$nobk_admin" --bucket small-nobk --create-bucket \
  --op put --size 4KiB --count "$baseline_count" --concurrency 16
phase b-get-4KiB-bucketkeys --endpoint "$bk_url" --admin "$bk_admin" --bucket small "${direct[@]}" --compare-bucket small-direct \
  --op get --prewritten --objects "$small_count" --size 4KiB --count "$small_count" --concurrency 16
phase b-get-4KiB-nobucketkey --endpoint "$nobk_url" --admin "$nobk_admin" --bucket small-nobk \
  --op get --prewritten --objects "$baseline_count" --size 4KiB --count "$baseline_count" --concurrency 16

fi

# c. added latency of a 4 KiB GET, one request at a time
if [[ $parts == *c* ]]; then
phase c-get-4KiB-latency --endpoint "$bk_url" --admin "$bk_admin" --bucket latency --create-bucket "${direct[@]}" --compare-bucket latency-direct \
  --op get --size 4KiB --count "$latency_count" --objects 1000 --concurrency 1

fi

# d. peak RSS of a fresh proxy: 64 MiB up and down, then 5 GiB up and down
if [[ $parts == *d* ]]; then
start_proxy mem
hwm() { awk '/^VmHWM/ { print $2 }' "/proc/$mem_pid/status"; }
rss_start=$(hwm)
phase d-put-64MiB --endpoint "$mem_url" --admin "$mem_admin" --bucket memory --create-bucket --op put --size 64MiB --count 1 --concurrency 1
phase d-get-64MiB --endpoint "$mem_url" --admin "$mem_admin" --bucket memory --op get --prewritten --objects 1 --size 64MiB --count 1 --concurrency 1
rss_64=$(hwm)
phase d-put-huge --endpoint "$mem_url" --admin "$mem_admin" --bucket memory --op put --size "$huge_size" --count 1 --concurrency 1
rss_huge_put=$(hwm)
phase d-get-huge --endpoint "$mem_url" --admin "$mem_admin" --bucket memory --op get --prewritten --objects 1 --size "$huge_size" --count 1 --concurrency 1
rss_huge=$(hwm)
backend_huge=$(find "$work/s3/data/memory" -type f -printf '%s\n' | sort -n | tail -1)
rm -rf "$work/s3/data/memory/bench" # the 5 GiB object: free the disk now
printf '{"start_kb":%d,"after_64MiB_kb":%d,"after_huge_put_kb":%d,"after_huge_kb":%d,"huge_size":"%s","huge_backend_bytes":%d}\n' \
  "$rss_start" "$rss_64" "$rss_huge_put" "$rss_huge" "$huge_size" "${backend_huge:-0}" >"$out/d-rss.json"
log "peak RSS of the proxy: start ${rss_start} KiB, after 64 MiB ${rss_64} KiB, after ${huge_size} ${rss_huge} KiB"
fi

# e. key rollover: bucket keys that live 2 s vs 5 min, same workload
if [[ $parts == *e* ]]; then
start_proxy roll --bucket-key-ttl 2s
phase e-put-4KiB-ttl5m --endpoint "$bk_url" --admin "$bk_admin" --bucket roll-long --create-bucket \
  --op put --size 4KiB --duration "${roll_seconds}s" --concurrency 16
phase e-put-4KiB-ttl2s --endpoint "$roll_url" --admin "$roll_admin" --bucket roll-short --create-bucket \
  --op put --size 4KiB --duration "${roll_seconds}s" --concurrency 16
# Reads of objects written under one (5 min) or about roll_seconds/2 (2 s)
# bucket keys, through unwrap caches whose entries live as long.
phase e-get-4KiB-ttl5m --endpoint "$bk_url" --admin "$bk_admin" --bucket roll-long \
  --op get --prewritten --objects 2000 --size 4KiB --duration "${roll_seconds}s" --concurrency 16
phase e-get-4KiB-ttl2s --endpoint "$roll_url" --admin "$roll_admin" --bucket roll-short \
  --op get --prewritten --objects 2000 --size 4KiB --duration "${roll_seconds}s" --concurrency 16
fi

# KMS latency as the proxies saw it (the toxic's 10 ms plus local-kms).
for p in bk nobk; do
  a="${p}_admin"
  curl -fsS "${!a}/metrics" | awk -v p="$p" '
    /^bucketkey_kms_request_duration_seconds_sum/ { s += $2 }
    /^bucketkey_kms_request_duration_seconds_count/ { n += $2 }
    END { printf "{\"proxy\":\"%s\",\"kms_requests\":%d,\"kms_mean_seconds\":%.6f}\n", p, n, (n ? s/n : 0) }'
done | jq -s . >"$out/kms-latency.json"

# --- profiles (extra runs, not part of the figures) --------------------------
profile() { # name admin-url bench-args...
  local name=$1 admin=$2; shift 2
  log "profile $name (${profile_seconds}s)"
  curl -fsS -o "$out/$name.pprof" "$admin/debug/pprof/profile?seconds=$profile_seconds" &
  local cp=$!
  "$bk" bench --json --no-progress --access-key "$client_ak" --secret-key "$client_sk" --duration "${profile_seconds}s" "$@" >"$out/$name.json" || true
  wait "$cp"
  go tool pprof -top -nodecount=35 "$bk" "$out/$name.pprof" >"$out/$name.top.txt" 2>/dev/null || true
  go tool pprof -top -cum -nodecount=60 "$bk" "$out/$name.pprof" >"$out/$name.cum.txt" 2>/dev/null || true
}
prewrite() { # bucket size count: objects for a GET profile, written untimed before it
  "$bk" bench --no-progress --access-key "$client_ak" --secret-key "$client_sk" --endpoint "$bk_url" --bucket "$1" --create-bucket \
    --op put --size "$2" --count "$3" --concurrency 8 --prefix profile/ >/dev/null
}
prewrite profile-small 4KiB 2000
prewrite profile-large 64MiB 4
profile profile-put-4KiB-bucketkeys "$bk_admin" --endpoint "$bk_url" --bucket profile-small --op put --size 4KiB --concurrency 16 --prefix profile/
profile profile-get-4KiB-bucketkeys "$bk_admin" --endpoint "$bk_url" --bucket profile-small --op get --prewritten --objects 2000 --size 4KiB --concurrency 16 --prefix profile/
profile profile-put-64MiB "$bk_admin" --endpoint "$bk_url" --bucket profile-large --op put --size 64MiB --concurrency 2 --prefix profile/
profile profile-get-64MiB "$bk_admin" --endpoint "$bk_url" --bucket profile-large --op get --prewritten --objects 4 --size 64MiB --concurrency 2 --prefix profile/

# --- the machine, the chart, the figures ------------------------------------
{
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet 2>/dev/null || echo ' (with uncommitted changes)')"
  echo "go: $(go version)"
  echo "kernel: $(uname -sr)"
  echo "cpu: $(nproc) x $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
  echo "memory: $(awk '/^MemTotal/ { printf "%.1f GiB", $2/1048576 }' /proc/meminfo)"
  echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "other processes over 5% CPU at the end:"
  ps -eo pid,ni,pcpu,comm --sort=-pcpu | awk 'NR == 1 || $3 > 5'
} >"$out/machine.txt"
go run ./scripts/benchreport -in "$out" -svg BENCHMARKS.svg >"$out/figures.md" || { echo "benchmarks.sh: no figures (BENCH_PARTS=$parts?)" >&2; exit 1; }
log "figures: $out/figures.md; chart: BENCHMARKS.svg"
cat "$out/figures.md"
