#!/usr/bin/env bash
# Runs every fuzz target of the module for a short while each (after its
# seed corpus, which plain `go test` runs too).
#
#   scripts/fuzz.sh [-time 10s]
set -euo pipefail
cd "$(dirname "$0")/.."

fuzztime=10s
if [ "${1:-}" = "-time" ]; then
	fuzztime=$2
fi

# Each package's fuzz targets, found by name.
for pkg in $(go list ./...); do
	dir=$(go list -f '{{.Dir}}' "$pkg")
	for target in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //' | sort -u); do
		echo "fuzz $pkg $target for $fuzztime"
		go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" "$pkg"
	done
done
