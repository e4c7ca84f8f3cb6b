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

if ! /usr/bin/time -v true >/dev/null 2>&1; then
	echo "bench/push.sh: GNU time is needed at /usr/bin/time (Debian/Ubuntu: sudo apt-get install time)" >&2
	exit 2
fi

root=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
sim_pid=""
cleanup() {
	if [ -n "$sim_pid" ]; then
		kill -INT "$sim_pid" 2>/dev/null || true
		wait "$sim_pid" 2>/dev/null || true
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

echo "building sfmc..."
(cd "$root" && go build -o "$tmp/sfmc" ./cmd/sfmc)

"$tmp/sfmc" demo --profiles "$profiles" --write-mapping "$tmp/mapping.json" --write-profiles "$tmp/profiles.ndjson" >/dev/null

# A free loopback port: ask the kernel for one.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()' 2>/dev/null || echo 18080)
"$tmp/sfmc" simulator --addr "127.0.0.1:$port" --latency "$latency" >"$tmp/sim.out" 2>&1 &
sim_pid=$!
for _ in $(seq 1 100); do
	grep -q "serving until" "$tmp/sim.out" 2>/dev/null && break
	sleep 0.05
done
grep -q "serving until" "$tmp/sim.out" || { echo "simulator did not start:" >&2; cat "$tmp/sim.out" >&2; exit 2; }
eval "$(grep '^export ' "$tmp/sim.out")"

echo "pushing $profiles profiles with $workers workers to the simulator (latency $latency) at 127.0.0.1:$port..."
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
