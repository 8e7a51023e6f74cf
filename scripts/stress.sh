#!/usr/bin/env bash
# Repeats the test suite with the race detector under CPU load, to find the
# tests that fail by chance before CI does.
#
#   scripts/stress.sh [-count N] [-checks C] [-load K] [-rounds R] [-run REGEXP] [packages...]
#
# -count   runs of each test per round (default 20)
# -checks  cases each rapid property tries per run (default 10; a plain
#          go test tries 100): -count 20 still tries twice the cases of
#          one run, in less time than the properties would take otherwise
# -load    busy loops beside the tests (default 2 per core)
# -rounds  rounds in a row that must all pass (default 2)
# -run     only the tests that match
# packages default to ./...
#
# Every round's output is kept in a temporary directory; the script ends
# with the failing tests of each round and exits non-zero if any failed.
set -euo pipefail
cd "$(dirname "$0")/.."

count=20
checks=10
load=$((2 * $(nproc)))
rounds=2
run=""
while [ $# -gt 0 ]; do
	case "$1" in
	-count) count=$2; shift 2 ;;
	-checks) checks=$2; shift 2 ;;
	-load) load=$2; shift 2 ;;
	-rounds) rounds=$2; shift 2 ;;
	-run) run=$2; shift 2 ;;
	-h | -help | --help) sed -n '2,17p' "$0"; exit 0 ;;
	-*) echo "unknown flag $1" >&2; exit 2 ;;
	*) break ;;
	esac
done
[ $# -gt 0 ] || set -- ./...

logs=$(mktemp -d)
busy=()
stop_load() {
	for p in "${busy[@]}"; do kill "$p" 2>/dev/null || true; done
}
trap stop_load EXIT
for _ in $(seq 1 "$load"); do
	(while :; do :; done) &
	busy+=($!)
done

# Each package's binary runs all its counts under one -timeout.
timeout="$((count * 15))m"
args=(-race -count="$count" -timeout="$timeout")
[ -n "$run" ] && args+=(-run "$run")

failed=0
for r in $(seq 1 "$rounds"); do
	log="$logs/round-$r.log"
	echo "round $r of $rounds: RAPID_CHECKS=$checks go test ${args[*]} $* ($load busy loops; log $log)"
	start=$(date +%s)
	if RAPID_CHECKS=$checks go test "${args[@]}" "$@" >"$log" 2>&1; then
		echo "round $r passed in $(($(date +%s) - start)) s"
	else
		failed=1
		echo "round $r FAILED in $(($(date +%s) - start)) s; failing tests (runs):"
		grep -E '^\s*--- FAIL|^(FAIL|panic:)' "$log" | sed 's/ (.*)$//' | sort | uniq -c | sort -rn || true
	fi
	grep -E '^(ok|FAIL|---)' "$log" | grep -E '^(ok|FAIL)\s' || true
done
exit "$failed"
