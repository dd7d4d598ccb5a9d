#!/usr/bin/env bash
# What user-metadata headers cost the backend (BENCHMARKS.md, 4 KiB PUT):
# starts a fresh versitygw (posix, from .tools/bin; scripts/test.sh
# installs it) on a free 127.0.0.1 port with random root keys in the
# environment, runs scripts/metacost against it, then stops it and
# removes its data. Flags go to metacost (-n, -c, -rounds, -variants).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
work=$(mktemp -d)
mkdir -p "$work/data"
go build -o "$work/metacost" ./scripts/metacost
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export ROOT_ACCESS_KEY="metacost$RANDOM" ROOT_SECRET_KEY="$(head -c 24 /dev/urandom | base64 | tr -d '/+=')"
(cd "$work" && exec "$repo/.tools/bin/versitygw" --port "127.0.0.1:$port" --region us-east-1 --quiet --keep-alive posix "$work/data" >"$work/versitygw.log" 2>&1) &
gw=$!
trap 'kill $gw 2>/dev/null; wait $gw 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.1; done
AWS_ACCESS_KEY_ID=$ROOT_ACCESS_KEY AWS_SECRET_ACCESS_KEY=$ROOT_SECRET_KEY \
  "$work/metacost" -endpoint "http://127.0.0.1:$port" -pid "$gw" "$@"
