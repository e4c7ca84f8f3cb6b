#!/usr/bin/env bash
# bench/compare.sh — the CPU per contact of "sfmc push" against a bare
# net/http client doing the same job (bench/bare), in one run, against
# "sfmc simulator" in its own process (its CPU is not counted). Prints both
# and their ratio (issue 15's budget: push within 1.3× the bare client).
#
# Usage: bench/compare.sh [PROFILES (default 20000)] [WORKERS (default 16)] [LATENCY (default 2ms)] [ROUNDS (default 3)]
# Needs GNU time (/usr/bin/time -v): Debian/Ubuntu "apt-get install time".
set -euo pipefail

profiles=${1:-20000}
workers=${2:-16}
latency=${3:-2ms}
rounds=${4:-3}

# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"
need_gnu_time bench/compare.sh

(cd "$root" && go build -o "$tmp/sfmc" ./cmd/sfmc && go build -o "$tmp/bare" ./bench/bare)
"$tmp/sfmc" demo --profiles "$profiles" --write-mapping "$tmp/mapping.json" --write-profiles "$tmp/profiles.ndjson" >/dev/null
start_simulator --latency "$latency"

cpu() { # the user+sys seconds in a GNU time -v report
	awk -F': ' '/User time \(seconds\)/ {u=$2} /System time \(seconds\)/ {s=$2} END {print u+s}' "$1"
}
for round in $(seq 1 "$rounds"); do
	/usr/bin/time -v -o "$tmp/bare.time" "$tmp/bare" -input "$tmp/profiles.ndjson" -workers "$workers" >"$tmp/bare.out"
	/usr/bin/time -v -o "$tmp/push.time" "$tmp/sfmc" push --mapping "$tmp/mapping.json" --input "$tmp/profiles.ndjson" \
		--failures "$tmp/failures.ndjson" --workers "$workers" --rate 100000 --json >"$tmp/push.out"
	b=$(cpu "$tmp/bare.time")
	p=$(cpu "$tmp/push.time")
	rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$tmp/push.time")
	awk -v b="$b" -v p="$p" -v n="$profiles" -v r="$round" -v rss="$rss" 'BEGIN {
		printf "round %d: bare %.1f µs/contact, push %.1f µs/contact, push/bare %.2f×, push peak RSS %.1f MiB\n", r, b*1e6/n, p*1e6/n, p/b, rss/1024 }'
done
echo "bare: $(cat "$tmp/bare.out")"
echo "push: $(head -c 300 "$tmp/push.out")"
