#!/usr/bin/env bash
# bench/adaptive.sh — measures the adaptive pace of "sfmc push" against
# "sfmc simulator" with a tenant rate limit R the client is not told:
# achieved rate / R and the share of requests answered 429, from a cold
# start, over a push of about 40 seconds at R, over real loopback sockets.
# (TestAdaptiveRate measures the same on a fake clock, exactly and fast.)
#
# Usage: bench/adaptive.sh [RATES (default "50 150 400")] [LATENCIES (default "0ms 150ms")] [SECONDS (default 40)]
# Each rate also runs once with --rate just under R (0.98·R) at the last latency.
set -euo pipefail

rates=${1:-"50 150 400"}
latencies=${2:-"0ms 150ms"}
secs=${3:-40}

# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"

echo "building sfmc..."
(cd "$root" && go build -o "$tmp/sfmc" ./cmd/sfmc)

run() { # R LATENCY [PUSH ARGS...]
	local r=$1 lat=$2
	shift 2
	local n
	n=$(awk -v r="$r" -v s="$secs" 'BEGIN { printf "%d", r*s }')
	"$tmp/sfmc" demo --profiles "$n" --write-mapping "$tmp/mapping.json" --write-profiles "$tmp/profiles.ndjson" >/dev/null
	start_simulator --rate "$r" --latency "$lat"
	set +e
	"$tmp/sfmc" push --mapping "$tmp/mapping.json" --input "$tmp/profiles.ndjson" --failures "$tmp/failures.ndjson" --json "$@" >"$tmp/summary.json" 2>"$tmp/push.err"
	set -e
	stop_simulator
	python3 - "$r" "$lat" "$*" "$tmp/summary.json" <<'PY'
import json, sys
r, lat, args, path = float(sys.argv[1]), sys.argv[2], sys.argv[3] or "(no rate)", sys.argv[4]
s = json.load(open(path))
achieved = s["upserted"] / s["elapsedSeconds"] / r
share = s["throttled"] / max(s["requests"], 1)
print(f"R={r:5.0f}  latency={lat:6s} {args:14s} upserted {s['upserted']:6d} in {s['elapsedSeconds']:5.1f} s: "
      f"achieved {achieved:.3f}·R, 429 share {100*share:5.2f}%, requests {s['requests']}, pace at end {s['rate']:.0f}/s, failed {s['failed']}")
PY
}

for r in $rates; do
	last=""
	for lat in $latencies; do
		run "$r" "$lat"
		last=$lat
	done
	run "$r" "$last" --rate "$(awk -v r="$r" 'BEGIN { printf "%g", r*0.98 }')"
done
