#!/usr/bin/env bash
# Runs drover's Redis store, asynq and BullMQ through the same workloads on
# one redis-server started on a free loopback port, and prints one table.
# Needs Go, Node.js with npm, and redis-server on PATH. Extra arguments go to
# the Go program (for example -systems drover,bullmq or -jobs 20000).
set -euo pipefail
cd "$(dirname "$0")"

for bin in go node npm redis-server; do
	if ! command -v "$bin" >/dev/null 2>&1; then
		echo "run.sh: $bin not found on PATH" >&2
		exit 1
	fi
done

# BullMQ and its Redis client, at the versions pinned in package.json.
npm install --no-audit --no-fund --loglevel=error >&2

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go build -o "$tmp/compare" .
"$tmp/compare" "$@"
