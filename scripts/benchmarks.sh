#!/usr/bin/env bash
# Reproduces the figures in BENCHMARKS.md, all in one run on one machine:
#
#   scripts/benchmarks.sh                   # ~15 min; results in ./bench-results, chart in BENCHMARKS.svg
#   BENCH_QUICK=1 BENCH_OUT=/tmp/r scripts/benchmarks.sh   # a smoke run of every part, tiny counts (~3 min)
#
# It builds bucketkey and the benchmark's own tools (scripts/plainproxy,
# scripts/cryptorate), starts versitygw (posix backend, keep-alive on as on
# AWS S3), local-kms and toxiproxy from .tools/bin (scripts/test.sh installs
# them) on free 127.0.0.1 ports, and runs `bucketkey bench` (aws-sdk-go-v2,
# retries off) against three targets on the same hop:
#
#   bk      `bucketkey serve` (KMS: local-kms, near)
#   plain   the floor: scripts/plainproxy, net/http/httputil.ReverseProxy in
#           front of the same versitygw, no crypto, the client's own
#           signature passed through
#   direct  versitygw itself
#
# Every workload of parts l and s runs in BENCH_ROUNDS interleaved rounds
# (bk plain direct, bk plain direct, ...); benchreport takes medians. The
# CPU seconds of every server process (utime+stime from /proc/PID/stat)
# are recorded around every run. Parts (BENCH_PARTS, default all):
#
#   l  64 MiB PUT and GET, concurrency 2: MB/s and proxy CPU seconds per GiB
#   s  4 KiB PUT and GET, concurrency 16: ops/s, p50, p99; also through
#      bk-kms10, a bucketkey whose KMS is 10 ms away (a toxiproxy latency
#      toxic): bucket keys keep KMS off the hot path
#   k  KMS requests: bk-kms10 vs nobk (--no-bucket-key, one KMS call per
#      object, also 10 ms away), BENCH_BASELINE_COUNT 4 KiB PUTs and GETs
#   m  peak RSS (VmHWM) of fresh proxies: a 64 MiB object up and down at
#      concurrency 1, then (bucketkey only) a BENCH_HUGE_SIZE one from a
#      generator, then 4 KiB PUT/GET, BENCH_C256_PUT_SIZES PUTs and 64 MiB
#      GETs at concurrency 256; the plain proxy alongside
#   r  key rollover: 4 KiB PUT and GET at concurrency 16 for
#      BENCH_ROLL_SECONDS each through a proxy whose keys live 2 s vs bk-kms10
#      (5 min): p99 with and without rollovers
#   u  upstream payload modes: 64 MiB PUT through a bucketkey per
#      --upstream-payload mode (signed, unsigned-trailer, unsigned) to
#      versitygw over http and over https (a second versitygw with a
#      self-signed certificate), each with the plain proxy on the same
#      transport, BENCH_MODE_ROUNDS interleaved rounds: proxy CPU per GiB
#   p  CPU profiles (BENCH_PROFILE_SECONDS each) of bucketkey and the plain
#      proxy (/debug/pprof) during extra, unmeasured runs of l and s:
#      profiles/TARGET-WORKLOAD.pprof, .top.txt, .cum.txt
#
# then writes machine.txt and, with scripts/benchreport, figures.md and
# the chart (BENCHMARKS.svg; BENCH_SVG to write it elsewhere).
#
# Knobs (environment) [default]: BENCH_OUT [bench-results], BENCH_PARTS
# [lskmrup], BENCH_ROUNDS [5], BENCH_LARGE_COUNT [8] (64 MiB PUTs per run;
# GETs read them twice), BENCH_SMALL_COUNT [5000] (4 KiB operations per run),
# BENCH_BASELINE_COUNT [2000], BENCH_HUGE_SIZE [5118MiB] (5 GiB less 2 MiB:
# its ciphertext must fit S3's 5 GiB single PUT), BENCH_C256_COUNT [5120]
# (4 KiB operations at c=256), BENCH_C256_PUT_SIZES ["500KiB 8MiB": the
# largest PUT bucketkey seals in memory, and a streamed one], BENCH_C256_GETS
# [256] (64 MiB GETs at c=256), BENCH_MODE_ROUNDS [3], BENCH_MODE_COUNT [4],
# BENCH_ROLL_SECONDS [10], BENCH_PROFILE_SECONDS [10], BENCH_BK_FLAGS []
# (more serve flags for bk and bk-kms10), BENCH_SVG [BENCHMARKS.svg],
# BENCH_QUICK [] (1: tiny counts for a smoke run; the knobs above still win).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
tools="$root/.tools/bin"
if [ -n "${BENCH_QUICK:-}" ]; then
  q_rounds=2 q_large=2 q_small=200 q_base=100 q_huge=96MiB q_c256=512 q_c256put="500KiB 1MiB" q_c256gets=32 q_mrounds=1 q_mcount=1 q_roll=2 q_prof=2
else
  q_rounds=5 q_large=8 q_small=5000 q_base=2000 q_huge=5118MiB q_c256=5120 q_c256put="500KiB 8MiB" q_c256gets=256 q_mrounds=3 q_mcount=4 q_roll=10 q_prof=10
fi
out=${BENCH_OUT:-$root/bench-results}
parts=${BENCH_PARTS:-lskmrup}
rounds=${BENCH_ROUNDS:-$q_rounds}
large_count=${BENCH_LARGE_COUNT:-$q_large}
small_count=${BENCH_SMALL_COUNT:-$q_small}
baseline_count=${BENCH_BASELINE_COUNT:-$q_base}
huge_size=${BENCH_HUGE_SIZE:-$q_huge}
c256_count=${BENCH_C256_COUNT:-$q_c256}
c256_put_sizes=${BENCH_C256_PUT_SIZES:-$q_c256put}
c256_gets=${BENCH_C256_GETS:-$q_c256gets}
mode_rounds=${BENCH_MODE_ROUNDS:-$q_mrounds}
mode_count=${BENCH_MODE_COUNT:-$q_mcount}
roll_seconds=${BENCH_ROLL_SECONDS:-$q_roll}
profile_seconds=${BENCH_PROFILE_SECONDS:-$q_prof}
svg=${BENCH_SVG:-$root/BENCHMARKS.svg}

for t in versitygw local-kms toxiproxy-server; do
  [ -x "$tools/$t" ] || { echo "benchmarks.sh: $tools/$t missing: run scripts/test.sh once to install the pinned tools" >&2; exit 2; }
done
for c in curl jq python3 openssl /usr/bin/time; do
  command -v "$c" >/dev/null || { echo "benchmarks.sh: needs $c (Debian: curl jq python3 openssl time)" >&2; exit 2; }
done

rm -rf "$out"
mkdir -p "$out/profiles"
work=$(mktemp -d /tmp/bucketkey-bench.XXXXXX)
declare -A pid=() url=() admin=() ak=() sk=() pprof=() # per process name
cleanup() {
  local p
  for p in "${pid[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pid[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
started=$(date +%s)
load_start=$(cut -d' ' -f1-3 /proc/loadavg)

log() { printf '\n== [%ds] %s\n' "$(($(date +%s) - started))" "$*" >&2; }

free_port() { # a port the kernel just handed out and released
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# wait_http URL PID [status]: poll until URL answers (with that status) for
# 60 s, failing early if PID died (readiness, not synchronisation by sleep).
wait_http() {
  local u=$1 p=$2 want=${3:-any} deadline=$((SECONDS + 60)) code
  while :; do
    code=$(curl -sk -o /dev/null -w '%{http_code}' "$u" 2>/dev/null || true)
    if [ "$want" = any ] && [ "$code" != 000 ] && [ -n "$code" ]; then return 0; fi
    if [ "$code" = "$want" ]; then return 0; fi
    if ! kill -0 "$p" 2>/dev/null; then echo "benchmarks.sh: the process behind $u exited" >&2; return 1; fi
    if [ $SECONDS -ge $deadline ]; then echo "benchmarks.sh: $u not ready (last status $code)" >&2; return 1; fi
    sleep 0.1
  done
}

stop() { # name: stop one of our processes
  kill "${pid[$1]}" 2>/dev/null || true
  wait "${pid[$1]}" 2>/dev/null || true
  unset "pid[$1]"
}

log "building bucketkey, plainproxy, cryptorate"
bk="$work/bucketkey"
CGO_ENABLED=0 go build -trimpath -o "$bk" ./cmd/bucketkey
CGO_ENABLED=0 go build -trimpath -o "$work/plainproxy" ./scripts/plainproxy
CGO_ENABLED=0 go build -trimpath -o "$work/cryptorate" ./scripts/cryptorate
log "SHA-256 and AES-256-GCM on one core"
"$work/cryptorate" >"$out/crypto.json"

# --- backends, KMS, latency ---------------------------------------------------
s3_ak=bench-backend-access
s3_sk=bench-backend-secret-0123456789abcdef
start_versitygw() { # name scheme [versitygw flags...]: posix backend in $work/name
  local name=$1 scheme=$2; shift 2
  local port
  port=$(free_port)
  mkdir -p "$work/$name/data"
  (cd "$work/$name" && ROOT_ACCESS_KEY=$s3_ak ROOT_SECRET_KEY=$s3_sk exec "$tools/versitygw" --port "127.0.0.1:$port" --region us-east-1 --quiet --keep-alive "$@" posix "$work/$name/data" >"$out/$name.log" 2>&1) &
  pid[$name]=$!
  url[$name]="$scheme://127.0.0.1:$port"
  wait_http "${url[$name]}/" "${pid[$name]}"
}
start_versitygw versitygw http
s3=${url[versitygw]}
url[direct]=$s3 ak[direct]=$s3_ak sk[direct]=$s3_sk

kms_key=bc436485-5092-42b8-92a3-0aa8b93536dc
mkdir -p "$work/kms"
cat >"$work/kms/seed.yaml" <<SEED
Keys:
  Symmetric:
    Aes:
      - Metadata:
          KeyId: $kms_key
        BackingKeys:
          - 5cdaead27fe7da2de47945d73cd6d79e36494e73802f3cd3869f1d2cb0b5d7a9
SEED
kms_port=$(free_port)
(cd "$work/kms" && PORT=$kms_port KMS_REGION=us-east-1 KMS_ACCOUNT_ID=111122223333 KMS_SEED_PATH="$work/kms/seed.yaml" KMS_DATA_PATH="$work/kms/data" exec "$tools/local-kms" >"$out/local-kms.log" 2>&1) &
pid[local-kms]=$!
kms_near="http://127.0.0.1:$kms_port"

toxi_port=$(free_port)
"$tools/toxiproxy-server" -host 127.0.0.1 -port "$toxi_port" >"$out/toxiproxy.log" 2>&1 &
pid[toxiproxy]=$!
wait_http "$kms_near/" "${pid[local-kms]}"
wait_http "http://127.0.0.1:$toxi_port/version" "${pid[toxiproxy]}"
kms_far_port=$(free_port)
curl -fsS -X POST "http://127.0.0.1:$toxi_port/proxies" \
  -d "{\"name\":\"kms\",\"listen\":\"127.0.0.1:$kms_far_port\",\"upstream\":\"127.0.0.1:$kms_port\"}" >/dev/null
curl -fsS -X POST "http://127.0.0.1:$toxi_port/proxies/kms/toxics" \
  -d '{"name":"kms_10ms","type":"latency","stream":"downstream","attributes":{"latency":10,"jitter":0}}' >/dev/null
kms_far="http://127.0.0.1:$kms_far_port"

# --- proxies --------------------------------------------------------------------
client_ak=bench-client
client_sk=bench-client-secret-0123456789abcdef
export AWS_ACCESS_KEY_ID=local-kms-accepts-any AWS_SECRET_ACCESS_KEY=local-kms-accepts-any-secret
export AWS_EC2_METADATA_DISABLED=true AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null

# start_proxy NAME UPSTREAM KMS [serve flags...]: a bucketkey serve; fails
# (without stopping the script) if it does not come up.
start_proxy() {
  local name=$1 up=$2 kms=$3; shift 3
  local port adm
  port=$(free_port); adm=$(free_port)
  BUCKETKEY_UPSTREAM_SECRET_KEY=$s3_sk BUCKETKEY_CLIENT_SECRET_KEY=$client_sk \
  "$bk" serve --listen "127.0.0.1:$port" --admin-listen "127.0.0.1:$adm" --admin-pprof --log-format json \
    --upstream "$up" --upstream-access-key "$s3_ak" \
    --kms-key-id "$kms_key" --kms-endpoint "$kms" --kms-region us-east-1 \
    --client-access-key "$client_ak" "$@" >"$out/proxy-$name.log" 2>&1 &
  pid[$name]=$!
  url[$name]="http://127.0.0.1:$port" admin[$name]="http://127.0.0.1:$adm" pprof[$name]="http://127.0.0.1:$adm"
  ak[$name]=$client_ak sk[$name]=$client_sk
  if ! wait_http "${admin[$name]}/readyz" "${pid[$name]}" 200; then
    echo "benchmarks.sh: proxy $name did not start: $(tail -n 3 "$out/proxy-$name.log")" >&2
    stop "$name"
    return 1
  fi
}

# start_plain NAME UPSTREAM [plainproxy flags...]: the plain reverse proxy.
start_plain() {
  local name=$1 up=$2; shift 2
  local port dbg
  port=$(free_port); dbg=$(free_port)
  "$work/plainproxy" -listen "127.0.0.1:$port" -pprof-listen "127.0.0.1:$dbg" -upstream "$up" "$@" >"$out/proxy-$name.log" 2>&1 &
  pid[$name]=$!
  url[$name]="http://127.0.0.1:$port" ak[$name]=$s3_ak sk[$name]=$s3_sk pprof[$name]="http://127.0.0.1:$dbg"
  wait_http "${url[$name]}/" "${pid[$name]}"
}

# shellcheck disable=SC2086 # BENCH_BK_FLAGS is a list of flags
start_proxy bk "$s3" "$kms_near" ${BENCH_BK_FLAGS:-}
# shellcheck disable=SC2086
start_proxy bk-kms10 "$s3" "$kms_far" ${BENCH_BK_FLAGS:-}
start_plain plain "$s3"

# --- measuring --------------------------------------------------------------------
clk=$(getconf CLK_TCK)
cpu_of() { # pid: user+system CPU seconds so far
  awk -v t="$clk" '{ sub(/^.*\) /, ""); printf "%.2f", ($12 + $13) / t }' "/proc/$1/stat" 2>/dev/null || echo 0
}

# phase FILE TARGET bench-args...: one `bucketkey bench --json` run against
# TARGET (a name with url, keys and maybe admin) into FILE.json, with the CPU
# seconds every server process and the bench client spent during it in
# FILE.cpu.json.
phase() {
  local name=$1 target=$2; shift 2
  local args=(--json --no-progress --endpoint "${url[$target]}")
  [ -n "${admin[$target]:-}" ] && args+=(--admin "${admin[$target]}")
  declare -A before=()
  local p
  for p in "${!pid[@]}"; do before[$p]=$(cpu_of "${pid[$p]}"); done
  local rc=0
  BUCKETKEY_ACCESS_KEY=${ak[$target]} BUCKETKEY_SECRET_KEY=${sk[$target]} \
    /usr/bin/time -f '%U %S %M' -o "$out/$name.client" "$bk" bench "${args[@]}" "$@" >"$out/$name.json" || rc=$?
  {
    printf '{"bench_exit":%d' "$rc"
    for p in "${!pid[@]}"; do
      printf ',"%s":%s' "$p" "$(awk -v a="$(cpu_of "${pid[$p]}")" -v b="${before[$p]}" 'BEGIN { printf "%.2f", a - b }')"
    done
    read -r u s m < <(tail -n 1 "$out/$name.client") # GNU time puts "Command exited with ..." first on failure
    printf ',"bench-client":%s,"bench_client_maxrss_kb":%d}\n' "$(awk -v a="$u" -v b="$s" 'BEGIN { printf "%.2f", a + b }')" "$m"
  } >"$out/$name.cpu.json"
  rm -f "$out/$name.client"
  jq -r --arg n "$name" '.results[] | "  \($n): \(.ops) ops, \(.errors) errors, \(.ops_per_sec|floor) ops/s, \(.mb_per_sec*10|floor/10) MB/s, p50 \(.latency.p50_ns/1000|floor) us, p99 \(.latency.p99_ns/1000|floor) us" + (if .kms then ", KMS \(.kms.requests) of \(.kms.baseline)" else "" end)' "$out/$name.json" >&2 || true
  [ "$rc" = 0 ] || echo "  (bench exited $rc: see $out/$name.json)" >&2
}

# rounds N WORKLOAD "TARGETS" bench-args...: N interleaved rounds of the
# same workload over the targets (@ in the args is replaced by the target's
# name, e.g. in its bucket), into WORKLOAD.TARGET.rI.json.
rounds() {
  local n=$1 workload=$2 targets=$3; shift 3
  local r t a
  log "$workload: $n rounds of $targets"
  for ((r = 1; r <= n; r++)); do
    for t in $targets; do
      local args=()
      for a in "$@"; do args+=("${a//@/$t}"); done
      phase "$workload.$t.r$r" "$t" "${args[@]}"
    done
  done
}

# l. large objects (the GETs read what the PUTs wrote, in bucket large-TARGET)
if [[ $parts == *l* ]]; then
  rounds "$rounds" put-64MiB "bk plain direct" --bucket "large-@" --create-bucket --op put --size 64MiB --count "$large_count" --concurrency 2
  rounds "$rounds" get-64MiB "bk plain direct" --bucket "large-@" --op get --prewritten --objects "$large_count" --size 64MiB --count $((2 * large_count)) --concurrency 2
fi

# s. small objects at c=16, KMS near (bk) and 10 ms away (bk-kms10)
if [[ $parts == *s* ]]; then
  rounds "$rounds" put-4KiB "bk bk-kms10 plain direct" --bucket "small-@" --create-bucket --op put --size 4KiB --count "$small_count" --concurrency 16
  rounds "$rounds" get-4KiB "bk bk-kms10 plain direct" --bucket "small-@" --op get --prewritten --objects "$small_count" --size 4KiB --count "$small_count" --concurrency 16
fi

# k. KMS requests with bucket keys vs one KMS call per object (both 10 ms away)
if [[ $parts == *k* ]]; then
  start_proxy nobk "$s3" "$kms_far" --no-bucket-key
  rounds 1 kms-put-4KiB "bk-kms10 nobk" --bucket "kms-@" --create-bucket --op put --size 4KiB --count "$baseline_count" --concurrency 16
  rounds 1 kms-get-4KiB "bk-kms10 nobk" --bucket "kms-@" --op get --prewritten --objects "$baseline_count" --size 4KiB --count "$baseline_count" --concurrency 16
fi

# m. peak RSS (VmHWM) of fresh proxies, bucketkey (mem) and plain (plainmem)
rss_step() { # target step: append the target's VmHWM so far to rss.jsonl
  printf '{"target":"%s","step":"%s","kb":%d}\n' "$1" "$2" "$(awk '/^VmHWM/ { print $2 }' "/proc/${pid[$1]}/status")" >>"$out/rss.jsonl"
}
if [[ $parts == *m* ]]; then
  start_proxy mem "$s3" "$kms_near"
  start_plain plainmem "$s3"
  for t in mem plainmem; do
    log "peak RSS of $t"
    rss_step "$t" start
    phase "mem-put-64MiB-c1.$t.r1" "$t" --bucket "mem-$t" --create-bucket --op put --size 64MiB --count 1 --concurrency 1
    phase "mem-get-64MiB-c1.$t.r1" "$t" --bucket "mem-$t" --op get --prewritten --objects 1 --size 64MiB --count 1 --concurrency 1
    rss_step "$t" 64MiB-c1
    if [ "$t" = mem ]; then
      phase "mem-put-huge-c1.$t.r1" "$t" --bucket "mem-$t" --op put --size "$huge_size" --count 1 --concurrency 1 --prefix huge/
      phase "mem-get-huge-c1.$t.r1" "$t" --bucket "mem-$t" --op get --prewritten --objects 1 --size "$huge_size" --count 1 --concurrency 1 --prefix huge/
      rss_step "$t" "$huge_size-c1"
      backend_huge=$(find "$work/versitygw/data/mem-$t/huge" -type f -printf '%s\n' | sort -n | tail -1)
      printf '{"size":"%s","backend_bytes":%d}\n' "$huge_size" "${backend_huge:-0}" >"$out/huge.json"
      rm -rf "$work/versitygw/data/mem-$t/huge" # free the disk now
    fi
    phase "mem-put-4KiB-c256.$t.r1" "$t" --bucket "mem-$t" --op put --size 4KiB --count "$c256_count" --concurrency 256 --prefix c256/
    rss_step "$t" put-4KiB-c256
    phase "mem-get-4KiB-c256.$t.r1" "$t" --bucket "mem-$t" --op get --prewritten --objects "$c256_count" --size 4KiB --count "$c256_count" --concurrency 256 --prefix c256/
    rss_step "$t" get-4KiB-c256
    for size in $c256_put_sizes; do
      phase "mem-put-$size-c256.$t.r1" "$t" --bucket "mem-$t" --op put --size "$size" --count 256 --concurrency 256 --prefix c256/
      rss_step "$t" "put-$size-c256"
    done
    phase "mem-get-64MiB-c256.$t.r1" "$t" --bucket "mem-$t" --op get --prewritten --objects 1 --size 64MiB --count "$c256_gets" --concurrency 256
    rss_step "$t" get-64MiB-c256
    stop "$t"
    rm -rf "$work/versitygw/data/mem-$t"
  done
fi

# r. key rollover: keys that live 2 s (roll) vs 5 min (bk-kms10), KMS 10 ms away
if [[ $parts == *r* ]]; then
  roll_objects=$((roll_seconds >= 10 ? 2000 : 100))
  # shellcheck disable=SC2086
  start_proxy roll "$s3" "$kms_far" --bucket-key-ttl 2s ${BENCH_BK_FLAGS:-}
  rounds 1 roll-put-4KiB "bk-kms10 roll" --bucket "roll-@" --create-bucket --op put --size 4KiB --duration "${roll_seconds}s" --concurrency 16
  # Reads of objects written under one (5 min) or about roll_seconds/2 (2 s)
  # bucket keys, through unwrap caches whose entries live as long.
  rounds 1 roll-get-4KiB "bk-kms10 roll" --bucket "roll-@" --op get --prewritten --objects "$roll_objects" --size 4KiB --duration "${roll_seconds}s" --concurrency 16
fi

# KMS latency as the proxies 10 ms away saw it (the toxic plus local-kms).
for p in bk-kms10 nobk roll; do
  [ -n "${pid[$p]:-}" ] || continue
  curl -fsS "${admin[$p]}/metrics" | awk -v p="$p" '
    /^bucketkey_kms_request_duration_seconds_sum/ { s += $2 }
    /^bucketkey_kms_request_duration_seconds_count/ { n += $2 }
    END { printf "{\"proxy\":\"%s\",\"kms_requests\":%d,\"kms_mean_seconds\":%.6f}\n", p, n, (n ? s/n : 0) }'
done | jq -s . >"$out/kms-latency.json"
for p in nobk roll; do [ -z "${pid[$p]:-}" ] || stop "$p"; done

# u. upstream payload modes over http and https: proxy CPU per GiB of 64 MiB PUTs
if [[ $parts == *u* ]]; then
  log "upstream payload modes"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
    -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 \
    -keyout "$work/tls-key.pem" -out "$work/tls-cert.pem" 2>/dev/null
  start_versitygw versitygw-tls https --cert "$work/tls-cert.pem" --key "$work/tls-key.pem"
  start_plain plain-https "${url[versitygw-tls]}" -upstream-ca "$work/tls-cert.pem"
  # The signed mode is "signed" where --upstream-payload has "auto" (a default
  # per scheme), "chunked" before.
  modes="chunked unsigned-trailer unsigned"
  if "$bk" serve -h 2>&1 | grep -A2 -- '--upstream-payload' | grep -q 'auto'; then modes="signed unsigned-trailer unsigned"; fi
  mode_targets=""
  for scheme in http https; do
    for mode in $modes; do
      if [ $scheme = http ]; then
        start_proxy "bk-$scheme-$mode" "$s3" "$kms_near" --upstream-payload "$mode" || continue
      else
        start_proxy "bk-$scheme-$mode" "${url[versitygw-tls]}" "$kms_near" --upstream-payload "$mode" --upstream-ca "$work/tls-cert.pem" || continue
      fi
      mode_targets+=" bk-$scheme-$mode"
    done
    if [ $scheme = http ]; then mode_targets+=" plain"; else mode_targets+=" plain-https"; fi
  done
  rounds "$mode_rounds" mode-put-64MiB "$mode_targets" --bucket "mode-@" --create-bucket --op put --size 64MiB --count "$mode_count" --concurrency 2
  for t in $mode_targets; do [ "$t" = plain ] || stop "$t"; done
  stop versitygw-tls
fi

# p. profiles of bk and the plain proxy (extra runs, not part of the figures)
if [[ $parts == *p* ]]; then
  profile() { # target name bench-args...
    local t=$1 name=$2; shift 2
    log "profile $t $name (${profile_seconds}s)"
    curl -fsS -o "$out/profiles/$t-$name.pprof" "${pprof[$t]}/debug/pprof/profile?seconds=$profile_seconds" &
    local cp=$!
    BUCKETKEY_ACCESS_KEY=${ak[$t]} BUCKETKEY_SECRET_KEY=${sk[$t]} "$bk" bench --json --no-progress --endpoint "${url[$t]}" \
      --duration "${profile_seconds}s" "$@" >"$out/profiles/$t-$name.json" || true
    wait "$cp" || true
    local exe=$bk
    [ "$t" = bk ] || exe=$work/plainproxy
    go tool pprof -top -nodecount=35 "$exe" "$out/profiles/$t-$name.pprof" >"$out/profiles/$t-$name.top.txt" 2>/dev/null || true
    go tool pprof -top -cum -nodecount=60 "$exe" "$out/profiles/$t-$name.pprof" >"$out/profiles/$t-$name.cum.txt" 2>/dev/null || true
  }
  prewrite() { # target bucket size count: objects for a GET profile, written untimed before it
    BUCKETKEY_ACCESS_KEY=${ak[$1]} BUCKETKEY_SECRET_KEY=${sk[$1]} "$bk" bench --no-progress --endpoint "${url[$1]}" \
      --bucket "$2" --create-bucket --op put --size "$3" --count "$4" --concurrency 8 --prefix profile/ >/dev/null
  }
  for t in bk plain; do
    prewrite "$t" "profile-small-$t" 4KiB 2000
    prewrite "$t" "profile-large-$t" 64MiB 4
    profile "$t" put-4KiB --bucket "profile-small-$t" --op put --size 4KiB --concurrency 16 --prefix profile/
    profile "$t" get-4KiB --bucket "profile-small-$t" --op get --prewritten --objects 2000 --size 4KiB --concurrency 16 --prefix profile/
    profile "$t" put-64MiB --bucket "profile-large-$t" --op put --size 64MiB --concurrency 2 --prefix profile/
    profile "$t" get-64MiB --bucket "profile-large-$t" --op get --prewritten --objects 4 --size 64MiB --concurrency 2 --prefix profile/
  done
fi

# --- the machine, the chart, the figures --------------------------------------------
{
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD 2>/dev/null || echo ' (with uncommitted changes)')"
  echo "go: $(go version)"
  echo "kernel: $(uname -sr)"
  echo "cpu: $(nproc) x $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
  echo "memory: $(awk '/^MemTotal/ { printf "%.1f GiB", $2/1048576 }' /proc/meminfo)"
  echo "load average at the start: $load_start"
  echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "duration: $(($(date +%s) - started)) s"
  echo "knobs: parts=$parts rounds=$rounds large_count=$large_count small_count=$small_count baseline_count=$baseline_count huge_size=$huge_size c256_count=$c256_count c256_put_sizes=$c256_put_sizes c256_gets=$c256_gets mode_rounds=$mode_rounds mode_count=$mode_count roll_seconds=$roll_seconds bk_flags=${BENCH_BK_FLAGS:-}"
  echo "client payload (as the plain proxy saw the bench client's PUTs): $(sed -n 's/^plainproxy: client payload: //p' "$out"/proxy-plain*.log | sort -u | paste -sd, -)"
  echo "other processes over 5% CPU at the end:"
  ps -eo pid,ni,pcpu,comm --sort=-pcpu | awk 'NR == 1 || $3 > 5'
} >"$out/machine.txt"
go run ./scripts/benchreport -in "$out" -svg "$svg" >"$out/figures.md" || { echo "benchmarks.sh: no figures" >&2; exit 1; }
log "figures: $out/figures.md; chart: $svg"
cat "$out/figures.md"
