#!/usr/bin/env bash
# Static checks: gofmt, go mod tidy, go vet, staticcheck (pinned in tools/go.mod).
set -euo pipefail
cd "$(dirname "$0")/.."
bad=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './.tools/*'))
if [ -n "$bad" ]; then echo "gofmt needed:"; echo "$bad"; exit 1; fi
go mod tidy -diff >/dev/null || { echo "go.mod/go.sum not tidy: run go mod tidy"; go mod tidy -diff; exit 1; }
go vet ./...
bin="$PWD/.tools/bin"
[ -x "$bin/staticcheck" ] || (cd tools && GOBIN="$bin" GOFLAGS=-mod=mod go install honnef.co/go/tools/cmd/staticcheck)
"$bin/staticcheck" ./...
go run ./scripts/funclen -max 80 proxy   # no function in proxy/ over 80 lines (issue 13)
