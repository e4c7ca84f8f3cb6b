#!/usr/bin/env bash
# bench/push.sh — measures the client side of "sfmc push": CPU per contact,
# wall time and peak RSS, against "sfmc simulator" running in its own
# process (so that the simulator's CPU and memory are not counted).
#
# Usage: bench/push.sh [PROFILES (default 3000)] [WORKERS (default 16)] [LATENCY (default 2ms)]
# Needs GNU time (/usr/bin/time -v): Debian/Ubuntu "apt-get install time".
set -euo pipefail

profiles=${1:-3000}
workers=${2:-16}
latency=${3:-2ms}

# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"
need_gnu_time bench/push.sh

echo "building sfmc..."
(cd "$root" && go build -o "$tmp/sfmc" ./cmd/sfmc)

"$tmp/sfmc" demo --profiles "$profiles" --write-mapping "$tmp/mapping.json" --write-profiles "$tmp/profiles.ndjson" >/dev/null

start_simulator --latency "$latency"

echo "pushing $profiles profiles with $workers workers to the simulator (latency $latency) at $sim_addr..."
set +e
/usr/bin/time -v -o "$tmp/time.txt" "$tmp/sfmc" push --workers "$workers" --mapping "$tmp/mapping.json" \
	--input "$tmp/profiles.ndjson" --failures "$tmp/failures.ndjson" --json >"$tmp/summary.json"
rc=$?
set -e
echo "summary: $(cat "$tmp/summary.json")"
echo "exit code: $rc"

user=$(awk -F': ' '/User time \(seconds\)/ {print $2}' "$tmp/time.txt")
sys=$(awk -F': ' '/System time \(seconds\)/ {print $2}' "$tmp/time.txt")
wall=$(awk -F': ' '/Elapsed \(wall clock\) time/ {print $2}' "$tmp/time.txt")
rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$tmp/time.txt")
awk -v u="$user" -v s="$sys" -v n="$profiles" -v w="$wall" -v r="$rss" 'BEGIN {
	cpu = u + s
	printf "client CPU:       %.2f s (user %.2f + sys %.2f)\n", cpu, u, s
	printf "CPU per contact:  %.1f µs\n", cpu / n * 1e6
	printf "wall time:        %s\n", w
	printf "peak RSS:         %.1f MiB\n", r / 1024
}'
exit "$rc"
