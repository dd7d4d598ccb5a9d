#!/usr/bin/env bash
# The test command: installs the pinned servers and clients the tests need if
# they are missing, then runs the whole suite with the race detector.
#   scripts/test.sh            # everything
#   scripts/test.sh ./envelope # go test arguments are passed through
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
bin="$root/.tools/bin"
mkdir -p "$bin"

# Go tools pinned in tools/go.mod (versitygw, local-kms, staticcheck, ...);
# its stamp is .stamp-<16 hex digits>.
stamp="$bin/.stamp-$(sha256sum tools/go.mod tools/go.sum | sha256sum | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  echo "scripts/test.sh: installing pinned Go tools into .tools/bin" >&2
  (cd tools && GOBIN="$bin" GOFLAGS=-mod=mod go install tool)
  # toxiproxy's server command installs as "server"; give it its real name.
  mv -f "$bin/server" "$bin/toxiproxy-server"
  rm -f "$bin"/.stamp-????????????????
  touch "$stamp"
fi

# The MinIO server, the second S3 backend, pinned in its own module
# (tools/minio/go.mod) so that its dependencies do not move versitygw's.
stamp="$bin/.stamp-minio-$(sha256sum tools/minio/go.mod tools/minio/go.sum | sha256sum | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  echo "scripts/test.sh: installing the pinned MinIO server into .tools/bin" >&2
  (cd tools/minio && GOBIN="$bin" GOFLAGS=-mod=mod go install tool)
  rm -f "$bin"/.stamp-minio-*
  touch "$stamp"
fi

# Clients from Debian's packages: aws v2, s3cmd, rclone; yamllint for examples/;
# nginx (the load balancer of the replicas test); prometheus for promtool
# (checks examples/prometheus); chromium (the CORS test, headless).
if [ "${BUCKETKEY_SKIP_APT:-}" = "" ] && command -v apt-get >/dev/null 2>&1; then
  need=()
  [ -x /usr/bin/aws ] || need+=(awscli)
  command -v s3cmd >/dev/null 2>&1 || need+=(s3cmd)
  command -v rclone >/dev/null 2>&1 || need+=(rclone)
  command -v yamllint >/dev/null 2>&1 || need+=(yamllint)
  command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || need+=(nginx)
  command -v promtool >/dev/null 2>&1 || need+=(prometheus)
  command -v chromium >/dev/null 2>&1 || need+=(chromium)
  if [ ${#need[@]} -gt 0 ]; then
    echo "scripts/test.sh: installing ${need[*]} from Debian" >&2
    if [ "$(id -u)" = 0 ]; then sudo=""; else sudo="sudo"; fi
    $sudo apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
  fi
fi

export BUCKETKEY_TOOLS_BIN="$bin"
if [ $# -eq 0 ]; then set -- ./...; fi
exec go test -race -count=1 -timeout 40m "$@"
